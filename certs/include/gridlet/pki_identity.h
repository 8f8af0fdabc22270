/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_identity.h - a daemon's own identity: its certificate and
 * the private key that goes with it.
 *
 * The meter and the aggregator load their identity once at start-up. The
 * same files are handed to paho for the TLS client connection (paho and
 * OpenSSL read them directly); this module gives the daemon the key in the
 * form proto/ signs COSE messages with, and checks that key and
 * certificate belong together so a mismatch is a clear start-up error
 * rather than a stream of unverifiable messages.
 *
 * An identity is immutable after loading; it may be read from any thread.
 * The private key is wiped when the identity is freed.
 */
#ifndef GRIDLET_PKI_IDENTITY_H
#define GRIDLET_PKI_IDENTITY_H

#include "gridlet/crypto.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pki_identity pki_identity;

/*
 * pki_identity_load - load the PEM certificate at `cert_path` and the PEM
 * PKCS#8 key at `key_path`. Returns 0 and an owned handle, an error from
 * loading either file, or GL_ECONFIG when the key is not the certificate's.
 */
int pki_identity_load(const char *cert_path, const char *key_path,
                      pki_identity **out, pki_why *why);

/* pki_identity_free - wipe and release; NULL is a no-op. */
void pki_identity_free(pki_identity *id);

/* pki_identity_cert - the certificate; valid while `id` lives. */
const pki_cert *pki_identity_cert(const pki_identity *id);

/* pki_identity_name - the certificate's subject CN (meter id or
 * "aggregator"); valid while `id` lives. */
const char *pki_identity_name(const pki_identity *id);

/* pki_identity_key - the key pair; valid while `id` lives. */
const pki_key *pki_identity_key(const pki_identity *id);

/*
 * pki_identity_ed25519 - copy the key into the gl_ed25519_key proto/
 * signs with. Returns 0, or GL_ENOTSUP for a P-256 identity.
 */
int pki_identity_ed25519(const pki_identity *id, gl_ed25519_key *ed);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_IDENTITY_H */
