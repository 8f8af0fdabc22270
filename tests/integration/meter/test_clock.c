/* SPDX-License-Identifier: MIT */
/*
 * The meter agent in this process (mtr_agent_run on a thread) on a clock
 * whose wall time the test can step, reading the real device simulator
 * over Modbus TCP and keeping its state in a real SQLite file: a wall
 * clock that jumps a year ahead for a minute and comes back (a GPS or NTP
 * glitch) neither stops the reads nor pins the readings or the orders in
 * the future.
 */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_agent.h"
#include "gridlet/mtr_store.h"
#include "harness.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define I15 (15 * MH_MIN)
#define YEAR (INT64_C(365) * 86400 * MH_SEC)

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mclock", 1);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

/* ---- A clock whose wall time can be stepped ------------------------------ */

typedef struct step_clock {
  gl_clock base;
  _Atomic int64_t offset;
} step_clock;

static int64_t sc_now(void *ctx) {
  step_clock *c = ctx;
  return gl_clock_now(&c->base) + atomic_load(&c->offset);
}

static int64_t sc_monotonic(void *ctx) {
  step_clock *c = ctx;
  return gl_clock_monotonic(&c->base);
}

static void sc_sleep(void *ctx, int64_t ns) {
  step_clock *c = ctx;
  gl_clock_sleep(&c->base, ns);
}

static int64_t sc_real_duration(void *ctx, int64_t ns) {
  step_clock *c = ctx;
  return gl_clock_real_duration(&c->base, ns);
}

static const gl_clock_ops sc_ops = {sc_now, sc_monotonic, sc_sleep,
                                    sc_real_duration};

static void *run_agent(void *arg) {
  mtr_agent *a = arg;
  intptr_t rc = mtr_agent_run(a, -1);
  return (void *)rc;
}

static void test_meter_wall_clock_glitch_neither_stops_nor_pins(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock base;
  gl_accel_clock *ac;
  mh_clock(300, I15, 7 * 3600 * MH_SEC, spec, &base, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, &sim, 0, "mqtts://127.0.0.1:1", "poll = 30s\n",
                  "[trading]\nmode = exante\nbuy_below = 0.30\n"
                  "sell_above = 0.05\nforecast_lag = 15m\n"
                  "gate_closure = 2m\norder_margin = 1m\n");
  mtr_config cfg;
  gl_conf_errors errs = {0};
  if (mtr_config_load(&cfg, m.conf, &errs))
    fail_msg("config: %s", errs.msg[0]);
  step_clock sc = {.base = base};
  atomic_init(&sc.offset, 0);
  gl_clock clock = {&sc_ops, &sc};
  gt_log_capture_begin();
  mtr_agent *agent;
  assert_int_equal(mtr_agent_new(&cfg, clock, gl_rand_system(), &agent, NULL),
                   0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, run_agent, agent), 0);

  int64_t t0 = gl_clock_now(&base);
  mh_wait_virtual(&base, gl_floor_div(t0, I15) * I15 + I15 + 2 * MH_MIN);
  /* A year ahead for one minute (two reads), then right again. */
  int64_t glitch = gl_clock_now(&base);
  atomic_store(&sc.offset, YEAR);
  mh_wait_virtual(&base, glitch + MH_MIN);
  atomic_store(&sc.offset, 0);
  mh_wait_virtual(&base, glitch + 3 * I15);
  int64_t end = gl_clock_now(&base);
  mtr_agent_stop(agent);
  void *ret;
  assert_int_equal(pthread_join(th, &ret), 0);
  assert_int_equal((intptr_t)ret, 0);
  mtr_agent_free(agent);
  bool warned = gt_log_contains("more than the clock horizon");
  gt_log_capture_end();

  /* Every interval after the glitch has a reading with data: the reads
   * went on, on the real time. */
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(m.db, &o, &s), 0);
  static mtr_reading_row row;
  int64_t from = gl_floor_div(glitch, I15) * I15;
  int64_t to = gl_floor_div(end, I15) * I15 - I15; /* the last one ended */
  assert_true(to > from + I15);
  for (int64_t t = from; t < to; t += I15) {
    char ts[GL_TIME_STR_MAX];
    if (mtr_store_reading_by_start(s, t, &row))
      fail_msg("no reading for %s", gl_time_format(t, ts));
    if (row.r.flags & PR_FLAG_MISSING)
      fail_msg("the reading for %s is missing", gl_time_format(t, ts));
  }
  /* Nothing was reported for the year ahead. */
  assert_int_equal(mtr_store_reading_last(s, &row), 0);
  assert_true(row.r.start < end);
  /* The next order is for the real time, not a year ahead. */
  int64_t order_next = 0;
  assert_int_equal(mtr_store_get_int(s, MTR_KEY_ORDER_NEXT, &order_next), 0);
  assert_true(order_next < end + 2 * I15);
  mtr_store_free(s);
  assert_true(warned);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_wall_clock_glitch_neither_stops_nor_pins),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
