/* SPDX-License-Identifier: MIT */
/*
 * gridlet-market - the researchers' command line for the market library.
 *
 *   gridlet-market clear [--rule R] [--k K] [--band FEEDIN,RETAIL] [--fee F]
 *                        [--rationing pro-rata|time] [--allow-self-trade] FILE
 *   gridlet-market gen [options] -o FILE
 *   gridlet-market replay [--stp] FILE
 *
 * A thin shell: it reads files, hands their bytes to the library's parsers
 * (market_csv.h, market_stream.h), runs the mechanism and prints the
 * result. Every rule lives in the library. See docs/market.md.
 */
#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/market.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_csv.h"
#include "gridlet/market_stream.h"
#include "gridlet/rand.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_DATA 1  /* bad input file */
#define EXIT_USAGE 2 /* bad command line */

static const char *prog = "gridlet-market";

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s clear [--rule marginal|k|mcafee|pay-as-bid] [--k K]\n"
          "                      [--band FEEDIN,RETAIL] [--fee F]\n"
          "                      [--rationing pro-rata|time] "
          "[--allow-self-trade] FILE\n"
          "       %s gen [--households N] [--intervals N] [--orders N]\n"
          "                    [--cancel SHARE] [--seed S] [--prices MIN,MAX]\n"
          "                    [--tick T] [--qty MIN,MAX] -o FILE\n"
          "       %s replay [--stp] FILE\n"
          "\n"
          "clear   clears one order book given as CSV lines "
          "side,participant,qty_wh,price\n"
          "        (prices in micro-currency per kWh) and prints "
          "\"price=P volume=V\" and the trades\n"
          "gen     writes a deterministic synthetic order stream (24-byte "
          "records)\n"
          "replay  runs an order stream through the continuous double "
          "auction and prints\n"
          "        its checksum line\n"
          "FILE may be - for standard input. See docs/market.md.\n",
          prog, prog, prog);
}

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try %s --help)\n", prog);
  return EXIT_USAGE;
}

/* Read a whole file ("-": stdin) into a malloc'd buffer. */
static int read_all(const char *path, char **out, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      fprintf(stderr, "%s: out of memory reading %s\n", prog, path);
      break;
    }
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger)
      free(buf);
    buf = bigger;
    cap *= 2;
  }
  int err = buf && ferror(f);
  if (err)
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
  if (f != stdin)
    fclose(f);
  if (!buf || err) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

/* "A,B" as two integers within [lo, hi]. */
static int parse_pair(const char *text, int64_t lo, int64_t hi, int64_t *a,
                      int64_t *b) {
  char buf[64];
  const char *comma = strchr(text, ',');
  if (!comma || (size_t)(comma - text) >= sizeof buf)
    return -1;
  memcpy(buf, text, (size_t)(comma - text));
  buf[comma - text] = '\0';
  if (gl_conf_parse_int(buf, a) || gl_conf_parse_int(comma + 1, b) || *a < lo ||
      *a > hi || *b < lo || *b > hi)
    return -1;
  return 0;
}

static int parse_range(const char *text, int64_t lo, int64_t hi, int64_t *out) {
  return gl_conf_parse_int(text, out) || *out < lo || *out > hi ? -1 : 0;
}

/* ---- clear --------------------------------------------------------------- */

typedef struct clear_ctx {
  const char *path;
  mkt_auction *auction;
} clear_ctx;

static void csv_error(void *ctx, const mkt_csv_error *e) {
  const clear_ctx *c = ctx;
  fprintf(stderr, "%s:%zu: %s\n", c->path, e->line, e->reason);
}

static int csv_order(void *ctx, const mkt_order *o) {
  clear_ctx *c = ctx;
  return mkt_auction_add(c->auction, o);
}

static int cmd_clear(int argc, char **argv) {
  static const struct option opts[] = {
      {"rule", required_argument, NULL, 'r'},
      {"k", required_argument, NULL, 'k'},
      {"band", required_argument, NULL, 'b'},
      {"fee", required_argument, NULL, 'f'},
      {"rationing", required_argument, NULL, 'a'},
      {"allow-self-trade", no_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  mkt_auction_config cfg = {.k_ppm = MKT_K_ONE / 2};
  mkt_band band = {0, 0, 0};
  bool have_band = false, have_fee = false;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int64_t v;
    switch (c) {
    case 'r':
      if (mkt_rule_parse(optarg, &cfg.rule))
        return bad_usage("unknown rule '%s' (marginal, k, mcafee, pay-as-bid)",
                         optarg);
      break;
    case 'k':
      if (gl_conf_parse_decimal(optarg, 6, &v) || v < 0 || v > MKT_K_ONE)
        return bad_usage("--k must be a number in [0, 1], got '%s'", optarg);
      cfg.k_ppm = (int32_t)v;
      break;
    case 'b':
      if (parse_pair(optarg, -MKT_PRICE_MAX, MKT_PRICE_MAX, &band.feed_in,
                     &band.retail) ||
          band.feed_in > band.retail)
        return bad_usage("--band must be FEEDIN,RETAIL in micro-currency per "
                         "kWh with FEEDIN <= RETAIL, got '%s'",
                         optarg);
      have_band = true;
      break;
    case 'f':
      if (parse_range(optarg, 0, MKT_PRICE_MAX, &band.fee))
        return bad_usage("--fee must be an integer 0..1000000000 "
                         "(micro-currency per kWh), got '%s'",
                         optarg);
      have_fee = true;
      break;
    case 'a':
      if (mkt_rationing_parse(optarg, &cfg.rationing))
        return bad_usage("unknown rationing '%s' (pro-rata, time)", optarg);
      break;
    case 's':
      cfg.allow_self_trade = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1)
    return bad_usage("clear needs exactly one FILE%s", "");
  if (have_fee && !have_band)
    return bad_usage("--fee needs --band%s", "");
  if (have_band)
    cfg.band = &band;
  const char *path = argv[optind];
  char *buf;
  size_t len;
  if (read_all(path, &buf, &len))
    return EXIT_DATA;
  size_t lines = mkt_csv_count_lines(buf, len);
  mkt_auction *a = NULL;
  int rc = mkt_auction_new(lines ? lines : 1, &a);
  if (rc) {
    fprintf(stderr, "%s: %s\n", prog, gl_strerror(rc));
    free(buf);
    return EXIT_DATA;
  }
  clear_ctx ctx = {path, a};
  size_t errors = 0;
  rc = mkt_csv_parse(buf, len, 0, csv_order, csv_error, &ctx, &errors);
  free(buf);
  if (rc) {
    if (errors)
      fprintf(stderr, "%s: %zu malformed line%s in %s; nothing cleared\n", prog,
              errors, errors == 1 ? "" : "s", path);
    else
      fprintf(stderr, "%s: %s: %s\n", prog, path, gl_strerror(rc));
    mkt_auction_free(a);
    return EXIT_DATA;
  }
  mkt_clearing cl;
  rc = mkt_auction_clear(a, &cfg, &cl);
  if (rc) {
    fprintf(stderr, "%s: cannot clear %s: %s\n", prog, path, gl_strerror(rc));
    mkt_auction_free(a);
    return EXIT_DATA;
  }
  if (cl.volume == 0)
    printf("price=none volume=0\n");
  else if (cl.buy_price != cl.sell_price)
    printf("price=%" PRId64 " volume=%" PRId64 " buy_price=%" PRId64
           " sell_price=%" PRId64 "\n",
           cl.price, cl.volume, cl.buy_price, cl.sell_price);
  else
    printf("price=%" PRId64 " volume=%" PRId64 "\n", cl.price, cl.volume);
  size_t nt;
  const mkt_trade *t = mkt_auction_trades(a, &nt);
  for (size_t i = 0; i < nt; i++) {
    printf("trade buy_line=%" PRIu64 " sell_line=%" PRIu64 " buyer=%" PRIu32
           " seller=%" PRIu32 " qty=%" PRId64,
           t[i].buy_id, t[i].sell_id, t[i].buyer, t[i].seller, t[i].qty);
    if (t[i].buy_price != t[i].sell_price)
      printf(" buy_price=%" PRId64 " sell_price=%" PRId64, t[i].buy_price,
             t[i].sell_price);
    else
      printf(" price=%" PRId64, t[i].buy_price);
    if (have_band && band.fee > 0) {
      mkt_money_split m;
      if (mkt_trade_money(&t[i], band.fee, &m) == 0)
        printf(" fee=%" PRId64, m.fee);
    }
    printf("\n");
  }
  mkt_auction_free(a);
  return fflush(stdout) == 0 ? 0 : EXIT_DATA;
}

/* ---- gen ----------------------------------------------------------------- */

static int cmd_gen(int argc, char **argv) {
  static const struct option opts[] = {
      {"households", required_argument, NULL, 'H'},
      {"intervals", required_argument, NULL, 'I'},
      {"orders", required_argument, NULL, 'O'},
      {"cancel", required_argument, NULL, 'c'},
      {"seed", required_argument, NULL, 'S'},
      {"prices", required_argument, NULL, 'p'},
      {"tick", required_argument, NULL, 't'},
      {"qty", required_argument, NULL, 'q'},
      {"output", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  mkt_gen_config cfg = {.cancel_ppm = 100000};
  int64_t seed = 1, v, w;
  const char *path = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'H':
    case 'I':
    case 'O':
    case 't':
      if (parse_range(optarg, 1, UINT32_MAX, &v))
        return bad_usage("expected a positive integer, got '%s'", optarg);
      if (c == 'H')
        cfg.households = (uint32_t)v;
      else if (c == 'I')
        cfg.intervals = (uint32_t)v;
      else if (c == 'O')
        cfg.orders = (uint32_t)v;
      else
        cfg.price_tick = (uint32_t)v;
      break;
    case 'c':
      if (gl_conf_parse_decimal(optarg, 6, &v) || v < 0 || v > 1000000)
        return bad_usage("--cancel must be a share in [0, 1], got '%s'",
                         optarg);
      cfg.cancel_ppm = (uint32_t)v;
      break;
    case 'S':
      if (gl_conf_parse_int(optarg, &seed))
        return bad_usage("--seed must be an integer, got '%s'", optarg);
      break;
    case 'p':
      if (parse_pair(optarg, 0, MKT_PRICE_MAX, &v, &w) || v > w)
        return bad_usage("--prices must be MIN,MAX, got '%s'", optarg);
      cfg.price_min = (uint32_t)v;
      cfg.price_max = (uint32_t)w;
      break;
    case 'q':
      if (parse_pair(optarg, 1, MKT_QTY_MAX, &v, &w) || v > w)
        return bad_usage("--qty must be MIN,MAX Wh, got '%s'", optarg);
      cfg.qty_min = (uint32_t)v;
      cfg.qty_max = (uint32_t)w;
      break;
    case 'o':
      path = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      return EXIT_USAGE;
    }
  }
  if (!path || optind != argc)
    return bad_usage("gen needs -o FILE and no other arguments%s", "");
  gl_seeded_rand *sr = gl_seeded_rand_new((uint64_t)seed);
  gl_rand rand = gl_seeded_rand_rand(sr);
  mkt_gen *g = NULL;
  int rc = sr ? mkt_gen_new(&cfg, &rand, &g) : GL_ENOMEM;
  FILE *f = NULL;
  if (!rc) {
    f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f)
      fprintf(stderr, "%s: cannot create %s: %s\n", prog, path,
              strerror(errno));
  } else {
    fprintf(stderr, "%s: %s\n", prog, gl_strerror(rc));
  }
  uint64_t n = 0;
  mkt_stream_rec r;
  int more = 0;
  while (f && (more = mkt_gen_next(g, &r)) == 1) {
    uint8_t rec[MKT_STREAM_REC_SIZE];
    mkt_stream_encode(&r, rec);
    if (fwrite(rec, sizeof rec, 1, f) != 1)
      break;
    n++;
  }
  int failed = !f || more != 0 || ferror(f);
  if (f && f != stdout && fclose(f) != 0)
    failed = 1;
  if (f && failed)
    fprintf(stderr, "%s: writing %s failed\n", prog, path);
  else if (f)
    fprintf(stderr, "%s: wrote %" PRIu64 " records to %s\n", prog, n, path);
  mkt_gen_free(g);
  gl_seeded_rand_free(sr);
  return failed ? EXIT_DATA : 0;
}

/* ---- replay -------------------------------------------------------------- */

static int cmd_replay(int argc, char **argv) {
  static const struct option opts[] = {
      {"stp", no_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool stp = false;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 's':
      stp = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1)
    return bad_usage("replay needs exactly one FILE%s", "");
  const char *path = argv[optind];
  char *buf;
  size_t len, bad = 0;
  if (read_all(path, &buf, &len))
    return EXIT_DATA;
  size_t n = len / MKT_STREAM_REC_SIZE;
  mkt_stream_rec *recs = malloc((n ? n : 1) * sizeof *recs);
  int rc = recs ? mkt_stream_decode_all((const uint8_t *)buf, len, recs, &bad)
                : GL_ENOMEM;
  free(buf);
  if (rc == GL_EPARSE) {
    if (bad == n)
      fprintf(stderr,
              "%s: %s: %zu bytes is not a whole number of %d-byte "
              "records\n",
              prog, path, len, MKT_STREAM_REC_SIZE);
    else
      fprintf(stderr, "%s: %s: record %zu (byte offset %zu) is malformed\n",
              prog, path, bad, bad * MKT_STREAM_REC_SIZE);
    free(recs);
    return EXIT_DATA;
  }
  mkt_stream_info info;
  mkt_replay *r = NULL;
  mkt_replay_stats st;
  if (!rc)
    rc = mkt_stream_scan(recs, n, &info);
  if (!rc)
    rc = mkt_replay_new(&info, stp, &r);
  if (!rc)
    rc = mkt_replay_run(r, recs, n, &st);
  free(recs);
  mkt_replay_free(r);
  if (rc) {
    fprintf(stderr, "%s: cannot replay %s: %s\n", prog, path, gl_strerror(rc));
    return EXIT_DATA;
  }
  char line[256];
  mkt_replay_checksum(&st, line, sizeof line);
  printf("events=%" PRIu64 " adds=%" PRIu64 " rejected=%" PRIu64
         " cancels=%" PRIu64 " cancel_misses=%" PRIu64 " closes=%" PRIu64 "\n",
         st.events, st.adds, st.rejected, st.cancels, st.cancel_misses,
         st.closes);
  printf("%s\n", line);
  return fflush(stdout) == 0 ? 0 : EXIT_DATA;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  /* Each subcommand parses its own options from argv[1] on. */
  if (strcmp(cmd, "clear") == 0)
    return cmd_clear(argc - 1, argv + 1);
  if (strcmp(cmd, "gen") == 0)
    return cmd_gen(argc - 1, argv + 1);
  if (strcmp(cmd, "replay") == 0)
    return cmd_replay(argc - 1, argv + 1);
  return bad_usage("unknown command '%s' (clear, gen, replay)", cmd);
}
