/* SPDX-License-Identifier: MIT */
/*
 * market_auction.c - the call auction. See gridlet/market_auction.h for the
 * rules; this file is about doing them fast and exactly.
 *
 * Orders live in structure-of-arrays form indexed by add sequence, and
 * every pass over them runs in that order, sequentially: at a million
 * orders, memory traffic and not arithmetic is the cost, and gathering
 * order fields in price order would miss the cache on nearly every access.
 * A clearing is four passes:
 *
 *   1. aggregate: the quantity per price level of each side, in a histogram
 *      indexed by price when the (clamped) price range is small compared
 *      with the book, else by radix-sorting one key (price << 32 | qty) per
 *      order on its price bits;
 *   2. walk the levels from the best prices inwards: volume, marginal pair,
 *      price rule, and the cut-off level and remainder of each side;
 *   3. allocate, in add order: orders better than the cut-off fill, orders
 *      at it are rationed (time priority falls out of the add order;
 *      pro-rata shares, then the leftover units by largest remainder);
 *   4. pair: filled bids and filled offers, each in add order, are merged
 *      into trades. Pay-as-bid alone prices each pair by its bid, so there
 *      the pairing must follow price priority and the filled orders are
 *      radix-sorted by price first.
 *
 * Self-trade prevention adds a few passes that find whoever bids at or
 * above its own lowest offer (a bitmap of bidders first, so that only
 * participants on both sides reach an exact hash table); only those
 * participants' orders are then sorted and netted.
 */
#include "gridlet/market_auction.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

/* The histogram is used up to this many price levels (or the capacity, if
 * smaller, but never fewer than HIST_MIN). */
#define HIST_MIN 4096
#define HIST_MAX (1u << 22)

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
  /* The orders, by add sequence. */
  uint64_t *id;
  uint32_t *part;
  int32_t *price;
  uint32_t *qty;
  uint8_t *side;
  /* Per clearing. */
  uint32_t *eff;    /* quantity after self-trade netting (when netted) */
  uint32_t *filled; /* result */
  uint32_t *netted; /* result (when netted_valid) */
  uint64_t *keys;   /* radix keys: bids [0, nbuy), offers [nbuy, n) */
  uint64_t *tmp;    /* radix scratch */
  uint32_t *lbuy;   /* bids that may have filled, in add order */
  uint32_t *lsell;  /* offers likewise */
  int64_t *hist;    /* level totals: bids [0, L), offers [L, 2L) */
  size_t hist_cap;  /* most levels L the histogram can hold */
  mkt__pair *pairs; /* netting and rationing scratch */
  stp_slot *stp;
  size_t stp_cap;    /* power of two >= 2 * cap */
  uint64_t *bloom;   /* bidder bitmap for self-trade detection */
  size_t bloom_bits; /* power of two >= 8 * cap */
  mkt_trade *trades;
  size_t ntrades;
};

/* Clamp into the band of the last clearing; without a band the bounds are
 * the price limits, so this is the identity and needs no branch. */
static inline int32_t clampv(const mkt_auction *a, int32_t p) {
  p = p < a->clo ? a->clo : p;
  return p > a->chi ? a->chi : p;
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
  a->price = malloc(c * sizeof *a->price);
  a->qty = malloc(c * sizeof *a->qty);
  a->side = malloc(c * sizeof *a->side);
  a->eff = malloc((c + 2) * sizeof *a->eff); /* + 2: pair()'s sentinels */
  a->filled = malloc(c * sizeof *a->filled);
  a->netted = malloc(c * sizeof *a->netted);
  a->keys = malloc((c + 2) * sizeof *a->keys); /* + 2: pair()'s lists */
  a->tmp = malloc((c + 2) * sizeof *a->tmp);
  a->lbuy = malloc(c * sizeof *a->lbuy);
  a->lsell = malloc(c * sizeof *a->lsell);
  a->hist = malloc(2 * a->hist_cap * sizeof *a->hist);
  a->pairs = malloc(c * sizeof *a->pairs);
  a->stp = malloc(a->stp_cap * sizeof *a->stp);
  a->bloom = malloc(a->bloom_bits / 8);
  a->trades = malloc(c * sizeof *a->trades);
  if (!a->id || !a->part || !a->price || !a->qty || !a->side || !a->eff ||
      !a->filled || !a->netted || !a->keys || !a->tmp || !a->lbuy ||
      !a->lsell || !a->hist || !a->pairs || !a->stp || !a->bloom ||
      !a->trades) {
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
  free(a->price);
  free(a->qty);
  free(a->side);
  free(a->eff);
  free(a->filled);
  free(a->netted);
  free(a->keys);
  free(a->tmp);
  free(a->lbuy);
  free(a->lsell);
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
  int s = o->side == MKT_SELL;
  int32_t p = (int32_t)o->price; /* |price| <= 10^9 fits */
  a->id[i] = o->id;
  a->part[i] = o->participant;
  a->price[i] = p;
  a->qty[i] = (uint32_t)o->qty;
  a->side[i] = (uint8_t)s;
  a->nbuy += !s;
  if (p < a->min_price[s])
    a->min_price[s] = p;
  if (p > a->max_price[s])
    a->max_price[s] = p;
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
  out->side = a->side[index] ? MKT_SELL : MKT_BUY;
  out->interval = a->interval;
  out->qty = a->qty[index];
  out->price = a->price[index];
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
  out->filled = a->filled[index];
  out->netted = a->netted_valid ? a->netted[index] : 0;
  out->price = clampv(a, a->price[index]);
  return 0;
}

/* ---- Price levels -------------------------------------------------------- */

/*
 * The price levels of one side, best first, from either source: a
 * histogram hist[0..nlev) of quantities indexed by price - lo, or sorted
 * keys (offset << 32 | qty) with price = kbase + ksign * offset.
 */
typedef struct side_levels {
  bool use_hist;
  bool desc; /* histogram: best is the highest index (bids) */
  const int64_t *hist;
  size_t nlev;
  int64_t lo;
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
      if (s->hist[j] > 0) {
        it->price = s->lo + (int64_t)j;
        it->qty = s->hist[j];
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
 * Decrement each participant's crossing bids and offers against each other
 * (see the header). Fills a->eff and a->netted and returns the Wh removed
 * from each side (0: nobody crosses itself, eff untouched). A participant
 * crosses itself exactly when its highest bid is at or above its lowest
 * offer. Most books have few participants on both sides, so a bitmap of
 * bidders (a Bloom filter with one hash: false positives only) picks the
 * offers whose participant might also bid; only those participants enter
 * an exact table, small enough to stay in cache, which then finds the
 * conflicts. Their orders are gathered, sorted by (participant, price
 * priority, add order) and netted pairwise. Hashing only finds the
 * conflicts: participants are numbered in the add order of their first
 * order and processed independently, so no result depends on the tables'
 * layout.
 */
static int64_t stp_net(mkt_auction *a, int64_t bmax, int64_t amin) {
  size_t n = a->n;
  memset(a->netted, 0, n * sizeof *a->netted);
  a->netted_valid = true;

  /* 1. Who bids. */
  size_t bits = 64;
  unsigned shift = 58;
  while (bits < 8 * a->nbuy) {
    bits *= 2;
    shift--;
  }
  assert(bits <= a->bloom_bits);
  uint64_t *bloom = a->bloom;
  memset(bloom, 0, bits / 8);
  for (size_t i = 0; i < n; i++) {
    uint64_t h = part_hash(a->part[i]) >> shift;
    bloom[h >> 6] |= (uint64_t)(a->side[i] == 0) << (h & 63);
  }
#define MAY_BID(i)                                                             \
  ((bloom[(part_hash(a->part[i]) >> shift) >> 6] >>                            \
    ((part_hash(a->part[i]) >> shift) & 63)) &                                 \
   1)

  /* 2. Offers of possible bidders: their lowest offer each. */
  size_t cand = 0;
  for (size_t i = 0; i < n; i++)
    cand += a->side[i] == 1 && MAY_BID(i);
  if (cand == 0)
    return 0;
  size_t size = 4;
  while (size < 2 * cand)
    size *= 2;
  assert(size <= a->stp_cap);
  size_t mask = size - 1;
  memset(a->stp, 0, size * sizeof *a->stp);
  for (size_t i = 0; i < n; i++)
    if (a->side[i] == 1 && MAY_BID(i)) {
      stp_slot *s = stp_find(a->stp, mask, a->part[i], true);
      int32_t p = clampv(a, a->price[i]);
      if (p < s->min_ask)
        s->min_ask = p;
    }

  /* 3. Their highest bid each; a conflict is a bid at or above it. */
  bool any = false;
  for (size_t i = 0; i < n; i++)
    if (a->side[i] == 0 && MAY_BID(i)) {
      stp_slot *s = stp_find(a->stp, mask, a->part[i], false);
      if (!s)
        continue; /* bids, but offers nothing */
      int32_t p = clampv(a, a->price[i]);
      if (p > s->max_bid)
        s->max_bid = p;
      any |= s->max_bid >= s->min_ask;
    }
  if (!any)
    return 0;

  /* Gather: bids from the front of the scratch, offers from the back. */
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
    int64_t p = clampv(a, a->price[i]);
    if (a->side[i] == 0)
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
      if (clampv(a, a->price[bi]) < clampv(a, a->price[ai]))
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
  assert(total > 0);
  return total;
}

/* ---- Allocation and trades ----------------------------------------------- */

/* Give the leftover units of a pro-rata level to the largest remainders
 * (pairs hold {UINT64_MAX - remainder, order}, so ascending order is
 * largest remainder first, then earliest order). */
static void give_leftover(mkt_auction *a, mkt__pair *v, size_t m,
                          int64_t left) {
  assert(left >= 0 && (size_t)left <= m);
  if (left == 0)
    return;
  mkt__pair_sort(v, m);
  for (int64_t j = 0; j < left; j++)
    a->filled[v[j].b]++;
}

/* Rationing state of the cut-off levels during allocate(). */
typedef struct ration_state {
  cutoff cut[2];
  int64_t left[2];  /* time priority: Wh still to give at the cut-off */
  int64_t given[2]; /* pro-rata: floor shares given so far */
  size_t m[2];      /* pro-rata: orders waiting for a leftover unit */
  mkt__pair *v[2];  /* ... their remainders: bids up from pairs[0], offers
                       down from pairs[cap] */
  bool time;
} ration_state;

/* The fill of order i (qty qi > 0) at the cut-off level of side s. Kept out
 * of line: few orders get here, and the main loop needs its registers. */
static __attribute__((noinline)) uint32_t ration_one(ration_state *st, size_t i,
                                                     size_t s, uint32_t qi) {
  const cutoff *c = &st->cut[s];
  if (c->r == c->q)
    return qi; /* the cut-off level fills exactly */
  if (st->time) {
    uint32_t f = (uint32_t)mkt__min64(qi, st->left[s]);
    st->left[s] -= f;
    return f;
  }
  uint64_t hi, lo, share, rem;
  mkt__mul128(qi, (uint64_t)c->r, &hi, &lo);
  int rc = mkt__div128(hi, lo, (uint64_t)c->q, &share, &rem);
  assert(rc == 0); /* share < qi since r < q */
  (void)rc;
  st->given[s] += (int64_t)share;
  mkt__pair e = {UINT64_MAX - rem, i};
  st->m[s]++;
  if (s == 0)
    st->v[0][st->m[0] - 1] = e;
  else
    st->v[1][-(ptrdiff_t)st->m[1]] = e;
  return (uint32_t)share;
}

/*
 * Allocate x > 0 Wh per side given the cut-offs: fills a->filled for every
 * order and lists, in add order, the orders that may have filled (bids in
 * a->lbuy[0..*nb), offers in a->lsell[0..*na)). The loop is branch-free
 * except at the cut-off level, which few orders share: at a million orders
 * a mispredicted branch per order would cost more than the memory traffic.
 */
static void allocate(mkt_auction *a, const uint32_t *q, const cutoff *cb,
                     const cutoff *ca, mkt_rationing how, size_t *nb,
                     size_t *na) {
  ration_state st = {.cut = {*cb, *ca},
                     .left = {cb->r, ca->r},
                     .v = {a->pairs, a->pairs + a->cap},
                     .time = how == MKT_RATION_TIME};
  const size_t n = a->n;
  const int64_t lim0 = cb->price, lim1 = ca->price;
  const int32_t *restrict price = a->price;
  const uint8_t *restrict side = a->side;
  uint32_t *restrict filled = a->filled;
  uint32_t *restrict lb = a->lbuy, *restrict la = a->lsell;
  const int32_t clo = a->clo, chi = a->chi;
  size_t kb = 0, ka = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t qi = q[i];
    int32_t p = price[i];
    p = p < clo ? clo : p;
    p = p > chi ? chi : p;
    size_t s = side[i];
    /* d > 0: better than the cut-off (bids above it, offers below). */
    int64_t d = s ? lim1 - p : p - lim0;
    /* A mask rather than "d > 0 ? qi : 0", which compilers turn into an
     * unpredictable branch. */
    uint32_t f = qi & ((uint32_t)0 - (uint32_t)(d > 0));
    if (__builtin_expect(d == 0, 0) && qi > 0)
      f = ration_one(&st, i, s, qi);
    filled[i] = f;
    /* Append to the side's list, without a branch, when it filled; at the
     * cut-off always: a leftover unit may still come its way. */
    size_t keep = (f != 0) | (d == 0);
    lb[kb] = (uint32_t)i;
    la[ka] = (uint32_t)i;
    kb += keep & (s ^ 1);
    ka += keep & s;
  }
  if (!st.time) {
    if (cb->r < cb->q)
      give_leftover(a, st.v[0], st.m[0], cb->r - st.given[0]);
    if (ca->r < ca->q)
      give_leftover(a, st.v[1] - st.m[1], st.m[1], ca->r - st.given[1]);
  }
  *nb = kb;
  *na = ka;
}

/*
 * Merge the listed bids with the listed offers, in list order, into
 * trades, given the fills in list order (fb, fa, each with a 0 sentinel).
 * `gathered`: the orders' ids and participants (and bid prices) have been
 * copied into list order too, in g_id and g_pp (bids at [0, nb], offers at
 * [nb + 1, nb + 1 + na]); otherwise they are read through the lists.
 * Pay-as-bid prices each trade at its bid and adds qty * price to *value.
 * Always inlined with constant flags, so each caller gets its own loop
 * without the tests. Returns the energy traded.
 */
static inline __attribute__((always_inline)) int64_t
merge(mkt_auction *a, const uint32_t *bids, size_t nb, const uint32_t *asks,
      size_t na, const uint32_t *fb, const uint32_t *fa, bool gathered,
      const uint64_t *g_id, const uint64_t *g_pp, bool pay_as_bid, int64_t buy,
      int64_t sell, mkt__acc *value) {
  const uint32_t *restrict part = a->part;
  const uint64_t *restrict id = a->id;
  mkt_trade *restrict t = a->trades;
  size_t x = 0, y = 0, nt = 0, ya = nb + 1;
  int64_t bleft = fb[0], aleft = fa[0], traded = 0;
  while (x < nb && y < na) {
    /* Orders at the cut-off that got nothing stay listed; skip them. */
    if (__builtin_expect(bleft == 0, 0)) {
      bleft = fb[++x];
      continue;
    }
    if (__builtin_expect(aleft == 0, 0)) {
      aleft = fa[++y];
      continue;
    }
    int64_t q = mkt__min64(bleft, aleft);
    mkt_trade *tr = &t[nt++];
    if (gathered) {
      tr->buy_id = g_id[x];
      tr->sell_id = g_id[ya + y];
      tr->buyer = (uint32_t)(g_pp[x] >> 32);
      tr->seller = (uint32_t)(g_pp[ya + y] >> 32);
    } else {
      uint32_t bi = bids[x], ai = asks[y];
      tr->buy_id = id[bi];
      tr->sell_id = id[ai];
      tr->buyer = part[bi];
      tr->seller = part[ai];
    }
    if (pay_as_bid) {
      buy = sell =
          gathered ? (int32_t)(uint32_t)g_pp[x] : clampv(a, a->price[bids[x]]);
      mkt__acc_add(value, q, buy);
    }
    tr->qty = q;
    tr->buy_price = buy;
    tr->sell_price = sell;
    traded += q;
    bleft -= q;
    aleft -= q;
    /* Load the next entries unconditionally (the 0 sentinels make that
     * safe) and keep them only if we advanced: two conditional moves
     * instead of an unpredictable branch per trade. */
    size_t bx = bleft == 0, ay = aleft == 0;
    x += bx;
    y += ay;
    int64_t nb_left = fb[x], na_left = fa[y];
    bleft += nb_left & -(int64_t)bx; /* bleft is 0 whenever bx is 1 */
    aleft += na_left & -(int64_t)ay;
  }
  a->ntrades = nt;
  return traded;
}

/*
 * Pair the listed orders into trades. The fills (and for pay-as-bid the
 * ids, participants and prices) are first copied into list order: in those
 * copy loops the loads are independent and overlap, whereas in the merge
 * they would each wait for a cache miss (the pay-as-bid lists are in price
 * order, far from add order). eff[], keys[] and tmp[] are free after
 * allocation and have room for both lists and their sentinels.
 */
static int64_t pair(mkt_auction *a, uint32_t *bids, size_t nb, uint32_t *asks,
                    size_t na, bool pay_as_bid, int64_t buy, int64_t sell,
                    mkt__acc *value) {
  uint32_t *fb = a->eff, *fa = a->eff + nb + 1;
  for (size_t j = 0; j < nb; j++)
    fb[j] = a->filled[bids[j]];
  for (size_t j = 0; j < na; j++)
    fa[j] = a->filled[asks[j]];
  fb[nb] = fa[na] = 0;
  if (!pay_as_bid)
    return merge(a, bids, nb, asks, na, fb, fa, false, NULL, NULL, false, buy,
                 sell, value);
  uint64_t *g_id = a->keys, *g_pp = a->tmp;
  for (size_t j = 0; j < nb; j++) {
    uint32_t i = bids[j];
    g_id[j] = a->id[i];
    g_pp[j] = (uint64_t)a->part[i] << 32 | (uint32_t)clampv(a, a->price[i]);
  }
  for (size_t j = 0; j < na; j++) {
    uint32_t i = asks[j];
    g_id[nb + 1 + j] = a->id[i];
    g_pp[nb + 1 + j] = (uint64_t)a->part[i] << 32;
  }
  return merge(a, bids, nb, asks, na, fb, fa, true, g_id, g_pp, true, buy, sell,
               value);
}

/* Pay-as-bid pairs in price priority: sort a list by price, stably (so add
 * order within a price), through keys (price offset << 32 | index). */
static void sort_by_price(mkt_auction *a, uint32_t *list, size_t n,
                          int64_t base, int64_t sign, int64_t range) {
  uint64_t *k = a->keys;
  for (size_t j = 0; j < n; j++)
    k[j] = (uint64_t)(sign * (clampv(a, a->price[list[j]]) - base)) << 32 |
           list[j];
  mkt__radix_sort(k, a->tmp, n, 32, 0, mkt__bit_width((uint64_t)range));
  for (size_t j = 0; j < n; j++)
    list[j] = (uint32_t)k[j];
}

/* ---- Clearing ------------------------------------------------------------ */

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

  const uint32_t *q = a->qty;
  if (!cfg->allow_self_trade && nb > 0 && na > 0) {
    out->netted = stp_net(a, bmax, amin);
    if (out->netted > 0)
      q = a->eff;
  }

  /* 1. Aggregate the levels. */
  int64_t lo = bmin < amin ? bmin : amin, hi = bmax > amax ? bmax : amax;
  uint64_t nlev = (uint64_t)(hi - lo) + 1;
  side_levels sb = {0}, sa = {0};
  if (nlev <= a->hist_cap && nlev <= (n > HIST_MIN / 4 ? 4 * n : HIST_MIN)) {
    /* Locals, not fields through pointers: the compiler must otherwise
     * assume the histogram stores alias them, reloading every iteration. */
    int64_t *restrict h = a->hist;
    const int32_t *restrict price = a->price;
    const uint8_t *restrict side = a->side;
    const int32_t clo = a->clo, chi = a->chi;
    int64_t all = 0, offered = 0;
    memset(h, 0, 2 * nlev * sizeof *h);
    for (size_t i = 0; i < n; i++) {
      int32_t p = price[i];
      p = p < clo ? clo : p;
      p = p > chi ? chi : p;
      size_t s = side[i];
      uint32_t qi = q[i];
      h[s * nlev + (size_t)(p - lo)] += qi;
      all += qi;
      offered += s ? qi : 0; /* no indexed accumulator: it would chain */
    }
    out->demand = all - offered;
    out->supply = offered;
    sb = (side_levels){
        .use_hist = true, .desc = true, .hist = h, .nlev = nlev, .lo = lo};
    sa = (side_levels){
        .use_hist = true, .hist = h + nlev, .nlev = nlev, .lo = lo};
  } else {
    uint64_t *kb = a->keys, *ka = a->keys + nb;
    size_t xb = 0, xa = 0;
    for (size_t i = 0; i < n; i++) {
      if (q[i] == 0)
        continue;
      int64_t p = clampv(a, a->price[i]);
      if (a->side[i] == 0) {
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
    sb = (side_levels){.keys = kb, .nkeys = xb, .kbase = bmax, .ksign = -1};
    sa = (side_levels){.keys = ka, .nkeys = xa, .kbase = amin, .ksign = 1};
  }

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

    /* 3. Allocate x Wh on each side; 4. pair them into trades. */
    if (x > 0) {
      cutoff cb = find_cutoff(&sb, x), ca = find_cutoff(&sa, x);
      size_t nlb, nla;
      allocate(a, q, &cb, &ca, cfg->rationing, &nlb, &nla);
      mkt__acc value = {0, 0};
      bool pab = cfg->rule == MKT_RULE_PAY_AS_BID;
      if (pab) {
        sort_by_price(a, a->lbuy, nlb, bmax, -1, bmax - bmin);
        sort_by_price(a, a->lsell, nla, amin, 1, amax - amin);
      }
      int64_t traded =
          pair(a, a->lbuy, nlb, a->lsell, nla, pab, buy, sell, &value);
      assert(traded == x); /* both sides were allocated exactly x */
      (void)traded;
      if (pab) {
        int rc = mkt__acc_div_round(&value, x, &buy);
        if (rc)
          return rc;
        sell = buy;
      }
    } else {
      memset(a->filled, 0, n * sizeof *a->filled);
      buy = sell = 0; /* McAfee reduced a single unit to nothing */
    }
    out->volume = x;
    out->buy_price = buy;
    out->sell_price = sell;
    out->price = mkt_div_round(buy + sell, 2);
  } else {
    memset(a->filled, 0, n * sizeof *a->filled);
  }
  out->trades = a->ntrades;
  a->cleared = true;
  return 0;
}
