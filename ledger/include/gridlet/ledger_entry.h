/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_entry.h - the entries the market writes to the ledger, as
 * versioned, documented byte formats.
 *
 * Every ledger leaf is the bytes
 *
 *     type tag (u8) || version (u8) || body
 *
 * so that leaves of different kinds (and future versions of one kind) can
 * never be confused: the tag and version are inside the hashed leaf data
 * (RFC 9162 leaf hash = SHA-256(0x00 || tag || version || body)).
 *
 * Body encoding (version 1 of every type): fields in the order listed,
 * integers big-endian and fixed width (i64 two's complement), strings as
 * a u8 length followed by that many bytes (no terminator), lists as a u32
 * count followed by the items. There is exactly one encoding of each
 * value: decoding is strict (every length, range and enumeration checked,
 * no trailing bytes) and re-encoding a decoded entry gives the same bytes.
 *
 * Units: energy in Wh, prices in micro-currency per kWh, money in
 * micro-currency, all int64; times are int64 ns since the Unix epoch (UTC);
 * interval lengths in seconds. Participants are meter ids
 * (^[a-z0-9][a-z0-9._-]{0,62}$, never one of the reserved identities
 * aggregator, broker, witness, admin, ca).
 *
 *  tag  type            body (version 1)
 *  0x01 order           i64 interval_start, str meter_id, u64 seq,
 *                       u8 side (1 buy, 2 sell), i64 quantity_wh (>= 0;
 *                       0 = a standing ex-post price limit for whatever is
 *                       measured), i64 limit_price (>= 0),
 *                       32 bytes msg_digest (SHA-256 of the signed message)
 *  0x02 reading digest  i64 interval_start, str meter_id, u64 seq,
 *                       i64 import_wh (>= 0), i64 export_wh (>= 0),
 *                       u32 flags (reading flags, as defined by the
 *                       protocol), 32 bytes msg_digest
 *  0x03 clearing        i64 interval_start, u32 interval_len_s (> 0),
 *                       u8 mode (1 expost, 2 exante, 3 continuous),
 *                       u8 rule (0 none, 1 marginal, 2 k, 3 mcafee,
 *                       4 pay-as-bid), i64 price (uniform price, or -1
 *                       when there is none), i64 volume_wh (= sum of the
 *                       trades' energy), u32 n, n x { str buyer,
 *                       str seller (!= buyer), i64 energy_wh (> 0),
 *                       i64 price (>= 0) }
 *  0x04 settlement      i64 interval_start, u32 interval_len_s (> 0),
 *                       i64 retail_price, i64 feedin_price, i64 fee_price
 *                       (all >= 0), i64 utility_money (net money the
 *                       utility receives; negative when it pays out),
 *                       i64 fee_money (local network fees collected, >= 0),
 *                       u32 n, n x { str meter_id (strictly ascending, so
 *                       unique), i64 local_bought_wh, i64 local_sold_wh,
 *                       i64 grid_import_wh, i64 grid_export_wh,
 *                       i64 fee (all >= 0), i64 money (net money the
 *                       participant receives, negative when it pays; fees
 *                       included), u8 flags (bit 0: no reading, settled
 *                       against the grid; other bits zero) }
 *  0x05 parameter       i64 effective_from, str key ([a-z0-9][a-z0-9._-]*,
 *                       at most 64 bytes), str value (UTF-8 without
 *                       control characters, at most 255 bytes)
 *  0x06 enrolment       i64 time, u8 action (1 enrol, 2 revoke),
 *                       str meter_id, 32 bytes Ed25519 public key,
 *                       32 bytes cert_digest (SHA-256 of the DER cert)
 *
 * A settlement entry carries, per participant, everything needed to
 * recompute household balances and energy totals from the ledger alone
 * (see gridlet/ledger_balances.h). Beyond syntax, lg_entry_check tests
 * what must hold within one entry: local energy bought equals sold, the
 * participants' fees add up to fee_money, money is conserved
 * (sum of money + utility_money + fee_money == 0), and a clearing's volume
 * is the sum of its trades. The ledger refuses to append an entry that
 * fails either test.
 *
 * Thread-safety: all functions are thread-safe.
 */
#ifndef GRIDLET_LEDGER_ENTRY_H
#define GRIDLET_LEDGER_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_ENTRY_VERSION 1
/* Largest entry (tag, version and body) the ledger accepts. */
#define LG_ENTRY_MAX (4u << 20)
#define LG_METER_ID_MAX 63
#define LG_PARAM_KEY_MAX 64
#define LG_PARAM_VALUE_MAX 255
#define LG_DIGEST_LEN 32

typedef enum lg_entry_type {
  LG_ENTRY_ORDER = 0x01,
  LG_ENTRY_READING = 0x02,
  LG_ENTRY_CLEARING = 0x03,
  LG_ENTRY_SETTLEMENT = 0x04,
  LG_ENTRY_PARAM = 0x05,
  LG_ENTRY_ENROLMENT = 0x06,
} lg_entry_type;

enum { LG_SIDE_BUY = 1, LG_SIDE_SELL = 2 };
enum { LG_MODE_EXPOST = 1, LG_MODE_EXANTE = 2, LG_MODE_CONTINUOUS = 3 };
enum {
  LG_RULE_NONE = 0,
  LG_RULE_MARGINAL = 1,
  LG_RULE_K = 2,
  LG_RULE_MCAFEE = 3,
  LG_RULE_PAY_AS_BID = 4
};
enum { LG_ENROL = 1, LG_REVOKE = 2 };
/* Settlement row flag: the participant's reading was missing. */
#define LG_SETTLE_NO_READING 0x01

typedef struct lg_order {
  int64_t interval_start;
  char meter_id[LG_METER_ID_MAX + 1];
  uint64_t seq;
  uint8_t side;
  int64_t quantity_wh;
  int64_t limit_price;
  uint8_t msg_digest[LG_DIGEST_LEN];
} lg_order;

typedef struct lg_reading {
  int64_t interval_start;
  char meter_id[LG_METER_ID_MAX + 1];
  uint64_t seq;
  int64_t import_wh;
  int64_t export_wh;
  uint32_t flags;
  uint8_t msg_digest[LG_DIGEST_LEN];
} lg_reading;

typedef struct lg_trade {
  char buyer[LG_METER_ID_MAX + 1];
  char seller[LG_METER_ID_MAX + 1];
  int64_t energy_wh;
  int64_t price;
} lg_trade;

typedef struct lg_clearing {
  int64_t interval_start;
  uint32_t interval_len_s;
  uint8_t mode;
  uint8_t rule;
  int64_t price;
  int64_t volume_wh;
  size_t n_trades;
  lg_trade *trades; /* borrowed when encoding; owned after decoding */
} lg_clearing;

typedef struct lg_settlement_row {
  char meter_id[LG_METER_ID_MAX + 1];
  int64_t local_bought_wh;
  int64_t local_sold_wh;
  int64_t grid_import_wh;
  int64_t grid_export_wh;
  int64_t fee;
  int64_t money;
  uint8_t flags;
} lg_settlement_row;

typedef struct lg_settlement {
  int64_t interval_start;
  uint32_t interval_len_s;
  int64_t retail_price;
  int64_t feedin_price;
  int64_t fee_price;
  int64_t utility_money;
  int64_t fee_money;
  size_t n_rows;
  lg_settlement_row *rows; /* borrowed when encoding; owned after decoding */
} lg_settlement;

typedef struct lg_param {
  int64_t effective_from;
  char key[LG_PARAM_KEY_MAX + 1];
  char value[LG_PARAM_VALUE_MAX + 1];
} lg_param;

typedef struct lg_enrolment {
  int64_t time;
  uint8_t action;
  char meter_id[LG_METER_ID_MAX + 1];
  uint8_t pubkey[32];
  uint8_t cert_digest[LG_DIGEST_LEN];
} lg_enrolment;

typedef struct lg_entry {
  lg_entry_type type;
  union {
    lg_order order;
    lg_reading reading;
    lg_clearing clearing;
    lg_settlement settlement;
    lg_param param;
    lg_enrolment enrolment;
  } u;
} lg_entry;

/* lg_meter_id_valid - the protocol's meter id rule (see above). */
bool lg_meter_id_valid(const char *id, size_t len);

/* lg_entry_type_name - "order", "reading", "clearing", "settlement",
 * "parameter", "enrolment", or "unknown". */
const char *lg_entry_type_name(int type);

/*
 * lg_entry_encode - validate `e` (the same rules decoding applies) and
 * encode it. Returns 0 with *out an owned buffer (free()) of *len bytes,
 * or GL_EINVAL (a field out of range; logged with the field's name),
 * GL_ETOOBIG (above LG_ENTRY_MAX) or GL_ENOMEM. `e` is borrowed.
 */
int lg_entry_encode(const lg_entry *e, uint8_t **out, size_t *len);

/*
 * lg_entry_decode - strictly decode entry bytes. On success `e` owns the
 * trades or rows arrays of a clearing or settlement: release them with
 * lg_entry_clear. On failure nothing is owned. Returns 0, GL_EPARSE
 * (malformed, truncated, trailing bytes, a value out of range),
 * GL_ENOTSUP (unknown type tag or version), GL_ETOOBIG or GL_ENOMEM. When
 * `why` is not NULL it receives a static reason on failure.
 */
int lg_entry_decode(const void *data, size_t len, lg_entry *e,
                    const char **why);

/* lg_entry_clear - free what lg_entry_decode allocated; zeroes `e`. */
void lg_entry_clear(lg_entry *e);

/*
 * lg_entry_check - the within-entry invariants listed above (conservation
 * of energy and money in a settlement, volume of a clearing). Returns 0 or
 * GL_EINVAL with a static reason in `why` (may be NULL).
 */
int lg_entry_check(const lg_entry *e, const char **why);

/*
 * lg_entry_peek - the type tag and version of entry bytes without decoding
 * the body. Returns 0 or GL_EPARSE (fewer than two bytes).
 */
int lg_entry_peek(const void *data, size_t len, uint8_t *type,
                  uint8_t *version);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_ENTRY_H */
