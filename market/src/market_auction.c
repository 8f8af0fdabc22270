/* SPDX-License-Identifier: MIT */
/*
 * market_auction.c - the call auction. See gridlet/market_auction.h for the
 * rules; this file is about doing them fast and exactly.
 *
 * Orders live in structure-of-arrays form indexed by add sequence (price
 * and side share one 32-bit word), and every pass over them runs in that
 * order, sequentially: gathering order fields in price order would miss the
 * cache on nearly every access. At a million orders a clearing is bound by
 * instructions as much as by memory, so the passes are few and lean, work
 * on four orders at a time where they can (SSE2, which every x86-64 has;
 * elsewhere the same code order by order, with the same results), and
 * branch only where the outcome is predictable. A clearing is:
 *
 *   1. aggregate: the quantity per price level of each side. Prices nearly
 *      always lie on a grid (a tick), found from the extreme prices and a
 *      sample and checked exactly for every order, so the histogram has one
 *      entry per tick and stays in the first-level cache; a book too spread
 *      out for a histogram radix-sorts one key (price << 32 | qty) per order;
 *   2. walk the levels from the best prices inwards: volume, marginal pair,
 *      price rule, and the cut-off level and remainder of each side;
 *   3. if the cut-off level of a side is shared pro rata and only partly
 *      filled, one pass over the prices finds that level's orders and
 *      gives them their shares and the leftover units (largest remainder
 *      first), so that every fill is known before it is needed;
 *   4. fill and pair, in one pass in add order: each order's fill follows
 *      from its price and the cut-offs; filled bids and filled offers join
 *      two queues, and every few thousand orders the queues are merged
 *      into trades while they are still in cache. Pay-as-bid alone prices
 *      each pair by its bid, so there the pairing must follow price
 *      priority: the queues are completed, radix-sorted by price, and
 *      merged afterwards.
 *
 * Fills are not written per order: an order's fill follows from its price,
 * the cut-offs and, at a shared cut-off level, a short list (fill_of), so
 * the clearing writes only what it must, the trades (48 bytes each, 24 MB
 * at a million orders). Streaming (non-temporal) stores for them were
 * measured slower than plain ones on the development machine and are not
 * used.
 *
 * Self-trade prevention first has to know whether anybody is on both sides
 * at all. Participants are nearly always numbered densely (the aggregator
 * numbers its meters), and then the histogram's pass also marks a byte per
 * participant (bids, offers); otherwise a Bloom filter of bidders picks
 * candidates. Only participants on both sides reach an exact hash table,
 * and only if one of them crosses itself are orders sorted and netted (and
 * the levels aggregated again from the netted quantities).
 */
#include "gridlet/market_auction.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* SSE2 is part of every x86-64; MKT_NO_SIMD builds the portable code
 * instead, which gives the same results (the tests compare the two). */
#if defined(__SSE2__) && !defined(MKT_NO_SIMD)
#define USE_SSE2 1
#include <emmintrin.h>
#else
#define USE_SSE2 0
#endif

/* The histogram holds up to this many price levels (or as many as the
 * capacity, if fewer, but at least HIST_MIN). */
#define HIST_MIN 4096
#define HIST_MAX (1u << 22)

/* Orders filled and queued between two merges of the queues (step 4): few
 * enough that their fields are still in cache when their trades are
 * written, many enough that the merge loop runs long. */
#define CHUNK 2048

/* Prices are stored biased by this, times two, plus the side. */
#define PBIAS ((int32_t)MKT_PRICE_MAX)

/* One participant in self-trade detection (16 bytes). */
typedef struct stp_slot {
  uint32_t participant;
  uint32_t state; /* 0 empty, 1 seen, 2 + k: k-th participant crossing itself */
  int32_t max_bid; /* highest clamped bid, INT32_MIN if none */
  int32_t min_ask; /* lowest clamped offer, INT32_MAX if none */
} stp_slot;

struct mkt_auction {
  size_t cap, n, nbuy;
  int64_t interval;
  bool cleared;      /* results below are valid */
  bool netted_valid; /* netted[] was written by the last clearing */
  int32_t clo, chi;  /* last clearing: the band, or the price limits */
  int32_t min_price[2], max_price[2]; /* per side (0 buy, 1 sell), unclamped */
  uint32_t max_part;                  /* highest participant number */
  /* The orders, by add sequence. */
  uint64_t *id;
  uint32_t *part;
  uint32_t *ps; /* (price + PBIAS) << 1 | side (0 buy, 1 sell) */
  uint32_t *qty;
  /* Per clearing. */
  uint32_t *eff;     /* quantity after self-trade netting (when q_eff) */
  uint32_t *scratch; /* cut-off level and pay-as-bid scratch */
  uint32_t *netted;  /* result (when netted_valid) */
  uint64_t *keys;    /* radix keys: bids [0, nbuy), offers [nbuy, n); also
                        cut-off fills (step 3) */
  uint64_t *tmp;     /* radix scratch; also the queues' fills (step 4) */
  uint32_t *lbuy;    /* filled bids in add order: the bid queue */
  uint32_t *lsell;   /* offers likewise */
  int64_t *hist;     /* level totals: bids [0, L), offers [L, 2L) */
  size_t hist_cap;   /* most levels L the histogram can hold */
  mkt__pair *pairs;  /* netting and rationing scratch */
  stp_slot *stp;
  size_t stp_cap;    /* power of two >= 2 * cap */
  uint64_t *bloom;   /* self-trade detection: bidder Bloom filter, or a
                        byte per participant */
  size_t bloom_bits; /* power of two >= 8 * cap */
  mkt_trade *trades;
  size_t ntrades;
  /* The fills of the last clearing, kept as the rule that gives them (see
   * fill_of): an order fills completely when its key (see order_key) is
   * above better[side], not at all when below worse[side], and at the
   * cut-off level in between completely, or as listed in pairs[] ({index,
   * fill} in add order: bids up from pairs[0], offers down from
   * pairs[cap - 1]) when the level was shared. Nothing per order is
   * written for them. */
  bool fills_any;    /* anything traded */
  bool q_eff;        /* quantities are eff[] (netted), not qty[] */
  int32_t better[2]; /* order keys above this fill completely */
  int32_t worse[2];  /* ... below this not at all */
  size_t ncut[2];    /* listed cut-off orders per side; 0: fill completely */
};

static inline int32_t ps_price(uint32_t v) {
  return (int32_t)(v >> 1) - PBIAS;
}

static inline uint32_t ps_side(uint32_t v) {
  return v & 1;
}

/* Clamp into the band of the last clearing; without a band the bounds are
 * the price limits, so this is the identity and needs no branch. */
static inline int32_t clampv(const mkt_auction *a, int32_t p) {
  p = p < a->clo ? a->clo : p;
  return p > a->chi ? a->chi : p;
}

/* The clamped price of order i. */
static inline int32_t price_at(const mkt_auction *a, size_t i) {
  return clampv(a, ps_price(a->ps[i]));
}

/*
 * An order's key: its biased price for a bid, its complement for an offer,
 * so that on both sides a higher key is a better price (a bid higher, an
 * offer lower), and one signed comparison against a per-side threshold
 * sorts orders into better than, at, or worse than a price level.
 */
static inline int32_t order_key(uint32_t v) {
  return (int32_t)(v >> 1) ^ -(int32_t)ps_side(v);
}

/* Order i's fill in the last clearing (see the fields' comment). */
static uint32_t fill_of(const mkt_auction *a, size_t i) {
  if (!a->fills_any)
    return 0;
  uint32_t v = a->ps[i], s = ps_side(v);
  int32_t key = order_key(v);
  uint32_t qi = a->q_eff ? a->eff[i] : a->qty[i];
  if (key > a->better[s])
    return qi;
  if (key < a->worse[s] || qi == 0)
    return 0;
  if (a->ncut[s] == 0)
    return qi; /* the cut-off level filled completely */
  /* Listed in add order (offers downwards): a binary search by index. */
  size_t m = a->ncut[s], lo = 0, hi = m;
  const mkt__pair *e = NULL;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    e = s == 0 ? &a->pairs[mid] : &a->pairs[a->cap - 1 - mid];
    if (e->a < i)
      lo = mid + 1;
    else
      hi = mid;
  }
  e = s == 0 ? &a->pairs[lo] : &a->pairs[a->cap - 1 - lo];
  assert(lo < m && e->a == i);
  return (uint32_t)e->b;
}

/* ---- Names --------------------------------------------------------------- */

static const char *const rule_names[] = {"marginal", "k", "mcafee",
                                         "pay-as-bid"};
static const char *const rationing_names[] = {"pro-rata", "time"};

const char *mkt_rule_name(mkt_rule rule) {
  return (unsigned)rule < 4 ? rule_names[rule] : "?";
}

int mkt_rule_parse(const char *name, mkt_rule *out) {
  int i = mkt__name_index(rule_names, 4, name);
  if (i < 0)
    return GL_EINVAL;
  *out = (mkt_rule)i;
  return 0;
}

const char *mkt_rationing_name(mkt_rationing r) {
  return (unsigned)r < 2 ? rationing_names[r] : "?";
}

int mkt_rationing_parse(const char *name, mkt_rationing *out) {
  int i = mkt__name_index(rationing_names, 2, name);
  if (i < 0)
    return GL_EINVAL;
  *out = (mkt_rationing)i;
  return 0;
}

/* ---- Lifecycle ----------------------------------------------------------- */

int mkt_auction_new(size_t capacity, mkt_auction **out) {
  *out = NULL;
  if (capacity < 1 || capacity > (size_t)INT32_MAX)
    return GL_EINVAL;
  if (capacity > SIZE_MAX / 256)
    return GL_ENOMEM; /* the buffers' sizes would not fit a size_t */
  mkt_auction *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  size_t c = capacity;
  a->cap = c;
  a->stp_cap = 2;
  while (a->stp_cap < 2 * c)
    a->stp_cap *= 2;
  a->bloom_bits = 64;
  while (a->bloom_bits < 8 * c)
    a->bloom_bits *= 2;
  a->hist_cap = c < HIST_MIN ? HIST_MIN : c > HIST_MAX ? HIST_MAX : c;
  a->id = malloc(c * sizeof *a->id);
  a->part = malloc(c * sizeof *a->part);
  a->ps = malloc(c * sizeof *a->ps);
  a->qty = malloc(c * sizeof *a->qty);
  a->eff = malloc(c * sizeof *a->eff);
  a->scratch = malloc(c * sizeof *a->scratch);
  a->netted = malloc(c * sizeof *a->netted);
  /* keys[] and tmp[], and lbuy[] and lsell[], are each one allocation at
   * the same distance (c + 2 entries, room for pay-as-bid's sentinels), so
   * that merge() reaches both queues from one base. */
  a->keys = malloc(2 * (c + 2) * sizeof *a->keys);
  a->tmp = a->keys ? a->keys + c + 2 : NULL;
  a->lbuy = malloc(2 * (c + 2) * sizeof *a->lbuy);
  a->lsell = a->lbuy ? a->lbuy + c + 2 : NULL;
  a->hist = malloc(2 * a->hist_cap * sizeof *a->hist);
  a->pairs = malloc(c * sizeof *a->pairs);
  a->stp = malloc(a->stp_cap * sizeof *a->stp);
  a->bloom = malloc(a->bloom_bits / 8);
  a->trades = malloc(c * sizeof *a->trades);
  if (!a->id || !a->part || !a->ps || !a->qty || !a->eff || !a->scratch ||
      !a->netted || !a->keys || !a->tmp || !a->lbuy || !a->lsell || !a->hist ||
      !a->pairs || !a->stp || !a->bloom || !a->trades) {
    mkt_auction_free(a);
    return GL_ENOMEM;
  }
  mkt_auction_reset(a, 0);
  *out = a;
  return 0;
}

void mkt_auction_free(mkt_auction *a) {
  if (!a)
    return;
  free(a->id);
  free(a->part);
  free(a->ps);
  free(a->qty);
  free(a->eff);
  free(a->scratch);
  free(a->netted);
  free(a->keys);
  free(a->lbuy);
  free(a->hist);
  free(a->pairs);
  free(a->stp);
  free(a->bloom);
  free(a->trades);
  free(a);
}

void mkt_auction_reset(mkt_auction *a, int64_t interval) {
  a->n = a->nbuy = 0;
  a->interval = interval;
  a->cleared = false;
  a->ntrades = 0;
  a->max_part = 0;
  for (int s = 0; s < 2; s++) {
    a->min_price[s] = INT32_MAX;
    a->max_price[s] = INT32_MIN;
  }
}

int mkt_auction_add(mkt_auction *a, const mkt_order *o) {
  if (o->side != MKT_BUY && o->side != MKT_SELL)
    return GL_EINVAL;
  if (!mkt__order_range_ok(o->qty, o->price))
    return GL_ERANGE;
  if (o->interval != a->interval)
    return GL_EINVAL;
  if (a->n == a->cap)
    return GL_EFULL;
  size_t i = a->n++;
  uint32_t s = o->side == MKT_SELL;
  int32_t p = (int32_t)o->price; /* |price| <= 10^9 fits */
  a->id[i] = o->id;
  a->part[i] = o->participant;
  a->ps[i] = (uint32_t)(p + PBIAS) << 1 | s;
  a->qty[i] = (uint32_t)o->qty;
  a->nbuy += !s;
  if (p < a->min_price[s])
    a->min_price[s] = p;
  if (p > a->max_price[s])
    a->max_price[s] = p;
  if (o->participant > a->max_part)
    a->max_part = o->participant;
  a->cleared = false;
  a->ntrades = 0;
  return 0;
}

size_t mkt_auction_count(const mkt_auction *a) {
  return a->n;
}

int mkt_auction_order(const mkt_auction *a, size_t index, mkt_order *out) {
  if (index >= a->n)
    return GL_ENOENT;
  out->id = a->id[index];
  out->participant = a->part[index];
  out->side = ps_side(a->ps[index]) ? MKT_SELL : MKT_BUY;
  out->interval = a->interval;
  out->qty = a->qty[index];
  out->price = ps_price(a->ps[index]);
  return 0;
}

const mkt_trade *mkt_auction_trades(const mkt_auction *a, size_t *n) {
  *n = a->cleared ? a->ntrades : 0;
  return a->trades;
}

int mkt_auction_fill(const mkt_auction *a, size_t index, mkt_fill *out) {
  if (index >= a->n)
    return GL_ENOENT;
  if (!a->cleared)
    return GL_ESTATE;
  out->filled = fill_of(a, index);
  out->netted = a->netted_valid ? a->netted[index] : 0;
  out->price = price_at(a, index);
  return 0;
}

/* ---- Price levels -------------------------------------------------------- */

/*
 * The price levels of one side, best first, from either source: a
 * histogram hist[2 * j] (j < nlev) of quantities, level j at price lo + j *
 * step (the sides interleave: bids at even entries, offers at odd), or
 * sorted keys (offset << 32 | qty) with price = kbase + ksign * offset.
 */
typedef struct side_levels {
  bool use_hist;
  bool desc; /* histogram: best is the highest index (bids) */
  const int64_t *hist;
  size_t nlev;
  int64_t lo, step;
  const uint64_t *keys;
  size_t nkeys;
  int64_t kbase, ksign;
} side_levels;

typedef struct level_it {
  const side_levels *s;
  size_t pos;
  int64_t price, qty;
  bool valid;
} level_it;

static void it_next(level_it *it) {
  const side_levels *s = it->s;
  if (s->use_hist) {
    while (it->pos < s->nlev) {
      size_t k = it->pos++;
      size_t j = s->desc ? s->nlev - 1 - k : k;
      if (s->hist[2 * j] > 0) {
        it->price = s->lo + (int64_t)j * s->step;
        it->qty = s->hist[2 * j];
        it->valid = true;
        return;
      }
    }
  } else if (it->pos < s->nkeys) {
    uint64_t off = s->keys[it->pos] >> 32;
    int64_t q = 0;
    while (it->pos < s->nkeys && (s->keys[it->pos] >> 32) == off)
      q += (uint32_t)s->keys[it->pos++];
    it->price = s->kbase + s->ksign * (int64_t)off;
    it->qty = q; /* keys are only made for orders with qty > 0 */
    it->valid = true;
    return;
  }
  it->valid = false;
}

static void it_first(level_it *it, const side_levels *s) {
  it->s = s;
  it->pos = 0;
  it_next(it);
}

/* Where a side's allocation of x Wh ends: the level at `price` gets r of
 * its q Wh; better levels fill. */
typedef struct cutoff {
  int64_t price, r, q;
} cutoff;

static cutoff find_cutoff(const side_levels *s, int64_t x) {
  cutoff c = {0, 0, 0};
  level_it it;
  int64_t cum = 0;
  for (it_first(&it, s); it.valid && x > 0; it_next(&it)) {
    if (cum + it.qty >= x) {
      c.price = it.price;
      c.r = x - cum;
      c.q = it.qty;
      return c;
    }
    cum += it.qty;
  }
  assert(x == 0); /* x never exceeds the volume, which both sides hold */
  return c;
}

/* ---- Aggregation --------------------------------------------------------- */

static uint64_t gcd64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Division by a grid step g >= 2 through its reciprocal (Lemire, Kaser and
 * Kurz, "Faster remainder by direct computation", 2019): for t < 2^32 and
 * magic = ceil(2^64 / g), the high half of magic * t is t / g, and the low
 * half is below magic exactly when g divides t. */
static inline uint64_t grid_magic(uint64_t g) {
  return UINT64_MAX / g + 1;
}

/*
 * The loop of hist_fill, inlined with constant flags so that each case
 * gets its own loop without the tests: `grid` (step g > 1, else 1),
 * `clamp` (a band cuts some prices), `screen` (also mark stp_screen's
 * bytes, see there). Quantities q[i] go to h[2 * k + side] for the price's
 * level k = (price - lo) / g. Returns false as soon as a price is off the grid.
 */
static inline __attribute__((always_inline)) bool
hist_loop(const mkt_auction *a, const uint32_t *restrict q, int64_t *restrict h,
          int64_t lo, uint64_t g, bool grid, bool clamp, bool screen) {
  const uint32_t *restrict ps = a->ps;
  const uint32_t *restrict part = a->part;
  uint8_t *restrict seen = (uint8_t *)(void *)a->bloom;
  const uint32_t lob = (uint32_t)(lo + PBIAS);
  const uint32_t clo = (uint32_t)(a->clo + PBIAS),
                 chi = (uint32_t)(a->chi + PBIAS);
  const uint64_t magic = grid ? grid_magic(g) : 0;
  for (size_t i = 0, n = a->n; i < n; i++) {
    uint32_t v = ps[i], p = v >> 1, s = ps_side(v);
    if (clamp) {
      p = p < clo ? clo : p;
      p = p > chi ? chi : p;
    }
    uint64_t k = p - lob;
    if (grid) {
      uint64_t hi, low;
      mkt__mul128(magic, k, &hi, &low);
      if (__builtin_expect(low >= magic, 0))
        return false;
      k = hi;
    }
    h[2 * k + s] += q[i];
    if (screen)
      seen[part[i]] |= (uint8_t)(1 + s);
  }
  return true;
}

#if USE_SSE2
/*
 * The common case of the histogram (prices on a grid of step g > 1, no
 * clamping) four orders at a time: the level k = t / g of offset t comes
 * from floating point, t * (1 / g) + 0.5 truncated, which is off from t / g
 * by far less than a half (single precision for t < 2^22, so k < 2^21 and
 * the relative error of about 2^-23 stays below a quarter; double precision
 * up to 2^31), so it is exact whenever g divides t; k * g == t (exact in
 * that precision) checks that it does. The levels of 64 orders are
 * computed so, then added up one by one.
 */
static bool hist_grid_sse2(const mkt_auction *a, const uint32_t *restrict q,
                           int64_t *restrict h, int64_t lo, uint64_t g,
                           uint64_t range, bool screen) {
  const uint32_t *restrict ps = a->ps;
  const uint32_t *restrict part = a->part;
  uint8_t *restrict seen = (uint8_t *)(void *)a->bloom;
  const size_t n = a->n, quads = n & ~(size_t)3;
  const __m128i lob = _mm_set1_epi32((int32_t)(lo + PBIAS));
  const __m128i one = _mm_set1_epi32(1);
  const __m128d inv = _mm_set1_pd(1.0 / (double)g), gd = _mm_set1_pd((double)g);
  const __m128d half = _mm_set1_pd(0.5);
  const __m128 invf = _mm_set1_ps(1.0f / (float)g), gf = _mm_set1_ps((float)g);
  const __m128 halff = _mm_set1_ps(0.5f);
  const bool single = range < (UINT64_C(1) << 22);
  uint32_t idx[64];
  for (size_t i0 = 0; i0 < quads; i0 += 64) {
    size_t len = quads - i0 < 64 ? quads - i0 : 64;
    for (size_t j = 0; single && j < len; j += 4) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ps + i0 + j));
      __m128i t = _mm_sub_epi32(_mm_srli_epi32(v, 1), lob);
      __m128 tf = _mm_cvtepi32_ps(t);
      __m128i k = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(tf, invf), halff));
      __m128 bad = _mm_cmpneq_ps(_mm_mul_ps(_mm_cvtepi32_ps(k), gf), tf);
      if (__builtin_expect(_mm_movemask_ps(bad) != 0, 0))
        return false;
      k = _mm_add_epi32(_mm_add_epi32(k, k), _mm_and_si128(v, one));
      _mm_storeu_si128((__m128i *)(void *)(idx + j), k);
    }
    for (size_t j = 0; !single && j < len; j += 4) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ps + i0 + j));
      __m128i t = _mm_sub_epi32(_mm_srli_epi32(v, 1), lob);
      __m128d t0 = _mm_cvtepi32_pd(t);
      __m128d t1 = _mm_cvtepi32_pd(_mm_shuffle_epi32(t, 0xEE));
      __m128i k0 = _mm_cvttpd_epi32(_mm_add_pd(_mm_mul_pd(t0, inv), half));
      __m128i k1 = _mm_cvttpd_epi32(_mm_add_pd(_mm_mul_pd(t1, inv), half));
      __m128d b0 = _mm_cmpneq_pd(_mm_mul_pd(_mm_cvtepi32_pd(k0), gd), t0);
      __m128d b1 = _mm_cmpneq_pd(_mm_mul_pd(_mm_cvtepi32_pd(k1), gd), t1);
      if (__builtin_expect(_mm_movemask_pd(_mm_or_pd(b0, b1)) != 0, 0))
        return false;
      __m128i k = _mm_unpacklo_epi64(k0, k1);
      k = _mm_add_epi32(_mm_add_epi32(k, k), _mm_and_si128(v, one));
      _mm_storeu_si128((__m128i *)(void *)(idx + j), k);
    }
    const uint32_t *restrict qi = q + i0;
    if (screen) {
      for (size_t j = 0; j < len; j++) {
        h[idx[j]] += qi[j];
        seen[part[i0 + j]] |= (uint8_t)(1 + (idx[j] & 1));
      }
    } else {
      for (size_t j = 0; j < len; j++)
        h[idx[j]] += qi[j];
    }
  }
  /* The last few orders one by one. */
  const uint64_t magic = grid_magic(g);
  const uint32_t lb = (uint32_t)(lo + PBIAS);
  for (size_t i = quads; i < n; i++) {
    uint32_t v = ps[i], s = ps_side(v);
    uint64_t hi, low;
    mkt__mul128(magic, (v >> 1) - lb, &hi, &low);
    if (low >= magic)
      return false;
    h[2 * hi + s] += q[i];
    if (screen)
      seen[part[i]] |= (uint8_t)(1 + s);
  }
  return true;
}
#endif

/*
 * The histogram of step 1 on the grid lo + k * g (nlev levels per side),
 * into a->hist: returns false, with nothing usable there, as soon as an
 * order's clamped price is off the grid. With `screen`, also stp_screen's
 * participant bytes.
 */
static bool hist_fill(mkt_auction *a, const uint32_t *q, int64_t lo, uint64_t g,
                      size_t nlev, bool clamp, bool screen) {
  int64_t *h = a->hist;
  memset(h, 0, 2 * nlev * sizeof *h);
  if (screen)
    memset(a->bloom, 0, (size_t)a->max_part + 1);
  /* One loop per case; clamping and screening are rare in the hot case. */
  if (g == 1)
    return clamp    ? hist_loop(a, q, h, lo, g, false, true, screen)
           : screen ? hist_loop(a, q, h, lo, g, false, false, true)
                    : hist_loop(a, q, h, lo, g, false, false, false);
  if (clamp)
    return hist_loop(a, q, h, lo, g, true, true, screen);
#if USE_SSE2
  return hist_grid_sse2(a, q, h, lo, g, (uint64_t)(nlev - 1) * g, screen);
#else
  return screen ? hist_loop(a, q, h, lo, g, true, false, true)
                : hist_loop(a, q, h, lo, g, true, false, false);
#endif
}

/* The grid step of every clamped price's offset from lo, exactly: the
 * greatest common divisor, with a division only where the step changes. */
static uint64_t grid_exact(const mkt_auction *a, int64_t lo, uint64_t g) {
  uint64_t magic = g > 1 ? grid_magic(g) : 0;
  for (size_t i = 0; i < a->n && g != 1; i++) {
    uint64_t t = (uint64_t)((int64_t)price_at(a, i) - lo), hi, low;
    if (g == 0) {
      g = t;
    } else {
      mkt__mul128(magic, t, &hi, &low);
      if (low < magic)
        continue;
      g = gcd64(g, t);
    }
    magic = g > 1 ? grid_magic(g) : 0;
  }
  return g ? g : 1;
}

/* ---- Self-trade netting -------------------------------------------------- */

static inline uint64_t part_hash(uint32_t participant) {
  return (uint64_t)participant * UINT64_C(0x9E3779B97F4A7C15);
}

/* The participant's slot; created if `insert`, else NULL when absent. */
static stp_slot *stp_find(stp_slot *tab, size_t mask, uint32_t participant,
                          bool insert) {
  for (size_t h = (size_t)(part_hash(participant) >> 32) & mask;;
       h = (h + 1) & mask) {
    stp_slot *s = &tab[h];
    if (s->state == 0) {
      if (!insert)
        return NULL;
      s->participant = participant;
      s->state = 1;
      s->max_bid = INT32_MIN;
      s->min_ask = INT32_MAX;
      return s;
    }
    if (s->participant == participant)
      return s;
  }
}

/*
 * Who may be on both sides. With participants numbered densely (below the
 * size of a->bloom in bytes: stp_direct), byte p of a->bloom has bit 0 set
 * if participant p bids and bit 1 if it offers: exact, one pass (usually
 * the histogram's, see hist_loop), a byte per participant. Otherwise
 * stp_net's Bloom filter of bidders finds candidates.
 */
static bool stp_direct(const mkt_auction *a) {
  return (uint64_t)a->max_part < a->bloom_bits / 8;
}

/* The bytes, in a pass of their own (when the histogram's was not made). */
static void stp_screen(mkt_auction *a) {
  uint8_t *restrict seen = (uint8_t *)(void *)a->bloom;
  const uint32_t *restrict part = a->part;
  const uint32_t *restrict ps = a->ps;
  memset(seen, 0, (size_t)a->max_part + 1);
  for (size_t i = 0, n = a->n; i < n; i++)
    seen[part[i]] |= (uint8_t)(1 + ps_side(ps[i]));
}

/* Whether the bytes show anybody on both sides (a byte of 3). */
static bool stp_dual(const mkt_auction *a) {
  const uint8_t *seen = (const uint8_t *)(const void *)a->bloom;
  size_t n = (size_t)a->max_part + 1, i = 0;
  uint64_t any = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, seen + i, sizeof w);
    any |= w & (w >> 1);
  }
  for (; i < n; i++)
    any |= (uint64_t)(seen[i] & (seen[i] >> 1));
  return (any & UINT64_C(0x0101010101010101)) != 0;
}

/*
 * Decrement each participant's crossing bids and offers against each other
 * (see the header). Fills a->eff and a->netted and returns the Wh removed
 * from each side (0: nobody crosses itself, eff and netted untouched). A
 * participant crosses itself exactly when its highest bid is at or above
 * its lowest offer. Candidates are the participants on both sides, exactly
 * (`direct`: from stp_screen's bytes) or from a bitmap of bidders (a Bloom
 * filter with one hash: false positives only) that picks the offers whose
 * participant might also bid. Only candidates enter an exact table, small
 * enough to stay in cache, which then finds the conflicts. Their orders
 * are gathered, sorted by (participant, price priority, add order) and
 * netted pairwise. Hashing only finds the conflicts: participants are
 * numbered in the add order of their first order and processed
 * independently, so no result depends on the tables' layout.
 */
static int64_t stp_net(mkt_auction *a, int64_t bmax, int64_t amin,
                       bool direct) {
  size_t n = a->n;
  uint64_t *bloom = a->bloom;
  unsigned shift = 58;

  /* 1. Who bids (unless stp_screen knows exactly who is on both sides). */
  if (!direct) {
    size_t bits = 64;
    while (bits < 8 * a->nbuy) {
      bits *= 2;
      shift--;
    }
    assert(bits <= a->bloom_bits);
    memset(bloom, 0, bits / 8);
    for (size_t i = 0; i < n; i++) {
      uint64_t h = part_hash(a->part[i]) >> shift;
      bloom[h >> 6] |= (uint64_t)(ps_side(a->ps[i]) == 0) << (h & 63);
    }
  }
#define BIT(b) ((bloom[(b) >> 6] >> ((b)&63)) & 1)
#define MAY_BID(i)                                                             \
  (direct ? ((const uint8_t *)(const void *)bloom)[a->part[i]] == 3            \
          : BIT(part_hash(a->part[i]) >> shift))

  /* 2. Offers of possible bidders: their lowest offer each. */
  size_t cand = 0;
  for (size_t i = 0; i < n; i++)
    cand += ps_side(a->ps[i]) == 1 && MAY_BID(i);
  if (cand == 0)
    return 0;
  size_t size = 4;
  while (size < 2 * cand)
    size *= 2;
  assert(size <= a->stp_cap);
  size_t mask = size - 1;
  memset(a->stp, 0, size * sizeof *a->stp);
  for (size_t i = 0; i < n; i++)
    if (ps_side(a->ps[i]) == 1 && MAY_BID(i)) {
      stp_slot *s = stp_find(a->stp, mask, a->part[i], true);
      int32_t p = price_at(a, i);
      if (p < s->min_ask)
        s->min_ask = p;
    }

  /* 3. Their highest bid each; a conflict is a bid at or above it. */
  bool any = false;
  for (size_t i = 0; i < n; i++)
    if (ps_side(a->ps[i]) == 0 && MAY_BID(i)) {
      stp_slot *s = stp_find(a->stp, mask, a->part[i], false);
      if (!s)
        continue; /* bids, but offers nothing */
      int32_t p = price_at(a, i);
      if (p > s->max_bid)
        s->max_bid = p;
      any |= s->max_bid >= s->min_ask;
    }
  if (!any)
    return 0;

  /* Gather: bids from the front of the scratch, offers from the back. */
  memset(a->netted, 0, n * sizeof *a->netted);
  a->netted_valid = true;
  memcpy(a->eff, a->qty, n * sizeof *a->eff);
  uint32_t conflicts = 0;
  size_t nb = 0, na = 0;
  mkt__pair *bids = a->pairs, *asks;
  for (size_t i = 0; i < n; i++) {
    stp_slot *s = MAY_BID(i) ? stp_find(a->stp, mask, a->part[i], false) : NULL;
    if (!s || s->max_bid < s->min_ask)
      continue;
    if (s->state == 1)
      s->state = 2 + conflicts++;
    uint64_t dense = (uint64_t)(s->state - 2) << 32;
    int64_t p = price_at(a, i);
    if (ps_side(a->ps[i]) == 0)
      bids[nb++] = (mkt__pair){dense | (uint64_t)(bmax - p), i};
    else
      a->pairs[a->cap - 1 - na++] =
          (mkt__pair){dense | (uint64_t)(p - amin), i};
  }
  asks = a->pairs + a->cap - na;
  mkt__pair_sort(bids, nb);
  mkt__pair_sort(asks, na);
  int64_t total = 0;
  size_t x = 0, y = 0;
  while (x < nb && y < na) {
    uint64_t d = bids[x].a >> 32;
    assert(asks[y].a >> 32 == d); /* both sides hold every conflict */
    size_t xe = x, ye = y;
    while (xe < nb && bids[xe].a >> 32 == d)
      xe++;
    while (ye < na && asks[ye].a >> 32 == d)
      ye++;
    while (x < xe && y < ye) {
      size_t bi = (size_t)bids[x].b, ai = (size_t)asks[y].b;
      if (price_at(a, bi) < price_at(a, ai))
        break;
      uint32_t dec = a->eff[bi] < a->eff[ai] ? a->eff[bi] : a->eff[ai];
      a->eff[bi] -= dec;
      a->eff[ai] -= dec;
      a->netted[bi] += dec;
      a->netted[ai] += dec;
      total += dec;
      if (a->eff[bi] == 0)
        x++;
      if (a->eff[ai] == 0)
        y++;
    }
    x = xe;
    y = ye;
  }
#undef MAY_BID
#undef BIT
  assert(total > 0);
  return total;
}

/* ---- Allocation and trades ----------------------------------------------- */

/* How the cut-off levels are shared; resolved before any fill is streamed
 * (step 3), so that fill_and_pair never has to wait for a later order. */
typedef struct ration_state {
  cutoff cut[2];
  bool time;
  int64_t left[2]; /* time priority: Wh still to give at the cut-off */
  size_t next[2];  /* pro rata, level partly filled: the next of the
                      level's orders (qty > 0) in prorata()'s list */
} ration_state;

/* The thresholds of order_key that sort orders against the cut-offs: an
 * order is better than its side's cut-off exactly when its key is above
 * better[s], worse when below worse[s]. The cut-off prices lie in the band,
 * so clamping needs no work per order: a bid beats a cut-off below the
 * band's top exactly when its own price is higher, and none beats one at
 * the top (everything above is clamped onto it); likewise for the rest. */
static void set_thresholds(mkt_auction *a, const ration_state *st) {
  int64_t c0 = st->cut[0].price, c1 = st->cut[1].price;
  int32_t b0 = (int32_t)(c0 + PBIAS), b1 = (int32_t)(c1 + PBIAS);
  a->better[0] = c0 == a->chi ? INT32_MAX : b0;
  a->worse[0] = c0 == a->clo ? INT32_MIN : b0;
  a->better[1] = ~(c1 == a->clo ? INT32_MIN : b1);
  a->worse[1] = ~(c1 == a->chi ? INT32_MAX : b1);
}

/*
 * The orders of one block (at most 64, from i0) whose key lies in [lo[s],
 * hi[s]] for their side s, as bits: with SSE2 four orders at a time.
 */
static inline uint64_t at_levels(const mkt_auction *a, size_t i0, size_t len,
                                 const int32_t hi[2], const int32_t lo[2]) {
  const uint32_t *restrict ps = a->ps + i0;
  uint64_t m = 0;
  size_t j = 0;
#if USE_SSE2
  const __m128i one = _mm_set1_epi32(1), zero = _mm_setzero_si128();
  const __m128i h0 = _mm_set1_epi32(hi[0]), dh = _mm_set1_epi32(hi[0] ^ hi[1]);
  const __m128i l0 = _mm_set1_epi32(lo[0]), dl = _mm_set1_epi32(lo[0] ^ lo[1]);
  for (; j + 4 <= len; j += 4) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ps + j));
    __m128i ns = _mm_sub_epi32(zero, _mm_and_si128(v, one));
    __m128i key = _mm_xor_si128(_mm_srli_epi32(v, 1), ns);
    __m128i h = _mm_xor_si128(h0, _mm_and_si128(dh, ns));
    __m128i l = _mm_xor_si128(l0, _mm_and_si128(dl, ns));
    __m128i out =
        _mm_or_si128(_mm_cmpgt_epi32(key, h), _mm_cmpgt_epi32(l, key));
    m |= (uint64_t)(15 & ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(out)))
         << j;
  }
#endif
  for (; j < len; j++) {
    uint32_t v = ps[j], s = ps_side(v);
    int32_t key = order_key(v);
    m |= (uint64_t)(key <= hi[s] && key >= lo[s]) << j;
  }
  return m;
}

/*
 * Step 3 for the sides in need[]: the pro-rata fills of the cut-off level's
 * orders. Order i of quantity q_i in a level of total Q that gets R gets
 * floor(q_i * R / Q); the Wh still left (fewer than the orders) go one each
 * to the orders with the largest remainders (q_i * R mod Q), ties to the
 * earlier-added order. The level's orders and their fills, in add order,
 * end up in pairs[] as fill_of and ration_one read them (bids up from
 * pairs[0], offers down from pairs[cap - 1]).
 */
static void prorata(mkt_auction *a, const uint32_t *q, ration_state *st,
                    const bool need[2]) {
  uint32_t *fills[2] = {a->lbuy, a->lsell}, *index[2];
  index[0] = a->scratch; /* bids up from the start, offers down from cap */
  index[1] = a->scratch + a->cap;
  mkt__pair *v[2] = {a->pairs, a->pairs + a->cap};
  size_t m[2] = {0, 0};
  int64_t given[2] = {0, 0};
  /* Thresholds that nothing meets stand for a side that needs nothing. */
  int32_t hi[2], lo[2];
  for (int s = 0; s < 2; s++) {
    hi[s] = need[s] ? a->better[s] : INT32_MIN;
    lo[s] = need[s] ? a->worse[s] : INT32_MAX;
  }
  for (size_t i0 = 0, n = a->n; i0 < n; i0 += 64) {
    size_t len = n - i0 < 64 ? n - i0 : 64;
    for (uint64_t hit = at_levels(a, i0, len, hi, lo); hit; hit &= hit - 1) {
      size_t i = i0 + (size_t)__builtin_ctzll(hit);
      uint32_t s = ps_side(a->ps[i]);
      if (q[i] == 0)
        continue;
      const cutoff *c = &st->cut[s];
      uint64_t h, l, share, rem;
      mkt__mul128(q[i], (uint64_t)c->r, &h, &l);
      int rc = mkt__div128(h, l, (uint64_t)c->q, &share, &rem);
      assert(rc == 0); /* share < q_i since r < q */
      (void)rc;
      given[s] += (int64_t)share;
      fills[s][m[s]] = (uint32_t)share;
      mkt__pair e = {UINT64_MAX - rem, m[s]};
      if (s == 0) {
        v[0][m[0]] = e;
        index[0][m[0]] = (uint32_t)i;
      } else {
        v[1][-(ptrdiff_t)m[1] - 1] = e;
        index[1][-(ptrdiff_t)m[1] - 1] = (uint32_t)i;
      }
      m[s]++;
    }
  }
  for (int s = 0; s < 2; s++) {
    if (!need[s])
      continue;
    mkt__pair *vs = s == 0 ? v[0] : v[1] - m[1];
    const uint32_t *is = index[0];
    int64_t left = st->cut[s].r - given[s];
    assert(left >= 0 && (size_t)left <= m[s]);
    if (left > 0) {
      mkt__pair_sort(vs, m[s]);
      for (int64_t j = 0; j < left; j++)
        fills[s][vs[j].b]++;
    }
    /* The remainders are done with: list {index, fill} for fill_of, in
     * the same places and directions as the indexes. */
    for (size_t k = 0; k < m[s]; k++) {
      if (s == 0)
        vs[k] = (mkt__pair){is[k], fills[0][k]};
      else
        a->pairs[a->cap - 1 - k] =
            (mkt__pair){index[1][-(ptrdiff_t)k - 1], fills[1][k]};
    }
    a->ncut[s] = m[s];
    st->next[s] = 0;
  }
}

/* The fill of order i (qty qi > 0) at the cut-off level of side s. Kept
 * out of line: few orders get here, and the main loop needs its registers.
 * Under time priority a partly filled level's fills are listed for fill_of
 * here (pairs[] is free then). */
static __attribute__((noinline)) uint32_t
ration_one(mkt_auction *a, ration_state *st, size_t s, size_t i, uint32_t qi) {
  const cutoff *c = &st->cut[s];
  if (c->r == c->q)
    return qi; /* the cut-off level fills exactly */
  if (st->time) {
    uint32_t f = (uint32_t)mkt__min64(qi, st->left[s]);
    st->left[s] -= f;
    size_t k = a->ncut[s]++;
    mkt__pair e = {i, f};
    if (s == 0)
      a->pairs[k] = e;
    else
      a->pairs[a->cap - 1 - k] = e;
    return f;
  }
  size_t k = st->next[s]++; /* pro rata: listed by prorata() */
  return (uint32_t)(s == 0 ? a->pairs[k] : a->pairs[a->cap - 1 - k]).b;
}

/*
 * The orders of one block (at most 64, from i0) sorted against the
 * cut-offs: fbuf[j] the fill if better (else 0), *mb and *ma the blocks's
 * bids and offers with a fill, *mc the orders at the cut-off with qty > 0.
 * With SSE2 (every x86-64) four orders at a time; both versions give the
 * same bits.
 */
static inline void classify(const mkt_auction *a, const uint32_t *restrict q,
                            size_t i0, size_t len, uint32_t *restrict fbuf,
                            uint64_t *mb, uint64_t *ma, uint64_t *mc) {
  const uint32_t *restrict ps = a->ps + i0;
  q += i0;
  uint64_t b = 0, s1 = 0, c = 0;
  size_t j = 0;
#if USE_SSE2
  const __m128i one = _mm_set1_epi32(1), zero = _mm_setzero_si128();
  const __m128i tb0 = _mm_set1_epi32(a->better[0]),
                db = _mm_set1_epi32(a->better[0] ^ a->better[1]);
  const __m128i tw0 = _mm_set1_epi32(a->worse[0]),
                dw = _mm_set1_epi32(a->worse[0] ^ a->worse[1]);
  for (; j + 4 <= len; j += 4) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(ps + j));
    __m128i qv = _mm_loadu_si128((const __m128i *)(const void *)(q + j));
    __m128i ns = _mm_sub_epi32(zero, _mm_and_si128(v, one)); /* offers */
    __m128i key = _mm_xor_si128(_mm_srli_epi32(v, 1), ns);
    __m128i tb = _mm_xor_si128(tb0, _mm_and_si128(db, ns));
    __m128i tw = _mm_xor_si128(tw0, _mm_and_si128(dw, ns));
    __m128i better = _mm_cmpgt_epi32(key, tb);
    __m128i worse = _mm_cmpgt_epi32(tw, key);
    __m128i qz = _mm_cmpeq_epi32(qv, zero);
    __m128i f = _mm_and_si128(qv, better);
    _mm_storeu_si128((__m128i *)(void *)(fbuf + j), f);
    unsigned fm = 15 & ~(unsigned)_mm_movemask_ps(
                           _mm_castsi128_ps(_mm_cmpeq_epi32(f, zero)));
    unsigned sm = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(ns));
    unsigned cm = 15 & ~(unsigned)_mm_movemask_ps(_mm_castsi128_ps(
                           _mm_or_si128(_mm_or_si128(better, worse), qz)));
    b |= (uint64_t)(fm & ~sm) << j;
    s1 |= (uint64_t)(fm & sm) << j;
    c |= (uint64_t)cm << j;
  }
#endif
  for (; j < len; j++) {
    uint32_t v = ps[j], s = ps_side(v), qi = q[j];
    int32_t key = order_key(v);
    bool better = key > a->better[s], worse = key < a->worse[s];
    uint32_t f = better ? qi : 0;
    fbuf[j] = f;
    b |= (uint64_t)(f != 0 && !s) << j;
    s1 |= (uint64_t)(f != 0 && s) << j;
    c |= (uint64_t)(!better && !worse && qi != 0) << j;
  }
  *mb = b;
  *ma = s1;
  *mc = c;
}

/*
 * The queues of step 4: per side the filled orders in add order (a->lbuy,
 * a->lsell) and, alongside, where each one's fill ends counted from the
 * start of the side's queue (keys[] for bids, tmp[] for offers, 64-bit). A
 * trade is then the overlap of a bid's and an offer's ranges, so the merge
 * needs no per-order remainders: it walks the ends in order.
 */
typedef struct merge_state {
  size_t hb, ha;  /* heads */
  size_t tb, ta;  /* tails */
  uint64_t done;  /* Wh paired so far: every range ends at or after it */
  uint64_t limit; /* ... and it can reach the smaller side's last end */
  size_t nt;      /* trades written */
} merge_state;

/*
 * Merge the queues into trades at (buy, sell) until one of them runs out:
 * each trade goes from `done` to the nearer of the two head ranges' ends,
 * and a head whose range ends there moves on. One comparison ends the
 * loop; out of line, so that the loop keeps everything in registers.
 */
static __attribute__((noinline)) void merge(mkt_auction *a, merge_state *ms,
                                            int64_t buy, int64_t sell) {
  const uint64_t *restrict id = a->id;
  const uint32_t *restrict part = a->part;
  /* Both queues from one base each (offers at + off), for the registers. */
  const uint32_t *restrict lq = a->lbuy;
  const uint64_t *restrict eq = a->keys;
  const size_t off = a->cap + 2;
  assert(a->lsell == lq + off && a->tmp == eq + off);
  mkt_trade *restrict tr = a->trades + ms->nt;
  mkt_trade *const t0 = tr;
  size_t hb = ms->hb, ha = ms->ha + off;
  uint64_t done = ms->done;
  const uint64_t limit = ms->limit;
#if USE_SSE2
  const __m128i prices = _mm_set_epi64x(sell, buy);
#endif
  while (done < limit) {
    uint64_t xb = eq[hb], xa = eq[ha];
    uint64_t end = xb < xa ? xb : xa;
    int64_t m = (int64_t)(end - done);
    uint32_t bi = lq[hb], ai = lq[ha];
#if USE_SSE2
    static_assert(offsetof(mkt_trade, sell_id) == 8 &&
                      offsetof(mkt_trade, seller) == 20 &&
                      offsetof(mkt_trade, qty) == 24 &&
                      offsetof(mkt_trade, sell_price) == 40,
                  "mkt_trade is three pairs of 64-bit words");
    /* Three 16-byte stores instead of seven (x86-64 is little-endian:
     * buyer then seller make one 64-bit word). */
    __m128i ids = _mm_set_epi64x((long long)id[ai], (long long)id[bi]);
    __m128i pq =
        _mm_set_epi64x(m, (long long)((uint64_t)part[ai] << 32 | part[bi]));
    _mm_storeu_si128((__m128i *)(void *)&tr->buy_id, ids);
    _mm_storeu_si128((__m128i *)(void *)&tr->buyer, pq);
    _mm_storeu_si128((__m128i *)(void *)&tr->buy_price, prices);
#else
    tr->buy_id = id[bi];
    tr->sell_id = id[ai];
    tr->buyer = part[bi];
    tr->seller = part[ai];
    tr->qty = m;
    tr->buy_price = buy;
    tr->sell_price = sell;
#endif
    tr++;
    /* No branch on which head moves: both compare, either or both go. */
    hb += xb == end;
    ha += xa == end;
    done = end;
  }
  ms->hb = hb;
  ms->ha = ha - off;
  ms->done = done;
  ms->nt += (size_t)(tr - t0);
}

/*
 * Step 4: the filled bids and offers, in add order, into the queues (see
 * merge_state). Blocks of 64 orders are sorted against the cut-offs at once
 * (classify), and only the filled ones are then visited, by their bits.
 * With `pair_now` (uniform prices), after every CHUNK orders the queues are
 * merged into trades at (buy, sell) as far as both reach; pay-as-bid
 * instead gets them as lists (a->lbuy[0..*nb), a->lsell[0..*na)) with each
 * listed order's fill in scratch[]. Returns the Wh traded (allocated).
 */
static __attribute__((noinline)) int64_t
fill_and_pair(mkt_auction *a, const uint32_t *q, ration_state *st,
              bool pair_now, int64_t buy, int64_t sell, size_t *nb,
              size_t *na) {
  const size_t n = a->n;
  uint32_t *restrict lb = a->lbuy, *restrict la = a->lsell;
  uint64_t *restrict eb = a->keys, *restrict ea = a->tmp;
  uint32_t fbuf[64];
  size_t tb = 0, ta = 0;
  uint64_t sb = 0, sa = 0; /* where the queues' ranges end */
  merge_state ms = {0, 0, 0, 0, 0, 0, 0};
  for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
    size_t c1 = n - c0 < CHUNK ? n : c0 + CHUNK;
    for (size_t i0 = c0; i0 < c1; i0 += 64) {
      size_t len = c1 - i0 < 64 ? c1 - i0 : 64;
      uint64_t mb, ma, mc;
      classify(a, q, i0, len, fbuf, &mb, &ma, &mc);
      while (__builtin_expect(mc != 0, 0)) {
        unsigned j = (unsigned)__builtin_ctzll(mc);
        mc &= mc - 1;
        size_t s = ps_side(a->ps[i0 + j]);
        uint32_t f = ration_one(a, st, s, i0 + j, q[i0 + j]);
        fbuf[j] = f;
        if (f)
          *(s ? &ma : &mb) |= UINT64_C(1) << j;
      }
      for (; mb; mb &= mb - 1) {
        unsigned j = (unsigned)__builtin_ctzll(mb);
        sb += fbuf[j];
        lb[tb] = (uint32_t)(i0 + j);
        eb[tb++] = sb;
      }
      for (; ma; ma &= ma - 1) {
        unsigned j = (unsigned)__builtin_ctzll(ma);
        sa += fbuf[j];
        la[ta] = (uint32_t)(i0 + j);
        ea[ta++] = sa;
      }
    }
    if (!pair_now)
      continue;
    ms.limit = sb < sa ? sb : sa;
    merge(a, &ms, buy, sell);
  }
  assert(sb == sa); /* both sides were allocated the same */
  (void)sa;
  if (pair_now) {
    assert(ms.hb == tb && ms.ha == ta); /* ... and paired off completely */
    a->ntrades = ms.nt;
  } else {
    /* Pay-as-bid: each listed order's fill by order, for pair_by_bid. */
    for (size_t k = 0; k < tb; k++)
      a->scratch[lb[k]] = (uint32_t)(eb[k] - (k ? eb[k - 1] : 0));
    for (size_t k = 0; k < ta; k++)
      a->scratch[la[k]] = (uint32_t)(ea[k] - (k ? ea[k - 1] : 0));
  }
  *nb = tb;
  *na = ta;
  return (int64_t)sb;
}

/*
 * Pay-as-bid: merge the listed bids with the listed offers, in list order
 * (price priority), into trades priced at each pair's bid. The fills, ids,
 * participants and bid prices are first copied into list order: in those
 * copy loops the loads are independent and overlap, whereas in the merge
 * they would each wait for a cache miss (the lists are in price order, far
 * from add order). keys[] and tmp[] are free after step 4 and have room
 * for both lists and their sentinels. Adds qty * price to *value and
 * returns the energy traded.
 */
static int64_t pair_by_bid(mkt_auction *a, const uint32_t *bids, size_t nb,
                           const uint32_t *asks, size_t na, mkt__acc *value) {
  assert(bids == a->lbuy && asks == a->lsell); /* overwritten below */
  uint64_t *g_id = a->keys, *g_pp = a->tmp;
  for (size_t j = 0; j < nb; j++) {
    uint32_t i = bids[j];
    g_id[j] = a->id[i];
    g_pp[j] = (uint64_t)a->part[i] << 32 | (uint32_t)price_at(a, i);
  }
  for (size_t j = 0; j < na; j++) {
    uint32_t i = asks[j];
    g_id[nb + 1 + j] = a->id[i];
    g_pp[nb + 1 + j] = (uint64_t)a->part[i] << 32;
  }
  /* The lists' indexes are done with: their fills (fill_and_pair left
   * them in scratch[]) take their places, with 0 sentinels. */
  uint32_t *fb = a->lbuy, *fa = a->lsell;
  for (size_t j = 0; j < nb; j++)
    fb[j] = a->scratch[bids[j]];
  for (size_t j = 0; j < na; j++)
    fa[j] = a->scratch[asks[j]];
  fb[nb] = fa[na] = 0;
  mkt_trade *restrict t = a->trades;
  size_t x = 0, y = 0, nt = 0, ya = nb + 1;
  int64_t bleft = fb[0], aleft = fa[0], traded = 0;
  while (x < nb && y < na) {
    int64_t q = mkt__min64(bleft, aleft);
    int64_t price = (int32_t)(uint32_t)g_pp[x];
    mkt__acc_add(value, q, price);
    mkt_trade *tr = &t[nt++];
    tr->buy_id = g_id[x];
    tr->sell_id = g_id[ya + y];
    tr->buyer = (uint32_t)(g_pp[x] >> 32);
    tr->seller = (uint32_t)(g_pp[ya + y] >> 32);
    tr->qty = q;
    tr->buy_price = tr->sell_price = price;
    traded += q;
    bleft -= q;
    aleft -= q;
    size_t bx = bleft == 0, ay = aleft == 0;
    x += bx;
    y += ay;
    bleft += (int64_t)fb[x] & -(int64_t)bx;
    aleft += (int64_t)fa[y] & -(int64_t)ay;
  }
  a->ntrades = nt;
  return traded;
}

/* Pay-as-bid pairs in price priority: sort a list by price, stably (so add
 * order within a price), through keys (price offset << 32 | index). */
static void sort_by_price(mkt_auction *a, uint32_t *list, size_t n,
                          int64_t base, int64_t sign, int64_t range) {
  uint64_t *k = a->keys;
  for (size_t j = 0; j < n; j++)
    k[j] = (uint64_t)(sign * (price_at(a, list[j]) - base)) << 32 | list[j];
  mkt__radix_sort(k, a->tmp, n, 32, 0, mkt__bit_width((uint64_t)range));
  for (size_t j = 0; j < n; j++)
    list[j] = (uint32_t)k[j];
}

/* ---- Clearing ------------------------------------------------------------ */

/*
 * Step 1: the levels of both sides into *sb and *sa, and demand and supply
 * into *out. The histogram's grid is first guessed from the extreme prices
 * and a sample of orders; an order off it makes one exact pass find the
 * grid and the histogram is built again. A book whose levels on its grid
 * would be too many for the histogram is radix-sorted instead. With
 * `screen` the histogram pass also marks stp_screen's bytes; returns whether
 * it did.
 */
static bool aggregate(mkt_auction *a, const uint32_t *q, int64_t bmin,
                      int64_t bmax, int64_t amin, int64_t amax, bool screen,
                      side_levels *sb, side_levels *sa, mkt_clearing *out) {
  size_t n = a->n, nb = a->nbuy;
  int64_t lo = bmin < amin ? bmin : amin, hi = bmax > amax ? bmax : amax;
  uint64_t range = (uint64_t)(hi - lo);
  /* Does the band cut any price? (Empty sides have no prices.) */
  bool clamp = false;
  for (int s = 0; s < 2; s++)
    if ((s == 0 ? nb : n - nb) > 0 &&
        (a->min_price[s] < a->clo || a->max_price[s] > a->chi))
      clamp = true;
  /* A histogram costs its levels, a sort its orders: at most four levels
   * per order (and never more than it can hold). */
  uint64_t limit = 4 * (uint64_t)n < 64 ? 64 : 4 * (uint64_t)n;
  if (limit > a->hist_cap)
    limit = a->hist_cap;
  /* The grid: guessed from the extreme prices and the first orders
   * (checked for every order below), unless the range is small anyway. A
   * coarser grid also keeps the histogram in the first-level cache. */
  uint64_t g = 1;
  if (range >= 1024) {
    g = 0;
    g = gcd64(g, (uint64_t)(bmin - lo));
    g = gcd64(g, (uint64_t)(bmax - lo));
    g = gcd64(g, (uint64_t)(amin - lo));
    g = gcd64(g, (uint64_t)(amax - lo));
    for (size_t i = 0; i < n && i < 32; i++)
      g = gcd64(g, (uint64_t)((int64_t)price_at(a, i) - lo));
    if (g == 0)
      g = 1; /* one price */
  }
  for (int attempt = 0; attempt < 2; attempt++) {
    if (attempt == 1)
      g = grid_exact(a, lo, g);
    uint64_t nlev = range / g + 1;
    if (nlev > limit)
      break; /* the exact grid can only be finer */
    if (hist_fill(a, q, lo, g, (size_t)nlev, clamp, screen)) {
      int64_t demand = 0, supply = 0;
      for (size_t k = 0; k < nlev; k++) {
        demand += a->hist[2 * k];
        supply += a->hist[2 * k + 1];
      }
      out->demand = demand;
      out->supply = supply;
      *sb = (side_levels){.use_hist = true,
                          .desc = true,
                          .hist = a->hist,
                          .nlev = (size_t)nlev,
                          .lo = lo,
                          .step = (int64_t)g};
      *sa = (side_levels){.use_hist = true,
                          .hist = a->hist + 1,
                          .nlev = (size_t)nlev,
                          .lo = lo,
                          .step = (int64_t)g};
      return screen;
    }
  }
  uint64_t *kb = a->keys, *ka = a->keys + nb;
  size_t xb = 0, xa = 0;
  out->demand = out->supply = 0;
  for (size_t i = 0; i < n; i++) {
    if (q[i] == 0)
      continue;
    int64_t p = price_at(a, i);
    if (ps_side(a->ps[i]) == 0) {
      kb[xb++] = (uint64_t)(bmax - p) << 32 | q[i];
      out->demand += q[i];
    } else {
      ka[xa++] = (uint64_t)(p - amin) << 32 | q[i];
      out->supply += q[i];
    }
  }
  mkt__radix_sort(kb, a->tmp, xb, 32, 0,
                  mkt__bit_width((uint64_t)(bmax - bmin)));
  mkt__radix_sort(ka, a->tmp, xa, 32, 0,
                  mkt__bit_width((uint64_t)(amax - amin)));
  *sb = (side_levels){.keys = kb, .nkeys = xb, .kbase = bmax, .ksign = -1};
  *sa = (side_levels){.keys = ka, .nkeys = xa, .kbase = amin, .ksign = 1};
  return false;
}

int mkt_auction_clear(mkt_auction *a, const mkt_auction_config *cfg,
                      mkt_clearing *out) {
  static const mkt_auction_config defaults = {0};
  if (!cfg)
    cfg = &defaults;
  if ((unsigned)cfg->rule > MKT_RULE_PAY_AS_BID ||
      (unsigned)cfg->rationing > MKT_RATION_TIME || cfg->k_ppm < 0 ||
      cfg->k_ppm > MKT_K_ONE || (cfg->band && mkt_band_check(cfg->band)))
    return GL_EINVAL;
  a->cleared = false;
  a->netted_valid = false;
  a->fills_any = false;
  a->q_eff = false;
  a->ncut[0] = a->ncut[1] = 0;
  a->ntrades = 0;
  a->clo = (int32_t)(cfg->band ? cfg->band->feed_in : -MKT_PRICE_MAX);
  a->chi = (int32_t)(cfg->band ? cfg->band->retail : MKT_PRICE_MAX);
  memset(out, 0, sizeof *out);
  size_t n = a->n, nb = a->nbuy, na = n - nb;

  /* Clamped price range of each side, known from the adds. */
  int64_t bmin = clampv(a, a->min_price[0]), bmax = clampv(a, a->max_price[0]);
  int64_t amin = clampv(a, a->min_price[1]), amax = clampv(a, a->max_price[1]);
  if (nb == 0)
    bmin = bmax = amin;
  if (na == 0)
    amin = amax = bmin;
  if (n == 0)
    bmin = bmax = amin = amax = 0;

  /* Self-trade prevention: sparse participant numbers take stp_net's
   * Bloom filter first; dense ones are screened exactly, in the
   * histogram's pass if there is one, and only participants on both sides
   * are looked at further. If anything is netted, the levels are
   * aggregated again from the netted quantities. */
  const uint32_t *q = a->qty;
  bool stp = !cfg->allow_self_trade && nb > 0 && na > 0;
  bool direct = stp && stp_direct(a);
  if (stp && !direct) {
    out->netted = stp_net(a, bmax, amin, false);
    if (out->netted > 0)
      q = a->eff;
  }

  /* 1. Aggregate the levels. */
  side_levels sb, sa;
  bool screened =
      aggregate(a, q, bmin, bmax, amin, amax, direct, &sb, &sa, out);
  if (direct) {
    if (!screened)
      stp_screen(a);
    if (stp_dual(a)) {
      out->netted = stp_net(a, bmax, amin, true);
      if (out->netted > 0) {
        q = a->eff;
        (void)aggregate(a, q, bmin, bmax, amin, amax, false, &sb, &sa, out);
      }
    }
  }
  a->q_eff = q == a->eff;

  /* 2. The walk: match marginal units level by level while the best
   * remaining bid is at or above the best remaining offer. */
  level_it bl, al;
  it_first(&bl, &sb);
  it_first(&al, &sa);
  int64_t v = 0, mb = 0, ma = 0, brest = bl.qty, arest = al.qty;
  bool bdone = false, adone = false;
  while (bl.valid && al.valid && bl.price >= al.price) {
    int64_t m = mkt__min64(brest, arest);
    v += m;
    brest -= m;
    arest -= m;
    mb = bl.price;
    ma = al.price;
    bdone = brest == 0;
    adone = arest == 0;
    if (bdone) {
      it_next(&bl);
      brest = bl.qty;
    }
    if (adone) {
      it_next(&al);
      arest = al.qty;
    }
  }
  if (v > 0) {
    out->marginal_bid = mb;
    out->marginal_ask = ma;
    /* The marginal level is partly filled when the walk stopped inside it. */
    bool bpart = !bdone, apart = !adone;
    int64_t x = v, buy = 0, sell = 0;
    switch (cfg->rule) {
    case MKT_RULE_MARGINAL:
      buy = apart ? ma : bpart ? mb : mkt_div_round(mb + ma, 2);
      sell = buy;
      break;
    case MKT_RULE_K:
      buy = mkt_div_round(cfg->k_ppm * mb + (MKT_K_ONE - cfg->k_ppm) * ma,
                          MKT_K_ONE);
      sell = buy;
      break;
    case MKT_RULE_MCAFEE: {
      /* The first unit left out on each side: in the marginal level if it
       * still has some, else the next level, if any. */
      bool bnext = bpart || bl.valid, anext = apart || al.valid;
      int64_t b1 = bpart ? mb : bl.price, s1 = apart ? ma : al.price;
      int64_t p0 = bnext && anext ? mkt_div_round(b1 + s1, 2) : 0;
      if (bnext && anext && ma <= p0 && p0 <= mb) {
        buy = sell = p0;
      } else {
        out->reduced = true;
        x = v - 1;
        buy = mb;
        sell = ma;
      }
      break;
    }
    case MKT_RULE_PAY_AS_BID:
      break; /* per trade */
    }

    /* 3. Resolve the rationing at the cut-offs; 4. fill and pair. */
    if (x > 0) {
      ration_state st = {.cut = {find_cutoff(&sb, x), find_cutoff(&sa, x)},
                         .time = cfg->rationing == MKT_RATION_TIME};
      st.left[0] = st.cut[0].r;
      st.left[1] = st.cut[1].r;
      set_thresholds(a, &st);
      a->fills_any = true;
      bool need[2] = {!st.time && st.cut[0].r < st.cut[0].q,
                      !st.time && st.cut[1].r < st.cut[1].q};
      if (need[0] || need[1])
        prorata(a, q, &st, need);
      bool pab = cfg->rule == MKT_RULE_PAY_AS_BID;
      size_t nlb, nla;
      int64_t traded = fill_and_pair(a, q, &st, !pab, buy, sell, &nlb, &nla);
      if (pab) {
        mkt__acc value = {0, 0};
        sort_by_price(a, a->lbuy, nlb, bmax, -1, bmax - bmin);
        sort_by_price(a, a->lsell, nla, amin, 1, amax - amin);
        traded = pair_by_bid(a, a->lbuy, nlb, a->lsell, nla, &value);
        int rc = mkt__acc_div_round(&value, x, &buy);
        if (rc)
          return rc;
        sell = buy;
      }
      assert(traded == x); /* both sides were allocated exactly x */
      (void)traded;
    } else {
      buy = sell = 0; /* McAfee reduced a single unit to nothing */
    }
    out->volume = x;
    out->buy_price = buy;
    out->sell_price = sell;
    out->price = mkt_div_round(buy + sell, 2);
  }
  out->trades = a->ntrades;
  a->cleared = true;
  return 0;
}
