/* SPDX-License-Identifier: MIT */
/*
 * test_show.c - the demo's numbers as a person reads them (demo_show.h)
 * and its neighbourhood (demo_mix.h): fixed decimals rounded half away
 * from zero, the no-trading baseline, the share met locally, and every
 * household's simulator argument accepted by the simulator's own parser.
 */
#include "gridlet/demo_mix.h"
#include "gridlet/demo_show.h"
#include "gridlet/sim_household.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_fmt_fixed_rounds_half_away_from_zero(void **state) {
  (void)state;
  char b[DEMO_NUM_MAX];
  assert_string_equal(demo_fmt_fixed(-1234567, 1000000, 2, false, b), "-1.23");
  assert_string_equal(demo_fmt_fixed(1235000, 1000000, 2, false, b), "1.24");
  assert_string_equal(demo_fmt_fixed(-1235000, 1000000, 2, false, b), "-1.24");
  assert_string_equal(demo_fmt_fixed(5, 1000, 2, true, b), "+0.01");
  assert_string_equal(demo_fmt_fixed(4, 1000, 2, true, b), "0.00");
  assert_string_equal(demo_fmt_fixed(0, 1000, 0, true, b), "0");
  assert_string_equal(demo_fmt_fixed(INT64_MIN, 1, 0, false, b),
                      "-9223372036854775808");
}

static void test_fmt_units(void **state) {
  (void)state;
  char b[DEMO_NUM_MAX];
  assert_string_equal(demo_fmt_kwh(3250, b), "3.25");
  assert_string_equal(demo_fmt_money(1200000, b), "+1.20");
  assert_string_equal(demo_fmt_money(-80000, b), "-0.08");
  assert_string_equal(demo_fmt_price(215000, b), "0.215");
}

static void test_baseline_buys_at_retail_and_sells_at_feed_in(void **state) {
  (void)state;
  /* Took 2 kWh (1 locally, 1 from the grid), gave 3 kWh (0.5 locally):
   * without trading 3 kWh at 0.08 in, 2 kWh at 0.30 out. */
  demo_balance b = {.local_bought_wh = 1000,
                    .grid_import_wh = 1000,
                    .local_sold_wh = 500,
                    .grid_export_wh = 2500};
  assert_int_equal(demo_baseline(&b, 300000, 80000), 240000 - 600000);
  assert_int_equal(demo_money_at(1, 500), 1); /* 0.5 rounds away */
  assert_int_equal(demo_money_at(-1, 500), -1);
  assert_int_equal(demo_money_at(1, 499), 0);
}

static void test_share_pct(void **state) {
  (void)state;
  assert_int_equal(demo_share_pct(0, 0), 0);
  assert_int_equal(demo_share_pct(1, 3), 33);
  assert_int_equal(demo_share_pct(2, 3), 67);
  assert_int_equal(demo_share_pct(5, 5), 100);
}

static void test_every_household_is_a_valid_simulator_household(void **state) {
  (void)state;
  for (unsigned i = 0; i < 60; i++) {
    demo_household h;
    demo_mix_household(i, &h);
    assert_non_null(h.label);
    assert_true(h.base_w > 0 && h.peak_w > 0);
    char spec[96];
    demo_mix_sim_spec(&h, i % 24, spec, sizeof spec);
    assert_true(spec[0] != '\0');
    sim_household_cfg parsed;
    memset(&parsed, 0, sizeof parsed);
    int index = -1;
    char err[128];
    assert_int_equal(
        sim_household_spec_parse(spec, 24, &index, &parsed, err, sizeof err),
        0);
    assert_int_equal(index, (int)(i % 24));
  }
  /* The same street every run. */
  demo_household a, b;
  demo_mix_household(17, &a);
  demo_mix_household(17, &b);
  assert_memory_equal(&a, &b, sizeof a);
  char small[4];
  demo_mix_household(0, &a);
  assert_string_equal(demo_mix_sim_spec(&a, 0, small, sizeof small), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fmt_fixed_rounds_half_away_from_zero),
      cmocka_unit_test(test_fmt_units),
      cmocka_unit_test(test_baseline_buys_at_retail_and_sells_at_feed_in),
      cmocka_unit_test(test_share_pct),
      cmocka_unit_test(test_every_household_is_a_valid_simulator_household),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
