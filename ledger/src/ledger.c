/* SPDX-License-Identifier: MIT */
/*
 * ledger.c - the log: appends over stored tiles, proofs, checkpoints,
 * cosignatures, bundles and witness requests (see gridlet/ledger.h).
 *
 * No tree state survives between calls: each operation reads what it needs
 * (the right edge of the tree for an append, the tiles on a proof's path)
 * inside its own transaction or savepoint. That costs a handful of indexed
 * row reads per call and buys two properties the aggregator relies on: a
 * caller's ROLLBACK can never leave a stale in-memory tree behind, and a
 * process killed at any instant restarts from exactly what SQLite
 * committed.
 */
#include "gridlet/ledger.h"

#include "gridlet/error.h"
#include "gridlet/ledger_bundle.h"
#include "gridlet/log.h"
#include "ledger_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "ledger"
#define TILE_CACHE 8

typedef struct cached_tile {
  bool valid;
  unsigned level;
  uint64_t index;
  size_t count;
  lg_hash h[LG__TILE_WIDTH];
} cached_tile;

struct lg_ledger {
  lg__store *st;
  char origin[LG_ORIGIN_MAX + 1];
  bool read_only;
  const gl_clock *clock;
  cached_tile cache[TILE_CACHE];
  unsigned cache_next;
  lg_ledger_stats stats;
};

void lg_ledger_stats_get(const lg_ledger *lg, lg_ledger_stats *out) {
  *out = lg->stats;
}

/* ---- Tile-backed hash source --------------------------------------------- */

void lg__ledger_cache_reset(lg_ledger *lg) {
  for (int i = 0; i < TILE_CACHE; i++)
    lg->cache[i].valid = false;
}

static int get_tile(lg_ledger *lg, unsigned level, uint64_t index,
                    const cached_tile **out) {
  for (int i = 0; i < TILE_CACHE; i++) {
    cached_tile *c = &lg->cache[i];
    if (c->valid && c->level == level && c->index == index) {
      *out = c;
      return 0;
    }
  }
  cached_tile *c = &lg->cache[lg->cache_next];
  lg->cache_next = (lg->cache_next + 1) % TILE_CACHE;
  c->valid = false;
  int rc = lg__store_tile_get(lg->st, level, index, c->h, &c->count);
  if (rc != 0)
    return rc;
  c->valid = true;
  c->level = level;
  c->index = index;
  *out = c;
  return 0;
}

static int tile_subtree(void *ctx, uint64_t start, unsigned height,
                        uint8_t out[LG_HASH_LEN]) {
  lg_ledger *lg = ctx;
  unsigned level = height / LG__TILE_HEIGHT;
  unsigned rest = height % LG__TILE_HEIGHT;
  uint64_t pos = start >> (level * LG__TILE_HEIGHT);
  uint64_t tile = pos / LG__TILE_WIDTH;
  size_t off = (size_t)(pos % LG__TILE_WIDTH);
  size_t need = (size_t)1 << rest;
  const cached_tile *t;
  int rc = get_tile(lg, level, tile, &t);
  if (rc != 0)
    return rc;
  if (t->count < off + need) {
    GL_ERROR(COMPONENT,
             "%s: tile %u/%" PRIu64 " holds %zu hashes; the subtree of "
             "height %u at leaf %" PRIu64 " needs %zu",
             lg__store_name(lg->st), level, tile, t->count, height, start,
             off + need);
    return GL_ESTORE;
  }
  /* Fold the 2^rest stored hashes up to the requested height. */
  lg_hash buf[LG__TILE_WIDTH / 2];
  memcpy(buf, &t->h[off], need * LG_HASH_LEN);
  for (size_t n = need; n > 1; n /= 2)
    for (size_t i = 0; i < n / 2; i++) {
      rc = lg_node_hash(buf[2 * i].b, buf[2 * i + 1].b, buf[i].b);
      if (rc != 0)
        return rc;
    }
  memcpy(out, buf[0].b, LG_HASH_LEN);
  return 0;
}

lg_hash_source lg__ledger_source(lg_ledger *lg) {
  lg_hash_source src = {tile_subtree, lg};
  return src;
}

lg__store *lg__ledger_store(lg_ledger *lg) {
  return lg->st;
}

/* ---- Open and close --------------------------------------------------------
 */

static int init_meta(lg_ledger *lg, const lg_ledger_options *opt) {
  bool create = opt->create && !opt->read_only;
  int rc = lg__store_init_ledger(lg->st, create);
  if (rc != 0)
    return rc;
  if (create) {
    rc = lg__store_begin(lg->st, true);
    if (rc != 0)
      return rc;
  }
  char buf[LG_ORIGIN_MAX + 1];
  rc = lg__store_meta_get(lg->st, "format", buf, sizeof buf);
  if (rc == GL_ENOENT && create)
    rc = lg__store_meta_set(lg->st, "format", LG__FORMAT);
  else if (rc == 0 && strcmp(buf, LG__FORMAT) != 0) {
    GL_ERROR(COMPONENT, "%s: unsupported ledger format \"%s\"",
             lg__store_name(lg->st), buf);
    rc = GL_ENOTSUP;
  } else if (rc == GL_ENOENT) {
    GL_ERROR(COMPONENT, "%s: not a gridlet ledger (no format record)",
             lg__store_name(lg->st));
  }
  if (rc == 0) {
    rc = lg__store_meta_get(lg->st, "origin", lg->origin, sizeof lg->origin);
    if (rc == GL_ENOENT && create) {
      if (!opt->origin ||
          !lg_key_name_valid(opt->origin, strlen(opt->origin)) ||
          strlen(opt->origin) > LG_ORIGIN_MAX) {
        GL_ERROR(COMPONENT,
                 "%s: a new ledger needs a valid origin "
                 "(no spaces or '+')",
                 lg__store_name(lg->st));
        rc = GL_EINVAL;
      } else {
        rc = lg__store_meta_set(lg->st, "origin", opt->origin);
        snprintf(lg->origin, sizeof lg->origin, "%s", opt->origin);
      }
    } else if (rc == 0 && opt->origin && strcmp(opt->origin, lg->origin)) {
      GL_ERROR(COMPONENT, "%s: ledger origin is \"%s\", not \"%s\"",
               lg__store_name(lg->st), lg->origin, opt->origin);
      rc = GL_ECONFLICT;
    }
  }
  if (create) {
    if (rc == 0)
      rc = lg__store_commit(lg->st);
    else
      lg__store_rollback(lg->st);
  }
  return rc;
}

static int finish_open(lg_ledger *lg, const lg_ledger_options *opt,
                       lg_ledger **out) {
  lg->read_only = opt->read_only;
  lg->clock = opt->clock;
  int rc = init_meta(lg, opt);
  if (rc != 0) {
    lg_ledger_free(lg);
    return rc;
  }
  *out = lg;
  return 0;
}

int lg_ledger_open(const char *path, const lg_ledger_options *opt,
                   lg_ledger **out) {
  static const lg_ledger_options defaults = {0};
  if (!opt)
    opt = &defaults;
  if (!path || (opt->create && opt->read_only))
    return GL_EINVAL;
  lg_ledger *lg = calloc(1, sizeof *lg);
  if (!lg)
    return GL_ENOMEM;
  int mode = opt->read_only ? LG__OPEN_READ
             : opt->create  ? LG__OPEN_CREATE
                            : LG__OPEN_WRITE;
  int rc = lg__store_open(path, mode, &lg->st);
  if (rc != 0) {
    free(lg);
    return rc;
  }
  return finish_open(lg, opt, out);
}

int lg_ledger_open_db(sqlite3 *db, const lg_ledger_options *opt,
                      lg_ledger **out) {
  static const lg_ledger_options defaults = {0};
  if (!opt)
    opt = &defaults;
  if (!db || (opt->create && opt->read_only))
    return GL_EINVAL;
  lg_ledger *lg = calloc(1, sizeof *lg);
  if (!lg)
    return GL_ENOMEM;
  int rc = lg__store_wrap(db, &lg->st);
  if (rc != 0) {
    free(lg);
    return rc;
  }
  return finish_open(lg, opt, out);
}

void lg_ledger_free(lg_ledger *lg) {
  if (!lg)
    return;
  lg__store_close(lg->st);
  free(lg);
}

const char *lg_ledger_origin(const lg_ledger *lg) {
  return lg->origin;
}

int lg_ledger_size(lg_ledger *lg, uint64_t *size) {
  return lg__store_size(lg->st, size);
}

/* ---- Appending -------------------------------------------------------------
 */

/* A tile row being filled during one append. */
typedef struct pending_tile {
  bool active;
  uint64_t index;
  size_t count;
  lg_hash h[LG__TILE_WIDTH];
} pending_tile;

typedef struct append_ctx {
  lg_ledger *lg;
  pending_tile p[64 / LG__TILE_HEIGHT];
} append_ctx;

static int flush_tile(append_ctx *a, unsigned level) {
  pending_tile *p = &a->p[level];
  int rc = lg__store_tile_put(a->lg->st, level, p->index, p->h, p->count);
  if (rc == 0 && p->count == LG__TILE_WIDTH)
    p->active = false;
  return rc;
}

/* Called by the frontier for every complete subtree an append creates:
 * those at stored heights go into their tile row. */
static int on_subtree(void *ctx, uint64_t start, unsigned height,
                      const uint8_t hash[LG_HASH_LEN]) {
  if (height % LG__TILE_HEIGHT != 0)
    return 0;
  append_ctx *a = ctx;
  unsigned level = height / LG__TILE_HEIGHT;
  uint64_t pos = start >> height;
  uint64_t index = pos / LG__TILE_WIDTH;
  size_t off = (size_t)(pos % LG__TILE_WIDTH);
  pending_tile *p = &a->p[level];
  if (!p->active || p->index != index) {
    if (p->active)
      return GL_EINTERNAL; /* a full tile is always flushed first */
    p->index = index;
    p->count = 0;
    if (off != 0) {
      int rc = lg__store_tile_get(a->lg->st, level, index, p->h, &p->count);
      if (rc != 0)
        return rc;
    }
    p->active = true;
  }
  if (p->count != off) {
    GL_ERROR(COMPONENT,
             "%s: tile %u/%" PRIu64 " holds %zu hashes where %zu were "
             "expected; the stored tree is damaged (run an audit)",
             lg__store_name(a->lg->st), level, index, p->count, off);
    return GL_ESTORE;
  }
  memcpy(p->h[off].b, hash, LG_HASH_LEN);
  p->count++;
  return p->count == LG__TILE_WIDTH ? flush_tile(a, level) : 0;
}

static int validate_entry(const lg_ledger *lg, uint64_t index,
                          const gl_bytes *e) {
  lg_entry entry;
  const char *why = NULL;
  int rc = lg_entry_decode(e->data, e->len, &entry, &why);
  if (rc == 0) {
    rc = lg_entry_check(&entry, &why);
    lg_entry_clear(&entry);
  }
  if (rc != 0) {
    GL_WARN(COMPONENT, "%s: refusing entry %" PRIu64 ": %s",
            lg__store_name(lg->st), index, why ? why : gl_strerror(rc));
    return rc == GL_ENOMEM ? rc : GL_EINVAL;
  }
  return 0;
}

int lg__ledger_append_locked(lg_ledger *lg, const gl_bytes *entries, size_t n,
                             uint64_t *first) {
  uint64_t size;
  int rc = lg__store_size(lg->st, &size);
  if (rc != 0)
    return rc;
  if (n > LG_MAX_SIZE - size)
    return GL_EFULL;
  for (size_t i = 0; i < n; i++) {
    rc = validate_entry(lg, size + i, &entries[i]);
    if (rc != 0) {
      lg->stats.refused_batches++;
      return rc;
    }
  }
  lg__ledger_cache_reset(lg);
  lg_frontier f;
  lg_hash_source src = lg__ledger_source(lg);
  rc = lg_frontier_load(&f, &src, size);
  if (rc != 0)
    return rc;
  append_ctx *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->lg = lg;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const uint8_t *data = entries[i].data;
    uint8_t leaf[LG_HASH_LEN];
    rc = lg__store_entry_put(lg->st, size + i, data[0], data, entries[i].len);
    if (rc == 0)
      rc = lg_leaf_hash(data, entries[i].len, leaf);
    if (rc == 0)
      rc = lg_frontier_push(&f, leaf, on_subtree, a);
  }
  for (unsigned level = 0; rc == 0 && level < 64 / LG__TILE_HEIGHT; level++)
    if (a->p[level].active)
      rc = flush_tile(a, level);
  free(a);
  lg__ledger_cache_reset(lg);
  if (rc == 0) {
    lg->stats.appended += n;
    if (first)
      *first = size;
  }
  return rc;
}

int lg_ledger_append(lg_ledger *lg, const gl_bytes *entries, size_t n,
                     uint64_t *first) {
  if (lg->read_only)
    return GL_EPERM;
  int rc = lg__store_begin(lg->st, true);
  if (rc != 0)
    return rc;
  rc = lg__ledger_append_locked(lg, entries, n, first);
  if (rc == 0)
    rc = lg__store_commit(lg->st);
  else
    lg__store_rollback(lg->st);
  return rc;
}

int lg_ledger_append_at(lg_ledger *lg, uint64_t first, const gl_bytes *entries,
                        size_t n, size_t *appended) {
  if (lg->read_only)
    return GL_EPERM;
  int rc = lg__store_begin(lg->st, true);
  if (rc != 0)
    return rc;
  uint64_t size;
  rc = lg__store_size(lg->st, &size);
  size_t present = 0;
  if (rc == 0 && first > size) {
    GL_ERROR(COMPONENT,
             "%s: entries meant for index %" PRIu64 " but the log has only "
             "%" PRIu64 " entries",
             lg__store_name(lg->st), first, size);
    rc = GL_ESTATE;
  }
  if (rc == 0) {
    present = size - first < n ? (size_t)(size - first) : n;
    for (size_t i = 0; i < present && rc == 0; i++) {
      uint8_t *data;
      size_t len;
      rc = lg__store_entry_get(lg->st, first + i, &data, &len, NULL);
      if (rc != 0)
        break;
      if (len != entries[i].len || memcmp(data, entries[i].data, len) != 0) {
        GL_ERROR(COMPONENT,
                 "%s: entry %" PRIu64 " is already recorded with different "
                 "contents",
                 lg__store_name(lg->st), first + i);
        rc = GL_ECONFLICT;
      }
      free(data);
    }
  }
  if (rc == 0 && present < n)
    rc = lg__ledger_append_locked(lg, entries + present, n - present, NULL);
  if (rc == 0)
    rc = lg__store_commit(lg->st);
  else
    lg__store_rollback(lg->st);
  if (rc == 0 && appended)
    *appended = n - present;
  return rc;
}

int lg_ledger_append_entries(lg_ledger *lg, const lg_entry *entries, size_t n,
                             uint64_t *first) {
  gl_bytes *b = calloc(n ? n : 1, sizeof *b);
  if (!b)
    return GL_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    uint8_t *data;
    size_t len;
    rc = lg_entry_encode(&entries[i], &data, &len);
    if (rc == 0) {
      b[i].data = data;
      b[i].len = len;
    }
  }
  if (rc == 0)
    rc = lg_ledger_append(lg, b, n, first);
  for (size_t i = 0; i < n; i++)
    free((void *)b[i].data);
  free(b);
  return rc;
}

/* ---- Reading ---------------------------------------------------------------
 */

int lg_ledger_entry(lg_ledger *lg, uint64_t index, uint8_t **data,
                    size_t *len) {
  return lg__store_entry_get(lg->st, index, data, len, NULL);
}

typedef struct scan_ctx {
  lg_entry_visit visit;
  void *ctx;
} scan_ctx;

static int scan_cb(void *ctx, uint64_t idx, int type, const uint8_t *data,
                   size_t len) {
  (void)type;
  scan_ctx *s = ctx;
  return s->visit(s->ctx, idx, data, len);
}

int lg_ledger_scan(lg_ledger *lg, uint64_t from, uint64_t to,
                   lg_entry_visit visit, void *ctx) {
  scan_ctx s = {visit, ctx};
  return lg__store_entry_scan(lg->st, from, to, scan_cb, &s);
}

/* Run `fn` inside a read transaction so that every row it reads comes from
 * one snapshot, even while another process appends. */
typedef int (*read_fn)(lg_ledger *lg, void *arg);

static int with_read(lg_ledger *lg, read_fn fn, void *arg) {
  lg__ledger_cache_reset(lg);
  int rc = lg__store_begin(lg->st, false);
  if (rc != 0)
    return rc;
  rc = fn(lg, arg);
  if (rc == 0)
    rc = lg__store_commit(lg->st);
  else
    lg__store_rollback(lg->st);
  lg__ledger_cache_reset(lg);
  return rc;
}

typedef struct proof_args {
  uint64_t a, b;
  lg_hash *proof;
  size_t cap, *n;
  uint8_t *out;
} proof_args;

static int check_size(lg_ledger *lg, uint64_t size) {
  uint64_t cur;
  int rc = lg__store_size(lg->st, &cur);
  if (rc == 0 && size > cur)
    rc = GL_ERANGE;
  return rc;
}

static int do_leaf(lg_ledger *lg, void *arg) {
  proof_args *p = arg;
  int rc = check_size(lg, p->a + 1);
  if (rc != 0)
    return rc == GL_ERANGE ? GL_ENOENT : rc;
  return tile_subtree(lg, p->a, 0, p->out);
}

int lg_ledger_leaf_hash(lg_ledger *lg, uint64_t index,
                        uint8_t out[LG_HASH_LEN]) {
  if (index >= LG_MAX_SIZE)
    return GL_ENOENT;
  proof_args p = {.a = index, .out = out};
  return with_read(lg, do_leaf, &p);
}

static int root_locked(lg_ledger *lg, uint64_t size,
                       uint8_t root[LG_HASH_LEN]) {
  if (size == 0)
    return lg_empty_root(root);
  lg_hash_source src = lg__ledger_source(lg);
  return lg_range_hash(&src, 0, size, root);
}

static int do_root(lg_ledger *lg, void *arg) {
  proof_args *p = arg;
  int rc = check_size(lg, p->a);
  return rc ? rc : root_locked(lg, p->a, p->out);
}

int lg_ledger_root(lg_ledger *lg, uint64_t size, uint8_t root[LG_HASH_LEN]) {
  proof_args p = {.a = size, .out = root};
  return with_read(lg, do_root, &p);
}

static int do_inclusion(lg_ledger *lg, void *arg) {
  proof_args *p = arg;
  if (p->a >= p->b)
    return GL_ERANGE;
  int rc = check_size(lg, p->b);
  if (rc != 0)
    return rc;
  lg_hash_source src = lg__ledger_source(lg);
  return lg_make_inclusion_proof(&src, p->a, p->b, p->proof, p->cap, p->n);
}

int lg_ledger_inclusion_proof(lg_ledger *lg, uint64_t index, uint64_t size,
                              lg_hash *proof, size_t cap, size_t *n) {
  proof_args p = {index, size, proof, cap, n, NULL};
  return with_read(lg, do_inclusion, &p);
}

static int do_consistency(lg_ledger *lg, void *arg) {
  proof_args *p = arg;
  if (p->a == 0 || p->a > p->b)
    return GL_ERANGE;
  int rc = check_size(lg, p->b);
  if (rc != 0)
    return rc;
  lg_hash_source src = lg__ledger_source(lg);
  return lg_make_consistency_proof(&src, p->a, p->b, p->proof, p->cap, p->n);
}

int lg_ledger_consistency_proof(lg_ledger *lg, uint64_t size1, uint64_t size2,
                                lg_hash *proof, size_t cap, size_t *n) {
  proof_args p = {size1, size2, proof, cap, n, NULL};
  return with_read(lg, do_consistency, &p);
}

/* ---- Checkpoints
 * -------------------------------------------------------------- */

/* The stored note followed by its cosignature lines, as one owned string. */
static int note_with_cosigs(lg_ledger *lg, const lg__cp_row *row, char **out) {
  char *lines;
  int rc = lg__store_cosig_lines(lg->st, row->size, &lines);
  if (rc != 0)
    return rc;
  size_t a = strlen(row->note), b = strlen(lines);
  char *s = malloc(a + b + 1);
  if (!s) {
    free(lines);
    return GL_ENOMEM;
  }
  memcpy(s, row->note, a);
  memcpy(s + a, lines, b + 1);
  free(lines);
  *out = s;
  return 0;
}

/* Check that a stored checkpoint row is what we signed: its note parses
 * and names the same size and root. A mismatch means the database was
 * edited; refuse to build on it. */
static int stored_cp_sane(lg_ledger *lg, const lg__cp_row *row) {
  lg_note *n = malloc(sizeof *n);
  if (!n)
    return GL_ENOMEM;
  lg_checkpoint cp;
  int rc = lg_note_parse(row->note, strlen(row->note), n);
  if (rc == 0)
    rc = lg_checkpoint_parse(n->text, n->text_len, &cp);
  free(n);
  if (rc != 0 || cp.size != row->size ||
      memcmp(cp.root, row->root, LG_HASH_LEN) != 0 ||
      strcmp(cp.origin, lg->origin) != 0) {
    GL_ERROR(COMPONENT,
             "%s: stored checkpoint of size %" PRIu64 " does not match its "
             "signed note",
             lg__store_name(lg->st), row->size);
    return GL_ECONFLICT;
  }
  return 0;
}

static int checkpoint_locked(lg_ledger *lg, const lg_signer *key, char **note,
                             bool *signed_new) {
  char vkey[LG_KEY_TEXT_MAX], stored[LG_KEY_TEXT_MAX];
  int rc = lg_vkey_format(&key->vkey, vkey, sizeof vkey);
  if (rc != 0)
    return rc;
  rc = lg__store_meta_get(lg->st, "log_vkey", stored, sizeof stored);
  if (rc == GL_ENOENT)
    rc = lg__store_meta_set(lg->st, "log_vkey", vkey);
  else if (rc == 0 && strcmp(stored, vkey) != 0) {
    GL_ERROR(COMPONENT,
             "%s: refusing to sign: this log's checkpoints are signed by "
             "%s, not %s",
             lg__store_name(lg->st), stored, vkey);
    return GL_EPERM;
  }
  if (rc != 0)
    return rc;

  lg_checkpoint cp;
  snprintf(cp.origin, sizeof cp.origin, "%s", lg->origin);
  rc = lg__store_size(lg->st, &cp.size);
  if (rc == 0)
    rc = root_locked(lg, cp.size, cp.root);
  if (rc != 0)
    return rc;

  lg__cp_row last;
  rc = lg__store_cp_latest(lg->st, &last);
  if (rc == 0) {
    rc = stored_cp_sane(lg, &last);
    if (rc == 0 && last.size > cp.size) {
      GL_ERROR(COMPONENT,
               "%s: refusing to sign: the log has %" PRIu64 " entries but a "
               "checkpoint of size %" PRIu64 " was already signed",
               lg__store_name(lg->st), cp.size, last.size);
      rc = GL_ECONFLICT;
    } else if (rc == 0 && last.size == cp.size) {
      if (memcmp(last.root, cp.root, LG_HASH_LEN) != 0) {
        GL_ERROR(COMPONENT,
                 "%s: refusing to sign: the root at size %" PRIu64
                 " differs from the one already signed",
                 lg__store_name(lg->st), cp.size);
        rc = GL_ECONFLICT;
      } else {
        rc = note_with_cosigs(lg, &last, note);
        free(last.note);
        return rc;
      }
    } else if (rc == 0 && last.size > 0) {
      lg_hash proof[LG_PROOF_MAX];
      size_t n;
      lg_hash_source src = lg__ledger_source(lg);
      rc = lg_make_consistency_proof(&src, last.size, cp.size, proof,
                                     LG_PROOF_MAX, &n);
      const char *why = NULL;
      if (rc == 0)
        rc = lg_verify_consistency(last.size, cp.size, last.root, cp.root,
                                   proof, n, &why);
      if (rc != 0) {
        GL_ERROR(COMPONENT,
                 "%s: refusing to sign size %" PRIu64 ": not consistent with "
                 "the checkpoint of size %" PRIu64 " (%s)",
                 lg__store_name(lg->st), cp.size, last.size,
                 why ? why : gl_strerror(rc));
        rc = GL_ECONFLICT;
      }
    }
    free(last.note);
  } else if (rc == GL_ENOENT) {
    rc = 0;
  }
  if (rc != 0)
    return rc;

  char buf[LG_CHECKPOINT_TEXT_MAX + LG_SIGLINE_MAX];
  size_t len;
  rc = lg_checkpoint_sign(&cp, key, buf, sizeof buf, &len);
  if (rc != 0)
    return rc;
  int64_t now = lg->clock ? gl_clock_now(lg->clock) : 0;
  rc = lg__store_cp_put(lg->st, cp.size, cp.root, buf, now);
  if (rc != 0)
    return rc;
  *signed_new = true;
  *note = strdup(buf);
  return *note ? 0 : GL_ENOMEM;
}

int lg_ledger_checkpoint(lg_ledger *lg, const lg_signer *key, char **note) {
  if (lg->read_only)
    return GL_EPERM;
  if (key->vkey.type != LG_SIG_ED25519 ||
      strcmp(key->vkey.name, lg->origin) != 0) {
    GL_ERROR(COMPONENT,
             "log key must be an Ed25519 note key named \"%s\" (got \"%s\")",
             lg->origin, key->vkey.name);
    return GL_EINVAL;
  }
  if (lg__store_in_txn(lg->st)) {
    GL_ERROR(COMPONENT,
             "%s: checkpoint requested inside an open "
             "transaction; commit first",
             lg__store_name(lg->st));
    return GL_ESTATE;
  }
  lg__ledger_cache_reset(lg);
  int rc = lg__store_begin(lg->st, true);
  if (rc != 0)
    return rc;
  *note = NULL;
  bool signed_new = false;
  rc = checkpoint_locked(lg, key, note, &signed_new);
  if (rc == 0)
    rc = lg__store_commit(lg->st);
  else
    lg__store_rollback(lg->st);
  if (rc == 0 && signed_new)
    lg->stats.checkpoints_signed++;
  if (rc == GL_ECONFLICT || rc == GL_EPERM)
    lg->stats.checkpoints_refused++;
  lg__ledger_cache_reset(lg);
  if (rc != 0) {
    free(*note);
    *note = NULL;
  }
  return rc;
}

int lg_ledger_latest_checkpoint(lg_ledger *lg, char **note, lg_checkpoint *cp) {
  lg__cp_row row;
  int rc = lg__store_cp_latest(lg->st, &row);
  if (rc != 0)
    return rc;
  if (cp) {
    snprintf(cp->origin, sizeof cp->origin, "%s", lg->origin);
    cp->size = row.size;
    memcpy(cp->root, row.root, LG_HASH_LEN);
  }
  rc = note ? note_with_cosigs(lg, &row, note) : 0;
  free(row.note);
  return rc;
}

typedef struct witness_walk {
  lg_witness_visit visit;
  void *ctx;
} witness_walk;

/* A cosignature line is "— <name> base64(key ID || timestamp || sig)":
 * the timestamp is 8 bytes big-endian after the 4-byte key ID. */
static uint64_t cosig_time(const char *line) {
  const char *sp = strrchr(line, ' ');
  if (!sp)
    return 0;
  size_t n = strcspn(sp + 1, "\r\n");
  uint8_t raw[LG_SIGLINE_MAX];
  size_t len = 0;
  if (n == 0 || n >= sizeof raw ||
      gl_base64_decode(sp + 1, n, raw, sizeof raw, &len) != 0 || len < 12)
    return 0;
  uint64_t t = 0;
  for (int i = 4; i < 12; i++)
    t = t << 8 | raw[i];
  return t;
}

static int witness_row(void *ctx, uint64_t size, const char *name,
                       uint32_t key_id, const char *line) {
  witness_walk *w = ctx;
  lg_witness_info info = {
      .name = name, .key_id = key_id, .size = size, .time = cosig_time(line)};
  return w->visit(w->ctx, &info);
}

int lg_ledger_witnesses(lg_ledger *lg, lg_witness_visit visit, void *ctx) {
  witness_walk w = {visit, ctx};
  return lg__store_cosig_newest(lg->st, witness_row, &w);
}

int lg_ledger_add_cosignatures(lg_ledger *lg, uint64_t size, const char *lines,
                               size_t len, const lg_vkey *witnesses,
                               size_t n_witnesses, size_t *added) {
  if (lg->read_only)
    return GL_EPERM;
  for (size_t i = 0; i < n_witnesses; i++)
    if (witnesses[i].type != LG_SIG_COSIG_V1)
      return GL_EINVAL;
  lg__cp_row row;
  int rc = lg__store_cp_get(lg->st, size, &row);
  if (rc != 0)
    return rc;
  /* Verify the lines as part of the stored note: the witness signed the
   * note text, which is the part before the blank line. */
  size_t a = strlen(row.note);
  char *msg = malloc(a + len + 1);
  lg_note *n = malloc(sizeof *n);
  bool *ok = calloc(n_witnesses ? n_witnesses : 1, sizeof *ok);
  if (!msg || !n || !ok) {
    rc = GL_ENOMEM;
    goto out;
  }
  memcpy(msg, row.note, a);
  memcpy(msg + a, lines, len);
  msg[a + len] = '\0';
  rc = lg_note_parse(msg, a + len, n);
  if (rc != 0) {
    GL_WARN(COMPONENT, "cosignature lines are malformed");
    rc = GL_EPARSE;
    goto out;
  }
  const char *why = NULL;
  rc = n_witnesses ? lg_note_verify(n, witnesses, n_witnesses, ok, NULL, &why)
                   : 0;
  if (rc != 0) {
    bool any_known = false;
    for (size_t i = 0; i < n->nsigs && !any_known; i++)
      for (size_t k = 0; k < n_witnesses; k++)
        if (n->sigs[i].id == witnesses[k].id &&
            n->sigs[i].name_len == strlen(witnesses[k].name) &&
            memcmp(n->sigs[i].name, witnesses[k].name, n->sigs[i].name_len) ==
                0)
          any_known = true;
    if (!any_known) {
      /* Nothing from a configured witness: not an error, nothing kept. */
      rc = 0;
      memset(ok, 0, (n_witnesses ? n_witnesses : 1) * sizeof *ok);
    } else {
      GL_WARN(COMPONENT, "cosignature for size %" PRIu64 " rejected: %s", size,
              why);
      goto out;
    }
  }
  size_t kept = 0;
  rc = lg__store_begin(lg->st, true);
  for (size_t i = 0; i < n->nsigs && rc == 0; i++) {
    const lg_note_sig *s = &n->sigs[i];
    for (size_t k = 0; k < n_witnesses && rc == 0; k++) {
      if (!ok[k] || s->id != witnesses[k].id ||
          s->name_len != strlen(witnesses[k].name) ||
          memcmp(s->name, witnesses[k].name, s->name_len) != 0)
        continue;
      char line[LG_SIGLINE_MAX + 1];
      if (s->line_len >= sizeof line) {
        rc = GL_ETOOBIG;
        break;
      }
      memcpy(line, s->line, s->line_len);
      line[s->line_len] = '\0';
      rc = lg__store_cosig_put(lg->st, size, witnesses[k].name, witnesses[k].id,
                               line);
      kept++;
    }
  }
  if (rc == 0)
    rc = lg__store_commit(lg->st);
  else
    lg__store_rollback(lg->st);
  if (rc == 0 && added)
    *added = kept;
out:
  free(row.note);
  free(msg);
  free(n);
  free(ok);
  return rc;
}

/* ---- Bundles and witness requests
 * -------------------------------------------- */

typedef struct bundle_args {
  uint64_t index, size;
  bool with_entry;
  char **out;
} bundle_args;

static int do_bundle(lg_ledger *lg, void *arg) {
  bundle_args *b = arg;
  lg__cp_row row;
  int rc = b->size ? lg__store_cp_get(lg->st, b->size, &row)
                   : lg__store_cp_latest(lg->st, &row);
  if (rc != 0)
    return rc;
  char *note = NULL;
  uint8_t *entry = NULL;
  size_t entry_len = 0, n = 0;
  lg_hash proof[LG_PROOF_MAX];
  if (b->index >= row.size) {
    GL_INFO(COMPONENT,
            "no checkpoint covers entry %" PRIu64 " yet (latest "
            "size %" PRIu64 ")",
            b->index, row.size);
    rc = GL_ENOENT;
  }
  if (rc == 0) {
    lg_hash_source src = lg__ledger_source(lg);
    rc = lg_make_inclusion_proof(&src, b->index, row.size, proof, LG_PROOF_MAX,
                                 &n);
  }
  if (rc == 0)
    rc = note_with_cosigs(lg, &row, &note);
  if (rc == 0 && b->with_entry)
    rc = lg__store_entry_get(lg->st, b->index, &entry, &entry_len, NULL);
  if (rc == 0)
    rc = lg_bundle_format(b->index, proof, n, entry, entry_len, note,
                          strlen(note), b->out, NULL);
  free(row.note);
  free(note);
  free(entry);
  return rc;
}

int lg_ledger_bundle(lg_ledger *lg, uint64_t index, uint64_t size,
                     bool with_entry, char **bundle) {
  bundle_args b = {index, size, with_entry, bundle};
  return with_read(lg, do_bundle, &b);
}

typedef struct request_args {
  uint64_t old_size;
  char **out;
} request_args;

static int do_request(lg_ledger *lg, void *arg) {
  request_args *r = arg;
  lg__cp_row row;
  int rc = lg__store_cp_latest(lg->st, &row);
  if (rc != 0)
    return rc;
  lg_hash proof[LG_PROOF_MAX];
  size_t n = 0;
  if (r->old_size > row.size)
    rc = GL_ERANGE;
  if (rc == 0 && r->old_size > 0 && r->old_size < row.size) {
    lg_hash_source src = lg__ledger_source(lg);
    rc = lg_make_consistency_proof(&src, r->old_size, row.size, proof,
                                   LG_PROOF_MAX, &n);
  }
  /* "old N", one base64 hash per line, a blank line, the checkpoint with
   * the log's own signature (c2sp.org/tlog-witness add-checkpoint). */
  size_t note_len = strlen(row.note);
  size_t cap = 32 + n * 46 + 1 + note_len + 1;
  char *s = rc == 0 ? malloc(cap) : NULL;
  if (rc == 0 && !s)
    rc = GL_ENOMEM;
  if (rc == 0) {
    size_t off = (size_t)snprintf(s, cap, "old %" PRIu64 "\n", r->old_size);
    for (size_t i = 0; i < n && rc == 0; i++) {
      rc = gl_base64_encode(proof[i].b, LG_HASH_LEN, s + off, cap - off);
      off += strlen(s + off);
      s[off++] = '\n';
    }
    s[off++] = '\n';
    memcpy(s + off, row.note, note_len + 1);
  }
  free(row.note);
  if (rc != 0) {
    free(s);
    return rc;
  }
  *r->out = s;
  return 0;
}

int lg_ledger_witness_request(lg_ledger *lg, uint64_t old_size, char **body) {
  request_args r = {old_size, body};
  return with_read(lg, do_request, &r);
}
