/* SPDX-License-Identifier: MIT */
/*
 * Property tests for the call auction over random books (seeded, so every
 * run checks the same books). Each book is cleared by the engine and by a
 * slow reference written from the rules' definitions: the book expanded
 * into 1 Wh units, sorted, matched unit by unit. They must agree on the
 * volume, every price, every order's netting and fill, and every trade.
 * Independently of the reference the test checks the invariants: both sides
 * trade the same energy, every trade lies within both limits, no
 * participant trades with itself under self-trade prevention, the remaining
 * book is not crossed, prices and volume do not depend on the add order,
 * and money is conserved exactly through settlement.
 */
#include "gridlet/error.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAXN 48
#define MAXQ 20
#define PARTICIPANTS 8

typedef struct ord {
  mkt_order o;
  int64_t price; /* clamped */
  size_t idx;    /* add order */
  int64_t eff, netted, filled;
} ord;

static gl_rand rng;

static uint64_t rnd(uint64_t bound) {
  uint64_t v;
  assert_int_equal(gl_rand_below(&rng, bound, &v), 0);
  return v;
}

/* ---- Reference -------------------------------------------------------- */

static int by_bid_priority(const void *x, const void *y) {
  const ord *a = *(const ord *const *)x, *b = *(const ord *const *)y;
  if (a->price != b->price)
    return a->price > b->price ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int by_ask_priority(const void *x, const void *y) {
  const ord *a = *(const ord *const *)x, *b = *(const ord *const *)y;
  if (a->price != b->price)
    return a->price < b->price ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Orders of one side sorted by priority. */
static size_t sorted_side(ord *o, size_t n, mkt_side side, ord **out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (o[i].o.side == side)
      out[k++] = &o[i];
  qsort(out, k, sizeof *out,
        side == MKT_BUY ? by_bid_priority : by_ask_priority);
  return k;
}

static void ref_net(ord *o, size_t n) {
  ord *b[MAXN], *a[MAXN];
  size_t nb = sorted_side(o, n, MKT_BUY, b),
         na = sorted_side(o, n, MKT_SELL, a);
  for (uint32_t p = 0; p < PARTICIPANTS; p++) {
    size_t x = 0, y = 0;
    for (;;) {
      while (x < nb && (b[x]->o.participant != p || b[x]->eff == 0))
        x++;
      while (y < na && (a[y]->o.participant != p || a[y]->eff == 0))
        y++;
      if (x == nb || y == na || b[x]->price < a[y]->price)
        break;
      int64_t d = b[x]->eff < a[y]->eff ? b[x]->eff : a[y]->eff;
      b[x]->eff -= d;
      a[y]->eff -= d;
      b[x]->netted += d;
      a[y]->netted += d;
    }
  }
}

/* Expand one side into units of 1 Wh, in priority order: unit j has the
 * price of the order it came from. */
static size_t units(ord **s, size_t n, int64_t *u) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    for (int64_t q = 0; q < s[i]->eff; q++)
      u[k++] = s[i]->price;
  return k;
}

static int64_t half_even(int64_t num, int64_t den) {
  return mkt_div_round(num, den);
}

typedef struct ref_result {
  int64_t volume, buy, sell;
  bool reduced;
} ref_result;

/* Fill the best x units of a sorted side by the rationing rule. */
static void ref_allocate(ord **s, size_t n, int64_t x, mkt_rationing how) {
  size_t i = 0;
  while (i < n && x > 0) {
    size_t j = i;
    int64_t q = 0;
    while (j < n && s[j]->price == s[i]->price)
      q += s[j++]->eff;
    if (q <= x) {
      for (size_t k = i; k < j; k++)
        s[k]->filled = s[k]->eff;
      x -= q;
    } else if (how == MKT_RATION_TIME) {
      for (size_t k = i; k < j; k++) {
        int64_t f = s[k]->eff < x ? s[k]->eff : x;
        s[k]->filled = f;
        x -= f;
      }
    } else {
      /* Largest remainder, ties to the earlier order (s is in add order
       * within a level). */
      int64_t given = 0, rem[MAXN];
      for (size_t k = i; k < j; k++) {
        s[k]->filled = s[k]->eff * x / q;
        rem[k - i] = s[k]->eff * x % q;
        given += s[k]->filled;
      }
      for (int64_t left = x - given; left > 0; left--) {
        size_t best = SIZE_MAX;
        for (size_t k = i; k < j; k++)
          if (s[k]->eff > 0 && rem[k - i] >= 0 &&
              (best == SIZE_MAX || rem[k - i] > rem[best - i]))
            best = k;
        s[best]->filled++;
        rem[best - i] = -1; /* one leftover unit per order at most */
      }
      x = 0;
    }
    i = j;
  }
}

static ref_result ref_clear(ord *o, size_t n, const mkt_auction_config *cfg) {
  ref_result r = {0, 0, 0, false};
  for (size_t i = 0; i < n; i++) {
    o[i].eff = o[i].o.qty;
    o[i].netted = o[i].filled = 0;
  }
  if (!cfg->allow_self_trade)
    ref_net(o, n);
  ord *b[MAXN], *a[MAXN];
  size_t nb = sorted_side(o, n, MKT_BUY, b),
         na = sorted_side(o, n, MKT_SELL, a);
  static int64_t ub[MAXN * MAXQ], ua[MAXN * MAXQ];
  size_t kb = units(b, nb, ub), ka = units(a, na, ua), k = 0;
  while (k < kb && k < ka && ub[k] >= ua[k])
    k++;
  if (k == 0)
    return r;
  int64_t bk = ub[k - 1], sk = ua[k - 1];
  bool bnext = k < kb, anext = k < ka;
  bool bpart = bnext && ub[k] == bk, apart = anext && ua[k] == sk;
  int64_t x = (int64_t)k;
  switch (cfg->rule) {
  case MKT_RULE_MARGINAL:
    r.buy = r.sell = apart ? sk : bpart ? bk : half_even(bk + sk, 2);
    break;
  case MKT_RULE_K:
    r.buy = r.sell =
        half_even(cfg->k_ppm * bk + (MKT_K_ONE - cfg->k_ppm) * sk, MKT_K_ONE);
    break;
  case MKT_RULE_MCAFEE: {
    int64_t p0 = bnext && anext ? half_even(ub[k] + ua[k], 2) : 0;
    if (bnext && anext && sk <= p0 && p0 <= bk) {
      r.buy = r.sell = p0;
    } else {
      r.reduced = true;
      x = (int64_t)k - 1;
      r.buy = bk;
      r.sell = sk;
    }
    break;
  }
  case MKT_RULE_PAY_AS_BID: {
    int64_t sum = 0;
    for (size_t j = 0; j < k; j++)
      sum += ub[j];
    r.buy = r.sell = half_even(sum, (int64_t)k);
    break;
  }
  }
  if (x == 0)
    r.buy = r.sell = 0;
  r.volume = x;
  ref_allocate(b, nb, x, cfg->rationing);
  ref_allocate(a, na, x, cfg->rationing);
  return r;
}

/* The trades the rules prescribe, given the reference fills. */
static size_t ref_trades(ord *o, size_t n, const mkt_auction_config *cfg,
                         const ref_result *r, mkt_trade *t) {
  ord *b[MAXN], *a[MAXN];
  size_t nb = 0, na = 0;
  bool pab = cfg->rule == MKT_RULE_PAY_AS_BID;
  if (pab) {
    nb = sorted_side(o, n, MKT_BUY, b);
    na = sorted_side(o, n, MKT_SELL, a);
  } else {
    for (size_t i = 0; i < n; i++)
      if (o[i].o.side == MKT_BUY)
        b[nb++] = &o[i];
      else
        a[na++] = &o[i];
  }
  size_t x = 0, y = 0, nt = 0;
  int64_t bl = 0, al = 0;
  for (;;) {
    while (bl == 0 && x < nb)
      bl = b[x++]->filled;
    while (al == 0 && y < na)
      al = a[y++]->filled;
    if (bl == 0 || al == 0)
      break;
    int64_t q = bl < al ? bl : al;
    const ord *bo = b[x - 1], *ao = a[y - 1];
    t[nt++] = (mkt_trade){bo->o.id,
                          ao->o.id,
                          bo->o.participant,
                          ao->o.participant,
                          q,
                          pab ? bo->price : r->buy,
                          pab ? bo->price : r->sell};
    bl -= q;
    al -= q;
  }
  return nt;
}

/* ---- Random books ------------------------------------------------------ */

typedef struct book {
  ord o[MAXN];
  size_t n;
  mkt_band band;
  mkt_auction_config cfg;
} book;

static void random_book(book *bk) {
  uint64_t style = rnd(4);
  bk->n = (size_t)rnd(MAXN + 1);
  bk->band = (mkt_band){1000 + (int64_t)rnd(20), 1030 + (int64_t)rnd(20),
                        (int64_t)rnd(3) * 500};
  for (size_t i = 0; i < bk->n; i++) {
    int64_t price;
    switch (style) {
    case 0: /* few prices: many ties */
      price = 1000 + (int64_t)rnd(12) * 5;
      break;
    case 1: /* the whole price range: the radix path */
      price = (int64_t)rnd(2 * MKT_PRICE_MAX + 1) - MKT_PRICE_MAX;
      break;
    case 2: /* around the band, often outside it */
      price = 990 + (int64_t)rnd(80);
      break;
    default: /* a few wide but clustered prices */
      price = ((int64_t)rnd(5) - 2) * 300000000 + (int64_t)rnd(3);
      break;
    }
    bk->o[i].o = (mkt_order){
        i + 100, (uint32_t)rnd(PARTICIPANTS), rnd(2) ? MKT_BUY : MKT_SELL,
        0,       1 + (int64_t)rnd(MAXQ),      price};
    bk->o[i].idx = i;
  }
  bk->cfg = (mkt_auction_config){
      .rule = (mkt_rule)rnd(4),
      .k_ppm = (int32_t)rnd(MKT_K_ONE + 1),
      .rationing = (mkt_rationing)rnd(2),
      .allow_self_trade = rnd(2),
      .band = rnd(2) ? &bk->band : NULL,
  };
}

static void clamp_prices(book *bk) {
  for (size_t i = 0; i < bk->n; i++)
    bk->o[i].price = bk->cfg.band
                         ? mkt_band_clamp(bk->cfg.band, bk->o[i].o.price)
                         : bk->o[i].o.price;
}

static mkt_auction *load(const book *bk) {
  mkt_auction *a;
  assert_int_equal(mkt_auction_new(MAXN, &a), 0);
  for (size_t i = 0; i < bk->n; i++)
    assert_int_equal(mkt_auction_add(a, &bk->o[i].o), 0);
  return a;
}

/* ---- Invariants ---------------------------------------------------------- */

static void check_invariants(const book *bk, mkt_auction *a,
                             const mkt_clearing *c) {
  int64_t fb = 0, fa = 0;
  int64_t best_bid = INT64_MIN, best_ask = INT64_MAX;
  for (size_t i = 0; i < bk->n; i++) {
    mkt_fill f;
    assert_int_equal(mkt_auction_fill(a, i, &f), 0);
    assert_true(f.filled >= 0 && f.netted >= 0);
    assert_true(f.filled + f.netted <= bk->o[i].o.qty);
    if (bk->cfg.allow_self_trade)
      assert_int_equal(f.netted, 0);
    bool left = f.filled + f.netted < bk->o[i].o.qty;
    if (bk->o[i].o.side == MKT_BUY) {
      fb += f.filled;
      if (left && f.price > best_bid)
        best_bid = f.price;
    } else {
      fa += f.filled;
      if (left && f.price < best_ask)
        best_ask = f.price;
    }
  }
  assert_int_equal(fb, c->volume);
  assert_int_equal(fa, c->volume);
  /* What is left does not cross, except McAfee's one dropped unit. */
  if (!c->reduced)
    assert_true(best_bid < best_ask);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, c->trades);
  int64_t traded = 0;
  for (size_t j = 0; j < n; j++) {
    const ord *bo = &bk->o[t[j].buy_id - 100], *ao = &bk->o[t[j].sell_id - 100];
    assert_int_equal(bo->o.side, MKT_BUY);
    assert_int_equal(ao->o.side, MKT_SELL);
    assert_int_equal(t[j].buyer, bo->o.participant);
    assert_int_equal(t[j].seller, ao->o.participant);
    assert_true(t[j].qty > 0);
    assert_true(t[j].buy_price <= bo->price); /* within both limits */
    assert_true(t[j].sell_price >= ao->price);
    assert_true(t[j].sell_price <= t[j].buy_price);
    if (!bk->cfg.allow_self_trade)
      assert_true(t[j].buyer != t[j].seller);
    traded += t[j].qty;
  }
  assert_int_equal(traded, c->volume);
}

/* Settle the trades against random measurements: every conservation law
 * must hold, recomputed here from the trades alone. */
static void check_money(const book *bk, mkt_auction *a) {
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  mkt_band band = bk->cfg.band ? *bk->cfg.band : (mkt_band){1000, 1100, 7};
  mkt_meter m[PARTICIPANTS];
  mkt_account acc[PARTICIPANTS];
  for (uint32_t p = 0; p < PARTICIPANTS; p++)
    m[p] = (mkt_meter){p, (int64_t)rnd(2001) - 1000};
  mkt_settle_totals tot;
  assert_int_equal(
      mkt_settle(MKT_MODE_EXANTE, &band, t, n, m, PARTICIPANTS, acc, &tot), 0);
  int64_t pays = 0, gets = 0, fees = 0, surplus = 0;
  for (size_t j = 0; j < n; j++) {
    mkt_money_split s;
    assert_int_equal(mkt_trade_money(&t[j], band.fee, &s), 0);
    pays += s.buyer_pays;
    gets += s.seller_gets;
    fees += s.fee;
    surplus += s.surplus;
  }
  assert_int_equal(pays, gets + fees + surplus);
  assert_int_equal(tot.fees, fees);
  assert_int_equal(tot.surplus, surplus);
  assert_int_equal(tot.local_paid + tot.fees, pays);
  assert_int_equal(tot.local_received, gets);
  int64_t net = 0;
  for (uint32_t p = 0; p < PARTICIPANTS; p++)
    net += acc[p].net;
  assert_int_equal(net + tot.fees + tot.surplus + tot.utility_net, 0);
}

/* ---- Tests ------------------------------------------------------------- */

static void test_call_auction_matches_unit_reference(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(20261121);
  rng = gl_seeded_rand_rand(sr);
  static book bk;
  static mkt_trade want[MAXN * 2];
  for (int iter = 0; iter < 3000; iter++) {
    random_book(&bk);
    clamp_prices(&bk);
    mkt_auction *a = load(&bk);
    mkt_clearing c;
    assert_int_equal(mkt_auction_clear(a, &bk.cfg, &c), 0);
    ref_result r = ref_clear(bk.o, bk.n, &bk.cfg);
    assert_int_equal(c.volume, r.volume);
    assert_int_equal(c.buy_price, r.buy);
    assert_int_equal(c.sell_price, r.sell);
    assert_int_equal(c.reduced, r.reduced);
    for (size_t i = 0; i < bk.n; i++) {
      mkt_fill f;
      assert_int_equal(mkt_auction_fill(a, i, &f), 0);
      assert_int_equal(f.netted, bk.o[i].netted);
      assert_int_equal(f.filled, bk.o[i].filled);
      assert_int_equal(f.price, bk.o[i].price);
    }
    size_t nw = ref_trades(bk.o, bk.n, &bk.cfg, &r, want), n;
    const mkt_trade *t = mkt_auction_trades(a, &n);
    assert_int_equal(n, nw);
    assert_memory_equal(t, want, n * sizeof *t);
    check_invariants(&bk, a, &c);
    check_money(&bk, a);
    mkt_auction_free(a);
  }
  gl_seeded_rand_free(sr);
}

/* Price and volume depend only on the set of orders; under pro-rata each
 * order's fill is within 1 Wh of its exact share whatever the order. */
static void test_call_auction_prices_independent_of_add_order(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(77);
  rng = gl_seeded_rand_rand(sr);
  static book bk, shuffled;
  for (int iter = 0; iter < 1000; iter++) {
    random_book(&bk);
    shuffled = bk;
    shuffled.cfg.band = bk.cfg.band ? &shuffled.band : NULL;
    for (size_t i = bk.n; i > 1; i--) {
      size_t j = (size_t)rnd(i);
      ord t = shuffled.o[i - 1];
      shuffled.o[i - 1] = shuffled.o[j];
      shuffled.o[j] = t;
    }
    mkt_auction *a = load(&bk), *b = load(&shuffled);
    mkt_clearing ca, cb;
    assert_int_equal(mkt_auction_clear(a, &bk.cfg, &ca), 0);
    assert_int_equal(mkt_auction_clear(b, &shuffled.cfg, &cb), 0);
    assert_int_equal(ca.volume, cb.volume);
    assert_int_equal(ca.price, cb.price);
    assert_int_equal(ca.buy_price, cb.buy_price);
    assert_int_equal(ca.sell_price, cb.sell_price);
    assert_int_equal(ca.demand, cb.demand);
    assert_int_equal(ca.supply, cb.supply);
    if (bk.cfg.rationing == MKT_RATION_PRO_RATA && bk.cfg.allow_self_trade) {
      for (size_t i = 0; i < bk.n; i++) {
        size_t j = 0;
        while (shuffled.o[j].o.id != bk.o[i].o.id)
          j++;
        mkt_fill fa, fb;
        assert_int_equal(mkt_auction_fill(a, i, &fa), 0);
        assert_int_equal(mkt_auction_fill(b, j, &fb), 0);
        assert_true(llabs(fa.filled - fb.filled) <= 1);
      }
    }
    mkt_auction_free(a);
    mkt_auction_free(b);
  }
  gl_seeded_rand_free(sr);
}

/* Clearing is a function: the same book twice gives the same bytes. */
static void test_call_auction_is_deterministic(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(5);
  rng = gl_seeded_rand_rand(sr);
  static book bk;
  for (int iter = 0; iter < 300; iter++) {
    random_book(&bk);
    mkt_auction *a = load(&bk), *b = load(&bk);
    mkt_clearing ca, cb;
    assert_int_equal(mkt_auction_clear(a, &bk.cfg, &ca), 0);
    assert_int_equal(mkt_auction_clear(a, &bk.cfg, &ca), 0); /* twice */
    assert_int_equal(mkt_auction_clear(b, &bk.cfg, &cb), 0);
    assert_memory_equal(&ca, &cb, sizeof ca);
    size_t na, nb;
    const mkt_trade *ta = mkt_auction_trades(a, &na);
    const mkt_trade *tb = mkt_auction_trades(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ta, tb, na * sizeof *ta);
    mkt_auction_free(a);
    mkt_auction_free(b);
  }
  gl_seeded_rand_free(sr);
}

/* Bigger books with many orders per price level exercise the histogram and
 * the leftover sort at scale; checked by the invariants only. */
static void test_call_auction_large_books_keep_invariants(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(8);
  rng = gl_seeded_rand_rand(sr);
  enum { N = 20000 };
  mkt_auction *a;
  assert_int_equal(mkt_auction_new(N, &a), 0);
  for (int iter = 0; iter < 6; iter++) {
    mkt_auction_reset(a, iter);
    int64_t span = iter % 2 ? 50 : 400000000;
    for (size_t i = 0; i < N; i++) {
      mkt_order o = {
          i,    (uint32_t)rnd(3000),    rnd(2) ? MKT_BUY : MKT_SELL,
          iter, 1 + (int64_t)rnd(3000), 100000 + (int64_t)rnd((uint64_t)span)};
      assert_int_equal(mkt_auction_add(a, &o), 0);
    }
    for (int rule = 0; rule < 4; rule++) {
      mkt_auction_config cfg = {.rule = (mkt_rule)rule,
                                .k_ppm = 300000,
                                .rationing = (mkt_rationing)(iter % 2)};
      mkt_clearing c;
      assert_int_equal(mkt_auction_clear(a, &cfg, &c), 0);
      assert_true(c.volume > 0);
      int64_t fb = 0, fa = 0;
      for (size_t i = 0; i < N; i++) {
        mkt_fill f;
        mkt_order o;
        assert_int_equal(mkt_auction_fill(a, i, &f), 0);
        assert_int_equal(mkt_auction_order(a, i, &o), 0);
        assert_true(f.filled + f.netted <= o.qty);
        *(o.side == MKT_BUY ? &fb : &fa) += f.filled;
      }
      assert_int_equal(fb, c.volume);
      assert_int_equal(fa, c.volume);
      size_t n;
      const mkt_trade *t = mkt_auction_trades(a, &n);
      int64_t traded = 0;
      for (size_t j = 0; j < n; j++) {
        assert_true(t[j].buyer != t[j].seller);
        traded += t[j].qty;
      }
      assert_int_equal(traded, c.volume);
    }
  }
  mkt_auction_free(a);
  gl_seeded_rand_free(sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_auction_matches_unit_reference),
      cmocka_unit_test(test_call_auction_prices_independent_of_add_order),
      cmocka_unit_test(test_call_auction_is_deterministic),
      cmocka_unit_test(test_call_auction_large_books_keep_invariants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
