/* SPDX-License-Identifier: MIT */
/*
 * kill -9 of the real gridlet-aggregator, over and over, while meters keep
 * sending through the real broker: first at every named step of the cycle
 * (GRIDLET_AGG_CRASHPOINT: inside and after the settlement transaction,
 * after signing and after storing a checkpoint, after sealing and after
 * storing results, inside and after an ingest commit, after a PUBACK),
 * then at random moments. After a final clean run:
 *   - every interval from the first to the last is settled exactly once
 *     in the ledger, and the real auditor (gridlet-ledger audit) agrees;
 *   - every checkpoint the aggregator ever published verifies and matches
 *     the ledger at its size (the ledger is consistent with all of them);
 *   - balances equal the ledger's, and every settlement is reproduced from
 *     the ledger alone;
 *   - no meter ever received two different results for one interval.
 */
#include "aggtest.h"
#include "replay.h"

#include "gridlet/agg_store.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_balances.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/pr_seal.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define METERS 3
#define MAX_NOTES 512
#define MAX_RESULTS 4096

static agt t;
static agt_meter m[METERS], watch;
static char *notes[MAX_NOTES];
static size_t nnotes;
static pr_key_entry agg_entry;
static pr_key_table agg_table;
static pr_keyring agg_keys;

/* Results seen: (meter, interval) -> SHA-256 of the payload. */
typedef struct seen {
  char meter[PR_ID_MAX + 1];
  int64_t start;
  uint8_t digest[32];
} seen;
static seen results[MAX_RESULTS];
static size_t nresults;

static void start_daemon(const char *point) {
  char bin[GT_PATH_MAX], env[96];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  char *argv[] = {bin, "-c", t.conf, "--clock", t.spec, NULL};
  snprintf(env, sizeof env, "GRIDLET_AGG_CRASHPOINT=%s", point ? point : "");
  char *envp[] = {env, NULL};
  t.agg = gt_proc_start(argv, t.log, envp);
}

static void drain(agt_meter *mt) {
  char topic[PR_TOPIC_MAX];
  uint8_t buf[PR_SEAL_MAX];
  int n;
  while ((n = agt_next_message(mt, topic, sizeof topic, buf, sizeof buf, 0)) >=
         0) {
    pr_topic tp;
    assert_int_equal(pr_topic_parse(topic, strlen(topic), "demo", &tp, NULL),
                     0);
    pr_msg *msg = malloc(sizeof *msg);
    pr_diag d = {0};
    if (pr_open(buf, (size_t)n, &tp, &agg_keys, msg, NULL, &d) != 0)
      fail_msg("%s: does not verify: %s", topic, d.msg);
    if (msg->type == PR_MSG_CHECKPOINT && nnotes < MAX_NOTES) {
      notes[nnotes++] = strdup(msg->checkpoint.note);
    } else if (msg->type == PR_MSG_RESULT) {
      uint8_t dg[32];
      /* The result's content without its header (seq and ts may differ
       * between two signings; the content must not). */
      msg->seq = 0;
      msg->ts = 0;
      assert_int_equal(gl_sha256(&msg->result, sizeof msg->result, dg), 0);
      bool found = false;
      for (size_t i = 0; i < nresults; i++) {
        if (strcmp(results[i].meter, msg->result.meter) == 0 &&
            results[i].start == msg->result.start) {
          found = true;
          if (memcmp(results[i].digest, dg, 32) != 0)
            fail_msg("%s got two different results for one interval",
                     msg->result.meter);
        }
      }
      if (!found && nresults < MAX_RESULTS) {
        snprintf(results[nresults].meter, sizeof results[nresults].meter, "%s",
                 msg->result.meter);
        results[nresults].start = msg->result.start;
        memcpy(results[nresults].digest, dg, 32);
        nresults++;
      }
    }
    free(msg);
  }
}

static void drain_all(void) {
  for (int i = 0; i < METERS; i++)
    drain(&m[i]);
  drain(&watch);
}

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = METERS + 1,
                .sync_upto = METERS,
                .speed = 60,
                .grace = "30s",
                .vstart = "2026-06-21T10:00:20Z"};
  agt_setup(&t, "aggcrash", &o);
  for (int i = 0; i < METERS; i++) {
    agt_meter_open(&t, (unsigned)i + 1, &m[i]);
    agt_subscribe(&t, &m[i]);
  }
  /* An observer of the public topics (a meter not enrolled at the
   * aggregator may still read them). */
  agt_meter_open(&t, METERS + 1, &watch);
  agt_subscribe(&t, &watch);
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
  agt_meter_close(&watch);
  for (size_t i = 0; i < nnotes; i++)
    free(notes[i]);
  agt_teardown(&t);
  return 0;
}

static void publish_interval(int64_t s, int k) {
  agt_sleep_until(&t, s + t.interval + GL_NS_PER_SEC);
  for (int i = 0; i < METERS; i++)
    agt_reading(&t, &m[i], s, i == 1 ? 0 : 100 + 10 * k + i,
                i == 1 ? 150 + 7 * k : 0);
}

typedef struct count_ctx {
  int64_t first, last;
  int64_t n[256];
  int bad;
} count_ctx;

static int count_settlements(void *ctx, uint64_t index, const uint8_t *data,
                             size_t len) {
  (void)index;
  count_ctx *c = ctx;
  uint8_t type, ver;
  if (lg_entry_peek(data, len, &type, &ver) != 0 || type != LG_ENTRY_SETTLEMENT)
    return 0;
  lg_entry e;
  assert_int_equal(lg_entry_decode(data, len, &e, NULL), 0);
  int64_t k = (e.u.settlement.interval_start - c->first) / t.interval;
  if (k < 0 || k >= 256)
    c->bad++;
  else
    c->n[k]++;
  if (e.u.settlement.interval_start > c->last)
    c->last = e.u.settlement.interval_start;
  lg_entry_clear(&e);
  return 0;
}

static void test_kill9_at_every_step_and_at_random(void **state) {
  (void)state;
  static const char *const points[] = {
      "settle:before-commit", "settle:after-commit", "checkpoint:signed",
      "checkpoint:stored",    "results:sealed",      "results:stored",
      "ingest:before-commit", "ingest:after-commit", "publish:acked@3",
  };
  const size_t npoints = sizeof points / sizeof *points;
  gl_seeded_rand *sr = gl_seeded_rand_new(20261121);
  gl_rand r = gl_seeded_rand_rand(sr);
  int64_t s = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  size_t next_point = 0;
  int crashes = 0, kills = 0;
  start_daemon(points[next_point++]);
  for (int k = 0; k < 22; k++) {
    publish_interval(s, k);
    s += t.interval;
    /* Give the aggregator a moment to reach its crash point. */
    for (int w = 0; w < 12 && next_point <= npoints && gt_proc_alive(t.agg);
         w++)
      gt_sleep_ms(25);
    drain_all();
    if (!gt_proc_alive(t.agg)) {
      agt_wait_exit(&t, 1000);
      crashes++;
      start_daemon(next_point < npoints ? points[next_point++] : NULL);
    } else if (next_point >= npoints) {
      /* The random phase: kill -9 after a random pause. */
      uint64_t ms = 0;
      gl_rand_below(&r, 900, &ms);
      gt_sleep_ms((int)ms);
      agt_kill9(&t);
      kills++;
      start_daemon(NULL);
    }
  }
  gl_seeded_rand_free(sr);
  /* Everything armed was reached. */
  assert_true(next_point == npoints);
  assert_true(crashes >= (int)npoints - 1);
  assert_true(kills >= 5);
  /* A clean run to the end: every interval up to the last published one
   * settles. */
  for (int w = 0; w < 300 && agt_http(&t, "/healthz", NULL) != 200; w++)
    gt_sleep_ms(50);
  agt_wait_settled(&t, s - t.interval, 20000);
  gt_sleep_ms(500);
  drain_all();
  assert_int_equal(agt_stop(&t) & 0x7f, 0);
  drain_all();

  /* Exactly once, contiguous from the first interval. */
  lg_ledger *lg = NULL;
  lg_ledger_options lo = {.read_only = true};
  assert_int_equal(lg_ledger_open(t.db, &lo, &lg), 0);
  count_ctx c = {.last = INT64_MIN};
  agg_store *st = NULL;
  assert_int_equal(agg_store_open(t.db, false, true, &st), 0);
  assert_int_equal(agg_store_meta_get(st, "first_interval", &c.first), 0);
  uint64_t size = 0;
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  assert_int_equal(lg_ledger_scan(lg, 0, size, count_settlements, &c), 0);
  assert_int_equal(c.bad, 0);
  int64_t nint = (c.last - c.first) / t.interval + 1;
  assert_true(nint >= 20);
  for (int64_t k = 0; k < nint; k++)
    if (c.n[k] != 1)
      fail_msg("interval %" PRId64 " settled %" PRId64 " times", k, c.n[k]);
  /* Consistent with every checkpoint published. */
  assert_true(nnotes >= 10);
  lg_policy pol = {.log_key = &t.log_key.vkey};
  for (size_t i = 0; i < nnotes; i++) {
    lg_checkpoint cp;
    const char *why = NULL;
    if (lg_policy_verify(&pol, notes[i], strlen(notes[i]), &cp, NULL, &why))
      fail_msg("published checkpoint %zu: %s", i, why);
    uint8_t root[LG_HASH_LEN];
    assert_int_equal(lg_ledger_root(lg, cp.size, root), 0);
    assert_memory_equal(root, cp.root, LG_HASH_LEN);
  }
  /* The ledger alone reproduces every settlement. */
  replay_report rep;
  if (replay_ledger(lg, &rep) != 0)
    fail_msg("replay: %s", rep.problem);
  lg_ledger_free(lg);
  /* And the auditor agrees, balances included. */
  char bin[GT_PATH_MAX], out[GT_PATH_MAX], vkey[LG_KEY_TEXT_MAX];
  agt_bin(bin, "ledger/cli/gridlet-ledger");
  gt_path(out, t.comm.root, "audit.txt");
  assert_int_equal(lg_vkey_format(&t.log_key.vkey, vkey, sizeof vkey), 0);
  char *argv[] = {bin, "audit", "--db", t.db, "--vkey", vkey, NULL};
  assert_int_equal(agt_run_cli(argv, out), 0);
  lg_audit_report ar;
  lg_audit_options ao = {.log_key = &t.log_key.vkey};
  assert_int_equal(lg_audit_file(t.db, &ao, &ar), 0);
  assert_true(ar.ok);
  for (int i = 0; i < METERS; i++) {
    agg_balance_rec b;
    assert_int_equal(agg_store_balance_get(st, m[i].id.id, &b), 0);
    const lg_balance *l = lg_balances_find(ar.balances, m[i].id.id);
    assert_non_null(l);
    assert_int_equal(l->money, b.money);
    assert_int_equal((int64_t)l->intervals, b.intervals);
    assert_int_equal((int64_t)l->missing_readings, b.missing);
  }
  agg_store_free(st);
  lg_audit_report_clear(&ar);
  fprintf(stderr,
          "crash test: %d crash points, %d random kills, %" PRId64
          " intervals, %zu checkpoints seen, %zu results seen\n",
          crashes, kills, nint, nnotes, nresults);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kill9_at_every_step_and_at_random),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
