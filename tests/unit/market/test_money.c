/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the market's integer arithmetic: banker's rounding, money
 * of energy at a price, the split of a trade's money, validation, and the
 * library's internal 128-bit and sorting helpers (checked against slow
 * reference computations).
 */
#include "gridlet/error.h"
#include "gridlet/market.h"
#include "gridlet/rand.h"

#include "market_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_div_round_is_half_to_even(void **state) {
  (void)state;
  static const struct {
    int64_t num, den, want;
  } cases[] = {
      {5, 10, 0},
      {15, 10, 2},
      {25, 10, 2},
      {35, 10, 4},
      {-5, 10, 0},
      {-15, 10, -2},
      {-25, 10, -2},
      {14, 10, 1},
      {16, 10, 2},
      {-14, 10, -1},
      {-16, 10, -2},
      {0, 7, 0},
      {1, 3, 0},
      {2, 3, 1},
      {-2, 3, -1},
      {47, 2, 24},
      {45, 2, 22},
      {INT64_MAX, 1, INT64_MAX},
      {INT64_MIN, 1, INT64_MIN},
      {INT64_MAX, INT64_MAX, 1},
      {INT64_MAX, 2, INT64_MAX / 2 + 1},
      {INT64_MIN, 2, INT64_MIN / 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_int_equal(mkt_div_round(cases[i].num, cases[i].den), cases[i].want);
}

/* 1 Wh at 500 µ/kWh is 0.5 µ -> 0; 3 Wh -> 1.5 -> 2; 0.25 EUR/kWh for
 * 1.5 kWh = 375000 µ exactly. */
static void test_money_rounds_each_amount_half_to_even(void **state) {
  (void)state;
  int64_t m;
  assert_int_equal(mkt_money(1, 500, &m), 0);
  assert_int_equal(m, 0);
  assert_int_equal(mkt_money(3, 500, &m), 0);
  assert_int_equal(m, 2);
  assert_int_equal(mkt_money(-3, 500, &m), 0);
  assert_int_equal(m, -2);
  assert_int_equal(mkt_money(1500, 250000, &m), 0);
  assert_int_equal(m, 375000);
  assert_int_equal(mkt_money(25, 100, &m), 0);
  assert_int_equal(m, 2);
  assert_int_equal(mkt_money(MKT_QTY_MAX, MKT_PRICE_MAX, &m), 0);
  assert_int_equal(m, INT64_C(1000000000000000));
  assert_int_equal(mkt_money(INT64_MAX / 2, 3, &m), GL_ERANGE);
}

static void test_trade_money_conserves_exactly(void **state) {
  (void)state;
  /* 333 Wh: buyer 333 * 80000 / 1000 = 26640, seller 333 * 70000 / 1000 =
   * 23310, fee 333 * 1500 / 1000 = 499.5 -> 500 (half to even). */
  mkt_trade t = {1, 2, 10, 20, 333, 80000, 70000};
  mkt_money_split m;
  assert_int_equal(mkt_trade_money(&t, 1500, &m), 0);
  assert_int_equal(m.seller_gets, 23310);
  assert_int_equal(m.surplus, 26640 - 23310);
  assert_int_equal(m.fee, 500);
  assert_int_equal(m.buyer_pays, m.seller_gets + m.fee + m.surplus);
  t.qty = MKT_QTY_MAX + 1;
  assert_int_equal(mkt_trade_money(&t, 0, &m), GL_ERANGE);
  t.qty = 1;
  assert_int_equal(mkt_trade_money(&t, -1, &m), GL_ERANGE);

  /* Many random trades: the identity holds for every one. */
  gl_seeded_rand *sr = gl_seeded_rand_new(11);
  gl_rand r = gl_seeded_rand_rand(sr);
  for (int i = 0; i < 20000; i++) {
    uint64_t q, p, s, f;
    gl_rand_below(&r, MKT_QTY_MAX, &q);
    gl_rand_below(&r, 2 * MKT_PRICE_MAX + 1, &p);
    gl_rand_below(&r, 2 * MKT_PRICE_MAX + 1, &s);
    gl_rand_below(&r, MKT_PRICE_MAX + 1, &f);
    mkt_trade x = {0,
                   0,
                   0,
                   0,
                   (int64_t)q + 1,
                   (int64_t)p - MKT_PRICE_MAX,
                   (int64_t)s - MKT_PRICE_MAX};
    assert_int_equal(mkt_trade_money(&x, (int64_t)f, &m), 0);
    assert_int_equal(m.buyer_pays, m.seller_gets + m.fee + m.surplus);
  }
  gl_seeded_rand_free(sr);
}

static void test_order_and_band_validation(void **state) {
  (void)state;
  mkt_order o = {1, 1, MKT_SELL, 0, 1, -MKT_PRICE_MAX};
  assert_int_equal(mkt_order_check(&o), 0);
  o.side = (mkt_side)3;
  assert_int_equal(mkt_order_check(&o), GL_EINVAL);
  o.side = MKT_BUY;
  o.price = -MKT_PRICE_MAX - 1;
  assert_int_equal(mkt_order_check(&o), GL_ERANGE);
  mkt_band b = {80000, 300000, 5000};
  assert_int_equal(mkt_band_check(&b), 0);
  assert_int_equal(mkt_band_clamp(&b, 10), 80000);
  assert_int_equal(mkt_band_clamp(&b, 400000), 300000);
  assert_int_equal(mkt_band_clamp(&b, 123456), 123456);
  b.fee = -1;
  assert_int_equal(mkt_band_check(&b), GL_EINVAL);
  b = (mkt_band){300001, 300000, 0};
  assert_int_equal(mkt_band_check(&b), GL_EINVAL);
  assert_string_equal(mkt_side_name(MKT_BUY), "buy");
  assert_string_equal(mkt_side_name(MKT_SELL), "sell");
  assert_string_equal(mkt_side_name((mkt_side)0), "?");
}

/* The 128-bit helpers against a slow reference (shift-and-add multiply,
 * and checking q * d + r == n with r < d). */
static void test_mul_div_128_match_reference(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(5);
  gl_rand r = gl_seeded_rand_rand(sr);
  for (int i = 0; i < 20000; i++) {
    uint64_t a, b, d;
    gl_rand_u64(&r, &a);
    gl_rand_u64(&r, &b);
    gl_rand_u64(&r, &d);
    if (i % 3 == 0)
      a >>= 32;
    uint64_t hi, lo, rhi = 0, rlo = 0;
    mkt__mul128(a, b, &hi, &lo);
    for (int bit = 63; bit >= 0; bit--) { /* reference: r = r*2 + a*bit */
      rhi = (rhi << 1) | (rlo >> 63);
      rlo <<= 1;
      if ((b >> bit) & 1) {
        uint64_t n = rlo + a;
        rhi += n < rlo;
        rlo = n;
      }
    }
    assert_true(hi == rhi && lo == rlo);
    if (d == 0)
      d = 1;
    uint64_t q, rem;
    if (hi >= d) {
      assert_int_equal(mkt__div128(hi, lo, d, &q, &rem), GL_ERANGE);
      continue;
    }
    assert_int_equal(mkt__div128(hi, lo, d, &q, &rem), 0);
    assert_true(rem < d);
    uint64_t ph, pl;
    mkt__mul128(q, d, &ph, &pl);
    uint64_t sl = pl + rem;
    ph += sl < pl;
    assert_true(ph == hi && sl == lo);
  }
  gl_seeded_rand_free(sr);
}

static void test_accumulator_averages_exactly(void **state) {
  (void)state;
  mkt__acc acc = {0, 0};
  /* 3 * 10^9 * 10^9 overflows 64 bits; the average is still exact. */
  for (int i = 0; i < 3; i++)
    mkt__acc_add(&acc, MKT_QTY_MAX, MKT_PRICE_MAX);
  mkt__acc_add(&acc, MKT_QTY_MAX, -MKT_PRICE_MAX);
  int64_t avg;
  assert_int_equal(mkt__acc_div_round(&acc, 4 * MKT_QTY_MAX, &avg), 0);
  assert_int_equal(avg, MKT_PRICE_MAX / 2);
  mkt__acc neg = {0, 0};
  mkt__acc_add(&neg, 3, -5); /* -15 / 10 = -1.5 -> -2 */
  assert_int_equal(mkt__acc_div_round(&neg, 10, &avg), 0);
  assert_int_equal(avg, -2);
  assert_int_equal(mkt__acc_div_round(&neg, 0, &avg), GL_EINVAL);
}

/* The radix sort is stable and sorts on the given bits only. */
static void test_radix_sort_is_stable_on_key_bits(void **state) {
  (void)state;
  enum { N = 5000 };
  static uint64_t k[N], tmp[N];
  gl_seeded_rand *sr = gl_seeded_rand_new(9);
  gl_rand r = gl_seeded_rand_rand(sr);
  for (unsigned bits = 1; bits <= 31; bits += 3) {
    for (size_t i = 0; i < N; i++) {
      uint64_t v;
      gl_rand_below(&r, (uint64_t)1 << bits, &v);
      k[i] = (v + 1000) << 32 | i; /* base 1000 */
    }
    mkt__radix_sort(k, tmp, N, 32, 1000, bits);
    for (size_t i = 1; i < N; i++) {
      uint64_t a = k[i - 1] >> 32, b = k[i] >> 32;
      assert_true(a < b || (a == b && (uint32_t)k[i - 1] < (uint32_t)k[i]));
    }
  }
  gl_seeded_rand_free(sr);
}

static void test_pair_sort_orders_by_both_keys(void **state) {
  (void)state;
  enum { N = 3000 };
  static mkt__pair v[N];
  gl_seeded_rand *sr = gl_seeded_rand_new(3);
  gl_rand r = gl_seeded_rand_rand(sr);
  for (size_t i = 0; i < N; i++) {
    uint64_t a;
    gl_rand_below(&r, 50, &a);
    v[i] = (mkt__pair){a, N - i};
  }
  mkt__pair_sort(v, N);
  for (size_t i = 1; i < N; i++)
    assert_true(v[i - 1].a < v[i].a ||
                (v[i - 1].a == v[i].a && v[i - 1].b < v[i].b));
  gl_seeded_rand_free(sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_div_round_is_half_to_even),
      cmocka_unit_test(test_money_rounds_each_amount_half_to_even),
      cmocka_unit_test(test_trade_money_conserves_exactly),
      cmocka_unit_test(test_order_and_band_validation),
      cmocka_unit_test(test_mul_div_128_match_reference),
      cmocka_unit_test(test_accumulator_averages_exactly),
      cmocka_unit_test(test_radix_sort_is_stable_on_key_bits),
      cmocka_unit_test(test_pair_sort_orders_by_both_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
