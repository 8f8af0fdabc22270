/* SPDX-License-Identifier: MIT */
/*
 * bench_proto.c - what one protocol message costs: raw Ed25519 sign and
 * verify, the JSON codec alone, COSE parsing alone, and the two calls
 * daemons make, pr_seal (encode + sign) and pr_open (parse + key lookup +
 * verify + decode), on a typical interval reading. The last section runs
 * raw verification and pr_open on every core at once: the baseline the
 * aggregator's ingest rate is compared with.
 *
 * Each figure is the median over RUNS repetitions of a timed batch,
 * reported per operation and as operations per second.
 *
 *   bench_proto [runs] [ops-per-run]      (defaults 7 and 2000)
 */
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/proto.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS 31
#define MAX_THREADS 64

static int runs = 7, ops = 2000;
static gl_ed25519_key key;
static pr_key_entry entry;
static pr_key_table table = {&entry, 1};
static pr_keyring keys;
static pr_topic topic;
static pr_msg reading;
static uint8_t sealed[PR_SEAL_MAX];
static size_t sealed_len;
static char json[PR_PAYLOAD_MAX];
static size_t json_len;
static volatile int sink;

static void die(const char *what) {
  fprintf(stderr, "bench_proto: %s failed\n", what);
  exit(1);
}

static void setup(void) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++)
    seed[i] = (uint8_t)i;
  if (gl_ed25519_from_seed(seed, &key) != 0)
    die("key");
  entry.kid = "meter-17";
  memcpy(entry.pub, key.pub, 32);
  keys = pr_key_table_keyring(&table);
  const char *t = "gridlet/c1/meter/meter-17/reading";
  if (pr_topic_parse(t, strlen(t), "c1", &topic, NULL) != 0)
    die("topic");
  int64_t start;
  if (gl_time_parse("2026-11-21T10:00:00Z", &start) != 0)
    die("time");
  if (pr_msg_init(&reading, PR_MSG_READING, "meter-17", 42,
                  start + 904 * GL_NS_PER_SEC) != 0)
    die("init");
  pr_reading *r = &reading.reading;
  r->start = start;
  r->end = start + 900 * GL_NS_PER_SEC;
  r->import_wh = 120;
  r->pv_wh = 310;
  r->charge_wh = 50;
  r->has_soc_bp = true;
  r->soc_bp = 6400;
  r->has_import_total_wh = r->has_export_total_wh = true;
  r->import_total_wh = 1234567;
  r->export_total_wh = 765432;
  if (pr_msg_encode(&reading, json, sizeof json, &json_len, NULL) != 0)
    die("encode");
  if (pr_seal(&reading, &key, sealed, sizeof sealed, &sealed_len, NULL) != 0)
    die("seal");
}

/* ---- Single-threaded operations ---------------------------------------- */

static void op_sign(void) {
  uint8_t sig[64];
  if (gl_ed25519_sign(&key, json, json_len, sig) != 0)
    die("sign");
  sink += sig[0];
}

static void op_verify(void) {
  pr_cose_view v;
  if (pr_cose_parse(sealed, sealed_len, PR_PAYLOAD_MAX, &v, NULL) != 0 ||
      pr_cose_verify(&v, key.pub, NULL) != 0)
    die("verify");
  sink += (int)v.payload_len;
}

static void op_encode(void) {
  static char buf[PR_PAYLOAD_MAX];
  size_t n;
  if (pr_msg_encode(&reading, buf, sizeof buf, &n, NULL) != 0)
    die("encode");
  sink += (int)n;
}

static void op_decode(void) {
  static pr_msg m;
  if (pr_msg_decode(json, json_len, PR_TYPE_BIT(PR_MSG_READING), &m, NULL) != 0)
    die("decode");
  sink += (int)m.reading.pv_wh;
}

static void op_parse(void) {
  pr_cose_view v;
  if (pr_cose_parse(sealed, sealed_len, PR_PAYLOAD_MAX, &v, NULL) != 0)
    die("parse");
  sink += (int)v.payload_len;
}

static void op_seal(void) {
  static uint8_t out[PR_SEAL_MAX];
  size_t n;
  if (pr_seal(&reading, &key, out, sizeof out, &n, NULL) != 0)
    die("seal");
  sink += (int)n;
}

static void op_open(void) {
  static pr_msg m;
  if (pr_open(sealed, sealed_len, &topic, &keys, &m, NULL, NULL) != 0)
    die("open");
  sink += (int)m.reading.pv_wh;
}

typedef struct bench_op {
  const char *name;
  void (*op)(void);
  int scale; /* batch = ops * scale: fast operations run more often */
} bench_op;

/*
 * Run every operation once per round, round after round, so that all of
 * them see the same share of a machine whose load changes while the
 * benchmark runs; then report each one's median over the rounds.
 */
static void measure_all(const bench_op *b, size_t nb) {
  static int64_t samples[16][MAX_RUNS];
  for (size_t k = 0; k < nb; k++) /* warm up */
    for (int i = 0; i < ops / 10 + 1; i++)
      b[k].op();
  for (int r = 0; r < runs; r++) {
    for (size_t k = 0; k < nb; k++) {
      int n = ops * b[k].scale;
      int64_t t0 = gb_now_ns();
      for (int i = 0; i < n; i++)
        b[k].op();
      samples[k][r] = gb_now_ns() - t0;
    }
  }
  for (size_t k = 0; k < nb; k++) {
    int n = ops * b[k].scale;
    char label[96];
    snprintf(label, sizeof label, "%-34s", b[k].name);
    gb_report(label, samples[k], (size_t)runs, n, 1e3, "us/op");
    int64_t med = gb_median(samples[k], (size_t)runs);
    printf("%-34s  = %.0f ops/s\n", "", (double)n * 1e9 / (double)med);
  }
}

/* ---- All cores --------------------------------------------------------- */

typedef struct job {
  void (*op)(void);
  int n;
  pthread_barrier_t *start;
} job;

static void op_open_local(void) {
  static _Thread_local pr_msg m;
  if (pr_open(sealed, sealed_len, &topic, &keys, &m, NULL, NULL) != 0)
    die("open");
}

static void *run_job(void *arg) {
  job *j = arg;
  pthread_barrier_wait(j->start);
  for (int i = 0; i < j->n; i++)
    j->op();
  return NULL;
}

/* One timed batch of `n` calls of `op` on each of `threads` threads. */
static int64_t run_threads(void (*op)(void), int threads, int n) {
  pthread_t th[MAX_THREADS];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  job j = {op, n, &start};
  for (int i = 0; i < threads; i++)
    if (pthread_create(&th[i], NULL, run_job, &j) != 0)
      die("thread");
  pthread_barrier_wait(&start);
  int64_t t0 = gb_now_ns();
  for (int i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  int64_t t = gb_now_ns() - t0;
  pthread_barrier_destroy(&start);
  return t;
}

/* As measure_all, with every operation on all threads at once. */
static void measure_threads(const bench_op *b, size_t nb, int threads) {
  static int64_t samples[16][MAX_RUNS];
  for (int r = 0; r < runs; r++)
    for (size_t k = 0; k < nb; k++)
      samples[k][r] = run_threads(b[k].op, threads, ops * b[k].scale);
  for (size_t k = 0; k < nb; k++) {
    int n = ops * b[k].scale;
    int64_t med = gb_median(samples[k], (size_t)runs);
    char label[96];
    snprintf(label, sizeof label, "%s, %d threads", b[k].name, threads);
    printf("%-34s: median %.0f ops/s total (%d ops per thread, %d runs)\n",
           label, (double)n * threads * 1e9 / (double)med, n, runs);
  }
}

/* Thread-safe stand-ins for the static-buffer ops above. */
static void op_verify_local(void) {
  pr_cose_view v;
  if (pr_cose_parse(sealed, sealed_len, PR_PAYLOAD_MAX, &v, NULL) != 0 ||
      pr_cose_verify(&v, key.pub, NULL) != 0)
    die("verify");
}

/* A positive integer argument, or -1. */
static int arg_int(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 10000000)
    return -1;
  return (int)v;
}

int main(int argc, char **argv) {
  if (argc > 1)
    runs = arg_int(argv[1]);
  if (argc > 2)
    ops = arg_int(argv[2]);
  if (runs < 1 || runs > MAX_RUNS || ops < 1) {
    fprintf(stderr, "usage: bench_proto [runs 1..%d] [ops-per-run]\n",
            MAX_RUNS);
    return 2;
  }
  setup();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1)
    cores = 1;
  if (cores > MAX_THREADS)
    cores = MAX_THREADS;
  printf("reading: %zu-byte JSON payload, %zu-byte COSE_Sign1 envelope\n\n",
         json_len, sealed_len);
  static const bench_op single[] = {
      {"ed25519 sign (raw, payload)", op_sign, 1},
      {"ed25519 verify (parse + verify)", op_verify, 1},
      {"cose parse", op_parse, 20},
      {"json encode (pr_msg_encode)", op_encode, 5},
      {"json decode (pr_msg_decode)", op_decode, 5},
      {"pr_seal (encode + sign)", op_seal, 1},
      {"pr_open (parse+verify+decode)", op_open, 1},
  };
  measure_all(single, sizeof single / sizeof *single);
  printf("\n");
  static const bench_op multi[] = {
      {"ed25519 verify (parse + verify)", op_verify_local, 1},
      {"pr_open", op_open_local, 1},
  };
  measure_threads(multi, sizeof multi / sizeof *multi, (int)cores);
  printf("\npeak RSS %ld KiB\n", gb_peak_rss_kib());
  return 0;
}
