/* SPDX-License-Identifier: MIT */
/* The sun model behind the pv_at_night check. */
#include "gridlet/agg_solar.h"
#include "gridlet/clock.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static int64_t t(const char *s) {
  int64_t v = 0;
  assert_int_equal(gl_time_parse(s, &v), 0);
  return v;
}

#define UDEG(x) ((int64_t)((x)*1e6))

static void test_noon_elevation_matches_latitude_and_season(void **state) {
  (void)state;
  /* Solar noon at 0 E, summer solstice, 50 N: 90 - 50 + 23.44 = 63.4. */
  double e = agg_solar_elevation(t("2026-06-21T12:02:00Z"), UDEG(50), 0);
  assert_true(fabs(e - 63.4) < 0.7);
  /* Winter solstice: 90 - 50 - 23.44 = 16.6. */
  e = agg_solar_elevation(t("2026-12-21T11:58:00Z"), UDEG(50), 0);
  assert_true(fabs(e - 16.6) < 0.7);
  /* Equinox at the equator: close to the zenith. */
  e = agg_solar_elevation(t("2026-03-20T12:07:00Z"), 0, 0);
  assert_true(e > 88.5);
}

static void test_longitude_shifts_the_day(void **state) {
  (void)state;
  /* Zurich (8.54 E) has solar noon about 34 minutes before 12:00 UTC;
   * at 06:00 UTC in winter it is still dark there, but at 06:00 UTC in
   * Tokyo (139.7 E) it is mid-afternoon. */
  int64_t at = t("2026-01-15T06:00:00Z");
  assert_true(agg_solar_elevation(at, UDEG(47.37), UDEG(8.54)) < -6);
  assert_true(agg_solar_elevation(at, UDEG(35.68), UDEG(139.7)) > 10);
}

static void test_night_is_the_whole_interval_below_the_threshold(void **state) {
  (void)state;
  int64_t lat = UDEG(50), lon = 0;
  int64_t q = 15 * 60 * GL_NS_PER_SEC;
  /* 00:00-00:15 in June at 50 N: night. */
  assert_true(agg_solar_night(t("2026-06-21T00:00:00Z"),
                              t("2026-06-21T00:00:00Z") + q, lat, lon, -6000));
  /* Midday: not night. */
  assert_false(agg_solar_night(t("2026-06-21T12:00:00Z"),
                               t("2026-06-21T12:00:00Z") + q, lat, lon, -6000));
  /* Around sunrise (about 03:50 solar time) civil twilight has begun. */
  assert_false(agg_solar_night(t("2026-06-21T03:30:00Z"),
                               t("2026-06-21T03:30:00Z") + q, lat, lon, -6000));
  /* A day-long interval always contains daylight at these latitudes. */
  assert_false(agg_solar_night(t("2026-06-21T00:00:00Z"),
                               t("2026-06-22T00:00:00Z"), lat, lon, -6000));
  /* Polar night: the sun never rises at 80 N in December. */
  assert_true(agg_solar_night(t("2026-12-21T00:00:00Z"),
                              t("2026-12-22T00:00:00Z"), UDEG(80), 0, -6000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_noon_elevation_matches_latitude_and_season),
      cmocka_unit_test(test_longitude_shifts_the_day),
      cmocka_unit_test(test_night_is_the_whole_interval_below_the_threshold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
