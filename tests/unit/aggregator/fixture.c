/* SPDX-License-Identifier: MIT */
/* fixture.c - see fixture.h. */
#include "fixture.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_balances.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void on_proof(void *ctx, const agg_job *j) {
  (void)j;
  ((fx *)ctx)->proofs++;
}

static int put_meter(fx *f, size_t i) {
  agg_meter_rec m;
  memset(&m, 0, sizeof m);
  snprintf(m.id, sizeof m.id, "%s", f->ids[i]);
  snprintf(m.serial, sizeof m.serial, "%02zx", i + 1);
  memcpy(m.pub, f->keys[i].pub, 32);
  static const uint8_t der[] = {0x30, 0x00};
  m.cert = der;
  m.cert_len = sizeof der;
  m.not_after = FX_T0 + 3650 * 86400 * INT64_C(1000000000);
  m.state = AGG_METER_ACTIVE;
  m.enrolled_at = FX_T0 - 86400 * INT64_C(1000000000);
  return agg_store_meter_put(f->st, &m);
}

void fx_open(fx *f) {
  agg_metrics_init(&f->metrics);
  char db[GT_PATH_MAX];
  gt_path(db, f->dir, "agg.db");
  assert_true(strlen(db) < sizeof f->cfg.db_path);
  memcpy(f->cfg.db_path, db, strlen(db) + 1);
  assert_int_equal(agg_store_open(db, true, false, &f->st), 0);
  assert_int_equal(agg_meters_new(&f->clock, &f->meters), 0);
  assert_int_equal(agg_meters_load(f->meters, f->st, NULL, NULL), 0);
  f->kr = agg_meters_keyring(f->meters);
  assert_int_equal(agg_outbox_new(f->st, &f->metrics, &f->ob), 0);
  agg_market_deps md = {.cfg = &f->cfg,
                        .st = f->st,
                        .meters = f->meters,
                        .outbox = f->ob,
                        .metrics = &f->metrics,
                        .clock = &f->clock,
                        .real = &f->real,
                        .log_key = &f->log_key,
                        .agg_key = &f->agg_key,
                        .threads = 2};
  assert_int_equal(agg_market_new(&md, &f->mk), 0);
  assert_int_equal(agg_market_start(f->mk), 0);
  assert_int_equal(agg_market_reserve_seqs(f->mk, 1000), 0);
  agg_market_online(f->mk, 0);
  agg_ingest_deps id = {.cfg = &f->cfg,
                        .st = f->st,
                        .meters = f->meters,
                        .market = f->mk,
                        .outbox = f->ob,
                        .metrics = &f->metrics,
                        .clock = &f->clock,
                        .real = &f->real,
                        .proof = on_proof,
                        .proof_ctx = f};
  assert_int_equal(agg_ingest_new(&id, &f->in), 0);
}

void fx_close(fx *f) {
  agg_ingest_free(f->in);
  agg_market_free(f->mk);
  agg_outbox_free(f->ob);
  agg_meters_free(f->meters);
  agg_store_free(f->st);
  f->in = NULL;
  f->mk = NULL;
  f->ob = NULL;
  f->meters = NULL;
  f->st = NULL;
}

void fx_setup(fx *f, size_t meters, int mode, void (*tweak)(agg_config *)) {
  memset(f, 0, sizeof *f);
  assert_true(meters <= FX_MAX_METERS);
  gt_tmpdir("aggunit", f->dir);
  f->mc = gl_manual_clock_new(FX_T0);
  f->clock = gl_manual_clock_clock(f->mc);
  f->real = gl_clock_real();
  agg_config_defaults(&f->cfg);
  snprintf(f->cfg.community, sizeof f->cfg.community, "test");
  f->cfg.mode = mode;
  f->cfg.latitude[0] = '\0';
  snprintf(f->cfg.latitude, sizeof f->cfg.latitude, "50");
  snprintf(f->cfg.longitude, sizeof f->cfg.longitude, "0");
  f->cfg.http_listen[0] = '\0';
  if (tweak)
    tweak(&f->cfg);
  gl_conf_errors errs = {0};
  if (agg_config_check(&f->cfg, &errs) != 0)
    fail_msg("config: %s", errs.msg[0]);
  gl_seeded_rand *sr = gl_seeded_rand_new(42);
  assert_non_null(sr);
  gl_rand r = gl_seeded_rand_rand(sr);
  assert_int_equal(
      lg_signer_generate(f->cfg.origin, LG_SIG_ED25519, &r, &f->log_key), 0);
  assert_int_equal(gl_ed25519_generate(&r, &f->agg_key), 0);
  f->n = meters;
  agg_store *st = NULL;
  char db[GT_PATH_MAX];
  gt_path(db, f->dir, "agg.db");
  assert_int_equal(agg_store_open(db, true, false, &st), 0);
  f->st = st;
  for (size_t i = 0; i < meters; i++) {
    snprintf(f->ids[i], sizeof f->ids[i], "m%03zu", i + 1);
    assert_int_equal(gl_ed25519_generate(&r, &f->keys[i]), 0);
    assert_int_equal(put_meter(f, i), 0);
  }
  agg_store_free(st);
  f->st = NULL;
  gl_seeded_rand_free(sr);
  fx_open(f);
}

void fx_teardown(fx *f) {
  fx_close(f);
  gl_manual_clock_free(f->mc);
  gt_rmtree(f->dir);
}

agg_job *fx_job(fx *f, size_t i, const pr_msg *m, pr_topic_kind kind,
                const char *topic_id, const gl_ed25519_key *key) {
  agg_job *j = calloc(1, sizeof *j);
  assert_non_null(j);
  pr_diag d = {0};
  int rc =
      pr_seal(m, key ? key : &f->keys[i], j->buf, sizeof j->buf, &j->len, &d);
  if (rc)
    fail_msg("seal: %s", d.msg);
  assert_int_equal(pr_topic_build(kind, f->cfg.community,
                                  topic_id ? topic_id : f->ids[i], j->topic,
                                  sizeof j->topic),
                   0);
  j->topic_len = strlen(j->topic);
  j->received = gl_clock_now(&f->clock);
  agg_verify_job(j, f->cfg.community, &f->kr, &f->real);
  return j;
}

int fx_send(fx *f, size_t i, const pr_msg *m, pr_topic_kind kind,
            agg_reason *out, bool *dup) {
  agg_job *j = fx_job(f, i, m, kind, NULL, NULL);
  int rc = agg_ingest_process(f->in, j, out, dup);
  free(j);
  return rc;
}

pr_msg fx_reading_msg(fx *f, size_t i, int64_t start, int64_t imp,
                      int64_t exp) {
  pr_msg m;
  int64_t end = start + f->cfg.interval;
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, f->ids[i], ++f->seq[i],
                               end + 5 * INT64_C(1000000000)),
                   0);
  m.reading.start = start;
  m.reading.end = end;
  m.reading.import_wh = imp;
  m.reading.export_wh = exp;
  return m;
}

agg_reason fx_reading(fx *f, size_t i, int64_t start, int64_t imp,
                      int64_t exp) {
  pr_msg m = fx_reading_msg(f, i, start, imp, exp);
  /* A meter sends its reading after the interval: time moves on to it. */
  if (gl_clock_now(&f->clock) < m.ts)
    gl_manual_clock_set(f->mc, m.ts);
  agg_reason r = AGG_R_INTERNAL;
  assert_int_equal(fx_send(f, i, &m, PR_TOPIC_READING, &r, NULL), 0);
  return r;
}

void fx_flush(fx *f) {
  assert_int_equal(agg_ingest_flush(f->in), 0);
}

int fx_tick_at(fx *f, int64_t t) {
  gl_manual_clock_set(f->mc, t);
  fx_flush(f);
  int n = 0;
  assert_int_equal(agg_market_tick(f->mk, t, true, &n), 0);
  return n;
}

typedef struct bal_ctx {
  lg_balances *lb;
  size_t n;
} bal_ctx;

static int check_bal(void *ctx, const agg_balance_rec *b) {
  bal_ctx *c = ctx;
  const lg_balance *l = lg_balances_find(c->lb, b->meter);
  assert_non_null(l);
  assert_int_equal(l->money, b->money);
  assert_int_equal(l->fees, b->fees);
  assert_int_equal(l->local_bought_wh, b->bought);
  assert_int_equal(l->local_sold_wh, b->sold);
  assert_int_equal(l->grid_import_wh, b->grid_import);
  assert_int_equal(l->grid_export_wh, b->grid_export);
  assert_int_equal((int64_t)l->intervals, b->intervals);
  assert_int_equal((int64_t)l->missing_readings, b->missing);
  c->n++;
  return 0;
}

void fx_audit(fx *f) {
  lg_audit_options o = {.log_key = &f->log_key.vkey};
  lg_audit_report rep;
  assert_int_equal(lg_audit_run(agg_market_ledger(f->mk), &o, &rep), 0);
  if (!rep.ok)
    fail_msg("audit: %s", rep.problem);
  bal_ctx c = {.lb = rep.balances};
  assert_int_equal(agg_store_balances_each(f->st, check_bal, &c), 0);
  assert_int_equal(c.n, lg_balances_count(rep.balances));
  lg_audit_report_clear(&rep);
}
