/* SPDX-License-Identifier: MIT */
/* Unit tests for the simulated household: exact energy balance, day/night,
 * battery limits and reserve, independence from how time is stepped. */
#include "gridlet/clock.h"
#include "gridlet/sim_household.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* 2026-06-21 00:00 UTC */
#define MIDNIGHT INT64_C(1782000000000000000)
#define H (INT64_C(3600) * GL_NS_PER_SEC)

static void balance(const sim_household_state *s) {
  assert_true(s->import_wms - s->export_wms ==
              s->load_wms - s->pv_wms + s->charge_wms - s->discharge_wms);
}

static void test_household_energy_balance_is_exact(void **state) {
  (void)state;
  sim_household_cfg cfg = {.seed = 3};
  sim_household *h = sim_household_new(&cfg, MIDNIGHT);
  sim_household_state s;
  for (int i = 0; i < 7 * 24 * 4; i++) {
    sim_household_advance(h, MIDNIGHT + (int64_t)(i + 1) * H / 4);
    sim_household_state_get(h, &s);
    balance(&s);
    assert_true(s.stored_wms >= 0 && s.stored_wms <= s.capacity_wms);
  }
  assert_true(s.pv_wms > 0);
  assert_true(s.import_wms > 0);
  assert_true(s.export_wms > 0);
  assert_true(s.charge_wms > 0 && s.discharge_wms > 0);
  /* Losses: stored energy grew less than charged minus discharged. */
  sim_household_free(h);
}

static void test_household_no_pv_at_night_some_at_noon(void **state) {
  (void)state;
  sim_household_cfg cfg = {.seed = 5, .pv_peak_w = 4000};
  sim_household *h = sim_household_new(&cfg, MIDNIGHT);
  assert_int_equal(sim_household_pv_w(h, MIDNIGHT + 1 * H), 0);
  assert_int_equal(sim_household_pv_w(h, MIDNIGHT + 23 * H), 0);
  int32_t noon = sim_household_pv_w(h, MIDNIGHT + 12 * H);
  assert_true(noon > 1000 && noon <= 4000);
  /* Shorter days in winter. */
  int64_t dec = MIDNIGHT + INT64_C(183) * 24 * H;
  assert_int_equal(sim_household_pv_w(h, dec + 6 * H), 0);
  assert_true(sim_household_load_w(h, MIDNIGHT + 19 * H) >
              sim_household_load_w(h, MIDNIGHT + 3 * H) - 2000);
  sim_household_free(h);
}

static void test_household_steps_do_not_change_the_energies(void **state) {
  (void)state;
  sim_household_cfg cfg = {.seed = 11, .no_battery = true};
  sim_household *a = sim_household_new(&cfg, MIDNIGHT);
  sim_household *b = sim_household_new(&cfg, MIDNIGHT);
  sim_household_advance(a, MIDNIGHT + 24 * H);
  for (int64_t t = MIDNIGHT; t < MIDNIGHT + 24 * H; t += 777 * GL_NS_PER_MS)
    sim_household_advance(b, t);
  sim_household_advance(b, MIDNIGHT + 24 * H);
  sim_household_state sa, sb;
  sim_household_state_get(a, &sa);
  sim_household_state_get(b, &sb);
  assert_true(sa.pv_wms == sb.pv_wms);
  assert_true(sa.load_wms == sb.load_wms);
  assert_true(sa.import_wms == sb.import_wms);
  assert_true(sa.export_wms == sb.export_wms);
  /* Time going backwards is ignored. */
  sim_household_advance(a, MIDNIGHT);
  sim_household_state_get(a, &sb);
  assert_true(sb.time_ns == sa.time_ns);
  sim_household_free(a);
  sim_household_free(b);
}

static void test_household_battery_limits_and_reserve(void **state) {
  (void)state;
  sim_household_cfg cfg = {.seed = 2,
                           .battery_wh = 5000,
                           .battery_max_w = 2000,
                           .reserve_pct = 20,
                           .soc_start_pct = 25};
  sim_household *h = sim_household_new(&cfg, MIDNIGHT);
  sim_household_state s;
  /* A night of load (sunrise is at 4:00 in June here): discharges down to
   * the reserve, never below. */
  sim_household_advance(h, MIDNIGHT + 7 * H / 2);
  sim_household_state_get(h, &s);
  assert_true(s.stored_wms >= s.capacity_wms * 20 / 100);
  assert_true(s.stored_wms <= s.capacity_wms * 21 / 100);
  /* Limited by battery control. */
  sim_household_set_limits(h, 300, 0);
  for (int i = 0; i < 12 * 60; i++) {
    sim_household_advance(h, MIDNIGHT + 7 * H / 2 +
                                 (int64_t)(i + 1) * 60 * GL_NS_PER_SEC);
    sim_household_state_get(h, &s);
    assert_true(s.battery_w <= 300);
    assert_true(s.battery_w >= 0); /* discharge limited to 0 */
  }
  sim_household_free(h);
}

static void test_household_without_pv_never_produces(void **state) {
  (void)state;
  sim_household_cfg cfg = {.seed = 7, .no_pv = true, .pv_peak_w = 9000};
  sim_household *h = sim_household_new(&cfg, MIDNIGHT);
  assert_int_equal(sim_household_pv_w(h, MIDNIGHT + 12 * H), 0);
  sim_household_advance(h, MIDNIGHT + 24 * H);
  sim_household_state s;
  sim_household_state_get(h, &s);
  assert_int_equal(s.pv_wms, 0);
  assert_true(s.import_wms > 0);
  balance(&s);
  sim_household_free(h);
}

static void test_household_spec_overrides_the_template(void **state) {
  (void)state;
  sim_household_cfg c = {.pv_peak_w = 5000, .load_base_w = 250};
  int idx = -1;
  char err[160] = "";
  assert_int_equal(sim_household_spec_parse("3:pv=8000,battery=13500,"
                                            "battery_w=5000,base=400,peak=3500",
                                            10, &idx, &c, err, sizeof err),
                   0);
  assert_int_equal(idx, 3);
  assert_int_equal(c.pv_peak_w, 8000);
  assert_false(c.no_pv);
  assert_int_equal(c.battery_wh, 13500);
  assert_false(c.no_battery);
  assert_int_equal(c.battery_max_w, 5000);
  assert_int_equal(c.load_base_w, 400);
  assert_int_equal(c.load_peak_w, 3500);
  /* Zero means "none", and keys not given keep the template. */
  sim_household_cfg t = {.pv_peak_w = 5000, .load_peak_w = 1800};
  assert_int_equal(
      sim_household_spec_parse("0:pv=0,battery=0", 1, &idx, &t, err, 160), 0);
  assert_int_equal(idx, 0);
  assert_true(t.no_pv && t.no_battery);
  assert_int_equal(t.load_peak_w, 1800);
}

static void test_household_spec_refuses_bad_text_with_a_reason(void **state) {
  (void)state;
  static const char *const bad[] = {"",
                                    "3",
                                    "3:",
                                    "x:pv=1",
                                    "10:pv=1",
                                    "-1:pv=1",
                                    "3:pv",
                                    "3:pv=",
                                    "3:pv=-5",
                                    "3:pv=1e3",
                                    "3:pv=1,",
                                    "3:colour=5",
                                    "3:base=0",
                                    "3:pv=1000001",
                                    "3:pv= 5",
                                    ":pv=1",
                                    "3:pv=1,,base=2",
                                    "99999999999999999999:pv=1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sim_household_cfg c = {.pv_peak_w = 4321};
    int idx = -7;
    char err[160] = "";
    if (sim_household_spec_parse(bad[i], 10, &idx, &c, err, sizeof err) == 0)
      fail_msg("\"%s\" was accepted", bad[i]);
    assert_true(err[0] != '\0');
    /* Nothing changes on failure. */
    assert_int_equal(c.pv_peak_w, 4321);
    assert_int_equal(idx, -7);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_household_without_pv_never_produces),
      cmocka_unit_test(test_household_spec_overrides_the_template),
      cmocka_unit_test(test_household_spec_refuses_bad_text_with_a_reason),
      cmocka_unit_test(test_household_energy_balance_is_exact),
      cmocka_unit_test(test_household_no_pv_at_night_some_at_noon),
      cmocka_unit_test(test_household_steps_do_not_change_the_energies),
      cmocka_unit_test(test_household_battery_limits_and_reserve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
