/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter killed with SIGKILL at random moments, many times, and
 * restarted: no interval's reading is lost or made twice, no sequence
 * number is used for two different messages, every reading the meter
 * recorded reached the aggregator with the same bytes, and exact
 * intervals still agree with the meter's registers. Then clock steps
 * across a restart: a clock that went back is flagged clock_step, and
 * intervals a clock jumped over are reported missing. And a database
 * that refuses a reading's commit: the agent stops without losing the
 * interval, which the next start reports.
 */
#include "gridlet/error.h"
#include "gridlet/mtr_store.h"
#include "gridlet/rand.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#define I15 (15 * MH_MIN)

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mcrash", 3);
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

static void test_meter_kill9_loses_no_reading_and_reuses_no_seq(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 11 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "simc");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\nstate_save = 1m\n",
                  NULL);
  /* A seed from the clock, printed so a failure can be replayed. */
  gl_clock real = gl_clock_real();
  uint64_t seed = (uint64_t)gl_clock_now(&real);
  print_message("kill -9 schedule seed %llu\n", (unsigned long long)seed);
  gl_seeded_rand *sr = gl_seeded_rand_new(seed);
  gl_rand rand = gl_seeded_rand_rand(sr);
  for (int i = 0; i < 14; i++) {
    mh_meter_start(&m, spec);
    uint64_t alive, gap;
    gl_rand_below(&rand, 1400, &alive);
    gl_rand_below(&rand, 300, &gap);
    mh_agg_pump(&agg, 100 + (int)alive);
    mh_meter_kill9(&m);
    mh_agg_pump(&agg, (int)gap);
  }
  gl_seeded_rand_free(sr);
  /* Let it run in peace until everything is delivered. */
  mh_meter_start(&m, spec);
  int64_t settle = gl_clock_now(&clock) + 2 * I15 + MH_MIN;
  run_until(&agg, &clock, settle);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 300);

  mh_check_seq_unique(&agg);
  pr_msg **r;
  size_t n = mh_readings(&agg, m.id.id, &r);
  assert_true(n >= 8);
  for (size_t i = 1; i < n; i++) {
    const pr_reading *a = &r[i - 1]->reading, *b = &r[i]->reading;
    assert_int_equal(b->start, a->end); /* every interval, once */
    if (!a->flags && !b->flags && a->has_import_total_wh &&
        b->has_import_total_wh)
      assert_int_equal(b->import_total_wh - a->import_total_wh, b->import_wh);
  }
  /* Everything the meter recorded was delivered, byte for byte, and the
   * outbox is empty. */
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(m.db, &o, &s), 0);
  int64_t depth, next_seq;
  assert_int_equal(mtr_store_outbox_count(s, &depth), 0);
  assert_int_equal(depth, 0);
  static mtr_reading_row row;
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(mtr_store_reading_by_start(s, r[i]->reading.start, &row),
                     0);
    assert_int_equal(row.seq, r[i]->seq);
    bool found = false;
    for (size_t k = 0; k < agg.n && !found; k++)
      found = agg.recs[k].m->seq == row.seq && agg.recs[k].len == row.len &&
              memcmp(agg.recs[k].bytes, row.bytes, row.len) == 0;
    assert_true(found);
  }
  int64_t total;
  assert_int_equal(mtr_store_reading_count(s, -1, &total), 0);
  assert_int_equal(total, (int64_t)n);
  assert_int_equal(mtr_store_get_int(s, MTR_KEY_NEXT_SEQ, &next_seq), 0);
  for (size_t k = 0; k < agg.n; k++)
    if (strcmp(agg.recs[k].m->sender, m.id.id) == 0)
      assert_true(agg.recs[k].m->seq < next_seq);
  mtr_store_free(s);
  free(r);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static bool has_flag(const mh_agg *agg, const char *id, int64_t from,
                     uint32_t flag) {
  for (size_t k = 0; k < agg->n; k++) {
    const pr_msg *x = agg->recs[k].m;
    if (x->type == PR_MSG_READING && strcmp(x->sender, id) == 0 &&
        x->reading.start >= from && (x->reading.flags & flag))
      return true;
  }
  return false;
}

static void test_meter_clock_steps_across_restart_are_flagged(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX], back[GL_CLOCK_SPEC_MAX],
      ahead[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 14 * 3600 * MH_SEC, spec, &clock, &ac);
  gl_clock_spec cs;
  assert_int_equal(gl_clock_spec_parse(spec, &cs), 0);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sims");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 30s\n", NULL);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + 2 * I15 + 5 * MH_MIN);
  mh_meter_stop(&m);

  /* Restarted with a clock 20 minutes behind (a board that booted with a
   * stale clock): the open interval is flagged clock_step. */
  gl_clock_spec b = cs;
  b.virtual_start -= 20 * MH_MIN;
  gl_clock_spec_format(&b, back);
  int64_t restart = gl_clock_now(&clock);
  mh_meter_start(&m, back);
  run_until(&agg, &clock, restart + 2 * I15);
  assert_true(
      has_flag(&agg, m.id.id, restart - I15 - 20 * MH_MIN, PR_FLAG_CLOCK_STEP));
  mh_meter_stop(&m);

  /* Restarted with a clock two hours ahead: the intervals it jumped over
   * had no data and are reported missing, never invented. */
  gl_clock_spec f = cs;
  f.virtual_start += 2 * 3600 * MH_SEC;
  gl_clock_spec_format(&f, ahead);
  int64_t jump = gl_clock_now(&clock);
  mh_meter_start(&m, ahead);
  run_until(&agg, &clock, jump + I15);
  mh_meter_stop(&m);
  mh_agg_pump(&agg, 300);
  int missing = 0;
  for (size_t k = 0; k < agg.n; k++) {
    const pr_msg *x = agg.recs[k].m;
    if (x->type == PR_MSG_READING && strcmp(x->sender, m.id.id) == 0 &&
        (x->reading.flags & PR_FLAG_MISSING)) {
      missing++;
      assert_int_equal(x->reading.import_wh, 0);
      assert_false(x->reading.has_soc_bp);
    }
  }
  assert_true(missing >= 6);
  mh_check_seq_unique(&agg);
  pr_msg **r;
  size_t n = mh_readings(&agg, m.id.id, &r);
  for (size_t i = 1; i < n; i++)
    assert_int_equal(r[i]->reading.start, r[i - 1]->reading.end);
  free(r);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void test_meter_failed_commit_loses_no_interval(void **st) {
  (void)st;
  /* 120x: an interval is 7.5 s real; reads every 30 s virtual. No broker,
   * so the readings' commits are the agent's only writes. */
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(120, I15, 9 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "simf");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_meter m;
  mh_meter_config(&m, &comm, 3, &sim, 0, "mqtts://127.0.0.1:1",
                  "poll = 30s\nstate_save = 1h\n", NULL);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  /* Another writer holds the database across the first boundary for 7.5
   * s real: the agent's commit of that reading gives up after its 5 s
   * busy timeout, and its shutdown gets the database back. */
  int64_t b = gl_floor_div(t0, I15) * I15 + I15;
  mh_wait_virtual(&clock, b - 20 * MH_SEC);
  mtr_store_opts o = {0};
  mtr_store *w;
  assert_int_equal(mtr_store_open(m.db, &o, &w), 0);
  assert_int_equal(mtr_store_begin(w), 0);
  int st_exit = gt_proc_wait(m.pid, 7500);
  mtr_store_rollback(w);
  mtr_store_free(w);
  if (gt_proc_alive(m.pid))
    st_exit = gt_proc_wait(m.pid, 10000);
  assert_true(WIFEXITED(st_exit));
  assert_int_equal(WEXITSTATUS(st_exit), 1); /* a runtime failure */
  m.pid = 0;
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(strstr(log, "stopping on an error"));
  free(log);
  /* systemd would restart it. */
  mh_meter_start(&m, spec);
  mh_wait_virtual(&clock, gl_clock_now(&clock) + 2 * I15);
  mh_meter_stop(&m);

  mtr_store_opts ro = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(m.db, &ro, &s), 0);
  static mtr_reading_row row;
  int64_t first = gl_floor_div(t0, I15) * I15;
  assert_int_equal(mtr_store_reading_last(s, &row), 0);
  int64_t last = row.r.start;
  assert_true(last >= b + I15);
  for (int64_t t = first; t <= last; t += I15) {
    int rc = mtr_store_reading_by_start(s, t, &row);
    if (rc) {
      char ts[GL_TIME_STR_MAX];
      fail_msg("no reading for the interval %s", gl_time_format(t, ts));
    }
  }
  assert_int_equal(mtr_store_reading_by_start(s, b - I15, &row), 0);
  assert_false(row.r.flags & PR_FLAG_MISSING);
  mtr_store_free(s);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_kill9_loses_no_reading_and_reuses_no_seq),
      cmocka_unit_test(test_meter_clock_steps_across_restart_are_flagged),
      cmocka_unit_test(test_meter_failed_commit_loses_no_interval),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
