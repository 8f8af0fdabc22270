/* SPDX-License-Identifier: MIT */
/* hal against the device simulator's timing faults over real Modbus TCP:
 * delayed responses, dropped responses, exception responses and a
 * household that goes offline. Each fault is injected, and the layer
 * either recovers (retry, reconnect) or reports exactly what happened. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_devices.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOON INT64_C(1782039600000000000)
#define TIMEOUT_MS 500

typedef struct fx {
  gl_manual_clock *mc;
  gl_seeded_rand *sr;
  sim_devices *sd;
  hal_link *link;
  hal_device *meter;
  gl_clock real;
} fx;

static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->real = gl_clock_real();
  f->mc = gl_manual_clock_new(NOON);
  f->sr = gl_seeded_rand_new(3);
  sim_devices_cfg cfg = {.households = 1};
  assert_int_equal(sim_devices_new(&cfg, gl_manual_clock_clock(f->mc),
                                   gl_clock_real(), gl_seeded_rand_rand(f->sr),
                                   &f->sd),
                   0);
  assert_int_equal(sim_devices_bind(f->sd), 0);
  assert_int_equal(sim_devices_start(f->sd), 0);
  hal_endpoint ep = {.kind = HAL_EP_TCP, .port = sim_devices_port(f->sd, 0)};
  snprintf(ep.host, sizeof ep.host, "127.0.0.1");
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  hal_link_cfg lc = {.timeout_ns = TIMEOUT_MS * GL_NS_PER_MS,
                     .attempts = 3,
                     .backoff_ns = 50 * GL_NS_PER_MS,
                     .reconnect_min_ns = 10 * GL_NS_PER_SEC,
                     .reconnect_max_ns = 60 * GL_NS_PER_SEC};
  /* Backoff and reconnect delays run on the manual clock: instant. */
  f->link = hal_link_new(t, &lc, gl_manual_clock_clock(f->mc),
                         gl_seeded_rand_rand(f->sr), "faults");
  hal_profile p = profile("sunspec-meter");
  hal_device_cfg dc = {
      .unit = 3, .name = "meter", .offline_min_ns = 5 * GL_NS_PER_SEC};
  f->meter = hal_device_new(f->link, &p, &dc);
  hal_sample s;
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  hal_device_free(f->meter);
  hal_link_free(f->link);
  sim_devices_free(f->sd);
  gl_seeded_rand_free(f->sr);
  gl_manual_clock_free(f->mc);
  free(f);
  return 0;
}

static void fault(fx *f, const char *text) {
  sim_fault ft;
  char err[160];
  assert_int_equal(sim_fault_parse(text, &ft, err, sizeof err), 0);
  assert_int_equal(sim_devices_fault(f->sd, &ft), 0);
}

static void expect_exact(fx *f, const hal_sample *s) {
  sim_devices_state st;
  sim_devices_state_get(f->sd, 0, &st);
  assert_int_equal(s->r[HAL_Q_GRID_IMPORT_WH].value, st.import_wh);
  assert_int_equal(s->r[HAL_Q_GRID_EXPORT_WH].value, st.export_wh);
  assert_int_equal(s->r[HAL_Q_GRID_POWER_W].value, st.grid_w);
}

static int64_t real_ms(fx *f) {
  return gl_clock_monotonic(&f->real) / GL_NS_PER_MS;
}

static void test_faults_short_delay_is_just_slow(void **state) {
  fx *f = *state;
  fault(f, "delay device=meter ms=100 count=1");
  hal_sample s;
  int64_t t0 = real_ms(f);
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  assert_true(real_ms(f) - t0 >= 100);
  expect_exact(f, &s);
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.timeouts, 0);
}

static void test_faults_long_delay_times_out_and_is_retried(void **state) {
  fx *f = *state;
  fault(f, "delay device=meter ms=900 count=1");
  hal_sample s;
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  expect_exact(f, &s);
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.timeouts, 1);
  assert_int_equal(ls.retries, 1);
  /* The late answer to the first attempt was not taken for the retry's:
   * the connection was renewed. */
  assert_int_equal(ls.proto_errors, 0);
  sim_devices_stats ss;
  sim_devices_stats_get(f->sd, 0, &ss);
  assert_int_equal(ss.connections, 2);
}

static void test_faults_dropped_responses_are_retried(void **state) {
  fx *f = *state;
  fault(f, "drop device=meter count=2");
  hal_sample s;
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  expect_exact(f, &s);
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.timeouts, 2);
  sim_devices_stats ss;
  sim_devices_stats_get(f->sd, 0, &ss);
  assert_int_equal(ss.dropped, 2);
}

static void test_faults_silent_device_goes_offline_and_returns(void **state) {
  fx *f = *state;
  fault(f, "drop device=meter");
  gt_log_capture_begin();
  hal_sample s;
  assert_int_equal(hal_device_poll(f->meter, &s), GL_ETIMEDOUT);
  assert_false(s.online);
  assert_int_equal(s.r[HAL_Q_GRID_IMPORT_WH].status, GL_ETIMEDOUT);
  assert_int_equal(gt_log_count("is offline: timed out"), 1);
  /* Inside the backoff: no request reaches the device. */
  sim_devices_stats a, b;
  sim_devices_stats_get(f->sd, 0, &a);
  assert_int_equal(hal_device_poll(f->meter, &s), GL_ETIMEDOUT);
  sim_devices_stats_get(f->sd, 0, &b);
  assert_int_equal(a.requests, b.requests);
  fault(f, "clear device=meter");
  gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  assert_true(s.online);
  expect_exact(f, &s);
  assert_int_equal(gt_log_count("back online after"), 1);
  gt_log_capture_end();
}

static void test_faults_exceptions_are_reported_or_retried(void **state) {
  fx *f = *state;
  /* Device failure: not retried, reported with its code. */
  fault(f, "exception device=meter code=4 count=1");
  hal_sample s;
  gl_log_set_level(GL_LOG_ERROR);
  assert_int_equal(hal_device_poll(f->meter, &s), GL_EDEVICE);
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.last_exception, HAL_EXC_DEVICE_FAILURE);
  assert_int_equal(ls.retries, 0);
  gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  expect_exact(f, &s);
  /* Busy: retried, and the poll succeeds. */
  fault(f, "exception device=meter code=6 count=2");
  assert_int_equal(hal_device_poll(f->meter, &s), 0);
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.retries, 2);
  assert_int_equal(ls.last_exception, HAL_EXC_BUSY);
}

static void test_faults_unreachable_household_reconnects(void **state) {
  fx *f = *state;
  fault(f, "offline household=0");
  gt_log_capture_begin();
  hal_sample s;
  /* The open connection is dropped; reconnecting is refused. */
  int rc = hal_device_poll(f->meter, &s);
  assert_int_equal(rc, GL_ECONN);
  assert_true(gt_log_contains("cannot connect to tcp:127.0.0.1"));
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  uint64_t fails = ls.conn_failures;
  /* A day of polls every 5 s: reconnection attempts are spaced out. */
  for (int i = 0; i < 17280; i++) {
    gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
    hal_device_poll(f->meter, &s);
  }
  hal_link_stats_get(f->link, &ls);
  assert_true(ls.conn_failures - fails < 3000);
  assert_true(gt_log_count("connect to tcp:127.0.0.1") < 40);
  fault(f, "online household=0");
  /* The listener reopens on the same port. */
  for (int i = 0; i < 1000 && rc != 0; i++) {
    gt_sleep_ms(10);
    gl_manual_clock_advance(f->mc, 60 * GL_NS_PER_SEC);
    rc = hal_device_poll(f->meter, &s);
  }
  assert_int_equal(rc, 0);
  expect_exact(f, &s);
  assert_true(gt_log_contains("again after"));
  gt_log_capture_end();
  hal_device_stats ds;
  hal_device_stats_get(f->meter, &ds);
  assert_true(ds.discoveries >= 2); /* reconnected: discovered again */
}

static void test_faults_timed_offline_ends_by_itself(void **state) {
  fx *f = *state;
  /* Long enough that the first poll surely falls inside it, even on a
   * loaded machine; the loop below waits for its end. */
  fault(f, "offline household=0 ms=2000");
  gl_log_set_level(GL_LOG_ERROR);
  hal_sample s;
  assert_int_equal(hal_device_poll(f->meter, &s), GL_ECONN);
  int rc = GL_ECONN;
  /* Up to 10 s of real time for the simulator to reopen: CI machines run
   * several test programs at once. */
  for (int i = 0; i < 500 && rc != 0; i++) {
    gt_sleep_ms(20);
    gl_manual_clock_advance(f->mc, 60 * GL_NS_PER_SEC);
    rc = hal_device_poll(f->meter, &s);
  }
  assert_int_equal(rc, 0);
  expect_exact(f, &s);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_faults_short_delay_is_just_slow,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_faults_long_delay_times_out_and_is_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults_dropped_responses_are_retried,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_faults_silent_device_goes_offline_and_returns, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_faults_exceptions_are_reported_or_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_faults_unreachable_household_reconnects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_faults_timed_offline_ends_by_itself,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
