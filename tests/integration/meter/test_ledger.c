/* SPDX-License-Identifier: MIT */
/*
 * Results, receipts and ledger proofs, end to end. The test plays the
 * aggregator with the real libraries: it verifies each reading, appends a
 * reading digest and a settlement to a real ledger (SQLite), signs a real
 * checkpoint with a log key, publishes signed results and checkpoints
 * through the TLS broker, and answers the meter's MQTT 5 proof requests
 * (response topic, correlation data) with real Merkle proofs. The meter
 * confirms its readings in the ledger and checks the checkpoints'
 * consistency without an alarm. Then the aggregator misbehaves, once per
 * way: a forked checkpoint (split view), a forged inclusion proof, and a
 * result whose ledger entries leave the reading out; each raises the
 * documented alarm, and the last one makes the meter send its reading
 * again.
 */
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/mtr_store.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define I15 (15 * MH_MIN)
#define RETAIL 300000
#define FEEDIN 80000
#define MAX_NOTES 256

static gt_community comm;

typedef struct fake_agg {
  mh_agg agg;
  lg_ledger *lg;
  lg_signer signer;
  char vkey[LG_KEY_TEXT_MAX];
  char *notes[MAX_NOTES]; /* signed checkpoint per size */
  size_t done;            /* records handled */
  int64_t seen_seq[512];
  size_t nseen;
  int64_t balance;
  /* misbehaviour switches */
  bool forge_next_proof;
  bool omit_reading_next;
  int64_t omitted_start;
  int proofs_answered;
} fake_agg;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mledger", 1);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

static void fake_start(fake_agg *f, const char *dir) {
  memset(f, 0, sizeof *f);
  char path[GT_PATH_MAX];
  gt_path(path, dir, "ledger.db");
  lg_ledger_options o = {.origin = "gridlet/demo", .create = true};
  assert_int_equal(lg_ledger_open(path, &o, &f->lg), 0);
  gl_rand rand = gl_rand_system();
  assert_int_equal(
      lg_signer_generate("gridlet/demo", LG_SIG_ED25519, &rand, &f->signer), 0);
  assert_int_equal(lg_vkey_format(&f->signer.vkey, f->vkey, sizeof f->vkey), 0);
  mh_agg_start(&f->agg, &comm, 1);
}

static void fake_free(fake_agg *f) {
  for (size_t i = 0; i < MAX_NOTES; i++)
    free(f->notes[i]);
  lg_ledger_free(f->lg);
  mh_agg_free(&f->agg);
}

static void publish_checkpoint(fake_agg *f, const char *note) {
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_CHECKPOINT, PR_AGGREGATOR_ID,
                               ++f->agg.seq, 1782036000 * MH_SEC),
                   0);
  snprintf(m.checkpoint.note, sizeof m.checkpoint.note, "%s", note);
  char topic[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(PR_TOPIC_CHECKPOINT, comm.community, NULL,
                                  topic, sizeof topic),
                   0);
  mh_agg_publish(&f->agg, topic, &m, true, NULL, 0);
}

/* Settle one reading: ledger entries, checkpoint, result. */
static void settle(fake_agg *f, const mh_rec *rec) {
  const pr_msg *rm = rec->m;
  const pr_reading *r = &rm->reading;
  bool missing = r->flags & PR_FLAG_MISSING;
  int64_t cost = r->import_wh * RETAIL / 1000;
  int64_t revenue = r->export_wh * FEEDIN / 1000;
  int64_t net = revenue - cost;
  lg_entry e[2];
  memset(e, 0, sizeof e);
  e[0].type = LG_ENTRY_READING;
  e[0].u.reading.interval_start = r->start;
  snprintf(e[0].u.reading.meter_id, sizeof e[0].u.reading.meter_id, "%s",
           rm->sender);
  e[0].u.reading.seq = (uint64_t)rm->seq;
  e[0].u.reading.import_wh = r->import_wh;
  e[0].u.reading.export_wh = r->export_wh;
  e[0].u.reading.flags = r->flags;
  assert_int_equal(gl_sha256(rec->bytes, rec->len, e[0].u.reading.msg_digest),
                   0);
  lg_settlement_row row = {.grid_import_wh = r->import_wh,
                           .grid_export_wh = r->export_wh,
                           .money = net,
                           .flags = missing ? LG_SETTLE_NO_READING : 0};
  snprintf(row.meter_id, sizeof row.meter_id, "%s", rm->sender);
  e[1].type = LG_ENTRY_SETTLEMENT;
  e[1].u.settlement = (lg_settlement){.interval_start = r->start,
                                      .interval_len_s = 900,
                                      .retail_price = RETAIL,
                                      .feedin_price = FEEDIN,
                                      .utility_money = -net,
                                      .n_rows = 1,
                                      .rows = &row};
  uint64_t first;
  assert_int_equal(lg_ledger_append_entries(f->lg, e, 2, &first), 0);
  char *note = NULL;
  assert_int_equal(lg_ledger_checkpoint(f->lg, &f->signer, &note), 0);
  uint64_t size = first + 2;
  assert_true(size < MAX_NOTES);
  f->notes[size] = note;
  publish_checkpoint(f, note);

  f->balance += net;
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_RESULT, PR_AGGREGATOR_ID,
                               ++f->agg.seq, r->end + MH_MIN),
                   0);
  pr_result *res = &m.result;
  snprintf(res->meter, sizeof res->meter, "%s", rm->sender);
  res->start = r->start;
  res->end = r->end;
  res->mode = PR_MODE_EXPOST;
  res->settlement = (pr_settlement){.import_wh = missing ? 0 : r->import_wh,
                                    .export_wh = missing ? 0 : r->export_wh,
                                    .grid_buy_wh = r->import_wh,
                                    .grid_sell_wh = r->export_wh,
                                    .grid_cost = cost,
                                    .grid_revenue = revenue,
                                    .net = net};
  res->balance = f->balance;
  res->flags = missing ? PR_RESULT_MISSING : 0;
  res->ledger.size = (int64_t)size;
  if (f->omit_reading_next) {
    /* Misbehaviour: name only the settlement. */
    res->ledger.nentries = 1;
    res->ledger.entries[0] = (int64_t)first + 1;
    f->omit_reading_next = false;
    f->omitted_start = r->start;
  } else {
    res->ledger.nentries = 2;
    res->ledger.entries[0] = (int64_t)first;
    res->ledger.entries[1] = (int64_t)first + 1;
  }
  char topic[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(PR_TOPIC_RESULT, comm.community, rm->sender,
                                  topic, sizeof topic),
                   0);
  mh_agg_publish(&f->agg, topic, &m, false, NULL, 0);
}

static void answer_proof(fake_agg *f, const mh_rec *rec) {
  const pr_proof_request *q = &rec->m->proof_request;
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_PROOF_RESPONSE, PR_AGGREGATOR_ID,
                               ++f->agg.seq, 1782036000 * MH_SEC),
                   0);
  pr_proof_response *p = &m.proof_response;
  snprintf(p->meter, sizeof p->meter, "%s", rec->m->sender);
  p->request_seq = rec->m->seq;
  p->kind = q->kind;
  p->size = q->size;
  p->status = PR_PROOF_OK;
  lg_hash path[LG_PROOF_MAX];
  size_t n = 0;
  if (q->kind == PR_PROOF_INCLUSION) {
    p->index = q->index;
    assert_int_equal(lg_ledger_inclusion_proof(f->lg, (uint64_t)q->index,
                                               (uint64_t)q->size, path,
                                               LG_PROOF_MAX, &n),
                     0);
    uint8_t *data;
    size_t len;
    assert_int_equal(lg_ledger_entry(f->lg, (uint64_t)q->index, &data, &len),
                     0);
    memcpy(p->entry, data, len);
    p->entry_len = len;
    free(data);
    if (f->forge_next_proof && n > 0) {
      path[0].b[0] ^= 0x55; /* misbehaviour: a proof that cannot verify */
      f->forge_next_proof = false;
    }
  } else {
    p->old_size = q->old_size;
    assert_int_equal(lg_ledger_consistency_proof(f->lg, (uint64_t)q->old_size,
                                                 (uint64_t)q->size, path,
                                                 LG_PROOF_MAX, &n),
                     0);
  }
  p->npath = n;
  for (size_t i = 0; i < n; i++)
    memcpy(p->path[i], path[i].b, 32);
  if (q->size < MAX_NOTES && f->notes[q->size])
    snprintf(p->note, sizeof p->note, "%s", f->notes[q->size]);
  assert_true(rec->response_topic[0]);
  assert_true(rec->corr_len == 8);
  mh_agg_publish(&f->agg, rec->response_topic, &m, false, rec->corr,
                 rec->corr_len);
  f->proofs_answered++;
}

/* Handle what arrived: settle new readings, answer proof requests. */
static void serve(fake_agg *f, int ms) {
  mh_agg_pump(&f->agg, ms);
  for (; f->done < f->agg.n; f->done++) {
    const mh_rec *rec = &f->agg.recs[f->done];
    if (rec->m->type == PR_MSG_PROOF_REQUEST) {
      answer_proof(f, rec);
      continue;
    }
    if (rec->m->type != PR_MSG_READING)
      continue;
    bool dup = false;
    for (size_t i = 0; i < f->nseen && !dup; i++)
      dup = f->seen_seq[i] == rec->m->seq;
    if (dup)
      continue; /* a re-send: settled already */
    assert_true(f->nseen < 512);
    f->seen_seq[f->nseen++] = rec->m->seq;
    settle(f, rec);
  }
}

static void serve_until(fake_agg *f, const gl_clock *clock, int64_t until) {
  while (gl_clock_now(clock) < until)
    serve(f, 20);
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

static int64_t readings_in(const char *db, int state) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(db, &o, &s), 0);
  int64_t v = 0;
  assert_int_equal(mtr_store_reading_count(s, state, &v), 0);
  mtr_store_free(s);
  return v;
}

static int run_status(const char *conf, char *out, size_t cap) {
  char bin[GT_PATH_MAX], log[GT_PATH_MAX];
  gt_build_path(bin, "meter/gridlet-meter");
  gt_path(log, comm.root, "status.out");
  unlink(log);
  char *argv[] = {bin, "status", "--config", (char *)conf, NULL};
  pid_t pid = gt_proc_start(argv, log, NULL);
  int st = gt_proc_wait(pid, 10000);
  char *text = gt_read_file(log, NULL);
  snprintf(out, cap, "%s", text ? text : "");
  free(text);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_meter_checks_results_and_ledger_and_raises_alarms(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 12 * 3600 * MH_SEC, spec, &clock, &ac);
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "agg");
  mkdir(dir, 0700);
  static fake_agg f;
  fake_start(&f, dir);
  mh_sim sim;
  mh_sim_start(&sim, dir, spec, 1, NULL);
  char extra[512];
  snprintf(extra, sizeof extra,
           "[aggregator]\nlog_key = %s\nproof_timeout = 5m\n", f.vkey);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n", extra);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);

  /* An honest aggregator: readings confirmed, no alarm. */
  serve_until(&f, &clock, t0 + 4 * I15 + 3 * MH_MIN);
  assert_true(readings_in(m.db, MTR_RS_CONFIRMED) >= 3);
  assert_int_equal(counter(m.db, "alarms"), 0);
  assert_true(counter(m.db, "receipts") >= 4);
  assert_true(f.proofs_answered >= 6);
  char out[8192];
  int rc = run_status(m.conf, out, sizeof out);
  if (rc != 0)
    fail_msg("status %d:\n%s", rc, out);
  assert_non_null(strstr(out, "confirmed in the ledger"));
  assert_non_null(strstr(out, "alarms         none"));

  /* A forked history: the same size, another root, the same log key. */
  {
    char path[GT_PATH_MAX];
    gt_path(path, dir, "fork.db");
    lg_ledger_options o = {.origin = "gridlet/demo", .create = true};
    lg_ledger *fork;
    assert_int_equal(lg_ledger_open(path, &o, &fork), 0);
    uint64_t size;
    assert_int_equal(lg_ledger_size(f.lg, &size), 0);
    for (uint64_t i = 0; i < size; i++) {
      lg_entry e = {.type = LG_ENTRY_PARAM};
      e.u.param.effective_from = (int64_t)i;
      snprintf(e.u.param.key, sizeof e.u.param.key, "fork");
      snprintf(e.u.param.value, sizeof e.u.param.value, "%llu",
               (unsigned long long)i);
      assert_int_equal(lg_ledger_append_entries(fork, &e, 1, NULL), 0);
    }
    char *note;
    assert_int_equal(lg_ledger_checkpoint(fork, &f.signer, &note), 0);
    publish_checkpoint(&f, note);
    free(note);
    lg_ledger_free(fork);
  }
  for (int i = 0; i < 100 && !counter(m.db, "alarm_split_view"); i++)
    serve(&f, 50);
  assert_int_equal(counter(m.db, "alarm_split_view"), 1);

  /* A forged inclusion proof. */
  f.forge_next_proof = true;
  serve_until(&f, &clock, gl_clock_now(&clock) + I15 + 3 * MH_MIN);
  for (int i = 0; i < 100 && !counter(m.db, "alarm_inclusion"); i++)
    serve(&f, 50);
  assert_true(counter(m.db, "alarm_inclusion") >= 1);

  /* A result whose entries leave the reading out: an alarm, and the
   * reading is sent again. */
  f.omit_reading_next = true;
  size_t before = f.agg.n;
  serve_until(&f, &clock, gl_clock_now(&clock) + I15 + 3 * MH_MIN);
  for (int i = 0; i < 100 && !counter(m.db, "alarm_receipt"); i++)
    serve(&f, 50);
  assert_true(counter(m.db, "alarm_receipt") >= 1);
  bool resent = false;
  for (int i = 0; i < 200 && !resent; i++) {
    serve(&f, 50);
    for (size_t k = before; k < f.agg.n && !resent; k++) {
      const pr_msg *x = f.agg.recs[k].m;
      resent = x->type == PR_MSG_READING && x->reading.start == f.omitted_start;
      if (resent && k < f.agg.n) {
        /* Only a re-send counts: it must come after the result. */
        int nsame = 0;
        for (size_t j = 0; j < f.agg.n; j++)
          nsame += f.agg.recs[j].m->type == PR_MSG_READING &&
                   f.agg.recs[j].m->reading.start == f.omitted_start;
        resent = nsame >= 2;
      }
    }
  }
  assert_true(resent);
  mh_check_seq_unique(&f.agg);

  rc = run_status(m.conf, out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "split_view"));
  assert_non_null(strstr(out, "inclusion"));
  mh_meter_stop(&m);
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(strstr(log, "ALARM (split_view)"));
  assert_non_null(strstr(log, "settled: bought"));
  free(log);
  mh_sim_stop(&sim);
  fake_free(&f);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_checks_results_and_ledger_and_raises_alarms),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
