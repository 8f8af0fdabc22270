/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the meter's SQLite store on real files: identity binding,
 * sequence numbers across reopen and rollback, outbox order, reading
 * states, results, checkpoints (a conflicting root is refused), proof
 * checks, alarms and counters, read-only access while a writer has
 * the file open, WAL with synchronous=FULL, and retention (prune).
 */
#include "gridlet/error.h"
#include "gridlet/log.h"
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

static int setup(void **st) {
  (void)st;
  gt_tmpdir("mstore", dir);
  gt_path(path, dir, "meter.db");
  return 0;
}

static int teardown(void **st) {
  (void)st;
  gt_rmtree(dir);
  return 0;
}

static mtr_store *open_rw(void) {
  mtr_store_opts o = {.create = true, .meter_id = "m1", .community = "c1"};
  mtr_store *s = NULL;
  assert_int_equal(mtr_store_open(path, &o, &s), 0);
  return s;
}

static void test_store_binds_to_meter_and_community(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  mtr_store_free(s);
  mtr_store_opts o = {.create = true, .meter_id = "m2", .community = "c1"};
  gt_log_capture_begin();
  assert_int_equal(mtr_store_open(path, &o, &s), GL_ECONFLICT);
  assert_true(gt_log_contains("belongs to meter \"m1\", not \"m2\""));
  o.meter_id = "m1";
  o.community = "c2";
  assert_int_equal(mtr_store_open(path, &o, &s), GL_ECONFLICT);
  gt_log_capture_end();
  char missing[GT_PATH_MAX];
  gt_path(missing, dir, "none.db");
  mtr_store_opts ro = {.read_only = true};
  gt_log_capture_begin();
  assert_int_equal(mtr_store_open(missing, &ro, &s), GL_ENOENT);
  gt_log_capture_end();
}

static void test_store_sequence_numbers_survive_reopen_and_rollback(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  int64_t seq;
  assert_int_equal(mtr_store_begin(s), 0);
  assert_int_equal(mtr_store_next_seq(s, 0, &seq), 0);
  assert_int_equal(seq, 1);
  assert_int_equal(mtr_store_next_seq(s, 0, &seq), 0);
  assert_int_equal(seq, 2);
  assert_int_equal(mtr_store_commit(s), 0);
  /* A rolled-back number is handed out again: nothing signed with it
   * survived. */
  assert_int_equal(mtr_store_begin(s), 0);
  assert_int_equal(mtr_store_next_seq(s, 0, &seq), 0);
  assert_int_equal(seq, 3);
  mtr_store_rollback(s);
  mtr_store_free(s);
  s = open_rw();
  assert_int_equal(mtr_store_next_seq(s, 0, &seq), 0);
  assert_int_equal(seq, 3);
  mtr_store_free(s);
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *data = gt_read_file(from, &len);
  assert_non_null(data);
  gt_write_file(to, data, len);
  free(data);
}

static void test_store_restored_backup_never_reuses_a_seq(void **st) {
  (void)st;
  /* Floors are wall-clock milliseconds, as the agent passes them. */
  int64_t ms = INT64_C(1782036000000);
  mtr_store *s = open_rw();
  int64_t seq, used_max = 0;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mtr_store_next_seq(s, ms, &seq), 0);
    used_max = seq;
  }
  assert_int_equal(seq, ms + 2); /* the counter runs ahead of the floor */
  mtr_store_free(s);
  char backup[GT_PATH_MAX];
  gt_path(backup, dir, "backup.db");
  copy_file(path, backup);
  /* An hour of messages after the backup... */
  s = open_rw();
  for (int i = 0; i < 50; i++) {
    assert_int_equal(mtr_store_next_seq(s, ms + 3600000 + i * 1000, &seq), 0);
    assert_true(seq > used_max);
    used_max = seq;
  }
  mtr_store_free(s);
  /* ... then the disk dies and the backup is restored: its recorded
   * number is from before those messages, the clock's is not. */
  copy_file(backup, path);
  s = open_rw();
  assert_int_equal(mtr_store_next_seq(s, ms + 7200000, &seq), 0);
  assert_true(seq > used_max);
  /* Numbers stay within the protocol's range. */
  assert_int_equal(mtr_store_put_int(s, MTR_KEY_NEXT_SEQ, PR_INT_MAX), 0);
  gt_log_capture_begin();
  assert_int_equal(mtr_store_next_seq(s, ms, &seq), GL_EFULL);
  gt_log_capture_end();
  mtr_store_free(s);
}

static void test_store_outbox_keeps_seq_order(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  static mtr_outbox_row row, got;
  for (int i = 0; i < 3; i++) {
    memset(&row, 0, sizeof row);
    row.seq = 10 + i;
    row.kind = i == 1 ? MTR_MSG_ORDER : MTR_MSG_READING;
    snprintf(row.topic, sizeof row.topic, "gridlet/c1/meter/m1/reading");
    row.expires = i == 1 ? 500 : INT64_MAX;
    row.len = 3;
    memcpy(row.bytes, "abc", 3);
    assert_int_equal(mtr_store_outbox_add(s, &row), 0);
  }
  int64_t n;
  assert_int_equal(mtr_store_outbox_count(s, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(mtr_store_outbox_next(s, 0, &got), 0);
  assert_int_equal(got.seq, 10);
  assert_int_equal(got.len, 3);
  assert_memory_equal(got.bytes, "abc", 3);
  assert_int_equal(mtr_store_outbox_next(s, 10, &got), 0);
  assert_int_equal(got.seq, 11);
  assert_int_equal(mtr_store_outbox_expired(s, 1000, &got), 0);
  assert_int_equal(got.seq, 11);
  assert_int_equal(mtr_store_outbox_expired(s, 100, &got), GL_ENOENT);
  assert_int_equal(mtr_store_outbox_oldest(s, MTR_MSG_READING, &got), 0);
  assert_int_equal(got.seq, 10);
  assert_int_equal(mtr_store_outbox_delete(s, 10), 0);
  assert_int_equal(mtr_store_outbox_next(s, 0, &got), 0);
  assert_int_equal(got.seq, 11);
  assert_int_equal(mtr_store_outbox_next(s, 12, &got), GL_ENOENT);
  mtr_store_free(s);
}

static void test_store_reading_states(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  static mtr_reading_row row, got;
  for (int i = 0; i < 3; i++) {
    memset(&row, 0, sizeof row);
    row.seq = 20 + i;
    row.r.start = 900 * (int64_t)i;
    row.r.end = row.r.start + 900;
    row.r.import_wh = 100 + i;
    row.r.has_soc_bp = i == 0;
    row.r.soc_bp = 6400;
    row.r.flags = 1;
    row.state = MTR_RS_AWAITING;
    row.due = 5000 - i;
    row.len = 1;
    row.bytes[0] = (uint8_t)i;
    assert_int_equal(mtr_store_reading_add(s, &row), 0);
  }
  /* One reading per interval. */
  row.seq = 99;
  gt_log_capture_begin();
  assert_int_equal(mtr_store_reading_add(s, &row), GL_ESTORE);
  gt_log_capture_end();
  /* Walking them in seq order from any point, gaps skipped. */
  assert_int_equal(mtr_store_reading_next(s, 0, &got), 0);
  assert_int_equal(got.seq, 20);
  assert_int_equal(mtr_store_reading_next(s, 20, &got), 0);
  assert_int_equal(got.seq, 21);
  assert_int_equal(mtr_store_reading_next(s, 22, &got), GL_ENOENT);
  assert_int_equal(mtr_store_reading_by_start(s, 900, &got), 0);
  assert_int_equal(got.seq, 21);
  assert_int_equal(got.r.import_wh, 101);
  assert_false(got.r.has_soc_bp);
  assert_int_equal(mtr_store_reading_get(s, 20, &got), 0);
  assert_true(got.r.has_soc_bp);
  assert_int_equal(got.r.soc_bp, 6400);
  assert_int_equal(mtr_store_reading_due(s, 4000, &got), GL_ENOENT);
  assert_int_equal(mtr_store_reading_due(s, 4999, &got), 0);
  assert_int_equal(got.seq, 22); /* the earliest due */
  assert_int_equal(mtr_store_reading_set_state(s, 22, MTR_RS_CONFIRMED, 0, 2),
                   0);
  assert_int_equal(mtr_store_reading_due(s, 10000, &got), 0);
  assert_int_equal(got.seq, 21);
  assert_int_equal(mtr_store_reading_stale(s, 1000, &got), 0);
  assert_int_equal(got.seq, 20);
  int64_t n;
  assert_int_equal(mtr_store_reading_count(s, MTR_RS_AWAITING, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(mtr_store_reading_last(s, &got), 0);
  assert_int_equal(got.seq, 22);
  assert_int_equal(got.resends, 2);
  assert_int_equal(mtr_store_reading_prune(s, 1000000), 0);
  assert_int_equal(mtr_store_reading_count(s, -1, &n), 0);
  assert_int_equal(n, 2); /* the confirmed one is gone */
  mtr_store_free(s);
}

static void test_store_results_checkpoints_checks(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  static mtr_result_row res, got;
  memset(&res, 0, sizeof res);
  res.start = 900;
  res.end = 1800;
  res.net = -42;
  res.len = 2;
  assert_int_equal(mtr_store_result_put(s, &res), 0);
  assert_int_equal(mtr_store_result_put(s, &res), GL_EEXIST);
  assert_int_equal(mtr_store_result_get(s, 900, &got), 0);
  assert_int_equal(got.net, -42);
  assert_int_equal(mtr_store_result_last(s, &got), 0);

  mtr_ckpt_row c, p, q;
  bool hp, hq;
  memset(&c, 0, sizeof c);
  for (int64_t size = 10; size <= 30; size += 10) {
    c.size = size;
    memset(c.root, (int)size, sizeof c.root);
    snprintf(c.note, sizeof c.note, "note %lld\n", (long long)size);
    assert_int_equal(mtr_store_ckpt_put(s, &c), 0);
  }
  assert_int_equal(mtr_store_ckpt_put(s, &c), 0); /* the same again */
  c.root[0] ^= 1;
  assert_int_equal(mtr_store_ckpt_put(s, &c), GL_ECONFLICT);
  assert_int_equal(mtr_store_ckpt_neighbours(s, 20, &p, &hp, &q, &hq), 0);
  assert_true(hp && hq);
  assert_int_equal(p.size, 10);
  assert_int_equal(q.size, 30);
  assert_int_equal(mtr_store_ckpt_neighbours(s, 5, &p, &hp, &q, &hq), 0);
  assert_false(hp);
  assert_int_equal(q.size, 10);
  assert_int_equal(mtr_store_ckpt_latest(s, &p), 0);
  assert_int_equal(p.size, 30);
  assert_string_equal(p.note, "note 30\n");

  mtr_check_row k = {.kind = MTR_CHECK_INCLUSION,
                     .a = 7,
                     .size = 30,
                     .start = 900,
                     .next_try = 100};
  assert_int_equal(mtr_store_check_add(s, &k), 0);
  int64_t id = k.id;
  assert_int_equal(mtr_store_check_add(s, &k), 0);
  assert_int_equal(k.id, id);
  int64_t n, t;
  assert_int_equal(mtr_store_check_open_for(s, 900, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(mtr_store_check_next_time(s, &t), 0);
  assert_int_equal(t, 100);
  mtr_check_row due;
  assert_int_equal(mtr_store_check_due(s, 50, &due), GL_ENOENT);
  assert_int_equal(mtr_store_check_due(s, 100, &due), 0);
  due.state = MTR_CS_SENT;
  due.request_seq = 77;
  due.next_try = 200;
  assert_int_equal(mtr_store_check_update(s, &due), 0);
  assert_int_equal(mtr_store_check_by_request(s, 77, &due), 0);
  assert_int_equal(due.a, 7);
  due.state = MTR_CS_DONE;
  assert_int_equal(mtr_store_check_update(s, &due), 0);
  assert_int_equal(mtr_store_check_open_for(s, 900, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(mtr_store_check_next_time(s, &t), 0);
  assert_int_equal(t, INT64_MAX);
  mtr_store_free(s);
}

static void count_alarm(void *ctx, int64_t time, const char *kind,
                        const char *text, int64_t id) {
  (void)time;
  (void)text;
  assert_true(id > 0);
  int *n = ctx;
  if (strcmp(kind, "inclusion") == 0)
    (*n)++;
}

static void test_store_alarms_counters_and_read_only_reader(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  assert_int_equal(mtr_store_alarm_add(s, 1, "inclusion", "proof failed"), 0);
  assert_int_equal(mtr_store_counter_add(s, "rejected", 2), 0);
  assert_int_equal(mtr_store_counter_add(s, "rejected", 3), 0);
  /* A reader sees committed state while the writer keeps the file open. */
  mtr_store_opts ro = {.read_only = true};
  mtr_store *r = NULL;
  assert_int_equal(mtr_store_open(path, &ro, &r), 0);
  int64_t v;
  assert_int_equal(mtr_store_counter_get(r, "rejected", &v), 0);
  assert_int_equal(v, 5);
  int n = 0;
  assert_int_equal(mtr_store_alarm_list(r, 10, count_alarm, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(mtr_store_alarm_count(r, &v), 0);
  assert_int_equal(v, 1);
  gt_log_capture_begin();
  assert_int_equal(mtr_store_put_int(r, "x", 1), GL_ESTORE);
  gt_log_capture_end();
  mtr_store_free(r);
  mtr_store_free(s);
}

/* What the header promises for a power cut: WAL and synchronous=FULL, as
 * the connection really runs (and WAL as the file itself says). */
static void test_store_runs_wal_with_synchronous_full(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  bool wal = false, full = false;
  assert_int_equal(mtr_store_durability(s, &wal, &full), 0);
  assert_true(wal);
  assert_true(full);
  mtr_store_free(s);
  /* The database header's read/write format versions are 2 in WAL mode
   * (bytes 18 and 19), whoever opens the file next. */
  size_t len = 0;
  char *hdr = gt_read_file(path, &len);
  assert_non_null(hdr);
  assert_true(len >= 20);
  assert_int_equal(hdr[18], 2);
  assert_int_equal(hdr[19], 2);
  free(hdr);
  /* A reader opened after it runs the same way. */
  mtr_store_opts ro = {.read_only = true};
  assert_int_equal(mtr_store_open(path, &ro, &s), 0);
  assert_int_equal(mtr_store_durability(s, &wal, &full), 0);
  assert_true(wal);
  mtr_store_free(s);
}

static void add_result(mtr_store *s, int64_t start) {
  static mtr_result_row res;
  memset(&res, 0, sizeof res);
  res.start = start;
  res.end = start + 900;
  res.len = 1;
  assert_int_equal(mtr_store_result_put(s, &res), 0);
}

static void add_ckpt(mtr_store *s, int64_t size, int64_t received) {
  mtr_ckpt_row c;
  memset(&c, 0, sizeof c);
  c.size = size;
  c.received = received;
  memset(c.root, (int)size, sizeof c.root);
  snprintf(c.note, sizeof c.note, "note %lld\n", (long long)size);
  assert_int_equal(mtr_store_ckpt_put(s, &c), 0);
}

static void add_check(mtr_store *s, int kind, int64_t a, int64_t size,
                      int state, int64_t next_try) {
  mtr_check_row k = {.kind = kind, .a = a, .size = size, .start = 900};
  assert_int_equal(mtr_store_check_add(s, &k), 0);
  k.state = state;
  k.next_try = next_try;
  assert_int_equal(mtr_store_check_update(s, &k), 0);
}

/* Retention: old results, finished checks, alarms and checkpoints go; the
 * latest result and checkpoint, open checks and what they need, and the
 * newest alarm stay. */
static void test_store_prune_keeps_what_is_still_needed(void **st) {
  (void)st;
  mtr_store *s = open_rw();
  add_result(s, 0);
  add_result(s, 900);
  add_result(s, 5000);
  add_ckpt(s, 10, 100); /* old, needed by an open consistency check */
  add_ckpt(s, 20, 100); /* old, needed by an open inclusion check */
  add_ckpt(s, 30, 100); /* old, not needed: goes */
  add_ckpt(s, 40, 100); /* the latest: stays however old */
  add_check(s, MTR_CHECK_CONSISTENCY, 10, 40, MTR_CS_SENT, 50);
  add_check(s, MTR_CHECK_INCLUSION, 3, 20, MTR_CS_PENDING, 50);
  add_check(s, MTR_CHECK_INCLUSION, 4, 30, MTR_CS_DONE, 100);
  add_check(s, MTR_CHECK_INCLUSION, 5, 30, MTR_CS_FAILED, 100);
  add_check(s, MTR_CHECK_INCLUSION, 6, 30, MTR_CS_GIVEN_UP, 3000);
  assert_int_equal(mtr_store_alarm_add(s, 100, "result", "one"), 0);
  assert_int_equal(mtr_store_alarm_add(s, 200, "result", "two"), 0);
  assert_int_equal(mtr_store_alarm_add(s, 3000, "result", "three"), 0);
  int64_t last = 0;
  assert_int_equal(mtr_store_alarm_last_id(s, &last), 0);

  int64_t n = -1, v;
  assert_int_equal(mtr_store_begin(s), 0);
  assert_int_equal(mtr_store_prune(s, 2000, &n), 0);
  assert_int_equal(mtr_store_commit(s), 0);
  /* results 0 and 900; the checkpoint of size 30; checks done and failed;
   * alarms one and two. */
  assert_int_equal(n, 2 + 1 + 2 + 2);
  static mtr_result_row got;
  assert_int_equal(mtr_store_result_get(s, 0, &got), GL_ENOENT);
  assert_int_equal(mtr_store_result_get(s, 900, &got), GL_ENOENT);
  assert_int_equal(mtr_store_result_get(s, 5000, &got), 0);
  mtr_ckpt_row c;
  assert_int_equal(mtr_store_ckpt_get(s, 10, &c), 0);
  assert_int_equal(mtr_store_ckpt_get(s, 20, &c), 0);
  assert_int_equal(mtr_store_ckpt_get(s, 30, &c), GL_ENOENT);
  assert_int_equal(mtr_store_ckpt_get(s, 40, &c), 0);
  assert_int_equal(mtr_store_check_count(s, MTR_CS_SENT, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(mtr_store_check_count(s, MTR_CS_PENDING, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(mtr_store_check_count(s, MTR_CS_DONE, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(mtr_store_check_count(s, MTR_CS_GIVEN_UP, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(mtr_store_alarm_count(s, &v), 0);
  assert_int_equal(v, 1);

  /* Much later everything old goes, but never the latest result, the
   * latest checkpoint nor the newest alarm: alarm ids never go back. */
  assert_int_equal(mtr_store_prune(s, INT64_MAX, &n), 0);
  assert_int_equal(mtr_store_result_get(s, 5000, &got), 0);
  assert_int_equal(mtr_store_ckpt_latest(s, &c), 0);
  assert_int_equal(c.size, 40);
  assert_int_equal(mtr_store_alarm_count(s, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(mtr_store_alarm_add(s, 4000, "result", "four"), 0);
  assert_int_equal(mtr_store_alarm_last_id(s, &v), 0);
  assert_true(v > last);
  /* Pruning nothing is fine, and n is optional. */
  assert_int_equal(mtr_store_prune(s, 0, NULL), 0);
  mtr_store_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_store_binds_to_meter_and_community,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_store_sequence_numbers_survive_reopen_and_rollback, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_store_restored_backup_never_reuses_a_seq, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_outbox_keeps_seq_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_reading_states, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_results_checkpoints_checks,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_store_alarms_counters_and_read_only_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_runs_wal_with_synchronous_full,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_store_prune_keeps_what_is_still_needed, setup, teardown),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
