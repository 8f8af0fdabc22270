/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - an aggregator without the network, for unit tests: a real
 * SQLite database in a temp dir, real meters with seeded Ed25519 keys,
 * the real market, ingest and publisher, a manual clock. Messages are
 * really sealed and really verified (agg_verify_job) before ingest; only
 * MQTT is left out.
 */
#ifndef GRIDLET_AGG_FIXTURE_H
#define GRIDLET_AGG_FIXTURE_H

#include "gridlet/agg_config.h"
#include "gridlet/agg_ingest.h"
#include "gridlet/agg_market.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_store.h"
#include "gridlet/agg_verify.h"
#include "gridlet/ledger_note.h"
#include "gridlet/pr_seal.h"
#include "testutil.h"

#define FX_MAX_METERS 64

typedef struct fx {
  char dir[GT_PATH_MAX];
  agg_config cfg;
  gl_manual_clock *mc;
  gl_clock clock, real;
  agg_metrics metrics;
  agg_store *st;
  agg_meters *meters;
  agg_outbox *ob;
  agg_market *mk;
  agg_ingest *in;
  pr_keyring kr;
  lg_signer log_key;
  gl_ed25519_key agg_key;
  size_t n;
  gl_ed25519_key keys[FX_MAX_METERS];
  char ids[FX_MAX_METERS][24];
  int64_t seq[FX_MAX_METERS];
  int proofs; /* proof requests handed to the proof hook */
} fx;

/* The start of the manual clock: a summer morning, UTC. */
#define FX_T0 INT64_C(1782036000000000000) /* 2026-06-21T10:00:00Z */
#define FX_MIN (60 * INT64_C(1000000000))

/* fx_setup - `meters` enrolled meters (m001 ...), market `mode`, 15-minute
 * intervals, retail 0.30, feed-in 0.08 (µ/kWh 300000 / 80000). `tweak`
 * (may be NULL) adjusts the config before it is checked. */
void fx_setup(fx *f, size_t meters, int mode, void (*tweak)(agg_config *));

/* fx_teardown - close everything and remove the directory. */
void fx_teardown(fx *f);

/* fx_close / fx_open - close every handle but keep the database, and open
 * again (a restart; nothing is flushed by fx_close). */
void fx_close(fx *f);
void fx_open(fx *f);

/* fx_seal_job - seal `m` with meter i's key (or `key` when not NULL) and
 * put it through verification on `topic` kind (the meter's own topic of
 * that kind, or `topic_id`'s when not NULL). The job is malloc'd. */
agg_job *fx_job(fx *f, size_t i, const pr_msg *m, pr_topic_kind kind,
                const char *topic_id, const gl_ed25519_key *key);

/* fx_send - fx_job + agg_ingest_process; returns the process rc. */
int fx_send(fx *f, size_t i, const pr_msg *m, pr_topic_kind kind,
            agg_reason *out, bool *dup);

/* fx_reading_msg - a reading message of meter i for [start, start+15m)
 * with the next seq, ts = end + 5 s. */
pr_msg fx_reading_msg(fx *f, size_t i, int64_t start, int64_t imp, int64_t exp);

/* fx_reading - build and send it. */
agg_reason fx_reading(fx *f, size_t i, int64_t start, int64_t imp, int64_t exp);

/* fx_flush - commit the ingest batch (asserts success). */
void fx_flush(fx *f);

/* fx_settle_due - advance the clock to `t` and run the market tick. */
int fx_tick_at(fx *f, int64_t t);

/* fx_audit - audit the ledger in the database; asserts it is clean and
 * that every household's balance in agg_balances equals the ledger's. */
void fx_audit(fx *f);

#endif
