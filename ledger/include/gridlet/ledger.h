/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger.h - the community's verifiable append-only log.
 *
 * A transparency log in the style of Certificate Transparency: one writer
 * (the aggregator) appends entries (gridlet/ledger_entry.h) to an RFC 9162
 * Merkle tree kept in SQLite, and signs checkpoints (C2SP signed notes,
 * gridlet/ledger_checkpoint.h); anyone can ask for inclusion and
 * consistency proofs, offline proof bundles, witness requests, exports for
 * mirrors, and audit the whole log (gridlet/ledger_audit.h).
 *
 * Storage: one SQLite database in WAL mode with synchronous=FULL. Entries,
 * and the hashes of every complete subtree whose height is a multiple of 4
 * (16 per row), are stored, so an append costs O(log n) hashing and a few
 * row writes, and a proof reads O(log n) rows and never recomputes more
 * than 7 node hashes per proof hash. Appends are atomic per batch.
 *
 * Atomicity with the caller's own state (how the aggregator uses it). Two
 * ways, both supported:
 *   1. Shared transaction: open the ledger on the caller's own connection
 *      with lg_ledger_open_db (the ledger's tables, all prefixed lg_, live
 *      next to the caller's). Then
 *          BEGIN IMMEDIATE;  ...caller's writes...;  lg_ledger_append(...);
 *          COMMIT;
 *      commits the caller's state and the entries together, or neither.
 *      Every ledger operation uses a SAVEPOINT when a transaction is open,
 *      and keeps no tree state in memory between calls, so a ROLLBACK by
 *      the caller leaves nothing stale behind.
 *   2. Two phases, separate files: record the intended first index in the
 *      caller's database, then call lg_ledger_append_at with that index.
 *      It is idempotent: if a crash came after the append committed, the
 *      same call finds the identical entries already there and succeeds
 *      without appending them twice; different entries at those indices
 *      are a conflict.
 * Checkpoints are signed only outside any transaction
 * (lg_ledger_checkpoint refuses otherwise), so the log never signs entries
 * that a rollback or crash could still take back.
 *
 * Never two inconsistent checkpoints: every signed checkpoint is stored
 * before it is returned; a new one is signed only if its size is at least
 * the last one's and a consistency proof from the last one verifies
 * against the recomputed root; the same size gives back the stored note
 * (Ed25519 signatures are deterministic, so a retry after a crash returns
 * the same bytes). The log key is recorded at the first checkpoint and a
 * different key is refused.
 *
 * Handles: one thread owns an lg_ledger. Several processes may open the
 * same file (one writer; readers such as a proof server or an auditor run
 * concurrently thanks to WAL).
 */
#ifndef GRIDLET_LEDGER_H
#define GRIDLET_LEDGER_H

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/ledger_merkle.h"
#include "gridlet/ledger_note.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqlite3 sqlite3;
typedef struct lg_ledger lg_ledger;

typedef struct lg_ledger_options {
  /* The log's origin, e.g. "gridlet/oakfield" (a valid key name). Needed to
   * create a log; when opening an existing one, NULL accepts the stored
   * origin and anything else must match it. */
  const char *origin;
  bool create; /* create the file and tables when absent */
  /* Open for reading only (audits, proof servers, imports). The file is
   * treated as untrusted: SQLite's defensive mode, trusted_schema=OFF, no
   * triggers or views, and its ledger tables must be exactly ours
   * (GL_ESTORE otherwise, logged). */
  bool read_only;
  /* Wall clock for the time recorded with each signed checkpoint. NULL:
   * record 0. Borrowed: must outlive the handle. */
  const gl_clock *clock;
} lg_ledger_options;

/*
 * lg_ledger_open - open (or create) the log database at `path`. Returns 0
 * with an owned handle, GL_EINVAL (bad options), GL_ENOENT (no file, or a
 * file that holds no ledger), GL_ECONFLICT (origin differs from the stored
 * one), GL_EIO, GL_ESTORE.
 */
int lg_ledger_open(const char *path, const lg_ledger_options *opt,
                   lg_ledger **out);

/*
 * lg_ledger_open_db - use the caller's open SQLite connection (borrowed:
 * free the ledger before closing it). The connection must be in WAL mode
 * with synchronous=FULL (GL_ECONFIG otherwise). The lg_ tables are created
 * when opt->create. Same returns as lg_ledger_open.
 */
int lg_ledger_open_db(sqlite3 *db, const lg_ledger_options *opt,
                      lg_ledger **out);

/* lg_ledger_free - close; NULL is a no-op. */
void lg_ledger_free(lg_ledger *lg);

/* lg_ledger_origin - the log's origin (valid while the handle lives). */
const char *lg_ledger_origin(const lg_ledger *lg);

/* Counters of this handle since it was opened, for metrics. Entries
 * appended inside a caller's transaction count even if the caller later
 * rolls back. Every refusal is also logged with its reason. */
typedef struct lg_ledger_stats {
  uint64_t appended;            /* entries appended */
  uint64_t refused_batches;     /* batches refused (invalid entries) */
  uint64_t checkpoints_signed;  /* new checkpoints signed */
  uint64_t checkpoints_refused; /* refused: inconsistent, wrong key, ... */
} lg_ledger_stats;

/* lg_ledger_stats_get - the handle's counters. */
void lg_ledger_stats_get(const lg_ledger *lg, lg_ledger_stats *out);

/* lg_ledger_size - the number of entries. Returns 0 or a storage error. */
int lg_ledger_size(lg_ledger *lg, uint64_t *size);

/* ---- Appending ----------------------------------------------------------- */

/*
 * lg_ledger_append - append `n` encoded entries (borrowed) atomically:
 * all or none. Each must decode strictly and pass lg_entry_check; the
 * first that does not is named in the log and GL_EINVAL returned.
 * *first (may be NULL) receives the index of the first one. Returns 0,
 * GL_EINVAL, GL_ETOOBIG, GL_EFULL, GL_EPERM (read-only), a storage error.
 */
int lg_ledger_append(lg_ledger *lg, const gl_bytes *entries, size_t n,
                     uint64_t *first);

/*
 * lg_ledger_append_at - idempotent append for two-phase callers: the
 * entries belong at indices first .. first+n-1. Entries already present at
 * those indices must be byte-identical (they are then not appended again);
 * the rest are appended atomically. *appended (may be NULL) receives how
 * many were new. Returns 0, GL_ESTATE (the log has fewer than `first`
 * entries: the caller lost something), GL_ECONFLICT (different entries
 * are recorded there), or as lg_ledger_append.
 */
int lg_ledger_append_at(lg_ledger *lg, uint64_t first, const gl_bytes *entries,
                        size_t n, size_t *appended);

/* lg_ledger_append_entries - encode `n` structured entries and append
 * them as lg_ledger_append does. */
int lg_ledger_append_entries(lg_ledger *lg, const lg_entry *entries, size_t n,
                             uint64_t *first);

/* ---- Reading ------------------------------------------------------------- */

/* lg_ledger_entry - an owned copy (free()) of entry `index`. Returns 0,
 * GL_ENOENT, or a storage error. */
int lg_ledger_entry(lg_ledger *lg, uint64_t index, uint8_t **data, size_t *len);

/* Visitor for lg_ledger_scan: data is valid during the call only; a
 * non-zero return stops the scan and is returned by it. */
typedef int (*lg_entry_visit)(void *ctx, uint64_t index, const uint8_t *data,
                              size_t len);

/* lg_ledger_scan - visit entries [from, to) in index order. */
int lg_ledger_scan(lg_ledger *lg, uint64_t from, uint64_t to,
                   lg_entry_visit visit, void *ctx);

/* lg_ledger_leaf_hash - the stored leaf hash of entry `index`. */
int lg_ledger_leaf_hash(lg_ledger *lg, uint64_t index,
                        uint8_t out[LG_HASH_LEN]);

/* lg_ledger_root - the root of the tree of the first `size` entries (any
 * size up to the current one). Returns 0, GL_ERANGE, or a storage error. */
int lg_ledger_root(lg_ledger *lg, uint64_t size, uint8_t root[LG_HASH_LEN]);

/*
 * lg_ledger_inclusion_proof - the proof that entry `index` is in the tree
 * of `size` entries (index < size <= current size). `proof` must have room
 * for `cap` hashes (LG_PROOF_MAX always suffices). Returns 0, GL_ERANGE,
 * GL_ETOOBIG, or a storage error.
 */
int lg_ledger_inclusion_proof(lg_ledger *lg, uint64_t index, uint64_t size,
                              lg_hash *proof, size_t cap, size_t *n);

/* lg_ledger_consistency_proof - the proof that the tree of size2 extends
 * the tree of size1 (0 < size1 <= size2 <= current size). */
int lg_ledger_consistency_proof(lg_ledger *lg, uint64_t size1, uint64_t size2,
                                lg_hash *proof, size_t cap, size_t *n);

/* ---- Checkpoints -----------------------------------------------------------
 */

/*
 * lg_ledger_checkpoint - sign (or return the stored) checkpoint for the
 * current size with the log key `key` (type 0x01, named like the origin).
 * Must be called outside any transaction. *note receives an owned
 * NUL-terminated signed note (free()) including any stored cosignatures.
 * Returns 0, GL_ESTATE (inside a transaction), GL_EINVAL (key type or
 * name), GL_EPERM (a different key signed earlier checkpoints, or
 * read-only), GL_ECONFLICT (the log is not consistent with its last
 * checkpoint: nothing is signed), or a storage/crypto error.
 */
int lg_ledger_checkpoint(lg_ledger *lg, const lg_signer *key, char **note);

/*
 * lg_ledger_latest_checkpoint - the largest stored checkpoint, with its
 * cosignatures, as an owned note (free()); `cp` (may be NULL) gets its
 * fields. Returns 0, GL_ENOENT (never signed), or a storage error.
 */
int lg_ledger_latest_checkpoint(lg_ledger *lg, char **note, lg_checkpoint *cp);

/*
 * lg_ledger_add_cosignatures - record witness cosignatures for the stored
 * checkpoint of `size`: `lines` holds signature lines (a witness's
 * response). Lines from keys in `witnesses` are verified over the stored
 * checkpoint and kept; lines from other keys are ignored. *added (may be
 * NULL) gets the number kept. Returns 0, GL_ENOENT (no such checkpoint),
 * GL_EPARSE, GL_EVERIFY (a known witness's line does not verify), or a
 * storage error.
 */
int lg_ledger_add_cosignatures(lg_ledger *lg, uint64_t size, const char *lines,
                               size_t len, const lg_vkey *witnesses,
                               size_t n_witnesses, size_t *added);

/* A witness's newest cosignature stored in the log. */
typedef struct lg_witness_info {
  const char *name; /* the witness key's name (valid during the call) */
  uint32_t key_id;
  uint64_t size; /* the largest checkpoint size it cosigned */
  uint64_t time; /* that cosignature's timestamp, POSIX seconds; 0 when
                    its line cannot be read */
} lg_witness_info;

typedef int (*lg_witness_visit)(void *ctx, const lg_witness_info *w);

/*
 * lg_ledger_witnesses - visit every witness (name, key ID) that has a
 * stored cosignature, with its newest one, by name. The cosignatures were
 * verified when they were added (lg_ledger_add_cosignatures); an audit
 * with the witnesses' keys verifies them again. A non-zero return of
 * `visit` stops the walk and is returned. Returns 0 or a storage error.
 */
int lg_ledger_witnesses(lg_ledger *lg, lg_witness_visit visit, void *ctx);

/*
 * lg_ledger_bundle - an offline proof (C2SP tlog-proof text, see
 * gridlet/ledger_bundle.h) for entry `index` against the stored checkpoint
 * of `size` (0: the latest one), with the entry bytes as extra data when
 * `with_entry`. Returns 0 with an owned string, GL_ENOENT (no checkpoint
 * covers the index yet), or an error as above.
 */
int lg_ledger_bundle(lg_ledger *lg, uint64_t index, uint64_t size,
                     bool with_entry, char **bundle);

/*
 * lg_ledger_witness_request - the body of a C2SP tlog-witness
 * add-checkpoint request for the latest checkpoint, proving consistency
 * from `old_size` (the witness's last cosigned size; 0 for a new witness).
 * Returns 0 with an owned string, GL_ENOENT (no checkpoint), GL_ERANGE
 * (old_size above the checkpoint), or a storage error.
 */
int lg_ledger_witness_request(lg_ledger *lg, uint64_t old_size, char **body);

/* ---- Mirrors
 * ----------------------------------------------------------------- */

/*
 * lg_ledger_export - write the first `size` entries (0: up to the latest
 * checkpoint), the checkpoints up to that size and their cosignatures to a
 * new self-contained ledger database at `path` (which must not exist).
 * The copy's tree is rebuilt and its root compared with this log's. It is
 * written as "<path>.partial" and moved into place (and the directory
 * fsync'd) only when complete, never over a file that appeared at `path`
 * meanwhile (GL_EEXIST, checked atomically with the move).
 * Returns 0, GL_EEXIST, GL_ERANGE, GL_ENOENT (no checkpoint), GL_EVERIFY
 * (the rebuilt root differs: this log's storage is damaged), or a storage
 * error.
 */
int lg_ledger_export(lg_ledger *lg, const char *path, uint64_t size);

typedef struct lg_import_options {
  const lg_vkey *log_key;   /* required: checkpoints must verify with it */
  const lg_vkey *witnesses; /* cosignatures kept only from these; may be NULL */
  size_t n_witnesses;
} lg_import_options;

/*
 * lg_ledger_import - bring the mirror `lg` up to the latest checkpoint of
 * the exported (or any other) ledger database at `path`, trusting nothing
 * in it but what `log_key` signed: entries are validated and rehashed, the
 * mirror's resulting root must equal each imported checkpoint's root, and
 * the mirror's existing entries must be a prefix. All or nothing, in one
 * transaction. The mirror must have been opened (or created) with the log
 * key's name as its origin. *size (may be NULL) gets the mirror's new
 * size. Returns 0, GL_EVERIFY
 * (bad signature, or the copy is inconsistent with the checkpoint or with
 * the mirror), GL_ECONFLICT (different origin), GL_ENOENT, or a storage
 * error.
 */
int lg_ledger_import(lg_ledger *lg, const char *path,
                     const lg_import_options *opt, uint64_t *size);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_H */
