/* SPDX-License-Identifier: MIT */
/*
 * der.c - a small strict DER reader and writer, X.509 times and names.
 *
 * wolfSSL parses certificates and CSRs; this reader handles what wolfSSL
 * cannot do for us (CRLs, which wolfSSL 5.5 can parse but not build, and
 * whose parsing we want under our own rules) and the exact reading of
 * subject names and validity times. It accepts DER only: definite,
 * minimal lengths and single-byte tags, which is all RFC 5280 structures
 * need, and rejects everything else as malformed.
 */
#include "internal.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading ------------------------------------------------------------ */

int pki__der_read(pki__der *cur, uint8_t *tag, pki__der *content,
                  pki__der *whole) {
  const uint8_t *p = cur->p;
  size_t left = cur->len;
  if (left < 2)
    return GL_EPARSE;
  uint8_t t = p[0];
  /* High tag numbers (0x1f) never occur in the structures we read. */
  if ((t & 0x1f) == 0x1f)
    return GL_EPARSE;
  size_t hdr = 2, n = p[1];
  if (n & 0x80) {
    size_t k = n & 0x7f;
    /* Indefinite (k == 0) is BER; more than 4 length bytes is absurd
     * for inputs capped at PKI_DER_MAX. */
    if (k == 0 || k > 4 || left < 2 + k)
      return GL_EPARSE;
    n = 0;
    for (size_t i = 0; i < k; i++)
      n = (n << 8) | p[2 + i];
    /* DER: the shortest form, so no leading zero byte and no long form
     * for lengths below 128. */
    if (p[2] == 0 || n < 0x80)
      return GL_EPARSE;
    hdr += k;
  }
  if (n > left - hdr)
    return GL_EPARSE;
  if (tag)
    *tag = t;
  if (content) {
    content->p = p + hdr;
    content->len = n;
  }
  if (whole) {
    whole->p = p;
    whole->len = hdr + n;
  }
  cur->p = p + hdr + n;
  cur->len = left - hdr - n;
  return 0;
}

int pki__der_expect(pki__der *cur, uint8_t tag, pki__der *content,
                    pki__der *whole) {
  if (cur->len == 0 || cur->p[0] != tag)
    return GL_EPARSE;
  return pki__der_read(cur, NULL, content, whole);
}

int pki__der_peek(const pki__der *cur) {
  return cur->len ? cur->p[0] : -1;
}

bool pki__der_oid_is(const pki__der *oid, const uint8_t *der, size_t n) {
  return oid->len == n && memcmp(oid->p, der, n) == 0;
}

int pki__der_uint(const pki__der *c, uint64_t *v) {
  if (c->len == 0 || (c->p[0] & 0x80))
    return GL_EPARSE;
  if (c->len > 1 && c->p[0] == 0 && !(c->p[1] & 0x80))
    return GL_EPARSE; /* not minimal */
  size_t i = 0;
  if (c->p[0] == 0 && c->len > 1)
    i = 1;
  if (c->len - i > 8)
    return GL_ERANGE;
  uint64_t x = 0;
  for (; i < c->len; i++)
    x = (x << 8) | c->p[i];
  *v = x;
  return 0;
}

int pki__der_serial(const pki__der *c, uint8_t out[PKI_SERIAL_MAX], size_t *n) {
  if (c->len == 0 || (c->p[0] & 0x80))
    return GL_EPARSE;
  if (c->len > 1 && c->p[0] == 0 && !(c->p[1] & 0x80))
    return GL_EPARSE;
  size_t i = 0;
  while (i + 1 < c->len && c->p[i] == 0)
    i++;
  if (c->len - i > PKI_SERIAL_MAX)
    return GL_EPARSE;
  memcpy(out, c->p + i, c->len - i);
  *n = c->len - i;
  return 0;
}

/* ---- Civil time (Howard Hinnant's algorithms, proleptic Gregorian) ------ */

int64_t pki__days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
  int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void pki__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const uint8_t *p, size_t n, unsigned *v) {
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return GL_EPARSE;
    x = x * 10 + (unsigned)(p[i] - '0');
  }
  *v = x;
  return 0;
}

static bool leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int pki__der_time(uint8_t tag, const pki__der *c, int64_t *ns) {
  const uint8_t *p = c->p;
  unsigned yy, mo, dd, hh, mi, ss;
  int64_t year;
  if (tag == PKI__T_UTCTIME) {
    if (c->len != 13 || p[12] != 'Z' || digits(p, 2, &yy))
      return GL_EPARSE;
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    p += 2;
  } else if (tag == PKI__T_GENTIME) {
    if (c->len != 15 || p[14] != 'Z' || digits(p, 4, &yy))
      return GL_EPARSE;
    year = yy;
    p += 4;
  } else {
    return GL_EPARSE;
  }
  if (digits(p, 2, &mo) || digits(p + 2, 2, &dd) || digits(p + 4, 2, &hh) ||
      digits(p + 6, 2, &mi) || digits(p + 8, 2, &ss))
    return GL_EPARSE;
  static const unsigned mdays[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || dd < 1 || hh > 23 || mi > 59 || ss > 59)
    return GL_EPARSE;
  unsigned dim = mdays[mo - 1] + (mo == 2 && leap(year) ? 1u : 0u);
  if (dd > dim)
    return GL_EPARSE;
  int64_t secs = pki__days_from_civil(year, mo, dd) * 86400 +
                 (int64_t)hh * 3600 + (int64_t)mi * 60 + (int64_t)ss;
  /* Saturate: a certificate "valid until 9999" is valid for as long as
   * our int64 nanoseconds can count. */
  if (secs > INT64_MAX / GL_NS_PER_SEC)
    *ns = INT64_MAX;
  else if (secs < INT64_MIN / GL_NS_PER_SEC)
    *ns = INT64_MIN;
  else
    *ns = secs * GL_NS_PER_SEC;
  return 0;
}

/* ---- Names -------------------------------------------------------------- */

static const uint8_t oid_cn[] = {0x55, 0x04, 0x03};

int pki__der_name(const uint8_t *name, size_t len, pki__name_info *info,
                  pki_why *why) {
  memset(info, 0, sizeof *info);
  pki__der outer = {name, len}, rdns;
  if (pki__der_expect(&outer, PKI__T_SEQ, &rdns, NULL) || outer.len != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed name");
  while (rdns.len) {
    pki__der set;
    if (pki__der_expect(&rdns, PKI__T_SET, &set, NULL) || set.len == 0)
      return pki__fail_quiet(why, GL_EPARSE, "malformed name component");
    while (set.len) {
      pki__der atv, oid, val;
      uint8_t vtag;
      if (pki__der_expect(&set, PKI__T_SEQ, &atv, NULL) ||
          pki__der_expect(&atv, PKI__T_OID, &oid, NULL) ||
          pki__der_read(&atv, &vtag, &val, NULL) || atv.len != 0)
        return pki__fail_quiet(why, GL_EPARSE, "malformed name attribute");
      info->attrs++;
      if (!pki__der_oid_is(&oid, oid_cn, sizeof oid_cn))
        continue;
      info->cns++;
      if (info->cns > 1)
        continue;
      if (vtag != PKI__T_UTF8 && vtag != PKI__T_PRINTABLE && vtag != PKI__T_IA5)
        return pki__fail_quiet(why, GL_EPARSE,
                               "common name has string type 0x%02x", vtag);
      if (val.len == 0 || val.len > PKI_CN_MAX - 1)
        return pki__fail_quiet(why, GL_EPARSE,
                               "common name is %zu bytes (1 to %d allowed)",
                               val.len, PKI_CN_MAX - 1);
      for (size_t i = 0; i < val.len; i++)
        if (val.p[i] < 0x20 || val.p[i] > 0x7e)
          return pki__fail_quiet(
              why, GL_EPARSE, "common name contains the byte 0x%02x", val.p[i]);
      memcpy(info->cn, val.p, val.len);
      info->cn[val.len] = '\0';
    }
  }
  return 0;
}

/* ---- Writing ------------------------------------------------------------ */

static void reserve(pki__dbuf *b, size_t n) {
  if (b->err || b->cap - b->len >= n)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) {
      b->err = GL_ENOMEM;
      return;
    }
    cap *= 2;
  }
  uint8_t *d = realloc(b->data, cap);
  if (!d) {
    b->err = GL_ENOMEM;
    return;
  }
  b->data = d;
  b->cap = cap;
}

void pki__dbuf_put(pki__dbuf *b, const void *p, size_t n) {
  reserve(b, n);
  if (b->err || n == 0)
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

size_t pki__dbuf_open(pki__dbuf *b, uint8_t tag) {
  size_t pos = b->len;
  uint8_t hdr[2] = {tag, 0};
  pki__dbuf_put(b, hdr, 2);
  return pos;
}

void pki__dbuf_close(pki__dbuf *b, size_t pos) {
  if (b->err)
    return;
  size_t start = pos + 2, n = b->len - start;
  if (n < 0x80) {
    b->data[pos + 1] = (uint8_t)n;
    return;
  }
  uint8_t lb[sizeof(size_t)];
  size_t k = 0;
  for (size_t v = n; v; v >>= 8)
    lb[k++] = (uint8_t)v;
  reserve(b, k);
  if (b->err)
    return;
  memmove(b->data + start + k, b->data + start, n);
  b->data[pos + 1] = (uint8_t)(0x80 | k);
  for (size_t i = 0; i < k; i++)
    b->data[start + i] = lb[k - 1 - i];
  b->len += k;
}

void pki__dbuf_tlv(pki__dbuf *b, uint8_t tag, const void *p, size_t n) {
  size_t pos = pki__dbuf_open(b, tag);
  pki__dbuf_put(b, p, n);
  pki__dbuf_close(b, pos);
}

void pki__dbuf_uint_bytes(pki__dbuf *b, uint8_t tag, const uint8_t *p,
                          size_t n) {
  while (n > 1 && p[0] == 0) {
    p++;
    n--;
  }
  size_t pos = pki__dbuf_open(b, tag);
  if (n == 0 || (p[0] & 0x80)) {
    uint8_t z = 0;
    pki__dbuf_put(b, &z, 1);
  }
  pki__dbuf_put(b, p, n);
  pki__dbuf_close(b, pos);
}

void pki__dbuf_uint(pki__dbuf *b, uint8_t tag, uint64_t v) {
  uint8_t be[8];
  for (int i = 7; i >= 0; i--) {
    be[i] = (uint8_t)v;
    v >>= 8;
  }
  pki__dbuf_uint_bytes(b, tag, be, 8);
}

void pki__dbuf_time(pki__dbuf *b, int64_t ns) {
  int64_t secs = gl_floor_div(ns, GL_NS_PER_SEC);
  int64_t days = gl_floor_div(secs, 86400), rem = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  pki__civil_from_days(days, &y, &m, &d);
  char s[20];
  unsigned hh = (unsigned)(rem / 3600), mi = (unsigned)(rem / 60 % 60),
           ss = (unsigned)(rem % 60);
  if (y >= 1950 && y <= 2049) {
    snprintf(s, sizeof s, "%02u%02u%02u%02u%02u%02uZ", (unsigned)(y % 100), m,
             d, hh, mi, ss);
    pki__dbuf_tlv(b, PKI__T_UTCTIME, s, 13);
  } else {
    snprintf(s, sizeof s, "%04u%02u%02u%02u%02u%02uZ", (unsigned)y, m, d, hh,
             mi, ss);
    pki__dbuf_tlv(b, PKI__T_GENTIME, s, 15);
  }
}

void pki__dbuf_free(pki__dbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
