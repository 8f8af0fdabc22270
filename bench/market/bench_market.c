/* SPDX-License-Identifier: MIT */
/*
 * bench_market - continuous double auction throughput on an order stream
 * (docs/market.md, "Benchmarks").
 *
 *   bench_market [--stream FILE] [--households N] [--intervals N]
 *                [--orders N] [--cancel SHARE] [--seed S] [--repeats R]
 *                [--max-exp E] [--no-growth]
 *
 * Without --stream it generates the stream: 10,000 households x 96
 * intervals x 2 orders, 10 % cancels, seed 1 (the same bytes as
 * `gridlet-market gen`). The stream is loaded and decoded first; only the
 * engine is timed, with one monotonic clock pair around the whole stream,
 * repeated; it prints the median and range per event, the peak RSS and the
 * checksum line (identical on every repetition, or the run aborts). Then
 * the growth table: one interval of 10^2 .. 10^E adds (E = 6 by default;
 * --max-exp 7 adds 10^7). Each figure is also given in process CPU time,
 * which time-slicing on a shared machine does not inflate. The replay
 * inlines the book's add and folds fills into the checksum; the stream is
 * also run through the public API (mkt_cda_add with a trade callback, one
 * call per record), which must give the same checksum, to show that cost.
 */
#include "benchutil.h"

#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_stream.h"
#include "gridlet/rand.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPEATS 101

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_market: %s: %s\n", what, gl_strerror(rc));
  exit(1);
}

/* Generate a stream with the library's generator. */
static mkt_stream_rec *generate(const mkt_gen_config *cfg, uint64_t seed,
                                size_t *n) {
  gl_seeded_rand *sr = gl_seeded_rand_new(seed);
  gl_rand rand = gl_seeded_rand_rand(sr);
  mkt_gen *g;
  int rc = sr ? mkt_gen_new(cfg, &rand, &g) : GL_ENOMEM;
  if (rc)
    die("generator", rc);
  size_t cap = (size_t)mkt_gen_adds(g) + (size_t)mkt_gen_adds(g) / 8 + 1024;
  mkt_stream_rec *recs = malloc(cap * sizeof *recs);
  size_t k = 0;
  for (;;) {
    if (!recs)
      die("generate", GL_ENOMEM);
    if (k == cap) {
      cap *= 2;
      mkt_stream_rec *more = realloc(recs, cap * sizeof *recs);
      if (!more)
        free(recs);
      recs = more;
      continue;
    }
    rc = mkt_gen_next(g, &recs[k]);
    if (rc < 0)
      die("generate", rc);
    if (rc == 0)
      break;
    k++;
  }
  mkt_gen_free(g);
  gl_seeded_rand_free(sr);
  *n = k;
  return recs;
}

static mkt_stream_rec *load(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
  size_t got = buf ? fread(buf, 1, (size_t)len, f) : 0;
  fclose(f);
  *n = got / MKT_STREAM_REC_SIZE;
  mkt_stream_rec *recs = malloc((*n ? *n : 1) * sizeof *recs);
  size_t bad;
  if (!buf || !recs || got != (size_t)len)
    die(path, GL_EIO);
  if (mkt_stream_decode_all(buf, got, recs, &bad)) {
    fprintf(stderr, "bench_market: %s: record %zu is malformed\n", path, bad);
    exit(1);
  }
  free(buf);
  return recs;
}

/* The replay checksum's fold, as a trade callback of the public API. */
static void fold_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  mkt_replay_stats *st = ctx;
  uint64_t in = aggressor == MKT_BUY ? t->buy_id : t->sell_id;
  uint64_t rest = aggressor == MKT_BUY ? t->sell_id : t->buy_id;
  uint64_t qty = (uint64_t)t->qty, price = (uint64_t)t->buy_price;
  const uint64_t prime = UINT64_C(1099511628211);
  uint64_t h = st->hash;
  h = (h ^ in) * prime;
  h = (h ^ rest) * prime;
  h = (h ^ qty) * prime;
  h = (h ^ price) * prime;
  st->hash = h;
  st->trades++;
  st->qty += qty;
  st->cost += qty * price;
}

/*
 * The same stream through the public API, as the aggregator drives a book:
 * mkt_cda_add with a trade callback, mkt_cda_cancel, mkt_cda_close and
 * mkt_cda_reopen on one book (streams that keep one interval open at a time
 * only). The replay's loop inlines the add and folds fills without a call;
 * this shows what the callback and the call per record cost. The checksum
 * must come out the same as the replay's, `want`.
 */
static void run_api(const char *name, const mkt_stream_rec *recs, size_t n,
                    int repeats, const char *want) {
  mkt_stream_info info;
  int rc = mkt_stream_scan(recs, n, &info);
  if (rc)
    die("scan", rc);
  if (info.max_open > 1) {
    printf("%s: skipped (the stream keeps several intervals open)\n", name);
    return;
  }
  mkt_replay_stats st;
  mkt_cda_config cfg = {
      .capacity = info.max_adds_open ? info.max_adds_open : 1,
      .price_min = info.price_min,
      .price_max = info.price_max,
      .tick = info.price_tick,
      .allow_self_trade = true,
      .sink = {.trade = fold_trade, .ctx = &st},
  };
  mkt_cda *b;
  if ((rc = mkt_cda_new(&cfg, &b)) || (rc = mkt_cda_close(b, NULL)))
    die("book", rc);
  int64_t samples[MAX_REPEATS], cpu[MAX_REPEATS];
  for (int i = 0; i < repeats; i++) {
    memset(&st, 0, sizeof st);
    st.hash = UINT64_C(1469598103934665603);
    bool open = false;
    int64_t c0 = gb_cpu_ns(), t0 = gb_now_ns();
    for (size_t k = 0; k < n; k++) {
      const mkt_stream_rec *e = &recs[k];
      if (e->type == 'A') {
        if (!open) {
          (void)mkt_cda_reopen(b, e->interval); /* closed: fine */
          open = true;
        }
        mkt_order o = {
            e->id,       e->participant, e->side == 'S' ? MKT_SELL : MKT_BUY,
            e->interval, e->qty,         e->price};
        (void)mkt_cda_add(b, &o, NULL); /* generated: always accepted */
      } else if (e->type == 'X') {
        if (open)
          (void)mkt_cda_cancel(b, e->id, NULL);
      } else if (e->type == 'E' && open) {
        size_t resting;
        (void)mkt_cda_close(b, &resting);
        st.resting_at_close += resting;
        open = false;
      }
    }
    if (open) {
      size_t resting;
      (void)mkt_cda_close(b, &resting);
      st.resting_at_close += resting;
    }
    int64_t t1 = gb_now_ns(), c1 = gb_cpu_ns();
    samples[i] = t1 - t0;
    cpu[i] = c1 - c0;
    char line[256];
    mkt_replay_checksum(&st, line, sizeof line);
    if (strcmp(line, want) != 0) {
      fprintf(stderr,
              "bench_market: the public API's checksum differs:\n%s\n%s\n",
              line, want);
      exit(1);
    }
  }
  gb_report(name, samples, (size_t)repeats, (double)n, 1.0, "ns/event");
  char cpu_name[160];
  snprintf(cpu_name, sizeof cpu_name, "%s (cpu time)", name);
  gb_report(cpu_name, cpu, (size_t)repeats, (double)n, 1.0, "ns/event");
  mkt_cda_free(b);
}

/* Replay `recs` `repeats` times; report per event; the checksum line goes
 * to `sum` (room for 256 bytes) if not NULL. */
static void run(const char *name, const mkt_stream_rec *recs, size_t n,
                int repeats, bool verbose, char *sum) {
  mkt_stream_info info;
  mkt_replay *r;
  int rc = mkt_stream_scan(recs, n, &info);
  if (!rc)
    rc = mkt_replay_new(&info, false, &r);
  if (rc)
    die("replay", rc);
  int64_t samples[MAX_REPEATS], cpu[MAX_REPEATS];
  mkt_replay_stats first, st;
  char line[256], again[256];
  for (int i = 0; i < repeats; i++) {
    int64_t c0 = gb_cpu_ns(), t0 = gb_now_ns();
    rc = mkt_replay_run(r, recs, n, &st);
    int64_t t1 = gb_now_ns(), c1 = gb_cpu_ns();
    if (rc)
      die("replay", rc);
    samples[i] = t1 - t0;
    cpu[i] = c1 - c0;
    if (i == 0) {
      first = st;
      mkt_replay_checksum(&first, line, sizeof line);
    } else {
      mkt_replay_checksum(&st, again, sizeof again);
      if (strcmp(line, again) != 0) {
        fprintf(stderr,
                "bench_market: checksum differs between runs:\n%s\n%s\n", line,
                again);
        exit(1);
      }
    }
  }
  if (verbose)
    printf("events=%" PRIu64 " adds=%" PRIu64 " cancels=%" PRIu64
           " cancel_misses=%" PRIu64 " closes=%" PRIu64 "\n",
           first.events, first.adds, first.cancels, first.cancel_misses,
           first.closes);
  gb_report(name, samples, (size_t)repeats, (double)n, 1.0, "ns/event");
  /* CPU time too: the machine is shared, and time-slicing shows in the
   * wall clock but not here. */
  char cpu_name[160];
  snprintf(cpu_name, sizeof cpu_name, "%s (cpu time)", name);
  gb_report(cpu_name, cpu, (size_t)repeats, (double)n, 1.0, "ns/event");
  if (verbose) {
    printf("peak RSS: %ld KiB\n", gb_peak_rss_kib());
    printf("%s\n", line);
  }
  if (sum)
    snprintf(sum, 256, "%s", line);
  mkt_replay_free(r);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"stream", required_argument, NULL, 'f'},
      {"households", required_argument, NULL, 'H'},
      {"intervals", required_argument, NULL, 'I'},
      {"orders", required_argument, NULL, 'O'},
      {"cancel", required_argument, NULL, 'c'},
      {"seed", required_argument, NULL, 'S'},
      {"repeats", required_argument, NULL, 'r'},
      {"max-exp", required_argument, NULL, 'e'},
      {"no-growth", no_argument, NULL, 'g'},
      {NULL, 0, NULL, 0},
  };
  const char *path = NULL;
  mkt_gen_config cfg = {.cancel_ppm = 100000};
  int64_t seed = 1, repeats = 11, max_exp = 6, v;
  bool growth = true;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'f' || c == 'g') {
      if (c == 'f')
        path = optarg;
      else
        growth = false;
      continue;
    }
    if (c == '?' ||
        (c == 'c' ? gl_conf_parse_decimal(optarg, 6, &v)
                  : gl_conf_parse_int(optarg, &v)) ||
        v < 0) {
      fprintf(stderr, "usage: see the comment at the top of bench_market.c\n");
      return 2;
    }
    switch (c) {
    case 'H':
      cfg.households = (uint32_t)v;
      break;
    case 'I':
      cfg.intervals = (uint32_t)v;
      break;
    case 'O':
      cfg.orders = (uint32_t)v;
      break;
    case 'c':
      cfg.cancel_ppm = (uint32_t)v;
      break;
    case 'S':
      seed = v;
      break;
    case 'r':
      repeats = v < 1 ? 1 : v > MAX_REPEATS ? MAX_REPEATS : v;
      break;
    case 'e':
      max_exp = v < 2 ? 2 : v > 8 ? 8 : v;
      break;
    }
  }

  size_t n;
  mkt_stream_rec *recs;
  if (path) {
    recs = load(path, &n);
    printf("stream: %s, %zu events\n", path, n);
  } else {
    recs = generate(&cfg, (uint64_t)seed, &n);
    printf("stream: generated households=%u intervals=%u orders=%u "
           "cancel=%.3f seed=%" PRId64 ", %zu events\n",
           cfg.households ? cfg.households : 10000,
           cfg.intervals ? cfg.intervals : 96, cfg.orders ? cfg.orders : 2,
           cfg.cancel_ppm / 1e6, seed, n);
  }
  char sum[256];
  run("cda", recs, n, (int)repeats, true, sum);
  run_api("cda via mkt_cda_add and callbacks", recs, n, (int)repeats, sum);
  free(recs);

  if (growth) {
    printf("\ngrowth: one interval of N adds (households N/2 x 2 orders, 10 %% "
           "cancels)\n");
    size_t adds = 100;
    for (int e = 2; e <= max_exp; e++, adds *= 10) {
      mkt_gen_config g = {.households = (uint32_t)(adds / 2),
                          .intervals = 1,
                          .orders = 2,
                          .cancel_ppm = 100000};
      recs = generate(&g, (uint64_t)seed, &n);
      char name[64];
      snprintf(name, sizeof name, "cda N=1e%d (%zu events)", e, n);
      /* Small streams are repeated more: each run is short. */
      int reps = e <= 4 ? 101 : e == 5 ? 31 : (int)repeats;
      run(name, recs, n, reps, false, NULL);
      free(recs);
    }
  }
  return 0;
}
