/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_issue.h - making certificates.
 *
 * The one primitive under the CA tool: given an issuer key (and the
 * issuer's certificate, or none for a self-signed CA), a subject public
 * key and a profile, produce a signed X.509 v3 certificate. It holds no
 * state and does no I/O; the CA (gridlet/pki_ca.h) decides serials,
 * lifetimes and records what it issued.
 *
 * Profiles (key usage / extended key usage / basic constraints):
 *   CA       keyCertSign, cRLSign, digitalSignature; cA true; no EKU
 *   meter    digitalSignature; clientAuth
 *   broker   digitalSignature; serverAuth; subjectAltName DNS/IP
 *   service  digitalSignature; serverAuth and clientAuth (the aggregator:
 *            an MQTT client of the broker and a TLS server for its API)
 * Every certificate carries a subject key identifier, and an authority key
 * identifier when it is not self-signed. Thread-safe.
 */
#ifndef GRIDLET_PKI_ISSUE_H
#define GRIDLET_PKI_ISSUE_H

#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on subjectAltName entries. */
#define PKI_ISSUE_MAX_NAMES 16

typedef struct pki_issue_opts {
  const char *subject_cn;  /* required: 1..64 printable characters */
  const char *subject_org; /* optional O= (the CA uses the community) */
  bool is_ca;
  unsigned eku; /* PKI_EKU_* bits; ignored for a CA */
  /* subjectAltName: DNS names and textual IPv4/IPv6 addresses. */
  const char *const *dns;
  size_t n_dns;
  const char *const *ips;
  size_t n_ips;
  /* Validity, UTC ns; whole seconds are used (X.509 has no fraction). */
  int64_t not_before, not_after;
  /* Serial number: 1..20 big-endian bytes, the first below 0x80 and not 0
   * (a positive INTEGER in its minimal encoding). */
  const uint8_t *serial;
  size_t serial_len;
} pki_issue_opts;

/* Length of the random serials pki_serial_random makes. */
#define PKI_SERIAL_RANDOM_LEN 16

/*
 * pki_serial_random - 16 random bytes from `rand` shaped into a valid
 * serial (first byte in 0x01..0x7f): 127 bits of randomness, so serials are
 * unpredictable (CA/B Forum practice) and collisions need 2^63 issues.
 * Returns 0 or the generator's error.
 */
int pki_serial_random(const gl_rand *rand,
                      uint8_t serial[PKI_SERIAL_RANDOM_LEN]);

/*
 * pki_issue - sign a certificate for `subject` with `issuer_key`. `issuer`
 * is the issuer's certificate (borrowed; its subject becomes the issuer
 * name and its key identifier the authority key identifier), or NULL for a
 * self-signed certificate, in which case `subject` must be the public half
 * of `issuer_key`. Returns 0 and an owned certificate in *out, or GL_EINVAL
 * (bad options, with the reason), GL_ENOMEM or GL_ECRYPTO.
 */
int pki_issue(const pki_key *issuer_key, const pki_cert *issuer,
              const pki_pubkey *subject, const pki_issue_opts *opts,
              pki_cert **out, pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_ISSUE_H */
