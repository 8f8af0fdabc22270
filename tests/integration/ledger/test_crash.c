/* SPDX-License-Identifier: MIT */
/*
 * Crash test: a real writer process (ledger_crash_writer) appends batches
 * to a real SQLite ledger and publishes checkpoints; the test SIGKILLs it
 * (by PID) at random moments, many times, restarting it each time. After
 * every kill the log must audit clean, hold exactly the batches the
 * writer's own state says were committed (no lost, torn or repeated batch),
 * and be consistent with every checkpoint ever published.
 *
 * Both ways the aggregator can use the ledger are exercised: one shared
 * transaction with the caller's state, and two phases with an idempotent
 * append_at into a separate file.
 */
#include "crash_common.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_checkpoint.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define ROUNDS 25

static int64_t query(const char *path, const char *sql, int64_t dflt) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st;
  int64_t v = dflt;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

typedef struct expect {
  uint64_t batch, j, index;
  int bad;
} expect;

static int check_entry(void *ctx, uint64_t index, const uint8_t *data,
                       size_t len) {
  expect *x = ctx;
  if (x->j == crash_batch_len(x->batch)) {
    x->batch++;
    x->j = 0;
  }
  size_t want_len;
  uint8_t *want = crash_entry(x->batch, x->j, &want_len);
  if (index != x->index || len != want_len || memcmp(want, data, len) != 0) {
    print_error("entry %llu is not entry %llu of batch %llu\n",
                (unsigned long long)index, (unsigned long long)x->j,
                (unsigned long long)x->batch);
    x->bad = 1;
  }
  free(want);
  x->j++;
  x->index++;
  return x->bad;
}

/* Entries in the first `batches` batches. */
static uint64_t batches_len(uint64_t batches) {
  uint64_t n = 0;
  for (uint64_t b = 0; b < batches; b++)
    n += crash_batch_len(b);
  return n;
}

/* What earlier checks established: how many published checkpoints were
 * verified, and the size and root the log had at the last check. Later
 * checks verify only the new checkpoints, plus consistency from the last
 * checked tree: consistency is transitive, so every checkpoint ever
 * published stays covered. */
typedef struct published {
  uint64_t count;
  uint64_t last_size;
  uint64_t seen_size;
  uint8_t seen_root[32];
} published;

static void check_consistent(lg_ledger *lg, uint64_t old_size,
                             const uint8_t old_root[32], uint64_t size,
                             const uint8_t root[32]) {
  if (old_size == 0)
    return;
  assert_true(old_size <= size);
  lg_hash proof[LG_PROOF_MAX];
  size_t n;
  assert_int_equal(
      lg_ledger_consistency_proof(lg, old_size, size, proof, LG_PROOF_MAX, &n),
      0);
  const char *why = NULL;
  if (lg_verify_consistency(old_size, size, old_root, root, proof, n, &why))
    fail_msg("size %llu is not consistent with size %llu: %s",
             (unsigned long long)size, (unsigned long long)old_size, why);
}

/* Check the log against the writer's state and every published note. */
static void check(const char *dir, const char *mode, const lg_vkey *vkey,
                  published *pub) {
  char db[GT_PATH_MAX], state[GT_PATH_MAX];
  bool shared = strcmp(mode, "shared") == 0;
  gt_path(db, dir, shared ? "shared.db" : "log.db");
  gt_path(state, dir, shared ? "shared.db" : "state.db");
  if (access(db, F_OK) != 0)
    return; /* killed before it created anything */
  lg_ledger *lg;
  lg_ledger_options o = {0};
  gt_log_capture_begin();
  int rc = lg_ledger_open(db, &o, &lg);
  gt_log_capture_end();
  if (rc == GL_ENOENT) /* killed before the schema was committed */
    return;
  assert_int_equal(rc, 0);

  /* 1. A full audit. */
  lg_audit_options ao = {vkey, NULL, 0};
  lg_audit_report rep;
  assert_int_equal(lg_audit_run(lg, &ao, &rep), 0);
  if (!rep.ok)
    fail_msg("audit after a kill: %s", rep.problem);
  lg_audit_report_clear(&rep);

  /* 2. Exactly the committed batches, each once, none torn. */
  uint64_t size;
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  expect x = {0, 0, 0, 0};
  assert_int_equal(lg_ledger_scan(lg, 0, size, check_entry, &x), 0);
  assert_int_equal(x.bad, 0);
  if (shared) {
    uint64_t b = (uint64_t)query(state, "SELECT batch FROM writer", 0);
    assert_int_equal(size, batches_len(b));
  } else {
    uint64_t b = (uint64_t)query(state, "SELECT batch FROM intent", 0);
    int64_t done = query(state, "SELECT done FROM intent", -1);
    if (done == 1)
      assert_int_equal(size, batches_len(b + 1));
    else if (done == 0)
      assert_true(size == batches_len(b) || size == batches_len(b + 1));
    else
      assert_int_equal(size, 0);
  }

  /* 3. Consistent with every checkpoint ever published. */
  uint8_t root_now[32];
  assert_int_equal(lg_ledger_root(lg, size, root_now), 0);
  check_consistent(lg, pub->seen_size, pub->seen_root, size, root_now);
  char pubpath[GT_PATH_MAX];
  gt_path(pubpath, dir, "published.txt");
  size_t len = 0;
  char *text = gt_read_file(pubpath, &len);
  uint64_t count = 0;
  for (char *p = text; p && (p = strstr(p, "BEGIN\n")) != NULL;) {
    char *note = p + 6;
    char *end = strstr(note, "END\n");
    if (!end)
      break; /* a record cut by the kill is not published */
    p = end + 4;
    if (count++ < pub->count)
      continue; /* checked in an earlier round */
    lg_policy pol = {vkey, NULL, 0, 0};
    lg_checkpoint cp;
    const char *why = NULL;
    rc = lg_policy_verify(&pol, note, (size_t)(end - note), &cp, NULL, &why);
    if (rc != 0)
      fail_msg("published checkpoint does not verify: %s", why);
    assert_true(cp.size >= pub->last_size);
    assert_true(cp.size <= size);
    uint8_t root[32];
    assert_int_equal(lg_ledger_root(lg, cp.size, root), 0);
    assert_memory_equal(root, cp.root, 32);
    check_consistent(lg, cp.size, cp.root, size, root_now);
    pub->last_size = cp.size;
  }
  free(text);
  assert_true(count >= pub->count); /* nothing published disappears */
  pub->count = count;
  pub->seen_size = size;
  memcpy(pub->seen_root, root_now, 32);
  lg_ledger_free(lg);
}

static void crash_loop(const char *mode, uint64_t seed) {
  char dir[GT_PATH_MAX], keypath[GT_PATH_MAX], logpath[GT_PATH_MAX],
      writer[GT_PATH_MAX];
  gt_tmpdir("ledger-crash", dir);
  gt_path(keypath, dir, "log.key");
  gt_path(logpath, dir, "writer.log");
  gt_build_path(writer, "tests/integration/ledger/ledger_crash_writer");
  gl_seeded_rand *sr = gl_seeded_rand_new(seed);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer key;
  assert_int_equal(lg_signer_generate(CRASH_ORIGIN, LG_SIG_ED25519, &r, &key),
                   0);
  assert_int_equal(lg_signer_write_file(keypath, &key), 0);
  print_message("crash test (%s): seed %llu, %d kills\n", mode,
                (unsigned long long)seed, ROUNDS);
  published pub;
  memset(&pub, 0, sizeof pub);
  for (int round = 0; round < ROUNDS; round++) {
    char *argv[] = {writer, (char *)mode, dir, NULL};
    pid_t pid = gt_proc_start(argv, logpath, NULL);
    uint64_t wait;
    assert_int_equal(gl_rand_below(&r, 170, &wait), 0);
    gt_sleep_ms(20 + (int)wait);
    assert_true(gt_proc_alive(pid)); /* it must not have died by itself */
    gt_proc_kill9(pid);
    check(dir, mode, &key.vkey, &pub);
  }
  /* The writer made real progress across the kills. */
  print_message("crash test (%s): %llu checkpoints published, last size "
                "%llu\n",
                mode, (unsigned long long)pub.count,
                (unsigned long long)pub.last_size);
  assert_true(pub.count >= 5);
  lg_signer_wipe(&key);
  gl_seeded_rand_free(sr);
  gt_rmtree(dir);
}

static void test_crash_shared_transaction_survives_sigkill(void **state) {
  (void)state;
  crash_loop("shared", 20260101);
}

static void test_crash_two_phase_append_survives_sigkill(void **state) {
  (void)state;
  crash_loop("twophase", 20260102);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_shared_transaction_survives_sigkill),
      cmocka_unit_test(test_crash_two_phase_append_survives_sigkill),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
