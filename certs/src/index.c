/* SPDX-License-Identifier: MIT */
/*
 * index.c - the CA index in SQLite: one row per certificate ever issued,
 * with its revocation state, and a few settings. Writes are durable
 * (synchronous=FULL, rollback journal) unless the CA is a throw-away
 * development one. SQLite result codes are translated here.
 */
#include "index.h"

#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1

struct pki__index {
  sqlite3 *db;
};

static int store_err(pki__index *ix, int rc, const char *what) {
  GL_ERROR(PKI__LOG, "CA index: %s failed: %s (%d)", what,
           ix && ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(rc), rc);
  return GL_ESTORE;
}

static const char schema[] =
    "CREATE TABLE cert("
    " serial TEXT PRIMARY KEY,"
    " subject TEXT NOT NULL,"
    " kind TEXT NOT NULL CHECK(kind IN ('ca','meter','service')),"
    " key_type TEXT NOT NULL,"
    " pub TEXT NOT NULL,"
    " issued_at INTEGER NOT NULL,"
    " not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL,"
    " revoked_at INTEGER,"
    " reason INTEGER,"
    " der BLOB NOT NULL) STRICT;"
    "CREATE INDEX cert_subject ON cert(subject, issued_at);"
    "CREATE INDEX cert_pub ON cert(pub);"
    "CREATE TABLE setting(name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;"
    "PRAGMA user_version = 1;";

int pki__index_open(const char *path, bool create, bool no_sync,
                    pki__index **out, pki_why *why) {
  *out = NULL;
  if (create && pki__exists(path))
    return pki__fail(why, GL_EEXIST, "%s already exists", path);
  if (!create && !pki__exists(path))
    return pki__fail_quiet(why, GL_ENOENT, "%s does not exist", path);
  pki__index *ix = calloc(1, sizeof *ix);
  if (!ix)
    return GL_ENOMEM;
  int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path, &ix->db, flags, NULL);
  if (rc != SQLITE_OK) {
    store_err(ix, rc, "open");
    pki__index_close(ix);
    return pki__fail(why, GL_ESTORE, "cannot open the CA index %s", path);
  }
  sqlite3_busy_timeout(ix->db, 5000);
  const char *pragmas = no_sync ? "PRAGMA synchronous=OFF;"
                                  "PRAGMA journal_mode=MEMORY;"
                                  "PRAGMA foreign_keys=ON;"
                                : "PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON;";
  rc = sqlite3_exec(ix->db, pragmas, NULL, NULL, NULL);
  if (rc == SQLITE_OK && create)
    rc = sqlite3_exec(ix->db, schema, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    store_err(ix, rc, create ? "schema creation" : "configuration");
    pki__index_close(ix);
    return pki__fail(why, GL_ESTORE, "cannot prepare the CA index %s", path);
  }
  sqlite3_stmt *st;
  int version = -1;
  if (sqlite3_prepare_v2(ix->db, "PRAGMA user_version", -1, &st, NULL) ==
      SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  if (version != SCHEMA_VERSION) {
    pki__index_close(ix);
    return pki__fail(why, GL_ESTORE,
                     "%s is not a gridlet CA index (schema version %d, "
                     "expected %d)",
                     path, version, SCHEMA_VERSION);
  }
  *out = ix;
  return 0;
}

void pki__index_close(pki__index *ix) {
  if (!ix)
    return;
  sqlite3_close(ix->db);
  free(ix);
}

static int exec(pki__index *ix, const char *sql) {
  int rc = sqlite3_exec(ix->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : store_err(ix, rc, sql);
}

int pki__index_pragma(pki__index *ix, const char *name, int *value) {
  char sql[64];
  int n = snprintf(sql, sizeof sql, "PRAGMA %s", name);
  if (n < 0 || (size_t)n >= sizeof sql)
    return GL_EINVAL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(ix->db, sql, -1, &st, NULL) != SQLITE_OK)
    return store_err(ix, sqlite3_errcode(ix->db), "pragma");
  int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : GL_ESTORE;
  if (rc == 0)
    *value = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc;
}

void pki__index_set_busy_timeout(pki__index *ix, int ms) {
  sqlite3_busy_timeout(ix->db, ms);
}

int pki__index_begin(pki__index *ix) {
  return exec(ix, "BEGIN IMMEDIATE");
}

int pki__index_commit(pki__index *ix) {
  return exec(ix, "COMMIT");
}

void pki__index_rollback(pki__index *ix) {
  sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
}

static int prepare(pki__index *ix, const char *sql, sqlite3_stmt **st) {
  int rc = sqlite3_prepare_v2(ix->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? 0 : store_err(ix, rc, "prepare");
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t size) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(out, size, "%s", t ? (const char *)t : "");
}

#define ROW_COLS                                                               \
  "serial, subject, kind, key_type, issued_at, not_before, not_after, "        \
  "revoked_at, reason"

static void read_row(sqlite3_stmt *st, pki_ca_record *r) {
  memset(r, 0, sizeof *r);
  text_col(st, 0, r->serial_hex, sizeof r->serial_hex);
  text_col(st, 1, r->subject, sizeof r->subject);
  text_col(st, 2, r->kind, sizeof r->kind);
  char kt[16];
  text_col(st, 3, kt, sizeof kt);
  pki_key_type type = PKI_KEY_ED25519;
  (void)pki_key_type_parse(kt, &type);
  r->key_type = type;
  r->issued_at = sqlite3_column_int64(st, 4);
  r->not_before = sqlite3_column_int64(st, 5);
  r->not_after = sqlite3_column_int64(st, 6);
  r->revoked = sqlite3_column_type(st, 7) != SQLITE_NULL;
  r->revoked_at = sqlite3_column_int64(st, 7);
  r->reason = sqlite3_column_int(st, 8);
}

/* Step through rows, handing each to cb; a non-zero cb return stops. */
static int each(pki__index *ix, sqlite3_stmt *st, pki__index_cb cb, void *ctx) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    pki_ca_record r;
    read_row(st, &r);
    int stop = cb(ctx, &r);
    if (stop) {
      sqlite3_finalize(st);
      return stop;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : store_err(ix, rc, "query");
}

int pki__index_insert(pki__index *ix, const pki_ca_record *rec,
                      const char *pub_hex, const uint8_t *der, size_t len) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "INSERT INTO cert(serial, subject, kind, key_type, pub, "
                   "issued_at, not_before, not_after, der) "
                   "VALUES(?,?,?,?,?,?,?,?,?)",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, rec->serial_hex, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rec->subject, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, rec->kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, pki_key_type_name(rec->key_type), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, pub_hex, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, rec->issued_at);
  sqlite3_bind_int64(st, 7, rec->not_before);
  sqlite3_bind_int64(st, 8, rec->not_after);
  sqlite3_bind_blob(st, 9, der, (int)len, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_CONSTRAINT)
    return GL_EEXIST;
  return rc == SQLITE_DONE ? 0 : store_err(ix, rc, "insert");
}

static int copy_cb(void *ctx, const pki_ca_record *r) {
  *(pki_ca_record *)ctx = *r;
  return 1;
}

int pki__index_find(pki__index *ix, const char *serial_hex,
                    pki_ca_record *rec) {
  sqlite3_stmt *st;
  int rc = prepare(ix, "SELECT " ROW_COLS " FROM cert WHERE serial = ?", &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, serial_hex, -1, SQLITE_STATIC);
  rc = each(ix, st, copy_cb, rec);
  return rc == 1 ? 0 : rc == 0 ? GL_ENOENT : rc;
}

int pki__index_current(pki__index *ix, const char *subject, int64_t now,
                       pki__index_cb cb, void *ctx) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "SELECT " ROW_COLS " FROM cert WHERE subject = ? AND "
                   "revoked_at IS NULL AND not_after > ? ORDER BY issued_at",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, now);
  return each(ix, st, cb, ctx);
}

int pki__index_by_pub(pki__index *ix, const char *pub_hex, pki__index_cb cb,
                      void *ctx) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "SELECT " ROW_COLS " FROM cert WHERE pub = ? "
                   "ORDER BY issued_at",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, pub_hex, -1, SQLITE_STATIC);
  return each(ix, st, cb, ctx);
}

int pki__index_list(pki__index *ix, bool all, int64_t now, pki__index_cb cb,
                    void *ctx) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   all ? "SELECT " ROW_COLS " FROM cert WHERE ?1 = ?1 "
                         "ORDER BY subject, issued_at"
                       : "SELECT " ROW_COLS " FROM cert WHERE revoked_at IS "
                         "NULL AND not_after > ?1 ORDER BY subject, issued_at",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, now);
  return each(ix, st, cb, ctx);
}

int pki__index_revoked(pki__index *ix, int64_t now, pki__index_cb cb,
                       void *ctx) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "SELECT " ROW_COLS " FROM cert WHERE revoked_at IS NOT "
                   "NULL AND not_after > ? ORDER BY serial",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, now);
  return each(ix, st, cb, ctx);
}

int pki__index_revoke(pki__index *ix, const char *serial_hex, int64_t at,
                      int reason, bool *changed) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "UPDATE cert SET revoked_at = ?, reason = ? "
                   "WHERE serial = ? AND revoked_at IS NULL",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, at);
  sqlite3_bind_int(st, 2, reason);
  sqlite3_bind_text(st, 3, serial_hex, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return store_err(ix, rc, "revoke");
  *changed = sqlite3_changes(ix->db) > 0;
  return 0;
}

int pki__index_denied(pki__index *ix, int64_t now,
                      int (*cb)(void *ctx, const char *name), void *ctx) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "SELECT DISTINCT subject FROM cert c WHERE "
                   "c.revoked_at IS NOT NULL AND c.kind != 'ca' AND NOT "
                   "EXISTS (SELECT 1 FROM cert d WHERE d.subject = c.subject "
                   "AND d.revoked_at IS NULL AND d.not_after > ?) "
                   "ORDER BY subject",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_int64(st, 1, now);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char *name = sqlite3_column_text(st, 0);
    int stop = cb(ctx, name ? (const char *)name : "");
    if (stop) {
      sqlite3_finalize(st);
      return stop;
    }
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : store_err(ix, rc, "query");
}

int pki__index_get(pki__index *ix, const char *name, char *buf, size_t size) {
  sqlite3_stmt *st;
  int rc = prepare(ix, "SELECT value FROM setting WHERE name = ?", &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  int out;
  if (rc == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    int n = snprintf(buf, size, "%s", v ? (const char *)v : "");
    out = n < 0 || (size_t)n >= size ? GL_ETOOBIG : 0;
  } else {
    out = rc == SQLITE_DONE ? GL_ENOENT : store_err(ix, rc, "setting");
  }
  sqlite3_finalize(st);
  return out;
}

int pki__index_set(pki__index *ix, const char *name, const char *value) {
  sqlite3_stmt *st;
  int rc = prepare(ix,
                   "INSERT INTO setting(name, value) VALUES(?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : store_err(ix, rc, "setting");
}
