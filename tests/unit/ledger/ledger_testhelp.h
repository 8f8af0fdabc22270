/* SPDX-License-Identifier: MIT */
/*
 * ledger_testhelp.h - helpers shared by the ledger's unit and integration
 * tests: deterministic entries, an independent in-memory Merkle tree (the
 * RFC 9162 definitions written out naively, to check the library against),
 * hex parsing, and raw SQLite access for tampering with stored rows.
 */
#ifndef GRIDLET_LEDGER_TESTHELP_H
#define GRIDLET_LEDGER_TESTHELP_H

#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/ledger_merkle.h"

#include <stddef.h>
#include <stdint.h>

/* A deterministic, valid order entry number i (distinct bytes per i). */
void th_order(uint64_t i, lg_entry *e);

/* The encoded bytes of th_order(i) (owned; free()). */
uint8_t *th_order_bytes(uint64_t i, size_t *len);

/* A balanced settlement for interval `start` among n households
 * "h000".."h{n-1}" with amounts derived from `seed`. Rows are owned by
 * the entry: free with th_settlement_free. */
void th_settlement(int64_t start, size_t n, uint64_t seed, lg_entry *e);
void th_settlement_free(lg_entry *e);

/* Append entries th_order(from) .. th_order(to-1) in one batch. */
void th_append_orders(lg_ledger *lg, uint64_t from, uint64_t to);

/* ---- Independent reference tree ---- */

typedef struct th_tree {
  lg_hash *leaves; /* leaf hashes */
  size_t n, cap;
  /* Memo of complete subtree hashes served by th_tree_source (computed by
   * th_mth on first use), so proof generation in tests stays fast. */
  lg_hash *memo[64];
  uint8_t *have[64];
  size_t memo_n;
} th_tree;

void th_tree_add(th_tree *t, const void *data, size_t len);
void th_tree_free(th_tree *t);
/* MTH(D[a:b]) straight from the RFC 9162 definition (recursive). */
void th_mth(const th_tree *t, uint64_t a, uint64_t b, uint8_t out[32]);
/* A hash source over the reference tree (naive subtree hashing). */
lg_hash_source th_tree_source(th_tree *t);

/* ---- Misc ---- */

/* Decode exactly n bytes of hex; aborts the test otherwise. */
void th_unhex(const char *hex, uint8_t *out, size_t n);

/* Run one SQL statement on a database file (tampering, setup). */
void th_sql(const char *path, const char *sql);

/* Flip the lowest bit of byte `offset` of stored entry `idx`. */
void th_flip_entry_byte(const char *path, uint64_t idx, size_t offset);

/* A manual clock at 2026-01-01T00:00:00Z (owned; gl_manual_clock_free). */
struct gl_manual_clock *th_clock(void);

#endif
