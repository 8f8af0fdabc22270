/* SPDX-License-Identifier: MIT */
/*
 * csr.c - making and checking PKCS#10 certificate signing requests. See
 * gridlet/pki_csr.h.
 */
#include "gridlet/pki_csr.h"

#include "internal.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

static bool printable_cn(const char *cn) {
  size_t n = strlen(cn);
  if (n == 0 || n > PKI_CN_MAX - 1)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)cn[i] < 0x20 || (unsigned char)cn[i] > 0x7e)
      return false;
  return true;
}

int pki_csr_create(const pki_key *key, const char *subject_cn, char **pem,
                   size_t *len) {
  if (!printable_cn(subject_cn))
    return GL_EINVAL;
  uint8_t *der;
  size_t n;
  int rc = pki__make_csr(key, subject_cn, &der, &n);
  if (rc)
    return rc;
  rc = pki__pem_encode("CERTIFICATE REQUEST", der, n, pem, len);
  free(der);
  return rc;
}

/* Parse and check; the reason is not logged here (pki_csr_parse adds the
 * context and logs once). */
static int check(const uint8_t *der, size_t n, pki_csr_info *info,
                 pki_why *why) {
  pki__x509 x;
  int rc = pki__x509_parse(der, n, true, &x, why);
  if (rc)
    return rc;
  free(x.names);
  pki__name_info name;
  if (pki__der_name(der + x.subj_off, x.subj_len, &name, why))
    return GL_EPARSE;
  if (name.cns != 1 || name.attrs != 1)
    return pki__fail_quiet(why, GL_EPERM,
                           "subject must be exactly CN=<meter id> (it has %u "
                           "attributes, %u of them CN)",
                           name.attrs, name.cns);
  /* The self-signature proves the requester holds the private key. */
  if (pki__verify(&x.pub, x.sigalg, der + x.tbs_off, x.tbs_len, der + x.sig_off,
                  x.sig_len) != 0)
    return pki__fail_quiet(why, GL_EVERIFY,
                           "signature does not verify (the request was "
                           "altered, or not made with the key it contains)");
  memset(info, 0, sizeof *info);
  memcpy(info->subject_cn, name.cn, sizeof info->subject_cn);
  info->pub = x.pub;
  return 0;
}

int pki_csr_parse(const char *text, size_t len, pki_csr_info *info,
                  pki_why *why) {
  pki_why inner = {{0}};
  uint8_t *der = NULL;
  size_t n = 0;
  int rc;
  if (len > 0 && (unsigned char)text[0] == PKI__T_SEQ) {
    if (len > PKI_DER_MAX)
      return pki__fail(why, GL_ETOOBIG, "CSR refused: %zu bytes is too large",
                       len);
    rc = check((const uint8_t *)text, len, info, &inner);
  } else {
    rc = pki__pem_decode(text, len, "CERTIFICATE REQUEST",
                         "NEW CERTIFICATE REQUEST", &der, &n, &inner);
    if (rc == GL_ENOENT)
      rc = GL_EPARSE;
    if (rc == 0)
      rc = check(der, n, info, &inner);
    free(der);
  }
  if (rc == GL_ENOMEM)
    return rc;
  if (rc)
    return pki__fail(why, rc, "CSR refused: %s", inner.text);
  return 0;
}
