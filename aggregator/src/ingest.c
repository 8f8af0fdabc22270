/* SPDX-License-Identifier: MIT */
/*
 * ingest.c - the aggregator's checks on verified messages, and batched
 * storage. See gridlet/agg_ingest.h.
 */
#include "gridlet/agg_ingest.h"

#include "gridlet/agg_solar.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "ingest"
/* At most this many log lines per reason per minute; the rest are counted
 * and summarised when the minute is over. */
#define LOG_BURST 10
#define LOG_WINDOW (60 * GL_NS_PER_SEC)
#define PROOF_WINDOW (60 * GL_NS_PER_SEC)

typedef struct ratelog {
  int64_t window;
  int lines;
  uint64_t suppressed;
} ratelog;

struct agg_ingest {
  agg_ingest_deps d;
  const agg_config *cfg;
  agg_store *st;
  size_t batch;
  int64_t rx; /* last order arrival number */
  agg_meter **dirty;
  size_t ndirty, capdirty;
  ratelog logs[AGG_R_COUNT + 1]; /* + 1: duplicates */
  int64_t online, outbox;
};

/* ---- Logging and counting ------------------------------------------------ */

static void rlog(agg_ingest *in, size_t slot, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rlog(agg_ingest *in, size_t slot, int level, const char *fmt, ...) {
  ratelog *l = &in->logs[slot];
  int64_t now = gl_clock_monotonic(in->d.real);
  if (now - l->window >= LOG_WINDOW) {
    if (l->suppressed)
      GL_WARN(LOG,
              "%" PRIu64 " more %s message(s) in the last minute not "
              "logged",
              l->suppressed,
              slot < AGG_R_COUNT ? agg_reason_name((agg_reason)slot)
                                 : "duplicate");
    l->window = now;
    l->lines = 0;
    l->suppressed = 0;
  }
  if (l->lines >= LOG_BURST) {
    l->suppressed++;
    return;
  }
  l->lines++;
  va_list ap;
  va_start(ap, fmt);
  gl_logv(level, LOG, fmt, ap);
  va_end(ap);
}

static agg_kind kind_of(pr_topic_kind k) {
  switch (k) {
  case PR_TOPIC_READING:
    return AGG_KIND_READING;
  case PR_TOPIC_ORDER:
    return AGG_KIND_ORDER;
  case PR_TOPIC_STATUS:
    return AGG_KIND_STATUS;
  case PR_TOPIC_PROOF_REQUEST:
    return AGG_KIND_PROOF;
  default:
    return AGG_KIND_OTHER;
  }
}

/* The kind from a topic string that may not parse. */
static agg_kind kind_of_text(const char *topic) {
  const char *last = strrchr(topic, '/');
  if (!last)
    return AGG_KIND_OTHER;
  last++;
  if (strcmp(last, "reading") == 0)
    return AGG_KIND_READING;
  if (strcmp(last, "order") == 0)
    return AGG_KIND_ORDER;
  if (strcmp(last, "status") == 0)
    return AGG_KIND_STATUS;
  if (strcmp(last, "proof") == 0)
    return AGG_KIND_PROOF;
  return AGG_KIND_OTHER;
}

static void count_reject(agg_ingest *in, agg_reason r) {
  if (in->d.metrics)
    agg_count(&in->d.metrics->rejected[r], 1);
}

void agg_ingest_reject(agg_ingest *in, const char *topic, agg_reason r,
                       const char *msg) {
  if (in->d.metrics)
    agg_count(&in->d.metrics->received[kind_of_text(topic)], 1);
  count_reject(in, r);
  rlog(in, r, GL_LOG_WARN, "%s: rejected (%s): %s", topic, agg_reason_name(r),
       msg);
}

bool agg_ingest_admit(agg_ingest *in, const char *topic, size_t topic_len) {
  pr_topic t;
  if (pr_topic_parse(topic, topic_len, in->cfg->community, &t, NULL) != 0 ||
      !pr_topic_from_meter(t.kind))
    return true;
  agg_meter *m = agg_meters_find(in->d.meters, t.id);
  if (!m)
    return true;
  /* GCRA: each message advances the meter's theoretical arrival time by
   * one emission interval; more than `burst` intervals ahead of now is
   * over the limit. */
  int64_t now = gl_clock_monotonic(in->d.real);
  int64_t step = GL_NS_PER_SEC / in->cfg->meter_rate;
  int64_t tat = m->rate_tat > now ? m->rate_tat : now;
  if (tat - now > (in->cfg->meter_burst - 1) * step) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "%s sends more than %" PRId64 " messages a second "
             "(ingest.meter_rate, burst %" PRId64 "): dropped unverified",
             m->id, in->cfg->meter_rate, in->cfg->meter_burst);
    agg_ingest_reject(in, topic, AGG_R_METER_RATE, msg);
    return false;
  }
  m->rate_tat = tat + step;
  return true;
}

/* ---- Setup --------------------------------------------------------------- */

int agg_ingest_new(const agg_ingest_deps *deps, agg_ingest **out) {
  *out = NULL;
  agg_ingest *in = calloc(1, sizeof *in);
  if (!in)
    return GL_ENOMEM;
  in->d = *deps;
  in->cfg = deps->cfg;
  in->st = deps->st;
  int rc = agg_store_order_max_rx(in->st, &in->rx);
  if (rc) {
    free(in);
    return rc;
  }
  agg_ingest_recount(in);
  *out = in;
  return 0;
}

void agg_ingest_free(agg_ingest *in) {
  if (!in)
    return;
  if (agg_store_in_tx(in->st))
    agg_store_rollback(in->st);
  free(in->dirty);
  free(in);
}

void agg_ingest_recount(agg_ingest *in) {
  in->online = 0;
  in->outbox = 0;
  size_t n = agg_meters_count(in->d.meters);
  for (size_t i = 0; i < n; i++) {
    const agg_meter *m = agg_meters_at(in->d.meters, i);
    if (m->dyn.status == PR_STATE_ONLINE)
      in->online++;
    if (m->dyn.outbox > 0)
      in->outbox += m->dyn.outbox;
  }
  if (in->d.metrics) {
    agg_gauge(&in->d.metrics->meters_online, in->online);
    agg_gauge(&in->d.metrics->meters_outbox, in->outbox);
    agg_gauge(&in->d.metrics->meters_active,
              (int64_t)agg_meters_active(in->d.meters));
    agg_gauge(&in->d.metrics->meters_revoked,
              (int64_t)(n - agg_meters_active(in->d.meters)));
  }
}

static int ensure_tx(agg_ingest *in) {
  if (agg_store_in_tx(in->st))
    return 0;
  return agg_store_begin(in->st);
}

static int mark_dirty(agg_ingest *in, agg_meter *m) {
  if (m->dyn_dirty)
    return 0;
  if (in->ndirty == in->capdirty) {
    size_t cap = in->capdirty ? in->capdirty * 2 : 256;
    agg_meter **v = realloc(in->dirty, cap * sizeof *v);
    if (!v)
      return GL_ENOMEM;
    in->dirty = v;
    in->capdirty = cap;
  }
  in->dirty[in->ndirty++] = m;
  m->dyn_dirty = true;
  return 0;
}

/* ---- Per-type checks ----------------------------------------------------- */

/* A refusal: the reason and a message for the log. */
typedef struct verdict {
  agg_reason r;
  char msg[200];
} verdict;

static agg_reason refuse(verdict *v, agg_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static agg_reason refuse(verdict *v, agg_reason r, const char *fmt, ...) {
  v->r = r;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->msg, sizeof v->msg, fmt, ap);
  va_end(ap);
  return r;
}

static bool one_interval(const agg_config *cfg, int64_t start, int64_t end) {
  return gl_floor_div(start, cfg->interval) * cfg->interval == start &&
         end - start == cfg->interval;
}

static agg_reason check_reading(agg_ingest *in, const agg_job *j,
                                const agg_meter *m, int64_t now, verdict *v) {
  const agg_config *cfg = in->cfg;
  const pr_reading *r = &j->msg.reading;
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX], dur[32];
  if (!one_interval(cfg, r->start, r->end))
    return refuse(v, AGG_R_BAD_INTERVAL,
                  "reading for [%s, %s) is not one %s interval of the "
                  "community",
                  gl_time_format(r->start, a), gl_time_format(r->end, b),
                  gl_duration_format(cfg->interval, dur, sizeof dur));
  if (r->end > now + cfg->max_future)
    return refuse(v, AGG_R_TS_FUTURE,
                  "reading for an interval ending %s, in the future",
                  gl_time_format(r->end, a));
  if (r->start < agg_market_first(in->d.market))
    return refuse(v, AGG_R_BEFORE_START,
                  "reading for %s, before the first interval settled here "
                  "(%s)",
                  gl_time_format(r->start, a),
                  gl_time_format(agg_market_first(in->d.market), b));
  int64_t rated = m->rated_w ? m->rated_w : cfg->rated_power;
  int64_t secs = cfg->interval / GL_NS_PER_SEC;
  int64_t limit = (rated * secs + 3599) / 3600;
  static const char *const names[] = {"import_wh", "export_wh", "pv_wh",
                                      "charge_wh", "discharge_wh"};
  const int64_t vals[] = {r->import_wh, r->export_wh, r->pv_wh, r->charge_wh,
                          r->discharge_wh};
  for (int i = 0; i < 5; i++)
    if (vals[i] > limit)
      return refuse(v, AGG_R_IMPLAUSIBLE_POWER,
                    "%s %" PRId64 " Wh in %s is more than the rated %" PRId64
                    " W can do (%" PRId64 " Wh)",
                    names[i], vals[i],
                    gl_duration_format(cfg->interval, dur, sizeof dur), rated,
                    limit);
  const agg_meter_dyn *d = &m->dyn;
  bool reset = r->flags & (PR_FLAG_COUNTER_RESET | PR_FLAG_ROLLOVER);
  if (!reset && d->last_end > 0 && r->end > d->last_end) {
    if (r->has_import_total_wh && d->last_import_total >= 0 &&
        r->import_total_wh < d->last_import_total)
      return refuse(v, AGG_R_COUNTER_BACKWARDS,
                    "import register %" PRId64 " Wh at %s is below %" PRId64
                    " Wh at %s, without a counter_reset or rollover flag",
                    r->import_total_wh, gl_time_format(r->end, a),
                    d->last_import_total, gl_time_format(d->last_end, b));
    if (r->has_export_total_wh && d->last_export_total >= 0 &&
        r->export_total_wh < d->last_export_total)
      return refuse(v, AGG_R_COUNTER_BACKWARDS,
                    "export register %" PRId64 " Wh at %s is below %" PRId64
                    " Wh at %s, without a counter_reset or rollover flag",
                    r->export_total_wh, gl_time_format(r->end, a),
                    d->last_export_total, gl_time_format(d->last_end, b));
  }
  if (cfg->pv_night && cfg->has_location && r->pv_wh > cfg->night_tolerance &&
      agg_solar_night(r->start, r->end, cfg->lat_udeg, cfg->lon_udeg,
                      cfg->night_elev_mdeg))
    return refuse(
        v, AGG_R_PV_AT_NIGHT,
        "pv_wh %" PRId64 " in [%s, %s), when the sun is below "
        "%.1f degrees all interval long at %s, %s",
        r->pv_wh, gl_time_format(r->start, a), gl_time_format(r->end, b),
        (double)cfg->night_elev_mdeg / 1000.0, cfg->latitude, cfg->longitude);
  /* last_reading is the newest start of any reading stored for the meter
   * (it moves in the transaction that stores the reading and never back),
   * so a later interval has none yet: the usual case, one interval after
   * the other, needs no lookup. */
  if (r->start > d->last_reading)
    return AGG_R_NONE;
  agg_reading_rec old;
  int g = agg_store_reading_find(in->st, r->start, m->id, &old);
  if (g == 0)
    return refuse(v, AGG_R_READING_CONFLICT,
                  "a second reading for %s (seq %" PRId64 "; seq %" PRId64
                  " is recorded)",
                  gl_time_format(r->start, a), j->msg.seq, old.seq);
  if (g != GL_ENOENT)
    return refuse(v, AGG_R_INTERNAL, "storage: %s", gl_strerror(g));
  return AGG_R_NONE;
}

static agg_reason check_order(agg_ingest *in, const agg_job *j, int64_t now,
                              verdict *v) {
  const agg_config *cfg = in->cfg;
  const pr_order *o = &j->msg.order;
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX], dur[32];
  if (cfg->mode == MKT_MODE_EXPOST)
    return refuse(v, AGG_R_MODE_MISMATCH,
                  "an order, but the market runs expost (send prefs)");
  if (!one_interval(cfg, o->start, o->end))
    return refuse(v, AGG_R_BAD_INTERVAL,
                  "order for [%s, %s) is not one %s interval",
                  gl_time_format(o->start, a), gl_time_format(o->end, b),
                  gl_duration_format(cfg->interval, dur, sizeof dur));
  if (now >= o->start - cfg->gate_closure)
    return refuse(v, AGG_R_GATE_CLOSED,
                  "order for %s after its gate closed at %s",
                  gl_time_format(o->start, a),
                  gl_time_format(o->start - cfg->gate_closure, b));
  if (o->start > now + cfg->horizon)
    return refuse(v, AGG_R_BEYOND_HORIZON, "order for %s, more than %s ahead",
                  gl_time_format(o->start, a),
                  gl_duration_format(cfg->horizon, dur, sizeof dur));
  if (cfg->mode == MKT_MODE_CONTINUOUS) {
    for (size_t i = 0; i < o->nsteps; i++) {
      int64_t p = o->steps[i].price;
      if (p < cfg->feed_in)
        p = cfg->feed_in;
      if (p > cfg->retail)
        p = cfg->retail;
      if ((p - cfg->feed_in) % cfg->tick != 0)
        return refuse(v, AGG_R_OFF_TICK,
                      "steps[%zu].price %" PRId64
                      " is not on the price grid (feed-in %" PRId64
                      " + k * %" PRId64 ")",
                      i, o->steps[i].price, cfg->feed_in, cfg->tick);
    }
  }
  return AGG_R_NONE;
}

/* ---- Processing ---------------------------------------------------------- */

static int resend_receipt(agg_ingest *in, const agg_meter *m,
                          int64_t interval) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = agg_store_result_get(in->st, interval, m->id, &bytes, &len);
  if (rc == GL_ENOENT)
    return 0; /* results not signed yet: they go out anyway */
  if (rc)
    return rc;
  char topic[PR_TOPIC_MAX];
  rc = pr_topic_build(PR_TOPIC_RESULT, in->cfg->community, m->id, topic,
                      sizeof topic);
  if (rc == 0)
    rc = agg_outbox_transient(in->d.outbox, AGG_PUB_RECEIPT, topic, bytes, len,
                              NULL, 0);
  free(bytes);
  if (rc == 0 && in->d.metrics)
    agg_count(&in->d.metrics->receipts_resent, 1);
  return rc;
}

/* A message already stored under its (meter, seq). */
static int seen_before(agg_ingest *in, const agg_job *j, agg_meter *m,
                       const uint8_t digest[32], int outcome,
                       agg_reason *result, bool *dup) {
  agg_kind k = kind_of(j->parsed.kind);
  if (memcmp(digest, j->digest, 32) == 0) {
    *dup = true;
    *result = AGG_R_NONE;
    if (in->d.metrics)
      agg_count(&in->d.metrics->duplicates, 1);
    rlog(in, AGG_R_COUNT, GL_LOG_DEBUG,
         "%.*s: duplicate of seq %" PRId64 " (ignored)", (int)j->topic_len,
         j->topic, j->msg.seq);
    if (k == AGG_KIND_READING && outcome == AGG_R_NONE &&
        agg_market_settled(in->d.market, j->msg.reading.start))
      return resend_receipt(in, m, j->msg.reading.start);
    return 0;
  }
  /* Two different messages signed with one number: evidence. */
  agg_msg_rec rec = {.seq = j->msg.seq,
                     .kind = (int)k,
                     .received = j->received,
                     .bytes = j->buf,
                     .len = j->len};
  memcpy(rec.meter, m->id, sizeof rec.meter);
  memcpy(rec.digest, j->digest, 32);
  int rc = ensure_tx(in);
  if (rc == 0)
    rc = agg_store_evidence_put(in->st, &rec, digest);
  if (rc)
    return rc;
  in->batch++;
  *result = AGG_R_SEQ_REUSE;
  count_reject(in, AGG_R_SEQ_REUSE);
  if (in->d.metrics)
    agg_count(&in->d.metrics->evidence, 1);
  rlog(in, AGG_R_SEQ_REUSE, GL_LOG_WARN,
       "%.*s: rejected (seq_reuse): %s signed two different messages with "
       "seq %" PRId64 "; the second is kept as evidence",
       (int)j->topic_len, j->topic, m->id, j->msg.seq);
  return 0;
}

static int accept_reading(agg_ingest *in, const agg_job *j, agg_meter *m) {
  const pr_reading *r = &j->msg.reading;
  agg_reading_rec rec = {.interval = r->start,
                         .seq = j->msg.seq,
                         .import_wh = r->import_wh,
                         .export_wh = r->export_wh,
                         .pv_wh = r->pv_wh,
                         .charge_wh = r->charge_wh,
                         .discharge_wh = r->discharge_wh,
                         .flags = r->flags,
                         .ledger_index = -1};
  memcpy(rec.meter, m->id, sizeof rec.meter);
  memcpy(rec.digest, j->digest, 32);
  bool late = agg_market_settled(in->d.market, r->start);
  int rc = 0;
  if (late) {
    rec.late = AGG_LATE;
    rc = agg_market_late_reading(in->d.market, &rec);
    if (rc == 0 && in->d.metrics)
      agg_count(&in->d.metrics->late, 1);
    char a[GL_TIME_STR_MAX];
    if (rc == 0)
      rlog(in, AGG_R_COUNT, GL_LOG_NOTICE,
           "%s: late reading for %s (already settled; logged as late, the "
           "settlement stands)",
           m->id, gl_time_format(r->start, a));
  }
  if (rc == 0)
    rc = agg_store_reading_put(in->st, &rec);
  if (rc == 0 && !late && m->state == AGG_METER_ACTIVE)
    agg_market_reading(in->d.market, r->start);
  if (rc)
    return rc;
  agg_meter_dyn *d = &m->dyn;
  if ((r->has_import_total_wh || r->has_export_total_wh) &&
      r->end > d->last_end) {
    d->last_end = r->end;
    d->last_import_total = r->has_import_total_wh ? r->import_total_wh : -1;
    d->last_export_total = r->has_export_total_wh ? r->export_total_wh : -1;
  }
  if (r->start > d->last_reading)
    d->last_reading = r->start;
  return 0;
}

static int accept_order(agg_ingest *in, const agg_job *j, agg_meter *m,
                        verdict *v) {
  const pr_order *o = &j->msg.order;
  agg_order_rec rec = {.interval = o->start,
                       .seq = j->msg.seq,
                       .rx = in->rx + 1,
                       .nsteps = o->nsteps};
  memcpy(rec.meter, m->id, sizeof rec.meter);
  memcpy(rec.steps, o->steps, o->nsteps * sizeof *o->steps);
  memcpy(rec.digest, j->digest, 32);
  /* The book first: a refused order must not be stored, or replaying the
   * stored orders after a restart would give another book. */
  int rc = agg_market_order(in->d.market, &rec);
  if (rc == GL_EFULL) {
    refuse(v, AGG_R_BOOK_FULL,
           "the continuous books are full (market.max_orders order steps "
           "in force)");
    return 0;
  }
  if (rc == GL_EPERM) {
    refuse(v, AGG_R_ORDER_LIMIT,
           "%s has %" PRId64 " order steps in force; at most %" PRId64
           " (market.max_orders_per_meter)",
           m->id, m->live_orders, in->cfg->max_orders_per_meter);
    return 0;
  }
  if (rc == 0)
    rc = agg_store_order_put(in->st, &rec);
  if (rc == 0)
    in->rx++;
  return rc;
}

static int accept_prefs(agg_ingest *in, const agg_job *j, agg_meter *m) {
  const pr_prefs *p = &j->msg.prefs;
  agg_prefs_rec rec = {.seq = j->msg.seq,
                       .effective = p->effective,
                       .has_buy = p->has_buy_below,
                       .buy = p->buy_below,
                       .has_sell = p->has_sell_above,
                       .sell = p->sell_above};
  memcpy(rec.meter, m->id, sizeof rec.meter);
  memcpy(rec.digest, j->digest, 32);
  int rc = agg_store_prefs_put(in->st, &rec);
  if (rc == 0)
    rc = agg_market_prefs(in->d.market, &rec);
  return rc;
}

static void accept_status(agg_ingest *in, const agg_job *j, agg_meter *m) {
  const pr_status *s = &j->msg.status;
  agg_meter_dyn *d = &m->dyn;
  /* The latest delivered status is current (docs/protocol.md). */
  if (d->status == PR_STATE_ONLINE)
    in->online--;
  if (d->outbox > 0)
    in->outbox -= d->outbox;
  d->status = (int)s->state;
  d->status_ts = j->msg.ts;
  d->outbox = s->has_outbox ? s->outbox : -1;
  if (s->version[0])
    snprintf(d->version, sizeof d->version, "%s", s->version);
  if (d->status == PR_STATE_ONLINE)
    in->online++;
  if (d->outbox > 0)
    in->outbox += d->outbox;
  if (in->d.metrics) {
    agg_gauge(&in->d.metrics->meters_online, in->online);
    agg_gauge(&in->d.metrics->meters_outbox, in->outbox);
  }
}

static bool proof_allowed(agg_ingest *in, agg_meter *m) {
  int64_t now = gl_clock_monotonic(in->d.real);
  if (now - m->proof_window >= PROOF_WINDOW) {
    m->proof_window = now;
    m->proof_count = 0;
  }
  return ++m->proof_count <= in->cfg->proof_rate;
}

int agg_ingest_process(agg_ingest *in, const agg_job *j, agg_reason *outcome,
                       bool *duplicate) {
  agg_reason result = AGG_R_NONE;
  bool dup = false;
  if (outcome)
    *outcome = AGG_R_NONE;
  if (duplicate)
    *duplicate = false;
  agg_kind kind = j->rc == 0 ? kind_of(j->parsed.kind) : kind_of_text(j->topic);
  if (in->d.metrics)
    agg_count(&in->d.metrics->received[kind], 1);
  if (j->rc) {
    result = agg_reason_from_pr(j->diag.reason);
    count_reject(in, result);
    rlog(in, result, GL_LOG_WARN, "%.*s: rejected (%s): %s", (int)j->topic_len,
         j->topic, agg_reason_name(result), j->diag.msg);
    if (outcome)
      *outcome = result;
    return 0;
  }
  agg_meter *m = agg_meters_find(in->d.meters, j->msg.sender);
  if (!m) {
    /* Removed from the registry between verification and now. */
    count_reject(in, AGG_R_UNKNOWN_KEY);
    if (outcome)
      *outcome = AGG_R_UNKNOWN_KEY;
    return 0;
  }
  int rc = 0;
  if (j->msg.seq <= m->dyn.max_seq) {
    uint8_t digest[32];
    int outc = 0;
    rc = agg_store_msg_find(in->st, m->id, j->msg.seq, digest, &outc);
    if (rc == 0) {
      rc = seen_before(in, j, m, digest, outc, &result, &dup);
      if (outcome)
        *outcome = result;
      if (duplicate)
        *duplicate = dup;
      return rc;
    }
    if (rc != GL_ENOENT)
      return rc;
    rc = 0; /* an unused number below the highest: e.g. a re-send of a
               message whose first delivery we lost in a crash */
  }
  int64_t now = gl_clock_now(in->d.clock);
  verdict v = {.r = AGG_R_NONE};
  char a[GL_TIME_STR_MAX];
  if (j->msg.ts > now + in->cfg->max_future)
    refuse(&v, AGG_R_TS_FUTURE, "ts %s is ahead of our clock by more than %s",
           gl_time_format(j->msg.ts, a), "ingest.max_future");
  else if (j->msg.type != PR_MSG_STATUS && j->msg.ts < now - in->cfg->max_age)
    refuse(&v, AGG_R_TS_STALE, "ts %s is older than ingest.max_age",
           gl_time_format(j->msg.ts, a));
  rc = ensure_tx(in);
  if (rc)
    return rc;
  if (v.r == AGG_R_NONE) {
    switch (j->msg.type) {
    case PR_MSG_READING:
      if (check_reading(in, j, m, now, &v) == AGG_R_NONE)
        rc = accept_reading(in, j, m);
      break;
    case PR_MSG_ORDER:
      if (check_order(in, j, now, &v) == AGG_R_NONE)
        rc = accept_order(in, j, m, &v);
      break;
    case PR_MSG_PREFS:
      rc = accept_prefs(in, j, m);
      break;
    case PR_MSG_STATUS:
      accept_status(in, j, m);
      break;
    case PR_MSG_PROOF_REQUEST:
      if (!proof_allowed(in, m))
        refuse(&v, AGG_R_RATE_LIMITED,
               "more than %" PRId64 " proof requests in a minute",
               in->cfg->proof_rate);
      else if (in->d.proof)
        in->d.proof(in->d.proof_ctx, j);
      break;
    default:
      refuse(&v, AGG_R_WRONG_TYPE, "not a meter message");
      break;
    }
  }
  if (rc)
    return rc;
  if (v.r == AGG_R_TS_FUTURE || v.r == AGG_R_INTERNAL) {
    /* Temporary: our clock may be behind, or storage hiccupped. Stored,
     * the verdict would be final (the meter's re-send of the same bytes
     * would be a duplicate, ignored), so it is counted and logged only. */
    count_reject(in, v.r);
    rlog(in, v.r, GL_LOG_WARN,
         "%.*s: rejected (%s) for now: seq %" PRId64 ": %s (not stored: a "
         "re-send is examined again)",
         (int)j->topic_len, j->topic, agg_reason_name(v.r), j->msg.seq, v.msg);
    if (outcome)
      *outcome = v.r;
    return 0;
  }
  agg_msg_rec rec = {.seq = j->msg.seq,
                     .kind = (int)kind,
                     .received = j->received,
                     .outcome = (int)v.r,
                     .bytes = j->buf,
                     .len = j->len};
  memcpy(rec.meter, m->id, sizeof rec.meter);
  memcpy(rec.digest, j->digest, 32);
  rc = agg_store_msg_put(in->st, &rec);
  if (rc)
    return rc;
  in->batch++;
  if (j->msg.seq > m->dyn.max_seq)
    m->dyn.max_seq = j->msg.seq;
  m->dyn.last_seen = now;
  rc = mark_dirty(in, m);
  if (v.r != AGG_R_NONE) {
    count_reject(in, v.r);
    rlog(in, v.r, GL_LOG_WARN, "%.*s: rejected (%s): seq %" PRId64 ": %s",
         (int)j->topic_len, j->topic, agg_reason_name(v.r), j->msg.seq, v.msg);
  } else if (in->d.metrics) {
    agg_count(&in->d.metrics->accepted[kind], 1);
  }
  if (outcome)
    *outcome = v.r;
  if (in->d.metrics)
    agg_gauge(&in->d.metrics->batch_pending, (int64_t)in->batch);
  return rc;
}

/* ---- Committing ---------------------------------------------------------- */

size_t agg_ingest_batch(const agg_ingest *in) {
  return in->batch;
}

bool agg_ingest_pending(const agg_ingest *in) {
  return agg_store_in_tx(in->st) || agg_outbox_dirty(in->d.outbox);
}

int agg_ingest_flush(agg_ingest *in) {
  if (!agg_ingest_pending(in))
    return 0;
  int rc = ensure_tx(in);
  for (size_t i = 0; rc == 0 && i < in->ndirty; i++) {
    rc = agg_store_dyn_put(in->st, &in->dirty[i]->dyn);
    if (rc == 0)
      in->dirty[i]->dyn_dirty = false;
  }
  if (rc == 0)
    rc = agg_outbox_flush(in->d.outbox);
  int64_t t0 = gl_clock_monotonic(in->d.real);
  if (rc == 0)
    rc = agg_store_commit(in->st);
  if (rc) {
    agg_store_rollback(in->st);
    GL_ERROR(LOG, "cannot commit %zu received message(s): %s", in->batch,
             gl_strerror(rc));
    return rc;
  }
  if (in->d.metrics) {
    agg_hist_observe(&in->d.metrics->commit,
                     gl_clock_monotonic(in->d.real) - t0);
    agg_count(&in->d.metrics->db_commits, 1);
    agg_gauge(&in->d.metrics->batch_pending, 0);
  }
  in->ndirty = 0;
  in->batch = 0;
  return agg_market_after_commit(in->d.market);
}

int agg_ingest_prune(agg_ingest *in, int limit, int *n) {
  if (n)
    *n = 0;
  if (agg_store_in_tx(in->st))
    return GL_ESTATE;
  int64_t before = gl_clock_now(in->d.clock) - in->cfg->retention;
  int rc = agg_store_begin(in->st);
  int k = 0;
  if (rc == 0)
    rc = agg_store_msg_prune(in->st, before, limit, &k);
  if (rc == 0)
    rc = agg_store_commit(in->st);
  else
    agg_store_rollback(in->st);
  if (rc == 0 && n)
    *n = k;
  return rc;
}
