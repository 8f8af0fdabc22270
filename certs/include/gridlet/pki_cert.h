/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_cert.h - parsed X.509 certificates.
 *
 * A pki_cert is an immutable, parsed certificate that owns a copy of its
 * DER bytes. Parsing checks the structure only (it is safe on any input,
 * and fuzzed); whether a certificate is trustworthy is the business of
 * pki_trust_verify (gridlet/pki_trust.h), which checks the issuer's
 * signature, the validity period against an injected clock, revocation and
 * the role the certificate is used for.
 *
 * gridlet's profile: Ed25519 (default) or ECDSA P-256 subject keys,
 * signatures Ed25519 or ecdsa-with-SHA256, subject CN only for devices
 * (the CN is the meter id), subjectAltName DNS/IP entries for services.
 * Parsing accepts other well-formed certificates so that diagnostics can
 * describe them; policy refuses them later with a precise reason.
 *
 * A pki_cert may be read from several threads at once; nothing mutates it.
 */
#ifndef GRIDLET_PKI_CERT_H
#define GRIDLET_PKI_CERT_H

#include "gridlet/pki_key.h"
#include "gridlet/pki_name.h"
#include "gridlet/pki_why.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Serial numbers are at most 20 bytes (RFC 5280 section 4.1.2.2). */
#define PKI_SERIAL_MAX 20
#define PKI_SERIAL_HEX_MAX (2 * PKI_SERIAL_MAX + 1)
/* Longest CN kept (ub-common-name is 64 characters) plus the NUL. */
#define PKI_CN_MAX 65
/* Largest certificate, CSR or CRL accepted, in DER bytes. */
#define PKI_DER_MAX (64 * 1024)

/* Extended key usage bits (pki_cert_info.eku). */
#define PKI_EKU_SERVER 0x1u /* id-kp-serverAuth */
#define PKI_EKU_CLIENT 0x2u /* id-kp-clientAuth */

typedef struct pki_cert pki_cert;

/* What a certificate says about itself (not whether it is true). */
typedef struct pki_cert_info {
  /* Serial number as printed everywhere: lower-case hex, no leading 00. */
  char serial_hex[PKI_SERIAL_HEX_MAX];
  /* Subject and issuer common names ("" when absent). */
  char subject_cn[PKI_CN_MAX];
  char issuer_cn[PKI_CN_MAX];
  /* Number of attributes in the subject and how many of them are CNs:
   * gridlet's device certificates have exactly one of each. */
  unsigned subject_attrs, subject_cns;
  /* Validity period, UTC ns since the epoch (saturated to the int64 range). */
  int64_t not_before, not_after;
  /* The subject public key. */
  pki_pubkey pub;
  bool is_ca;       /* basicConstraints cA */
  unsigned eku;     /* PKI_EKU_* bits; 0 when the extension is absent */
  unsigned n_names; /* subjectAltName entries */
} pki_cert_info;

/*
 * pki_cert_parse_der - parse `len` DER bytes (copied). Returns 0 and an
 * owned handle in *out, or GL_EPARSE (malformed), GL_ETOOBIG (over
 * PKI_DER_MAX), GL_ENOTSUP (key or signature type outside the profile) or
 * GL_ENOMEM, with the reason in `why`.
 */
int pki_cert_parse_der(const uint8_t *der, size_t len, pki_cert **out,
                       pki_why *why);

/*
 * pki_cert_parse_pem - parse the first "CERTIFICATE" block of `text`
 * (`len` bytes). As pki_cert_parse_der; GL_EPARSE when there is no block.
 */
int pki_cert_parse_pem(const char *text, size_t len, pki_cert **out,
                       pki_why *why);

/* pki_cert_load_file - read and parse a PEM certificate file. */
int pki_cert_load_file(const char *path, pki_cert **out, pki_why *why);

/* pki_cert_free - release; NULL is a no-op. */
void pki_cert_free(pki_cert *cert);

/* pki_cert_dup - a new handle for the same certificate (NULL: no memory). */
pki_cert *pki_cert_dup(const pki_cert *cert);

/* pki_cert_get_info - the parsed fields; valid while `cert` lives. */
const pki_cert_info *pki_cert_get_info(const pki_cert *cert);

/* pki_cert_der - the DER bytes; valid while `cert` lives. */
const uint8_t *pki_cert_der(const pki_cert *cert, size_t *len);

/*
 * pki_cert_names - the subjectAltName entries as one string,
 * "DNS:broker.example.org, IP:192.0.2.1" ("" when none); valid while
 * `cert` lives.
 */
const char *pki_cert_names(const pki_cert *cert);

/*
 * pki_cert_to_pem - PEM text of the certificate; *pem is malloc'd and
 * NUL-terminated (caller frees); *len may be NULL. Returns 0 or GL_ENOMEM.
 */
int pki_cert_to_pem(const pki_cert *cert, char **pem, size_t *len);

/*
 * pki_cert_write_file - write the PEM certificate to `path` (mode 0644)
 * atomically, replacing any existing file. Returns 0 or GL_EIO.
 */
int pki_cert_write_file(const pki_cert *cert, const char *path, pki_why *why);

/*
 * pki_cert_meter_id - the meter id a certificate names: its single subject
 * CN, which must be a valid, non-reserved meter id, in a leaf (non-CA)
 * certificate. Returns 0 with the id in `id`, or GL_EPERM with the reason.
 * This checks the naming only; call pki_trust_verify to know the
 * certificate is genuine.
 */
int pki_cert_meter_id(const pki_cert *cert, char id[PKI_METER_ID_MAX],
                      pki_why *why);

/*
 * pki_cert_ed25519_pub - the raw 32-byte Ed25519 public key of the subject
 * (what COSE signatures of this device verify against). Returns 0, or
 * GL_ENOTSUP when the certificate holds another key type.
 */
int pki_cert_ed25519_pub(const pki_cert *cert, uint8_t pub[GL_ED25519_PUB_LEN],
                         pki_why *why);

/* pki_cert_matches_key - true when `key` is the private half of the
 * certificate's public key. */
bool pki_cert_matches_key(const pki_cert *cert, const pki_key *key);

/*
 * pki_cert_signed_by - 0 when `cert` names `issuer` as its issuer (exact
 * name bytes and, when both carry them, matching key identifiers) and
 * `issuer`'s key verifies its signature; GL_EVERIFY otherwise, with the
 * reason. No dates, roles or revocation are checked here.
 */
int pki_cert_signed_by(const pki_cert *cert, const pki_cert *issuer,
                       pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_CERT_H */
