/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the per-household balances (balances.c): sums, the
 * sorted view, and all-or-nothing additions when a sum would overflow or
 * memory runs out half way through a settlement. Allocation failures are
 * injected by wrapping calloc and realloc at link time (-Wl,--wrap), which
 * covers the calls inside the static ledger library.
 */
#include "gridlet/error.h"
#include "gridlet/ledger_balances.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- Allocation failure injection --------------------------------------- */

/* When set, every calloc/realloc fails (returns NULL). */
static bool fail_alloc;

void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

void *__wrap_calloc(size_t n, size_t size) {
  return fail_alloc ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
  return fail_alloc ? NULL : __real_realloc(p, size);
}

/* ---- Helpers ------------------------------------------------------------ */

static lg_settlement_row row(const char *id, int64_t money, int64_t wh) {
  lg_settlement_row r;
  memset(&r, 0, sizeof r);
  snprintf(r.meter_id, sizeof r.meter_id, "%s", id);
  r.money = money;
  r.local_bought_wh = wh;
  r.fee = 1;
  return r;
}

static void add_one(lg_balances *b, const char *id, int64_t money) {
  lg_settlement_row r = row(id, money, 10);
  lg_settlement s = {.n_rows = 1, .rows = &r};
  assert_int_equal(lg_balances_add(b, &s), 0);
}

/* ---- Tests -------------------------------------------------------------- */

static void test_balances_sum_per_household_in_id_order(void **state) {
  (void)state;
  lg_balances *b = lg_balances_new();
  add_one(b, "meter-2", 5);
  add_one(b, "meter-1", -3);
  add_one(b, "meter-2", 7);
  assert_int_equal(lg_balances_count(b), 2);
  const lg_balance *x = lg_balances_at(b, 0);
  assert_non_null(x);
  assert_string_equal(x->meter_id, "meter-1");
  assert_int_equal(x->money, -3);
  x = lg_balances_at(b, 1);
  assert_string_equal(x->meter_id, "meter-2");
  assert_int_equal(x->money, 12);
  assert_int_equal(x->intervals, 2);
  assert_null(lg_balances_at(b, 2));
  lg_balance_totals t;
  lg_balances_totals(b, &t);
  assert_int_equal(t.settlements, 3);
  assert_int_equal(t.local_wh, 30);
  lg_balances_free(b);
}

/* Out of memory while a settlement brings new households: nothing of it
 * is added (before, the rows before the failing one were). */
static void test_balances_out_of_memory_adds_nothing(void **state) {
  (void)state;
  lg_balances *b = lg_balances_new();
  /* 31 households: the array (32) has room for one more, the next one
   * needs it to grow. */
  char id[32];
  for (int i = 0; i < 31; i++) {
    snprintf(id, sizeof id, "meter-%03d", i);
    add_one(b, id, 1);
  }
  lg_balance_totals before;
  lg_balances_totals(b, &before);
  lg_settlement_row rows[3] = {row("meter-000", 100, 1),
                               row("meter-100", 100, 1),
                               row("meter-101", 100, 1)};
  lg_settlement s = {.n_rows = 3, .rows = rows, .utility_money = 9};
  fail_alloc = true;
  int rc = lg_balances_add(b, &s);
  fail_alloc = false;
  assert_int_equal(rc, GL_ENOMEM);
  assert_int_equal(lg_balances_count(b), 31);
  assert_null(lg_balances_find(b, "meter-100"));
  const lg_balance *x = lg_balances_find(b, "meter-000");
  assert_non_null(x);
  assert_int_equal(x->money, 1);
  assert_int_equal(x->intervals, 1);
  lg_balance_totals after;
  lg_balances_totals(b, &after);
  assert_memory_equal(&after, &before, sizeof before);
  /* With memory, the same settlement goes in whole. */
  assert_int_equal(lg_balances_add(b, &s), 0);
  assert_int_equal(lg_balances_count(b), 33);
  assert_int_equal(lg_balances_find(b, "meter-000")->money, 101);
  assert_int_equal(lg_balances_find(b, "meter-101")->money, 100);
  lg_balances_free(b);
}

/* A sum that would overflow adds nothing either. */
static void test_balances_overflow_adds_nothing(void **state) {
  (void)state;
  lg_balances *b = lg_balances_new();
  add_one(b, "meter-1", INT64_MAX - 1);
  lg_settlement_row rows[2] = {row("meter-0", 5, 1), row("meter-1", 5, 1)};
  lg_settlement s = {.n_rows = 2, .rows = rows};
  assert_int_equal(lg_balances_add(b, &s), GL_ERANGE);
  assert_int_equal(lg_balances_count(b), 1);
  assert_null(lg_balances_find(b, "meter-0"));
  assert_true(lg_balances_find(b, "meter-1")->money == INT64_MAX - 1);
  lg_balances_free(b);
}

/* The sorted view cannot be built without memory: NULL, not a crash. */
static void test_balances_at_reports_out_of_memory(void **state) {
  (void)state;
  lg_balances *b = lg_balances_new();
  add_one(b, "meter-1", 1);
  fail_alloc = true;
  const lg_balance *x = lg_balances_at(b, 0);
  fail_alloc = false;
  assert_null(x);
  assert_non_null(lg_balances_at(b, 0));
  lg_balances_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_balances_sum_per_household_in_id_order),
      cmocka_unit_test(test_balances_out_of_memory_adds_nothing),
      cmocka_unit_test(test_balances_overflow_adds_nothing),
      cmocka_unit_test(test_balances_at_reports_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
