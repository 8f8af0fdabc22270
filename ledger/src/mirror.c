/* SPDX-License-Identifier: MIT */
/*
 * mirror.c - export of a log to a self-contained database file, and import
 * of such a file (or any copy of a log) into a mirror.
 *
 * An export is written to "<path>.partial" and renamed into place only
 * when complete, so a crash never leaves a half-written export under the
 * final name. An import trusts nothing in the file but the log key's
 * signatures: it revalidates and rehashes every new entry into the mirror
 * and compares the mirror's own roots with the signed ones, inside one
 * transaction, so a bad file changes nothing.
 */
/* renameat2() and RENAME_NOREPLACE (glibc 2.28, Linux 3.15). */
#define _GNU_SOURCE

#include "gridlet/ledger.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "ledger_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMPONENT "ledger"
#define CHUNK 4096

/* ---- Chunked copying of entries ------------------------------------------ */

typedef struct chunk {
  gl_bytes b[CHUNK];
  size_t n;
  uint64_t next;  /* the index the next scanned entry must have */
  lg_ledger *dst; /* appended to with lg_ledger_append (own txn) ... */
  bool locked;    /* ... or inside the caller's open transaction */
  int rc;
} chunk;

static void chunk_free(chunk *c) {
  for (size_t i = 0; i < c->n; i++)
    free((void *)c->b[i].data);
  c->n = 0;
}

static int chunk_flush(chunk *c) {
  if (c->n == 0)
    return 0;
  int rc = c->locked ? lg__ledger_append_locked(c->dst, c->b, c->n, NULL)
                     : lg_ledger_append(c->dst, c->b, c->n, NULL);
  chunk_free(c);
  return rc;
}

static int chunk_add(void *ctx, uint64_t idx, int type, const uint8_t *data,
                     size_t len) {
  (void)type;
  chunk *c = ctx;
  if (idx != c->next) {
    GL_ERROR(COMPONENT, "source ledger has no entry %" PRIu64, c->next);
    return GL_EVERIFY;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy)
    return GL_ENOMEM;
  memcpy(copy, data, len);
  c->b[c->n].data = copy;
  c->b[c->n].len = len;
  c->n++;
  c->next++;
  return c->n == CHUNK ? chunk_flush(c) : 0;
}

static int copy_entries(lg_ledger *src, lg_ledger *dst, uint64_t from,
                        uint64_t to, bool locked) {
  chunk *c = calloc(1, sizeof *c);
  if (!c)
    return GL_ENOMEM;
  c->next = from;
  c->dst = dst;
  c->locked = locked;
  int rc = lg__store_entry_scan(lg__ledger_store(src), from, to, chunk_add, c);
  if (rc == 0)
    rc = chunk_flush(c);
  if (rc == 0 && c->next != to) {
    GL_ERROR(COMPONENT, "source ledger ends at %" PRIu64 ", expected %" PRIu64,
             c->next, to);
    rc = GL_EVERIFY;
  }
  chunk_free(c);
  free(c);
  return rc;
}

/* ---- Export ------------------------------------------------------------- */

typedef struct export_ctx {
  lg_ledger *dst;
  lg__store *src_store;
  uint64_t size;
} export_ctx;

typedef struct cosig_copy {
  lg__store *dst;
  uint64_t size;
} cosig_copy;

static int put_cosig(void *ctx, const char *name, uint32_t key_id,
                     const char *line) {
  cosig_copy *c = ctx;
  return lg__store_cosig_put(c->dst, c->size, name, key_id, line);
}

static int export_cp(void *ctx, const lg__cp_row *row) {
  export_ctx *e = ctx;
  if (row->size > e->size)
    return 0;
  uint8_t root[LG_HASH_LEN];
  int rc = lg_ledger_root(e->dst, row->size, root);
  if (rc != 0)
    return rc;
  if (memcmp(root, row->root, LG_HASH_LEN) != 0) {
    GL_ERROR(COMPONENT,
             "export: checkpoint of size %" PRIu64 " does not match the "
             "rebuilt tree; the source log is damaged (run an audit)",
             row->size);
    return GL_EVERIFY;
  }
  lg__store *d = lg__ledger_store(e->dst);
  rc = lg__store_cp_put(d, row->size, row->root, row->note, row->signed_ns);
  cosig_copy cc = {d, row->size};
  if (rc == 0)
    rc = lg__store_cosig_scan(e->src_store, row->size, put_cosig, &cc);
  return rc;
}

static void remove_db_files(const char *path) {
  char p[4096];
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", path, suffix[i]);
    (void)unlink(p);
  }
}

/* fsync the directory holding `path`, so a rename in it is durable. */
static void sync_dir_of(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (slash && n == 0)
    n = 1; /* "/file" */
  if (n >= sizeof dir)
    return;
  if (n == 0) {
    dir[0] = '.';
    n = 1;
  } else {
    memcpy(dir, path, n);
  }
  dir[n] = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

/* Move the finished export to `path` without ever replacing a file there:
 * the check at the start of the export is a courtesy, this is the one
 * that counts (another process may have created `path` meanwhile).
 * Returns 0 or an errno (EEXIST when `path` exists). */
static int place_no_replace(const char *tmp, const char *path) {
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
    return 0;
  int e = errno;
  if (e != EINVAL && e != ENOSYS && e != EOPNOTSUPP)
    return e;
  /* The file system (or kernel) cannot rename without replacing: a hard
   * link fails on an existing name just the same; then drop the old one. */
  if (link(tmp, path) != 0)
    return errno;
  (void)unlink(tmp);
  return 0;
}

int lg_ledger_export(lg_ledger *lg, const char *path, uint64_t size) {
  if (access(path, F_OK) == 0) {
    GL_ERROR(COMPONENT, "export: %s already exists", path);
    return GL_EEXIST;
  }
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", path) >= sizeof tmp)
    return GL_EINVAL;
  lg__store *st = lg__ledger_store(lg);
  /* One read snapshot of the source for the whole export. */
  int rc = lg__store_begin(st, false);
  if (rc != 0)
    return rc;
  uint64_t cur;
  rc = lg__store_size(st, &cur);
  if (rc == 0 && size == 0) {
    lg__cp_row row;
    rc = lg__store_cp_latest(st, &row);
    if (rc == 0) {
      size = row.size;
      free(row.note);
    } else if (rc == GL_ENOENT) {
      GL_ERROR(COMPONENT, "export: the log has no checkpoint yet");
    }
  }
  if (rc == 0 && size > cur)
    rc = GL_ERANGE;
  lg_ledger *dst = NULL;
  if (rc == 0) {
    remove_db_files(tmp);
    lg_ledger_options o = {.origin = lg_ledger_origin(lg), .create = true};
    rc = lg_ledger_open(tmp, &o, &dst);
  }
  char vkey[LG_KEY_TEXT_MAX];
  if (rc == 0) {
    rc = lg__store_meta_get(st, "log_vkey", vkey, sizeof vkey);
    if (rc == 0)
      rc = lg__store_meta_set(lg__ledger_store(dst), "log_vkey", vkey);
    else if (rc == GL_ENOENT)
      rc = 0;
  }
  if (rc == 0)
    rc = copy_entries(lg, dst, 0, size, false);
  if (rc == 0) {
    uint8_t a[LG_HASH_LEN], b[LG_HASH_LEN];
    lg__ledger_cache_reset(lg);
    lg_hash_source src = lg__ledger_source(lg);
    rc = size ? lg_range_hash(&src, 0, size, a) : lg_empty_root(a);
    if (rc == 0)
      rc = lg_ledger_root(dst, size, b);
    if (rc == 0 && memcmp(a, b, LG_HASH_LEN) != 0) {
      GL_ERROR(COMPONENT,
               "export: rebuilt root differs from the log's root "
               "at size %" PRIu64 "; the log is damaged",
               size);
      rc = GL_EVERIFY;
    }
  }
  if (rc == 0) {
    lg__store *d = lg__ledger_store(dst);
    rc = lg__store_begin(d, true);
    if (rc == 0) {
      export_ctx e = {dst, st, size};
      rc = lg__store_cp_scan(st, export_cp, &e);
      if (rc == 0)
        rc = lg__store_commit(d);
      else
        lg__store_rollback(d);
    }
  }
  if (rc == 0)
    rc = lg__store_seal(lg__ledger_store(dst));
  lg_ledger_free(dst);
  if (rc == 0)
    lg__store_commit(st);
  else
    lg__store_rollback(st);
  if (rc == 0) {
    int e = place_no_replace(tmp, path);
    if (e == EEXIST) {
      GL_ERROR(COMPONENT, "export: %s appeared meanwhile; not replacing it",
               path);
      rc = GL_EEXIST;
    } else if (e != 0) {
      GL_ERROR(COMPONENT, "export: cannot move %s to %s: %s", tmp, path,
               strerror(e));
      rc = GL_EIO;
    }
  }
  if (rc != 0) {
    remove_db_files(tmp);
    return rc;
  }
  sync_dir_of(path);
  GL_INFO(COMPONENT, "exported %" PRIu64 " entries of %s to %s", size,
          lg_ledger_origin(lg), path);
  return 0;
}

/* ---- Import ------------------------------------------------------------- */

typedef struct import_ctx {
  lg_ledger *mirror;
  lg__store *src_store;
  const lg_import_options *opt;
  uint64_t max_size;
  uint64_t imported;
} import_ctx;

typedef struct cosig_collect {
  char *buf;
  size_t len;
} cosig_collect;

static int collect_cosig(void *ctx, const char *name, uint32_t key_id,
                         const char *line) {
  (void)name;
  (void)key_id;
  cosig_collect *c = ctx;
  size_t n = strlen(line);
  char *nb = realloc(c->buf, c->len + n + 1);
  if (!nb)
    return GL_ENOMEM;
  memcpy(nb + c->len, line, n + 1);
  c->buf = nb;
  c->len += n;
  return 0;
}

static int import_cp(void *ctx, const lg__cp_row *row) {
  import_ctx *im = ctx;
  if (row->size > im->max_size)
    return 0;
  lg__store *m = lg__ledger_store(im->mirror);
  lg_policy pol = {im->opt->log_key, NULL, 0, 0};
  lg_checkpoint cp;
  const char *why = NULL;
  int rc =
      lg_policy_verify(&pol, row->note, strlen(row->note), &cp, NULL, &why);
  if (rc != 0 || cp.size != row->size ||
      memcmp(cp.root, row->root, LG_HASH_LEN) != 0) {
    GL_ERROR(COMPONENT, "import: checkpoint of size %" PRIu64 " rejected: %s",
             row->size, rc ? why : "note and row disagree");
    return GL_EVERIFY;
  }
  uint8_t root[LG_HASH_LEN];
  lg__ledger_cache_reset(im->mirror);
  lg_hash_source src = lg__ledger_source(im->mirror);
  rc = cp.size ? lg_range_hash(&src, 0, cp.size, root) : lg_empty_root(root);
  if (rc != 0)
    return rc;
  if (memcmp(root, cp.root, LG_HASH_LEN) != 0) {
    GL_ERROR(COMPONENT,
             "import: signed root at size %" PRIu64 " differs from the "
             "mirror's: the copy or the mirror belongs to another history",
             cp.size);
    return GL_EVERIFY;
  }
  lg__cp_row have;
  rc = lg__store_cp_get(m, cp.size, &have);
  if (rc == 0) {
    free(have.note);
  } else if (rc == GL_ENOENT) {
    rc = lg__store_cp_put(m, cp.size, cp.root, row->note, row->signed_ns);
    if (rc == 0)
      im->imported++;
  }
  if (rc == 0 && im->opt->n_witnesses > 0) {
    cosig_collect c = {NULL, 0};
    rc = lg__store_cosig_scan(im->src_store, cp.size, collect_cosig, &c);
    if (rc == 0 && c.len > 0) {
      size_t added = 0;
      int r2 = lg_ledger_add_cosignatures(im->mirror, cp.size, c.buf, c.len,
                                          im->opt->witnesses,
                                          im->opt->n_witnesses, &added);
      /* A cosignature that fails to verify is dropped, not fatal: the
       * checkpoint itself is what the log signed. */
      if (r2 == GL_EVERIFY || r2 == GL_EPARSE)
        GL_WARN(COMPONENT, "import: cosignatures for size %" PRIu64 " not kept",
                cp.size);
      else
        rc = r2;
    }
    free(c.buf);
  }
  return rc;
}

static int import_locked(lg_ledger *lg, lg_ledger *src,
                         const lg_import_options *opt, uint64_t *out_size) {
  lg__store *m = lg__ledger_store(lg);
  lg__store *s = lg__ledger_store(src);
  char want[LG_KEY_TEXT_MAX], have[LG_KEY_TEXT_MAX];
  int rc = lg_vkey_format(opt->log_key, want, sizeof want);
  if (rc != 0)
    return rc;
  rc = lg__store_meta_get(m, "log_vkey", have, sizeof have);
  if (rc == 0 && strcmp(have, want) != 0) {
    GL_ERROR(COMPONENT, "import: the mirror follows log key %s, not %s", have,
             want);
    return GL_ECONFLICT;
  }
  if (rc == GL_ENOENT)
    rc = lg__store_meta_set(m, "log_vkey", want);
  if (rc != 0)
    return rc;

  lg__cp_row latest;
  rc = lg__store_cp_latest(s, &latest);
  if (rc == GL_ENOENT)
    GL_ERROR(COMPONENT, "import: the copy holds no checkpoint");
  if (rc != 0)
    return rc;
  uint64_t target = latest.size;
  free(latest.note);

  uint64_t msize;
  rc = lg__store_size(m, &msize);
  if (rc == 0 && msize < target)
    rc = copy_entries(src, lg, msize, target, true);
  if (rc != 0)
    return rc;
  uint64_t new_size = msize > target ? msize : target;
  import_ctx im = {lg, s, opt, new_size, 0};
  rc = lg__store_cp_scan(s, import_cp, &im);
  if (rc == 0) {
    GL_INFO(COMPONENT,
            "import: mirror of %s now has %" PRIu64 " entries (%" PRIu64
            " new checkpoints)",
            lg_ledger_origin(lg), new_size, im.imported);
    if (out_size)
      *out_size = new_size;
  }
  return rc;
}

int lg_ledger_import(lg_ledger *lg, const char *path,
                     const lg_import_options *opt, uint64_t *size) {
  if (!opt || !opt->log_key || opt->log_key->type != LG_SIG_ED25519)
    return GL_EINVAL;
  if (strcmp(opt->log_key->name, lg_ledger_origin(lg)) != 0) {
    GL_ERROR(COMPONENT,
             "import: log key \"%s\" does not name this mirror's "
             "origin \"%s\"",
             opt->log_key->name, lg_ledger_origin(lg));
    return GL_ECONFLICT;
  }
  lg_ledger *src;
  lg_ledger_options so = {.origin = lg_ledger_origin(lg), .read_only = true};
  int rc = lg_ledger_open(path, &so, &src);
  if (rc != 0)
    return rc;
  lg__store *s = lg__ledger_store(src);
  lg__store *m = lg__ledger_store(lg);
  rc = lg__store_begin(s, false);
  if (rc == 0) {
    rc = lg__store_begin(m, true);
    if (rc == 0) {
      rc = import_locked(lg, src, opt, size);
      if (rc == 0)
        rc = lg__store_commit(m);
      else
        lg__store_rollback(m);
    }
    lg__store_rollback(s);
  }
  lg__ledger_cache_reset(lg);
  lg_ledger_free(src);
  return rc;
}
