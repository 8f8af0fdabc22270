/* SPDX-License-Identifier: MIT */
/*
 * market_int.h - helpers shared inside the market library (mkt__ prefix):
 * 128-bit arithmetic that gives the same bits on 32- and 64-bit machines,
 * a stable LSD radix sort, and small inline utilities. Not installed.
 */
#ifndef GRIDLET_MARKET_INT_H
#define GRIDLET_MARKET_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sentinel index for "no order / no level". */
#define MKT__NIL UINT32_MAX

/* Enough 11-bit passes for a whole 64-bit key. */
#define MKT__RADIX_MAX_PASSES 6

/* mkt__mul128 - the full 128-bit product of a and b as hi:lo. */
void mkt__mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo);

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

/* mkt__acc_add - acc += a * b, exactly. */
void mkt__acc_add(mkt__acc *acc, int64_t a, int64_t b);

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

/* mkt__bit_width - bits needed to represent v (0 for 0). */
unsigned mkt__bit_width(uint64_t v);

static inline int64_t mkt__min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

#endif /* GRIDLET_MARKET_INT_H */
