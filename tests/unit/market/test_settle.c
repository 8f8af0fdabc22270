/* SPDX-License-Identifier: MIT */
/*
 * Settlement: worked examples for exante/continuous imbalance and for the
 * whole expost path (measurements -> orders -> auction -> settlement), the
 * error paths, and a property test that recomputes every account from the
 * trades and checks that energy and money are conserved exactly.
 */
#include "gridlet/error.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const mkt_band band = {80000, 300000, 10000};

/* Participant 1 bought 1000 Wh from 2 at 200000 µ/kWh (fee 10000 µ/kWh).
 *   1 measured +1500: contracted +1000, short 500 -> 500 Wh at retail =
 *     150000 µ; paid 200000 for energy and 10000 fee.
 *   2 measured -800: contracted -1000, so it delivered 200 Wh less than it
 *     sold: short 200 -> 60000 µ at retail; received 200000.
 *   3 measured -500 with no trades: long 500 -> 40000 µ at feed-in.
 */
static void test_settle_exante_imbalance_with_utility(void **state) {
  (void)state;
  mkt_trade t = {11, 12, 1, 2, 1000, 200000, 200000};
  mkt_meter m[] = {{1, 1500}, {2, -800}, {3, -500}};
  mkt_account a[3];
  mkt_settle_totals tot;
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, &t, 1, m, 3, a, &tot), 0);
  assert_int_equal(a[0].participant, 1);
  assert_int_equal(a[0].bought, 1000);
  assert_int_equal(a[0].sold, 0);
  assert_int_equal(a[0].grid_import, 500);
  assert_int_equal(a[0].grid_export, 0);
  assert_int_equal(a[0].local_paid, 200000);
  assert_int_equal(a[0].fee_paid, 10000);
  assert_int_equal(a[0].grid_paid, 150000);
  assert_int_equal(a[0].net, -360000);
  assert_int_equal(a[1].sold, 1000);
  assert_int_equal(a[1].grid_import, 200);
  assert_int_equal(a[1].local_received, 200000);
  assert_int_equal(a[1].grid_paid, 60000);
  assert_int_equal(a[1].net, 140000);
  assert_int_equal(a[2].grid_export, 500);
  assert_int_equal(a[2].grid_received, 40000);
  assert_int_equal(a[2].net, 40000);
  assert_int_equal(tot.local, 1000);
  assert_int_equal(tot.measured, 200);
  assert_int_equal(tot.grid_import, 700);
  assert_int_equal(tot.grid_export, 500);
  assert_int_equal(tot.fees, 10000);
  assert_int_equal(tot.surplus, 0);
  assert_int_equal(tot.utility_net, 210000 - 40000);
  assert_int_equal(tot.participants_net, -180000);
  assert_int_equal(tot.participants_net + tot.fees + tot.utility_net, 0);
  /* Continuous mode settles the same way. */
  mkt_account c[3];
  assert_int_equal(mkt_settle(MKT_MODE_CONTINUOUS, &band, &t, 1, m, 3, c, NULL),
                   0);
  assert_memory_equal(a, c, sizeof a);
}

/* The expost path, end to end. Standing limits: 1 pays up to 250000, 2 and 3
 * accept 100000 and 150000. Measured: 1 imported 900, 2 exported 600, 3
 * exported 500, 4 nothing. The call auction matches 900 Wh: all 600 of the
 * cheaper seller and 300 of the other, whose offer is the partly filled
 * marginal one, so the price is its limit, 150000. Each seller's unmatched
 * energy goes to the utility at feed-in; nobody has a shortfall. */
static void test_settle_expost_runs_measurements_through_auction(void **state) {
  (void)state;
  mkt_standing st[] = {{1, 900, 250000, 90000},
                       {2, -600, 280000, 100000},
                       {3, -500, 280000, 150000},
                       {4, 0, 250000, 100000}};
  mkt_order o[4];
  size_t n;
  assert_int_equal(mkt_expost_orders(st, 4, 96, 1000, o, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(o[0].side, MKT_BUY);
  assert_int_equal(o[0].qty, 900);
  assert_int_equal(o[0].price, 250000);
  assert_int_equal(o[0].id, 1000);
  assert_int_equal(o[1].side, MKT_SELL);
  assert_int_equal(o[1].qty, 600);
  assert_int_equal(o[1].price, 100000);
  assert_int_equal(o[2].id, 1002);
  assert_int_equal(o[2].interval, 96);

  mkt_auction *a;
  assert_int_equal(mkt_auction_new(4, &a), 0);
  mkt_auction_reset(a, 96);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(mkt_auction_add(a, &o[i]), 0);
  mkt_auction_config cfg = {.band = &band};
  mkt_clearing c;
  assert_int_equal(mkt_auction_clear(a, &cfg, &c), 0);
  assert_int_equal(c.volume, 900);
  assert_int_equal(c.price, 150000);
  size_t nt;
  const mkt_trade *t = mkt_auction_trades(a, &nt);
  mkt_meter m[] = {{1, 900}, {2, -600}, {3, -500}, {4, 0}};
  mkt_account acc[4];
  mkt_settle_totals tot;
  assert_int_equal(mkt_settle(MKT_MODE_EXPOST, &band, t, nt, m, 4, acc, &tot),
                   0);
  assert_int_equal(acc[0].bought, 900);
  assert_int_equal(acc[0].grid_import, 0);
  assert_int_equal(acc[0].local_paid, 135000); /* 900 Wh at 150000 */
  assert_int_equal(acc[0].fee_paid, 9000);
  assert_int_equal(acc[1].sold, 600);
  assert_int_equal(acc[1].grid_export, 0);
  assert_int_equal(acc[2].sold, 300);
  assert_int_equal(acc[2].grid_export, 200);
  assert_int_equal(acc[2].grid_received, 16000); /* 200 Wh at 80000 */
  assert_int_equal(acc[3].net, 0);
  assert_int_equal(tot.grid_import, 0);
  assert_int_equal(tot.grid_export, 200);
  mkt_auction_free(a);
}

/* In expost mode the trades must come from the measurements. */
static void
test_settle_expost_rejects_trades_beyond_measurements(void **state) {
  (void)state;
  mkt_trade t = {1, 2, 1, 2, 1000, 100000, 100000};
  mkt_meter m[] = {{1, 900}, {2, -1000}};
  mkt_account a[2];
  assert_int_equal(mkt_settle(MKT_MODE_EXPOST, &band, &t, 1, m, 2, a, NULL),
                   GL_ECONFLICT);
  mkt_meter flipped[] = {{1, -1000}, {2, 1000}};
  assert_int_equal(
      mkt_settle(MKT_MODE_EXPOST, &band, &t, 1, flipped, 2, a, NULL),
      GL_ECONFLICT);
  /* The same trade is fine ex ante: the shortfall is an imbalance. */
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, &t, 1, m, 2, a, NULL), 0);
  assert_int_equal(a[0].grid_export, 100);
}

static void test_settle_rejects_bad_input(void **state) {
  (void)state;
  mkt_trade t = {1, 2, 1, 2, 10, 100000, 100000};
  mkt_meter m[] = {{1, 10}, {2, -10}};
  mkt_account a[2];
  mkt_meter unsorted[] = {{2, -10}, {1, 10}};
  assert_int_equal(
      mkt_settle(MKT_MODE_EXANTE, &band, &t, 1, unsorted, 2, a, NULL),
      GL_EINVAL);
  mkt_meter dup[] = {{1, 10}, {1, -10}};
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, &t, 1, dup, 2, a, NULL),
                   GL_EINVAL);
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, &t, 1, m, 1, a, NULL),
                   GL_ENOENT);
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, NULL, &t, 1, m, 2, a, NULL),
                   GL_EINVAL);
  mkt_band inverted = {300000, 80000, 0};
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &inverted, &t, 1, m, 2, a, NULL),
                   GL_EINVAL);
  assert_int_equal(mkt_settle((mkt_mode)3, &band, &t, 1, m, 2, a, NULL),
                   GL_EINVAL);
  mkt_trade zero = t;
  zero.qty = 0;
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, &zero, 1, m, 2, a, NULL),
                   GL_EINVAL);
  mkt_standing s = {1, MKT_QTY_MAX + 1, 0, 0};
  mkt_order o;
  size_t n;
  assert_int_equal(mkt_expost_orders(&s, 1, 0, 0, &o, &n), GL_ERANGE);
  assert_int_equal(n, 0);
  mkt_mode mode;
  assert_int_equal(mkt_mode_parse("exante", &mode), 0);
  assert_int_equal(mode, MKT_MODE_EXANTE);
  assert_int_equal(mkt_mode_parse("dayahead", &mode), GL_EINVAL);
  assert_string_equal(mkt_mode_name(MKT_MODE_EXPOST), "expost");
}

/* McAfee's surplus: buyers pay more than sellers get; the difference is
 * booked to the market operator and money still balances. */
static void test_settle_books_mechanism_surplus(void **state) {
  (void)state;
  mkt_trade t[] = {{1, 2, 1, 2, 333, 80000, 70000},
                   {3, 4, 3, 4, 667, 80000, 70000}};
  mkt_meter m[] = {{1, 333}, {2, -333}, {3, 667}, {4, -667}};
  mkt_account a[4];
  mkt_settle_totals tot;
  assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &band, t, 2, m, 4, a, &tot), 0);
  /* 333 * 80 = 26640, 333 * 70 = 23310; 667 * 80 = 53360, 667 * 70 = 46690 */
  assert_int_equal(tot.local_paid, 26640 + 53360);
  assert_int_equal(tot.local_received, 23310 + 46690);
  assert_int_equal(tot.surplus, 3330 + 6670);
  assert_int_equal(
      tot.participants_net + tot.fees + tot.surplus + tot.utility_net, 0);
}

/* Random trades and measurements: every account equals a recomputation from
 * its definition, and the conservation laws hold exactly. */
static void test_settle_recomputes_and_conserves(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(31337);
  gl_rand r = gl_seeded_rand_rand(sr);
  enum { P = 12, T = 60 };
  for (int iter = 0; iter < 500; iter++) {
    uint64_t v[8];
    for (int i = 0; i < 8; i++)
      assert_int_equal(gl_rand_below(&r, 1000000, &v[i]), 0);
    mkt_band b = {(int64_t)v[0] % 100000, 100000 + (int64_t)v[1] % 300000,
                  (int64_t)v[2] % 20000};
    mkt_meter m[P];
    for (uint32_t p = 0; p < P; p++) {
      uint64_t x;
      gl_rand_below(&r, 20001, &x);
      m[p] = (mkt_meter){p * 7 + 1, (int64_t)x - 10000};
    }
    mkt_trade t[T];
    size_t nt = (size_t)(v[3] % T);
    for (size_t k = 0; k < nt; k++) {
      uint64_t bu, se, q, pb, ps;
      gl_rand_below(&r, P, &bu);
      gl_rand_below(&r, P, &se);
      gl_rand_below(&r, 5000, &q);
      gl_rand_below(&r, 400000, &pb);
      gl_rand_below(&r, 50000, &ps);
      t[k] = (mkt_trade){k,
                         k + 1000,
                         (uint32_t)bu * 7 + 1,
                         (uint32_t)se * 7 + 1,
                         (int64_t)q + 1,
                         (int64_t)pb,
                         (int64_t)pb - (int64_t)ps};
    }
    mkt_account a[P];
    mkt_settle_totals tot;
    assert_int_equal(mkt_settle(MKT_MODE_EXANTE, &b, t, nt, m, P, a, &tot), 0);
    int64_t sum_net = 0, sum_measured = 0, sum_import = 0, sum_export = 0;
    for (size_t p = 0; p < P; p++) {
      int64_t bought = 0, sold = 0, paid = 0, fee = 0, got = 0;
      for (size_t k = 0; k < nt; k++) {
        if (t[k].buyer == m[p].participant) {
          bought += t[k].qty;
          paid += mkt_div_round(t[k].qty * t[k].buy_price, 1000);
          fee += mkt_div_round(t[k].qty * b.fee, 1000);
        }
        if (t[k].seller == m[p].participant) {
          sold += t[k].qty;
          got += mkt_div_round(t[k].qty * t[k].sell_price, 1000);
        }
      }
      int64_t imb = m[p].net - (bought - sold);
      int64_t imp = imb > 0 ? imb : 0, exp = imb < 0 ? -imb : 0;
      int64_t gp = mkt_div_round(imp * b.retail, 1000);
      int64_t gr = mkt_div_round(exp * b.feed_in, 1000);
      assert_int_equal(a[p].participant, m[p].participant);
      assert_int_equal(a[p].bought, bought);
      assert_int_equal(a[p].sold, sold);
      assert_int_equal(a[p].grid_import, imp);
      assert_int_equal(a[p].grid_export, exp);
      assert_int_equal(a[p].local_paid, paid);
      assert_int_equal(a[p].fee_paid, fee);
      assert_int_equal(a[p].local_received, got);
      assert_int_equal(a[p].grid_paid, gp);
      assert_int_equal(a[p].grid_received, gr);
      assert_int_equal(a[p].net, got + gr - paid - fee - gp);
      sum_net += a[p].net;
      sum_measured += m[p].net;
      sum_import += imp;
      sum_export += exp;
    }
    assert_int_equal(sum_measured, sum_import - sum_export);
    assert_int_equal(tot.local_paid, tot.local_received + tot.surplus);
    assert_int_equal(sum_net + tot.fees + tot.surplus + tot.utility_net, 0);
  }
  gl_seeded_rand_free(sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_settle_exante_imbalance_with_utility),
      cmocka_unit_test(test_settle_expost_runs_measurements_through_auction),
      cmocka_unit_test(test_settle_expost_rejects_trades_beyond_measurements),
      cmocka_unit_test(test_settle_rejects_bad_input),
      cmocka_unit_test(test_settle_books_mechanism_surplus),
      cmocka_unit_test(test_settle_recomputes_and_conserves),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
