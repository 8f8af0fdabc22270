/* SPDX-License-Identifier: MIT */
/*
 * market.c - validation and money arithmetic shared by the mechanisms. See
 * gridlet/market.h; internal helpers in market_int.h.
 */
#include "gridlet/market.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <string.h>

const char *mkt_side_name(mkt_side side) {
  switch (side) {
  case MKT_BUY:
    return "buy";
  case MKT_SELL:
    return "sell";
  }
  return "?";
}

int mkt_order_check(const mkt_order *o) {
  if (o->side != MKT_BUY && o->side != MKT_SELL)
    return GL_EINVAL;
  return mkt__order_range_ok(o->qty, o->price) ? 0 : GL_ERANGE;
}

int mkt_band_check(const mkt_band *b) {
  if (b->feed_in < -MKT_PRICE_MAX || b->retail > MKT_PRICE_MAX ||
      b->feed_in > b->retail || b->fee < 0 || b->fee > MKT_PRICE_MAX)
    return GL_EINVAL;
  return 0;
}

int64_t mkt_div_round(int64_t num, int64_t den) {
  /* Floor division first, so the remainder r is in [0, den) whatever the
   * sign of num; then round up when r is more than half, or exactly half
   * and the floor is odd. 2*r cannot overflow: r < den <= INT64_MAX and we
   * compare r against den - r instead. */
  int64_t q = num / den, r = num % den;
  if (r < 0) {
    q -= 1;
    r += den;
  }
  int64_t rest = den - r;
  if (r > rest || (r == rest && (q & 1)))
    q += 1;
  return q;
}

int mkt_money(int64_t wh, int64_t price, int64_t *out) {
  int64_t p;
  if (__builtin_mul_overflow(wh, price, &p))
    return GL_ERANGE;
  *out = mkt_div_round(p, 1000);
  return 0;
}

int mkt_trade_money(const mkt_trade *t, int64_t fee, mkt_money_split *out) {
  int64_t buy, sell, f;
  if (t->qty < 0 || t->qty > MKT_QTY_MAX || fee < 0 || fee > MKT_PRICE_MAX ||
      t->buy_price < -MKT_PRICE_MAX || t->buy_price > MKT_PRICE_MAX ||
      t->sell_price < -MKT_PRICE_MAX || t->sell_price > MKT_PRICE_MAX)
    return GL_ERANGE;
  /* Within those ranges every product is below 10^18: no overflow. */
  (void)mkt_money(t->qty, t->buy_price, &buy);
  (void)mkt_money(t->qty, t->sell_price, &sell);
  (void)mkt_money(t->qty, fee, &f);
  out->seller_gets = sell;
  out->fee = f;
  out->surplus = buy - sell;
  out->buyer_pays = buy + f;
  return 0;
}

/* ---- 128-bit helpers ---------------------------------------------------- */

/* See mkt__mul128 in market_int.h for the two code paths. */
int mkt__div128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q,
                uint64_t *r) {
  if (d == 0 || hi >= d)
    return GL_ERANGE; /* quotient would not fit in 64 bits */
#ifdef __SIZEOF_INT128__
  mkt__u128 n = ((mkt__u128)hi << 64) | lo;
  *q = (uint64_t)(n / d);
  *r = (uint64_t)(n % d);
#else
  /* Restoring division, one bit at a time; hi < d keeps the partial
   * remainder below 2^64 after each shift except for the carried-out top
   * bit, which we track explicitly. */
  uint64_t rem = hi, quo = 0;
  for (int i = 63; i >= 0; i--) {
    uint64_t top = rem >> 63;
    rem = (rem << 1) | ((lo >> i) & 1);
    quo <<= 1;
    if (top || rem >= d) {
      rem -= d;
      quo |= 1;
    }
  }
  *q = quo;
  *r = rem;
#endif
  return 0;
}

int mkt__acc_div_round(const mkt__acc *acc, int64_t den, int64_t *out) {
  if (den <= 0)
    return GL_EINVAL;
  bool neg = (acc->hi >> 63) != 0;
  uint64_t hi = acc->hi, lo = acc->lo;
  if (neg) {
    hi = ~hi;
    lo = ~lo;
    if (++lo == 0)
      hi++;
  }
  uint64_t q, r;
  int rc = mkt__div128(hi, lo, (uint64_t)den, &q, &r);
  if (rc)
    return rc;
  /* Round the magnitude half to even, then restore the sign: symmetric, so
   * the result equals mkt_div_round on the exact rational value. */
  uint64_t rest = (uint64_t)den - r;
  if (r > rest || (r == rest && (q & 1)))
    q++;
  if (q > (uint64_t)INT64_MAX)
    return GL_ERANGE;
  *out = neg ? -(int64_t)q : (int64_t)q;
  return 0;
}

/* ---- Radix sort ---------------------------------------------------------- */

void mkt__radix_sort(uint64_t *keys, uint64_t *tmp, size_t n, unsigned shift,
                     uint64_t base, unsigned bits) {
  /* LSD radix sort on the value (key >> shift) - base, which must be below
   * 2^bits; stable, so
   * keys equal in those bits keep their relative order (the low bits carry
   * the add sequence, which is how time priority survives the sort). The
   * digit width is chosen so the passes are as few as possible with at most
   * 2^11 buckets (the histograms stay in L1). All histograms are built in
   * one read pass. */
  if (n < 2 || bits == 0)
    return;
  unsigned passes = (bits + 10) / 11;
  unsigned width = (bits + passes - 1) / passes;
  uint64_t mask = ((uint64_t)1 << width) - 1;
  static_assert(MKT__RADIX_MAX_PASSES * 11 >= 64, "enough passes for 64 bits");
  uint32_t hist[MKT__RADIX_MAX_PASSES][1u << 11];
  for (unsigned p = 0; p < passes; p++)
    for (size_t d = 0; d <= mask; d++)
      hist[p][d] = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t k = (keys[i] >> shift) - base;
    for (unsigned p = 0; p < passes; p++)
      hist[p][(k >> (p * width)) & mask]++;
  }
  uint64_t *src = keys, *dst = tmp;
  for (unsigned p = 0; p < passes; p++) {
    /* A pass whose digit is the same for every key changes nothing. */
    uint32_t *h = hist[p];
    unsigned s = p * width;
    uint64_t first = (((src[0] >> shift) - base) >> s) & mask;
    if (h[first] == n)
      continue;
    uint32_t sum = 0;
    for (size_t d = 0; d <= mask; d++) {
      uint32_t c = h[d];
      h[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++) {
      uint64_t k = src[i];
      dst[h[(((k >> shift) - base) >> s) & mask]++] = k;
    }
    uint64_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != keys)
    for (size_t i = 0; i < n; i++)
      keys[i] = src[i];
}

unsigned mkt__bit_width(uint64_t v) {
  return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

/* ---- Pair sort ----------------------------------------------------------- */

static inline bool pair_less(const mkt__pair *x, const mkt__pair *y) {
  return x->a != y->a ? x->a < y->a : x->b < y->b;
}

static void pair_sift(mkt__pair *v, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && pair_less(&v[child], &v[child + 1]))
      child++;
    if (!pair_less(&v[root], &v[child]))
      return;
    mkt__pair t = v[root];
    v[root] = v[child];
    v[child] = t;
    root = child;
  }
}

void mkt__pair_sort(mkt__pair *v, size_t n) {
  if (n < 2)
    return;
  for (size_t i = n / 2; i-- > 0;)
    pair_sift(v, i, n);
  for (size_t end = n - 1; end > 0; end--) {
    mkt__pair t = v[0];
    v[0] = v[end];
    v[end] = t;
    pair_sift(v, 0, end);
  }
}

int mkt__name_index(const char *const *names, unsigned n, const char *name) {
  for (unsigned i = 0; i < n; i++)
    if (strcmp(name, names[i]) == 0)
      return (int)i;
  return -1;
}
