/* SPDX-License-Identifier: MIT */
/*
 * audit.c - replay a whole ledger and check everything it stores (see
 * gridlet/ledger_audit.h).
 *
 * One pass over the entries in index order drives a frontier that
 * recomputes every complete subtree; each one at a stored height is
 * compared with its stored tile hash as soon as it completes, and the root
 * is taken whenever the replay reaches the size of a stored checkpoint.
 * The first problem stops the audit and is reported with the entry it
 * concerns, so "the first bad entry" is exact for a changed entry and is
 * narrowed to a range between two checkpoints when only roots disagree.
 */
#include "gridlet/ledger_audit.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "ledger_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "ledger"
#define STOP 1 /* positive: stops a scan without being an error */
#define LEVELS (64 / LG__TILE_HEIGHT)

typedef struct cp_item {
  uint64_t size;
  uint8_t root[LG_HASH_LEN];
  char *note;
  int64_t signed_ns;
} cp_item;

typedef struct settled {
  int64_t interval_start;
  uint64_t entry;
} settled;

typedef struct level_tile {
  bool valid;
  uint64_t index;
  size_t count;
  lg_hash h[LG__TILE_WIDTH];
} level_tile;

typedef struct audit {
  lg_ledger *lg;
  lg__store *st;
  lg_audit_report *rep;
  cp_item *cps;
  size_t ncp, next_cp;
  lg_frontier f;
  uint64_t expect;
  level_tile tiles[LEVELS];
  settled *settled;
  size_t nsettled, capsettled;
  int err; /* an error that prevents a verdict (out of memory) */
} audit;

static void problem(audit *a, int64_t entry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(audit *a, int64_t entry, const char *fmt, ...) {
  if (!a->rep->ok)
    return; /* keep the first */
  a->rep->ok = false;
  a->rep->bad_entry = entry;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->rep->problem, sizeof a->rep->problem, fmt, ap);
  va_end(ap);
  GL_WARN(COMPONENT, "audit of %s: %s", lg__store_name(a->st), a->rep->problem);
}

/* ---- Stored hashes ------------------------------------------------------- */

/* The stored hash of the subtree at height level*4 numbered `pos`; false
 * (with *missing) when the tile does not hold it. */
static int stored_hash(audit *a, unsigned level, uint64_t pos,
                       const uint8_t **out) {
  level_tile *t = &a->tiles[level];
  uint64_t index = pos / LG__TILE_WIDTH;
  if (!t->valid || t->index != index) {
    int rc = lg__store_tile_get(a->st, level, index, t->h, &t->count);
    if (rc != 0) {
      t->valid = false;
      return rc;
    }
    t->valid = true;
    t->index = index;
  }
  size_t off = (size_t)(pos % LG__TILE_WIDTH);
  *out = off < t->count ? t->h[off].b : NULL;
  return 0;
}

static int on_subtree(void *ctx, uint64_t start, unsigned height,
                      const uint8_t hash[LG_HASH_LEN]) {
  audit *a = ctx;
  if (height == 0 || height % LG__TILE_HEIGHT != 0)
    return 0; /* leaves are checked by the caller, with the entry named */
  const uint8_t *stored;
  int rc = stored_hash(a, height / LG__TILE_HEIGHT, start >> height, &stored);
  if (rc != 0) {
    problem(a, -1,
            "storage error reading the tile of entries [%" PRIu64 ", %" PRIu64
            "): %s",
            start, start + ((uint64_t)1 << height), gl_strerror(rc));
    return STOP;
  }
  if (!stored) {
    problem(a, -1,
            "the hash of the subtree of entries [%" PRIu64 ", %" PRIu64
            ") is not stored",
            start, start + ((uint64_t)1 << height));
    return STOP;
  }
  if (memcmp(stored, hash, LG_HASH_LEN) != 0) {
    problem(a, -1,
            "the stored hash of the subtree of entries [%" PRIu64 ", %" PRIu64
            ") differs from the one recomputed from the entries",
            start, start + ((uint64_t)1 << height));
    return STOP;
  }
  return 0;
}

/* ---- Replay -------------------------------------------------------------- */

static int reach_checkpoints(audit *a) {
  while (a->next_cp < a->ncp && a->cps[a->next_cp].size == a->f.size) {
    cp_item *c = &a->cps[a->next_cp];
    uint8_t root[LG_HASH_LEN];
    int rc = lg_frontier_root(&a->f, root);
    if (rc != 0)
      return rc;
    if (memcmp(root, c->root, LG_HASH_LEN) != 0) {
      uint64_t prev = a->next_cp > 0 ? a->cps[a->next_cp - 1].size : 0;
      problem(a, -1,
              "checkpoint of size %" PRIu64 ": the signed root differs from "
              "the root recomputed from the entries (an entry in [%" PRIu64
              ", %" PRIu64 ") was changed, or the log forked)",
              c->size, prev, c->size);
      return STOP;
    }
    a->next_cp++;
  }
  return 0;
}

static int record_settlement(audit *a, uint64_t idx, int64_t start) {
  if (a->nsettled == a->capsettled) {
    size_t cap = a->capsettled ? a->capsettled * 2 : 256;
    settled *s = realloc(a->settled, cap * sizeof *s);
    if (!s)
      return GL_ENOMEM;
    a->settled = s;
    a->capsettled = cap;
  }
  a->settled[a->nsettled].interval_start = start;
  a->settled[a->nsettled].entry = idx;
  a->nsettled++;
  return 0;
}

static int on_entry(void *ctx, uint64_t idx, int type, const uint8_t *data,
                    size_t len) {
  audit *a = ctx;
  if (idx != a->expect) {
    problem(a, (int64_t)a->expect,
            "entry %" PRIu64 " is missing (the next stored index is %" PRIu64
            ")",
            a->expect, idx);
    return STOP;
  }
  if (len < 1 || data[0] != type) {
    problem(a, (int64_t)idx,
            "entry %" PRIu64 ": its type column (%d) does not match its tag",
            idx, type);
    return STOP;
  }
  lg_entry e;
  const char *why = NULL;
  int rc = lg_entry_decode(data, len, &e, &why);
  if (rc == GL_ENOMEM)
    return rc;
  if (rc == 0) {
    rc = lg_entry_check(&e, &why);
    if (rc == 0 && e.type == LG_ENTRY_SETTLEMENT) {
      rc = lg_balances_add(a->rep->balances, &e.u.settlement);
      if (rc == GL_ERANGE)
        why = "settlement sums overflow";
      if (rc == 0)
        rc = record_settlement(a, idx, e.u.settlement.interval_start);
    }
    lg_entry_clear(&e);
  }
  if (rc == GL_ENOMEM)
    return rc;
  if (rc != 0) {
    problem(a, (int64_t)idx, "entry %" PRIu64 " (%s): %s", idx,
            lg_entry_type_name(data[0]), why ? why : gl_strerror(rc));
    return STOP;
  }

  uint8_t leaf[LG_HASH_LEN];
  rc = lg_leaf_hash(data, len, leaf);
  if (rc != 0)
    return rc;
  const uint8_t *stored;
  rc = stored_hash(a, 0, idx, &stored);
  if (rc != 0 || !stored) {
    problem(a, (int64_t)idx, "entry %" PRIu64 ": leaf hash not stored (%s)",
            idx, rc ? gl_strerror(rc) : "tile too short");
    return STOP;
  }
  if (memcmp(stored, leaf, LG_HASH_LEN) != 0) {
    problem(a, (int64_t)idx,
            "entry %" PRIu64 " (%s): its stored leaf hash does not match its "
            "bytes (the entry or its hash was changed)",
            idx, lg_entry_type_name(data[0]));
    return STOP;
  }
  rc = lg_frontier_push(&a->f, leaf, on_subtree, a);
  if (rc != 0)
    return rc;
  a->rep->entries++;
  if (data[0] < 7)
    a->rep->by_type[data[0]]++;
  a->expect++;
  return reach_checkpoints(a);
}

/* ---- Checkpoints --------------------------------------------------------- */

static int collect_cp(void *ctx, const lg__cp_row *row) {
  audit *a = ctx;
  cp_item *cps = realloc(a->cps, (a->ncp + 1) * sizeof *cps);
  if (!cps)
    return GL_ENOMEM;
  a->cps = cps;
  cp_item *c = &cps[a->ncp];
  c->note = strdup(row->note);
  if (!c->note)
    return GL_ENOMEM;
  c->size = row->size;
  memcpy(c->root, row->root, LG_HASH_LEN);
  c->signed_ns = row->signed_ns;
  a->ncp++;
  return 0;
}

static int check_checkpoints(audit *a, const lg_vkey *key,
                             const lg_audit_options *opt) {
  for (size_t i = 0; i < a->ncp && a->rep->ok; i++) {
    cp_item *c = &a->cps[i];
    char *lines;
    int rc = lg__store_cosig_lines(a->st, c->size, &lines);
    if (rc != 0) {
      problem(a, -1,
              "checkpoint of size %" PRIu64 ": cannot read its "
              "cosignatures (%s)",
              c->size, gl_strerror(rc));
      return 0;
    }
    size_t nl = strlen(c->note), ll = strlen(lines);
    char *note = malloc(nl + ll + 1);
    if (!note) {
      free(lines);
      return GL_ENOMEM;
    }
    memcpy(note, c->note, nl);
    memcpy(note + nl, lines, ll + 1);
    free(lines);
    lg_policy pol = {key, opt->witnesses, opt->n_witnesses, 0};
    lg_checkpoint cp;
    lg_policy_result res = {0, 0};
    const char *why = NULL;
    rc = lg_policy_verify(&pol, note, nl + ll, &cp, &res, &why);
    free(note);
    if (rc == GL_ENOMEM)
      return rc;
    if (rc != 0) {
      problem(a, -1, "checkpoint of size %" PRIu64 ": %s", c->size, why);
      return 0;
    }
    if (cp.size != c->size || memcmp(cp.root, c->root, LG_HASH_LEN) != 0) {
      problem(a, -1,
              "checkpoint of size %" PRIu64
              ": its signed note says size %" PRIu64 " with another root",
              c->size, cp.size);
      return 0;
    }
    a->rep->checkpoints++;
    a->rep->cosignatures += res.witnesses_ok;
  }
  return 0;
}

static int by_interval(const void *x, const void *y) {
  const settled *a = x, *b = y;
  if (a->interval_start != b->interval_start)
    return a->interval_start < b->interval_start ? -1 : 1;
  return a->entry < b->entry ? -1 : a->entry > b->entry;
}

static void check_settled_once(audit *a) {
  if (a->nsettled < 2)
    return;
  qsort(a->settled, a->nsettled, sizeof *a->settled, by_interval);
  for (size_t i = 1; i < a->nsettled; i++) {
    if (a->settled[i].interval_start == a->settled[i - 1].interval_start) {
      char t[GL_TIME_STR_MAX];
      problem(a, (int64_t)a->settled[i].entry,
              "entry %" PRIu64 " settles the interval starting %s a second "
              "time (first settled by entry %" PRIu64 ")",
              a->settled[i].entry,
              gl_time_format(a->settled[i].interval_start, t),
              a->settled[i - 1].entry);
      return;
    }
  }
}

/* ---- Driver -------------------------------------------------------------- */

static int resolve_key(audit *a, const lg_audit_options *opt, lg_vkey *key,
                       bool *have_key) {
  char text[LG_KEY_TEXT_MAX];
  int rc = lg__store_meta_get(a->st, "log_vkey", text, sizeof text);
  *have_key = false;
  if (rc != 0 && rc != GL_ENOENT) {
    problem(a, -1, "cannot read the recorded log key: %s", gl_strerror(rc));
    return 0;
  }
  bool recorded = rc == 0;
  if (opt->log_key) {
    *key = *opt->log_key;
    *have_key = true;
    char want[LG_KEY_TEXT_MAX];
    if (lg_vkey_format(opt->log_key, want, sizeof want) == 0 && recorded &&
        strcmp(want, text) != 0)
      problem(a, -1, "the database records log key %s, not the given %s", text,
              want);
    return 0;
  }
  if (!recorded)
    return 0; /* fine when there are no checkpoints; reported otherwise */
  a->rep->key_from_db = true;
  if (lg_vkey_parse(text, strlen(text), key) != 0) {
    problem(a, -1, "the recorded log key is malformed");
    return 0;
  }
  *have_key = true;
  return 0;
}

int lg_audit_run(lg_ledger *lg, const lg_audit_options *opt,
                 lg_audit_report *rep) {
  static const lg_audit_options none = {0};
  if (!opt)
    opt = &none;
  memset(rep, 0, sizeof *rep);
  rep->ok = true;
  rep->bad_entry = -1;
  rep->balances = lg_balances_new();
  audit *a = calloc(1, sizeof *a);
  if (!rep->balances || !a) {
    free(a);
    lg_audit_report_clear(rep);
    return GL_ENOMEM;
  }
  a->lg = lg;
  a->st = lg__ledger_store(lg);
  a->rep = rep;
  int rc = lg__store_begin(a->st, false);
  if (rc != 0) {
    free(a);
    lg_audit_report_clear(rep);
    return rc;
  }
  lg_vkey key;
  bool have_key = false;
  rc = resolve_key(a, opt, &key, &have_key);
  if (rc == 0) {
    rc = lg__store_cp_scan(a->st, collect_cp, a);
    if (rc > 0 || (rc != 0 && rc != GL_ENOMEM)) {
      problem(a, -1, "cannot read the checkpoints: %s", gl_strerror(rc));
      rc = 0;
    }
  }
  if (rc == 0 && rep->ok && a->ncp > 0 && !have_key)
    problem(a, -1,
            "no log key recorded or given: checkpoints cannot be "
            "verified");
  if (rc == 0 && rep->ok) {
    int r = reach_checkpoints(a); /* a checkpoint of size 0 */
    if (r < 0)
      rc = r;
  }
  if (rc == 0 && rep->ok) {
    rc = lg__store_entry_scan(a->st, 0, LG_MAX_SIZE, on_entry, a);
    if (rc == STOP)
      rc = 0;
    else if (rc != 0 && rc != GL_ENOMEM) {
      problem(a, (int64_t)a->expect,
              "storage error while reading entry %" PRIu64 ": %s", a->expect,
              gl_strerror(rc));
      rc = 0;
    }
  }
  if (rc == 0 && rep->ok && a->next_cp < a->ncp)
    problem(a, -1,
            "a checkpoint of size %" PRIu64 " was signed but the log has "
            "only %" PRIu64 " entries",
            a->cps[a->next_cp].size, a->expect);
  if (rc == 0 && rep->ok)
    rc = check_checkpoints(a, &key, opt);
  if (rc == 0 && rep->ok)
    check_settled_once(a);
  if (rc == 0)
    rc = lg_frontier_root(&a->f, rep->root);
  lg__store_rollback(a->st); /* read-only: nothing to keep */
  for (size_t i = 0; i < a->ncp; i++)
    free(a->cps[i].note);
  free(a->cps);
  free(a->settled);
  free(a);
  if (rc != 0) {
    lg_audit_report_clear(rep);
    return rc;
  }
  if (!rep->ok) {
    lg_balances_free(rep->balances);
    rep->balances = NULL;
  }
  return 0;
}

int lg_audit_file(const char *path, const lg_audit_options *opt,
                  lg_audit_report *rep) {
  lg_ledger *lg;
  lg_ledger_options o = {.read_only = true};
  int rc = lg_ledger_open(path, &o, &lg);
  if (rc != 0)
    return rc;
  rc = lg_audit_run(lg, opt, rep);
  lg_ledger_free(lg);
  return rc;
}

void lg_audit_report_clear(lg_audit_report *rep) {
  lg_balances_free(rep->balances);
  rep->balances = NULL;
}
