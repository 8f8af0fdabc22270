/* SPDX-License-Identifier: MIT */
/*
 * store.c - the meter's SQLite state (see gridlet/mtr_store.h). Every
 * statement is prepared once, on first use, from the table below; every
 * SQLite error is logged with SQLite's own message and translated by
 * xlate().
 */
#include "gridlet/mtr_store.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define COMP "store"
#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 5000

/* ---- Statements ------------------------------------------------------------
 */

enum {
  Q_META_GET,
  Q_META_PUT,
  Q_OUT_ADD,
  Q_OUT_NEXT,
  Q_OUT_OLDEST,
  Q_OUT_OLDEST_KIND,
  Q_OUT_EXPIRED,
  Q_OUT_DEL,
  Q_OUT_COUNT,
  Q_RD_ADD,
  Q_RD_GET,
  Q_RD_BY_START,
  Q_RD_LAST,
  Q_RD_NEXT,
  Q_RD_SET,
  Q_RD_DUE,
  Q_RD_STALE,
  Q_RD_ACKED,
  Q_RD_COUNT,
  Q_RD_COUNT_ALL,
  Q_RD_PRUNE,
  Q_RES_PUT,
  Q_RES_GET,
  Q_RES_LAST,
  Q_CK_PUT,
  Q_CK_GET,
  Q_CK_PRED,
  Q_CK_SUCC,
  Q_CK_LATEST,
  Q_CK_COUNT,
  Q_CHK_ADD,
  Q_CHK_FIND,
  Q_CHK_DUE,
  Q_CHK_BY_REQ,
  Q_CHK_UPDATE,
  Q_CHK_OPEN_FOR,
  Q_CHK_FAILED_FOR,
  Q_CHK_GIVEN_UP_FOR,
  Q_CHK_REOPEN_FOR,
  Q_CHK_NEXT_TIME,
  Q_CHK_COUNT,
  Q_AL_ADD,
  Q_AL_COUNT,
  Q_AL_COUNT_AFTER,
  Q_AL_LAST_ID,
  Q_AL_LIST,
  Q_PRUNE_RESULTS,
  Q_PRUNE_CHECKS,
  Q_PRUNE_ALARMS,
  Q_PRUNE_CKPTS,
  Q_CT_ADD,
  Q_CT_GET,
  Q_CT_LIST,
  Q_COUNT
};

#define RD_COLS                                                                \
  "seq, start, end_, import_wh, export_wh, pv_wh, charge_wh, discharge_wh, "   \
  "soc_bp, import_total, export_total, flags, state, due, resends, created, "  \
  "topic, bytes, acked"
#define OUT_COLS "seq, kind, topic, start, expires, created, bytes"
#define RES_COLS                                                               \
  "start, end_, seq, received, flags, net, balance, ledger_size, bytes"
#define CK_COLS "size, root, received, note"
#define CHK_COLS "id, kind, a, size, start, state, attempts, next_try, req_seq"

static const char *const sql_text[Q_COUNT] = {
    [Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [Q_META_PUT] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [Q_OUT_ADD] =
        "INSERT INTO outbox(" OUT_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_OUT_NEXT] =
        "SELECT " OUT_COLS " FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT 1",
    [Q_OUT_OLDEST] = "SELECT " OUT_COLS " FROM outbox ORDER BY seq LIMIT 1",
    [Q_OUT_OLDEST_KIND] = "SELECT " OUT_COLS " FROM outbox WHERE kind = ?1 "
                          "ORDER BY seq LIMIT 1",
    [Q_OUT_EXPIRED] = "SELECT " OUT_COLS " FROM outbox WHERE expires < ?1 "
                      "ORDER BY seq LIMIT 1",
    [Q_OUT_DEL] = "DELETE FROM outbox WHERE seq = ?1",
    [Q_OUT_COUNT] = "SELECT count(*) FROM outbox",
    [Q_RD_ADD] = "INSERT INTO readings(" RD_COLS ") VALUES(?1, ?2, ?3, ?4, "
                 "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
                 "?18, ?19)",
    [Q_RD_GET] = "SELECT " RD_COLS " FROM readings WHERE seq = ?1",
    [Q_RD_BY_START] = "SELECT " RD_COLS " FROM readings WHERE start = ?1",
    [Q_RD_LAST] = "SELECT " RD_COLS " FROM readings ORDER BY seq DESC LIMIT 1",
    [Q_RD_NEXT] =
        "SELECT " RD_COLS " FROM readings WHERE seq > ?1 ORDER BY seq LIMIT 1",
    [Q_RD_SET] = "UPDATE readings SET state = ?2, due = ?3, resends = ?4 "
                 "WHERE seq = ?1",
    [Q_RD_DUE] = "SELECT " RD_COLS " FROM readings WHERE state = 1 AND "
                 "due <= ?1 ORDER BY due, seq LIMIT 1",
    [Q_RD_STALE] = "SELECT " RD_COLS " FROM readings WHERE state = 1 AND "
                   "acked < ?1 ORDER BY seq LIMIT 1",
    [Q_RD_ACKED] = "UPDATE readings SET acked = ?2 WHERE seq = ?1 AND "
                   "acked = 0",
    [Q_RD_COUNT] = "SELECT count(*) FROM readings WHERE state = ?1",
    [Q_RD_COUNT_ALL] = "SELECT count(*) FROM readings",
    [Q_RD_PRUNE] = "DELETE FROM readings WHERE end_ < ?1 AND state >= 2",
    [Q_RES_PUT] = "INSERT INTO results(" RES_COLS
                  ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [Q_RES_GET] = "SELECT " RES_COLS " FROM results WHERE start = ?1",
    [Q_RES_LAST] =
        "SELECT " RES_COLS " FROM results ORDER BY start DESC LIMIT 1",
    [Q_CK_PUT] = "INSERT INTO checkpoints(" CK_COLS ") VALUES(?1, ?2, ?3, ?4)",
    [Q_CK_GET] = "SELECT " CK_COLS " FROM checkpoints WHERE size = ?1",
    [Q_CK_PRED] = "SELECT " CK_COLS " FROM checkpoints WHERE size < ?1 "
                  "ORDER BY size DESC LIMIT 1",
    [Q_CK_SUCC] = "SELECT " CK_COLS " FROM checkpoints WHERE size > ?1 "
                  "ORDER BY size LIMIT 1",
    [Q_CK_LATEST] =
        "SELECT " CK_COLS " FROM checkpoints ORDER BY size DESC LIMIT 1",
    [Q_CK_COUNT] = "SELECT count(*) FROM checkpoints",
    [Q_CHK_ADD] = "INSERT INTO checks(kind, a, size, start, state, attempts, "
                  "next_try, req_seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [Q_CHK_FIND] = "SELECT id FROM checks WHERE kind = ?1 AND a = ?2 AND "
                   "size = ?3",
    [Q_CHK_DUE] = "SELECT " CHK_COLS " FROM checks WHERE state <= 1 AND "
                  "next_try <= ?1 ORDER BY next_try, id LIMIT 1",
    [Q_CHK_BY_REQ] = "SELECT " CHK_COLS " FROM checks WHERE req_seq = ?1",
    [Q_CHK_UPDATE] = "UPDATE checks SET start = ?2, state = ?3, attempts = ?4, "
                     "next_try = ?5, req_seq = ?6 WHERE id = ?1",
    [Q_CHK_OPEN_FOR] = "SELECT count(*) FROM checks WHERE start = ?1 AND "
                       "kind = 1 AND state <= 1",
    [Q_CHK_FAILED_FOR] = "SELECT count(*) FROM checks WHERE start = ?1 AND "
                         "kind = 1 AND state = 3",
    [Q_CHK_GIVEN_UP_FOR] = "SELECT count(*) FROM checks WHERE start = ?1 AND "
                           "kind = 1 AND state = 4",
    [Q_CHK_REOPEN_FOR] = "UPDATE checks SET state = 0, attempts = 0, "
                         "next_try = ?2, req_seq = 0 WHERE start = ?1 AND "
                         "kind = 1 AND state >= 3",
    [Q_CHK_NEXT_TIME] = "SELECT min(next_try) FROM checks WHERE state <= 1",
    [Q_CHK_COUNT] = "SELECT count(*) FROM checks WHERE state = ?1",
    [Q_AL_ADD] = "INSERT INTO alarms(time, kind, text) VALUES(?1, ?2, ?3)",
    [Q_AL_COUNT] = "SELECT count(*) FROM alarms",
    [Q_AL_COUNT_AFTER] = "SELECT count(*) FROM alarms WHERE id > ?1",
    [Q_AL_LAST_ID] = "SELECT coalesce(max(id), 0) FROM alarms",
    /* The latest result stays: status shows it. */
    [Q_PRUNE_RESULTS] = "DELETE FROM results WHERE end_ < ?1 AND start < "
                        "(SELECT max(start) FROM results)",
    [Q_PRUNE_CHECKS] = "DELETE FROM checks WHERE state >= 2 AND next_try < ?1",
    /* Never the newest alarm: ids are max(id) + 1, and "acknowledged up
     * to id" must not cover the alarms after an empty table. */
    [Q_PRUNE_ALARMS] = "DELETE FROM alarms WHERE time < ?1 AND id < (SELECT "
                       "max(id) FROM alarms)",
    /* Never the latest checkpoint (new ones are proven consistent with
     * it), nor one an open check still needs. */
    [Q_PRUNE_CKPTS] =
        "DELETE FROM checkpoints WHERE received < ?1 AND size < (SELECT "
        "max(size) FROM checkpoints) AND size NOT IN (SELECT a FROM checks "
        "WHERE kind = 2 AND state <= 1) AND size NOT IN (SELECT size FROM "
        "checks WHERE state <= 1)",
    [Q_AL_LIST] = "SELECT time, kind, text, id FROM alarms ORDER BY id DESC "
                  "LIMIT ?1",
    [Q_CT_ADD] = "INSERT INTO counters(name, value) VALUES(?1, ?2) "
                 "ON CONFLICT(name) DO UPDATE SET value = value + ?2",
    [Q_CT_GET] = "SELECT value FROM counters WHERE name = ?1",
    [Q_CT_LIST] = "SELECT name, value FROM counters ORDER BY name",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB);"
    "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, kind INTEGER "
    "NOT NULL, topic TEXT NOT NULL, start INTEGER NOT NULL, expires INTEGER "
    "NOT NULL, created INTEGER NOT NULL, bytes BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS readings(seq INTEGER PRIMARY KEY, start "
    "INTEGER NOT NULL UNIQUE, end_ INTEGER NOT NULL, import_wh INTEGER NOT "
    "NULL, export_wh INTEGER NOT NULL, pv_wh INTEGER NOT NULL, charge_wh "
    "INTEGER NOT NULL, discharge_wh INTEGER NOT NULL, soc_bp INTEGER, "
    "import_total INTEGER, export_total INTEGER, flags INTEGER NOT NULL, "
    "state INTEGER NOT NULL, due INTEGER NOT NULL, resends INTEGER NOT NULL, "
    "created INTEGER NOT NULL, topic TEXT NOT NULL, bytes BLOB NOT NULL, "
    "acked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS readings_due ON readings(state, due);"
    "CREATE TABLE IF NOT EXISTS results(start INTEGER PRIMARY KEY, end_ "
    "INTEGER NOT NULL, seq INTEGER NOT NULL, received INTEGER NOT NULL, flags "
    "INTEGER NOT NULL, net INTEGER NOT NULL, balance INTEGER NOT NULL, "
    "ledger_size INTEGER NOT NULL, bytes BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, root "
    "BLOB NOT NULL, received INTEGER NOT NULL, note TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checks(id INTEGER PRIMARY KEY, kind INTEGER "
    "NOT NULL, a INTEGER NOT NULL, size INTEGER NOT NULL, start INTEGER NOT "
    "NULL, state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_try "
    "INTEGER NOT NULL, req_seq INTEGER NOT NULL, UNIQUE(kind, a, size));"
    "CREATE INDEX IF NOT EXISTS checks_due ON checks(state, next_try);"
    "CREATE INDEX IF NOT EXISTS checks_req ON checks(req_seq);"
    "CREATE TABLE IF NOT EXISTS alarms(id INTEGER PRIMARY KEY, time INTEGER "
    "NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value "
    "INTEGER NOT NULL);";

struct mtr_store {
  sqlite3 *db;
  bool read_only;
  int depth; /* open transactions (0 or 1) */
  sqlite3_stmt *st[Q_COUNT];
};

/* ---- Errors and statement helpers ----------------------------------------
 */

static int xlate(mtr_store *s, int rc, const char *what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
    return 0;
  GL_ERROR(COMP, "%s: %s (SQLite %d)", what,
           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), rc);
  return GL_ESTORE;
}

static sqlite3_stmt *stmt(mtr_store *s, int q) {
  if (!s->st[q]) {
    int rc = sqlite3_prepare_v3(s->db, sql_text[q], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->st[q], NULL);
    if (rc != SQLITE_OK) {
      xlate(s, rc, "prepare");
      return NULL;
    }
  }
  return s->st[q];
}

static void done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows. */
static int exec_stmt(mtr_store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  done(st);
  return rc == SQLITE_DONE ? 0 : xlate(s, rc, what);
}

/* Step to the first row: 0 with a row, GL_ENOENT without, GL_ESTORE. */
static int first_row(mtr_store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 0;
  done(st);
  return rc == SQLITE_DONE ? GL_ENOENT : xlate(s, rc, what);
}

static int count_query(mtr_store *s, int q, int64_t arg, bool bind,
                       int64_t *n) {
  sqlite3_stmt *st = stmt(s, q);
  if (!st)
    return GL_ESTORE;
  if (bind)
    sqlite3_bind_int64(st, 1, arg);
  int rc = first_row(s, st, "count");
  if (rc)
    return rc;
  *n = sqlite3_column_type(st, 0) == SQLITE_NULL ? INT64_MAX
                                                 : sqlite3_column_int64(st, 0);
  done(st);
  return 0;
}

static int copy_blob(sqlite3_stmt *st, int col, uint8_t *buf, size_t cap,
                     size_t *len) {
  int n = sqlite3_column_bytes(st, col);
  if (n < 0 || (size_t)n > cap)
    return GL_ETOOBIG;
  if (n)
    memcpy(buf, sqlite3_column_blob(st, col), (size_t)n);
  *len = (size_t)n;
  return 0;
}

static void copy_text(sqlite3_stmt *st, int col, char *buf, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

/* ---- Open and close --------------------------------------------------------
 */

static int exec_sql(mtr_store *s, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    GL_ERROR(COMP, "%s", err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return GL_ESTORE;
  }
  return 0;
}

static int check_identity(mtr_store *s, const char *key, const char *want,
                          bool created) {
  char have[128];
  int rc = mtr_store_get_text(s, key, have, sizeof have);
  if (rc == GL_ENOENT && created)
    return mtr_store_put_blob(s, key, want, strlen(want));
  if (rc)
    return rc;
  if (strcmp(have, want) != 0) {
    GL_ERROR(COMP,
             "this database belongs to %s \"%s\", not \"%s\": refusing to "
             "use it (move it away to start afresh)",
             key, have, want);
    return GL_ECONFLICT;
  }
  return 0;
}

int mtr_store_open(const char *path, const mtr_store_opts *opts,
                   mtr_store **out) {
  *out = NULL;
  mtr_store *s = calloc(1, sizeof *s);
  if (!s)
    return GL_ENOMEM;
  s->read_only = opts && opts->read_only;
  bool create = opts && opts->create && !s->read_only;
  int flags = s->read_only
                  ? SQLITE_OPEN_READONLY
                  : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    int err = rc == SQLITE_CANTOPEN ? GL_ENOENT : GL_ESTORE;
    GL_ERROR(COMP, "cannot open %s: %s", path,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sqlite3_close(s->db);
    free(s);
    return err;
  }
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  /* WAL with synchronous=FULL: a commit is on disk when it returns, and
   * readers (status) never block the agent. A small page cache keeps the
   * agent's footprint small; its working set is a few pages. */
  int err = 0;
  if (!s->read_only)
    err = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                      "PRAGMA foreign_keys=ON;");
  if (!err)
    err = exec_sql(s, "PRAGMA cache_size=-256;");
  bool created = false;
  if (!err && !s->read_only) {
    int64_t v = 0;
    err = exec_sql(s, "BEGIN IMMEDIATE;");
    if (!err) {
      err = exec_sql(s, schema);
      if (!err) {
        int g = mtr_store_get_int(s, "schema", &v);
        if (g == GL_ENOENT) {
          created = true;
          err = mtr_store_put_int(s, "schema", SCHEMA_VERSION);
        } else if (g) {
          err = g;
        } else if (v == 1) {
          /* Version 2 records when the broker first took each reading
           * (receipt_give_up counts from there); readings of version 1
           * awaiting a receipt keep counting from their interval's end. */
          GL_NOTICE(COMP, "%s: upgrading the database to version 2", path);
          err =
              exec_sql(s, "ALTER TABLE readings ADD COLUMN acked INTEGER "
                          "NOT NULL DEFAULT 0;"
                          "UPDATE readings SET acked = end_ WHERE state >= 1;");
          if (!err)
            err = mtr_store_put_int(s, "schema", SCHEMA_VERSION);
        } else if (v != SCHEMA_VERSION) {
          GL_ERROR(COMP,
                   "%s has schema version %lld; this gridlet-meter "
                   "reads version %d",
                   path, (long long)v, SCHEMA_VERSION);
          err = GL_ECONFLICT;
        }
      }
      if (!err && opts && opts->meter_id)
        err = check_identity(s, MTR_KEY_METER, opts->meter_id, created);
      if (!err && opts && opts->community)
        err = check_identity(s, MTR_KEY_COMMUNITY, opts->community, created);
      if (err)
        exec_sql(s, "ROLLBACK;");
      else
        err = exec_sql(s, "COMMIT;");
    }
  } else if (!err) {
    int64_t v;
    err = mtr_store_get_int(s, "schema", &v);
    if (!err && v != SCHEMA_VERSION) {
      GL_ERROR(COMP,
               "%s has schema version %lld; this gridlet-meter reads version "
               "%d (the agent upgrades it when it starts)",
               path, (long long)v, SCHEMA_VERSION);
      err = GL_ECONFLICT;
    }
  }
  if (err) {
    mtr_store_free(s);
    return err == GL_ENOENT ? GL_ESTORE : err;
  }
  *out = s;
  return 0;
}

void mtr_store_free(mtr_store *s) {
  if (!s)
    return;
  for (int i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db);
  free(s);
}

/* ---- The agent's lock
 * --------------------------------------------------------
 *
 * A flock(2) on a file next to the database, not on the database itself:
 * SQLite's own POSIX locks on the database are released whenever any
 * descriptor of it is closed, flock's only when ours is. The kernel drops
 * it when the agent dies, so a stale PID can never look like a running
 * agent.
 */

static int lock_path(const char *path, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "%s.lock", path);
  return n < 0 || (size_t)n >= cap ? GL_ETOOBIG : 0;
}

int mtr_store_agent_lock(const char *path, int *fd) {
  char lp[4096];
  *fd = -1;
  if (lock_path(path, lp, sizeof lp))
    return GL_ETOOBIG;
  int f = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0) {
    GL_ERROR(COMP, "cannot create %s: %s", lp, strerror(errno));
    return GL_EIO;
  }
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(f);
    if (e == EWOULDBLOCK)
      return GL_EEXIST;
    GL_ERROR(COMP, "cannot lock %s: %s", lp, strerror(e));
    return GL_EIO;
  }
  *fd = f;
  return 0;
}

int mtr_store_agent_running(const char *path, bool *running) {
  char lp[4096];
  *running = false;
  if (lock_path(path, lp, sizeof lp))
    return GL_ETOOBIG;
  int f = open(lp, O_RDONLY | O_CLOEXEC);
  if (f < 0)
    return errno == ENOENT ? 0 : GL_EIO;
  if (flock(f, LOCK_SH | LOCK_NB) != 0)
    *running = errno == EWOULDBLOCK;
  close(f); /* releases the shared lock, if we got it */
  return 0;
}

int mtr_store_begin(mtr_store *s) {
  if (s->depth)
    return GL_ESTATE;
  int rc = exec_sql(s, "BEGIN IMMEDIATE;");
  if (!rc)
    s->depth = 1;
  return rc;
}

int mtr_store_commit(mtr_store *s) {
  if (!s->depth)
    return GL_ESTATE;
  int rc = exec_sql(s, "COMMIT;");
  if (rc) {
    exec_sql(s, "ROLLBACK;");
  }
  s->depth = 0;
  return rc;
}

void mtr_store_rollback(mtr_store *s) {
  if (!s->depth)
    return;
  exec_sql(s, "ROLLBACK;");
  s->depth = 0;
}

/* ---- Key/value -------------------------------------------------------------
 */

int mtr_store_get_blob(mtr_store *s, const char *key, uint8_t *buf, size_t cap,
                       size_t *len) {
  sqlite3_stmt *st = stmt(s, Q_META_GET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = first_row(s, st, "meta");
  if (rc)
    return rc;
  rc = copy_blob(st, 0, buf, cap, len);
  done(st);
  return rc;
}

int mtr_store_put_blob(mtr_store *s, const char *key, const void *data,
                       size_t len) {
  sqlite3_stmt *st = stmt(s, Q_META_PUT);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
  return exec_stmt(s, st, "meta");
}

int mtr_store_get_int(mtr_store *s, const char *key, int64_t *v) {
  sqlite3_stmt *st = stmt(s, Q_META_GET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int rc = first_row(s, st, "meta");
  if (rc)
    return rc;
  *v = sqlite3_column_int64(st, 0);
  done(st);
  return 0;
}

int mtr_store_put_int(mtr_store *s, const char *key, int64_t v) {
  sqlite3_stmt *st = stmt(s, Q_META_PUT);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, v);
  return exec_stmt(s, st, "meta");
}

int mtr_store_get_text(mtr_store *s, const char *key, char *buf, size_t cap) {
  size_t len;
  if (!cap)
    return GL_ETOOBIG;
  int rc = mtr_store_get_blob(s, key, (uint8_t *)buf, cap - 1, &len);
  if (rc)
    return rc;
  buf[len] = '\0';
  return 0;
}

int mtr_store_next_seq(mtr_store *s, int64_t floor, int64_t *seq) {
  int64_t next = 1;
  int rc = mtr_store_get_int(s, MTR_KEY_NEXT_SEQ, &next);
  if (rc && rc != GL_ENOENT)
    return rc;
  if (next < floor)
    next = floor;
  if (next < 1 || next >= PR_INT_MAX) {
    GL_ERROR(COMP, "sequence numbers exhausted (next %lld)", (long long)next);
    return GL_EFULL;
  }
  rc = mtr_store_put_int(s, MTR_KEY_NEXT_SEQ, next + 1);
  if (rc)
    return rc;
  *seq = next;
  return 0;
}

/* ---- Outbox ----------------------------------------------------------------
 */

static int read_outbox(mtr_store *s, sqlite3_stmt *st, mtr_outbox_row *row) {
  int rc = first_row(s, st, "outbox");
  if (rc)
    return rc;
  memset(row, 0, offsetof(mtr_outbox_row, bytes));
  row->seq = sqlite3_column_int64(st, 0);
  row->kind = sqlite3_column_int(st, 1);
  copy_text(st, 2, row->topic, sizeof row->topic);
  row->start = sqlite3_column_int64(st, 3);
  row->expires = sqlite3_column_int64(st, 4);
  row->created = sqlite3_column_int64(st, 5);
  rc = copy_blob(st, 6, row->bytes, sizeof row->bytes, &row->len);
  done(st);
  return rc;
}

int mtr_store_outbox_add(mtr_store *s, const mtr_outbox_row *row) {
  sqlite3_stmt *st = stmt(s, Q_OUT_ADD);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, row->seq);
  sqlite3_bind_int(st, 2, row->kind);
  sqlite3_bind_text(st, 3, row->topic, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, row->start);
  sqlite3_bind_int64(st, 5, row->expires);
  sqlite3_bind_int64(st, 6, row->created);
  sqlite3_bind_blob(st, 7, row->bytes, (int)row->len, SQLITE_STATIC);
  return exec_stmt(s, st, "outbox add");
}

int mtr_store_outbox_next(mtr_store *s, int64_t after_seq,
                          mtr_outbox_row *row) {
  sqlite3_stmt *st = stmt(s, Q_OUT_NEXT);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, after_seq);
  return read_outbox(s, st, row);
}

int mtr_store_outbox_oldest(mtr_store *s, int kind, mtr_outbox_row *row) {
  sqlite3_stmt *st = stmt(s, kind ? Q_OUT_OLDEST_KIND : Q_OUT_OLDEST);
  if (!st)
    return GL_ESTORE;
  if (kind)
    sqlite3_bind_int(st, 1, kind);
  return read_outbox(s, st, row);
}

int mtr_store_outbox_expired(mtr_store *s, int64_t now, mtr_outbox_row *row) {
  sqlite3_stmt *st = stmt(s, Q_OUT_EXPIRED);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, now);
  return read_outbox(s, st, row);
}

int mtr_store_outbox_delete(mtr_store *s, int64_t seq) {
  sqlite3_stmt *st = stmt(s, Q_OUT_DEL);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, seq);
  return exec_stmt(s, st, "outbox delete");
}

int mtr_store_outbox_count(mtr_store *s, int64_t *n) {
  return count_query(s, Q_OUT_COUNT, 0, false, n);
}

/* ---- Readings --------------------------------------------------------------
 */

const char *mtr_reading_state_name(int state) {
  static const char *const names[] = {
      "queued", "awaiting receipt", "receipted",   "confirmed in the ledger",
      "late",   "dropped",          "unconfirmed", "refused by the broker"};
  return state >= 0 && state < MTR_RS_COUNT ? names[state] : "?";
}

static void bind_opt(sqlite3_stmt *st, int col, bool has, int64_t v) {
  if (has)
    sqlite3_bind_int64(st, col, v);
  else
    sqlite3_bind_null(st, col);
}

int mtr_store_reading_add(mtr_store *s, const mtr_reading_row *row) {
  sqlite3_stmt *st = stmt(s, Q_RD_ADD);
  if (!st)
    return GL_ESTORE;
  const pr_reading *r = &row->r;
  sqlite3_bind_int64(st, 1, row->seq);
  sqlite3_bind_int64(st, 2, r->start);
  sqlite3_bind_int64(st, 3, r->end);
  sqlite3_bind_int64(st, 4, r->import_wh);
  sqlite3_bind_int64(st, 5, r->export_wh);
  sqlite3_bind_int64(st, 6, r->pv_wh);
  sqlite3_bind_int64(st, 7, r->charge_wh);
  sqlite3_bind_int64(st, 8, r->discharge_wh);
  bind_opt(st, 9, r->has_soc_bp, r->soc_bp);
  bind_opt(st, 10, r->has_import_total_wh, r->import_total_wh);
  bind_opt(st, 11, r->has_export_total_wh, r->export_total_wh);
  sqlite3_bind_int64(st, 12, r->flags);
  sqlite3_bind_int(st, 13, row->state);
  sqlite3_bind_int64(st, 14, row->due);
  sqlite3_bind_int64(st, 15, row->resends);
  sqlite3_bind_int64(st, 16, row->created);
  sqlite3_bind_text(st, 17, row->topic, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 18, row->bytes, (int)row->len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 19, row->acked);
  return exec_stmt(s, st, "reading add");
}

static int read_reading(mtr_store *s, sqlite3_stmt *st, mtr_reading_row *row) {
  int rc = first_row(s, st, "readings");
  if (rc)
    return rc;
  memset(row, 0, offsetof(mtr_reading_row, bytes));
  pr_reading *r = &row->r;
  row->seq = sqlite3_column_int64(st, 0);
  r->start = sqlite3_column_int64(st, 1);
  r->end = sqlite3_column_int64(st, 2);
  r->import_wh = sqlite3_column_int64(st, 3);
  r->export_wh = sqlite3_column_int64(st, 4);
  r->pv_wh = sqlite3_column_int64(st, 5);
  r->charge_wh = sqlite3_column_int64(st, 6);
  r->discharge_wh = sqlite3_column_int64(st, 7);
  r->has_soc_bp = sqlite3_column_type(st, 8) != SQLITE_NULL;
  r->soc_bp = sqlite3_column_int64(st, 8);
  r->has_import_total_wh = sqlite3_column_type(st, 9) != SQLITE_NULL;
  r->import_total_wh = sqlite3_column_int64(st, 9);
  r->has_export_total_wh = sqlite3_column_type(st, 10) != SQLITE_NULL;
  r->export_total_wh = sqlite3_column_int64(st, 10);
  r->flags = (uint32_t)sqlite3_column_int64(st, 11);
  row->state = sqlite3_column_int(st, 12);
  row->due = sqlite3_column_int64(st, 13);
  row->resends = sqlite3_column_int64(st, 14);
  row->created = sqlite3_column_int64(st, 15);
  copy_text(st, 16, row->topic, sizeof row->topic);
  rc = copy_blob(st, 17, row->bytes, sizeof row->bytes, &row->len);
  row->acked = sqlite3_column_int64(st, 18);
  done(st);
  return rc;
}

/* The one reading statement `q` selects with its parameter ?1 = `v`. */
static int reading_where(mtr_store *s, int q, int64_t v, mtr_reading_row *row) {
  sqlite3_stmt *st = stmt(s, q);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, v);
  return read_reading(s, st, row);
}

int mtr_store_reading_acked(mtr_store *s, int64_t seq, int64_t when) {
  sqlite3_stmt *st = stmt(s, Q_RD_ACKED);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int64(st, 2, when);
  return exec_stmt(s, st, "reading acked");
}

int mtr_store_reading_get(mtr_store *s, int64_t seq, mtr_reading_row *row) {
  return reading_where(s, Q_RD_GET, seq, row);
}

int mtr_store_reading_by_start(mtr_store *s, int64_t start,
                               mtr_reading_row *row) {
  return reading_where(s, Q_RD_BY_START, start, row);
}

int mtr_store_reading_last(mtr_store *s, mtr_reading_row *row) {
  sqlite3_stmt *st = stmt(s, Q_RD_LAST);
  if (!st)
    return GL_ESTORE;
  return read_reading(s, st, row);
}

int mtr_store_reading_next(mtr_store *s, int64_t after_seq,
                           mtr_reading_row *row) {
  return reading_where(s, Q_RD_NEXT, after_seq, row);
}

int mtr_store_reading_set_state(mtr_store *s, int64_t seq, int state,
                                int64_t due, int64_t resends) {
  sqlite3_stmt *st = stmt(s, Q_RD_SET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int(st, 2, state);
  sqlite3_bind_int64(st, 3, due);
  sqlite3_bind_int64(st, 4, resends);
  return exec_stmt(s, st, "reading state");
}

int mtr_store_reading_due(mtr_store *s, int64_t now, mtr_reading_row *row) {
  return reading_where(s, Q_RD_DUE, now, row);
}

int mtr_store_reading_stale(mtr_store *s, int64_t before,
                            mtr_reading_row *row) {
  return reading_where(s, Q_RD_STALE, before, row);
}

int mtr_store_reading_count(mtr_store *s, int state, int64_t *n) {
  if (state < 0)
    return count_query(s, Q_RD_COUNT_ALL, 0, false, n);
  return count_query(s, Q_RD_COUNT, state, true, n);
}

int mtr_store_reading_prune(mtr_store *s, int64_t before) {
  sqlite3_stmt *st = stmt(s, Q_RD_PRUNE);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, before);
  return exec_stmt(s, st, "reading prune");
}

/* ---- Results ---------------------------------------------------------------
 */

int mtr_store_result_put(mtr_store *s, const mtr_result_row *row) {
  mtr_result_row *old = malloc(sizeof *old);
  if (!old)
    return GL_ENOMEM;
  int rc = mtr_store_result_get(s, row->start, old);
  free(old);
  if (rc == 0)
    return GL_EEXIST;
  if (rc != GL_ENOENT)
    return rc;
  sqlite3_stmt *st = stmt(s, Q_RES_PUT);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, row->start);
  sqlite3_bind_int64(st, 2, row->end);
  sqlite3_bind_int64(st, 3, row->seq);
  sqlite3_bind_int64(st, 4, row->received);
  sqlite3_bind_int64(st, 5, row->flags);
  sqlite3_bind_int64(st, 6, row->net);
  sqlite3_bind_int64(st, 7, row->balance);
  sqlite3_bind_int64(st, 8, row->ledger_size);
  sqlite3_bind_blob(st, 9, row->bytes, (int)row->len, SQLITE_STATIC);
  return exec_stmt(s, st, "result add");
}

static int read_result(mtr_store *s, sqlite3_stmt *st, mtr_result_row *row) {
  int rc = first_row(s, st, "results");
  if (rc)
    return rc;
  memset(row, 0, offsetof(mtr_result_row, bytes));
  row->start = sqlite3_column_int64(st, 0);
  row->end = sqlite3_column_int64(st, 1);
  row->seq = sqlite3_column_int64(st, 2);
  row->received = sqlite3_column_int64(st, 3);
  row->flags = (uint32_t)sqlite3_column_int64(st, 4);
  row->net = sqlite3_column_int64(st, 5);
  row->balance = sqlite3_column_int64(st, 6);
  row->ledger_size = sqlite3_column_int64(st, 7);
  rc = copy_blob(st, 8, row->bytes, sizeof row->bytes, &row->len);
  done(st);
  return rc;
}

int mtr_store_result_get(mtr_store *s, int64_t start, mtr_result_row *row) {
  sqlite3_stmt *st = stmt(s, Q_RES_GET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, start);
  return read_result(s, st, row);
}

int mtr_store_result_last(mtr_store *s, mtr_result_row *row) {
  sqlite3_stmt *st = stmt(s, Q_RES_LAST);
  if (!st)
    return GL_ESTORE;
  return read_result(s, st, row);
}

/* ---- Checkpoints -----------------------------------------------------------
 */

static int read_ckpt(mtr_store *s, sqlite3_stmt *st, mtr_ckpt_row *row) {
  int rc = first_row(s, st, "checkpoints");
  if (rc)
    return rc;
  memset(row, 0, sizeof *row);
  row->size = sqlite3_column_int64(st, 0);
  size_t len = 0;
  rc = copy_blob(st, 1, row->root, sizeof row->root, &len);
  if (!rc && len != sizeof row->root)
    rc = GL_EPARSE;
  row->received = sqlite3_column_int64(st, 2);
  copy_text(st, 3, row->note, sizeof row->note);
  done(st);
  return rc;
}

int mtr_store_ckpt_get(mtr_store *s, int64_t size, mtr_ckpt_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CK_GET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, size);
  return read_ckpt(s, st, row);
}

int mtr_store_ckpt_put(mtr_store *s, const mtr_ckpt_row *row) {
  mtr_ckpt_row old;
  int rc = mtr_store_ckpt_get(s, row->size, &old);
  if (rc == 0)
    return memcmp(old.root, row->root, sizeof old.root) == 0 ? 0 : GL_ECONFLICT;
  if (rc != GL_ENOENT)
    return rc;
  sqlite3_stmt *st = stmt(s, Q_CK_PUT);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, row->size);
  sqlite3_bind_blob(st, 2, row->root, sizeof row->root, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, row->received);
  sqlite3_bind_text(st, 4, row->note, -1, SQLITE_STATIC);
  return exec_stmt(s, st, "checkpoint add");
}

int mtr_store_ckpt_neighbours(mtr_store *s, int64_t size, mtr_ckpt_row *pred,
                              bool *has_pred, mtr_ckpt_row *succ,
                              bool *has_succ) {
  *has_pred = *has_succ = false;
  sqlite3_stmt *st = stmt(s, Q_CK_PRED);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, size);
  int rc = read_ckpt(s, st, pred);
  if (rc && rc != GL_ENOENT)
    return rc;
  *has_pred = rc == 0;
  st = stmt(s, Q_CK_SUCC);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, size);
  rc = read_ckpt(s, st, succ);
  if (rc && rc != GL_ENOENT)
    return rc;
  *has_succ = rc == 0;
  return 0;
}

int mtr_store_ckpt_latest(mtr_store *s, mtr_ckpt_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CK_LATEST);
  if (!st)
    return GL_ESTORE;
  return read_ckpt(s, st, row);
}

int mtr_store_ckpt_count(mtr_store *s, int64_t *n) {
  return count_query(s, Q_CK_COUNT, 0, false, n);
}

/* ---- Checks ----------------------------------------------------------------
 */

static int read_check(mtr_store *s, sqlite3_stmt *st, mtr_check_row *row) {
  int rc = first_row(s, st, "checks");
  if (rc)
    return rc;
  row->id = sqlite3_column_int64(st, 0);
  row->kind = sqlite3_column_int(st, 1);
  row->a = sqlite3_column_int64(st, 2);
  row->size = sqlite3_column_int64(st, 3);
  row->start = sqlite3_column_int64(st, 4);
  row->state = sqlite3_column_int(st, 5);
  row->attempts = sqlite3_column_int64(st, 6);
  row->next_try = sqlite3_column_int64(st, 7);
  row->request_seq = sqlite3_column_int64(st, 8);
  done(st);
  return 0;
}

int mtr_store_check_add(mtr_store *s, mtr_check_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CHK_FIND);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int(st, 1, row->kind);
  sqlite3_bind_int64(st, 2, row->a);
  sqlite3_bind_int64(st, 3, row->size);
  int rc = first_row(s, st, "checks");
  if (rc == 0) {
    row->id = sqlite3_column_int64(st, 0);
    done(st);
    return 0;
  }
  if (rc != GL_ENOENT)
    return rc;
  st = stmt(s, Q_CHK_ADD);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int(st, 1, row->kind);
  sqlite3_bind_int64(st, 2, row->a);
  sqlite3_bind_int64(st, 3, row->size);
  sqlite3_bind_int64(st, 4, row->start);
  sqlite3_bind_int(st, 5, row->state);
  sqlite3_bind_int64(st, 6, row->attempts);
  sqlite3_bind_int64(st, 7, row->next_try);
  sqlite3_bind_int64(st, 8, row->request_seq);
  rc = exec_stmt(s, st, "check add");
  if (!rc)
    row->id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

int mtr_store_check_due(mtr_store *s, int64_t now, mtr_check_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CHK_DUE);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, now);
  return read_check(s, st, row);
}

int mtr_store_check_by_request(mtr_store *s, int64_t request_seq,
                               mtr_check_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CHK_BY_REQ);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, request_seq);
  return read_check(s, st, row);
}

int mtr_store_check_update(mtr_store *s, const mtr_check_row *row) {
  sqlite3_stmt *st = stmt(s, Q_CHK_UPDATE);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, row->id);
  sqlite3_bind_int64(st, 2, row->start);
  sqlite3_bind_int(st, 3, row->state);
  sqlite3_bind_int64(st, 4, row->attempts);
  sqlite3_bind_int64(st, 5, row->next_try);
  sqlite3_bind_int64(st, 6, row->request_seq);
  return exec_stmt(s, st, "check update");
}

int mtr_store_check_open_for(mtr_store *s, int64_t start, int64_t *n) {
  return count_query(s, Q_CHK_OPEN_FOR, start, true, n);
}

int mtr_store_check_failed_for(mtr_store *s, int64_t start, int64_t *n) {
  return count_query(s, Q_CHK_FAILED_FOR, start, true, n);
}

int mtr_store_check_given_up_for(mtr_store *s, int64_t start, int64_t *n) {
  return count_query(s, Q_CHK_GIVEN_UP_FOR, start, true, n);
}

int mtr_store_check_reopen_for(mtr_store *s, int64_t start, int64_t now,
                               int64_t *n) {
  sqlite3_stmt *st = stmt(s, Q_CHK_REOPEN_FOR);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, start);
  sqlite3_bind_int64(st, 2, now);
  int rc = exec_stmt(s, st, "checks reopen");
  if (!rc)
    *n = sqlite3_changes(s->db);
  return rc;
}

int mtr_store_check_next_time(mtr_store *s, int64_t *t) {
  return count_query(s, Q_CHK_NEXT_TIME, 0, false, t);
}

int mtr_store_check_count(mtr_store *s, int state, int64_t *n) {
  return count_query(s, Q_CHK_COUNT, state, true, n);
}

/* ---- Alarms and counters ---------------------------------------------------
 */

int mtr_store_alarm_add(mtr_store *s, int64_t time, const char *kind,
                        const char *text) {
  sqlite3_stmt *st = stmt(s, Q_AL_ADD);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int64(st, 1, time);
  sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
  return exec_stmt(s, st, "alarm add");
}

int mtr_store_alarm_count(mtr_store *s, int64_t *n) {
  return count_query(s, Q_AL_COUNT, 0, false, n);
}

int mtr_store_alarm_count_after(mtr_store *s, int64_t after_id, int64_t *n) {
  return count_query(s, Q_AL_COUNT_AFTER, after_id, true, n);
}

int mtr_store_alarm_last_id(mtr_store *s, int64_t *id) {
  return count_query(s, Q_AL_LAST_ID, 0, false, id);
}

int mtr_store_prune(mtr_store *s, int64_t before, int64_t *n) {
  static const int q[] = {Q_PRUNE_RESULTS, Q_PRUNE_CHECKS, Q_PRUNE_ALARMS,
                          Q_PRUNE_CKPTS};
  int64_t total = 0;
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    sqlite3_stmt *st = stmt(s, q[i]);
    if (!st)
      return GL_ESTORE;
    sqlite3_bind_int64(st, 1, before);
    int rc = exec_stmt(s, st, "prune");
    if (rc)
      return rc;
    total += sqlite3_changes(s->db);
  }
  if (n)
    *n = total;
  return 0;
}

int mtr_store_durability(mtr_store *s, bool *wal, bool *full) {
  sqlite3_stmt *st = NULL;
  *wal = *full = false;
  int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *m = sqlite3_column_text(st, 0);
    *wal = m && strcmp((const char *)m, "wal") == 0;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &st, NULL);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    *full = sqlite3_column_int(st, 0) >= 2; /* FULL = 2, EXTRA = 3 */
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? 0 : xlate(s, rc, "pragma");
}

int mtr_store_alarm_list(mtr_store *s, int max, mtr_alarm_visit visit,
                         void *ctx) {
  sqlite3_stmt *st = stmt(s, Q_AL_LIST);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_int(st, 1, max);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    visit(ctx, sqlite3_column_int64(st, 0),
          (const char *)sqlite3_column_text(st, 1),
          (const char *)sqlite3_column_text(st, 2),
          sqlite3_column_int64(st, 3));
  done(st);
  return rc == SQLITE_DONE ? 0 : xlate(s, rc, "alarms");
}

int mtr_store_counter_add(mtr_store *s, const char *name, int64_t delta) {
  sqlite3_stmt *st = stmt(s, Q_CT_ADD);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, delta);
  return exec_stmt(s, st, "counter");
}

int mtr_store_counter_get(mtr_store *s, const char *name, int64_t *v) {
  sqlite3_stmt *st = stmt(s, Q_CT_GET);
  if (!st)
    return GL_ESTORE;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = first_row(s, st, "counter");
  if (rc)
    return rc;
  *v = sqlite3_column_int64(st, 0);
  done(st);
  return 0;
}

int mtr_store_counter_list(mtr_store *s, mtr_counter_visit visit, void *ctx) {
  sqlite3_stmt *st = stmt(s, Q_CT_LIST);
  if (!st)
    return GL_ESTORE;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    visit(ctx, (const char *)sqlite3_column_text(st, 0),
          sqlite3_column_int64(st, 1));
  done(st);
  return rc == SQLITE_DONE ? 0 : xlate(s, rc, "counters");
}
