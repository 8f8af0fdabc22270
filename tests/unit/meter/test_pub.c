/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for outbox admission on a real SQLite file: the full-outbox
 * policy drops expired orders first, then orders and prefs, then readings
 * (the oldest, or the new one), records dropped readings, and counts.
 */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_config.h"
#include "gridlet/mtr_pub.h"
#include "gridlet/mtr_store.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char dir[GT_PATH_MAX], path[GT_PATH_MAX];
static mtr_store *store;

static int setup(void **st) {
  (void)st;
  gt_tmpdir("mpub", dir);
  gt_path(path, dir, "meter.db");
  mtr_store_opts o = {.create = true, .meter_id = "m1", .community = "c1"};
  assert_int_equal(mtr_store_open(path, &o, &store), 0);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  mtr_store_free(store);
  gt_rmtree(dir);
  return 0;
}

static mtr_pub *new_pub(int policy) {
  mtr_pub_cfg c = {.outbox_max = 3,
                   .when_full = policy,
                   .inflight = 4,
                   .interval_ns = 900,
                   .receipt_wait_ns = 1980,
                   .give_up_ns = 100000};
  mtr_pub *p;
  assert_int_equal(mtr_pub_new(&c, store, NULL, &p), 0);
  return p;
}

/* Queue a message as the agent does: outbox row and, for a reading, its
 * readings row, in one transaction. */
static bool queue(mtr_pub *p, int64_t seq, int kind, int64_t start,
                  int64_t expires, int64_t now) {
  static mtr_outbox_row o;
  static mtr_reading_row r;
  memset(&o, 0, sizeof o);
  o.seq = seq;
  o.kind = kind;
  snprintf(o.topic, sizeof o.topic, "gridlet/c1/meter/m1/x");
  o.start = start;
  o.expires = expires;
  o.len = 1;
  bool admitted = false;
  assert_int_equal(mtr_store_begin(store), 0);
  assert_int_equal(mtr_pub_admit(p, &o, now, &admitted), 0);
  if (kind == MTR_MSG_READING) {
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.r.start = start;
    r.r.end = start + 900;
    r.state = admitted ? MTR_RS_QUEUED : MTR_RS_DROPPED;
    r.len = 1;
    assert_int_equal(mtr_store_reading_add(store, &r), 0);
  }
  assert_int_equal(mtr_store_commit(store), 0);
  return admitted;
}

static int64_t state_of(int64_t seq) {
  static mtr_reading_row r;
  assert_int_equal(mtr_store_reading_get(store, seq, &r), 0);
  return r.state;
}

static void test_pub_full_outbox_drops_orders_before_readings(void **st) {
  (void)st;
  mtr_pub *p = new_pub(MTR_FULL_DROP_OLDEST);
  gt_log_capture_begin();
  assert_true(queue(p, 1, MTR_MSG_ORDER, 900, 500, 0)); /* expires 500 */
  assert_true(queue(p, 2, MTR_MSG_PREFS, 0, INT64_MAX, 0));
  assert_true(queue(p, 3, MTR_MSG_READING, 0, INT64_MAX, 0));
  /* Full: the expired order goes first. */
  assert_true(queue(p, 4, MTR_MSG_READING, 900, INT64_MAX, 1000));
  assert_true(gt_log_contains("its gate closure has passed"));
  /* Then the prefs message, to make room for a reading. */
  assert_true(queue(p, 5, MTR_MSG_READING, 1800, INT64_MAX, 1000));
  assert_true(gt_log_contains("to make room for a reading"));
  /* Then the oldest reading. */
  assert_true(queue(p, 6, MTR_MSG_READING, 2700, INT64_MAX, 1000));
  assert_true(gt_log_contains("outbox full: reading for"));
  gt_log_capture_end();
  assert_int_equal(state_of(3), MTR_RS_DROPPED);
  assert_int_equal(state_of(6), MTR_RS_QUEUED);
  static mtr_outbox_row o;
  assert_int_equal(mtr_store_outbox_oldest(store, 0, &o), 0);
  assert_int_equal(o.seq, 4);
  int64_t n;
  assert_int_equal(mtr_store_outbox_count(store, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(mtr_store_counter_get(store, "outbox_dropped", &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(mtr_store_counter_get(store, "outbox_dropped_orders", &n),
                   0);
  assert_int_equal(n, 2);
  /* An order meeting an outbox full of readings is not queued. */
  gt_log_capture_begin();
  assert_false(queue(p, 7, MTR_MSG_ORDER, 3600, 9000, 1000));
  gt_log_capture_end();
  mtr_pub_free(p);
}

static void test_pub_full_outbox_drop_newest_keeps_the_queue(void **st) {
  (void)st;
  mtr_pub *p = new_pub(MTR_FULL_DROP_NEWEST);
  for (int64_t i = 1; i <= 3; i++)
    assert_true(queue(p, i, MTR_MSG_READING, 900 * i, INT64_MAX, 0));
  gt_log_capture_begin();
  assert_false(queue(p, 4, MTR_MSG_READING, 3600, INT64_MAX, 0));
  assert_true(gt_log_contains("is dropped (policy drop-newest)"));
  gt_log_capture_end();
  assert_int_equal(state_of(1), MTR_RS_QUEUED);
  assert_int_equal(state_of(4), MTR_RS_DROPPED);
  int64_t n;
  assert_int_equal(mtr_store_counter_get(store, "outbox_dropped", &n), 0);
  assert_int_equal(n, 1);
  mtr_pub_free(p);
}

static void test_pub_gives_up_on_readings_without_receipt(void **st) {
  (void)st;
  mtr_pub *p = new_pub(MTR_FULL_DROP_OLDEST);
  assert_true(queue(p, 1, MTR_MSG_READING, 0, INT64_MAX, 0));
  assert_int_equal(mtr_store_reading_set_state(store, 1, MTR_RS_AWAITING, 5, 3),
                   0);
  gt_log_capture_begin();
  assert_int_equal(mtr_pub_pump(p, 50000), 0);
  assert_int_equal(state_of(1), MTR_RS_AWAITING);
  assert_int_equal(mtr_pub_pump(p, 200000), 0);
  assert_true(gt_log_contains("giving up on it"));
  gt_log_capture_end();
  assert_int_equal(state_of(1), MTR_RS_UNCONFIRMED);
  mtr_pub_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_pub_full_outbox_drops_orders_before_readings, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_pub_full_outbox_drop_newest_keeps_the_queue, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_pub_gives_up_on_readings_without_receipt, setup, teardown),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
