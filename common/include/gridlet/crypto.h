/* SPDX-License-Identifier: MIT */
/*
 * gridlet/crypto.h - the cryptographic primitives every component shares:
 * SHA-256, Ed25519, constant-time comparison, hex and base64.
 *
 * This module is the one place that talks to wolfCrypt for these
 * primitives (certificate handling lives in certs/). Keys are plain byte
 * arrays: an Ed25519 private key is its 32-byte seed (RFC 8032), a public
 * key its 32-byte encoding, a signature 64 bytes. Nothing here allocates;
 * all functions are thread-safe.
 */
#ifndef GRIDLET_CRYPTO_H
#define GRIDLET_CRYPTO_H

#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GL_SHA256_LEN 32
#define GL_ED25519_SEED_LEN 32
#define GL_ED25519_PUB_LEN 32
#define GL_ED25519_SIG_LEN 64

/* A borrowed byte range, for hashing several pieces without copying. */
typedef struct gl_bytes {
  const void *data;
  size_t len;
} gl_bytes;

/* gl_sha256 - SHA-256 of `len` bytes. Returns 0 or GL_ECRYPTO. */
int gl_sha256(const void *data, size_t len, uint8_t out[GL_SHA256_LEN]);

/*
 * gl_sha256_parts - SHA-256 of the concatenation of `n` byte ranges (e.g. a
 * one-byte domain prefix followed by two child hashes). Returns 0 or
 * GL_ECRYPTO.
 */
int gl_sha256_parts(const gl_bytes *parts, size_t n,
                    uint8_t out[GL_SHA256_LEN]);

/* An Ed25519 key pair: the secret seed and the public key derived from it. */
typedef struct gl_ed25519_key {
  uint8_t seed[GL_ED25519_SEED_LEN];
  uint8_t pub[GL_ED25519_PUB_LEN];
} gl_ed25519_key;

/*
 * gl_ed25519_generate - a new key pair with a seed from `rand` (pass
 * gl_rand_system() for real keys). Returns 0, the generator's error, or
 * GL_ECRYPTO.
 */
int gl_ed25519_generate(const gl_rand *rand, gl_ed25519_key *key);

/*
 * gl_ed25519_from_seed - rebuild a key pair from its 32-byte seed.
 * Returns 0 or GL_ECRYPTO.
 */
int gl_ed25519_from_seed(const uint8_t seed[GL_ED25519_SEED_LEN],
                         gl_ed25519_key *key);

/*
 * gl_ed25519_sign - the RFC 8032 signature of `len` bytes with `key`
 * (whose pub must be the one derived from its seed, as the two functions
 * above guarantee). Returns 0 or GL_ECRYPTO.
 */
int gl_ed25519_sign(const gl_ed25519_key *key, const void *msg, size_t len,
                    uint8_t sig[GL_ED25519_SIG_LEN]);

/*
 * gl_ed25519_verify - check a signature. Returns 0 when valid, GL_EVERIFY
 * when the signature does not verify or the public key is not a valid
 * point, GL_ECRYPTO on an internal failure.
 */
int gl_ed25519_verify(const uint8_t pub[GL_ED25519_PUB_LEN], const void *msg,
                      size_t len, const uint8_t sig[GL_ED25519_SIG_LEN]);

/* gl_memeq_ct - compare n bytes in time independent of their contents. */
bool gl_memeq_ct(const void *a, const void *b, size_t n);

/* gl_wipe - overwrite secret bytes in a way the compiler will not elide. */
void gl_wipe(void *p, size_t n);

/*
 * gl_hex_encode - lower-case hex of `len` bytes into `out`, which must hold
 * 2*len+1 bytes (NUL-terminated). Returns out.
 */
char *gl_hex_encode(const void *data, size_t len, char *out);

/*
 * gl_hex_decode - decode exactly `hexlen` hex digits (either case) into
 * `out` of `cap` bytes; *outlen gets hexlen/2. Returns 0, GL_EPARSE (odd
 * length or a non-hex character) or GL_ETOOBIG (does not fit).
 */
int gl_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t cap,
                  size_t *outlen);

/* gl_base64_len - characters needed for the padded base64 of n bytes. */
static inline size_t gl_base64_len(size_t n) {
  return (n + 2) / 3 * 4;
}

/*
 * gl_base64_encode - standard padded base64 (RFC 4648 section 4) of `len`
 * bytes into `out` of `cap` bytes, NUL-terminated. Returns 0 or
 * GL_ETOOBIG.
 */
int gl_base64_encode(const void *data, size_t len, char *out, size_t cap);

/*
 * gl_base64_decode - strict decoding of padded standard base64: the length
 * must be a multiple of 4, padding only at the end, unused bits zero (so
 * every byte string has exactly one accepted encoding). Returns 0,
 * GL_EPARSE or GL_ETOOBIG; *outlen gets the decoded length.
 */
int gl_base64_decode(const char *b64, size_t b64len, uint8_t *out, size_t cap,
                     size_t *outlen);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_CRYPTO_H */
