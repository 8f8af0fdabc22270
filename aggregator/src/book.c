/* SPDX-License-Identifier: MIT */
/*
 * book.c - an interval's order book rebuilt from the store. See
 * gridlet/agg_book.h for the rules (the market cycle's, in market.c's
 * run_market).
 */
#include "gridlet/agg_book.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct collect {
  agg_reading_rec *rd; /* measured on-time readings, by meter id */
  size_t nrd, caprd;
  agg_prefs_rec *pf; /* expost: limits in force, by meter id */
  size_t npf, cappf;
  agg_order_rec *ord; /* orders of the interval, arrival order */
  size_t nord, capord;
  agg_book_order *out;
  size_t nout, capout;
  const mkt_band *band;
  int rc;
} collect;

static bool grow(void **v, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return true;
  size_t c = *cap ? *cap : 16;
  while (c < need)
    c *= 2;
  void *n = realloc(*v, c * size);
  if (!n)
    return false;
  *v = n;
  *cap = c;
  return true;
}

static int on_reading(void *ctx, const agg_reading_rec *r) {
  collect *c = ctx;
  if (r->flags & PR_FLAG_MISSING)
    return 0; /* delivered "no data": not measured, takes no part */
  if (!grow((void **)&c->rd, &c->caprd, c->nrd + 1, sizeof *c->rd))
    return GL_ENOMEM;
  c->rd[c->nrd++] = *r;
  return 0;
}

static int cmp_reading(const void *k, const void *e) {
  return strcmp((const char *)k, ((const agg_reading_rec *)e)->meter);
}

static const agg_reading_rec *measured(const collect *c, const char *meter) {
  return c->nrd ? bsearch(meter, c->rd, c->nrd, sizeof *c->rd, cmp_reading)
                : NULL;
}

static agg_book_order *add(collect *c) {
  if (!grow((void **)&c->out, &c->capout, c->nout + 1, sizeof *c->out)) {
    c->rc = GL_ENOMEM;
    return NULL;
  }
  agg_book_order *o = &c->out[c->nout++];
  memset(o, 0, sizeof *o);
  return o;
}

/* expost: the standing limits in force of measured meters, by meter id. */
static int on_prefs(void *ctx, const agg_prefs_rec *p) {
  collect *c = ctx;
  if (!measured(c, p->meter))
    return 0;
  if (!grow((void **)&c->pf, &c->cappf, c->npf + 1, sizeof *c->pf))
    return GL_ENOMEM;
  c->pf[c->npf++] = *p;
  return 0;
}

static int on_order(void *ctx, const agg_order_rec *o) {
  collect *c = ctx;
  if (!measured(c, o->meter))
    return 0;
  if (!grow((void **)&c->ord, &c->capord, c->nord + 1, sizeof *c->ord))
    return GL_ENOMEM;
  c->ord[c->nord++] = *o;
  return 0;
}

static int cmp_prefs(const void *k, const void *e) {
  return strcmp((const char *)k, ((const agg_prefs_rec *)e)->meter);
}

static int expost(agg_store *st, const agg_interval_rec *iv, collect *c) {
  int rc = agg_store_prefs_in_force(st, iv->start, on_prefs, c);
  if (rc)
    return rc;
  for (size_t i = 0; i < c->nrd && c->rc == 0; i++) {
    const agg_reading_rec *r = &c->rd[i];
    int64_t net = r->import_wh - r->export_wh;
    if (net == 0)
      continue; /* places nothing */
    const agg_prefs_rec *p =
        c->npf ? bsearch(r->meter, c->pf, c->npf, sizeof *c->pf, cmp_prefs)
               : NULL;
    agg_book_order *o = add(c);
    if (!o)
      break;
    memcpy(o->meter, r->meter, sizeof o->meter);
    o->seq = r->seq;
    if (net > 0) {
      o->side = MKT_BUY;
      o->wh = net;
      o->has_limit = p && p->has_buy;
      o->limit = o->has_limit ? p->buy : 0;
      /* No limit: "any price in the band", which bids at the top. */
      o->price =
          o->has_limit ? mkt_band_clamp(c->band, o->limit) : c->band->retail;
    } else {
      o->side = MKT_SELL;
      o->wh = -net;
      o->has_limit = p && p->has_sell;
      o->limit = o->has_limit ? p->sell : 0;
      o->price =
          o->has_limit ? mkt_band_clamp(c->band, o->limit) : c->band->feed_in;
    }
  }
  return c->rc;
}

static int by_orders(agg_store *st, const agg_interval_rec *iv, collect *c) {
  int rc = agg_store_orders_each(st, iv->start, true, on_order, c);
  if (rc)
    return rc;
  /* Each meter's latest order (highest seq) counts: find it per measured
   * meter (readings are by meter id), then emit in arrival order. */
  int64_t *latest = calloc(c->nrd ? c->nrd : 1, sizeof *latest);
  if (!latest)
    return GL_ENOMEM;
  for (size_t i = 0; i < c->nord; i++) {
    size_t k = (size_t)(measured(c, c->ord[i].meter) - c->rd);
    if (c->ord[i].seq > latest[k])
      latest[k] = c->ord[i].seq;
  }
  for (size_t i = 0; i < c->nord && c->rc == 0; i++) {
    const agg_order_rec *o = &c->ord[i];
    size_t k = (size_t)(measured(c, o->meter) - c->rd);
    for (size_t s = 0; o->seq == latest[k] && s < o->nsteps; s++) {
      agg_book_order *b = add(c);
      if (!b)
        break;
      memcpy(b->meter, o->meter, sizeof b->meter);
      b->side = o->steps[s].side == PR_SIDE_BUY ? MKT_BUY : MKT_SELL;
      b->wh = o->steps[s].wh;
      b->has_limit = true;
      b->limit = o->steps[s].price;
      b->price = mkt_band_clamp(c->band, b->limit);
      b->seq = o->seq;
    }
  }
  free(latest);
  return c->rc;
}

/* Price order with arrival (the index in the output) as the tie-break. */
typedef struct ranked {
  const agg_book_order *o;
  size_t at;
} ranked;

static int cmp_bid(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->o->price != y->o->price)
    return x->o->price > y->o->price ? -1 : 1;
  return x->at < y->at ? -1 : (x->at > y->at);
}

static int cmp_offer(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->o->price != y->o->price)
    return x->o->price < y->o->price ? -1 : 1;
  return x->at < y->at ? -1 : (x->at > y->at);
}

static int split(collect *c, agg_book *out) {
  size_t nb = 0, ns = 0;
  for (size_t i = 0; i < c->nout; i++) {
    if (c->out[i].side == MKT_BUY)
      nb++;
    else
      ns++;
  }
  ranked *r = calloc(c->nout ? c->nout : 1, sizeof *r);
  out->bids = calloc(nb ? nb : 1, sizeof *out->bids);
  out->offers = calloc(ns ? ns : 1, sizeof *out->offers);
  if (!r || !out->bids || !out->offers) {
    free(r);
    return GL_ENOMEM;
  }
  for (int side = 0; side < 2; side++) {
    size_t n = 0;
    for (size_t i = 0; i < c->nout; i++)
      if ((c->out[i].side == MKT_BUY) == (side == 0))
        r[n++] = (ranked){&c->out[i], i};
    qsort(r, n, sizeof *r, side == 0 ? cmp_bid : cmp_offer);
    agg_book_order *dst = side == 0 ? out->bids : out->offers;
    for (size_t i = 0; i < n; i++)
      dst[i] = *r[i].o;
  }
  out->nbids = nb;
  out->noffers = ns;
  free(r);
  return 0;
}

int agg_book_build(agg_store *st, const agg_interval_rec *iv, agg_book *out) {
  memset(out, 0, sizeof *out);
  out->interval = iv->start;
  out->mode = iv->mode;
  out->band = (mkt_band){
      .feed_in = iv->feed_in, .retail = iv->retail, .fee = iv->fee_price};
  collect c = {.band = &out->band};
  int rc = agg_store_readings_each(st, iv->start, true, on_reading, &c);
  if (rc == 0)
    rc = iv->mode == MKT_MODE_EXPOST ? expost(st, iv, &c)
                                     : by_orders(st, iv, &c);
  if (rc == 0)
    rc = split(&c, out);
  free(c.rd);
  free(c.pf);
  free(c.ord);
  free(c.out);
  if (rc)
    agg_book_clear(out);
  return rc;
}

void agg_book_clear(agg_book *b) {
  free(b->bids);
  free(b->offers);
  b->bids = b->offers = NULL;
  b->nbids = b->noffers = 0;
}
