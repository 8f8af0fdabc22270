/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for receipts and ledger checks, against a real ledger in a
 * SQLite file: a result is the receipt; inclusion proofs confirm the
 * reading; consistency proofs link checkpoints; a forged proof, a split
 * view, two different results for one interval, a result that omits the
 * reading and a late reading each get their documented outcome.
 */
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/log.h"
#include "gridlet/mtr_audit.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_seal.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define T0 (INT64_C(1782036000) * SEC)
#define I15 (900 * SEC)

typedef struct fx {
  char dir[GT_PATH_MAX];
  mtr_store *store;
  mtr_audit *audit;
  lg_ledger *lg;
  lg_signer signer;
  gl_ed25519_key meter_key;
  char *notes[64];
  int64_t seq;
} fx;

static fx F;

static int setup(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  gt_tmpdir("maudit", F.dir);
  char path[GT_PATH_MAX];
  gt_path(path, F.dir, "meter.db");
  mtr_store_opts o = {.create = true, .meter_id = "m1", .community = "c1"};
  assert_int_equal(mtr_store_open(path, &o, &F.store), 0);
  gt_path(path, F.dir, "ledger.db");
  lg_ledger_options lo = {.origin = "gridlet/c1", .create = true};
  assert_int_equal(lg_ledger_open(path, &lo, &F.lg), 0);
  uint8_t seed[32] = {7};
  assert_int_equal(
      lg_signer_from_seed("gridlet/c1", LG_SIG_ED25519, seed, &F.signer), 0);
  uint8_t mseed[32] = {9};
  assert_int_equal(gl_ed25519_from_seed(mseed, &F.meter_key), 0);
  mtr_audit_cfg c = {.meter_id = "m1",
                     .log_key = &F.signer.vkey,
                     .check_ledger = true,
                     .proof_timeout_ns = 60 * SEC};
  assert_int_equal(mtr_audit_new(&c, F.store, &F.audit), 0);
  F.seq = 100;
  return 0;
}

static int teardown(void **st) {
  (void)st;
  for (int i = 0; i < 64; i++)
    free(F.notes[i]);
  mtr_audit_free(F.audit);
  lg_ledger_free(F.lg);
  mtr_store_free(F.store);
  gt_rmtree(F.dir);
  return 0;
}

/* The meter made and sent a reading for the interval at `start`. */
static void add_reading(int64_t seq, int64_t start, uint32_t flags,
                        mtr_reading_row *row) {
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, "m1", seq, start + I15), 0);
  m.reading.start = start;
  m.reading.end = start + I15;
  m.reading.import_wh = flags ? 0 : 120 + seq;
  m.reading.flags = flags;
  memset(row, 0, sizeof *row);
  row->seq = seq;
  row->r = m.reading;
  row->state = MTR_RS_AWAITING;
  snprintf(row->topic, sizeof row->topic, "gridlet/c1/meter/m1/reading");
  assert_int_equal(
      pr_seal(&m, &F.meter_key, row->bytes, sizeof row->bytes, &row->len, NULL),
      0);
  assert_int_equal(mtr_store_reading_add(F.store, row), 0);
}

/* The aggregator logs it (reading digest and settlement) and signs a
 * checkpoint; *first gets the digest's index. Returns the tree size. */
static int64_t log_reading_as(const mtr_reading_row *row, lg_settlement_row sr,
                              uint64_t *first);

static int64_t log_reading(const mtr_reading_row *row, int64_t net,
                           uint64_t *first) {
  lg_settlement_row sr = {.grid_import_wh = row->r.import_wh, .money = net};
  return log_reading_as(row, sr, first);
}

/* The same with our settlement row as given. */
static int64_t log_reading_as(const mtr_reading_row *row, lg_settlement_row sr,
                              uint64_t *first) {
  int64_t net = sr.money;
  lg_entry e[2];
  memset(e, 0, sizeof e);
  e[0].type = LG_ENTRY_READING;
  e[0].u.reading.interval_start = row->r.start;
  snprintf(e[0].u.reading.meter_id, sizeof e[0].u.reading.meter_id, "m1");
  e[0].u.reading.seq = (uint64_t)row->seq;
  e[0].u.reading.import_wh = row->r.import_wh;
  e[0].u.reading.flags = row->r.flags;
  assert_int_equal(gl_sha256(row->bytes, row->len, e[0].u.reading.msg_digest),
                   0);
  snprintf(sr.meter_id, sizeof sr.meter_id, "m1");
  e[1].type = LG_ENTRY_SETTLEMENT;
  e[1].u.settlement = (lg_settlement){.interval_start = row->r.start,
                                      .interval_len_s = 900,
                                      .utility_money = -net - sr.fee,
                                      .fee_money = sr.fee,
                                      .n_rows = 1,
                                      .rows = &sr};
  assert_int_equal(lg_ledger_append_entries(F.lg, e, 2, first), 0);
  char *note;
  assert_int_equal(lg_ledger_checkpoint(F.lg, &F.signer, &note), 0);
  int64_t size = (int64_t)*first + 2;
  F.notes[size] = note;
  return size;
}

static int feed_checkpoint(const char *note) {
  pr_msg m;
  assert_int_equal(
      pr_msg_init(&m, PR_MSG_CHECKPOINT, PR_AGGREGATOR_ID, ++F.seq, T0), 0);
  snprintf(m.checkpoint.note, sizeof m.checkpoint.note, "%s", note);
  return mtr_audit_checkpoint(F.audit, &m, T0);
}

/* The last result fed, to repeat it byte for byte. */
static pr_msg last_result;
static uint8_t last_bytes[PR_SEAL_MAX];
static size_t last_len;

static int feed_result(int64_t start, int64_t net, int64_t size,
                       const int64_t *entries, size_t n, uint32_t flags) {
  pr_msg m;
  assert_int_equal(
      pr_msg_init(&m, PR_MSG_RESULT, PR_AGGREGATOR_ID, ++F.seq, T0), 0);
  snprintf(m.result.meter, sizeof m.result.meter, "m1");
  m.result.start = start;
  m.result.end = start + I15;
  m.result.mode = PR_MODE_EXPOST;
  m.result.flags = flags;
  if (net < 0)
    m.result.settlement.grid_cost = -net;
  else
    m.result.settlement.grid_revenue = net;
  m.result.settlement.net = net;
  /* An honest aggregator settles what the reading measured, all from the
   * grid (as log_reading records it). */
  static mtr_reading_row rd;
  if (!(flags & PR_RESULT_MISSING) &&
      mtr_store_reading_by_start(F.store, start, &rd) == 0) {
    m.result.settlement.import_wh = rd.r.import_wh;
    m.result.settlement.export_wh = rd.r.export_wh;
    m.result.settlement.grid_buy_wh = rd.r.import_wh;
    m.result.settlement.grid_sell_wh = rd.r.export_wh;
  }
  m.result.ledger.size = size;
  m.result.ledger.nentries = n;
  if (n)
    memcpy(m.result.ledger.entries, entries, n * sizeof *entries);
  uint8_t buf[PR_SEAL_MAX];
  size_t len;
  gl_ed25519_key k;
  uint8_t seed[32] = {3};
  assert_int_equal(gl_ed25519_from_seed(seed, &k), 0);
  assert_int_equal(pr_seal(&m, &k, buf, sizeof buf, &len, NULL), 0);
  last_result = m;
  memcpy(last_bytes, buf, len);
  last_len = len;
  return mtr_audit_result(F.audit, &m, buf, len, T0);
}

/* Answer every due request from the ledger; `forge` spoils the next
 * inclusion proof. Returns how many were answered. */
static int answer_all(bool forge) {
  int n = 0;
  mtr_check_row k;
  pr_proof_request q;
  while (mtr_audit_next_request(F.audit, T0, &k, &q) == 0) {
    int64_t rseq = ++F.seq;
    assert_int_equal(mtr_audit_request_sent(F.audit, &k, rseq, T0), 0);
    pr_msg m;
    assert_int_equal(
        pr_msg_init(&m, PR_MSG_PROOF_RESPONSE, PR_AGGREGATOR_ID, ++F.seq, T0),
        0);
    pr_proof_response *p = &m.proof_response;
    snprintf(p->meter, sizeof p->meter, "m1");
    p->request_seq = rseq;
    p->kind = q.kind;
    p->size = q.size;
    p->status = PR_PROOF_OK;
    lg_hash path[LG_PROOF_MAX];
    size_t np;
    if (q.kind == PR_PROOF_INCLUSION) {
      p->index = q.index;
      assert_int_equal(lg_ledger_inclusion_proof(F.lg, (uint64_t)q.index,
                                                 (uint64_t)q.size, path,
                                                 LG_PROOF_MAX, &np),
                       0);
      uint8_t *data;
      size_t len;
      assert_int_equal(lg_ledger_entry(F.lg, (uint64_t)q.index, &data, &len),
                       0);
      memcpy(p->entry, data, len);
      p->entry_len = len;
      free(data);
      if (forge && np) {
        path[np - 1].b[5] ^= 1;
        forge = false;
      }
    } else {
      p->old_size = q.old_size;
      assert_int_equal(lg_ledger_consistency_proof(F.lg, (uint64_t)q.old_size,
                                                   (uint64_t)q.size, path,
                                                   LG_PROOF_MAX, &np),
                       0);
    }
    p->npath = np;
    for (size_t i = 0; i < np; i++)
      memcpy(p->path[i], path[i].b, 32);
    if (F.notes[q.size])
      snprintf(p->note, sizeof p->note, "%s", F.notes[q.size]);
    assert_int_equal(mtr_audit_proof_response(F.audit, &m, T0), 0);
    n++;
  }
  return n;
}

static int64_t counter(const char *name) {
  int64_t v = 0;
  int rc = mtr_store_counter_get(F.store, name, &v);
  assert_true(rc == 0 || rc == GL_ENOENT);
  return v;
}

static int state_of(int64_t seq) {
  static mtr_reading_row r;
  assert_int_equal(mtr_store_reading_get(F.store, seq, &r), 0);
  return r.state;
}

static void test_audit_result_is_receipt_and_ledger_confirms(void **st) {
  (void)st;
  static mtr_reading_row r1, r2;
  uint64_t first;
  add_reading(1, T0, 0, &r1);
  int64_t size1 = log_reading(&r1, -36000, &first);
  assert_int_equal(feed_checkpoint(F.notes[size1]), 0);
  int64_t e1[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(feed_result(T0, -36000, size1, e1, 2, 0), 0);
  assert_int_equal(state_of(1), MTR_RS_RECEIPTED);
  assert_int_equal(answer_all(false), 2);
  assert_int_equal(state_of(1), MTR_RS_CONFIRMED);
  /* A second interval: its checkpoint is proven consistent with the
   * first. */
  add_reading(2, T0 + I15, 0, &r2);
  int64_t size2 = log_reading(&r2, 5000, &first);
  assert_int_equal(feed_checkpoint(F.notes[size2]), 0);
  int64_t e2[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(feed_result(T0 + I15, 5000, size2, e2, 2, 0), 0);
  assert_int_equal(answer_all(false), 3); /* 2 inclusion + 1 consistency */
  assert_int_equal(state_of(2), MTR_RS_CONFIRMED);
  int64_t done;
  assert_int_equal(mtr_store_check_count(F.store, MTR_CS_DONE, &done), 0);
  assert_int_equal(done, 5);
  assert_int_equal(counter("alarms"), 0);
  /* The same result again (the aggregator repeats it when our reading
   * arrives twice) is a harmless repeat. */
  assert_int_equal(
      mtr_audit_result(F.audit, &last_result, last_bytes, last_len, T0), 0);
  assert_int_equal(counter("alarms"), 0);
  assert_int_equal(counter("results_repeated"), 1);
}

static void test_audit_alarms_on_misbehaviour(void **st) {
  (void)st;
  static mtr_reading_row r1, r2, r3;
  uint64_t first;
  gt_log_capture_begin();
  /* A forged inclusion proof. */
  add_reading(1, T0, 0, &r1);
  int64_t size1 = log_reading(&r1, -100, &first);
  int64_t e1[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(feed_result(T0, -100, size1, e1, 2, 0), 0);
  answer_all(true);
  assert_int_equal(counter("alarm_inclusion"), 1);
  assert_true(gt_log_contains("ALARM (inclusion)"));
  /* ... so the reading could not be confirmed: sent again. */
  assert_int_equal(state_of(1), MTR_RS_AWAITING);
  assert_int_equal(counter("alarm_receipt"), 1);

  /* A result that leaves the reading out. */
  add_reading(2, T0 + I15, 0, &r2);
  int64_t size2 = log_reading(&r2, -100, &first);
  int64_t only_settlement = (int64_t)first + 1;
  assert_int_equal(feed_result(T0 + I15, -100, size2, &only_settlement, 1, 0),
                   0);
  answer_all(false);
  assert_int_equal(state_of(2), MTR_RS_AWAITING);
  assert_int_equal(counter("alarm_receipt"), 2);
  assert_true(gt_log_contains("do not include our reading (seq 2)"));

  /* Two different results for one interval. */
  assert_int_equal(feed_result(T0 + I15, -200, size2, &only_settlement, 1, 0),
                   0);
  assert_int_equal(counter("alarm_result"), 1);

  /* A split view: another history of the same size. */
  char path[GT_PATH_MAX];
  gt_path(path, F.dir, "fork.db");
  lg_ledger_options lo = {.origin = "gridlet/c1", .create = true};
  lg_ledger *fork;
  assert_int_equal(lg_ledger_open(path, &lo, &fork), 0);
  for (int64_t i = 0; i < size2; i++) {
    lg_entry e = {.type = LG_ENTRY_PARAM};
    snprintf(e.u.param.key, sizeof e.u.param.key, "k");
    snprintf(e.u.param.value, sizeof e.u.param.value, "%lld", (long long)i);
    assert_int_equal(lg_ledger_append_entries(fork, &e, 1, NULL), 0);
  }
  char *note;
  assert_int_equal(lg_ledger_checkpoint(fork, &F.signer, &note), 0);
  assert_int_equal(feed_checkpoint(F.notes[size2]), 0);
  assert_int_equal(feed_checkpoint(note), 0);
  free(note);
  lg_ledger_free(fork);
  assert_int_equal(counter("alarm_split_view"), 1);
  /* A checkpoint signed by another key. */
  lg_signer other;
  uint8_t seed[32] = {42};
  assert_int_equal(
      lg_signer_from_seed("gridlet/c1", LG_SIG_ED25519, seed, &other), 0);
  lg_checkpoint cp = {.size = 1};
  snprintf(cp.origin, sizeof cp.origin, "gridlet/c1");
  char buf[LG_CHECKPOINT_TEXT_MAX + LG_SIGLINE_MAX];
  assert_int_equal(lg_checkpoint_sign(&cp, &other, buf, sizeof buf, NULL), 0);
  assert_int_equal(feed_checkpoint(buf), 0);
  assert_int_equal(counter("alarm_checkpoint"), 1);

  /* Settled without our reading: the reading arrived late. */
  add_reading(3, T0 + 2 * I15, 0, &r3);
  assert_int_equal(
      feed_result(T0 + 2 * I15, 0, size2, NULL, 0, PR_RESULT_MISSING), 0);
  assert_int_equal(state_of(3), MTR_RS_LATE);
  assert_int_equal(counter("readings_late"), 1);
  gt_log_capture_end();
  int64_t n;
  assert_int_equal(mtr_store_alarm_count(F.store, &n), 0);
  assert_int_equal(n, 6);
}

/* Run the proof requests for `rounds` rounds of 10 minutes from `from`,
 * never answering. Returns how many were sent. */
static int ignore_requests(int64_t from, int rounds) {
  int sent = 0;
  for (int round = 0; round < rounds; round++) {
    int64_t now = from + (int64_t)round * 10 * 60 * SEC;
    mtr_check_row k;
    pr_proof_request q;
    while (mtr_audit_next_request(F.audit, now, &k, &q) == 0) {
      assert_int_equal(mtr_audit_request_sent(F.audit, &k, ++F.seq, now), 0);
      sent++;
    }
  }
  return sent;
}

static void
test_audit_unanswered_proofs_are_asked_again_on_a_repeat(void **st) {
  (void)st;
  static mtr_reading_row r1;
  uint64_t first;
  add_reading(1, T0, 0, &r1);
  int64_t size1 = log_reading(&r1, -36000, &first);
  assert_int_equal(feed_checkpoint(F.notes[size1]), 0);
  int64_t e1[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(feed_result(T0, -36000, size1, e1, 2, 0), 0);
  assert_int_equal(state_of(1), MTR_RS_RECEIPTED);
  /* The aggregator restarts and answers nothing for a long while: the
   * proofs are given up. That is no sign of misbehaviour: no alarm; the
   * reading is sent again, to get the result again. */
  gt_log_capture_begin();
  int sent = ignore_requests(T0, 48);
  assert_int_equal(sent, 2 * MTR_AUDIT_ATTEMPTS);
  assert_int_equal(counter("alarms"), 0);
  assert_int_equal(counter("proofs_given_up"), 2);
  assert_int_equal(counter("receipts_unchecked"), 1);
  assert_true(gt_log_contains("the aggregator did not answer"));
  gt_log_capture_end();
  assert_int_equal(state_of(1), MTR_RS_AWAITING);
  int64_t n;
  assert_int_equal(mtr_store_check_count(F.store, MTR_CS_GIVEN_UP, &n), 0);
  assert_int_equal(n, 2);
  /* Back, it re-publishes its stored result byte for byte (protocol rule
   * 5): the checks are made again, and the reading is confirmed. */
  assert_int_equal(
      mtr_audit_result(F.audit, &last_result, last_bytes, last_len, T0), 0);
  assert_int_equal(state_of(1), MTR_RS_RECEIPTED);
  assert_int_equal(answer_all(false), 2);
  assert_int_equal(state_of(1), MTR_RS_CONFIRMED);
  assert_int_equal(counter("alarms"), 0);
  assert_int_equal(mtr_store_check_count(F.store, MTR_CS_GIVEN_UP, &n), 0);
  assert_int_equal(n, 0);
}

/* A forked history of `size` entries signed with the same log key. */
static char *fork_note(const char *name, int64_t size, lg_ledger **out) {
  char path[GT_PATH_MAX];
  gt_path(path, F.dir, name);
  lg_ledger_options lo = {.origin = "gridlet/c1", .create = true};
  lg_ledger *fork;
  assert_int_equal(lg_ledger_open(path, &lo, &fork), 0);
  for (int64_t i = 0; i < size; i++) {
    lg_entry e = {.type = LG_ENTRY_PARAM};
    snprintf(e.u.param.key, sizeof e.u.param.key, "k");
    snprintf(e.u.param.value, sizeof e.u.param.value, "x%lld", (long long)i);
    assert_int_equal(lg_ledger_append_entries(fork, &e, 1, NULL), 0);
  }
  char *note;
  assert_int_equal(lg_ledger_checkpoint(fork, &F.signer, &note), 0);
  *out = fork;
  return note;
}

/* Answer every due consistency request at `now` with `status`; with OK
 * the proof comes from `lg` with `note`. */
static int answer_consistency(int64_t now, lg_ledger *lg, int status,
                              const char *note) {
  int n = 0;
  mtr_check_row k;
  pr_proof_request q;
  while (mtr_audit_next_request(F.audit, now, &k, &q) == 0) {
    assert_int_equal(q.kind, PR_PROOF_CONSISTENCY);
    int64_t rseq = ++F.seq;
    assert_int_equal(mtr_audit_request_sent(F.audit, &k, rseq, now), 0);
    pr_msg m;
    assert_int_equal(
        pr_msg_init(&m, PR_MSG_PROOF_RESPONSE, PR_AGGREGATOR_ID, ++F.seq, now),
        0);
    pr_proof_response *p = &m.proof_response;
    snprintf(p->meter, sizeof p->meter, "m1");
    p->request_seq = rseq;
    p->kind = q.kind;
    p->size = q.size;
    p->old_size = q.old_size;
    p->status = status;
    if (status == PR_PROOF_OK) {
      lg_hash path[LG_PROOF_MAX];
      size_t np = 0;
      assert_int_equal(lg_ledger_consistency_proof(lg, (uint64_t)q.old_size,
                                                   (uint64_t)q.size, path,
                                                   LG_PROOF_MAX, &np),
                       0);
      p->npath = np;
      for (size_t i = 0; i < np; i++)
        memcpy(p->path[i], path[i].b, 32);
      snprintf(p->note, sizeof p->note, "%s", note);
    }
    assert_int_equal(mtr_audit_proof_response(F.audit, &m, now), 0);
    n++;
  }
  return n;
}

/* Our ledger of one reading, then a checkpoint of a longer forked one:
 * a consistency check between the two is due. */
static char *consistency_due(lg_ledger **fork) {
  static mtr_reading_row r1;
  uint64_t first;
  add_reading(1, T0, 0, &r1);
  int64_t size1 = log_reading(&r1, -36000, &first);
  assert_int_equal(feed_checkpoint(F.notes[size1]), 0);
  char *note = fork_note("fork.db", size1 + 3, fork);
  assert_int_equal(feed_checkpoint(note), 0);
  return note;
}

static void test_audit_forked_checkpoint_fails_consistency(void **st) {
  (void)st;
  lg_ledger *fork;
  char *note = consistency_due(&fork);
  assert_int_equal(answer_consistency(T0, fork, PR_PROOF_OK, note), 1);
  assert_int_equal(counter("alarm_consistency"), 1);
  int64_t n;
  assert_int_equal(mtr_store_check_count(F.store, MTR_CS_FAILED, &n), 0);
  assert_int_equal(n, 1);
  free(note);
  lg_ledger_free(fork);
}

static void test_audit_refused_consistency_proof_is_an_alarm(void **st) {
  (void)st;
  lg_ledger *fork;
  char *note = consistency_due(&fork);
  assert_int_equal(answer_consistency(T0, fork, PR_PROOF_BAD_REQUEST, note), 1);
  assert_int_equal(counter("alarm_consistency"), 1);
  free(note);
  lg_ledger_free(fork);
}

static void test_audit_unavailable_consistency_proof_is_an_alarm(void **st) {
  (void)st;
  lg_ledger *fork;
  char *note = consistency_due(&fork);
  int total = 0;
  for (int round = 0; round < 24 && total < MTR_AUDIT_ATTEMPTS - 1; round++)
    total += answer_consistency(T0 + (int64_t)round * 3600 * SEC, fork,
                                PR_PROOF_UNAVAILABLE, note);
  assert_int_equal(counter("alarms"), 0); /* "try again later": we do */
  assert_int_equal(answer_consistency(T0 + 30 * 3600 * SEC, fork,
                                      PR_PROOF_UNAVAILABLE, note),
                   1);
  assert_int_equal(counter("alarm_consistency"), 1);
  assert_int_equal(
      answer_consistency(T0 + 40 * 3600 * SEC, fork, PR_PROOF_OK, note), 0);
  assert_int_equal(counter("proofs_given_up"), 1);
  free(note);
  lg_ledger_free(fork);
}

static void test_audit_unanswered_consistency_proof_is_an_alarm(void **st) {
  (void)st;
  lg_ledger *fork;
  char *note = consistency_due(&fork);
  /* An aggregator restart of an hour is no alarm ... */
  ignore_requests(T0, 6);
  assert_int_equal(counter("alarms"), 0);
  /* ... an aggregator that never answers is. */
  ignore_requests(T0 + 3600 * SEC, 60);
  assert_int_equal(counter("alarm_consistency"), 1);
  free(note);
  lg_ledger_free(fork);
}

static void test_audit_missing_result_proves_no_delivery(void **st) {
  (void)st;
  static mtr_reading_row r1, r2, r3, r4;
  add_reading(1, T0, 0, &r1);
  add_reading(2, T0 + I15, 0, &r2);
  add_reading(3, T0 + 2 * I15, 0, &r3);
  add_reading(4, T0 + 3 * I15, 0, &r4);
  assert_int_equal(
      mtr_store_reading_set_state(F.store, 1, MTR_RS_DROPPED, 0, 0), 0);
  assert_int_equal(
      mtr_store_reading_set_state(F.store, 2, MTR_RS_UNCONFIRMED, 0, 6), 0);
  assert_int_equal(
      mtr_store_reading_set_state(F.store, 4, MTR_RS_REFUSED, 0, 0), 0);
  /* Each interval settled without our reading. */
  assert_int_equal(feed_result(T0, 0, 1, NULL, 0, PR_RESULT_MISSING), 0);
  assert_int_equal(feed_result(T0 + I15, 0, 1, NULL, 0, PR_RESULT_MISSING), 0);
  assert_int_equal(feed_result(T0 + 2 * I15, 0, 1, NULL, 0, PR_RESULT_MISSING),
                   0);
  assert_int_equal(feed_result(T0 + 3 * I15, 0, 1, NULL, 0, PR_RESULT_MISSING),
                   0);
  /* Never sent, refused by the broker, or never known to arrive: as they
   * were (a dropped reading is never relabelled late). Awaiting a
   * receipt: late. */
  assert_int_equal(state_of(1), MTR_RS_DROPPED);
  assert_int_equal(state_of(2), MTR_RS_UNCONFIRMED);
  assert_int_equal(state_of(3), MTR_RS_LATE);
  assert_int_equal(state_of(4), MTR_RS_REFUSED);
  assert_int_equal(counter("readings_late"), 1);
}

static void test_audit_settlement_is_checked_against_our_reading(void **st) {
  (void)st;
  static mtr_reading_row r1, r2, r3;
  uint64_t first;
  /* A result settling other energies than our reading measured. */
  add_reading(1, T0, 0, &r1);
  int64_t size1 = log_reading(&r1, -100, &first);
  assert_int_equal(feed_checkpoint(F.notes[size1]), 0);
  pr_msg m;
  assert_int_equal(
      pr_msg_init(&m, PR_MSG_RESULT, PR_AGGREGATOR_ID, ++F.seq, T0), 0);
  snprintf(m.result.meter, sizeof m.result.meter, "m1");
  m.result.start = T0;
  m.result.end = T0 + I15;
  m.result.mode = PR_MODE_EXPOST;
  m.result.settlement = (pr_settlement){.import_wh = r1.r.import_wh + 50,
                                        .grid_buy_wh = r1.r.import_wh + 50,
                                        .grid_cost = 100,
                                        .net = -100};
  m.result.ledger.size = size1;
  uint8_t buf[PR_SEAL_MAX];
  size_t len;
  gl_ed25519_key k;
  uint8_t seed[32] = {3};
  assert_int_equal(gl_ed25519_from_seed(seed, &k), 0);
  assert_int_equal(pr_seal(&m, &k, buf, sizeof buf, &len, NULL), 0);
  gt_log_capture_begin();
  assert_int_equal(mtr_audit_result(F.audit, &m, buf, len, T0), 0);
  assert_int_equal(gt_log_count("ALARM (result): the result for "
                                "2026-06-21T10:00:00Z settles 171 Wh "
                                "imported and 0 Wh exported, but our reading "
                                "(seq 1) says 121 Wh and 0 Wh"),
                   1);

  /* The ledger's row has another fee than the result. */
  add_reading(2, T0 + I15, 0, &r2);
  lg_settlement_row fee = {
      .grid_import_wh = r2.r.import_wh, .fee = 7, .money = -107};
  int64_t size2 = log_reading_as(&r2, fee, &first);
  assert_int_equal(feed_checkpoint(F.notes[size2]), 0);
  int64_t e2[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(feed_result(T0 + I15, -107, size2, e2, 2, 0), 0);
  answer_all(false);
  assert_int_equal(gt_log_count("settles us differently from the result for "
                                "2026-06-21T10:15:00Z: money -107/-107, fee "
                                "7/0"),
                   1);
  assert_int_equal(counter("alarm_entry"), 1);

  /* The ledger's row agrees with the result, but not with what we
   * measured: 30 Wh more bought than imported. */
  add_reading(3, T0 + 2 * I15, 0, &r3);
  lg_settlement_row more = {.grid_import_wh = r3.r.import_wh + 30,
                            .money = -90};
  int64_t size3 = log_reading_as(&r3, more, &first);
  assert_int_equal(feed_checkpoint(F.notes[size3]), 0);
  int64_t e3[2] = {(int64_t)first, (int64_t)first + 1};
  assert_int_equal(
      pr_msg_init(&m, PR_MSG_RESULT, PR_AGGREGATOR_ID, ++F.seq, T0), 0);
  snprintf(m.result.meter, sizeof m.result.meter, "m1");
  m.result.start = T0 + 2 * I15;
  m.result.end = T0 + 3 * I15;
  m.result.mode = PR_MODE_EXPOST;
  m.result.settlement = (pr_settlement){.import_wh = r3.r.import_wh,
                                        .grid_buy_wh = r3.r.import_wh + 30,
                                        .grid_cost = 90,
                                        .net = -90};
  m.result.ledger.size = size3;
  m.result.ledger.nentries = 2;
  memcpy(m.result.ledger.entries, e3, sizeof e3);
  assert_int_equal(pr_seal(&m, &k, buf, sizeof buf, &len, NULL), 0);
  assert_int_equal(mtr_audit_result(F.audit, &m, buf, len, T0), 0);
  answer_all(false);
  char want[128];
  snprintf(want, sizeof want,
           "settles us for a net %lld Wh in 2026-06-21T10:30:00Z, but our "
           "reading (seq 3) measured %lld Wh",
           (long long)(r3.r.import_wh + 30), (long long)r3.r.import_wh);
  assert_int_equal(gt_log_count(want), 1);
  assert_int_equal(counter("alarm_entry"), 2);
  gt_log_capture_end();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_audit_result_is_receipt_and_ledger_confirms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_audit_alarms_on_misbehaviour, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_unanswered_proofs_are_asked_again_on_a_repeat, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_forked_checkpoint_fails_consistency, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_refused_consistency_proof_is_an_alarm, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_unavailable_consistency_proof_is_an_alarm, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_unanswered_consistency_proof_is_an_alarm, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_missing_result_proves_no_delivery, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_settlement_is_checked_against_our_reading, setup,
          teardown),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
