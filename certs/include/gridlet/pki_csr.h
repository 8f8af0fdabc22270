/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_csr.h - certificate signing requests (PKCS#10, RFC 2986).
 *
 * Enrolment never moves a private key: the device makes its key and a CSR
 * whose subject is CN=<meter id>, the operator carries the CSR to the CA,
 * and the CA checks it (pki_csr_parse here, naming and policy in
 * pki_ca_sign_csr) before issuing a certificate for the key inside it.
 * CSRs come from outside, so pki_csr_parse is strict and fuzzed.
 * All functions are thread-safe.
 */
#ifndef GRIDLET_PKI_CSR_H
#define GRIDLET_PKI_CSR_H

#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a verified CSR asks for. */
typedef struct pki_csr_info {
  char subject_cn[PKI_CN_MAX];
  pki_pubkey pub;
} pki_csr_info;

/*
 * pki_csr_create - a PEM "CERTIFICATE REQUEST" for `key` with subject
 * CN=`subject_cn` (1 to 64 printable ASCII characters) and nothing else,
 * self-signed with `key`. *pem is malloc'd and NUL-terminated (caller
 * frees); *len may be NULL. Returns 0, GL_EINVAL (bad CN), GL_ENOMEM or
 * GL_ECRYPTO.
 */
int pki_csr_create(const pki_key *key, const char *subject_cn, char **pem,
                   size_t *len);

/*
 * pki_csr_parse - parse and check a CSR given as PEM (first "CERTIFICATE
 * REQUEST" or "NEW CERTIFICATE REQUEST" block) or as DER (input starting
 * with a SEQUENCE tag): the structure, a subject of exactly one attribute
 * which is a CN of printable characters, a supported key type (Ed25519 or
 * P-256) and the self-signature. Returns 0 and the request in *info, or
 * GL_EPARSE (malformed), GL_ETOOBIG, GL_ENOTSUP (key type), GL_EPERM
 * (subject) or GL_EVERIFY (signature), with the reason in `why`. The
 * subject is not checked against the naming rules here; see
 * pki_ca_sign_csr.
 */
int pki_csr_parse(const char *text, size_t len, pki_csr_info *info,
                  pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_CSR_H */
