/* SPDX-License-Identifier: MIT */
/*
 * bench_market_auction - call-auction clearing time against book size
 * (docs/market.md, "Benchmarks").
 *
 *   bench_market_auction [--max-exp E] [--repeats R] [--seed S]
 *
 * For N = 10^2 .. 10^E orders (E = 6 by default; --max-exp 7 adds 10^7,
 * about 2 GB of memory) it generates one interval of N adds with the
 * stream generator (N/2 households x 2 orders, prices on a 100 µ/kWh grid
 * in [80000, 300000], 1..2000 Wh, no cancels), adds them to one auction,
 * then times mkt_auction_clear alone, repeated, and prints the median and
 * range (and the median in process CPU time, which time-slicing on a
 * shared machine does not inflate): with self-trade prevention off and on,
 * and at the largest size for every price rule. Adding the orders is timed
 * separately.
 */
#include "benchutil.h"

#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_stream.h"
#include "gridlet/rand.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_REPEATS 101

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_market_auction: %s: %s\n", what, gl_strerror(rc));
  exit(1);
}

/* One interval of n adds as orders. */
static mkt_order *make_orders(size_t n, uint64_t seed) {
  gl_seeded_rand *sr = gl_seeded_rand_new(seed);
  gl_rand rand = gl_seeded_rand_rand(sr);
  mkt_gen_config cfg = {
      .households = (uint32_t)(n / 2), .intervals = 1, .orders = 2};
  mkt_gen *g;
  int rc = sr ? mkt_gen_new(&cfg, &rand, &g) : GL_ENOMEM;
  if (rc)
    die("generator", rc);
  mkt_order *o = malloc(n * sizeof *o);
  if (!o)
    die("orders", GL_ENOMEM);
  size_t k = 0;
  mkt_stream_rec r;
  while ((rc = mkt_gen_next(g, &r)) == 1)
    if (r.type == 'A' && k < n)
      o[k++] =
          (mkt_order){r.id, r.participant, r.side == 'S' ? MKT_SELL : MKT_BUY,
                      0,    r.qty,         r.price};
  if (rc < 0 || k != n)
    die("generate", rc ? rc : GL_EINTERNAL);
  mkt_gen_free(g);
  gl_seeded_rand_free(sr);
  return o;
}

static void time_clear(mkt_auction *a, const mkt_auction_config *cfg,
                       const char *name, size_t n, int repeats) {
  int64_t samples[MAX_REPEATS], cpu[MAX_REPEATS];
  mkt_clearing c;
  for (int i = 0; i < repeats; i++) {
    int64_t c0 = gb_cpu_ns(), t0 = gb_now_ns();
    int rc = mkt_auction_clear(a, cfg, &c);
    int64_t t1 = gb_now_ns(), c1 = gb_cpu_ns();
    if (rc)
      die("clear", rc);
    samples[i] = t1 - t0;
    cpu[i] = c1 - c0;
  }
  char label[128];
  snprintf(label, sizeof label, "%s N=%zu (volume %" PRId64 " Wh, %zu trades)",
           name, n, c.volume, c.trades);
  gb_report(label, samples, (size_t)repeats, 1.0, 1e6, "ms");
  printf("    = %.1f ns/order; cpu time median %.3f ms\n",
         (double)gb_median(samples, (size_t)repeats) / (double)n,
         (double)gb_median(cpu, (size_t)repeats) / 1e6);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"max-exp", required_argument, NULL, 'e'},
      {"repeats", required_argument, NULL, 'r'},
      {"seed", required_argument, NULL, 'S'},
      {NULL, 0, NULL, 0},
  };
  int64_t max_exp = 6, repeats = 11, seed = 1, v;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == '?' || gl_conf_parse_int(optarg, &v) || v < 1) {
      fprintf(stderr, "usage: bench_market_auction [--max-exp E] "
                      "[--repeats R] [--seed S]\n");
      return 2;
    }
    if (c == 'e')
      max_exp = v < 2 ? 2 : v > 8 ? 8 : v;
    else if (c == 'r')
      repeats = v > MAX_REPEATS ? MAX_REPEATS : v;
    else
      seed = v;
  }
  size_t n = 100;
  for (int e = 2; e <= max_exp; e++, n *= 10) {
    mkt_order *o = make_orders(n, (uint64_t)seed);
    mkt_auction *a;
    int rc = mkt_auction_new(n, &a);
    if (rc)
      die("auction", rc);
    int64_t t0 = gb_now_ns();
    for (size_t i = 0; i < n; i++)
      if ((rc = mkt_auction_add(a, &o[i])))
        die("add", rc);
    int64_t t1 = gb_now_ns();
    printf("N=1e%d: add %.1f ns/order\n", e, (double)(t1 - t0) / (double)n);
    int reps = e <= 4 ? MAX_REPEATS : e == 5 ? 31 : (int)repeats;
    if (e >= 7 && reps > 5)
      reps = 5;
    mkt_auction_config off = {.allow_self_trade = true}, on = {0};
    time_clear(a, &off, "  marginal, no STP", n, reps);
    time_clear(a, &on, "  marginal, STP   ", n, reps);
    if (e == max_exp) {
      mkt_auction_config
          k = {.rule = MKT_RULE_K, .k_ppm = 500000, .allow_self_trade = true},
          mc = {.rule = MKT_RULE_MCAFEE, .allow_self_trade = true},
          pab = {.rule = MKT_RULE_PAY_AS_BID, .allow_self_trade = true},
          time = {.rationing = MKT_RATION_TIME, .allow_self_trade = true};
      time_clear(a, &k, "  k=0.5, no STP   ", n, reps);
      time_clear(a, &mc, "  mcafee, no STP  ", n, reps);
      time_clear(a, &pab, "  pay-as-bid, no STP", n, reps);
      time_clear(a, &time, "  marginal time-priority, no STP", n, reps);
    }
    mkt_auction_free(a);
    free(o);
  }
  printf("peak RSS: %ld KiB\n", gb_peak_rss_kib());
  return 0;
}
