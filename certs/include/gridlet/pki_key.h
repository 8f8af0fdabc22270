/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_key.h - device, server and CA key pairs.
 *
 * A gridlet device has one key: its TLS client key is also its COSE signing
 * key (shared protocol map). Keys are Ed25519 by default; ECDSA P-256 is
 * supported as well because the secure elements found on meter boards
 * (ATECC608, SE050, TPM 2.0) speak only P-256.
 *
 * On disk a private key is a PEM "PRIVATE KEY" block (unencrypted PKCS#8,
 * RFC 5958 / RFC 8410), mode 0600, so OpenSSL-based programs (paho,
 * mosquitto) read the same file. Loading also accepts the SEC1 "EC PRIVATE
 * KEY" form OpenSSL writes for P-256 keys. Encrypted keys are refused with
 * a clear reason: the daemons start unattended.
 *
 * Keys are plain values (no allocation); wipe them with pki_key_wipe when
 * done. All functions are thread-safe.
 */
#ifndef GRIDLET_PKI_KEY_H
#define GRIDLET_PKI_KEY_H

#include "gridlet/crypto.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pki_key_type {
  PKI_KEY_ED25519 = 0, /* the default */
  PKI_KEY_P256 = 1,    /* ECDSA over NIST P-256 with SHA-256 */
} pki_key_type;

/* Largest public key encoding: P-256 uncompressed point 04||X||Y. */
#define PKI_PUB_MAX 65
#define PKI_PRIV_LEN 32

/*
 * A public key: Ed25519 as its 32-byte RFC 8032 encoding, P-256 as the
 * 65-byte uncompressed SEC1 point.
 */
typedef struct pki_pubkey {
  pki_key_type type;
  uint8_t bytes[PKI_PUB_MAX];
  size_t len;
} pki_pubkey;

/* A key pair: the public half and the 32-byte secret (Ed25519 seed or
 * P-256 scalar, big-endian). */
typedef struct pki_key {
  pki_pubkey pub;
  uint8_t priv[PKI_PRIV_LEN];
} pki_key;

/* pki_key_type_name - "ed25519" or "p256" ("?" if unknown). */
const char *pki_key_type_name(pki_key_type type);

/* pki_key_type_parse - the inverse; GL_EINVAL for any other string. */
int pki_key_type_parse(const char *name, pki_key_type *type);

/*
 * pki_key_generate - a new key pair of `type`, its secret drawn from `rand`
 * (pass gl_rand_system() for real keys). Returns 0, the generator's error,
 * GL_EINVAL (unknown type) or GL_ECRYPTO.
 */
int pki_key_generate(pki_key_type type, const gl_rand *rand, pki_key *key);

/* pki_key_from_ed25519 - wrap a gl_ed25519_key (copied). Returns 0. */
int pki_key_from_ed25519(const gl_ed25519_key *ed, pki_key *key);

/*
 * pki_key_to_ed25519 - the gl_ed25519_key form used by proto/ for COSE
 * signing. Returns 0, or GL_ENOTSUP when the key is not Ed25519.
 */
int pki_key_to_ed25519(const pki_key *key, gl_ed25519_key *ed);

/* pki_pubkey_equal - true when both public keys are the same key. */
bool pki_pubkey_equal(const pki_pubkey *a, const pki_pubkey *b);

/* pki_key_wipe - overwrite the key's secret (and the rest) with zeros. */
void pki_key_wipe(pki_key *key);

/*
 * pki_key_to_pem - the PEM PKCS#8 "PRIVATE KEY" text of `key`. *pem is
 * malloc'd and NUL-terminated (caller frees it with free(), after wiping it
 * with gl_wipe if it matters); *len (may be NULL) gets its length without
 * the NUL. Returns 0, GL_ENOMEM or GL_ECRYPTO.
 */
int pki_key_to_pem(const pki_key *key, char **pem, size_t *len);

/*
 * pki_key_from_pem - parse the first private key block of `text` (`len`
 * bytes, need not be NUL-terminated). Returns 0, GL_EPARSE (no key block,
 * bad base64, malformed DER), GL_ENOTSUP (encrypted key, or a key type
 * other than Ed25519 and P-256) or GL_ECRYPTO; the reason goes to `why`.
 */
int pki_key_from_pem(const char *text, size_t len, pki_key *key, pki_why *why);

/*
 * pki_key_write_file - write the key as PEM PKCS#8 to `path` with mode
 * 0600, atomically (temporary file, fsync, rename, fsync of the directory).
 * Refuses to replace an existing file unless `overwrite`: losing a device
 * key means re-enrolling the device. Returns 0, GL_EEXIST or GL_EIO.
 */
int pki_key_write_file(const pki_key *key, const char *path, bool overwrite,
                       pki_why *why);

/*
 * pki_key_load_file - read a private key file (CA, service and device
 * keys alike). A file accessible to group or others (mode & 077) is
 * refused with GL_EPERM and a reason that says to chmod 600 it, as the
 * ledger refuses its signing keys. Returns 0, GL_EPERM, GL_ENOENT, GL_EIO,
 * GL_ETOOBIG or a pki_key_from_pem error.
 */
int pki_key_load_file(const char *path, pki_key *key, pki_why *why);

/*
 * pki_key_load_ed25519 - load a key file straight into the
 * gl_ed25519_key that proto/ signs with. Returns as pki_key_load_file, or
 * GL_ENOTSUP when the file holds a P-256 key.
 */
int pki_key_load_ed25519(const char *path, gl_ed25519_key *ed, pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_KEY_H */
