/* SPDX-License-Identifier: MIT */
/*
 * Worked examples for the continuous double auction: trades at the resting
 * price, price-time priority, partial fills, cancel, depth, gate closure
 * with its residue, self-trade prevention, clamping and the error paths.
 */
#include "gridlet/error.h"
#include "gridlet/market_cda.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Everything the book reports, in order. */
typedef struct event {
  char kind;     /* 't' trade, 's' self-trade, 'r' residue */
  uint64_t a, b; /* trade: buy id, sell id; self: incoming, resting; residue:
                    id, side */
  uint32_t pa, pb;
  int64_t qty, price;
  mkt_side aggressor;
} event;

typedef struct log {
  event e[64];
  size_t n;
} log;

static void on_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  log *l = ctx;
  assert_int_equal(t->buy_price, t->sell_price);
  l->e[l->n++] = (event){'t',       t->buy_id, t->sell_id,   t->buyer,
                         t->seller, t->qty,    t->buy_price, aggressor};
}

static void on_self(void *ctx, const mkt_self_trade *s) {
  log *l = ctx;
  l->e[l->n++] = (event){
      's', s->incoming_id, s->resting_id, s->participant, 0, s->qty, 0, 0};
}

static void on_residue(void *ctx, const mkt_order *o) {
  log *l = ctx;
  l->e[l->n++] = (event){'r', o->id,  (uint64_t)o->side, o->participant,
                         0,   o->qty, o->price,          0};
}

static mkt_cda *book(log *l, bool allow_self_trade) {
  memset(l, 0, sizeof *l);
  mkt_cda_config cfg = {.capacity = 8,
                        .price_min = 10,
                        .price_max = 40,
                        .allow_self_trade = allow_self_trade,
                        .sink = {on_trade, on_self, on_residue, l}};
  mkt_cda *b;
  assert_int_equal(mkt_cda_new(&cfg, &b), 0);
  return b;
}

static mkt_cda_result add(mkt_cda *b, uint64_t id, uint32_t who, char side,
                          int64_t qty, int64_t price) {
  mkt_order o = {id, who, side == 'b' ? MKT_BUY : MKT_SELL, 0, qty, price};
  mkt_cda_result r;
  assert_int_equal(mkt_cda_add(b, &o, &r), 0);
  return r;
}

static void expect_trade(const event *e, uint64_t buy, uint64_t sell,
                         int64_t qty, int64_t price, mkt_side aggressor) {
  assert_int_equal(e->kind, 't');
  assert_int_equal(e->a, buy);
  assert_int_equal(e->b, sell);
  assert_int_equal(e->qty, qty);
  assert_int_equal(e->price, price);
  assert_int_equal(e->aggressor, aggressor);
}

static void test_cda_trades_at_resting_price(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  mkt_cda_result r = add(b, 1, 1, 's', 100, 20);
  assert_int_equal(r.rested, 100);
  assert_int_equal(l.n, 0);
  r = add(b, 2, 2, 'b', 60, 25);
  assert_int_equal(r.filled, 60);
  assert_int_equal(r.rested, 0);
  assert_int_equal(r.trades, 1);
  assert_int_equal(l.n, 1);
  expect_trade(&l.e[0], 2, 1, 60, 20, MKT_BUY);
  assert_int_equal(l.e[0].pa, 2);
  assert_int_equal(l.e[0].pb, 1);
  /* An incoming offer below a resting bid trades at the bid's price. */
  assert_int_equal(mkt_cda_cancel(b, 1, NULL), 0);
  add(b, 3, 3, 'b', 10, 30);
  add(b, 4, 4, 's', 10, 15);
  expect_trade(&l.e[1], 3, 4, 10, 30, MKT_SELL);
  mkt_cda_free(b);
}

/* Offers A 50 @ 20, B 50 @ 20, C 50 @ 19; a bid for 120 @ 20 takes C (best
 * price) first, then A (earlier at 20), then 20 of B, which keeps 30. */
static void test_cda_price_then_time_priority(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 's', 50, 20);
  add(b, 2, 2, 's', 50, 20);
  add(b, 3, 3, 's', 50, 19);
  mkt_cda_result r = add(b, 4, 4, 'b', 120, 20);
  assert_int_equal(r.filled, 120);
  assert_int_equal(r.trades, 3);
  expect_trade(&l.e[0], 4, 3, 50, 19, MKT_BUY);
  expect_trade(&l.e[1], 4, 1, 50, 20, MKT_BUY);
  expect_trade(&l.e[2], 4, 2, 20, 20, MKT_BUY);
  mkt_cda_level lv[4];
  size_t n;
  assert_int_equal(mkt_cda_depth(b, MKT_SELL, lv, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(lv[0].price, 20);
  assert_int_equal(lv[0].qty, 30);
  assert_int_equal(lv[0].orders, 1);
  assert_int_equal(mkt_cda_resting(b), 1);
  mkt_cda_free(b);
}

/* A partly filled incoming order rests at its limit with the rest; a partly
 * filled resting order keeps its place. */
static void test_cda_partial_fills_rest_and_keep_priority(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 's', 40, 24);
  mkt_cda_result r = add(b, 2, 2, 'b', 100, 25);
  assert_int_equal(r.filled, 40);
  assert_int_equal(r.rested, 60);
  add(b, 3, 3, 'b', 10, 25); /* behind order 2 at 25 */
  add(b, 4, 4, 's', 70, 25); /* 60 from order 2 first, then 10 from 3 */
  expect_trade(&l.e[1], 2, 4, 60, 25, MKT_SELL);
  expect_trade(&l.e[2], 3, 4, 10, 25, MKT_SELL);
  assert_int_equal(mkt_cda_resting(b), 0);
  /* Partly filled resting order keeps its priority. */
  add(b, 5, 5, 'b', 30, 22);
  add(b, 6, 6, 'b', 30, 22);
  add(b, 7, 7, 's', 10, 22); /* 10 of order 5 */
  add(b, 8, 8, 's', 25, 22); /* the other 20 of 5, then 5 of 6 */
  expect_trade(&l.e[3], 5, 7, 10, 22, MKT_SELL);
  expect_trade(&l.e[4], 5, 8, 20, 22, MKT_SELL);
  expect_trade(&l.e[5], 6, 8, 5, 22, MKT_SELL);
  mkt_cda_free(b);
}

static void test_cda_cancel_removes_resting_order(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 's', 40, 24);
  add(b, 2, 2, 's', 50, 26);
  int64_t left;
  assert_int_equal(mkt_cda_cancel(b, 1, &left), 0);
  assert_int_equal(left, 40);
  assert_int_equal(mkt_cda_cancel(b, 1, &left), GL_ENOENT);
  assert_int_equal(mkt_cda_cancel(b, 99, NULL), GL_ENOENT);
  add(b, 3, 3, 'b', 10, 30); /* the best offer is now 26 */
  expect_trade(&l.e[0], 3, 2, 10, 26, MKT_BUY);
  /* A filled order cannot be cancelled, and its id may be used again. */
  add(b, 4, 4, 'b', 40, 30);
  assert_int_equal(mkt_cda_cancel(b, 2, NULL), GL_ENOENT);
  add(b, 2, 5, 's', 5, 40);
  assert_int_equal(mkt_cda_cancel(b, 2, &left), 0);
  assert_int_equal(left, 5);
  mkt_cda_free(b);
}

/* Gate closure reports bids best first, then offers best first, each in time
 * order within a price, and empties the book. */
static void test_cda_close_reports_residue_in_priority_order(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 'b', 10, 20);
  add(b, 2, 2, 'b', 11, 22);
  add(b, 3, 3, 'b', 12, 20);
  add(b, 4, 4, 's', 13, 30);
  add(b, 5, 5, 's', 14, 25);
  size_t resting;
  assert_int_equal(mkt_cda_close(b, &resting), 0);
  assert_int_equal(resting, 5);
  static const uint64_t order[] = {2, 1, 3, 5, 4};
  assert_int_equal(l.n, 5);
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(l.e[i].kind, 'r');
    assert_int_equal(l.e[i].a, order[i]);
  }
  assert_int_equal(l.e[0].qty, 11);
  assert_int_equal(l.e[0].price, 22);
  assert_int_equal(l.e[3].b, MKT_SELL);
  assert_int_equal(mkt_cda_resting(b), 0);
  mkt_order o = {9, 1, MKT_BUY, 0, 1, 20};
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_ECLOSED);
  assert_int_equal(mkt_cda_cancel(b, 1, NULL), GL_ECLOSED);
  assert_int_equal(mkt_cda_close(b, NULL), GL_ECLOSED);
  /* The next interval starts empty. */
  assert_int_equal(mkt_cda_reopen(b, 1), 0);
  assert_int_equal(mkt_cda_reopen(b, 2), GL_ESTATE);
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EINVAL); /* interval 0 */
  o.interval = 1;
  o.id = 1; /* ids of the closed interval are free again */
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  mkt_cda_level lv[2];
  size_t n;
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, lv, 2, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(lv[0].qty, 1);
  assert_int_equal(mkt_cda_depth(b, MKT_SELL, lv, 2, &n), 0);
  assert_int_equal(n, 0);
  mkt_cda_free(b);
}

/* Participant 1 offers 30 @ 20, participant 2 offers 50 @ 21; participant 1
 * then bids 50 @ 25: it meets its own offer first, both are reduced by 30
 * (the offer leaves the book), then it buys 20 from participant 2. */
static void test_cda_self_trade_prevention_decrements_both(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 's', 30, 20);
  add(b, 2, 2, 's', 50, 21);
  mkt_cda_result r = add(b, 3, 1, 'b', 50, 25);
  assert_int_equal(r.netted, 30);
  assert_int_equal(r.filled, 20);
  assert_int_equal(r.rested, 0);
  assert_int_equal(r.trades, 1);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.e[0].kind, 's');
  assert_int_equal(l.e[0].a, 3);
  assert_int_equal(l.e[0].b, 1);
  assert_int_equal(l.e[0].pa, 1);
  assert_int_equal(l.e[0].qty, 30);
  expect_trade(&l.e[1], 3, 2, 20, 21, MKT_BUY);
  assert_int_equal(mkt_cda_cancel(b, 1, NULL), GL_ENOENT);
  /* A larger own resting order is only reduced and keeps the rest. */
  add(b, 4, 7, 'b', 40, 15);
  r = add(b, 5, 7, 's', 10, 12);
  assert_int_equal(r.netted, 10);
  assert_int_equal(r.rested, 0);
  int64_t left;
  assert_int_equal(mkt_cda_cancel(b, 4, &left), 0);
  assert_int_equal(left, 30);
  mkt_cda_free(b);

  b = book(&l, true); /* prevention off: a trade with oneself */
  add(b, 1, 1, 's', 30, 20);
  r = add(b, 3, 1, 'b', 50, 25);
  assert_int_equal(r.filled, 30);
  assert_int_equal(r.netted, 0);
  expect_trade(&l.e[0], 3, 1, 30, 20, MKT_BUY);
  mkt_cda_free(b);
}

static void test_cda_clamps_or_rejects_outside_prices(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  mkt_order o = {1, 1, MKT_BUY, 0, 5, 41};
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_ERANGE);
  o.price = 9;
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_ERANGE);
  mkt_cda_free(b);

  mkt_cda_config cfg = {.capacity = 4,
                        .price_min = 80000,
                        .price_max = 300000,
                        .clamp = true,
                        .sink = {on_trade, NULL, NULL, &l}};
  memset(&l, 0, sizeof l);
  assert_int_equal(mkt_cda_new(&cfg, &b), 0);
  o = (mkt_order){1, 1, MKT_SELL, 0, 5, 1000}; /* below feed-in */
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  o = (mkt_order){2, 2, MKT_BUY, 0, 5, 900000}; /* above retail */
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  expect_trade(&l.e[0], 2, 1, 5, 80000, MKT_BUY);
  o = (mkt_order){3, 2, MKT_BUY, 0, 5, 900000};
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  mkt_cda_level lv;
  size_t n;
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, &lv, 1, &n), 0);
  assert_int_equal(lv.price, 300000);
  mkt_cda_free(b);
}

static void test_cda_rejects_bad_input_without_changes(void **state) {
  (void)state;
  log l;
  mkt_cda_config cfg = {.capacity = 2,
                        .price_min = 10,
                        .price_max = 40,
                        .sink = {on_trade, on_self, on_residue, &l}};
  memset(&l, 0, sizeof l);
  mkt_cda *b;
  assert_int_equal(mkt_cda_new(&cfg, &b), 0);
  add(b, 1, 1, 'b', 5, 20);
  add(b, 2, 1, 'b', 5, 21);
  mkt_order o = {3, 2, MKT_SELL, 0, 1, 10};
  /* Full: refused even though this offer would trade at once. */
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EFULL);
  assert_int_equal(l.n, 0);
  assert_int_equal(mkt_cda_cancel(b, 1, NULL), 0);
  o.id = 2; /* order 2 still rests */
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EEXIST);
  o.id = 3;
  o.qty = 0;
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_ERANGE);
  o.qty = 1;
  o.side = (mkt_side)0;
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EINVAL);
  o.side = MKT_SELL;
  o.interval = 5;
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EINVAL);
  assert_int_equal(l.n, 0);
  assert_int_equal(mkt_cda_resting(b), 1);
  assert_int_equal(mkt_cda_depth(b, (mkt_side)5, NULL, 0, &(size_t){0}),
                   GL_EINVAL);
  mkt_cda_free(b);
  mkt_cda_free(NULL);

  mkt_cda_config bad = cfg;
  bad.capacity = 0;
  assert_int_equal(mkt_cda_new(&bad, &b), GL_EINVAL);
  bad = cfg;
  bad.price_min = 50;
  assert_int_equal(mkt_cda_new(&bad, &b), GL_EINVAL);
  bad = cfg;
  bad.price_max = bad.price_min + MKT_CDA_LEVELS_MAX;
  assert_int_equal(mkt_cda_new(&bad, &b), GL_EINVAL);
  bad.price_max = bad.price_min + MKT_CDA_LEVELS_MAX - 1;
  assert_int_equal(mkt_cda_new(&bad, &b), 0);
  mkt_cda_free(b);
}

/* With a tick of 500 µ/kWh the book has one level per 500; prices must lie
 * on the grid from price_min, and clamping lands on the grid's ends. */
static void test_cda_tick_grid(void **state) {
  (void)state;
  log l;
  memset(&l, 0, sizeof l);
  mkt_cda_config cfg = {.capacity = 4,
                        .price_min = 80000,
                        .price_max = 300000,
                        .tick = 500,
                        .clamp = true,
                        .sink = {on_trade, NULL, NULL, &l}};
  mkt_cda *b;
  assert_int_equal(mkt_cda_new(&cfg, &b), 0);
  mkt_order o = {1, 1, MKT_SELL, 0, 5, 150250};
  assert_int_equal(mkt_cda_add(b, &o, NULL), GL_EINVAL);
  o.price = 150500;
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  o = (mkt_order){2, 2, MKT_BUY, 0, 2, 999999}; /* clamps to 300000 */
  assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
  expect_trade(&l.e[0], 2, 1, 2, 150500, MKT_BUY);
  mkt_cda_level lv;
  size_t n;
  assert_int_equal(mkt_cda_depth(b, MKT_SELL, &lv, 1, &n), 0);
  assert_int_equal(lv.price, 150500);
  assert_int_equal(lv.qty, 3);
  mkt_cda_free(b);
  cfg.price_max = 300001; /* off the grid */
  assert_int_equal(mkt_cda_new(&cfg, &b), GL_EINVAL);
  cfg.price_max = 300000;
  cfg.tick = -5;
  assert_int_equal(mkt_cda_new(&cfg, &b), GL_EINVAL);
}

/* Depth walks levels best first and sums them. */
static void test_cda_depth_lists_levels_best_first(void **state) {
  (void)state;
  log l;
  mkt_cda *b = book(&l, false);
  add(b, 1, 1, 'b', 5, 20);
  add(b, 2, 2, 'b', 7, 20);
  add(b, 3, 3, 'b', 1, 12);
  add(b, 4, 4, 'b', 2, 39);
  mkt_cda_level lv[8];
  size_t n;
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, lv, 8, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(lv[0].price, 39);
  assert_int_equal(lv[1].price, 20);
  assert_int_equal(lv[1].qty, 12);
  assert_int_equal(lv[1].orders, 2);
  assert_int_equal(lv[2].price, 12);
  assert_int_equal(mkt_cda_depth(b, MKT_BUY, lv, 2, &n), 0);
  assert_int_equal(n, 2);
  mkt_cda_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cda_trades_at_resting_price),
      cmocka_unit_test(test_cda_price_then_time_priority),
      cmocka_unit_test(test_cda_partial_fills_rest_and_keep_priority),
      cmocka_unit_test(test_cda_cancel_removes_resting_order),
      cmocka_unit_test(test_cda_close_reports_residue_in_priority_order),
      cmocka_unit_test(test_cda_self_trade_prevention_decrements_both),
      cmocka_unit_test(test_cda_clamps_or_rejects_outside_prices),
      cmocka_unit_test(test_cda_rejects_bad_input_without_changes),
      cmocka_unit_test(test_cda_depth_lists_levels_best_first),
      cmocka_unit_test(test_cda_tick_grid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
