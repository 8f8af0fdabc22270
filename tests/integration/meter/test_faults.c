/* SPDX-License-Identifier: MIT */
/*
 * Device faults injected through the simulator's control port, each
 * giving the documented flags in the readings the aggregator receives:
 * counter reset, scale-factor change, counter rollover (preceded by the
 * jump to the wrap point, a reset), and a device that goes offline
 * (device_offline, estimated intervals around the outage, missing ones
 * inside it). Before a fault, the readings carry no such flag. A grid
 * meter whose profile gives impossible values (above 2^53 Wh) does not
 * stop the agent: the values are ignored and flagged.
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
  gt_community_start(&comm, "mfault", 4);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

typedef struct rig {
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_sim sim;
  mh_agg agg;
  mh_meter m;
} rig;

/* Point the grid meter of `m` at the profile file `path`. */
static void use_grid_profile(mh_meter *m, const char *path) {
  char *conf = gt_read_file(m->conf, NULL);
  assert_non_null(conf);
  char *p = strstr(conf, "profile = "); /* the first: [grid_meter] */
  assert_non_null(p);
  char *nl = strchr(p, '\n');
  size_t cap = strlen(conf) + strlen(path) + 32;
  char *fixed = malloc(cap);
  assert_non_null(fixed);
  snprintf(fixed, cap, "%.*sprofile = %s%s", (int)(p - conf), conf, path, nl);
  gt_write_file(m->conf, fixed, (size_t)-1);
  free(fixed);
  free(conf);
}

static void rig_start_with(rig *r, unsigned index, int64_t hour,
                           const char *sim_extra, const char *grid_profile) {
  mh_clock(600, I15, hour * 3600 * MH_SEC, r->spec, &r->clock, &r->ac);
  char dir[GT_PATH_MAX], name[16];
  snprintf(name, sizeof name, "sim%u", index);
  gt_path(dir, comm.root, name);
  mkdir(dir, 0700);
  mh_sim_start(&r->sim, dir, r->spec, 1, sim_extra);
  mh_agg_start(&r->agg, &comm, 4);
  mh_meter_config(&r->m, &comm, index, &r->sim, 0, NULL, "poll = 30s\n", NULL);
  if (grid_profile)
    use_grid_profile(&r->m, grid_profile);
  mh_meter_start(&r->m, r->spec);
}

static void rig_start(rig *r, unsigned index, int64_t hour,
                      const char *sim_extra) {
  rig_start_with(r, index, hour, sim_extra, NULL);
}

static void rig_stop(rig *r) {
  mh_meter_stop(&r->m);
  mh_agg_pump(&r->agg, 200);
  mh_check_seq_unique(&r->agg);
}

/* Runs after every test, failed or not, so the next one starts clean. */
static rig *current;
static int rig_teardown(void **state) {
  (void)state;
  if (current) {
    mh_meter_kill9(&current->m);
    mh_agg_free(&current->agg);
    mh_sim_stop(&current->sim);
    gl_accel_clock_free(current->ac);
    free(current);
    current = NULL;
  }
  return 0;
}

static rig *new_rig(void) {
  current = calloc(1, sizeof *current);
  assert_non_null(current);
  return current;
}

/* Run until the interval containing virtual time `t` has been reported. */
static void run_past(rig *r, int64_t t) {
  int64_t end = gl_floor_div(t, I15) * I15 + I15;
  while (gl_clock_now(&r->clock) < end + 2 * MH_MIN)
    mh_agg_pump(&r->agg, 20);
  mh_agg_pump(&r->agg, 100);
}

/* Flags of all readings of interval starts in [from, to), or-ed. */
static uint32_t flags_between(rig *r, int64_t from, int64_t to) {
  pr_msg **v;
  size_t n = mh_readings(&r->agg, r->m.id.id, &v);
  uint32_t f = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i]->reading.start >= from && v[i]->reading.start < to)
      f |= v[i]->reading.flags;
  free(v);
  return f;
}

/* On a failure: what the aggregator got, and the meter's log. */
static void dump(rig *r) {
  pr_msg **v;
  size_t n = mh_readings(&r->agg, r->m.id.id, &v);
  for (size_t i = 0; i < n; i++) {
    char t[GL_TIME_STR_MAX];
    print_message("reading %s seq %lld flags 0x%x import %lld\n",
                  gl_time_format(v[i]->reading.start, t), (long long)v[i]->seq,
                  v[i]->reading.flags, (long long)v[i]->reading.import_wh);
  }
  free(v);
  char *log = gt_read_file(r->m.log, NULL);
  for (char *line = log; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    print_message("%s\n", line);
    line = nl ? nl + 1 : NULL;
  }
  free(log);
}

#define CHECK(r, cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      dump(r);                                                                 \
      fail_msg("%s", #cond);                                                   \
    }                                                                          \
  } while (0)

static int64_t interval_of(int64_t t) {
  return gl_floor_div(t, I15) * I15;
}

static void fault(rig *r, const char *line) {
  const char *reply = mh_sim_cmd(&r->sim, line);
  if (strncmp(reply, "ok", 2) != 0)
    fail_msg("%s: %s", line, reply);
}

static void test_meter_flags_scale_change_and_counter_reset(void **st) {
  (void)st;
  rig *r = new_rig();
  rig_start(r, 1, 10, NULL);
  int64_t t0 = gl_clock_now(&r->clock);
  run_past(r, t0 + I15);
  int64_t t1 = gl_clock_now(&r->clock);
  fault(r, "fault sf sf=1 energy_sf=1 household=0 device=meter");
  run_past(r, t1 + I15);
  int64_t t2 = gl_clock_now(&r->clock);
  fault(r, "fault reset household=0 device=meter");
  run_past(r, t2 + I15);
  uint32_t before = flags_between(r, interval_of(t0) + I15, interval_of(t1));
  CHECK(r, !(before & (PR_FLAG_COUNTER_RESET | PR_FLAG_SCALE_CHANGE)));
  uint32_t sc = flags_between(r, interval_of(t1), interval_of(t1) + I15);
  CHECK(r, sc & PR_FLAG_SCALE_CHANGE);
  CHECK(r, !(sc & PR_FLAG_COUNTER_RESET));
  CHECK(r, flags_between(r, interval_of(t2), interval_of(t2) + I15) &
               PR_FLAG_COUNTER_RESET);
  char *log = gt_read_file(r->m.log, NULL);
  assert_non_null(strstr(log, "flagged counter_reset"));
  assert_non_null(strstr(log, "flagged scale_change"));
  free(log);
  rig_stop(r);
}

static void test_meter_flags_rollover(void **st) {
  (void)st;
  rig *r = new_rig();
  rig_start(r, 2, 19, "--no-battery"); /* evening: imports */
  int64_t t0 = gl_clock_now(&r->clock);
  run_past(r, t0 + I15);
  int64_t t1 = gl_clock_now(&r->clock);
  fault(r, "fault rollover household=0 device=meter margin=15");
  /* The counter first jumps to just below 2^32: a jump, flagged as a
   * reset; then it wraps: a rollover. */
  bool seen = false;
  for (int i = 0; i < 8 && !seen; i++) {
    run_past(r, gl_clock_now(&r->clock));
    seen = flags_between(r, interval_of(t1), INT64_MAX) & PR_FLAG_ROLLOVER;
  }
  CHECK(r, seen);
  CHECK(r, flags_between(r, interval_of(t1), interval_of(t1) + I15) &
               PR_FLAG_COUNTER_RESET);
  CHECK(r, !(flags_between(r, interval_of(t0) + I15, interval_of(t1)) &
             (PR_FLAG_ROLLOVER | PR_FLAG_COUNTER_RESET)));
  rig_stop(r);
}

static void test_meter_flags_device_offline_and_missing(void **st) {
  (void)st;
  rig *r = new_rig();
  rig_start(r, 3, 13, NULL);
  int64_t t0 = gl_clock_now(&r->clock);
  run_past(r, t0 + I15);
  /* Offline for 4.5 s real = 45 virtual minutes: at least two whole
   * intervals without a single read. */
  int64_t t1 = gl_clock_now(&r->clock);
  fault(r, "fault offline household=0 ms=4500");
  int64_t t2 = t1 + 45 * MH_MIN;
  run_past(r, t2 + I15);
  assert_false(flags_between(r, interval_of(t0) + I15, interval_of(t1)) &
               PR_FLAG_DEVICE_OFFLINE);
  pr_msg **v;
  size_t n = mh_readings(&r->agg, r->m.id.id, &v);
  int missing = 0, offline = 0, estimated = 0;
  for (size_t i = 1; i < n; i++) {
    const pr_reading *x = &v[i]->reading;
    assert_int_equal(x->start, v[i - 1]->reading.end); /* no gap */
    if (x->start < interval_of(t1) || x->start > interval_of(t2))
      continue;
    offline += !!(x->flags & PR_FLAG_DEVICE_OFFLINE);
    estimated += !!(x->flags & PR_FLAG_ESTIMATED);
    if (x->flags & PR_FLAG_MISSING) {
      missing++;
      assert_int_equal(x->import_wh + x->export_wh + x->pv_wh, 0);
    }
  }
  free(v);
  CHECK(r, offline >= 3);
  CHECK(r, missing >= 1);
  CHECK(r, estimated >= 1);
  rig_stop(r);
}

static int64_t counter(const char *db, const char *name) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(db, &o, &s), 0);
  int64_t v = 0;
  int rc = mtr_store_counter_get(s, name, &v);
  assert_true(rc == 0 || rc == GL_ENOENT);
  mtr_store_free(s);
  return v;
}

static void test_meter_keeps_running_with_an_impossible_counter(void **st) {
  (void)st;
  /* A profile with a wrong scale: the import register times 10^10 is
   * beyond 2^53 Wh, a value no reading can carry. */
  char src[GT_PATH_MAX], bad[GT_PATH_MAX];
  gt_source_path(src, "hal/profiles/sunspec-meter.profile");
  gt_path(bad, comm.root, "bad-meter.profile");
  char *text = gt_read_file(src, NULL);
  assert_non_null(text);
  char *sec = strstr(text, "[grid_import_energy]\n");
  assert_non_null(sec);
  size_t cap = strlen(text) + 32;
  char *prof = malloc(cap);
  assert_non_null(prof);
  size_t head = (size_t)(sec - text) + strlen("[grid_import_energy]\n");
  snprintf(prof, cap, "%.*sscale = 10\n%s", (int)head, text, text + head);
  gt_write_file(bad, prof, (size_t)-1);
  free(prof);
  free(text);

  rig *r = new_rig();
  rig_start_with(r, 4, 12, NULL, bad);
  int64_t t0 = gl_clock_now(&r->clock);
  run_past(r, t0 + 2 * I15);
  CHECK(r, gt_proc_alive(r->m.pid));
  pr_msg **v;
  size_t n = mh_readings(&r->agg, r->m.id.id, &v);
  CHECK(r, n >= 2);
  for (size_t i = 0; i < n; i++) {
    const pr_reading *x = &v[i]->reading;
    if (i)
      assert_int_equal(x->start, v[i - 1]->reading.end);
    /* The import counter is garbage: never in a reading. */
    assert_int_equal(x->import_wh, 0);
    assert_false(x->has_import_total_wh);
    assert_true(x->flags & PR_FLAG_DEVICE_OFFLINE);
  }
  free(v);
  CHECK(r, counter(r->m.db, "counter_invalid") > 0);
  char *log = gt_read_file(r->m.log, NULL);
  CHECK(r, strstr(log, "beyond any real counter") != NULL);
  CHECK(r, strstr(log, "stopping on an error") == NULL);
  free(log);
  rig_stop(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_meter_flags_scale_change_and_counter_reset,
                                rig_teardown),
      cmocka_unit_test_teardown(test_meter_flags_rollover, rig_teardown),
      cmocka_unit_test_teardown(test_meter_flags_device_offline_and_missing,
                                rig_teardown),
      cmocka_unit_test_teardown(
          test_meter_keeps_running_with_an_impossible_counter, rig_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
