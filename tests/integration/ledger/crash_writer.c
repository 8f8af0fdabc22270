/* SPDX-License-Identifier: MIT */
/*
 * crash_writer.c - a test-only ledger writer that the crash test kills
 * with SIGKILL at random moments. It appends deterministic batches forever,
 * the way the aggregator will, in one of two modes:
 *
 *   shared   the ledger lives in the writer's own database (opened with
 *            lg_ledger_open_db); each batch is appended in ONE transaction
 *            together with the writer's own state row (the batch counter).
 *   twophase the ledger is a separate file; the writer records its intent
 *            (batch number and first index) in its own database, then calls
 *            lg_ledger_append_at, then marks the batch done. After a crash
 *            it repeats the pending append, which must be idempotent.
 *
 * Every third batch it signs a checkpoint and "publishes" it by appending
 * "BEGIN\n<note>END\n" to published.txt with one write(2).
 *
 *   ledger_crash_writer MODE DIR
 * DIR holds log.key (the log's signer key) and receives the databases.
 * Batch b holds entries crash_entry(b, 0 .. crash_batch_len(b) - 1).
 */
#include "crash_common.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, int rc) {
  fprintf(stderr, "crash_writer: %s: %s\n", what, gl_strerror(rc));
  exit(1);
}

static void sql(sqlite3 *db, const char *s) {
  char *err = NULL;
  if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "crash_writer: %s: %s\n", s, err ? err : "?");
    exit(1);
  }
}

static int64_t sql_int(sqlite3 *db, const char *s, int64_t dflt) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, s, -1, &st, NULL) != SQLITE_OK)
    exit(1);
  int64_t v = dflt;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != 5)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static sqlite3 *open_db(const char *path) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK)
    exit(1);
  sqlite3_busy_timeout(db, 10000);
  sql(db, "PRAGMA journal_mode=WAL");
  sql(db, "PRAGMA synchronous=FULL");
  return db;
}

static void publish(const char *dir, lg_ledger *lg, const lg_signer *key) {
  char *note;
  int rc = lg_ledger_checkpoint(lg, key, &note);
  if (rc != 0)
    die("checkpoint", rc);
  char path[1024];
  snprintf(path, sizeof path, "%s/published.txt", dir);
  size_t n = strlen(note) + 16;
  char *rec = malloc(n);
  int len = snprintf(rec, n, "BEGIN\n%sEND\n", note);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0 || write(fd, rec, (size_t)len) != len)
    exit(1);
  close(fd);
  free(rec);
  free(note);
}

static void batch_bytes(uint64_t b, gl_bytes *out, size_t *n) {
  *n = crash_batch_len(b);
  for (size_t j = 0; j < *n; j++) {
    size_t len;
    out[j].data = crash_entry(b, j, &len);
    out[j].len = len;
  }
}

static void free_batch(gl_bytes *e, size_t n) {
  for (size_t j = 0; j < n; j++)
    free((void *)e[j].data);
}

static void run_shared(const char *dir, const lg_signer *key,
                       const gl_clock *clock) {
  char path[1024];
  snprintf(path, sizeof path, "%s/shared.db", dir);
  sqlite3 *db = open_db(path);
  sql(db, "CREATE TABLE IF NOT EXISTS writer(k INTEGER PRIMARY KEY, "
          "batch INTEGER NOT NULL)");
  lg_ledger *lg;
  lg_ledger_options o = {
      .origin = CRASH_ORIGIN, .create = true, .clock = clock};
  int rc = lg_ledger_open_db(db, &o, &lg);
  if (rc != 0)
    die("open_db", rc);
  for (;;) {
    sql(db, "BEGIN IMMEDIATE");
    uint64_t b = (uint64_t)sql_int(db, "SELECT batch FROM writer", 0);
    gl_bytes e[CRASH_BATCH_MAX];
    size_t n;
    batch_bytes(b, e, &n);
    rc = lg_ledger_append(lg, e, n, NULL);
    free_batch(e, n);
    if (rc != 0)
      die("append", rc);
    char upd[128];
    snprintf(upd, sizeof upd,
             "INSERT OR REPLACE INTO writer(k, batch) VALUES(1, %" PRIu64 ")",
             b + 1);
    sql(db, upd);
    sql(db, "COMMIT");
    if (b % 3 == 2)
      publish(dir, lg, key);
  }
}

static void run_twophase(const char *dir, const lg_signer *key,
                         const gl_clock *clock) {
  char path[1024];
  snprintf(path, sizeof path, "%s/state.db", dir);
  sqlite3 *st = open_db(path);
  sql(st, "CREATE TABLE IF NOT EXISTS intent(k INTEGER PRIMARY KEY, "
          "batch INTEGER NOT NULL, first INTEGER NOT NULL, done INTEGER "
          "NOT NULL)");
  snprintf(path, sizeof path, "%s/log.db", dir);
  lg_ledger *lg;
  lg_ledger_options o = {
      .origin = CRASH_ORIGIN, .create = true, .clock = clock};
  int rc = lg_ledger_open(path, &o, &lg);
  if (rc != 0)
    die("open", rc);
  for (;;) {
    uint64_t b = (uint64_t)sql_int(st, "SELECT batch FROM intent", 0);
    uint64_t first = (uint64_t)sql_int(st, "SELECT first FROM intent", 0);
    int64_t done = sql_int(st, "SELECT done FROM intent", 1);
    if (done) {
      /* Phase 1: record what is about to be appended where. */
      uint64_t nb = sql_int(st, "SELECT count(*) FROM intent", 0) ? b + 1 : 0;
      uint64_t nf = nb ? first + crash_batch_len(b) : 0;
      char upd[160];
      snprintf(upd, sizeof upd,
               "INSERT OR REPLACE INTO intent(k, batch, first, done) "
               "VALUES(1, %" PRIu64 ", %" PRIu64 ", 0)",
               nb, nf);
      sql(st, upd);
      b = nb;
      first = nf;
    }
    /* Phase 2: the idempotent append (a retry after a crash finds the
     * entries already there), then mark the batch done. */
    gl_bytes e[CRASH_BATCH_MAX];
    size_t n;
    batch_bytes(b, e, &n);
    rc = lg_ledger_append_at(lg, first, e, n, NULL);
    free_batch(e, n);
    if (rc != 0)
      die("append_at", rc);
    sql(st, "UPDATE intent SET done = 1");
    if (b % 3 == 2)
      publish(dir, lg, key);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ledger_crash_writer shared|twophase DIR\n");
    return 2;
  }
  const char *dir = argv[2];
  char keypath[1024];
  snprintf(keypath, sizeof keypath, "%s/log.key", dir);
  lg_signer key;
  int rc = lg_signer_read_file(keypath, &key);
  if (rc != 0)
    die("key", rc);
  gl_clock clock = gl_clock_real();
  if (strcmp(argv[1], "shared") == 0)
    run_shared(dir, &key, &clock);
  else
    run_twophase(dir, &key, &clock);
  return 0;
}
