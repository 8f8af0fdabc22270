/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_diag.h - why the protocol library rejected something.
 *
 * Every proto function that looks at bytes from outside returns a GL_E*
 * code and, when the caller passes a pr_diag, fills it with a rejection
 * reason and a one-line message that names the offending field
 * ("steps[2].price: expected an integer, got a real number"). The reason
 * is a small stable enum so that the aggregator can count rejections by
 * reason (pr_reason_name gives the metric label); the message is for the
 * log line. The library itself never logs rejected input: the caller knows
 * the context (topic, connection) and owns the log and the counters.
 */
#ifndef GRIDLET_PR_DIAG_H
#define GRIDLET_PR_DIAG_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Rejection reasons, in the order pr_open checks them. Stable: new reasons
 * are appended. The comment gives the metric label and the GL_E* code the
 * failing function returns alongside.
 */
typedef enum pr_reason {
  PR_R_NONE = 0,        /* "none": accepted */
  PR_R_OVERSIZE,        /* "oversize": message over its size limit; ETOOBIG */
  PR_R_MALFORMED,       /* "malformed": not strict COSE_Sign1, not a JSON
                           object, duplicate key; EPARSE */
  PR_R_UNSUPPORTED_ALG, /* "unsupported_alg": protected header is not
                           exactly {1: -8} (EdDSA); ENOTSUP */
  PR_R_BAD_TOPIC,       /* "bad_topic": topic outside the tree; EPARSE */
  PR_R_SENDER_MISMATCH, /* "sender_mismatch": kid, payload sender, topic id
                           or payload meter disagree; EPERM */
  PR_R_UNKNOWN_KEY,     /* "unknown_key": no key enrolled for kid; ENOENT */
  PR_R_REVOKED,         /* "revoked": sender's key revoked; EREVOKED */
  PR_R_KEY_EXPIRED,     /* "key_expired": sender's certificate expired or
                           not yet valid; EEXPIRED */
  PR_R_BAD_SIGNATURE,   /* "bad_signature": signature does not verify;
                           EVERIFY */
  PR_R_WRONG_VERSION,   /* "wrong_version": "v" is not a version this
                           library speaks; ENOTSUP */
  PR_R_WRONG_TYPE,      /* "wrong_type": message type not carried by this
                           topic; EPROTO */
  PR_R_INVALID,         /* "invalid": schema violation: missing, unknown,
                           mistyped or out-of-range field; EPARSE/ERANGE */
  PR_R_INTERNAL,        /* "internal": out of memory, key lookup failure,
                           crypto library failure; ENOMEM/ECRYPTO/... */
  PR_R_COUNT
} pr_reason;

/* Room for one message line, field path included. */
#define PR_DIAG_MAX 200

/* Filled by functions that reject input; zero-initialise before use. */
typedef struct pr_diag {
  pr_reason reason;
  char msg[PR_DIAG_MAX]; /* NUL-terminated, "" when reason is PR_R_NONE */
} pr_diag;

/*
 * pr_reason_name - the stable metric label of a reason ("bad_signature");
 * "unknown" for values outside the enum. Returns a static string.
 */
const char *pr_reason_name(pr_reason reason);

/*
 * pr_diag_set - record a reason and a printf-style message in `d` (NULL:
 * nothing happens) and return `err`, so that a rejection is one line:
 *   return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "seq: must be >= 1");
 * Messages longer than PR_DIAG_MAX are truncated. Thread-safe.
 */
int pr_diag_set(pr_diag *d, pr_reason reason, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* pr_diag_clear - reset `d` to "accepted" (NULL: nothing happens). */
void pr_diag_clear(pr_diag *d);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_DIAG_H */
