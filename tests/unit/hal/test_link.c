/* SPDX-License-Identifier: MIT */
/* Unit tests for hal_link: retries and backoff, pacing, reconnection
 * schedule, log rate limiting, and write refusal, on the in-memory device
 * with a manual clock (so every wait is checked in exact virtual time). */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_memdev.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct fx {
  gl_manual_clock *mc;
  gl_clock clock;
  gl_seeded_rand *sr;
  hal_memdev *md;
  hal_link *link;
} fx;

static hal_link *make_link(fx *f, const hal_link_cfg *cfg) {
  hal_link_free(f->link);
  f->link = hal_link_new(hal_memdev_transport(f->md), cfg, f->clock,
                         gl_seeded_rand_rand(f->sr), "test");
  assert_non_null(f->link);
  return f->link;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->mc = gl_manual_clock_new(INT64_C(1790000000) * GL_NS_PER_SEC);
  f->clock = gl_manual_clock_clock(f->mc);
  f->sr = gl_seeded_rand_new(42);
  f->md = hal_memdev_new();
  uint16_t regs[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  assert_int_equal(
      hal_memdev_set(f->md, 1, HAL_REG_HOLDING, 100, regs, 10, true), 0);
  assert_int_equal(
      hal_memdev_set(f->md, 2, HAL_REG_HOLDING, 100, regs, 10, false), 0);
  hal_link_cfg cfg = {0};
  make_link(f, &cfg);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  hal_link_free(f->link);
  hal_memdev_free(f->md);
  gl_seeded_rand_free(f->sr);
  gl_manual_clock_free(f->mc);
  free(f);
  return 0;
}

static int64_t mono(fx *f) {
  return gl_clock_monotonic(&f->clock);
}

static void test_link_reads_and_connects_lazily(void **state) {
  fx *f = *state;
  hal_memdev_stats ms;
  hal_memdev_stats_get(f->md, &ms);
  assert_int_equal(ms.opens, 0);
  uint16_t r[3];
  uint8_t exc = 99;
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 101, 3, r, &exc),
                   0);
  assert_int_equal(exc, 0);
  assert_int_equal(r[0], 2);
  assert_int_equal(r[2], 4);
  assert_true(hal_link_connected(f->link));
  assert_int_equal(hal_link_generation(f->link), 1);
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.ok, 1);
  assert_int_equal(st.connects, 1);
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 0, 0, r, NULL),
                   GL_EINVAL);
  assert_int_equal(
      hal_link_read(f->link, 1, HAL_REG_HOLDING, 65535, 2, r, NULL), GL_EINVAL);
}

static void test_link_retries_timeouts_with_growing_backoff(void **state) {
  fx *f = *state;
  hal_link_cfg cfg = {.backoff_ns = 100 * GL_NS_PER_MS, .attempts = 3};
  make_link(f, &cfg);
  hal_memdev_fail(f->md, GL_ETIMEDOUT, 0, 2);
  int64_t t0 = mono(f);
  uint16_t r[1];
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   0);
  int64_t waited = mono(f) - t0;
  /* Two backoffs: jittered 100 ms and 200 ms, each in [d/2, d]. */
  assert_true(waited >= 150 * GL_NS_PER_MS);
  assert_true(waited <= 300 * GL_NS_PER_MS);
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.retries, 2);
  assert_int_equal(st.timeouts, 2);
  assert_int_equal(st.attempts, 3);
  assert_int_equal(st.ok, 1);
}

static void test_link_gives_up_after_attempts(void **state) {
  fx *f = *state;
  hal_link_cfg cfg = {.attempts = 2};
  make_link(f, &cfg);
  hal_memdev_fail(f->md, GL_EPROTO, 0, 5);
  uint16_t r[1];
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   GL_EPROTO);
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.attempts, 2);
  assert_int_equal(st.proto_errors, 2);
  assert_int_equal(st.last_error, GL_EPROTO);
}

static void test_link_exceptions_retry_only_when_busy(void **state) {
  fx *f = *state;
  uint16_t r[1];
  uint8_t exc = 0;
  /* Illegal address: the request is wrong, retrying cannot help. */
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 500, 1, r, &exc),
                   GL_EDEVICE);
  assert_int_equal(exc, HAL_EXC_ILLEGAL_ADDRESS);
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.attempts, 1);
  /* Busy: try again. */
  hal_memdev_fail(f->md, GL_EDEVICE, HAL_EXC_BUSY, 1);
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, &exc),
                   0);
  assert_int_equal(exc, 0);
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.retries, 1);
  assert_int_equal(st.last_exception, HAL_EXC_BUSY);
  /* A unit nobody answers to times out. */
  hal_link_cfg cfg = {.attempts = 1};
  make_link(f, &cfg);
  assert_int_equal(hal_link_read(f->link, 9, HAL_REG_HOLDING, 100, 1, r, &exc),
                   GL_ETIMEDOUT);
}

static void
test_link_reconnects_at_once_after_a_dropped_connection(void **state) {
  fx *f = *state;
  uint16_t r[1];
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   0);
  hal_memdev_fail(f->md, GL_ECONN, 0, 1);
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   0);
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.connects, 2);
  assert_int_equal(hal_link_generation(f->link), 2);
}

static void test_link_reconnect_schedule_and_quiet_logs(void **state) {
  fx *f = *state;
  hal_link_cfg cfg = {.reconnect_min_ns = GL_NS_PER_SEC,
                      .reconnect_max_ns = 60 * GL_NS_PER_SEC};
  make_link(f, &cfg);
  hal_memdev_set_offline(f->md, true);
  gt_log_capture_begin();
  uint16_t r[1];
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   GL_ECONN);
  assert_int_equal(gt_log_count("cannot connect to memdev"), 1);
  /* Before the reconnect delay: refused at once, nothing attempted. */
  hal_link_stats st;
  for (int i = 0; i < 10; i++)
    assert_int_equal(
        hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL), GL_ECONN);
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.conn_failures, 1);
  assert_int_equal(st.fast_fails, 10);
  /* A day of polling every 5 s while the device is away: the delays grow
   * to the 60 s cap, so there are few attempts, and few log lines. */
  for (int i = 0; i < 17280; i++) {
    gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
    hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL);
  }
  hal_link_stats_get(f->link, &st);
  /* With delays jittered within [d/2, d] and d capped at 60 s, a day has
   * between 1440 and 2880 attempts (plus the ramp). */
  assert_true(st.conn_failures > 1440 && st.conn_failures < 2900);
  int lines = gt_log_count("cannot connect");
  assert_true(lines >= 2 && lines <= 30);
  assert_true(gt_log_contains("still cannot connect to memdev after"));
  /* The device comes back: one notice with the outage. */
  hal_memdev_set_offline(f->md, false);
  gl_manual_clock_advance(f->mc, 61 * GL_NS_PER_SEC);
  assert_int_equal(hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL),
                   0);
  assert_int_equal(gt_log_count("connected to memdev again after 24h"), 1);
  gt_log_capture_end();
}

static void test_link_paces_requests_and_unit_changes(void **state) {
  fx *f = *state;
  hal_link_cfg cfg = {.pause_ns = 20 * GL_NS_PER_MS,
                      .unit_pause_ns = 50 * GL_NS_PER_MS};
  make_link(f, &cfg);
  uint16_t r[1];
  hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL);
  int64_t t0 = mono(f);
  hal_link_read(f->link, 1, HAL_REG_HOLDING, 100, 1, r, NULL);
  assert_int_equal(mono(f) - t0, 20 * GL_NS_PER_MS);
  t0 = mono(f);
  hal_link_read(f->link, 2, HAL_REG_HOLDING, 100, 1, r, NULL);
  assert_int_equal(mono(f) - t0, 70 * GL_NS_PER_MS);
  /* Time that passed anyway counts towards the pause. */
  gl_manual_clock_advance(f->mc, GL_NS_PER_SEC);
  t0 = mono(f);
  hal_link_read(f->link, 2, HAL_REG_HOLDING, 100, 1, r, NULL);
  assert_int_equal(mono(f) - t0, 0);
}

static void test_link_refuses_writes_unless_allowed(void **state) {
  fx *f = *state;
  uint16_t v = 77;
  gt_log_capture_begin();
  assert_int_equal(hal_link_write(f->link, 1, 100, 1, &v, NULL), GL_EPERM);
  assert_true(gt_log_contains("writing is disabled"));
  gt_log_capture_end();
  hal_memdev_stats ms;
  hal_memdev_stats_get(f->md, &ms);
  assert_int_equal(ms.writes, 0);
  assert_int_equal(ms.opens, 0); /* not even a connection for it */
  hal_link_stats st;
  hal_link_stats_get(f->link, &st);
  assert_int_equal(st.writes_refused, 1);
  assert_int_equal(st.writes, 0);

  hal_link_cfg cfg = {.allow_write = true};
  make_link(f, &cfg);
  assert_int_equal(hal_link_write(f->link, 1, 100, 1, &v, NULL), 0);
  uint16_t back = 0;
  assert_int_equal(hal_memdev_get(f->md, 1, HAL_REG_HOLDING, 100, &back, 1), 0);
  assert_int_equal(back, 77);
  /* Read-only registers answer with an exception, not retried. */
  uint8_t exc = 0;
  assert_int_equal(hal_link_write(f->link, 2, 100, 1, &v, &exc), GL_EDEVICE);
  assert_int_equal(exc, HAL_EXC_ILLEGAL_ADDRESS);
  hal_memdev_stats_get(f->md, &ms);
  assert_int_equal(ms.writes, 2);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_link_reads_and_connects_lazily,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_link_retries_timeouts_with_growing_backoff, setup, teardown),
      cmocka_unit_test_setup_teardown(test_link_gives_up_after_attempts, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_link_exceptions_retry_only_when_busy,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_link_reconnects_at_once_after_a_dropped_connection, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_link_reconnect_schedule_and_quiet_logs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_link_paces_requests_and_unit_changes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_link_refuses_writes_unless_allowed,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
