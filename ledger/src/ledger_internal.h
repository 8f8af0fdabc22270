/* SPDX-License-Identifier: MIT */
/*
 * ledger_internal.h - what ledger.c shares with the auditor and the
 * mirror code of the same component (lg__ names; not installed).
 */
#ifndef GRIDLET_LEDGER_INTERNAL_H
#define GRIDLET_LEDGER_INTERNAL_H

#include "gridlet/ledger.h"
#include "store.h"

/* The storage of an open ledger (borrowed). */
lg__store *lg__ledger_store(lg_ledger *lg);

/* A hash source answering from the ledger's stored tiles. Valid while no
 * write happens; the tile cache is dropped at the start of each public
 * call. */
lg_hash_source lg__ledger_source(lg_ledger *lg);

/* Forget cached tiles (after writes, or before a new operation). */
void lg__ledger_cache_reset(lg_ledger *lg);

/* Append already-validated-or-not entries inside an open transaction of
 * the ledger's store, at the current end. */
int lg__ledger_append_locked(lg_ledger *lg, const gl_bytes *entries, size_t n,
                             uint64_t *first);

#endif
