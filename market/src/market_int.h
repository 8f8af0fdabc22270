/* SPDX-License-Identifier: MIT */
/*
 * market_int.h - helpers shared inside the market library (mkt__ prefix):
 * 128-bit arithmetic that gives the same bits on 32- and 64-bit machines,
 * a stable LSD radix sort, and small inline utilities. Not installed.
 */
#ifndef GRIDLET_MARKET_INT_H
#define GRIDLET_MARKET_INT_H

#include "gridlet/market.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sentinel index for "no order / no level". */
#define MKT__NIL UINT32_MAX

/* Enough 11-bit passes for a whole 64-bit key. */
#define MKT__RADIX_MAX_PASSES 6

#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 mkt__u128; /* a GNU C extension */
#endif

/*
 * mkt__mul128 - the full 128-bit product of a and b as hi:lo. With a
 * compiler that has unsigned __int128 (all 64-bit gcc/clang targets) one
 * multiplication; otherwise (32-bit ARM) schoolbook arithmetic on 32-bit
 * limbs, giving the same bits. Inline: the CDA calls it on every add.
 */
static inline void mkt__mul128(uint64_t a, uint64_t b, uint64_t *hi,
                               uint64_t *lo) {
#ifdef __SIZEOF_INT128__
  mkt__u128 p = (mkt__u128)a * b;
  *hi = (uint64_t)(p >> 64);
  *lo = (uint64_t)p;
#else
  uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu,
           bh = b >> 32;
  uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  *lo = (ll & 0xffffffffu) | (mid << 32);
  *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
#endif
}

/* mkt__order_range_ok - qty and price within the market's limits (the
 * range part of mkt_order_check, inline for the books' add paths). */
static inline bool mkt__order_range_ok(int64_t qty, int64_t price) {
  return qty >= 1 && qty <= MKT_QTY_MAX && price >= -MKT_PRICE_MAX &&
         price <= MKT_PRICE_MAX;
}

/*
 * mkt__div128 - hi:lo divided by d into quotient *q and remainder *r.
 * Returns 0, or GL_ERANGE when d == 0 or the quotient needs more than 64
 * bits (hi >= d).
 */
int mkt__div128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q, uint64_t *r);

/* A signed 128-bit accumulator (two's complement hi:lo), zero-initialised. */
typedef struct mkt__acc {
  uint64_t hi, lo;
} mkt__acc;

/* mkt__acc_add - acc += a * b, exactly. Inline: pay-as-bid pairing calls
 * it once per trade. */
static inline void mkt__acc_add(mkt__acc *acc, int64_t a, int64_t b) {
  /* Signed product as sign and magnitude, then two's-complement add into
   * the 128-bit accumulator. */
  bool neg = (a < 0) != (b < 0);
  uint64_t ua = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
  uint64_t ub = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
  uint64_t hi, lo;
  mkt__mul128(ua, ub, &hi, &lo);
  if (neg) {
    hi = ~hi;
    lo = ~lo;
    if (++lo == 0)
      hi++;
  }
  uint64_t nlo = acc->lo + lo;
  acc->hi += hi + (nlo < lo);
  acc->lo = nlo;
}

/*
 * mkt__acc_div_round - acc / den rounded half to even into *out. Returns 0,
 * GL_EINVAL (den <= 0) or GL_ERANGE (result beyond int64).
 */
int mkt__acc_div_round(const mkt__acc *acc, int64_t den, int64_t *out);

/*
 * mkt__radix_sort - stable sort of n keys ascending by (key >> shift) - base
 * only, a value that must be below 2^bits; tmp must hold n keys. The
 * result is in keys.
 */
void mkt__radix_sort(uint64_t *keys, uint64_t *tmp, size_t n, unsigned shift,
                     uint64_t base, unsigned bits);

/* A pair of keys, ordered by a then b. */
typedef struct mkt__pair {
  uint64_t a, b;
} mkt__pair;

/*
 * mkt__pair_sort - sort n pairs ascending by (a, b) in place: heap sort, no
 * allocation, O(n log n) worst case. Not stable, which does not matter for
 * a total order (pairs are distinct in b where it is used).
 */
void mkt__pair_sort(mkt__pair *v, size_t n);

/*
 * mkt__name_index - the index of `name` in names[0..n), or -1: the parse
 * half of the enum <-> name tables (rules, rationing, modes).
 */
int mkt__name_index(const char *const *names, unsigned n, const char *name);

/* mkt__bit_width - bits needed to represent v (0 for 0). */
unsigned mkt__bit_width(uint64_t v);

/* The replay checksum's fold (gridlet/market_stream.h): FNV-1a's prime. */
#define MKT__FNV_PRIME UINT64_C(1099511628211)

/* The fill counters of a replay's checksum, as mkt_replay_stats has them. */
typedef struct mkt__fold {
  uint64_t trades, qty, cost, hash;
} mkt__fold;

static inline int64_t mkt__min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

#endif /* GRIDLET_MARKET_INT_H */
