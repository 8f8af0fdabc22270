/* SPDX-License-Identifier: MIT */
/*
 * diag.c - rejection reasons and their messages.
 */
#include "gridlet/pr_diag.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const reason_names[PR_R_COUNT] = {
    [PR_R_NONE] = "none",
    [PR_R_OVERSIZE] = "oversize",
    [PR_R_MALFORMED] = "malformed",
    [PR_R_UNSUPPORTED_ALG] = "unsupported_alg",
    [PR_R_BAD_TOPIC] = "bad_topic",
    [PR_R_SENDER_MISMATCH] = "sender_mismatch",
    [PR_R_UNKNOWN_KEY] = "unknown_key",
    [PR_R_REVOKED] = "revoked",
    [PR_R_KEY_EXPIRED] = "key_expired",
    [PR_R_BAD_SIGNATURE] = "bad_signature",
    [PR_R_WRONG_VERSION] = "wrong_version",
    [PR_R_WRONG_TYPE] = "wrong_type",
    [PR_R_INVALID] = "invalid",
    [PR_R_INTERNAL] = "internal",
};

const char *pr_reason_name(pr_reason reason) {
  if ((int)reason < 0 || reason >= PR_R_COUNT)
    return "unknown";
  return reason_names[reason];
}

int pr_diag_set(pr_diag *d, pr_reason reason, int err, const char *fmt, ...) {
  if (d == NULL)
    return err;
  d->reason = reason;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(d->msg, sizeof d->msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    d->msg[0] = '\0';
  return err;
}

void pr_diag_clear(pr_diag *d) {
  if (d == NULL)
    return;
  d->reason = PR_R_NONE;
  d->msg[0] = '\0';
}
