/* SPDX-License-Identifier: MIT */
/*
 * bench_agg_interval - clearing + settlement + ledger append of one
 * delivery interval of 10,000 meters, through the aggregator's market
 * cycle (agg_market: the shared market_interval pipeline, the ledger
 * append of the reading digests, clearing and settlement entries in one
 * SQLite transaction with the settlements, trades and balances, on a
 * file with synchronous=FULL), then the checkpoint and the signing of the
 * 10,000 results on all cores, each timed on its own.
 *
 *   bench_agg_interval [runs] [meters] [mode]
 *
 * Readings go straight into the store (this measures the settlement, not
 * ingest: bench_agg_ingest does that); a third of the meters have
 * standing limits. Medians over `runs` intervals (default 7).
 */
#include "benchutil.h"

#include "gridlet/agg_config.h"
#include "gridlet/agg_market.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_store.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS 64

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_agg_interval: %s: %s\n", what, gl_strerror(rc));
  exit(1);
}

static int arg(const char *s, int lo, int hi, int def) {
  if (!s)
    return def;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < lo || v > hi) {
    fprintf(stderr, "usage: bench_agg_interval [runs] [meters] [mode]\n");
    exit(2);
  }
  return (int)v;
}

int main(int argc, char **argv) {
  int runs = arg(argc > 1 ? argv[1] : NULL, 1, MAX_RUNS, 7);
  int meters = arg(argc > 2 ? argv[2] : NULL, 1, 100000, 10000);
  const char *mode = argc > 3 ? argv[3] : "expost";
  gl_log_set_level(GL_LOG_WARN);
  char dir[] = "bench_agg_interval.XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp", GL_EIO);
  agg_config cfg;
  agg_config_defaults(&cfg);
  snprintf(cfg.community, sizeof cfg.community, "bench");
  snprintf(cfg.db_path, sizeof cfg.db_path, "%s/agg.db", dir);
  cfg.http_listen[0] = '\0';
  if (mkt_mode_parse(mode, (mkt_mode *)&cfg.mode) != 0 ||
      cfg.mode == MKT_MODE_CONTINUOUS) {
    fprintf(stderr, "mode: expost or exante\n");
    return 2;
  }
  if (agg_config_check(&cfg, NULL) != 0)
    die("config", GL_ECONFIG);
  int64_t t0 = INT64_C(1782036000000000000); /* 2026-06-21T10:00:00Z */
  gl_manual_clock *mc = gl_manual_clock_new(t0);
  gl_clock clock = gl_manual_clock_clock(mc), real = gl_clock_real();
  gl_seeded_rand *sr = gl_seeded_rand_new(1);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer log_key;
  gl_ed25519_key agg_key;
  int rc = lg_signer_generate(cfg.origin, LG_SIG_ED25519, &r, &log_key);
  if (rc == 0)
    rc = gl_ed25519_generate(&r, &agg_key);
  agg_store *st = NULL;
  if (rc == 0)
    rc = agg_store_open(cfg.db_path, true, false, &st);
  if (rc)
    die("setup", rc);
  /* Enrol the meters (their certificates are not needed here). */
  if ((rc = agg_store_begin(st)))
    die("begin", rc);
  for (int i = 0; i < meters && rc == 0; i++) {
    agg_meter_rec m = {.state = AGG_METER_ACTIVE,
                       .not_after = INT64_MAX,
                       .cert = (const uint8_t *)"\x30\x00",
                       .cert_len = 2,
                       .logged = AGG_LOGGED_ENROL};
    snprintf(m.id, sizeof m.id, "h%05d", i);
    snprintf(m.serial, sizeof m.serial, "%x", i + 1);
    gl_rand_fill(&r, m.pub, 32);
    rc = agg_store_meter_put(st, &m);
  }
  if (rc == 0)
    rc = agg_store_commit(st);
  agg_meters *ms = NULL;
  agg_outbox *ob = NULL;
  agg_market *mk = NULL;
  if (rc == 0)
    rc = agg_meters_new(&clock, &ms);
  if (rc == 0)
    rc = agg_meters_load(ms, st, NULL, NULL);
  if (rc == 0)
    rc = agg_outbox_new(st, NULL, &ob);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  agg_market_deps md = {.cfg = &cfg,
                        .st = st,
                        .meters = ms,
                        .outbox = ob,
                        .clock = &clock,
                        .real = &real,
                        .log_key = &log_key,
                        .agg_key = &agg_key,
                        .threads = (size_t)(cores > 0 ? cores : 1)};
  if (rc == 0)
    rc = agg_market_new(&md, &mk);
  if (rc == 0)
    rc = agg_market_start(mk);
  if (rc)
    die("market", rc);
  agg_market_online(mk, 0);
  /* Standing limits for a third of the meters. */
  if ((rc = agg_store_begin(st)))
    die("begin", rc);
  for (int i = 0; i < meters && rc == 0; i += 3) {
    uint64_t b, s;
    gl_rand_below(&r, 150000, &b);
    gl_rand_below(&r, 150000, &s);
    agg_prefs_rec p = {.seq = 1,
                       .effective = t0,
                       .has_buy = true,
                       .buy = 150000 + (int64_t)b,
                       .has_sell = true,
                       .sell = 80000 + (int64_t)s};
    snprintf(p.meter, sizeof p.meter, "h%05d", i);
    rc = agg_store_prefs_put(st, &p);
    if (rc == 0)
      rc = agg_market_prefs(mk, &p);
  }
  if (rc == 0)
    rc = agg_store_commit(st);
  if (rc)
    die("prefs", rc);
  int64_t settle[MAX_RUNS], cp[MAX_RUNS], res[MAX_RUNS];
  size_t entries = 0;
  int64_t L = cfg.interval;
  for (int k = 0; k < runs; k++) {
    int64_t s = t0 + k * L;
    gl_manual_clock_set(mc, s - 10 * GL_NS_PER_SEC * 60);
    if ((rc = agg_store_begin(st)))
      die("begin", rc);
    for (int i = 0; i < meters && rc == 0; i++) {
      uint64_t v, side;
      gl_rand_below(&r, 3000, &v);
      gl_rand_below(&r, 2, &side);
      agg_reading_rec rd = {.interval = s,
                            .seq = k + 2,
                            .import_wh = side ? (int64_t)v : 0,
                            .export_wh = side ? 0 : (int64_t)v,
                            .ledger_index = -1};
      snprintf(rd.meter, sizeof rd.meter, "h%05d", i);
      gl_rand_fill(&r, rd.digest, 32);
      rc = agg_store_reading_put(st, &rd);
      if (cfg.mode == MKT_MODE_EXANTE && rc == 0) {
        agg_order_rec o = {.interval = s,
                           .seq = k + 100,
                           .rx = (int64_t)k * meters + i + 1,
                           .nsteps = 1};
        snprintf(o.meter, sizeof o.meter, "h%05d", i);
        o.steps[0].side = side ? PR_SIDE_BUY : PR_SIDE_SELL;
        o.steps[0].wh = (int64_t)v + 1;
        gl_rand_below(&r, 220000, &v);
        o.steps[0].price = 80000 + (int64_t)v;
        rc = agg_store_order_put(st, &o);
      }
      agg_market_reading(mk, s);
    }
    if (rc == 0)
      rc = agg_store_commit(st);
    if (rc)
      die("readings", rc);
    gl_manual_clock_set(mc, s + L + GL_NS_PER_SEC);
    int n = 0;
    if ((rc = agg_market_reserve_seqs(mk, meters + 10)) ||
        (rc = agg_market_tick(mk, s + L + GL_NS_PER_SEC, true, &n)) || n != 1)
      die("settle", rc ? rc : GL_EINTERNAL);
    agg_market_timing tm;
    agg_market_last_timing(mk, &tm);
    settle[k] = tm.settle_ns;
    cp[k] = tm.checkpoint_ns;
    res[k] = tm.results_ns;
    entries = tm.entries;
  }
  printf("interval of %d meters (%s, %zu ledger entries each), %d runs, "
         "%ld cores, SQLite synchronous=FULL on %s\n",
         meters, mode, entries, runs, cores, dir);
  gb_report("clearing + settlement + ledger append (one transaction)", settle,
            (size_t)runs, 1, 1e6, "ms");
  gb_report("checkpoint (sign + store)", cp, (size_t)runs, 1, 1e6, "ms");
  gb_report("results signed and queued (all cores)", res, (size_t)runs, 1, 1e6,
            "ms");
  printf("peak RSS %ld KiB\n", gb_peak_rss_kib());
  agg_market_free(mk);
  agg_outbox_free(ob);
  agg_meters_free(ms);
  agg_store_free(st);
  gl_seeded_rand_free(sr);
  gl_manual_clock_free(mc);
  char p[128];
  static const char *const files[] = {"agg.db", "agg.db-wal", "agg.db-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  rmdir(dir);
  return 0;
}
