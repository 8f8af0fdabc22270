/* SPDX-License-Identifier: MIT */
/*
 * market_cda_int.h - the continuous double auction's book layout and its
 * add path, shared by market_cda.c (the public functions) and
 * market_stream.c (the replay, which inlines the add into its loop so that
 * a record costs the book's work and little else). Not installed.
 *
 * Layout, chosen so that one event touches few cache lines, runs few
 * instructions and takes few unpredictable branches:
 * - each side's price levels are indexed by *rank*, the distance from that
 *   side's best possible price (bids count down from price_max, offers up
 *   from price_min), so "better" is "lower rank" on both sides and one
 *   branch-free code path serves buys and sells: an incoming order of rank
 *   k on its own side crosses the other side's levels of rank <= L - 1 - k
 *   (L levels), and the next best level is always the next set bit upwards;
 * - orders live in a preallocated pool of 32-byte records, aligned so that
 *   none straddles two cache lines, linked into a FIFO per level by 32-bit
 *   indices (no pointers, no allocation). A slot freed by a fill or cancel
 *   is reused first (it is still in cache), fresh slots only after that;
 * - each side has a flat array of levels {head, tail} and a three-level
 *   bitmap of the non-empty ones; the best rank of each side is cached and,
 *   when the best level empties, the next is found inline in the same or
 *   the next non-empty bitmap word, out of line only beyond 4096 ranks;
 * - a FIFO's `prev` links are kept only where they are needed, for cancels
 *   from the middle: the head's `prev` and an empty level's `tail` are never
 *   read (the tail stays a valid slot index, though), so a fill at the head
 *   writes neither the next order nor the tail;
 * - order ids map to pool slots through an open-addressing table with
 *   linear probing and lazy deletion: an order leaving the book only marks
 *   its pool slot dead (qty 0), so a fill touches no table line at all;
 *   lookups check that the slot is live and holds the id. Entries carry the
 *   table's epoch in their tag, so a close (and a rebuild) empties the whole
 *   table by incrementing the epoch instead of rewriting it; when used
 *   entries (live or stale) of the epoch reach 3/4 of the table it is
 *   rebuilt from the live orders, which keeps probes short at amortised
 *   O(1) cost. The duplicate-id probe of an add also yields the entry where
 *   the order goes if it rests. Nothing ever iterates the table to produce
 *   results, so its layout never leaks into the order of results;
 * - where the outcome of a test is a coin flip in a real market (the side
 *   of an order, whether a fill finishes the resting order, whether a level
 *   was empty), the code selects with masks and conditional moves instead
 *   of branching: a mispredicted branch costs as much as the rest of an
 *   event's arithmetic.
 */
#ifndef GRIDLET_MARKET_CDA_INT_H
#define GRIDLET_MARKET_CDA_INT_H

#include "gridlet/error.h"
#include "gridlet/market_cda.h"

#include "market_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Layout -------------------------------------------------------------- */

/* Three levels of 64-bit words: bit i of w[0] says rank i is non-empty, bit
 * j of w[1] says word j of w[0] is non-zero, and so on. w[0] and w[1] have
 * one zero word beyond their last, so the inline search may look one past. */
typedef struct mkt__cda_bitmap {
  uint64_t *w[3];
  size_t n[3]; /* words per level, without the extra word */
} mkt__cda_bitmap;

typedef struct mkt__cda_order {
  uint64_t id;
  uint32_t qty; /* remaining Wh (<= MKT_QTY_MAX < 2^32); 0: slot is free */
  uint32_t participant;
  uint32_t next; /* FIFO successor; free-list link */
  uint32_t prev; /* FIFO predecessor; meaningless at the head */
  uint32_t rank; /* price rank on its side */
  uint32_t side; /* 0 buy, 1 sell */
} mkt__cda_order;

typedef struct mkt__cda_level {
  uint32_t head; /* MKT__NIL: empty */
  uint32_t tail; /* meaningless when empty, but always a slot index */
} mkt__cda_level;

/* An id-map entry: 8 bytes, so the table stays small. The tag holds the top
 * 24 bits of the id's hash and, in its low byte, the epoch the entry was
 * written in; an entry of another epoch is empty. The id itself is checked
 * in the pool only when the tags agree. */
typedef struct mkt__cda_slot {
  uint32_t tag;
  uint32_t slot;
} mkt__cda_slot;

#define MKT__CDA_EPOCH_MASK UINT32_C(0xff)

struct mkt_cda {
  /* The hot part, read on every add. */
  mkt__cda_order *pool;
  mkt__cda_level *lv[2]; /* per side, by rank */
  uint32_t best[2]; /* best rank per side; `levels` when the side is empty */
  uint32_t levels;
  uint32_t cap;
  uint32_t resting;
  uint32_t free_head; /* free list through `next` */
  uint32_t top;       /* slots below top have been used this interval */
  uint32_t epoch;     /* of the id map, 1 .. 255 */
  bool closed;
  int64_t interval;    /* the open interval */
  int64_t price_min;   /* ... as configured */
  uint64_t span;       /* price_max - price_min */
  uint64_t tick_magic; /* ceil(2^64 / tick) for tick >= 2, see the add */
  int64_t pbase[2];    /* price of rank r on side s: pbase[s] + r * pstep[s] */
  int64_t pstep[2];
  mkt__cda_slot *map;
  size_t map_mask;
  size_t map_used;  /* entries of this epoch: live or stale */
  size_t map_limit; /* rebuild when map_used reaches this (3/4) */
  mkt__cda_bitmap bm[2];
  mkt_cda_config cfg; /* cfg.interval is not kept up: see interval */
  void *pool_mem;     /* what pool was carved from */
};

/* ---- Bitmap -------------------------------------------------------------- */

static inline void mkt__cda_bitmap_set(mkt__cda_bitmap *b, size_t i) {
  b->w[0][i >> 6] |= UINT64_C(1) << (i & 63);
  b->w[1][i >> 12] |= UINT64_C(1) << ((i >> 6) & 63);
  b->w[2][i >> 18] |= UINT64_C(1) << ((i >> 12) & 63);
}

/* Branch-free: whether a word empties is unpredictable in a thin book. */
static inline void mkt__cda_bitmap_clear(mkt__cda_bitmap *b, size_t i) {
  uint64_t w0 = b->w[0][i >> 6] &= ~(UINT64_C(1) << (i & 63));
  uint64_t w1 = b->w[1][i >> 12] &= ~((uint64_t)(w0 == 0) << ((i >> 6) & 63));
  b->w[2][i >> 18] &= ~((uint64_t)(w1 == 0) << ((i >> 12) & 63));
}

/* The lowest set rank >= i (i <= the number of ranks), or `none`: a full
 * search through all three levels. */
uint32_t mkt__cda_bitmap_next_far(const mkt__cda_bitmap *b, uint32_t i,
                                  uint32_t none);

/* The same, answering inline from i's word or from the next non-zero word
 * that i's level-1 word knows of, which covers 4096 ranks. */
static inline uint32_t mkt__cda_bitmap_next(const mkt__cda_bitmap *b,
                                            uint32_t i, uint32_t none) {
  uint64_t w = b->w[0][i >> 6] & (~UINT64_C(0) << (i & 63));
  if (w)
    return (i & ~UINT32_C(63)) | (uint32_t)__builtin_ctzll(w);
  uint32_t j = (i >> 6) + 1; /* the next level-0 word */
  uint64_t v = b->w[1][j >> 6] & (~UINT64_C(0) << (j & 63));
  if (v) {
    uint32_t k = (j & ~UINT32_C(63)) | (uint32_t)__builtin_ctzll(v);
    return (k << 6) | (uint32_t)__builtin_ctzll(b->w[0][k]);
  }
  return mkt__cda_bitmap_next_far(b, i, none);
}

/* ---- Id map -------------------------------------------------------------- */

static inline uint32_t mkt__cda_hash(uint64_t id) {
  return (uint32_t)id ^ (uint32_t)(id >> 32);
}

static inline uint32_t mkt__cda_tag(const mkt_cda *b, uint32_t hash) {
  return (hash & ~MKT__CDA_EPOCH_MASK) | b->epoch;
}

/* The slot of the live order `id`, or MKT__NIL; then *pos is the first
 * empty entry of id's probe run, where id would be entered. Entries whose
 * slot is free or now holds another order are stale and skipped. */
static inline uint32_t mkt__cda_find(const mkt_cda *b, uint64_t id,
                                     size_t *pos) {
  uint32_t h = mkt__cda_hash(id), tag = mkt__cda_tag(b, h);
  for (size_t i = (size_t)h & b->map_mask;; i = (i + 1) & b->map_mask) {
    mkt__cda_slot m = b->map[i];
    if (m.tag == tag) {
      const mkt__cda_order *o = &b->pool[m.slot];
      if (o->qty != 0 && o->id == id)
        return m.slot;
    } else if ((m.tag & MKT__CDA_EPOCH_MASK) != b->epoch) {
      *pos = i;
      return MKT__NIL;
    }
  }
}

/* Enter the live orders afresh, in a new epoch (market_cda.c). */
void mkt__cda_rebuild(mkt_cda *b);

/* ---- Add ----------------------------------------------------------------- */

static inline int64_t mkt__cda_price(const mkt_cda *b, uint32_t side,
                                     uint32_t rank) {
  return b->pbase[side] + (int64_t)rank * b->pstep[side];
}

/* What an add has done so far. */
typedef struct mkt__cda_sum {
  int64_t filled, netted;
  size_t trades;
} mkt__cda_sum;

/*
 * Match an incoming order (id, part) against side t, the other side, while
 * its best rank is at most `lim`, which the caller has checked once
 * already. Returns the quantity left of `rem`. Fills go to the sink's
 * callbacks, or, when `folding` (a constant in each caller: this is always
 * inlined), straight into the replay's checksum *fold, without an indirect
 * call per fill. The book's counters live in locals meanwhile, which the
 * sink may not observe: callbacks must not call back into the book.
 */
static inline __attribute__((always_inline)) int64_t
mkt__cda_match(mkt_cda *b, uint64_t id, uint32_t part, mkt_side side,
               uint32_t t, uint32_t lim, int64_t rem, mkt__cda_sum *sum,
               const bool folding, mkt__fold *fold) {
  const mkt_cda_sink *sink = &b->cfg.sink;
  mkt__cda_order *const pool = b->pool;
  mkt__cda_level *const lv = b->lv[t];
  const int64_t pbase = b->pbase[t], pstep = b->pstep[t];
  const bool prevent = !b->cfg.allow_self_trade;
  /* All ones when the incoming order sells (into the bids, t == 0). */
  const uint64_t m64 = (uint64_t)t - 1;
  const uint32_t m32 = (uint32_t)m64;
  uint32_t best = b->best[t], free_head = b->free_head, resting = b->resting;
  uint64_t hash = 0, ntr = 0, nqty = 0, cost = 0;
  if (folding) {
    hash = fold->hash;
    ntr = fold->trades;
    nqty = fold->qty;
    cost = fold->cost;
  }
  mkt_trade tr;
  for (;;) {
    mkt__cda_level *l = &lv[best];
    uint32_t s = l->head;
    mkt__cda_order *ro = &pool[s];
    uint32_t rq = ro->qty;
    int64_t q = rem < rq ? rem : rq;
    if (__builtin_expect(ro->participant == part && prevent, 0)) {
      sum->netted += q;
      if (!folding && sink->self_trade) {
        mkt_self_trade st = {part, id, ro->id, q};
        sink->self_trade(sink->ctx, &st);
      }
    } else {
      int64_t price = pbase + (int64_t)best * pstep;
      sum->filled += q;
      sum->trades++;
      if (folding) {
        hash = (hash ^ id) * MKT__FNV_PRIME;
        hash = (hash ^ ro->id) * MKT__FNV_PRIME;
        hash = (hash ^ (uint64_t)q) * MKT__FNV_PRIME;
        hash = (hash ^ (uint64_t)price) * MKT__FNV_PRIME;
        ntr++;
        nqty += (uint64_t)q;
        cost += (uint64_t)q * (uint64_t)price;
      } else if (sink->trade) {
        /* Masks rather than branches: the side is a coin flip. */
        uint64_t dx = (id ^ ro->id) & m64;
        uint32_t dp = (part ^ ro->participant) & m32;
        tr.buy_id = id ^ dx;
        tr.sell_id = ro->id ^ dx;
        tr.buyer = part ^ dp;
        tr.seller = ro->participant ^ dp;
        tr.qty = q;
        tr.buy_price = tr.sell_price = price;
        sink->trade(sink->ctx, &tr, side);
      }
    }
    rem -= q;
    rq -= (uint32_t)q;
    ro->qty = rq;
    /* If the resting order is done, pop it off the head and free its slot,
     * with masks: whether it is done is a coin flip too. */
    uint32_t nx = ro->next;
    uint32_t done = rq == 0, dm = (uint32_t)0 - done;
    l->head = s ^ ((s ^ nx) & dm);
    ro->next = nx ^ ((nx ^ free_head) & dm);
    free_head = free_head ^ ((free_head ^ s) & dm);
    resting -= done;
    if ((done & (nx == MKT__NIL)) != 0) {
      mkt__cda_bitmap_clear(&b->bm[t], best);
      best = mkt__cda_bitmap_next(&b->bm[t], best + 1, b->levels);
    }
    if (rem == 0 || best > lim)
      break;
  }
  b->best[t] = best;
  b->free_head = free_head;
  b->resting = resting;
  if (folding)
    *fold = (mkt__fold){ntr, nqty, cost, hash};
  return rem;
}

/*
 * mkt_cda_add on the order's fields (see market_cda.h for the checks and
 * codes), filling *res if res; with `folding` the fills are folded into
 * *fold and not reported (see mkt__cda_match).
 */
static inline __attribute__((always_inline)) int
mkt__cda_add(mkt_cda *b, uint64_t id, uint32_t part, mkt_side side,
             int64_t interval, int64_t qty, int64_t price, mkt_cda_result *res,
             const bool folding, mkt__fold *fold) {
  if (b->closed)
    return GL_ECLOSED;
  if (side != MKT_BUY && side != MKT_SELL)
    return GL_EINVAL;
  if (!mkt__order_range_ok(qty, price))
    return GL_ERANGE;
  if (interval != b->interval)
    return GL_EINVAL;
  /* Offset from price_min; a price below it wraps to a huge offset. */
  uint64_t off = (uint64_t)(price - b->price_min);
  if (__builtin_expect(off > b->span, 0)) {
    if (!b->cfg.clamp)
      return GL_ERANGE;
    off = price < b->price_min ? 0 : b->span;
  }
  /*
   * The level is off / tick, and off must be a multiple of the tick.
   * Division by the tick is a multiplication by a precomputed reciprocal
   * (Lemire, Kaser and Kurz, "Faster remainder by direct computation",
   * 2019): for offsets below 2^32 and magic = ceil(2^64 / tick), the high
   * half of magic * off is off / tick, and the low half is below magic
   * exactly when the tick divides off.
   */
  uint32_t x = (uint32_t)off; /* < 2^31 */
  if (b->tick_magic) {
    uint64_t hi, lo;
    mkt__mul128(b->tick_magic, off, &hi, &lo);
    if (lo >= b->tick_magic)
      return GL_EINVAL;
    x = (uint32_t)hi;
  }
  /* Refuse before touching the book: we cannot know yet whether the order
   * will need a slot to rest in. */
  if (b->resting == b->cap)
    return GL_EFULL;
  size_t pos = 0;
  if (mkt__cda_find(b, id, &pos) != MKT__NIL)
    return GL_EEXIST;

  /* The rank on its side (x for an offer, L - 1 - x for a bid, with a
   * mask, not a branch), and the limit rank on the other side. */
  uint32_t s = side == MKT_SELL, t = s ^ 1, flip = s - 1;
  uint32_t own = (x ^ flip) + (b->levels & flip);
  uint32_t lim = b->levels - 1 - own;
  mkt__cda_sum sum = {0, 0, 0};
  int64_t rem = qty;
  if (b->best[t] <= lim)
    rem = mkt__cda_match(b, id, part, side, t, lim, rem, &sum, folding, fold);
  if (rem > 0) {
    mkt__cda_order *const pool = b->pool;
    /* A freed slot if there is one, else the next fresh one (below cap:
     * every used slot is live or free); selected, not branched on. */
    uint32_t fh = b->free_head, top = b->top;
    uint32_t none = fh == MKT__NIL, nm = (uint32_t)0 - none;
    uint32_t si = fh ^ ((fh ^ top) & nm);
    b->free_head = pool[si & ~nm].next | nm; /* slot 0 when none: unused */
    b->top = top + none;
    if (__builtin_expect(b->map_used >= b->map_limit, 0)) {
      mkt__cda_rebuild(b); /* slot si is not live yet (qty 0): left out */
      (void)mkt__cda_find(b, id, &pos);
    }
    b->map[pos] = (mkt__cda_slot){mkt__cda_tag(b, mkt__cda_hash(id)), si};
    b->map_used++;
    mkt__cda_order *n = &pool[si];
    n->id = id;
    n->qty = (uint32_t)rem;
    n->participant = part;
    n->next = MKT__NIL;
    n->rank = own;
    n->side = s;
    /* Append to the level's FIFO without a branch on whether it was empty
     * (often enough to mispredict): the head takes si if it was, the tail
     * order's next if not (else it keeps its value: the tail is a valid
     * slot index even when stale); the bitmap bit and best rank are set
     * regardless, which is harmless when the level was not empty. */
    mkt__cda_level *l = &b->lv[s][own];
    uint32_t head = l->head, tail = l->tail;
    uint32_t em = (uint32_t)0 - (head == MKT__NIL);
    uint32_t tnext = pool[tail].next;
    l->head = head ^ ((head ^ si) & em);
    pool[tail].next = si ^ ((si ^ tnext) & em);
    n->prev = tail; /* meaningless if si is the head */
    l->tail = si;
    mkt__cda_bitmap_set(&b->bm[s], own);
    b->best[s] = own < b->best[s] ? own : b->best[s];
    b->resting++;
  }
  if (res)
    *res = (mkt_cda_result){sum.filled, sum.netted, rem, sum.trades};
  return 0;
}

#endif /* GRIDLET_MARKET_CDA_INT_H */
