/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_witness.h - a transparency-log witness.
 *
 * A witness (the DSO, an auditor, a household) keeps, per log origin, the
 * size and root of the last checkpoint it cosigned, in its own SQLite file.
 * It cosigns a new checkpoint (C2SP tlog-cosignature, cosignature/v1:
 * Ed25519 with a timestamp) only when the log signed it and a consistency
 * proof from the last cosigned tree verifies, so the operator cannot show
 * two different histories to parties that check for its cosignature.
 *
 * Requests are C2SP tlog-witness add-checkpoint bodies:
 *
 *     old <size of the witness's last cosigned checkpoint>
 *     <base64 consistency proof hash>   (zero or more, at most 63)
 *                                       (blank line)
 *     <signed checkpoint>
 *
 * and the outcome mirrors that protocol's HTTP statuses (see
 * lg_witness_result). Checking the old size and recording the new state
 * happen in one SQLite transaction (BEGIN IMMEDIATE), so two concurrent
 * requests can never roll the recorded state back. A validly signed
 * checkpoint that is inconsistent with the recorded state is refused and
 * kept as evidence of misbehaviour.
 *
 * Timestamps come from the injected clock. One thread owns a witness
 * handle; several processes may share the state file.
 */
#ifndef GRIDLET_LEDGER_WITNESS_H
#define GRIDLET_LEDGER_WITNESS_H

#include "gridlet/clock.h"
#include "gridlet/ledger_merkle.h"
#include "gridlet/ledger_note.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_witness lg_witness;

/*
 * lg_witness_open - open (creating when absent) the witness state database
 * at `path`. `key` is the witness's cosigner key (type 0x04; copied and
 * wiped on free). `clock` is borrowed and gives cosignature timestamps.
 * Returns 0 with an owned handle, GL_EINVAL (key type), or a storage error.
 */
int lg_witness_open(const char *path, const lg_signer *key,
                    const gl_clock *clock, lg_witness **out);

/* lg_witness_free - close and wipe the key; NULL is a no-op. */
void lg_witness_free(lg_witness *w);

/*
 * lg_witness_add_log - trust the log whose checkpoint key is `vkey` (text,
 * type 0x01); its origin is the key name. Replaces an earlier key for the
 * same origin (key rotation) without touching the recorded state.
 * Returns 0, GL_EPARSE, GL_ENOTSUP, GL_EINVAL (not a log key) or a storage
 * error.
 */
int lg_witness_add_log(lg_witness *w, const char *vkey);

/*
 * lg_witness_state - the last cosigned size and root for `origin`.
 * Returns 0, GL_ENOENT (never cosigned), or a storage error.
 */
int lg_witness_state(lg_witness *w, const char *origin, uint64_t *size,
                     uint8_t root[LG_HASH_LEN]);

/* lg_witness_evidence - how many refused, validly signed, inconsistent
 * checkpoints were kept for `origin`. */
int lg_witness_evidence(lg_witness *w, const char *origin, uint64_t *count);

/* Requests answered since the handle was opened, by outcome (for metrics;
 * every refusal is also logged with its reason). */
typedef struct lg_witness_stats {
  uint64_t cosigned;     /* 200 */
  uint64_t malformed;    /* 400 */
  uint64_t unsigned_cp;  /* 403 */
  uint64_t unknown_log;  /* 404 */
  uint64_t conflict;     /* 409 (stale old size or a fork) */
  uint64_t inconsistent; /* 422 */
  uint64_t errors;       /* storage or crypto failures */
  uint64_t evidence;     /* refusals kept as evidence of a fork */
} lg_witness_stats;

/* lg_witness_stats_get - the counters of this handle. */
void lg_witness_stats_get(const lg_witness *w, lg_witness_stats *out);

typedef struct lg_witness_result {
  int status;           /* the tlog-witness HTTP status: 200, 400, 403,
                           404, 409 or 422 */
  uint64_t latest_size; /* with 409: the size the witness last cosigned */
  const char *why;      /* static one-line reason */
} lg_witness_result;

/*
 * lg_witness_add_checkpoint - handle one add-checkpoint request (`len`
 * bytes). On success (status 200) *cosig receives an owned
 * NUL-terminated cosignature line ("— <witness> <base64>\n") to append to
 * the checkpoint. Returns
 *   0            200: cosigned and recorded
 *   GL_EPARSE    400: malformed request or checkpoint
 *   GL_EINVAL    400: old size above the checkpoint size, or a proof with
 *                     old size 0
 *   GL_EPERM     403: not signed by the log's key
 *   GL_ENOENT    404: unknown origin
 *   GL_ECONFLICT 409: old size is not the last cosigned size
 *                     (res->latest_size tells it), or the same size with
 *                     another root (a fork: kept as evidence)
 *   GL_EVERIFY   422: the consistency proof does not verify (kept as
 *                     evidence)
 * or a storage/crypto error. `res` may be NULL.
 */
int lg_witness_add_checkpoint(lg_witness *w, const char *request, size_t len,
                              char **cosig, lg_witness_result *res);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_WITNESS_H */
