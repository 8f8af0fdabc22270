/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_msg.h - protocol messages and their JSON payloads.
 *
 * Every message is a JSON object with a common header followed by the
 * fields of its type; docs/protocol.md specifies each field (type, unit,
 * limit) for implementers in other languages. In C a message is one value
 * struct, pr_msg: the header fields plus an anonymous union holding the
 * body of its type, so that `m.reading.import_wh` reads naturally. The
 * structs have fixed capacities (no pointers, nothing to free), so a
 * message can live on the stack, be copied with `=`, and be decoded
 * without the library allocating on the caller's behalf.
 *
 * Header, in every payload, in this order:
 *   "v"      protocol version (PR_VERSION)
 *   "type"   message type name ("reading", ...)
 *   "sender" sender id: a meter id, or "aggregator"; equals the COSE kid
 *   "seq"    sender's sequence number, 1 .. 2^53-1 (see docs/protocol.md
 *            for which messages must increase it)
 *   "ts"     when the sender created the message
 *
 * Units and representation (the same on the wire and in the structs):
 *   - energy in Wh, prices in micro-currency per kWh, money in
 *     micro-currency, state of charge in basis points (1/100 %), all
 *     integers within the I-JSON range |x| <= 2^53-1; a JSON number with a
 *     fraction or exponent is rejected even when its value is integral;
 *   - times: in the structs int64 ns since the Unix epoch (gridlet's
 *     convention), on the wire RFC 3339 UTC strings with whole seconds
 *     and a "Z" ("2026-11-21T10:15:00Z", exactly 20 characters). Only that
 *     form is accepted, and the encoder refuses a time that is not a whole
 *     second rather than silently rounding it;
 *   - optional fields: absent from the JSON when absent in the struct
 *     (has_x false, empty string, zero flags); `null` is never accepted.
 *
 * Decoding is strict (JSON_REJECT_DUPLICATES, unknown fields, wrong JSON
 * types, missing fields, out-of-range values, non-canonical times are all
 * errors naming the field) and encoding validates with the same rules, so
 * the library never signs a message its peers would reject.
 *
 * Thread-safety: all functions are reentrant; they share no state (jansson
 * is thread-safe for independent values).
 */
#ifndef GRIDLET_PR_MSG_H
#define GRIDLET_PR_MSG_H

#include "gridlet/pr_diag.h"
#include "gridlet/pr_ident.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol version this library writes and the only one it accepts. */
#define PR_VERSION 1

/* ---- Limits ------------------------------------------------------------ */

#define PR_INT_MAX INT64_C(9007199254740991)   /* 2^53-1, I-JSON safe */
#define PR_ENERGY_MAX INT64_C(1000000000)      /* Wh in one interval */
#define PR_PRICE_MAX INT64_C(1000000000)       /* |µ-currency per kWh| */
#define PR_MONEY_MAX INT64_C(1000000000000000) /* µ-currency, one interval */
#define PR_SOC_MAX 10000                       /* basis points = 100 % */
#define PR_INTERVAL_MAX_NS (INT64_C(86400) * INT64_C(1000000000)) /* 1 day */
#define PR_MAX_STEPS 16          /* steps in one order */
#define PR_MAX_TRADES 64         /* trades in one result */
#define PR_MAX_LEDGER_ENTRIES 32 /* ledger indices in one result */
#define PR_MAX_PROOF_HASHES 64   /* hashes in one proof */
#define PR_HASH_LEN 32           /* SHA-256 */
#define PR_NOTE_MAX 4096         /* bytes of signed-note text */
#define PR_ENTRY_MAX 8192        /* bytes of one ledger entry */
#define PR_TOKEN_MAX 31          /* short names: software version, rule */

/* ---- Message types ----------------------------------------------------- */

typedef enum pr_type {
  PR_MSG_NONE = 0,
  PR_MSG_READING,        /* "reading": meter -> aggregator */
  PR_MSG_ORDER,          /* "order": meter -> aggregator, ex-ante order */
  PR_MSG_PREFS,          /* "prefs": meter -> aggregator, standing limits */
  PR_MSG_STATUS,         /* "status": meter, retained presence */
  PR_MSG_PROOF_REQUEST,  /* "proof_request": meter -> aggregator */
  PR_MSG_RESULT,         /* "result": aggregator -> one meter */
  PR_MSG_PROOF_RESPONSE, /* "proof_response": aggregator -> one meter */
  PR_MSG_CHECKPOINT,     /* "checkpoint": aggregator, public, retained */
  PR_MSG_SUMMARY,        /* "summary": aggregator, public */
  PR_MSG_COUNT
} pr_type;

/* A set of message types, for pr_msg_decode's `allowed` argument. */
#define PR_TYPE_BIT(t) (UINT32_C(1) << (t))
#define PR_TYPES_ANY UINT32_C(0)

typedef enum pr_side { PR_SIDE_NONE = 0, PR_SIDE_BUY, PR_SIDE_SELL } pr_side;

typedef enum pr_mode {
  PR_MODE_NONE = 0,
  PR_MODE_EXPOST,    /* "expost" */
  PR_MODE_EXANTE,    /* "exante" */
  PR_MODE_CONTINUOUS /* "continuous" */
} pr_mode;

typedef enum pr_state {
  PR_STATE_NONE = 0,
  PR_STATE_ONLINE, /* "online" */
  PR_STATE_OFFLINE /* "offline" */
} pr_state;

typedef enum pr_proof_kind {
  PR_PROOF_NONE = 0,
  PR_PROOF_INCLUSION,  /* "inclusion": leaf `index` in tree of `size` */
  PR_PROOF_CONSISTENCY /* "consistency": tree `old_size` to tree `size` */
} pr_proof_kind;

typedef enum pr_proof_status {
  PR_PROOF_STATUS_NONE = 0,
  PR_PROOF_OK,          /* "ok": the proof follows */
  PR_PROOF_NOT_FOUND,   /* "not_found": index/size beyond the log */
  PR_PROOF_BAD_REQUEST, /* "bad_request": the request was invalid */
  PR_PROOF_UNAVAILABLE  /* "unavailable": try again later */
} pr_proof_status;

/* Reading flags ("flags" array of names, in this bit order). */
#define PR_FLAG_ESTIMATED (1u << 0)      /* "estimated": values estimated */
#define PR_FLAG_COUNTER_RESET (1u << 1)  /* "counter_reset" */
#define PR_FLAG_ROLLOVER (1u << 2)       /* "rollover": counter wrapped */
#define PR_FLAG_SCALE_CHANGE (1u << 3)   /* "scale_change": scale factor */
#define PR_FLAG_DEVICE_OFFLINE (1u << 4) /* "device_offline": polls failed */
#define PR_FLAG_CLOCK_STEP (1u << 5)     /* "clock_step": wall clock jumped */
#define PR_FLAG_MISSING (1u << 6)        /* "missing": no data at all */
#define PR_FLAGS_ALL 0x7fu

/* Result flags. */
#define PR_RESULT_MISSING (1u << 0)   /* "missing": no reading; grid-settled */
#define PR_RESULT_ESTIMATED (1u << 1) /* "estimated": reading was estimated */
#define PR_RESULT_FLAGS_ALL 0x3u

/* ---- Bodies ------------------------------------------------------------ */

/*
 * "reading": one interval's energies, derived from cumulative counters.
 * All energies are >= 0. With PR_FLAG_MISSING every energy is 0 and there
 * is no state of charge.
 */
typedef struct pr_reading {
  int64_t start, end;   /* the interval [start, end), at most a day */
  int64_t import_wh;    /* from the grid */
  int64_t export_wh;    /* to the grid */
  int64_t pv_wh;        /* PV production */
  int64_t charge_wh;    /* into the battery */
  int64_t discharge_wh; /* out of the battery */
  bool has_soc_bp;
  int64_t soc_bp; /* battery state of charge at `end`, 0..10000 */
  bool has_import_total_wh;
  int64_t import_total_wh; /* grid meter's import register at `end` */
  bool has_export_total_wh;
  int64_t export_total_wh; /* grid meter's export register at `end` */
  uint32_t flags;          /* PR_FLAG_* */
} pr_reading;

/* One step of an order: buy up to `wh` at or below `price`, or sell up to
 * `wh` at or above it. */
typedef struct pr_step {
  pr_side side;
  int64_t wh;    /* 1 .. PR_ENERGY_MAX */
  int64_t price; /* limit, µ-currency per kWh, |price| <= PR_PRICE_MAX */
} pr_step;

/*
 * "order": the meter's complete ex-ante order for one delivery interval.
 * A later order (higher seq) for the same interval replaces the earlier
 * one; an order with no steps withdraws it.
 */
typedef struct pr_order {
  int64_t start, end; /* the delivery interval */
  size_t nsteps;      /* 0 .. PR_MAX_STEPS */
  pr_step steps[PR_MAX_STEPS];
} pr_order;

/*
 * "prefs": standing limits for the expost market, valid for delivery
 * intervals starting at or after `effective` until replaced. An absent
 * limit means "any price within the community's price band".
 */
typedef struct pr_prefs {
  int64_t effective;
  bool has_buy_below;
  int64_t buy_below; /* buy locally only at or below this price */
  bool has_sell_above;
  int64_t sell_above; /* sell locally only at or above this price */
} pr_prefs;

/* The newest reading a meter has produced (in a status message). */
typedef struct pr_last_reading {
  int64_t seq;        /* its sequence number */
  int64_t start, end; /* its interval */
} pr_last_reading;

/*
 * "status": the meter's presence, retained on its status topic. The
 * meter's MQTT last will is an "offline" status signed at connect time.
 */
typedef struct pr_status {
  pr_state state;
  bool has_outbox;
  int64_t outbox; /* messages waiting in the outbox */
  bool has_last_reading;
  pr_last_reading last_reading;
  char version[PR_TOKEN_MAX + 1]; /* software version, "" = absent */
} pr_status;

/* "proof_request": ask the aggregator for a Merkle proof (RFC 9162). */
typedef struct pr_proof_request {
  pr_proof_kind kind;
  int64_t index;    /* inclusion only: leaf index, < size */
  int64_t old_size; /* consistency only: 1 .. size */
  int64_t size;     /* tree size the proof is for, >= 1 */
} pr_proof_request;

/* One trade of a meter in a result, from the meter's point of view. */
typedef struct pr_trade {
  pr_side side;
  int64_t wh;     /* 1 .. PR_ENERGY_MAX */
  int64_t price;  /* µ-currency per kWh */
  int64_t amount; /* money of this trade, µ-currency, >= 0 */
} pr_trade;

/*
 * A meter's settlement for one interval. Energies and money are >= 0 except
 * `net`, which must equal
 *   local_revenue + grid_revenue - local_cost - grid_cost - fee
 * (positive: the household is credited).
 */
typedef struct pr_settlement {
  int64_t import_wh, export_wh;        /* measured (0 when missing) */
  int64_t local_buy_wh, local_sell_wh; /* delivered within the community */
  int64_t grid_buy_wh, grid_sell_wh;   /* bought from / sold to the utility */
  int64_t local_cost, local_revenue;   /* µ-currency */
  int64_t grid_cost, grid_revenue;     /* µ-currency */
  int64_t fee;                         /* local network fees, µ-currency */
  int64_t net;                         /* see above */
} pr_settlement;

/* Where a meter's entries for an interval sit in the ledger. */
typedef struct pr_ledger_ref {
  int64_t size;    /* tree size of the checkpoint that includes them */
  size_t nentries; /* 0 .. PR_MAX_LEDGER_ENTRIES */
  int64_t entries[PR_MAX_LEDGER_ENTRIES]; /* leaf indices, increasing, < size */
} pr_ledger_ref;

/* "result": the aggregator's per-interval result for one meter. */
typedef struct pr_result {
  char meter[PR_ID_MAX + 1]; /* the meter this result is for */
  int64_t start, end;        /* the delivery interval */
  pr_mode mode;
  bool has_price;
  int64_t price;  /* clearing price, when the mechanism has one */
  size_t ntrades; /* 0 .. PR_MAX_TRADES */
  pr_trade trades[PR_MAX_TRADES];
  pr_settlement settlement;
  int64_t balance; /* running balance after this interval, µ-currency */
  uint32_t flags;  /* PR_RESULT_* */
  pr_ledger_ref ledger;
} pr_result;

/*
 * "proof_response": the answer to one proof request. It echoes the
 * request's kind and numbers; with status "ok" it carries the proof path
 * (possibly empty) and optionally the entry (inclusion only) and the
 * signed checkpoint note for `size`.
 */
typedef struct pr_proof_response {
  char meter[PR_ID_MAX + 1]; /* who asked */
  int64_t request_seq;       /* seq of the request answered */
  pr_proof_kind kind;
  pr_proof_status status;
  int64_t index;    /* inclusion */
  int64_t old_size; /* consistency */
  int64_t size;
  size_t npath; /* hashes in `path` (status ok) */
  uint8_t path[PR_MAX_PROOF_HASHES][PR_HASH_LEN];
  size_t entry_len; /* 0 = absent */
  uint8_t entry[PR_ENTRY_MAX];
  char note[PR_NOTE_MAX + 1]; /* "" = absent */
} pr_proof_response;

/*
 * "checkpoint": the latest signed checkpoint of the ledger, the text of a
 * C2SP signed note (body lines, blank line, signature lines; ends with a
 * newline; no control characters besides newline). The library checks the
 * shape only; the ledger library verifies it.
 */
typedef struct pr_checkpoint {
  char note[PR_NOTE_MAX + 1];
} pr_checkpoint;

/* "summary": the public summary of one cleared interval. */
typedef struct pr_summary {
  int64_t start, end;
  pr_mode mode;
  char rule[PR_TOKEN_MAX + 1]; /* price rule, e.g. "marginal" */
  bool has_price;
  int64_t price;        /* clearing price, when there is one */
  int64_t traded_wh;    /* energy traded locally */
  int64_t import_wh;    /* community's measured import */
  int64_t export_wh;    /* community's measured export */
  int64_t grid_buy_wh;  /* bought from the utility */
  int64_t grid_sell_wh; /* sold to the utility */
  int64_t meters;       /* meters settled */
  int64_t missing;      /* of which without a reading */
  int64_t ledger_size;  /* tree size of the checkpoint for this interval */
} pr_summary;

/* ---- The message ------------------------------------------------------- */

typedef struct pr_msg {
  pr_type type;
  int version; /* 0 encodes as PR_VERSION; decoding sets it */
  char sender[PR_ID_MAX + 1];
  int64_t seq;
  int64_t ts;
  union {
    pr_reading reading;
    pr_order order;
    pr_prefs prefs;
    pr_status status;
    pr_proof_request proof_request;
    pr_result result;
    pr_proof_response proof_response;
    pr_checkpoint checkpoint;
    pr_summary summary;
  };
} pr_msg;

/*
 * pr_msg_init - zero `m` and set its header. `sender` is copied. Returns 0,
 * or GL_EINVAL for an unknown type or a sender that is not a valid sender
 * id (the header is then still zeroed).
 */
int pr_msg_init(pr_msg *m, pr_type type, const char *sender, int64_t seq,
                int64_t ts);

/*
 * pr_msg_validate - check `m` against every rule the decoder applies
 * (including who may send its type). Returns 0 or GL_EINVAL with `d` (may
 * be NULL) naming the field.
 */
int pr_msg_validate(const pr_msg *m, pr_diag *d);

/*
 * pr_msg_encode - validate `m` and write its compact JSON payload (no NUL
 * terminator) to `buf` of `cap` bytes; *len gets its length. Field order
 * is fixed (header, then the body in the order of docs/protocol.md), so
 * encoding is deterministic. Returns 0, GL_EINVAL (invalid message, `d`
 * says why), GL_ETOOBIG (`cap` too small, or the payload exceeds its
 * type's limit) or GL_ENOMEM.
 */
int pr_msg_encode(const pr_msg *m, char *buf, size_t cap, size_t *len,
                  pr_diag *d);

/*
 * pr_msg_decode - strictly decode the JSON payload of `len` bytes at `json`
 * into `m` (zeroed first). `allowed` is a set of PR_TYPE_BIT()s the caller
 * accepts (PR_TYPES_ANY for all). Returns 0, or with `d` filled:
 *   GL_ETOOBIG  PR_R_OVERSIZE       payload over its type's limit
 *   GL_EPARSE   PR_R_MALFORMED      not JSON, not an object, duplicate key
 *   GL_ENOTSUP  PR_R_WRONG_VERSION  "v" is an integer other than PR_VERSION
 *   GL_EPROTO   PR_R_WRONG_TYPE     type not in `allowed`
 *   GL_EPARSE   PR_R_INVALID        missing/unknown/mistyped field
 *   GL_ERANGE   PR_R_INVALID        value out of range, inconsistent fields
 *   GL_EPERM    PR_R_SENDER_MISMATCH  a meter sent an aggregator's type, or
 *                                   the aggregator a meter's
 * On failure `m` is all zero. Borrows `json`; `m` holds copies.
 */
int pr_msg_decode(const char *json, size_t len, uint32_t allowed, pr_msg *m,
                  pr_diag *d);

/* pr_type_name - "reading", ... for a type; NULL for an unknown one. */
const char *pr_type_name(pr_type type);

/* pr_type_from_name - the type with wire name `name`, or PR_MSG_NONE. */
pr_type pr_type_from_name(const char *name);

/*
 * pr_type_max_payload - the payload size limit of a type in bytes (0 for
 * an unknown type). Every limit is at most PR_PAYLOAD_MAX and above the
 * largest payload a valid message of the type can encode to.
 */
size_t pr_type_max_payload(pr_type type);

/* Wire names of enum values and flag bits (NULL when out of range). */
const char *pr_side_name(pr_side side);
const char *pr_mode_name(pr_mode mode);
const char *pr_state_name(pr_state state);
const char *pr_proof_kind_name(pr_proof_kind kind);
const char *pr_proof_status_name(pr_proof_status status);
const char *pr_flag_name(uint32_t flag);        /* one PR_FLAG_* bit */
const char *pr_result_flag_name(uint32_t flag); /* one PR_RESULT_* bit */

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_MSG_H */
