/* SPDX-License-Identifier: MIT */
/*
 * One interval through the shared pipeline (market_interval.h): worked
 * examples for each mode, the input checks, and determinism.
 */
#include "gridlet/error.h"
#include "gridlet/market_interval.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* feed-in 0.08, retail 0.30, fee 0.01 per kWh, in µ/kWh */
static const mkt_band band = {.feed_in = 80000, .retail = 300000, .fee = 10000};

static void test_expost_worked_example_partial_bid_sets_price(void **state) {
  (void)state;
  mkt_interval *iv;
  assert_int_equal(mkt_interval_new(8, 8, &iv), 0);
  mkt_interval_config cfg = {.mode = MKT_MODE_EXPOST, .band = band};
  /* 1 imported 1000 Wh and pays up to 0.25; 2 exported 600 Wh and wants at
   * least 0.10; 3 imported 200 Wh but pays at most 0.09. */
  mkt_standing st[] = {
      {1, 1000, 250000, 0}, {2, -600, 0, 100000}, {3, 200, 90000, 0}};
  mkt_interval_result r;
  assert_int_equal(mkt_interval_expost(iv, &cfg, 7, st, 3, 100, &r), 0);
  assert_int_equal(r.interval, 7);
  assert_int_equal(r.n_orders, 3);
  assert_int_equal(r.orders[0].id, 100);
  /* The marginal bid (1's) is only partly filled: it sets the price. */
  assert_int_equal(r.clearing.volume, 600);
  assert_int_equal(r.clearing.price, 250000);
  assert_int_equal(r.n_trades, 1);
  assert_int_equal(r.trades[0].buyer, 1);
  assert_int_equal(r.trades[0].seller, 2);
  assert_int_equal(r.trades[0].qty, 600);
  assert_int_equal(r.n_accounts, 3);
  const mkt_account *a = r.accounts;
  /* 1: 600 Wh locally for 0.150000, fee 0.006, 400 Wh from the grid 0.12 */
  assert_int_equal(a[0].bought, 600);
  assert_int_equal(a[0].local_paid, 150000);
  assert_int_equal(a[0].fee_paid, 6000);
  assert_int_equal(a[0].grid_import, 400);
  assert_int_equal(a[0].grid_paid, 120000);
  assert_int_equal(a[0].net, -276000);
  /* 2: sold everything locally */
  assert_int_equal(a[1].sold, 600);
  assert_int_equal(a[1].local_received, 150000);
  assert_int_equal(a[1].grid_export, 0);
  assert_int_equal(a[1].net, 150000);
  /* 3: bid below the seller's ask: all from the grid */
  assert_int_equal(a[2].bought, 0);
  assert_int_equal(a[2].grid_paid, 60000);
  assert_int_equal(a[2].net, -60000);
  assert_int_equal(r.totals.local, 600);
  assert_int_equal(r.totals.utility_net, 180000);
  assert_int_equal(r.totals.fees, 6000);
  assert_int_equal(r.totals.participants_net, -186000);
  mkt_interval_free(iv);
}

static void test_exante_settles_imbalance_against_measurements(void **state) {
  (void)state;
  mkt_interval *iv;
  assert_int_equal(mkt_interval_new(4, 4, &iv), 0);
  mkt_interval_config cfg = {.mode = MKT_MODE_EXANTE, .band = band};
  /* 1 bought 500 Wh ahead but used 700; 2 sold 500 ahead but made 300. */
  mkt_order orders[] = {{1, 1, MKT_BUY, 9, 500, 200000},
                        {2, 2, MKT_SELL, 9, 500, 150000}};
  mkt_meter meters[] = {{1, 700}, {2, -300}};
  mkt_interval_result r;
  assert_int_equal(mkt_interval_exante(iv, &cfg, 9, orders, 2, meters, 2, &r),
                   0);
  assert_int_equal(r.clearing.volume, 500);
  /* both levels filled exactly: the midpoint */
  assert_int_equal(r.clearing.price, 175000);
  const mkt_account *a = r.accounts;
  assert_int_equal(a[0].bought, 500);
  assert_int_equal(a[0].grid_import, 200); /* short by 200 */
  assert_int_equal(a[1].sold, 500);
  assert_int_equal(a[1].grid_import, 200); /* delivered only 300: buys 200 */
  assert_int_equal(a[1].grid_paid, 60000);
  assert_int_equal(r.totals.measured, 400);
  assert_int_equal(r.totals.grid_import - r.totals.grid_export, 400);
  mkt_interval_free(iv);
}

static void test_continuous_settles_given_trades_and_copies_them(void **state) {
  (void)state;
  mkt_interval *iv;
  assert_int_equal(mkt_interval_new(4, 4, &iv), 0);
  mkt_interval_config cfg = {.mode = MKT_MODE_CONTINUOUS, .band = band};
  mkt_trade t[] = {{11, 12, 1, 2, 300, 120000, 120000}};
  mkt_meter meters[] = {{1, 300}, {2, -300}};
  mkt_interval_result r;
  assert_int_equal(mkt_interval_continuous(iv, &cfg, 3, t, 1, meters, 2, &r),
                   0);
  memset(t, 0, sizeof t); /* the caller reuses its buffer */
  assert_int_equal(r.n_trades, 1);
  assert_int_equal(r.trades[0].qty, 300);
  assert_int_equal(r.accounts[0].local_paid, 36000);
  assert_int_equal(r.accounts[0].grid_import, 0);
  assert_int_equal(r.accounts[1].local_received, 36000);
  mkt_interval_free(iv);
}

static void test_inputs_are_checked(void **state) {
  (void)state;
  mkt_interval *iv;
  assert_int_equal(mkt_interval_new(0, 1, &iv), GL_EINVAL);
  assert_int_equal(mkt_interval_new(2, 2, &iv), 0);
  mkt_interval_result r;
  mkt_interval_config expost = {.mode = MKT_MODE_EXPOST, .band = band};
  mkt_interval_config exante = {.mode = MKT_MODE_EXANTE, .band = band};
  mkt_standing unsorted[] = {{2, 1, 100000, 0}, {1, -1, 0, 90000}};
  assert_int_equal(mkt_interval_expost(iv, &expost, 1, unsorted, 2, 0, &r),
                   GL_EINVAL);
  mkt_standing three[] = {{1, 1, 1, 0}, {2, 1, 1, 0}, {3, 1, 1, 0}};
  assert_int_equal(mkt_interval_expost(iv, &expost, 1, three, 3, 0, &r),
                   GL_EFULL);
  /* the wrong entry point for the configured mode */
  assert_int_equal(mkt_interval_expost(iv, &exante, 1, three, 1, 0, &r),
                   GL_EINVAL);
  /* an order from a participant without a measurement */
  mkt_order o[] = {{1, 5, MKT_BUY, 1, 10, 100000}};
  mkt_meter m[] = {{1, 10}};
  assert_int_equal(mkt_interval_exante(iv, &exante, 1, o, 1, m, 1, &r),
                   GL_ENOENT);
  /* an order for another interval */
  mkt_order other[] = {{1, 1, MKT_BUY, 2, 10, 100000}};
  assert_int_equal(mkt_interval_exante(iv, &exante, 1, other, 1, m, 1, &r),
                   GL_EINVAL);
  mkt_interval_free(iv);
  mkt_interval_free(NULL);
}

/* Random communities: conservation holds (asserted inside), and the same
 * inputs give byte-identical results from two independent handles. */
static void test_expost_random_communities_are_deterministic(void **state) {
  (void)state;
  enum { N = 200 };
  gl_seeded_rand *sr = gl_seeded_rand_new(2026);
  gl_rand rnd = gl_seeded_rand_rand(sr);
  mkt_interval *a, *b;
  assert_int_equal(mkt_interval_new(N, N, &a), 0);
  assert_int_equal(mkt_interval_new(N, N, &b), 0);
  mkt_standing st[N];
  for (int round = 0; round < 50; round++) {
    for (uint32_t i = 0; i < N; i++) {
      uint64_t v;
      gl_rand_below(&rnd, 4001, &v);
      st[i].participant = i * 3 + 1;
      st[i].net = (int64_t)v - 2000;
      gl_rand_below(&rnd, 300000, &v);
      st[i].buy_limit = (int64_t)v;
      gl_rand_below(&rnd, 300000, &v);
      st[i].sell_limit = (int64_t)v;
    }
    mkt_interval_config cfg = {.mode = MKT_MODE_EXPOST,
                               .band = band,
                               .rule = (mkt_rule)(round % 4),
                               .k_ppm = 500000};
    mkt_interval_result ra, rb;
    assert_int_equal(mkt_interval_expost(a, &cfg, round, st, N, 0, &ra), 0);
    assert_int_equal(mkt_interval_expost(b, &cfg, round, st, N, 0, &rb), 0);
    assert_int_equal(ra.n_trades, rb.n_trades);
    assert_memory_equal(ra.trades, rb.trades, ra.n_trades * sizeof(mkt_trade));
    assert_memory_equal(ra.accounts, rb.accounts, N * sizeof(mkt_account));
    int64_t bought = 0, sold = 0;
    for (int i = 0; i < N; i++) {
      bought += ra.accounts[i].bought;
      sold += ra.accounts[i].sold;
      /* expost: nobody trades more than it measured */
      assert_true(ra.accounts[i].bought <= (st[i].net > 0 ? st[i].net : 0));
      assert_true(ra.accounts[i].sold <= (st[i].net < 0 ? -st[i].net : 0));
    }
    assert_int_equal(bought, sold);
  }
  mkt_interval_free(a);
  mkt_interval_free(b);
  gl_seeded_rand_free(sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expost_worked_example_partial_bid_sets_price),
      cmocka_unit_test(test_exante_settles_imbalance_against_measurements),
      cmocka_unit_test(test_continuous_settles_given_trades_and_copies_them),
      cmocka_unit_test(test_inputs_are_checked),
      cmocka_unit_test(test_expost_random_communities_are_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
