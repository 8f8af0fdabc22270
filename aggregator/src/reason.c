/* SPDX-License-Identifier: MIT */
/* reason.c - rejection labels. See gridlet/agg_reason.h. */
#include "gridlet/agg_reason.h"

static const char *const names[AGG_R_COUNT] = {
    [AGG_R_NONE] = "none",
    [AGG_R_OVERSIZE] = "oversize",
    [AGG_R_MALFORMED] = "malformed",
    [AGG_R_UNSUPPORTED_ALG] = "unsupported_alg",
    [AGG_R_BAD_TOPIC] = "bad_topic",
    [AGG_R_SENDER_MISMATCH] = "sender_mismatch",
    [AGG_R_UNKNOWN_KEY] = "unknown_key",
    [AGG_R_REVOKED] = "revoked",
    [AGG_R_KEY_EXPIRED] = "key_expired",
    [AGG_R_BAD_SIGNATURE] = "bad_signature",
    [AGG_R_WRONG_VERSION] = "wrong_version",
    [AGG_R_WRONG_TYPE] = "wrong_type",
    [AGG_R_INVALID] = "invalid",
    [AGG_R_INTERNAL] = "internal",
    [AGG_R_SEQ_REUSE] = "seq_reuse",
    [AGG_R_TS_FUTURE] = "ts_future",
    [AGG_R_TS_STALE] = "ts_stale",
    [AGG_R_BAD_INTERVAL] = "bad_interval",
    [AGG_R_READING_CONFLICT] = "reading_conflict",
    [AGG_R_IMPLAUSIBLE_POWER] = "implausible_power",
    [AGG_R_COUNTER_BACKWARDS] = "counter_backwards",
    [AGG_R_PV_AT_NIGHT] = "pv_at_night",
    [AGG_R_MODE_MISMATCH] = "mode_mismatch",
    [AGG_R_GATE_CLOSED] = "gate_closed",
    [AGG_R_BEYOND_HORIZON] = "beyond_horizon",
    [AGG_R_OFF_TICK] = "off_tick",
    [AGG_R_BEFORE_START] = "before_start",
    [AGG_R_RATE_LIMITED] = "rate_limited",
    [AGG_R_BOOK_FULL] = "book_full",
};

const char *agg_reason_name(agg_reason r) {
  if ((int)r < 0 || r >= AGG_R_COUNT || !names[r])
    return "unknown";
  return names[r];
}

agg_reason agg_reason_from_pr(pr_reason r) {
  switch (r) {
  case PR_R_NONE:
    return AGG_R_NONE;
  case PR_R_OVERSIZE:
    return AGG_R_OVERSIZE;
  case PR_R_MALFORMED:
    return AGG_R_MALFORMED;
  case PR_R_UNSUPPORTED_ALG:
    return AGG_R_UNSUPPORTED_ALG;
  case PR_R_BAD_TOPIC:
    return AGG_R_BAD_TOPIC;
  case PR_R_SENDER_MISMATCH:
    return AGG_R_SENDER_MISMATCH;
  case PR_R_UNKNOWN_KEY:
    return AGG_R_UNKNOWN_KEY;
  case PR_R_REVOKED:
    return AGG_R_REVOKED;
  case PR_R_KEY_EXPIRED:
    return AGG_R_KEY_EXPIRED;
  case PR_R_BAD_SIGNATURE:
    return AGG_R_BAD_SIGNATURE;
  case PR_R_WRONG_VERSION:
    return AGG_R_WRONG_VERSION;
  case PR_R_WRONG_TYPE:
    return AGG_R_WRONG_TYPE;
  case PR_R_INVALID:
    return AGG_R_INVALID;
  case PR_R_INTERNAL:
  case PR_R_COUNT:
  default:
    return AGG_R_INTERNAL;
  }
}
