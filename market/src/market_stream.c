/* SPDX-License-Identifier: MIT */
/*
 * market_stream.c - the order-stream codec, generator and replay. See
 * gridlet/market_stream.h for the format and the checksum.
 */
#include "gridlet/market_stream.h"

#include "gridlet/error.h"
#include "gridlet/market_cda.h"

#include "market_cda_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERVALS 65536 /* the u16 interval space */
#define FNV_OFFSET UINT64_C(1469598103934665603)

/* ---- Codec -------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

void mkt_stream_encode(const mkt_stream_rec *r,
                       uint8_t out[MKT_STREAM_REC_SIZE]) {
  out[0] = r->type;
  out[1] = r->side;
  put_le(out + 2, r->interval, 2);
  put_le(out + 4, r->price, 4);
  put_le(out + 8, r->qty, 4);
  put_le(out + 12, r->participant, 4);
  put_le(out + 16, r->id, 8);
}

int mkt_stream_decode(const uint8_t in[MKT_STREAM_REC_SIZE],
                      mkt_stream_rec *r) {
  r->type = in[0];
  r->side = in[1];
  r->interval = (uint16_t)get_le(in + 2, 2);
  r->price = (uint32_t)get_le(in + 4, 4);
  r->qty = (uint32_t)get_le(in + 8, 4);
  r->participant = (uint32_t)get_le(in + 12, 4);
  r->id = get_le(in + 16, 8);
  switch (r->type) {
  case 'A':
    if ((r->side != 'B' && r->side != 'S') || r->qty == 0 ||
        r->qty > MKT_QTY_MAX || r->price > MKT_PRICE_MAX)
      return GL_EPARSE;
    return 0;
  case 'X':
  case 'E':
    return 0;
  default:
    return GL_EPARSE;
  }
}

int mkt_stream_decode_all(const uint8_t *buf, size_t len, mkt_stream_rec *recs,
                          size_t *bad) {
  size_t n = len / MKT_STREAM_REC_SIZE;
  for (size_t i = 0; i < n; i++)
    if (mkt_stream_decode(buf + i * MKT_STREAM_REC_SIZE, &recs[i])) {
      *bad = i;
      return GL_EPARSE;
    }
  if (len % MKT_STREAM_REC_SIZE) {
    *bad = n;
    return GL_EPARSE;
  }
  return 0;
}

static uint32_t gcd(uint32_t a, uint32_t b) {
  while (b) {
    uint32_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

int mkt_stream_scan(const mkt_stream_rec *recs, size_t n,
                    mkt_stream_info *info) {
  /* Adds since the interval's last close; an interval is open while this
   * is non-zero. */
  uint32_t *open = calloc(INTERVALS, sizeof *open);
  if (!open)
    return GL_ENOMEM;
  memset(info, 0, sizeof *info);
  size_t now_open = 0;
  uint32_t first = 0, g = 0; /* gcd of all |price - first price| */
  for (size_t i = 0; i < n; i++) {
    const mkt_stream_rec *r = &recs[i];
    switch (r->type) {
    case 'A':
      if (info->adds == 0)
        first = r->price;
      g = gcd(g, r->price > first ? r->price - first : first - r->price);
      if (info->adds == 0 || r->price < info->price_min)
        info->price_min = r->price;
      if (info->adds == 0 || r->price > info->price_max)
        info->price_max = r->price;
      info->adds++;
      if (open[r->interval]++ == 0 && ++now_open > info->max_open)
        info->max_open = now_open;
      if (open[r->interval] > info->max_adds_open)
        info->max_adds_open = open[r->interval];
      break;
    case 'X':
      info->cancels++;
      break;
    case 'E':
      info->closes++;
      if (open[r->interval]) {
        open[r->interval] = 0;
        now_open--;
      }
      break;
    }
  }
  free(open);
  info->price_tick = g ? g : 1;
  return 0;
}

/* ---- Generator ----------------------------------------------------------- */

struct mkt_gen {
  mkt_gen_config c;
  gl_rand rand;
  size_t per_interval;  /* households * orders */
  uint32_t *slots;      /* the shuffled adds of the interval (household) */
  uint8_t *side;        /* per household, this interval */
  mkt_stream_rec *live; /* adds of the interval not yet cancelled */
  size_t nlive;
  uint32_t done; /* intervals finished */
  size_t pos;    /* next add of the interval */
  bool started;  /* this interval's sides and shuffle are drawn */
  bool cancel;   /* a cancel is due before the next add */
  uint64_t next_id;
};

int mkt_gen_new(const mkt_gen_config *cfg, const gl_rand *rand, mkt_gen **out) {
  *out = NULL;
  mkt_gen_config c = *cfg;
  if (!c.households)
    c.households = 10000;
  if (!c.intervals)
    c.intervals = 96;
  if (!c.orders)
    c.orders = 2;
  if (!c.price_min && !c.price_max) {
    c.price_min = 80000;
    c.price_max = 300000;
  }
  if (!c.price_tick)
    c.price_tick = 100;
  if (!c.qty_min && !c.qty_max) {
    c.qty_min = 1;
    c.qty_max = 2000;
  }
  if (c.price_min > c.price_max || c.price_max > MKT_PRICE_MAX ||
      c.qty_min < 1 || c.qty_min > c.qty_max || c.qty_max > MKT_QTY_MAX ||
      c.cancel_ppm > 1000000 ||
      (uint64_t)c.households * c.orders > (uint64_t)INT32_MAX)
    return GL_EINVAL;
  mkt_gen *g = calloc(1, sizeof *g);
  if (!g)
    return GL_ENOMEM;
  g->c = c;
  g->rand = *rand;
  g->per_interval = (size_t)c.households * c.orders;
  g->slots = malloc(g->per_interval * sizeof *g->slots);
  g->side = malloc(c.households * sizeof *g->side);
  g->live = malloc(g->per_interval * sizeof *g->live);
  if (!g->slots || !g->side || !g->live) {
    mkt_gen_free(g);
    return GL_ENOMEM;
  }
  *out = g;
  return 0;
}

void mkt_gen_free(mkt_gen *g) {
  if (!g)
    return;
  free(g->slots);
  free(g->side);
  free(g->live);
  free(g);
}

uint64_t mkt_gen_adds(const mkt_gen *g) {
  return (uint64_t)g->per_interval * g->c.intervals;
}

static int below(mkt_gen *g, uint64_t bound, uint64_t *v) {
  return gl_rand_below(&g->rand, bound, v);
}

/* Draw each household's side and shuffle the interval's adds. */
static int start_interval(mkt_gen *g) {
  uint64_t v;
  int rc;
  for (uint32_t h = 0; h < g->c.households; h++) {
    if ((rc = below(g, 2, &v)))
      return rc;
    g->side[h] = v ? 'S' : 'B';
  }
  size_t k = 0;
  for (uint32_t h = 0; h < g->c.households; h++)
    for (uint32_t j = 0; j < g->c.orders; j++)
      g->slots[k++] = h;
  for (size_t i = g->per_interval; i > 1; i--) { /* Fisher-Yates */
    if ((rc = below(g, i, &v)))
      return rc;
    uint32_t t = g->slots[i - 1];
    g->slots[i - 1] = g->slots[v];
    g->slots[v] = t;
  }
  g->nlive = 0;
  g->pos = 0;
  g->started = true;
  return 0;
}

int mkt_gen_next(mkt_gen *g, mkt_stream_rec *out) {
  if (g->done == g->c.intervals)
    return 0;
  uint16_t iv = (uint16_t)(g->c.first_interval + g->done);
  uint64_t v;
  int rc;
  if (!g->started && (rc = start_interval(g)))
    return rc;
  if (g->cancel) {
    g->cancel = false;
    if ((rc = below(g, g->nlive, &v)))
      return rc;
    *out = g->live[v];
    out->type = 'X';
    g->live[v] = g->live[--g->nlive];
    return 1;
  }
  if (g->pos < g->per_interval) {
    uint32_t h = g->slots[g->pos++];
    uint64_t ticks = (g->c.price_max - g->c.price_min) / g->c.price_tick + 1;
    uint64_t pt, q, c;
    if ((rc = below(g, ticks, &pt)) ||
        (rc = below(g, (uint64_t)g->c.qty_max - g->c.qty_min + 1, &q)) ||
        (rc = below(g, 1000000, &c)))
      return rc;
    mkt_stream_rec r = {
        .type = 'A',
        .side = g->side[h],
        .interval = iv,
        .price = g->c.price_min + (uint32_t)pt * g->c.price_tick,
        .qty = g->c.qty_min + (uint32_t)q,
        .participant = h,
        .id = g->next_id++,
    };
    g->live[g->nlive++] = r;
    g->cancel = c < g->c.cancel_ppm;
    *out = r;
    return 1;
  }
  memset(out, 0, sizeof *out);
  out->type = 'E';
  out->interval = iv;
  g->done++;
  g->started = false;
  return 1;
}

/* ---- Replay -------------------------------------------------------------- */

struct mkt_replay {
  size_t nbooks;
  mkt_cda **books;
  uint32_t *free_books; /* stack of closed books */
  size_t nfree;
  int32_t *book_iv;           /* per book: its open interval, or -1 */
  int32_t book_of[INTERVALS]; /* per interval: its book, or -1 */
  mkt_replay_stats st;
};

int mkt_replay_new(const mkt_stream_info *info, bool self_trade_prevention,
                   mkt_replay **out) {
  *out = NULL;
  uint32_t tick = info->price_tick ? info->price_tick : 1;
  if (info->price_max > MKT_PRICE_MAX || info->price_min > info->price_max ||
      (info->price_max - info->price_min) % tick != 0 ||
      (info->price_max - info->price_min) / tick + 1 > MKT_CDA_LEVELS_MAX)
    return GL_ERANGE;
  mkt_replay *r = calloc(1, sizeof *r);
  if (!r)
    return GL_ENOMEM;
  r->nbooks = info->max_open ? info->max_open : 1;
  r->books = calloc(r->nbooks, sizeof *r->books);
  r->free_books = malloc(r->nbooks * sizeof *r->free_books);
  r->book_iv = malloc(r->nbooks * sizeof *r->book_iv);
  int rc = r->books && r->free_books && r->book_iv ? 0 : GL_ENOMEM;
  mkt_cda_config cfg = {
      .capacity = info->max_adds_open ? info->max_adds_open : 1,
      .price_min = info->price_min,
      .price_max = info->price_max,
      .tick = tick,
      .allow_self_trade = !self_trade_prevention,
      /* No sink: the replay adds through mkt__cda_add, which folds every
       * fill into the checksum itself. */
  };
  for (size_t i = 0; i < r->nbooks && !rc; i++) {
    rc = mkt_cda_new(&cfg, &r->books[i]);
    if (!rc)
      rc = mkt_cda_close(r->books[i], NULL); /* free books stay closed */
  }
  if (rc) {
    mkt_replay_free(r);
    return rc == GL_EINVAL ? GL_ERANGE : rc;
  }
  for (size_t i = 0; i < INTERVALS; i++)
    r->book_of[i] = -1;
  for (size_t i = 0; i < r->nbooks; i++)
    r->book_iv[i] = -1;
  *out = r;
  return 0;
}

void mkt_replay_free(mkt_replay *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nbooks; i++)
    mkt_cda_free(r->books[i]);
  free(r->books);
  free(r->free_books);
  free(r->book_iv);
  free(r);
}

/* Close book b (open), returning the orders it held. */
static size_t close_book(mkt_replay *r, int32_t b) {
  size_t resting = 0;
  (void)mkt_cda_close(r->books[b], &resting); /* open, so cannot fail */
  r->book_of[r->book_iv[b]] = -1;
  r->book_iv[b] = -1;
  r->free_books[r->nfree++] = (uint32_t)b;
  return resting;
}

int mkt_replay_run(mkt_replay *r, const mkt_stream_rec *recs, size_t n,
                   mkt_replay_stats *st) {
  /* Start from empty books (a failed earlier run may have left some open).
   * Only books are scanned, never the 2^16 intervals, so a short stream
   * costs little. */
  r->nfree = 0;
  for (size_t i = 0; i < r->nbooks; i++)
    if (r->book_iv[i] >= 0)
      (void)close_book(r, (int32_t)i);
  r->nfree = r->nbooks;
  for (size_t i = 0; i < r->nbooks; i++)
    r->free_books[i] = (uint32_t)(r->nbooks - 1 - i);
  memset(&r->st, 0, sizeof r->st);
  /* The counters live in locals and the book's add is inlined here, with
   * the fills folded into the checksum as they happen, so the loop does
   * little besides the engine's work. */
  mkt__fold f = {0, 0, 0, FNV_OFFSET};
  uint64_t events = 0, adds = 0, rejected = 0, cancels = 0, misses = 0;
  uint64_t closes = 0, resting = 0;
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    const mkt_stream_rec *e = &recs[i];
    int32_t b = r->book_of[e->interval];
    events++;
    if (__builtin_expect(e->type == 'A', 1)) {
      if (__builtin_expect(b < 0, 0)) {
        if (r->nfree == 0) {
          rc = GL_EFULL;
          break;
        }
        b = (int32_t)r->free_books[--r->nfree];
        (void)mkt_cda_reopen(r->books[b], e->interval); /* closed: fine */
        r->book_of[e->interval] = b;
        r->book_iv[b] = e->interval;
      }
      int arc = mkt__cda_add(r->books[b], e->id, e->participant,
                             MKT_BUY + (e->side == 'S'), e->interval, e->qty,
                             e->price, NULL, true, &f);
      adds += arc == 0;
      if (arc == GL_EFULL)
        rc = arc;
      else
        rejected += arc != 0;
    } else if (e->type == 'X') {
      bool hit = b >= 0 && mkt_cda_cancel(r->books[b], e->id, NULL) == 0;
      cancels += hit;
      misses += !hit;
    } else if (e->type == 'E') {
      closes++;
      if (b >= 0)
        resting += close_book(r, b);
    } else {
      events--; /* not a record type: decode refuses these */
    }
  }
  r->st.events = events;
  r->st.adds = adds;
  r->st.rejected = rejected;
  r->st.cancels = cancels;
  r->st.cancel_misses = misses;
  r->st.closes = closes;
  r->st.resting_at_close = resting;
  r->st.trades = f.trades;
  r->st.qty = f.qty;
  r->st.cost = f.cost;
  r->st.hash = f.hash;
  /* Books still open at the end of the stream close now. */
  for (size_t i = 0; i < r->nbooks; i++)
    if (r->book_iv[i] >= 0)
      r->st.resting_at_close += close_book(r, (int32_t)i);
  *st = r->st;
  return rc;
}

int mkt_replay_checksum(const mkt_replay_stats *st, char *buf, size_t len) {
  return snprintf(buf, len,
                  "checksum: trades=%llu qty=%llu cost=%llu "
                  "resting_at_close=%llu hash=%016llx",
                  (unsigned long long)st->trades, (unsigned long long)st->qty,
                  (unsigned long long)st->cost,
                  (unsigned long long)st->resting_at_close,
                  (unsigned long long)st->hash);
}
