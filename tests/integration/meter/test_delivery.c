/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter against the device simulator and the community's TLS
 * broker, on one accelerated clock: every interval's reading arrives
 * signed and verifiable (checked as the aggregator, with pr_open); the
 * retained status and the signed last will; a broker outage of many
 * intervals loses and duplicates nothing once deduplicated by (meter,
 * seq); and the full-outbox policies, both of them.
 */
#include "gridlet/error.h"
#include "gridlet/mtr_store.h"
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
  gt_community_start(&comm, "mdeliv", 4);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

/* Pump the aggregator until virtual time `until`. */
static void run_until(mh_agg *a, const gl_clock *clock, int64_t until) {
  while (gl_clock_now(clock) < until)
    mh_agg_pump(a, 20);
}

/* Consecutive readings without flags agree with the meter's registers. */
static void check_counters(pr_msg **r, size_t n) {
  for (size_t i = 1; i < n; i++) {
    const pr_reading *a = &r[i - 1]->reading, *b = &r[i]->reading;
    assert_int_equal(b->start, a->end); /* no gap */
    if (a->flags || b->flags || !a->has_import_total_wh ||
        !b->has_import_total_wh)
      continue;
    assert_int_equal(b->import_total_wh - a->import_total_wh, b->import_wh);
    assert_int_equal(b->export_total_wh - a->export_total_wh, b->export_wh);
  }
}

static void
test_meter_every_interval_arrives_signed_and_verifiable(void **state) {
  (void)state;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 10 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim1");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 4);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n", NULL);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + 6 * I15 + MH_MIN);
  mh_agg_pump(&agg, 300);

  pr_msg **r;
  size_t n = mh_readings(&agg, m.id.id, &r);
  assert_true(n >= 6);
  check_counters(r, n);
  /* From the first full interval on, nothing is flagged: the devices
   * answered every read. */
  for (size_t i = 1; i < n; i++) {
    if (r[i]->reading.flags)
      fail_msg("reading %zu (seq %lld) has flags 0x%x", i, (long long)r[i]->seq,
               r[i]->reading.flags);
    assert_true(r[i]->reading.has_soc_bp);
    assert_true(r[i]->reading.pv_wh + r[i]->reading.import_wh +
                    r[i]->reading.discharge_wh >
                0);
  }
  mh_check_seq_unique(&agg);
  /* The meter's registers never exceed what the simulator shows now. */
  const char *st = mh_sim_cmd(&sim, "state 0");
  const char *p = strstr(st, "import_wh=");
  assert_non_null(p);
  long long shown = strtoll(p + 10, NULL, 10);
  assert_true(r[n - 1]->reading.import_total_wh <= shown);
  free(r);

  /* The retained status says online and is signed by the meter. */
  bool online = false;
  for (size_t i = 0; i < agg.n; i++)
    if (agg.recs[i].m->type == PR_MSG_STATUS &&
        agg.recs[i].m->status.state == PR_STATE_ONLINE)
      online = true;
  assert_true(online);
  /* Killed, the meter leaves its signed "offline" will behind. */
  size_t before = agg.n;
  mh_meter_kill9(&m);
  bool offline = false;
  for (int i = 0; i < 300 && !offline; i++) {
    mh_agg_pump(&agg, 20);
    for (size_t k = before; k < agg.n; k++)
      if (agg.recs[k].m->type == PR_MSG_STATUS &&
          agg.recs[k].m->status.state == PR_STATE_OFFLINE &&
          strcmp(agg.recs[k].m->sender, m.id.id) == 0)
        offline = true;
  }
  assert_true(offline);
  mh_check_seq_unique(&agg);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void
test_meter_broker_outage_loses_and_duplicates_nothing(void **state) {
  (void)state;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 12 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim2");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 4);
  mh_meter m;
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 30s\n", NULL);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + 2 * I15 + MH_MIN);

  /* The broker is gone for six intervals. */
  int64_t max_before = 0;
  for (size_t i = 0; i < agg.n; i++)
    if (agg.recs[i].m->type == PR_MSG_READING &&
        agg.recs[i].m->seq > max_before)
      max_before = agg.recs[i].m->seq;
  size_t n_before = agg.n;
  gt_community_broker_stop(&comm);
  int64_t down = gl_clock_now(&clock);
  run_until(&agg, &clock, down + 6 * I15);
  gt_community_broker_start(&comm);
  mh_agg_wait_subscribed(&agg, 15000);
  int64_t up = gl_clock_now(&clock);
  /* Everything up to the interval before now must arrive. */
  int64_t last_end = gl_floor_div(up, I15) * I15;
  pr_msg **r = NULL;
  size_t n = 0;
  for (int i = 0; i < 400; i++) {
    mh_agg_pump(&agg, 50);
    free(r);
    n = mh_readings(&agg, m.id.id, &r);
    /* Re-sent readings may arrive out of order (a publish the outage
     * interrupted goes out again after later ones): wait until the whole
     * span is contiguous, not merely long enough. */
    if (n && r[n - 1]->reading.end >= last_end &&
        (int64_t)n * I15 == r[n - 1]->reading.end - r[0]->reading.start)
      break;
  }
  assert_true(n >= 8);
  assert_true(r[n - 1]->reading.end >= last_end);
  check_counters(r, n); /* no gap, no interval twice */
  for (size_t i = 1; i < n; i++)
    assert_false(r[i]->reading.flags & PR_FLAG_MISSING);
  mh_check_seq_unique(&agg);
  /* Duplicates were delivered (re-sends), and are byte-identical. */
  free(r);
  /* The readings queued during the outage were replayed in seq order. */
  int64_t last = max_before;
  int replayed = 0;
  for (size_t i = n_before; i < agg.n; i++) {
    const pr_msg *x = agg.recs[i].m;
    if (x->type != PR_MSG_READING || x->seq <= max_before)
      continue;
    bool again = false;
    for (size_t k = n_before; k < i && !again; k++)
      again = agg.recs[k].m->seq == x->seq;
    if (again)
      continue;
    if (x->seq <= last)
      fail_msg("reading seq %lld arrived after seq %lld", (long long)x->seq,
               (long long)last);
    last = x->seq;
    replayed++;
  }
  assert_true(replayed >= 5);

  /* Killed now, the meter leaves a will signed around the reconnection,
   * not at the start of the outage an hour and a half before. */
  size_t before = agg.n;
  mh_meter_kill9(&m);
  const pr_msg *will = NULL;
  for (int i = 0; i < 300 && !will; i++) {
    mh_agg_pump(&agg, 20);
    for (size_t k = before; k < agg.n && !will; k++)
      if (agg.recs[k].m->type == PR_MSG_STATUS &&
          agg.recs[k].m->status.state == PR_STATE_OFFLINE &&
          strcmp(agg.recs[k].m->sender, m.id.id) == 0)
        will = agg.recs[k].m;
  }
  assert_non_null(will);
  if (will->ts < up - 30 * MH_MIN) {
    char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX];
    fail_msg("the will was signed at %s, the broker came back at %s",
             gl_time_format(will->ts, t1), gl_time_format(up, t2));
  }

  /* Stopped cleanly, it says "offline" itself: a new status, after
   * everything else it signed. */
  mh_meter_start(&m, spec);
  bool online = false;
  for (int i = 0; i < 500 && !online; i++) {
    mh_agg_pump(&agg, 20);
    for (size_t k = before; k < agg.n && !online; k++)
      online = agg.recs[k].m->type == PR_MSG_STATUS &&
               agg.recs[k].m->status.state == PR_STATE_ONLINE &&
               strcmp(agg.recs[k].m->sender, m.id.id) == 0;
  }
  assert_true(online);
  int64_t top = 0;
  for (size_t k = 0; k < agg.n; k++)
    if (strcmp(agg.recs[k].m->sender, m.id.id) == 0 && agg.recs[k].m->seq > top)
      top = agg.recs[k].m->seq;
  before = agg.n;
  int64_t stop = gl_clock_now(&clock);
  mh_meter_stop(&m);
  bool offline = false;
  for (int i = 0; i < 150 && !offline; i++) {
    mh_agg_pump(&agg, 20);
    for (size_t k = before; k < agg.n && !offline; k++) {
      const pr_msg *x = agg.recs[k].m;
      offline = x->type == PR_MSG_STATUS &&
                x->status.state == PR_STATE_OFFLINE &&
                strcmp(x->sender, m.id.id) == 0 && x->seq > top &&
                x->ts >= stop - MH_MIN;
    }
  }
  assert_true(offline);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static int64_t count_state(mtr_store *s, int st) {
  int64_t v = -1;
  assert_int_equal(mtr_store_reading_count(s, st, &v), 0);
  return v;
}

static void outbox_full(unsigned index, const char *policy) {
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(2400, I15, 9 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX], extra[128];
  snprintf(extra, sizeof extra, "sim%u", index);
  gt_path(dir, comm.root, extra);
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  /* A broker that is never there: nothing leaves the outbox. */
  snprintf(extra, sizeof extra, "[outbox]\nmax_messages = 10\nwhen_full = %s\n",
           policy);
  mh_meter m;
  mh_meter_config(&m, &comm, index, &sim, 0, "mqtts://127.0.0.1:1",
                  "poll = 60s\n", extra);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  mh_wait_virtual(&clock, t0 + 16 * I15 + MH_MIN);
  mh_meter_stop(&m);

  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(m.db, &o, &s), 0);
  int64_t depth, dropped;
  assert_int_equal(mtr_store_outbox_count(s, &depth), 0);
  assert_int_equal(depth, 10);
  int64_t nd = count_state(s, MTR_RS_DROPPED);
  int64_t nq = count_state(s, MTR_RS_QUEUED);
  assert_int_equal(nq, 10);
  assert_true(nd >= 5);
  assert_int_equal(mtr_store_counter_get(s, "outbox_dropped", &dropped), 0);
  assert_int_equal(dropped, nd);
  /* Which ones were kept depends on the policy. */
  static mtr_outbox_row row;
  static mtr_reading_row last;
  assert_int_equal(mtr_store_outbox_oldest(s, 0, &row), 0);
  assert_int_equal(row.kind, MTR_MSG_READING); /* prefs went first */
  assert_int_equal(mtr_store_reading_last(s, &last), 0);
  if (strcmp(policy, "drop-oldest") == 0) {
    assert_int_equal(last.state, MTR_RS_QUEUED);
    assert_int_equal(row.start, last.r.start - 9 * I15);
  } else {
    assert_int_equal(last.state, MTR_RS_DROPPED);
  }
  mtr_store_free(s);
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(strstr(log, "outbox full"));
  assert_non_null(strstr(log, "dropped from the outbox: to make room"));
  free(log);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void test_meter_outbox_full_drops_oldest_reading(void **state) {
  (void)state;
  outbox_full(3, "drop-oldest");
}

static void test_meter_outbox_full_drops_newest_reading(void **state) {
  (void)state;
  outbox_full(4, "drop-newest");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_every_interval_arrives_signed_and_verifiable),
      cmocka_unit_test(test_meter_broker_outage_loses_and_duplicates_nothing),
      cmocka_unit_test(test_meter_outbox_full_drops_oldest_reading),
      cmocka_unit_test(test_meter_outbox_full_drops_newest_reading),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
