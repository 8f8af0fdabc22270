/* SPDX-License-Identifier: MIT */
/*
 * Worked examples for the call auction: every price rule, both rationing
 * rules, exact splits, partial fills on either side, ties at the marginal
 * price, empty books, one side empty, no crossing, the band, self-trade
 * prevention and the error paths. Each expected figure is worked out by
 * hand in the comment above it.
 */
#include "gridlet/error.h"
#include "gridlet/market_auction.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* A book line: side, participant, qty, price. Order ids are 1, 2, ... */
typedef struct spec {
  char side;
  uint32_t participant;
  int64_t qty, price;
} spec;

static mkt_auction *book(const spec *s, size_t n) {
  mkt_auction *a;
  assert_int_equal(mkt_auction_new(n ? n : 1, &a), 0);
  for (size_t i = 0; i < n; i++) {
    mkt_order o = {
        i + 1, s[i].participant, s[i].side == 'b' ? MKT_BUY : MKT_SELL,
        0,     s[i].qty,         s[i].price};
    assert_int_equal(mkt_auction_add(a, &o), 0);
  }
  return a;
}

#define BOOK(...)                                                              \
  book((const spec[]){__VA_ARGS__},                                            \
       sizeof((const spec[]){__VA_ARGS__}) / sizeof(spec))

static mkt_clearing clear(mkt_auction *a, mkt_auction_config cfg) {
  mkt_clearing c;
  assert_int_equal(mkt_auction_clear(a, &cfg, &c), 0);
  return c;
}

static int64_t filled(const mkt_auction *a, size_t id) {
  mkt_fill f;
  assert_int_equal(mkt_auction_fill(a, id - 1, &f), 0);
  return f.filled;
}

static void expect_trade(const mkt_trade *t, uint64_t buy, uint64_t sell,
                         int64_t qty, int64_t price) {
  assert_int_equal(t->buy_id, buy);
  assert_int_equal(t->sell_id, sell);
  assert_int_equal(t->qty, qty);
  assert_int_equal(t->buy_price, price);
  assert_int_equal(t->sell_price, price);
}

/* The textbook book: bids 30, 25, 20 and offers 15, 22, 28, 100 Wh each.
 * 30 meets 15, 25 meets 22, then 20 < 28: V = 200 and both marginal orders
 * (the bid at 25, the offer at 22) are filled exactly. */
static mkt_auction *textbook(void) {
  return BOOK({'b', 1, 100, 30}, {'b', 2, 100, 25}, {'b', 3, 100, 20},
              {'s', 4, 100, 15}, {'s', 5, 100, 22}, {'s', 6, 100, 28});
}

/* (25 + 22) / 2 = 23.5, rounded half to even: 24. */
static void test_call_auction_exact_split_takes_midpoint(void **state) {
  (void)state;
  mkt_auction *a = textbook();
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 200);
  assert_int_equal(c.price, 24);
  assert_int_equal(c.buy_price, 24);
  assert_int_equal(c.sell_price, 24);
  assert_int_equal(c.marginal_bid, 25);
  assert_int_equal(c.marginal_ask, 22);
  assert_int_equal(c.demand, 300);
  assert_int_equal(c.supply, 300);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  expect_trade(&t[0], 1, 4, 100, 24);
  expect_trade(&t[1], 2, 5, 100, 24);
  assert_int_equal(t[0].buyer, 1);
  assert_int_equal(t[0].seller, 4);
  assert_int_equal(filled(a, 3), 0);
  assert_int_equal(filled(a, 6), 0);
  mkt_auction_free(a);
}

/* Marginal pair 25 / 20: the midpoint 22.5 rounds to the even 22. */
static void test_call_auction_midpoint_rounds_half_to_even(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 25}, {'b', 2, 100, 10}, {'s', 3, 100, 20},
                        {'s', 4, 100, 40});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 100);
  assert_int_equal(c.price, 22);
  mkt_auction_free(a);
}

/* Bid 30 for 150 Wh; offers 20 and 25, 100 Wh each. 30 takes all of the
 * offer at 20 and 50 Wh of the offer at 25, which stays partly filled: the
 * price is that offer's, 25. */
static void test_call_auction_partial_offer_sets_price(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'b', 1, 150, 30}, {'s', 2, 100, 20}, {'s', 3, 100, 25});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 150);
  assert_int_equal(c.price, 25);
  assert_int_equal(filled(a, 2), 100);
  assert_int_equal(filled(a, 3), 50);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  expect_trade(&t[0], 1, 2, 100, 25);
  expect_trade(&t[1], 1, 3, 50, 25);
  mkt_auction_free(a);
}

/* Bids 30 and 28, 100 Wh each; one offer at 20 for 150 Wh. The bid at 28
 * gets 50 of its 100 Wh: the price is that bid's, 28. */
static void test_call_auction_partial_bid_sets_price(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'b', 1, 100, 30}, {'b', 2, 100, 28}, {'s', 3, 150, 20});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 150);
  assert_int_equal(c.price, 28);
  assert_int_equal(filled(a, 1), 100);
  assert_int_equal(filled(a, 2), 50);
  mkt_auction_free(a);
}

/* Bid 30 for 7 Wh against three offers at 20 of 3 Wh each (Q = 9, R = 7):
 * each share is 3 * 7 / 9 = 2.33, floor 2, remainder 3 each; the one
 * leftover Wh goes to the earliest of the tied remainders. */
static void test_call_auction_pro_rata_ties_go_to_earliest(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'b', 1, 7, 30}, {'s', 2, 3, 20}, {'s', 3, 3, 20}, {'s', 4, 3, 20});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 7);
  assert_int_equal(c.price, 20);
  assert_int_equal(filled(a, 2), 3);
  assert_int_equal(filled(a, 3), 2);
  assert_int_equal(filled(a, 4), 2);
  mkt_auction_free(a);
}

/* R = 7 over offers of 4 and 5 Wh (Q = 9): shares 28/9 = 3 r 1 and 35/9 =
 * 3 r 8; the leftover Wh goes to the larger remainder, the 5 Wh offer,
 * although it was added second. */
static void
test_call_auction_pro_rata_leftover_to_largest_remainder(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 7, 30}, {'s', 2, 4, 20}, {'s', 3, 5, 20});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 7);
  assert_int_equal(filled(a, 2), 3);
  assert_int_equal(filled(a, 3), 4);
  /* Time priority instead: the earlier offer fills completely first. */
  c = clear(a, (mkt_auction_config){.rationing = MKT_RATION_TIME});
  assert_int_equal(c.volume, 7);
  assert_int_equal(filled(a, 2), 4);
  assert_int_equal(filled(a, 3), 3);
  mkt_auction_free(a);
}

/* Pro-rata with exact shares: R = 50 over 60/30/10 gives 30/15/5. */
static void test_call_auction_pro_rata_exact_shares(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 9, 50, 30}, {'s', 1, 60, 20}, {'s', 2, 30, 20},
                        {'s', 3, 10, 20});
  clear(a, (mkt_auction_config){0});
  assert_int_equal(filled(a, 2), 30);
  assert_int_equal(filled(a, 3), 15);
  assert_int_equal(filled(a, 4), 5);
  mkt_auction_free(a);
}

static void test_call_auction_empty_book_clears_nothing(void **state) {
  (void)state;
  mkt_auction *a;
  assert_int_equal(mkt_auction_new(4, &a), 0);
  for (int rule = 0; rule < 4; rule++) {
    mkt_clearing c = clear(a, (mkt_auction_config){.rule = (mkt_rule)rule});
    assert_int_equal(c.volume, 0);
    assert_int_equal(c.price, 0);
    assert_int_equal(c.trades, 0);
  }
  size_t n;
  mkt_auction_trades(a, &n);
  assert_int_equal(n, 0);
  mkt_auction_free(a);
}

static void test_call_auction_one_side_empty_clears_nothing(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 30}, {'b', 2, 50, 40});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 0);
  assert_int_equal(c.demand, 150);
  assert_int_equal(c.supply, 0);
  assert_int_equal(filled(a, 1), 0);
  mkt_auction_free(a);
  a = BOOK({'s', 1, 100, 30});
  c = clear(a, (mkt_auction_config){.rule = MKT_RULE_MCAFEE});
  assert_int_equal(c.volume, 0);
  assert_int_equal(c.supply, 100);
  mkt_auction_free(a);
}

static void test_call_auction_no_crossing_clears_nothing(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 10}, {'b', 2, 100, 19}, {'s', 3, 100, 20},
                        {'s', 4, 100, 30});
  for (int rule = 0; rule < 4; rule++) {
    mkt_clearing c = clear(a, (mkt_auction_config){.rule = (mkt_rule)rule});
    assert_int_equal(c.volume, 0);
    assert_int_equal(c.trades, 0);
    for (size_t id = 1; id <= 4; id++)
      assert_int_equal(filled(a, id), 0);
  }
  mkt_auction_free(a);
}

/* k-double auction on the textbook pair (b, s) = (25, 22):
 * k = 0.25: 0.25 * 25 + 0.75 * 22 = 22.75 -> 23; k = 0: 22; k = 1: 25;
 * k = 0.5: 23.5 -> 24. */
static void test_call_auction_k_rule_weights_marginal_pair(void **state) {
  (void)state;
  mkt_auction *a = textbook();
  static const struct {
    int32_t k;
    int64_t price;
  } cases[] = {{250000, 23}, {0, 22}, {1000000, 25}, {500000, 24}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mkt_clearing c =
        clear(a, (mkt_auction_config){.rule = MKT_RULE_K, .k_ppm = cases[i].k});
    assert_int_equal(c.volume, 200);
    assert_int_equal(c.price, cases[i].price);
    size_t n;
    const mkt_trade *t = mkt_auction_trades(a, &n);
    for (size_t j = 0; j < n; j++)
      assert_int_equal(t[j].buy_price, cases[i].price);
  }
  mkt_auction_free(a);
}

/* McAfee with unit orders (1 Wh each; prices in µ/kWh).
 * Bids 100k, 90k, 80k, 60k; offers 10k, 20k, 30k, 70k. k = 3 units trade
 * efficiently (80k >= 30k, 60k < 70k); b4 = 60k, s4 = 70k, p0 = 65k lies in
 * [s3, b3] = [30k, 80k]: all three trade at 65k. */
static void test_call_auction_mcafee_unit_orders_trade_at_p0(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'b', 1, 1, 100000}, {'b', 2, 1, 90000}, {'b', 3, 1, 80000},
           {'b', 4, 1, 60000}, {'s', 5, 1, 10000}, {'s', 6, 1, 20000},
           {'s', 7, 1, 30000}, {'s', 8, 1, 70000});
  mkt_clearing c = clear(a, (mkt_auction_config){.rule = MKT_RULE_MCAFEE});
  assert_false(c.reduced);
  assert_int_equal(c.volume, 3);
  assert_int_equal(c.price, 65000);
  assert_int_equal(c.buy_price, 65000);
  assert_int_equal(c.sell_price, 65000);
  mkt_auction_free(a);
}

/* Bids 100k, 90k, 80k, 10k; offers 10k, 20k, 70k, 200k. k = 3 (80k >= 70k);
 * p0 = (10k + 200k) / 2 = 105k is above b3 = 80k, so trade reduction: the
 * third pair is dropped, two units trade, buyers pay b3 = 80k and sellers
 * receive s3 = 70k; the 10k/kWh difference is the surplus. */
static void test_call_auction_mcafee_reduces_when_p0_outside(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'b', 1, 1, 100000}, {'b', 2, 1, 90000}, {'b', 3, 1, 80000},
           {'b', 4, 1, 10000}, {'s', 5, 1, 10000}, {'s', 6, 1, 20000},
           {'s', 7, 1, 70000}, {'s', 8, 1, 200000});
  mkt_clearing c = clear(a, (mkt_auction_config){.rule = MKT_RULE_MCAFEE});
  assert_true(c.reduced);
  assert_int_equal(c.volume, 2);
  assert_int_equal(c.buy_price, 80000);
  assert_int_equal(c.sell_price, 70000);
  assert_int_equal(c.price, 75000);
  assert_int_equal(c.marginal_bid, 80000);
  assert_int_equal(c.marginal_ask, 70000);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(t[i].buy_price, 80000);
    assert_int_equal(t[i].sell_price, 70000);
    assert_true(t[i].buy_id <= 2 && t[i].sell_id >= 5 && t[i].sell_id <= 6);
  }
  assert_int_equal(filled(a, 3), 0);
  assert_int_equal(filled(a, 7), 0);
  mkt_money_split m;
  assert_int_equal(mkt_trade_money(&t[0], 0, &m), 0);
  assert_int_equal(m.buyer_pays, 80); /* 1 Wh at 80000 µ/kWh */
  assert_int_equal(m.seller_gets, 70);
  assert_int_equal(m.surplus, 10);
  mkt_auction_free(a);
}

/* When every order trades there is no (k+1)-th unit: McAfee reduces. One
 * unit bid against one unit offer trades nothing. */
static void test_call_auction_mcafee_without_next_unit_reduces(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 1, 50000}, {'s', 2, 1, 10000});
  mkt_clearing c = clear(a, (mkt_auction_config){.rule = MKT_RULE_MCAFEE});
  assert_true(c.reduced);
  assert_int_equal(c.volume, 0);
  assert_int_equal(c.trades, 0);
  assert_int_equal(filled(a, 1), 0);
  mkt_auction_free(a);
}

/* McAfee with quantities: the unit expansion. Bid 30 for 5 Wh, offer 10 for
 * 3 Wh and offer 40 for 2 Wh: V = 3; the fourth bid unit is still at 30 and
 * the fourth offer unit at 40, p0 = 35 > b = 30: reduce to 2 Wh, buyers pay
 * 30, sellers get 10. */
static void
test_call_auction_mcafee_quantities_use_unit_expansion(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 5, 30}, {'s', 2, 3, 10}, {'s', 3, 2, 40});
  mkt_clearing c = clear(a, (mkt_auction_config){.rule = MKT_RULE_MCAFEE});
  assert_true(c.reduced);
  assert_int_equal(c.volume, 2);
  assert_int_equal(c.buy_price, 30);
  assert_int_equal(c.sell_price, 10);
  assert_int_equal(filled(a, 1), 2);
  assert_int_equal(filled(a, 2), 2);
  mkt_auction_free(a);
}

/* Pay-as-bid on the textbook book: the bid at 30 meets the offer at 15 and
 * pays 30; the bid at 25 meets 22 and pays 25. Average (30 + 25) / 2 =
 * 27.5 -> 28. */
static void test_call_auction_pay_as_bid_prices_each_pair(void **state) {
  (void)state;
  mkt_auction *a = textbook();
  mkt_clearing c = clear(a, (mkt_auction_config){.rule = MKT_RULE_PAY_AS_BID});
  assert_int_equal(c.volume, 200);
  assert_int_equal(c.price, 28);
  assert_int_equal(c.buy_price, 28);
  assert_int_equal(c.sell_price, 28);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  expect_trade(&t[0], 1, 4, 100, 30);
  expect_trade(&t[1], 2, 5, 100, 25);
  mkt_auction_free(a);
}

/* Pay-as-bid pairs in price priority even when the add order differs: the
 * lowest offer (added last) meets the highest bid (added last). */
static void test_call_auction_pay_as_bid_pairs_by_price(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 10, 25}, {'b', 2, 10, 30}, {'s', 3, 10, 22},
                        {'s', 4, 10, 15});
  clear(a, (mkt_auction_config){.rule = MKT_RULE_PAY_AS_BID});
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  expect_trade(&t[0], 2, 4, 10, 30);
  expect_trade(&t[1], 1, 3, 10, 25);
  mkt_auction_free(a);
}

/* Uniform prices pair filled orders in add order. */
static void test_call_auction_uniform_pairs_in_add_order(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 10, 25}, {'b', 2, 10, 30}, {'s', 3, 10, 22},
                        {'s', 4, 10, 15});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.volume, 20);
  assert_int_equal(c.price, 24); /* exact split: (25 + 22) / 2 = 23.5 */
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 2);
  expect_trade(&t[0], 1, 3, 10, 24);
  expect_trade(&t[1], 2, 4, 10, 24);
  mkt_auction_free(a);
}

/* Band [80000, 300000]: the bid at 400000 counts as 300000 and the offer at
 * 50000 as 80000; exact split, midpoint 190000. */
static void test_call_auction_band_clamps_limits(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 400000}, {'s', 2, 100, 50000});
  mkt_band band = {80000, 300000, 0};
  mkt_clearing c = clear(a, (mkt_auction_config){.band = &band});
  assert_int_equal(c.volume, 100);
  assert_int_equal(c.price, 190000);
  assert_int_equal(c.marginal_bid, 300000);
  assert_int_equal(c.marginal_ask, 80000);
  mkt_fill f;
  assert_int_equal(mkt_auction_fill(a, 0, &f), 0);
  assert_int_equal(f.price, 300000);
  assert_int_equal(mkt_auction_fill(a, 1, &f), 0);
  assert_int_equal(f.price, 80000);
  /* Without the band the limits stand: midpoint of 400000 and 50000. */
  c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.price, 225000);
  /* A band entirely above the offer and below the bid still clears. */
  mkt_band narrow = {100000, 100000, 0};
  c = clear(a, (mkt_auction_config){.band = &narrow});
  assert_int_equal(c.price, 100000);
  mkt_auction_free(a);
}

/* Participant 1 bids 30 for 100 and offers at 20 for 60; participant 2
 * offers at 25 for 100. Netting takes 60 from participant 1's bid and all of
 * its offer; its remaining 40 Wh bid meets participant 2's offer, which is
 * partly filled: price 25. Without prevention 1 trades with itself. */
static void
test_call_auction_self_trade_prevention_nets_own_orders(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 30}, {'s', 1, 60, 20}, {'s', 2, 100, 25});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.netted, 60);
  assert_int_equal(c.demand, 40);
  assert_int_equal(c.supply, 100);
  assert_int_equal(c.volume, 40);
  assert_int_equal(c.price, 25);
  mkt_fill f;
  assert_int_equal(mkt_auction_fill(a, 0, &f), 0);
  assert_int_equal(f.netted, 60);
  assert_int_equal(f.filled, 40);
  assert_int_equal(mkt_auction_fill(a, 1, &f), 0);
  assert_int_equal(f.netted, 60);
  assert_int_equal(f.filled, 0);
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  assert_int_equal(n, 1);
  assert_int_equal(t[0].buyer, 1);
  assert_int_equal(t[0].seller, 2);

  c = clear(a, (mkt_auction_config){.allow_self_trade = true});
  assert_int_equal(c.netted, 0);
  assert_int_equal(c.volume, 100);
  assert_int_equal(c.price, 25);
  t = mkt_auction_trades(a, &n);
  bool self = false;
  for (size_t i = 0; i < n; i++)
    self |= t[i].buyer == t[i].seller;
  assert_true(self);
  mkt_auction_free(a);
}

/* A participant whose bids are all below its offers is not netted. */
static void
test_call_auction_self_trade_prevention_ignores_uncrossed(void **state) {
  (void)state;
  mkt_auction *a = BOOK({'b', 1, 100, 20}, {'s', 1, 100, 30}, {'s', 2, 100, 10},
                        {'b', 3, 100, 40});
  mkt_clearing c = clear(a, (mkt_auction_config){0});
  assert_int_equal(c.netted, 0);
  assert_int_equal(c.demand, 200);
  assert_int_equal(c.volume, 100); /* 40 meets 10; 20 < 30 */
  mkt_auction_free(a);
}

/* Time priority at the marginal price: the earlier of two equal bids fills
 * first and completely. */
static void test_call_auction_time_priority_fills_earliest(void **state) {
  (void)state;
  mkt_auction *a =
      BOOK({'s', 1, 150, 10}, {'b', 2, 100, 20}, {'b', 3, 100, 20});
  clear(a, (mkt_auction_config){.rationing = MKT_RATION_TIME});
  assert_int_equal(filled(a, 2), 100);
  assert_int_equal(filled(a, 3), 50);
  clear(a, (mkt_auction_config){0});
  assert_int_equal(filled(a, 2), 75);
  assert_int_equal(filled(a, 3), 75);
  mkt_auction_free(a);
}

/* Clearing again under another rule gives what a fresh book would. */
static void test_call_auction_reclearing_matches_fresh_book(void **state) {
  (void)state;
  mkt_auction *a = textbook();
  clear(a, (mkt_auction_config){.rule = MKT_RULE_PAY_AS_BID});
  mkt_clearing again = clear(a, (mkt_auction_config){0});
  size_t n1, n2;
  const mkt_trade *t1 = mkt_auction_trades(a, &n1);
  mkt_auction *b = textbook();
  mkt_clearing fresh = clear(b, (mkt_auction_config){0});
  const mkt_trade *t2 = mkt_auction_trades(b, &n2);
  assert_memory_equal(&again, &fresh, sizeof again);
  assert_int_equal(n1, n2);
  assert_memory_equal(t1, t2, n1 * sizeof *t1);
  mkt_auction_free(a);
  mkt_auction_free(b);
}

static void test_call_auction_rejects_bad_orders_and_config(void **state) {
  (void)state;
  mkt_auction *a;
  assert_int_equal(mkt_auction_new(0, &a), GL_EINVAL);
  assert_int_equal(mkt_auction_new(2, &a), 0);
  mkt_order o = {1, 1, MKT_BUY, 0, 100, 30};
  mkt_order bad = o;
  bad.side = (mkt_side)0;
  assert_int_equal(mkt_auction_add(a, &bad), GL_EINVAL);
  bad = o;
  bad.qty = 0;
  assert_int_equal(mkt_auction_add(a, &bad), GL_ERANGE);
  bad.qty = MKT_QTY_MAX + 1;
  assert_int_equal(mkt_auction_add(a, &bad), GL_ERANGE);
  bad = o;
  bad.price = MKT_PRICE_MAX + 1;
  assert_int_equal(mkt_auction_add(a, &bad), GL_ERANGE);
  bad = o;
  bad.interval = 7;
  assert_int_equal(mkt_auction_add(a, &bad), GL_EINVAL);
  assert_int_equal(mkt_auction_add(a, &o), 0);
  assert_int_equal(mkt_auction_add(a, &o), 0);
  assert_int_equal(mkt_auction_add(a, &o), GL_EFULL);
  assert_int_equal(mkt_auction_count(a), 2);

  mkt_fill f;
  assert_int_equal(mkt_auction_fill(a, 0, &f), GL_ESTATE);
  mkt_clearing c;
  mkt_auction_config cfg = {.rule = MKT_RULE_K, .k_ppm = 1000001};
  assert_int_equal(mkt_auction_clear(a, &cfg, &c), GL_EINVAL);
  cfg = (mkt_auction_config){.rule = (mkt_rule)9};
  assert_int_equal(mkt_auction_clear(a, &cfg, &c), GL_EINVAL);
  mkt_band band = {300, 100, 0}; /* feed-in above retail */
  cfg = (mkt_auction_config){.band = &band};
  assert_int_equal(mkt_auction_clear(a, &cfg, &c), GL_EINVAL);
  assert_int_equal(mkt_auction_clear(a, NULL, &c), 0);
  assert_int_equal(mkt_auction_fill(a, 2, &f), GL_ENOENT);

  mkt_order back;
  assert_int_equal(mkt_auction_order(a, 1, &back), 0);
  assert_memory_equal(&back, &o, sizeof o);
  assert_int_equal(mkt_auction_order(a, 2, &back), GL_ENOENT);

  mkt_auction_reset(a, 7);
  assert_int_equal(mkt_auction_count(a), 0);
  o.interval = 7;
  assert_int_equal(mkt_auction_add(a, &o), 0);
  mkt_auction_free(a);
  mkt_auction_free(NULL);
}

static void test_call_auction_rule_names_round_trip(void **state) {
  (void)state;
  for (int r = 0; r < 4; r++) {
    mkt_rule back;
    assert_int_equal(mkt_rule_parse(mkt_rule_name((mkt_rule)r), &back), 0);
    assert_int_equal(back, r);
  }
  mkt_rule rule;
  assert_int_equal(mkt_rule_parse("uniform", &rule), GL_EINVAL);
  assert_string_equal(mkt_rule_name((mkt_rule)7), "?");
  mkt_rationing ra;
  assert_int_equal(mkt_rationing_parse("time", &ra), 0);
  assert_int_equal(ra, MKT_RATION_TIME);
  assert_int_equal(mkt_rationing_parse("fifo", &ra), GL_EINVAL);
  assert_string_equal(mkt_rationing_name(MKT_RATION_PRO_RATA), "pro-rata");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_auction_exact_split_takes_midpoint),
      cmocka_unit_test(test_call_auction_midpoint_rounds_half_to_even),
      cmocka_unit_test(test_call_auction_partial_offer_sets_price),
      cmocka_unit_test(test_call_auction_partial_bid_sets_price),
      cmocka_unit_test(test_call_auction_pro_rata_ties_go_to_earliest),
      cmocka_unit_test(
          test_call_auction_pro_rata_leftover_to_largest_remainder),
      cmocka_unit_test(test_call_auction_pro_rata_exact_shares),
      cmocka_unit_test(test_call_auction_empty_book_clears_nothing),
      cmocka_unit_test(test_call_auction_one_side_empty_clears_nothing),
      cmocka_unit_test(test_call_auction_no_crossing_clears_nothing),
      cmocka_unit_test(test_call_auction_k_rule_weights_marginal_pair),
      cmocka_unit_test(test_call_auction_mcafee_unit_orders_trade_at_p0),
      cmocka_unit_test(test_call_auction_mcafee_reduces_when_p0_outside),
      cmocka_unit_test(test_call_auction_mcafee_without_next_unit_reduces),
      cmocka_unit_test(test_call_auction_mcafee_quantities_use_unit_expansion),
      cmocka_unit_test(test_call_auction_pay_as_bid_prices_each_pair),
      cmocka_unit_test(test_call_auction_pay_as_bid_pairs_by_price),
      cmocka_unit_test(test_call_auction_uniform_pairs_in_add_order),
      cmocka_unit_test(test_call_auction_band_clamps_limits),
      cmocka_unit_test(test_call_auction_self_trade_prevention_nets_own_orders),
      cmocka_unit_test(
          test_call_auction_self_trade_prevention_ignores_uncrossed),
      cmocka_unit_test(test_call_auction_time_priority_fills_earliest),
      cmocka_unit_test(test_call_auction_reclearing_matches_fresh_book),
      cmocka_unit_test(test_call_auction_rejects_bad_orders_and_config),
      cmocka_unit_test(test_call_auction_rule_names_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
