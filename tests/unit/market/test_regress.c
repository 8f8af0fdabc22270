/* SPDX-License-Identifier: MIT */
/*
 * Regression digests: seeded random scenarios run through the continuous
 * double auction, the call auction and the stream replay, and every output
 * (return codes, results, trades and their order, prevented self-trades,
 * residues, depth, fills, checksums) folded into one FNV-1a digest per
 * scenario family. The expected digests were recorded with the engine as it
 * was before its speed work (the straightforward implementation whose
 * correctness the property tests establish), so any change of any result,
 * on any machine (the tests also run on arm64, where the code takes its
 * portable paths instead of SSE2), fails here. The scenarios reach the
 * corners the fast paths special-case: price grids and prices off them,
 * bands that clamp, ticks, books wide enough for the radix path, dense and
 * sparse participant numbers with and without self-trades, shared cut-off
 * levels under both rationings, full and empty books, duplicate ids.
 *
 * If a result changes on purpose, print the new digests with
 * GRIDLET_PRINT_DIGESTS=1 and update them here in the same commit.
 */
#include "gridlet/error.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_stream.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- Digest and randomness ------------------------------------------------
 */

static uint64_t digest;

static void mix(uint64_t v) {
  digest ^= v;
  digest *= UINT64_C(1099511628211);
}

static void mix_rc(int rc) {
  mix((uint64_t)(int64_t)rc);
}

static gl_rand rnd_src;

static uint64_t rnd(uint64_t bound) {
  uint64_t v;
  assert_int_equal(gl_rand_below(&rnd_src, bound, &v), 0);
  return v;
}

static void check(const char *what, uint64_t want) {
  if (getenv("GRIDLET_PRINT_DIGESTS"))
    printf("%s: UINT64_C(0x%016" PRIx64 ")\n", what, digest);
  if (digest != want)
    fail_msg("%s: digest %016" PRIx64 ", recorded %016" PRIx64, what, digest,
             want);
}

static void mix_trade(const mkt_trade *t) {
  mix('t');
  mix(t->buy_id);
  mix(t->sell_id);
  mix(t->buyer);
  mix(t->seller);
  mix((uint64_t)t->qty);
  mix((uint64_t)t->buy_price);
  mix((uint64_t)t->sell_price);
}

static void mix_order(const mkt_order *o) {
  mix('o');
  mix(o->id);
  mix(o->participant);
  mix(o->side);
  mix((uint64_t)o->interval);
  mix((uint64_t)o->qty);
  mix((uint64_t)o->price);
}

/* ---- Continuous double auction --------------------------------------------
 */

static void on_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  (void)ctx;
  mix_trade(t);
  mix(aggressor);
}

static void on_self(void *ctx, const mkt_self_trade *s) {
  (void)ctx;
  mix('s');
  mix(s->participant);
  mix(s->incoming_id);
  mix(s->resting_id);
  mix((uint64_t)s->qty);
}

static void on_residue(void *ctx, const mkt_order *o) {
  (void)ctx;
  mix('r');
  mix_order(o);
}

/* One book: a random configuration, then a random mix of adds (some
 * invalid, some with live ids, some off the grid or outside the price
 * range), cancels, depth queries, closes and reopens. */
static void cda_scenario(int k) {
  mkt_cda_config c = {0};
  c.capacity = (size_t)(1 + rnd(k % 3 == 0 ? 8 : k % 3 == 1 ? 200 : 2000));
  int64_t tick = k % 4 == 0 ? 1 : k % 4 == 1 ? 0 : 1 + (int64_t)rnd(7);
  int64_t tk = tick ? tick : 1;
  int64_t lv = 1 + (int64_t)rnd(k % 5 == 0 ? 3 : k % 5 == 1 ? 70 : 3000);
  c.price_min = (int64_t)rnd(200000) - 100000;
  c.tick = tick;
  c.price_max = c.price_min + (lv - 1) * tk;
  c.clamp = rnd(2);
  c.allow_self_trade = rnd(2);
  c.interval = (int64_t)rnd(5);
  c.sink = (mkt_cda_sink){on_trade, on_self, on_residue, NULL};
  if (k % 7 == 3)
    c.sink.self_trade = NULL;
  if (k % 11 == 5)
    c.sink.trade = NULL;
  mkt_cda *b;
  int rc = mkt_cda_new(&c, &b);
  mix_rc(rc);
  assert_int_equal(rc, 0);
  int64_t iv = c.interval;
  uint64_t parts = 1 + rnd(k % 2 ? 4 : 1000);
  uint64_t idspace = 1 + rnd(k % 3 ? 100000 : 300);
  uint64_t stride = k % 2 ? 1 : 977;
  int ops = 200 + (int)rnd(1500);
  int64_t span = c.price_max - c.price_min + 1;
  for (int i = 0; i < ops; i++) {
    uint64_t w = rnd(100);
    if (w < 70) {
      mkt_order o;
      o.id = rnd(8) == 0 ? rnd(idspace) : (uint64_t)i * stride + rnd(3);
      o.participant = (uint32_t)rnd(parts);
      o.side = rnd(50) == 0 ? (mkt_side)3 : rnd(2) ? MKT_BUY : MKT_SELL;
      o.interval = rnd(60) == 0 ? iv + 1 : iv;
      o.qty = rnd(80) == 0 ? 0 : 1 + (int64_t)rnd(rnd(3) ? 2000 : 10);
      if (rnd(20) == 0)
        o.price = c.price_min + (int64_t)rnd((uint64_t)span + 100) - 50;
      else if (rnd(10) == 0)
        o.price = c.price_min - 10 * tk + tk * (int64_t)rnd((uint64_t)lv + 20);
      else
        o.price = c.price_min + tk * (int64_t)rnd((uint64_t)lv);
      mkt_cda_result res = {0, 0, 0, 0};
      rc = mkt_cda_add(b, &o, rnd(3) ? &res : NULL);
      mix_rc(rc);
      mix((uint64_t)res.filled);
      mix((uint64_t)res.netted);
      mix((uint64_t)res.rested);
      mix(res.trades);
    } else if (w < 85) {
      int64_t q = -1;
      uint64_t id = rnd(4) ? (uint64_t)(i - (int)rnd(50)) * stride + rnd(3)
                           : rnd(idspace);
      rc = mkt_cda_cancel(b, id, rnd(2) ? &q : NULL);
      mix_rc(rc);
      mix((uint64_t)q);
    } else if (w < 92) {
      mkt_cda_level l[64];
      size_t n = 99;
      mkt_side side = rnd(30) == 0 ? (mkt_side)0 : rnd(2) ? MKT_BUY : MKT_SELL;
      rc = mkt_cda_depth(b, side, l, (size_t)rnd(64), &n);
      mix_rc(rc);
      mix(n);
      for (size_t j = 0; j < n && rc == 0; j++) {
        mix((uint64_t)l[j].price);
        mix((uint64_t)l[j].qty);
        mix(l[j].orders);
      }
      mix(mkt_cda_resting(b));
    } else if (w < 94) {
      size_t n = 77;
      rc = mkt_cda_close(b, rnd(2) ? &n : NULL);
      mix_rc(rc);
      mix(n);
      int64_t next = rnd(5) ? iv + 1 : iv;
      rc = mkt_cda_reopen(b, next);
      mix_rc(rc);
      if (rc == 0)
        iv = next;
    } else if (w < 95) {
      size_t n = 77;
      rc = mkt_cda_close(b, &n);
      mix_rc(rc);
      mix(n);
      mkt_order o = {1, 1, MKT_BUY, iv, 1, c.price_min};
      mix_rc(mkt_cda_add(b, &o, NULL)); /* closed */
      mix_rc(mkt_cda_cancel(b, 1, NULL));
      mix_rc(mkt_cda_reopen(b, iv));
    } else {
      mix(mkt_cda_resting(b));
    }
  }
  size_t n = 0;
  rc = mkt_cda_close(b, &n);
  mix_rc(rc);
  mix(n);
  mkt_cda_free(b);
}

static void test_regress_cda_outputs_are_unchanged(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(42);
  rnd_src = gl_seeded_rand_rand(sr);
  digest = UINT64_C(1469598103934665603);
  for (int k = 0; k < 80; k++)
    cda_scenario(k);
  gl_seeded_rand_free(sr);
  check("cda", UINT64_C(0x6c2662abfa56148e));
}

/* ---- Call auction ---------------------------------------------------------
 */

/* One book of `cap` orders, filled twice (the second time completely) with
 * random orders, each time cleared under six random configurations. */
static void auction_scenario(size_t cap) {
  mkt_auction *a;
  int rc = mkt_auction_new(cap, &a);
  mix_rc(rc);
  assert_int_equal(rc, 0);
  for (int round = 0; round < 2; round++) {
    int64_t iv = (int64_t)rnd(3);
    mkt_auction_reset(a, iv);
    size_t n = round ? cap : (size_t)rnd(cap + 1) + (rnd(3) == 0 ? 2 : 0);
    int mode = (int)rnd(6);
    int64_t base = (int64_t)rnd(400000) - 200000;
    int64_t span = mode == 0   ? 1 + (int64_t)rnd(5)
                   : mode == 1 ? 1 + (int64_t)rnd(300)
                   : mode == 2 ? 10000000
                   : mode == 3 ? 100000
                   : mode == 4 ? 2000000000
                               : 20000;
    int64_t grid = rnd(3) == 0 ? 100 : rnd(4) == 0 ? 1 + (int64_t)rnd(40) : 1;
    uint64_t parts = 1 + rnd(rnd(2) ? 5 : n + 10);
    int bias = (int)rnd(3);
    uint32_t sparse = rnd(3) == 0 ? 1 + (uint32_t)rnd(1000) : 0;
    uint64_t offgrid = rnd(3) == 0 ? 1 + rnd(n + 1) : 0;
    for (size_t i = 0; i < n; i++) {
      mkt_order o;
      o.id = rnd(4) ? i : rnd(UINT64_C(1000000000000));
      o.participant = (uint32_t)rnd(parts);
      if (sparse)
        o.participant = (o.participant * 2654435761u) ^ (sparse * 77u);
      o.side = rnd(200) == 0                          ? (mkt_side)0
               : rnd(3) < (uint64_t)(1 + (bias == 2)) ? MKT_BUY
                                                      : MKT_SELL;
      o.interval = rnd(200) == 0 ? iv + 1 : iv;
      o.qty = rnd(300) == 0 ? 0
                            : 1 + (int64_t)rnd(rnd(4)   ? 2000
                                               : rnd(2) ? 1
                                                        : 1000000000);
      int64_t p = base + (int64_t)rnd((uint64_t)span);
      if (o.side == MKT_SELL && bias == 1)
        p += span / 3;
      p = p / grid * grid;
      if (offgrid && i > 64 && rnd(offgrid) == 0)
        p += 1 + (int64_t)rnd(7);
      if (mode == 4)
        p = (int64_t)rnd(UINT64_C(2000000001)) - 1000000000;
      if (rnd(500) == 0)
        p = 1000000001; /* out of range */
      o.price = p;
      mix_rc(mkt_auction_add(a, &o));
    }
    mix(mkt_auction_count(a));
    mkt_fill f;
    mix_rc(mkt_auction_fill(a, 0, &f)); /* not cleared yet */
    for (int cl = 0; cl < 6; cl++) {
      mkt_auction_config cfg = {0};
      mkt_band band;
      cfg.rule = (mkt_rule)rnd(4);
      if (rnd(40) == 0)
        cfg.rule = (mkt_rule)7;
      cfg.k_ppm = (int32_t)rnd(1000001);
      cfg.rationing = (mkt_rationing)rnd(2);
      cfg.allow_self_trade = rnd(2);
      if (rnd(2)) {
        int64_t lo = base + (int64_t)rnd((uint64_t)span + 1);
        int64_t hi = lo + (int64_t)rnd((uint64_t)span + 1);
        if (rnd(5) == 0)
          hi = lo;
        band = (mkt_band){lo, hi, (int64_t)rnd(1000)};
        if (hi > 1000000000 || lo < -1000000000)
          band = (mkt_band){-5, 5, 0};
        cfg.band = &band;
      }
      mkt_clearing out;
      rc = mkt_auction_clear(a, rnd(20) == 0 ? NULL : &cfg, &out);
      mix_rc(rc);
      if (rc)
        continue;
      mix((uint64_t)out.volume);
      mix((uint64_t)out.price);
      mix((uint64_t)out.buy_price);
      mix((uint64_t)out.sell_price);
      mix((uint64_t)out.marginal_bid);
      mix((uint64_t)out.marginal_ask);
      mix(out.reduced);
      mix(out.trades);
      mix((uint64_t)out.demand);
      mix((uint64_t)out.supply);
      mix((uint64_t)out.netted);
      size_t nt;
      const mkt_trade *t = mkt_auction_trades(a, &nt);
      mix(nt);
      for (size_t i = 0; i < nt; i++)
        mix_trade(&t[i]);
      size_t count = mkt_auction_count(a);
      for (size_t i = 0; i <= count; i++) {
        rc = mkt_auction_fill(a, i, &f);
        mix_rc(rc);
        if (rc == 0) {
          mix((uint64_t)f.filled);
          mix((uint64_t)f.netted);
          mix((uint64_t)f.price);
        }
        mkt_order o;
        rc = mkt_auction_order(a, i, &o);
        mix_rc(rc);
        if (rc == 0)
          mix_order(&o);
      }
    }
  }
  mkt_auction_free(a);
}

static void test_regress_auction_outputs_are_unchanged(void **state) {
  (void)state;
  static const size_t caps[] = {1, 2, 3, 7, 50, 400, 3000};
  gl_seeded_rand *sr = gl_seeded_rand_new(43);
  rnd_src = gl_seeded_rand_rand(sr);
  digest = UINT64_C(1469598103934665603);
  for (int k = 0; k < 70; k++)
    auction_scenario(caps[k % 7]);
  gl_seeded_rand_free(sr);
  check("auction", UINT64_C(0x2faf707d3d01806a));
}

/* Larger books, as the generator makes them (one price grid, one side per
 * household), cleared under every rule and rationing: the blocks and
 * chunks of the fast paths, and the radix path for wide price ranges. */
static void test_regress_auction_large_books_are_unchanged(void **state) {
  (void)state;
  digest = UINT64_C(1469598103934665603);
  static const mkt_gen_config gens[] = {
      {.households = 10000, .intervals = 1, .orders = 2},
      {.households = 3000,
       .intervals = 1,
       .orders = 3,
       .price_min = 0,
       .price_max = 90000000,
       .price_tick = 7},
      {.households = 5000,
       .intervals = 1,
       .orders = 2,
       .price_min = 1000,
       .price_max = 1100,
       .price_tick = 1,
       .qty_min = 1,
       .qty_max = 3},
  };
  for (size_t gi = 0; gi < sizeof gens / sizeof gens[0]; gi++) {
    gl_seeded_rand *sr = gl_seeded_rand_new(7 + gi);
    gl_rand r = gl_seeded_rand_rand(sr);
    mkt_gen *g;
    assert_int_equal(mkt_gen_new(&gens[gi], &r, &g), 0);
    size_t n = (size_t)mkt_gen_adds(g);
    mkt_auction *a;
    assert_int_equal(mkt_auction_new(n, &a), 0);
    mkt_stream_rec rec;
    int rc;
    /* Every fifth household on both sides: self-trades to prevent. */
    while ((rc = mkt_gen_next(g, &rec)) == 1)
      if (rec.type == 'A') {
        mkt_side side = rec.side == 'S' ? MKT_SELL : MKT_BUY;
        if (rec.participant % 5 == 0 && rec.id % 2)
          side = side == MKT_BUY ? MKT_SELL : MKT_BUY;
        mkt_order o = {rec.id, rec.participant, side, 0, rec.qty, rec.price};
        assert_int_equal(mkt_auction_add(a, &o), 0);
      }
    assert_int_equal(rc, 0);
    for (int rule = 0; rule < 4; rule++)
      for (int how = 0; how < 2; how++)
        for (int stp = 0; stp < 2; stp++) {
          mkt_band band = {100000, 250000, 0};
          mkt_auction_config cfg = {
              .rule = (mkt_rule)rule,
              .k_ppm = 250000,
              .rationing = (mkt_rationing)how,
              .allow_self_trade = !stp,
              .band = gi == 0 && (rule + how + stp) % 3 == 0 ? &band : NULL};
          mkt_clearing out;
          mix_rc(mkt_auction_clear(a, &cfg, &out));
          mix((uint64_t)out.volume);
          mix((uint64_t)out.price);
          mix((uint64_t)out.buy_price);
          mix((uint64_t)out.sell_price);
          mix(out.trades);
          mix((uint64_t)out.netted);
          size_t nt;
          const mkt_trade *t = mkt_auction_trades(a, &nt);
          for (size_t i = 0; i < nt; i++)
            mix_trade(&t[i]);
          for (size_t i = 0; i < n; i++) {
            mkt_fill f;
            assert_int_equal(mkt_auction_fill(a, i, &f), 0);
            mix((uint64_t)f.filled);
            mix((uint64_t)f.netted);
          }
        }
    mkt_auction_free(a);
    mkt_gen_free(g);
    gl_seeded_rand_free(sr);
  }
  check("auction large", UINT64_C(0x8ad9e74bf7d49966));
}

/* ---- Stream replay ------------------------------------------------------- */

static void test_regress_replay_checksums_are_unchanged(void **state) {
  (void)state;
  digest = UINT64_C(1469598103934665603);
  static const mkt_gen_config gens[] = {
      {.households = 2000, .intervals = 3, .orders = 2, .cancel_ppm = 100000},
      {.households = 300,
       .intervals = 20,
       .orders = 5,
       .cancel_ppm = 300000,
       .price_min = 1000,
       .price_max = 1500,
       .price_tick = 1},
      {.households = 700,
       .intervals = 4,
       .orders = 4,
       .cancel_ppm = 200000,
       .price_min = 0,
       .price_max = 1000000,
       .price_tick = 7,
       .qty_min = 1,
       .qty_max = 5},
  };
  for (size_t gi = 0; gi < sizeof gens / sizeof gens[0]; gi++) {
    gl_seeded_rand *sr = gl_seeded_rand_new(11 + gi);
    gl_rand r = gl_seeded_rand_rand(sr);
    mkt_gen *g;
    assert_int_equal(mkt_gen_new(&gens[gi], &r, &g), 0);
    size_t cap = (size_t)mkt_gen_adds(g) * 2, n = 0;
    mkt_stream_rec *recs = malloc(cap * sizeof *recs);
    assert_non_null(recs);
    int rc;
    while ((rc = mkt_gen_next(g, &recs[n])) == 1)
      n++;
    assert_int_equal(rc, 0);
    /* Make a few households trade with themselves (for --stp). */
    for (size_t i = 0; i < n; i++)
      if (recs[i].type == 'A' && recs[i].participant % 7 == 0 && i % 2)
        recs[i].side = recs[i].side == 'S' ? 'B' : 'S';
    mkt_stream_info info;
    assert_int_equal(mkt_stream_scan(recs, n, &info), 0);
    for (int stp = 0; stp < 2; stp++) {
      mkt_replay *rp;
      assert_int_equal(mkt_replay_new(&info, stp, &rp), 0);
      mkt_replay_stats st;
      assert_int_equal(mkt_replay_run(rp, recs, n, &st), 0);
      char line[256];
      mkt_replay_checksum(&st, line, sizeof line);
      for (const char *c = line; *c; c++)
        mix((uint8_t)*c);
      mix(st.events);
      mix(st.adds);
      mix(st.rejected);
      mix(st.cancels);
      mix(st.cancel_misses);
      mix(st.closes);
      mkt_replay_free(rp);
    }
    free(recs);
    mkt_gen_free(g);
    gl_seeded_rand_free(sr);
  }
  check("replay", UINT64_C(0xfdb7f4a2edbbd368));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_regress_cda_outputs_are_unchanged),
      cmocka_unit_test(test_regress_auction_outputs_are_unchanged),
      cmocka_unit_test(test_regress_auction_large_books_are_unchanged),
      cmocka_unit_test(test_regress_replay_checksums_are_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
