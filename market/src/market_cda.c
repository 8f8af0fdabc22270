/* SPDX-License-Identifier: MIT */
/*
 * market_cda.c - the continuous double auction. See gridlet/market_cda.h.
 *
 * Layout, chosen so that one event touches few cache lines and takes few
 * unpredictable branches:
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
 *   when the best level empties, the next is found in the same bitmap word
 *   nearly always, else by a few word scans;
 * - a FIFO's `prev` links are kept only where they are needed, for cancels
 *   from the middle: the head's `prev` and an empty level's `tail` are never
 *   read, so a fill at the head writes neither the next order nor the tail;
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
 *   results, so its layout never leaks into the order of results.
 */
#include "gridlet/market_cda.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- Bitmap over ranks --------------------------------------------------- */

/* Three levels of 64-bit words: bit i of w[0] says rank i is non-empty, bit
 * j of w[1] says word j of w[0] is non-zero, and so on. w[0] has one zero
 * word beyond the last rank, so the inline search may look one past it. */
typedef struct bitmap {
  uint64_t *w[3];
  size_t n[3]; /* words per level (w[0]: without the extra word) */
} bitmap;

static int bitmap_init(bitmap *b, size_t bits) {
  size_t words = bits;
  for (int l = 0; l < 3; l++) {
    words = (words + 63) / 64;
    b->n[l] = words;
    b->w[l] = calloc(words + (l == 0), sizeof(uint64_t));
    if (!b->w[l])
      return GL_ENOMEM;
  }
  return 0;
}

static void bitmap_free(bitmap *b) {
  for (int l = 0; l < 3; l++)
    free(b->w[l]);
}

static inline void bitmap_set(bitmap *b, size_t i) {
  b->w[0][i >> 6] |= UINT64_C(1) << (i & 63);
  b->w[1][i >> 12] |= UINT64_C(1) << ((i >> 6) & 63);
  b->w[2][i >> 18] |= UINT64_C(1) << ((i >> 12) & 63);
}

/* Branch-free: whether a word empties is unpredictable in a thin book. */
static inline void bitmap_clear(bitmap *b, size_t i) {
  uint64_t w0 = b->w[0][i >> 6] &= ~(UINT64_C(1) << (i & 63));
  uint64_t w1 = b->w[1][i >> 12] &= ~((uint64_t)(w0 == 0) << ((i >> 6) & 63));
  b->w[2][i >> 18] &= ~((uint64_t)(w1 == 0) << ((i >> 12) & 63));
}

/* Lowest set bit >= i in level l, or SIZE_MAX. */
static size_t bitmap_next_at(const bitmap *b, int l, size_t i) {
  size_t word = i >> 6;
  if (word >= b->n[l])
    return SIZE_MAX;
  uint64_t w = b->w[l][word] & (~UINT64_C(0) << (i & 63));
  if (w)
    return (word << 6) | (size_t)__builtin_ctzll(w);
  if (l == 2) {
    for (word++; word < b->n[2]; word++)
      if (b->w[2][word])
        return (word << 6) | (size_t)__builtin_ctzll(b->w[2][word]);
    return SIZE_MAX;
  }
  /* No more in this word: ask the level above for the next non-zero word. */
  size_t next = bitmap_next_at(b, l + 1, word + 1);
  if (next == SIZE_MAX)
    return SIZE_MAX;
  return (next << 6) | (size_t)__builtin_ctzll(b->w[l][next]);
}

/* The lowest set rank >= i (i <= none), or `none` if there is none: the
 * rest of i's word inline, which nearly always answers, the levels above
 * out of line. */
static __attribute__((noinline)) uint32_t bitmap_next_far(const bitmap *b,
                                                          uint32_t i,
                                                          uint32_t none) {
  size_t r = bitmap_next_at(b, 0, i);
  return r == SIZE_MAX ? none : (uint32_t)r;
}

static inline uint32_t bitmap_next(const bitmap *b, uint32_t i, uint32_t none) {
  uint64_t w = b->w[0][i >> 6] & (~UINT64_C(0) << (i & 63));
  if (w)
    return (i & ~UINT32_C(63)) | (uint32_t)__builtin_ctzll(w);
  return bitmap_next_far(b, i, none);
}

/* ---- The book ----------------------------------------------------------- */

typedef struct cda_order {
  uint64_t id;
  uint32_t qty; /* remaining Wh (<= MKT_QTY_MAX < 2^32); 0: slot is free */
  uint32_t participant;
  uint32_t next; /* FIFO successor; free-list link */
  uint32_t prev; /* FIFO predecessor; meaningless at the head */
  uint32_t rank; /* price rank on its side */
  uint32_t side; /* 0 buy, 1 sell */
} cda_order;

typedef struct cda_level {
  uint32_t head; /* MKT__NIL: empty */
  uint32_t tail; /* meaningless when empty, but always a slot index */
} cda_level;

/* An id-map entry: 8 bytes, so the table stays small. The tag holds the top
 * 24 bits of the id's hash and, in its low byte, the epoch the entry was
 * written in; an entry of another epoch is empty. The id itself is checked
 * in the pool only when the tags agree. */
typedef struct map_slot {
  uint32_t tag;
  uint32_t slot;
} map_slot;

#define EPOCH_MASK UINT32_C(0xff)

struct mkt_cda {
  /* The hot part, read on every add. */
  cda_order *pool;
  cda_level *lv[2]; /* per side, by rank */
  uint32_t best[2]; /* best rank per side; `levels` when the side is empty */
  uint32_t levels;
  uint32_t cap;
  uint32_t resting;
  uint32_t free_head; /* free list through `next` */
  uint32_t top;       /* slots below top have been used this interval */
  uint32_t epoch;     /* of the id map, 1 .. 255 */
  bool closed;
  uint64_t span;       /* price_max - price_min */
  uint64_t tick_magic; /* ceil(2^64 / tick) for tick >= 2, see add() */
  int64_t pbase[2];    /* price of rank r on side s: pbase[s] + r * pstep[s] */
  int64_t pstep[2];
  map_slot *map;
  size_t map_mask;
  size_t map_used;  /* entries of this epoch: live or stale */
  size_t map_limit; /* rebuild when map_used reaches this (3/4) */
  bitmap bm[2];
  mkt_cda_config cfg;
  void *pool_mem; /* what pool was carved from */
};

/* ---- Id map ------------------------------------------------------------- */

static inline uint32_t map_hash(uint64_t id) {
  return (uint32_t)id ^ (uint32_t)(id >> 32);
}

static inline uint32_t map_tag(const mkt_cda *b, uint32_t hash) {
  return (hash & ~EPOCH_MASK) | b->epoch;
}

/* The slot of the live order `id`, or MKT__NIL; then *pos is the first
 * empty entry of id's probe run, where id would be entered. Entries whose
 * slot is free or now holds another order are stale and skipped. */
static inline uint32_t map_find(const mkt_cda *b, uint64_t id, size_t *pos) {
  uint32_t h = map_hash(id), tag = map_tag(b, h);
  for (size_t i = (size_t)h & b->map_mask;; i = (i + 1) & b->map_mask) {
    map_slot m = b->map[i];
    if (m.tag == tag) {
      const cda_order *o = &b->pool[m.slot];
      if (o->qty != 0 && o->id == id)
        return m.slot;
    } else if ((m.tag & EPOCH_MASK) != b->epoch) {
      *pos = i;
      return MKT__NIL;
    }
  }
}

/* Empty the table: a new epoch, or after 255 of them a real clearing. */
static void map_clear(mkt_cda *b) {
  if (b->epoch == EPOCH_MASK) {
    memset(b->map, 0, (b->map_mask + 1) * sizeof *b->map); /* epoch 0 */
    b->epoch = 1;
  } else {
    b->epoch++;
  }
  b->map_used = 0;
}

/* Enter the live orders afresh. The table holds at least twice the
 * capacity, so afterwards at most half of it is used and a quarter of it
 * must fill up before the next rebuild. */
static void map_rebuild(mkt_cda *b) {
  map_clear(b);
  for (uint32_t s = 0; s < b->top; s++)
    if (b->pool[s].qty != 0) {
      size_t pos = 0;
      uint32_t found = map_find(b, b->pool[s].id, &pos);
      assert(found == MKT__NIL); /* live ids are distinct */
      (void)found;
      b->map[pos] = (map_slot){map_tag(b, map_hash(b->pool[s].id)), s};
      b->map_used++;
    }
}

/* ---- Lifecycle ---------------------------------------------------------- */

int mkt_cda_new(const mkt_cda_config *cfg, mkt_cda **out) {
  *out = NULL;
  int64_t tick = cfg->tick ? cfg->tick : 1;
  if (cfg->capacity < 1 || cfg->capacity > (size_t)INT32_MAX ||
      cfg->price_min < -MKT_PRICE_MAX || cfg->price_max > MKT_PRICE_MAX ||
      cfg->price_min > cfg->price_max || tick < 1 || tick > 2 * MKT_PRICE_MAX ||
      (cfg->price_max - cfg->price_min) % tick != 0 ||
      (cfg->price_max - cfg->price_min) / tick + 1 > MKT_CDA_LEVELS_MAX)
    return GL_EINVAL;
  mkt_cda *b = calloc(1, sizeof *b);
  if (!b)
    return GL_ENOMEM;
  b->cfg = *cfg;
  b->cfg.tick = tick;
  b->cap = (uint32_t)cfg->capacity;
  b->levels = (uint32_t)((cfg->price_max - cfg->price_min) / tick + 1);
  b->span = (uint64_t)(cfg->price_max - cfg->price_min);
  b->tick_magic = tick > 1 ? UINT64_MAX / (uint64_t)tick + 1 : 0;
  b->pbase[0] = cfg->price_max;
  b->pstep[0] = -tick;
  b->pbase[1] = cfg->price_min;
  b->pstep[1] = tick;
  /* At least twice the capacity: see map_rebuild. */
  size_t mapsize = 4;
  while (mapsize < 2 * cfg->capacity)
    mapsize *= 2;
  b->map_mask = mapsize - 1;
  b->map_limit = mapsize / 4 * 3;
  b->epoch = 1;
  /* calloc (free slots have qty 0, and untouched pages cost nothing), one
   * cache line more than needed so the records can start on a line. */
  b->pool_mem = calloc(cfg->capacity * sizeof *b->pool + 64, 1);
  if (b->pool_mem)
    b->pool = (cda_order *)(void *)(((uintptr_t)b->pool_mem + 63) &
                                    ~(uintptr_t)63);
  b->map = calloc(mapsize, sizeof *b->map); /* all epoch 0: empty */
  int rc = (b->pool_mem && b->map) ? 0 : GL_ENOMEM;
  for (int s = 0; s < 2 && !rc; s++) {
    b->lv[s] = malloc(b->levels * sizeof *b->lv[s]);
    rc = b->lv[s] ? bitmap_init(&b->bm[s], b->levels) : GL_ENOMEM;
  }
  if (rc) {
    mkt_cda_free(b);
    return rc;
  }
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < b->levels; i++)
      b->lv[s][i] = (cda_level){MKT__NIL, 0}; /* tail: see add */
  b->free_head = MKT__NIL;
  b->best[0] = b->best[1] = b->levels;
  *out = b;
  return 0;
}

void mkt_cda_free(mkt_cda *b) {
  if (!b)
    return;
  free(b->pool_mem);
  free(b->map);
  for (int s = 0; s < 2; s++) {
    free(b->lv[s]);
    bitmap_free(&b->bm[s]);
  }
  free(b);
}

size_t mkt_cda_resting(const mkt_cda *b) {
  return b->resting;
}

static inline int64_t price_of(const mkt_cda *b, uint32_t side, uint32_t rank) {
  return b->pbase[side] + (int64_t)rank * b->pstep[side];
}

/* ---- Resting orders ------------------------------------------------------ */

/* Unlink slot `s` from anywhere in its level (a cancel) and release it;
 * keeps best[] current. Its id-map entry goes stale by itself (qty 0). */
static void remove_order(mkt_cda *b, uint32_t s) {
  cda_order *o = &b->pool[s];
  uint32_t side = o->side, r = o->rank, nx = o->next, pv = o->prev;
  cda_level *l = &b->lv[side][r];
  /* pv is only valid when s is not the head, and only read then. */
  if (l->head == s)
    l->head = nx;
  else
    b->pool[pv].next = nx;
  if (nx == MKT__NIL)
    l->tail = pv; /* if the level is now empty, nobody reads it */
  else
    b->pool[nx].prev = pv;
  if (l->head == MKT__NIL) {
    bitmap_clear(&b->bm[side], r);
    if (r == b->best[side])
      b->best[side] = bitmap_next(&b->bm[side], r + 1, b->levels);
  }
  o->qty = 0;
  o->next = b->free_head;
  b->free_head = s;
  b->resting--;
}

/* ---- Add ---------------------------------------------------------------- */

/* What an add has done so far; kept in registers, not in the result. */
typedef struct add_sum {
  int64_t filled, netted;
  size_t trades;
} add_sum;

/*
 * Match the incoming order against side t (the other side) while its best
 * rank is at most `lim`, which the caller has checked once already. Returns
 * the quantity left. Fills go to the sink's callbacks, or, when `fold` is
 * given (a constant in each caller: this is always inlined), straight into
 * the replay's checksum, without an indirect call per fill.
 */
static inline __attribute__((always_inline)) int64_t
match(mkt_cda *b, const mkt_order *o, uint32_t t, uint32_t lim, int64_t rem,
      add_sum *sum, const bool folding, mkt__fold *fold) {
  const mkt_cda_sink *sink = &b->cfg.sink;
  const uint64_t id = o->id;
  const uint32_t part = o->participant;
  /* All ones when the incoming order sells (into the bids, t == 0). */
  const uint64_t m64 = (uint64_t)t - 1;
  const uint32_t m32 = (uint32_t)m64;
  const bool prevent = !b->cfg.allow_self_trade;
  uint64_t hash = 0, ntr = 0, nqty = 0, cost = 0;
  if (folding) {
    hash = fold->hash;
    ntr = fold->trades;
    nqty = fold->qty;
    cost = fold->cost;
  }
  mkt_trade tr;
  for (;;) {
    uint32_t r = b->best[t];
    cda_level *l = &b->lv[t][r];
    uint32_t s = l->head;
    cda_order *ro = &b->pool[s];
    int64_t q = rem < ro->qty ? rem : ro->qty;
    if (__builtin_expect(ro->participant == part && prevent, 0)) {
      sum->netted += q;
      if (!folding && sink->self_trade) {
        mkt_self_trade st = {part, id, ro->id, q};
        sink->self_trade(sink->ctx, &st);
      }
    } else {
      sum->filled += q;
      sum->trades++;
      int64_t price = price_of(b, t, r);
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
        sink->trade(sink->ctx, &tr, o->side);
      }
    }
    rem -= q;
    ro->qty -= (uint32_t)q;
    /* If the resting order is done, pop it off the head and free its slot;
     * written as selects, since whether it is done is a coin flip too.
     * The new head's prev and the tail are not kept up. */
    uint32_t nx = ro->next, fh = b->free_head;
    uint32_t done = ro->qty == 0, dm = (uint32_t)0 - done;
    l->head = s ^ ((s ^ nx) & dm);
    ro->next = nx ^ ((nx ^ fh) & dm);
    b->free_head = fh ^ ((fh ^ s) & dm);
    b->resting -= done;
    if ((done & (nx == MKT__NIL)) != 0) {
      bitmap_clear(&b->bm[t], r);
      b->best[t] = bitmap_next(&b->bm[t], r + 1, b->levels);
    }
    if (rem == 0 || b->best[t] > lim)
      break;
  }
  if (folding)
    *fold = (mkt__fold){ntr, nqty, cost, hash};
  return rem;
}

/* mkt_cda_add, and the replay's add with `fold` (see match()). */
static inline __attribute__((always_inline)) int
add(mkt_cda *b, const mkt_order *o, mkt_cda_result *res, const bool folding,
    mkt__fold *fold) {
  if (b->closed)
    return GL_ECLOSED;
  if (o->side != MKT_BUY && o->side != MKT_SELL)
    return GL_EINVAL;
  if (!mkt__order_range_ok(o->qty, o->price))
    return GL_ERANGE;
  if (o->interval != b->cfg.interval)
    return GL_EINVAL;
  /* Offset from price_min; a price below it wraps to a huge offset. */
  uint64_t off = (uint64_t)(o->price - b->cfg.price_min);
  if (off > b->span) {
    if (!b->cfg.clamp)
      return GL_ERANGE;
    off = o->price < b->cfg.price_min ? 0 : b->span;
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
  if (map_find(b, o->id, &pos) != MKT__NIL)
    return GL_EEXIST;

  /* The rank on its side (x for an offer, L - 1 - x for a bid, with a
   * mask, not a branch), and the limit rank on the other side. */
  uint32_t s = o->side == MKT_SELL, t = s ^ 1, flip = s - 1;
  uint32_t own = (x ^ flip) + (b->levels & flip);
  uint32_t lim = b->levels - 1 - own;
  add_sum sum = {0, 0, 0};
  int64_t rem = o->qty;
  if (b->best[t] <= lim)
    rem = match(b, o, t, lim, rem, &sum, folding, fold);
  if (rem > 0) {
    uint32_t si = b->free_head;
    if (si != MKT__NIL)
      b->free_head = b->pool[si].next;
    else
      si = b->top++; /* < cap: every used slot is live or free */
    if (__builtin_expect(b->map_used >= b->map_limit, 0)) {
      map_rebuild(b); /* slot si is not live yet (qty 0): left out */
      (void)map_find(b, o->id, &pos);
    }
    b->map[pos] = (map_slot){map_tag(b, map_hash(o->id)), si};
    b->map_used++;
    cda_order *n = &b->pool[si];
    n->id = o->id;
    n->qty = (uint32_t)rem;
    n->participant = o->participant;
    n->next = MKT__NIL;
    n->rank = own;
    n->side = s;
    /* Append to the level's FIFO without a branch on whether it was
     * empty (often enough to mispredict): link from the head field or from
     * the tail order, whose index is always a valid slot (tails start at 0
     * and only ever take slot indices), and set the bitmap and best rank
     * regardless, which is harmless when the level was not empty. */
    cda_level *l = &b->lv[s][own];
    uint32_t tail = l->tail;
    uint32_t *link = l->head == MKT__NIL ? &l->head : &b->pool[tail].next;
    *link = si;
    n->prev = tail; /* meaningless if si is the head */
    l->tail = si;
    bitmap_set(&b->bm[s], own);
    b->best[s] = own < b->best[s] ? own : b->best[s];
    b->resting++;
  }
  if (res)
    *res = (mkt_cda_result){sum.filled, sum.netted, rem, sum.trades};
  return 0;
}

int mkt_cda_add(mkt_cda *b, const mkt_order *o, mkt_cda_result *res) {
  return add(b, o, res, false, NULL);
}

int mkt__cda_add_fold(mkt_cda *b, const mkt_order *o, mkt__fold *fold) {
  return add(b, o, NULL, true, fold);
}

/* ---- Cancel, depth, close ----------------------------------------------- */

int mkt_cda_cancel(mkt_cda *b, uint64_t id, int64_t *qty) {
  if (b->closed)
    return GL_ECLOSED;
  size_t pos = 0;
  uint32_t s = map_find(b, id, &pos);
  if (s == MKT__NIL)
    return GL_ENOENT;
  if (qty)
    *qty = b->pool[s].qty;
  remove_order(b, s);
  return 0;
}

int mkt_cda_depth(const mkt_cda *b, mkt_side side, mkt_cda_level *out,
                  size_t max, size_t *n) {
  *n = 0;
  if (side != MKT_BUY && side != MKT_SELL)
    return GL_EINVAL;
  uint32_t s = side == MKT_SELL;
  for (uint32_t r = b->best[s]; r < b->levels && *n < max;
       r = bitmap_next(&b->bm[s], r + 1, b->levels)) {
    mkt_cda_level *l = &out[(*n)++];
    l->price = price_of(b, s, r);
    l->qty = 0;
    l->orders = 0;
    for (uint32_t i = b->lv[s][r].head; i != MKT__NIL; i = b->pool[i].next) {
      l->qty += b->pool[i].qty;
      l->orders++;
    }
  }
  return 0;
}

int mkt_cda_close(mkt_cda *b, size_t *resting) {
  if (b->closed)
    return GL_ECLOSED;
  size_t count = 0;
  const mkt_cda_sink *sink = &b->cfg.sink;
  for (uint32_t s = 0; s < 2; s++) {
    for (uint32_t r = b->best[s]; r < b->levels;) {
      uint32_t nr = bitmap_next(&b->bm[s], r + 1, b->levels);
      cda_level *l = &b->lv[s][r];
      for (uint32_t i = l->head; i != MKT__NIL; i = b->pool[i].next) {
        cda_order *o = &b->pool[i];
        if (sink->residue) {
          mkt_order ro = {o->id,          o->participant,
                          s ? MKT_SELL : MKT_BUY,
                          b->cfg.interval, o->qty,
                          price_of(b, s, r)};
          sink->residue(sink->ctx, &ro);
        }
        o->qty = 0; /* the slot is free again */
        count++;
      }
      l->head = MKT__NIL;
      bitmap_clear(&b->bm[s], r);
      r = nr;
    }
  }
  assert(count == b->resting);
  map_clear(b); /* every entry is stale now */
  b->best[0] = b->best[1] = b->levels;
  b->free_head = MKT__NIL;
  b->top = 0;
  b->resting = 0;
  b->closed = true;
  if (resting)
    *resting = count;
  return 0;
}

int mkt_cda_reopen(mkt_cda *b, int64_t interval) {
  if (!b->closed)
    return GL_ESTATE;
  b->cfg.interval = interval;
  b->closed = false;
  return 0;
}
