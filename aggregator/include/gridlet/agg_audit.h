/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_audit.h - the ledger audit the dashboard shows: a background
 * thread that audits the whole ledger (gridlet/ledger_audit.h: every
 * entry, hash and checkpoint, witness cosignatures) every http.audit_every
 * and checks that the balances the aggregator serves equal the ones the
 * auditor recomputes from the ledger, both read from one snapshot of the
 * database. It is the same check as `gridlet-ledger audit --balances`
 * compared with /v1/balances, run for the operator.
 *
 * The audit opens its own read-only handle on the database, so it never
 * blocks settlement (WAL); it costs one pass over the ledger (about a
 * second per million entries on a small machine) every period, on one
 * core. The first audit starts right after start-up.
 *
 * Thread-safety: agg_audit_get may be called from any thread.
 */
#ifndef GRIDLET_AGG_AUDIT_H
#define GRIDLET_AGG_AUDIT_H

#include "gridlet/agg_store.h"
#include "gridlet/clock.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The verdict of an audit. */
typedef enum agg_audit_state {
  AGG_AUDIT_NONE = 0, /* none finished yet */
  AGG_AUDIT_OK,       /* the ledger verifies and the balances match */
  AGG_AUDIT_FAILED,   /* a problem was found: see `problem` */
  AGG_AUDIT_ERROR,    /* the audit could not run (storage, memory) */
} agg_audit_state;

typedef struct agg_audit_report {
  agg_audit_state state; /* of the last finished audit */
  bool running;          /* one is running now */
  int64_t runs;          /* audits finished since start-up */
  int64_t started;       /* wall ns the last finished one started */
  int64_t duration_ns;
  int64_t next;          /* wall ns the next one is due, 0 = none */
  uint64_t entries;      /* entries replayed */
  uint64_t checkpoints;  /* checkpoints verified */
  uint64_t cosignatures; /* witness cosignatures verified */
  uint64_t balances;     /* households whose balance was compared */
  bool key_from_db;      /* checked with the key the database records */
  int64_t bad_entry;     /* first bad entry, -1 = none named */
  char problem[LG_AUDIT_PROBLEM_MAX]; /* "" when ok */
} agg_audit_report;

/*
 * agg_audit_once - audit the ledger `lg` opened on `st`'s connection and
 * compare every balance of `st` with the recomputed one, inside one read
 * transaction of `st` (one snapshot). `opt` is passed to lg_audit_run.
 * Fills *rep (state, counts, problem; not the timing fields). Returns 0
 * when the audit reached a verdict (see rep->state), else the error.
 */
int agg_audit_once(agg_store *st, lg_ledger *lg, const lg_audit_options *opt,
                   agg_audit_report *rep);

typedef struct agg_audit_config {
  const char *db_path;
  const char *origin;       /* the ledger's origin */
  const lg_vkey *log_key;   /* NULL: the key the database records */
  const lg_vkey *witnesses; /* may be NULL */
  size_t n_witnesses;
  int64_t every;        /* ns between audits (> 0) */
  const gl_clock *real; /* wall clock for the schedule */
} agg_audit_config;

typedef struct agg_audit agg_audit;

/*
 * agg_audit_start - start the audit thread. Everything in `cfg` is copied
 * except `real`, which must outlive the handle. Returns 0 and an owned
 * handle, GL_ENOMEM or GL_EIO (no thread).
 */
int agg_audit_start(const agg_audit_config *cfg, agg_audit **out);

/* agg_audit_get - the latest report (a copy). */
void agg_audit_get(agg_audit *a, agg_audit_report *out);

/* agg_audit_stop - stop (an audit in progress finishes first) and free;
 * NULL is a no-op. */
void agg_audit_stop(agg_audit *a);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_AUDIT_H */
