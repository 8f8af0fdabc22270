/* SPDX-License-Identifier: MIT */
/* Unit tests for the clocks, RFC 3339 and durations. */
#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* 2026-11-21T10:15:00Z */
#define T0 (INT64_C(1795256100) * GL_NS_PER_SEC)

static void test_real_clock_is_close_to_time(void **state) {
  (void)state;
  gl_clock c = gl_clock_real();
  int64_t now = gl_clock_now(&c);
  int64_t sys = (int64_t)time(NULL) * GL_NS_PER_SEC;
  assert_true(now - sys < 2 * GL_NS_PER_SEC && sys - now < 2 * GL_NS_PER_SEC);
  int64_t m1 = gl_clock_monotonic(&c);
  gl_clock_sleep(&c, 2 * GL_NS_PER_MS);
  int64_t m2 = gl_clock_monotonic(&c);
  assert_true(m2 - m1 >= 2 * GL_NS_PER_MS);
  assert_int_equal(gl_clock_real_duration(&c, 12345), 12345);
}

static void test_manual_clock_moves_only_when_told(void **state) {
  (void)state;
  gl_manual_clock *mc = gl_manual_clock_new(T0);
  gl_clock c = gl_manual_clock_clock(mc);
  assert_int_equal(gl_clock_now(&c), T0);
  assert_int_equal(gl_clock_now(&c), T0);
  gl_manual_clock_advance(mc, 5 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_now(&c), T0 + 5 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_monotonic(&c), 5 * GL_NS_PER_SEC);
  /* sleeping advances time instantly */
  gl_clock_sleep(&c, 60 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_now(&c), T0 + 65 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_real_duration(&c, GL_NS_PER_SEC), 0);
  /* a wall-clock step backwards leaves monotonic time alone */
  gl_manual_clock_set(mc, T0 - 3600 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_now(&c), T0 - 3600 * GL_NS_PER_SEC);
  assert_int_equal(gl_clock_monotonic(&c), 65 * GL_NS_PER_SEC);
  gl_manual_clock_free(mc);
  gl_manual_clock_free(NULL);
}

static void test_accel_clock_runs_faster(void **state) {
  (void)state;
  assert_null(gl_accel_clock_new(T0, 0));
  gl_accel_clock *ac = gl_accel_clock_new(T0, 1000);
  gl_clock c = gl_accel_clock_clock(ac);
  int64_t a = gl_clock_now(&c);
  assert_true(a >= T0 && a < T0 + GL_NS_PER_SEC);
  /* 2 virtual seconds last 2 real ms */
  assert_int_equal(gl_clock_real_duration(&c, 2 * GL_NS_PER_SEC),
                   2 * GL_NS_PER_MS);
  gl_clock_sleep(&c, 2 * GL_NS_PER_SEC);
  int64_t b = gl_clock_now(&c);
  assert_true(b - a >= 2 * GL_NS_PER_SEC);
  gl_accel_clock_free(ac);
}

static void test_anchored_accel_clocks_agree_whenever_created(void **state) {
  (void)state;
  gl_clock real = gl_clock_real();
  int64_t anchor = gl_clock_now(&real) - 2 * GL_NS_PER_SEC; /* 2 s ago */
  gl_accel_clock *a = gl_accel_clock_new_anchored(T0, anchor, 100);
  gl_clock_sleep(&real, 20 * GL_NS_PER_MS);
  gl_accel_clock *b = gl_accel_clock_new_anchored(T0, anchor, 100);
  gl_clock ca = gl_accel_clock_clock(a), cb = gl_accel_clock_clock(b);
  /* Bracket b's reading between two of a's: however slowly this runs (an
   * emulator, a loaded machine), b must lie between them, up to the error
   * of sampling the real and monotonic clocks at slightly different
   * instants (microseconds, times the speed). */
  int64_t ta1 = gl_clock_now(&ca);
  int64_t tb = gl_clock_now(&cb);
  int64_t ta2 = gl_clock_now(&ca);
  const int64_t slack = GL_NS_PER_SEC; /* 10 ms of real time at speed 100 */
  assert_true(tb >= ta1 - slack);
  assert_true(tb <= ta2 + slack);
  /* about 200 virtual seconds have passed since the anchor */
  assert_true(ta1 >= T0 + 200 * GL_NS_PER_SEC);
  gl_accel_clock_free(a);
  gl_accel_clock_free(b);
}

static void test_accel_clock_refuses_ranges_it_cannot_represent(void **state) {
  (void)state;
  gl_clock real = gl_clock_real();
  int64_t now = gl_clock_now(&real);
  int64_t year = INT64_C(365) * 86400 * GL_NS_PER_SEC;
  assert_null(gl_accel_clock_new(T0, GL_ACCEL_SPEED_MAX + 1));
  assert_null(gl_accel_clock_new(-1, 10));
  /* an anchor two years old at speed 3600: virtual time 7200 years on */
  assert_null(gl_accel_clock_new_anchored(T0, now - 2 * year, 3600));
  /* a start near the end of the range */
  assert_null(gl_accel_clock_new_anchored(INT64_MAX - GL_NS_PER_SEC, now, 2));
  /* an anchor far in the future at high speed: before 1970 */
  assert_null(gl_accel_clock_new_anchored(0, now + year, 10000));
  gl_clock_spec spec;
  assert_int_equal(gl_clock_spec_parse("accel:3600:2026-06-21T04:00:00Z:"
                                       "2020-01-01T00:00:00Z",
                                       &spec),
                   0);
  gl_clock c;
  gl_accel_clock *owned = NULL;
  assert_int_equal(gl_clock_spec_open(&spec, &c, &owned), GL_ERANGE);
  assert_null(owned);
  /* The largest speed is usable for a fresh anchor, and readings and
   * durations never overflow. */
  gl_accel_clock *ac = gl_accel_clock_new_anchored(T0, now, GL_ACCEL_SPEED_MAX);
  assert_non_null(ac);
  gl_clock fast = gl_accel_clock_clock(ac);
  assert_true(gl_clock_now(&fast) >= T0);
  assert_int_equal(gl_clock_real_duration(&fast, INT64_MAX),
                   INT64_MAX / GL_ACCEL_SPEED_MAX + 1);
  gl_accel_clock_free(ac);
}

static void test_clock_spec_round_trips_and_rejects_junk(void **state) {
  (void)state;
  gl_clock_spec s;
  char buf[GL_CLOCK_SPEC_MAX];
  assert_int_equal(gl_clock_spec_parse("real", &s), 0);
  assert_false(s.accel);
  assert_string_equal(gl_clock_spec_format(&s, buf), "real");
  const char *text = "accel:180:2026-06-21T04:00:00Z:2026-11-21T10:15:02.250Z";
  assert_int_equal(gl_clock_spec_parse(text, &s), 0);
  assert_true(s.accel);
  assert_int_equal(s.speed, 180);
  assert_string_equal(gl_clock_spec_format(&s, buf), text);
  gl_clock c;
  gl_accel_clock *owned;
  assert_int_equal(gl_clock_spec_open(&s, &c, &owned), 0);
  assert_non_null(owned);
  gl_accel_clock_free(owned);
  const char *bad[] = {"",
                       "fake",
                       "accel:",
                       "accel:0:2026-06-21T04:00:00Z:2026-11-21T10:15:02Z",
                       "accel:-5:2026-06-21T04:00:00Z:2026-11-21T10:15:02Z",
                       "accel:10001:2026-06-21T04:00:00Z:2026-11-21T10:15:02Z",
                       "accel:10:2026-06-21T04:00:00Z",
                       "accel:10:2026-06-21T04:00:00Z:x",
                       "accel:x:2026-06-21T04:00:00Z:2026-11-21T10:15:02Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(gl_clock_spec_parse(bad[i], &s), GL_EPARSE);
}

static void test_time_format_utc_and_fractions(void **state) {
  (void)state;
  char buf[GL_TIME_STR_MAX];
  assert_string_equal(gl_time_format(0, buf), "1970-01-01T00:00:00Z");
  assert_string_equal(gl_time_format(T0, buf), "2026-11-21T10:15:00Z");
  assert_string_equal(gl_time_format(T0 + 123 * GL_NS_PER_MS, buf),
                      "2026-11-21T10:15:00.123Z");
  assert_string_equal(gl_time_format(T0 + 1500, buf),
                      "2026-11-21T10:15:00.000001500Z");
  assert_string_equal(gl_time_format(T0 + 7 * GL_NS_PER_US, buf),
                      "2026-11-21T10:15:00.000007Z");
  /* leap day */
  int64_t t;
  assert_int_equal(gl_time_parse("2024-02-29T23:59:59Z", &t), 0);
  assert_string_equal(gl_time_format(t, buf), "2024-02-29T23:59:59Z");
}

static void test_time_parse_accepts_offsets_and_rejects_junk(void **state) {
  (void)state;
  int64_t t = 0;
  assert_int_equal(gl_time_parse("2026-11-21T10:15:00Z", &t), 0);
  assert_int_equal(t, T0);
  assert_int_equal(gl_time_parse("2026-11-21T11:15:00+01:00", &t), 0);
  assert_int_equal(t, T0);
  assert_int_equal(gl_time_parse("2026-11-21 05:15:00-05:00", &t), 0);
  assert_int_equal(t, T0);
  assert_int_equal(gl_time_parse("2026-11-21T10:15:00.5Z", &t), 0);
  assert_int_equal(t, T0 + 500 * GL_NS_PER_MS);
  const char *bad[] = {"",
                       "2026-11-21",
                       "2026-13-01T00:00:00Z",
                       "2026-02-29T00:00:00Z",
                       "2026-11-21T24:00:00Z",
                       "2026-11-21T10:15:00",
                       "2026-11-21T10:15:00.Z",
                       "2026-11-21T10:15:00.1234567891Z",
                       "2026-11-21T10:15:00Zjunk",
                       "2026-11-21T10:15:00+0100",
                       "x026-11-21T10:15:00Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(gl_time_parse(bad[i], &t), GL_EPARSE);
  assert_int_equal(gl_time_parse("1969-12-31T23:59:59Z", &t), GL_ERANGE);
  assert_int_equal(gl_time_parse("2300-01-01T00:00:00Z", &t), GL_ERANGE);
}

static void test_time_round_trips_over_many_days(void **state) {
  (void)state;
  char buf[GL_TIME_STR_MAX];
  for (int64_t day = 0; day < 106000; day += 7) {
    int64_t t = day * 86400 * GL_NS_PER_SEC + (day % 86400) * GL_NS_PER_SEC;
    int64_t back;
    assert_int_equal(gl_time_parse(gl_time_format(t, buf), &back), 0);
    assert_int_equal(back, t);
    /* agree with the C library */
    time_t secs = (time_t)(t / GL_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ref[64];
    strftime(ref, sizeof ref, "%Y-%m-%dT%H:%M:%SZ", &tm);
    assert_string_equal(buf, ref);
  }
}

static void test_duration_parse_and_format(void **state) {
  (void)state;
  int64_t d;
  assert_int_equal(gl_duration_parse("15m", &d), 0);
  assert_int_equal(d, 900 * GL_NS_PER_SEC);
  assert_int_equal(gl_duration_parse("1h30m", &d), 0);
  assert_int_equal(d, 5400 * GL_NS_PER_SEC);
  assert_int_equal(gl_duration_parse("500ms", &d), 0);
  assert_int_equal(d, 500 * GL_NS_PER_MS);
  assert_int_equal(gl_duration_parse("0", &d), 0);
  assert_int_equal(d, 0);
  assert_int_equal(gl_duration_parse("2d", &d), 0);
  assert_int_equal(d, 2 * 86400 * GL_NS_PER_SEC);
  assert_int_equal(gl_duration_parse("5", &d), GL_EPARSE);
  assert_int_equal(gl_duration_parse("5x", &d), GL_EPARSE);
  assert_int_equal(gl_duration_parse("", &d), GL_EPARSE);
  assert_int_equal(gl_duration_parse("m", &d), GL_EPARSE);
  assert_int_equal(gl_duration_parse("5 s", &d), GL_EPARSE);
  assert_int_equal(gl_duration_parse("-5s", &d), GL_ERANGE);
  assert_int_equal(gl_duration_parse("999999999999d", &d), GL_ERANGE);
  assert_int_equal(gl_duration_parse("99999999999999999999s", &d), GL_ERANGE);
  char buf[64];
  assert_string_equal(gl_duration_format(900 * GL_NS_PER_SEC, buf, sizeof buf),
                      "15m");
  assert_string_equal(gl_duration_format(5400 * GL_NS_PER_SEC, buf, sizeof buf),
                      "1h30m");
  assert_string_equal(gl_duration_format(250 * GL_NS_PER_MS, buf, sizeof buf),
                      "250ms");
  assert_string_equal(
      gl_duration_format(86400 * GL_NS_PER_SEC, buf, sizeof buf), "1d");
  assert_string_equal(gl_duration_format(0, buf, sizeof buf), "0");
  for (int64_t v = 1; v < INT64_MAX / 3; v = v * 3 + 7) {
    assert_int_equal(
        gl_duration_parse(gl_duration_format(v, buf, sizeof buf), &d), 0);
    assert_int_equal(d, v);
  }
}

static void test_floor_div_rounds_towards_minus_infinity(void **state) {
  (void)state;
  assert_int_equal(gl_floor_div(7, 2), 3);
  assert_int_equal(gl_floor_div(-7, 2), -4);
  assert_int_equal(gl_floor_div(-8, 2), -4);
  assert_int_equal(gl_floor_div(0, 5), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_clock_is_close_to_time),
      cmocka_unit_test(test_manual_clock_moves_only_when_told),
      cmocka_unit_test(test_accel_clock_runs_faster),
      cmocka_unit_test(test_anchored_accel_clocks_agree_whenever_created),
      cmocka_unit_test(test_accel_clock_refuses_ranges_it_cannot_represent),
      cmocka_unit_test(test_clock_spec_round_trips_and_rejects_junk),
      cmocka_unit_test(test_time_format_utc_and_fractions),
      cmocka_unit_test(test_time_parse_accepts_offsets_and_rejects_junk),
      cmocka_unit_test(test_time_round_trips_over_many_days),
      cmocka_unit_test(test_duration_parse_and_format),
      cmocka_unit_test(test_floor_div_rounds_towards_minus_infinity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
