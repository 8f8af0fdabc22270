/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_store.h - the aggregator's database: one SQLite file in WAL
 * mode with synchronous=FULL that holds the aggregator's own state and,
 * on the same connection, the ledger's lg_ tables (gridlet/ledger.h,
 * "shared transaction"), so that an interval's settlement, the ledger
 * entries that record it and the state that says it is done commit
 * together or not at all.
 *
 * Tables (all prefixed agg_; docs/operations/aggregator.md describes them
 * for operators and backups):
 *   agg_meta         schema version, community, interval length, counters
 *   agg_meters       enrolled meters: certificate, key, state, rated power
 *   agg_meter_dyn    per meter: highest seq, last counters, latest status
 *   agg_messages     every authentic signed message (meter, seq) as
 *                    received, with its digest and outcome
 *   agg_evidence     messages that reused a sequence number
 *   agg_readings     accepted readings per (interval, meter)
 *   agg_prefs        standing limits (expost) as received
 *   agg_orders       orders (exante, continuous) as received
 *   agg_intervals    one row per settled interval: the state machine
 *   agg_settlements  per (interval, meter): the settlement and its ledger
 *                    entries
 *   agg_trades       per interval: the trades settled
 *   agg_balances     per meter: running totals (equal to the ledger's)
 *   agg_results      per (interval, meter): the signed result last sent
 *   agg_outbox       signed messages not yet acknowledged by the broker
 *   agg_checkpoints  every checkpoint signed, with its note
 *
 * agg_meta keys: schema_version, community, interval_ns, first_interval
 * (the first interval settled here), seq_hwm (signed sequence numbers
 * reserved up to), meters_version (bumped by the CLI's meter commands),
 * param:<key> (market parameters last logged), clean_shutdown (1 only
 * between a clean stop and the next start) and recover_at (the start
 * after the last unclean stop; see agg_market_stopped_cleanly).
 *
 * Conventions for every function below unless its comment says otherwise:
 * returns 0, GL_ENOENT (a get or find that found nothing) or GL_ESTORE;
 * writes join the transaction the caller opened (agg_store_begin), or
 * commit alone when none is open, and are visible to reads on the same
 * handle at once; records passed in
 * are borrowed for the call and copied; records given to a callback are
 * valid only during the call; a non-zero callback return stops the walk
 * and is returned; a returned malloc'd buffer is the caller's to free.
 *
 * Growth (measured figures: docs/operations/aggregator.md, "Database
 * growth"): per interval and meter, a stored raw message (agg_messages,
 * pruned after storage.retention), a reading, a settlement row, a signed
 * result and the ledger's entries, kept forever.
 *
 * This file's implementation is the only place that speaks SQL; every
 * SQLITE_* error becomes GL_ESTORE (GL_EAGAIN for a busy database) with a
 * log line naming the statement. Statements are prepared once per handle.
 *
 * Thread-safety: a handle belongs to one thread. The HTTP thread opens its
 * own read-only handle on the same file (WAL lets it read while the loop
 * writes).
 */
#ifndef GRIDLET_AGG_STORE_H
#define GRIDLET_AGG_STORE_H

#include "gridlet/ledger_entry.h"
#include "gridlet/pr_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqlite3 sqlite3;
typedef struct agg_store agg_store;

#define AGG_SCHEMA_VERSION 1
#define AGG_ID_LEN (PR_ID_MAX + 1)
#define AGG_MAX_REFS PR_MAX_LEDGER_ENTRIES

/*
 * agg_store_open - open the database at `path`; with `create` make the
 * file and the schema when missing; `read_only` for the HTTP thread and
 * tools. Sets WAL, synchronous=FULL and a busy timeout. Returns 0 and an
 * owned handle, GL_ENOENT (no database and not `create`), GL_ECONFIG
 * (a schema version this program does not know) or GL_ESTORE.
 */
int agg_store_open(const char *path, bool create, bool read_only,
                   agg_store **out);

/* agg_store_free - finalize statements and close; NULL is a no-op. */
void agg_store_free(agg_store *st);

/* agg_store_db - the connection, for lg_ledger_open_db (borrowed). */
sqlite3 *agg_store_db(agg_store *st);

/* ---- Transactions -------------------------------------------------------- */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. begin: GL_ESTATE if one is open. */
int agg_store_begin(agg_store *st);
int agg_store_commit(agg_store *st);
/* agg_store_begin_read - BEGIN (deferred): every read until commit sees one
 * snapshot of the database (a read-only handle's "transaction"). End it
 * with agg_store_commit. GL_ESTATE if one is open. */
int agg_store_begin_read(agg_store *st);
void agg_store_rollback(agg_store *st);
bool agg_store_in_tx(const agg_store *st);

/* ---- Meta ---------------------------------------------------------------- */

/* Small named values. get: 0 or GL_ENOENT. */
int agg_store_meta_get(agg_store *st, const char *key, int64_t *v);
int agg_store_meta_set(agg_store *st, const char *key, int64_t v);
int agg_store_meta_get_text(agg_store *st, const char *key, char *buf,
                            size_t size);
int agg_store_meta_set_text(agg_store *st, const char *key, const char *v);

/* ---- Meters -------------------------------------------------------------- */

enum { AGG_METER_ACTIVE = 1, AGG_METER_REVOKED = 2 };
/* What the ledger already records about a meter (enrolment entries). */
enum { AGG_LOGGED_NONE = 0, AGG_LOGGED_ENROL = 1, AGG_LOGGED_REVOKE = 2 };

typedef struct agg_meter_rec {
  char id[AGG_ID_LEN];
  char serial[48];
  uint8_t pub[32];
  const uint8_t *cert; /* DER; borrowed (callbacks: valid during the call) */
  size_t cert_len;
  int64_t not_after;
  int state; /* AGG_METER_* */
  int64_t enrolled_at;
  int64_t revoked_at; /* 0 when not revoked */
  int64_t rated_w;    /* 0: the configured default */
  int logged;         /* AGG_LOGGED_* */
} agg_meter_rec;

/* Insert or replace a meter (its certificate changes on re-enrolment). */
int agg_store_meter_put(agg_store *st, const agg_meter_rec *m);
int agg_store_meter_set_state(agg_store *st, const char *id, int state,
                              int64_t revoked_at);
int agg_store_meter_set_logged(agg_store *st, const char *id, int logged);
int agg_store_meter_set_rated(agg_store *st, const char *id, int64_t rated_w);
/* One meter; GL_ENOENT. `m->cert` is NULL (use the each walk for it). */
int agg_store_meter_get(agg_store *st, const char *id, agg_meter_rec *m);
typedef int (*agg_meter_cb)(void *ctx, const agg_meter_rec *m);
/* Every meter in id order; a non-zero callback return stops the walk. */
int agg_store_meters_each(agg_store *st, agg_meter_cb cb, void *ctx);

/* Per-meter dynamic state. */
typedef struct agg_meter_dyn {
  char id[AGG_ID_LEN];
  int64_t max_seq;  /* highest seq stored for the meter, 0 = none */
  int64_t last_end; /* end of the newest reading with registers, 0 = none */
  int64_t last_import_total, last_export_total; /* -1 = unknown */
  int status;        /* pr_state of the latest status, 0 = none */
  int64_t status_ts; /* its ts */
  int64_t outbox;    /* reported outbox depth, -1 = unknown */
  char version[PR_TOKEN_MAX + 1];
  int64_t last_seen;    /* wall ns of the last accepted message */
  int64_t last_reading; /* start of the newest accepted reading, 0 = none */
} agg_meter_dyn;

int agg_store_dyn_put(agg_store *st, const agg_meter_dyn *d);
int agg_store_dyn_get(agg_store *st, const char *id, agg_meter_dyn *d);
typedef int (*agg_dyn_cb)(void *ctx, const agg_meter_dyn *d);
int agg_store_dyn_each(agg_store *st, agg_dyn_cb cb, void *ctx);
/* Only the meters whose latest status reported an outbox depth (>= 0), in
 * id order, with just that depth: what /metrics renders on every scrape,
 * without decoding every meter's whole row. `id` is valid during the call;
 * a non-zero callback return stops the walk. */
typedef int (*agg_depth_cb)(void *ctx, const char *id, int64_t outbox);
int agg_store_dyn_outboxes(agg_store *st, agg_depth_cb cb, void *ctx);

/* ---- Messages ------------------------------------------------------------ */

typedef struct agg_msg_rec {
  char meter[AGG_ID_LEN];
  int64_t seq;
  int kind;         /* agg_kind */
  int64_t received; /* wall ns */
  uint8_t digest[32];
  int outcome;          /* agg_reason: AGG_R_NONE = accepted */
  const uint8_t *bytes; /* the COSE message, borrowed */
  size_t len;
} agg_msg_rec;

int agg_store_msg_put(agg_store *st, const agg_msg_rec *m);
/* The message stored under (meter, seq): digest and outcome; GL_ENOENT. */
int agg_store_msg_find(agg_store *st, const char *meter, int64_t seq,
                       uint8_t digest[32], int *outcome);
/* The bytes of a stored message, owned (free()); GL_ENOENT. */
int agg_store_msg_bytes(agg_store *st, const char *meter, int64_t seq,
                        uint8_t **bytes, size_t *len);
/* Keep a message that reused `seq` (evidence), with the first's digest. */
int agg_store_evidence_put(agg_store *st, const agg_msg_rec *m,
                           const uint8_t first_digest[32]);
/* Delete up to `limit` messages received before `before`; *n deleted. */
int agg_store_msg_prune(agg_store *st, int64_t before, int limit, int *n);

/* ---- Readings, prefs, orders --------------------------------------------- */

typedef struct agg_reading_rec {
  int64_t interval; /* start */
  char meter[AGG_ID_LEN];
  int64_t seq;
  int64_t import_wh, export_wh, pv_wh, charge_wh, discharge_wh;
  uint32_t flags; /* PR_FLAG_* */
  uint8_t digest[32];
  int late;             /* AGG_ON_TIME or AGG_LATE */
  int64_t ledger_index; /* -1 until logged */
} agg_reading_rec;

/* A reading's lateness: on time, or arrived after its interval was
 * settled (logged, not settled). */
enum { AGG_ON_TIME = 0, AGG_LATE = 1 };

int agg_store_reading_put(agg_store *st, const agg_reading_rec *r);
int agg_store_reading_find(agg_store *st, int64_t interval, const char *meter,
                           agg_reading_rec *r);
int agg_store_reading_set_index(agg_store *st, int64_t interval,
                                const char *meter, int64_t index);
typedef int (*agg_reading_cb)(void *ctx, const agg_reading_rec *r);
/* The interval's readings (late ones too, unless `on_time_only`), by
 * meter id. */
int agg_store_readings_each(agg_store *st, int64_t interval, bool on_time_only,
                            agg_reading_cb cb, void *ctx);
/* For each interval after `after`, the number of on-time readings of
 * meters whose stored state is active. */
int agg_store_reading_counts(agg_store *st, int64_t after,
                             int (*cb)(void *ctx, int64_t interval, int64_t n),
                             void *ctx);

typedef struct agg_prefs_rec {
  char meter[AGG_ID_LEN];
  int64_t seq;
  int64_t effective;
  bool has_buy;
  int64_t buy; /* buy_below */
  bool has_sell;
  int64_t sell; /* sell_above */
  uint8_t digest[32];
} agg_prefs_rec;

int agg_store_prefs_put(agg_store *st, const agg_prefs_rec *p);
typedef int (*agg_prefs_cb)(void *ctx, const agg_prefs_rec *p);
/* Per meter, the prefs in force for an interval starting at `start`: the
 * highest seq among those effective at or before it. By meter id. */
int agg_store_prefs_in_force(agg_store *st, int64_t start, agg_prefs_cb cb,
                             void *ctx);

typedef struct agg_order_rec {
  int64_t interval;
  char meter[AGG_ID_LEN];
  int64_t seq;
  int64_t rx; /* arrival order (time priority) */
  size_t nsteps;
  pr_step steps[PR_MAX_STEPS];
  uint8_t digest[32];
} agg_order_rec;

int agg_store_order_put(agg_store *st, const agg_order_rec *o);
typedef int (*agg_order_cb)(void *ctx, const agg_order_rec *o);
/* Orders with interval > `after` (all intervals: after = INT64_MIN), or of
 * one interval when `only` is true, in arrival order. */
int agg_store_orders_each(agg_store *st, int64_t interval, bool only,
                          agg_order_cb cb, void *ctx);
/* The highest rx stored, 0 when none. */
int agg_store_order_max_rx(agg_store *st, int64_t *rx);

/* ---- Intervals, settlements, trades, balances ---------------------------- */

/* Interval states. */
enum {
  AGG_IV_SETTLED = 1,   /* settlement and ledger entries committed */
  AGG_IV_RESULTS = 2,   /* signed results and summary in the outbox */
  AGG_IV_PUBLISHED = 3, /* every result acknowledged by the broker */
};

typedef struct agg_interval_rec {
  int64_t start;
  int64_t len_s;
  int mode; /* mkt_mode */
  int rule; /* mkt_rule */
  int state;
  int64_t settled_at;                 /* wall ns */
  int64_t ledger_first, ledger_count; /* the interval's batch */
  int64_t checkpoint; /* size of the checkpoint its results cite, 0 = none */
  bool has_price;
  int64_t price;
  int64_t volume, meters, missing;
  int64_t import_wh, export_wh, grid_import, grid_export;
  int64_t fees, utility, surplus, local_paid;
  int64_t retail, feed_in, fee_price;
  int64_t clearing_ns; /* measured duration */
} agg_interval_rec;

int agg_store_interval_put(agg_store *st, const agg_interval_rec *iv);
int agg_store_interval_get(agg_store *st, int64_t start, agg_interval_rec *iv);
int agg_store_interval_set_state(agg_store *st, int64_t start, int state,
                                 int64_t checkpoint);
/* The newest settled interval; GL_ENOENT when none. */
int agg_store_interval_last(agg_store *st, agg_interval_rec *iv);
typedef int (*agg_interval_cb)(void *ctx, const agg_interval_rec *iv);
/* Intervals with from <= start < to, newest first when `desc`, at most
 * `limit` (0: all). */
int agg_store_intervals_each(agg_store *st, int64_t from, int64_t to, bool desc,
                             int64_t limit, agg_interval_cb cb, void *ctx);
/* Intervals in a state below `below`, oldest first. */
int agg_store_intervals_in_state(agg_store *st, int below, agg_interval_cb cb,
                                 void *ctx);

typedef struct agg_settle_rec {
  int64_t interval;
  char meter[AGG_ID_LEN];
  uint32_t flags; /* PR_RESULT_* */
  int64_t import_wh, export_wh;
  int64_t bought, sold, grid_import, grid_export;
  int64_t local_paid, local_received, grid_paid, grid_received, fee, net;
  int64_t balance; /* running balance after this interval */
  size_t nrefs;
  int64_t refs[AGG_MAX_REFS]; /* ledger indices, increasing */
} agg_settle_rec;

int agg_store_settle_put(agg_store *st, const agg_settle_rec *s);
int agg_store_settle_get(agg_store *st, int64_t interval, const char *meter,
                         agg_settle_rec *s);
int agg_store_settle_set_refs(agg_store *st, int64_t interval,
                              const char *meter, const int64_t *refs, size_t n);
typedef int (*agg_settle_cb)(void *ctx, const agg_settle_rec *s);
/* Settlements with from <= interval < to, of one meter (NULL: all), by
 * interval then meter (newest first when `desc`), at most `limit`. */
int agg_store_settle_each(agg_store *st, int64_t from, int64_t to,
                          const char *meter, bool desc, int64_t limit,
                          agg_settle_cb cb, void *ctx);

typedef struct agg_trade_rec {
  int64_t interval;
  int64_t idx;
  char buyer[AGG_ID_LEN], seller[AGG_ID_LEN];
  int64_t wh, buy_price, sell_price;
} agg_trade_rec;

int agg_store_trade_put(agg_store *st, const agg_trade_rec *t);
typedef int (*agg_trade_cb)(void *ctx, const agg_trade_rec *t);
/* Trades with from <= interval < to of one meter (NULL: all), in interval
 * and trade order (newest first when `desc`), at most `limit`. */
int agg_store_trades_each(agg_store *st, int64_t from, int64_t to,
                          const char *meter, bool desc, int64_t limit,
                          agg_trade_cb cb, void *ctx);

typedef struct agg_balance_rec {
  char meter[AGG_ID_LEN];
  int64_t money, fees, bought, sold, grid_import, grid_export;
  int64_t intervals, missing;
} agg_balance_rec;

/* GL_ENOENT when the meter was never settled. */
int agg_store_balance_get(agg_store *st, const char *meter, agg_balance_rec *b);
int agg_store_balance_put(agg_store *st, const agg_balance_rec *b);
typedef int (*agg_balance_cb)(void *ctx, const agg_balance_rec *b);
int agg_store_balances_each(agg_store *st, agg_balance_cb cb, void *ctx);

/* ---- Results, outbox, checkpoints ---------------------------------------- */

int agg_store_result_put(agg_store *st, int64_t interval, const char *meter,
                         int64_t seq, const uint8_t *bytes, size_t len);
/* The signed result last sent; owned bytes (free()); GL_ENOENT. */
int agg_store_result_get(agg_store *st, int64_t interval, const char *meter,
                         uint8_t **bytes, size_t *len);

typedef struct agg_outbox_rec {
  int64_t id;
  char topic[128];
  const uint8_t *bytes; /* borrowed */
  size_t len;
  bool retain;
  int kind;         /* agg_pub */
  int64_t interval; /* 0 = none */
  int64_t hold;     /* results, summaries: publish once a checkpoint of this
                       size is out; a checkpoint: its own size */
} agg_outbox_rec;

/* Append; *id (may be NULL) gets its id (publication order). */
int agg_store_outbox_add(agg_store *st, const agg_outbox_rec *o, int64_t *id);
int agg_store_outbox_del(agg_store *st, int64_t id);
typedef int (*agg_outbox_cb)(void *ctx, const agg_outbox_rec *o);
/* Rows with id > after, by id, at most `limit`. */
int agg_store_outbox_each(agg_store *st, int64_t after, int64_t limit,
                          agg_outbox_cb cb, void *ctx);
int agg_store_outbox_count(agg_store *st, int64_t interval, int64_t *n);

int agg_store_checkpoint_put(agg_store *st, int64_t size, const char *note,
                             int64_t signed_at);
/* The note of the checkpoint of `size` (0: the latest), owned; *size_out
 * (may be NULL) gets its size. GL_ENOENT. */
int agg_store_checkpoint_get(agg_store *st, int64_t size, char **note,
                             int64_t *size_out, int64_t *signed_at);
typedef int (*agg_checkpoint_cb)(void *ctx, int64_t size, const char *note,
                                 int64_t signed_at);
int agg_store_checkpoints_each(agg_store *st, int64_t limit,
                               agg_checkpoint_cb cb, void *ctx);

/* ---- Refusals per meter -------------------------------------------------- */

/* A meter's refused messages still kept (agg_messages within
 * storage.retention, and agg_evidence): only authenticated messages are
 * stored, so these are attributable to the meter (refusals decided from
 * the bytes alone, e.g. bad_signature, are counted in metrics only). */
typedef struct agg_reject_rec {
  char meter[AGG_ID_LEN];
  int64_t count;
  int64_t last_at; /* wall ns the newest was received */
  int last_reason; /* its agg_reason */
} agg_reject_rec;

typedef int (*agg_reject_cb)(void *ctx, const agg_reject_rec *r);
/* Every meter with at least one refusal, by meter id. */
int agg_store_rejections_each(agg_store *st, agg_reject_cb cb, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_STORE_H */
