/* SPDX-License-Identifier: MIT */
/*
 * store.c - the aggregator's SQLite database. See gridlet/agg_store.h.
 *
 * The only file of the aggregator that speaks SQL. Statements are kept in
 * a table indexed by an enum and prepared on first use, so the hot paths
 * (message and reading inserts in a batch) never re-parse SQL. A walk's
 * callback may use any other statement of the handle, but not start the
 * same walk again.
 */
#include "gridlet/agg_store.h"

#include "gridlet/agg_reason.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "store"

/* ---- Statements ---------------------------------------------------------- */

enum {
  Q_META_GET,
  Q_META_SET,
  Q_METER_PUT,
  Q_METER_STATE,
  Q_METER_LOGGED,
  Q_METER_RATED,
  Q_METER_GET,
  Q_METERS_EACH,
  Q_DYN_PUT,
  Q_DYN_GET,
  Q_DYN_EACH,
  Q_DYN_OUTBOXES,
  Q_MSG_PUT,
  Q_MSG_FIND,
  Q_MSG_BYTES,
  Q_MSG_PRUNE,
  Q_EVIDENCE_PUT,
  Q_READING_PUT,
  Q_READING_FIND,
  Q_READING_INDEX,
  Q_READINGS_EACH,
  Q_READINGS_ONTIME,
  Q_READING_COUNTS,
  Q_PREFS_PUT,
  Q_PREFS_IN_FORCE,
  Q_ORDER_PUT,
  Q_ORDERS_AFTER,
  Q_ORDERS_ONE,
  Q_ORDER_MAX_RX,
  Q_IV_PUT,
  Q_IV_GET,
  Q_IV_STATE,
  Q_IV_LAST,
  Q_IV_EACH_ASC,
  Q_IV_EACH_DESC,
  Q_IV_BELOW,
  Q_SETTLE_PUT,
  Q_SETTLE_GET,
  Q_SETTLE_REFS,
  Q_SETTLE_ALL_ASC,
  Q_SETTLE_ALL_DESC,
  Q_SETTLE_METER_ASC,
  Q_SETTLE_METER_DESC,
  Q_TRADE_PUT,
  Q_TRADES_ALL_ASC,
  Q_TRADES_ALL_DESC,
  Q_TRADES_METER_ASC,
  Q_TRADES_METER_DESC,
  Q_BAL_GET,
  Q_BAL_PUT,
  Q_BAL_EACH,
  Q_RESULT_PUT,
  Q_RESULT_GET,
  Q_OUTBOX_ADD,
  Q_OUTBOX_DEL,
  Q_OUTBOX_EACH,
  Q_OUTBOX_COUNT_ALL,
  Q_OUTBOX_COUNT_IV,
  Q_CP_PUT,
  Q_CP_GET,
  Q_CP_LATEST,
  Q_CP_EACH,
  Q_REJECTS_EACH,
  Q_COUNT
};

#define SETTLE_COLS                                                            \
  "interval, meter, flags, import_wh, export_wh, bought, sold, grid_import, "  \
  "grid_export, local_paid, local_received, grid_paid, grid_received, fee, "   \
  "net, balance, refs"
#define IV_COLS                                                                \
  "start, len_s, mode, rule, state, settled_at, ledger_first, ledger_count, "  \
  "checkpoint, price, volume, meters, missing, import_wh, export_wh, "         \
  "grid_import, grid_export, fees, utility, surplus, local_paid, retail, "     \
  "feed_in, fee_price, clearing_ns"
#define READING_COLS                                                           \
  "interval, meter, seq, import_wh, export_wh, pv_wh, charge_wh, "             \
  "discharge_wh, flags, digest, late, ledger_index"
#define DYN_COLS                                                               \
  "id, max_seq, last_end, last_import, last_export, status, status_ts, "       \
  "outbox, version, last_seen, last_reading"
#define METER_COLS                                                             \
  "id, serial, pub, cert, not_after, state, enrolled_at, revoked_at, "         \
  "rated_w, logged"
#define TRADE_COLS "interval, idx, buyer, seller, wh, buy_price, sell_price"

static const char *const sql[Q_COUNT] = {
    [Q_META_GET] = "SELECT value FROM agg_meta WHERE key = ?1",
    [Q_META_SET] = "INSERT OR REPLACE INTO agg_meta(key, value) VALUES(?1, ?2)",
    [Q_METER_PUT] = "INSERT OR REPLACE INTO agg_meters(" METER_COLS
                    ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
    [Q_METER_STATE] =
        "UPDATE agg_meters SET state = ?2, revoked_at = ?3 WHERE id = ?1",
    [Q_METER_LOGGED] = "UPDATE agg_meters SET logged = ?2 WHERE id = ?1",
    [Q_METER_RATED] = "UPDATE agg_meters SET rated_w = ?2 WHERE id = ?1",
    [Q_METER_GET] = "SELECT " METER_COLS " FROM agg_meters WHERE id = ?1",
    [Q_METERS_EACH] = "SELECT " METER_COLS " FROM agg_meters ORDER BY id",
    [Q_DYN_PUT] = "INSERT OR REPLACE INTO agg_meter_dyn(" DYN_COLS
                  ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
    [Q_DYN_GET] = "SELECT " DYN_COLS " FROM agg_meter_dyn WHERE id = ?1",
    [Q_DYN_EACH] = "SELECT " DYN_COLS " FROM agg_meter_dyn ORDER BY id",
    [Q_DYN_OUTBOXES] = "SELECT id, outbox FROM agg_meter_dyn WHERE outbox >= 0 "
                       "ORDER BY id",
    [Q_MSG_PUT] = "INSERT INTO agg_messages(meter, seq, kind, received, "
                  "digest, outcome, bytes) VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [Q_MSG_FIND] = "SELECT digest, outcome FROM agg_messages "
                   "WHERE meter = ?1 AND seq = ?2",
    [Q_MSG_BYTES] =
        "SELECT bytes FROM agg_messages WHERE meter = ?1 AND seq = ?2",
    [Q_MSG_PRUNE] = "DELETE FROM agg_messages WHERE rowid IN (SELECT rowid "
                    "FROM agg_messages ORDER BY rowid LIMIT ?2) "
                    "AND received < ?1",
    [Q_EVIDENCE_PUT] = "INSERT INTO agg_evidence(meter, seq, received, digest, "
                       "first_digest, bytes) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_READING_PUT] = "INSERT INTO agg_readings(" READING_COLS
                      ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [Q_READING_FIND] = "SELECT " READING_COLS " FROM agg_readings "
                       "WHERE interval = ?1 AND meter = ?2",
    [Q_READING_INDEX] = "UPDATE agg_readings SET ledger_index = ?3 "
                        "WHERE interval = ?1 AND meter = ?2",
    [Q_READINGS_EACH] = "SELECT " READING_COLS " FROM agg_readings "
                        "WHERE interval = ?1 ORDER BY meter",
    [Q_READINGS_ONTIME] = "SELECT " READING_COLS " FROM agg_readings "
                          "WHERE interval = ?1 AND late = 0 ORDER BY meter",
    /* Only active meters' readings count towards "all in" (a meter revoked
     * after it delivered no longer counts among the active). */
    [Q_READING_COUNTS] =
        "SELECT r.interval, count(*) FROM agg_readings r JOIN agg_meters m "
        "ON m.id = r.meter WHERE r.interval > ?1 AND r.late = 0 AND "
        "m.state = 1 GROUP BY r.interval",
    [Q_PREFS_PUT] = "INSERT OR IGNORE INTO agg_prefs(meter, seq, effective, "
                    "buy, sell, digest) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_PREFS_IN_FORCE] =
        "SELECT p.meter, p.seq, p.effective, p.buy, p.sell, p.digest "
        "FROM agg_prefs p WHERE p.seq = (SELECT max(q.seq) FROM agg_prefs q "
        "WHERE q.meter = p.meter AND q.effective <= ?1) ORDER BY p.meter",
    [Q_ORDER_PUT] = "INSERT INTO agg_orders(interval, meter, seq, rx, steps, "
                    "digest) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_ORDERS_AFTER] = "SELECT interval, meter, seq, rx, steps, digest FROM "
                       "agg_orders WHERE interval > ?1 ORDER BY rx",
    [Q_ORDERS_ONE] = "SELECT interval, meter, seq, rx, steps, digest FROM "
                     "agg_orders WHERE interval = ?1 ORDER BY rx",
    [Q_ORDER_MAX_RX] = "SELECT coalesce(max(rx), 0) FROM agg_orders",
    [Q_IV_PUT] = "INSERT INTO agg_intervals(" IV_COLS
                 ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,"
                 "?16,?17,?18,?19,?20,?21,?22,?23,?24,?25)",
    [Q_IV_GET] = "SELECT " IV_COLS " FROM agg_intervals WHERE start = ?1",
    [Q_IV_STATE] = "UPDATE agg_intervals SET state = ?2, checkpoint = "
                   "CASE WHEN ?3 > 0 THEN ?3 ELSE checkpoint END "
                   "WHERE start = ?1",
    [Q_IV_LAST] =
        "SELECT " IV_COLS " FROM agg_intervals ORDER BY start DESC LIMIT 1",
    [Q_IV_EACH_ASC] = "SELECT " IV_COLS " FROM agg_intervals WHERE start >= ?1 "
                      "AND start < ?2 ORDER BY start LIMIT ?3",
    [Q_IV_EACH_DESC] = "SELECT " IV_COLS " FROM agg_intervals WHERE start >= "
                       "?1 AND start < ?2 ORDER BY start DESC LIMIT ?3",
    [Q_IV_BELOW] = "SELECT " IV_COLS " FROM agg_intervals WHERE state < ?1 "
                   "ORDER BY start",
    [Q_SETTLE_PUT] = "INSERT INTO agg_settlements(" SETTLE_COLS
                     ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
                     "?15,?16,?17)",
    [Q_SETTLE_GET] = "SELECT " SETTLE_COLS " FROM agg_settlements "
                     "WHERE interval = ?1 AND meter = ?2",
    [Q_SETTLE_REFS] = "UPDATE agg_settlements SET refs = ?3 "
                      "WHERE interval = ?1 AND meter = ?2",
    [Q_SETTLE_ALL_ASC] = "SELECT " SETTLE_COLS " FROM agg_settlements WHERE "
                         "interval >= ?1 AND interval < ?2 "
                         "ORDER BY interval, meter LIMIT ?3",
    [Q_SETTLE_ALL_DESC] = "SELECT " SETTLE_COLS " FROM agg_settlements WHERE "
                          "interval >= ?1 AND interval < ?2 "
                          "ORDER BY interval DESC, meter LIMIT ?3",
    [Q_SETTLE_METER_ASC] = "SELECT " SETTLE_COLS " FROM agg_settlements WHERE "
                           "meter = ?4 AND interval >= ?1 AND interval < ?2 "
                           "ORDER BY interval LIMIT ?3",
    [Q_SETTLE_METER_DESC] = "SELECT " SETTLE_COLS " FROM agg_settlements WHERE "
                            "meter = ?4 AND interval >= ?1 AND interval < ?2 "
                            "ORDER BY interval DESC LIMIT ?3",
    [Q_TRADE_PUT] =
        "INSERT INTO agg_trades(" TRADE_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [Q_TRADES_ALL_ASC] = "SELECT " TRADE_COLS " FROM agg_trades WHERE "
                         "interval >= ?1 AND interval < ?2 "
                         "ORDER BY interval, idx LIMIT ?3",
    [Q_TRADES_ALL_DESC] = "SELECT " TRADE_COLS " FROM agg_trades WHERE "
                          "interval >= ?1 AND interval < ?2 "
                          "ORDER BY interval DESC, idx LIMIT ?3",
    [Q_TRADES_METER_ASC] =
        "SELECT " TRADE_COLS " FROM agg_trades WHERE (buyer = ?4 OR seller = "
        "?4) AND interval >= ?1 AND interval < ?2 ORDER BY interval, idx "
        "LIMIT ?3",
    [Q_TRADES_METER_DESC] =
        "SELECT " TRADE_COLS " FROM agg_trades WHERE (buyer = ?4 OR seller = "
        "?4) AND interval >= ?1 AND interval < ?2 ORDER BY interval DESC, idx "
        "LIMIT ?3",
    [Q_BAL_GET] = "SELECT meter, money, fees, bought, sold, grid_import, "
                  "grid_export, intervals, missing FROM agg_balances "
                  "WHERE meter = ?1",
    [Q_BAL_PUT] = "INSERT OR REPLACE INTO agg_balances(meter, money, fees, "
                  "bought, sold, grid_import, grid_export, intervals, missing) "
                  "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [Q_BAL_EACH] = "SELECT meter, money, fees, bought, sold, grid_import, "
                   "grid_export, intervals, missing FROM agg_balances "
                   "ORDER BY meter",
    [Q_RESULT_PUT] = "INSERT OR REPLACE INTO agg_results(interval, meter, seq, "
                     "bytes) VALUES(?1,?2,?3,?4)",
    [Q_RESULT_GET] = "SELECT bytes FROM agg_results WHERE interval = ?1 AND "
                     "meter = ?2",
    [Q_OUTBOX_ADD] = "INSERT INTO agg_outbox(topic, bytes, retain, kind, "
                     "interval, hold) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_OUTBOX_DEL] = "DELETE FROM agg_outbox WHERE id = ?1",
    [Q_OUTBOX_EACH] = "SELECT id, topic, bytes, retain, kind, interval, hold "
                      "FROM agg_outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
    [Q_OUTBOX_COUNT_ALL] = "SELECT count(*) FROM agg_outbox",
    [Q_OUTBOX_COUNT_IV] = "SELECT count(*) FROM agg_outbox WHERE interval = ?1",
    [Q_CP_PUT] = "INSERT OR IGNORE INTO agg_checkpoints(size, note, "
                 "signed_at) VALUES(?1,?2,?3)",
    [Q_CP_GET] =
        "SELECT size, note, signed_at FROM agg_checkpoints WHERE size = ?1",
    [Q_CP_LATEST] = "SELECT size, note, signed_at FROM agg_checkpoints "
                    "ORDER BY size DESC LIMIT 1",
    [Q_CP_EACH] = "SELECT size, note, signed_at FROM agg_checkpoints "
                  "ORDER BY size DESC LIMIT ?1",
    /* Per meter: stored refusals (the partial index below serves it) and
     * evidence; outcome is that of the row with the newest time (SQLite's
     * documented bare-column rule for max()). */
    [Q_REJECTS_EACH] = "SELECT meter, count(*), max(received), outcome FROM "
                       "agg_messages WHERE outcome != 0 GROUP BY meter "
                       "UNION ALL SELECT meter, count(*), max(received), ?1 "
                       "FROM agg_evidence GROUP BY meter ORDER BY 1",
};

static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS agg_meta(key TEXT PRIMARY KEY, value) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS agg_meters(id TEXT PRIMARY KEY, serial TEXT "
    "NOT NULL, pub BLOB NOT NULL, cert BLOB NOT NULL, not_after INTEGER NOT "
    "NULL, state INTEGER NOT NULL, enrolled_at INTEGER NOT NULL, revoked_at "
    "INTEGER NOT NULL, rated_w INTEGER NOT NULL, logged INTEGER NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS agg_meter_dyn(id TEXT PRIMARY KEY, max_seq "
    "INTEGER NOT NULL, last_end INTEGER NOT NULL, last_import INTEGER NOT "
    "NULL, last_export INTEGER NOT NULL, status INTEGER NOT NULL, status_ts "
    "INTEGER NOT NULL, outbox INTEGER NOT NULL, version TEXT NOT NULL, "
    "last_seen INTEGER NOT NULL, last_reading INTEGER NOT NULL) WITHOUT ROWID",
    /* Messages are a few hundred bytes: a rowid table with the (meter, seq)
     * key as a unique index keeps many rows per page; rowids grow with
     * arrival, which is what pruning walks. */
    "CREATE TABLE IF NOT EXISTS agg_messages(meter TEXT NOT NULL, seq "
    "INTEGER NOT NULL, kind INTEGER NOT NULL, received INTEGER NOT NULL, "
    "digest BLOB NOT NULL, outcome INTEGER NOT NULL, bytes BLOB NOT NULL, "
    "UNIQUE(meter, seq))",
    /* Refused messages per meter, for the dashboard's meter health: only
     * refusals are indexed, so the index stays small. Added after schema
     * version 1 was released; IF NOT EXISTS builds it on older databases
     * at the next start (once), which changes no data. */
    "CREATE INDEX IF NOT EXISTS agg_messages_rejected ON agg_messages(meter, "
    "received, outcome) WHERE outcome != 0",
    "CREATE TABLE IF NOT EXISTS agg_evidence(id INTEGER PRIMARY KEY, meter "
    "TEXT NOT NULL, seq INTEGER NOT NULL, received INTEGER NOT NULL, digest "
    "BLOB NOT NULL, first_digest BLOB NOT NULL, bytes BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS agg_readings(interval INTEGER NOT NULL, meter "
    "TEXT NOT NULL, seq INTEGER NOT NULL, import_wh INTEGER NOT NULL, "
    "export_wh INTEGER NOT NULL, pv_wh INTEGER NOT NULL, charge_wh INTEGER NOT "
    "NULL, discharge_wh INTEGER NOT NULL, flags INTEGER NOT NULL, digest BLOB "
    "NOT NULL, late INTEGER NOT NULL, ledger_index INTEGER NOT NULL, "
    "PRIMARY KEY(interval, meter)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS agg_prefs(meter TEXT NOT NULL, seq INTEGER NOT "
    "NULL, effective INTEGER NOT NULL, buy INTEGER, sell INTEGER, digest BLOB "
    "NOT NULL, PRIMARY KEY(meter, seq)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS agg_orders(interval INTEGER NOT NULL, meter "
    "TEXT NOT NULL, seq INTEGER NOT NULL, rx INTEGER NOT NULL, steps BLOB NOT "
    "NULL, digest BLOB NOT NULL, PRIMARY KEY(interval, rx)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS agg_intervals(start INTEGER PRIMARY KEY, len_s "
    "INTEGER NOT NULL, mode INTEGER NOT NULL, rule INTEGER NOT NULL, state "
    "INTEGER NOT NULL, settled_at INTEGER NOT NULL, ledger_first INTEGER NOT "
    "NULL, ledger_count INTEGER NOT NULL, checkpoint INTEGER NOT NULL, price "
    "INTEGER, volume INTEGER NOT NULL, meters INTEGER NOT NULL, missing "
    "INTEGER NOT NULL, import_wh INTEGER NOT NULL, export_wh INTEGER NOT NULL, "
    "grid_import INTEGER NOT NULL, grid_export INTEGER NOT NULL, fees INTEGER "
    "NOT NULL, utility INTEGER NOT NULL, surplus INTEGER NOT NULL, local_paid "
    "INTEGER NOT NULL, retail INTEGER NOT NULL, feed_in INTEGER NOT NULL, "
    "fee_price INTEGER NOT NULL, clearing_ns INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS agg_settlements(interval INTEGER NOT NULL, "
    "meter TEXT NOT NULL, flags INTEGER NOT NULL, import_wh INTEGER NOT NULL, "
    "export_wh INTEGER NOT NULL, bought INTEGER NOT NULL, sold INTEGER NOT "
    "NULL, grid_import INTEGER NOT NULL, grid_export INTEGER NOT NULL, "
    "local_paid INTEGER NOT NULL, local_received INTEGER NOT NULL, grid_paid "
    "INTEGER NOT NULL, grid_received INTEGER NOT NULL, fee INTEGER NOT NULL, "
    "net INTEGER NOT NULL, balance INTEGER NOT NULL, refs BLOB NOT NULL, "
    "PRIMARY KEY(interval, meter)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS agg_settlements_meter ON "
    "agg_settlements(meter, interval)",
    "CREATE TABLE IF NOT EXISTS agg_trades(interval INTEGER NOT NULL, idx "
    "INTEGER NOT NULL, buyer TEXT NOT NULL, seller TEXT NOT NULL, wh INTEGER "
    "NOT NULL, buy_price INTEGER NOT NULL, sell_price INTEGER NOT NULL, "
    "PRIMARY KEY(interval, idx)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS agg_trades_buyer ON agg_trades(buyer, "
    "interval)",
    "CREATE INDEX IF NOT EXISTS agg_trades_seller ON agg_trades(seller, "
    "interval)",
    "CREATE TABLE IF NOT EXISTS agg_balances(meter TEXT PRIMARY KEY, money "
    "INTEGER NOT NULL, fees INTEGER NOT NULL, bought INTEGER NOT NULL, sold "
    "INTEGER NOT NULL, grid_import INTEGER NOT NULL, grid_export INTEGER NOT "
    "NULL, intervals INTEGER NOT NULL, missing INTEGER NOT NULL) WITHOUT "
    "ROWID",
    "CREATE TABLE IF NOT EXISTS agg_results(interval INTEGER NOT NULL, meter "
    "TEXT NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL, "
    "UNIQUE(interval, meter))",
    /* AUTOINCREMENT: an id is never reused, even after the table emptied,
     * so an acknowledgement can never delete a newer row. */
    "CREATE TABLE IF NOT EXISTS agg_outbox(id INTEGER PRIMARY KEY "
    "AUTOINCREMENT, topic TEXT "
    "NOT NULL, bytes BLOB NOT NULL, retain INTEGER NOT NULL, kind INTEGER NOT "
    "NULL, interval INTEGER NOT NULL, hold INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS agg_outbox_interval ON agg_outbox(interval)",
    "CREATE TABLE IF NOT EXISTS agg_checkpoints(size INTEGER PRIMARY KEY, "
    "note TEXT NOT NULL, signed_at INTEGER NOT NULL)",
};

struct agg_store {
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT];
  bool in_tx;
  bool read_only;
};

/* One place turns SQLite's result codes into ours, with a log line. */
static int fail(agg_store *st, int rc, const char *what) {
  int code = rc & 0xff;
  GL_ERROR(LOG, "%s: %s (%d)", what, sqlite3_errmsg(st->db), rc);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
    return GL_EAGAIN;
  if (code == SQLITE_CONSTRAINT)
    return GL_EEXIST;
  return GL_ESTORE;
}

static sqlite3_stmt *get(agg_store *st, int id) {
  if (!st->q[id]) {
    int rc = sqlite3_prepare_v3(st->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &st->q[id], NULL);
    if (rc != SQLITE_OK) {
      GL_ERROR(LOG, "cannot prepare statement %d: %s", id,
               sqlite3_errmsg(st->db));
      st->q[id] = NULL;
      return NULL;
    }
  } else {
    sqlite3_reset(st->q[id]);
    sqlite3_clear_bindings(st->q[id]);
  }
  return st->q[id];
}

/* Run a statement that returns no rows. */
static int run(agg_store *st, int id, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE)
    return fail(st, rc, sql[id]);
  return 0;
}

/* Step once: 1 for a row, 0 for done, an error otherwise. */
static int row(agg_store *st, int id, sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return 1;
  sqlite3_reset(s);
  if (rc == SQLITE_DONE)
    return 0;
  return fail(st, rc, sql[id]);
}

static void b_text(sqlite3_stmt *s, int i, const char *v) {
  sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}
static void b_i64(sqlite3_stmt *s, int i, int64_t v) {
  sqlite3_bind_int64(s, i, v);
}
static void b_blob(sqlite3_stmt *s, int i, const void *v, size_t n) {
  sqlite3_bind_blob(s, i, v, (int)n, SQLITE_STATIC);
}

static int64_t c_i64(sqlite3_stmt *s, int i) {
  return sqlite3_column_int64(s, i);
}
static void c_text(sqlite3_stmt *s, int i, char *buf, size_t size) {
  const unsigned char *t = sqlite3_column_text(s, i);
  snprintf(buf, size, "%s", t ? (const char *)t : "");
}
static void c_blob(sqlite3_stmt *s, int i, void *buf, size_t size) {
  const void *b = sqlite3_column_blob(s, i);
  size_t n = (size_t)sqlite3_column_bytes(s, i);
  memset(buf, 0, size);
  if (b)
    memcpy(buf, b, n < size ? n : size);
}

/* ---- Opening ------------------------------------------------------------- */

static int exec(agg_store *st, const char *q) {
  char *err = NULL;
  int rc = sqlite3_exec(st->db, q, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    GL_ERROR(LOG, "%.60s...: %s", q, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return (rc & 0xff) == SQLITE_BUSY ? GL_EAGAIN : GL_ESTORE;
  }
  return 0;
}

int agg_store_open(const char *path, bool create, bool read_only,
                   agg_store **out) {
  *out = NULL;
  agg_store *st = calloc(1, sizeof *st);
  if (!st)
    return GL_ENOMEM;
  st->read_only = read_only;
  int flags = read_only
                  ? SQLITE_OPEN_READONLY
                  : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    int code = rc & 0xff;
    GL_ERROR(LOG, "cannot open %s: %s", path,
             st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
    agg_store_free(st);
    return code == SQLITE_CANTOPEN ? GL_ENOENT : GL_ESTORE;
  }
  sqlite3_busy_timeout(st->db, 10000);
  int e = 0;
  if (!read_only) {
    e = exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    for (size_t i = 0; e == 0 && i < sizeof schema / sizeof *schema; i++)
      e = exec(st, schema[i]);
  } else {
    e = exec(st, "PRAGMA query_only=1;");
  }
  if (e == 0) {
    int64_t v = 0;
    int g = agg_store_meta_get(st, "schema_version", &v);
    if (g == GL_ENOENT && !read_only) {
      e = agg_store_meta_set(st, "schema_version", AGG_SCHEMA_VERSION);
    } else if (g == GL_ENOENT) {
      GL_ERROR(LOG, "%s is not an aggregator database", path);
      e = GL_ENOENT;
    } else if (g) {
      e = g;
    } else if (v != AGG_SCHEMA_VERSION) {
      GL_ERROR(LOG, "%s has schema version %lld; this program knows version %d",
               path, (long long)v, AGG_SCHEMA_VERSION);
      e = GL_ECONFIG;
    }
  }
  if (e) {
    agg_store_free(st);
    return e;
  }
  *out = st;
  return 0;
}

void agg_store_free(agg_store *st) {
  if (!st)
    return;
  for (int i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(st->q[i]);
  if (st->in_tx)
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(st->db);
  free(st);
}

sqlite3 *agg_store_db(agg_store *st) {
  return st->db;
}

/* ---- Transactions -------------------------------------------------------- */

int agg_store_begin(agg_store *st) {
  if (st->in_tx)
    return GL_ESTATE;
  int rc = exec(st, "BEGIN IMMEDIATE");
  if (rc == 0)
    st->in_tx = true;
  return rc;
}

int agg_store_begin_read(agg_store *st) {
  if (st->in_tx)
    return GL_ESTATE;
  int rc = exec(st, "BEGIN");
  if (rc == 0)
    st->in_tx = true;
  return rc;
}

int agg_store_commit(agg_store *st) {
  if (!st->in_tx)
    return GL_ESTATE;
  int rc = exec(st, "COMMIT");
  if (rc == 0)
    st->in_tx = false;
  return rc;
}

void agg_store_rollback(agg_store *st) {
  if (!st->in_tx)
    return;
  exec(st, "ROLLBACK");
  st->in_tx = false;
}

bool agg_store_in_tx(const agg_store *st) {
  return st->in_tx;
}

/* ---- Meta ---------------------------------------------------------------- */

int agg_store_meta_get(agg_store *st, const char *key, int64_t *v) {
  sqlite3_stmt *s = get(st, Q_META_GET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, key);
  int r = row(st, Q_META_GET, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  *v = c_i64(s, 0);
  sqlite3_reset(s);
  return 0;
}

int agg_store_meta_set(agg_store *st, const char *key, int64_t v) {
  sqlite3_stmt *s = get(st, Q_META_SET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, key);
  b_i64(s, 2, v);
  return run(st, Q_META_SET, s);
}

int agg_store_meta_get_text(agg_store *st, const char *key, char *buf,
                            size_t size) {
  sqlite3_stmt *s = get(st, Q_META_GET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, key);
  int r = row(st, Q_META_GET, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  c_text(s, 0, buf, size);
  sqlite3_reset(s);
  return 0;
}

int agg_store_meta_set_text(agg_store *st, const char *key, const char *v) {
  sqlite3_stmt *s = get(st, Q_META_SET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, key);
  b_text(s, 2, v);
  return run(st, Q_META_SET, s);
}

/* ---- Meters -------------------------------------------------------------- */

int agg_store_meter_put(agg_store *st, const agg_meter_rec *m) {
  sqlite3_stmt *s = get(st, Q_METER_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, m->id);
  b_text(s, 2, m->serial);
  b_blob(s, 3, m->pub, 32);
  b_blob(s, 4, m->cert ? (const void *)m->cert : "", m->cert_len);
  b_i64(s, 5, m->not_after);
  b_i64(s, 6, m->state);
  b_i64(s, 7, m->enrolled_at);
  b_i64(s, 8, m->revoked_at);
  b_i64(s, 9, m->rated_w);
  b_i64(s, 10, m->logged);
  return run(st, Q_METER_PUT, s);
}

int agg_store_meter_set_state(agg_store *st, const char *id, int state,
                              int64_t revoked_at) {
  sqlite3_stmt *s = get(st, Q_METER_STATE);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, id);
  b_i64(s, 2, state);
  b_i64(s, 3, revoked_at);
  return run(st, Q_METER_STATE, s);
}

int agg_store_meter_set_logged(agg_store *st, const char *id, int logged) {
  sqlite3_stmt *s = get(st, Q_METER_LOGGED);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, id);
  b_i64(s, 2, logged);
  return run(st, Q_METER_LOGGED, s);
}

int agg_store_meter_set_rated(agg_store *st, const char *id, int64_t rated_w) {
  sqlite3_stmt *s = get(st, Q_METER_RATED);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, id);
  b_i64(s, 2, rated_w);
  int rc = run(st, Q_METER_RATED, s);
  if (rc == 0 && sqlite3_changes(st->db) == 0)
    return GL_ENOENT;
  return rc;
}

static void read_meter(sqlite3_stmt *s, agg_meter_rec *m) {
  memset(m, 0, sizeof *m);
  c_text(s, 0, m->id, sizeof m->id);
  c_text(s, 1, m->serial, sizeof m->serial);
  c_blob(s, 2, m->pub, sizeof m->pub);
  m->cert = sqlite3_column_blob(s, 3);
  m->cert_len = (size_t)sqlite3_column_bytes(s, 3);
  m->not_after = c_i64(s, 4);
  m->state = (int)c_i64(s, 5);
  m->enrolled_at = c_i64(s, 6);
  m->revoked_at = c_i64(s, 7);
  m->rated_w = c_i64(s, 8);
  m->logged = (int)c_i64(s, 9);
}

int agg_store_meter_get(agg_store *st, const char *id, agg_meter_rec *m) {
  sqlite3_stmt *s = get(st, Q_METER_GET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, id);
  int r = row(st, Q_METER_GET, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  read_meter(s, m);
  m->cert = NULL;
  m->cert_len = 0;
  sqlite3_reset(s);
  return 0;
}

int agg_store_meters_each(agg_store *st, agg_meter_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_METERS_EACH);
  if (!s)
    return GL_ESTORE;
  int r;
  while ((r = row(st, Q_METERS_EACH, s)) == 1) {
    agg_meter_rec m;
    read_meter(s, &m);
    int rc = cb(ctx, &m);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return r;
}

int agg_store_dyn_put(agg_store *st, const agg_meter_dyn *d) {
  sqlite3_stmt *s = get(st, Q_DYN_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, d->id);
  b_i64(s, 2, d->max_seq);
  b_i64(s, 3, d->last_end);
  b_i64(s, 4, d->last_import_total);
  b_i64(s, 5, d->last_export_total);
  b_i64(s, 6, d->status);
  b_i64(s, 7, d->status_ts);
  b_i64(s, 8, d->outbox);
  b_text(s, 9, d->version);
  b_i64(s, 10, d->last_seen);
  b_i64(s, 11, d->last_reading);
  return run(st, Q_DYN_PUT, s);
}

static void read_dyn(sqlite3_stmt *s, agg_meter_dyn *d) {
  memset(d, 0, sizeof *d);
  c_text(s, 0, d->id, sizeof d->id);
  d->max_seq = c_i64(s, 1);
  d->last_end = c_i64(s, 2);
  d->last_import_total = c_i64(s, 3);
  d->last_export_total = c_i64(s, 4);
  d->status = (int)c_i64(s, 5);
  d->status_ts = c_i64(s, 6);
  d->outbox = c_i64(s, 7);
  c_text(s, 8, d->version, sizeof d->version);
  d->last_seen = c_i64(s, 9);
  d->last_reading = c_i64(s, 10);
}

int agg_store_dyn_get(agg_store *st, const char *id, agg_meter_dyn *d) {
  sqlite3_stmt *s = get(st, Q_DYN_GET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, id);
  int r = row(st, Q_DYN_GET, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  read_dyn(s, d);
  sqlite3_reset(s);
  return 0;
}

int agg_store_dyn_each(agg_store *st, agg_dyn_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_DYN_EACH);
  if (!s)
    return GL_ESTORE;
  int r;
  while ((r = row(st, Q_DYN_EACH, s)) == 1) {
    agg_meter_dyn d;
    read_dyn(s, &d);
    int rc = cb(ctx, &d);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return r;
}

int agg_store_dyn_outboxes(agg_store *st, agg_depth_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_DYN_OUTBOXES);
  if (!s)
    return GL_ESTORE;
  int r;
  while ((r = row(st, Q_DYN_OUTBOXES, s)) == 1) {
    const unsigned char *id = sqlite3_column_text(s, 0);
    int rc = cb(ctx, id ? (const char *)id : "", c_i64(s, 1));
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return r;
}

/* ---- Messages ------------------------------------------------------------ */

int agg_store_msg_put(agg_store *st, const agg_msg_rec *m) {
  sqlite3_stmt *s = get(st, Q_MSG_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, m->meter);
  b_i64(s, 2, m->seq);
  b_i64(s, 3, m->kind);
  b_i64(s, 4, m->received);
  b_blob(s, 5, m->digest, 32);
  b_i64(s, 6, m->outcome);
  b_blob(s, 7, m->bytes, m->len);
  return run(st, Q_MSG_PUT, s);
}

int agg_store_msg_find(agg_store *st, const char *meter, int64_t seq,
                       uint8_t digest[32], int *outcome) {
  sqlite3_stmt *s = get(st, Q_MSG_FIND);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, meter);
  b_i64(s, 2, seq);
  int r = row(st, Q_MSG_FIND, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  c_blob(s, 0, digest, 32);
  if (outcome)
    *outcome = (int)c_i64(s, 1);
  sqlite3_reset(s);
  return 0;
}

static int dup_blob(sqlite3_stmt *s, int col, uint8_t **bytes, size_t *len) {
  size_t n = (size_t)sqlite3_column_bytes(s, col);
  const void *b = sqlite3_column_blob(s, col);
  uint8_t *c = malloc(n ? n : 1);
  if (!c)
    return GL_ENOMEM;
  if (n)
    memcpy(c, b, n);
  *bytes = c;
  *len = n;
  return 0;
}

int agg_store_msg_bytes(agg_store *st, const char *meter, int64_t seq,
                        uint8_t **bytes, size_t *len) {
  sqlite3_stmt *s = get(st, Q_MSG_BYTES);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, meter);
  b_i64(s, 2, seq);
  int r = row(st, Q_MSG_BYTES, s);
  if (r <= 0)
    return r == 0 ? GL_ENOENT : r;
  int rc = dup_blob(s, 0, bytes, len);
  sqlite3_reset(s);
  return rc;
}

int agg_store_evidence_put(agg_store *st, const agg_msg_rec *m,
                           const uint8_t first_digest[32]) {
  sqlite3_stmt *s = get(st, Q_EVIDENCE_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, m->meter);
  b_i64(s, 2, m->seq);
  b_i64(s, 3, m->received);
  b_blob(s, 4, m->digest, 32);
  b_blob(s, 5, first_digest, 32);
  b_blob(s, 6, m->bytes, m->len);
  return run(st, Q_EVIDENCE_PUT, s);
}

int agg_store_msg_prune(agg_store *st, int64_t before, int limit, int *n) {
  sqlite3_stmt *s = get(st, Q_MSG_PRUNE);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, before);
  b_i64(s, 2, limit);
  int rc = run(st, Q_MSG_PRUNE, s);
  if (n)
    *n = rc ? 0 : sqlite3_changes(st->db);
  return rc;
}

/* ---- Readings ------------------------------------------------------------ */

int agg_store_reading_put(agg_store *st, const agg_reading_rec *r) {
  sqlite3_stmt *s = get(st, Q_READING_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, r->interval);
  b_text(s, 2, r->meter);
  b_i64(s, 3, r->seq);
  b_i64(s, 4, r->import_wh);
  b_i64(s, 5, r->export_wh);
  b_i64(s, 6, r->pv_wh);
  b_i64(s, 7, r->charge_wh);
  b_i64(s, 8, r->discharge_wh);
  b_i64(s, 9, r->flags);
  b_blob(s, 10, r->digest, 32);
  b_i64(s, 11, r->late);
  b_i64(s, 12, r->ledger_index);
  return run(st, Q_READING_PUT, s);
}

static void read_reading(sqlite3_stmt *s, agg_reading_rec *r) {
  memset(r, 0, sizeof *r);
  r->interval = c_i64(s, 0);
  c_text(s, 1, r->meter, sizeof r->meter);
  r->seq = c_i64(s, 2);
  r->import_wh = c_i64(s, 3);
  r->export_wh = c_i64(s, 4);
  r->pv_wh = c_i64(s, 5);
  r->charge_wh = c_i64(s, 6);
  r->discharge_wh = c_i64(s, 7);
  r->flags = (uint32_t)c_i64(s, 8);
  c_blob(s, 9, r->digest, 32);
  r->late = (int)c_i64(s, 10);
  r->ledger_index = c_i64(s, 11);
}

int agg_store_reading_find(agg_store *st, int64_t interval, const char *meter,
                           agg_reading_rec *r) {
  sqlite3_stmt *s = get(st, Q_READING_FIND);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  int x = row(st, Q_READING_FIND, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  read_reading(s, r);
  sqlite3_reset(s);
  return 0;
}

int agg_store_reading_set_index(agg_store *st, int64_t interval,
                                const char *meter, int64_t index) {
  sqlite3_stmt *s = get(st, Q_READING_INDEX);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  b_i64(s, 3, index);
  return run(st, Q_READING_INDEX, s);
}

int agg_store_readings_each(agg_store *st, int64_t interval, bool on_time_only,
                            agg_reading_cb cb, void *ctx) {
  int id = on_time_only ? Q_READINGS_ONTIME : Q_READINGS_EACH;
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  int x;
  while ((x = row(st, id, s)) == 1) {
    agg_reading_rec r;
    read_reading(s, &r);
    int rc = cb(ctx, &r);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

int agg_store_reading_counts(agg_store *st, int64_t after,
                             int (*cb)(void *ctx, int64_t interval, int64_t n),
                             void *ctx) {
  sqlite3_stmt *s = get(st, Q_READING_COUNTS);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, after);
  int x;
  while ((x = row(st, Q_READING_COUNTS, s)) == 1) {
    int rc = cb(ctx, c_i64(s, 0), c_i64(s, 1));
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

/* ---- Prefs and orders ---------------------------------------------------- */

int agg_store_prefs_put(agg_store *st, const agg_prefs_rec *p) {
  sqlite3_stmt *s = get(st, Q_PREFS_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, p->meter);
  b_i64(s, 2, p->seq);
  b_i64(s, 3, p->effective);
  if (p->has_buy)
    b_i64(s, 4, p->buy);
  if (p->has_sell)
    b_i64(s, 5, p->sell);
  b_blob(s, 6, p->digest, 32);
  return run(st, Q_PREFS_PUT, s);
}

int agg_store_prefs_in_force(agg_store *st, int64_t start, agg_prefs_cb cb,
                             void *ctx) {
  sqlite3_stmt *s = get(st, Q_PREFS_IN_FORCE);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, start);
  int x;
  while ((x = row(st, Q_PREFS_IN_FORCE, s)) == 1) {
    agg_prefs_rec p;
    memset(&p, 0, sizeof p);
    c_text(s, 0, p.meter, sizeof p.meter);
    p.seq = c_i64(s, 1);
    p.effective = c_i64(s, 2);
    p.has_buy = sqlite3_column_type(s, 3) != SQLITE_NULL;
    p.buy = c_i64(s, 3);
    p.has_sell = sqlite3_column_type(s, 4) != SQLITE_NULL;
    p.sell = c_i64(s, 4);
    c_blob(s, 5, p.digest, 32);
    int rc = cb(ctx, &p);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

/* Steps as 17-byte records: side, wh (i64 BE), price (i64 BE). */
#define STEP_BYTES 17

static void put_be(uint8_t *p, int64_t v) {
  uint64_t u = (uint64_t)v;
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)(u & 0xff);
    u >>= 8;
  }
}

static int64_t get_be(const uint8_t *p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; i++)
    u = (u << 8) | p[i];
  return (int64_t)u;
}

int agg_store_order_put(agg_store *st, const agg_order_rec *o) {
  uint8_t steps[PR_MAX_STEPS * STEP_BYTES];
  size_t n = o->nsteps > PR_MAX_STEPS ? PR_MAX_STEPS : o->nsteps;
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = steps + i * STEP_BYTES;
    p[0] = (uint8_t)o->steps[i].side;
    put_be(p + 1, o->steps[i].wh);
    put_be(p + 9, o->steps[i].price);
  }
  sqlite3_stmt *s = get(st, Q_ORDER_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, o->interval);
  b_text(s, 2, o->meter);
  b_i64(s, 3, o->seq);
  b_i64(s, 4, o->rx);
  b_blob(s, 5, n ? (const void *)steps : "", n * STEP_BYTES);
  b_blob(s, 6, o->digest, 32);
  return run(st, Q_ORDER_PUT, s);
}

static void read_order(sqlite3_stmt *s, agg_order_rec *o) {
  memset(o, 0, sizeof *o);
  o->interval = c_i64(s, 0);
  c_text(s, 1, o->meter, sizeof o->meter);
  o->seq = c_i64(s, 2);
  o->rx = c_i64(s, 3);
  const uint8_t *b = sqlite3_column_blob(s, 4);
  size_t n = (size_t)sqlite3_column_bytes(s, 4) / STEP_BYTES;
  if (n > PR_MAX_STEPS)
    n = PR_MAX_STEPS;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = b + i * STEP_BYTES;
    o->steps[i].side = (pr_side)p[0];
    o->steps[i].wh = get_be(p + 1);
    o->steps[i].price = get_be(p + 9);
  }
  o->nsteps = n;
  c_blob(s, 5, o->digest, 32);
}

int agg_store_orders_each(agg_store *st, int64_t interval, bool only,
                          agg_order_cb cb, void *ctx) {
  int id = only ? Q_ORDERS_ONE : Q_ORDERS_AFTER;
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  int x;
  while ((x = row(st, id, s)) == 1) {
    agg_order_rec o;
    read_order(s, &o);
    int rc = cb(ctx, &o);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

int agg_store_order_max_rx(agg_store *st, int64_t *rx) {
  sqlite3_stmt *s = get(st, Q_ORDER_MAX_RX);
  if (!s)
    return GL_ESTORE;
  int x = row(st, Q_ORDER_MAX_RX, s);
  if (x < 0)
    return x;
  *rx = x ? c_i64(s, 0) : 0;
  sqlite3_reset(s);
  return 0;
}

/* ---- Intervals ----------------------------------------------------------- */

int agg_store_interval_put(agg_store *st, const agg_interval_rec *iv) {
  sqlite3_stmt *s = get(st, Q_IV_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, iv->start);
  b_i64(s, 2, iv->len_s);
  b_i64(s, 3, iv->mode);
  b_i64(s, 4, iv->rule);
  b_i64(s, 5, iv->state);
  b_i64(s, 6, iv->settled_at);
  b_i64(s, 7, iv->ledger_first);
  b_i64(s, 8, iv->ledger_count);
  b_i64(s, 9, iv->checkpoint);
  if (iv->has_price)
    b_i64(s, 10, iv->price);
  b_i64(s, 11, iv->volume);
  b_i64(s, 12, iv->meters);
  b_i64(s, 13, iv->missing);
  b_i64(s, 14, iv->import_wh);
  b_i64(s, 15, iv->export_wh);
  b_i64(s, 16, iv->grid_import);
  b_i64(s, 17, iv->grid_export);
  b_i64(s, 18, iv->fees);
  b_i64(s, 19, iv->utility);
  b_i64(s, 20, iv->surplus);
  b_i64(s, 21, iv->local_paid);
  b_i64(s, 22, iv->retail);
  b_i64(s, 23, iv->feed_in);
  b_i64(s, 24, iv->fee_price);
  b_i64(s, 25, iv->clearing_ns);
  return run(st, Q_IV_PUT, s);
}

static void read_iv(sqlite3_stmt *s, agg_interval_rec *iv) {
  memset(iv, 0, sizeof *iv);
  iv->start = c_i64(s, 0);
  iv->len_s = c_i64(s, 1);
  iv->mode = (int)c_i64(s, 2);
  iv->rule = (int)c_i64(s, 3);
  iv->state = (int)c_i64(s, 4);
  iv->settled_at = c_i64(s, 5);
  iv->ledger_first = c_i64(s, 6);
  iv->ledger_count = c_i64(s, 7);
  iv->checkpoint = c_i64(s, 8);
  iv->has_price = sqlite3_column_type(s, 9) != SQLITE_NULL;
  iv->price = c_i64(s, 9);
  iv->volume = c_i64(s, 10);
  iv->meters = c_i64(s, 11);
  iv->missing = c_i64(s, 12);
  iv->import_wh = c_i64(s, 13);
  iv->export_wh = c_i64(s, 14);
  iv->grid_import = c_i64(s, 15);
  iv->grid_export = c_i64(s, 16);
  iv->fees = c_i64(s, 17);
  iv->utility = c_i64(s, 18);
  iv->surplus = c_i64(s, 19);
  iv->local_paid = c_i64(s, 20);
  iv->retail = c_i64(s, 21);
  iv->feed_in = c_i64(s, 22);
  iv->fee_price = c_i64(s, 23);
  iv->clearing_ns = c_i64(s, 24);
}

int agg_store_interval_get(agg_store *st, int64_t start, agg_interval_rec *iv) {
  sqlite3_stmt *s = get(st, Q_IV_GET);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, start);
  int x = row(st, Q_IV_GET, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  read_iv(s, iv);
  sqlite3_reset(s);
  return 0;
}

int agg_store_interval_set_state(agg_store *st, int64_t start, int state,
                                 int64_t checkpoint) {
  sqlite3_stmt *s = get(st, Q_IV_STATE);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, start);
  b_i64(s, 2, state);
  b_i64(s, 3, checkpoint);
  return run(st, Q_IV_STATE, s);
}

int agg_store_interval_last(agg_store *st, agg_interval_rec *iv) {
  sqlite3_stmt *s = get(st, Q_IV_LAST);
  if (!s)
    return GL_ESTORE;
  int x = row(st, Q_IV_LAST, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  read_iv(s, iv);
  sqlite3_reset(s);
  return 0;
}

static int walk_iv(agg_store *st, int id, sqlite3_stmt *s, agg_interval_cb cb,
                   void *ctx) {
  int x;
  while ((x = row(st, id, s)) == 1) {
    agg_interval_rec iv;
    read_iv(s, &iv);
    int rc = cb(ctx, &iv);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

int agg_store_intervals_each(agg_store *st, int64_t from, int64_t to, bool desc,
                             int64_t limit, agg_interval_cb cb, void *ctx) {
  int id = desc ? Q_IV_EACH_DESC : Q_IV_EACH_ASC;
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, from);
  b_i64(s, 2, to);
  b_i64(s, 3, limit > 0 ? limit : -1);
  return walk_iv(st, id, s, cb, ctx);
}

int agg_store_intervals_in_state(agg_store *st, int below, agg_interval_cb cb,
                                 void *ctx) {
  sqlite3_stmt *s = get(st, Q_IV_BELOW);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, below);
  return walk_iv(st, Q_IV_BELOW, s, cb, ctx);
}

/* ---- Settlements, trades, balances --------------------------------------- */

static size_t refs_blob(const int64_t *refs, size_t n,
                        uint8_t out[AGG_MAX_REFS * 8]) {
  if (n > AGG_MAX_REFS)
    n = AGG_MAX_REFS;
  for (size_t i = 0; i < n; i++)
    put_be(out + 8 * i, refs[i]);
  return n * 8;
}

int agg_store_settle_put(agg_store *st, const agg_settle_rec *r) {
  sqlite3_stmt *s = get(st, Q_SETTLE_PUT);
  if (!s)
    return GL_ESTORE;
  uint8_t refs[AGG_MAX_REFS * 8];
  size_t rl = refs_blob(r->refs, r->nrefs, refs);
  b_i64(s, 1, r->interval);
  b_text(s, 2, r->meter);
  b_i64(s, 3, r->flags);
  b_i64(s, 4, r->import_wh);
  b_i64(s, 5, r->export_wh);
  b_i64(s, 6, r->bought);
  b_i64(s, 7, r->sold);
  b_i64(s, 8, r->grid_import);
  b_i64(s, 9, r->grid_export);
  b_i64(s, 10, r->local_paid);
  b_i64(s, 11, r->local_received);
  b_i64(s, 12, r->grid_paid);
  b_i64(s, 13, r->grid_received);
  b_i64(s, 14, r->fee);
  b_i64(s, 15, r->net);
  b_i64(s, 16, r->balance);
  b_blob(s, 17, rl ? (const void *)refs : "", rl);
  return run(st, Q_SETTLE_PUT, s);
}

static void read_settle(sqlite3_stmt *s, agg_settle_rec *r) {
  memset(r, 0, sizeof *r);
  r->interval = c_i64(s, 0);
  c_text(s, 1, r->meter, sizeof r->meter);
  r->flags = (uint32_t)c_i64(s, 2);
  r->import_wh = c_i64(s, 3);
  r->export_wh = c_i64(s, 4);
  r->bought = c_i64(s, 5);
  r->sold = c_i64(s, 6);
  r->grid_import = c_i64(s, 7);
  r->grid_export = c_i64(s, 8);
  r->local_paid = c_i64(s, 9);
  r->local_received = c_i64(s, 10);
  r->grid_paid = c_i64(s, 11);
  r->grid_received = c_i64(s, 12);
  r->fee = c_i64(s, 13);
  r->net = c_i64(s, 14);
  r->balance = c_i64(s, 15);
  const uint8_t *b = sqlite3_column_blob(s, 16);
  size_t n = (size_t)sqlite3_column_bytes(s, 16) / 8;
  if (n > AGG_MAX_REFS)
    n = AGG_MAX_REFS;
  for (size_t i = 0; i < n; i++)
    r->refs[i] = get_be(b + 8 * i);
  r->nrefs = n;
}

int agg_store_settle_get(agg_store *st, int64_t interval, const char *meter,
                         agg_settle_rec *r) {
  sqlite3_stmt *s = get(st, Q_SETTLE_GET);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  int x = row(st, Q_SETTLE_GET, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  read_settle(s, r);
  sqlite3_reset(s);
  return 0;
}

int agg_store_settle_set_refs(agg_store *st, int64_t interval,
                              const char *meter, const int64_t *refs,
                              size_t n) {
  sqlite3_stmt *s = get(st, Q_SETTLE_REFS);
  if (!s)
    return GL_ESTORE;
  uint8_t b[AGG_MAX_REFS * 8];
  size_t bl = refs_blob(refs, n, b);
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  b_blob(s, 3, bl ? (const void *)b : "", bl);
  return run(st, Q_SETTLE_REFS, s);
}

int agg_store_settle_each(agg_store *st, int64_t from, int64_t to,
                          const char *meter, bool desc, int64_t limit,
                          agg_settle_cb cb, void *ctx) {
  int id = meter ? (desc ? Q_SETTLE_METER_DESC : Q_SETTLE_METER_ASC)
                 : (desc ? Q_SETTLE_ALL_DESC : Q_SETTLE_ALL_ASC);
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, from);
  b_i64(s, 2, to);
  b_i64(s, 3, limit > 0 ? limit : -1);
  if (meter)
    b_text(s, 4, meter);
  int x;
  while ((x = row(st, id, s)) == 1) {
    agg_settle_rec r;
    read_settle(s, &r);
    int rc = cb(ctx, &r);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

int agg_store_trade_put(agg_store *st, const agg_trade_rec *t) {
  sqlite3_stmt *s = get(st, Q_TRADE_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, t->interval);
  b_i64(s, 2, t->idx);
  b_text(s, 3, t->buyer);
  b_text(s, 4, t->seller);
  b_i64(s, 5, t->wh);
  b_i64(s, 6, t->buy_price);
  b_i64(s, 7, t->sell_price);
  return run(st, Q_TRADE_PUT, s);
}

int agg_store_trades_each(agg_store *st, int64_t from, int64_t to,
                          const char *meter, bool desc, int64_t limit,
                          agg_trade_cb cb, void *ctx) {
  int id = meter ? (desc ? Q_TRADES_METER_DESC : Q_TRADES_METER_ASC)
                 : (desc ? Q_TRADES_ALL_DESC : Q_TRADES_ALL_ASC);
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, from);
  b_i64(s, 2, to);
  b_i64(s, 3, limit > 0 ? limit : -1);
  if (meter)
    b_text(s, 4, meter);
  int x;
  while ((x = row(st, id, s)) == 1) {
    agg_trade_rec t;
    memset(&t, 0, sizeof t);
    t.interval = c_i64(s, 0);
    t.idx = c_i64(s, 1);
    c_text(s, 2, t.buyer, sizeof t.buyer);
    c_text(s, 3, t.seller, sizeof t.seller);
    t.wh = c_i64(s, 4);
    t.buy_price = c_i64(s, 5);
    t.sell_price = c_i64(s, 6);
    int rc = cb(ctx, &t);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

static void read_balance(sqlite3_stmt *s, agg_balance_rec *b) {
  memset(b, 0, sizeof *b);
  c_text(s, 0, b->meter, sizeof b->meter);
  b->money = c_i64(s, 1);
  b->fees = c_i64(s, 2);
  b->bought = c_i64(s, 3);
  b->sold = c_i64(s, 4);
  b->grid_import = c_i64(s, 5);
  b->grid_export = c_i64(s, 6);
  b->intervals = c_i64(s, 7);
  b->missing = c_i64(s, 8);
}

int agg_store_balance_get(agg_store *st, const char *meter,
                          agg_balance_rec *b) {
  sqlite3_stmt *s = get(st, Q_BAL_GET);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, meter);
  int x = row(st, Q_BAL_GET, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  read_balance(s, b);
  sqlite3_reset(s);
  return 0;
}

int agg_store_balance_put(agg_store *st, const agg_balance_rec *b) {
  sqlite3_stmt *s = get(st, Q_BAL_PUT);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, b->meter);
  b_i64(s, 2, b->money);
  b_i64(s, 3, b->fees);
  b_i64(s, 4, b->bought);
  b_i64(s, 5, b->sold);
  b_i64(s, 6, b->grid_import);
  b_i64(s, 7, b->grid_export);
  b_i64(s, 8, b->intervals);
  b_i64(s, 9, b->missing);
  return run(st, Q_BAL_PUT, s);
}

int agg_store_balances_each(agg_store *st, agg_balance_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_BAL_EACH);
  if (!s)
    return GL_ESTORE;
  int x;
  while ((x = row(st, Q_BAL_EACH, s)) == 1) {
    agg_balance_rec b;
    read_balance(s, &b);
    int rc = cb(ctx, &b);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

/* ---- Results, outbox, checkpoints ---------------------------------------- */

int agg_store_result_put(agg_store *st, int64_t interval, const char *meter,
                         int64_t seq, const uint8_t *bytes, size_t len) {
  sqlite3_stmt *s = get(st, Q_RESULT_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  b_i64(s, 3, seq);
  b_blob(s, 4, bytes, len);
  return run(st, Q_RESULT_PUT, s);
}

int agg_store_result_get(agg_store *st, int64_t interval, const char *meter,
                         uint8_t **bytes, size_t *len) {
  sqlite3_stmt *s = get(st, Q_RESULT_GET);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, interval);
  b_text(s, 2, meter);
  int x = row(st, Q_RESULT_GET, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  int rc = dup_blob(s, 0, bytes, len);
  sqlite3_reset(s);
  return rc;
}

int agg_store_outbox_add(agg_store *st, const agg_outbox_rec *o, int64_t *id) {
  sqlite3_stmt *s = get(st, Q_OUTBOX_ADD);
  if (!s)
    return GL_ESTORE;
  b_text(s, 1, o->topic);
  b_blob(s, 2, o->bytes, o->len);
  b_i64(s, 3, o->retain);
  b_i64(s, 4, o->kind);
  b_i64(s, 5, o->interval);
  b_i64(s, 6, o->hold);
  int rc = run(st, Q_OUTBOX_ADD, s);
  if (rc == 0 && id)
    *id = sqlite3_last_insert_rowid(st->db);
  return rc;
}

int agg_store_outbox_del(agg_store *st, int64_t id) {
  sqlite3_stmt *s = get(st, Q_OUTBOX_DEL);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, id);
  return run(st, Q_OUTBOX_DEL, s);
}

int agg_store_outbox_each(agg_store *st, int64_t after, int64_t limit,
                          agg_outbox_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_OUTBOX_EACH);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, after);
  b_i64(s, 2, limit > 0 ? limit : -1);
  int x;
  while ((x = row(st, Q_OUTBOX_EACH, s)) == 1) {
    agg_outbox_rec o;
    memset(&o, 0, sizeof o);
    o.id = c_i64(s, 0);
    c_text(s, 1, o.topic, sizeof o.topic);
    o.bytes = sqlite3_column_blob(s, 2);
    o.len = (size_t)sqlite3_column_bytes(s, 2);
    o.retain = c_i64(s, 3) != 0;
    o.kind = (int)c_i64(s, 4);
    o.interval = c_i64(s, 5);
    o.hold = c_i64(s, 6);
    int rc = cb(ctx, &o);
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

int agg_store_outbox_count(agg_store *st, int64_t interval, int64_t *n) {
  int id = interval ? Q_OUTBOX_COUNT_IV : Q_OUTBOX_COUNT_ALL;
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  if (interval)
    b_i64(s, 1, interval);
  int x = row(st, id, s);
  if (x < 0)
    return x;
  *n = x ? c_i64(s, 0) : 0;
  sqlite3_reset(s);
  return 0;
}

int agg_store_checkpoint_put(agg_store *st, int64_t size, const char *note,
                             int64_t signed_at) {
  sqlite3_stmt *s = get(st, Q_CP_PUT);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, size);
  b_text(s, 2, note);
  b_i64(s, 3, signed_at);
  return run(st, Q_CP_PUT, s);
}

int agg_store_checkpoint_get(agg_store *st, int64_t size, char **note,
                             int64_t *size_out, int64_t *signed_at) {
  int id = size > 0 ? Q_CP_GET : Q_CP_LATEST;
  sqlite3_stmt *s = get(st, id);
  if (!s)
    return GL_ESTORE;
  if (size > 0)
    b_i64(s, 1, size);
  int x = row(st, id, s);
  if (x <= 0)
    return x == 0 ? GL_ENOENT : x;
  int rc = 0;
  if (note) {
    const unsigned char *t = sqlite3_column_text(s, 1);
    *note = strdup(t ? (const char *)t : "");
    if (!*note)
      rc = GL_ENOMEM;
  }
  if (size_out)
    *size_out = c_i64(s, 0);
  if (signed_at)
    *signed_at = c_i64(s, 2);
  sqlite3_reset(s);
  return rc;
}

int agg_store_checkpoints_each(agg_store *st, int64_t limit,
                               agg_checkpoint_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_CP_EACH);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, limit > 0 ? limit : -1);
  int x;
  while ((x = row(st, Q_CP_EACH, s)) == 1) {
    const unsigned char *t = sqlite3_column_text(s, 1);
    int rc = cb(ctx, c_i64(s, 0), t ? (const char *)t : "", c_i64(s, 2));
    if (rc) {
      sqlite3_reset(s);
      return rc;
    }
  }
  return x;
}

/* ---- Refusals per meter -------------------------------------------------- */

int agg_store_rejections_each(agg_store *st, agg_reject_cb cb, void *ctx) {
  sqlite3_stmt *s = get(st, Q_REJECTS_EACH);
  if (!s)
    return GL_ESTORE;
  b_i64(s, 1, AGG_R_SEQ_REUSE);
  /* The query gives up to two rows per meter (messages, evidence), in
   * meter order: merge them. */
  agg_reject_rec cur = {0};
  bool have = false;
  int x;
  while ((x = row(st, Q_REJECTS_EACH, s)) == 1) {
    agg_reject_rec r = {0};
    c_text(s, 0, r.meter, sizeof r.meter);
    r.count = c_i64(s, 1);
    r.last_at = c_i64(s, 2);
    r.last_reason = (int)c_i64(s, 3);
    if (have && strcmp(cur.meter, r.meter) == 0) {
      cur.count += r.count;
      if (r.last_at > cur.last_at) {
        cur.last_at = r.last_at;
        cur.last_reason = r.last_reason;
      }
      continue;
    }
    if (have) {
      int rc = cb(ctx, &cur);
      if (rc) {
        sqlite3_reset(s);
        return rc;
      }
    }
    cur = r;
    have = true;
  }
  if (x == 0 && have)
    return cb(ctx, &cur);
  return x;
}
