/* SPDX-License-Identifier: MIT */
/*
 * index.h - the CA's index of issued certificates (SQLite), shared
 * between ca.c and broker.c. index.c is the only file that talks to
 * SQLite; SQLITE_* codes become GL_ESTORE there, with a log line.
 */
#ifndef GRIDLET_CERTS_INDEX_H
#define GRIDLET_CERTS_INDEX_H

#include "gridlet/pki_ca.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pki__index pki__index;

/* Open (create: make the schema, failing if the file exists) the index at
 * `path`. no_sync: synchronous=OFF. GL_ESTORE / GL_ENOENT / GL_EEXIST. */
int pki__index_open(const char *path, bool create, bool no_sync,
                    pki__index **out, pki_why *why);
void pki__index_close(pki__index *ix);

/* White-box hooks for tests: the integer value of `PRAGMA name` on the
 * index's connection (e.g. "synchronous": 2 is FULL), and the time a
 * statement waits for another process's lock before failing. */
int pki__index_pragma(pki__index *ix, const char *name, int *value);
void pki__index_set_busy_timeout(pki__index *ix, int ms);

int pki__index_begin(pki__index *ix);
int pki__index_commit(pki__index *ix);
void pki__index_rollback(pki__index *ix);

/* A new row; `pub_hex` is the hex of the public key. GL_EEXIST when the
 * serial is taken. */
int pki__index_insert(pki__index *ix, const pki_ca_record *rec,
                      const char *pub_hex, const uint8_t *der, size_t len);

/* The row of `serial_hex`: 0, GL_ENOENT, GL_ESTORE. */
int pki__index_find(pki__index *ix, const char *serial_hex, pki_ca_record *rec);

typedef int (*pki__index_cb)(void *ctx, const pki_ca_record *rec);

/* Rows of `subject` that are unrevoked and unexpired at `now`. */
int pki__index_current(pki__index *ix, const char *subject, int64_t now,
                       pki__index_cb cb, void *ctx);

/* Every row with public key `pub_hex`. */
int pki__index_by_pub(pki__index *ix, const char *pub_hex, pki__index_cb cb,
                      void *ctx);

/* All rows (all: include revoked and expired at `now`), by subject and
 * issue time. */
int pki__index_list(pki__index *ix, bool all, int64_t now, pki__index_cb cb,
                    void *ctx);

/* Revoked rows that have not expired at `now` (what a CRL must list). */
int pki__index_revoked(pki__index *ix, int64_t now, pki__index_cb cb,
                       void *ctx);

/* Mark `serial_hex` revoked (if it is not already). *changed tells. */
int pki__index_revoke(pki__index *ix, const char *serial_hex, int64_t at,
                      int reason, bool *changed);

/* Subjects with a revoked certificate and none current at `now`. */
int pki__index_denied(pki__index *ix, int64_t now,
                      int (*cb)(void *ctx, const char *name), void *ctx);

/* Settings. get: 0, GL_ENOENT, GL_ETOOBIG, GL_ESTORE. */
int pki__index_get(pki__index *ix, const char *name, char *buf, size_t size);
int pki__index_set(pki__index *ix, const char *name, const char *value);

#endif /* GRIDLET_CERTS_INDEX_H */
