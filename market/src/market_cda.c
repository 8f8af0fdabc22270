/* SPDX-License-Identifier: MIT */
/*
 * market_cda.c - the continuous double auction. See gridlet/market_cda.h.
 *
 * Layout, chosen so that one event touches few cache lines:
 * - orders live in a preallocated pool of 32-byte records linked into a
 *   FIFO per price level by 32-bit indices (no pointers, no allocation);
 * - each side has a flat array of levels {head, tail}, indexed by price
 *   minus price_min, and a three-level bitmap of the non-empty levels; the
 *   best bid and best offer are cached and, when a level empties, the next
 *   one is found by scanning at most three words plus a short top row;
 * - order ids map to pool slots through an open-addressing table with
 *   linear probing and lazy deletion: an order leaving the book only marks
 *   its pool slot dead (qty 0), so a fill touches no table line at all;
 *   lookups check that the slot is live and holds the id; when used entries
 *   (live or stale) reach 3/4 of the table it is rebuilt from the live
 *   orders, which keeps probes short at amortised O(1) cost. Nothing ever
 *   iterates the table to produce results, so its layout never leaks into
 *   the order of results.
 */
#include "gridlet/market_cda.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- Bitmap over price levels -------------------------------------------- */

/* Three levels of 64-bit words: bit i of w[0] says level i is non-empty, bit
 * j of w[1] says word j of w[0] is non-zero, and so on. */
typedef struct bitmap {
  uint64_t *w[3];
  size_t n[3]; /* words per level */
} bitmap;

static int bitmap_init(bitmap *b, size_t bits) {
  size_t words = bits;
  for (int l = 0; l < 3; l++) {
    words = (words + 63) / 64;
    b->n[l] = words;
    b->w[l] = calloc(words, sizeof(uint64_t));
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

static inline void bitmap_clear(bitmap *b, size_t i) {
  if ((b->w[0][i >> 6] &= ~(UINT64_C(1) << (i & 63))) != 0)
    return;
  if ((b->w[1][i >> 12] &= ~(UINT64_C(1) << ((i >> 6) & 63))) != 0)
    return;
  b->w[2][i >> 18] &= ~(UINT64_C(1) << ((i >> 12) & 63));
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

/* Highest set bit <= i in level l, or SIZE_MAX. */
static size_t bitmap_prev_at(const bitmap *b, int l, size_t i) {
  size_t word = i >> 6;
  unsigned sh = 63 - (unsigned)(i & 63);
  uint64_t w = b->w[l][word] & (~UINT64_C(0) >> sh);
  if (w)
    return (word << 6) | (size_t)(63 - __builtin_clzll(w));
  if (word == 0)
    return SIZE_MAX;
  if (l == 2) {
    while (word-- > 0)
      if (b->w[2][word])
        return (word << 6) | (size_t)(63 - __builtin_clzll(b->w[2][word]));
    return SIZE_MAX;
  }
  size_t prev = bitmap_prev_at(b, l + 1, word - 1);
  if (prev == SIZE_MAX)
    return SIZE_MAX;
  return (prev << 6) | (size_t)(63 - __builtin_clzll(b->w[l][prev]));
}

/* ---- The book ----------------------------------------------------------- */

typedef struct cda_order {
  uint64_t id;
  uint32_t qty; /* remaining Wh (<= MKT_QTY_MAX < 2^32); 0: slot is free */
  uint32_t participant;
  uint32_t next, prev; /* FIFO links within the level; free-list link */
  uint32_t level;
  uint32_t side; /* 0 buy, 1 sell */
} cda_order;

typedef struct cda_level {
  uint32_t head, tail;
} cda_level;

/* An id-map entry: 8 bytes, so the table stays cache-resident; the id itself
 * is checked in the pool only when the 32-bit hashes agree. */
typedef struct map_slot {
  uint32_t hash; /* top 32 bits of the id's Fibonacci hash */
  uint32_t slot; /* MKT__NIL: empty */
} map_slot;

struct mkt_cda {
  mkt_cda_config cfg;
  size_t levels;
  uint64_t tick_magic; /* ceil(2^64 / tick) for tick >= 2, see level_of() */
  bool closed;
  /* Orders. */
  cda_order *pool;
  uint32_t free_head; /* free list through `next` */
  size_t top;         /* slots below top have been used this interval */
  size_t resting;
  /* Levels per side; best_* are level indices: best bid -1 and best offer
   * `levels` mean the side is empty. */
  cda_level *lv[2];
  bitmap bm[2];
  int64_t best[2];
  /* id -> slot */
  map_slot *map;
  size_t map_mask;
  size_t map_used;  /* entries not empty: live or stale */
  size_t map_limit; /* rebuild when map_used reaches this (3/4) */
};

/* ---- Id map ------------------------------------------------------------- */

static inline uint32_t map_hash(uint64_t id) {
  return (uint32_t)id ^ (uint32_t)(id >> 32);
}

static inline size_t map_home(const mkt_cda *b, uint32_t hash) {
  return (size_t)hash & b->map_mask;
}

/* The entry of the live order `id`, or SIZE_MAX. Entries whose slot is free
 * or now holds another order are stale and skipped. */
static inline size_t map_find(const mkt_cda *b, uint64_t id) {
  uint32_t h = map_hash(id);
  for (size_t i = map_home(b, h);; i = (i + 1) & b->map_mask) {
    const map_slot *m = &b->map[i];
    if (m->slot == MKT__NIL)
      return SIZE_MAX;
    if (m->hash == h) {
      const cda_order *o = &b->pool[m->slot];
      if (o->qty != 0 && o->id == id)
        return i;
    }
  }
}

/* Put (id -> slot s) in the first empty entry of id's probe run. */
static inline void map_put(mkt_cda *b, uint64_t id, uint32_t s) {
  uint32_t h = map_hash(id);
  size_t i = map_home(b, h);
  while (b->map[i].slot != MKT__NIL)
    i = (i + 1) & b->map_mask;
  b->map[i].hash = h;
  b->map[i].slot = s;
  b->map_used++;
}

/* Forget every entry, then enter the live orders again. The table holds at
 * least twice the capacity, so afterwards at most half of it is used and a
 * quarter of it must fill up before the next rebuild. */
static void map_rebuild(mkt_cda *b) {
  memset(b->map, 0xff, (b->map_mask + 1) * sizeof *b->map); /* all NIL */
  b->map_used = 0;
  for (size_t s = 0; s < b->top; s++)
    if (b->pool[s].qty != 0)
      map_put(b, b->pool[s].id, (uint32_t)s);
}

/* Record that `id`, not live in the book, now rests in slot s (whose qty is
 * still 0, so a rebuild here does not enter it twice). */
static inline void map_insert(mkt_cda *b, uint64_t id, uint32_t s) {
  if (b->map_used >= b->map_limit)
    map_rebuild(b);
  map_put(b, id, s);
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
  b->levels = (size_t)((cfg->price_max - cfg->price_min) / tick + 1);
  b->tick_magic = tick > 1 ? UINT64_MAX / (uint64_t)tick + 1 : 0;
  /* At least twice the capacity: see map_rebuild. */
  size_t mapsize = 4;
  while (mapsize < 2 * cfg->capacity)
    mapsize *= 2;
  b->map_mask = mapsize - 1;
  b->map_limit = mapsize / 4 * 3;
  b->pool = calloc(cfg->capacity, sizeof *b->pool); /* all slots free */
  b->map = malloc(mapsize * sizeof *b->map);
  int rc = (b->pool && b->map) ? 0 : GL_ENOMEM;
  for (int s = 0; s < 2 && !rc; s++) {
    b->lv[s] = malloc(b->levels * sizeof *b->lv[s]);
    rc = b->lv[s] ? bitmap_init(&b->bm[s], b->levels) : GL_ENOMEM;
  }
  if (rc) {
    mkt_cda_free(b);
    return rc;
  }
  memset(b->map, 0xff, mapsize * sizeof *b->map); /* all NIL */
  for (int s = 0; s < 2; s++)
    for (size_t i = 0; i < b->levels; i++)
      b->lv[s][i].head = b->lv[s][i].tail = MKT__NIL;
  b->free_head = MKT__NIL;
  b->best[0] = -1;
  b->best[1] = (int64_t)b->levels;
  *out = b;
  return 0;
}

void mkt_cda_free(mkt_cda *b) {
  if (!b)
    return;
  free(b->pool);
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

/* ---- Resting orders ------------------------------------------------------ */

/* Unlink slot `s` from its level and release it; keeps best[] current. Its
 * id-map entry goes stale by itself (qty 0). */
static void remove_order(mkt_cda *b, uint32_t s) {
  cda_order *o = &b->pool[s];
  int side = (int)o->side;
  cda_level *l = &b->lv[side][o->level];
  if (o->prev == MKT__NIL)
    l->head = o->next;
  else
    b->pool[o->prev].next = o->next;
  if (o->next == MKT__NIL)
    l->tail = o->prev;
  else
    b->pool[o->next].prev = o->prev;
  if (l->head == MKT__NIL) {
    bitmap_clear(&b->bm[side], o->level);
    if ((int64_t)o->level == b->best[side]) {
      size_t nx;
      if (side == 0) {
        nx = o->level == 0 ? SIZE_MAX : bitmap_prev_at(&b->bm[0], 0, o->level);
        b->best[0] = nx == SIZE_MAX ? -1 : (int64_t)nx;
      } else {
        nx = bitmap_next_at(&b->bm[1], 0, (size_t)o->level + 1);
        b->best[1] = nx == SIZE_MAX ? (int64_t)b->levels : (int64_t)nx;
      }
    }
  }
  o->qty = 0;
  o->next = b->free_head;
  b->free_head = s;
  b->resting--;
}

/* ---- Add ---------------------------------------------------------------- */

/*
 * The level of a price in [price_min, price_max], or -1 if the price is off
 * the tick grid. Division by the tick is a multiplication by a precomputed
 * reciprocal (Lemire, Kaser and Kurz, "Faster remainder by direct
 * computation", 2019): for offsets below 2^32 and magic = ceil(2^64 /
 * tick), the high half of magic * offset is offset / tick, and the low half
 * is below magic exactly when the tick divides the offset.
 */
static inline int64_t level_of(const mkt_cda *b, int64_t price) {
  uint64_t off = (uint64_t)(price - b->cfg.price_min); /* < 2^31 */
  if (b->tick_magic == 0)
    return (int64_t)off;
  uint64_t hi, lo;
  mkt__mul128(b->tick_magic, off, &hi, &lo);
  return lo < b->tick_magic ? (int64_t)hi : -1;
}

static inline int64_t price_of(const mkt_cda *b, int64_t level) {
  return b->cfg.price_min + level * b->cfg.tick;
}

int mkt_cda_add(mkt_cda *b, const mkt_order *o, mkt_cda_result *res) {
  if (b->closed)
    return GL_ECLOSED;
  if (o->side != MKT_BUY && o->side != MKT_SELL)
    return GL_EINVAL;
  if (!mkt__order_range_ok(o->qty, o->price))
    return GL_ERANGE;
  if (o->interval != b->cfg.interval)
    return GL_EINVAL;
  int64_t price = o->price;
  if (price < b->cfg.price_min || price > b->cfg.price_max) {
    if (!b->cfg.clamp)
      return GL_ERANGE;
    price = price < b->cfg.price_min ? b->cfg.price_min : b->cfg.price_max;
  }
  int64_t x = level_of(b, price);
  if (x < 0)
    return GL_EINVAL;
  /* Refuse before touching the book: we cannot know yet whether the order
   * will need a slot to rest in. */
  if (b->resting == b->cfg.capacity)
    return GL_EFULL;
  if (map_find(b, o->id) != SIZE_MAX)
    return GL_EEXIST;

  int side = o->side == MKT_SELL, other = !side;
  int64_t rem = o->qty, filled = 0, netted = 0;
  size_t trades = 0;
  const mkt_cda_sink *sink = &b->cfg.sink;
  mkt_trade t;
  if (side == 0) {
    t.buy_id = o->id;
    t.buyer = o->participant;
  } else {
    t.sell_id = o->id;
    t.seller = o->participant;
  }
  /* Match while the best opposite level crosses our limit. */
  while (rem > 0 && (side == 0 ? b->best[1] <= x : b->best[0] >= x)) {
    int64_t lvx = b->best[other];
    uint32_t s = b->lv[other][lvx].head;
    cda_order *r = &b->pool[s];
    int64_t q = rem < r->qty ? rem : r->qty;
    if (r->participant == o->participant && !b->cfg.allow_self_trade) {
      netted += q;
      if (sink->self_trade) {
        mkt_self_trade st = {o->participant, o->id, r->id, q};
        sink->self_trade(sink->ctx, &st);
      }
    } else {
      filled += q;
      trades++;
      if (sink->trade) {
        if (side == 0) {
          t.sell_id = r->id;
          t.seller = r->participant;
        } else {
          t.buy_id = r->id;
          t.buyer = r->participant;
        }
        t.qty = q;
        t.buy_price = t.sell_price = price_of(b, lvx);
        sink->trade(sink->ctx, &t, o->side);
      }
    }
    rem -= q;
    r->qty -= (uint32_t)q;
    if (r->qty == 0)
      remove_order(b, s);
  }
  if (rem > 0) {
    /* Fresh slots first, in address order (cache- and prefetch-friendly),
     * recycled ones once the pool has been used up this interval. */
    uint32_t s;
    if (b->top < b->cfg.capacity) {
      s = (uint32_t)b->top++;
    } else {
      s = b->free_head;
      b->free_head = b->pool[s].next;
    }
    map_insert(b, o->id, s); /* first: slot s is not live yet (qty 0) */
    cda_order *n = &b->pool[s];
    cda_level *l = &b->lv[side][x];
    n->id = o->id;
    n->qty = (uint32_t)rem;
    n->participant = o->participant;
    n->next = MKT__NIL;
    n->prev = l->tail;
    n->level = (uint32_t)x;
    n->side = (uint32_t)side;
    if (l->tail == MKT__NIL) {
      l->head = s;
      bitmap_set(&b->bm[side], (size_t)x);
      if (side == 0 ? x > b->best[0] : x < b->best[1])
        b->best[side] = x;
    } else {
      b->pool[l->tail].next = s;
    }
    l->tail = s;
    b->resting++;
  }
  if (res) {
    res->filled = filled;
    res->netted = netted;
    res->rested = rem;
    res->trades = trades;
  }
  return 0;
}

/* ---- Cancel, depth, close ----------------------------------------------- */

int mkt_cda_cancel(mkt_cda *b, uint64_t id, int64_t *qty) {
  if (b->closed)
    return GL_ECLOSED;
  size_t pos = map_find(b, id);
  if (pos == SIZE_MAX)
    return GL_ENOENT;
  uint32_t s = b->map[pos].slot;
  if (qty)
    *qty = b->pool[s].qty;
  remove_order(b, s);
  return 0;
}

/* The level after `x` in priority order on `side`, or -1. */
static int64_t level_after(const mkt_cda *b, int side, int64_t x) {
  size_t nx;
  if (side == 0)
    nx = x == 0 ? SIZE_MAX : bitmap_prev_at(&b->bm[0], 0, (size_t)x - 1);
  else
    nx = bitmap_next_at(&b->bm[1], 0, (size_t)x + 1);
  return nx == SIZE_MAX ? -1 : (int64_t)nx;
}

static bool side_empty(const mkt_cda *b, int side) {
  return side == 0 ? b->best[0] < 0 : b->best[1] >= (int64_t)b->levels;
}

int mkt_cda_depth(const mkt_cda *b, mkt_side side, mkt_cda_level *out,
                  size_t max, size_t *n) {
  *n = 0;
  if (side != MKT_BUY && side != MKT_SELL)
    return GL_EINVAL;
  int s = side == MKT_SELL;
  if (side_empty(b, s))
    return 0;
  for (int64_t x = b->best[s]; x >= 0 && *n < max; x = level_after(b, s, x)) {
    mkt_cda_level *l = &out[(*n)++];
    l->price = price_of(b, x);
    l->qty = 0;
    l->orders = 0;
    for (uint32_t i = b->lv[s][x].head; i != MKT__NIL; i = b->pool[i].next) {
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
  for (int s = 0; s < 2; s++) {
    if (side_empty(b, s))
      continue;
    for (int64_t x = b->best[s]; x >= 0;) {
      int64_t nx = level_after(b, s, x);
      cda_level *l = &b->lv[s][x];
      for (uint32_t i = l->head; i != MKT__NIL; i = b->pool[i].next) {
        cda_order *r = &b->pool[i];
        if (sink->residue) {
          mkt_order o = {
              r->id,           r->participant, s ? MKT_SELL : MKT_BUY,
              b->cfg.interval, r->qty,         price_of(b, x)};
          sink->residue(sink->ctx, &o);
        }
        r->qty = 0; /* the slot is free again */
        count++;
      }
      l->head = l->tail = MKT__NIL;
      bitmap_clear(&b->bm[s], (size_t)x);
      x = nx;
    }
  }
  assert(count == b->resting);
  /* Every entry is stale now; start the table afresh. */
  if (b->map_used > 0) {
    memset(b->map, 0xff, (b->map_mask + 1) * sizeof *b->map); /* all NIL */
    b->map_used = 0;
  }
  b->best[0] = -1;
  b->best[1] = (int64_t)b->levels;
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
