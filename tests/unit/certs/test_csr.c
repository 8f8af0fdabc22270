/* SPDX-License-Identifier: MIT */
/* Unit tests for certificate signing requests (csr.c). */
#include "fixture.h"
#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/pki_csr.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_csr_round_trip_ed25519_and_p256(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10);
  pki_key_type types[] = {PKI_KEY_ED25519, PKI_KEY_P256};
  for (size_t i = 0; i < 2; i++) {
    pki_key k;
    assert_int_equal(pki_key_generate(types[i], &f.rand, &k), 0);
    char *pem;
    size_t len;
    assert_int_equal(pki_csr_create(&k, "meter-001", &pem, &len), 0);
    assert_non_null(strstr(pem, "BEGIN CERTIFICATE REQUEST"));
    pki_csr_info info;
    pki_why why = {{0}};
    assert_int_equal(pki_csr_parse(pem, len, &info, &why), 0);
    assert_string_equal(info.subject_cn, "meter-001");
    assert_true(pki_pubkey_equal(&info.pub, &k.pub));
    free(pem);
  }
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f.rand, &k), 0);
  char *pem;
  assert_int_equal(pki_csr_create(&k, "", &pem, NULL), GL_EINVAL);
  fx_free(&f);
}

static void test_csr_accepts_openssl_requests(void **state) {
  (void)state;
  size_t len;
  pki_csr_info info;
  char *text = fx_data("openssl-ed25519.csr", &len);
  assert_int_equal(pki_csr_parse(text, len, &info, NULL), 0);
  assert_string_equal(info.subject_cn, "meter-077");
  assert_int_equal(info.pub.type, PKI_KEY_ED25519);
  free(text);
  text = fx_data("openssl-p256.csr", &len);
  assert_int_equal(pki_csr_parse(text, len, &info, NULL), 0);
  assert_string_equal(info.subject_cn, "meter-256");
  assert_int_equal(info.pub.type, PKI_KEY_P256);
  free(text);
}

/* A CSR's DER through the internal layer, so tests can damage it. */
static uint8_t *csr_der(fx *f, const char *cn, size_t *len) {
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f->rand, &k), 0);
  uint8_t *der;
  assert_int_equal(pki__make_csr(&k, cn, &der, len), 0);
  return der;
}

static void expect(const uint8_t *der, size_t len, int rc,
                   const char *why_has) {
  pki_csr_info info;
  pki_why why = {{0}};
  gt_log_capture_begin();
  assert_int_equal(pki_csr_parse((const char *)der, len, &info, &why), rc);
  if (!strstr(why.text, why_has))
    fail_msg("reason \"%s\" lacks \"%s\"", why.text, why_has);
  /* The refusal is logged with the same reason. */
  assert_true(gt_log_contains(why_has));
  gt_log_capture_end();
}

static void test_csr_refuses_malformed_requests(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 11);
  size_t len;
  uint8_t *der = csr_der(&f, "meter-001", &len);
  expect(der, len - 1, GL_EPARSE, "truncated");
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, der, len);
  longer[len] = 0;
  expect(longer, len + 1, GL_EPARSE, "trailing");
  free(longer);
  /* A wrong inner length makes the structure inconsistent. */
  der[5] ^= 0x01;
  expect(der, len, GL_EPARSE, "CSR refused");
  free(der);
  static const char junk[] = "this is not a certificate request";
  expect((const uint8_t *)junk, strlen(junk), GL_EPARSE, "PEM block");
  static const char bad64[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
                              "MIIB$$$$\n-----END CERTIFICATE REQUEST-----\n";
  expect((const uint8_t *)bad64, strlen(bad64), GL_EPARSE, "base64");
  fx_free(&f);
}

static void test_csr_refuses_altered_requests(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 12);
  size_t len;
  uint8_t *der = csr_der(&f, "meter-001", &len);
  der[len - 3] ^= 0x40; /* inside the signature */
  expect(der, len, GL_EVERIFY, "signature does not verify");
  der[len - 3] ^= 0x40;
  /* Rename the subject after signing: meter-001 -> meter-009. */
  uint8_t *cn = NULL;
  for (size_t i = 0; i + 9 <= len; i++)
    if (memcmp(der + i, "meter-001", 9) == 0)
      cn = der + i;
  assert_non_null(cn);
  cn[8] = '9';
  expect(der, len, GL_EVERIFY, "signature does not verify");
  free(der);
  fx_free(&f);
}

static void test_csr_refuses_wrong_subjects(void **state) {
  (void)state;
  size_t len;
  char *text = fx_data("two-attrs.csr", &len);
  expect((const uint8_t *)text, len, GL_EPERM, "exactly CN=<meter id>");
  free(text);
  text = fx_data("no-cn.csr", &len);
  expect((const uint8_t *)text, len, GL_EPERM, "0 of them CN");
  free(text);
}

static void test_csr_refuses_unsupported_key_types(void **state) {
  (void)state;
  const char *files[] = {"ed448.csr", "rsa.csr"};
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    char *text = fx_data(files[i], &len);
    expect((const uint8_t *)text, len, GL_ENOTSUP, "not supported");
    free(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csr_round_trip_ed25519_and_p256),
      cmocka_unit_test(test_csr_accepts_openssl_requests),
      cmocka_unit_test(test_csr_refuses_malformed_requests),
      cmocka_unit_test(test_csr_refuses_altered_requests),
      cmocka_unit_test(test_csr_refuses_wrong_subjects),
      cmocka_unit_test(test_csr_refuses_unsupported_key_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
