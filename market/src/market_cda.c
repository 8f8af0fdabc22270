/* SPDX-License-Identifier: MIT */
/*
 * market_cda.c - the continuous double auction. See gridlet/market_cda.h.
 *
 * The book's layout and the add path, which the stream replay inlines too,
 * are in market_cda_int.h; this file has the rest: lifecycle, cancel,
 * depth and gate closure.
 */
#include "gridlet/market_cda.h"

#include "market_cda_int.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- Bitmap over ranks --------------------------------------------------- */

typedef mkt__cda_bitmap bitmap;

static int bitmap_init(bitmap *b, size_t bits) {
  size_t words = bits;
  for (int l = 0; l < 3; l++) {
    words = (words + 63) / 64;
    b->n[l] = words;
    /* One zero word beyond the last of levels 0 and 1: see the header. */
    b->w[l] = calloc(words + (l < 2), sizeof(uint64_t));
    if (!b->w[l])
      return GL_ENOMEM;
  }
  return 0;
}

static void bitmap_free(bitmap *b) {
  for (int l = 0; l < 3; l++)
    free(b->w[l]);
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

uint32_t mkt__cda_bitmap_next_far(const bitmap *b, uint32_t i, uint32_t none) {
  size_t r = bitmap_next_at(b, 0, i);
  return r == SIZE_MAX ? none : (uint32_t)r;
}

/* ---- Id map ------------------------------------------------------------- */

/* Empty the table: a new epoch, or after 255 of them a real clearing. */
static void map_clear(mkt_cda *b) {
  if (b->epoch == MKT__CDA_EPOCH_MASK) {
    memset(b->map, 0, (b->map_mask + 1) * sizeof *b->map); /* epoch 0 */
    b->epoch = 1;
  } else {
    b->epoch++;
  }
  b->map_used = 0;
}

/* The table holds at least twice the capacity, so afterwards at most half
 * of it is used and a quarter of it must fill up before the next rebuild. */
void mkt__cda_rebuild(mkt_cda *b) {
  map_clear(b);
  for (uint32_t s = 0; s < b->top; s++)
    if (b->pool[s].qty != 0) {
      size_t pos = 0;
      uint32_t found = mkt__cda_find(b, b->pool[s].id, &pos);
      assert(found == MKT__NIL); /* live ids are distinct */
      (void)found;
      b->map[pos] =
          (mkt__cda_slot){mkt__cda_tag(b, mkt__cda_hash(b->pool[s].id)), s};
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
  b->interval = cfg->interval;
  b->price_min = cfg->price_min;
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
  /* calloc (free slots have qty 0, and untouched pages cost nothing), two
   * records (64 bytes) more than needed so the records can start on a
   * cache line. */
  b->pool_mem = calloc(cfg->capacity + 2, sizeof *b->pool);
  if (b->pool_mem)
    b->pool = (mkt__cda_order *)(void *)(((uintptr_t)b->pool_mem + 63) &
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
      b->lv[s][i] = (mkt__cda_level){MKT__NIL, 0}; /* tail: see the add */
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

/* ---- Resting orders ------------------------------------------------------ */

/* Unlink slot `s` from anywhere in its level (a cancel) and release it;
 * keeps best[] current. Its id-map entry goes stale by itself (qty 0). */
static void remove_order(mkt_cda *b, uint32_t s) {
  mkt__cda_order *o = &b->pool[s];
  uint32_t side = o->side, r = o->rank, nx = o->next, pv = o->prev;
  mkt__cda_level *l = &b->lv[side][r];
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
    mkt__cda_bitmap_clear(&b->bm[side], r);
    if (r == b->best[side])
      b->best[side] = mkt__cda_bitmap_next(&b->bm[side], r + 1, b->levels);
  }
  o->qty = 0;
  o->next = b->free_head;
  b->free_head = s;
  b->resting--;
}

/* ---- Add ---------------------------------------------------------------- */

int mkt_cda_add(mkt_cda *b, const mkt_order *o, mkt_cda_result *res) {
  return mkt__cda_add(b, o->id, o->participant, o->side, o->interval, o->qty,
                      o->price, res, false, NULL);
}

/* ---- Cancel, depth, close ----------------------------------------------- */

int mkt_cda_cancel(mkt_cda *b, uint64_t id, int64_t *qty) {
  if (b->closed)
    return GL_ECLOSED;
  size_t pos = 0;
  uint32_t s = mkt__cda_find(b, id, &pos);
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
       r = mkt__cda_bitmap_next(&b->bm[s], r + 1, b->levels)) {
    mkt_cda_level *l = &out[(*n)++];
    l->price = mkt__cda_price(b, s, r);
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
      uint32_t nr = mkt__cda_bitmap_next(&b->bm[s], r + 1, b->levels);
      mkt__cda_level *l = &b->lv[s][r];
      for (uint32_t i = l->head; i != MKT__NIL; i = b->pool[i].next) {
        mkt__cda_order *o = &b->pool[i];
        if (sink->residue) {
          mkt_order ro = {o->id,       o->participant, s ? MKT_SELL : MKT_BUY,
                          b->interval, o->qty,         mkt__cda_price(b, s, r)};
          sink->residue(sink->ctx, &ro);
        }
        o->qty = 0; /* the slot is free again */
        count++;
      }
      l->head = MKT__NIL;
      mkt__cda_bitmap_clear(&b->bm[s], r);
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
  b->interval = interval;
  b->closed = false;
  return 0;
}
