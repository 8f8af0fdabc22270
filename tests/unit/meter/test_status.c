/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for `gridlet-meter status` on real database files: whether
 * the agent runs is decided by its lock, not by a PID that another
 * process may own by now; a running agent that made no reading for two
 * intervals (on its own clock) needs attention; a dead agent, or one
 * stopped for more than two intervals, needs attention; alarms
 * need attention until acknowledged (`alarms --ack`); all well exits 0.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_status.h"
#include "gridlet/mtr_store.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define I15 (900 * SEC)
#define T0 (INT64_C(1782036000) * SEC)

static char dir[GT_PATH_MAX], path[GT_PATH_MAX];

static int setup(void **st) {
  (void)st;
  gt_tmpdir("mstatus", dir);
  gt_path(path, dir, "meter.db");
  return 0;
}

static int teardown(void **st) {
  (void)st;
  gt_rmtree(dir);
  return 0;
}

/* A database as an agent leaves it: started at `start`, its last reading
 * made at `made` (0: none). */
static void make_db(int64_t start, int64_t made) {
  mtr_store_opts o = {.create = true, .meter_id = "m1", .community = "c1"};
  mtr_store *s;
  assert_int_equal(mtr_store_open(path, &o, &s), 0);
  /* This test's own PID: alive, but not an agent. */
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_AGENT_PID, (int64_t)getpid()),
                   0);
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_AGENT_START, start), 0);
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_INTERVAL, I15), 0);
  if (made) {
    static mtr_reading_row r;
    memset(&r, 0, sizeof r);
    r.seq = 1;
    r.r.start = made - I15;
    r.r.end = made;
    r.state = MTR_RS_RECEIPTED;
    r.created = made;
    snprintf(r.topic, sizeof r.topic, "t");
    r.len = 1;
    assert_int_equal(mtr_store_reading_add(s, &r), 0);
  }
  mtr_store_free(s);
}

/* The report for `now`; *text (owned) the output. */
static int report(int64_t now, char **text) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  int rc = mtr_status_report(path, now, f);
  fclose(f);
  *text = buf;
  return rc;
}

static void test_status_pid_of_another_process_is_not_an_agent(void **st) {
  (void)st;
  make_db(T0, T0 + I15);
  char *out;
  assert_int_equal(report(T0 + I15 + 60 * SEC, &out), 1);
  assert_non_null(strstr(out, "agent          not running"));
  assert_non_null(strstr(out, "attention      the agent is not running"));
  free(out);
}

static void test_status_running_agent_with_fresh_readings_is_well(void **st) {
  (void)st;
  make_db(T0, T0 + I15);
  int fd;
  assert_int_equal(mtr_store_agent_lock(path, &fd), 0);
  /* A second agent cannot take the lock. */
  int fd2;
  assert_int_equal(mtr_store_agent_lock(path, &fd2), GL_EEXIST);
  char *out;
  assert_int_equal(report(T0 + I15 + 10 * 60 * SEC, &out), 0);
  assert_non_null(strstr(out, "agent          running"));
  assert_null(strstr(out, "attention"));
  free(out);
  close(fd);
  bool running = true;
  assert_int_equal(mtr_store_agent_running(path, &running), 0);
  assert_false(running);
}

static void test_status_running_agent_without_readings_is_stale(void **st) {
  (void)st;
  make_db(T0, T0 + I15);
  int fd;
  assert_int_equal(mtr_store_agent_lock(path, &fd), 0);
  char *out;
  assert_int_equal(report(T0 + I15 + 31 * 60 * SEC, &out), 1);
  assert_non_null(strstr(out, "agent          running"));
  assert_non_null(
      strstr(out, "attention      no reading for more than two intervals"));
  free(out);
  close(fd);
  /* Never a reading since it started, long ago. */
  gt_rmtree(dir);
  gt_tmpdir("mstatus", dir);
  gt_path(path, dir, "meter.db");
  make_db(T0, 0);
  assert_int_equal(mtr_store_agent_lock(path, &fd), 0);
  assert_int_equal(report(T0 + 10 * 60 * SEC, &out), 0);
  free(out);
  assert_int_equal(report(T0 + 40 * 60 * SEC, &out), 1);
  free(out);
  close(fd);
}

/* The alarms report; *text (owned) the output. */
static int alarms(char **text) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  int rc = mtr_alarms_report(path, f);
  fclose(f);
  *text = buf;
  return rc;
}

static void add_alarm(int64_t time, const char *text) {
  mtr_store_opts o = {.meter_id = "m1", .community = "c1"};
  mtr_store *s;
  assert_int_equal(mtr_store_open(path, &o, &s), 0);
  assert_int_equal(mtr_store_alarm_add(s, time, "inclusion", text), 0);
  mtr_store_free(s);
}

/* Alarms need attention until acknowledged; they stay listed, marked; a
 * later alarm needs attention again. The agent may run meanwhile. */
static void
test_status_acknowledged_alarms_no_longer_need_attention(void **st) {
  (void)st;
  make_db(T0, T0 + I15);
  int fd;
  assert_int_equal(mtr_store_agent_lock(path, &fd), 0);
  int64_t now = T0 + I15 + 60 * SEC, n = -1;
  char *out;
  assert_int_equal(alarms(&out), 0);
  assert_non_null(strstr(out, "0 alarms, 0 not acknowledged"));
  free(out);
  assert_int_equal(mtr_alarms_ack(path, &n), 0);
  assert_int_equal(n, 0);

  add_alarm(T0, "proof failed");
  add_alarm(T0 + SEC, "proof failed again");
  assert_int_equal(report(now, &out), 1);
  assert_non_null(strstr(out, "alarms         2, 2 not acknowledged"));
  assert_non_null(strstr(out, "there are alarms"));
  free(out);
  assert_int_equal(alarms(&out), 1);
  assert_non_null(strstr(out, "2 alarms, 2 not acknowledged"));
  assert_null(strstr(out, "(acknowledged)"));
  free(out);

  assert_int_equal(mtr_alarms_ack(path, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(report(now, &out), 0);
  assert_non_null(strstr(out, "alarms         2, 0 not acknowledged"));
  assert_non_null(strstr(out, "proof failed again (acknowledged)"));
  assert_null(strstr(out, "attention"));
  free(out);
  assert_int_equal(alarms(&out), 0);
  free(out);
  assert_int_equal(mtr_alarms_ack(path, &n), 0);
  assert_int_equal(n, 0);

  add_alarm(T0 + 2 * SEC, "a new one");
  assert_int_equal(report(now, &out), 1);
  assert_non_null(strstr(out, "alarms         3, 1 not acknowledged"));
  free(out);
  assert_int_equal(alarms(&out), 1);
  assert_non_null(strstr(out, "a new one\n"));
  assert_non_null(strstr(out, "proof failed (acknowledged)"));
  free(out);
  close(fd);

  char missing[GT_PATH_MAX];
  gt_path(missing, dir, "none.db");
  gt_log_capture_begin();
  assert_int_equal(mtr_alarms_ack(missing, &n), GL_ENOENT);
  gt_log_capture_end();
}

static void put_heartbeat(int64_t agent_time, int64_t real_time) {
  mtr_store_opts o = {.meter_id = "m1", .community = "c1"};
  mtr_store *s;
  assert_int_equal(mtr_store_open(path, &o, &s), 0);
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_ALIVE, agent_time), 0);
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_ALIVE_REAL, real_time), 0);
  mtr_store_free(s);
}

/* An agent on another clock (the demo's accelerated one, months away from
 * the real time) is judged by its own clock, from its heartbeat; a
 * heartbeat that stopped in real time means a hung agent. */
static void test_status_judges_an_agent_by_its_own_clock(void **st) {
  (void)st;
  int64_t real = T0 + INT64_C(150) * 86400 * SEC;
  make_db(T0, T0 + I15);
  int fd;
  assert_int_equal(mtr_store_agent_lock(path, &fd), 0);
  put_heartbeat(T0 + I15 + 60 * SEC, real - SEC);
  char *out;
  assert_int_equal(report(real, &out), 0);
  assert_null(strstr(out, "attention"));
  free(out);
  /* Its clock moved on, no reading for over two intervals. */
  put_heartbeat(T0 + I15 + 31 * 60 * SEC, real - SEC);
  assert_int_equal(report(real, &out), 1);
  assert_non_null(
      strstr(out, "attention      no reading for more than two intervals"));
  free(out);
  /* Or its heartbeat stopped half an hour ago (real time). */
  put_heartbeat(T0 + I15 + 60 * SEC, real - 31 * 60 * SEC);
  assert_int_equal(report(real, &out), 1);
  free(out);
  close(fd);
}

/* Stopped on request a moment ago (a restart, an upgrade): no attention;
 * stopped for more than two intervals, or died (no stop recorded): the
 * agent is not running. */
static void test_status_recent_clean_stop_is_no_alarm(void **st) {
  (void)st;
  int64_t real = T0 + INT64_C(150) * 86400 * SEC;
  make_db(T0, T0 + I15);
  int64_t stop = T0 + I15 + 60 * SEC;
  mtr_store_opts o = {.meter_id = "m1", .community = "c1"};
  mtr_store *s;
  assert_int_equal(mtr_store_open(path, &o, &s), 0);
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_AGENT_STOP, stop), 0);
  mtr_store_free(s);
  put_heartbeat(stop, real - 5 * SEC);
  char *out;
  assert_int_equal(report(real, &out), 0);
  assert_non_null(strstr(out, "agent          stopped on request at "));
  assert_null(strstr(out, "attention"));
  free(out);
  put_heartbeat(stop, real - 31 * 60 * SEC);
  assert_int_equal(report(real, &out), 1);
  assert_non_null(strstr(out, "stopped on request at"));
  assert_non_null(strstr(out, "attention      the agent is not running"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_status_pid_of_another_process_is_not_an_agent, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_status_running_agent_with_fresh_readings_is_well, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_status_running_agent_without_readings_is_stale, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_status_acknowledged_alarms_no_longer_need_attention, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_status_judges_an_agent_by_its_own_clock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_recent_clean_stop_is_no_alarm,
                                      setup, teardown),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
