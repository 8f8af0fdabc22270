/* SPDX-License-Identifier: MIT */
/* Unit tests for the error table. */
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_error_codes_are_negative_and_distinct(void **state) {
  (void)state;
  int codes[] = {
#define CODE_(name, num, msg) GL_##name,
      GL_ERRNO_MAP(CODE_)
#undef CODE_
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_true(codes[i] < 0);
    for (size_t j = i + 1; j < n; j++)
      assert_int_not_equal(codes[i], codes[j]);
  }
}

static void test_strerror_gives_table_message(void **state) {
  (void)state;
  assert_string_equal(gl_strerror(0), "success");
  assert_string_equal(gl_strerror(GL_EPARSE), "malformed input");
  assert_string_equal(gl_strerror(GL_ENOMEM), "out of memory");
  assert_string_equal(gl_strerror(-9999), "unknown error");
  assert_string_equal(gl_strerror(5), "unknown error");
}

static void test_err_name_matches_symbol(void **state) {
  (void)state;
  assert_string_equal(gl_err_name(GL_OK), "GL_OK");
  assert_string_equal(gl_err_name(GL_EVERIFY), "GL_EVERIFY");
  assert_string_equal(gl_err_name(GL_EINTERNAL), "GL_EINTERNAL");
  assert_string_equal(gl_err_name(-12345), "GL_UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_codes_are_negative_and_distinct),
      cmocka_unit_test(test_strerror_gives_table_message),
      cmocka_unit_test(test_err_name_matches_symbol),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
