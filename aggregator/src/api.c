/* SPDX-License-Identifier: MIT */
/*
 * api.c - the HTTP API and /metrics. See gridlet/agg_api.h and the
 * reference in docs/operations/aggregator.md.
 *
 * Sections: routing (pure), JSON helpers, handlers, the server.
 */
#include "gridlet/agg_api.h"

#include "gridlet/agg_audit.h"
#include "gridlet/agg_auth.h"
#include "gridlet/agg_book.h"
#include "gridlet/agg_proof.h"
#include "gridlet/agg_web.h"
#include "gridlet/agg_store.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/log.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
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
  const agg_web_file *wf = agg_web_find(path);
  if (wf) {
    r->kind = AGG_API_WEB;
    r->num = (int64_t)(wf - agg_web_at(0));
    return 0;
  }
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
    } top[] = {{"status", AGG_API_STATUS}, {"intervals", AGG_API_INTERVALS},
               {"trades", AGG_API_TRADES}, {"balances", AGG_API_BALANCES},
               {"meters", AGG_API_METERS}, {"checkpoints", AGG_API_CHECKPOINTS},
               {"ledger", AGG_API_LEDGER}};
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
      if (strcmp(res, top[i].name) == 0) {
        r->kind = top[i].kind;
        return 0;
      }
    return GL_ENOENT;
  }
  if (strcmp(res, "intervals") == 0 && (n == 3 || n == 4)) {
    if (n == 4 && strcmp(seg[3], "trades") != 0 &&
        strcmp(seg[3], "orders") != 0)
      return GL_ENOENT;
    if (gl_time_parse(seg[2], &r->time) != 0)
      return bad(err, errlen,
                 "\"%s\" is not a time (RFC 3339, e.g. 2026-11-21T10:15:00Z)",
                 seg[2]);
    r->kind = n == 3                          ? AGG_API_INTERVAL
              : strcmp(seg[3], "trades") == 0 ? AGG_API_INTERVAL_TRADES
                                              : AGG_API_INTERVAL_ORDERS;
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
  const gl_clock *clock, *real;
  agg_store *st;
  lg_ledger *lg;
  uint16_t port;
  bool tls;
  char *tls_cert, *tls_key; /* PEM, owned: libmicrohttpd borrows them */
  size_t tls_key_len;
  agg_auth auth;
  bool has_vkey;
  char vkey[LG_KEY_TEXT_MAX];
  agg_audit *audit;                /* NULL: audits off */
  atomic_int_fast64_t refused_log; /* real ns of the last 401 log line */
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

typedef struct open_walk {
  json_t *arr;
  int64_t after;
} open_walk;

static int add_open(void *ctx, int64_t interval, int64_t n) {
  open_walk *w = ctx;
  if (json_array_size(w->arr) >= 16)
    return 0; /* a long backlog: the first ones are enough */
  json_t *o = json_object();
  set_t(o, "start", interval);
  set_i(o, "readings", n);
  json_array_append_new(w->arr, o);
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
  set_s(o, "currency", cfg->http_currency);
  /* Refusals since start-up by reason (the non-zero ones), as in
   * /metrics; the dashboard shows them with the meters. */
  json_t *rj = json_object(), *by = json_object();
  uint64_t total = 0;
  for (int i = 1; i < AGG_R_COUNT; i++) {
    uint64_t v = atomic_load(&m->rejected[i]);
    total += v;
    if (v)
      set_i(by, agg_reason_name((agg_reason)i), (int64_t)v);
  }
  set_i(rj, "total", (int64_t)total);
  json_object_set_new(rj, "by_reason", by);
  json_object_set_new(o, "rejected", rj);
  set_i(o, "duplicates", (int64_t)atomic_load(&m->duplicates));
  set_i(o, "late_readings", (int64_t)atomic_load(&m->late));
  /* Intervals not settled yet with the readings in so far: the one in
   * progress and any waiting for their grace period. */
  open_walk ow = {.arr = json_array(), .after = INT64_MIN};
  if (agg_store_interval_last(a->st, &iv) == 0)
    ow.after = iv.start;
  else if (agg_store_meta_get(a->st, "first_interval", &first) == 0)
    ow.after = first - cfg->interval;
  if (ow.after != INT64_MIN)
    agg_store_reading_counts(a->st, ow.after, add_open, &ow);
  json_object_set_new(o, "open_intervals", ow.arr);
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

/* Refusals per meter, collected once per request (by meter id). */
typedef struct rejects {
  agg_reject_rec *v;
  size_t n, cap;
} rejects;

static int add_reject(void *ctx, const agg_reject_rec *r) {
  rejects *x = ctx;
  if (x->n == x->cap) {
    size_t c = x->cap ? x->cap * 2 : 16;
    agg_reject_rec *v = realloc(x->v, c * sizeof *v);
    if (!v)
      return GL_ENOMEM;
    x->v = v;
    x->cap = c;
  }
  x->v[x->n++] = *r;
  return 0;
}

static int cmp_reject(const void *k, const void *e) {
  return strcmp((const char *)k, ((const agg_reject_rec *)e)->meter);
}

static void set_rejections(json_t *o, const rejects *x, const char *id) {
  const agg_reject_rec *r =
      x->n ? bsearch(id, x->v, x->n, sizeof *x->v, cmp_reject) : NULL;
  json_t *j = json_object();
  set_i(j, "count", r ? r->count : 0);
  if (r) {
    set_s(j, "last_reason", agg_reason_name((agg_reason)r->last_reason));
    set_t(j, "last_at", r->last_at);
  }
  json_object_set_new(o, "rejections", j);
}

typedef struct meters_walk {
  agg_api *a;
  json_t *arr;
  rejects rj;
} meters_walk;

static int add_meter(void *ctx, const agg_meter_rec *m) {
  meters_walk *w = ctx;
  agg_meter_dyn d;
  bool have = agg_store_dyn_get(w->a->st, m->id, &d) == 0;
  json_t *o = meter_json(m, &d, have);
  set_rejections(o, &w->rj, m->id);
  json_array_append_new(w->arr, o);
  return 0;
}

static reply h_meters(agg_api *a) {
  meters_walk w = {.a = a, .arr = json_array()};
  int rc = agg_store_rejections_each(a->st, add_reject, &w.rj);
  if (rc == 0)
    rc = agg_store_meters_each(a->st, add_meter, &w);
  free(w.rj.v);
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
  rejects rj = {0};
  if (agg_store_rejections_each(a->st, add_reject, &rj) == 0)
    set_rejections(o, &rj, m.id);
  free(rj.v);
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

static int metric_outbox(void *ctx, const char *id, int64_t outbox) {
  dyn_walk *w = ctx;
  agg_text_add(w->t,
               "gridlet_aggregator_meter_outbox_messages{meter=\"%s\"} "
               "%" PRId64 "\n",
               id, outbox);
  return 0;
}

static reply h_metrics(agg_api *a) {
  agg_text t = {0};
  agg_metrics_render(a->metrics, &t);
  agg_text_add(&t, "# HELP gridlet_aggregator_meter_outbox_messages the "
                   "outbox depth a meter reported in its latest status\n"
                   "# TYPE gridlet_aggregator_meter_outbox_messages gauge\n");
  dyn_walk w = {&t};
  agg_store_dyn_outboxes(a->st, metric_outbox, &w);
  reply r = {.status = 200, .type = "text/plain; version=0.0.4"};
  if (t.oom) {
    agg_text_free(&t);
    return error_reply(500, "out of memory");
  }
  r.body = t.s;
  r.len = t.len;
  return r;
}

/* ---- Order book, ledger state ------------------------------------------- */

static json_t *book_side_json(const agg_book_order *o, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *x = json_object();
    set_s(x, "meter", o[i].meter);
    set_i(x, "wh", o[i].wh);
    set_i(x, "price", o[i].price);
    if (o[i].has_limit)
      set_i(x, "limit", o[i].limit);
    else
      json_object_set_new(x, "limit", json_null());
    set_i(x, "seq", o[i].seq);
    json_array_append_new(a, x);
  }
  return a;
}

static reply h_orders(agg_api *a, const agg_route *r) {
  agg_interval_rec iv;
  int rc = agg_store_interval_get(a->st, r->time, &iv);
  if (rc)
    return rc == GL_ENOENT ? error_reply(404, "no settled interval starts "
                                              "at this time")
                           : store_error(rc);
  agg_book b;
  rc = agg_book_build(a->st, &iv, &b);
  if (rc)
    return store_error(rc);
  json_t *o = json_object();
  set_t(o, "interval", iv.start);
  set_t(o, "end", iv.start + iv.len_s * GL_NS_PER_SEC);
  set_s(o, "mode", mkt_mode_name((mkt_mode)iv.mode));
  set_s(o, "rule",
        iv.mode == MKT_MODE_CONTINUOUS ? "cda"
                                       : mkt_rule_name((mkt_rule)iv.rule));
  if (iv.has_price)
    set_i(o, "price", iv.price);
  else
    json_object_set_new(o, "price", json_null());
  set_i(o, "traded_wh", iv.volume);
  json_t *band = json_object();
  set_i(band, "feed_in", b.band.feed_in);
  set_i(band, "retail", b.band.retail);
  set_i(band, "fee", b.band.fee);
  json_object_set_new(o, "band", band);
  json_object_set_new(o, "bids", book_side_json(b.bids, b.nbids));
  json_object_set_new(o, "offers", book_side_json(b.offers, b.noffers));
  agg_book_clear(&b);
  return json_reply(200, o);
}

typedef struct wit_walk {
  const agg_config *cfg;
  json_t *arr;
  uint64_t size; /* the latest checkpoint's */
  bool seen[AGG_WITNESS_MAX];
} wit_walk;

static json_t *witness_json(const char *name, uint32_t id, bool configured) {
  json_t *o = json_object();
  char hex[9];
  snprintf(hex, sizeof hex, "%08" PRIx32, id);
  set_s(o, "name", name);
  set_s(o, "key_id", hex);
  json_object_set_new(o, "configured", json_boolean(configured));
  return o;
}

static int add_witness(void *ctx, const lg_witness_info *wi) {
  wit_walk *w = ctx;
  bool configured = false;
  for (size_t i = 0; i < w->cfg->n_witnesses; i++)
    if (w->cfg->witnesses[i].id == wi->key_id &&
        strcmp(w->cfg->witnesses[i].name, wi->name) == 0)
      configured = w->seen[i] = true;
  json_t *o = witness_json(wi->name, wi->key_id, configured);
  set_i(o, "size", (int64_t)wi->size);
  set_i(o, "behind", w->size > wi->size ? (int64_t)(w->size - wi->size) : 0);
  if (wi->time && wi->time < (uint64_t)INT64_MAX / GL_NS_PER_SEC)
    set_t(o, "time", (int64_t)wi->time * GL_NS_PER_SEC);
  else
    json_object_set_new(o, "time", json_null());
  json_array_append_new(w->arr, o);
  return 0;
}

static const char *audit_state_name(const agg_audit_report *r) {
  switch (r->state) {
  case AGG_AUDIT_OK:
    return "ok";
  case AGG_AUDIT_FAILED:
    return "failed";
  case AGG_AUDIT_ERROR:
    return "error";
  default:
    return r->running ? "running" : "pending";
  }
}

static json_t *audit_json(agg_api *a) {
  json_t *o = json_object();
  if (!a->audit) {
    set_s(o, "state", "off");
    return o;
  }
  agg_audit_report r;
  agg_audit_get(a->audit, &r);
  set_s(o, "state", audit_state_name(&r));
  json_object_set_new(o, "running", json_boolean(r.running));
  set_i(o, "runs", r.runs);
  set_i(o, "every_s", a->cfg->http_audit_every / GL_NS_PER_SEC);
  if (r.runs) {
    set_t(o, "started", r.started);
    json_object_set_new(o, "duration_ms",
                        json_real((double)r.duration_ns / 1e6));
    set_i(o, "entries", (int64_t)r.entries);
    set_i(o, "checkpoints", (int64_t)r.checkpoints);
    set_i(o, "cosignatures", (int64_t)r.cosignatures);
    set_i(o, "balances", (int64_t)r.balances);
    json_object_set_new(o, "key_from_db", json_boolean(r.key_from_db));
    if (r.bad_entry >= 0)
      set_i(o, "bad_entry", r.bad_entry);
    if (r.problem[0])
      set_s(o, "problem", r.problem);
  }
  if (r.next)
    set_t(o, "next", r.next);
  return o;
}

static reply h_ledger(agg_api *a) {
  json_t *o = json_object();
  set_s(o, "origin", a->cfg->origin);
  if (a->has_vkey)
    set_s(o, "vkey", a->vkey);
  uint64_t size = 0;
  int rc = lg_ledger_size(a->lg, &size);
  if (rc) {
    json_decref(o);
    return store_error(rc);
  }
  set_i(o, "size", (int64_t)size);
  char *note = NULL;
  lg_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  rc = lg_ledger_latest_checkpoint(a->lg, &note, &cp);
  if (rc == 0) {
    json_t *c = json_object();
    set_i(c, "size", (int64_t)cp.size);
    set_hex(c, "root", cp.root, LG_HASH_LEN);
    char *plain = NULL;
    int64_t got = 0, at = 0;
    if (agg_store_checkpoint_get(a->st, (int64_t)cp.size, &plain, &got, &at) ==
        0)
      set_t(c, "signed_at", at);
    free(plain);
    set_s(c, "note", note);
    /* The note's signature lines beyond the log's own are the witnesses'
     * cosignatures of this very checkpoint. */
    json_t *cos = json_array();
    lg_note *n = malloc(sizeof *n);
    if (n && lg_note_parse(note, strlen(note), n) == 0)
      for (size_t i = 0; i < n->nsigs; i++) {
        char name[LG_KEY_NAME_MAX + 1];
        size_t nl = n->sigs[i].name_len < LG_KEY_NAME_MAX ? n->sigs[i].name_len
                                                          : LG_KEY_NAME_MAX;
        memcpy(name, n->sigs[i].name, nl);
        name[nl] = '\0';
        if (strcmp(name, a->cfg->origin) != 0)
          json_array_append_new(cos, json_string(name));
      }
    free(n);
    json_object_set_new(c, "cosigned_by", cos);
    json_object_set_new(o, "checkpoint", c);
    free(note);
  } else if (rc == GL_ENOENT) {
    json_object_set_new(o, "checkpoint", json_null());
  } else {
    json_decref(o);
    return store_error(rc);
  }
  wit_walk w = {.cfg = a->cfg, .arr = json_array(), .size = cp.size};
  if (rc == GL_ENOENT)
    w.size = 0;
  rc = lg_ledger_witnesses(a->lg, add_witness, &w);
  if (rc) {
    json_decref(w.arr);
    json_decref(o);
    return store_error(rc);
  }
  /* Configured witnesses that never cosigned are worth seeing too. */
  for (size_t i = 0; i < a->cfg->n_witnesses; i++)
    if (!w.seen[i]) {
      json_t *x = witness_json(a->cfg->witnesses[i].name,
                               a->cfg->witnesses[i].id, true);
      json_object_set_new(x, "size", json_null());
      json_object_set_new(x, "time", json_null());
      json_array_append_new(w.arr, x);
    }
  json_object_set_new(o, "witnesses", w.arr);
  json_object_set_new(o, "audit", audit_json(a));
  return json_reply(200, o);
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
  case AGG_API_INTERVAL_ORDERS:
    return h_orders(a, &r);
  case AGG_API_LEDGER:
    return h_ledger(a);
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

/* Headers every answer carries. The dashboard loads nothing from
 * elsewhere, so the policy allows only this origin; no referrer leaves
 * (a ?token= must not travel), and nothing may frame the page. */
static void common_headers(struct MHD_Response *resp, const char *type) {
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(
      resp, "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; "
      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
      "form-action 'self'; frame-ancestors 'none'");
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               char *body, size_t len, const char *type,
                               const char *cache, const char *etag,
                               const char *cookie) {
  /* An empty answer (304) has no buffer to free. */
  struct MHD_Response *resp =
      body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
           : MHD_create_response_from_buffer(0, (void *)"",
                                             MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  common_headers(resp, type);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
  if (etag)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
  if (cookie)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
  if (status == 401)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer realm=\"gridlet\"");
  enum MHD_Result ok = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static char *dup_text(const char *t, size_t *len) {
  char *b = strdup(t);
  *len = b ? strlen(b) : 0;
  return b;
}

/* A dashboard file: the built-in copy (with its ETag), or the one in
 * http.web_dir. `cookie` sets the token cookie after a ?token= load. */
static enum MHD_Result serve_web(agg_api *a, struct MHD_Connection *c,
                                 const agg_route *r, const char *cookie) {
  const agg_web_file *f = agg_web_at((size_t)r->num);
  size_t len = 0;
  if (!a->cfg->http_dashboard || !f) {
    char *b =
        dup_text("the dashboard is switched off (http.dashboard)\n", &len);
    return respond(c, 404, b, len, "text/plain; charset=utf-8", "no-store",
                   NULL, NULL);
  }
  if (a->cfg->http_web_dir[0]) {
    char *data = NULL;
    int rc = agg_web_read(a->cfg->http_web_dir, f, &data, &len);
    if (rc) {
      GL_WARN(LOG, "http.web_dir: cannot read %s/%s: %s", a->cfg->http_web_dir,
              f->name, gl_strerror(rc));
      char *b = dup_text("dashboard file unavailable (see the log)\n", &len);
      return respond(c, 503, b, len, "text/plain; charset=utf-8", "no-store",
                     NULL, NULL);
    }
    return respond(c, 200, data, len, f->type, "no-store", NULL, cookie);
  }
  const char *inm =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
  /* Revalidate every time ("no-cache"): the page is small, and an upgrade
   * must show at once. A match costs one round trip and no body. */
  if (inm && strcmp(inm, f->etag) == 0 && !cookie)
    return respond(c, 304, NULL, 0, f->type, "no-cache", f->etag, NULL);
  /* MUST_FREE needs a heap copy; the files are small. */
  char *b = malloc(f->len + 1);
  if (!b)
    return MHD_NO;
  memcpy(b, f->data, f->len);
  return respond(c, 200, b, f->len, f->type, "no-cache", f->etag, cookie);
}

static const char unauthorized_page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>gridlet: access token needed</title></head><body>"
    "<h1>Access token needed</h1><p>This aggregator's dashboard and API "
    "need the access token (<code>http.token_file</code>). Open the page as "
    "<code>/?token=&lt;token&gt;</code> once; the browser then keeps it in "
    "a cookie for this session. Scripts send <code>Authorization: Bearer "
    "&lt;token&gt;</code>.</p></body></html>\n";

static enum MHD_Result refuse(agg_api *a, struct MHD_Connection *c,
                              const agg_route *r, int route_rc) {
  agg_count(&a->metrics->http_unauthorized, 1);
  /* One log line a minute at most: a scanner must not flood the log. */
  int64_t now = gl_clock_monotonic(a->real);
  int64_t last = atomic_load(&a->refused_log);
  if (now - last >= 60 * GL_NS_PER_SEC &&
      atomic_compare_exchange_strong(&a->refused_log, &last, now)) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
      inet_ntop(AF_INET,
                &((const struct sockaddr_in *)(const void *)ci->client_addr)
                     ->sin_addr,
                ip, sizeof ip);
    GL_WARN(LOG,
            "refused a request from %s without a valid access token "
            "(http_unauthorized_total counts them; one line a minute)",
            ip);
  }
  size_t len = 0;
  if (route_rc == 0 && r->kind == AGG_API_WEB) {
    char *b = dup_text(unauthorized_page, &len);
    return respond(c, 401, b, len, "text/html; charset=utf-8", "no-store", NULL,
                   NULL);
  }
  reply e = error_reply(401, "a valid access token is required "
                             "(Authorization: Bearer <token>)");
  return respond(c, e.status, e.body, e.len, e.type, "no-store", NULL, NULL);
}

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
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    r = error_reply(405, "read-only API: use GET");
  } else if (*upload_size) {
    r = error_reply(400, "no request body expected");
  } else {
    agg_route rt;
    char err[160];
    int rrc = agg_api_route(url, &rt, err, sizeof err);
    const char *qtok =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    bool open = rrc == 0 && rt.kind == AGG_API_HEALTH;
    if (!open &&
        !agg_auth_check(
            &a->auth,
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"), qtok))
      return refuse(a, c, &rt, rrc);
    if (rrc == 0 && rt.kind == AGG_API_WEB) {
      /* A page loaded with a valid ?token= keeps it in a session cookie,
       * so that the page's own requests carry it. */
      char cookie[AGG_TOKEN_MAX + 96];
      bool set = a->auth.enabled && qtok &&
                 agg_auth_token_valid(qtok, strlen(qtok)) &&
                 agg_auth_check(&a->auth, NULL, NULL, qtok);
      if (set)
        snprintf(cookie, sizeof cookie,
                 "%s=%s; Path=/; HttpOnly; SameSite=Strict%s", AGG_TOKEN_COOKIE,
                 qtok, a->tls ? "; Secure" : "");
      return serve_web(a, c, &rt, set ? cookie : NULL);
    }
    r = dispatch(a, c, url);
  }
  *upload_size = 0;
  if (!r.body)
    r = (reply){.status = 500,
                .body = strdup("internal error\n"),
                .type = "text/plain"};
  if (r.body && !r.len)
    r.len = strlen(r.body);
  return respond(c, r.status, r.body, r.len, r.type, "no-store", NULL, NULL);
}

/* libmicrohttpd's own messages (TLS handshakes that fail, clients that
 * misbehave) are the client's problem, not the operator's. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = '\0';
  GL_DEBUG(LOG, "libmicrohttpd: %s", msg);
}

static char *read_pem(const char *what, const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    GL_ERROR(LOG, "%s %s: %s", what, path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (!buf || n == 0 || n == (1 << 20) - 1) {
    GL_ERROR(LOG, "%s %s: empty, unreadable or larger than 1 MiB", what, path);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (!strstr(buf, "-----BEGIN ")) {
    GL_ERROR(LOG, "%s %s: not PEM", what, path);
    gl_wipe(buf, n);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static void api_free(agg_api *a) {
  agg_audit_stop(a->audit);
  lg_ledger_free(a->lg);
  agg_store_free(a->st);
  free(a->tls_cert);
  if (a->tls_key) {
    gl_wipe(a->tls_key, a->tls_key_len);
    free(a->tls_key);
  }
  gl_wipe(&a->auth, sizeof a->auth);
  free(a);
}

/* TLS and the token, when configured. */
static int load_access(agg_api *a) {
  const agg_config *cfg = a->cfg;
  if (cfg->http_token_file[0]) {
    char err[256];
    int rc =
        agg_auth_load_file(&a->auth, cfg->http_token_file, err, sizeof err);
    if (rc) {
      GL_ERROR(LOG, "http.token_file: %s", err);
      return GL_ECONFIG;
    }
  }
  if (!cfg->http_tls_cert[0])
    return 0;
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    GL_ERROR(LOG, "http.tls_cert is set but this libmicrohttpd was built "
                  "without TLS");
    return GL_ENOTSUP;
  }
  size_t cl = 0;
  a->tls_cert = read_pem("http.tls_cert", cfg->http_tls_cert, &cl);
  a->tls_key = read_pem("http.tls_key", cfg->http_tls_key, &a->tls_key_len);
  if (!a->tls_cert || !a->tls_key)
    return GL_ECONFIG;
  a->tls = true;
  return 0;
}

int agg_api_start(const agg_api_deps *deps, agg_api **out) {
  *out = NULL;
  const agg_config *cfg = deps->cfg;
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
  a->metrics = deps->metrics;
  a->clock = deps->clock;
  a->real = deps->real;
  atomic_init(&a->refused_log, INT64_MIN / 2);
  if (deps->log_key &&
      lg_vkey_format(deps->log_key, a->vkey, sizeof a->vkey) == 0)
    a->has_vkey = true;
  int rc = load_access(a);
  if (rc == 0)
    rc = agg_store_open(cfg->db_path, false, true, &a->st);
  if (rc == 0) {
    lg_ledger_options o = {.origin = cfg->origin, .read_only = true};
    rc = lg_ledger_open_db(agg_store_db(a->st), &o, &a->lg);
    if (rc)
      GL_ERROR(LOG, "cannot open the ledger for reading: %s", gl_strerror(rc));
  }
  if (rc == 0 && cfg->http_audit_every > 0) {
    agg_audit_config ac = {.db_path = cfg->db_path,
                           .origin = cfg->origin,
                           .log_key = deps->log_key,
                           .witnesses = cfg->witnesses,
                           .n_witnesses = cfg->n_witnesses,
                           .every = cfg->http_audit_every,
                           .real = deps->real};
    rc = agg_audit_start(&ac, &a->audit);
    if (rc)
      GL_ERROR(LOG, "cannot start the ledger audit: %s", gl_strerror(rc));
  }
  if (rc == 0) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (a->tls)
      flags |= MHD_USE_TLS;
    /* Options end at MHD_OPTION_END: the TLS ones are left out by ending
     * the list early when TLS is off. */
    a->d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, (void *)NULL,
        a->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, a->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, a->tls_key, MHD_OPTION_HTTPS_PRIORITIES,
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_END);
    if (!a->d) {
      GL_ERROR(LOG,
               "cannot serve on %s%s (port in use, or the TLS certificate "
               "and key are not a usable pair)",
               cfg->http_listen, a->tls ? " with TLS" : "");
      rc = GL_EIO;
    }
  }
  if (rc) {
    api_free(a);
    return rc;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
  a->port = info ? info->port : (uint16_t)port;
  GL_NOTICE(LOG, "HTTP API%s on %s://%s:%u/ (read-only%s)",
            cfg->http_dashboard ? " and dashboard" : "",
            a->tls ? "https" : "http", host, a->port,
            a->auth.enabled ? ", access token required" : "");
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
  api_free(api);
}
