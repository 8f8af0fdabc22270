/* SPDX-License-Identifier: MIT */
/*
 * check.c - the ledger as the checks see it, and the checks. See
 * gridlet/demo_check.h.
 *
 * Loading keeps, per entry kind, the fields the cross-entry rules need in
 * flat arrays (settlement rows and clearing trades in two shared arrays);
 * the rules then work on sorted copies with binary search, so a ledger of
 * a thousand meters over a day is checked in well under a second.
 */
#include "gridlet/demo_check.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_msg.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The aggregator marks a late reading's digest with bit 31 of its flags
 * (docs/protocol.md, "Delivery and receipts"; AGG_READING_LATE). */
#define LATE_FLAG (UINT32_C(1) << 31)

typedef struct rd {
  char meter[LG_METER_ID_MAX + 1];
  int64_t start;
  uint64_t seq, index;
  uint32_t flags;
  int64_t imp, exp;
  uint8_t digest[LG_DIGEST_LEN];
} rd;

typedef struct stl {
  int64_t start;
  uint64_t index;
  uint32_t len_s;
  int64_t utility, fee_money;
  size_t first, n; /* rows */
} stl;

typedef struct clr {
  int64_t start;
  uint64_t index;
  int64_t volume;
  size_t first, n; /* trades */
} clr;

struct demo_ledger {
  int64_t interval;
  uint64_t entries;
  int64_t orders;
  rd *rd;
  size_t nrd, caprd;
  stl *st;
  size_t nst, capst;
  lg_settlement_row *rows;
  size_t nrows, caprows;
  clr *cl;
  size_t ncl, capcl;
  lg_trade *tr;
  size_t ntr, captr;
  /* Sorted views, built after loading. */
  rd *by_meter_start; /* (meter, start) */
  char (*meters)[LG_METER_ID_MAX + 1];
  size_t nmeters;
  char problem[DEMO_WHY_MAX];
};

static int fail(demo_why *why, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(demo_why *why, int rc, const char *fmt, ...) {
  if (why) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->text, sizeof why->text, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* Grow an array to hold one more element. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return true;
  size_t nc = *cap ? *cap * 2 : 64;
  void *p = realloc(*arr, nc * elem);
  if (!p)
    return false;
  *arr = p;
  *cap = nc;
  return true;
}

#define GROW(l, arr, n, cap)                                                   \
  grow((void **)&(l)->arr, &(l)->cap, (l)->n, sizeof *(l)->arr)

static const char *ts(int64_t ns, char buf[GL_TIME_STR_MAX]) {
  return gl_time_format(ns, buf);
}

/* ---- Loading --------------------------------------------------------------
 */

typedef struct load_ctx {
  demo_ledger *l;
  demo_why *why;
} load_ctx;

static int visit(void *ctx, uint64_t index, const uint8_t *data, size_t len) {
  load_ctx *c = ctx;
  demo_ledger *l = c->l;
  lg_entry e;
  const char *reason = NULL;
  if (lg_entry_decode(data, len, &e, &reason) != 0)
    return fail(c->why, GL_EPARSE, "entry %" PRIu64 " does not decode: %s",
                index, reason ? reason : "?");
  int rc = 0;
  if (lg_entry_check(&e, &reason) != 0) {
    rc = fail(c->why, GL_EPARSE, "entry %" PRIu64 " (%s) breaks a rule: %s",
              index, lg_entry_type_name((int)e.type), reason ? reason : "?");
    lg_entry_clear(&e);
    return rc;
  }
  l->entries++;
  switch (e.type) {
  case LG_ENTRY_ORDER:
    l->orders++;
    break;
  case LG_ENTRY_READING: {
    if (!GROW(l, rd, nrd, caprd)) {
      rc = GL_ENOMEM;
      break;
    }
    rd *r = &l->rd[l->nrd++];
    memset(r, 0, sizeof *r);
    snprintf(r->meter, sizeof r->meter, "%s", e.u.reading.meter_id);
    r->start = e.u.reading.interval_start;
    r->seq = e.u.reading.seq;
    r->index = index;
    r->flags = e.u.reading.flags;
    r->imp = e.u.reading.import_wh;
    r->exp = e.u.reading.export_wh;
    memcpy(r->digest, e.u.reading.msg_digest, LG_DIGEST_LEN);
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *s = &e.u.settlement;
    if (!GROW(l, st, nst, capst)) {
      rc = GL_ENOMEM;
      break;
    }
    stl *x = &l->st[l->nst];
    x->start = s->interval_start;
    x->index = index;
    x->len_s = s->interval_len_s;
    x->utility = s->utility_money;
    x->fee_money = s->fee_money;
    x->first = l->nrows;
    x->n = s->n_rows;
    for (size_t i = 0; i < s->n_rows && rc == 0; i++) {
      if (!GROW(l, rows, nrows, caprows))
        rc = GL_ENOMEM;
      else
        l->rows[l->nrows++] = s->rows[i];
    }
    l->nst++;
    break;
  }
  case LG_ENTRY_CLEARING: {
    const lg_clearing *cl = &e.u.clearing;
    if (!GROW(l, cl, ncl, capcl)) {
      rc = GL_ENOMEM;
      break;
    }
    clr *x = &l->cl[l->ncl];
    x->start = cl->interval_start;
    x->index = index;
    x->volume = cl->volume_wh;
    x->first = l->ntr;
    x->n = cl->n_trades;
    for (size_t i = 0; i < cl->n_trades && rc == 0; i++) {
      if (!GROW(l, tr, ntr, captr))
        rc = GL_ENOMEM;
      else
        l->tr[l->ntr++] = cl->trades[i];
    }
    l->ncl++;
    break;
  }
  default:
    break;
  }
  lg_entry_clear(&e);
  if (rc == GL_ENOMEM)
    fail(c->why, rc, "out of memory");
  return rc;
}

static int cmp_meter_start(const void *a, const void *b) {
  const rd *x = a, *y = b;
  int c = strcmp(x->meter, y->meter);
  if (c)
    return c;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(a, b);
}

static int index_meters(demo_ledger *l) {
  l->meters = calloc(l->nrows ? l->nrows : 1, sizeof *l->meters);
  if (!l->meters)
    return GL_ENOMEM;
  for (size_t i = 0; i < l->nrows; i++)
    memcpy(l->meters[i], l->rows[i].meter_id, sizeof l->meters[i]);
  qsort(l->meters, l->nrows, sizeof *l->meters, cmp_str);
  size_t n = 0;
  for (size_t i = 0; i < l->nrows; i++)
    if (n == 0 || strcmp(l->meters[n - 1], l->meters[i]) != 0)
      memmove(l->meters[n++], l->meters[i], sizeof l->meters[0]);
  l->nmeters = n;
  l->by_meter_start = malloc((l->nrd ? l->nrd : 1) * sizeof *l->by_meter_start);
  if (!l->by_meter_start)
    return GL_ENOMEM;
  if (l->nrd)
    memcpy(l->by_meter_start, l->rd, l->nrd * sizeof *l->rd);
  qsort(l->by_meter_start, l->nrd, sizeof *l->rd, cmp_meter_start);
  return 0;
}

int demo_ledger_load(const char *db, int64_t interval_ns, demo_ledger **out,
                     demo_why *why) {
  demo_ledger *l = calloc(1, sizeof *l);
  if (!l)
    return fail(why, GL_ENOMEM, "out of memory");
  l->interval = interval_ns;
  lg_ledger *lg = NULL;
  lg_ledger_options lo = {.read_only = true};
  int rc = lg_ledger_open(db, &lo, &lg);
  if (rc) {
    demo_ledger_free(l);
    return fail(why, rc, "cannot open the ledger in %s: %s", db,
                gl_strerror(rc));
  }
  uint64_t size = 0;
  rc = lg_ledger_size(lg, &size);
  load_ctx c = {.l = l, .why = why};
  if (rc == 0)
    rc = lg_ledger_scan(lg, 0, size, visit, &c);
  else
    fail(why, rc, "cannot read the ledger's size: %s", gl_strerror(rc));
  lg_ledger_free(lg);
  if (rc == 0 && (rc = index_meters(l)) != 0)
    fail(why, rc, "out of memory");
  if (rc) {
    demo_ledger_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

void demo_ledger_free(demo_ledger *l) {
  if (!l)
    return;
  free(l->rd);
  free(l->st);
  free(l->rows);
  free(l->cl);
  free(l->tr);
  free(l->by_meter_start);
  free(l->meters);
  free(l);
}

/* ---- Lookups --------------------------------------------------------------
 */

/* The settlement of the interval starting at `start` (settlements are in
 * log order; verify checks that their starts increase). */
static const stl *settlement_of(const demo_ledger *l, int64_t start) {
  size_t lo = 0, hi = l->nst;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->st[mid].start < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < l->nst && l->st[i].start == start; i++)
    return &l->st[i];
  /* Out of order (verify reports it): fall back to a scan. */
  for (size_t i = 0; i < l->nst; i++)
    if (l->st[i].start == start)
      return &l->st[i];
  return NULL;
}

/* A meter's row in a settlement (rows are in strictly ascending id). */
static const lg_settlement_row *row_of(const demo_ledger *l, const stl *s,
                                       const char *meter) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(l->rows[s->first + mid].meter_id, meter);
    if (c == 0)
      return &l->rows[s->first + mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static const rd *reading_of(const demo_ledger *l, const char *meter,
                            int64_t start) {
  rd key;
  snprintf(key.meter, sizeof key.meter, "%s", meter);
  key.start = start;
  return bsearch(&key, l->by_meter_start, l->nrd, sizeof *l->by_meter_start,
                 cmp_meter_start);
}

/* ---- Stats and balances ---------------------------------------------------
 */

void demo_ledger_get_stats(const demo_ledger *l, demo_ledger_stats *out) {
  memset(out, 0, sizeof *out);
  out->entries = l->entries;
  out->intervals = (int64_t)l->nst;
  out->first = l->nst ? l->st[0].start : -1;
  out->last = l->nst ? l->st[l->nst - 1].start : -1;
  out->readings = (int64_t)l->nrd;
  for (size_t i = 0; i < l->nrd; i++)
    out->late += (l->rd[i].flags & LATE_FLAG) != 0;
  for (size_t i = 0; i < l->nrows; i++) {
    if (l->rows[i].flags & LG_SETTLE_NO_READING)
      out->no_reading++;
    else
      out->settled_rows++;
  }
  out->trades = (int64_t)l->ntr;
  for (size_t i = 0; i < l->ntr; i++)
    out->traded_wh += l->tr[i].energy_wh;
  out->orders = l->orders;
}

int demo_ledger_balance(const demo_ledger *l, const char *id,
                        demo_balance *out) {
  memset(out, 0, sizeof *out);
  bool found = false;
  for (size_t k = 0; k < l->nst; k++) {
    const lg_settlement_row *r = row_of(l, &l->st[k], id);
    if (!r)
      continue;
    found = true;
    out->money += r->money;
    out->fees += r->fee;
    out->local_bought_wh += r->local_bought_wh;
    out->local_sold_wh += r->local_sold_wh;
    out->grid_import_wh += r->grid_import_wh;
    out->grid_export_wh += r->grid_export_wh;
    out->intervals++;
    out->missing += (r->flags & LG_SETTLE_NO_READING) != 0;
  }
  return found ? 0 : GL_ENOENT;
}

size_t demo_ledger_meter_count(const demo_ledger *l) {
  return l->nmeters;
}

const char *demo_ledger_meter_id(const demo_ledger *l, size_t i) {
  return i < l->nmeters ? l->meters[i] : NULL;
}

int demo_ledger_reading_index(const demo_ledger *l, const char *id,
                              int64_t start, uint64_t *index) {
  const rd *r = reading_of(l, id, start);
  if (!r)
    return GL_ENOENT;
  *index = r->index;
  return 0;
}

/* ---- The rules ------------------------------------------------------------
 */

/* Every interval settled once, one interval apart, each with its clearing
 * whose trades add up to the rows; conservation; empty rows empty. */
static int check_settlements(const demo_ledger *l, demo_why *why) {
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  int64_t len_s = l->interval / GL_NS_PER_SEC;
  if (l->ncl != l->nst)
    return fail(why, GL_EVERIFY, "%zu clearings but %zu settlements", l->ncl,
                l->nst);
  for (size_t k = 0; k < l->nst; k++) {
    const stl *s = &l->st[k];
    if (k > 0) {
      int64_t prev = l->st[k - 1].start;
      if (s->start <= prev)
        return fail(why, GL_EVERIFY,
                    "interval %s settled again at entry %" PRIu64 " (after %s)",
                    ts(s->start, a), s->index, ts(prev, b));
      if (s->start != prev + l->interval)
        return fail(why, GL_EVERIFY,
                    "interval %s was never settled (settlements jump from "
                    "%s to %s)",
                    ts(prev + l->interval, a), ts(prev, b), ts(s->start, a));
    }
    if ((int64_t)s->len_s != len_s)
      return fail(why, GL_EVERIFY, "interval %s settled as %" PRIu32 " s long",
                  ts(s->start, a), s->len_s);
    const clr *c = &l->cl[k];
    if (c->start != s->start || c->index > s->index)
      return fail(why, GL_EVERIFY,
                  "the settlement of %s (entry %" PRIu64
                  ") has no clearing before it",
                  ts(s->start, a), s->index);
    /* Conservation within the interval. */
    int64_t bought = 0, sold = 0, money = s->utility + s->fee_money;
    for (size_t i = 0; i < s->n; i++) {
      const lg_settlement_row *r = &l->rows[s->first + i];
      bought += r->local_bought_wh;
      sold += r->local_sold_wh;
      money += r->money;
      if ((r->flags & LG_SETTLE_NO_READING) &&
          (r->local_bought_wh || r->local_sold_wh || r->grid_import_wh ||
           r->grid_export_wh || r->fee || r->money))
        return fail(why, GL_EVERIFY,
                    "%s: %s has no reading but energy or money",
                    ts(s->start, a), r->meter_id);
    }
    if (bought != sold || money != 0)
      return fail(why, GL_EVERIFY,
                  "%s: not conserved (local bought %" PRId64
                  " Wh, sold %" PRId64 " Wh; money sums to %" PRId64 ")",
                  ts(s->start, a), bought, sold, money);
    if (bought != c->volume)
      return fail(why, GL_EVERIFY,
                  "%s: the clearing trades %" PRId64
                  " Wh but the settlement %" PRId64 " Wh",
                  ts(s->start, a), c->volume, bought);
    /* Each participant's trades add up to its row. */
    for (size_t i = 0; i < s->n; i++) {
      const lg_settlement_row *r = &l->rows[s->first + i];
      int64_t tb = 0, ts_ = 0;
      for (size_t t = 0; t < c->n; t++) {
        const lg_trade *x = &l->tr[c->first + t];
        if (strcmp(x->buyer, r->meter_id) == 0)
          tb += x->energy_wh;
        if (strcmp(x->seller, r->meter_id) == 0)
          ts_ += x->energy_wh;
      }
      if (tb != r->local_bought_wh || ts_ != r->local_sold_wh)
        return fail(why, GL_EVERIFY,
                    "%s: %s traded %" PRId64 "/%" PRId64
                    " Wh (bought/sold) but was settled for %" PRId64
                    "/%" PRId64,
                    ts(s->start, a), r->meter_id, tb, ts_, r->local_bought_wh,
                    r->local_sold_wh);
    }
    for (size_t t = 0; t < c->n; t++) {
      const lg_trade *x = &l->tr[c->first + t];
      if (!row_of(l, s, x->buyer) || !row_of(l, s, x->seller))
        return fail(why, GL_EVERIFY,
                    "%s: a trade between %s and %s, who are "
                    "not both settled",
                    ts(s->start, a), x->buyer, x->seller);
    }
  }
  return 0;
}

static int cmp_meter_seq(const void *a, const void *b) {
  const rd *x = a, *y = b;
  int c = strcmp(x->meter, y->meter);
  if (c)
    return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Each reading once; on time or late by the rule; rows match readings. */
static int check_readings(const demo_ledger *l, demo_why *why) {
  char a[GL_TIME_STR_MAX];
  const rd *v = l->by_meter_start;
  for (size_t i = 1; i < l->nrd; i++)
    if (cmp_meter_start(&v[i - 1], &v[i]) == 0)
      return fail(why, GL_EVERIFY,
                  "%s's reading for %s is in the ledger twice (entries "
                  "%" PRIu64 " and %" PRIu64 ")",
                  v[i].meter, ts(v[i].start, a), v[i - 1].index, v[i].index);
  rd *by_seq = malloc((l->nrd ? l->nrd : 1) * sizeof *by_seq);
  if (!by_seq)
    return fail(why, GL_ENOMEM, "out of memory");
  if (l->nrd)
    memcpy(by_seq, l->rd, l->nrd * sizeof *by_seq);
  qsort(by_seq, l->nrd, sizeof *by_seq, cmp_meter_seq);
  int rc = 0;
  for (size_t i = 1; i < l->nrd && rc == 0; i++)
    if (cmp_meter_seq(&by_seq[i - 1], &by_seq[i]) == 0)
      rc = fail(why, GL_EVERIFY,
                "%s's seq %" PRIu64 " is in the ledger twice (entries "
                "%" PRIu64 " and %" PRIu64 ")",
                by_seq[i].meter, by_seq[i].seq, by_seq[i - 1].index,
                by_seq[i].index);
  free(by_seq);
  if (rc)
    return rc;
  int64_t last = l->nst ? l->st[l->nst - 1].start : INT64_MIN;
  for (size_t i = 0; i < l->nrd; i++) {
    const rd *r = &l->rd[i];
    bool late = (r->flags & LATE_FLAG) != 0;
    const stl *s = settlement_of(l, r->start);
    if (!s) {
      if (late || r->start <= last)
        return fail(why, GL_EVERIFY,
                    "%s's reading for %s (entry %" PRIu64
                    ") belongs to no settled interval%s",
                    r->meter, ts(r->start, a), r->index,
                    late ? " but is flagged late" : "");
      continue; /* logged on time; its interval is not settled yet */
    }
    const lg_settlement_row *row = row_of(l, s, r->meter);
    if (r->index > s->index) {
      if (!late)
        return fail(why, GL_EVERIFY,
                    "%s's reading for %s (entry %" PRIu64
                    ") came after the settlement (entry %" PRIu64
                    ") but is not flagged late",
                    r->meter, ts(r->start, a), r->index, s->index);
      if (row && !(row->flags & LG_SETTLE_NO_READING))
        return fail(why, GL_EVERIFY,
                    "%s's late reading for %s: the settlement counted a "
                    "reading for it all the same",
                    r->meter, ts(r->start, a));
      continue;
    }
    if (late)
      return fail(why, GL_EVERIFY,
                  "%s's reading for %s (entry %" PRIu64
                  ") is flagged late but came before the settlement",
                  r->meter, ts(r->start, a), r->index);
    if (!row)
      return fail(why, GL_EVERIFY,
                  "%s's reading for %s came in time but the settlement has "
                  "no row for it",
                  r->meter, ts(r->start, a));
    bool missing = (r->flags & PR_FLAG_MISSING) != 0;
    bool no_reading = (row->flags & LG_SETTLE_NO_READING) != 0;
    if (missing != no_reading)
      return fail(why, GL_EVERIFY,
                  "%s for %s: the reading %s but the settlement %s", r->meter,
                  ts(r->start, a), missing ? "says missing" : "has data",
                  no_reading ? "has no reading" : "settled one");
    int64_t net = row->local_bought_wh + row->grid_import_wh -
                  row->local_sold_wh - row->grid_export_wh;
    if (!missing && net != r->imp - r->exp)
      return fail(why, GL_EVERIFY,
                  "%s for %s: measured %" PRId64 " Wh net, settled %" PRId64
                  " Wh",
                  r->meter, ts(r->start, a), r->imp - r->exp, net);
  }
  /* Nobody is settled on a reading the ledger does not hold. */
  for (size_t k = 0; k < l->nst; k++) {
    const stl *s = &l->st[k];
    for (size_t i = 0; i < s->n; i++) {
      const lg_settlement_row *row = &l->rows[s->first + i];
      if (row->flags & LG_SETTLE_NO_READING)
        continue;
      const rd *r = reading_of(l, row->meter_id, s->start);
      if (!r || r->index > s->index)
        return fail(why, GL_EVERIFY,
                    "%s was settled on a reading for %s that the ledger does "
                    "not hold before the settlement",
                    row->meter_id, ts(s->start, a));
    }
  }
  return 0;
}

int demo_ledger_verify(const demo_ledger *l, demo_why *why) {
  int rc = check_settlements(l, why);
  if (rc == 0)
    rc = check_readings(l, why);
  return rc;
}

/* ---- One meter's database -------------------------------------------------
 */

int demo_ledger_check_meter(const demo_ledger *l, const char *id,
                            const char *meter_db, demo_meter_check *out,
                            demo_why *why) {
  memset(out, 0, sizeof *out);
  mtr_store *s = NULL;
  mtr_store_opts so = {.read_only = true};
  int rc = mtr_store_open(meter_db, &so, &s);
  if (rc)
    return fail(why, rc, "cannot open %s: %s", meter_db, gl_strerror(rc));
  mtr_reading_row *row = malloc(sizeof *row);
  if (!row) {
    mtr_store_free(s);
    return fail(why, GL_ENOMEM, "out of memory");
  }
  int64_t last = l->nst ? l->st[l->nst - 1].start : INT64_MIN;
  char a[GL_TIME_STR_MAX];
  /* Every reading in seq order (sequence numbers are shared by all the
   * meter's messages and start at the wall clock in milliseconds, so they
   * are walked through the readings table, not counted up from 1). */
  for (int64_t seq = 0; rc == 0;) {
    int g = mtr_store_reading_next(s, seq, row);
    if (g == GL_ENOENT)
      break;
    if (!g)
      seq = row->seq;
    if (g) {
      rc = fail(why, g, "%s: cannot read seq %" PRId64 ": %s", meter_db, seq,
                gl_strerror(g));
      break;
    }
    out->readings++;
    if (row->state == MTR_RS_DROPPED || row->state == MTR_RS_UNCONFIRMED) {
      rc = fail(why, GL_EVERIFY,
                "%s gave up its reading for %s (seq %" PRId64 ", %s)", id,
                ts(row->r.start, a), seq, mtr_reading_state_name(row->state));
      break;
    }
    const rd *r = reading_of(l, id, row->r.start);
    if (!r) {
      if (row->r.start > last) {
        out->pending++;
        continue;
      }
      if (row->state == MTR_RS_QUEUED || row->state == MTR_RS_AWAITING) {
        /* Not delivered yet: the meter keeps re-sending it. */
        out->undelivered++;
        continue;
      }
      /* Lost: the meter no longer sends it, the ledger does not hold it.
       * Counted (the first named in `why`), and the walk goes on so the
       * caller sees how many. */
      if (out->lost++ == 0)
        fail(why, GL_EVERIFY,
             "%s's reading for %s (seq %" PRId64
             ", %s at the meter) is not in the ledger",
             id, ts(row->r.start, a), seq, mtr_reading_state_name(row->state));
      continue;
    }
    uint8_t digest[GL_SHA256_LEN];
    if (gl_sha256(row->bytes, row->len, digest) != 0 ||
        (int64_t)r->seq != seq ||
        !gl_memeq_ct(digest, r->digest, sizeof digest)) {
      rc = fail(why, GL_EVERIFY,
                "%s's reading for %s: the ledger holds seq %" PRIu64
                " with %s digest, the meter signed seq %" PRId64,
                id, ts(row->r.start, a), r->seq,
                (int64_t)r->seq == seq ? "another" : "some", seq);
      break;
    }
    out->in_ledger++;
    out->late += (r->flags & LATE_FLAG) != 0;
  }
  free(row);
  mtr_store_free(s);
  return rc;
}
