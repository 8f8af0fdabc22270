/* SPDX-License-Identifier: MIT */
/*
 * What the broker acknowledged is never lost (docs/protocol.md, "Delivery
 * and receipts"). paho acknowledges a message to the broker before the
 * aggregator has verified and stored it, so:
 *   - kill -9 of the real gridlet-aggregator in the middle of an ingest
 *     transaction (GRIDLET_AGG_CRASHPOINT=ingest:before-commit) and at a
 *     random moment right after readings were acknowledged: the meters
 *     here follow the delivery contract (keep each signed reading until a
 *     result for its interval says it was measured; re-publish the same
 *     bytes receipt_timeout after the interval's end), and the restarted
 *     aggregator, seeing no clean-stop mark, holds the intervals of the
 *     crash window until those re-sends are in. Every reading ends up in
 *     the ledger as an on-time reading digest, no meter is settled
 *     "missing", and every interval is settled exactly once;
 *   - SIGTERM right after a burst of acknowledged messages: the daemon
 *     closes the broker connection, stores everything it received, and
 *     marks the stop clean; every message is in the database and the next
 *     start applies no hold;
 *   - an old backup of the database restored: behind the checkpoint the
 *     broker retains, the daemon refuses to start; the newest one starts.
 * Real TLS mosquitto, real daemon by PID, real SQLite file.
 */
#include "aggtest.h"

#include "gridlet/agg_market.h"
#include "gridlet/agg_store.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/pr_seal.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define METERS 3
#define ROUNDS 2
#define RECEIPT_TIMEOUT "3m"

static agt t;
static agt_meter m[METERS];
static pr_key_entry agg_entry;
static pr_key_table agg_table;
static pr_keyring agg_keys;
static int64_t receipt_timeout;

/* A reading kept by its meter until its receipt arrives. */
typedef struct kept {
  int meter;
  int64_t start, seq, due;
  uint8_t buf[PR_SEAL_MAX];
  size_t len;
  bool receipted;
  int resent;
} kept;

static kept readings[ROUNDS * METERS];
static size_t nreadings;
static int64_t round_start[ROUNDS];

/* Occurrences of `needle` in the daemon's log (appended across runs). */
static int log_count(const char *needle) {
  char *log = gt_read_file(t.log, NULL);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
    n++;
  free(log);
  return n;
}

static void start_daemon(const char *point) {
  char bin[GT_PATH_MAX], env[96];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  char *argv[] = {bin, "-c", t.conf, "--clock", t.spec, NULL};
  snprintf(env, sizeof env, "GRIDLET_AGG_CRASHPOINT=%s", point ? point : "");
  char *envp[] = {env, NULL};
  t.agg = gt_proc_start(argv, t.log, envp);
}

/* Up and subscribed at the broker (its session then keeps what comes). */
static void wait_online(void) {
  for (int w = 0; w < 500 && agt_http(&t, "/healthz", NULL) != 200; w++)
    gt_sleep_ms(20);
  assert_int_equal(
      agt_wait_metric(&t, "gridlet_aggregator_mqtt_connected", 1, 15000), 1);
}

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = METERS,
                .speed = 60,
                .grace = "10s",
                /* One verification thread and a short ring: a burst
                 * backs up in the MQTT client's queue, where paho has
                 * already acknowledged it. */
                .extra = "receipt_timeout = " RECEIPT_TIMEOUT
                         "\n[ingest]\nworkers = 1\nqueue = 16",
                .vstart = "2026-06-21T10:00:20Z"};
  agt_setup(&t, "aggdeliv", &o);
  assert_int_equal(gl_duration_parse(RECEIPT_TIMEOUT, &receipt_timeout), 0);
  for (int i = 0; i < METERS; i++) {
    agt_meter_open(&t, (unsigned)i + 1, &m[i]);
    agt_subscribe(&t, &m[i]);
  }
  agg_entry.kid = "aggregator";
  memcpy(agg_entry.pub, t.agg_pub_key.pub, 32);
  agg_table.entries = &agg_entry;
  agg_table.n = 1;
  agg_keys = pr_key_table_keyring(&agg_table);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int i = 0; i < METERS; i++)
    agt_meter_close(&m[i]);
  agt_teardown(&t);
  return 0;
}

/* Seal and publish meter i's reading of [start, start + L); keep it. */
static void send_reading(int i, int64_t start, int k) {
  pr_msg msg;
  int64_t ts = gl_floor_div(agt_now(&t), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  assert_int_equal(
      pr_msg_init(&msg, PR_MSG_READING, m[i].id.id, ++m[i].seq, ts), 0);
  msg.reading.start = start;
  msg.reading.end = start + t.interval;
  msg.reading.import_wh = i == 1 ? 0 : 100 + 10 * k + i;
  msg.reading.export_wh = i == 1 ? 150 + 7 * k : 0;
  kept *r = &readings[nreadings++];
  r->meter = i;
  r->start = start;
  r->seq = m[i].seq;
  r->due = start + t.interval + receipt_timeout;
  r->len = agt_seal(&m[i], &msg, NULL, r->buf);
  agt_publish(&t, &m[i], PR_TOPIC_READING, NULL, r->buf, r->len);
}

/* The meters' side of the contract: results are receipts when they say
 * the reading was measured; a reading without one is re-published (the
 * same bytes) when due. */
static void meters_work(void) {
  char topic[PR_TOPIC_MAX];
  uint8_t buf[PR_SEAL_MAX];
  for (int i = 0; i < METERS; i++) {
    int n;
    while ((n = agt_next_message(&m[i], topic, sizeof topic, buf, sizeof buf,
                                 0)) >= 0) {
      pr_topic tp;
      assert_int_equal(pr_topic_parse(topic, strlen(topic), "demo", &tp, NULL),
                       0);
      pr_msg *msg = malloc(sizeof *msg);
      assert_non_null(msg);
      pr_diag d = {0};
      if (pr_open(buf, (size_t)n, &tp, &agg_keys, msg, NULL, &d) != 0)
        fail_msg("%s: does not verify: %s", topic, d.msg);
      /* Intervals between the rounds have no readings at all: their
       * results say "missing", rightly. */
      for (size_t k = 0; msg->type == PR_MSG_RESULT && k < nreadings; k++) {
        if (readings[k].meter != i || readings[k].start != msg->result.start)
          continue;
        if (msg->result.flags & PR_RESULT_MISSING)
          fail_msg("%s was settled as missing for an interval after the "
                   "broker had acknowledged its reading",
                   msg->result.meter);
        readings[k].receipted = true;
      }
      free(msg);
    }
  }
  int64_t now = agt_now(&t);
  for (size_t k = 0; k < nreadings; k++) {
    kept *r = &readings[k];
    if (r->receipted || now < r->due)
      continue;
    agt_publish(&t, &m[r->meter], PR_TOPIC_READING, NULL, r->buf, r->len);
    r->resent++;
    r->due = now + receipt_timeout;
  }
}

static bool all_receipted(void) {
  for (size_t k = 0; k < nreadings; k++)
    if (!readings[k].receipted)
      return false;
  return true;
}

/* How many of the round's readings the database holds (read-only, while
 * the daemon runs). */
static int stored(int64_t start) {
  agg_store *st = NULL;
  assert_int_equal(agg_store_open(t.db, false, true, &st), 0);
  int n = 0;
  for (int i = 0; i < METERS; i++) {
    agg_reading_rec r;
    if (agg_store_reading_find(st, start, m[i].id.id, &r) == 0)
      n++;
  }
  agg_store_free(st);
  return n;
}

typedef struct scan_ctx {
  int64_t first;
  int settled[64];
  int on_time[64], late[64], no_reading[64];
  int bad;
} scan_ctx;

static int scan(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
  (void)index;
  scan_ctx *c = ctx;
  uint8_t type, ver;
  if (lg_entry_peek(data, len, &type, &ver) != 0)
    return 0;
  if (type != LG_ENTRY_SETTLEMENT && type != LG_ENTRY_READING)
    return 0;
  lg_entry e;
  assert_int_equal(lg_entry_decode(data, len, &e, NULL), 0);
  int64_t start = type == LG_ENTRY_SETTLEMENT ? e.u.settlement.interval_start
                                              : e.u.reading.interval_start;
  int64_t k = (start - c->first) / t.interval;
  if (k < 0 || k >= 64) {
    c->bad++;
  } else if (type == LG_ENTRY_SETTLEMENT) {
    c->settled[k]++;
    for (size_t r = 0; r < e.u.settlement.n_rows; r++)
      if (e.u.settlement.rows[r].flags & LG_SETTLE_NO_READING)
        c->no_reading[k]++;
  } else if (e.u.reading.flags & AGG_READING_LATE) {
    c->late[k]++;
  } else {
    c->on_time[k]++;
  }
  lg_entry_clear(&e);
  return 0;
}

static void test_kill9_mid_ingest_loses_no_reading(void **state) {
  (void)state;
  int lost_total = 0;
  for (int k = 0; k < ROUNDS; k++) {
    int64_t s = gl_floor_div(agt_now(&t), t.interval) * t.interval;
    round_start[k] = s;
    /* Round 0 dies with the first reading in the open ingest transaction;
     * round 1 by kill -9 right after the broker acknowledged the
     * readings. */
    start_daemon(k == 0 ? "ingest:in-batch" : NULL);
    wait_online();
    agt_sleep_until(&t, s + t.interval + GL_NS_PER_SEC);
    for (int i = 0; i < METERS; i++)
      send_reading(i, s, k);
    if (k == 0) {
      assert_true(agt_wait_exit(&t, 10000) >= 0);
    } else {
      agt_kill9(&t);
    }
    lost_total += METERS - stored(s);
    /* The restart finds no clean-stop mark. */
    start_daemon(NULL);
    wait_online();
    /* The meters receipt and re-send until every reading is receipted. */
    int64_t until = s + t.interval + 3 * receipt_timeout;
    while (!all_receipted() && agt_now(&t) < until) {
      meters_work();
      gt_sleep_ms(20);
    }
    if (!all_receipted())
      fail_msg("round %d: readings without a receipt", k);
    assert_int_equal(agt_stop(&t) & 0x7f, 0);
  }
  /* The crash inside the ingest transaction lost acknowledged readings:
   * without the hold they would have been settled as missing. */
  assert_true(lost_total >= 1);
  int resent = 0;
  for (size_t k = 0; k < nreadings; k++)
    resent += readings[k].resent;
  assert_true(resent >= lost_total);
  assert_true(log_count("did not stop cleanly") >= ROUNDS);

  /* The ledger: every interval from the first settled exactly once, with
   * no meter settled without a reading, every reading on time. */
  lg_ledger *lg = NULL;
  lg_ledger_options lo = {.read_only = true};
  assert_int_equal(lg_ledger_open(t.db, &lo, &lg), 0);
  agg_store *st = NULL;
  assert_int_equal(agg_store_open(t.db, false, true, &st), 0);
  scan_ctx c = {0};
  assert_int_equal(agg_store_meta_get(st, "first_interval", &c.first), 0);
  uint64_t size = 0;
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  assert_int_equal(lg_ledger_scan(lg, 0, size, scan, &c), 0);
  lg_ledger_free(lg);
  agg_store_free(st);
  assert_int_equal(c.bad, 0);
  for (int r = 0; r < ROUNDS; r++) {
    int64_t k = (round_start[r] - c.first) / t.interval;
    assert_true(k >= 0 && k < 64);
    assert_int_equal(c.settled[k], 1);
    assert_int_equal(c.on_time[k], METERS);
    assert_int_equal(c.late[k], 0);
    assert_int_equal(c.no_reading[k], 0);
  }
  int64_t last = (round_start[ROUNDS - 1] - c.first) / t.interval;
  for (int64_t k = 0; k <= last; k++)
    if (c.settled[k] != 1)
      fail_msg("interval %" PRId64 " settled %d times", k, c.settled[k]);
  fprintf(stderr,
          "delivery: %d acknowledged readings lost in crashes, %d "
          "re-sent, none missing\n",
          lost_total, resent);
}

/* Publish `n` status messages of meter i without waiting for each
 * acknowledgement (up to the broker's receive window); returns when the
 * broker acknowledged all. Returns the first seq. */
static int64_t burst(int i, int n) {
  int64_t first = m[i].seq + 1;
  int acked = 0, sent = 0;
  while (acked < n) {
    if (sent < n) {
      pr_msg msg;
      int64_t ts = gl_floor_div(agt_now(&t), GL_NS_PER_SEC) * GL_NS_PER_SEC;
      assert_int_equal(
          pr_msg_init(&msg, PR_MSG_STATUS, m[i].id.id, m[i].seq + 1, ts), 0);
      msg.status.state = PR_STATE_ONLINE;
      uint8_t buf[PR_SEAL_MAX];
      size_t len = agt_seal(&m[i], &msg, NULL, buf);
      char topic[PR_TOPIC_MAX];
      assert_int_equal(pr_topic_build(PR_TOPIC_STATUS, t.comm.community,
                                      m[i].id.id, topic, sizeof topic),
                       0);
      pr_mqtt_msg pm = {
          .topic = topic, .payload = buf, .payload_len = len, .qos = 1};
      uint64_t tok;
      int rc = pr_mqtt_publish(m[i].mqtt, &pm, &tok);
      if (rc == 0) {
        m[i].seq++;
        sent++;
        continue;
      }
      assert_int_equal(rc, GL_EAGAIN);
    }
    pr_mqtt_wait(m[i].mqtt, 10);
    pr_mqtt_event ev;
    while (pr_mqtt_next(m[i].mqtt, &ev) == 0)
      if (ev.type == PR_MQTT_PUBLISHED) {
        assert_true(ev.ok);
        acked++;
      }
  }
  return first;
}

static void test_sigterm_stores_everything_received(void **state) {
  (void)state;
  enum { N = 400 };
  int unclean = log_count("did not stop cleanly");
  agt_start(&t, NULL);
  /* The previous run stopped cleanly: no hold at this start. */
  assert_int_equal(log_count("did not stop cleanly"), unclean);
  int64_t first[METERS];
  for (int i = 0; i < METERS; i++)
    first[i] = burst(i, N);
  /* At once: much of the burst is still queued or being verified. */
  int st = agt_stop(&t);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  agg_store *db = NULL;
  assert_int_equal(agg_store_open(t.db, false, true, &db), 0);
  for (int i = 0; i < METERS; i++)
    for (int64_t q = first[i]; q < first[i] + N; q++) {
      uint8_t dg[32];
      int outcome = 0;
      if (agg_store_msg_find(db, m[i].id.id, q, dg, &outcome) != 0)
        fail_msg("%s seq %" PRId64 " was acknowledged but not stored",
                 m[i].id.id, q);
    }
  int64_t clean = 0;
  assert_int_equal(agg_store_meta_get(db, "clean_shutdown", &clean), 0);
  assert_int_equal(clean, 1);
  agg_store_free(db);
  assert_true(log_count("stopped cleanly") >= ROUNDS + 1);
}

static void copy_file(const char *from, const char *to) {
  size_t len = 0;
  char *data = gt_read_file(from, &len);
  assert_non_null(data);
  gt_write_file(to, data, len);
  free(data);
}

/* One interval with every meter's reading, settled and its checkpoint
 * published (retained at the broker). */
static void settle_one(void) {
  int64_t s = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  agt_sleep_until(&t, s + t.interval + GL_NS_PER_SEC);
  for (int i = 0; i < METERS; i++)
    agt_reading(&t, &m[i], s, 100, 0);
  agt_wait_settled(&t, s, 20000);
  gt_sleep_ms(500);
}

static void test_restored_old_backup_is_refused(void **state) {
  (void)state;
  char backup[GT_PATH_MAX], newest[GT_PATH_MAX];
  gt_path(backup, t.comm.root, "backup.db");
  gt_path(newest, t.comm.root, "newest.db");
  /* A backup after a clean stop (the WAL is folded into the file). */
  agt_start(&t, NULL);
  settle_one();
  assert_int_equal(agt_stop(&t) & 0x7f, 0);
  copy_file(t.db, backup);
  /* The community goes on: more intervals, more checkpoints published. */
  agt_start(&t, NULL);
  settle_one();
  settle_one();
  assert_int_equal(agt_stop(&t) & 0x7f, 0);
  copy_file(t.db, newest);
  /* The old backup comes back: the daemon refuses to start. */
  copy_file(backup, t.db);
  start_daemon(NULL);
  int st = agt_wait_exit(&t, 15000);
  assert_true(st >= 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  assert_int_equal(log_count("is BEHIND what this aggregator published") +
                       log_count("does not contain the ledger"),
                   1);
  /* The newest database again: it starts, consistent. */
  copy_file(newest, t.db);
  int ok = log_count("is consistent with the database");
  agt_start(&t, NULL);
  for (int w = 0; w < 200 && log_count("is consistent with the database") == ok;
       w++)
    gt_sleep_ms(25);
  assert_int_equal(log_count("is consistent with the database"), ok + 1);
  assert_true(gt_proc_alive(t.agg));
  assert_int_equal(agt_stop(&t) & 0x7f, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kill9_mid_ingest_loses_no_reading),
      cmocka_unit_test(test_sigterm_stores_everything_received),
      cmocka_unit_test(test_restored_old_backup_is_refused),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
