/* SPDX-License-Identifier: MIT */
/*
 * market.c - the market cycle: clearing, settlement, ledger, checkpoints
 * and results. See gridlet/agg_market.h.
 *
 * Sections: helpers; sequence numbers; continuous books; ingest hooks;
 * settling one interval; checkpoints; results; after an ingest commit;
 * enrolments and parameters; recovery; driving.
 */
#include "gridlet/agg_market.h"

#include "gridlet/agg_verify.h"

#include "gridlet/error.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/log.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_interval.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "market"
#define SEQ_BLOCK INT64_C(1000000)
/* A continuous book's first capacity (resting orders); it doubles on
 * demand. */
#define BOOK_MIN_CAPACITY 256

typedef struct mstate {
  uint32_t who; /* registry index + 1; 0 = empty slot */
  int64_t seq;  /* seq of the order in force */
  size_t n;
  uint64_t ids[PR_MAX_STEPS]; /* its resting steps */
} mstate;

typedef struct book {
  int64_t interval;
  size_t capacity;
  mkt_cda *cda;
  bool closed;
  mkt_trade *trades;
  size_t ntrades, captrades;
  mstate *ms; /* open addressing by who */
  size_t nms, capms;
  bool oom;
} book;

typedef struct count_item {
  int64_t interval;
  int64_t n;
} count_item;

struct agg_market {
  agg_market_deps d;
  const agg_config *cfg;
  agg_store *st;
  lg_ledger *lg;
  lg_ledger_stats lg_base;
  mkt_interval *iv;
  size_t iv_parts, iv_orders;
  mkt_interval_config mcfg;
  int64_t L;     /* interval, ns */
  int64_t len_s; /* interval, s */
  int64_t first; /* first interval settled here */
  int64_t last;  /* newest settled interval (first - L: none) */
  int64_t online_since;
  /* After an unclean stop: when this run started. Intervals ending by
   * then may have lost readings paho had acknowledged; they wait for the
   * meters' re-sends (deadline()). 0: no such hold. */
  int64_t recover_at;
  int64_t seq_next, seq_hwm;
  int64_t cp_size; /* newest checkpoint stored */
  count_item *counts;
  size_t ncounts, capcounts;
  book **books; /* heap objects: a book's address is its sink context */
  size_t nbooks, capbooks;
  int64_t live_orders; /* order steps in force in all open books */
  agg_market_timing timing;
};

/* ---- Helpers ------------------------------------------------------------- */

static void copy_id(char dst[AGG_ID_LEN], const char *src) {
  size_t n = strnlen(src, AGG_ID_LEN - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static int64_t clamp_price(const agg_market *m, int64_t p) {
  return p < m->cfg->feed_in ? m->cfg->feed_in
                             : (p > m->cfg->retail ? m->cfg->retail : p);
}

static int64_t whole_second(int64_t t) {
  return gl_floor_div(t, GL_NS_PER_SEC) * GL_NS_PER_SEC;
}

static int64_t real_now(const agg_market *m) {
  return gl_clock_monotonic(m->d.real);
}

/* Run `fn` inside one transaction: commit on 0, roll back otherwise. */
static int in_tx(agg_market *m, int (*fn)(agg_market *m, void *ctx),
                 void *ctx) {
  int rc = agg_store_begin(m->st);
  if (rc)
    return rc;
  rc = fn(m, ctx);
  if (rc == 0) {
    int64_t t0 = real_now(m);
    rc = agg_store_commit(m->st);
    if (rc == 0 && m->d.metrics) {
      agg_hist_observe(&m->d.metrics->commit, real_now(m) - t0);
      agg_count(&m->d.metrics->db_commits, 1);
    }
  }
  if (rc)
    agg_store_rollback(m->st);
  return rc;
}

static void crashpoint(agg_market *m, const char *name) {
  if (m->d.crashpoint)
    m->d.crashpoint(m->d.crash_ctx, name);
}

static void update_ledger_gauge(agg_market *m) {
  uint64_t size = 0;
  if (m->d.metrics && lg_ledger_size(m->lg, &size) == 0)
    agg_gauge(&m->d.metrics->ledger_size, (int64_t)size);
}

/* ---- Sequence numbers ---------------------------------------------------- */

static int reserve_tx(agg_market *m, void *ctx) {
  int64_t *hwm = ctx;
  return agg_store_meta_set(m->st, "seq_hwm", *hwm);
}

int agg_market_reserve_seqs(agg_market *m, int64_t n) {
  if (m->seq_next + n <= m->seq_hwm)
    return 0;
  /* Reserve a block ahead, durably, before any number of it is used: a
   * crash then skips the rest of the block, never reuses a number. */
  int64_t hwm = m->seq_next + n + SEQ_BLOCK;
  int rc = in_tx(m, reserve_tx, &hwm);
  if (rc == 0)
    m->seq_hwm = hwm;
  return rc;
}

int64_t agg_market_next_seq(agg_market *m) {
  assert(m->seq_next < m->seq_hwm);
  return m->seq_next++;
}

/* ---- Continuous books ---------------------------------------------------- */

static mstate *mstate_get(book *b, uint32_t who) {
  if ((b->nms + 1) * 2 > b->capms) {
    size_t cap = b->capms ? b->capms * 2 : 64;
    mstate *v = calloc(cap, sizeof *v);
    if (!v)
      return NULL;
    for (size_t i = 0; i < b->capms; i++) {
      if (!b->ms[i].who)
        continue;
      size_t h = (b->ms[i].who * 2654435761u) & (cap - 1);
      while (v[h].who)
        h = (h + 1) & (cap - 1);
      v[h] = b->ms[i];
    }
    free(b->ms);
    b->ms = v;
    b->capms = cap;
  }
  size_t h = ((who + 1) * 2654435761u) & (b->capms - 1);
  while (b->ms[h].who && b->ms[h].who != who + 1)
    h = (h + 1) & (b->capms - 1);
  if (!b->ms[h].who) {
    b->ms[h].who = who + 1;
    b->nms++;
  }
  return &b->ms[h];
}

static void on_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  (void)aggressor;
  book *b = ctx;
  if (b->ntrades == b->captrades) {
    size_t cap = b->captrades ? b->captrades * 2 : 64;
    mkt_trade *v = realloc(b->trades, cap * sizeof *v);
    if (!v) {
      b->oom = true;
      return;
    }
    b->trades = v;
    b->captrades = cap;
  }
  b->trades[b->ntrades++] = *t;
}

static void book_free(book *b) {
  if (!b)
    return;
  mkt_cda_free(b->cda);
  free(b->trades);
  free(b->ms);
  free(b);
}

static book *book_find(agg_market *m, int64_t interval) {
  for (size_t i = 0; i < m->nbooks; i++)
    if (m->books[i]->interval == interval)
      return m->books[i];
  return NULL;
}

/* The most orders one book can ever need: every active meter's full
 * order (a meter's later order replaces its earlier one), with room for
 * meters enrolled meanwhile; never above the total budget. */
static size_t book_max_capacity(const agg_market *m) {
  size_t cap = PR_MAX_STEPS * (agg_meters_active(m->d.meters) + 64);
  if ((int64_t)cap > m->cfg->max_orders)
    cap = (size_t)m->cfg->max_orders;
  return cap;
}

static book *book_new(agg_market *m, int64_t interval, size_t cap) {
  book *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->interval = interval;
  mkt_cda_config cc = {.capacity = cap,
                       .price_min = m->cfg->feed_in,
                       .price_max = m->cfg->retail,
                       .tick = m->cfg->tick,
                       .clamp = true,
                       .allow_self_trade = m->cfg->allow_self_trade,
                       .interval = interval,
                       .sink = {.trade = on_trade, .ctx = b}};
  b->capacity = cap;
  int rc = mkt_cda_new(&cc, &b->cda);
  if (rc) {
    GL_ERROR(LOG, "cannot open the continuous book: %s", gl_strerror(rc));
    free(b);
    return NULL;
  }
  return b;
}

static book *book_open(agg_market *m, int64_t interval) {
  book *b = book_find(m, interval);
  if (b)
    return b;
  if (m->nbooks == m->capbooks) {
    size_t cap = m->capbooks ? m->capbooks * 2 : 8;
    book **v = realloc(m->books, cap * sizeof *v);
    if (!v)
      return NULL;
    m->books = v;
    m->capbooks = cap;
  }
  /* Books start small and grow (book_grow) up to book_max_capacity: the
   * horizon can hold a hundred books, and preallocating each for every
   * meter's full order would cost gigabytes in a large community. */
  size_t cap = book_max_capacity(m);
  if (cap > BOOK_MIN_CAPACITY)
    cap = BOOK_MIN_CAPACITY;
  b = book_new(m, interval, cap);
  if (!b)
    return NULL;
  m->books[m->nbooks++] = b;
  return b;
}

/* Take a book's orders in force off the meters' and the total counts. */
static void book_uncount(agg_market *m, const book *b) {
  for (size_t i = 0; i < b->capms; i++) {
    const mstate *s = &b->ms[i];
    if (!s->who)
      continue;
    agg_meter *mt = agg_meters_at(m->d.meters, s->who - 1);
    if (mt)
      mt->live_orders -= (int64_t)s->n;
    m->live_orders -= (int64_t)s->n;
  }
}

static void book_remove(agg_market *m, int64_t interval) {
  for (size_t i = 0; i < m->nbooks; i++) {
    if (m->books[i]->interval != interval)
      continue;
    book_uncount(m, m->books[i]);
    book_free(m->books[i]);
    memmove(&m->books[i], &m->books[i + 1],
            (m->nbooks - i - 1) * sizeof *m->books);
    m->nbooks--;
    return;
  }
}

static int book_apply(agg_market *m, const agg_order_rec *o, bool check,
                      bool *applied);

static int replay_into_book(void *ctx, const agg_order_rec *o) {
  agg_market *m = ctx;
  bool applied;
  int rc = book_apply(m, o, false, &applied);
  return rc == GL_EFULL ? 0 : rc;
}

/* Make room for `need` resting orders in the book of `interval`: a book
 * of twice the size (at most book_max_capacity) rebuilt from the
 * interval's stored orders, in arrival order. The continuous auction is
 * deterministic, so the rebuilt book and its trades are the ones the old
 * book had. Returns 0, GL_EFULL (already as large as allowed) or an error. */
static int book_grow(agg_market *m, int64_t interval, size_t need) {
  book *b = book_find(m, interval);
  size_t max = book_max_capacity(m);
  if (!b || b->capacity >= max)
    return GL_EFULL;
  size_t cap = b->capacity * 2;
  while (cap < need)
    cap *= 2;
  if (cap > max)
    cap = max;
  if (cap < need)
    return GL_EFULL;
  book *nb = book_new(m, interval, cap);
  if (!nb)
    return GL_ENOMEM;
  for (size_t i = 0; i < m->nbooks; i++)
    if (m->books[i] == b)
      m->books[i] = nb;
  book_uncount(m, b);
  book_free(b);
  int rc = agg_store_orders_each(m->st, interval, true, replay_into_book, m);
  if (rc == 0 && nb->oom)
    rc = GL_ENOMEM;
  if (rc == 0) {
    char a[GL_TIME_STR_MAX];
    GL_INFO(LOG, "continuous book of %s: room for %zu resting orders",
            gl_time_format(interval, a), cap);
  }
  return rc;
}

/* Apply one stored order to its book. *applied tells whether it changed
 * the meter's order (a lower seq than the one in force is ignored).
 * `check`: enforce market.max_orders_per_meter (GL_EPERM) and
 * market.max_orders (GL_EFULL) for a new order; a replay of stored
 * orders does not, so it rebuilds exactly the book that was. */
static int book_apply(agg_market *m, const agg_order_rec *o, bool check,
                      bool *applied) {
  *applied = false;
  agg_meter *mt = agg_meters_find(m->d.meters, o->meter);
  if (!mt)
    return 0; /* unknown now (removed from the database): ignore */
  book *b = book_open(m, o->interval);
  if (!b)
    return GL_ENOMEM;
  if (b->closed)
    return 0;
  mstate *s = mstate_get(b, mt->index);
  if (!s)
    return GL_ENOMEM;
  if (o->seq <= s->seq)
    return 0;
  /* Refuse before touching the book, so that an order is either applied
   * whole or not at all (replay after a restart must give the same book). */
  int64_t more = (int64_t)o->nsteps - (int64_t)s->n;
  if (check && more > 0 &&
      mt->live_orders + more > m->cfg->max_orders_per_meter)
    return GL_EPERM;
  if (check && more > 0 && m->live_orders + more > m->cfg->max_orders)
    return GL_EFULL;
  if (mkt_cda_resting(b->cda) + o->nsteps > b->capacity) {
    int rc = book_grow(m, o->interval, mkt_cda_resting(b->cda) + o->nsteps);
    if (rc)
      return rc;
    b = book_find(m, o->interval);
    s = b ? mstate_get(b, mt->index) : NULL;
    if (!s)
      return GL_ENOMEM;
    if (o->seq <= s->seq)
      return 0; /* a replay at start: the rebuild applied it already */
  }
  for (size_t i = 0; i < s->n; i++)
    mkt_cda_cancel(b->cda, s->ids[i], NULL); /* GL_ENOENT: filled since */
  mt->live_orders -= (int64_t)s->n;
  m->live_orders -= (int64_t)s->n;
  s->seq = o->seq;
  s->n = 0;
  *applied = true;
  for (size_t i = 0; i < o->nsteps; i++) {
    mkt_order ord = {.id = (uint64_t)o->rx * PR_MAX_STEPS + i,
                     .participant = mt->index,
                     .side = (mkt_side)o->steps[i].side,
                     .interval = o->interval,
                     .qty = o->steps[i].wh,
                     .price = o->steps[i].price};
    mkt_cda_result res;
    int rc = mkt_cda_add(b->cda, &ord, &res);
    if (rc == GL_EFULL)
      return rc;
    if (rc) {
      GL_ERROR(LOG,
               "%s: order seq %" PRId64 " step %zu refused by the book: "
               "%s",
               o->meter, o->seq, i, gl_strerror(rc));
      continue;
    }
    if (res.rested > 0)
      s->ids[s->n++] = ord.id;
  }
  mt->live_orders += (int64_t)s->n;
  m->live_orders += (int64_t)s->n;
  if (b->oom)
    return GL_ENOMEM;
  return 0;
}

static void close_books(agg_market *m, int64_t now) {
  for (size_t i = 0; i < m->nbooks; i++) {
    book *b = m->books[i];
    if (!b->closed && now >= b->interval - m->cfg->gate_closure) {
      mkt_cda_close(b->cda, NULL);
      b->closed = true;
    }
  }
}

/* ---- Ingest hooks -------------------------------------------------------- */

int64_t agg_market_first(const agg_market *m) {
  return m->first;
}

bool agg_market_settled(const agg_market *m, int64_t interval) {
  return interval <= m->last;
}

int64_t agg_market_last_settled(const agg_market *m) {
  return m->last;
}

static int count_cb(void *ctx, int64_t interval, int64_t n);

static count_item *count_find(agg_market *m, int64_t interval, bool add) {
  for (size_t i = 0; i < m->ncounts; i++)
    if (m->counts[i].interval == interval)
      return &m->counts[i];
  if (!add)
    return NULL;
  if (m->ncounts == m->capcounts) {
    size_t cap = m->capcounts ? m->capcounts * 2 : 16;
    count_item *v = realloc(m->counts, cap * sizeof *v);
    if (!v)
      return NULL;
    m->counts = v;
    m->capcounts = cap;
  }
  count_item *c = &m->counts[m->ncounts++];
  c->interval = interval;
  c->n = 0;
  return c;
}

void agg_market_reading(agg_market *m, int64_t interval) {
  count_item *c = count_find(m, interval, true);
  if (c)
    c->n++;
}

static int64_t count_of(agg_market *m, int64_t interval) {
  count_item *c = count_find(m, interval, false);
  return c ? c->n : 0;
}

static void count_drop_upto(agg_market *m, int64_t interval) {
  size_t k = 0;
  for (size_t i = 0; i < m->ncounts; i++)
    if (m->counts[i].interval > interval)
      m->counts[k++] = m->counts[i];
  m->ncounts = k;
}

int agg_market_recount(agg_market *m) {
  m->ncounts = 0;
  return agg_store_reading_counts(m->st, m->last, count_cb, m);
}

int agg_market_late_reading(agg_market *m, agg_reading_rec *r) {
  lg_entry e;
  memset(&e, 0, sizeof e);
  e.type = LG_ENTRY_READING;
  lg_reading *g = &e.u.reading;
  g->interval_start = r->interval;
  copy_id(g->meter_id, r->meter);
  g->seq = (uint64_t)r->seq;
  g->import_wh = r->import_wh;
  g->export_wh = r->export_wh;
  g->flags = r->flags | AGG_READING_LATE;
  memcpy(g->msg_digest, r->digest, 32);
  uint64_t idx = 0;
  int rc = lg_ledger_append_entries(m->lg, &e, 1, &idx);
  if (rc)
    return rc;
  r->ledger_index = (int64_t)idx;
  return 0;
}

int agg_market_prefs(agg_market *m, const agg_prefs_rec *p) {
  lg_entry e[2];
  memset(e, 0, sizeof e);
  for (int i = 0; i < 2; i++) {
    e[i].type = LG_ENTRY_ORDER;
    lg_order *o = &e[i].u.order;
    o->interval_start = p->effective;
    copy_id(o->meter_id, p->meter);
    o->seq = (uint64_t)p->seq;
    o->quantity_wh = 0; /* a standing limit for whatever is measured */
    memcpy(o->msg_digest, p->digest, 32);
  }
  /* Limits below zero act like zero (the band's floor is feed_in >= 0),
   * and an absent limit is "anything in the band": logged as 0 for the
   * sell side and AGG_NO_BUY_LIMIT for the buy side, which the clamp into
   * the band turns into the same orders. */
  e[0].u.order.side = LG_SIDE_BUY;
  e[0].u.order.limit_price =
      p->has_buy ? (p->buy < 0 ? 0 : p->buy) : AGG_NO_BUY_LIMIT;
  e[1].u.order.side = LG_SIDE_SELL;
  e[1].u.order.limit_price = p->has_sell ? (p->sell < 0 ? 0 : p->sell) : 0;
  return lg_ledger_append_entries(m->lg, e, 2, NULL);
}

int agg_market_order(agg_market *m, const agg_order_rec *o) {
  if (m->cfg->mode != MKT_MODE_CONTINUOUS)
    return 0;
  bool applied;
  return book_apply(m, o, true, &applied);
}

/* ---- Settling one interval ----------------------------------------------- */

/* One settlement row: a meter that is active or delivered a reading. */
typedef struct row {
  char meter[AGG_ID_LEN];
  bool has_reading; /* an on-time reading is stored */
  bool measured;    /* ...and it is not flagged missing */
  agg_reading_rec reading;
  bool has_prefs;
  agg_prefs_rec prefs;
  bool part;       /* takes part in the settlement (has an account) */
  size_t account;  /* index into the result's accounts when part */
  int64_t max_seq; /* exante: seq of the meter's latest order */
  size_t nrefs;
  int64_t refs[AGG_MAX_REFS];
  size_t norder_refs;  /* how many of refs are order entries */
  int64_t reading_idx; /* ledger index of its reading digest, -1: none */
} row;

typedef struct settle_ctx {
  agg_market *m;
  int64_t start, end;
  int64_t t0; /* real time the settlement started */
  row *rows;
  size_t nrows, caprows;
  agg_reading_rec *rd; /* readings, by meter */
  size_t nrd, caprd;
  agg_order_rec *ord; /* the orders logged, in arrival order */
  size_t nord, capord;
  mkt_order *mo;
  size_t nmo, capmo;
  lg_entry *e;
  size_t ne, cape;
  size_t *e_row; /* per entry: the row it belongs to (SIZE_MAX: none) */
  gl_bytes *bytes;
  lg_trade *lt;
  lg_settlement_row *sr;
  mkt_interval_result res;
  size_t ntrades;
  const mkt_trade *trades;
  mkt_trade *cda_trades; /* continuous: filtered, renumbered */
  int64_t import_wh, export_wh;
  int err;
} settle_ctx;

static bool grow(void **v, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return true;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *n = realloc(*v, c * size);
  if (!n)
    return false;
  *v = n;
  *cap = c;
  return true;
}

static int collect_reading(void *ctx, const agg_reading_rec *r) {
  settle_ctx *c = ctx;
  if (!grow((void **)&c->rd, &c->caprd, c->nrd + 1, sizeof *c->rd))
    return GL_ENOMEM;
  c->rd[c->nrd++] = *r;
  return 0;
}

static int cmp_row(const void *a, const void *b) {
  return strcmp(((const row *)a)->meter, ((const row *)b)->meter);
}

static row *find_row(settle_ctx *c, const char *meter) {
  row probe;
  copy_id(probe.meter, meter);
  return c->nrows ? bsearch(&probe, c->rows, c->nrows, sizeof *c->rows, cmp_row)
                  : NULL;
}

/* Rows: meters with an on-time reading, and every active meter, by meter
 * id. */
static int build_rows(settle_ctx *c) {
  agg_market *m = c->m;
  int rc = agg_store_readings_each(m->st, c->start, true, collect_reading, c);
  if (rc)
    return rc;
  size_t nm = agg_meters_count(m->d.meters);
  if (!grow((void **)&c->rows, &c->caprows, c->nrd + nm + 1, sizeof *c->rows))
    return GL_ENOMEM;
  for (size_t i = 0; i < nm; i++) {
    const agg_meter *mt = agg_meters_at(m->d.meters, i);
    /* Enrolment times are real time, intervals the market's (possibly
     * accelerated) time: every active meter is a row. */
    if (mt->state != AGG_METER_ACTIVE)
      continue;
    row *r = &c->rows[c->nrows++];
    memset(r, 0, sizeof *r);
    memcpy(r->meter, mt->id, sizeof r->meter);
  }
  qsort(c->rows, c->nrows, sizeof *c->rows, cmp_row);
  for (size_t i = 0; i < c->nrd; i++) {
    row *r = find_row(c, c->rd[i].meter);
    if (!r) {
      /* A meter no longer active delivered before it was revoked: it is
       * settled for what it delivered. */
      r = &c->rows[c->nrows++];
      memset(r, 0, sizeof *r);
      copy_id(r->meter, c->rd[i].meter);
      qsort(c->rows, c->nrows, sizeof *c->rows, cmp_row);
      r = find_row(c, c->rd[i].meter);
    }
    r->has_reading = true;
    r->reading = c->rd[i];
    r->measured = !(c->rd[i].flags & PR_FLAG_MISSING);
    if (r->measured) {
      c->import_wh += c->rd[i].import_wh;
      c->export_wh += c->rd[i].export_wh;
    }
  }
  return 0;
}

static int collect_prefs(void *ctx, const agg_prefs_rec *p) {
  settle_ctx *c = ctx;
  row *r = find_row(c, p->meter);
  if (r) {
    r->has_prefs = true;
    r->prefs = *p;
  }
  return 0;
}

static int collect_order(void *ctx, const agg_order_rec *o) {
  settle_ctx *c = ctx;
  if (!grow((void **)&c->ord, &c->capord, c->nord + 1, sizeof *c->ord))
    return GL_ENOMEM;
  c->ord[c->nord++] = *o;
  return 0;
}

static int ensure_iv(agg_market *m, size_t parts, size_t orders) {
  if (m->iv && parts <= m->iv_parts && orders <= m->iv_orders)
    return 0;
  size_t p = parts > m->iv_parts ? parts + parts / 2 + 16 : m->iv_parts;
  size_t o = orders > m->iv_orders ? orders + orders / 2 + 16 : m->iv_orders;
  mkt_interval *iv = NULL;
  int rc = mkt_interval_new(p, o, &iv);
  if (rc)
    return rc;
  mkt_interval_free(m->iv);
  m->iv = iv;
  m->iv_parts = p;
  m->iv_orders = o;
  return 0;
}

/* Run the market of the interval through the shared pipeline. */
static int run_market(settle_ctx *c) {
  agg_market *m = c->m;
  size_t nmeas = 0;
  for (size_t i = 0; i < c->nrows; i++)
    nmeas += c->rows[i].measured;
  int rc = 0;
  if (m->cfg->mode == MKT_MODE_EXPOST) {
    rc = agg_store_prefs_in_force(m->st, c->start, collect_prefs, c);
    mkt_standing *stg = calloc(nmeas ? nmeas : 1, sizeof *stg);
    if (!stg)
      return GL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < c->nrows; i++) {
      row *r = &c->rows[i];
      if (!r->measured)
        continue;
      stg[k].participant = (uint32_t)i;
      stg[k].net = r->reading.import_wh - r->reading.export_wh;
      stg[k].buy_limit =
          r->has_prefs && r->prefs.has_buy ? r->prefs.buy : AGG_NO_BUY_LIMIT;
      stg[k].sell_limit = r->has_prefs && r->prefs.has_sell ? r->prefs.sell : 0;
      r->part = true;
      r->account = k++;
    }
    if (rc == 0)
      rc = ensure_iv(m, nmeas + 1, nmeas + 1);
    if (rc == 0)
      rc = mkt_interval_expost(m->iv, &m->mcfg, c->start, stg, k, 1, &c->res);
    free(stg);
  } else {
    rc = agg_store_orders_each(m->st, c->start, true, collect_order, c);
    /* Trades are firm at gate closure: every row takes part, whether its
     * reading came or not. A meter without a measurement counts as having
     * metered nothing (net 0), so its whole contracted position is its
     * imbalance, settled with the utility (a seller that delivered nothing
     * buys its sale at retail); its row and result are flagged missing. */
    mkt_meter *mtr = calloc(c->nrows ? c->nrows : 1, sizeof *mtr);
    if (!mtr)
      return GL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < c->nrows; i++) {
      row *r = &c->rows[i];
      mtr[k].participant = (uint32_t)i;
      mtr[k].net =
          r->measured ? r->reading.import_wh - r->reading.export_wh : 0;
      r->part = true;
      r->account = k++;
    }
    nmeas = k;
    /* Which orders count: exante, each meter's latest (highest seq), the
     * set in force at gate closure (later ones were refused); continuous,
     * every order that replaced the one before it when it arrived, the
     * rule agg_market_order applied. */
    size_t keep = 0;
    for (size_t i = 0; rc == 0 && i < c->nord; i++) {
      row *r = find_row(c, c->ord[i].meter);
      if (!r)
        continue;
      if (m->cfg->mode == MKT_MODE_CONTINUOUS) {
        if (c->ord[i].seq <= r->max_seq)
          continue;
        r->max_seq = c->ord[i].seq;
        c->ord[keep++] = c->ord[i];
      } else if (c->ord[i].seq > r->max_seq) {
        r->max_seq = c->ord[i].seq;
      }
    }
    if (m->cfg->mode == MKT_MODE_EXANTE) {
      for (size_t i = 0; i < c->nord; i++) {
        row *r = find_row(c, c->ord[i].meter);
        if (r && c->ord[i].seq == r->max_seq)
          c->ord[keep++] = c->ord[i];
      }
    }
    c->nord = keep;
    if (rc == 0 && m->cfg->mode == MKT_MODE_EXANTE) {
      for (size_t i = 0; rc == 0 && i < c->nord; i++) {
        const agg_order_rec *o = &c->ord[i];
        const row *r = find_row(c, o->meter);
        for (size_t s = 0; s < o->nsteps; s++) {
          if (!grow((void **)&c->mo, &c->capmo, c->nmo + 1, sizeof *c->mo)) {
            rc = GL_ENOMEM;
            break;
          }
          mkt_order *x = &c->mo[c->nmo++];
          x->id = (uint64_t)o->rx * PR_MAX_STEPS + s;
          x->participant = (uint32_t)(r - c->rows);
          x->side = (mkt_side)o->steps[s].side;
          x->interval = c->start;
          x->qty = o->steps[s].wh;
          x->price = o->steps[s].price;
        }
      }
      if (rc == 0)
        rc = ensure_iv(m, nmeas + 1, c->nmo + 1);
      if (rc == 0)
        rc = mkt_interval_exante(m->iv, &m->mcfg, c->start, c->mo, c->nmo, mtr,
                                 k, &c->res);
    } else if (rc == 0) {
      /* The book's trades name registry indices; renumbered to rows (a
       * meter removed from the database since has no row: its trades
       * cannot be settled and are left out). */
      book *b = book_find(m, c->start);
      size_t nt = b ? b->ntrades : 0;
      c->cda_trades = calloc(nt ? nt : 1, sizeof *c->cda_trades);
      if (!c->cda_trades)
        rc = GL_ENOMEM;
      size_t kept = 0;
      for (size_t i = 0; rc == 0 && i < nt; i++) {
        mkt_trade t = b->trades[i];
        const agg_meter *bm = agg_meters_at(m->d.meters, t.buyer);
        const agg_meter *sm = agg_meters_at(m->d.meters, t.seller);
        row *br = bm ? find_row(c, bm->id) : NULL;
        row *sr = sm ? find_row(c, sm->id) : NULL;
        if (!br || !sr)
          continue;
        t.buyer = (uint32_t)(br - c->rows);
        t.seller = (uint32_t)(sr - c->rows);
        c->cda_trades[kept++] = t;
      }
      if (rc == 0)
        rc = ensure_iv(m, nmeas + 1, kept + 1);
      if (rc == 0)
        rc = mkt_interval_continuous(m->iv, &m->mcfg, c->start, c->cda_trades,
                                     kept, mtr, k, &c->res);
    }
    free(mtr);
  }
  if (rc == 0) {
    c->trades = c->res.trades;
    c->ntrades = c->res.n_trades;
  }
  return rc;
}

static int64_t uniform_price(const agg_market *m, const mkt_clearing *cl,
                             bool *has) {
  *has = m->cfg->mode != MKT_MODE_CONTINUOUS &&
         m->cfg->rule != MKT_RULE_PAY_AS_BID && cl->volume > 0;
  return *has ? cl->price : -1;
}

/* The interval's ledger entries (see agg_market.h for the order). */
static int build_entries(settle_ctx *c) {
  agg_market *m = c->m;
  /* The entry arrays grow together; e_row is sized by a shadow capacity,
   * so allocate it to the final count up front instead. */
  size_t steps = 0;
  for (size_t i = 0; i < c->nord; i++)
    steps += c->ord[i].nsteps;
  size_t total = steps + c->nrd + 2;
  c->e = calloc(total, sizeof *c->e);
  c->e_row = calloc(total, sizeof *c->e_row);
  c->cape = total;
  if (!c->e || !c->e_row)
    return GL_ENOMEM;
  for (size_t i = 0; i < c->nord; i++) {
    const agg_order_rec *o = &c->ord[i];
    size_t ri = (size_t)(find_row(c, o->meter) - c->rows);
    for (size_t s = 0; s < o->nsteps; s++) {
      lg_entry *e = &c->e[c->ne];
      c->e_row[c->ne++] = ri;
      e->type = LG_ENTRY_ORDER;
      lg_order *g = &e->u.order;
      g->interval_start = c->start;
      copy_id(g->meter_id, o->meter);
      g->seq = (uint64_t)o->seq;
      g->side = o->steps[s].side == PR_SIDE_BUY ? LG_SIDE_BUY : LG_SIDE_SELL;
      g->quantity_wh = o->steps[s].wh;
      g->limit_price = clamp_price(m, o->steps[s].price);
      memcpy(g->msg_digest, o->digest, 32);
    }
  }
  for (size_t i = 0; i < c->nrows; i++) {
    const row *r = &c->rows[i];
    if (!r->has_reading)
      continue;
    lg_entry *e = &c->e[c->ne];
    c->e_row[c->ne++] = i;
    e->type = LG_ENTRY_READING;
    lg_reading *g = &e->u.reading;
    g->interval_start = c->start;
    copy_id(g->meter_id, r->meter);
    g->seq = (uint64_t)r->reading.seq;
    g->import_wh = r->reading.import_wh;
    g->export_wh = r->reading.export_wh;
    g->flags = r->reading.flags;
    memcpy(g->msg_digest, r->reading.digest, 32);
  }
  /* Clearing. */
  c->lt = calloc(c->ntrades ? c->ntrades : 1, sizeof *c->lt);
  if (!c->lt)
    return GL_ENOMEM;
  int64_t volume = 0;
  for (size_t i = 0; i < c->ntrades; i++) {
    const mkt_trade *t = &c->trades[i];
    copy_id(c->lt[i].buyer, c->rows[t->buyer].meter);
    copy_id(c->lt[i].seller, c->rows[t->seller].meter);
    c->lt[i].energy_wh = t->qty;
    c->lt[i].price = t->buy_price;
    volume += t->qty;
  }
  lg_entry *e = &c->e[c->ne];
  c->e_row[c->ne++] = SIZE_MAX;
  e->type = LG_ENTRY_CLEARING;
  lg_clearing *cl = &e->u.clearing;
  cl->interval_start = c->start;
  cl->interval_len_s = (uint32_t)m->len_s;
  cl->mode = (uint8_t)(m->cfg->mode + 1);
  cl->rule = m->cfg->mode == MKT_MODE_CONTINUOUS ? LG_RULE_NONE
                                                 : (uint8_t)(m->cfg->rule + 1);
  bool has;
  cl->price = uniform_price(m, &c->res.clearing, &has);
  cl->volume_wh = volume;
  cl->n_trades = c->ntrades;
  cl->trades = c->lt;
  /* Settlement: every row. Without a measurement a meter settles nothing
   * in expost mode, and its firm trades against the grid in the others;
   * either way the row is flagged. */
  c->sr = calloc(c->nrows ? c->nrows : 1, sizeof *c->sr);
  if (!c->sr)
    return GL_ENOMEM;
  for (size_t i = 0; i < c->nrows; i++) {
    const row *r = &c->rows[i];
    lg_settlement_row *s = &c->sr[i];
    copy_id(s->meter_id, r->meter);
    if (!r->measured)
      s->flags = LG_SETTLE_NO_READING;
    if (!r->part)
      continue;
    const mkt_account *a = &c->res.accounts[r->account];
    assert(a->participant == i);
    s->local_bought_wh = a->bought;
    s->local_sold_wh = a->sold;
    s->grid_import_wh = a->grid_import;
    s->grid_export_wh = a->grid_export;
    s->fee = a->fee_paid;
    s->money = a->net;
  }
  e = &c->e[c->ne];
  c->e_row[c->ne++] = SIZE_MAX;
  e->type = LG_ENTRY_SETTLEMENT;
  lg_settlement *st = &e->u.settlement;
  st->interval_start = c->start;
  st->interval_len_s = (uint32_t)m->len_s;
  st->retail_price = m->cfg->retail;
  st->feedin_price = m->cfg->feed_in;
  st->fee_price = m->cfg->fee;
  /* The entry has no field for McAfee's mechanism surplus: it is booked
   * with the utility's side of the interval (docs/decisions.md). */
  st->utility_money = c->res.totals.utility_net + c->res.totals.surplus;
  st->fee_money = c->res.totals.fees;
  st->n_rows = c->nrows;
  st->rows = c->sr;
  /* Encode. */
  c->bytes = calloc(c->ne, sizeof *c->bytes);
  if (!c->bytes)
    return GL_ENOMEM;
  for (size_t i = 0; i < c->ne; i++) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = lg_entry_encode(&c->e[i], &b, &n);
    if (rc) {
      GL_ERROR(LOG, "cannot encode ledger entry %zu of the interval: %s", i,
               gl_strerror(rc));
      return rc;
    }
    c->bytes[i].data = b;
    c->bytes[i].len = n;
  }
  return 0;
}

/* Inside the transaction: ledger, rows, trades, balances, the interval. */
static int commit_interval(agg_market *m, void *ctx) {
  settle_ctx *c = ctx;
  uint64_t first = 0;
  int rc = lg_ledger_append(m->lg, c->bytes, c->ne, &first);
  if (rc)
    return rc;
  /* Each meter's ledger references: its order entries (the latest ones if
   * there are more than fit), its reading, the clearing, the settlement. */
  int64_t clearing_idx = (int64_t)first + (int64_t)c->ne - 2;
  int64_t settle_idx = clearing_idx + 1;
  for (size_t i = 0; i < c->ne - 2; i++) {
    row *r = &c->rows[c->e_row[i]];
    int64_t idx = (int64_t)first + (int64_t)i;
    if (c->e[i].type == LG_ENTRY_READING) {
      r->refs[r->nrefs++] = idx;
      r->reading_idx = idx;
      continue;
    }
    if (r->norder_refs == AGG_MAX_REFS - 3) {
      memmove(r->refs, r->refs + 1, (r->nrefs - 1) * sizeof *r->refs);
      r->nrefs--;
      r->norder_refs--;
    }
    r->refs[r->nrefs++] = idx;
    r->norder_refs++;
  }
  for (size_t i = 0; rc == 0 && i < c->nrows; i++) {
    row *r = &c->rows[i];
    r->refs[r->nrefs++] = clearing_idx;
    r->refs[r->nrefs++] = settle_idx;
    const lg_settlement_row *s = &c->sr[i];
    agg_balance_rec b;
    int g = agg_store_balance_get(m->st, r->meter, &b);
    if (g == GL_ENOENT) {
      memset(&b, 0, sizeof b);
      copy_id(b.meter, r->meter);
    } else if (g) {
      return g;
    }
    /* Running totals grow forever: an overflow is refused, never wrapped
     * (int64 micro-currency holds 9.2e12 currency units). */
    if (__builtin_add_overflow(b.money, s->money, &b.money) ||
        __builtin_add_overflow(b.fees, s->fee, &b.fees) ||
        __builtin_add_overflow(b.bought, s->local_bought_wh, &b.bought) ||
        __builtin_add_overflow(b.sold, s->local_sold_wh, &b.sold) ||
        __builtin_add_overflow(b.grid_import, s->grid_import_wh,
                               &b.grid_import) ||
        __builtin_add_overflow(b.grid_export, s->grid_export_wh,
                               &b.grid_export)) {
      GL_ERROR(LOG, "%s: its running balance would overflow 64 bits", r->meter);
      return GL_ERANGE;
    }
    b.intervals++;
    b.missing += r->measured ? 0 : 1;
    rc = agg_store_balance_put(m->st, &b);
    agg_settle_rec sr;
    memset(&sr, 0, sizeof sr);
    sr.interval = c->start;
    copy_id(sr.meter, r->meter);
    if (!r->measured)
      sr.flags |= PR_RESULT_MISSING;
    if (r->measured && (r->reading.flags & PR_FLAG_ESTIMATED))
      sr.flags |= PR_RESULT_ESTIMATED;
    if (r->part) {
      const mkt_account *a = &c->res.accounts[r->account];
      sr.import_wh = r->measured ? r->reading.import_wh : 0;
      sr.export_wh = r->measured ? r->reading.export_wh : 0;
      sr.bought = a->bought;
      sr.sold = a->sold;
      sr.grid_import = a->grid_import;
      sr.grid_export = a->grid_export;
      sr.local_paid = a->local_paid;
      sr.local_received = a->local_received;
      sr.grid_paid = a->grid_paid;
      sr.grid_received = a->grid_received;
      sr.fee = a->fee_paid;
      sr.net = a->net;
    }
    sr.balance = b.money;
    sr.nrefs = r->nrefs;
    memcpy(sr.refs, r->refs, r->nrefs * sizeof *r->refs);
    if (rc == 0)
      rc = agg_store_settle_put(m->st, &sr);
    if (rc == 0 && r->has_reading)
      rc = agg_store_reading_set_index(m->st, c->start, r->meter,
                                       r->reading_idx);
  }
  for (size_t i = 0; rc == 0 && i < c->ntrades; i++) {
    const mkt_trade *t = &c->trades[i];
    agg_trade_rec tr = {.interval = c->start,
                        .idx = (int64_t)i,
                        .wh = t->qty,
                        .buy_price = t->buy_price,
                        .sell_price = t->sell_price};
    copy_id(tr.buyer, c->rows[t->buyer].meter);
    copy_id(tr.seller, c->rows[t->seller].meter);
    rc = agg_store_trade_put(m->st, &tr);
  }
  if (rc)
    return rc;
  const mkt_settle_totals *tot = &c->res.totals;
  agg_interval_rec iv;
  memset(&iv, 0, sizeof iv);
  iv.start = c->start;
  iv.len_s = m->len_s;
  iv.mode = m->cfg->mode;
  iv.rule = m->cfg->rule;
  iv.state = AGG_IV_SETTLED;
  iv.settled_at = gl_clock_now(m->d.clock);
  iv.ledger_first = (int64_t)first;
  iv.ledger_count = (int64_t)c->ne;
  iv.price = uniform_price(m, &c->res.clearing, &iv.has_price);
  iv.volume = tot->local;
  iv.meters = (int64_t)c->nrows;
  for (size_t i = 0; i < c->nrows; i++)
    iv.missing += c->rows[i].measured ? 0 : 1;
  iv.import_wh = c->import_wh;
  iv.export_wh = c->export_wh;
  iv.grid_import = tot->grid_import;
  iv.grid_export = tot->grid_export;
  iv.fees = tot->fees;
  iv.utility = tot->utility_net;
  iv.surplus = tot->surplus;
  iv.local_paid = tot->local_paid;
  iv.retail = m->cfg->retail;
  iv.feed_in = m->cfg->feed_in;
  iv.fee_price = m->cfg->fee;
  iv.clearing_ns = real_now(m) - c->t0;
  rc = agg_store_interval_put(m->st, &iv);
  crashpoint(m, "settle:before-commit");
  return rc;
}

static void settle_ctx_free(settle_ctx *c) {
  if (c->bytes)
    for (size_t i = 0; i < c->ne; i++)
      free((void *)c->bytes[i].data);
  free(c->bytes);
  free(c->rows);
  free(c->rd);
  free(c->ord);
  free(c->mo);
  free(c->e);
  free(c->e_row);
  free(c->lt);
  free(c->sr);
  free(c->cda_trades);
}

static int post_settle(agg_market *m);

/* Settle interval `start` (the next one). */
static int settle(agg_market *m, int64_t start) {
  int64_t t0 = real_now(m);
  settle_ctx c = {.m = m, .start = start, .end = start + m->L, .t0 = t0};
  int rc = build_rows(&c);
  if (rc == 0)
    rc = run_market(&c);
  if (rc == 0)
    rc = build_entries(&c);
  if (rc == 0)
    rc = in_tx(m, commit_interval, &c);
  int64_t t1 = real_now(m);
  if (rc) {
    char ts[GL_TIME_STR_MAX];
    GL_ERROR(LOG, "settling the interval %s failed: %s",
             gl_time_format(start, ts), gl_strerror(rc));
    settle_ctx_free(&c);
    return rc;
  }
  crashpoint(m, "settle:after-commit");
  m->timing.settle_ns = t1 - t0;
  m->timing.meters = c.nrows;
  m->timing.entries = c.ne;
  m->last = start;
  count_drop_upto(m, start);
  book_remove(m, start);
  if (m->d.metrics) {
    agg_hist_observe(&m->d.metrics->clearing, t1 - t0);
    agg_count(&m->d.metrics->intervals_settled, 1);
    agg_gauge(&m->d.metrics->last_settled, start);
  }
  size_t missing = 0;
  for (size_t i = 0; i < c.nrows; i++)
    missing += c.rows[i].measured ? 0 : 1;
  char ts[GL_TIME_STR_MAX];
  GL_INFO(LOG,
          "settled %s: %zu meters (%zu missing), %zu trades, %" PRId64
          " Wh local, %zu ledger entries, %.1f ms",
          gl_time_format(start, ts), c.nrows, missing, c.ntrades,
          c.res.totals.local, c.ne, (double)(t1 - t0) / 1e6);
  settle_ctx_free(&c);
  return post_settle(m);
}

/* ---- Checkpoints --------------------------------------------------------- */

typedef struct cp_ctx {
  int64_t size;
  const char *note;
  const uint8_t *msg;
  size_t len;
} cp_ctx;

static int store_checkpoint(agg_market *m, void *ctx) {
  cp_ctx *c = ctx;
  int rc = agg_store_checkpoint_put(m->st, c->size, c->note,
                                    gl_clock_now(m->d.clock));
  char topic[PR_TOPIC_MAX];
  if (rc == 0)
    rc = pr_topic_build(PR_TOPIC_CHECKPOINT, m->cfg->community, NULL, topic,
                        sizeof topic);
  if (rc == 0) {
    agg_outbox_rec o = {.bytes = c->msg,
                        .len = c->len,
                        .retain = true,
                        .kind = AGG_PUB_CHECKPOINT,
                        .interval = 0,
                        .hold = c->size};
    snprintf(o.topic, sizeof o.topic, "%s", topic);
    rc = agg_store_outbox_add(m->st, &o, NULL);
  }
  return rc;
}

/* Sign a checkpoint for the current size when it is larger than the last
 * stored one, and queue it for public/checkpoint. Outside transactions. */
static int checkpoint(agg_market *m) {
  uint64_t size = 0;
  int rc = lg_ledger_size(m->lg, &size);
  if (rc || (int64_t)size <= m->cp_size || size == 0)
    return rc;
  int64_t t0 = real_now(m);
  char *note = NULL;
  rc = lg_ledger_checkpoint(m->lg, m->d.log_key, &note);
  if (rc) {
    GL_ERROR(LOG,
             "cannot sign a checkpoint of the ledger at size %" PRIu64 ": %s",
             size, gl_strerror(rc));
    return rc;
  }
  crashpoint(m, "checkpoint:signed");
  if (strlen(note) > PR_NOTE_MAX) {
    GL_ERROR(LOG, "the checkpoint note is longer than %d bytes", PR_NOTE_MAX);
    free(note);
    return GL_ETOOBIG;
  }
  rc = agg_market_reserve_seqs(m, 1);
  pr_msg msg;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = 0;
  pr_diag d = {0};
  if (rc == 0)
    rc = pr_msg_init(&msg, PR_MSG_CHECKPOINT, PR_AGGREGATOR_ID,
                     agg_market_next_seq(m),
                     whole_second(gl_clock_now(m->d.clock)));
  if (rc == 0) {
    snprintf(msg.checkpoint.note, sizeof msg.checkpoint.note, "%s", note);
    rc = pr_seal(&msg, m->d.agg_key, buf, sizeof buf, &len, &d);
    if (rc)
      GL_ERROR(LOG, "cannot seal the checkpoint message: %s", d.msg);
  }
  cp_ctx c = {.size = (int64_t)size, .note = note, .msg = buf, .len = len};
  if (rc == 0)
    rc = in_tx(m, store_checkpoint, &c);
  free(note);
  if (rc)
    return rc;
  crashpoint(m, "checkpoint:stored");
  m->cp_size = (int64_t)size;
  m->timing.checkpoint_ns = real_now(m) - t0;
  agg_outbox_notify(m->d.outbox);
  if (m->d.metrics)
    agg_gauge(&m->d.metrics->checkpoint_size, m->cp_size);
  update_ledger_gauge(m);
  GL_DEBUG(LOG, "checkpoint at size %" PRIu64, size);
  return 0;
}

/* ---- Results ------------------------------------------------------------- */

/* One side of a trade, from a meter's point of view. */
typedef struct tside {
  char meter[AGG_ID_LEN];
  pr_side side;
  int64_t wh, price, amount;
} tside;

static int cmp_tside(const void *a, const void *b) {
  const tside *x = a, *y = b;
  int c = strcmp(x->meter, y->meter);
  if (c)
    return c;
  if (x->side != y->side)
    return x->side < y->side ? -1 : 1;
  return x->price < y->price ? -1 : (x->price > y->price);
}

typedef struct res_ctx {
  agg_market *m;
  agg_interval_rec iv;
  int64_t cp;   /* checkpoint size cited */
  int64_t ts;   /* the results' time */
  int64_t seq0; /* first sequence number */
  agg_settle_rec *rows;
  size_t nrows, caprows;
  tside *sides;
  size_t nsides, capsides;
  size_t *first_side; /* per row: index into sides, and count */
  size_t *nside;
  uint8_t **out;
  size_t *outlen;
  int *err;
  uint8_t *summary;
  size_t summary_len;
} res_ctx;

static int collect_settle(void *ctx, const agg_settle_rec *s) {
  res_ctx *c = ctx;
  if (!grow((void **)&c->rows, &c->caprows, c->nrows + 1, sizeof *c->rows))
    return GL_ENOMEM;
  c->rows[c->nrows++] = *s;
  return 0;
}

static int collect_trade(void *ctx, const agg_trade_rec *t) {
  res_ctx *c = ctx;
  if (!grow((void **)&c->sides, &c->capsides, c->nsides + 2, sizeof *c->sides))
    return GL_ENOMEM;
  tside *b = &c->sides[c->nsides++];
  copy_id(b->meter, t->buyer);
  b->side = PR_SIDE_BUY;
  b->wh = t->wh;
  b->price = t->buy_price;
  mkt_money(t->wh, t->buy_price, &b->amount);
  tside *s = &c->sides[c->nsides++];
  copy_id(s->meter, t->seller);
  s->side = PR_SIDE_SELL;
  s->wh = t->wh;
  s->price = t->sell_price;
  mkt_money(t->wh, t->sell_price, &s->amount);
  return 0;
}

/* The result message of row i, sealed. */
static int seal_result(const res_ctx *c, size_t i, int64_t seq, uint8_t **out,
                       size_t *outlen) {
  const agg_market *m = c->m;
  const agg_settle_rec *s = &c->rows[i];
  pr_msg msg;
  int rc = pr_msg_init(&msg, PR_MSG_RESULT, PR_AGGREGATOR_ID, seq, c->ts);
  if (rc)
    return rc;
  pr_result *r = &msg.result;
  copy_id(r->meter, s->meter);
  r->start = c->iv.start;
  r->end = c->iv.start + c->iv.len_s * GL_NS_PER_SEC;
  r->mode = (pr_mode)(c->iv.mode + 1);
  r->has_price = c->iv.has_price;
  r->price = c->iv.price;
  /* Trades aggregated per side and price (amounts are sums of the
   * per-trade roundings, so they add up to the settlement exactly). */
  const tside *t = c->sides + c->first_side[i];
  size_t nt = c->nside[i];
  for (size_t k = 0; k < nt; k++) {
    pr_trade *last = r->ntrades ? &r->trades[r->ntrades - 1] : NULL;
    if (last && last->side == t[k].side &&
        (last->price == t[k].price || r->ntrades >= PR_MAX_TRADES - 1)) {
      /* Same price, or no room left: merge (a merged price is the
       * volume-weighted one, rounded half to even). */
      if (last->price != t[k].price)
        last->price = mkt_div_round(
            last->price * last->wh + t[k].price * t[k].wh, last->wh + t[k].wh);
      last->wh += t[k].wh;
      last->amount += t[k].amount;
      continue;
    }
    if (r->ntrades == PR_MAX_TRADES)
      return GL_ETOOBIG;
    pr_trade *x = &r->trades[r->ntrades++];
    x->side = t[k].side;
    x->wh = t[k].wh;
    x->price = t[k].price;
    x->amount = t[k].amount;
  }
  pr_settlement *st = &r->settlement;
  st->import_wh = s->import_wh;
  st->export_wh = s->export_wh;
  st->local_buy_wh = s->bought;
  st->local_sell_wh = s->sold;
  st->grid_buy_wh = s->grid_import;
  st->grid_sell_wh = s->grid_export;
  st->local_cost = s->local_paid;
  st->local_revenue = s->local_received;
  st->grid_cost = s->grid_paid;
  st->grid_revenue = s->grid_received;
  st->fee = s->fee;
  st->net = s->net;
  r->balance = s->balance;
  r->flags = s->flags;
  r->ledger.size = c->cp;
  r->ledger.nentries = s->nrefs;
  memcpy(r->ledger.entries, s->refs, s->nrefs * sizeof *s->refs);
  uint8_t buf[PR_SEAL_MAX];
  size_t len = 0;
  pr_diag d = {0};
  rc = pr_seal(&msg, m->d.agg_key, buf, sizeof buf, &len, &d);
  if (rc) {
    GL_ERROR(LOG, "cannot seal the result for %s: %s", s->meter, d.msg);
    return rc;
  }
  *out = malloc(len);
  if (!*out)
    return GL_ENOMEM;
  memcpy(*out, buf, len);
  *outlen = len;
  return 0;
}

static void seal_one(void *ctx, size_t i) {
  res_ctx *c = ctx;
  c->err[i] =
      seal_result(c, i, c->seq0 + (int64_t)i, &c->out[i], &c->outlen[i]);
}

static int seal_summary(res_ctx *c, int64_t seq) {
  const agg_market *m = c->m;
  pr_msg msg;
  int rc = pr_msg_init(&msg, PR_MSG_SUMMARY, PR_AGGREGATOR_ID, seq, c->ts);
  if (rc)
    return rc;
  pr_summary *s = &msg.summary;
  s->start = c->iv.start;
  s->end = c->iv.start + c->iv.len_s * GL_NS_PER_SEC;
  s->mode = (pr_mode)(c->iv.mode + 1);
  snprintf(s->rule, sizeof s->rule, "%s",
           c->iv.mode == MKT_MODE_CONTINUOUS
               ? "cda"
               : mkt_rule_name((mkt_rule)c->iv.rule));
  s->has_price = c->iv.has_price;
  s->price = c->iv.price;
  s->traded_wh = c->iv.volume;
  s->import_wh = c->iv.import_wh;
  s->export_wh = c->iv.export_wh;
  s->grid_buy_wh = c->iv.grid_import;
  s->grid_sell_wh = c->iv.grid_export;
  s->meters = c->iv.meters;
  s->missing = c->iv.missing;
  s->ledger_size = c->cp;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = 0;
  pr_diag d = {0};
  rc = pr_seal(&msg, m->d.agg_key, buf, sizeof buf, &len, &d);
  if (rc) {
    GL_ERROR(LOG, "cannot seal the summary: %s", d.msg);
    return rc;
  }
  c->summary = malloc(len);
  if (!c->summary)
    return GL_ENOMEM;
  memcpy(c->summary, buf, len);
  c->summary_len = len;
  return 0;
}

static int store_results(agg_market *m, void *ctx) {
  res_ctx *c = ctx;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < c->nrows; i++) {
    const agg_settle_rec *s = &c->rows[i];
    rc = agg_store_result_put(m->st, c->iv.start, s->meter,
                              c->seq0 + (int64_t)i, c->out[i], c->outlen[i]);
    agg_outbox_rec o = {.bytes = c->out[i],
                        .len = c->outlen[i],
                        .kind = AGG_PUB_RESULT,
                        .interval = c->iv.start,
                        .hold = c->cp};
    if (rc == 0)
      rc = pr_topic_build(PR_TOPIC_RESULT, m->cfg->community, s->meter, o.topic,
                          sizeof o.topic);
    if (rc == 0)
      rc = agg_store_outbox_add(m->st, &o, NULL);
  }
  if (rc == 0 && c->summary) {
    agg_outbox_rec o = {.bytes = c->summary,
                        .len = c->summary_len,
                        .kind = AGG_PUB_SUMMARY,
                        .interval = c->iv.start,
                        .hold = c->cp};
    rc = pr_topic_build(PR_TOPIC_SUMMARY, m->cfg->community, NULL, o.topic,
                        sizeof o.topic);
    if (rc == 0)
      rc = agg_store_outbox_add(m->st, &o, NULL);
  }
  if (rc == 0)
    rc =
        agg_store_interval_set_state(m->st, c->iv.start, AGG_IV_RESULTS, c->cp);
  return rc;
}

static void res_ctx_free(res_ctx *c) {
  for (size_t i = 0; c->out && i < c->nrows; i++)
    free(c->out[i]);
  free(c->out);
  free(c->outlen);
  free(c->err);
  free(c->rows);
  free(c->sides);
  free(c->first_side);
  free(c->nside);
  free(c->summary);
}

/* Group the trade sides by meter (rows and sides are both by meter). */
static int index_sides(res_ctx *c) {
  if (c->nsides)
    qsort(c->sides, c->nsides, sizeof *c->sides, cmp_tside);
  c->first_side = calloc(c->nrows ? c->nrows : 1, sizeof *c->first_side);
  c->nside = calloc(c->nrows ? c->nrows : 1, sizeof *c->nside);
  if (!c->first_side || !c->nside)
    return GL_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < c->nrows; i++) {
    while (k < c->nsides && strcmp(c->sides[k].meter, c->rows[i].meter) < 0)
      k++;
    c->first_side[i] = k;
    while (k < c->nsides && strcmp(c->sides[k].meter, c->rows[i].meter) == 0) {
      c->nside[i]++;
      k++;
    }
  }
  return 0;
}

/* Sign and queue every result of a settled interval. */
static int results(agg_market *m, const agg_interval_rec *iv) {
  int64_t t0 = real_now(m);
  res_ctx c = {.m = m, .iv = *iv, .cp = m->cp_size};
  c.ts = whole_second(gl_clock_now(m->d.clock));
  int64_t end = iv->start + 1;
  int rc = agg_store_settle_each(m->st, iv->start, end, NULL, false, 0,
                                 collect_settle, &c);
  if (rc == 0)
    rc = agg_store_trades_each(m->st, iv->start, end, NULL, false, 0,
                               collect_trade, &c);
  if (rc == 0)
    rc = index_sides(&c);
  if (rc == 0)
    rc = agg_market_reserve_seqs(m, (int64_t)c.nrows + 1);
  if (rc == 0) {
    c.out = calloc(c.nrows ? c.nrows : 1, sizeof *c.out);
    c.outlen = calloc(c.nrows ? c.nrows : 1, sizeof *c.outlen);
    c.err = calloc(c.nrows ? c.nrows : 1, sizeof *c.err);
    if (!c.out || !c.outlen || !c.err)
      rc = GL_ENOMEM;
  }
  if (rc == 0) {
    c.seq0 = m->seq_next;
    m->seq_next += (int64_t)c.nrows;
    agg_parallel_for(m->d.threads, c.nrows, seal_one, &c);
    for (size_t i = 0; rc == 0 && i < c.nrows; i++)
      rc = c.err[i];
  }
  if (rc == 0)
    rc = seal_summary(&c, agg_market_next_seq(m));
  if (rc == 0)
    crashpoint(m, "results:sealed");
  if (rc == 0)
    rc = in_tx(m, store_results, &c);
  if (rc == 0)
    crashpoint(m, "results:stored");
  res_ctx_free(&c);
  if (rc) {
    GL_ERROR(LOG, "cannot sign the results of an interval: %s",
             gl_strerror(rc));
    return rc;
  }
  m->timing.results_ns = real_now(m) - t0;
  agg_outbox_notify(m->d.outbox);
  return 0;
}

static int results_cb(void *ctx, const agg_interval_rec *iv) {
  agg_market *m = ctx;
  return results(m, iv);
}

/* After a settlement commit (and at start): the checkpoint, then the
 * results of every interval settled but not yet signed. */
static int post_settle(agg_market *m) {
  int rc = checkpoint(m);
  if (rc == 0)
    rc = agg_store_intervals_in_state(m->st, AGG_IV_RESULTS, results_cb, m);
  return rc;
}

/* ---- After an ingest commit ---------------------------------------------- */

int agg_market_after_commit(agg_market *m) {
  /* Entries the ingest batch appended (late readings, standing limits)
   * are covered by the next interval's checkpoint: a late reading changes
   * no result (docs/protocol.md, "Delivery and receipts"). */
  update_ledger_gauge(m);
  return 0;
}

/* ---- Enrolments and parameters ------------------------------------------- */

typedef struct enrol_ctx {
  lg_entry *e;
  size_t n, cap;
  char (*ids)[AGG_ID_LEN];
  int *logged;
} enrol_ctx;

static int collect_enrol(void *ctx, const agg_meter_rec *r) {
  enrol_ctx *c = ctx;
  int want =
      r->state == AGG_METER_ACTIVE ? AGG_LOGGED_ENROL : AGG_LOGGED_REVOKE;
  if (r->logged == want)
    return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    lg_entry *e = realloc(c->e, cap * sizeof *e);
    if (!e)
      return GL_ENOMEM;
    c->e = e;
    char(*ids)[AGG_ID_LEN] = realloc(c->ids, cap * sizeof *ids);
    if (!ids)
      return GL_ENOMEM;
    c->ids = ids;
    int *lg = realloc(c->logged, cap * sizeof *lg);
    if (!lg)
      return GL_ENOMEM;
    c->logged = lg;
    c->cap = cap;
  }
  lg_entry *e = &c->e[c->n];
  memset(e, 0, sizeof *e);
  e->type = LG_ENTRY_ENROLMENT;
  lg_enrolment *g = &e->u.enrolment;
  g->time = want == AGG_LOGGED_ENROL ? r->enrolled_at : r->revoked_at;
  if (g->time < 0)
    g->time = 0;
  g->action = want == AGG_LOGGED_ENROL ? LG_ENROL : LG_REVOKE;
  copy_id(g->meter_id, r->id);
  memcpy(g->pubkey, r->pub, 32);
  int rc = gl_sha256(r->cert, r->cert_len, g->cert_digest);
  if (rc)
    return rc;
  copy_id(c->ids[c->n], r->id);
  c->logged[c->n] = want;
  c->n++;
  return 0;
}

static int log_enrol_tx(agg_market *m, void *ctx) {
  enrol_ctx *c = ctx;
  int rc = lg_ledger_append_entries(m->lg, c->e, c->n, NULL);
  for (size_t i = 0; rc == 0 && i < c->n; i++)
    rc = agg_store_meter_set_logged(m->st, c->ids[i], c->logged[i]);
  return rc;
}

int agg_market_log_enrolments(agg_market *m) {
  enrol_ctx c = {0};
  int rc = agg_store_meters_each(m->st, collect_enrol, &c);
  if (rc == 0 && c.n) {
    rc = in_tx(m, log_enrol_tx, &c);
    if (rc == 0)
      GL_INFO(LOG, "logged %zu enrolment change(s) in the ledger", c.n);
  }
  free(c.e);
  free(c.ids);
  free(c.logged);
  return rc;
}

typedef struct param_ctx {
  lg_entry e[16];
  size_t n;
} param_ctx;

static int log_params_tx(agg_market *m, void *ctx) {
  param_ctx *c = ctx;
  int rc = lg_ledger_append_entries(m->lg, c->e, c->n, NULL);
  for (size_t i = 0; rc == 0 && i < c->n; i++) {
    char key[LG_PARAM_KEY_MAX + 16];
    snprintf(key, sizeof key, "param:%s", c->e[i].u.param.key);
    rc = agg_store_meta_set_text(m->st, key, c->e[i].u.param.value);
  }
  return rc;
}

/* Log the market parameters that differ from the ones last logged. */
static int log_params(agg_market *m) {
  const agg_config *cfg = m->cfg;
  char v[16][64];
  const char *keys[16];
  size_t n = 0;
#define PARAM(k, ...)                                                          \
  do {                                                                         \
    keys[n] = k;                                                               \
    snprintf(v[n], sizeof v[n], __VA_ARGS__);                                  \
    n++;                                                                       \
  } while (0)
  PARAM("market.mode", "%s", mkt_mode_name((mkt_mode)cfg->mode));
  PARAM("market.rule", "%s", mkt_rule_name((mkt_rule)cfg->rule));
  PARAM("market.k_ppm", "%" PRId64, cfg->k_ppm);
  PARAM("market.rationing", "%s",
        mkt_rationing_name((mkt_rationing)cfg->rationing));
  PARAM("market.interval_s", "%" PRId64, m->len_s);
  PARAM("market.grace_s", "%" PRId64, cfg->grace_eff / GL_NS_PER_SEC);
  PARAM("market.gate_closure_s", "%" PRId64, cfg->gate_closure / GL_NS_PER_SEC);
  PARAM("market.tick", "%" PRId64, cfg->tick);
  PARAM("market.retail", "%" PRId64, cfg->retail);
  PARAM("market.feed_in", "%" PRId64, cfg->feed_in);
  PARAM("market.fee", "%" PRId64, cfg->fee);
  PARAM("market.self_trade", "%s",
        cfg->allow_self_trade ? "allowed" : "prevented");
#undef PARAM
  param_ctx c = {.n = 0};
  int64_t from = m->last + m->L;
  for (size_t i = 0; i < n; i++) {
    char key[LG_PARAM_KEY_MAX + 16], old[LG_PARAM_VALUE_MAX + 1];
    snprintf(key, sizeof key, "param:%s", keys[i]);
    int g = agg_store_meta_get_text(m->st, key, old, sizeof old);
    if (g && g != GL_ENOENT)
      return g;
    if (g == 0 && strcmp(old, v[i]) == 0)
      continue;
    lg_entry *e = &c.e[c.n++];
    memset(e, 0, sizeof *e);
    e->type = LG_ENTRY_PARAM;
    e->u.param.effective_from = from;
    memcpy(e->u.param.key, keys[i],
           strnlen(keys[i], sizeof e->u.param.key - 1));
    memcpy(e->u.param.value, v[i], strnlen(v[i], sizeof v[i] - 1));
    if (g == 0)
      GL_NOTICE(LOG, "%s changes from %s to %s", keys[i], old, v[i]);
  }
  if (!c.n)
    return 0;
  return in_tx(m, log_params_tx, &c);
}

/* ---- Creation and recovery ----------------------------------------------- */

int agg_market_new(const agg_market_deps *deps, agg_market **out) {
  *out = NULL;
  agg_market *m = calloc(1, sizeof *m);
  if (!m)
    return GL_ENOMEM;
  m->d = *deps;
  if (m->d.threads < 1)
    m->d.threads = 1;
  m->cfg = deps->cfg;
  m->st = deps->st;
  m->L = m->cfg->interval;
  m->len_s = m->L / GL_NS_PER_SEC;
  agg_config_market(m->cfg, &m->mcfg);
  lg_ledger_options o = {
      .origin = m->cfg->origin, .create = true, .clock = deps->clock};
  int rc = lg_ledger_open_db(agg_store_db(m->st), &o, &m->lg);
  if (rc) {
    GL_ERROR(LOG, "cannot open the ledger (origin %s): %s", m->cfg->origin,
             gl_strerror(rc));
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void agg_market_free(agg_market *m) {
  if (!m)
    return;
  lg_ledger_free(m->lg);
  mkt_interval_free(m->iv);
  for (size_t i = 0; i < m->nbooks; i++)
    book_free(m->books[i]);
  free(m->books);
  free(m->counts);
  free(m);
}

lg_ledger *agg_market_ledger(agg_market *m) {
  return m->lg;
}

static int count_cb(void *ctx, int64_t interval, int64_t n) {
  agg_market *m = ctx;
  count_item *c = count_find(m, interval, true);
  if (!c)
    return GL_ENOMEM;
  c->n = n;
  return 0;
}

static int replay_order(void *ctx, const agg_order_rec *o) {
  agg_market *m = ctx;
  bool applied;
  int rc = book_apply(m, o, false, &applied);
  return rc == GL_EFULL ? 0 : rc;
}

static int init_meta(agg_market *m, void *ctx) {
  (void)ctx;
  int64_t now = gl_clock_now(m->d.clock);
  m->first = gl_floor_div(now, m->L) * m->L;
  int rc = agg_store_meta_set(m->st, "first_interval", m->first);
  if (rc == 0)
    rc = agg_store_meta_set(m->st, "interval_ns", m->L);
  if (rc == 0)
    rc = agg_store_meta_set_text(m->st, "community", m->cfg->community);
  return rc;
}

/* ---- The published checkpoint -------------------------------------------- */

int agg_market_check_published(agg_market *m, const char *note) {
  lg_policy pol = {.log_key = &m->d.log_key->vkey};
  lg_checkpoint cp;
  const char *why = NULL;
  if (lg_policy_verify(&pol, note, strlen(note), &cp, NULL, &why) != 0) {
    GL_WARN(LOG,
            "the broker's retained checkpoint does not verify with the log "
            "key %s (%s): the database is not checked against it",
            m->cfg->ledger_key, why ? why : "?");
    return 0;
  }
  uint64_t size = 0;
  int rc = lg_ledger_size(m->lg, &size);
  if (rc)
    return rc;
  char db[64];
  snprintf(db, sizeof db, "%" PRIu64 " entries", size);
  if (cp.size > size) {
    GL_ERROR(LOG,
             "the database %s is BEHIND what this aggregator published: the "
             "broker retains a signed checkpoint of %" PRIu64
             " ledger entries, the database's ledger has %s. Was it "
             "restored from an old backup? Restore the newest backup (or "
             "the database itself); starting from this one would settle "
             "again intervals the meters already hold results for. Not "
             "starting",
             m->cfg->db_path, cp.size, db);
    return GL_ECONFLICT;
  }
  uint8_t root[LG_HASH_LEN];
  rc = lg_ledger_root(m->lg, cp.size, root);
  if (rc)
    return rc;
  if (!gl_memeq_ct(root, cp.root, LG_HASH_LEN)) {
    GL_ERROR(LOG,
             "the database %s does not contain the ledger this aggregator "
             "published: at size %" PRIu64
             " its root differs from the signed checkpoint the broker "
             "retains. Was it restored from an old backup, or is it another "
             "community's? Not starting (a deliberately new ledger: clear "
             "the retained message, mosquitto_pub -r -n -t "
             "gridlet/%s/public/checkpoint)",
             m->cfg->db_path, cp.size, m->cfg->community);
    return GL_ECONFLICT;
  }
  GL_INFO(LOG,
          "the published checkpoint (%" PRIu64 " entries) is consistent "
          "with the database (%s)",
          cp.size, db);
  return 0;
}

/* ---- Clean and unclean stops --------------------------------------------- */

typedef struct recov {
  int64_t clean;      /* the marker to store */
  int64_t recover_at; /* to store when not 0 */
} recov;

static int recovery_tx(agg_market *m, void *ctx) {
  const recov *r = ctx;
  int rc = agg_store_meta_set(m->st, "clean_shutdown", r->clean);
  if (rc == 0 && r->recover_at)
    rc = agg_store_meta_set(m->st, "recover_at", r->recover_at);
  return rc;
}

/* The marker "clean_shutdown" is 1 only between a clean stop and the next
 * start: found missing or 0, the last run died with messages that paho
 * had acknowledged to the broker possibly neither verified nor stored. */
static int recovery_start(agg_market *m, bool created) {
  int64_t clean = 0;
  int rc = agg_store_meta_get(m->st, "clean_shutdown", &clean);
  if (rc == GL_ENOENT) {
    /* A database of an older version stopped cleanly or not: assume not. */
    clean = created;
    rc = 0;
  }
  if (rc)
    return rc;
  recov r = {.clean = 0};
  if (!clean) {
    r.recover_at = gl_clock_now(m->d.clock);
    char a[GL_TIME_STR_MAX], dur[32];
    GL_WARN(LOG,
            "the last run did not stop cleanly: readings it had received may "
            "be lost; intervals ending before %s with readings missing wait "
            "up to market.receipt_timeout (%s) past their end for the "
            "meters' re-sends before they settle",
            gl_time_format(r.recover_at, a),
            gl_duration_format(m->cfg->receipt_timeout_eff, dur, sizeof dur));
  } else {
    /* A clean stop during an earlier hold: the hold still applies. */
    int64_t v = 0;
    int g = agg_store_meta_get(m->st, "recover_at", &v);
    if (g == 0)
      m->recover_at = v;
    else if (g != GL_ENOENT)
      return g;
  }
  rc = in_tx(m, recovery_tx, &r);
  if (rc == 0 && r.recover_at)
    m->recover_at = r.recover_at;
  return rc;
}

int agg_market_stopped_cleanly(agg_market *m) {
  recov r = {.clean = 1};
  int rc = in_tx(m, recovery_tx, &r);
  if (rc)
    GL_ERROR(LOG, "cannot record the clean stop: %s", gl_strerror(rc));
  return rc;
}

int agg_market_start(agg_market *m) {
  int64_t v = 0;
  bool created = false;
  int rc = agg_store_meta_get(m->st, "interval_ns", &v);
  if (rc == GL_ENOENT) {
    rc = in_tx(m, init_meta, NULL);
    v = m->L;
    created = true;
  } else if (rc == 0) {
    rc = agg_store_meta_get(m->st, "first_interval", &m->first);
  }
  if (rc)
    return rc;
  if (v != m->L) {
    char a[32], b[32];
    GL_ERROR(LOG,
             "this database settles intervals of %s; the configuration says "
             "%s. Changing the interval length of a running community is not "
             "supported (start a new database)",
             gl_duration_format(v, a, sizeof a),
             gl_duration_format(m->L, b, sizeof b));
    return GL_ECONFLICT;
  }
  char comm[PR_COMMUNITY_MAX + 1];
  if (agg_store_meta_get_text(m->st, "community", comm, sizeof comm) == 0 &&
      strcmp(comm, m->cfg->community) != 0) {
    GL_ERROR(LOG, "this database belongs to community \"%s\", not \"%s\"", comm,
             m->cfg->community);
    return GL_ECONFLICT;
  }
  agg_interval_rec last;
  rc = agg_store_interval_last(m->st, &last);
  if (rc == 0)
    m->last = last.start;
  else if (rc == GL_ENOENT)
    m->last = m->first - m->L;
  else
    return rc;
  rc = recovery_start(m, created);
  if (rc)
    return rc;
  rc = agg_store_meta_get(m->st, "seq_hwm", &m->seq_hwm);
  if (rc == GL_ENOENT) {
    m->seq_hwm = 1;
    rc = 0;
  }
  if (rc)
    return rc;
  m->seq_next = m->seq_hwm; /* numbers below were reserved before a crash */
  char *note = NULL;
  int64_t cps = 0;
  rc = agg_store_checkpoint_get(m->st, 0, &note, &cps, NULL);
  free(note);
  if (rc == 0)
    m->cp_size = cps;
  else if (rc != GL_ENOENT)
    return rc;
  rc = agg_store_reading_counts(m->st, m->last, count_cb, m);
  if (rc == 0 && m->cfg->mode == MKT_MODE_CONTINUOUS) {
    rc = agg_store_orders_each(m->st, m->last, false, replay_order, m);
    close_books(m, gl_clock_now(m->d.clock));
  }
  if (rc == 0)
    rc = log_params(m);
  if (rc == 0)
    rc = agg_market_log_enrolments(m);
  /* A crash may have left a settlement without its checkpoint or results. */
  if (rc == 0)
    rc = post_settle(m);
  if (rc == 0 && m->d.metrics) {
    agg_gauge(&m->d.metrics->checkpoint_size, m->cp_size);
    agg_gauge(&m->d.metrics->last_settled, m->last >= m->first ? m->last : 0);
  }
  update_ledger_gauge(m);
  if (rc == 0) {
    char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
    GL_INFO(LOG, "market %s, rule %s; first interval %s, last settled %s",
            mkt_mode_name((mkt_mode)m->cfg->mode),
            mkt_rule_name((mkt_rule)m->cfg->rule), gl_time_format(m->first, a),
            m->last >= m->first ? gl_time_format(m->last, b) : "none");
  }
  return rc;
}

/* ---- Driving ------------------------------------------------------------- */

void agg_market_online(agg_market *m, int64_t t) {
  m->online_since = t;
}

int agg_market_session_gap(agg_market *m, int64_t t) {
  if (t <= m->recover_at)
    return 0;
  m->recover_at = t;
  char a[GL_TIME_STR_MAX], dur[32];
  GL_WARN(LOG,
          "messages sent while the broker connection was down may be lost: "
          "intervals ending before %s with readings missing wait up to "
          "market.receipt_timeout (%s) past their end for the meters' "
          "re-sends before they settle",
          gl_time_format(t, a),
          gl_duration_format(m->cfg->receipt_timeout_eff, dur, sizeof dur));
  recov r = {.clean = 0, .recover_at = t};
  int rc = in_tx(m, recovery_tx, &r);
  if (rc)
    GL_ERROR(LOG, "cannot store the wait for re-sends: %s", gl_strerror(rc));
  return rc;
}

/* The hold after an unclean stop: a reading paho acknowledged before the
 * crash is re-sent by its meter (the same signed bytes) when no receipt
 * came, at max(end + receipt_timeout, its PUBACK + one interval)
 * (docs/protocol.md); the PUBACK was before recover_at. */
static int64_t hold_until(const agg_market *m, int64_t start) {
  int64_t end = start + m->L;
  if (!m->recover_at || end > m->recover_at)
    return INT64_MIN;
  int64_t a = end + m->cfg->receipt_timeout_eff;
  int64_t b = m->recover_at + m->L;
  return (a > b ? a : b) + m->cfg->grace_eff;
}

static int64_t deadline(const agg_market *m, int64_t start) {
  int64_t end = start + m->L;
  int64_t from = end > m->online_since ? end : m->online_since;
  int64_t d = from + m->cfg->grace_eff;
  int64_t h = hold_until(m, start);
  return h > d ? h : d;
}

static bool all_in(agg_market *m, int64_t start) {
  return count_of(m, start) >= (int64_t)agg_meters_active(m->d.meters);
}

int64_t agg_market_next(const agg_market *m, int64_t now) {
  (void)now;
  int64_t next = m->last + m->L;
  int64_t end = next + m->L;
  int64_t t = all_in((agg_market *)m, next) ? end : deadline(m, next);
  for (size_t i = 0; i < m->nbooks; i++) {
    const book *b = m->books[i];
    int64_t gate = b->interval - m->cfg->gate_closure;
    if (!b->closed && gate < t)
      t = gate;
  }
  return t;
}

int agg_market_tick(agg_market *m, int64_t now, bool online, int *settled) {
  if (settled)
    *settled = 0;
  if (m->cfg->mode == MKT_MODE_CONTINUOUS)
    close_books(m, now);
  while (online) {
    int64_t next = m->last + m->L;
    if (now < next + m->L)
      break;
    if (!all_in(m, next) && now < deadline(m, next))
      break;
    int rc = settle(m, next);
    if (rc)
      return rc;
    if (settled)
      (*settled)++;
  }
  return 0;
}

int agg_market_settle_next(agg_market *m) {
  int64_t next = m->last + m->L;
  if (gl_clock_now(m->d.clock) < next + m->L)
    return GL_EAGAIN;
  return settle(m, next);
}

void agg_market_last_timing(const agg_market *m, agg_market_timing *t) {
  *t = m->timing;
}
