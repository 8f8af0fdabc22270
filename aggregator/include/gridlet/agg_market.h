/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_market.h - the market cycle of every delivery interval:
 * clear, settle, record in the ledger, checkpoint, sign the results.
 *
 * Intervals are UTC-aligned ([k*L, (k+1)*L), L = market.interval) and
 * settled strictly in order, from the first interval after the database
 * was created. Interval I is settled when every active meter's reading for
 * it is in, or when its grace period has passed
 *     deadline(I) = max(end(I), online_since) + grace
 * (online_since: when the aggregator last (re)subscribed at the broker,
 * so that after an outage of the aggregator the meters get a grace period
 * to re-deliver), whichever comes first; never while disconnected from
 * the broker. After an unclean stop the deadline of an interval that
 * ended before the restart is at least
 *     max(end(I) + receipt_timeout, restart + L) + grace
 * (see agg_market_stopped_cleanly).
 *
 * Settlement (gridlet/market_interval.h, the pipeline the simulator runs
 * too), per mode:
 *   expost      each measured meter's net energy (import - export) with
 *               its standing limits (the prefs in force: highest seq with
 *               effective <= I; absent limits mean anything in the band)
 *   exante      each meter's latest order for I (gate closure already
 *               refused later ones), in arrival order: the orders in force
 *               at gate closure
 *   continuous  the trades the continuous double auction made for I
 *               (agg_market_order feeds it as orders arrive; it closes at
 *               gate closure)
 * Meters without a reading (or with a reading flagged "missing"): in
 * expost they take no part (a settlement row flagged "no reading" with
 * zeros); in exante and continuous their trades are firm and they count
 * as having metered nothing (net 0), so their contracted position is
 * their imbalance, settled with the utility, on a row flagged "no
 * reading". Their results are flagged "missing".
 *
 * Ledger entries of interval I, appended in ONE transaction with the
 * interval's row, the settlements, the trades and the balances:
 *   order entries     exante/continuous: the steps that took part
 *   reading digests   every on-time reading, by meter id
 *   clearing          mode, rule, price, volume, the trades
 *   settlement        one row per meter, by meter id
 * Standing limits (prefs) are logged when they arrive, as order entries
 * of quantity 0 (buy and sell side) with interval_start = effective; late
 * readings as reading digests flagged AGG_READING_LATE; enrolments and
 * revocations as enrolment entries; changed market parameters at start as
 * parameter entries. So the ledger alone reproduces every settlement.
 *
 * After the commit the ledger is checkpointed (lg_ledger_checkpoint, the
 * note stored and queued for public/checkpoint), then every meter's result
 * and the public summary are signed (on all cores) and committed to the
 * outbox citing that checkpoint. Each step is recorded, so a restart
 * resumes exactly where a crash stopped it (agg_market_start): nothing is
 * settled twice, nothing is lost, and no sequence number is signed twice.
 *
 * Thread-safety: the event loop's.
 */
#ifndef GRIDLET_AGG_MARKET_H
#define GRIDLET_AGG_MARKET_H

#include "gridlet/agg_config.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_store.h"
#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/ledger.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reading digest flag in the ledger: arrived after its interval was
 * settled; recorded, not settled. (Protocol flags use the low bits.) */
#define AGG_READING_LATE (UINT32_C(1) << 31)

/* Quantity-0 order entries carry this buy limit for "no limit". */
#define AGG_NO_BUY_LIMIT INT64_C(1000000000)

typedef struct agg_market_deps {
  const agg_config *cfg;
  agg_store *st; /* its connection also holds the ledger */
  agg_meters *meters;
  agg_outbox *outbox;
  agg_metrics *metrics;          /* may be NULL */
  const gl_clock *clock;         /* the market's time (may be accelerated) */
  const gl_clock *real;          /* for measuring durations */
  const lg_signer *log_key;      /* signs checkpoints */
  const gl_ed25519_key *agg_key; /* signs results (kid "aggregator") */
  size_t threads;                /* for signing results; >= 1 */
  /* Test seam: called at named points of the cycle (crash tests kill the
   * process there). May be NULL. */
  void (*crashpoint)(void *ctx, const char *name);
  void *crash_ctx;
} agg_market_deps;

typedef struct agg_market agg_market;

/*
 * agg_market_new - open the ledger on the store's connection (creating its
 * tables and the log when new) and prepare the market. Borrows everything
 * in `deps`. Returns 0 and an owned handle, GL_ECONFLICT (the database
 * belongs to another log origin or interval length), or a ledger, storage
 * or allocation error.
 */
int agg_market_new(const agg_market_deps *deps, agg_market **out);

/* agg_market_free - release; NULL is a no-op. */
void agg_market_free(agg_market *m);

/* agg_market_ledger - the ledger handle (borrowed; the loop's). */
lg_ledger *agg_market_ledger(agg_market *m);

/*
 * agg_market_start - recover and prepare, outside any transaction: sign
 * the checkpoint a crash left unsigned, sign and queue results of settled
 * intervals, rebuild the continuous books from the stored orders, count
 * the readings of unsettled intervals, log changed parameters and pending
 * enrolments. Returns 0 or an error (fatal for the daemon).
 */
int agg_market_start(agg_market *m);

/*
 * agg_market_stopped_cleanly - record that this run stopped cleanly: every
 * message received was stored (call it last, after the final ingest
 * commit). agg_market_start clears the mark; finding it absent at start
 * means the last run died with messages paho had acknowledged to the
 * broker possibly unstored, and settlement of the intervals that ended
 * before that start waits, when readings are missing, until
 * max(end + market.receipt_timeout, start + interval) + grace, when the
 * meters' re-sends of unreceipted readings are in (docs/protocol.md,
 * "Delivery and receipts"). The hold is kept in the database, so a clean
 * restart during it keeps it. Outside any transaction. 0 or an error.
 */
int agg_market_stopped_cleanly(agg_market *m);

/*
 * agg_market_check_published - compare the checkpoint this community's
 * broker retains on public/checkpoint (the note text, already taken out
 * of its verified envelope) with the database: the ledger must hold at
 * least its size and have the same root at that size. A database behind
 * or beside what was published (restored from an old backup, or another
 * community's) would re-settle intervals the meters already hold results
 * for, so it is refused with an error that says what to do. A note that
 * does not verify with our log key is logged and not judged. Returns 0,
 * GL_ECONFLICT, or a ledger error.
 */
int agg_market_check_published(agg_market *m, const char *note);

/* ---- Ingest's questions and hooks (inside the ingest transaction) -------- */

/* The first interval this aggregator settles. */
int64_t agg_market_first(const agg_market *m);

/* True when `interval` is settled already. */
bool agg_market_settled(const agg_market *m, int64_t interval);

/* An on-time reading of `interval` by an active meter was stored. */
void agg_market_reading(agg_market *m, int64_t interval);

/*
 * agg_market_recount - count again, from the database, the on-time
 * readings of active meters per unsettled interval (after a meter reload:
 * a meter revoked after it delivered no longer makes an interval "all
 * in"). Outside or inside a transaction. 0 or a storage error.
 */
int agg_market_recount(agg_market *m);

/*
 * agg_market_late_reading - log a late reading (digest flagged
 * AGG_READING_LATE); r->ledger_index receives its index. The settled
 * interval and its results stay as they are: the meter's result already
 * says "missing", which is its answer for a late reading. Returns 0 or a
 * ledger error.
 */
int agg_market_late_reading(agg_market *m, agg_reading_rec *r);

/* agg_market_prefs - log standing limits (two order entries). */
int agg_market_prefs(agg_market *m, const agg_prefs_rec *p);

/*
 * agg_market_order - continuous mode: apply an order to its interval's
 * book (a later seq replaces the meter's earlier order; an earlier seq
 * arriving late is ignored). Other modes: nothing to do. Memory is
 * bounded: order steps in force over all open books are limited per
 * meter (market.max_orders_per_meter) and in total (market.max_orders);
 * books start small and are rebuilt twice as large from the stored
 * orders when they fill. Returns 0, GL_EPERM (the meter has too many
 * steps in force: refused), GL_EFULL (the total is reached, or the book
 * cannot grow: refused) or GL_ENOMEM.
 */
int agg_market_order(agg_market *m, const agg_order_rec *o);

/* ---- Driving it ---------------------------------------------------------- */

/* agg_market_online - the aggregator (re)subscribed at `t` (wall time). */
void agg_market_online(agg_market *m, int64_t t);

/*
 * agg_market_session_gap - the broker connection came back at `t` (wall
 * time) after a gap in which messages addressed to the aggregator may have
 * been lost: a reconnect (a broker killed with SIGKILL forgets what it
 * acknowledged since its last save, even when it still knows our session)
 * or a first connection on which the broker kept no session. Intervals
 * that ended before `t` and still lack readings then wait for the meters'
 * re-sends exactly as after an unclean stop (market.receipt_timeout); the
 * time is stored so a restart during the wait keeps it. Intervals whose
 * readings are all in settle at once as always. Returns 0 or a store error
 * (the wait then still applies to this run). Not thread-safe (event loop).
 */
int agg_market_session_gap(agg_market *m, int64_t t);

/*
 * agg_market_next - the wall time something is next due (a deadline or a
 * gate closure), INT64_MAX when nothing is pending.
 */
int64_t agg_market_next(const agg_market *m, int64_t now);

/*
 * agg_market_tick - settle every interval that is due at `now` (in order;
 * `online` false holds settlement back), close continuous books whose gate
 * has passed. Must be called outside any transaction. *settled (may be
 * NULL) gets the number settled. Returns 0 or an error (fatal).
 */
int agg_market_tick(agg_market *m, int64_t now, bool online, int *settled);

/*
 * agg_market_settle - settle the next interval now, whatever its
 * deadline (benchmarks and tests). Returns 0, GL_EAGAIN (its interval has
 * not ended yet) or an error.
 */
int agg_market_settle_next(agg_market *m);

/*
 * agg_market_after_commit - after an ingest commit (outside any
 * transaction). Returns 0 or an error.
 */
int agg_market_after_commit(agg_market *m);

/*
 * agg_market_log_enrolments - append enrolment and revocation entries for
 * meters the ledger does not record yet (after a meter reload). Outside
 * any transaction. Returns 0 or an error.
 */
int agg_market_log_enrolments(agg_market *m);

/*
 * agg_market_reserve_seqs - make sure sequence numbers for at least
 * `n` more signed messages are durably reserved. Outside any transaction.
 */
int agg_market_reserve_seqs(agg_market *m, int64_t n);

/* agg_market_next_seq - the next sequence number (reserved). */
int64_t agg_market_next_seq(agg_market *m);

/* agg_market_last_settled - the newest settled interval, or first - L. */
int64_t agg_market_last_settled(const agg_market *m);

/* Timing of the last settlement, for benchmarks: ns of real time for the
 * clearing, settlement and ledger transaction, and for signing results. */
typedef struct agg_market_timing {
  int64_t settle_ns;
  int64_t results_ns;
  int64_t checkpoint_ns;
  size_t meters;
  size_t entries;
} agg_market_timing;
void agg_market_last_timing(const agg_market *m, agg_market_timing *t);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_MARKET_H */
