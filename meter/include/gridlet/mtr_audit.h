/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_audit.h - what the meter does with the aggregator's
 * answers: receipts for its readings, and checks that the ledger really
 * holds what the aggregator says it holds.
 *
 * Everything handed in here has already passed pr_open with the
 * aggregator's key (the envelope is the aggregator's); this module checks
 * the content against the meter's own records and the ledger:
 *
 * Results and receipts. A result for an interval is stored (one per
 * interval; a second, different result for the same interval is an
 * alarm: the aggregator said two things). It is the receipt for the
 * meter's reading of that interval: the reading leaves the "awaiting
 * receipt" set (state RECEIPTED). A result flagged `missing` for an
 * interval whose reading was not missing means the reading did not reach
 * the aggregator before the interval was settled: a reading queued or
 * awaiting its receipt is marked LATE (the aggregator keeps it as late
 * evidence; docs/protocol.md, rule 6); one that was DROPPED (never sent)
 * or UNCONFIRMED (given up) stays so: such a result proves no delivery.
 * A result whose settlement names other import/export energies than our
 * reading of the interval is an alarm (`result`). The same result again,
 * byte for byte (the aggregator repeats it when our reading arrives
 * again), re-opens the interval's checks that failed or were given up
 * when the reading is awaiting a receipt again (or unconfirmed).
 *
 * Ledger checks (when a log key is configured and check_ledger is on).
 * For each ledger entry a result names, the meter asks for an inclusion
 * proof (MQTT 5 request/response) and checks, in order: the checkpoint
 * for the proof's tree size verifies against the log key (from the
 * response, or one seen before); the proof verifies (RFC 9162); the entry
 * decodes; a reading-digest entry for this meter matches the reading it
 * sent (seq, interval, energies, flags, SHA-256 of the signed bytes: the
 * reading becomes CONFIRMED); a settlement entry's row for this meter
 * agrees with the result (money, fee, energy bought and sold locally and
 * from the grid) and with our reading (what it settles adds up to the
 * reading's import minus export). When all entries of an interval are
 * checked and none is this meter's reading, the reading goes back to
 * "awaiting receipt" to be sent again, and an alarm is raised (`receipt`);
 * the same when a proof failed. When proofs were only given up (the
 * aggregator did not answer) the reading is sent again without an alarm
 * (counted: receipts_unchecked): the result it brings back re-opens the
 * checks.
 *
 * Checkpoints. Every checkpoint seen (retained on public/checkpoint, or
 * carried by a proof response) is verified against the log key and kept.
 * Two checkpoints of one size with different roots are an alarm (a split
 * view); for checkpoints of different sizes the meter asks for a
 * consistency proof between each new checkpoint and its stored
 * neighbours (so every stored checkpoint is proven consistent with the
 * next). A consistency proof that fails, is refused (bad_request) or is
 * given up is an alarm (`consistency`): an aggregator that will not prove
 * consistency could be hiding a fork.
 *
 * Alarms are written to the log at error level ("ALARM ..."), to the
 * store's alarm table (shown by `gridlet-meter status`) and counted.
 *
 * Proof requests: mtr_audit_next_request hands out the next due check
 * (at most MTR_AUDIT_INFLIGHT awaiting answers at a time); the caller
 * signs and publishes the request and reports it with
 * mtr_audit_request_sent. Unanswered requests (and answers "unavailable")
 * are repeated after proof_timeout, doubling up to an hour, and given up
 * after MTR_AUDIT_ATTEMPTS tries (about three hours with the default
 * one-minute timeout, so an aggregator restart is no alarm): counted
 * (proofs_given_up), a warning for an inclusion proof, an alarm for a
 * consistency proof.
 *
 * Functions return 0 or GL_ESTORE (the store failed: the agent stops).
 * One thread at a time.
 */
#ifndef GRIDLET_MTR_AUDIT_H
#define GRIDLET_MTR_AUDIT_H

#include "gridlet/ledger_note.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MTR_AUDIT_INFLIGHT 8
#define MTR_AUDIT_ATTEMPTS 8

typedef struct mtr_audit_cfg {
  const char *meter_id;   /* borrowed */
  const lg_vkey *log_key; /* borrowed; NULL: checkpoints not checked */
  bool check_ledger;      /* ask for inclusion proofs of result entries */
  int64_t proof_timeout_ns;
} mtr_audit_cfg;

typedef struct mtr_audit mtr_audit;

/* mtr_audit_new - over `store` (borrowed; `cfg` is copied, the log key
 * too). Returns 0 or GL_ENOMEM. */
int mtr_audit_new(const mtr_audit_cfg *cfg, mtr_store *store, mtr_audit **out);

/* mtr_audit_free - release; NULL is a no-op. */
void mtr_audit_free(mtr_audit *a);

/*
 * mtr_audit_alarm - raise an alarm: an error log line, a row in the
 * store's alarm table and the counters "alarms" and "alarm_<kind>".
 * `kind` is a short word ("inclusion", "consistency", ...).
 */
int mtr_audit_alarm(mtr_store *store, int64_t now, const char *kind,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* mtr_audit_result - a verified result and its exact envelope bytes
 * (borrowed; stored as they are). */
int mtr_audit_result(mtr_audit *a, const pr_msg *m, const uint8_t *bytes,
                     size_t len, int64_t now);

/* mtr_audit_checkpoint - a verified checkpoint message. */
int mtr_audit_checkpoint(mtr_audit *a, const pr_msg *m, int64_t now);

/* mtr_audit_proof_response - a verified proof response. */
int mtr_audit_proof_response(mtr_audit *a, const pr_msg *m, int64_t now);

/*
 * mtr_audit_next_request - the next proof request due at `now`: 0 with
 * *check and *req filled, GL_EAGAIN when none is due (or enough are
 * waiting for answers).
 */
int mtr_audit_next_request(mtr_audit *a, int64_t now, mtr_check_row *check,
                           pr_proof_request *req);

/* mtr_audit_request_sent - the request for `check` went out as `seq`. */
int mtr_audit_request_sent(mtr_audit *a, mtr_check_row *check, int64_t seq,
                           int64_t now);

/* mtr_audit_deadline - when the next check is due (INT64_MAX: none). */
int64_t mtr_audit_deadline(mtr_audit *a);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_AUDIT_H */
