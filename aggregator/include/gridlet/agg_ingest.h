/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_ingest.h - what happens to a meter message after its
 * signature verified: the aggregator's own checks, storage in batched
 * transactions, and the hand-over to the market.
 *
 * For each finished verification job, in the order the broker delivered
 * (gridlet/agg_verify.h):
 *   1. Rejected by proto (topic, size, structure, key, signature, schema):
 *      counted by reason, logged (rate-limited), not stored.
 *   2. (meter, seq) already stored: byte-identical is a duplicate
 *      (counted, ignored; a duplicate reading of a settled interval makes
 *      the aggregator re-send that meter's stored result, its receipt);
 *      different bytes is seq_reuse: kept as evidence, counted, logged.
 *   3. Time window: ts more than ingest.max_future ahead (ts_future) or
 *      more than ingest.max_age behind (ts_stale; not for status, whose
 *      MQTT will is signed at connect time).
 *   4. Per type:
 *      reading  one community interval (bad_interval), not ending in the
 *               future (ts_future), not before the first interval settled
 *               here (before_start), energies within the rated power
 *               (implausible_power), registers not running backwards
 *               without a reset/rollover flag (counter_backwards), no PV
 *               at night (pv_at_night, agg_solar.h), one reading per
 *               interval (reading_conflict). Accepted: stored; on time it
 *               counts towards its interval, late (interval settled) it is
 *               logged as a late digest and the meter's result re-issued.
 *      order    not in expost mode (mode_mismatch), one interval
 *               (bad_interval), before gate closure (gate_closed), within
 *               the horizon (beyond_horizon), continuous prices on the tick
 *               grid (off_tick); stored, and fed to the continuous book
 *               (book_full when it has no room).
 *      prefs    stored and logged in the ledger.
 *      status   the meter's state, outbox depth and version.
 *      proof    rate-limited per meter (rate_limited), then answered.
 *   Every authentic message is stored with its outcome, so its re-delivery
 *   is recognised as a duplicate whatever the outcome was; except for
 *   verdicts that may change (ts_future: our clock may be behind;
 *   internal: a storage error), which are counted and logged but not
 *   stored, so the meter's re-send is examined again. Proto's rejections
 *   (step 1) and the per-meter rate limit are never stored either.
 *
 * Writes go into one open transaction that agg_ingest_flush commits
 * (the daemon calls it when ingest.batch_max messages are in it or
 * ingest.batch_delay has passed), together with the meters' changed
 * dynamic state and the publisher's acknowledgements.
 *
 * Thread-safety: the event loop's.
 */
#ifndef GRIDLET_AGG_INGEST_H
#define GRIDLET_AGG_INGEST_H

#include "gridlet/agg_config.h"
#include "gridlet/agg_market.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_reason.h"
#include "gridlet/agg_store.h"
#include "gridlet/agg_verify.h"
#include "gridlet/clock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called for an accepted proof request (inside the open transaction). */
typedef void (*agg_proof_fn)(void *ctx, const agg_job *job);

typedef struct agg_ingest_deps {
  const agg_config *cfg;
  agg_store *st;
  agg_meters *meters;
  agg_market *market;
  agg_outbox *outbox;
  agg_metrics *metrics; /* may be NULL */
  const gl_clock *clock;
  const gl_clock *real; /* rate limits of log lines */
  agg_proof_fn proof;   /* may be NULL: proof requests are then ignored */
  void *proof_ctx;
} agg_ingest_deps;

typedef struct agg_ingest agg_ingest;

/* agg_ingest_new - borrows everything in `deps`. 0, GL_ENOMEM or a storage
 * error. */
int agg_ingest_new(const agg_ingest_deps *deps, agg_ingest **out);

/* agg_ingest_free - release; an open transaction is rolled back. */
void agg_ingest_free(agg_ingest *in);

/*
 * agg_ingest_process - handle one finished job (see above); *outcome (may
 * be NULL) gets AGG_R_NONE when it was accepted, a duplicate (see
 * *duplicate, may be NULL) or the reason it was refused. Returns 0, or a
 * storage or ledger error (fatal: the daemon stops and restarts clean).
 */
int agg_ingest_process(agg_ingest *in, const agg_job *job, agg_reason *outcome,
                       bool *duplicate);

/*
 * agg_ingest_admit - the per-meter rate limit, applied before a message
 * is verified (the broker's ACL already ties a meter topic to its
 * sender, so the topic's id is whom to charge): at most
 * ingest.meter_burst messages at once and ingest.meter_rate a second
 * sustained, per meter, in real time (GCRA). A message over the limit is
 * counted (meter_rate), logged (rate-limited) and must be dropped: it is
 * not stored, so the meter's re-send of a reading is taken as new. Topics
 * that are not an enrolled meter's pass (verification refuses them).
 * Returns true when the message may go on.
 */
bool agg_ingest_admit(agg_ingest *in, const char *topic, size_t topic_len);

/*
 * agg_ingest_reject - count and log a message the loop refused before it
 * reached a worker (e.g. larger than any meter message).
 */
void agg_ingest_reject(agg_ingest *in, const char *topic, agg_reason r,
                       const char *msg);

/* agg_ingest_batch - messages written in the open transaction. */
size_t agg_ingest_batch(const agg_ingest *in);

/* agg_ingest_pending - something waits for agg_ingest_flush. */
bool agg_ingest_pending(const agg_ingest *in);

/*
 * agg_ingest_flush - commit the open transaction (with the dynamic meter
 * state and the publisher's acknowledgements), then let the market act on
 * it (agg_market_after_commit). Returns 0 or an error (fatal).
 */
int agg_ingest_flush(agg_ingest *in);

/*
 * agg_ingest_prune - delete stored messages older than storage.retention,
 * at most `limit` per call, in a transaction of its own (the batch must be
 * flushed). *n (may be NULL) gets how many.
 */
int agg_ingest_prune(agg_ingest *in, int limit, int *n);

/* agg_ingest_recount - recompute the online/outbox gauges from the
 * registry (after a meter reload). */
void agg_ingest_recount(agg_ingest *in);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_INGEST_H */
