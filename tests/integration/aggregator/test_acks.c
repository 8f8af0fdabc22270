/* SPDX-License-Identifier: MIT */
/*
 * Orders and prefs are acknowledged end to end (docs/protocol.md,
 * "Delivery and receipts", item 12). paho acknowledges a message to the
 * broker before the aggregator has stored it, so a kill -9 right then
 * loses it unless the meter sends it again:
 *   - the real gridlet-meter (reading the real device simulator) sends its
 *     standing limits (prefs) at start; the real gridlet-aggregator is
 *     killed -9 by its test crash point ingest:order-in-batch right after
 *     taking that message into its open transaction (the broker has its
 *     PUBACK, the database nothing). The prefs are not stored;
 *   - the aggregator restarts; the meter, which got no signed ack, sends
 *     the same bytes again after aggregator.ack_timeout, the aggregator
 *     stores them and acks, and the meter forgets them: the prefs are in
 *     the aggregator's database exactly once, nothing awaits an ack, and
 *     the meter counted its re-send;
 *   - the same for an exante order, which must land before its gate
 *     closure: the order is in the aggregator's book and database exactly
 *     once, accepted.
 * Real TLS mosquitto, real daemons by PID, real SQLite files.
 */
#include "aggtest.h"

#include "gridlet/error.h"

#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static agt t;
static agt_sim sim;
static agt_proc_meter pm;

static void start_daemon(const char *point) {
  char bin[GT_PATH_MAX], env[96];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  char *argv[] = {bin, "-c", t.conf, "--clock", t.spec, NULL};
  snprintf(env, sizeof env, "GRIDLET_AGG_CRASHPOINT=%s", point ? point : "");
  char *envp[] = {env, NULL};
  t.agg = gt_proc_start(argv, t.log, envp);
}

static void wait_online(void) {
  for (int w = 0; w < 500 && agt_http(&t, "/healthz", NULL) != 200; w++)
    gt_sleep_ms(20);
  assert_int_equal(
      agt_wait_metric(&t, "gridlet_aggregator_mqtt_connected", 1, 15000), 1);
}

/* One integer from a query with one text parameter, on a database another
 * process writes (WAL lets us read alongside). Opened read-write: after a
 * kill -9 the first reader may have to recover the WAL index, which a
 * read-only connection cannot do. -1: no answer. */
static int64_t query(const char *db, const char *sql, const char *arg) {
  sqlite3 *h = NULL;
  int64_t v = -1;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
      if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return v;
}

static int64_t agg_prefs(void) {
  return query(t.db, "SELECT count(*) FROM agg_prefs WHERE meter = ?1",
               pm.id.id);
}

static int64_t meter_awaiting(void) {
  return query(pm.db, "SELECT count(*) FROM awaiting_ack", NULL);
}

static int64_t meter_counter(const char *name) {
  int64_t v = query(pm.db, "SELECT value FROM counters WHERE name = ?1", name);
  return v < 0 ? 0 : v;
}

static int log_count(const char *path, const char *needle) {
  char *log = gt_read_file(path, NULL);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
    n++;
  free(log);
  return n;
}

static void setup_with(const char *tag, const char *mode, uint32_t speed,
                       const char *extra, const char *trading) {
  agt_opts o = {.meters = 1,
                .speed = speed,
                .mode = mode,
                .extra = extra,
                .vstart = "2026-06-21T10:00:20Z"};
  agt_setup(&t, tag, &o);
  agt_sim_start(&t, &sim, 1, "--no-battery");
  agt_meter_proc_config(&t, &pm, 1, &sim, 0, trading);
}

static int setup_expost(void **state) {
  (void)state;
  setup_with("aggacks", "expost", 60, NULL, "buy_below = 0.26\n");
  return 0;
}

/* Orders 50 s before their interval, gate closure 20 s before it: at
 * speed 10 that is 3 s of real time for the crash, the restart and the
 * meter's re-send (ack_timeout: six 2 s polls). */
static int setup_exante(void **state) {
  (void)state;
  setup_with("aggacko", "exante", 10, "gate_closure = 20s",
             "buy_below = 0.30\nsell_above = 0.08\nforecast_lag = 2m\n"
             "gate_closure = 20s\norder_margin = 30s\n");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (pm.pid > 0)
    agt_meter_proc_stop(&pm);
  agt_sim_stop(&sim);
  if (getenv("AGT_SHOW_LOG")) {
    char *log = gt_read_file(pm.log, NULL);
    fprintf(stderr, "---- meter ----\n%s", log ? log : "");
    free(log);
  }
  agt_teardown(&t);
  memset(&pm, 0, sizeof pm);
  return 0;
}

/* Start the aggregator armed to die with the first order or prefs message
 * in its open transaction, then the meter; wait for the crash. */
static void crash_on_first_order(void) {
  start_daemon("ingest:order-in-batch");
  wait_online();
  agt_meter_proc_start(&t, &pm);
  int st = agt_wait_exit(&t, 60000);
  assert_true(st != -1);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  t.agg = 0;
  assert_int_equal(log_count(t.log, "crash point ingest:order-in-batch"), 1);
}

static void test_acks_prefs_lost_in_a_crash_land_exactly_once(void **state) {
  (void)state;
  /* The meter's prefs reach the aggregator, which dies with them in its
   * open transaction: acknowledged to the broker, not stored. */
  crash_on_first_order();
  assert_int_equal(agg_prefs(), 0);
  /* The meter has them as awaiting the aggregator's ack. */
  int64_t waiting = 0;
  for (int w = 0; w < 200 && (waiting = meter_awaiting()) < 1; w++)
    gt_sleep_ms(25);
  assert_int_equal(waiting, 1);

  start_daemon(NULL);
  wait_online();
  /* The re-send lands, is stored and acked; the meter forgets it. */
  int64_t n = 0;
  for (int w = 0; w < 600 && ((n = agg_prefs()) < 1 || meter_awaiting() != 0);
       w++)
    gt_sleep_ms(50);
  assert_int_equal(n, 1);
  assert_int_equal(meter_awaiting(), 0);
  assert_true(meter_counter("orders_resent") >= 1);
  assert_true(meter_counter("acks_received") >= 1);
  assert_true(log_count(pm.log, "no ack from the aggregator") >= 1);
  assert_int_equal(meter_counter("orders_unacked"), 0);
  /* Exactly once: one stored message of the meter's order topic, the
   * prefs (the aggregator keeps every authentic message under its seq). */
  assert_int_equal(
      query(t.db,
            "SELECT count(*) FROM agg_messages WHERE meter = ?1 AND kind = 1",
            pm.id.id),
      1);
  assert_int_equal(agg_prefs(), 1);
  /* Later re-sends (if the ack crossed one) are duplicates, re-acked. */
  assert_int_equal(log_count(t.log, "seq_reuse"), 0);
  agt_stop(&t);
}

static int64_t order_rows(int64_t seq, const char *table) {
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM %s WHERE meter = ?1 AND seq = %lld", table,
           (long long)seq);
  return query(t.db, sql, pm.id.id);
}

static void
test_acks_order_lost_in_a_crash_lands_before_its_gate(void **state) {
  (void)state;
  crash_on_first_order();
  /* The order the aggregator died with waits for its ack at the meter. */
  int64_t seq = -1;
  for (int w = 0; w < 200 && seq <= 0; w++) {
    seq = query(
        pm.db, "SELECT coalesce(min(seq), -1) FROM awaiting_ack WHERE kind = 2",
        NULL);
    if (seq <= 0)
      gt_sleep_ms(10);
  }
  assert_true(seq > 0);
  assert_int_equal(order_rows(seq, "agg_orders"), 0);
  start_daemon(NULL);
  wait_online();
  int64_t n = 0;
  for (int w = 0; w < 300 && (n = order_rows(seq, "agg_orders")) < 1; w++)
    gt_sleep_ms(50);
  assert_int_equal(n, 1);
  /* Accepted (in the book), stored once, and no longer awaited. */
  assert_int_equal(order_rows(seq, "agg_messages"), 1);
  char sql[128];
  snprintf(sql, sizeof sql,
           "SELECT outcome FROM agg_messages WHERE meter = ?1 AND seq = %lld",
           (long long)seq);
  assert_int_equal(query(t.db, sql, pm.id.id), 0);
  int64_t left = 1;
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM awaiting_ack WHERE seq = %lld",
           (long long)seq);
  for (int w = 0; w < 200 && (left = query(pm.db, sql, NULL)) != 0; w++)
    gt_sleep_ms(20);
  assert_int_equal(left, 0);
  assert_true(meter_counter("orders_resent") >= 1);
  assert_int_equal(meter_counter("orders_unacked"), 0);
  assert_true(log_count(pm.log, "no ack from the aggregator for our order") >=
              1);
  agt_stop(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_acks_prefs_lost_in_a_crash_land_exactly_once, setup_expost,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_acks_order_lost_in_a_crash_lands_before_its_gate, setup_exante,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
