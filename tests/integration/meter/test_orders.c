/* SPDX-License-Identifier: MIT */
/*
 * Trading preferences as the aggregator receives them: in expost mode one
 * signed prefs message, not repeated when the agent restarts with the same
 * limits, sent again when they change; in exante mode one signed order per
 * interval, sent before gate closure, whose quantities are the readings of
 * the same interval forecast_lag earlier.
 */
#include "gridlet/error.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define I15 (15 * MH_MIN)

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mtrade", 2);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

static void run_until(mh_agg *a, const gl_clock *clock, int64_t until) {
  while (gl_clock_now(clock) < until)
    mh_agg_pump(a, 20);
}

static int count_type(const mh_agg *a, pr_type type) {
  int n = 0;
  for (size_t i = 0; i < a->n; i++)
    n += a->recs[i].m->type == type;
  return n;
}

static void test_meter_expost_prefs_sent_once_per_change(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 10 * 3600 * MH_SEC, spec, &clock, &ac);
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "simp");
  mkdir(dir, 0700);
  mh_sim sim;
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  const char *limits = "[trading]\nbuy_below = 0.28\nsell_above = 0.09\n";
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n", limits);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, gl_clock_now(&clock) + 10 * MH_MIN);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 1);
  const pr_prefs *p = NULL;
  for (size_t i = 0; i < agg.n; i++)
    if (agg.recs[i].m->type == PR_MSG_PREFS)
      p = &agg.recs[i].m->prefs;
  assert_true(p->has_buy_below && p->has_sell_above);
  assert_int_equal(p->buy_below, 280000);
  assert_int_equal(p->sell_above, 90000);
  assert_int_equal(p->effective % I15, 0);
  /* The same limits after a restart: nothing new. */
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, gl_clock_now(&clock) + 5 * MH_MIN);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 1);
  /* New limits: sent. */
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n",
                  "[trading]\nbuy_below = 0.30\n");
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, gl_clock_now(&clock) + 5 * MH_MIN);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 2);
  mh_check_seq_unique(&agg);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void test_meter_prefs_dropped_from_the_outbox_are_sent_again(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(3000, I15, 20 * 3600 * MH_SEC, spec, &clock, &ac);
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "simq");
  mkdir(dir, 0700);
  mh_sim sim;
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  /* The broker is unreachable and the outbox small: the prefs message
   * queued at start is dropped to make room for readings. */
  mh_meter m;
  const char *limits = "[outbox]\nmax_messages = 10\n"
                       "[trading]\nbuy_below = 0.27\nsell_above = 0.08\n";
  mh_meter_config(&m, &comm, 2, &sim, 0, "mqtts://127.0.0.1:1", "poll = 1m\n",
                  limits);
  mh_meter_start(&m, spec);
  char *log = NULL;
  for (int i = 0; i < 500; i++) {
    gt_sleep_ms(20);
    free(log);
    log = gt_read_file(m.log, NULL);
    if (log && strstr(log, "prefs for") &&
        strstr(log, "dropped from the "
                    "outbox"))
      break;
  }
  assert_non_null(strstr(log, "dropped from the outbox"));
  free(log);
  mh_meter_stop(&m);
  /* The broker is back: the same limits, never acknowledged, go out. */
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 1m\n", limits);
  mh_meter_start(&m, spec);
  for (int i = 0; i < 250 && count_type(&agg, PR_MSG_PREFS) == 0; i++)
    mh_agg_pump(&agg, 20);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 1);
  /* Acknowledged now: a restart sends nothing new. */
  mh_meter_start(&m, spec);
  mh_agg_pump(&agg, 1500);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 1);
  mh_check_seq_unique(&agg);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void test_meter_exante_orders_repeat_the_forecast_interval(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 18 * 3600 * MH_SEC, spec, &clock, &ac);
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "simx");
  mkdir(dir, 0700);
  mh_sim sim;
  mh_sim_start(&sim, dir, spec, 1, "--no-battery");
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  /* Forecast from two intervals back; gate closure 5 minutes, orders a
   * minute before it. */
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 30s\n",
                  "[trading]\nmode = exante\nbuy_below = 0.30\n"
                  "sell_above = 0.08\nforecast_lag = 30m\n"
                  "gate_closure = 5m\norder_margin = 1m\n");
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + 6 * I15 + 2 * MH_MIN);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 200);
  assert_int_equal(count_type(&agg, PR_MSG_PREFS), 0);
  pr_msg **r;
  size_t nr = mh_readings(&agg, m.id.id, &r);
  int orders = 0;
  for (size_t i = 0; i < agg.n; i++) {
    const pr_msg *o = agg.recs[i].m;
    if (o->type != PR_MSG_ORDER)
      continue;
    orders++;
    /* Made before gate closure. */
    assert_true(o->ts <= o->order.start - 5 * MH_MIN);
    assert_int_equal(o->order.end - o->order.start, I15);
    /* Its quantities are the reading of the interval 30 minutes before. */
    const pr_reading *h = NULL;
    for (size_t k = 0; k < nr; k++)
      if (r[k]->reading.start == o->order.start - 30 * MH_MIN)
        h = &r[k]->reading;
    assert_non_null(h);
    assert_int_equal(h->flags & (PR_FLAG_MISSING | PR_FLAG_ESTIMATED), 0);
    int64_t buy = 0, sell = 0;
    for (size_t s = 0; s < o->order.nsteps; s++) {
      if (o->order.steps[s].side == PR_SIDE_BUY) {
        buy = o->order.steps[s].wh;
        assert_int_equal(o->order.steps[s].price, 300000);
      } else {
        sell = o->order.steps[s].wh;
        assert_int_equal(o->order.steps[s].price, 80000);
      }
    }
    assert_int_equal(buy, h->import_wh);
    assert_int_equal(sell, h->export_wh);
  }
  /* Intervals from the third on have a full interval to forecast from. */
  assert_true(orders >= 2);
  free(r);
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(strstr(log, "no forecast for"));
  free(log);
  mh_check_seq_unique(&agg);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_expost_prefs_sent_once_per_change),
      cmocka_unit_test(test_meter_prefs_dropped_from_the_outbox_are_sent_again),
      cmocka_unit_test(test_meter_exante_orders_repeat_the_forecast_interval),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
