/* SPDX-License-Identifier: MIT */
/* Unit tests for community names and identities (the shared map's rules). */
#include "gridlet/proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static bool meter_ok(const char *s) {
  return pr_meter_id_valid(s, strlen(s));
}

static void test_ident_meter_ids_follow_the_pattern(void **state) {
  (void)state;
  assert_true(meter_ok("m"));
  assert_true(meter_ok("0"));
  assert_true(meter_ok("meter-17"));
  assert_true(meter_ok("house.12_b-3"));
  char id[65];
  memset(id, 'a', 64);
  id[63] = '\0';
  assert_true(meter_ok(id)); /* 63 characters */
  id[63] = 'a';
  id[64] = '\0';
  assert_false(meter_ok(id)); /* 64 */
  assert_false(meter_ok(""));
  assert_false(meter_ok("-m"));
  assert_false(meter_ok(".m"));
  assert_false(meter_ok("_m"));
  assert_false(meter_ok("Meter"));
  assert_false(meter_ok("m/1"));
  assert_false(meter_ok("m+"));
  assert_false(meter_ok("m#"));
  assert_false(meter_ok("m 1"));
  assert_false(meter_ok("m\xc3\xa9"));
  assert_false(pr_meter_id_valid("m\0x", 3)); /* embedded NUL */
  assert_true(pr_meter_id_valid("m1xyz", 2)); /* length, not NUL, counts */
}

static void test_ident_reserved_names_are_never_meter_ids(void **state) {
  (void)state;
  static const char *const reserved[] = {"aggregator", "broker", "witness",
                                         "admin", "ca"};
  for (size_t i = 0; i < 5; i++) {
    assert_true(pr_id_reserved(reserved[i], strlen(reserved[i])));
    assert_false(meter_ok(reserved[i]));
  }
  assert_true(meter_ok("cab"));
  assert_true(meter_ok("admins"));
  assert_false(pr_id_reserved("c", 1));
  assert_true(pr_sender_valid("aggregator", 10));
  assert_true(pr_sender_valid("meter-17", 8));
  assert_false(pr_sender_valid("broker", 6));
  assert_false(pr_sender_valid("witness", 7));
}

static void test_ident_community_names_follow_the_pattern(void **state) {
  (void)state;
  assert_true(pr_community_valid("c1"));
  assert_true(pr_community_valid("quartier-nord"));
  assert_true(pr_community_valid("0123456789abcdef0123456789abcdef")); /* 32 */
  assert_false(pr_community_valid("0123456789abcdef0123456789abcdef0"));
  assert_false(pr_community_valid(""));
  assert_false(pr_community_valid(NULL));
  assert_false(pr_community_valid("-c"));
  assert_false(pr_community_valid("c.1")); /* dots only in meter ids */
  assert_false(pr_community_valid("c_1"));
  assert_false(pr_community_valid("C1"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ident_meter_ids_follow_the_pattern),
      cmocka_unit_test(test_ident_reserved_names_are_never_meter_ids),
      cmocka_unit_test(test_ident_community_names_follow_the_pattern),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
