/* SPDX-License-Identifier: MIT */
/* Unit tests for revocation lists: making, parsing, verifying (crl.c). */
#include "fixture.h"
#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_trust.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static pki_crl_entry entry(const char *hex, int64_t at, int reason) {
  pki_crl_entry e = {.revoked_at = at, .reason = reason};
  assert_int_equal(pki__serial_from_hex(hex, e.serial, &e.serial_len), 0);
  return e;
}

static pki_crl *make(const pki_key *k, const pki_cert *ca, uint64_t number,
                     int64_t this_update, int64_t next_update,
                     const pki_crl_entry *e, size_t n) {
  char *pem;
  size_t len;
  assert_int_equal(
      pki_crl_make(k, ca, number, this_update, next_update, e, n, &pem, &len),
      0);
  pki_crl *crl;
  pki_why why = {{0}};
  if (pki_crl_parse(pem, len, &crl, &why))
    fail_msg("%s", why.text);
  free(pem);
  return crl;
}

static void test_crl_round_trip_and_lookup(void **state) {
  (void)state;
  pki_key_type types[] = {PKI_KEY_ED25519, PKI_KEY_P256};
  for (size_t t = 0; t < 2; t++) {
    fx f;
    fx_init(&f, 40);
    pki_key k;
    pki_cert *ca;
    fx_ca(&f, "crl CA", types[t], &k, &ca);
    pki_crl_entry e[] = {
        entry("7f01020304050607", f.now - 100 * GL_NS_PER_SEC,
              PKI_REASON_KEY_COMPROMISE),
        entry("05", f.now - 200 * GL_NS_PER_SEC, PKI_REASON_UNSPECIFIED),
        entry("0123456789abcdef0123456789abcdef", f.now, PKI_REASON_CESSATION)};
    pki_crl *crl = make(&k, ca, 42, f.now, f.now + 7 * FX_DAY, e, 3);
    assert_int_equal(pki_crl_verify(crl, ca, f.now, NULL), 0);
    assert_int_equal(pki_crl_count(crl), 3);
    assert_true(pki_crl_number(crl) == 42);
    assert_true(pki_crl_this_update(crl) == f.now);
    assert_true(pki_crl_next_update(crl) == f.now + 7 * FX_DAY);
    /* Sorted by numeric serial: 05 < 7f01.. < 0123..(16 bytes). */
    assert_int_equal(pki_crl_entry_at(crl, 0)->serial_len, 1);
    assert_null(pki_crl_entry_at(crl, 3));
    pki_crl_entry got;
    assert_true(pki_crl_find_hex(crl, "7F01020304050607", &got));
    assert_int_equal(got.reason, PKI_REASON_KEY_COMPROMISE);
    assert_true(got.revoked_at == f.now - 100 * GL_NS_PER_SEC);
    assert_true(pki_crl_find_hex(crl, "0005", &got));
    assert_int_equal(got.reason, -1); /* unspecified is left out */
    assert_true(
        pki_crl_find_hex(crl, "0123456789abcdef0123456789abcdef", &got));
    assert_int_equal(got.reason, PKI_REASON_CESSATION);
    assert_false(pki_crl_find_hex(crl, "06", NULL));
    assert_false(pki_crl_find_hex(crl, "7f010203040506", NULL));
    pki_crl_free(crl);
    /* An empty list is valid too. */
    crl = make(&k, ca, 1, f.now, f.now + FX_DAY, NULL, 0);
    assert_int_equal(pki_crl_count(crl), 0);
    assert_int_equal(pki_crl_verify(crl, ca, f.now, NULL), 0);
    pki_crl_free(crl);
    pki_cert_free(ca);
    fx_free(&f);
  }
}

static void test_crl_refuses_lists_not_from_our_ca(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 41);
  pki_key k, k2, k3;
  pki_cert *ca, *impostor, *renamed;
  fx_ca(&f, "crl CA", PKI_KEY_ED25519, &k, &ca);
  fx_ca(&f, "crl CA", PKI_KEY_ED25519, &k2, &impostor);
  fx_ca(&f, "other CA", PKI_KEY_ED25519, &k3, &renamed);
  pki_why why = {{0}};
  pki_crl *crl = make(&k2, impostor, 1, f.now, f.now + FX_DAY, NULL, 0);
  assert_int_equal(pki_crl_verify(crl, ca, f.now, &why), GL_EVERIFY);
  assert_non_null(strstr(why.text, "another CA"));
  pki_crl_free(crl);
  crl = make(&k3, renamed, 1, f.now, f.now + FX_DAY, NULL, 0);
  assert_int_equal(pki_crl_verify(crl, ca, f.now, &why), GL_EVERIFY);
  assert_non_null(strstr(why.text, "not by this community's CA"));
  pki_crl_free(crl);
  /* Altered after signing: the signature no longer verifies. */
  pki_crl_entry e = entry("0a0b", f.now, PKI_REASON_SUPERSEDED);
  char *pem;
  size_t len;
  assert_int_equal(
      pki_crl_make(&k, ca, 9, f.now, f.now + FX_DAY, &e, 1, &pem, &len), 0);
  uint8_t *der;
  size_t dlen;
  assert_int_equal(
      pki__pem_decode(pem, len, "X509 CRL", NULL, &der, &dlen, NULL), 0);
  for (size_t i = 0; i + 2 <= dlen; i++)
    if (der[i] == 0x0a && der[i + 1] == 0x0b)
      der[i + 1] = 0x0c; /* un-revoke 0a0b, revoke 0a0c instead */
  assert_int_equal(pki_crl_parse((const char *)der, dlen, &crl, NULL), 0);
  assert_true(pki_crl_find_hex(crl, "0a0c", NULL));
  assert_int_equal(pki_crl_verify(crl, ca, f.now, &why), GL_EVERIFY);
  assert_non_null(strstr(why.text, "signature"));
  pki_crl_free(crl);
  free(der);
  free(pem);
  pki_cert_free(ca);
  pki_cert_free(impostor);
  pki_cert_free(renamed);
  fx_free(&f);
}

static void test_crl_refuses_stale_and_future_lists(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 42);
  pki_key k;
  pki_cert *ca;
  fx_ca(&f, "crl CA", PKI_KEY_ED25519, &k, &ca);
  pki_crl *crl = make(&k, ca, 3, f.now, f.now + FX_DAY, NULL, 0);
  pki_why why = {{0}};
  assert_int_equal(pki_crl_verify(crl, ca, f.now + FX_DAY, &why), GL_EEXPIRED);
  assert_non_null(strstr(why.text, "expired"));
  assert_int_equal(pki_crl_verify(crl, ca, f.now - FX_DAY, &why), GL_EEXPIRED);
  assert_non_null(strstr(why.text, "not valid yet"));
  /* A few minutes of clock difference are tolerated. */
  assert_int_equal(pki_crl_verify(crl, ca, f.now - 60 * GL_NS_PER_SEC, NULL),
                   0);
  pki_crl_free(crl);
  assert_int_equal(pki_crl_make(&k, ca, 1, f.now, f.now, NULL, 0, NULL, NULL),
                   GL_EINVAL);
  pki_cert_free(ca);
  fx_free(&f);
}

static void test_crl_trust_refuses_rollback(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 43);
  pki_key k;
  pki_cert *ca;
  fx_ca(&f, "crl CA", PKI_KEY_ED25519, &k, &ca);
  pki_trust *trust;
  assert_int_equal(pki_trust_new(ca, &trust, NULL), 0);
  pki_crl_entry e = entry("77", f.now, PKI_REASON_KEY_COMPROMISE);
  assert_int_equal(
      pki_trust_set_crl(trust, make(&k, ca, 5, f.now, f.now + FX_DAY, &e, 1),
                        &f.clock, NULL),
      0);
  pki_why why = {{0}};
  /* An older list that no longer names 77 must not take over. */
  assert_int_equal(
      pki_trust_set_crl(trust, make(&k, ca, 4, f.now, f.now + FX_DAY, NULL, 0),
                        &f.clock, &why),
      GL_ECONFLICT);
  assert_non_null(strstr(why.text, "roll back"));
  assert_true(pki_crl_number(pki_trust_crl(trust)) == 5);
  assert_true(pki_crl_find_hex(pki_trust_crl(trust), "77", NULL));
  pki_trust_free(trust);
  pki_cert_free(ca);
  fx_free(&f);
}

/* A hand-built CRL body, to reach the parser's refusals. */
static char *handmade(const pki_key *k, const pki_cert *ca, int64_t now,
                      bool next_update, bool unknown_critical, size_t *len) {
  static const uint8_t alg[] = {0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};
  static const uint8_t odd_oid[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x99};
  pki__dbuf b = {0};
  size_t outer = pki__dbuf_open(&b, PKI__T_SEQ);
  size_t tbs = pki__dbuf_open(&b, PKI__T_SEQ);
  pki__dbuf_uint(&b, PKI__T_INTEGER, 1);
  pki__dbuf_put(&b, alg, sizeof alg);
  size_t n;
  const uint8_t *iss = pki__cert_subject(ca, &n);
  pki__dbuf_put(&b, iss, n);
  pki__dbuf_time(&b, now);
  if (next_update)
    pki__dbuf_time(&b, now + FX_DAY);
  if (unknown_critical) {
    size_t ctx = pki__dbuf_open(&b, PKI__T_CTX0);
    size_t exts = pki__dbuf_open(&b, PKI__T_SEQ);
    size_t ext = pki__dbuf_open(&b, PKI__T_SEQ);
    pki__dbuf_tlv(&b, PKI__T_OID, odd_oid, sizeof odd_oid);
    uint8_t yes = 0xff;
    pki__dbuf_tlv(&b, PKI__T_BOOLEAN, &yes, 1);
    pki__dbuf_tlv(&b, PKI__T_OCTSTR, "", 0);
    pki__dbuf_close(&b, ext);
    pki__dbuf_close(&b, exts);
    pki__dbuf_close(&b, ctx);
  }
  pki__dbuf_close(&b, tbs);
  uint8_t sig[PKI__SIG_MAX];
  size_t siglen;
  assert_int_equal(pki__sign(k, b.data + tbs, b.len - tbs, sig, &siglen), 0);
  pki__dbuf_put(&b, alg, sizeof alg);
  size_t bits = pki__dbuf_open(&b, PKI__T_BITSTR);
  uint8_t zero = 0;
  pki__dbuf_put(&b, &zero, 1);
  pki__dbuf_put(&b, sig, siglen);
  pki__dbuf_close(&b, bits);
  pki__dbuf_close(&b, outer);
  assert_int_equal(b.err, 0);
  *len = b.len;
  return (char *)b.data;
}

static void test_crl_refuses_malformed_lists(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 44);
  pki_key k;
  pki_cert *ca;
  fx_ca(&f, "crl CA", PKI_KEY_ED25519, &k, &ca);
  pki_crl *crl;
  pki_why why = {{0}};
  size_t len;
  char *good = handmade(&k, ca, f.now, true, false, &len);
  assert_int_equal(pki_crl_parse(good, len, &crl, &why), 0);
  assert_int_equal(pki_crl_verify(crl, ca, f.now, NULL), 0);
  pki_crl_free(crl);
  gt_log_capture_begin();
  assert_int_equal(pki_crl_parse(good, len - 1, &crl, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "truncated"));
  assert_true(gt_log_contains("revocation list refused"));
  gt_log_capture_end();
  free(good);
  char *nonext = handmade(&k, ca, f.now, false, false, &len);
  assert_int_equal(pki_crl_parse(nonext, len, &crl, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "nextUpdate"));
  free(nonext);
  char *crit = handmade(&k, ca, f.now, true, true, &len);
  assert_int_equal(pki_crl_parse(crit, len, &crl, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "unknown critical extension"));
  free(crit);
  assert_int_equal(pki_crl_parse("nothing here", 12, &crl, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "X509 CRL"));
  pki_cert_free(ca);
  fx_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crl_round_trip_and_lookup),
      cmocka_unit_test(test_crl_refuses_lists_not_from_our_ca),
      cmocka_unit_test(test_crl_refuses_stale_and_future_lists),
      cmocka_unit_test(test_crl_trust_refuses_rollback),
      cmocka_unit_test(test_crl_refuses_malformed_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
