/* SPDX-License-Identifier: MIT */
/* The HTTP access token: where a request carries it, the token file, and
 * the check (gridlet/agg_auth.h). */
#include "gridlet/agg_auth.h"
#include "gridlet/error.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define TOKEN "3f5e0c1a9b7d4e2f-operator.token_~"

static void test_token_alphabet_and_length(void **state) {
  (void)state;
  assert_true(agg_auth_token_valid(TOKEN, strlen(TOKEN)));
  assert_false(agg_auth_token_valid("short-token", 11));
  assert_false(agg_auth_token_valid("0123456789abcdef ", 17)); /* space */
  assert_false(agg_auth_token_valid("0123456789abcdef;", 17)); /* cookie */
  assert_false(agg_auth_token_valid("0123456789abcde\"", 16));
  char big[AGG_TOKEN_MAX + 2];
  memset(big, 'a', sizeof big);
  assert_true(agg_auth_token_valid(big, AGG_TOKEN_MAX));
  assert_false(agg_auth_token_valid(big, AGG_TOKEN_MAX + 1));
}

static void test_bearer_and_cookie_are_found(void **state) {
  (void)state;
  const char *t;
  size_t n;
  assert_true(agg_auth_bearer("Bearer " TOKEN, &t, &n));
  assert_int_equal(n, strlen(TOKEN));
  assert_memory_equal(t, TOKEN, n);
  assert_true(agg_auth_bearer("  bearer\t" TOKEN "  ", &t, &n));
  assert_int_equal(n, strlen(TOKEN));
  assert_false(agg_auth_bearer("Basic Zm9vOmJhcg==", &t, &n));
  assert_false(agg_auth_bearer("Bearer", &t, &n));
  assert_false(agg_auth_bearer("Bearer ", &t, &n));
  assert_false(agg_auth_bearer("BearerX " TOKEN, &t, &n));
  assert_false(agg_auth_bearer("Bearer a b", &t, &n));
  assert_false(agg_auth_bearer(NULL, &t, &n));

  assert_true(agg_auth_cookie("a=1; gridlet_token=" TOKEN "; b=2", &t, &n));
  assert_int_equal(n, strlen(TOKEN));
  assert_memory_equal(t, TOKEN, n);
  assert_true(agg_auth_cookie("gridlet_token=\"" TOKEN "\"", &t, &n));
  assert_int_equal(n, strlen(TOKEN));
  assert_false(agg_auth_cookie("xgridlet_token=" TOKEN, &t, &n));
  assert_false(agg_auth_cookie("gridlet_tokens=" TOKEN, &t, &n));
  assert_false(agg_auth_cookie("a=1; b=2", &t, &n));
  assert_false(agg_auth_cookie(NULL, &t, &n));
}

static void test_check_accepts_only_the_token(void **state) {
  (void)state;
  agg_auth a = {0};
  /* Not enabled: everything passes. */
  assert_true(agg_auth_check(&a, NULL, NULL, NULL));
  char err[160];
  assert_int_equal(
      agg_auth_set(&a, TOKEN "\r\n", strlen(TOKEN) + 2, err, sizeof err), 0);
  assert_true(a.enabled);
  assert_false(agg_auth_check(&a, NULL, NULL, NULL));
  assert_true(agg_auth_check(&a, "Bearer " TOKEN, NULL, NULL));
  assert_true(agg_auth_check(&a, NULL, "gridlet_token=" TOKEN, NULL));
  assert_true(agg_auth_check(&a, NULL, NULL, TOKEN));
  /* One character off, a prefix, a longer one: refused. */
  char wrong[] = TOKEN;
  wrong[5] ^= 1;
  assert_false(agg_auth_check(&a, NULL, NULL, wrong));
  assert_false(agg_auth_check(&a, NULL, NULL, "3f5e0c1a9b7d4e2f"));
  assert_false(agg_auth_check(&a, NULL, NULL, TOKEN "x"));
  assert_false(agg_auth_check(&a, "Basic " TOKEN, NULL, NULL));
  /* A wrong credential next to the right one does not hide it. */
  assert_true(agg_auth_check(&a, "Bearer nope-nope-nope-nope",
                             "gridlet_token=" TOKEN, NULL));
  /* Bad token texts are refused with a reason that never quotes them. */
  assert_int_equal(agg_auth_set(&a, "too-short", 9, err, sizeof err),
                   GL_EINVAL);
  assert_non_null(strstr(err, "16 to 128"));
  assert_int_equal(
      agg_auth_set(&a, "0123456789abcdef\n2nd-line", 25, err, sizeof err),
      GL_EINVAL);
  assert_null(strstr(err, "0123456789abcdef"));
}

static void test_token_file_must_not_be_world_readable(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], path[GT_PATH_MAX], err[256];
  gt_tmpdir("aggauth", dir);
  gt_path(path, dir, "http.token");
  gt_write_file(path, TOKEN "\n", (size_t)-1);
  agg_auth a = {0};
  chmod(path, 0644);
  assert_int_equal(agg_auth_load_file(&a, path, err, sizeof err), GL_EPERM);
  assert_non_null(strstr(err, "chmod"));
  assert_false(a.enabled);
  chmod(path, 0640);
  assert_int_equal(agg_auth_load_file(&a, path, err, sizeof err), 0);
  assert_true(agg_auth_check(&a, "Bearer " TOKEN, NULL, NULL));
  gt_path(path, dir, "missing");
  assert_int_equal(agg_auth_load_file(&a, path, err, sizeof err), GL_ENOENT);
  gt_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_alphabet_and_length),
      cmocka_unit_test(test_bearer_and_cookie_are_found),
      cmocka_unit_test(test_check_accepts_only_the_token),
      cmocka_unit_test(test_token_file_must_not_be_world_readable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
