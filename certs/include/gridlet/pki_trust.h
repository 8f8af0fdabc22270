/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_trust.h - deciding whether to believe a peer's certificate.
 *
 * A pki_trust holds the community CA certificate (the only trust anchor:
 * a gridlet community has one CA and no intermediates) and, optionally,
 * the CA's current revocation list. The aggregator keeps one to check
 * every meter certificate it accepts signatures from, and reloads the CRL
 * file when the operator revokes a meter; a meter keeps one to check the
 * aggregator's certificate before believing signed results.
 *
 * pki_trust_verify checks, in order, and stops at the first failure:
 *   1. issued by the CA: issuer name, key identifier, signature
 *      (GL_EVERIFY "not issued by this community's CA");
 *   2. valid now by the injected clock (GL_EEXPIRED);
 *   3. the CRL, when one is loaded, is current and does not list the
 *      serial (GL_EEXPIRED for a stale CRL, GL_EREVOKED);
 *   4. the certificate fits the expected role (GL_EPERM): a meter
 *      certificate is a leaf for TLS clients whose single CN is a valid,
 *      non-reserved meter id; the aggregator's CN is "aggregator"; the
 *      broker's CN is "broker" with serverAuth.
 * Each failure is logged at warn level with its reason and counted.
 *
 * Thread-safety: a pki_trust belongs to one thread (the daemon's event
 * loop) like every gridlet handle; verify updates counters.
 */
#ifndef GRIDLET_PKI_TRUST_H
#define GRIDLET_PKI_TRUST_H

#include "gridlet/clock.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_name.h"
#include "gridlet/pki_why.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The role a certificate is expected to play. */
typedef enum pki_role {
  PKI_ROLE_ANY = 0,    /* any leaf issued by the CA */
  PKI_ROLE_METER,      /* CN is a meter id, clientAuth */
  PKI_ROLE_AGGREGATOR, /* CN "aggregator", clientAuth */
  PKI_ROLE_BROKER,     /* CN "broker", serverAuth */
} pki_role;

/* What a successful verification established. */
typedef struct pki_peer {
  char name[PKI_CN_MAX]; /* the subject CN: meter id, "aggregator", ... */
  pki_pubkey pub;        /* the key its signatures verify against */
  char serial_hex[PKI_SERIAL_HEX_MAX];
  int64_t not_after;
} pki_peer;

/* Counters since the trust was made (for metrics). */
typedef struct pki_trust_stats {
  uint64_t accepted;
  uint64_t rejected_chain;   /* not from this CA / bad signature */
  uint64_t rejected_expired; /* outside validity, or stale CRL */
  uint64_t rejected_revoked;
  uint64_t rejected_role;
  uint64_t rejected_parse; /* pki_trust_verify_pem input that did not parse */
  uint64_t crl_loads;
} pki_trust_stats;

typedef struct pki_trust pki_trust;

/*
 * pki_trust_new - trust `ca` (copied), which must be a self-signed CA
 * certificate whose own signature verifies. Returns 0 and an owned handle,
 * or GL_EVERIFY / GL_EINVAL / GL_ENOMEM with the reason.
 */
int pki_trust_new(const pki_cert *ca, pki_trust **out, pki_why *why);

/*
 * pki_trust_load - pki_trust_new from the CA certificate file `ca_path`,
 * then pki_trust_load_crl_file(`crl_path`) when it is not NULL. Returns as
 * those functions.
 */
int pki_trust_load(const char *ca_path, const char *crl_path,
                   const gl_clock *clock, pki_trust **out, pki_why *why);

/* pki_trust_free - release; NULL is a no-op. */
void pki_trust_free(pki_trust *trust);

/* pki_trust_ca - the CA certificate; valid while `trust` lives. */
const pki_cert *pki_trust_ca(const pki_trust *trust);

/*
 * pki_trust_set_crl - replace the revocation list with `crl` after checking
 * it with pki_crl_verify at the clock's time. The trust takes `crl` in
 * every case (it is freed on failure too). A CRL older than the one loaded
 * (lower cRLNumber) is refused with GL_ECONFLICT: a rollback would
 * un-revoke meters. On failure the previous list stays in force.
 */
int pki_trust_set_crl(pki_trust *trust, pki_crl *crl, const gl_clock *clock,
                      pki_why *why);

/*
 * pki_trust_load_crl_file - read, parse and set the CRL file at `path` (as
 * written by gridlet-ca). Returns 0 or an error from reading, parsing or
 * pki_trust_set_crl; the previous list stays in force on failure.
 */
int pki_trust_load_crl_file(pki_trust *trust, const char *path,
                            const gl_clock *clock, pki_why *why);

/* pki_trust_crl - the CRL in force, or NULL; valid until the next set. */
const pki_crl *pki_trust_crl(const pki_trust *trust);

/*
 * pki_trust_verify - the checks listed above, at the clock's wall time.
 * `peer` (may be NULL) gets the established identity on success. Returns
 * 0, GL_EVERIFY, GL_EEXPIRED, GL_EREVOKED or GL_EPERM.
 */
int pki_trust_verify(pki_trust *trust, const pki_cert *cert, pki_role role,
                     const gl_clock *clock, pki_peer *peer, pki_why *why);

/*
 * pki_trust_verify_pem - parse the first certificate of `text` and verify
 * it (a parse failure counts as rejected_parse). Returns as
 * pki_cert_parse_pem or pki_trust_verify.
 */
int pki_trust_verify_pem(pki_trust *trust, const char *text, size_t len,
                         pki_role role, const gl_clock *clock, pki_peer *peer,
                         pki_why *why);

/* pki_trust_get_stats - a copy of the counters. */
void pki_trust_get_stats(const pki_trust *trust, pki_trust_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_TRUST_H */
