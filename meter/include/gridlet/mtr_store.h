/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_store.h - the meter agent's durable state: one SQLite file
 * in WAL mode with synchronous=FULL, so a committed transaction survives
 * a power cut, and `gridlet-meter status` can read it while the agent
 * runs. The only file of the meter that talks to SQLite (its errors are
 * translated here and logged with SQLite's message).
 *
 * Tables (schema version 2; a version 1 file is upgraded when the agent
 * opens it):
 *   meta         key/value: schema version, meter id and community the
 *                file belongs to, the next sequence number, the interval
 *                accountant's state, trading bookkeeping, broker state
 *   outbox       signed messages not yet acknowledged by the broker
 *                (seq, kind, topic, interval, expiry, exact bytes)
 *   readings     every reading made, with its exact signed bytes and its
 *                delivery state (queued, awaiting receipt, receipted,
 *                confirmed in the ledger, late, dropped, unconfirmed,
 *                refused): the "awaiting receipt" set is state AWAITING
 *   results      verified results from the aggregator, one per interval
 *   checkpoints  verified ledger checkpoints seen (size, root, note)
 *   checks       proof requests to make, awaiting an answer, or finished
 *   alarms       integrity alarms (time, kind, text)
 *   counters     named event counters (rejections, drops, alarms, ...)
 *
 * Retention: the file does not grow forever. Readings that need nothing
 * more go after about a week (mtr_store_reading_prune); results, finished
 * checks, old checkpoints and alarms after meter.retention
 * (mtr_store_prune, daily); outbox rows leave on PUBACK or are set aside;
 * counters and meta are a fixed small set.
 *
 * Sequence numbers: mtr_store_next_seq hands out the next number (at
 * least a floor from the clock) and records the one after it in the same
 * transaction, so a number is used once whether or not the transaction's
 * message is ever published; a number from a rolled-back transaction is
 * handed out again, which is safe because nothing signed with it
 * survived.
 *
 * Transactions: mtr_store_begin / commit / rollback bracket several calls
 * (BEGIN IMMEDIATE); single calls outside a transaction commit on their
 * own. Every function returns 0 or a negative GL_E* code: GL_ESTORE for a
 * database failure (logged), GL_ENOENT when a row asked for is absent,
 * GL_ETOOBIG when a stored value does not fit the caller's buffer.
 *
 * Thread-safety: a store belongs to one thread. Several processes may
 * open the same file (the agent writes; status reads).
 */
#ifndef GRIDLET_MTR_STORE_H
#define GRIDLET_MTR_STORE_H

#include "gridlet/pr_ident.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest signed message the meter itself queues (an order, sealed). */
#define MTR_MSG_MAX 4352
/* Largest result envelope stored (result payload limit + overhead). */
#define MTR_RESULT_MAX 12544

typedef struct mtr_store mtr_store;

typedef struct mtr_store_opts {
  bool read_only; /* status: never writes, never creates */
  bool create;    /* create the file and tables when absent */
  /* The identity the file belongs to: recorded at creation and compared
   * at every open (GL_ECONFLICT when the file is another meter's). NULL
   * skips the check (status). */
  const char *meter_id;
  const char *community;
} mtr_store_opts;

/*
 * mtr_store_open - open (or create) the database at `path`. Returns 0 and
 * an owned handle; GL_ENOENT (no file and not `create`), GL_ECONFLICT
 * (another meter's or community's file, or a newer schema), GL_ESTORE.
 */
int mtr_store_open(const char *path, const mtr_store_opts *opts,
                   mtr_store **out);

/* mtr_store_free - close (statements finalized, the connection closed);
 * NULL is a no-op. */
void mtr_store_free(mtr_store *s);

/*
 * mtr_store_agent_lock - take the agent's lock on the database at `path`:
 * an exclusive flock(2) on "<path>.lock" (created mode 0600), held until
 * *fd is closed (also by the kernel when the process dies, kill -9
 * included). Returns 0 and the descriptor in *fd; GL_EEXIST when another
 * process holds it (an agent runs on this database); GL_EIO (logged).
 */
int mtr_store_agent_lock(const char *path, int *fd);

/*
 * mtr_store_agent_running - whether an agent holds the lock of the
 * database at `path`, without taking it for long. Returns 0 with *running
 * set; GL_EIO when the lock file cannot be opened (no permission): the
 * answer is unknown.
 */
int mtr_store_agent_running(const char *path, bool *running);

/*
 * mtr_store_begin - start a transaction (BEGIN IMMEDIATE: the write lock is
 * taken now, waiting up to 5 s for another writer). Returns 0, GL_ESTATE
 * when one is open already, GL_ESTORE.
 */
int mtr_store_begin(mtr_store *s);

/*
 * mtr_store_commit - commit the open transaction (on disk when it
 * returns: synchronous=FULL). On failure it is rolled back. Returns 0,
 * GL_ESTATE (none open), GL_ESTORE.
 */
int mtr_store_commit(mtr_store *s);

/* mtr_store_rollback - roll back the open transaction, if any. */
void mtr_store_rollback(mtr_store *s);

/*
 * mtr_store_durability - what the connection really runs with: *wal is
 * true in WAL journal mode, *full with synchronous FULL (or EXTRA).
 * Returns 0 or GL_ESTORE. (Tests pin the guarantees of the header.)
 */
int mtr_store_durability(mtr_store *s, bool *wal, bool *full);

/*
 * mtr_store_prune - forget what is older than `before` (wall time, ns):
 * results of intervals ended before it except the latest, proof checks
 * finished (done,
 * failed, given up) before it, alarms raised before it except the newest
 * (alarm ids never go back; the counters keep their totals), and
 * checkpoints received before it except the latest one and those an open
 * check still needs. *n (may be NULL) receives how
 * many rows went. Returns 0 or GL_ESTORE. The agent calls it daily with
 * now - meter.retention; readings have their own rule
 * (mtr_store_reading_prune).
 */
int mtr_store_prune(mtr_store *s, int64_t before, int64_t *n);

/* ---- Key/value ----------------------------------------------------------- */

/* Keys used by the agent. */
#define MTR_KEY_METER "meter"
#define MTR_KEY_COMMUNITY "community"
#define MTR_KEY_NEXT_SEQ "next_seq"
#define MTR_KEY_ACCOUNT "account"
#define MTR_KEY_PREFS_SENT "prefs_sent"       /* acknowledged by the broker */
#define MTR_KEY_PREFS_PENDING "prefs_pending" /* queued, not yet acked */
#define MTR_KEY_PREFS_SEQ "prefs_seq"         /* its seq */
#define MTR_KEY_ORDER_NEXT "order_next"
#define MTR_KEY_BATTERY_PLAN "battery_plan" /* see mtr_battery_plan */
#define MTR_KEY_BROKER "broker"             /* 1 connected, 0 not */
#define MTR_KEY_BROKER_SINCE "broker_since" /* wall time of the change */
#define MTR_KEY_LAST_ACK "last_ack"         /* wall time of the last PUBACK */
#define MTR_KEY_AGENT_PID "agent_pid"
#define MTR_KEY_AGENT_START "agent_start"
/* When the agent last stopped on request (SIGTERM, mtr_agent_stop); 0
 * while it runs or after it died. */
#define MTR_KEY_AGENT_STOP "agent_stop"
#define MTR_KEY_INTERVAL "interval" /* the agent's interval, ns */
/* Heartbeat, written with every periodic state save: the agent's clock
 * and the real clock at that moment (status judges a stuck agent by
 * them, whatever clock the agent runs on). */
#define MTR_KEY_ALIVE "alive"
#define MTR_KEY_ALIVE_REAL "alive_real"
/* Why the aggregator's certificate is not trusted ("" when it is). */
#define MTR_KEY_TRUST "trust_problem"
/* Alarms up to this id were acknowledged (gridlet-meter alarms --ack). */
#define MTR_KEY_ALARMS_ACKED "alarms_acked"

/*
 * mtr_store_get_blob - the value of `key` into `buf` (`cap` bytes), its
 * length into *len. Returns 0, GL_ENOENT (no such key), GL_ETOOBIG (does
 * not fit), GL_ESTORE.
 */
int mtr_store_get_blob(mtr_store *s, const char *key, uint8_t *buf, size_t cap,
                       size_t *len);

/* mtr_store_put_blob - set `key` to `len` bytes (copied; replaces any
 * value). Returns 0 or GL_ESTORE. */
int mtr_store_put_blob(mtr_store *s, const char *key, const void *data,
                       size_t len);

/* mtr_store_get_int - an integer value. Returns 0, GL_ENOENT, GL_ESTORE. */
int mtr_store_get_int(mtr_store *s, const char *key, int64_t *v);

/* mtr_store_put_int - set an integer value. Returns 0 or GL_ESTORE. */
int mtr_store_put_int(mtr_store *s, const char *key, int64_t v);

/* mtr_store_get_text - a text value (stored with put_blob), NUL-terminated
 * in `buf`. Returns as mtr_store_get_blob. */
int mtr_store_get_text(mtr_store *s, const char *key, char *buf, size_t cap);

/*
 * mtr_store_next_seq - the next sequence number: the recorded one, but at
 * least `floor`; records its successor. Call inside a transaction that
 * also stores what is signed with it. The agent passes the wall time in
 * milliseconds as `floor`, so a database restored from a backup (its
 * recorded number from the past) never hands out a number used since
 * (docs/protocol.md, "Sequence numbers"). Returns 0, GL_EFULL when the
 * number would reach PR_INT_MAX (2^53-1; with milliseconds, the year
 * 287000), or a store error.
 */
int mtr_store_next_seq(mtr_store *s, int64_t floor, int64_t *seq);

/* ---- Outbox -------------------------------------------------------------- */

typedef enum mtr_msg_kind {
  MTR_MSG_READING = 1,
  MTR_MSG_ORDER = 2,
  MTR_MSG_PREFS = 3,
} mtr_msg_kind;

typedef struct mtr_outbox_row {
  int64_t seq;
  int kind; /* mtr_msg_kind */
  char topic[PR_TOPIC_MAX];
  int64_t start;   /* interval the message is about (0 for prefs) */
  int64_t expires; /* useless after this wall time (orders), else INT64_MAX */
  int64_t created;
  size_t len;
  uint8_t bytes[MTR_MSG_MAX];
} mtr_outbox_row;

/*
 * Outbox rows. Functions that read a row fill *row (a copy) and return 0,
 * GL_ENOENT when there is no such row, GL_ETOOBIG for a stored message
 * larger than MTR_MSG_MAX (never written by the agent), or GL_ESTORE; the
 * others return 0 or GL_ESTORE.
 */

/* mtr_store_outbox_add - insert `row` (copied); its seq must be new. */
int mtr_store_outbox_add(mtr_store *s, const mtr_outbox_row *row);
/* mtr_store_outbox_next - the row with the smallest seq > after_seq. */
int mtr_store_outbox_next(mtr_store *s, int64_t after_seq, mtr_outbox_row *row);
/* mtr_store_outbox_oldest - the oldest row of `kind` (0: any kind). */
int mtr_store_outbox_oldest(mtr_store *s, int kind, mtr_outbox_row *row);
/* mtr_store_outbox_expired - the oldest row that expired before `now`. */
int mtr_store_outbox_expired(mtr_store *s, int64_t now, mtr_outbox_row *row);
/* mtr_store_outbox_delete - remove row `seq` (none: nothing happens). */
int mtr_store_outbox_delete(mtr_store *s, int64_t seq);
/* mtr_store_outbox_count - how many rows the outbox holds. */
int mtr_store_outbox_count(mtr_store *s, int64_t *n);

/* ---- Readings ------------------------------------------------------------ */

typedef enum mtr_reading_state {
  MTR_RS_QUEUED = 0,      /* in the outbox */
  MTR_RS_AWAITING = 1,    /* acknowledged by the broker, no receipt yet */
  MTR_RS_RECEIPTED = 2,   /* a result for its interval arrived */
  MTR_RS_CONFIRMED = 3,   /* the ledger proves the aggregator logged it */
  MTR_RS_LATE = 4,        /* its interval was settled without it */
  MTR_RS_DROPPED = 5,     /* dropped from a full outbox, never sent */
  MTR_RS_UNCONFIRMED = 6, /* no receipt within receipt_give_up */
  MTR_RS_REFUSED = 7,     /* refused by the broker again and again; set
                             aside so the others flow (an alarm) */
  MTR_RS_COUNT
} mtr_reading_state;

/* mtr_reading_state_name - "queued", "awaiting receipt", ... */
const char *mtr_reading_state_name(int state);

typedef struct mtr_reading_row {
  int64_t seq;
  pr_reading r; /* the reading's values */
  int state;    /* mtr_reading_state */
  int64_t due;  /* AWAITING: when to re-send */
  int64_t resends;
  int64_t created;
  int64_t acked; /* when the broker first acknowledged it; 0: not yet */
  char topic[PR_TOPIC_MAX];
  size_t len;
  uint8_t bytes[MTR_MSG_MAX];
} mtr_reading_row;

/*
 * Readings. Functions that read a row fill *row (a copy) and return 0,
 * GL_ENOENT (no such reading), GL_ETOOBIG (stored bytes larger than
 * MTR_MSG_MAX) or GL_ESTORE; the others return 0 or GL_ESTORE.
 */

/* mtr_store_reading_add - insert `row` (copied); its seq and its interval
 * start must be new (GL_ESTORE otherwise: one reading per interval). */
int mtr_store_reading_add(mtr_store *s, const mtr_reading_row *row);
/* mtr_store_reading_get - the reading with `seq`. */
int mtr_store_reading_get(mtr_store *s, int64_t seq, mtr_reading_row *row);
/* mtr_store_reading_by_start - the reading of the interval at `start`. */
int mtr_store_reading_by_start(mtr_store *s, int64_t start,
                               mtr_reading_row *row);
/* mtr_store_reading_last - the newest reading (highest seq). */
int mtr_store_reading_last(mtr_store *s, mtr_reading_row *row);
/* mtr_store_reading_next - the reading with the smallest seq > after_seq
 * (walking every reading: sequence numbers are sparse, they follow the
 * wall clock in milliseconds). */
int mtr_store_reading_next(mtr_store *s, int64_t after_seq,
                           mtr_reading_row *row);
/* mtr_store_reading_set_state - set state, due time and re-send count of
 * reading `seq` (none: nothing happens). */
int mtr_store_reading_set_state(mtr_store *s, int64_t seq, int state,
                                int64_t due, int64_t resends);
/* mtr_store_reading_due - the AWAITING reading with the earliest due time
 * <= now. */
int mtr_store_reading_due(mtr_store *s, int64_t now, mtr_reading_row *row);
/* The oldest AWAITING reading first acknowledged by the broker before
 * `before` (receipt_give_up counts from the first publish, not from the
 * interval's end: a reading that waited out a broker outage in the outbox
 * gets its full time). */
int mtr_store_reading_stale(mtr_store *s, int64_t before, mtr_reading_row *row);
/* Record that the broker first acknowledged reading `seq` at `when` (a
 * later call changes nothing). */
int mtr_store_reading_acked(mtr_store *s, int64_t seq, int64_t when);
/* mtr_store_reading_count - how many readings are in `state`; a negative
 * `state` counts all of them. */
int mtr_store_reading_count(mtr_store *s, int state, int64_t *n);
/* mtr_store_reading_prune - forget readings of intervals ending before
 * `before` that need nothing more (receipted, confirmed, late, dropped,
 * unconfirmed, refused): not those queued or awaiting a receipt. */
int mtr_store_reading_prune(mtr_store *s, int64_t before);

/* ---- Results ------------------------------------------------------------- */

typedef struct mtr_result_row {
  int64_t start, end;
  int64_t seq; /* the aggregator's seq */
  int64_t received;
  uint32_t flags; /* PR_RESULT_* */
  int64_t net, balance;
  int64_t ledger_size;
  size_t len;
  uint8_t bytes[MTR_RESULT_MAX];
} mtr_result_row;

/* mtr_store_result_put - insert `row` (copied). Returns 0, GL_EEXIST when
 * the interval has a result already, GL_ENOMEM, GL_ESTORE. */
int mtr_store_result_put(mtr_store *s, const mtr_result_row *row);
/* mtr_store_result_get - the result of the interval at `start`: 0,
 * GL_ENOENT, GL_ETOOBIG, GL_ESTORE. */
int mtr_store_result_get(mtr_store *s, int64_t start, mtr_result_row *row);
/* mtr_store_result_last - the result of the latest interval; as _get. */
int mtr_store_result_last(mtr_store *s, mtr_result_row *row);

/* ---- Checkpoints --------------------------------------------------------- */

typedef struct mtr_ckpt_row {
  int64_t size;
  uint8_t root[32];
  int64_t received;
  char note[PR_NOTE_MAX + 1];
} mtr_ckpt_row;

/* mtr_store_ckpt_put - insert `row` (copied). Returns 0 (also when the
 * same size and root are stored already), GL_ECONFLICT when that size is
 * stored with another root, GL_ESTORE. */
int mtr_store_ckpt_put(mtr_store *s, const mtr_ckpt_row *row);
/* mtr_store_ckpt_get - the checkpoint of tree size `size`: 0, GL_ENOENT,
 * GL_EPARSE (a stored root of the wrong length), GL_ESTORE. */
int mtr_store_ckpt_get(mtr_store *s, int64_t size, mtr_ckpt_row *row);
/* mtr_store_ckpt_neighbours - the largest checkpoint smaller than `size`
 * (pred) and the smallest larger one (succ); either may be absent
 * (has_ false). Returns 0 or as _get. */
int mtr_store_ckpt_neighbours(mtr_store *s, int64_t size, mtr_ckpt_row *pred,
                              bool *has_pred, mtr_ckpt_row *succ,
                              bool *has_succ);
/* mtr_store_ckpt_latest - the checkpoint of the largest size; as _get. */
int mtr_store_ckpt_latest(mtr_store *s, mtr_ckpt_row *row);
/* mtr_store_ckpt_count - how many checkpoints are kept. */
int mtr_store_ckpt_count(mtr_store *s, int64_t *n);

/* ---- Proof checks -------------------------------------------------------- */

typedef enum mtr_check_kind {
  MTR_CHECK_INCLUSION = 1,   /* a = leaf index */
  MTR_CHECK_CONSISTENCY = 2, /* a = old size */
} mtr_check_kind;

typedef enum mtr_check_state {
  MTR_CS_PENDING = 0,  /* to send (again) at next_try */
  MTR_CS_SENT = 1,     /* asked; answer due by next_try */
  MTR_CS_DONE = 2,     /* verified */
  MTR_CS_FAILED = 3,   /* the proof failed or was refused */
  MTR_CS_GIVEN_UP = 4, /* no usable answer after MTR_AUDIT_ATTEMPTS tries */
} mtr_check_state;

typedef struct mtr_check_row {
  int64_t id;
  int kind; /* mtr_check_kind */
  int64_t a, size;
  int64_t start; /* inclusion: the interval whose result named the entry */
  int state;     /* mtr_check_state */
  int64_t attempts;
  int64_t next_try;    /* PENDING, SENT: when due; else when it finished */
  int64_t request_seq; /* seq of the last request sent, 0 if none */
} mtr_check_row;

/*
 * Proof checks. Functions that read a row return 0, GL_ENOENT or
 * GL_ESTORE; the counts return 0 or GL_ESTORE.
 */

/* mtr_store_check_add - insert `row` unless the same (kind, a, size)
 * exists; row->id receives the id (of the existing row, too). */
int mtr_store_check_add(mtr_store *s, mtr_check_row *row);
/* mtr_store_check_due - the PENDING or SENT check with the earliest
 * next_try <= now. */
int mtr_store_check_due(mtr_store *s, int64_t now, mtr_check_row *row);
/* mtr_store_check_by_request - the check last asked for with the request
 * of seq `request_seq`. */
int mtr_store_check_by_request(mtr_store *s, int64_t request_seq,
                               mtr_check_row *row);
/* mtr_store_check_update - write state, attempts, next_try, request_seq
 * and start of check row->id. */
int mtr_store_check_update(mtr_store *s, const mtr_check_row *row);
/* Inclusion checks of interval `start` still PENDING or SENT. */
int mtr_store_check_open_for(mtr_store *s, int64_t start, int64_t *n);
/* Inclusion checks of interval `start` that FAILED. */
int mtr_store_check_failed_for(mtr_store *s, int64_t start, int64_t *n);
/* Inclusion checks of interval `start` that were GIVEN_UP. */
int mtr_store_check_given_up_for(mtr_store *s, int64_t start, int64_t *n);
/* Put the FAILED and GIVEN_UP inclusion checks of interval `start` back to
 * PENDING (no attempts, due at `now`); *n receives how many. */
int mtr_store_check_reopen_for(mtr_store *s, int64_t start, int64_t now,
                               int64_t *n);
/* The earliest next_try of PENDING/SENT checks (INT64_MAX: none). */
int mtr_store_check_next_time(mtr_store *s, int64_t *t);
/* How many checks are in `state` (mtr_check_state). */
int mtr_store_check_count(mtr_store *s, int state, int64_t *n);

/* ---- Alarms and counters ------------------------------------------------- */

/* Every function here returns 0 or GL_ESTORE (counter_get: GL_ENOENT for
 * a counter never added to). Strings are copied. */

/* mtr_store_alarm_add - record an alarm (ids increase). */
int mtr_store_alarm_add(mtr_store *s, int64_t time, const char *kind,
                        const char *text);
/* mtr_store_alarm_count - how many alarms are kept. */
int mtr_store_alarm_count(mtr_store *s, int64_t *n);
/* mtr_store_alarm_count_after - how many have an id above `after_id`. */
int mtr_store_alarm_count_after(mtr_store *s, int64_t after_id, int64_t *n);
/* mtr_store_alarm_last_id - the newest alarm's id (0: none). */
int mtr_store_alarm_last_id(mtr_store *s, int64_t *id);
/* mtr_store_alarm_list - call `visit` for the newest alarms, newest first,
 * at most `max`; the strings are valid during the call only. */
typedef void (*mtr_alarm_visit)(void *ctx, int64_t time, const char *kind,
                                const char *text, int64_t id);
int mtr_store_alarm_list(mtr_store *s, int max, mtr_alarm_visit visit,
                         void *ctx);

/* mtr_store_counter_add - add `delta` to counter `name` (created at 0). */
int mtr_store_counter_add(mtr_store *s, const char *name, int64_t delta);
/* mtr_store_counter_get - the value of counter `name`. */
int mtr_store_counter_get(mtr_store *s, const char *name, int64_t *v);
/* mtr_store_counter_list - call `visit` for every counter, by name. */
typedef void (*mtr_counter_visit)(void *ctx, const char *name, int64_t v);
int mtr_store_counter_list(mtr_store *s, mtr_counter_visit visit, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_STORE_H */
