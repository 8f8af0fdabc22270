/* SPDX-License-Identifier: MIT */
/* Unit tests for the strict DER reader/writer and X.509 times (der.c). */
#include "internal.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static int64_t t(const char *s) {
  int64_t ns;
  assert_int_equal(gl_time_parse(s, &ns), 0);
  return ns;
}

static int parse_time(uint8_t tag, const char *s, int64_t *ns) {
  pki__der c = {(const uint8_t *)s, strlen(s)};
  return pki__der_time(tag, &c, ns);
}

static void test_der_times_follow_rfc5280(void **state) {
  (void)state;
  int64_t ns;
  assert_int_equal(parse_time(PKI__T_UTCTIME, "491231235959Z", &ns), 0);
  assert_true(ns == t("2049-12-31T23:59:59Z"));
  assert_int_equal(parse_time(PKI__T_UTCTIME, "500101000000Z", &ns), 0);
  /* Before 1970: outside gl_time_parse, so from the civil calendar. */
  assert_true(ns == pki__days_from_civil(1950, 1, 1) * 86400 * GL_NS_PER_SEC);
  assert_int_equal(parse_time(PKI__T_GENTIME, "20500101000000Z", &ns), 0);
  assert_true(ns == t("2050-01-01T00:00:00Z"));
  assert_int_equal(parse_time(PKI__T_GENTIME, "20280229120000Z", &ns), 0);
  /* Far future saturates instead of overflowing. */
  assert_int_equal(parse_time(PKI__T_GENTIME, "99991231235959Z", &ns), 0);
  assert_true(ns == INT64_MAX);
  const char *bad[] = {"20271301000000Z", "20270229000000Z", "2027010100000Z",
                       "20270101000000",  "2027010100000aZ", "20270101240000Z",
                       "20270101000060Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(parse_time(PKI__T_GENTIME, bad[i], &ns), GL_EPARSE);
  assert_int_equal(parse_time(PKI__T_UTCTIME, "4912312359Z", &ns), GL_EPARSE);
  assert_int_equal(parse_time(PKI__T_OCTSTR, "491231235959Z", &ns), GL_EPARSE);
}

static void check_written(int64_t ns, uint8_t tag, const char *text) {
  pki__dbuf b = {0};
  pki__dbuf_time(&b, ns);
  assert_int_equal(b.err, 0);
  assert_int_equal(b.data[0], tag);
  assert_int_equal(b.data[1], strlen(text));
  assert_memory_equal(b.data + 2, text, strlen(text));
  int64_t back;
  pki__der c = {b.data + 2, b.len - 2};
  assert_int_equal(pki__der_time(tag, &c, &back), 0);
  assert_true(back == ns - ns % GL_NS_PER_SEC);
  pki__dbuf_free(&b);
}

static void test_der_time_encoding_switches_in_2050(void **state) {
  (void)state;
  check_written(t("2049-12-31T23:59:59Z"), PKI__T_UTCTIME, "491231235959Z");
  check_written(t("2050-01-01T00:00:00Z"), PKI__T_GENTIME, "20500101000000Z");
  check_written(t("2026-11-21T12:00:00.75Z"), PKI__T_UTCTIME, "261121120000Z");
  check_written(t("1970-01-01T00:00:00Z"), PKI__T_UTCTIME, "700101000000Z");
}

static void test_der_reader_rejects_non_der_lengths(void **state) {
  (void)state;
  static const uint8_t ok[] = {0x04, 0x02, 0xaa, 0xbb};
  static const uint8_t long_form_small[] = {0x04, 0x81, 0x02, 0xaa, 0xbb};
  static const uint8_t indefinite[] = {0x30, 0x80, 0x00, 0x00};
  static const uint8_t too_long[] = {0x04, 0x05, 0xaa};
  static const uint8_t high_tag[] = {0x1f, 0x81, 0x01, 0x00};
  static const uint8_t leading_zero[] = {0x04, 0x82, 0x00, 0x81};
  pki__der c = {ok, sizeof ok}, content;
  uint8_t tag;
  assert_int_equal(pki__der_read(&c, &tag, &content, NULL), 0);
  assert_int_equal(tag, 0x04);
  assert_int_equal(content.len, 2);
  assert_int_equal(c.len, 0);
  const struct {
    const uint8_t *p;
    size_t n;
  } bad[] = {{long_form_small, sizeof long_form_small},
             {indefinite, sizeof indefinite},
             {too_long, sizeof too_long},
             {high_tag, sizeof high_tag},
             {leading_zero, sizeof leading_zero}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pki__der b = {bad[i].p, bad[i].n};
    assert_int_equal(pki__der_read(&b, NULL, NULL, NULL), GL_EPARSE);
  }
}

static void test_der_writer_long_lengths_and_integers(void **state) {
  (void)state;
  pki__dbuf b = {0};
  uint8_t body[300];
  memset(body, 0x5a, sizeof body);
  size_t pos = pki__dbuf_open(&b, PKI__T_SEQ);
  pki__dbuf_tlv(&b, PKI__T_OCTSTR, body, sizeof body);
  pki__dbuf_close(&b, pos);
  assert_int_equal(b.err, 0);
  /* 30 82 01 30 | 04 82 01 2c | 300 bytes */
  static const uint8_t head[] = {0x30, 0x82, 0x01, 0x30,
                                 0x04, 0x82, 0x01, 0x2c};
  assert_int_equal(b.len, 308);
  assert_memory_equal(b.data, head, sizeof head);
  pki__der c = {b.data, b.len}, seq, oct;
  assert_int_equal(pki__der_expect(&c, PKI__T_SEQ, &seq, NULL), 0);
  assert_int_equal(pki__der_expect(&seq, PKI__T_OCTSTR, &oct, NULL), 0);
  assert_int_equal(oct.len, 300);
  pki__dbuf_free(&b);

  /* INTEGERs are minimal and positive. */
  pki__dbuf i = {0};
  static const uint8_t big[] = {0x00, 0x00, 0x80, 0x01};
  pki__dbuf_uint_bytes(&i, PKI__T_INTEGER, big, sizeof big);
  pki__dbuf_uint(&i, PKI__T_INTEGER, 0);
  pki__dbuf_uint(&i, PKI__T_INTEGER, 127);
  static const uint8_t want[] = {0x02, 0x03, 0x00, 0x80, 0x01, 0x02,
                                 0x01, 0x00, 0x02, 0x01, 0x7f};
  assert_int_equal(i.len, sizeof want);
  assert_memory_equal(i.data, want, sizeof want);
  pki__dbuf_free(&i);
}

static void test_der_serials_in_hex(void **state) {
  (void)state;
  uint8_t s[PKI_SERIAL_MAX];
  size_t n;
  char hex[PKI_SERIAL_HEX_MAX];
  assert_int_equal(pki__serial_from_hex("0x00ABC", s, &n), 0);
  assert_int_equal(n, 2);
  pki__serial_hex(s, n, hex);
  assert_string_equal(hex, "0abc");
  assert_int_equal(pki__serial_from_hex("xyz", s, &n), GL_EINVAL);
  assert_int_equal(pki__serial_from_hex("", s, &n), GL_EINVAL);
  assert_int_equal(
      pki__serial_from_hex("0102030405060708091011121314151617181920aa", s, &n),
      GL_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_der_times_follow_rfc5280),
      cmocka_unit_test(test_der_time_encoding_switches_in_2050),
      cmocka_unit_test(test_der_reader_rejects_non_der_lengths),
      cmocka_unit_test(test_der_writer_long_lengths_and_integers),
      cmocka_unit_test(test_der_serials_in_hex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
