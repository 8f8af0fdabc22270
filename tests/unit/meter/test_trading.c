/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for trading preferences: standing limits, order timing, the
 * persistence forecast and the battery reserve; every order the module
 * makes is sealed to prove the protocol accepts it.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_trading.h"
#include "gridlet/pr_seal.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define MIN (60 * SEC)
#define T0 (INT64_C(1782036000) * SEC)

static mtr_config cfg_with(const char *extra) {
  char text[1024];
  snprintf(text, sizeof text,
           "[meter]\ncommunity = c\n[grid_meter]\nendpoint = tcp:h\n"
           "[mqtt]\nuri = mqtts://b:8883\n[trading]\n%s",
           extra);
  mtr_config c;
  gl_conf_errors e = {0};
  assert_int_equal(mtr_config_load_buffer(&c, "t.conf", text, strlen(text), &e),
                   0);
  return c;
}

static void seal_ok(pr_type type, const pr_msg *m) {
  (void)type;
  gl_ed25519_key key;
  uint8_t seed[32] = {1};
  assert_int_equal(gl_ed25519_from_seed(seed, &key), 0);
  uint8_t buf[PR_SEAL_MAX];
  size_t len;
  pr_diag d = {0};
  int rc = pr_seal(m, &key, buf, sizeof buf, &len, &d);
  if (rc)
    fail_msg("seal: %s", d.msg);
}

static void test_trading_prefs_carry_the_limits(void **st) {
  (void)st;
  mtr_config c = cfg_with("buy_below = 0.28\n");
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_PREFS, "m1", 1, T0), 0);
  mtr_trading_prefs(&c, T0 + 15 * MIN, &m.prefs);
  assert_true(m.prefs.has_buy_below);
  assert_int_equal(m.prefs.buy_below, 280000);
  assert_false(m.prefs.has_sell_above);
  seal_ok(PR_MSG_PREFS, &m);
  mtr_config d = cfg_with("buy_below = 0.29\n");
  assert_int_not_equal(mtr_trading_prefs_fingerprint(&c),
                       mtr_trading_prefs_fingerprint(&d));
  mtr_config e = cfg_with("buy_below = 0.28\n");
  assert_int_equal(mtr_trading_prefs_fingerprint(&c),
                   mtr_trading_prefs_fingerprint(&e));
}

static void test_trading_order_timing(void **st) {
  (void)st;
  mtr_config c = cfg_with("gate_closure = 5m\norder_margin = 1m\n");
  assert_int_equal(mtr_trading_order_time(&c, T0), T0 - 6 * MIN);
  assert_int_equal(mtr_trading_gate(&c, T0), T0 - 5 * MIN);
  /* At T0 - 6m the T0 order is due now; a second later it is too late. */
  assert_int_equal(mtr_trading_first_open(&c, T0 - 6 * MIN), T0);
  assert_int_equal(mtr_trading_first_open(&c, T0 - 6 * MIN + SEC),
                   T0 + 15 * MIN);
  assert_int_equal(mtr_trading_first_open(&c, T0 - 20 * MIN), T0);
}

static void test_trading_persistence_forecast_with_battery_reserve(void **st) {
  (void)st;
  mtr_config c = cfg_with("mode = exante\nbuy_below = 0.30\nsell_above = 0.08\n"
                          "battery_capacity = 10000\nbattery_reserve = 20\n"
                          "battery_power = 100000\n");
  pr_reading yday = {.start = T0 - 86400 * SEC,
                     .end = T0 - 86400 * SEC + 15 * MIN,
                     .import_wh = 800,
                     .export_wh = 300};
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_ORDER, "m1", 2, T0 - 6 * MIN), 0);
  /* Battery at 25 %: 5 % of 10 kWh = 500 Wh above the reserve. */
  assert_int_equal(mtr_trading_order(&c, T0, T0 - 6 * MIN, &yday, true, 2500,
                                     NULL, &m.order),
                   0);
  assert_int_equal(m.order.start, T0);
  assert_int_equal(m.order.nsteps, 2);
  assert_int_equal(m.order.steps[0].side, PR_SIDE_BUY);
  assert_int_equal(m.order.steps[0].wh, 300);
  assert_int_equal(m.order.steps[0].price, 300000);
  assert_int_equal(m.order.steps[1].side, PR_SIDE_SELL);
  assert_int_equal(m.order.steps[1].wh, 300);
  assert_int_equal(m.order.steps[1].price, 80000);
  seal_ok(PR_MSG_ORDER, &m);
  /* At the reserve the battery is not counted on. */
  assert_int_equal(mtr_trading_order(&c, T0, T0 - 6 * MIN, &yday, true, 2000,
                                     NULL, &m.order),
                   0);
  assert_int_equal(m.order.steps[0].wh, 800);
  /* A full battery covers the whole import: only the sell step. */
  assert_int_equal(mtr_trading_order(&c, T0, T0 - 6 * MIN, &yday, true, 10000,
                                     NULL, &m.order),
                   0);
  assert_int_equal(m.order.nsteps, 1);
  assert_int_equal(m.order.steps[0].side, PR_SIDE_SELL);
  /* No forecast from a missing or estimated day, or none at all. */
  yday.flags = PR_FLAG_MISSING;
  assert_int_equal(
      mtr_trading_order(&c, T0, T0 - 6 * MIN, &yday, false, 0, NULL, &m.order),
      GL_ENOENT);
  yday.flags = PR_FLAG_ESTIMATED;
  assert_int_equal(
      mtr_trading_order(&c, T0, T0 - 6 * MIN, &yday, false, 0, NULL, &m.order),
      GL_ENOENT);
  assert_int_equal(
      mtr_trading_order(&c, T0, T0 - 6 * MIN, NULL, false, 0, NULL, &m.order),
      GL_ENOENT);
}

static void test_trading_battery_counted_once_and_within_its_power(void **st) {
  (void)st;
  /* 10 kWh, 20 % reserve, at most 2 kW: 500 Wh in a 15-minute interval. */
  mtr_config c = cfg_with("mode = exante\nbuy_below = 0.30\nsell_above = 0.08\n"
                          "battery_capacity = 10000\nbattery_reserve = 20\n"
                          "battery_power = 2000\n");
  pr_reading hist = {.start = T0 - 86400 * SEC,
                     .end = T0 - 86400 * SEC + 15 * MIN,
                     .import_wh = 800};
  mtr_battery_plan plan = {0};
  pr_order o;
  /* At 32 %: 1200 Wh above the reserve, but 500 Wh an interval at most. */
  assert_int_equal(
      mtr_trading_order(&c, T0, T0 - 6 * MIN, &hist, true, 3200, &plan, &o), 0);
  assert_int_equal(o.steps[0].wh, 300);
  assert_int_equal(plan.n, 1);
  assert_int_equal(plan.wh[0], 500);
  /* The next interval, ordered before the first is over (the state of
   * charge has hardly moved): only what is left above the reserve. */
  hist.start += 15 * MIN;
  hist.end += 15 * MIN;
  assert_int_equal(mtr_trading_order(&c, T0 + 15 * MIN, T0 + 9 * MIN, &hist,
                                     true, 3150, &plan, &o),
                   0);
  assert_int_equal(o.steps[0].wh, 300); /* 1150 - 500 = 650, capped: 500 */
  hist.start += 15 * MIN;
  hist.end += 15 * MIN;
  assert_int_equal(mtr_trading_order(&c, T0 + 30 * MIN, T0 + 14 * MIN, &hist,
                                     true, 3100, &plan, &o),
                   0);
  /* 1100 above the reserve, 1000 planned for the two intervals not yet
   * over: 100 Wh left. */
  assert_int_equal(o.steps[0].wh, 700);
  assert_int_equal(plan.n, 3);
  /* Once an interval is over it leaves the plan (its energy is out of
   * the state of charge by then). */
  hist.start += 15 * MIN;
  hist.end += 15 * MIN;
  assert_int_equal(mtr_trading_order(&c, T0 + 45 * MIN, T0 + 39 * MIN, &hist,
                                     true, 2600, &plan, &o),
                   0);
  assert_int_equal(plan.n, 2);          /* T0 + 30m and this one */
  assert_int_equal(o.steps[0].wh, 300); /* 600 above, 100 planned: 500 */
}

static void test_trading_soc_of_a_silent_battery_is_not_used(void **st) {
  (void)st;
  mtr_config c = cfg_with("");
  c.poll_ns = 5 * SEC;
  assert_true(mtr_trading_soc_usable(&c, 0));
  assert_true(mtr_trading_soc_usable(&c, 59 * SEC));
  assert_false(mtr_trading_soc_usable(&c, 61 * SEC));
  mtr_config slow = c;
  slow.poll_ns = MIN;
  assert_true(mtr_trading_soc_usable(&slow, 3 * MIN));
  assert_false(mtr_trading_soc_usable(&slow, 3 * MIN + SEC));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trading_prefs_carry_the_limits),
      cmocka_unit_test(test_trading_order_timing),
      cmocka_unit_test(test_trading_persistence_forecast_with_battery_reserve),
      cmocka_unit_test(test_trading_battery_counted_once_and_within_its_power),
      cmocka_unit_test(test_trading_soc_of_a_silent_battery_is_not_used),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
