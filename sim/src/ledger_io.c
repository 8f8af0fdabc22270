/* SPDX-License-Identifier: MIT */
/*
 * ledger_io.c - a ledger as the simulator's input, verification of a
 * replay against it, and a run written out as a ledger. See
 * gridlet/sim_ledger.h for the rules.
 *
 * The reader streams: entries are read in chunks, and only the entries of
 * intervals not yet settled are kept (normally one interval's batch), plus
 * per-meter state (standing limits); nothing grows with the time span.
 */
#include "gridlet/sim_ledger.h"

#include "research_int.h"

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK 4096
#define NONE INT64_MIN

typedef struct p_reading {
  int64_t start;
  size_t p;
  uint64_t seq;
  int64_t net;
} p_reading;

typedef struct p_order {
  int64_t start;
  size_t p;
  uint64_t seq;
  uint8_t side;
  int64_t qty, price;
} p_order;

typedef struct p_clearing {
  int64_t start;
  uint8_t mode, rule;
  mkt_trade *trades; /* owned */
  size_t n_trades;
} p_clearing;

/* A market parameter waiting for its effective time. */
typedef struct p_param {
  int64_t from;
  int key; /* PK_* */
  int64_t k_ppm;
  mkt_rationing rationing;
  bool allow;
} p_param;

enum { PK_K, PK_RATIONING, PK_SELF_TRADE };

struct sim_ledger_in {
  const sim_scenario *sc;
  lg_ledger *lg;
  sim__idmap *map;
  size_t n;
  const char **meters; /* sorted */
  size_t *sorted_of;
  uint64_t size, settlements;
  int64_t first, last, interval;
  char root[65];
  /* Streaming. */
  uint64_t pos;
  int64_t last_settled;
  uint64_t late;
  p_reading *reads;
  size_t n_reads, cap_reads;
  p_order *orders;
  size_t n_orders_p, cap_orders_p;
  p_clearing clear[8];
  size_t n_clear;
  mkt_trade *frame_trades;
  size_t cap_frame_trades;
  p_param params[16];
  size_t n_params;
  bool has_k, has_rationing, has_self_trade;
  int32_t k_ppm;
  mkt_rationing rationing;
  bool allow_self_trade;
  /* Per participant. */
  uint8_t *present;
  int64_t *net;
  uint64_t *rseq; /* best reading seq + 1 this interval, 0 = none */
  int64_t *buy, *sell;
  uint64_t *buy_seq, *sell_seq; /* + 1, 0 = none */
  uint64_t *oseq;               /* best order seq + 1 this interval */
  sim_recorded_row *rows;
  mkt_order *frame_orders;
  size_t cap_frame_orders;
  sim_ledger_frame frame;
  /* Visitor state. */
  sim_diag *diag;
  int errors;
  bool stop;
  int64_t from, to;
  int result; /* 1: frame ready */
};

/* ---- Pre-pass ------------------------------------------------------------ */

static void lerr(sim_ledger_in *l, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lerr(sim_ledger_in *l, uint64_t index, const char *fmt, ...) {
  char buf[SIM_DIAG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  sim_diag_add(l->diag, "%s: entry %" PRIu64 ": %s", l->sc->input, index, buf);
  l->errors++;
}

static bool add_id(sim_ledger_in *l, const char *id) {
  bool added;
  return sim__idmap_add(l->map, id, strlen(id), &added) >= 0;
}

static int prepass_visit(void *ctx, uint64_t index, const uint8_t *data,
                         size_t len) {
  sim_ledger_in *l = ctx;
  lg_entry e;
  const char *why = NULL;
  int rc = lg_entry_decode(data, len, &e, &why);
  if (rc) {
    lerr(l, index, "does not decode: %s", why ? why : gl_strerror(rc));
    return l->errors > SIM_DIAG_KEEP ? 1 : 0;
  }
  bool ok = true;
  switch (e.type) {
  case LG_ENTRY_ORDER:
    ok = add_id(l, e.u.order.meter_id);
    break;
  case LG_ENTRY_READING:
    ok = add_id(l, e.u.reading.meter_id);
    break;
  case LG_ENTRY_CLEARING:
    for (size_t i = 0; ok && i < e.u.clearing.n_trades; i++)
      ok = add_id(l, e.u.clearing.trades[i].buyer) &&
           add_id(l, e.u.clearing.trades[i].seller);
    break;
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *s = &e.u.settlement;
    for (size_t i = 0; ok && i < s->n_rows; i++)
      ok = add_id(l, s->rows[i].meter_id);
    int64_t len_ns = (int64_t)s->interval_len_s * GL_NS_PER_SEC;
    char t[GL_TIME_STR_MAX], a[32], b[32];
    if (len_ns != l->sc->interval)
      lerr(l, index,
           "the settlement of %s is for an interval of %s, the scenario's "
           "is %s (set scenario.interval)",
           gl_time_format(s->interval_start, t),
           gl_duration_format(len_ns, a, sizeof a),
           gl_duration_format(l->sc->interval, b, sizeof b));
    if (l->last != NONE && s->interval_start <= l->last)
      lerr(l, index, "the settlement of %s is not after the previous one",
           gl_time_format(s->interval_start, t));
    if (l->first == NONE)
      l->first = s->interval_start;
    l->last = s->interval_start;
    l->settlements++;
    break;
  }
  default:
    break;
  }
  lg_entry_clear(&e);
  return ok ? 0 : GL_ENOMEM;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return p;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *np = realloc(p, c * size);
  if (np)
    *cap = c;
  return np;
}

int sim_ledger_open(const sim_scenario *sc, sim_ledger_in **out,
                    sim_diag *diag) {
  *out = NULL;
  sim_ledger_in *l = calloc(1, sizeof *l);
  if (!l)
    return GL_ENOMEM;
  l->sc = sc;
  l->diag = diag;
  l->first = l->last = l->last_settled = NONE;
  l->interval = sc->interval;
  l->map = sim__idmap_new();
  if (!l->map) {
    free(l);
    return GL_ENOMEM;
  }
  lg_ledger_options opt = {.read_only = true};
  int rc = lg_ledger_open(sc->input, &opt, &l->lg);
  if (rc) {
    sim_diag_add(diag, "%s: cannot open the ledger: %s", sc->input,
                 gl_strerror(rc));
    sim_ledger_close(l);
    return rc;
  }
  if ((rc = lg_ledger_size(l->lg, &l->size))) {
    sim_diag_add(diag, "%s: %s", sc->input, gl_strerror(rc));
    sim_ledger_close(l);
    return rc;
  }
  rc = lg_ledger_scan(l->lg, 0, l->size, prepass_visit, l);
  if (rc < 0) {
    sim_diag_add(diag, "%s: reading the ledger failed: %s", sc->input,
                 gl_strerror(rc));
    sim_ledger_close(l);
    return rc;
  }
  if (!l->errors && l->settlements == 0)
    sim_diag_add(diag, "%s: the ledger holds no settlement", sc->input),
        l->errors++;
  if (l->errors) {
    sim_ledger_close(l);
    return GL_EPARSE;
  }
  if (l->size > 0) {
    uint8_t root[LG_HASH_LEN];
    if (lg_ledger_root(l->lg, l->size, root) == 0)
      gl_hex_encode(root, sizeof root, l->root);
  }
  size_t n = l->n = sim__idmap_count(l->map);
  l->meters = malloc(n * sizeof *l->meters);
  l->sorted_of = malloc(n * sizeof *l->sorted_of);
  l->present = calloc(n, 1);
  l->net = calloc(n, sizeof *l->net);
  l->rseq = calloc(n, sizeof *l->rseq);
  l->buy = calloc(n, sizeof *l->buy);
  l->sell = calloc(n, sizeof *l->sell);
  l->buy_seq = calloc(n, sizeof *l->buy_seq);
  l->sell_seq = calloc(n, sizeof *l->sell_seq);
  l->oseq = calloc(n, sizeof *l->oseq);
  l->rows = calloc(n, sizeof *l->rows);
  if (!l->meters || !l->sorted_of || !l->present || !l->net || !l->rseq ||
      !l->buy || !l->sell || !l->buy_seq || !l->sell_seq || !l->oseq ||
      !l->rows) {
    sim_ledger_close(l);
    return GL_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    l->meters[i] = sim__idmap_key(l->map, i);
  qsort(l->meters, n, sizeof *l->meters, cmp_str);
  for (size_t i = 0; i < n; i++)
    l->sorted_of[sim__idmap_get(l->map, l->meters[i], strlen(l->meters[i]))] =
        i;
  *out = l;
  return 0;
}

void sim_ledger_info_get(const sim_ledger_in *l, sim_ledger_info *out) {
  memset(out, 0, sizeof *out);
  out->n_meters = l->n;
  out->meters = (const char *const *)l->meters;
  out->entries = l->size;
  out->settlements = l->settlements;
  out->start = l->first;
  out->end = l->last + l->interval;
  out->interval = l->interval;
  memcpy(out->root, l->root, sizeof out->root);
}

uint64_t sim_ledger_late(const sim_ledger_in *l) {
  return l->late;
}

void sim_ledger_close(sim_ledger_in *l) {
  if (!l)
    return;
  lg_ledger_free(l->lg);
  sim__idmap_free(l->map);
  free((void *)l->meters);
  free(l->sorted_of);
  free(l->reads);
  free(l->orders);
  free(l->present);
  free(l->net);
  free(l->rseq);
  free(l->buy);
  free(l->sell);
  free(l->buy_seq);
  free(l->sell_seq);
  free(l->oseq);
  free(l->rows);
  free(l->frame_orders);
  free(l->frame_trades);
  for (size_t i = 0; i < l->n_clear; i++)
    free(l->clear[i].trades);
  free(l);
}

/* ---- Streaming ----------------------------------------------------------- */

static size_t participant(const sim_ledger_in *l, const char *id) {
  long m = sim__idmap_get(l->map, id, strlen(id));
  return l->sorted_of[m]; /* every id was added by the pre-pass */
}

/* Build the frame of settlement `s` (index `index`). 1, 0 or an error. */
static int build_frame(sim_ledger_in *l, uint64_t index,
                       const lg_settlement *s) {
  size_t n = l->n;
  int64_t t = s->interval_start;
  memset(l->present, 0, n);
  memset(l->net, 0, n * sizeof *l->net);
  memset(l->rseq, 0, n * sizeof *l->rseq);
  memset(l->oseq, 0, n * sizeof *l->oseq);
  memset(l->rows, 0, n * sizeof *l->rows);
  /* Readings of this interval: the highest seq per meter. */
  size_t keep = 0;
  for (size_t i = 0; i < l->n_reads; i++) {
    p_reading *r = &l->reads[i];
    if (r->start == t) {
      if (r->seq + 1 > l->rseq[r->p]) {
        l->rseq[r->p] = r->seq + 1;
        l->net[r->p] = r->net;
      }
    } else if (r->start > t) {
      l->reads[keep++] = *r; /* a later interval's */
    }
  }
  l->n_reads = keep;
  /* Settlement rows. */
  for (size_t i = 0; i < s->n_rows; i++) {
    const lg_settlement_row *row = &s->rows[i];
    size_t p = participant(l, row->meter_id);
    sim_recorded_row *rr = &l->rows[p];
    rr->has_row = true;
    rr->no_reading = (row->flags & LG_SETTLE_NO_READING) != 0;
    rr->bought = row->local_bought_wh;
    rr->sold = row->local_sold_wh;
    rr->grid_import = row->grid_import_wh;
    rr->grid_export = row->grid_export_wh;
    rr->fee = row->fee;
    rr->money = row->money;
    if (!rr->no_reading) {
      if (!l->rseq[p]) {
        char tb[GL_TIME_STR_MAX];
        lerr(l, index,
             "the settlement of %s counts meter %s as read, but no reading "
             "of it precedes the settlement",
             gl_time_format(t, tb), row->meter_id);
        return GL_EPARSE;
      }
      l->present[p] = 1;
    }
  }
  /* Orders: standing limits (quantity 0) up to this interval; steps of
   * the highest seq per meter for this interval, of every meter with a
   * settlement row: in exante and continuous mode a meter's trades are
   * firm at gate closure, reading or not (an expost run ignores them). */
  for (size_t i = 0; i < l->n_orders_p; i++) {
    p_order *o = &l->orders[i];
    if (o->start > t)
      continue;
    if (o->qty == 0) {
      uint64_t *seq =
          o->side == LG_SIDE_BUY ? &l->buy_seq[o->p] : &l->sell_seq[o->p];
      if (o->seq + 1 > *seq) {
        *seq = o->seq + 1;
        (o->side == LG_SIDE_BUY ? l->buy : l->sell)[o->p] = o->price;
      }
    } else if (o->start == t && o->seq + 1 > l->oseq[o->p]) {
      l->oseq[o->p] = o->seq + 1;
    }
  }
  size_t no = 0;
  for (size_t i = 0; i < l->n_orders_p; i++) {
    p_order *o = &l->orders[i];
    if (o->start == t && o->qty > 0 && l->rows[o->p].has_row &&
        o->seq + 1 == l->oseq[o->p])
      no++;
  }
  l->frame_orders = grow(l->frame_orders, &l->cap_frame_orders, no + 1,
                         sizeof *l->frame_orders);
  if (!l->frame_orders)
    return GL_ENOMEM;
  no = 0;
  keep = 0;
  for (size_t i = 0; i < l->n_orders_p; i++) {
    p_order *o = &l->orders[i];
    if (o->start == t && o->qty > 0 && l->rows[o->p].has_row &&
        o->seq + 1 == l->oseq[o->p]) {
      mkt_order *m = &l->frame_orders[no];
      m->id = no + 1;
      m->participant = (uint32_t)o->p;
      m->side = o->side == LG_SIDE_BUY ? MKT_BUY : MKT_SELL;
      m->interval = t;
      m->qty = o->qty;
      m->price = o->price;
      no++;
    }
    if (o->start > t)
      l->orders[keep++] = *o;
  }
  l->n_orders_p = keep;
  /* The effective standing limits: recorded, else the band's edges. */
  sim_ledger_frame *f = &l->frame;
  memset(f, 0, sizeof *f);
  f->band.retail = s->retail_price;
  f->band.feed_in = s->feedin_price;
  f->band.fee = s->fee_price;
  f->start = t;
  f->settlement_index = index;
  f->n_meters = n;
  /* buy/sell arrays hold the recorded limit only where a seq exists;
   * the frame shows the effective one. The two arrays are reused: the
   * band default is written where nothing was recorded. */
  for (size_t p = 0; p < n; p++) {
    if (!l->buy_seq[p])
      l->buy[p] = s->retail_price;
    if (!l->sell_seq[p])
      l->sell[p] = s->feedin_price;
  }
  for (size_t i = 0; i < l->n_clear; i++)
    if (l->clear[i].start == t) {
      p_clearing *pc = &l->clear[i];
      f->has_clearing = true;
      f->mode = (mkt_mode)(pc->mode - 1);
      f->rule_none = pc->rule == LG_RULE_NONE;
      f->rule = pc->rule == LG_RULE_NONE ? MKT_RULE_MARGINAL
                                         : (mkt_rule)(pc->rule - 1);
      l->frame_trades = grow(l->frame_trades, &l->cap_frame_trades,
                             pc->n_trades + 1, sizeof *l->frame_trades);
      if (!l->frame_trades)
        return GL_ENOMEM;
      memcpy(l->frame_trades, pc->trades, pc->n_trades * sizeof *pc->trades);
      f->trades = l->frame_trades;
      f->n_trades = pc->n_trades;
    }
  size_t kc = 0;
  for (size_t i = 0; i < l->n_clear; i++) {
    if (l->clear[i].start > t)
      l->clear[kc++] = l->clear[i];
    else
      free(l->clear[i].trades);
  }
  l->n_clear = kc;
  /* Parameters that took effect by now. */
  size_t kp = 0;
  for (size_t i = 0; i < l->n_params; i++) {
    const p_param *pp = &l->params[i];
    if (pp->from > t) {
      l->params[kp++] = *pp;
      continue;
    }
    if (pp->key == PK_K) {
      l->has_k = true;
      l->k_ppm = (int32_t)pp->k_ppm;
    } else if (pp->key == PK_RATIONING) {
      l->has_rationing = true;
      l->rationing = pp->rationing;
    } else {
      l->has_self_trade = true;
      l->allow_self_trade = pp->allow;
    }
  }
  l->n_params = kp;
  f->has_k = l->has_k;
  f->k_ppm = l->k_ppm;
  f->has_rationing = l->has_rationing;
  f->rationing = l->rationing;
  f->has_self_trade = l->has_self_trade;
  f->allow_self_trade = l->allow_self_trade;
  f->present = l->present;
  f->net = l->net;
  f->buy_limit = l->buy;
  f->sell_limit = l->sell;
  f->orders = l->frame_orders;
  f->n_orders = no;
  f->rows = l->rows;
  f->utility_money = s->utility_money;
  f->fee_money = s->fee_money;
  return 1;
}

static int stream_visit(void *ctx, uint64_t index, const uint8_t *data,
                        size_t len) {
  sim_ledger_in *l = ctx;
  lg_entry e;
  const char *why = NULL;
  int rc = lg_entry_decode(data, len, &e, &why);
  if (rc) {
    lerr(l, index, "does not decode: %s", why ? why : gl_strerror(rc));
    return GL_EPARSE;
  }
  l->pos = index + 1;
  rc = 0;
  switch (e.type) {
  case LG_ENTRY_READING: {
    const lg_reading *r = &e.u.reading;
    if (l->last_settled != NONE && r->interval_start <= l->last_settled) {
      l->late++;
      break;
    }
    l->reads = grow(l->reads, &l->cap_reads, l->n_reads + 1, sizeof *l->reads);
    if (!l->reads) {
      rc = GL_ENOMEM;
      break;
    }
    p_reading *p = &l->reads[l->n_reads++];
    p->start = r->interval_start;
    p->p = participant(l, r->meter_id);
    p->seq = r->seq;
    p->net = r->import_wh - r->export_wh;
    break;
  }
  case LG_ENTRY_ORDER: {
    const lg_order *o = &e.u.order;
    l->orders =
        grow(l->orders, &l->cap_orders_p, l->n_orders_p + 1, sizeof *l->orders);
    if (!l->orders) {
      rc = GL_ENOMEM;
      break;
    }
    p_order *p = &l->orders[l->n_orders_p++];
    p->start = o->interval_start;
    p->p = participant(l, o->meter_id);
    p->seq = o->seq;
    p->side = o->side;
    p->qty = o->quantity_wh;
    p->price = o->limit_price;
    break;
  }
  case LG_ENTRY_CLEARING: {
    const lg_clearing *c = &e.u.clearing;
    if (l->n_clear == sizeof l->clear / sizeof l->clear[0]) {
      lerr(l, index, "more than 8 clearings wait for their settlement");
      rc = GL_EPARSE;
      break;
    }
    p_clearing *pc = &l->clear[l->n_clear];
    pc->start = c->interval_start;
    pc->mode = c->mode;
    pc->rule = c->rule;
    pc->n_trades = c->n_trades;
    pc->trades = calloc(c->n_trades ? c->n_trades : 1, sizeof *pc->trades);
    if (!pc->trades) {
      rc = GL_ENOMEM;
      break;
    }
    for (size_t i = 0; i < c->n_trades; i++) {
      mkt_trade *t = &pc->trades[i];
      t->buy_id = 2 * i + 1;
      t->sell_id = 2 * i + 2;
      t->buyer = (uint32_t)participant(l, c->trades[i].buyer);
      t->seller = (uint32_t)participant(l, c->trades[i].seller);
      t->qty = c->trades[i].energy_wh;
      t->buy_price = t->sell_price = c->trades[i].price;
    }
    l->n_clear++;
    break;
  }
  case LG_ENTRY_PARAM: {
    const lg_param *pa = &e.u.param;
    p_param pp = {.from = pa->effective_from};
    const char *bad = NULL;
    if (strcmp(pa->key, "market.k_ppm") == 0) {
      pp.key = PK_K;
      int64_t v;
      if (gl_conf_parse_int(pa->value, &v) || v < 0 || v > MKT_K_ONE)
        bad = "market.k_ppm is not 0 .. 1000000";
      pp.k_ppm = v;
    } else if (strcmp(pa->key, "market.rationing") == 0) {
      pp.key = PK_RATIONING;
      if (mkt_rationing_parse(pa->value, &pp.rationing))
        bad = "market.rationing is not pro-rata or time";
    } else if (strcmp(pa->key, "market.self_trade") == 0) {
      pp.key = PK_SELF_TRADE;
      if (strcmp(pa->value, "allowed") == 0)
        pp.allow = true;
      else if (strcmp(pa->value, "prevented") != 0)
        bad = "market.self_trade is not allowed or prevented";
    } else {
      break; /* other parameters do not change a settlement's arithmetic */
    }
    if (bad) {
      lerr(l, index, "parameter %s", bad);
      rc = GL_EPARSE;
      break;
    }
    if (l->n_params == sizeof l->params / sizeof l->params[0]) {
      /* Apply the oldest now-irrelevant ones first: keep the newest. */
      memmove(l->params, l->params + 1, (l->n_params - 1) * sizeof *l->params);
      l->n_params--;
    }
    l->params[l->n_params++] = pp;
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *s = &e.u.settlement;
    l->last_settled = s->interval_start;
    if (s->interval_start >= l->to) {
      l->stop = true;
      rc = 1;
      break;
    }
    if (s->interval_start < l->from) {
      /* Skipped: still apply its standing limits and drop its batch. */
      rc = build_frame(l, index, s);
      if (rc == 1)
        rc = 0;
      break;
    }
    rc = build_frame(l, index, s);
    if (rc == 1)
      l->result = 1;
    break;
  }
  default:
    break;
  }
  lg_entry_clear(&e);
  return rc;
}

int sim_ledger_next(sim_ledger_in *l, int64_t from, int64_t to,
                    const sim_ledger_frame **frame, sim_diag *diag) {
  l->diag = diag;
  l->from = from;
  l->to = to;
  l->result = 0;
  while (!l->stop && l->pos < l->size) {
    uint64_t end = l->pos + CHUNK < l->size ? l->pos + CHUNK : l->size;
    int rc = lg_ledger_scan(l->lg, l->pos, end, stream_visit, l);
    if (rc < 0) {
      if (rc != GL_EPARSE)
        sim_diag_add(diag, "%s: reading the ledger failed: %s", l->sc->input,
                     gl_strerror(rc));
      return rc;
    }
    if (l->result) {
      *frame = &l->frame;
      return 1;
    }
  }
  return 0;
}

/* ---- Verification -------------------------------------------------------- */

int sim_ledger_verify(const sim_ledger_frame *f, const mkt_interval_result *res,
                      const char *const *meters, char *why, size_t cap) {
  char tb[GL_TIME_STR_MAX];
  gl_time_format(f->start, tb);
  /* McAfee's surplus is booked to the utility (see the header). */
  int64_t utility = res->totals.utility_net + res->totals.surplus;
  if (utility != f->utility_money) {
    snprintf(why, cap,
             "interval %s: utility money %" PRId64 " replayed, %" PRId64
             " recorded",
             tb, utility, f->utility_money);
    return GL_ECONFLICT;
  }
  if (res->totals.fees != f->fee_money) {
    snprintf(why, cap,
             "interval %s: fees %" PRId64 " replayed, %" PRId64 " recorded", tb,
             res->totals.fees, f->fee_money);
    return GL_ECONFLICT;
  }
  if (res->n_trades != f->n_trades) {
    snprintf(why, cap, "interval %s: %zu trades replayed, %zu recorded", tb,
             res->n_trades, f->n_trades);
    return GL_ECONFLICT;
  }
  for (size_t i = 0; i < res->n_trades; i++) {
    const mkt_trade *a = &res->trades[i], *b = &f->trades[i];
    if (a->buyer != b->buyer || a->seller != b->seller || a->qty != b->qty ||
        a->buy_price != b->buy_price) {
      snprintf(why, cap,
               "interval %s: trade %zu replayed %s -> %s %" PRId64
               " Wh at %" PRId64 ", recorded %s -> %s %" PRId64
               " Wh at %" PRId64,
               tb, i, meters[a->seller], meters[a->buyer], a->qty, a->buy_price,
               meters[b->seller], meters[b->buyer], b->qty, b->buy_price);
      return GL_ECONFLICT;
    }
  }
  /* Every recorded row: a participant's account must equal it; a row of a
   * meter that took no part must be all zeros. */
  size_t a = 0;
  for (size_t p = 0; p < f->n_meters; p++) {
    const sim_recorded_row *r = &f->rows[p];
    const char *id = meters[p];
    const mkt_account *acc = NULL;
    if (a < res->n_accounts && res->accounts[a].participant == p)
      acc = &res->accounts[a++];
    if (acc && !r->has_row) {
      snprintf(why, cap,
               "interval %s, meter %s: settled, the ledger has no row", tb, id);
      return GL_ECONFLICT;
    }
    const struct {
      const char *name;
      int64_t got, want;
    } fields[] = {
        {"local_bought_wh", acc ? acc->bought : 0, r->bought},
        {"local_sold_wh", acc ? acc->sold : 0, r->sold},
        {"grid_import_wh", acc ? acc->grid_import : 0, r->grid_import},
        {"grid_export_wh", acc ? acc->grid_export : 0, r->grid_export},
        {"fee", acc ? acc->fee_paid : 0, r->fee},
        {"money", acc ? acc->net : 0, r->money},
    };
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
      if (fields[k].got != fields[k].want) {
        snprintf(why, cap,
                 "interval %s, meter %s: %s %" PRId64 " replayed%s, %" PRId64
                 " recorded",
                 tb, id, fields[k].name, fields[k].got,
                 acc ? "" : " (no part in the replay)", fields[k].want);
        return GL_ECONFLICT;
      }
  }
  if (a != res->n_accounts) {
    snprintf(why, cap, "interval %s: an account of no meter of the ledger", tb);
    return GL_ECONFLICT;
  }
  return 0;
}

/* ---- Writing ------------------------------------------------------------- */

struct sim_ledger_out {
  lg_ledger *lg;
  const char *const *ids;
  size_t n;
  uint64_t *seq;     /* next seq per meter */
  uint64_t *msg_seq; /* this interval's order message seq, 0 = none */
  lg_entry *entries;
  size_t cap_entries;
  lg_trade *trades;
  size_t cap_trades;
  lg_settlement_row *rows;
};

int sim_ledger_out_new(const char *path, const char *name,
                       const char *const *ids, size_t n, const sim_mechanism *m,
                       int64_t first_interval, sim_ledger_out **out) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) == 0)
    return GL_EEXIST;
  sim_ledger_out *w = calloc(1, sizeof *w);
  if (!w)
    return GL_ENOMEM;
  w->ids = ids;
  w->n = n;
  w->seq = calloc(n, sizeof *w->seq);
  w->msg_seq = calloc(n, sizeof *w->msg_seq);
  w->rows = calloc(n, sizeof *w->rows);
  if (!w->seq || !w->msg_seq || !w->rows) {
    sim_ledger_out_free(w);
    return GL_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    w->seq[i] = 1;
  char origin[96];
  snprintf(origin, sizeof origin, "gridlet-sim/%s", name);
  lg_ledger_options opt = {.origin = origin, .create = true};
  int rc = lg_ledger_open(path, &opt, &w->lg);
  if (rc) {
    sim_ledger_out_free(w);
    return rc;
  }
  /* The mechanism, as the aggregator records its configuration. */
  lg_entry pe[5];
  memset(pe, 0, sizeof pe);
  char vals[5][32];
  const char *keys[5] = {"market.mode", "market.rule", "market.k_ppm",
                         "market.rationing", "market.self_trade"};
  snprintf(vals[0], sizeof vals[0], "%s", mkt_mode_name(m->mode));
  snprintf(vals[1], sizeof vals[1], "%s", mkt_rule_name(m->rule));
  snprintf(vals[2], sizeof vals[2], "%" PRId32, m->k_ppm);
  snprintf(vals[3], sizeof vals[3], "%s", mkt_rationing_name(m->rationing));
  snprintf(vals[4], sizeof vals[4], "%s",
           m->allow_self_trade ? "allowed" : "prevented");
  for (int i = 0; i < 5; i++) {
    pe[i].type = LG_ENTRY_PARAM;
    pe[i].u.param.effective_from = first_interval;
    snprintf(pe[i].u.param.key, sizeof pe[i].u.param.key, "%s", keys[i]);
    snprintf(pe[i].u.param.value, sizeof pe[i].u.param.value, "%s", vals[i]);
  }
  if ((rc = lg_ledger_append_entries(w->lg, pe, 5, NULL))) {
    sim_ledger_out_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

void sim_ledger_out_free(sim_ledger_out *w) {
  if (!w)
    return;
  lg_ledger_free(w->lg);
  free(w->seq);
  free(w->msg_seq);
  free(w->entries);
  free(w->trades);
  free(w->rows);
  free(w);
}

static lg_entry *next_entry(sim_ledger_out *w, size_t *k) {
  w->entries = grow(w->entries, &w->cap_entries, *k + 1, sizeof *w->entries);
  if (!w->entries)
    return NULL;
  lg_entry *e = &w->entries[(*k)++];
  memset(e, 0, sizeof *e);
  return e;
}

/* The digest that stands in for a signed message's. */
static void fake_digest(uint8_t out[LG_DIGEST_LEN], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fake_digest(uint8_t out[LG_DIGEST_LEN], const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  gl_sha256(buf, n > 0 ? (size_t)n : 0, out);
}

static int add_order(sim_ledger_out *w, size_t *k, int64_t start, size_t p,
                     uint64_t seq, uint8_t side, int64_t qty, int64_t price) {
  if (price < 0)
    return GL_ENOTSUP;
  lg_entry *e = next_entry(w, k);
  if (!e)
    return GL_ENOMEM;
  e->type = LG_ENTRY_ORDER;
  lg_order *o = &e->u.order;
  o->interval_start = start;
  snprintf(o->meter_id, sizeof o->meter_id, "%s", w->ids[p]);
  o->seq = seq;
  o->side = side;
  o->quantity_wh = qty;
  o->limit_price = price;
  fake_digest(o->msg_digest,
              "gridlet-sim order %s %" PRId64 " %u %" PRId64 " %" PRId64,
              w->ids[p], start, side, qty, price);
  return 0;
}

int sim_ledger_out_interval(sim_ledger_out *w, const sim_mechanism *m,
                            int64_t interval_ns, const mkt_band *band,
                            int64_t start, const uint8_t *present,
                            const int64_t *net, const int64_t *buy_limit,
                            const int64_t *sell_limit, const mkt_order *orders,
                            size_t n_orders, const mkt_interval_result *res) {
  if (band->retail < 0 || band->feed_in < 0)
    return GL_ENOTSUP;
  size_t k = 0;
  int rc;
  /* One reading and (expost) one prefs message per present meter. */
  for (size_t p = 0; p < w->n; p++) {
    if (!present[p])
      continue;
    lg_entry *e = next_entry(w, &k);
    if (!e)
      return GL_ENOMEM;
    e->type = LG_ENTRY_READING;
    lg_reading *r = &e->u.reading;
    r->interval_start = start;
    snprintf(r->meter_id, sizeof r->meter_id, "%s", w->ids[p]);
    r->seq = w->seq[p]++;
    r->import_wh = net[p] > 0 ? net[p] : 0;
    r->export_wh = net[p] < 0 ? -net[p] : 0;
    fake_digest(r->msg_digest,
                "gridlet-sim reading %s %" PRId64 " %" PRId64 " %" PRId64,
                w->ids[p], start, r->import_wh, r->export_wh);
    if (m->mode == MKT_MODE_EXPOST) {
      uint64_t seq = w->seq[p]++;
      if ((rc =
               add_order(w, &k, start, p, seq, LG_SIDE_BUY, 0, buy_limit[p])) ||
          (rc =
               add_order(w, &k, start, p, seq, LG_SIDE_SELL, 0, sell_limit[p])))
        return rc;
    }
  }
  if (m->mode != MKT_MODE_EXPOST) {
    /* In arrival order (the time priority the replay must reproduce); all
     * steps of one meter's order message share its seq. */
    for (size_t i = 0; i < n_orders; i++) {
      size_t p = orders[i].participant;
      if (!w->msg_seq[p])
        w->msg_seq[p] = w->seq[p]++;
      if ((rc =
               add_order(w, &k, start, p, w->msg_seq[p],
                         orders[i].side == MKT_BUY ? LG_SIDE_BUY : LG_SIDE_SELL,
                         orders[i].qty, orders[i].price)))
        return rc;
    }
    for (size_t i = 0; i < n_orders; i++)
      w->msg_seq[orders[i].participant] = 0;
  }
  /* The clearing. */
  w->trades =
      grow(w->trades, &w->cap_trades, res->n_trades + 1, sizeof *w->trades);
  if (!w->trades)
    return GL_ENOMEM;
  int64_t volume = 0;
  for (size_t i = 0; i < res->n_trades; i++) {
    const mkt_trade *t = &res->trades[i];
    lg_trade *lt = &w->trades[i];
    snprintf(lt->buyer, sizeof lt->buyer, "%s", w->ids[t->buyer]);
    snprintf(lt->seller, sizeof lt->seller, "%s", w->ids[t->seller]);
    lt->energy_wh = t->qty;
    lt->price = t->buy_price;
    if (t->buy_price < 0)
      return GL_ENOTSUP;
    volume += t->qty;
  }
  lg_entry *ce = next_entry(w, &k);
  if (!ce)
    return GL_ENOMEM;
  ce->type = LG_ENTRY_CLEARING;
  lg_clearing *c = &ce->u.clearing;
  c->interval_start = start;
  c->interval_len_s = (uint32_t)(interval_ns / GL_NS_PER_SEC);
  c->mode = (uint8_t)(m->mode + 1);
  c->rule =
      m->mode == MKT_MODE_CONTINUOUS ? LG_RULE_NONE : (uint8_t)(m->rule + 1);
  bool uniform = m->mode != MKT_MODE_CONTINUOUS &&
                 m->rule != MKT_RULE_PAY_AS_BID && volume > 0;
  c->price = uniform ? res->clearing.price : -1;
  c->volume_wh = volume;
  c->n_trades = res->n_trades;
  c->trades = w->trades;
  /* The settlement: every meter, absent ones flagged. */
  size_t a = 0;
  for (size_t p = 0; p < w->n; p++) {
    lg_settlement_row *row = &w->rows[p];
    memset(row, 0, sizeof *row);
    snprintf(row->meter_id, sizeof row->meter_id, "%s", w->ids[p]);
    if (a < res->n_accounts && res->accounts[a].participant == p) {
      const mkt_account *acc = &res->accounts[a++];
      row->local_bought_wh = acc->bought;
      row->local_sold_wh = acc->sold;
      row->grid_import_wh = acc->grid_import;
      row->grid_export_wh = acc->grid_export;
      row->fee = acc->fee_paid;
      row->money = acc->net;
    } else {
      row->flags = LG_SETTLE_NO_READING;
    }
  }
  lg_entry *se = next_entry(w, &k);
  if (!se)
    return GL_ENOMEM;
  se->type = LG_ENTRY_SETTLEMENT;
  lg_settlement *s = &se->u.settlement;
  s->interval_start = start;
  s->interval_len_s = (uint32_t)(interval_ns / GL_NS_PER_SEC);
  s->retail_price = band->retail;
  s->feedin_price = band->feed_in;
  s->fee_price = band->fee;
  s->utility_money = res->totals.utility_net + res->totals.surplus;
  s->fee_money = res->totals.fees;
  s->n_rows = w->n;
  s->rows = w->rows;
  return lg_ledger_append_entries(w->lg, w->entries, k, NULL);
}
