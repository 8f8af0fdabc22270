/* SPDX-License-Identifier: MIT */
/*
 * bench_ledger - ledger throughput and size on a log of 10^6 entries.
 *
 *   batched appends per second (fresh log; batches of 100, 1000, 10000)
 *   inclusion and consistency proof generation per second (10^6 log)
 *   proof verification per second
 *   on-disk size of the 10^6 log against the raw entry bytes (target:
 *   less than 2 x raw + 64 bytes per entry)
 *
 * The 10^6-entry log is built once (bench_ledger_1e6.db in the working
 * directory) and reused by later runs; delete it to rebuild. Entries are
 * order entries with realistic field values (about 75 bytes each). Every
 * figure is the median over repeated runs; append runs write real files
 * with synchronous=FULL, so they include the fsync of each commit.
 *
 *   bench_ledger [ENTRIES]   (default 1000000)
 */
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPEATS 5
#define PROOFS 20000
#define ORIGIN "gridlet/bench"

static void check(int rc, const char *what) {
  if (rc != 0) {
    fprintf(stderr, "bench_ledger: %s: %s\n", what, gl_strerror(rc));
    exit(1);
  }
}

/* Order entry i: what the aggregator appends most. */
static uint8_t *entry(uint64_t i, size_t *len) {
  lg_entry e;
  memset(&e, 0, sizeof e);
  e.type = LG_ENTRY_ORDER;
  lg_order *o = &e.u.order;
  o->interval_start =
      INT64_C(1767225600000000000) + (int64_t)(i / 1000) * 900 * GL_NS_PER_SEC;
  snprintf(o->meter_id, sizeof o->meter_id, "oak-%04u", (unsigned)(i % 1000));
  o->seq = i / 1000 + 1;
  o->side = (uint8_t)(i % 3 ? LG_SIDE_BUY : LG_SIDE_SELL);
  o->quantity_wh = (int64_t)(i * 7919 % 4000);
  o->limit_price = 120000 + (int64_t)(i % 150) * 1000;
  for (int k = 0; k < LG_DIGEST_LEN; k++)
    o->msg_digest[k] = (uint8_t)((i * 2654435761u) >> (k % 24));
  uint8_t *out;
  check(lg_entry_encode(&e, &out, len), "encode");
  return out;
}

static void make_batch(uint64_t first, size_t n, gl_bytes *b) {
  for (size_t k = 0; k < n; k++) {
    size_t len;
    b[k].data = entry(first + k, &len);
    b[k].len = len;
  }
}

static void free_batch(gl_bytes *b, size_t n) {
  for (size_t k = 0; k < n; k++)
    free((void *)b[k].data);
}

static void remove_db(const char *path) {
  char p[512];
  static const char *const sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
}

/* Append `total` entries in batches of `batch` to a fresh log; returns the
 * elapsed ns of the appends alone (entry encoding excluded). */
static int64_t append_run(const char *path, uint64_t total, size_t batch) {
  remove_db(path);
  lg_ledger *lg;
  lg_ledger_options o = {.origin = ORIGIN, .create = true};
  check(lg_ledger_open(path, &o, &lg), "open");
  gl_bytes *b = calloc(batch, sizeof *b);
  int64_t spent = 0;
  for (uint64_t done = 0; done < total; done += batch) {
    make_batch(done, batch, b);
    int64_t t0 = gb_now_ns();
    check(lg_ledger_append(lg, b, batch, NULL), "append");
    spent += gb_now_ns() - t0;
    free_batch(b, batch);
  }
  free(b);
  lg_ledger_free(lg);
  remove_db(path);
  return spent;
}

static void build_big(const char *path, uint64_t n, const lg_signer *key) {
  lg_ledger *lg;
  lg_ledger_options o = {.origin = ORIGIN, .create = false};
  if (access(path, F_OK) == 0 && lg_ledger_open(path, &o, &lg) == 0) {
    uint64_t size = 0;
    lg_checkpoint cp;
    int rc = lg_ledger_size(lg, &size);
    if (rc == 0)
      rc = lg_ledger_latest_checkpoint(lg, NULL, &cp);
    lg_ledger_free(lg);
    if (rc == 0 && size == n && cp.size == n) {
      printf("reusing %s (%" PRIu64 " entries)\n", path, n);
      return;
    }
  }
  remove_db(path);
  printf("building %s with %" PRIu64 " entries...\n", path, n);
  fflush(stdout);
  lg_ledger_options c = {.origin = ORIGIN, .create = true};
  check(lg_ledger_open(path, &c, &lg), "create");
  enum { B = 10000 };
  gl_bytes *b = calloc(B, sizeof *b);
  int64_t t0 = gb_now_ns();
  for (uint64_t done = 0; done < n; done += B) {
    size_t k = n - done < B ? (size_t)(n - done) : B;
    make_batch(done, k, b);
    check(lg_ledger_append(lg, b, k, NULL), "append");
    free_batch(b, k);
  }
  char *note;
  check(lg_ledger_checkpoint(lg, key, &note), "checkpoint");
  free(note);
  printf("built in %.1f s (including entry encoding)\n",
         (double)(gb_now_ns() - t0) / 1e9);
  free(b);
  lg_ledger_free(lg);
}

static int sum_len(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
  (void)index;
  (void)data;
  *(uint64_t *)ctx += len;
  return 0;
}

static void report_rate(const char *name, int64_t *ns, size_t runs,
                        double ops) {
  int64_t med = gb_median(ns, runs);
  printf("%s: median %.0f/s (%.2f us each; min %.0f/s, max %.0f/s, %zu "
         "runs)\n",
         name, ops / ((double)med / 1e9), (double)med / ops / 1e3,
         ops / ((double)ns[runs - 1] / 1e9), ops / ((double)ns[0] / 1e9), runs);
}

int main(int argc, char **argv) {
  uint64_t n = 1000000;
  if (argc > 1) {
    char *end;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (*end || v < 100 || v > 100000000) {
      fprintf(stderr, "usage: bench_ledger [ENTRIES 100..10^8]\n");
      return 2;
    }
    n = v;
  }
  gl_seeded_rand *sr = gl_seeded_rand_new(2026);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer key;
  check(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &key), "key");

  /* ---- Batched appends on a fresh log ---- */
  static const size_t batches[] = {100, 1000, 10000};
  for (size_t bi = 0; bi < 3; bi++) {
    int64_t ns[REPEATS];
    uint64_t total = batches[bi] * 50 < 50000 ? 50000 : batches[bi] * 20;
    for (int rep = 0; rep < REPEATS; rep++)
      ns[rep] = append_run("bench_ledger_append.db", total, batches[bi]);
    char name[64];
    snprintf(name, sizeof name, "append, batches of %zu", batches[bi]);
    report_rate(name, ns, REPEATS, (double)total);
  }

  /* ---- The 10^6 log ---- */
  char big[64];
  snprintf(big, sizeof big, "bench_ledger_%" PRIu64 ".db", n);
  if (n == 1000000)
    snprintf(big, sizeof big, "bench_ledger_1e6.db");
  build_big(big, n, &key);
  lg_ledger *lg;
  lg_ledger_options o = {.read_only = true};
  check(lg_ledger_open(big, &o, &lg), "open big");
  uint8_t root[LG_HASH_LEN];
  check(lg_ledger_root(lg, n, root), "root");

  /* Random indices and leaf hashes, outside the timed loops. */
  uint64_t *idx = malloc(PROOFS * sizeof *idx);
  uint64_t *sz1 = malloc(PROOFS * sizeof *sz1);
  lg_hash *leaf = malloc(PROOFS * sizeof *leaf);
  lg_hash(*proofs)[LG_PROOF_MAX] = malloc(PROOFS * sizeof *proofs);
  size_t *plen = malloc(PROOFS * sizeof *plen);
  for (size_t i = 0; i < PROOFS; i++) {
    check(gl_rand_below(&r, n, &idx[i]), "rand");
    check(gl_rand_below(&r, n - 1, &sz1[i]), "rand");
    sz1[i]++;
    check(lg_ledger_leaf_hash(lg, idx[i], leaf[i].b), "leaf");
  }
  int64_t gen[REPEATS], ver[REPEATS], cgen[REPEATS], cver[REPEATS];
  uint8_t *r1 = malloc((size_t)PROOFS * LG_HASH_LEN);
  for (size_t i = 0; i < PROOFS; i++)
    check(lg_ledger_root(lg, sz1[i], r1 + i * LG_HASH_LEN), "root1");
  for (int rep = 0; rep < REPEATS; rep++) {
    int64_t t0 = gb_now_ns();
    for (size_t i = 0; i < PROOFS; i++)
      check(lg_ledger_inclusion_proof(lg, idx[i], n, proofs[i], LG_PROOF_MAX,
                                      &plen[i]),
            "inclusion proof");
    gen[rep] = gb_now_ns() - t0;
    t0 = gb_now_ns();
    for (size_t i = 0; i < PROOFS; i++)
      check(lg_verify_inclusion(leaf[i].b, idx[i], n, proofs[i], plen[i], root,
                                NULL),
            "verify inclusion");
    ver[rep] = gb_now_ns() - t0;
    t0 = gb_now_ns();
    for (size_t i = 0; i < PROOFS; i++)
      check(lg_ledger_consistency_proof(lg, sz1[i], n, proofs[i], LG_PROOF_MAX,
                                        &plen[i]),
            "consistency proof");
    cgen[rep] = gb_now_ns() - t0;
    t0 = gb_now_ns();
    for (size_t i = 0; i < PROOFS; i++)
      check(lg_verify_consistency(sz1[i], n, r1 + i * LG_HASH_LEN, root,
                                  proofs[i], plen[i], NULL),
            "verify consistency");
    cver[rep] = gb_now_ns() - t0;
  }
  char name[96];
  snprintf(name, sizeof name, "inclusion proof generation (%" PRIu64 " log)",
           n);
  report_rate(name, gen, REPEATS, PROOFS);
  report_rate("inclusion proof verification", ver, REPEATS, PROOFS);
  snprintf(name, sizeof name, "consistency proof generation (%" PRIu64 " log)",
           n);
  report_rate(name, cgen, REPEATS, PROOFS);
  report_rate("consistency proof verification", cver, REPEATS, PROOFS);

  /* ---- Size ---- */
  uint64_t raw = 0;
  check(lg_ledger_scan(lg, 0, n, sum_len, &raw), "scan");
  lg_ledger_free(lg);
  struct stat st;
  if (stat(big, &st) != 0) {
    perror(big);
    return 1;
  }
  uint64_t disk = (uint64_t)st.st_size;
  uint64_t limit = 2 * raw + 64 * n;
  printf("on-disk size: %" PRIu64 " bytes for %" PRIu64 " entries of %" PRIu64
         " raw bytes (%.1f B/entry raw, %.1f B/entry on disk, %.2f x raw); "
         "target < 2 x raw + 64 B/entry = %" PRIu64 " bytes: %s\n",
         disk, n, raw, (double)raw / (double)n, (double)disk / (double)n,
         (double)disk / (double)raw, limit, disk < limit ? "met" : "MISSED");
  printf("peak RSS: %ld KiB\n", gb_peak_rss_kib());
  free(idx);
  free(sz1);
  free(leaf);
  free(proofs);
  free(plen);
  free(r1);
  lg_signer_wipe(&key);
  gl_seeded_rand_free(sr);
  return 0;
}
