/* SPDX-License-Identifier: MIT */
/*
 * entry.c - encoding and strict decoding of ledger entries.
 *
 * One set of validation functions serves both directions: encoding refuses
 * exactly what decoding would refuse, so anything the aggregator manages to
 * append can be decoded by every auditor, and decode(encode(x)) == x.
 * Decoding reads outside data (exported ledgers, proof bundles), so every
 * count is bounded by the bytes actually present before anything is
 * allocated.
 */
#include "gridlet/ledger_entry.h"

#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"

#include <stdlib.h>
#include <string.h>

#define COMPONENT "ledger"

/* ---- Names -------------------------------------------------------------- */

static const char *const reserved_ids[] = {"aggregator", "broker", "witness",
                                           "admin", "ca"};

bool lg_meter_id_valid(const char *id, size_t len) {
  if (len == 0 || len > LG_METER_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
      return false;
  }
  for (size_t i = 0; i < sizeof reserved_ids / sizeof *reserved_ids; i++)
    if (strlen(reserved_ids[i]) == len && memcmp(reserved_ids[i], id, len) == 0)
      return false;
  return true;
}

static bool param_key_valid(const char *k, size_t len) {
  if (len == 0 || len > LG_PARAM_KEY_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = k[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
      return false;
  }
  return true;
}

static bool param_value_valid(const char *v, size_t len) {
  return len <= LG_PARAM_VALUE_MAX && lg_text_valid(v, len) &&
         memchr(v, '\n', len) == NULL;
}

const char *lg_entry_type_name(int type) {
  switch (type) {
  case LG_ENTRY_ORDER:
    return "order";
  case LG_ENTRY_READING:
    return "reading";
  case LG_ENTRY_CLEARING:
    return "clearing";
  case LG_ENTRY_SETTLEMENT:
    return "settlement";
  case LG_ENTRY_PARAM:
    return "parameter";
  case LG_ENTRY_ENROLMENT:
    return "enrolment";
  default:
    return "unknown";
  }
}

/* ---- Validation (shared by encode and decode) --------------------------- */

/* Each validator returns NULL when the value is acceptable, or a static
 * reason naming the offending field. */

static bool id_ok(const char *id) {
  return lg_meter_id_valid(id, strnlen(id, LG_METER_ID_MAX + 1));
}

static const char *check_order(const lg_order *o) {
  if (o->interval_start < 0)
    return "order: interval_start is negative";
  if (!id_ok(o->meter_id))
    return "order: invalid meter_id";
  if (o->side != LG_SIDE_BUY && o->side != LG_SIDE_SELL)
    return "order: side is neither buy nor sell";
  if (o->quantity_wh < 0)
    return "order: quantity_wh is negative";
  if (o->limit_price < 0)
    return "order: limit_price is negative";
  return NULL;
}

static const char *check_reading(const lg_reading *r) {
  if (r->interval_start < 0)
    return "reading: interval_start is negative";
  if (!id_ok(r->meter_id))
    return "reading: invalid meter_id";
  if (r->import_wh < 0 || r->export_wh < 0)
    return "reading: negative energy";
  return NULL;
}

static const char *check_clearing(const lg_clearing *c) {
  if (c->interval_start < 0)
    return "clearing: interval_start is negative";
  if (c->interval_len_s == 0)
    return "clearing: interval_len_s is zero";
  if (c->mode < LG_MODE_EXPOST || c->mode > LG_MODE_CONTINUOUS)
    return "clearing: unknown mode";
  if (c->rule > LG_RULE_PAY_AS_BID)
    return "clearing: unknown price rule";
  if (c->price < -1)
    return "clearing: price below -1";
  if (c->volume_wh < 0)
    return "clearing: volume_wh is negative";
  if (c->n_trades > UINT32_MAX || (c->n_trades && !c->trades))
    return "clearing: bad trade list";
  for (size_t i = 0; i < c->n_trades; i++) {
    const lg_trade *t = &c->trades[i];
    if (!id_ok(t->buyer) || !id_ok(t->seller))
      return "clearing: trade with an invalid meter id";
    if (strcmp(t->buyer, t->seller) == 0)
      return "clearing: trade where buyer and seller are the same";
    if (t->energy_wh <= 0)
      return "clearing: trade energy is not positive";
    if (t->price < 0)
      return "clearing: trade price is negative";
  }
  return NULL;
}

static const char *check_settlement(const lg_settlement *s) {
  if (s->interval_start < 0)
    return "settlement: interval_start is negative";
  if (s->interval_len_s == 0)
    return "settlement: interval_len_s is zero";
  if (s->retail_price < 0 || s->feedin_price < 0 || s->fee_price < 0)
    return "settlement: negative price";
  if (s->fee_money < 0)
    return "settlement: fee_money is negative";
  if (s->n_rows > UINT32_MAX || (s->n_rows && !s->rows))
    return "settlement: bad row list";
  for (size_t i = 0; i < s->n_rows; i++) {
    const lg_settlement_row *r = &s->rows[i];
    if (!id_ok(r->meter_id))
      return "settlement: row with an invalid meter id";
    if (i > 0 && strcmp(s->rows[i - 1].meter_id, r->meter_id) >= 0)
      return "settlement: rows not in strictly ascending meter id order";
    if (r->local_bought_wh < 0 || r->local_sold_wh < 0 ||
        r->grid_import_wh < 0 || r->grid_export_wh < 0)
      return "settlement: negative energy in a row";
    if (r->fee < 0)
      return "settlement: negative fee in a row";
    if (r->flags & ~LG_SETTLE_NO_READING)
      return "settlement: unknown row flags";
  }
  return NULL;
}

static const char *check_param(const lg_param *p) {
  if (!param_key_valid(p->key, strnlen(p->key, LG_PARAM_KEY_MAX + 1)))
    return "parameter: invalid key";
  if (!param_value_valid(p->value, strnlen(p->value, LG_PARAM_VALUE_MAX + 1)))
    return "parameter: invalid value";
  return NULL;
}

static const char *check_enrolment(const lg_enrolment *e) {
  if (e->time < 0)
    return "enrolment: time is negative";
  if (e->action != LG_ENROL && e->action != LG_REVOKE)
    return "enrolment: unknown action";
  if (!id_ok(e->meter_id))
    return "enrolment: invalid meter_id";
  return NULL;
}

static const char *check_fields(const lg_entry *e) {
  switch (e->type) {
  case LG_ENTRY_ORDER:
    return check_order(&e->u.order);
  case LG_ENTRY_READING:
    return check_reading(&e->u.reading);
  case LG_ENTRY_CLEARING:
    return check_clearing(&e->u.clearing);
  case LG_ENTRY_SETTLEMENT:
    return check_settlement(&e->u.settlement);
  case LG_ENTRY_PARAM:
    return check_param(&e->u.param);
  case LG_ENTRY_ENROLMENT:
    return check_enrolment(&e->u.enrolment);
  }
  return "unknown entry type";
}

/* ---- Encoding ----------------------------------------------------------- */

/* A writer that only counts when p is NULL, so one function both sizes and
 * fills the buffer. */
typedef struct wr {
  uint8_t *p;
  size_t n;
} wr;

static void put(wr *w, const void *data, size_t len) {
  if (w->p)
    memcpy(w->p + w->n, data, len);
  w->n += len;
}

static void put_u8(wr *w, uint8_t v) {
  put(w, &v, 1);
}

static void put_u32(wr *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  put(w, b, 4);
}

static void put_u64(wr *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (56 - 8 * i));
  put(w, b, 8);
}

static void put_i64(wr *w, int64_t v) {
  put_u64(w, (uint64_t)v);
}

static void put_str(wr *w, const char *s) {
  size_t len = strlen(s); /* validated: at most 255 */
  put_u8(w, (uint8_t)len);
  put(w, s, len);
}

static void write_body(wr *w, const lg_entry *e) {
  put_u8(w, (uint8_t)e->type);
  put_u8(w, LG_ENTRY_VERSION);
  switch (e->type) {
  case LG_ENTRY_ORDER: {
    const lg_order *o = &e->u.order;
    put_i64(w, o->interval_start);
    put_str(w, o->meter_id);
    put_u64(w, o->seq);
    put_u8(w, o->side);
    put_i64(w, o->quantity_wh);
    put_i64(w, o->limit_price);
    put(w, o->msg_digest, LG_DIGEST_LEN);
    break;
  }
  case LG_ENTRY_READING: {
    const lg_reading *r = &e->u.reading;
    put_i64(w, r->interval_start);
    put_str(w, r->meter_id);
    put_u64(w, r->seq);
    put_i64(w, r->import_wh);
    put_i64(w, r->export_wh);
    put_u32(w, r->flags);
    put(w, r->msg_digest, LG_DIGEST_LEN);
    break;
  }
  case LG_ENTRY_CLEARING: {
    const lg_clearing *c = &e->u.clearing;
    put_i64(w, c->interval_start);
    put_u32(w, c->interval_len_s);
    put_u8(w, c->mode);
    put_u8(w, c->rule);
    put_i64(w, c->price);
    put_i64(w, c->volume_wh);
    put_u32(w, (uint32_t)c->n_trades);
    for (size_t i = 0; i < c->n_trades; i++) {
      put_str(w, c->trades[i].buyer);
      put_str(w, c->trades[i].seller);
      put_i64(w, c->trades[i].energy_wh);
      put_i64(w, c->trades[i].price);
    }
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *s = &e->u.settlement;
    put_i64(w, s->interval_start);
    put_u32(w, s->interval_len_s);
    put_i64(w, s->retail_price);
    put_i64(w, s->feedin_price);
    put_i64(w, s->fee_price);
    put_i64(w, s->utility_money);
    put_i64(w, s->fee_money);
    put_u32(w, (uint32_t)s->n_rows);
    for (size_t i = 0; i < s->n_rows; i++) {
      const lg_settlement_row *r = &s->rows[i];
      put_str(w, r->meter_id);
      put_i64(w, r->local_bought_wh);
      put_i64(w, r->local_sold_wh);
      put_i64(w, r->grid_import_wh);
      put_i64(w, r->grid_export_wh);
      put_i64(w, r->fee);
      put_i64(w, r->money);
      put_u8(w, r->flags);
    }
    break;
  }
  case LG_ENTRY_PARAM: {
    const lg_param *p = &e->u.param;
    put_i64(w, p->effective_from);
    put_str(w, p->key);
    put_str(w, p->value);
    break;
  }
  case LG_ENTRY_ENROLMENT: {
    const lg_enrolment *n = &e->u.enrolment;
    put_i64(w, n->time);
    put_u8(w, n->action);
    put_str(w, n->meter_id);
    put(w, n->pubkey, 32);
    put(w, n->cert_digest, LG_DIGEST_LEN);
    break;
  }
  }
}

int lg_entry_encode(const lg_entry *e, uint8_t **out, size_t *len) {
  const char *why = check_fields(e);
  if (why) {
    GL_WARN(COMPONENT, "refusing to encode entry: %s", why);
    return GL_EINVAL;
  }
  wr w = {NULL, 0};
  write_body(&w, e);
  if (w.n > LG_ENTRY_MAX)
    return GL_ETOOBIG;
  uint8_t *buf = malloc(w.n);
  if (!buf)
    return GL_ENOMEM;
  size_t n = w.n;
  w.p = buf;
  w.n = 0;
  write_body(&w, e);
  *out = buf;
  *len = n;
  return 0;
}

/* ---- Decoding ----------------------------------------------------------- */

typedef struct rd {
  const uint8_t *p;
  size_t n, pos;
  bool bad;
} rd;

static bool take(rd *r, void *out, size_t len) {
  if (r->bad || r->n - r->pos < len) {
    r->bad = true;
    if (out)
      memset(out, 0, len);
    return false;
  }
  if (out)
    memcpy(out, r->p + r->pos, len);
  r->pos += len;
  return true;
}

static uint8_t get_u8(rd *r) {
  uint8_t v = 0;
  take(r, &v, 1);
  return v;
}

static uint32_t get_u32(rd *r) {
  uint8_t b[4];
  take(r, b, 4);
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
         (uint32_t)b[3];
}

static uint64_t get_u64(rd *r) {
  uint8_t b[8];
  take(r, b, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | b[i];
  return v;
}

static int64_t get_i64(rd *r) {
  uint64_t u = get_u64(r);
  /* Two's complement reinterpretation without implementation-defined
   * conversion of out-of-range values. */
  if (u <= (uint64_t)INT64_MAX)
    return (int64_t)u;
  return -(int64_t)(~u) - 1;
}

/* A length-prefixed string into out[max + 1]; strings longer than max or
 * containing NUL are malformed (validators check the character rules). */
static void get_str(rd *r, char *out, size_t max) {
  size_t len = get_u8(r);
  if (len > max) {
    r->bad = true;
    out[0] = '\0';
    return;
  }
  take(r, out, len);
  out[r->bad ? 0 : len] = '\0';
  if (!r->bad && memchr(out, '\0', len))
    r->bad = true;
}

/* Bytes the smallest list item can occupy, to bound counts by the input. */
#define TRADE_MIN (1 + 1 + 1 + 1 + 8 + 8)
#define ROW_MIN (1 + 1 + 6 * 8 + 1)

static int decode_body(rd *r, lg_entry *e, const char **why) {
  switch (e->type) {
  case LG_ENTRY_ORDER: {
    lg_order *o = &e->u.order;
    o->interval_start = get_i64(r);
    get_str(r, o->meter_id, LG_METER_ID_MAX);
    o->seq = get_u64(r);
    o->side = get_u8(r);
    o->quantity_wh = get_i64(r);
    o->limit_price = get_i64(r);
    take(r, o->msg_digest, LG_DIGEST_LEN);
    break;
  }
  case LG_ENTRY_READING: {
    lg_reading *g = &e->u.reading;
    g->interval_start = get_i64(r);
    get_str(r, g->meter_id, LG_METER_ID_MAX);
    g->seq = get_u64(r);
    g->import_wh = get_i64(r);
    g->export_wh = get_i64(r);
    g->flags = get_u32(r);
    take(r, g->msg_digest, LG_DIGEST_LEN);
    break;
  }
  case LG_ENTRY_CLEARING: {
    lg_clearing *c = &e->u.clearing;
    c->interval_start = get_i64(r);
    c->interval_len_s = get_u32(r);
    c->mode = get_u8(r);
    c->rule = get_u8(r);
    c->price = get_i64(r);
    c->volume_wh = get_i64(r);
    uint32_t n = get_u32(r);
    if (r->bad || (size_t)n > (r->n - r->pos) / TRADE_MIN) {
      *why = "clearing: trade count exceeds the data";
      return GL_EPARSE;
    }
    c->trades = n ? calloc(n, sizeof *c->trades) : NULL;
    if (n && !c->trades)
      return GL_ENOMEM;
    c->n_trades = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
      lg_trade *t = &c->trades[i];
      get_str(r, t->buyer, LG_METER_ID_MAX);
      get_str(r, t->seller, LG_METER_ID_MAX);
      t->energy_wh = get_i64(r);
      t->price = get_i64(r);
    }
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    lg_settlement *s = &e->u.settlement;
    s->interval_start = get_i64(r);
    s->interval_len_s = get_u32(r);
    s->retail_price = get_i64(r);
    s->feedin_price = get_i64(r);
    s->fee_price = get_i64(r);
    s->utility_money = get_i64(r);
    s->fee_money = get_i64(r);
    uint32_t n = get_u32(r);
    if (r->bad || (size_t)n > (r->n - r->pos) / ROW_MIN) {
      *why = "settlement: row count exceeds the data";
      return GL_EPARSE;
    }
    s->rows = n ? calloc(n, sizeof *s->rows) : NULL;
    if (n && !s->rows)
      return GL_ENOMEM;
    s->n_rows = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
      lg_settlement_row *w = &s->rows[i];
      get_str(r, w->meter_id, LG_METER_ID_MAX);
      w->local_bought_wh = get_i64(r);
      w->local_sold_wh = get_i64(r);
      w->grid_import_wh = get_i64(r);
      w->grid_export_wh = get_i64(r);
      w->fee = get_i64(r);
      w->money = get_i64(r);
      w->flags = get_u8(r);
    }
    break;
  }
  case LG_ENTRY_PARAM: {
    lg_param *p = &e->u.param;
    p->effective_from = get_i64(r);
    get_str(r, p->key, LG_PARAM_KEY_MAX);
    get_str(r, p->value, LG_PARAM_VALUE_MAX);
    break;
  }
  case LG_ENTRY_ENROLMENT: {
    lg_enrolment *n = &e->u.enrolment;
    n->time = get_i64(r);
    n->action = get_u8(r);
    get_str(r, n->meter_id, LG_METER_ID_MAX);
    take(r, n->pubkey, 32);
    take(r, n->cert_digest, LG_DIGEST_LEN);
    break;
  }
  default:
    *why = "unknown entry type";
    return GL_ENOTSUP;
  }
  if (r->bad) {
    *why = "truncated entry or over-long string";
    return GL_EPARSE;
  }
  if (r->pos != r->n) {
    *why = "trailing bytes after the entry";
    return GL_EPARSE;
  }
  const char *bad = check_fields(e);
  if (bad) {
    *why = bad;
    return GL_EPARSE;
  }
  return 0;
}

int lg_entry_peek(const void *data, size_t len, uint8_t *type,
                  uint8_t *version) {
  if (len < 2)
    return GL_EPARSE;
  const uint8_t *p = data;
  *type = p[0];
  *version = p[1];
  return 0;
}

int lg_entry_decode(const void *data, size_t len, lg_entry *e,
                    const char **why) {
  const char *dummy;
  if (!why)
    why = &dummy;
  memset(e, 0, sizeof *e);
  if (len > LG_ENTRY_MAX) {
    *why = "entry larger than the maximum";
    return GL_ETOOBIG;
  }
  uint8_t type, version;
  if (lg_entry_peek(data, len, &type, &version) != 0) {
    *why = "entry shorter than its type tag and version";
    return GL_EPARSE;
  }
  if (type < LG_ENTRY_ORDER || type > LG_ENTRY_ENROLMENT) {
    *why = "unknown entry type";
    return GL_ENOTSUP;
  }
  if (version != LG_ENTRY_VERSION) {
    *why = "unsupported entry version";
    return GL_ENOTSUP;
  }
  e->type = (lg_entry_type)type;
  rd r = {data, len, 2, false};
  int rc = decode_body(&r, e, why);
  if (rc != 0)
    lg_entry_clear(e);
  return rc;
}

void lg_entry_clear(lg_entry *e) {
  if (e->type == LG_ENTRY_CLEARING)
    free(e->u.clearing.trades);
  else if (e->type == LG_ENTRY_SETTLEMENT)
    free(e->u.settlement.rows);
  memset(e, 0, sizeof *e);
}

/* ---- Within-entry invariants -------------------------------------------- */

static bool add(int64_t *acc, int64_t v) {
  return !__builtin_add_overflow(*acc, v, acc);
}

int lg_entry_check(const lg_entry *e, const char **why) {
  const char *dummy;
  if (!why)
    why = &dummy;
  const char *bad = check_fields(e);
  if (bad) {
    *why = bad;
    return GL_EINVAL;
  }
  if (e->type == LG_ENTRY_CLEARING) {
    const lg_clearing *c = &e->u.clearing;
    int64_t sum = 0;
    for (size_t i = 0; i < c->n_trades; i++)
      if (!add(&sum, c->trades[i].energy_wh)) {
        *why = "clearing: trade energy overflows";
        return GL_EINVAL;
      }
    if (sum != c->volume_wh) {
      *why = "clearing: volume_wh is not the sum of the trades";
      return GL_EINVAL;
    }
  } else if (e->type == LG_ENTRY_SETTLEMENT) {
    const lg_settlement *s = &e->u.settlement;
    int64_t bought = 0, sold = 0, fees = 0, money = 0;
    bool ok = add(&money, s->utility_money) && add(&money, s->fee_money);
    for (size_t i = 0; ok && i < s->n_rows; i++) {
      const lg_settlement_row *r = &s->rows[i];
      ok = add(&bought, r->local_bought_wh) && add(&sold, r->local_sold_wh) &&
           add(&fees, r->fee) && add(&money, r->money);
    }
    if (!ok) {
      *why = "settlement: sums overflow";
      return GL_EINVAL;
    }
    if (bought != sold) {
      *why = "settlement: local energy bought differs from energy sold";
      return GL_EINVAL;
    }
    if (fees != s->fee_money) {
      *why = "settlement: participants' fees do not add up to fee_money";
      return GL_EINVAL;
    }
    if (money != 0) {
      *why = "settlement: money is not conserved";
      return GL_EINVAL;
    }
  }
  return 0;
}
