/* SPDX-License-Identifier: MIT */
/*
 * msg.c - the protocol's message schemas and the pr_msg API.
 *
 * Each message type is one field table (see jcodec.h) plus a function for
 * the rules that span fields (interval order, the settlement identity,
 * which fields a proof carries). The tables are the specification that
 * docs/protocol.md describes; change both together, and bump PR_VERSION
 * for any change a peer could notice.
 */
#include "gridlet/pr_msg.h"

#include "jcodec.h"

#include "gridlet/error.h"
#include "gridlet/pr_cose.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

/* ---- Wire names -------------------------------------------------------- */

static const char *const type_names[PR_MSG_COUNT] = {
    [PR_MSG_READING] = "reading",
    [PR_MSG_ORDER] = "order",
    [PR_MSG_PREFS] = "prefs",
    [PR_MSG_STATUS] = "status",
    [PR_MSG_PROOF_REQUEST] = "proof_request",
    [PR_MSG_RESULT] = "result",
    [PR_MSG_PROOF_RESPONSE] = "proof_response",
    [PR_MSG_CHECKPOINT] = "checkpoint",
    [PR_MSG_SUMMARY] = "summary",
};
static const char *const side_names[] = {NULL, "buy", "sell"};
static const char *const mode_names[] = {NULL, "expost", "exante",
                                         "continuous"};
static const char *const state_names[] = {NULL, "online", "offline"};
static const char *const proof_kind_names[] = {NULL, "inclusion",
                                               "consistency"};
static const char *const proof_status_names[] = {NULL, "ok", "not_found",
                                                 "bad_request", "unavailable"};
/* Indexed by bit number. */
static const char *const flag_names[] = {
    "estimated",      "counter_reset", "rollover", "scale_change",
    "device_offline", "clock_step",    "missing"};
static const char *const result_flag_names[] = {"missing", "estimated"};

#define NAMES(a) .names = (a), .nnames = sizeof(a) / sizeof((a)[0])
_Static_assert(PR_FLAGS_ALL ==
                   (1u << (sizeof flag_names / sizeof *flag_names)) - 1,
               "flag names match the bits");
_Static_assert(PR_RESULT_FLAGS_ALL == (1u << (sizeof result_flag_names /
                                              sizeof *result_flag_names)) -
                                          1,
               "result flag names match the bits");

/* Payload limits, each above the largest valid encoding of its type (the
 * unit tests encode a maximal message of each type to show it). */
static const size_t type_limits[PR_MSG_COUNT] = {
    [PR_MSG_READING] = 2048,         [PR_MSG_ORDER] = 4096,
    [PR_MSG_PREFS] = 1024,           [PR_MSG_STATUS] = 1024,
    [PR_MSG_PROOF_REQUEST] = 1024,   [PR_MSG_RESULT] = 12288,
    [PR_MSG_PROOF_RESPONSE] = 24576, [PR_MSG_CHECKPOINT] = 12288,
    [PR_MSG_SUMMARY] = 2048,
};
_Static_assert(PR_PAYLOAD_MAX >= 24576, "every type fits the envelope");

/* ---- Field tables ------------------------------------------------------ */

/* Offsets of body fields from the start of pr_msg. */
#define BODY(T, member, f) (offsetof(pr_msg, member) + offsetof(T, f))

#define F_INT(nm, o, lo, hi)                                                   \
  { .name = nm, .kind = JK_INT, .off = (o), .min = (lo), .max = (hi) }
#define F_OPT_INT(nm, o, ho, lo, hi)                                           \
  {                                                                            \
    .name = nm, .kind = JK_INT, .presence = J_OPT, .off = (o),                 \
    .has_off = (ho), .min = (lo), .max = (hi)                                  \
  }
#define F_TIME(nm, o)                                                          \
  { .name = nm, .kind = JK_TIME, .off = (o) }
#define F_ENUM(nm, o, names)                                                   \
  { .name = nm, .kind = JK_ENUM, .off = (o), NAMES(names) }
#define F_FLAGS(nm, o, names)                                                  \
  { .name = nm, .kind = JK_FLAGS, .presence = J_OPT, .off = (o), NAMES(names) }

#define E PR_ENERGY_MAX
#define P PR_PRICE_MAX
#define M PR_MONEY_MAX
#define I PR_INT_MAX

#define HEADER_FIELDS                                                          \
  {.name = "sender", .kind = JK_SENDER, .off = offsetof(pr_msg, sender)},      \
      F_INT("seq", offsetof(pr_msg, seq), 1, I),                               \
      F_TIME("ts", offsetof(pr_msg, ts))

static int check_interval(int64_t start, int64_t end, const char *path,
                          pr_diag *d) {
  if (end <= start)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "%s%send: must be after start", path,
                       path[0] ? "." : "");
  if (end - start > PR_INTERVAL_MAX_NS)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "%s%send: interval longer than a day", path,
                       path[0] ? "." : "");
  return 0;
}

/* -- reading -- */
#define R(f) BODY(pr_reading, reading, f)
static int check_reading(const void *base, const char *path, pr_diag *d) {
  const pr_reading *r = &((const pr_msg *)base)->reading;
  int rc = check_interval(r->start, r->end, path, d);
  if (rc != 0)
    return rc;
  if (r->flags & PR_FLAG_MISSING) {
    if (r->import_wh || r->export_wh || r->pv_wh || r->charge_wh ||
        r->discharge_wh)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "flags: a \"missing\" reading must report 0 Wh in "
                         "every energy field");
    if (r->has_soc_bp)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "soc_bp: not allowed in a \"missing\" reading");
  }
  return 0;
}
static const jfield reading_fields[] = {
    HEADER_FIELDS,
    F_TIME("start", R(start)),
    F_TIME("end", R(end)),
    F_INT("import_wh", R(import_wh), 0, E),
    F_INT("export_wh", R(export_wh), 0, E),
    F_INT("pv_wh", R(pv_wh), 0, E),
    F_INT("charge_wh", R(charge_wh), 0, E),
    F_INT("discharge_wh", R(discharge_wh), 0, E),
    F_OPT_INT("soc_bp", R(soc_bp), R(has_soc_bp), 0, PR_SOC_MAX),
    F_OPT_INT("import_total_wh", R(import_total_wh), R(has_import_total_wh), 0,
              I),
    F_OPT_INT("export_total_wh", R(export_total_wh), R(has_export_total_wh), 0,
              I),
    F_FLAGS("flags", R(flags), flag_names),
};
#undef R

/* -- order -- */
static const jfield step_fields[] = {
    F_ENUM("side", offsetof(pr_step, side), side_names),
    F_INT("wh", offsetof(pr_step, wh), 1, E),
    F_INT("price", offsetof(pr_step, price), -P, P),
};
static const jschema step_schema = {
    "step", step_fields, sizeof step_fields / sizeof *step_fields, NULL};
#define O(f) BODY(pr_order, order, f)
static int check_order(const void *base, const char *path, pr_diag *d) {
  const pr_order *o = &((const pr_msg *)base)->order;
  return check_interval(o->start, o->end, path, d);
}
static const jfield order_fields[] = {
    HEADER_FIELDS,
    F_TIME("start", O(start)),
    F_TIME("end", O(end)),
    {.name = "steps",
     .kind = JK_OBJECTS,
     .off = O(steps),
     .max = PR_MAX_STEPS,
     .sub = &step_schema,
     .elem_size = sizeof(pr_step),
     .count_off = O(nsteps)},
};
#undef O

/* -- prefs -- */
#define PF(f) BODY(pr_prefs, prefs, f)
static const jfield prefs_fields[] = {
    HEADER_FIELDS,
    F_TIME("effective", PF(effective)),
    F_OPT_INT("buy_below", PF(buy_below), PF(has_buy_below), -P, P),
    F_OPT_INT("sell_above", PF(sell_above), PF(has_sell_above), -P, P),
};
#undef PF

/* -- status -- */
static int check_last_reading(const void *base, const char *path, pr_diag *d) {
  const pr_last_reading *l = base;
  return check_interval(l->start, l->end, path, d);
}
static const jfield last_reading_fields[] = {
    F_INT("seq", offsetof(pr_last_reading, seq), 1, I),
    F_TIME("start", offsetof(pr_last_reading, start)),
    F_TIME("end", offsetof(pr_last_reading, end)),
};
static const jschema last_reading_schema = {"last_reading", last_reading_fields,
                                            sizeof last_reading_fields /
                                                sizeof *last_reading_fields,
                                            check_last_reading};
#define S(f) BODY(pr_status, status, f)
static const jfield status_fields[] = {
    HEADER_FIELDS,
    F_ENUM("state", S(state), state_names),
    F_OPT_INT("outbox", S(outbox), S(has_outbox), 0, I),
    {.name = "last_reading",
     .kind = JK_OBJECT,
     .presence = J_OPT,
     .off = S(last_reading),
     .has_off = S(has_last_reading),
     .sub = &last_reading_schema},
    {.name = "version",
     .kind = JK_TOKEN,
     .presence = J_OPT,
     .off = S(version),
     .max = PR_TOKEN_MAX},
};
#undef S

/* -- proof_request -- */
#define Q(f) BODY(pr_proof_request, proof_request, f)
static int check_proof_request(const void *base, const char *path, pr_diag *d) {
  (void)path;
  const pr_proof_request *q = &((const pr_msg *)base)->proof_request;
  if (q->kind == PR_PROOF_INCLUSION && q->index >= q->size)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "index: %" PRId64 " is not below size %" PRId64,
                       q->index, q->size);
  if (q->kind == PR_PROOF_CONSISTENCY && q->old_size > q->size)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "old_size: %" PRId64 " is above size %" PRId64,
                       q->old_size, q->size);
  return 0;
}
static const jfield proof_request_fields[] = {
    HEADER_FIELDS,
    F_ENUM("kind", Q(kind), proof_kind_names),
    {.name = "index",
     .kind = JK_INT,
     .off = Q(index),
     .min = 0,
     .max = I - 1,
     .cond_off = Q(kind),
     .cond_value = PR_PROOF_INCLUSION},
    {.name = "old_size",
     .kind = JK_INT,
     .off = Q(old_size),
     .min = 1,
     .max = I,
     .cond_off = Q(kind),
     .cond_value = PR_PROOF_CONSISTENCY},
    F_INT("size", Q(size), 1, I),
};
#undef Q

/* -- result -- */
static const jfield trade_fields[] = {
    F_ENUM("side", offsetof(pr_trade, side), side_names),
    F_INT("wh", offsetof(pr_trade, wh), 1, E),
    F_INT("price", offsetof(pr_trade, price), -P, P),
    F_INT("amount", offsetof(pr_trade, amount), 0, M),
};
static const jschema trade_schema = {
    "trade", trade_fields, sizeof trade_fields / sizeof *trade_fields, NULL};

#define ST(f) offsetof(pr_settlement, f)
static int check_settlement(const void *base, const char *path, pr_diag *d) {
  const pr_settlement *s = base;
  /* Each term is within PR_MONEY_MAX (1e15), so no overflow below. */
  int64_t net = s->local_revenue + s->grid_revenue - s->local_cost -
                s->grid_cost - s->fee;
  if (s->net != net)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "%s.net: %" PRId64 " but local_revenue + grid_revenue "
                       "- local_cost - grid_cost - fee = %" PRId64,
                       path, s->net, net);
  return 0;
}
static const jfield settlement_fields[] = {
    F_INT("import_wh", ST(import_wh), 0, E),
    F_INT("export_wh", ST(export_wh), 0, E),
    F_INT("local_buy_wh", ST(local_buy_wh), 0, E),
    F_INT("local_sell_wh", ST(local_sell_wh), 0, E),
    F_INT("grid_buy_wh", ST(grid_buy_wh), 0, E),
    F_INT("grid_sell_wh", ST(grid_sell_wh), 0, E),
    F_INT("local_cost", ST(local_cost), 0, M),
    F_INT("local_revenue", ST(local_revenue), 0, M),
    F_INT("grid_cost", ST(grid_cost), 0, M),
    F_INT("grid_revenue", ST(grid_revenue), 0, M),
    F_INT("fee", ST(fee), 0, M),
    F_INT("net", ST(net), -3 * M, 2 * M),
};
#undef ST
static const jschema settlement_schema = {
    "settlement", settlement_fields,
    sizeof settlement_fields / sizeof *settlement_fields, check_settlement};

static int check_ledger_ref(const void *base, const char *path, pr_diag *d) {
  const pr_ledger_ref *l = base;
  for (size_t i = 0; i < l->nentries; i++) {
    if (l->entries[i] >= l->size)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s.entries[%zu]: %" PRId64
                         " is not below size %" PRId64,
                         path, i, l->entries[i], l->size);
    if (i > 0 && l->entries[i] <= l->entries[i - 1])
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s.entries[%zu]: indices must strictly increase",
                         path, i);
  }
  return 0;
}
static const jfield ledger_ref_fields[] = {
    F_INT("size", offsetof(pr_ledger_ref, size), 0, I),
    {.name = "entries",
     .kind = JK_INTS,
     .off = offsetof(pr_ledger_ref, entries),
     .max = PR_MAX_LEDGER_ENTRIES,
     .imin = 0,
     .imax = I - 1,
     .count_off = offsetof(pr_ledger_ref, nentries)},
};
static const jschema ledger_ref_schema = {
    "ledger", ledger_ref_fields,
    sizeof ledger_ref_fields / sizeof *ledger_ref_fields, check_ledger_ref};

#define RS(f) BODY(pr_result, result, f)
static int check_result(const void *base, const char *path, pr_diag *d) {
  const pr_result *r = &((const pr_msg *)base)->result;
  return check_interval(r->start, r->end, path, d);
}
static const jfield result_fields[] = {
    HEADER_FIELDS,
    {.name = "meter", .kind = JK_METER, .off = RS(meter)},
    F_TIME("start", RS(start)),
    F_TIME("end", RS(end)),
    F_ENUM("mode", RS(mode), mode_names),
    F_OPT_INT("price", RS(price), RS(has_price), -P, P),
    {.name = "trades",
     .kind = JK_OBJECTS,
     .off = RS(trades),
     .max = PR_MAX_TRADES,
     .sub = &trade_schema,
     .elem_size = sizeof(pr_trade),
     .count_off = RS(ntrades)},
    {.name = "settlement",
     .kind = JK_OBJECT,
     .off = RS(settlement),
     .sub = &settlement_schema},
    F_INT("balance", RS(balance), -I, I),
    F_FLAGS("flags", RS(flags), result_flag_names),
    {.name = "ledger",
     .kind = JK_OBJECT,
     .off = RS(ledger),
     .sub = &ledger_ref_schema},
};
#undef RS

/* -- proof_response -- */
#define PR(f) BODY(pr_proof_response, proof_response, f)
static int check_proof_response(const void *base, const char *path,
                                pr_diag *d) {
  (void)path;
  const pr_proof_response *r = &((const pr_msg *)base)->proof_response;
  if (r->status != PR_PROOF_OK) {
    if (r->entry_len > 0 || r->note[0] != '\0')
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: only allowed when status is \"ok\"",
                         r->entry_len > 0 ? "entry" : "note");
    return 0;
  }
  if (r->size < 1)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "size: must be >= 1 in a proof");
  if (r->kind == PR_PROOF_INCLUSION && r->index >= r->size)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "index: %" PRId64 " is not below size %" PRId64,
                       r->index, r->size);
  if (r->kind == PR_PROOF_CONSISTENCY &&
      (r->old_size < 1 || r->old_size > r->size))
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "old_size: %" PRId64 " is not in [1, size %" PRId64 "]",
                       r->old_size, r->size);
  if (r->kind != PR_PROOF_INCLUSION && r->entry_len > 0)
    return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                       "entry: only allowed in an inclusion proof");
  return 0;
}
static const jfield proof_response_fields[] = {
    HEADER_FIELDS,
    {.name = "meter", .kind = JK_METER, .off = PR(meter)},
    F_INT("request_seq", PR(request_seq), 1, I),
    F_ENUM("kind", PR(kind), proof_kind_names),
    F_ENUM("status", PR(status), proof_status_names),
    {.name = "index",
     .kind = JK_INT,
     .off = PR(index),
     .min = 0,
     .max = I,
     .cond_off = PR(kind),
     .cond_value = PR_PROOF_INCLUSION},
    {.name = "old_size",
     .kind = JK_INT,
     .off = PR(old_size),
     .min = 0,
     .max = I,
     .cond_off = PR(kind),
     .cond_value = PR_PROOF_CONSISTENCY},
    F_INT("size", PR(size), 0, I),
    {.name = "path",
     .kind = JK_HASHES,
     .off = PR(path),
     .max = PR_MAX_PROOF_HASHES,
     .count_off = PR(npath),
     .cond_off = PR(status),
     .cond_value = PR_PROOF_OK},
    {.name = "entry",
     .kind = JK_BYTES,
     .presence = J_OPT,
     .off = PR(entry),
     .max = PR_ENTRY_MAX,
     .count_off = PR(entry_len)},
    {.name = "note",
     .kind = JK_NOTE,
     .presence = J_OPT,
     .off = PR(note),
     .max = PR_NOTE_MAX},
};
#undef PR

/* -- checkpoint -- */
static const jfield checkpoint_fields[] = {
    HEADER_FIELDS,
    {.name = "note",
     .kind = JK_NOTE,
     .off = BODY(pr_checkpoint, checkpoint, note),
     .max = PR_NOTE_MAX},
};

/* -- summary -- */
#define SM(f) BODY(pr_summary, summary, f)
static int check_summary(const void *base, const char *path, pr_diag *d) {
  const pr_summary *s = &((const pr_msg *)base)->summary;
  int rc = check_interval(s->start, s->end, path, d);
  if (rc == 0 && s->missing > s->meters)
    rc = pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                     "missing: %" PRId64 " is more than meters %" PRId64,
                     s->missing, s->meters);
  return rc;
}
static const jfield summary_fields[] = {
    HEADER_FIELDS,
    F_TIME("start", SM(start)),
    F_TIME("end", SM(end)),
    F_ENUM("mode", SM(mode), mode_names),
    {.name = "rule", .kind = JK_TOKEN, .off = SM(rule), .max = PR_TOKEN_MAX},
    F_OPT_INT("price", SM(price), SM(has_price), -P, P),
    F_INT("traded_wh", SM(traded_wh), 0, I),
    F_INT("import_wh", SM(import_wh), 0, I),
    F_INT("export_wh", SM(export_wh), 0, I),
    F_INT("grid_buy_wh", SM(grid_buy_wh), 0, I),
    F_INT("grid_sell_wh", SM(grid_sell_wh), 0, I),
    F_INT("meters", SM(meters), 0, I),
    F_INT("missing", SM(missing), 0, I),
    F_INT("ledger_size", SM(ledger_size), 0, I),
};
#undef SM

#define SCHEMA(t, name, check)                                                 \
  [t] = {#name, name##_fields, sizeof name##_fields / sizeof *name##_fields,   \
         check}
static const jschema schemas[PR_MSG_COUNT] = {
    SCHEMA(PR_MSG_READING, reading, check_reading),
    SCHEMA(PR_MSG_ORDER, order, check_order),
    SCHEMA(PR_MSG_PREFS, prefs, NULL),
    SCHEMA(PR_MSG_STATUS, status, NULL),
    SCHEMA(PR_MSG_PROOF_REQUEST, proof_request, check_proof_request),
    SCHEMA(PR_MSG_RESULT, result, check_result),
    SCHEMA(PR_MSG_PROOF_RESPONSE, proof_response, check_proof_response),
    SCHEMA(PR_MSG_CHECKPOINT, checkpoint, NULL),
    SCHEMA(PR_MSG_SUMMARY, summary, check_summary),
};

/* ---- Names ------------------------------------------------------------- */

static const char *name_at(const char *const *names, size_t n, int i) {
  return (i >= 0 && (size_t)i < n) ? names[i] : NULL;
}
#define NAME_AT(a, i) name_at((a), sizeof(a) / sizeof((a)[0]), (int)(i))

const char *pr_type_name(pr_type type) {
  return NAME_AT(type_names, type);
}
const char *pr_side_name(pr_side side) {
  return NAME_AT(side_names, side);
}
const char *pr_mode_name(pr_mode mode) {
  return NAME_AT(mode_names, mode);
}
const char *pr_state_name(pr_state state) {
  return NAME_AT(state_names, state);
}
const char *pr_proof_kind_name(pr_proof_kind kind) {
  return NAME_AT(proof_kind_names, kind);
}
const char *pr_proof_status_name(pr_proof_status status) {
  return NAME_AT(proof_status_names, status);
}

static int bit_index(uint32_t flag) {
  if (flag == 0 || (flag & (flag - 1)) != 0)
    return -1;
  return __builtin_ctz(flag);
}
const char *pr_flag_name(uint32_t flag) {
  return NAME_AT(flag_names, bit_index(flag));
}
const char *pr_result_flag_name(uint32_t flag) {
  return NAME_AT(result_flag_names, bit_index(flag));
}

pr_type pr_type_from_name(const char *name) {
  for (int t = 1; name != NULL && t < PR_MSG_COUNT; t++)
    if (strcmp(name, type_names[t]) == 0)
      return (pr_type)t;
  return PR_MSG_NONE;
}

size_t pr_type_max_payload(pr_type type) {
  return (type > PR_MSG_NONE && type < PR_MSG_COUNT) ? type_limits[type] : 0;
}

/* ---- API --------------------------------------------------------------- */

/* Which side of the protocol may send each type. */
static bool from_aggregator(pr_type t) {
  return t == PR_MSG_RESULT || t == PR_MSG_PROOF_RESPONSE ||
         t == PR_MSG_CHECKPOINT || t == PR_MSG_SUMMARY;
}

static int check_origin(const pr_msg *m, pr_diag *d) {
  size_t n = strnlen(m->sender, sizeof m->sender);
  bool agg = n == strlen(PR_AGGREGATOR_ID) &&
             memcmp(m->sender, PR_AGGREGATOR_ID, n) == 0;
  if (from_aggregator(m->type) && !agg)
    return pr_diag_set(d, PR_R_SENDER_MISMATCH, GL_EPERM,
                       "sender: a %s is only sent by \"%s\"",
                       pr_type_name(m->type), PR_AGGREGATOR_ID);
  if (!from_aggregator(m->type) && agg)
    return pr_diag_set(d, PR_R_SENDER_MISMATCH, GL_EPERM,
                       "sender: a %s is only sent by a meter",
                       pr_type_name(m->type));
  return 0;
}

/* Validation shared by encode and decode; returns the rule's GL_E* code. */
static int validate(const pr_msg *m, pr_diag *d) {
  if (m->type <= PR_MSG_NONE || m->type >= PR_MSG_COUNT)
    return pr_diag_set(d, PR_R_INVALID, GL_EINVAL,
                       "type: not a message type (%d)", (int)m->type);
  if (m->version != 0 && m->version != PR_VERSION)
    return pr_diag_set(d, PR_R_WRONG_VERSION, GL_ENOTSUP,
                       "v: this library speaks version %d only", PR_VERSION);
  int rc = pr__jvalidate(&schemas[m->type], m, "", d);
  return rc != 0 ? rc : check_origin(m, d);
}

int pr_msg_validate(const pr_msg *m, pr_diag *d) {
  pr_diag_clear(d);
  if (m == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "no message");
  return validate(m, d) != 0 ? GL_EINVAL : 0;
}

int pr_msg_init(pr_msg *m, pr_type type, const char *sender, int64_t seq,
                int64_t ts) {
  if (m == NULL)
    return GL_EINVAL;
  memset(m, 0, sizeof *m);
  if (type <= PR_MSG_NONE || type >= PR_MSG_COUNT || sender == NULL ||
      !pr_sender_valid(sender, strlen(sender)))
    return GL_EINVAL;
  m->type = type;
  m->version = PR_VERSION;
  memcpy(m->sender, sender, strlen(sender) + 1);
  m->seq = seq;
  m->ts = ts;
  return 0;
}

int pr_msg_encode(const pr_msg *m, char *buf, size_t cap, size_t *len,
                  pr_diag *d) {
  pr_diag_clear(d);
  if (m == NULL || buf == NULL || len == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "no message or buffer");
  if (validate(m, d) != 0)
    return GL_EINVAL;
  json_t *root = json_object();
  int rc = GL_ENOMEM;
  if (root != NULL &&
      json_object_set_new(root, "v", json_integer(PR_VERSION)) == 0 &&
      json_object_set_new(root, "type", json_string(pr_type_name(m->type))) ==
          0 &&
      pr__jencode_object(&schemas[m->type], m, root) == 0) {
    size_t n = json_dumpb(root, buf, cap, JSON_COMPACT);
    if (n == 0) {
      rc = pr_diag_set(d, PR_R_INTERNAL, GL_ENOMEM, "JSON encoding failed");
    } else if (n > cap) {
      rc = pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "payload needs %zu bytes, buffer has %zu", n, cap);
    } else if (n > type_limits[m->type]) {
      rc = pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "%s payload of %zu bytes exceeds the limit of %zu",
                       pr_type_name(m->type), n, type_limits[m->type]);
    } else {
      *len = n;
      rc = 0;
    }
  } else {
    pr_diag_set(d, PR_R_INTERNAL, GL_ENOMEM, "out of memory");
  }
  json_decref(root);
  return rc;
}

static int decode_root(const json_t *root, size_t len, uint32_t allowed,
                       pr_msg *m, pr_diag *d) {
  if (!json_is_object(root))
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "payload: not a JSON object");
  const json_t *v = json_object_get(root, "v");
  if (v == NULL)
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "v: missing");
  if (!json_is_integer(v))
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "v: expected an integer");
  if (json_integer_value(v) != PR_VERSION)
    return pr_diag_set(d, PR_R_WRONG_VERSION, GL_ENOTSUP,
                       "v: version %lld is not supported (this library "
                       "speaks %d)",
                       (long long)json_integer_value(v), PR_VERSION);
  const json_t *t = json_object_get(root, "type");
  if (t == NULL)
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "type: missing");
  if (!json_is_string(t))
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "type: expected a string");
  pr_type type = pr_type_from_name(json_string_value(t));
  char safe[40];
  if (type == PR_MSG_NONE)
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                       "type: unknown message type \"%s\"",
                       pr__jsafe(json_string_value(t), safe));
  if (allowed != PR_TYPES_ANY && (allowed & PR_TYPE_BIT(type)) == 0)
    return pr_diag_set(d, PR_R_WRONG_TYPE, GL_EPROTO,
                       "type: a %s message is not accepted here",
                       pr_type_name(type));
  if (len > type_limits[type])
    return pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "%s payload of %zu bytes exceeds the limit of %zu",
                       pr_type_name(type), len, type_limits[type]);
  m->type = type;
  m->version = PR_VERSION;
  static const char *const header_keys[] = {"v", "type", NULL};
  int rc = pr__jdecode_object(&schemas[type], root, m, "", header_keys, d);
  if (rc != 0)
    return rc;
  return validate(m, d);
}

int pr_msg_decode(const char *json, size_t len, uint32_t allowed, pr_msg *m,
                  pr_diag *d) {
  pr_diag_clear(d);
  if (m == NULL || (json == NULL && len > 0))
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "no payload or message");
  memset(m, 0, sizeof *m);
  if (len > PR_PAYLOAD_MAX)
    return pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "payload of %zu bytes exceeds the limit of %d", len,
                       PR_PAYLOAD_MAX);
  json_error_t err;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
  if (root == NULL)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "payload: invalid JSON: %s (line %d, column %d)",
                       err.text, err.line, err.column);
  int rc = decode_root(root, len, allowed, m, d);
  json_decref(root);
  if (rc != 0)
    memset(m, 0, sizeof *m); /* leave no half-decoded message behind */
  return rc;
}
