/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the SQLite-backed log: roots and proofs from stored tiles
 * against the independent reference tree, atomic and idempotent appends,
 * appends inside a caller's transaction, checkpoint signing rules, bundles,
 * witness requests, export and import. Every test uses a real database file
 * in a fresh temporary directory.
 */
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_bundle.h"
#include "gridlet/ledger_witness.h"
#include "ledger_internal.h"
#include "ledger_testhelp.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#define ORIGIN "gridlet/testville"

typedef struct env {
  char dir[GT_PATH_MAX];
  char db[GT_PATH_MAX];
  gl_seeded_rand *sr;
  gl_manual_clock *mc;
  gl_clock clock;
  lg_signer key;
  lg_ledger *lg;
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  gt_tmpdir("ledger", e->dir);
  gt_path(e->db, e->dir, "log.db");
  e->sr = gl_seeded_rand_new(99);
  gl_rand r = gl_seeded_rand_rand(e->sr);
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &e->key), 0);
  e->mc = th_clock();
  e->clock = gl_manual_clock_clock(e->mc);
  lg_ledger_options o = {.origin = ORIGIN, .create = true, .clock = &e->clock};
  assert_int_equal(lg_ledger_open(e->db, &o, &e->lg), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  lg_ledger_free(e->lg);
  gl_seeded_rand_free(e->sr);
  gl_manual_clock_free(e->mc);
  gt_rmtree(e->dir);
  free(e);
  return 0;
}

static void reference(th_tree *t, uint64_t n) {
  memset(t, 0, sizeof *t);
  for (uint64_t i = 0; i < n; i++) {
    size_t len;
    uint8_t *b = th_order_bytes(i, &len);
    th_tree_add(t, b, len);
    free(b);
  }
}

static void
test_ledger_roots_match_reference_across_tile_boundaries(void **state) {
  env *e = *state;
  /* Batches of awkward sizes so that appends start and end inside tiles
   * of levels 0, 1 and 2 (16, 256 and 4096 leaves). */
  enum { N = 1100 };
  th_tree t;
  reference(&t, N);
  static const uint64_t batches[] = {1, 2, 13, 16, 17, 255, 1, 31, 300, 464};
  uint64_t size = 0;
  lg_frontier f = {0};
  for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
    th_append_orders(e->lg, size, size + batches[b]);
    for (uint64_t i = size; i < size + batches[b]; i++)
      assert_int_equal(lg_frontier_push(&f, t.leaves[i].b, NULL, NULL), 0);
    size += batches[b];
    uint64_t got;
    assert_int_equal(lg_ledger_size(e->lg, &got), 0);
    assert_int_equal(got, size);
  }
  assert_int_equal(size, N);
  /* The root at every past size, straight from the tiles. */
  lg_frontier g = {0};
  for (uint64_t n = 0; n <= N; n++) {
    uint8_t want[32], got[32];
    assert_int_equal(lg_frontier_root(&g, want), 0);
    assert_int_equal(lg_ledger_root(e->lg, n, got), 0);
    assert_memory_equal(got, want, 32);
    if (n < N) {
      assert_int_equal(lg_frontier_push(&g, t.leaves[n].b, NULL, NULL), 0);
      uint8_t leaf[32];
      assert_int_equal(lg_ledger_leaf_hash(e->lg, n, leaf), 0);
      assert_memory_equal(leaf, t.leaves[n].b, 32);
    }
  }
  uint8_t x[32];
  assert_int_equal(lg_ledger_root(e->lg, N + 1, x), GL_ERANGE);
  assert_int_equal(lg_ledger_leaf_hash(e->lg, N, x), GL_ENOENT);
  /* Sampled proofs at sizes beyond the exhaustive range. */
  lg_hash_source src = th_tree_source(&t);
  for (uint64_t k = 0; k < 200; k++) {
    uint64_t size2 = 65 + (k * 7919) % (N - 64);
    uint64_t index = (k * 104729) % size2;
    uint64_t size1 = 1 + (k * 31) % size2;
    lg_hash a[LG_PROOF_MAX], b[LG_PROOF_MAX];
    size_t na, nb;
    assert_int_equal(
        lg_ledger_inclusion_proof(e->lg, index, size2, a, LG_PROOF_MAX, &na),
        0);
    assert_int_equal(
        lg_make_inclusion_proof(&src, index, size2, b, LG_PROOF_MAX, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    assert_int_equal(
        lg_ledger_consistency_proof(e->lg, size1, size2, a, LG_PROOF_MAX, &na),
        0);
    assert_int_equal(
        lg_make_consistency_proof(&src, size1, size2, b, LG_PROOF_MAX, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
  }
  th_tree_free(&t);
}

static void test_ledger_every_proof_up_to_64_matches_reference(void **state) {
  env *e = *state;
  th_tree t;
  reference(&t, 64);
  th_append_orders(e->lg, 0, 64);
  lg_hash_source src = th_tree_source(&t);
  for (uint64_t size = 1; size <= 64; size++) {
    uint8_t root[32];
    assert_int_equal(lg_ledger_root(e->lg, size, root), 0);
    for (uint64_t index = 0; index < size; index++) {
      lg_hash a[LG_PROOF_MAX], b[LG_PROOF_MAX];
      size_t na, nb;
      assert_int_equal(
          lg_ledger_inclusion_proof(e->lg, index, size, a, LG_PROOF_MAX, &na),
          0);
      assert_int_equal(
          lg_make_inclusion_proof(&src, index, size, b, LG_PROOF_MAX, &nb), 0);
      assert_int_equal(na, nb);
      assert_memory_equal(a, b, na * sizeof *a);
      assert_int_equal(lg_verify_inclusion(t.leaves[index].b, index, size, a,
                                           na, root, NULL),
                       0);
    }
    for (uint64_t s1 = 1; s1 <= size; s1++) {
      lg_hash a[LG_PROOF_MAX];
      size_t na;
      uint8_t r1[32];
      assert_int_equal(lg_ledger_root(e->lg, s1, r1), 0);
      assert_int_equal(
          lg_ledger_consistency_proof(e->lg, s1, size, a, LG_PROOF_MAX, &na),
          0);
      assert_int_equal(lg_verify_consistency(s1, size, r1, root, a, na, NULL),
                       0);
    }
  }
  lg_hash a[LG_PROOF_MAX];
  size_t na;
  assert_int_equal(
      lg_ledger_inclusion_proof(e->lg, 64, 64, a, LG_PROOF_MAX, &na),
      GL_ERANGE);
  assert_int_equal(
      lg_ledger_inclusion_proof(e->lg, 3, 65, a, LG_PROOF_MAX, &na), GL_ERANGE);
  assert_int_equal(
      lg_ledger_consistency_proof(e->lg, 0, 10, a, LG_PROOF_MAX, &na),
      GL_ERANGE);
  th_tree_free(&t);
}

static void test_ledger_append_is_all_or_nothing(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 3);
  size_t l0, l1;
  uint8_t *good = th_order_bytes(3, &l0);
  uint8_t *bad = th_order_bytes(4, &l1);
  bad[2 + 8 + 1] = 'A'; /* an upper-case meter id */
  gl_bytes batch[2] = {{good, l0}, {bad, l1}};
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_append(e->lg, batch, 2, NULL), GL_EINVAL);
  assert_true(gt_log_contains("refusing entry 4"));
  gt_log_capture_end();
  uint64_t size;
  assert_int_equal(lg_ledger_size(e->lg, &size), 0);
  assert_int_equal(size, 3);
  lg_ledger_stats st;
  lg_ledger_stats_get(e->lg, &st);
  assert_int_equal(st.appended, 3);
  assert_int_equal(st.refused_batches, 1);
  /* Unbalanced settlements are refused too. */
  lg_entry s;
  th_settlement(1767225600000000000, 4, 2, &s);
  s.u.settlement.rows[0].money++;
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_append_entries(e->lg, &s, 1, NULL), GL_EINVAL);
  assert_true(gt_log_contains("money is not conserved"));
  gt_log_capture_end();
  th_settlement_free(&s);
  free(good);
  free(bad);
}

static void test_ledger_append_at_is_idempotent(void **state) {
  env *e = *state;
  gl_bytes b[6];
  for (int i = 0; i < 6; i++) {
    size_t len;
    b[i].data = th_order_bytes((uint64_t)i, &len);
    b[i].len = len;
  }
  size_t appended = 99;
  assert_int_equal(lg_ledger_append_at(e->lg, 0, b, 4, &appended), 0);
  assert_int_equal(appended, 4);
  /* The same call again (a retry after a crash): nothing new. */
  assert_int_equal(lg_ledger_append_at(e->lg, 0, b, 4, &appended), 0);
  assert_int_equal(appended, 0);
  /* Overlapping: the present part must match, the rest is appended. */
  assert_int_equal(lg_ledger_append_at(e->lg, 2, b + 2, 4, &appended), 0);
  assert_int_equal(appended, 2);
  uint64_t size;
  assert_int_equal(lg_ledger_size(e->lg, &size), 0);
  assert_int_equal(size, 6);
  /* Different entries at recorded indices: a conflict, nothing changes. */
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_append_at(e->lg, 1, b, 2, &appended),
                   GL_ECONFLICT);
  /* A gap means the caller lost track. */
  assert_int_equal(lg_ledger_append_at(e->lg, 7, b, 1, &appended), GL_ESTATE);
  gt_log_capture_end();
  assert_int_equal(lg_ledger_size(e->lg, &size), 0);
  assert_int_equal(size, 6);
  for (int i = 0; i < 6; i++)
    free((void *)b[i].data);
}

static sqlite3 *open_shared(const char *path, bool full) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                full ? "PRAGMA synchronous=FULL"
                                     : "PRAGMA synchronous=NORMAL",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  return db;
}

static int count_rows(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void test_ledger_appends_inside_a_callers_transaction(void **state) {
  env *e = *state;
  char path[GT_PATH_MAX];
  gt_path(path, e->dir, "aggregator.db");
  sqlite3 *db = open_shared(path, true);
  assert_int_equal(
      sqlite3_exec(db, "CREATE TABLE intervals(start INTEGER PRIMARY KEY)",
                   NULL, NULL, NULL),
      SQLITE_OK);
  lg_ledger *lg;
  lg_ledger_options o = {.origin = ORIGIN, .create = true, .clock = &e->clock};
  assert_int_equal(lg_ledger_open_db(db, &o, &lg), 0);

  /* Rolled back by the caller: neither its row nor the entries stay. */
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db, "INSERT INTO intervals VALUES(1)", NULL, NULL, NULL),
      SQLITE_OK);
  th_append_orders(lg, 0, 10);
  char *note = NULL;
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_checkpoint(lg, &e->key, &note), GL_ESTATE);
  gt_log_capture_end();
  assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  uint64_t size;
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  assert_int_equal(size, 0);
  assert_int_equal(count_rows(db, "SELECT count(*) FROM intervals"), 0);

  /* Different entries at the same indices, then committed together with
   * the caller's row: no stale state from the rolled-back attempt. */
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db, "INSERT INTO intervals VALUES(2)", NULL, NULL, NULL),
      SQLITE_OK);
  th_append_orders(lg, 0, 5);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(count_rows(db, "SELECT count(*) FROM intervals"), 1);
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  assert_int_equal(size, 5);
  th_tree t;
  reference(&t, 5);
  uint8_t root[32], want[32];
  th_mth(&t, 0, 5, want);
  assert_int_equal(lg_ledger_root(lg, 5, root), 0);
  assert_memory_equal(root, want, 32);
  assert_int_equal(lg_ledger_checkpoint(lg, &e->key, &note), 0);
  free(note);
  th_tree_free(&t);
  lg_ledger_free(lg);
  sqlite3_close(db);

  /* A connection that is not durable enough is refused. */
  gt_path(path, e->dir, "weak.db");
  db = open_shared(path, false);
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_open_db(db, &o, &lg), GL_ECONFIG);
  assert_true(gt_log_contains("synchronous=FULL"));
  gt_log_capture_end();
  sqlite3_close(db);
}

static void test_ledger_never_signs_two_inconsistent_checkpoints(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 10);
  char *n1, *n1b, *n2;
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &n1), 0);
  /* The same size gives back the stored note, byte for byte. */
  gl_manual_clock_advance(e->mc, GL_NS_PER_SEC);
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &n1b), 0);
  assert_string_equal(n1, n1b);
  lg_ledger_stats st;
  lg_ledger_stats_get(e->lg, &st);
  assert_int_equal(st.checkpoints_signed, 1); /* the second was a reprint */
  th_append_orders(e->lg, 10, 20);
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &n2), 0);
  lg_checkpoint cp;
  lg_policy pol = {&e->key.vkey, NULL, 0, 0};
  assert_int_equal(lg_policy_verify(&pol, n2, strlen(n2), &cp, NULL, NULL), 0);
  assert_int_equal(cp.size, 20);
  free(n1b);

  /* Another key with the log's name: refused. */
  gl_rand r = gl_seeded_rand_rand(e->sr);
  lg_signer other, wrong_name;
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &other), 0);
  assert_int_equal(
      lg_signer_generate("gridlet/elsewhere", LG_SIG_ED25519, &r, &wrong_name),
      0);
  char *x = NULL;
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_checkpoint(e->lg, &other, &x), GL_EPERM);
  assert_int_equal(lg_ledger_checkpoint(e->lg, &wrong_name, &x), GL_EINVAL);
  gt_log_capture_end();

  /* Entries rewritten behind the log's back (same count, new content):
   * the new root is not consistent with the signed one, so nothing is
   * signed. Rewrite entry 5 and its stored leaf hash consistently so that
   * only the checkpoint can tell. */
  lg_ledger_free(e->lg);
  th_sql(e->db, "UPDATE lg_entries SET data = (SELECT data FROM lg_entries "
                "WHERE idx = 6) WHERE idx = 5");
  th_sql(e->db, "DELETE FROM lg_tiles");
  lg_ledger_options o = {.create = false, .clock = &e->clock};
  assert_int_equal(lg_ledger_open(e->db, &o, &e->lg), 0);
  /* Rebuild the tiles from the changed entries via a fresh append of the
   * same bytes into a scratch log, then copy them over. */
  char scratch[GT_PATH_MAX];
  gt_path(scratch, e->dir, "scratch.db");
  lg_ledger *s;
  lg_ledger_options so = {.origin = ORIGIN, .create = true};
  assert_int_equal(lg_ledger_open(scratch, &so, &s), 0);
  for (uint64_t i = 0; i < 20; i++) {
    uint8_t *d;
    size_t len;
    assert_int_equal(lg_ledger_entry(e->lg, i, &d, &len), 0);
    gl_bytes b = {d, len};
    assert_int_equal(lg_ledger_append(s, &b, 1, NULL), 0);
    free(d);
  }
  lg_ledger_free(s);
  char sql[GT_PATH_MAX + 128];
  snprintf(sql, sizeof sql,
           "ATTACH '%s' AS s; INSERT INTO lg_tiles SELECT * FROM s.lg_tiles;",
           scratch);
  th_sql(e->db, sql);
  th_append_orders(e->lg, 20, 21);
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &x), GL_ECONFLICT);
  assert_true(gt_log_contains("not consistent with the checkpoint"));
  gt_log_capture_end();
  assert_null(x);

  /* A log that lost entries after signing: refused as well. */
  th_sql(e->db, "DELETE FROM lg_entries WHERE idx >= 15");
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &x), GL_ECONFLICT);
  gt_log_capture_end();
  lg_ledger_stats_get(e->lg, &st);
  assert_int_equal(st.checkpoints_refused, 2);
  free(n1);
  free(n2);
}

static void test_ledger_bundles_and_witness_cosignatures(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 37);
  char *note;
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);

  /* A witness cosigns via a tlog-witness request built by the log. */
  char wpath[GT_PATH_MAX];
  gt_path(wpath, e->dir, "witness.db");
  gl_rand r = gl_seeded_rand_rand(e->sr);
  lg_signer wkey;
  assert_int_equal(
      lg_signer_generate("witness.example/w1", LG_SIG_COSIG_V1, &r, &wkey), 0);
  lg_witness *w;
  assert_int_equal(lg_witness_open(wpath, &wkey, &e->clock, &w), 0);
  char vk[LG_KEY_TEXT_MAX];
  assert_int_equal(lg_vkey_format(&e->key.vkey, vk, sizeof vk), 0);
  assert_int_equal(lg_witness_add_log(w, vk), 0);
  char *req, *cosig;
  assert_int_equal(lg_ledger_witness_request(e->lg, 0, &req), 0);
  assert_int_equal(lg_witness_add_checkpoint(w, req, strlen(req), &cosig, NULL),
                   0);
  free(req);
  size_t added = 0;
  assert_int_equal(lg_ledger_add_cosignatures(e->lg, 37, cosig, strlen(cosig),
                                              &wkey.vkey, 1, &added),
                   0);
  assert_int_equal(added, 1);
  free(cosig);

  /* Grow, checkpoint, and cosign again with a consistency proof. */
  th_append_orders(e->lg, 37, 80);
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);
  assert_int_equal(lg_ledger_witness_request(e->lg, 37, &req), 0);
  assert_int_equal(lg_witness_add_checkpoint(w, req, strlen(req), &cosig, NULL),
                   0);
  free(req);
  assert_int_equal(lg_ledger_add_cosignatures(e->lg, 80, cosig, strlen(cosig),
                                              &wkey.vkey, 1, &added),
                   0);
  free(cosig);
  lg_witness_free(w);

  /* Bundles verify offline against "log key + 1 of 1 witness". */
  lg_policy pol = {&e->key.vkey, &wkey.vkey, 1, 1};
  for (uint64_t i = 0; i < 80; i += 7) {
    char *text;
    assert_int_equal(lg_ledger_bundle(e->lg, i, 0, true, &text), 0);
    lg_bundle b;
    assert_int_equal(lg_bundle_parse(text, strlen(text), &b), 0);
    lg_checkpoint cp;
    assert_int_equal(lg_bundle_verify(&b, &pol, NULL, &cp, NULL), 0);
    assert_int_equal(cp.size, 80);
    lg_entry d;
    assert_int_equal(lg_entry_decode(b.extra, b.extra_len, &d, NULL), 0);
    assert_int_equal(d.u.order.seq, i + 1);
    lg_bundle_clear(&b);
    free(text);
  }
  /* Against the older checkpoint too. */
  char *text;
  assert_int_equal(lg_ledger_bundle(e->lg, 36, 37, false, &text), 0);
  free(text);
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_bundle(e->lg, 40, 37, false, &text), GL_ENOENT);
  gt_log_capture_end();
  /* A forged cosignature line from the configured witness is refused. */
  const char forged[] = "\xe2\x80\x94 witness.example/w1 "
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
  assert_int_equal(lg_ledger_add_cosignatures(e->lg, 80, forged, strlen(forged),
                                              &wkey.vkey, 1, &added),
                   0);
  assert_int_equal(added, 0); /* unknown key ID: ignored */
  /* A line from the configured witness (its name and key ID) whose
   * signature does not verify over this checkpoint: refused with
   * GL_EVERIFY, nothing kept. */
  const char other[] = "gridlet/oakfield\n80\nnot this checkpoint\n";
  char bad[LG_SIGLINE_MAX];
  assert_int_equal(lg_note_sign_line(&wkey, other, strlen(other), 1767225600,
                                     bad, sizeof bad),
                   0);
  added = 99;
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_add_cosignatures(e->lg, 80, bad, strlen(bad),
                                              &wkey.vkey, 1, &added),
                   GL_EVERIFY);
  assert_true(gt_log_contains("cosignature for size 80 rejected"));
  gt_log_capture_end();
  assert_int_equal(added, 99);
  /* The checkpoint still carries exactly the one good cosignature. */
  assert_int_equal(lg_ledger_bundle(e->lg, 0, 80, false, &text), 0);
  size_t lines = 0;
  for (const char *q = text; (q = strstr(q, "witness.example/w1 ")) != NULL;
       q++)
    lines++;
  assert_int_equal(lines, 1);
  assert_null(
      strstr(text, strchr(bad, ' ') + 1 + strlen("witness.example/w1")));
  free(text);
}

/* A racing process that creates the export's target while the export
 * runs: it waits for "<path>.partial" (the export has passed its first
 * check) and creates <path> with O_EXCL. */
typedef struct racer {
  char path[GT_PATH_MAX], partial[GT_PATH_MAX + 16];
  volatile int stop;
  int won; /* 1: created the file first; -1: the export was first */
} racer;

static void *race(void *arg) {
  racer *r = arg;
  while (!r->stop && access(r->partial, F_OK) != 0)
    ;
  if (r->stop)
    return NULL;
  int fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) {
    r->won = -1;
    return NULL;
  }
  if (write(fd, "precious", 8) != 8)
    r->won = -1;
  else
    r->won = 1;
  close(fd);
  return NULL;
}

static void
test_ledger_export_never_replaces_a_file_that_appears(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 1000);
  char *note;
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);
  /* The racer almost always wins (the export takes far longer than an
   * open); should the export be first, try again with another name. */
  for (int attempt = 0; attempt < 5; attempt++) {
    racer r;
    memset(&r, 0, sizeof r);
    char name[32];
    snprintf(name, sizeof name, "race%d.db", attempt);
    gt_path(r.path, e->dir, name);
    snprintf(r.partial, sizeof r.partial, "%s.partial", r.path);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, race, &r), 0);
    gt_log_capture_begin();
    int rc = lg_ledger_export(e->lg, r.path, 0);
    gt_log_capture_end();
    r.stop = 1;
    pthread_join(t, NULL);
    if (r.won != 1) {
      assert_int_equal(rc, 0);
      continue;
    }
    assert_int_equal(rc, GL_EEXIST);
    char *text = gt_read_file(r.path, NULL);
    assert_non_null(text);
    assert_string_equal(text, "precious");
    free(text);
    assert_false(access(r.partial, F_OK) == 0);
    return;
  }
  skip();
}

static void test_ledger_export_and_import_rebuild_and_verify(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 50);
  char *note;
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);
  th_append_orders(e->lg, 50, 70); /* not yet checkpointed: not exported */
  char exp1[GT_PATH_MAX], exp2[GT_PATH_MAX], mpath[GT_PATH_MAX];
  gt_path(exp1, e->dir, "export1.db");
  gt_path(exp2, e->dir, "export2.db");
  gt_path(mpath, e->dir, "mirror.db");
  assert_int_equal(lg_ledger_export(e->lg, exp1, 0), 0);
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_export(e->lg, exp1, 0), GL_EEXIST);
  gt_log_capture_end();

  lg_ledger *m;
  lg_ledger_options mo = {.origin = ORIGIN, .create = true};
  assert_int_equal(lg_ledger_open(mpath, &mo, &m), 0);
  lg_import_options io = {&e->key.vkey, NULL, 0};
  uint64_t size = 0;
  assert_int_equal(lg_ledger_import(m, exp1, &io, &size), 0);
  assert_int_equal(size, 50);
  uint8_t a[32], b[32];
  assert_int_equal(lg_ledger_root(m, 50, a), 0);
  assert_int_equal(lg_ledger_root(e->lg, 50, b), 0);
  assert_memory_equal(a, b, 32);
  /* Importing the same copy again changes nothing. */
  assert_int_equal(lg_ledger_import(m, exp1, &io, &size), 0);
  assert_int_equal(size, 50);

  /* Incremental: the log grows, a new export brings the mirror along. */
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);
  assert_int_equal(lg_ledger_export(e->lg, exp2, 0), 0);
  /* Tamper with one entry of the copy: the import fails and the mirror
   * stays as it was. */
  th_sql(exp2, "UPDATE lg_entries SET data = (SELECT data FROM lg_entries "
               "WHERE idx = 61) WHERE idx = 60");
  gt_log_capture_begin();
  assert_int_equal(lg_ledger_import(m, exp2, &io, &size), GL_EVERIFY);
  gt_log_capture_end();
  uint64_t msize;
  assert_int_equal(lg_ledger_size(m, &msize), 0);
  assert_int_equal(msize, 50);
  /* The untampered copy imports. */
  gt_rmtree(exp2);
  assert_int_equal(lg_ledger_export(e->lg, exp2, 0), 0);
  assert_int_equal(lg_ledger_import(m, exp2, &io, &size), 0);
  assert_int_equal(size, 70);
  /* The wrong log key is refused. */
  gl_rand r = gl_seeded_rand_rand(e->sr);
  lg_signer other;
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &other), 0);
  lg_import_options bad = {&other.vkey, NULL, 0};
  gt_log_capture_begin();
  assert_int_not_equal(lg_ledger_import(m, exp2, &bad, &size), 0);
  gt_log_capture_end();
  lg_ledger_free(m);
}

/* The durability and hardening settings of the ledger's connections: a
 * writer runs with synchronous=FULL (a checkpoint is only ever signed over
 * data on disk); a read-only open, which may be of a file someone handed
 * us, runs without trusting its schema. */
static void test_ledger_connections_are_durable_and_hardened(void **state) {
  env *e = *state;
  int64_t v = -1;
  assert_int_equal(
      lg__store_pragma_int(lg__ledger_store(e->lg), "synchronous", &v), 0);
  assert_int_equal(v, 2); /* FULL */
  lg_ledger *ro;
  lg_ledger_options o = {.origin = ORIGIN, .read_only = true};
  assert_int_equal(lg_ledger_open(e->db, &o, &ro), 0);
  assert_int_equal(
      lg__store_pragma_int(lg__ledger_store(ro), "trusted_schema", &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(
      lg__store_pragma_int(lg__ledger_store(ro), "cell_size_check", &v), 0);
  assert_int_equal(v, 1);
  lg_ledger_free(ro);
}

/* Change the schema of a database file with plain SQL. */
static void tamper_schema(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    fail_msg("%s: %s", sql, err);
  sqlite3_close(db);
}

/* An export whose ledger tables were redefined, or that carries extra
 * indexes or triggers on them, is not imported: the schema of an
 * untrusted file is compared with ours before anything is read. */
static void
test_ledger_import_refuses_a_copy_with_another_schema(void **state) {
  env *e = *state;
  th_append_orders(e->lg, 0, 20);
  char *note;
  assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
  free(note);
  static const char *const tamper[] = {
      "CREATE INDEX lg_entries_type ON lg_entries(type)",
      "ALTER TABLE lg_entries ADD COLUMN extra INTEGER DEFAULT 0",
      "CREATE TRIGGER lg_spy AFTER INSERT ON lg_cosigs BEGIN SELECT 1; END",
      "CREATE VIEW lg_view AS SELECT * FROM lg_entries",
  };
  char mpath[GT_PATH_MAX];
  gt_path(mpath, e->dir, "mirror.db");
  lg_ledger *m;
  lg_ledger_options mo = {.origin = ORIGIN, .create = true};
  assert_int_equal(lg_ledger_open(mpath, &mo, &m), 0);
  lg_import_options io = {&e->key.vkey, NULL, 0};
  for (size_t i = 0; i < sizeof tamper / sizeof *tamper; i++) {
    char exp[GT_PATH_MAX], name[32];
    snprintf(name, sizeof name, "tampered%zu.db", i);
    gt_path(exp, e->dir, name);
    assert_int_equal(lg_ledger_export(e->lg, exp, 0), 0);
    tamper_schema(exp, tamper[i]);
    uint64_t size = 0;
    gt_log_capture_begin();
    int rc = lg_ledger_import(m, exp, &io, &size);
    bool said = gt_log_contains("schema differs");
    gt_log_capture_end();
    if (rc != GL_ESTORE || !said)
      fail_msg("\"%s\": import returned %s", tamper[i], gl_err_name(rc));
    uint64_t msize = 99;
    assert_int_equal(lg_ledger_size(m, &msize), 0);
    assert_int_equal(msize, 0);
  }
  /* The untouched export goes in. */
  char good[GT_PATH_MAX];
  gt_path(good, e->dir, "good.db");
  assert_int_equal(lg_ledger_export(e->lg, good, 0), 0);
  uint64_t size = 0;
  assert_int_equal(lg_ledger_import(m, good, &io, &size), 0);
  assert_int_equal(size, 20);
  lg_ledger_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_ledger_roots_match_reference_across_tile_boundaries, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_every_proof_up_to_64_matches_reference, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ledger_append_is_all_or_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_ledger_append_at_is_idempotent,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_appends_inside_a_callers_transaction, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_never_signs_two_inconsistent_checkpoints, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_bundles_and_witness_cosignatures, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_export_never_replaces_a_file_that_appears, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_export_and_import_rebuild_and_verify, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_connections_are_durable_and_hardened, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ledger_import_refuses_a_copy_with_another_schema, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
