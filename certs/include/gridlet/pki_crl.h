/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_crl.h - certificate revocation lists (RFC 5280 section 5).
 *
 * Revocation reaches both places that accept certificates through one
 * signed file: mosquitto loads it with `crlfile` (OpenSSL refuses a revoked
 * client certificate during the TLS handshake; the broker re-reads it on
 * SIGHUP), and the aggregator loads the same file into its pki_trust so a
 * revoked meter's signed messages are refused too. See docs/decisions.md.
 *
 * wolfSSL 5.5 parses CRLs but cannot make them, so gridlet encodes the
 * small v2 CRL itself (DER, with the authorityKeyIdentifier and cRLNumber
 * extensions and a reasonCode per entry) and signs it with the CA key:
 * Ed25519, or ecdsa-with-SHA256 for a P-256 CA. Parsing is gridlet's own
 * strict DER reader too, and fuzzed: the aggregator reads the file from
 * disk, and a CRL is only trusted after pki_crl_verify.
 *
 * A parsed pki_crl is immutable and may be shared between threads.
 */
#ifndef GRIDLET_PKI_CRL_H
#define GRIDLET_PKI_CRL_H

#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CRLReason values (RFC 5280 section 5.3.1) that gridlet uses. */
typedef enum pki_reason {
  PKI_REASON_UNSPECIFIED = 0,
  PKI_REASON_KEY_COMPROMISE = 1,
  PKI_REASON_CA_COMPROMISE = 2,
  PKI_REASON_AFFILIATION_CHANGED = 3,
  PKI_REASON_SUPERSEDED = 4,
  PKI_REASON_CESSATION = 5, /* cessationOfOperation: device retired */
} pki_reason;

/* pki_reason_name - "keyCompromise" etc. ("?" if unknown). */
const char *pki_reason_name(int reason);

/* pki_reason_parse - the inverse (exact RFC names); GL_EINVAL otherwise. */
int pki_reason_parse(const char *name, int *reason);

/* One revoked certificate. */
typedef struct pki_crl_entry {
  uint8_t serial[PKI_SERIAL_MAX];
  size_t serial_len;  /* minimal big-endian bytes, no leading zero */
  int64_t revoked_at; /* UTC ns */
  int reason;         /* pki_reason; -1 when the entry carries none */
} pki_crl_entry;

/*
 * pki_crl_make - a signed CRL in PEM ("X509 CRL") listing `n` entries,
 * issued by `ca` with `ca_key`. `number` is the monotonically increasing
 * cRLNumber; the list is valid from `this_update` to `next_update` (UTC ns,
 * next > this). *pem is malloc'd, NUL-terminated, caller frees; *len may be
 * NULL. Returns 0, GL_EINVAL (bad times, serial lengths, or a key that is
 * not the CA's), GL_ENOMEM or GL_ECRYPTO.
 */
int pki_crl_make(const pki_key *ca_key, const pki_cert *ca, uint64_t number,
                 int64_t this_update, int64_t next_update,
                 const pki_crl_entry *entries, size_t n, char **pem,
                 size_t *len);

typedef struct pki_crl pki_crl;

/*
 * pki_crl_parse - parse a CRL given as PEM ("X509 CRL") or DER. Only the
 * structure is checked; call pki_crl_verify before trusting it. Returns 0
 * and an owned handle, or GL_EPARSE / GL_ETOOBIG / GL_ENOTSUP (signature
 * algorithm) / GL_ENOMEM with the reason.
 */
int pki_crl_parse(const char *text, size_t len, pki_crl **out, pki_why *why);

/* pki_crl_free - release; NULL is a no-op. */
void pki_crl_free(pki_crl *crl);

/*
 * pki_crl_verify - 0 when `ca` issued the CRL (issuer name bytes equal the
 * CA's subject, the CA's key verifies the signature, and the CA may sign
 * CRLs) and it is current at `now` (this_update <= now < next_update).
 * GL_EVERIFY or GL_EEXPIRED otherwise, with the reason.
 */
int pki_crl_verify(const pki_crl *crl, const pki_cert *ca, int64_t now,
                   pki_why *why);

/*
 * pki_crl_find - true when the serial (`serial_len` big-endian bytes;
 * leading zero bytes ignored) is listed; *entry (may be NULL) gets it.
 * O(log n).
 */
bool pki_crl_find(const pki_crl *crl, const uint8_t *serial, size_t serial_len,
                  pki_crl_entry *entry);

/* pki_crl_find_hex - the same with the lower- or upper-case hex serial. */
bool pki_crl_find_hex(const pki_crl *crl, const char *serial_hex,
                      pki_crl_entry *entry);

/* Accessors: number of entries, entry i (sorted by serial), cRLNumber
 * (0 when absent), this/next update (UTC ns), issuer CN. */
size_t pki_crl_count(const pki_crl *crl);
const pki_crl_entry *pki_crl_entry_at(const pki_crl *crl, size_t i);
uint64_t pki_crl_number(const pki_crl *crl);
int64_t pki_crl_this_update(const pki_crl *crl);
int64_t pki_crl_next_update(const pki_crl *crl);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_CRL_H */
