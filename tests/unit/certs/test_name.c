/* SPDX-License-Identifier: MIT */
/* Unit tests for the community naming rules (shared protocol map). */
#include "gridlet/error.h"
#include "gridlet/pki_name.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_name_meter_ids_follow_the_protocol_map(void **state) {
  (void)state;
  const char *good[] = {"meter-001", "a", "0", "house.7_b-2",
                        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno"
                        "pqrstuvwxyz"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_int_equal(pki_name_check_meter_id(good[i], NULL), 0);
  const char *bad[] = {"", "-meter", ".x", "_x", "Meter-1", "meter 1",
                       "meter/1", "meter+", "meter#1", "m\xc3\xa9", "meter\n",
                       /* 64 characters: one too many */
                       "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq"
                       "rstuvwxyz01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pki_why why = {{0}};
    assert_int_equal(pki_name_check_meter_id(bad[i], &why), GL_EINVAL);
    assert_true(why.text[0] != '\0');
  }
}

static void test_name_reserved_identities_are_never_meter_ids(void **state) {
  (void)state;
  const char *reserved[] = {"aggregator", "broker", "witness", "admin", "ca"};
  for (size_t i = 0; i < 5; i++) {
    pki_why why = {{0}};
    assert_true(pki_name_is_reserved(reserved[i]));
    assert_int_equal(pki_name_check_meter_id(reserved[i], &why), GL_EINVAL);
    assert_non_null(strstr(why.text, "reserved"));
  }
  assert_false(pki_name_is_reserved("aggregator2"));
  assert_int_equal(pki_name_check_meter_id("aggregator2", NULL), 0);
}

static void test_name_community_rules(void **state) {
  (void)state;
  assert_int_equal(pki_name_check_community("demo", NULL), 0);
  assert_int_equal(pki_name_check_community("oak-street-7", NULL), 0);
  assert_int_equal(
      pki_name_check_community("abcdefghijklmnopqrstuvwxyz012345", NULL), 0);
  pki_why why = {{0}};
  assert_int_equal(
      pki_name_check_community("abcdefghijklmnopqrstuvwxyz0123456", &why),
      GL_EINVAL);
  assert_non_null(strstr(why.text, "limit is 32"));
  assert_int_equal(pki_name_check_community("oak.street", &why), GL_EINVAL);
  assert_non_null(strstr(why.text, "'.'"));
  assert_int_equal(pki_name_check_community("-x", NULL), GL_EINVAL);
  assert_int_equal(pki_name_check_community("", NULL), GL_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_meter_ids_follow_the_protocol_map),
      cmocka_unit_test(test_name_reserved_identities_are_never_meter_ids),
      cmocka_unit_test(test_name_community_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
