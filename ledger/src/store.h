/* SPDX-License-Identifier: MIT */
/*
 * store.h - the ledger component's storage layer (shared-internal).
 *
 * store.c is the one file of ledger/ that talks to SQLite: it owns the
 * schemas of the log database and the witness database, every SQL
 * statement, the transaction discipline, and the translation of SQLITE_*
 * codes into GL_E* codes (with the SQLite message and the file name in the
 * log). The rest of the component sees only these functions.
 *
 * Log database schema (version 1; tables carry an lg_ prefix so they can
 * live inside a caller's database next to its own tables):
 *   lg_meta(key TEXT PRIMARY KEY, value TEXT)      format, origin, log key
 *   lg_entries(idx INTEGER PRIMARY KEY, type INTEGER, data BLOB)
 *   lg_tiles(id INTEGER PRIMARY KEY, hashes BLOB)  see "Tiles" below
 *   lg_checkpoints(size INTEGER PRIMARY KEY, root BLOB, note TEXT,
 *                  signed_ns INTEGER)
 *   lg_cosigs(size INTEGER, name TEXT, key_id INTEGER, line TEXT,
 *             PRIMARY KEY(size, name, key_id))
 *
 * Tiles: the hashes of every complete subtree whose height is a multiple of
 * LG__TILE_HEIGHT (4) are stored, LG__TILE_WIDTH (16) per row: tile
 * (level L, index k) holds the hashes of the subtrees of height 4L numbered
 * 16k .. 16k+15 from the left. Level 0 holds the leaf hashes. Any other
 * complete subtree hash is at most 2^3 - 1 = 7 node hashes away from one
 * tile row, so proofs never recompute more than that per hash, and the
 * stored hashes take about 34 bytes per entry. The last tile of a level
 * may be partial (fewer than 16 hashes) and grows as entries arrive.
 *
 * Witness database schema:
 *   wit_logs(origin TEXT PRIMARY KEY, vkey TEXT)
 *   wit_state(origin TEXT PRIMARY KEY, size INTEGER, root BLOB, note TEXT,
 *             updated_ns INTEGER)
 *   wit_evidence(id INTEGER PRIMARY KEY, origin TEXT, reason TEXT,
 *                request TEXT, at_ns INTEGER)
 *
 * Transactions: lg__store_begin opens BEGIN IMMEDIATE (write) or BEGIN
 * (read) when the connection is in autocommit mode, and a SAVEPOINT when a
 * transaction is already open (the caller's, or an outer one of ours), so
 * every ledger operation is atomic on its own and also composes with a
 * caller's transaction on a shared connection.
 *
 * Not thread-safe: one thread owns a store.
 */
#ifndef GRIDLET_LEDGER_STORE_H
#define GRIDLET_LEDGER_STORE_H

#include "gridlet/ledger_merkle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sqlite3 sqlite3;
typedef struct lg__store lg__store;

#define LG__TILE_HEIGHT 4
#define LG__TILE_WIDTH 16
#define LG__FORMAT "gridlet-ledger/1"

enum lg__open_mode {
  LG__OPEN_READ = 0,   /* read-only; the file must exist */
  LG__OPEN_WRITE = 1,  /* read-write; the file must exist */
  LG__OPEN_CREATE = 2, /* read-write; create the file when absent */
};

/* Open `path` (WAL, synchronous=FULL, busy timeout) and return an owned
 * store. LG__OPEN_READ treats the file as untrusted (it may be a copy
 * someone handed us): SQLite's defensive mode, trusted_schema=OFF, no
 * triggers or views, cell size checks, and lg__store_init_ledger compares
 * its schema with ours. Returns 0, GL_ENOENT, GL_EIO, GL_ESTORE, GL_EPERM. */
int lg__store_open(const char *path, int mode, lg__store **out);

/* Wrap a caller's open connection (borrowed: the caller closes it after
 * lg__store_close). Refuses (GL_ECONFIG) a connection whose synchronous
 * setting is below FULL or whose journal is not WAL. */
int lg__store_wrap(sqlite3 *db, lg__store **out);

/* Finalize statements and close the connection when owned. NULL: no-op. */
void lg__store_close(lg__store *s);

/* The file name, for messages ("(caller's database)" when wrapped). */
const char *lg__store_name(const lg__store *s);

/* The integer value of `PRAGMA name` on the store's connection (white-box
 * tests: "synchronous" is 2 for FULL, "trusted_schema" 0 when off). */
int lg__store_pragma_int(lg__store *s, const char *name, int64_t *v);

/* ---- Schema ---- */

/* Create the log tables when `create`, else check they exist (GL_ENOENT
 * when the file holds no ledger) and, for an untrusted (read-only) store,
 * that the ledger's objects are exactly ours (GL_ESTORE otherwise). */
int lg__store_init_ledger(lg__store *s, bool create);

/* Create the witness tables when absent. */
int lg__store_init_witness(lg__store *s);

/* ---- Transactions ---- */

int lg__store_begin(lg__store *s, bool write);
int lg__store_commit(lg__store *s);
void lg__store_rollback(lg__store *s);
/* True when the connection is inside a transaction (ours or the caller's). */
bool lg__store_in_txn(const lg__store *s);

/* ---- Meta ---- */

/* Read a text value into buf (NUL-terminated). GL_ENOENT when absent,
 * GL_ETOOBIG when it does not fit. */
int lg__store_meta_get(lg__store *s, const char *key, char *buf, size_t cap);
int lg__store_meta_set(lg__store *s, const char *key, const char *value);

/* ---- Entries ---- */

/* Number of entries: max(idx) + 1, or 0. */
int lg__store_size(lg__store *s, uint64_t *size);
int lg__store_entry_put(lg__store *s, uint64_t idx, uint8_t type,
                        const void *data, size_t len);
/* An owned copy (free()) of entry idx; GL_ENOENT when absent. */
int lg__store_entry_get(lg__store *s, uint64_t idx, uint8_t **data, size_t *len,
                        int *type);

/* Called for each entry in index order; data is valid during the call.
 * A non-zero return stops the scan and is returned. */
typedef int (*lg__entry_cb)(void *ctx, uint64_t idx, int type,
                            const uint8_t *data, size_t len);
int lg__store_entry_scan(lg__store *s, uint64_t from, uint64_t to,
                         lg__entry_cb cb, void *ctx);

/* ---- Tiles ---- */

/* Read tile (level, index) into hashes (room for LG__TILE_WIDTH); *count
 * gets the number of hashes (0 when the tile is absent). GL_ESTORE when a
 * stored tile is not a whole number of hashes or too long. */
int lg__store_tile_get(lg__store *s, unsigned level, uint64_t index,
                       lg_hash *hashes, size_t *count);
int lg__store_tile_put(lg__store *s, unsigned level, uint64_t index,
                       const lg_hash *hashes, size_t count);

/* ---- Checkpoints and cosignatures ---- */

typedef struct lg__cp_row {
  uint64_t size;
  uint8_t root[LG_HASH_LEN];
  char *note; /* owned, NUL-terminated */
  int64_t signed_ns;
} lg__cp_row;

int lg__store_cp_put(lg__store *s, uint64_t size,
                     const uint8_t root[LG_HASH_LEN], const char *note,
                     int64_t signed_ns);
/* The checkpoint with the largest size; GL_ENOENT when there is none. The
 * caller frees row->note. */
int lg__store_cp_latest(lg__store *s, lg__cp_row *row);
/* The checkpoint of exactly `size`; GL_ENOENT when there is none. */
int lg__store_cp_get(lg__store *s, uint64_t size, lg__cp_row *row);
/* Each checkpoint in increasing size (row borrowed during the call). */
typedef int (*lg__cp_cb)(void *ctx, const lg__cp_row *row);
int lg__store_cp_scan(lg__store *s, lg__cp_cb cb, void *ctx);

int lg__store_cosig_put(lg__store *s, uint64_t size, const char *name,
                        uint32_t key_id, const char *line);
/* All cosignature lines for `size`, concatenated (owned; "" when none). */
int lg__store_cosig_lines(lg__store *s, uint64_t size, char **lines);

/* Each cosignature of `size` (name, key ID, line), ordered by name. */
typedef int (*lg__cosig_cb)(void *ctx, const char *name, uint32_t key_id,
                            const char *line);
int lg__store_cosig_scan(lg__store *s, uint64_t size, lg__cosig_cb cb,
                         void *ctx);

/* Per (name, key ID): the cosignature of the largest size, ordered by
 * name and key ID; `size` is passed in the callback's first argument. */
typedef int (*lg__cosig_newest_cb)(void *ctx, uint64_t size, const char *name,
                                   uint32_t key_id, const char *line);
int lg__store_cosig_newest(lg__store *s, lg__cosig_newest_cb cb, void *ctx);

/* Switch the database to a rollback journal, folding the WAL into the
 * main file, so a finished export is one self-contained file. */
int lg__store_seal(lg__store *s);

/* ---- Witness ---- */

int lg__store_wit_log_put(lg__store *s, const char *origin, const char *vkey);
/* GL_ENOENT when the origin is not configured. */
int lg__store_wit_log_get(lg__store *s, const char *origin, char *vkey,
                          size_t cap);
/* GL_ENOENT when nothing was ever cosigned for the origin. */
int lg__store_wit_state_get(lg__store *s, const char *origin, uint64_t *size,
                            uint8_t root[LG_HASH_LEN]);
int lg__store_wit_state_put(lg__store *s, const char *origin, uint64_t size,
                            const uint8_t root[LG_HASH_LEN], const char *note,
                            int64_t now_ns);
int lg__store_wit_evidence_put(lg__store *s, const char *origin,
                               const char *reason, const char *request,
                               size_t request_len, int64_t now_ns);
/* Number of evidence records kept for `origin`. */
int lg__store_wit_evidence_count(lg__store *s, const char *origin,
                                 uint64_t *count);

#endif /* GRIDLET_LEDGER_STORE_H */
