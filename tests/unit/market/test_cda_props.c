/* SPDX-License-Identifier: MIT */
/*
 * Property tests for the continuous double auction: random streams of adds,
 * cancels and closes (seeded) run through the engine and through a naive
 * reference book written straight from the rules (an unordered array
 * scanned for the best price and earliest arrival on every match). Every
 * trade, prevented self-trade, return code and residue must agree, in
 * order. Independently, after every add the book must not be crossed, and
 * every order's quantity must be accounted for: filled + netted + cancelled
 * + left at closure == added.
 */
#include "gridlet/error.h"
#include "gridlet/market_cda.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CAP 64
#define MAXEV 4096
#define MAXID 512

typedef struct event {
  char kind;
  uint64_t a, b;
  uint32_t p;
  int64_t qty, price;
  int aggressor;
} event;

typedef struct log {
  event e[MAXEV];
  size_t n;
} log;

static void push(log *l, event e) {
  assert_true(l->n < MAXEV);
  l->e[l->n++] = e;
}

static void on_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  push(ctx, (event){'t', t->buy_id, t->sell_id, t->buyer ^ (t->seller << 8),
                    t->qty, t->buy_price, (int)aggressor});
}

static void on_self(void *ctx, const mkt_self_trade *s) {
  push(ctx, (event){'s', s->incoming_id, s->resting_id, s->participant, s->qty,
                    0, 0});
}

static void on_residue(void *ctx, const mkt_order *o) {
  push(ctx, (event){'r', o->id, (uint64_t)o->side, o->participant, o->qty,
                    o->price, 0});
}

/* ---- Reference book ----------------------------------------------------- */

typedef struct rorder {
  uint64_t id, seq;
  uint32_t participant;
  mkt_side side;
  int64_t qty, price;
  bool live;
} rorder;

typedef struct ref {
  rorder o[MAXID * 2];
  size_t n;
  uint64_t seq;
  int64_t lo, hi, tick;
  bool clamp, stp;
  log *l;
} ref;

/* The best resting order opposite to `side`, or NULL. */
static rorder *ref_best(ref *r, mkt_side side) {
  rorder *best = NULL;
  for (size_t i = 0; i < r->n; i++) {
    rorder *x = &r->o[i];
    if (!x->live || x->side == side)
      continue;
    bool better =
        !best ||
        (side == MKT_BUY ? x->price < best->price : x->price > best->price) ||
        (x->price == best->price && x->seq < best->seq);
    if (better)
      best = x;
  }
  return best;
}

static size_t ref_live(const ref *r) {
  size_t k = 0;
  for (size_t i = 0; i < r->n; i++)
    k += r->o[i].live;
  return k;
}

static int ref_add(ref *r, mkt_order o) {
  if (o.price < r->lo || o.price > r->hi) {
    if (!r->clamp)
      return GL_ERANGE;
    o.price = o.price < r->lo ? r->lo : r->hi;
  }
  if ((o.price - r->lo) % r->tick != 0)
    return GL_EINVAL;
  if (ref_live(r) == CAP)
    return GL_EFULL;
  for (size_t i = 0; i < r->n; i++)
    if (r->o[i].live && r->o[i].id == o.id)
      return GL_EEXIST;
  int64_t rem = o.qty;
  for (rorder *x; rem > 0 && (x = ref_best(r, o.side)) != NULL;) {
    if (o.side == MKT_BUY ? x->price > o.price : x->price < o.price)
      break;
    int64_t q = rem < x->qty ? rem : x->qty;
    if (r->stp && x->participant == o.participant) {
      push(r->l, (event){'s', o.id, x->id, o.participant, q, 0, 0});
    } else {
      bool buy = o.side == MKT_BUY;
      push(r->l, (event){'t', buy ? o.id : x->id, buy ? x->id : o.id,
                         (buy ? o.participant : x->participant) ^
                             ((buy ? x->participant : o.participant) << 8),
                         q, x->price, (int)o.side});
    }
    rem -= q;
    x->qty -= q;
    x->live = x->qty > 0;
  }
  if (rem > 0)
    r->o[r->n++] =
        (rorder){o.id, r->seq++, o.participant, o.side, rem, o.price, true};
  return 0;
}

static int ref_cancel(ref *r, uint64_t id) {
  for (size_t i = 0; i < r->n; i++)
    if (r->o[i].live && r->o[i].id == id) {
      r->o[i].live = false;
      return 0;
    }
  return GL_ENOENT;
}

static int cmp_residue(const void *x, const void *y) {
  const rorder *a = x, *b = y;
  if (a->side != b->side)
    return a->side == MKT_BUY ? -1 : 1;
  if (a->price != b->price)
    return (a->side == MKT_BUY ? a->price > b->price : a->price < b->price) ? -1
                                                                            : 1;
  return a->seq < b->seq ? -1 : 1;
}

static size_t ref_close(ref *r, int64_t interval) {
  (void)interval;
  size_t k = 0;
  for (size_t i = 0; i < r->n; i++)
    if (r->o[i].live)
      r->o[k++] = r->o[i];
  qsort(r->o, k, sizeof r->o[0], cmp_residue);
  for (size_t i = 0; i < k; i++)
    push(r->l, (event){'r', r->o[i].id, (uint64_t)r->o[i].side,
                       r->o[i].participant, r->o[i].qty, r->o[i].price, 0});
  r->n = 0;
  return k;
}

/* ---- The test ------------------------------------------------------------ */

static gl_rand rng;

static uint64_t rnd(uint64_t bound) {
  uint64_t v;
  assert_int_equal(gl_rand_below(&rng, bound, &v), 0);
  return v;
}

static void check_not_crossed(const mkt_cda *b) {
  mkt_cda_level bid, ask;
  size_t nb, na;
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, &bid, 1, &nb), 0);
  assert_int_equal(mkt_cda_depth(b, MKT_SELL, &ask, 1, &na), 0);
  if (nb && na)
    assert_true(bid.price < ask.price);
}

static void test_cda_matches_reference_book(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(424242);
  rng = gl_seeded_rand_rand(sr);
  static log got, want;
  static ref r;
  for (int iter = 0; iter < 400; iter++) {
    bool wide = rnd(4) == 0; /* prices over 2001 levels, or 31 */
    int64_t tick = rnd(3) ? 1 : 2 + (int64_t)rnd(2); /* off-grid: refused */
    int64_t lo = wide ? -1000 : 100, hi = wide ? 1000 : 130;
    int64_t blo = 100 + (int64_t)rnd(10), bhi = blo + (int64_t)rnd(25);
    bool clamp = rnd(2);
    if (!wide && clamp) { /* a band narrower than the prices drawn */
      lo = blo;
      hi = bhi;
    }
    hi -= (hi - lo) % tick; /* the book's top level lies on the grid */
    memset(&got, 0, sizeof got);
    memset(&want, 0, sizeof want);
    memset(&r, 0, sizeof r);
    r.lo = lo;
    r.hi = hi;
    r.tick = tick;
    r.clamp = clamp;
    r.stp = rnd(2);
    r.l = &want;
    mkt_cda_config cfg = {.capacity = CAP,
                          .price_min = lo,
                          .price_max = hi,
                          .tick = tick,
                          .clamp = clamp,
                          .allow_self_trade = !r.stp,
                          .sink = {on_trade, on_self, on_residue, &got}};
    mkt_cda *b;
    assert_int_equal(mkt_cda_new(&cfg, &b), 0);
    int64_t interval = 0;
    uint64_t next_id = 0;
    for (int ev = 0; ev < 300; ev++) {
      uint64_t what = rnd(20);
      if (what < 14) {
        /* Mostly fresh ids, sometimes one that may still rest. */
        uint64_t id = rnd(8) ? next_id++ : rnd(next_id + 1);
        mkt_order o = {id,
                       (uint32_t)rnd(4),
                       rnd(2) ? MKT_BUY : MKT_SELL,
                       interval,
                       1 + (int64_t)rnd(rnd(3) ? 10 : 200),
                       wide ? (int64_t)rnd(2001) - 1000
                            : 95 + (int64_t)rnd(40)};
        mkt_cda_result res;
        size_t before = got.n;
        int rc = mkt_cda_add(b, &o, &res);
        assert_int_equal(rc, ref_add(&r, o));
        if (rc == 0) {
          check_not_crossed(b);
          /* The summary matches the events reported for this order. */
          int64_t filled = 0, netted = 0;
          for (size_t i = before; i < got.n; i++)
            *(got.e[i].kind == 't' ? &filled : &netted) += got.e[i].qty;
          assert_int_equal(res.filled, filled);
          assert_int_equal(res.netted, netted);
          assert_int_equal(res.filled + res.netted + res.rested, o.qty);
        } else {
          assert_int_equal(got.n, before); /* an error changes nothing */
        }
      } else if (what < 19) {
        uint64_t id = rnd(next_id + 1);
        assert_int_equal(mkt_cda_cancel(b, id, NULL), ref_cancel(&r, id));
      } else {
        size_t n;
        assert_int_equal(mkt_cda_close(b, &n), 0);
        assert_int_equal(n, ref_close(&r, interval));
        assert_int_equal(mkt_cda_reopen(b, ++interval), 0);
      }
      assert_int_equal(mkt_cda_resting(b), ref_live(&r));
      assert_int_equal(got.n, want.n);
    }
    size_t n;
    assert_int_equal(mkt_cda_close(b, &n), 0);
    assert_int_equal(n, ref_close(&r, interval));
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < got.n; i++) {
      assert_int_equal(got.e[i].kind, want.e[i].kind);
      assert_int_equal(got.e[i].a, want.e[i].a);
      assert_int_equal(got.e[i].b, want.e[i].b);
      assert_int_equal(got.e[i].p, want.e[i].p);
      assert_int_equal(got.e[i].qty, want.e[i].qty);
      assert_int_equal(got.e[i].price, want.e[i].price);
      assert_int_equal(got.e[i].aggressor, want.e[i].aggressor);
      if (got.e[i].kind == 't' && r.stp) /* no self-trade under prevention */
        assert_true((got.e[i].p & 0xff) != (got.e[i].p >> 8));
    }
    mkt_cda_free(b);
  }
  gl_seeded_rand_free(sr);
}

/* Heavy churn on one big book: the id map's deletions and the bitmap's
 * level searches stay consistent (checked against quantity bookkeeping). */
static void test_cda_churn_keeps_accounts(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(99);
  rng = gl_seeded_rand_rand(sr);
  enum { N = 4000 };
  static int64_t added[N], gone[N]; /* per id: added, and filled/netted/... */
  memset(added, 0, sizeof added);
  memset(gone, 0, sizeof gone);
  mkt_cda_config cfg = {.capacity = N,
                        .price_min = 0,
                        .price_max = (1 << 20) - 1,
                        .allow_self_trade = true};
  mkt_cda *b;
  assert_int_equal(mkt_cda_new(&cfg, &b), 0);
  int64_t traded = 0;
  for (uint64_t id = 0; id < N; id++) {
    /* Prices spread over a million levels with gaps, so the bitmap's upper
     * levels are exercised when levels empty. */
    mkt_order o = {id, (uint32_t)id,          rnd(2) ? MKT_BUY : MKT_SELL,
                   0,  1 + (int64_t)rnd(100), (int64_t)rnd(1 << 20)};
    mkt_cda_result res;
    assert_int_equal(mkt_cda_add(b, &o, &res), 0);
    added[id] = o.qty;
    traded += res.filled;
    check_not_crossed(b);
    if (rnd(3) == 0) {
      uint64_t victim = rnd(id + 1);
      int64_t left;
      if (mkt_cda_cancel(b, victim, &left) == 0)
        gone[victim] += left;
    }
  }
  mkt_cda_level lv[N];
  size_t nb, na;
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, lv, N, &nb), 0);
  int64_t resting = 0;
  for (size_t i = 0; i < nb; i++)
    resting += lv[i].qty;
  assert_int_equal(mkt_cda_depth(b, MKT_SELL, lv, N, &na), 0);
  for (size_t i = 0; i < na; i++)
    resting += lv[i].qty;
  int64_t in = 0, cancelled = 0;
  for (size_t i = 0; i < N; i++) {
    in += added[i];
    cancelled += gone[i];
  }
  /* Every Wh added was traded (counted once per side), cancelled or rests. */
  assert_int_equal(in, 2 * traded + cancelled + resting);
  mkt_cda_free(b);
  gl_seeded_rand_free(sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cda_matches_reference_book),
      cmocka_unit_test(test_cda_churn_keeps_accounts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
