/* SPDX-License-Identifier: MIT */
/*
 * pem.c - PEM armour (RFC 7468) around DER: encoding in 64-column lines,
 * and a decoder that finds one labelled block in a file that may contain
 * other text (OpenSSL writes comments before blocks) and reads its body
 * with the strict base64 decoder of common/.
 */
#include "internal.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pki__pem_encode(const char *label, const uint8_t *der, size_t len,
                    char **out, size_t *outlen) {
  size_t b64 = gl_base64_len(len);
  size_t lines = (b64 + 63) / 64;
  size_t cap = 2 * (strlen(label) + 32) + b64 + lines + 1;
  char *tmp = malloc(b64 + 1), *s = malloc(cap);
  if (!tmp || !s) {
    free(tmp);
    free(s);
    return GL_ENOMEM;
  }
  if (gl_base64_encode(der, len, tmp, b64 + 1) != 0) {
    free(tmp);
    free(s);
    return GL_EINTERNAL;
  }
  size_t n = (size_t)snprintf(s, cap, "-----BEGIN %s-----\n", label);
  for (size_t i = 0; i < b64; i += 64) {
    size_t k = b64 - i < 64 ? b64 - i : 64;
    memcpy(s + n, tmp + i, k);
    n += k;
    s[n++] = '\n';
  }
  n += (size_t)snprintf(s + n, cap - n, "-----END %s-----\n", label);
  free(tmp);
  *out = s;
  if (outlen)
    *outlen = n;
  return 0;
}

/* memmem is a GNU extension; this is all we need. */
static const char *find(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  if (k == 0 || k > n)
    return NULL;
  for (size_t i = 0; i + k <= n; i++)
    if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
      return hay + i;
  return NULL;
}

static const char *find_begin(const char *text, size_t len, const char *label,
                              const char **body) {
  char marker[96];
  int m = snprintf(marker, sizeof marker, "-----BEGIN %s-----", label);
  if (m < 0 || (size_t)m >= sizeof marker)
    return NULL;
  const char *p = find(text, len, marker);
  if (p)
    *body = p + m;
  return p;
}

bool pki__pem_has(const char *text, size_t len, const char *label) {
  const char *body;
  return find_begin(text, len, label, &body) != NULL;
}

int pki__pem_decode(const char *text, size_t len, const char *label,
                    const char *alt, uint8_t **der, size_t *derlen,
                    pki_why *why) {
  const char *body = NULL, *used = label;
  const char *begin = find_begin(text, len, label, &body);
  if (!begin && alt) {
    begin = find_begin(text, len, alt, &body);
    used = alt;
  }
  if (!begin)
    return pki__fail_quiet(why, GL_ENOENT, "no \"%s\" PEM block found", label);
  char end_marker[96];
  snprintf(end_marker, sizeof end_marker, "-----END %s-----", used);
  size_t rest = len - (size_t)(body - text);
  const char *end = find(body, rest, end_marker);
  if (!end)
    return pki__fail_quiet(why, GL_EPARSE, "PEM block \"%s\" is not terminated",
                           used);
  size_t blen = (size_t)(end - body);
  if (blen > 2 * PKI_DER_MAX)
    return pki__fail_quiet(why, GL_ETOOBIG, "PEM block \"%s\" is too large",
                           used);
  char *b64 = malloc(blen + 1);
  uint8_t *out = malloc(blen / 4 * 3 + 3);
  if (!b64 || !out) {
    free(b64);
    free(out);
    return GL_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < blen; i++) {
    char c = body[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == ':') {
      free(b64);
      free(out);
      return pki__fail_quiet(why, GL_ENOTSUP,
                             "PEM block \"%s\" has headers (an encrypted or "
                             "legacy key?); only plain PEM is supported",
                             used);
    }
    b64[n++] = c;
  }
  size_t outn = 0;
  int rc = gl_base64_decode(b64, n, out, blen / 4 * 3 + 3, &outn);
  free(b64);
  if (rc != 0 || outn == 0) {
    free(out);
    return pki__fail_quiet(why, GL_EPARSE,
                           "PEM block \"%s\" is not valid base64", used);
  }
  *der = out;
  *derlen = outn;
  return 0;
}
