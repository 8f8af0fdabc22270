/* SPDX-License-Identifier: MIT */
/* replay.c - see replay.h. */
#include "replay.h"

#include "gridlet/agg_market.h"
#include "gridlet/error.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/market_interval.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct limit {
  char meter[LG_METER_ID_MAX + 1];
  uint64_t seq;
  int64_t effective;
  int side;
  int64_t price;
} limit;

typedef struct rctx {
  replay_report *rep;
  /* standing limits ever logged */
  limit *lim;
  size_t nlim, caplim;
  /* params */
  int32_t k_ppm;
  mkt_rationing rationing;
  bool self_trade;
  /* the current interval's entries */
  lg_entry *pending;
  size_t npending, cappending;
  int failed;
} rctx;

static int problem(rctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int problem(rctx *c, const char *fmt, ...) {
  if (!c->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->rep->problem, sizeof c->rep->problem, fmt, ap);
    va_end(ap);
  }
  c->failed = 1;
  return -1;
}

static int row_of(const lg_settlement *s, const char *meter) {
  size_t lo = 0, hi = s->n_rows;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(s->rows[mid].meter_id, meter);
    if (c == 0)
      return (int)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

static int recompute(rctx *c, const lg_clearing *cl, const lg_settlement *s) {
  int64_t start = s->interval_start;
  size_t n = s->n_rows;
  int64_t *net = calloc(n + 1, sizeof *net);
  bool *meas = calloc(n + 1, sizeof *meas);
  mkt_order *orders = calloc(c->npending + 1, sizeof *orders);
  mkt_standing *stg = calloc(n + 1, sizeof *stg);
  mkt_meter *mtr = calloc(n + 1, sizeof *mtr);
  mkt_trade *tr = calloc(cl->n_trades + 1, sizeof *tr);
  size_t nord = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    meas[i] = !(s->rows[i].flags & LG_SETTLE_NO_READING);
  for (size_t i = 0; i < c->npending; i++) {
    const lg_entry *e = &c->pending[i];
    if (e->type == LG_ENTRY_READING && e->u.reading.interval_start == start &&
        !(e->u.reading.flags & AGG_READING_LATE)) {
      int r = row_of(s, e->u.reading.meter_id);
      if (r >= 0)
        net[r] = e->u.reading.import_wh - e->u.reading.export_wh;
    } else if (e->type == LG_ENTRY_ORDER && e->u.order.quantity_wh > 0 &&
               e->u.order.interval_start == start) {
      int r = row_of(s, e->u.order.meter_id);
      if (r < 0 || !meas[r]) {
        rc = problem(c, "order of %s for an interval it was not measured in",
                     e->u.order.meter_id);
        break;
      }
      mkt_order *o = &orders[nord];
      o->id = nord + 1;
      o->participant = (uint32_t)r;
      o->side = e->u.order.side == LG_SIDE_BUY ? MKT_BUY : MKT_SELL;
      o->interval = start;
      o->qty = e->u.order.quantity_wh;
      o->price = e->u.order.limit_price;
      nord++;
    }
  }
  mkt_interval_config cfg = {
      .mode = cl->mode == LG_MODE_EXPOST   ? MKT_MODE_EXPOST
              : cl->mode == LG_MODE_EXANTE ? MKT_MODE_EXANTE
                                           : MKT_MODE_CONTINUOUS,
      .band = {.feed_in = s->feedin_price,
               .retail = s->retail_price,
               .fee = s->fee_price},
      .rule = cl->rule ? (mkt_rule)(cl->rule - 1) : MKT_RULE_MARGINAL,
      .k_ppm = c->k_ppm,
      .rationing = c->rationing,
      .allow_self_trade = c->self_trade};
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!meas[i])
      continue;
    mtr[k].participant = (uint32_t)i;
    mtr[k].net = net[i];
    stg[k].participant = (uint32_t)i;
    stg[k].net = net[i];
    stg[k].buy_limit = AGG_NO_BUY_LIMIT;
    stg[k].sell_limit = 0;
    uint64_t bseq = 0, sseq = 0;
    for (size_t l = 0; l < c->nlim; l++) {
      const limit *x = &c->lim[l];
      if (x->effective > start || strcmp(x->meter, s->rows[i].meter_id) != 0)
        continue;
      if (x->side == LG_SIDE_BUY && x->seq > bseq) {
        bseq = x->seq;
        stg[k].buy_limit = x->price;
      }
      if (x->side == LG_SIDE_SELL && x->seq > sseq) {
        sseq = x->seq;
        stg[k].sell_limit = x->price;
      }
    }
    k++;
  }
  for (size_t i = 0; rc == 0 && i < cl->n_trades; i++) {
    int b = row_of(s, cl->trades[i].buyer),
        sl = row_of(s, cl->trades[i].seller);
    if (b < 0 || sl < 0) {
      rc = problem(c, "clearing trade names a meter without a row");
      break;
    }
    tr[i].buyer = (uint32_t)b;
    tr[i].seller = (uint32_t)sl;
    tr[i].qty = cl->trades[i].energy_wh;
    tr[i].buy_price = tr[i].sell_price = cl->trades[i].price;
    tr[i].buy_id = 2 * i + 1;
    tr[i].sell_id = 2 * i + 2;
  }
  mkt_interval *iv = NULL;
  mkt_interval_result res;
  if (rc == 0 && mkt_interval_new(n + 1, nord + cl->n_trades + 1, &iv) != 0)
    rc = problem(c, "no memory");
  if (rc == 0) {
    int r =
        cfg.mode == MKT_MODE_EXPOST
            ? mkt_interval_expost(iv, &cfg, start, stg, k, 1, &res)
        : cfg.mode == MKT_MODE_EXANTE
            ? mkt_interval_exante(iv, &cfg, start, orders, nord, mtr, k, &res)
            : mkt_interval_continuous(iv, &cfg, start, tr, cl->n_trades, mtr, k,
                                      &res);
    if (r)
      rc = problem(c, "interval %" PRId64 ": the pipeline refused: %s", start,
                   gl_strerror(r));
  }
  if (rc == 0) {
    if (res.n_trades != cl->n_trades)
      rc = problem(c, "interval %" PRId64 ": %zu trades, ledger has %zu", start,
                   res.n_trades, cl->n_trades);
    for (size_t i = 0; rc == 0 && i < res.n_trades; i++) {
      const mkt_trade *t = &res.trades[i];
      if (strcmp(s->rows[t->buyer].meter_id, cl->trades[i].buyer) ||
          strcmp(s->rows[t->seller].meter_id, cl->trades[i].seller) ||
          t->qty != cl->trades[i].energy_wh ||
          t->buy_price != cl->trades[i].price)
        rc = problem(c, "interval %" PRId64 ": trade %zu differs", start, i);
    }
    c->rep->trades += res.n_trades;
    int64_t util = res.totals.utility_net + res.totals.surplus;
    if (rc == 0 &&
        (util != s->utility_money || res.totals.fees != s->fee_money))
      rc = problem(c, "interval %" PRId64 ": utility/fee money differs", start);
    size_t a = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
      const lg_settlement_row *r = &s->rows[i];
      if (!meas[i]) {
        if (r->local_bought_wh || r->local_sold_wh || r->grid_import_wh ||
            r->grid_export_wh || r->fee || r->money)
          rc =
              problem(c, "%s: settled although without a reading", r->meter_id);
        continue;
      }
      const mkt_account *x = &res.accounts[a++];
      if (x->bought != r->local_bought_wh || x->sold != r->local_sold_wh ||
          x->grid_import != r->grid_import_wh ||
          x->grid_export != r->grid_export_wh || x->fee_paid != r->fee ||
          x->net != r->money)
        rc = problem(c,
                     "interval %" PRId64 ", %s: recomputed %" PRId64
                     " money, ledger %" PRId64,
                     start, r->meter_id, x->net, r->money);
      c->rep->rows++;
    }
  }
  mkt_interval_free(iv);
  free(net);
  free(meas);
  free(orders);
  free(stg);
  free(mtr);
  free(tr);
  c->rep->intervals++;
  return rc;
}

static void clear_pending(rctx *c) {
  for (size_t i = 0; i < c->npending; i++)
    lg_entry_clear(&c->pending[i]);
  c->npending = 0;
}

static int visit(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
  rctx *c = ctx;
  lg_entry e;
  const char *why = NULL;
  if (lg_entry_decode(data, len, &e, &why) != 0)
    return problem(c, "entry %" PRIu64 ": %s", index, why);
  if (e.type == LG_ENTRY_ORDER && e.u.order.quantity_wh == 0) {
    if (c->nlim == c->caplim) {
      c->caplim = c->caplim ? 2 * c->caplim : 64;
      c->lim = realloc(c->lim, c->caplim * sizeof *c->lim);
    }
    limit *l = &c->lim[c->nlim++];
    memcpy(l->meter, e.u.order.meter_id, sizeof l->meter);
    l->seq = e.u.order.seq;
    l->effective = e.u.order.interval_start;
    l->side = e.u.order.side;
    l->price = e.u.order.limit_price;
    return 0;
  }
  if (e.type == LG_ENTRY_PARAM) {
    int64_t v = 0;
    if (strcmp(e.u.param.key, "market.k_ppm") == 0 &&
        sscanf(e.u.param.value, "%" SCNd64, &v) == 1)
      c->k_ppm = (int32_t)v;
    else if (strcmp(e.u.param.key, "market.rationing") == 0)
      mkt_rationing_parse(e.u.param.value, &c->rationing);
    else if (strcmp(e.u.param.key, "market.self_trade") == 0)
      c->self_trade = strcmp(e.u.param.value, "allowed") == 0;
    return 0;
  }
  if (e.type == LG_ENTRY_ENROLMENT)
    return 0;
  if (e.type == LG_ENTRY_SETTLEMENT) {
    /* The clearing is the entry just before. */
    int rc = -1;
    if (c->npending && c->pending[c->npending - 1].type == LG_ENTRY_CLEARING)
      rc = recompute(c, &c->pending[c->npending - 1].u.clearing,
                     &e.u.settlement);
    else
      problem(c, "settlement %" PRIu64 " without its clearing before it",
              index);
    lg_entry_clear(&e);
    clear_pending(c);
    return rc ? -1 : 0;
  }
  if (c->npending == c->cappending) {
    c->cappending = c->cappending ? 2 * c->cappending : 256;
    c->pending = realloc(c->pending, c->cappending * sizeof *c->pending);
  }
  c->pending[c->npending++] = e;
  return 0;
}

int replay_ledger(lg_ledger *lg, replay_report *rep) {
  memset(rep, 0, sizeof *rep);
  rctx c = {.rep = rep, .k_ppm = 500000};
  uint64_t size = 0;
  if (lg_ledger_size(lg, &size) != 0)
    return -1;
  int rc = lg_ledger_scan(lg, 0, size, visit, &c);
  clear_pending(&c);
  free(c.pending);
  free(c.lim);
  return rc || c.failed ? -1 : 0;
}
