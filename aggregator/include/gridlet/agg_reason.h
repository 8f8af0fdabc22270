/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_reason.h - why the aggregator refused a message: one stable
 * label per reason, the metric label and the word in the log line.
 *
 * The first block mirrors proto's pr_reason (what pr_open and
 * pr_topic_parse decide from the bytes alone); the second block is the
 * aggregator's own state-dependent checks (sequence numbers, time window,
 * market rules, physical plausibility). docs/operations/aggregator.md lists
 * every label with its cause and what an operator should do about it.
 *
 * Duplicates (a byte-identical redelivery) and late readings are not
 * rejections and have counters of their own (agg_metrics.h).
 *
 * All functions are pure and thread-safe.
 */
#ifndef GRIDLET_AGG_REASON_H
#define GRIDLET_AGG_REASON_H

#include "gridlet/pr_diag.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agg_reason {
  AGG_R_NONE = 0,
  /* Decided by proto (pr_topic_parse, pr_open), in proto's check order. */
  AGG_R_OVERSIZE,        /* "oversize" */
  AGG_R_MALFORMED,       /* "malformed" */
  AGG_R_UNSUPPORTED_ALG, /* "unsupported_alg" */
  AGG_R_BAD_TOPIC,       /* "bad_topic" */
  AGG_R_SENDER_MISMATCH, /* "sender_mismatch": kid is not the topic's id */
  AGG_R_UNKNOWN_KEY,     /* "unknown_key": meter not enrolled here */
  AGG_R_REVOKED,         /* "revoked" */
  AGG_R_KEY_EXPIRED,     /* "key_expired" */
  AGG_R_BAD_SIGNATURE,   /* "bad_signature" */
  AGG_R_WRONG_VERSION,   /* "wrong_version" */
  AGG_R_WRONG_TYPE,      /* "wrong_type" */
  AGG_R_INVALID,         /* "invalid" */
  AGG_R_INTERNAL,        /* "internal" */
  /* The aggregator's own checks. */
  AGG_R_SEQ_REUSE,         /* "seq_reuse": other bytes under a used seq */
  AGG_R_TS_FUTURE,         /* "ts_future": ts or interval end ahead of now */
  AGG_R_TS_STALE,          /* "ts_stale": ts older than the allowed age */
  AGG_R_BAD_INTERVAL,      /* "bad_interval": not one community interval */
  AGG_R_READING_CONFLICT,  /* "reading_conflict": second reading for an
                              interval under another seq */
  AGG_R_IMPLAUSIBLE_POWER, /* "implausible_power": above rated power */
  AGG_R_COUNTER_BACKWARDS, /* "counter_backwards" */
  AGG_R_PV_AT_NIGHT,       /* "pv_at_night" */
  AGG_R_MODE_MISMATCH,     /* "mode_mismatch": an order in expost mode */
  AGG_R_GATE_CLOSED,       /* "gate_closed": order after gate closure */
  AGG_R_BEYOND_HORIZON,    /* "beyond_horizon": order too far ahead */
  AGG_R_OFF_TICK,          /* "off_tick": continuous price off the grid */
  AGG_R_BEFORE_START,      /* "before_start": interval before the first
                              one this aggregator settles */
  AGG_R_RATE_LIMITED,      /* "rate_limited": too many proof requests */
  AGG_R_BOOK_FULL,         /* "book_full": continuous book at capacity */
  AGG_R_COUNT
} agg_reason;

/* agg_reason_name - the stable label ("bad_signature"); "unknown" for
 * values outside the enum. Static string. */
const char *agg_reason_name(agg_reason r);

/* agg_reason_from_pr - the aggregator reason for a proto reason. */
agg_reason agg_reason_from_pr(pr_reason r);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_REASON_H */
