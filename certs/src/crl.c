/* SPDX-License-Identifier: MIT */
/*
 * crl.c - building, signing, parsing and verifying X.509 v2 CRLs (RFC 5280
 * section 5). See gridlet/pki_crl.h for why we encode CRLs ourselves.
 *
 * CertificateList  ::= SEQUENCE { tbsCertList, signatureAlgorithm,
 *                                 signatureValue BIT STRING }
 * TBSCertList      ::= SEQUENCE { version INTEGER (v2 = 1),
 *                                 signature AlgorithmIdentifier,
 *                                 issuer Name, thisUpdate Time,
 *                                 nextUpdate Time,
 *                                 revokedCertificates SEQUENCE OF SEQUENCE {
 *                                   userCertificate INTEGER,
 *                                   revocationDate Time,
 *                                   crlEntryExtensions OPTIONAL } OPTIONAL,
 *                                 crlExtensions [0] EXPLICIT OPTIONAL }
 */
#include "gridlet/pki_crl.h"

#include "internal.h"

#include "gridlet/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A CRL lists only unexpired revoked certificates, but allow a large
 * community a long history. */
#define CRL_DER_MAX (1024 * 1024)
#define CRL_FILE_MAX (2 * CRL_DER_MAX)
/* Tolerated difference between the CA's clock and ours for thisUpdate. */
#define CRL_SKEW (INT64_C(300) * 1000000000)

static const uint8_t oid_ed25519[] = {0x2b, 0x65, 0x70};
static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_reason[] = {0x55, 0x1d, 0x15};
static const uint8_t oid_aki[] = {0x55, 0x1d, 0x23};
static const uint8_t oid_crl_number[] = {0x55, 0x1d, 0x14};

struct pki_crl {
  uint8_t *der;
  size_t der_len;
  size_t tbs_off, tbs_len, sig_off, sig_len, iss_off, iss_len;
  pki__sigalg sigalg;
  int64_t this_update, next_update;
  uint64_t number;
  bool has_akid;
  uint8_t akid[20];
  char issuer_cn[PKI_CN_MAX];
  pki_crl_entry *entries;
  size_t n;
};

/* ---- Reasons ------------------------------------------------------------ */

static const char *const reason_names[] = {
    "unspecified",        "keyCompromise", "cACompromise",
    "affiliationChanged", "superseded",    "cessationOfOperation"};
#define N_REASONS (sizeof reason_names / sizeof reason_names[0])

const char *pki_reason_name(int reason) {
  if (reason < 0 || (size_t)reason >= N_REASONS)
    return "?";
  return reason_names[reason];
}

int pki_reason_parse(const char *name, int *reason) {
  for (size_t i = 0; i < N_REASONS; i++)
    if (strcmp(name, reason_names[i]) == 0) {
      *reason = (int)i;
      return 0;
    }
  return GL_EINVAL;
}

/* ---- Ordering ----------------------------------------------------------- */

/* Minimal big-endian magnitudes order by length, then bytes. */
static int serial_cmp(const uint8_t *a, size_t an, const uint8_t *b,
                      size_t bn) {
  if (an != bn)
    return an < bn ? -1 : 1;
  return memcmp(a, b, an);
}

static int entry_cmp(const void *x, const void *y) {
  const pki_crl_entry *a = x, *b = y;
  return serial_cmp(a->serial, a->serial_len, b->serial, b->serial_len);
}

/* ---- Building ----------------------------------------------------------- */

static void put_algid(pki__dbuf *b, pki_key_type t) {
  size_t pos = pki__dbuf_open(b, PKI__T_SEQ);
  if (t == PKI_KEY_P256)
    pki__dbuf_tlv(b, PKI__T_OID, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256);
  else
    pki__dbuf_tlv(b, PKI__T_OID, oid_ed25519, sizeof oid_ed25519);
  pki__dbuf_close(b, pos);
}

/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }. */
static size_t ext_open(pki__dbuf *b, const uint8_t *oid, size_t n,
                       size_t *octets) {
  size_t pos = pki__dbuf_open(b, PKI__T_SEQ);
  pki__dbuf_tlv(b, PKI__T_OID, oid, n);
  *octets = pki__dbuf_open(b, PKI__T_OCTSTR);
  return pos;
}

static void ext_close(pki__dbuf *b, size_t pos, size_t octets) {
  pki__dbuf_close(b, octets);
  pki__dbuf_close(b, pos);
}

int pki_crl_make(const pki_key *ca_key, const pki_cert *ca, uint64_t number,
                 int64_t this_update, int64_t next_update,
                 const pki_crl_entry *entries, size_t n, char **pem,
                 size_t *len) {
  if (next_update <= this_update || !pki_cert_matches_key(ca, ca_key) ||
      !pki_cert_get_info(ca)->is_ca)
    return GL_EINVAL;
  pki_crl_entry *sorted = NULL;
  if (n) {
    sorted = malloc(n * sizeof *sorted);
    if (!sorted)
      return GL_ENOMEM;
    memcpy(sorted, entries, n * sizeof *sorted);
    for (size_t i = 0; i < n; i++)
      if (sorted[i].serial_len == 0 || sorted[i].serial_len > PKI_SERIAL_MAX) {
        free(sorted);
        return GL_EINVAL;
      }
    qsort(sorted, n, sizeof *sorted, entry_cmp);
  }
  pki__dbuf b = {0};
  size_t cl = pki__dbuf_open(&b, PKI__T_SEQ);
  size_t tbs = pki__dbuf_open(&b, PKI__T_SEQ);
  pki__dbuf_uint(&b, PKI__T_INTEGER, 1);
  put_algid(&b, ca_key->pub.type);
  size_t iss_len;
  const uint8_t *iss = pki__cert_subject(ca, &iss_len);
  pki__dbuf_put(&b, iss, iss_len);
  pki__dbuf_time(&b, this_update);
  pki__dbuf_time(&b, next_update);
  if (n) {
    size_t list = pki__dbuf_open(&b, PKI__T_SEQ);
    for (size_t i = 0; i < n; i++) {
      size_t e = pki__dbuf_open(&b, PKI__T_SEQ);
      pki__dbuf_uint_bytes(&b, PKI__T_INTEGER, sorted[i].serial,
                           sorted[i].serial_len);
      pki__dbuf_time(&b, sorted[i].revoked_at);
      /* RFC 5280 5.3.1: "unspecified" SHOULD be expressed by omission. */
      if (sorted[i].reason > 0) {
        size_t exts = pki__dbuf_open(&b, PKI__T_SEQ), oct;
        size_t x = ext_open(&b, oid_reason, sizeof oid_reason, &oct);
        pki__dbuf_uint(&b, PKI__T_ENUM, (uint64_t)sorted[i].reason);
        ext_close(&b, x, oct);
        pki__dbuf_close(&b, exts);
      }
      pki__dbuf_close(&b, e);
    }
    pki__dbuf_close(&b, list);
  }
  size_t ctx = pki__dbuf_open(&b, PKI__T_CTX0);
  size_t exts = pki__dbuf_open(&b, PKI__T_SEQ), oct;
  const uint8_t *skid = pki__cert_skid(ca);
  if (skid) {
    size_t x = ext_open(&b, oid_aki, sizeof oid_aki, &oct);
    size_t aki = pki__dbuf_open(&b, PKI__T_SEQ);
    pki__dbuf_tlv(&b, 0x80, skid, 20); /* keyIdentifier [0] IMPLICIT */
    pki__dbuf_close(&b, aki);
    ext_close(&b, x, oct);
  }
  size_t x = ext_open(&b, oid_crl_number, sizeof oid_crl_number, &oct);
  pki__dbuf_uint(&b, PKI__T_INTEGER, number);
  ext_close(&b, x, oct);
  pki__dbuf_close(&b, exts);
  pki__dbuf_close(&b, ctx);
  pki__dbuf_close(&b, tbs);
  free(sorted);
  int rc = b.err;
  uint8_t sig[PKI__SIG_MAX];
  size_t siglen = 0;
  if (rc == 0)
    rc = pki__sign(ca_key, b.data + tbs, b.len - tbs, sig, &siglen);
  if (rc == 0) {
    put_algid(&b, ca_key->pub.type);
    size_t bits = pki__dbuf_open(&b, PKI__T_BITSTR);
    uint8_t unused = 0;
    pki__dbuf_put(&b, &unused, 1);
    pki__dbuf_put(&b, sig, siglen);
    pki__dbuf_close(&b, bits);
    pki__dbuf_close(&b, cl);
    rc = b.err;
  }
  if (rc == 0)
    rc = pki__pem_encode("X509 CRL", b.data, b.len, pem, len);
  pki__dbuf_free(&b);
  return rc;
}

/* ---- Parsing ------------------------------------------------------------ */

static int read_time(pki__der *cur, int64_t *ns) {
  uint8_t tag;
  pki__der c;
  if (pki__der_read(cur, &tag, &c, NULL))
    return GL_EPARSE;
  return pki__der_time(tag, &c, ns);
}

static bool is_time(const pki__der *cur) {
  int t = pki__der_peek(cur);
  return t == PKI__T_UTCTIME || t == PKI__T_GENTIME;
}

/* One Extension: its OID, critical flag and value. */
static int read_ext(pki__der *exts, pki__der *oid, bool *critical,
                    pki__der *value) {
  pki__der e;
  if (pki__der_expect(exts, PKI__T_SEQ, &e, NULL) ||
      pki__der_expect(&e, PKI__T_OID, oid, NULL))
    return GL_EPARSE;
  *critical = false;
  if (pki__der_peek(&e) == PKI__T_BOOLEAN) {
    pki__der b;
    if (pki__der_read(&e, NULL, &b, NULL) || b.len != 1)
      return GL_EPARSE;
    /* DER: TRUE is 0xff and FALSE (the default) is never encoded. */
    if (b.p[0] != 0xff)
      return GL_EPARSE;
    *critical = true;
  }
  if (pki__der_expect(&e, PKI__T_OCTSTR, value, NULL) || e.len != 0)
    return GL_EPARSE;
  return 0;
}

static int parse_entry(pki__der *list, pki_crl_entry *ent, pki_why *why) {
  pki__der e, serial;
  memset(ent, 0, sizeof *ent);
  ent->reason = -1;
  if (pki__der_expect(list, PKI__T_SEQ, &e, NULL) ||
      pki__der_expect(&e, PKI__T_INTEGER, &serial, NULL) ||
      pki__der_serial(&serial, ent->serial, &ent->serial_len) ||
      read_time(&e, &ent->revoked_at))
    return pki__fail_quiet(why, GL_EPARSE, "malformed revoked entry");
  if (e.len) {
    pki__der exts;
    if (pki__der_expect(&e, PKI__T_SEQ, &exts, NULL) || e.len != 0)
      return pki__fail_quiet(why, GL_EPARSE, "malformed entry extensions");
    while (exts.len) {
      pki__der oid, val;
      bool crit;
      if (read_ext(&exts, &oid, &crit, &val))
        return pki__fail_quiet(why, GL_EPARSE, "malformed entry extension");
      if (pki__der_oid_is(&oid, oid_reason, sizeof oid_reason)) {
        pki__der r;
        uint64_t v;
        if (pki__der_expect(&val, PKI__T_ENUM, &r, NULL) || val.len != 0 ||
            pki__der_uint(&r, &v) || v > 10)
          return pki__fail_quiet(why, GL_EPARSE, "malformed reason code");
        ent->reason = (int)v;
      } else if (crit) {
        return pki__fail_quiet(why, GL_ENOTSUP,
                               "an entry has an unknown critical extension");
      }
    }
  }
  return 0;
}

static int parse_crl_exts(pki__der *ctx, pki_crl *c, pki_why *why) {
  pki__der exts;
  if (pki__der_expect(ctx, PKI__T_SEQ, &exts, NULL) || ctx->len != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed CRL extensions");
  while (exts.len) {
    pki__der oid, val;
    bool crit;
    if (read_ext(&exts, &oid, &crit, &val))
      return pki__fail_quiet(why, GL_EPARSE, "malformed CRL extension");
    if (pki__der_oid_is(&oid, oid_crl_number, sizeof oid_crl_number)) {
      pki__der num;
      if (pki__der_expect(&val, PKI__T_INTEGER, &num, NULL) || val.len != 0 ||
          pki__der_uint(&num, &c->number))
        return pki__fail_quiet(why, GL_EPARSE, "malformed CRL number");
    } else if (pki__der_oid_is(&oid, oid_aki, sizeof oid_aki)) {
      pki__der aki, kid;
      uint8_t tag;
      if (pki__der_expect(&val, PKI__T_SEQ, &aki, NULL) || val.len != 0)
        return pki__fail_quiet(why, GL_EPARSE, "malformed CRL AKI");
      while (aki.len) {
        if (pki__der_read(&aki, &tag, &kid, NULL))
          return pki__fail_quiet(why, GL_EPARSE, "malformed CRL AKI");
        if (tag == 0x80 && kid.len == 20) {
          c->has_akid = true;
          memcpy(c->akid, kid.p, 20);
        }
      }
    } else if (crit) {
      /* Delta CRLs, issuing distribution points...: not ours. */
      return pki__fail_quiet(why, GL_ENOTSUP,
                             "the CRL has an unknown critical extension");
    }
  }
  return 0;
}

static int parse_der(pki_crl *c, pki_why *why) {
  const uint8_t *der = c->der;
  pki__der in = {der, c->der_len}, outer, tbs, tbs_whole, alg, alg_whole, sig;
  if (pki__der_expect(&in, PKI__T_SEQ, &outer, NULL) || in.len != 0)
    return pki__fail_quiet(why, GL_EPARSE,
                           "not a single DER structure (truncated, or "
                           "trailing bytes)");
  if (pki__der_expect(&outer, PKI__T_SEQ, &tbs, &tbs_whole) ||
      pki__der_expect(&outer, PKI__T_SEQ, &alg, &alg_whole) ||
      pki__der_expect(&outer, PKI__T_BITSTR, &sig, NULL) || outer.len != 0 ||
      sig.len < 2 || sig.p[0] != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed outer structure");
  pki__der oid;
  if (pki__der_expect(&alg, PKI__T_OID, &oid, NULL) || alg.len != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed signature algorithm");
  if (pki__der_oid_is(&oid, oid_ed25519, sizeof oid_ed25519))
    c->sigalg = PKI__SIG_ED25519;
  else if (pki__der_oid_is(&oid, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256))
    c->sigalg = PKI__SIG_ECDSA_SHA256;
  else
    return pki__fail_quiet(why, GL_ENOTSUP,
                           "signature algorithm is not supported (only "
                           "Ed25519 and ECDSA with SHA-256)");
  c->tbs_off = (size_t)(tbs_whole.p - der);
  c->tbs_len = tbs_whole.len;
  c->sig_off = (size_t)(sig.p + 1 - der);
  c->sig_len = sig.len - 1;

  pki__der t = tbs, elem, inner_alg, iss;
  if (pki__der_peek(&t) == PKI__T_INTEGER) {
    uint64_t v;
    if (pki__der_read(&t, NULL, &elem, NULL) || pki__der_uint(&elem, &v) ||
        v != 1)
      return pki__fail_quiet(why, GL_EPARSE, "CRL version is not 2");
  }
  if (pki__der_expect(&t, PKI__T_SEQ, NULL, &inner_alg) ||
      inner_alg.len != alg_whole.len ||
      memcmp(inner_alg.p, alg_whole.p, alg_whole.len) != 0)
    return pki__fail_quiet(why, GL_EPARSE,
                           "inner and outer signature algorithms differ");
  if (pki__der_expect(&t, PKI__T_SEQ, NULL, &iss))
    return pki__fail_quiet(why, GL_EPARSE, "malformed issuer");
  c->iss_off = (size_t)(iss.p - der);
  c->iss_len = iss.len;
  pki__name_info name;
  if (pki__der_name(iss.p, iss.len, &name, why))
    return GL_EPARSE;
  memcpy(c->issuer_cn, name.cn, sizeof c->issuer_cn);
  if (read_time(&t, &c->this_update))
    return pki__fail_quiet(why, GL_EPARSE, "malformed thisUpdate");
  if (!is_time(&t) || read_time(&t, &c->next_update))
    return pki__fail_quiet(why, GL_EPARSE,
                           "the CRL has no valid nextUpdate time");
  if (pki__der_peek(&t) == PKI__T_SEQ) {
    pki__der list;
    if (pki__der_read(&t, NULL, &list, NULL))
      return GL_EPARSE;
    /* Count first so one allocation holds every entry. */
    size_t count = 0;
    for (pki__der l = list; l.len; count++)
      if (pki__der_read(&l, NULL, NULL, NULL))
        return pki__fail_quiet(why, GL_EPARSE, "malformed revoked list");
    if (count) {
      c->entries = calloc(count, sizeof *c->entries);
      if (!c->entries)
        return GL_ENOMEM;
    }
    while (list.len) {
      int rc = parse_entry(&list, &c->entries[c->n], why);
      if (rc)
        return rc;
      c->n++;
    }
    qsort(c->entries, c->n, sizeof *c->entries, entry_cmp);
  }
  if (pki__der_peek(&t) == PKI__T_CTX0) {
    pki__der ctx;
    if (pki__der_read(&t, NULL, &ctx, NULL))
      return GL_EPARSE;
    int rc = parse_crl_exts(&ctx, c, why);
    if (rc)
      return rc;
  }
  if (t.len != 0)
    return pki__fail_quiet(why, GL_EPARSE, "unexpected fields in the CRL");
  return 0;
}

int pki_crl_parse(const char *text, size_t len, pki_crl **out, pki_why *why) {
  *out = NULL;
  pki_crl *c = calloc(1, sizeof *c);
  if (!c)
    return GL_ENOMEM;
  pki_why inner = {{0}};
  int rc = 0;
  if (len > 0 && (unsigned char)text[0] == PKI__T_SEQ) {
    if (len > CRL_DER_MAX) {
      rc = GL_ETOOBIG;
      snprintf(inner.text, sizeof inner.text, "%zu bytes is too large", len);
    } else if (!(c->der = malloc(len))) {
      rc = GL_ENOMEM;
    } else {
      memcpy(c->der, text, len);
      c->der_len = len;
    }
  } else {
    rc = pki__pem_decode(text, len, "X509 CRL", NULL, &c->der, &c->der_len,
                         &inner);
    if (rc == GL_ENOENT)
      rc = GL_EPARSE;
    if (rc == 0 && c->der_len > CRL_DER_MAX) {
      rc = GL_ETOOBIG;
      snprintf(inner.text, sizeof inner.text, "%zu bytes is too large",
               c->der_len);
    }
  }
  if (rc == 0)
    rc = parse_der(c, &inner);
  if (rc) {
    pki_crl_free(c);
    if (rc == GL_ENOMEM)
      return rc;
    return pki__fail(why, rc, "revocation list refused: %s", inner.text);
  }
  *out = c;
  return 0;
}

void pki_crl_free(pki_crl *crl) {
  if (!crl)
    return;
  free(crl->entries);
  free(crl->der);
  free(crl);
}

/* ---- Verifying and looking up ------------------------------------------- */

int pki_crl_verify(const pki_crl *c, const pki_cert *ca, int64_t now,
                   pki_why *why) {
  size_t slen;
  const uint8_t *subj = pki__cert_subject(ca, &slen);
  const pki_cert_info *ci = pki_cert_get_info(ca);
  if (!ci->is_ca)
    return pki__fail(why, GL_EVERIFY,
                     "revocation list: \"%s\" is not a CA certificate",
                     ci->subject_cn);
  if (c->iss_len != slen || memcmp(c->der + c->iss_off, subj, slen) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "revocation list was issued by \"%s\", not by this "
                     "community's CA \"%s\"",
                     c->issuer_cn, ci->subject_cn);
  const uint8_t *skid = pki__cert_skid(ca);
  if (c->has_akid && skid && memcmp(c->akid, skid, 20) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "revocation list was issued by another CA named \"%s\"",
                     c->issuer_cn);
  if (pki__verify(&ci->pub, c->sigalg, c->der + c->tbs_off, c->tbs_len,
                  c->der + c->sig_off, c->sig_len) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "revocation list signature does not verify with the CA "
                     "key (altered, or from another CA)");
  return pki__crl_check_time(c, now, why);
}

int pki__crl_check_time(const pki_crl *c, int64_t now, pki_why *why) {
  if (c->this_update > now + CRL_SKEW)
    return pki__fail(why, GL_EEXPIRED,
                     "revocation list %llu is not valid yet (issued in the "
                     "future: check the clock)",
                     (unsigned long long)c->number);
  if (now >= c->next_update)
    return pki__fail(why, GL_EEXPIRED,
                     "revocation list %llu expired; issue a new one with "
                     "`gridlet-ca crl`",
                     (unsigned long long)c->number);
  return 0;
}

bool pki_crl_find(const pki_crl *crl, const uint8_t *serial, size_t serial_len,
                  pki_crl_entry *entry) {
  while (serial_len > 1 && serial[0] == 0) {
    serial++;
    serial_len--;
  }
  size_t lo = 0, hi = crl->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const pki_crl_entry *e = &crl->entries[mid];
    int cmp = serial_cmp(serial, serial_len, e->serial, e->serial_len);
    if (cmp == 0) {
      if (entry)
        *entry = *e;
      return true;
    }
    if (cmp < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return false;
}

bool pki_crl_find_hex(const pki_crl *crl, const char *serial_hex,
                      pki_crl_entry *entry) {
  uint8_t s[PKI_SERIAL_MAX];
  size_t n;
  if (pki__serial_from_hex(serial_hex, s, &n) != 0)
    return false;
  return pki_crl_find(crl, s, n, entry);
}

size_t pki_crl_count(const pki_crl *crl) {
  return crl->n;
}

const pki_crl_entry *pki_crl_entry_at(const pki_crl *crl, size_t i) {
  return i < crl->n ? &crl->entries[i] : NULL;
}

uint64_t pki_crl_number(const pki_crl *crl) {
  return crl->number;
}

int64_t pki_crl_this_update(const pki_crl *crl) {
  return crl->this_update;
}

int64_t pki_crl_next_update(const pki_crl *crl) {
  return crl->next_update;
}

int pki__crl_load_file(const char *path, pki_crl **out, pki_why *why) {
  char *text;
  size_t n;
  pki_why inner = {{0}};
  int rc = pki__read_file(path, CRL_FILE_MAX, &text, &n, NULL, &inner);
  if (rc)
    return pki__fail(why, rc, "revocation list: %s", inner.text);
  rc = pki_crl_parse(text, n, out, why);
  free(text);
  return rc;
}
