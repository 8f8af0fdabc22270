/* SPDX-License-Identifier: MIT */
/* Unit tests for a household's battery and strategies, every figure
 * computed by hand: a 10 kWh battery with 4 kW limits, 81 % round trip
 * (90 % each way), 10 % reserve, half full, 15-minute intervals. */
#include "gridlet/sim_home.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define MIN15 (INT64_C(900) * 1000000000)

static sim_home home(void) {
  sim_home h;
  memset(&h, 0, sizeof h);
  h.battery_wh = 10000;
  h.charge_w = 4000;
  h.discharge_w = 4000;
  h.efficiency_ppm = 810000;
  h.reserve_ppm = 100000;
  h.initial_ppm = 500000;
  h.charge_below = 150000;
  h.discharge_above = 200000;
  return h;
}

static void test_home_battery_initial_state_and_limits(void **state) {
  (void)state;
  sim_home h = home();
  sim_battery b;
  sim_battery_init(&b, &h, MIN15);
  assert_int_equal(b.capacity_mwh, 10000000);
  assert_int_equal(b.reserve_mwh, 1000000);
  assert_int_equal(b.stored_mwh, 5000000);
  assert_int_equal(b.eff_ppm, 900000);  /* sqrt(0.81) */
  assert_int_equal(b.charge_max, 1000); /* 4 kW for 15 minutes */
  assert_int_equal(b.discharge_max, 1000);
  /* An initial state below the reserve starts at the reserve. */
  h.initial_ppm = 0;
  sim_battery_init(&b, &h, MIN15);
  assert_int_equal(b.stored_mwh, 1000000);
  /* No battery: no action, ever. */
  h.battery_wh = 0;
  sim_battery_init(&b, &h, MIN15);
  assert_int_equal(sim_home_plan(&h, &b, 100, 5000, 0), 0);
  assert_int_equal(sim_battery_charge_room(&b), 0);
}

static void test_home_charge_and_discharge_by_hand(void **state) {
  (void)state;
  sim_home h = home();
  sim_battery b;
  sim_battery_init(&b, &h, MIN15);
  sim_flows f;
  /* 1500 Wh surplus: charges the power limit, 1000 Wh, storing 900. */
  int64_t a = sim_home_plan(&h, &b, 100, 1600, 0);
  assert_int_equal(a, 1000);
  sim_home_apply(&b, 100, 1600, a, &f);
  assert_int_equal(f.charge, 1000);
  assert_int_equal(f.net, -500);
  assert_int_equal(f.stored_delta_mwh, 900000);
  assert_int_equal(b.stored_mwh, 5900000);
  /* 2000 Wh deficit: delivers 1000 Wh, drawing ceil(1000 / 0.9) Wh. */
  a = sim_home_plan(&h, &b, 2000, 0, 0);
  assert_int_equal(a, -1000);
  sim_home_apply(&b, 2000, 0, a, &f);
  assert_int_equal(f.discharge, 1000);
  assert_int_equal(f.net, 1000);
  assert_int_equal(f.stored_delta_mwh, -1111112);
  assert_int_equal(b.stored_mwh, 4788888);
  /* Nearly full: 50 Wh of room take 55 Wh (storing 49.5). */
  b.stored_mwh = 9950000;
  assert_int_equal(sim_battery_charge_room(&b), 55);
  sim_home_apply(&b, 0, 3000, sim_home_plan(&h, &b, 0, 3000, 0), &f);
  assert_int_equal(f.charge, 55);
  assert_int_equal(f.net, -2945);
  assert_int_equal(b.stored_mwh, 9999500);
  /* Just above the reserve: 50 Wh stored give 45 Wh, down to the reserve
   * exactly. */
  b.stored_mwh = 1050000;
  assert_int_equal(sim_battery_discharge_room(&b), 45);
  sim_home_apply(&b, 500, 0, sim_home_plan(&h, &b, 500, 0, 0), &f);
  assert_int_equal(f.discharge, 45);
  assert_int_equal(f.net, 455);
  assert_int_equal(b.stored_mwh, 1000000);
  assert_int_equal(sim_battery_discharge_room(&b), 0);
  /* Actions beyond the limits are clamped; the balance always holds. */
  sim_home_apply(&b, 100, 200, 99999, &f);
  assert_int_equal(f.charge, 1000);
  assert_int_equal(f.net, f.load - f.pv + f.charge - f.discharge);
}

static void test_home_price_aware_strategy(void **state) {
  (void)state;
  sim_home h = home();
  h.strategy = SIM_STRATEGY_PRICE_AWARE;
  sim_battery b;
  sim_battery_init(&b, &h, MIN15);
  /* Surplus: stored only when the local price is expected low. */
  assert_int_equal(sim_home_plan(&h, &b, 100, 600, 150000), 500);
  assert_int_equal(sim_home_plan(&h, &b, 100, 600, 150001), 0);
  /* Deficit: covered only when the price is expected high. */
  assert_int_equal(sim_home_plan(&h, &b, 700, 0, 200000), -700);
  assert_int_equal(sim_home_plan(&h, &b, 700, 0, 199999), 0);
  /* Self-consumption ignores the price. */
  h.strategy = SIM_STRATEGY_SELF_CONSUMPTION;
  assert_int_equal(sim_home_plan(&h, &b, 100, 600, 999999), 500);
  assert_int_equal(sim_home_plan(&h, &b, 700, 0, 0), -700);
}

static void test_home_follows_contracts(void **state) {
  (void)state;
  sim_home h = home();
  sim_battery b;
  sim_battery_init(&b, &h, MIN15);
  sim_flows f;
  /* Sold 500 Wh with 1500 Wh of surplus: store the other 1000. */
  int64_t a = sim_home_follow(&b, 100, 1600, -500);
  assert_int_equal(a, 1000);
  sim_home_apply(&b, 100, 1600, a, &f);
  assert_int_equal(f.net, -500);
  /* Bought 300 Wh but needs 100: the battery takes the other 200. */
  assert_int_equal(sim_home_follow(&b, 100, 0, 300), 200);
  /* Sold 800 Wh with no PV: the battery delivers it (up to 1000 Wh). */
  assert_int_equal(sim_home_follow(&b, 0, 0, -800), -800);
  assert_int_equal(sim_home_follow(&b, 0, 0, -3000), -1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_home_battery_initial_state_and_limits),
      cmocka_unit_test(test_home_charge_and_discharge_by_hand),
      cmocka_unit_test(test_home_price_aware_strategy),
      cmocka_unit_test(test_home_follows_contracts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
