/* SPDX-License-Identifier: MIT */
/*
 * store.c - SQLite storage for the log and the witness (see store.h).
 *
 * The one file of ledger/ that includes sqlite3.h. Statements are prepared
 * once per connection (SQLITE_PREPARE_PERSISTENT) and reset after each
 * use; every SQLite failure is logged with the database name and SQLite's
 * own message, then translated into a GL_E* code by xlate().
 */
#include "store.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "ledger"
#define BUSY_TIMEOUT_MS 10000
#define TXN_DEPTH_MAX 16

/* ---- Statements --------------------------------------------------------- */

enum stmt_id {
  ST_META_GET,
  ST_META_SET,
  ST_SIZE,
  ST_ENTRY_PUT,
  ST_ENTRY_GET,
  ST_ENTRY_SCAN,
  ST_TILE_GET,
  ST_TILE_PUT,
  ST_CP_PUT,
  ST_CP_LATEST,
  ST_CP_GET,
  ST_CP_SCAN,
  ST_COSIG_PUT,
  ST_COSIG_LINES,
  ST_WIT_LOG_PUT,
  ST_WIT_LOG_GET,
  ST_WIT_STATE_GET,
  ST_WIT_STATE_PUT,
  ST_WIT_EVIDENCE_PUT,
  ST_WIT_EVIDENCE_COUNT,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM lg_meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO lg_meta(key, value) VALUES(?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_SIZE] = "SELECT max(idx) FROM lg_entries",
    [ST_ENTRY_PUT] =
        "INSERT INTO lg_entries(idx, type, data) VALUES(?1, ?2, ?3)",
    [ST_ENTRY_GET] = "SELECT type, data FROM lg_entries WHERE idx = ?1",
    [ST_ENTRY_SCAN] = "SELECT idx, type, data FROM lg_entries "
                      "WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
    [ST_TILE_GET] = "SELECT hashes FROM lg_tiles WHERE id = ?1",
    [ST_TILE_PUT] =
        "INSERT OR REPLACE INTO lg_tiles(id, hashes) VALUES(?1, ?2)",
    [ST_CP_PUT] = "INSERT INTO lg_checkpoints(size, root, note, signed_ns) "
                  "VALUES(?1, ?2, ?3, ?4)",
    [ST_CP_LATEST] = "SELECT size, root, note, signed_ns FROM lg_checkpoints "
                     "ORDER BY size DESC LIMIT 1",
    [ST_CP_GET] = "SELECT size, root, note, signed_ns FROM lg_checkpoints "
                  "WHERE size = ?1",
    [ST_CP_SCAN] = "SELECT size, root, note, signed_ns FROM lg_checkpoints "
                   "ORDER BY size",
    [ST_COSIG_PUT] = "INSERT OR REPLACE INTO lg_cosigs(size, name, key_id, "
                     "line) VALUES(?1, ?2, ?3, ?4)",
    [ST_COSIG_LINES] = "SELECT line FROM lg_cosigs WHERE size = ?1 "
                       "ORDER BY name, key_id",
    [ST_WIT_LOG_PUT] = "INSERT INTO wit_logs(origin, vkey) VALUES(?1, ?2) "
                       "ON CONFLICT(origin) DO UPDATE SET vkey = excluded.vkey",
    [ST_WIT_LOG_GET] = "SELECT vkey FROM wit_logs WHERE origin = ?1",
    [ST_WIT_STATE_GET] = "SELECT size, root FROM wit_state WHERE origin = ?1",
    [ST_WIT_STATE_PUT] =
        "INSERT INTO wit_state(origin, size, root, note, updated_ns) "
        "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(origin) DO UPDATE SET "
        "size = excluded.size, root = excluded.root, note = excluded.note, "
        "updated_ns = excluded.updated_ns",
    [ST_WIT_EVIDENCE_PUT] = "INSERT INTO wit_evidence(origin, reason, "
                            "request, at_ns) VALUES(?1, ?2, ?3, ?4)",
    [ST_WIT_EVIDENCE_COUNT] =
        "SELECT count(*) FROM wit_evidence WHERE origin = ?1",
};

static const char ledger_schema[] =
    "CREATE TABLE IF NOT EXISTS lg_meta("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lg_entries("
    "  idx INTEGER PRIMARY KEY, type INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lg_tiles("
    "  id INTEGER PRIMARY KEY, hashes BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lg_checkpoints("
    "  size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,"
    "  signed_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS lg_cosigs("
    "  size INTEGER NOT NULL, name TEXT NOT NULL, key_id INTEGER NOT NULL,"
    "  line TEXT NOT NULL, PRIMARY KEY(size, name, key_id));";

static const char witness_schema[] =
    "CREATE TABLE IF NOT EXISTS wit_logs("
    "  origin TEXT PRIMARY KEY, vkey TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wit_state("
    "  origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
    "  note TEXT NOT NULL, updated_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wit_evidence("
    "  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, reason TEXT NOT NULL,"
    "  request TEXT NOT NULL, at_ns INTEGER NOT NULL);";

struct lg__store {
  sqlite3 *db;
  bool owned;
  bool untrusted; /* opened read-only: maybe a file someone handed us */
  char name[512];
  sqlite3_stmt *st[ST_COUNT];
  int depth;
  bool txn_owned[TXN_DEPTH_MAX]; /* BEGIN (true) or SAVEPOINT (false) */
};

/* ---- Error translation --------------------------------------------------- */

static int xlate_code(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_ROW:
  case SQLITE_DONE:
    return 0;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return GL_EAGAIN;
  case SQLITE_NOMEM:
    return GL_ENOMEM;
  case SQLITE_FULL:
    return GL_EFULL;
  case SQLITE_CONSTRAINT:
    return GL_ECONFLICT;
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return GL_EPERM;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
    return GL_EIO;
  case SQLITE_TOOBIG:
    return GL_ETOOBIG;
  default: /* CORRUPT, NOTADB, SCHEMA, MISMATCH, ... */
    return GL_ESTORE;
  }
}

static int xlate(lg__store *s, int rc, const char *what) {
  int gl = xlate_code(rc);
  if (gl != 0)
    GL_ERROR(COMPONENT, "%s: %s failed: %s (%s)", s->name, what,
             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
             sqlite3_errstr(rc));
  return gl;
}

static int exec(lg__store *s, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    GL_ERROR(COMPONENT, "%s: \"%.60s\" failed: %s", s->name, sql,
             err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return xlate_code(rc);
  }
  return 0;
}

static int prep(lg__store *s, enum stmt_id id, sqlite3_stmt **out) {
  if (!s->st[id]) {
    int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
                                SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
    if (rc != SQLITE_OK)
      return xlate(s, rc, "prepare");
  }
  *out = s->st[id];
  return 0;
}

/* Step a statement that returns no rows (or whose rows are ignored). */
static int step_done(lg__store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return xlate(s, rc, what);
  return 0;
}

static void done(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* ---- Open and close ------------------------------------------------------ */

static int pragma_int(lg__store *s, const char *sql, int64_t *v) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return xlate(s, rc, sql);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : xlate(s, rc, sql);
}

static int pragma_text(lg__store *s, const char *sql, char *buf, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return xlate(s, rc, sql);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
  }
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : xlate(s, rc, sql);
}

int lg__store_open(const char *path, int mode, lg__store **out) {
  lg__store *s = calloc(1, sizeof *s);
  if (!s)
    return GL_ENOMEM;
  s->owned = true;
  snprintf(s->name, sizeof s->name, "%s", path);
  int flags = SQLITE_OPEN_EXRESCODE;
  if (mode == LG__OPEN_READ)
    flags |= SQLITE_OPEN_READONLY;
  else
    flags |= SQLITE_OPEN_READWRITE;
  if (mode == LG__OPEN_CREATE)
    flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
  if (rc != SQLITE_OK) {
    int gl = xlate(s, rc, "open");
    if ((rc & 0xff) == SQLITE_CANTOPEN && mode != LG__OPEN_CREATE)
      gl = GL_ENOENT;
    lg__store_close(s);
    return gl;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  int gl = 0;
  if (mode == LG__OPEN_READ) {
    /* A read-only open may be of a file someone handed us: an export to
     * import, a copy to audit. SQLite's defences for untrusted database
     * files (sqlite.org/security.html): defensive mode, no functions run
     * from the schema, no triggers or views, cell size checks; the schema
     * itself is compared with ours before use (lg__store_init_ledger). */
    s->untrusted = true;
    int ok = sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1,
                               (int *)NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0,
                               (int *)NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0,
                               (int *)NULL) == SQLITE_OK &&
             sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0,
                               (int *)NULL) == SQLITE_OK;
    gl = ok ? exec(s, "PRAGMA cell_size_check=ON") : GL_ESTORE;
  }
  if (mode != LG__OPEN_READ) {
    /* WAL: readers (proof requests, auditors) never block the writer.
     * synchronous=FULL: a commit is on disk when COMMIT returns, so a
     * checkpoint is only ever signed over data that survives a crash. */
    char jm[16];
    gl = pragma_text(s, "PRAGMA journal_mode=WAL", jm, sizeof jm);
    if (gl == 0 && strcmp(jm, "wal") != 0) {
      GL_ERROR(COMPONENT, "%s: cannot enable WAL (journal mode %s)", s->name,
               jm);
      gl = GL_ESTORE;
    }
  }
  if (gl == 0)
    gl = exec(s, "PRAGMA synchronous=FULL");
  if (gl == 0) {
    /* Touch the schema so that "file is not a database" shows up here. */
    int64_t v;
    gl = pragma_int(s, "PRAGMA schema_version", &v);
  }
  if (gl != 0) {
    lg__store_close(s);
    return gl;
  }
  *out = s;
  return 0;
}

int lg__store_wrap(sqlite3 *db, lg__store **out) {
  lg__store *s = calloc(1, sizeof *s);
  if (!s)
    return GL_ENOMEM;
  s->db = db;
  s->owned = false;
  const char *file = sqlite3_db_filename(db, "main");
  snprintf(s->name, sizeof s->name, "%s",
           file && *file ? file : "(caller's database)");
  int64_t sync = 0;
  char jm[16] = "";
  int gl = pragma_int(s, "PRAGMA synchronous", &sync);
  if (gl == 0)
    gl = pragma_text(s, "PRAGMA journal_mode", jm, sizeof jm);
  if (gl == 0 && (sync < 2 || strcmp(jm, "wal") != 0)) {
    GL_ERROR(COMPONENT,
             "%s: the ledger needs journal_mode=WAL and synchronous=FULL "
             "(have %s, synchronous=%lld)",
             s->name, jm, (long long)sync);
    gl = GL_ECONFIG;
  }
  if (gl != 0) {
    s->db = NULL;
    lg__store_close(s);
    return gl;
  }
  *out = s;
  return 0;
}

void lg__store_close(lg__store *s) {
  if (!s)
    return;
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  if (s->owned && s->db) {
    while (s->depth > 0)
      lg__store_rollback(s);
    sqlite3_close(s->db);
  }
  free(s);
}

const char *lg__store_name(const lg__store *s) {
  return s->name;
}

int lg__store_pragma_int(lg__store *s, const char *name, int64_t *v) {
  char sql[64];
  int n = snprintf(sql, sizeof sql, "PRAGMA %s", name);
  if (n < 0 || (size_t)n >= sizeof sql)
    return GL_EINVAL;
  return pragma_int(s, sql, v);
}

/* ---- Schema -------------------------------------------------------------- */

static int table_exists(lg__store *s, const char *table, bool *yes) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      s->db, "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1", -1,
      &st, NULL);
  if (rc != SQLITE_OK)
    return xlate(s, rc, "schema lookup");
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  *yes = rc == SQLITE_ROW;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                               : xlate(s, rc, "schema lookup");
}

/* The ledger's schema objects of a connection, one "type|name|table|sql"
 * line each, in a fixed order; *out is malloc'd. */
static int schema_lines(sqlite3 *db, const char *name, char **out) {
  static const char q[] =
      "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema "
      "WHERE name LIKE 'lg\\_%' ESCAPE '\\' OR tbl_name LIKE 'lg\\_%' "
      "ESCAPE '\\' ORDER BY type, name";
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
  if (rc != SQLITE_OK) {
    GL_ERROR(COMPONENT, "%s: schema query failed: %s", name,
             sqlite3_errmsg(db));
    return xlate_code(rc);
  }
  char *buf = NULL;
  size_t len = 0;
  int gl = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && gl == 0) {
    size_t add = 4;
    for (int c = 0; c < 4; c++)
      add += (size_t)sqlite3_column_bytes(st, c);
    char *nb = realloc(buf, len + add + 1);
    if (!nb) {
      gl = GL_ENOMEM;
      break;
    }
    buf = nb;
    for (int c = 0; c < 4; c++) {
      size_t n = (size_t)sqlite3_column_bytes(st, c);
      const unsigned char *t = sqlite3_column_text(st, c);
      if (n)
        memcpy(buf + len, t, n);
      len += n;
      buf[len++] = c < 3 ? '|' : '\n';
    }
    buf[len] = '\0';
  }
  if (gl == 0 && rc != SQLITE_DONE) {
    GL_ERROR(COMPONENT, "%s: schema query failed: %s", name,
             sqlite3_errmsg(db));
    gl = xlate_code(rc);
  }
  sqlite3_finalize(st);
  if (gl != 0) {
    free(buf);
    return gl;
  }
  *out = buf ? buf : calloc(1, 1);
  return *out ? 0 : GL_ENOMEM;
}

/* An untrusted file's ledger objects must be exactly the ones we create:
 * the same tables with the same definitions, their automatic indexes, and
 * nothing else touching them (no extra index, trigger or view). Other
 * tables (an application sharing the file) are not ours to judge. */
static int check_schema(lg__store *s) {
  sqlite3 *ref = NULL;
  char *want = NULL, *have = NULL;
  int rc = sqlite3_open_v2(":memory:", &ref,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL);
  int gl = rc == SQLITE_OK ? 0 : GL_ENOMEM;
  if (gl == 0 &&
      sqlite3_exec(ref, ledger_schema, NULL, NULL, NULL) != SQLITE_OK)
    gl = GL_EINTERNAL;
  if (gl == 0)
    gl = schema_lines(ref, "(reference schema)", &want);
  if (gl == 0)
    gl = schema_lines(s->db, s->name, &have);
  if (gl == 0 && strcmp(want, have) != 0) {
    /* Name the first object that differs. */
    size_t i = 0;
    while (want[i] && want[i] == have[i])
      i++;
    while (i > 0 && have[i - 1] != '\n')
      i--;
    GL_ERROR(COMPONENT,
             "%s: not a gridlet ledger: its schema differs from ours at "
             "\"%.80s\"",
             s->name, have[i] ? have + i : "(missing objects)");
    gl = GL_ESTORE;
  }
  free(want);
  free(have);
  sqlite3_close(ref);
  return gl;
}

int lg__store_init_ledger(lg__store *s, bool create) {
  if (create) {
    /* All tables or none, so a crash during creation leaves no half
     * schema behind. */
    int rc = lg__store_begin(s, true);
    if (rc == 0)
      rc = exec(s, ledger_schema);
    if (rc == 0)
      rc = lg__store_commit(s);
    else
      lg__store_rollback(s);
    return rc;
  }
  static const char *const tables[] = {"lg_meta", "lg_entries", "lg_tiles",
                                       "lg_checkpoints", "lg_cosigs"};
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    bool yes = false;
    int rc = table_exists(s, tables[i], &yes);
    if (rc != 0)
      return rc;
    if (!yes) {
      GL_ERROR(COMPONENT, "%s: not a gridlet ledger (no table %s)", s->name,
               tables[i]);
      return GL_ENOENT;
    }
  }
  return s->untrusted ? check_schema(s) : 0;
}

int lg__store_init_witness(lg__store *s) {
  return exec(s, witness_schema);
}

/* ---- Transactions -------------------------------------------------------- */

bool lg__store_in_txn(const lg__store *s) {
  return sqlite3_get_autocommit(s->db) == 0;
}

int lg__store_begin(lg__store *s, bool write) {
  if (s->depth == TXN_DEPTH_MAX)
    return GL_EINTERNAL;
  bool own = sqlite3_get_autocommit(s->db) != 0;
  int rc =
      exec(s, own ? (write ? "BEGIN IMMEDIATE" : "BEGIN") : "SAVEPOINT lg_op");
  if (rc == 0)
    s->txn_owned[s->depth++] = own;
  return rc;
}

int lg__store_commit(lg__store *s) {
  if (s->depth == 0)
    return GL_EINTERNAL;
  bool own = s->txn_owned[s->depth - 1];
  int rc = exec(s, own ? "COMMIT" : "RELEASE lg_op");
  if (rc != 0) {
    lg__store_rollback(s);
    return rc;
  }
  s->depth--;
  return 0;
}

void lg__store_rollback(lg__store *s) {
  if (s->depth == 0)
    return;
  bool own = s->txn_owned[--s->depth];
  if (own) {
    /* A failed COMMIT may already have ended the transaction. */
    if (sqlite3_get_autocommit(s->db) == 0)
      (void)exec(s, "ROLLBACK");
  } else {
    (void)exec(s, "ROLLBACK TO lg_op; RELEASE lg_op");
  }
}

/* ---- Meta ---------------------------------------------------------------- */

static int copy_text(sqlite3_stmt *st, int col, char *buf, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  if (n + 1 > cap)
    return GL_ETOOBIG;
  memcpy(buf, t ? (const char *)t : "", n);
  buf[n] = '\0';
  return 0;
}

int lg__store_meta_get(lg__store *s, const char *key, char *buf, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_META_GET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW)
    rc = copy_text(st, 0, buf, cap);
  else
    rc = r == SQLITE_DONE ? GL_ENOENT : xlate(s, r, "meta read");
  done(st);
  return rc;
}

int lg__store_meta_set(lg__store *s, const char *key, const char *value) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_META_SET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  return step_done(s, st, "meta write");
}

/* ---- Entries ------------------------------------------------------------- */

int lg__store_size(lg__store *s, uint64_t *size) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_SIZE, &st);
  if (rc != 0)
    return rc;
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
      *size = 0;
    } else {
      int64_t max = sqlite3_column_int64(st, 0);
      if (max < 0 || max == INT64_MAX) {
        GL_ERROR(COMPONENT, "%s: entry index %lld out of range", s->name,
                 (long long)max);
        rc = GL_ESTORE;
      } else {
        *size = (uint64_t)max + 1;
      }
    }
  } else {
    rc = xlate(s, r, "size query");
  }
  done(st);
  return rc;
}

int lg__store_entry_put(lg__store *s, uint64_t idx, uint8_t type,
                        const void *data, size_t len) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_ENTRY_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
  sqlite3_bind_int(st, 2, type);
  sqlite3_bind_blob64(st, 3, data, len, SQLITE_STATIC);
  return step_done(s, st, "entry insert");
}

int lg__store_entry_get(lg__store *s, uint64_t idx, uint8_t **data, size_t *len,
                        int *type) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_ENTRY_GET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    const void *b = sqlite3_column_blob(st, 1);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
      rc = GL_ENOMEM;
    } else {
      if (n)
        memcpy(copy, b, n);
      *data = copy;
      *len = n;
      if (type)
        *type = sqlite3_column_int(st, 0);
    }
  } else {
    rc = r == SQLITE_DONE ? GL_ENOENT : xlate(s, r, "entry read");
  }
  done(st);
  return rc;
}

int lg__store_entry_scan(lg__store *s, uint64_t from, uint64_t to,
                         lg__entry_cb cb, void *ctx) {
  /* The scan statement is not cached: callbacks may start another scan
   * (e.g. an export reading while an import writes). */
  sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(s->db, stmt_sql[ST_ENTRY_SCAN], -1, &st, NULL);
  if (r != SQLITE_OK)
    return xlate(s, r, "prepare scan");
  sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
  sqlite3_bind_int64(st, 2,
                     (sqlite3_int64)(to > LG_MAX_SIZE ? LG_MAX_SIZE : to));
  int rc = 0;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t idx = sqlite3_column_int64(st, 0);
    int type = sqlite3_column_int(st, 1);
    const uint8_t *data = sqlite3_column_blob(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    rc = cb(ctx, (uint64_t)idx, type, data ? data : (const uint8_t *)"", len);
  }
  if (rc == 0 && r != SQLITE_DONE)
    rc = xlate(s, r, "entry scan");
  sqlite3_finalize(st);
  return rc;
}

/* ---- Tiles --------------------------------------------------------------- */

static sqlite3_int64 tile_id(unsigned level, uint64_t index) {
  return (sqlite3_int64)(((uint64_t)level << 56) | index);
}

int lg__store_tile_get(lg__store *s, unsigned level, uint64_t index,
                       lg_hash *hashes, size_t *count) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_TILE_GET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, tile_id(level, index));
  int r = sqlite3_step(st);
  *count = 0;
  if (r == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const void *b = sqlite3_column_blob(st, 0);
    if (n % LG_HASH_LEN != 0 || n > LG__TILE_WIDTH * LG_HASH_LEN) {
      GL_ERROR(COMPONENT, "%s: tile %u/%llu has a bad length (%zu bytes)",
               s->name, level, (unsigned long long)index, n);
      rc = GL_ESTORE;
    } else {
      if (n)
        memcpy(hashes, b, n);
      *count = n / LG_HASH_LEN;
    }
  } else if (r != SQLITE_DONE) {
    rc = xlate(s, r, "tile read");
  }
  done(st);
  return rc;
}

int lg__store_tile_put(lg__store *s, unsigned level, uint64_t index,
                       const lg_hash *hashes, size_t count) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_TILE_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, tile_id(level, index));
  sqlite3_bind_blob(st, 2, hashes, (int)(count * LG_HASH_LEN), SQLITE_STATIC);
  return step_done(s, st, "tile write");
}

/* ---- Checkpoints --------------------------------------------------------- */

int lg__store_cp_put(lg__store *s, uint64_t size,
                     const uint8_t root[LG_HASH_LEN], const char *note,
                     int64_t signed_ns) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_CP_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  sqlite3_bind_blob(st, 2, root, LG_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, signed_ns);
  return step_done(s, st, "checkpoint insert");
}

static int read_cp_row(lg__store *s, sqlite3_stmt *st, lg__cp_row *row,
                       bool copy_note) {
  int64_t size = sqlite3_column_int64(st, 0);
  const void *root = sqlite3_column_blob(st, 1);
  if (size < 0 || sqlite3_column_bytes(st, 1) != LG_HASH_LEN) {
    GL_ERROR(COMPONENT, "%s: malformed checkpoint row (size %lld)", s->name,
             (long long)size);
    return GL_ESTORE;
  }
  row->size = (uint64_t)size;
  memcpy(row->root, root, LG_HASH_LEN);
  row->signed_ns = sqlite3_column_int64(st, 3);
  const char *note = (const char *)sqlite3_column_text(st, 2);
  if (!note)
    note = "";
  if (copy_note) {
    size_t n = (size_t)sqlite3_column_bytes(st, 2);
    row->note = malloc(n + 1);
    if (!row->note)
      return GL_ENOMEM;
    memcpy(row->note, note, n);
    row->note[n] = '\0';
  } else {
    row->note = (char *)note;
  }
  return 0;
}

static int cp_one(lg__store *s, enum stmt_id id, bool bind, uint64_t size,
                  lg__cp_row *row) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, id, &st);
  if (rc != 0)
    return rc;
  if (bind)
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW)
    rc = read_cp_row(s, st, row, true);
  else
    rc = r == SQLITE_DONE ? GL_ENOENT : xlate(s, r, "checkpoint read");
  done(st);
  return rc;
}

int lg__store_cp_latest(lg__store *s, lg__cp_row *row) {
  return cp_one(s, ST_CP_LATEST, false, 0, row);
}

int lg__store_cp_get(lg__store *s, uint64_t size, lg__cp_row *row) {
  return cp_one(s, ST_CP_GET, true, size, row);
}

int lg__store_cp_scan(lg__store *s, lg__cp_cb cb, void *ctx) {
  sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(s->db, stmt_sql[ST_CP_SCAN], -1, &st, NULL);
  if (r != SQLITE_OK)
    return xlate(s, r, "prepare checkpoint scan");
  int rc = 0;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    lg__cp_row row;
    rc = read_cp_row(s, st, &row, false);
    if (rc == 0)
      rc = cb(ctx, &row);
  }
  if (rc == 0 && r != SQLITE_DONE)
    rc = xlate(s, r, "checkpoint scan");
  sqlite3_finalize(st);
  return rc;
}

int lg__store_cosig_put(lg__store *s, uint64_t size, const char *name,
                        uint32_t key_id, const char *line) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_COSIG_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, key_id);
  sqlite3_bind_text(st, 4, line, -1, SQLITE_STATIC);
  return step_done(s, st, "cosignature insert");
}

int lg__store_cosig_lines(lg__store *s, uint64_t size, char **lines) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_COSIG_LINES, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  char *buf = malloc(1);
  size_t len = 0;
  if (!buf) {
    done(st);
    return GL_ENOMEM;
  }
  buf[0] = '\0';
  int r;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *line = (const char *)sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    char *nb = realloc(buf, len + n + 1);
    if (!nb) {
      rc = GL_ENOMEM;
      break;
    }
    buf = nb;
    memcpy(buf + len, line ? line : "", n);
    len += n;
    buf[len] = '\0';
  }
  if (rc == 0 && r != SQLITE_DONE)
    rc = xlate(s, r, "cosignature read");
  done(st);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *lines = buf;
  return 0;
}

int lg__store_cosig_scan(lg__store *s, uint64_t size, lg__cosig_cb cb,
                         void *ctx) {
  sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(s->db,
                             "SELECT name, key_id, line FROM lg_cosigs "
                             "WHERE size = ?1 ORDER BY name, key_id",
                             -1, &st, NULL);
  if (r != SQLITE_OK)
    return xlate(s, r, "prepare cosignature scan");
  sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
  int rc = 0;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    int64_t id = sqlite3_column_int64(st, 1);
    const char *line = (const char *)sqlite3_column_text(st, 2);
    rc = cb(ctx, name ? name : "", (uint32_t)id, line ? line : "");
  }
  if (rc == 0 && r != SQLITE_DONE)
    rc = xlate(s, r, "cosignature scan");
  sqlite3_finalize(st);
  return rc;
}

int lg__store_cosig_newest(lg__store *s, lg__cosig_newest_cb cb, void *ctx) {
  sqlite3_stmt *st = NULL;
  /* The bare column `line` comes from the row holding max(size) (SQLite's
   * documented rule for a single min() or max() aggregate). */
  int r = sqlite3_prepare_v2(s->db,
                             "SELECT max(size), name, key_id, line FROM "
                             "lg_cosigs GROUP BY name, key_id "
                             "ORDER BY name, key_id",
                             -1, &st, NULL);
  if (r != SQLITE_OK)
    return xlate(s, r, "prepare cosignature summary");
  int rc = 0;
  while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t size = sqlite3_column_int64(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    int64_t id = sqlite3_column_int64(st, 2);
    const char *line = (const char *)sqlite3_column_text(st, 3);
    rc = cb(ctx, (uint64_t)size, name ? name : "", (uint32_t)id,
            line ? line : "");
  }
  if (rc == 0 && r != SQLITE_DONE)
    rc = xlate(s, r, "cosignature summary");
  sqlite3_finalize(st);
  return rc;
}

int lg__store_seal(lg__store *s) {
  char jm[16];
  int rc = pragma_text(s, "PRAGMA journal_mode=DELETE", jm, sizeof jm);
  if (rc == 0 && strcmp(jm, "delete") != 0) {
    GL_ERROR(COMPONENT, "%s: cannot leave WAL mode (journal mode %s)", s->name,
             jm);
    rc = GL_ESTORE;
  }
  return rc;
}

/* ---- Witness ------------------------------------------------------------- */

int lg__store_wit_log_put(lg__store *s, const char *origin, const char *vkey) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_LOG_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, vkey, -1, SQLITE_STATIC);
  return step_done(s, st, "witness log insert");
}

int lg__store_wit_log_get(lg__store *s, const char *origin, char *vkey,
                          size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_LOG_GET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW)
    rc = copy_text(st, 0, vkey, cap);
  else
    rc = r == SQLITE_DONE ? GL_ENOENT : xlate(s, r, "witness log read");
  done(st);
  return rc;
}

int lg__store_wit_state_get(lg__store *s, const char *origin, uint64_t *size,
                            uint8_t root[LG_HASH_LEN]) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_STATE_GET, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    int64_t sz = sqlite3_column_int64(st, 0);
    if (sz < 0 || sqlite3_column_bytes(st, 1) != LG_HASH_LEN) {
      GL_ERROR(COMPONENT, "%s: malformed witness state for %s", s->name,
               origin);
      rc = GL_ESTORE;
    } else {
      *size = (uint64_t)sz;
      memcpy(root, sqlite3_column_blob(st, 1), LG_HASH_LEN);
    }
  } else {
    rc = r == SQLITE_DONE ? GL_ENOENT : xlate(s, r, "witness state read");
  }
  done(st);
  return rc;
}

int lg__store_wit_state_put(lg__store *s, const char *origin, uint64_t size,
                            const uint8_t root[LG_HASH_LEN], const char *note,
                            int64_t now_ns) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_STATE_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
  sqlite3_bind_blob(st, 3, root, LG_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, now_ns);
  return step_done(s, st, "witness state write");
}

int lg__store_wit_evidence_put(lg__store *s, const char *origin,
                               const char *reason, const char *request,
                               size_t request_len, int64_t now_ns) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_EVIDENCE_PUT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
  sqlite3_bind_text64(st, 3, request, request_len, SQLITE_STATIC, SQLITE_UTF8);
  sqlite3_bind_int64(st, 4, now_ns);
  return step_done(s, st, "witness evidence insert");
}

int lg__store_wit_evidence_count(lg__store *s, const char *origin,
                                 uint64_t *count) {
  sqlite3_stmt *st = NULL;
  int rc = prep(s, ST_WIT_EVIDENCE_COUNT, &st);
  if (rc != 0)
    return rc;
  sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW)
    *count = (uint64_t)sqlite3_column_int64(st, 0);
  else
    rc = xlate(s, r, "witness evidence count");
  done(st);
  return rc;
}
