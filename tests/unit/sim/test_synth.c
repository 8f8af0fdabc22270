/* SPDX-License-Identifier: MIT */
/* Unit tests for the synthetic community: the clear-sky model's sun by
 * place, day and hour; load shapes; annual totals near what the scenario
 * asks; and determinism, pinned by a checksum that must come out the same
 * on x86-64 and arm64 (make test-arm64). */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/sim_synth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NS INT64_C(1000000000)
#define H (3600 * NS)
#define DAY (24 * H)
/* 2026-12-21T00:00:00Z and 2026-06-21T00:00:00Z */
#define DEC21 (INT64_C(1798156800) * NS)
#define JUN21 (INT64_C(1782000000) * NS)
#define Y2026 (INT64_C(1767225600) * NS)

static void test_synth_clear_sky_follows_the_sun(void **state) {
  (void)state;
  /* Sydney: summer noon (02:00 UTC) is bright, midnight dark. */
  double lat = -33.87, lon = 151.21;
  double noon_dec = sim_synth_clear_sky(lat, lon, DEC21 + 2 * H);
  double noon_jun = sim_synth_clear_sky(lat, lon, JUN21 + 2 * H);
  assert_true(noon_dec > 950 && noon_dec < 1100);
  assert_true(noon_jun > 450 && noon_jun < 700);
  assert_true(sim_synth_clear_sky(lat, lon, DEC21 + 14 * H) == 0.0);
  /* Berlin: the other way round. */
  double bj = sim_synth_clear_sky(52.52, 13.40, JUN21 + 11 * H);
  double bd = sim_synth_clear_sky(52.52, 13.40, DEC21 + 11 * H);
  assert_true(bj > 750 && bj < 950);
  assert_true(bd > 50 && bd < 250);
  assert_true(sim_synth_clear_sky(52.52, 13.40, DEC21 + 17 * H) == 0.0);
  /* Morning rises towards noon. */
  assert_true(sim_synth_clear_sky(lat, lon, DEC21 - 2 * H) <
              sim_synth_clear_sky(lat, lon, DEC21));
}

static void test_synth_load_shape_has_mean_one(void **state) {
  (void)state;
  for (int we = 0; we < 2; we++) {
    double sum = 0;
    for (int i = 0; i < 24 * 60; i++)
      sum += sim_synth_shape(i / 60.0, we);
    assert_true(sum / (24 * 60) > 0.999 && sum / (24 * 60) < 1.001);
    assert_true(sim_synth_shape(19, we) > 1.5);
    assert_true(sim_synth_shape(3.5, we) < 0.6);
  }
}

static sim_scenario scenario(int64_t interval, uint64_t seed) {
  sim_scenario sc;
  memset(&sc, 0, sizeof sc);
  sc.seed = seed;
  sc.interval = interval;
  sc.latitude_udeg = -33870000;
  sc.longitude_udeg = 151210000;
  sc.synth_utc_offset_s = 36000;
  sc.cloudiness_ppm = 350000;
  sc.performance_ratio_ppm = 800000;
  sc.load_noise_ppm = 150000;
  return sc;
}

static sim_home hh(const char *id, int64_t load_wh, int64_t pv_wp) {
  sim_home h;
  memset(&h, 0, sizeof h);
  snprintf(h.id, sizeof h.id, "%s", id);
  h.load_wh_year = load_wh;
  h.pv_wp = pv_wp;
  h.load_scale_ppm = 1000000;
  h.pv_scale_ppm = 1000000;
  return h;
}

static void test_synth_a_year_is_near_the_scenario(void **state) {
  (void)state;
  sim_scenario sc = scenario(H, 3);
  sim_home homes[2] = {hh("a", 4000000, 1000), hh("b", 8000000, 0)};
  sim_synth *s;
  assert_int_equal(sim_synth_new(&sc, homes, 2, &s), 0);
  int64_t load[2], pv[2], tl[2] = {0, 0}, tp = 0;
  int64_t night = 0;
  for (int64_t t = Y2026; t < Y2026 + 365 * DAY; t += H) {
    assert_int_equal(sim_synth_next(s, t, load, pv), 0);
    tl[0] += load[0];
    tl[1] += load[1];
    tp += pv[0];
    assert_int_equal(pv[1], 0);
    /* 14:00 to 15:00 UTC is midnight in Sydney. */
    if ((t - Y2026) % DAY == 14 * H)
      night += pv[0];
  }
  assert_int_equal(night, 0);
  /* Within 5 % of the asked consumption; horizontal PV in Sydney yields
   * about 1.1 to 1.6 MWh per kWp and year. */
  assert_in_range(tl[0], 3800000, 4200000);
  assert_in_range(tl[1], 7600000, 8400000);
  assert_in_range(tp, 1000000, 1700000);
  /* Intervals must come in order. */
  assert_int_equal(sim_synth_next(s, Y2026, load, pv), GL_ESTATE);
  sim_synth_free(s);
}

static uint64_t run_checksum(uint64_t seed, int64_t interval, int days) {
  sim_scenario sc = scenario(interval, seed);
  sim_home homes[3] = {hh("a", 4000000, 5000), hh("b", 6000000, 3000),
                       hh("c", 2500000, 0)};
  sim_synth *s;
  assert_int_equal(sim_synth_new(&sc, homes, 3, &s), 0);
  uint64_t sum = UINT64_C(1469598103934665603);
  int64_t load[3], pv[3];
  for (int64_t t = JUN21; t < JUN21 + days * DAY; t += interval) {
    assert_int_equal(sim_synth_next(s, t, load, pv), 0);
    for (int i = 0; i < 3; i++) {
      sum = (sum ^ (uint64_t)load[i]) * UINT64_C(1099511628211);
      sum = (sum ^ (uint64_t)pv[i]) * UINT64_C(1099511628211);
    }
  }
  sim_synth_free(s);
  return sum;
}

static void test_synth_is_deterministic_everywhere(void **state) {
  (void)state;
  uint64_t a = run_checksum(42, 15 * 60 * NS, 3);
  assert_true(a == run_checksum(42, 15 * 60 * NS, 3));
  assert_true(a != run_checksum(43, 15 * 60 * NS, 3));
  /* Pinned: the same seed gives these households on every machine. A
   * change of the model or of the order of draws changes this value (and
   * every synthetic result); note it in docs/research.md when you do. */
  printf("synthetic checksum: %016llx\n", (unsigned long long)a);
  assert_true(a == UINT64_C(0x0e6b60d649b523fa));
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_synth_clear_sky_follows_the_sun),
      cmocka_unit_test(test_synth_load_shape_has_mean_one),
      cmocka_unit_test(test_synth_a_year_is_near_the_scenario),
      cmocka_unit_test(test_synth_is_deterministic_everywhere),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
