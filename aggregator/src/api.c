/* SPDX-License-Identifier: MIT */
/*
 * api.c - the HTTP API and /metrics. See gridlet/agg_api.h and the
 * reference in docs/operations/aggregator.md.
 *
 * Sections: routing (pure), JSON helpers, handlers, the server.
 */
#include "gridlet/agg_api.h"

#include "gridlet/agg_proof.h"
#include "gridlet/agg_store.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/log.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "http"
#define LIMIT_DEFAULT 100
#define LIMIT_MAX 10000

/* ---- Routing ------------------------------------------------------------- */

static int bad(char *err, size_t errlen, const char *fmt, const char *what) {
  snprintf(err, errlen, fmt, what);
  return GL_EINVAL;
}

static bool parse_num(const char *s, int64_t *out) {
  int64_t v;
  if (gl_conf_parse_int(s, &v) != 0 || v < 0)
    return false;
  *out = v;
  return true;
}

int agg_api_route(const char *path, agg_route *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  if (err && errlen)
    err[0] = '\0';
  if (!path || path[0] != '/')
    return GL_ENOENT;
  /* Split into at most 5 segments of bounded length. */
  char seg[5][96];
  size_t n = 0;
  const char *p = path + 1;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 5 || len == 0 || len >= sizeof seg[0])
      return GL_ENOENT;
    memcpy(seg[n], p, len);
    seg[n][len] = '\0';
    n++;
    p += len;
    if (*p == '/' && !*++p)
      return GL_ENOENT; /* a trailing slash names nothing */
  }
  if (n == 1 && strcmp(seg[0], "healthz") == 0)
    r->kind = AGG_API_HEALTH;
  else if (n == 1 && strcmp(seg[0], "metrics") == 0)
    r->kind = AGG_API_METRICS;
  if (r->kind)
    return 0;
  if (n < 2 || strcmp(seg[0], "v1") != 0)
    return GL_ENOENT;
  const char *res = seg[1];
  if (n == 2) {
    static const struct {
      const char *name;
      agg_route_kind kind;
    } top[] = {
        {"status", AGG_API_STATUS}, {"intervals", AGG_API_INTERVALS},
        {"trades", AGG_API_TRADES}, {"balances", AGG_API_BALANCES},
        {"meters", AGG_API_METERS}, {"checkpoints", AGG_API_CHECKPOINTS}};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
      if (strcmp(res, top[i].name) == 0) {
        r->kind = top[i].kind;
        return 0;
      }
    return GL_ENOENT;
  }
  if (strcmp(res, "intervals") == 0 && (n == 3 || n == 4)) {
    if (n == 4 && strcmp(seg[3], "trades") != 0)
      return GL_ENOENT;
    if (gl_time_parse(seg[2], &r->time) != 0)
      return bad(err, errlen,
                 "\"%s\" is not a time (RFC 3339, e.g. 2026-11-21T10:15:00Z)",
                 seg[2]);
    r->kind = n == 3 ? AGG_API_INTERVAL : AGG_API_INTERVAL_TRADES;
    return 0;
  }
  if ((strcmp(res, "balances") == 0 && n == 3) ||
      (strcmp(res, "meters") == 0 && (n == 3 || n == 4))) {
    if (n == 4 && strcmp(seg[3], "settlements") != 0)
      return GL_ENOENT;
    if (!pr_meter_id_valid(seg[2], strlen(seg[2])))
      return bad(err, errlen, "\"%s\" is not a meter id", seg[2]);
    size_t idlen = strlen(seg[2]); /* <= PR_ID_MAX: a valid meter id */
    memcpy(r->id, seg[2], idlen + 1);
    r->kind = res[0] == 'b'
                  ? AGG_API_BALANCE
                  : (n == 3 ? AGG_API_METER : AGG_API_METER_SETTLEMENTS);
    return 0;
  }
  if (strcmp(res, "checkpoints") == 0 && n == 3) {
    if (strcmp(seg[2], "latest") == 0) {
      r->kind = AGG_API_CHECKPOINT_LATEST;
      return 0;
    }
    if (!parse_num(seg[2], &r->num) || r->num < 1)
      return bad(err, errlen, "\"%s\" is not a tree size", seg[2]);
    r->kind = AGG_API_CHECKPOINT;
    return 0;
  }
  if (strcmp(res, "ledger") == 0 && n == 4 && strcmp(seg[2], "entries") == 0) {
    if (!parse_num(seg[3], &r->num))
      return bad(err, errlen, "\"%s\" is not an entry index", seg[3]);
    r->kind = AGG_API_ENTRY;
    return 0;
  }
  if (strcmp(res, "proofs") == 0 && n == 3) {
    if (strcmp(seg[2], "inclusion") == 0)
      r->kind = AGG_API_PROOF_INCLUSION;
    else if (strcmp(seg[2], "consistency") == 0)
      r->kind = AGG_API_PROOF_CONSISTENCY;
    else
      return GL_ENOENT;
    return 0;
  }
  return GL_ENOENT;
}

/* ---- JSON helpers -------------------------------------------------------- */

struct agg_api {
  struct MHD_Daemon *d;
  const agg_config *cfg;
  agg_metrics *metrics;
  const gl_clock *clock;
  agg_store *st;
  lg_ledger *lg;
  uint16_t port;
};

typedef struct reply {
  unsigned status;
  char *body; /* malloc'd */
  size_t len;
  const char *type;
} reply;

static void set_i(json_t *o, const char *k, int64_t v) {
  json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_s(json_t *o, const char *k, const char *v) {
  json_object_set_new(o, k, json_string(v));
}

static void set_t(json_t *o, const char *k, int64_t ns) {
  char t[GL_TIME_STR_MAX];
  json_object_set_new(o, k, json_string(gl_time_format(ns, t)));
}

static void set_b64(json_t *o, const char *k, const void *data, size_t len) {
  size_t cap = gl_base64_len(len) + 1;
  char *b = malloc(cap);
  if (!b)
    return;
  if (gl_base64_encode(data, len, b, cap) == 0)
    json_object_set_new(o, k, json_string(b));
  free(b);
}

static void set_hex(json_t *o, const char *k, const uint8_t *data, size_t len) {
  char hex[129];
  if (len > 64)
    return;
  gl_hex_encode(data, len, hex);
  json_object_set_new(o, k, json_string(hex));
}

static reply json_reply(unsigned status, json_t *root) {
  reply r = {.status = status, .type = "application/json"};
  if (!root) {
    r.status = 500;
    return r;
  }
  r.body = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(root);
  if (!r.body) {
    r.status = 500;
    return r;
  }
  r.len = strlen(r.body);
  /* A trailing newline makes curl output readable. */
  char *b = realloc(r.body, r.len + 2);
  if (b) {
    r.body = b;
    r.body[r.len++] = '\n';
    r.body[r.len] = '\0';
  }
  return r;
}

static reply error_reply(unsigned status, const char *msg) {
  json_t *e = json_object();
  set_i(e, "status", status);
  set_s(e, "message", msg);
  json_t *root = json_object();
  json_object_set_new(root, "error", e);
  return json_reply(status, root);
}

static reply store_error(int rc) {
  return rc == GL_ENOENT ? error_reply(404, "not found")
                         : error_reply(503, gl_strerror(rc));
}

/* ---- Query parameters ---------------------------------------------------- */

typedef struct query {
  int64_t from, to, limit;
  bool desc;
  const char *meter;
  char err[160];
} query;

static int q_lookup(struct MHD_Connection *c, const char *name,
                    const char **v) {
  *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
  return *v != NULL;
}

static bool q_list(struct MHD_Connection *c, query *q, bool desc_default) {
  const char *v;
  q->from = INT64_MIN;
  q->to = INT64_MAX;
  q->limit = LIMIT_DEFAULT;
  q->desc = desc_default;
  q->meter = NULL;
  if (q_lookup(c, "from", &v) && gl_time_parse(v, &q->from) != 0) {
    snprintf(q->err, sizeof q->err, "from: \"%.60s\" is not an RFC 3339 time",
             v);
    return false;
  }
  if (q_lookup(c, "to", &v) && gl_time_parse(v, &q->to) != 0) {
    snprintf(q->err, sizeof q->err, "to: \"%.60s\" is not an RFC 3339 time", v);
    return false;
  }
  if (q_lookup(c, "limit", &v) && (gl_conf_parse_int(v, &q->limit) != 0 ||
                                   q->limit < 1 || q->limit > LIMIT_MAX)) {
    snprintf(q->err, sizeof q->err, "limit: must be 1..%d", LIMIT_MAX);
    return false;
  }
  if (q_lookup(c, "order", &v)) {
    if (strcmp(v, "asc") == 0)
      q->desc = false;
    else if (strcmp(v, "desc") == 0)
      q->desc = true;
    else {
      snprintf(q->err, sizeof q->err, "order: asc or desc");
      return false;
    }
  }
  if (q_lookup(c, "meter", &v)) {
    if (!pr_meter_id_valid(v, strlen(v))) {
      snprintf(q->err, sizeof q->err, "meter: not a meter id");
      return false;
    }
    q->meter = v;
  }
  return true;
}

static bool q_num(struct MHD_Connection *c, const char *name, int64_t *out,
                  char *err, size_t errlen) {
  const char *v;
  if (!q_lookup(c, name, &v) || gl_conf_parse_int(v, out) != 0 || *out < 0) {
    snprintf(err, errlen, "%s: a non-negative integer is required", name);
    return false;
  }
  return true;
}

/* ---- Objects ------------------------------------------------------------- */

static const char *state_name(int s) {
  switch (s) {
  case AGG_IV_SETTLED:
    return "settled";
  case AGG_IV_RESULTS:
    return "signed";
  case AGG_IV_PUBLISHED:
    return "published";
  default:
    return "unknown";
  }
}

static json_t *interval_json(const agg_interval_rec *iv) {
  json_t *o = json_object();
  set_t(o, "start", iv->start);
  set_t(o, "end", iv->start + iv->len_s * GL_NS_PER_SEC);
  set_s(o, "state", state_name(iv->state));
  set_s(o, "mode", mkt_mode_name((mkt_mode)iv->mode));
  set_s(o, "rule",
        iv->mode == MKT_MODE_CONTINUOUS ? "cda"
                                        : mkt_rule_name((mkt_rule)iv->rule));
  if (iv->has_price)
    set_i(o, "price", iv->price);
  else
    json_object_set_new(o, "price", json_null());
  set_i(o, "traded_wh", iv->volume);
  set_i(o, "meters", iv->meters);
  set_i(o, "missing", iv->missing);
  set_i(o, "import_wh", iv->import_wh);
  set_i(o, "export_wh", iv->export_wh);
  set_i(o, "grid_import_wh", iv->grid_import);
  set_i(o, "grid_export_wh", iv->grid_export);
  set_i(o, "local_paid", iv->local_paid);
  set_i(o, "fees", iv->fees);
  set_i(o, "utility_net", iv->utility);
  set_i(o, "surplus", iv->surplus);
  json_t *tariff = json_object();
  set_i(tariff, "retail", iv->retail);
  set_i(tariff, "feed_in", iv->feed_in);
  set_i(tariff, "fee", iv->fee_price);
  json_object_set_new(o, "tariff", tariff);
  json_t *lg = json_object();
  set_i(lg, "first", iv->ledger_first);
  set_i(lg, "count", iv->ledger_count);
  set_i(lg, "checkpoint", iv->checkpoint);
  json_object_set_new(o, "ledger", lg);
  set_t(o, "settled_at", iv->settled_at);
  json_object_set_new(o, "clearing_ms",
                      json_real((double)iv->clearing_ns / 1e6));
  return o;
}

static json_t *flags_json(uint32_t flags) {
  json_t *a = json_array();
  for (uint32_t b = 1; b & PR_RESULT_FLAGS_ALL; b <<= 1)
    if (flags & b)
      json_array_append_new(a, json_string(pr_result_flag_name(b)));
  return a;
}

static json_t *settle_json(const agg_settle_rec *s, bool with_interval) {
  json_t *o = json_object();
  if (with_interval)
    set_t(o, "interval", s->interval);
  set_s(o, "meter", s->meter);
  json_object_set_new(o, "flags", flags_json(s->flags));
  set_i(o, "import_wh", s->import_wh);
  set_i(o, "export_wh", s->export_wh);
  set_i(o, "local_bought_wh", s->bought);
  set_i(o, "local_sold_wh", s->sold);
  set_i(o, "grid_import_wh", s->grid_import);
  set_i(o, "grid_export_wh", s->grid_export);
  set_i(o, "local_paid", s->local_paid);
  set_i(o, "local_received", s->local_received);
  set_i(o, "grid_paid", s->grid_paid);
  set_i(o, "grid_received", s->grid_received);
  set_i(o, "fee", s->fee);
  set_i(o, "net", s->net);
  set_i(o, "balance", s->balance);
  json_t *refs = json_array();
  for (size_t i = 0; i < s->nrefs; i++)
    json_array_append_new(refs, json_integer((json_int_t)s->refs[i]));
  json_object_set_new(o, "ledger_entries", refs);
  return o;
}

static json_t *trade_json(const agg_trade_rec *t, bool with_interval) {
  json_t *o = json_object();
  if (with_interval)
    set_t(o, "interval", t->interval);
  set_s(o, "buyer", t->buyer);
  set_s(o, "seller", t->seller);
  set_i(o, "wh", t->wh);
  set_i(o, "buy_price", t->buy_price);
  set_i(o, "sell_price", t->sell_price);
  return o;
}

static json_t *balance_json(const agg_balance_rec *b) {
  json_t *o = json_object();
  set_s(o, "meter", b->meter);
  set_i(o, "money", b->money);
  set_i(o, "fees", b->fees);
  set_i(o, "local_bought_wh", b->bought);
  set_i(o, "local_sold_wh", b->sold);
  set_i(o, "grid_import_wh", b->grid_import);
  set_i(o, "grid_export_wh", b->grid_export);
  set_i(o, "intervals", b->intervals);
  set_i(o, "missing_readings", b->missing);
  return o;
}

/* ---- Handlers ------------------------------------------------------------ */

typedef struct walk {
  json_t *arr;
  bool with_interval;
} walk;

static int add_settle(void *ctx, const agg_settle_rec *s) {
  walk *w = ctx;
  json_array_append_new(w->arr, settle_json(s, w->with_interval));
  return 0;
}

static int add_trade(void *ctx, const agg_trade_rec *t) {
  walk *w = ctx;
  json_array_append_new(w->arr, trade_json(t, w->with_interval));
  return 0;
}

static int add_interval(void *ctx, const agg_interval_rec *iv) {
  walk *w = ctx;
  json_array_append_new(w->arr, interval_json(iv));
  return 0;
}

static int add_balance(void *ctx, const agg_balance_rec *b) {
  walk *w = ctx;
  json_array_append_new(w->arr, balance_json(b));
  return 0;
}

static reply h_status(agg_api *a) {
  json_t *o = json_object();
  const agg_config *cfg = a->cfg;
  set_s(o, "community", cfg->community);
  set_s(o, "origin", cfg->origin);
  set_s(o, "mode", mkt_mode_name((mkt_mode)cfg->mode));
  set_s(o, "rule",
        cfg->mode == MKT_MODE_CONTINUOUS ? "cda"
                                         : mkt_rule_name((mkt_rule)cfg->rule));
  set_i(o, "interval_s", cfg->interval / GL_NS_PER_SEC);
  set_i(o, "grace_s", cfg->grace_eff / GL_NS_PER_SEC);
  json_t *tariff = json_object();
  set_i(tariff, "retail", cfg->retail);
  set_i(tariff, "feed_in", cfg->feed_in);
  set_i(tariff, "fee", cfg->fee);
  json_object_set_new(o, "tariff", tariff);
  set_t(o, "now", gl_clock_now(a->clock));
  int64_t first = 0;
  if (agg_store_meta_get(a->st, "first_interval", &first) == 0)
    set_t(o, "first_interval", first);
  agg_interval_rec iv;
  if (agg_store_interval_last(a->st, &iv) == 0)
    set_t(o, "last_settled", iv.start);
  else
    json_object_set_new(o, "last_settled", json_null());
  const agg_metrics *m = a->metrics;
  json_t *lg = json_object();
  set_i(lg, "size", atomic_load(&m->ledger_size));
  set_i(lg, "checkpoint", atomic_load(&m->checkpoint_size));
  json_object_set_new(o, "ledger", lg);
  json_t *mt = json_object();
  set_i(mt, "active", atomic_load(&m->meters_active));
  set_i(mt, "revoked", atomic_load(&m->meters_revoked));
  set_i(mt, "online", atomic_load(&m->meters_online));
  json_object_set_new(o, "meters", mt);
  json_object_set_new(o, "mqtt_connected",
                      json_boolean(atomic_load(&m->mqtt_connected) != 0));
  set_i(o, "outbox", atomic_load(&m->outbox));
  set_t(o, "started", atomic_load(&m->start_time));
  set_s(o, "version", "0.1.0");
  return json_reply(200, o);
}

static reply h_intervals(agg_api *a, struct MHD_Connection *c) {
  query q;
  if (!q_list(c, &q, true))
    return error_reply(400, q.err);
  walk w = {.arr = json_array()};
  int rc = agg_store_intervals_each(a->st, q.from, q.to, q.desc, q.limit,
                                    add_interval, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "intervals", w.arr);
  return json_reply(200, o);
}

static reply h_interval(agg_api *a, const agg_route *r, bool trades_only) {
  agg_interval_rec iv;
  int rc = agg_store_interval_get(a->st, r->time, &iv);
  if (rc)
    return rc == GL_ENOENT ? error_reply(404, "no settled interval starts "
                                              "at this time")
                           : store_error(rc);
  json_t *o = trades_only ? json_object() : interval_json(&iv);
  walk w = {.arr = json_array()};
  rc = agg_store_trades_each(a->st, iv.start, iv.start + 1, NULL, false, 0,
                             add_trade, &w);
  json_object_set_new(o, "trades", w.arr);
  if (rc == 0 && !trades_only) {
    walk s = {.arr = json_array()};
    rc = agg_store_settle_each(a->st, iv.start, iv.start + 1, NULL, false, 0,
                               add_settle, &s);
    json_object_set_new(o, "settlements", s.arr);
  }
  if (rc) {
    json_decref(o);
    return store_error(rc);
  }
  return json_reply(200, o);
}

static reply h_trades(agg_api *a, struct MHD_Connection *c) {
  query q;
  if (!q_list(c, &q, true))
    return error_reply(400, q.err);
  walk w = {.arr = json_array(), .with_interval = true};
  int rc = agg_store_trades_each(a->st, q.from, q.to, q.meter, q.desc, q.limit,
                                 add_trade, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "trades", w.arr);
  return json_reply(200, o);
}

static reply h_balances(agg_api *a) {
  walk w = {.arr = json_array()};
  int rc = agg_store_balances_each(a->st, add_balance, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  int64_t money = 0, fees = 0;
  for (size_t i = 0; i < json_array_size(w.arr); i++) {
    json_t *b = json_array_get(w.arr, i);
    money += json_integer_value(json_object_get(b, "money"));
    fees += json_integer_value(json_object_get(b, "fees"));
  }
  json_t *o = json_object();
  json_object_set_new(o, "balances", w.arr);
  json_t *t = json_object();
  set_i(t, "households_money", money);
  set_i(t, "fees", fees);
  json_object_set_new(o, "totals", t);
  return json_reply(200, o);
}

static reply h_balance(agg_api *a, const agg_route *r) {
  agg_balance_rec b;
  int rc = agg_store_balance_get(a->st, r->id, &b);
  if (rc == GL_ENOENT) {
    memset(&b, 0, sizeof b);
    snprintf(b.meter, sizeof b.meter, "%s", r->id);
  } else if (rc) {
    return store_error(rc);
  }
  return json_reply(200, balance_json(&b));
}

static json_t *meter_json(const agg_meter_rec *m, const agg_meter_dyn *d,
                          bool have_dyn) {
  json_t *o = json_object();
  set_s(o, "id", m->id);
  set_s(o, "state", m->state == AGG_METER_ACTIVE ? "active" : "revoked");
  set_s(o, "serial", m->serial);
  set_hex(o, "public_key", m->pub, 32);
  set_t(o, "not_after", m->not_after);
  set_t(o, "enrolled_at", m->enrolled_at);
  if (m->revoked_at)
    set_t(o, "revoked_at", m->revoked_at);
  if (m->rated_w)
    set_i(o, "rated_w", m->rated_w);
  json_t *st = json_object();
  if (have_dyn && d->status) {
    set_s(st, "state", pr_state_name((pr_state)d->status));
    set_t(st, "ts", d->status_ts);
    if (d->outbox >= 0)
      set_i(st, "outbox", d->outbox);
    if (d->version[0])
      set_s(st, "version", d->version);
  } else {
    set_s(st, "state", "unknown");
  }
  json_object_set_new(o, "status", st);
  if (have_dyn && d->last_seen)
    set_t(o, "last_seen", d->last_seen);
  if (have_dyn && d->last_reading)
    set_t(o, "last_reading", d->last_reading);
  if (have_dyn)
    set_i(o, "max_seq", d->max_seq);
  return o;
}

typedef struct meters_walk {
  agg_api *a;
  json_t *arr;
} meters_walk;

static int add_meter(void *ctx, const agg_meter_rec *m) {
  meters_walk *w = ctx;
  agg_meter_dyn d;
  bool have = agg_store_dyn_get(w->a->st, m->id, &d) == 0;
  json_array_append_new(w->arr, meter_json(m, &d, have));
  return 0;
}

static reply h_meters(agg_api *a) {
  meters_walk w = {.a = a, .arr = json_array()};
  int rc = agg_store_meters_each(a->st, add_meter, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "meters", w.arr);
  return json_reply(200, o);
}

static reply h_meter(agg_api *a, const agg_route *r) {
  agg_meter_rec m;
  int rc = agg_store_meter_get(a->st, r->id, &m);
  if (rc)
    return rc == GL_ENOENT ? error_reply(404, "no such meter is enrolled")
                           : store_error(rc);
  agg_meter_dyn d;
  bool have = agg_store_dyn_get(a->st, r->id, &d) == 0;
  json_t *o = meter_json(&m, &d, have);
  agg_balance_rec b;
  if (agg_store_balance_get(a->st, r->id, &b) == 0)
    json_object_set_new(o, "balance", balance_json(&b));
  return json_reply(200, o);
}

static reply h_meter_settlements(agg_api *a, struct MHD_Connection *c,
                                 const agg_route *r) {
  query q;
  if (!q_list(c, &q, true))
    return error_reply(400, q.err);
  walk w = {.arr = json_array(), .with_interval = true};
  int rc = agg_store_settle_each(a->st, q.from, q.to, r->id, q.desc, q.limit,
                                 add_settle, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  json_t *o = json_object();
  set_s(o, "meter", r->id);
  json_object_set_new(o, "settlements", w.arr);
  return json_reply(200, o);
}

static json_t *checkpoint_json(int64_t size, const char *note,
                               int64_t signed_at) {
  json_t *o = json_object();
  set_i(o, "size", size);
  set_t(o, "signed_at", signed_at);
  set_s(o, "note", note);
  return o;
}

static int add_checkpoint(void *ctx, int64_t size, const char *note,
                          int64_t signed_at) {
  walk *w = ctx;
  json_array_append_new(w->arr, checkpoint_json(size, note, signed_at));
  return 0;
}

static reply h_checkpoints(agg_api *a, struct MHD_Connection *c) {
  query q;
  if (!q_list(c, &q, true))
    return error_reply(400, q.err);
  walk w = {.arr = json_array()};
  int rc = agg_store_checkpoints_each(a->st, q.limit, add_checkpoint, &w);
  if (rc) {
    json_decref(w.arr);
    return store_error(rc);
  }
  json_t *o = json_object();
  json_object_set_new(o, "checkpoints", w.arr);
  return json_reply(200, o);
}

static reply h_checkpoint(agg_api *a, int64_t size) {
  char *note = NULL;
  int64_t got = 0, at = 0;
  int rc = agg_store_checkpoint_get(a->st, size, &note, &got, &at);
  if (rc)
    return rc == GL_ENOENT ? error_reply(404, "no checkpoint of this size")
                           : store_error(rc);
  json_t *o = checkpoint_json(got, note, at);
  free(note);
  return json_reply(200, o);
}

static json_t *entry_json(const lg_entry *e) {
  json_t *o = json_object();
  char t[GL_TIME_STR_MAX];
  switch (e->type) {
  case LG_ENTRY_ORDER: {
    const lg_order *g = &e->u.order;
    set_t(o, "interval_start", g->interval_start);
    set_s(o, "meter", g->meter_id);
    set_i(o, "seq", (int64_t)g->seq);
    set_s(o, "side", g->side == LG_SIDE_BUY ? "buy" : "sell");
    set_i(o, "quantity_wh", g->quantity_wh);
    set_i(o, "limit_price", g->limit_price);
    set_hex(o, "msg_digest", g->msg_digest, 32);
    break;
  }
  case LG_ENTRY_READING: {
    const lg_reading *g = &e->u.reading;
    set_t(o, "interval_start", g->interval_start);
    set_s(o, "meter", g->meter_id);
    set_i(o, "seq", (int64_t)g->seq);
    set_i(o, "import_wh", g->import_wh);
    set_i(o, "export_wh", g->export_wh);
    set_i(o, "flags", g->flags);
    json_object_set_new(o, "late", json_boolean((g->flags >> 31) & 1));
    set_hex(o, "msg_digest", g->msg_digest, 32);
    break;
  }
  case LG_ENTRY_CLEARING: {
    const lg_clearing *g = &e->u.clearing;
    set_t(o, "interval_start", g->interval_start);
    set_i(o, "interval_len_s", g->interval_len_s);
    set_i(o, "mode", g->mode);
    set_i(o, "rule", g->rule);
    set_i(o, "price", g->price);
    set_i(o, "volume_wh", g->volume_wh);
    json_t *tr = json_array();
    for (size_t i = 0; i < g->n_trades; i++) {
      json_t *x = json_object();
      set_s(x, "buyer", g->trades[i].buyer);
      set_s(x, "seller", g->trades[i].seller);
      set_i(x, "energy_wh", g->trades[i].energy_wh);
      set_i(x, "price", g->trades[i].price);
      json_array_append_new(tr, x);
    }
    json_object_set_new(o, "trades", tr);
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *g = &e->u.settlement;
    set_t(o, "interval_start", g->interval_start);
    set_i(o, "interval_len_s", g->interval_len_s);
    set_i(o, "retail_price", g->retail_price);
    set_i(o, "feedin_price", g->feedin_price);
    set_i(o, "fee_price", g->fee_price);
    set_i(o, "utility_money", g->utility_money);
    set_i(o, "fee_money", g->fee_money);
    json_t *rows = json_array();
    for (size_t i = 0; i < g->n_rows; i++) {
      const lg_settlement_row *r = &g->rows[i];
      json_t *x = json_object();
      set_s(x, "meter", r->meter_id);
      set_i(x, "local_bought_wh", r->local_bought_wh);
      set_i(x, "local_sold_wh", r->local_sold_wh);
      set_i(x, "grid_import_wh", r->grid_import_wh);
      set_i(x, "grid_export_wh", r->grid_export_wh);
      set_i(x, "fee", r->fee);
      set_i(x, "money", r->money);
      set_i(x, "flags", r->flags);
      json_array_append_new(rows, x);
    }
    json_object_set_new(o, "rows", rows);
    break;
  }
  case LG_ENTRY_PARAM:
    set_t(o, "effective_from", e->u.param.effective_from);
    set_s(o, "key", e->u.param.key);
    set_s(o, "value", e->u.param.value);
    break;
  case LG_ENTRY_ENROLMENT: {
    const lg_enrolment *g = &e->u.enrolment;
    set_s(o, "time", gl_time_format(g->time, t));
    set_s(o, "action", g->action == LG_ENROL ? "enrol" : "revoke");
    set_s(o, "meter", g->meter_id);
    set_hex(o, "public_key", g->pubkey, 32);
    set_hex(o, "cert_digest", g->cert_digest, 32);
    break;
  }
  }
  return o;
}

static reply h_entry(agg_api *a, int64_t index) {
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = lg_ledger_entry(a->lg, (uint64_t)index, &data, &len);
  if (rc)
    return rc == GL_ENOENT ? error_reply(404, "no such entry")
                           : store_error(rc);
  json_t *o = json_object();
  set_i(o, "index", index);
  uint8_t hash[LG_HASH_LEN];
  if (lg_ledger_leaf_hash(a->lg, (uint64_t)index, hash) == 0)
    set_hex(o, "leaf_hash", hash, LG_HASH_LEN);
  set_b64(o, "bytes", data, len);
  lg_entry e;
  const char *why = NULL;
  if (lg_entry_decode(data, len, &e, &why) == 0) {
    set_s(o, "type", lg_entry_type_name((int)e.type));
    json_object_set_new(o, "entry", entry_json(&e));
    lg_entry_clear(&e);
  } else {
    set_s(o, "type", "undecodable");
  }
  free(data);
  return json_reply(200, o);
}

static reply h_proof(agg_api *a, struct MHD_Connection *c, bool inclusion) {
  pr_proof_request req = {.kind = inclusion ? PR_PROOF_INCLUSION
                                            : PR_PROOF_CONSISTENCY};
  char err[120];
  if (!q_num(c, "size", &req.size, err, sizeof err) ||
      !(inclusion ? q_num(c, "index", &req.index, err, sizeof err)
                  : q_num(c, "old", &req.old_size, err, sizeof err)))
    return error_reply(400, err);
  pr_proof_response *p = malloc(sizeof *p);
  if (!p)
    return error_reply(500, "out of memory");
  agg_proof_answer(a->lg, a->st, &req, p);
  agg_count(&a->metrics->proofs_http, 1);
  if (p->status != PR_PROOF_OK)
    agg_count(&a->metrics->proofs_failed, 1);
  json_t *o = json_object();
  set_s(o, "kind", pr_proof_kind_name(p->kind));
  set_s(o, "status", pr_proof_status_name(p->status));
  if (inclusion)
    set_i(o, "index", p->index);
  else
    set_i(o, "old_size", p->old_size);
  set_i(o, "size", p->size);
  if (p->status == PR_PROOF_OK) {
    json_t *path = json_array();
    for (size_t i = 0; i < p->npath; i++) {
      char b[64];
      if (gl_base64_encode(p->path[i], PR_HASH_LEN, b, sizeof b) == 0)
        json_array_append_new(path, json_string(b));
    }
    json_object_set_new(o, "path", path);
    if (p->entry_len)
      set_b64(o, "entry", p->entry, p->entry_len);
    if (p->note[0])
      set_s(o, "checkpoint", p->note);
  }
  unsigned status = p->status == PR_PROOF_OK            ? 200
                    : p->status == PR_PROOF_NOT_FOUND   ? 404
                    : p->status == PR_PROOF_BAD_REQUEST ? 400
                                                        : 503;
  free(p);
  return json_reply(status, o);
}

typedef struct dyn_walk {
  agg_text *t;
} dyn_walk;

static int metric_dyn(void *ctx, const agg_meter_dyn *d) {
  dyn_walk *w = ctx;
  if (d->outbox >= 0)
    agg_text_add(w->t,
                 "gridlet_aggregator_meter_outbox_messages{meter=\"%s\"} "
                 "%" PRId64 "\n",
                 d->id, d->outbox);
  return 0;
}

static reply h_metrics(agg_api *a) {
  agg_text t = {0};
  agg_metrics_render(a->metrics, &t);
  agg_text_add(&t, "# HELP gridlet_aggregator_meter_outbox_messages the "
                   "outbox depth a meter reported in its latest status\n"
                   "# TYPE gridlet_aggregator_meter_outbox_messages gauge\n");
  dyn_walk w = {&t};
  agg_store_dyn_each(a->st, metric_dyn, &w);
  reply r = {.status = 200, .type = "text/plain; version=0.0.4"};
  if (t.oom) {
    agg_text_free(&t);
    return error_reply(500, "out of memory");
  }
  r.body = t.s;
  r.len = t.len;
  return r;
}

static reply dispatch(agg_api *a, struct MHD_Connection *c, const char *url) {
  agg_route r;
  char err[160];
  int rc = agg_api_route(url, &r, err, sizeof err);
  if (rc == GL_EINVAL)
    return error_reply(400, err);
  if (rc)
    return error_reply(404, "no such resource (see docs/operations/"
                            "aggregator.md, HTTP API)");
  switch (r.kind) {
  case AGG_API_HEALTH: {
    reply h = {.status = 200, .type = "text/plain"};
    int64_t v;
    if (agg_store_meta_get(a->st, "schema_version", &v) != 0)
      h.status = 503;
    h.body = strdup(h.status == 200 ? "ok\n" : "database unavailable\n");
    h.len = h.body ? strlen(h.body) : 0;
    return h;
  }
  case AGG_API_METRICS:
    return h_metrics(a);
  case AGG_API_STATUS:
    return h_status(a);
  case AGG_API_INTERVALS:
    return h_intervals(a, c);
  case AGG_API_INTERVAL:
    return h_interval(a, &r, false);
  case AGG_API_INTERVAL_TRADES:
    return h_interval(a, &r, true);
  case AGG_API_TRADES:
    return h_trades(a, c);
  case AGG_API_BALANCES:
    return h_balances(a);
  case AGG_API_BALANCE:
    return h_balance(a, &r);
  case AGG_API_METERS:
    return h_meters(a);
  case AGG_API_METER:
    return h_meter(a, &r);
  case AGG_API_METER_SETTLEMENTS:
    return h_meter_settlements(a, c, &r);
  case AGG_API_CHECKPOINTS:
    return h_checkpoints(a, c);
  case AGG_API_CHECKPOINT_LATEST:
    return h_checkpoint(a, 0);
  case AGG_API_CHECKPOINT:
    return h_checkpoint(a, r.num);
  case AGG_API_ENTRY:
    return h_entry(a, r.num);
  case AGG_API_PROOF_INCLUSION:
    return h_proof(a, c, true);
  case AGG_API_PROOF_CONSISTENCY:
    return h_proof(a, c, false);
  case AGG_API_NOT_FOUND:
  default:
    return error_reply(404, "no such resource");
  }
}

/* ---- Server -------------------------------------------------------------- */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  (void)version;
  (void)upload;
  agg_api *a = cls;
  if (!*con_cls) {
    /* Headers only so far; answer on the next call (no body expected). */
    *con_cls = (void *)1;
    return MHD_YES;
  }
  reply r;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    r = error_reply(405, "read-only API: use GET");
  else if (*upload_size)
    r = error_reply(400, "no request body expected");
  else
    r = dispatch(a, c, url);
  *upload_size = 0;
  if (!r.body)
    r = (reply){.status = 500,
                .body = strdup("internal error\n"),
                .type = "text/plain"};
  if (r.body && !r.len)
    r.len = strlen(r.body);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      r.len, r.body ? r.body : (void *)"", MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(r.body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.type);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ok = MHD_queue_response(c, r.status, resp);
  MHD_destroy_response(resp);
  return ok;
}

int agg_api_start(const agg_config *cfg, agg_metrics *metrics,
                  const gl_clock *clock, agg_api **out) {
  *out = NULL;
  char host[64];
  const char *colon = strrchr(cfg->http_listen, ':');
  int64_t port = -1;
  if (!colon || (size_t)(colon - cfg->http_listen) >= sizeof host ||
      gl_conf_parse_int(colon + 1, &port) != 0 || port < 0 || port > 65535) {
    GL_ERROR(LOG, "http.listen \"%s\" is not IPV4ADDRESS:PORT",
             cfg->http_listen);
    return GL_ECONFIG;
  }
  memcpy(host, cfg->http_listen, (size_t)(colon - cfg->http_listen));
  host[colon - cfg->http_listen] = '\0';
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    GL_ERROR(LOG, "http.listen: \"%s\" is not an IPv4 address", host);
    return GL_ECONFIG;
  }
  agg_api *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->cfg = cfg;
  a->metrics = metrics;
  a->clock = clock;
  int rc = agg_store_open(cfg->db_path, false, true, &a->st);
  if (rc == 0) {
    lg_ledger_options o = {.origin = cfg->origin, .read_only = true};
    rc = lg_ledger_open_db(agg_store_db(a->st), &o, &a->lg);
    if (rc)
      GL_ERROR(LOG, "cannot open the ledger for reading: %s", gl_strerror(rc));
  }
  if (rc == 0) {
    a->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!a->d) {
      GL_ERROR(LOG, "cannot listen on %s", cfg->http_listen);
      rc = GL_EIO;
    }
  }
  if (rc) {
    lg_ledger_free(a->lg);
    agg_store_free(a->st);
    free(a);
    return rc;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
  a->port = info ? info->port : (uint16_t)port;
  GL_NOTICE(LOG, "HTTP API on http://%s:%u/ (read-only)", host, a->port);
  *out = a;
  return 0;
}

uint16_t agg_api_port(const agg_api *api) {
  return api->port;
}

void agg_api_stop(agg_api *api) {
  if (!api)
    return;
  MHD_stop_daemon(api->d);
  lg_ledger_free(api->lg);
  agg_store_free(api->st);
  free(api);
}
