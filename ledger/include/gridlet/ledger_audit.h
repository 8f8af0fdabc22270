/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_audit.h - a full, independent audit of a ledger database
 * (the live one or an exported copy).
 *
 * The audit trusts nothing stored: it replays every entry in index order,
 * and checks that
 *   - indices are contiguous from 0 and the type column matches each
 *     entry's tag;
 *   - every entry decodes strictly and passes lg_entry_check (conservation
 *     of energy and money within each settlement, clearing volumes);
 *   - every stored leaf hash equals the hash of its entry, and every stored
 *     subtree hash equals the one recomputed from the leaves (so a changed
 *     entry is named, and a changed hash is located);
 *   - every stored checkpoint is a well-formed note signed by the log key
 *     (and its cosignatures from the given witnesses verify), its size and
 *     root match its row, and its root equals the root recomputed at that
 *     size; together this proves all checkpoints consistent with each
 *     other;
 *   - no delivery interval is settled twice.
 * and recomputes every household's balance and energy totals
 * (gridlet/ledger_balances.h) from the settlement entries.
 *
 * The audit reads one snapshot of the database, so it can run against a
 * live log while the aggregator appends.
 */
#ifndef GRIDLET_LEDGER_AUDIT_H
#define GRIDLET_LEDGER_AUDIT_H

#include "gridlet/ledger.h"
#include "gridlet/ledger_balances.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_audit_options {
  /* The log key to check checkpoints with. NULL: use the key recorded in
   * the database (weaker: an attacker who rewrote the database could also
   * have replaced it; the report says so). */
  const lg_vkey *log_key;
  /* Witness keys whose stored cosignatures are verified too. */
  const lg_vkey *witnesses;
  size_t n_witnesses;
} lg_audit_options;

#define LG_AUDIT_PROBLEM_MAX 512

typedef struct lg_audit_report {
  bool ok;               /* no problem found */
  bool key_from_db;      /* checkpoints checked with the database's own key */
  uint64_t entries;      /* entries replayed */
  uint64_t by_type[7];   /* entries per type tag (index = tag, 0 unused) */
  uint64_t checkpoints;  /* checkpoints verified */
  uint64_t cosignatures; /* witness cosignatures verified */
  uint8_t root[32];      /* recomputed root of the whole log */
  int64_t bad_entry;     /* first entry found bad, -1 when none is named */
  char problem[LG_AUDIT_PROBLEM_MAX]; /* the first problem, "" when ok */
  lg_balances *balances; /* owned; recomputed balances (NULL on failure) */
} lg_audit_report;

/*
 * lg_audit_run - audit an open ledger. Returns 0 when the audit ran to a
 * verdict (see rep->ok, rep->problem, rep->bad_entry), or GL_ENOMEM /
 * GL_EINVAL when it could not. Release the report with
 * lg_audit_report_clear.
 */
int lg_audit_run(lg_ledger *lg, const lg_audit_options *opt,
                 lg_audit_report *rep);

/* lg_audit_file - open `path` read-only and audit it. Returns 0 with a
 * verdict, or the error that prevented opening it. */
int lg_audit_file(const char *path, const lg_audit_options *opt,
                  lg_audit_report *rep);

/* lg_audit_report_clear - free the report's balances. */
void lg_audit_report_clear(lg_audit_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_AUDIT_H */
