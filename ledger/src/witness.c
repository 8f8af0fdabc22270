/* SPDX-License-Identifier: MIT */
/*
 * witness.c - tlog-witness add-checkpoint over a SQLite state file (see
 * gridlet/ledger_witness.h).
 */
#include "gridlet/ledger_witness.h"

#include "gridlet/error.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/log.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "witness"
/* tlog-witness: a client MUST NOT send more than 63 proof lines. */
#define WITNESS_PROOF_MAX 63

struct lg_witness {
  lg__store *st;
  lg_signer key;
  const gl_clock *clock;
  lg_witness_stats stats;
};

void lg_witness_stats_get(const lg_witness *w, lg_witness_stats *out) {
  *out = w->stats;
}

/* Count an answer and log every refusal with its reason. */
static void account(lg_witness *w, const lg_witness_result *res) {
  lg_witness_stats *s = &w->stats;
  switch (res->status) {
  case 200:
    s->cosigned++;
    return;
  case 400:
    s->malformed++;
    break;
  case 403:
    s->unsigned_cp++;
    break;
  case 404:
    s->unknown_log++;
    break;
  case 409:
    s->conflict++;
    break;
  case 422:
    s->inconsistent++;
    break;
  default:
    s->errors++;
    break;
  }
  if (res->status == 409 && strstr(res->why, "forked") == NULL)
    GL_INFO(COMPONENT,
            "request refused (409): %s (latest cosigned size %" PRIu64 ")",
            res->why, res->latest_size);
  else
    GL_WARN(COMPONENT, "request refused (%d): %s", res->status, res->why);
}

int lg_witness_open(const char *path, const lg_signer *key,
                    const gl_clock *clock, lg_witness **out) {
  if (!key || key->vkey.type != LG_SIG_COSIG_V1 || !clock)
    return GL_EINVAL;
  lg_witness *w = calloc(1, sizeof *w);
  if (!w)
    return GL_ENOMEM;
  int rc = lg__store_open(path, LG__OPEN_CREATE, &w->st);
  if (rc == 0)
    rc = lg__store_init_witness(w->st);
  if (rc != 0) {
    lg_witness_free(w);
    return rc;
  }
  w->key = *key;
  w->clock = clock;
  *out = w;
  return 0;
}

void lg_witness_free(lg_witness *w) {
  if (!w)
    return;
  lg__store_close(w->st);
  lg_signer_wipe(&w->key);
  free(w);
}

int lg_witness_add_log(lg_witness *w, const char *vkey) {
  lg_vkey k;
  int rc = lg_vkey_parse(vkey, strlen(vkey), &k);
  if (rc != 0)
    return rc;
  if (k.type != LG_SIG_ED25519)
    return GL_EINVAL;
  return lg__store_wit_log_put(w->st, k.name, vkey);
}

int lg_witness_state(lg_witness *w, const char *origin, uint64_t *size,
                     uint8_t root[LG_HASH_LEN]) {
  return lg__store_wit_state_get(w->st, origin, size, root);
}

int lg_witness_evidence(lg_witness *w, const char *origin, uint64_t *count) {
  return lg__store_wit_evidence_count(w->st, origin, count);
}

/* ---- Request parsing ----------------------------------------------------- */

typedef struct wit_request {
  uint64_t old;
  size_t nproof;
  lg_hash proof[WITNESS_PROOF_MAX];
  const char *note;
  size_t note_len;
} wit_request;

static int parse_request(const char *text, size_t len, wit_request *r) {
  const char *nl = memchr(text, '\n', len);
  if (!nl || nl - text < 5 || memcmp(text, "old ", 4) != 0)
    return GL_EPARSE;
  const char *num = text + 4;
  size_t nlen = (size_t)(nl - num);
  if (nlen == 0 || nlen > 19 || (nlen > 1 && num[0] == '0'))
    return GL_EPARSE;
  uint64_t v = 0;
  for (size_t i = 0; i < nlen; i++) {
    if (num[i] < '0' || num[i] > '9')
      return GL_EPARSE;
    v = v * 10 + (uint64_t)(num[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX)
    return GL_EPARSE;
  r->old = v;
  r->nproof = 0;
  size_t pos = (size_t)(nl - text) + 1;
  for (;;) {
    if (pos >= len)
      return GL_EPARSE;
    const char *line = text + pos;
    const char *end = memchr(line, '\n', len - pos);
    if (!end)
      return GL_EPARSE;
    size_t ll = (size_t)(end - line);
    pos += ll + 1;
    if (ll == 0)
      break;
    if (r->nproof == WITNESS_PROOF_MAX)
      return GL_EPARSE;
    uint8_t h[LG_HASH_LEN + 1];
    size_t hl;
    if (gl_base64_decode(line, ll, h, sizeof h, &hl) != 0 || hl != LG_HASH_LEN)
      return GL_EPARSE;
    memcpy(r->proof[r->nproof++].b, h, LG_HASH_LEN);
  }
  r->note = text + pos;
  r->note_len = len - pos;
  return 0;
}

/* ---- add-checkpoint -------------------------------------------------------
 */

static int answer(lg_witness_result *res, int status, const char *why, int rc) {
  res->status = status;
  res->why = why;
  return rc;
}

/* Keep a refused, validly signed checkpoint: it proves misbehaviour. */
static void keep_evidence(lg_witness *w, const char *origin, const char *why,
                          const char *request, size_t len) {
  GL_WARN(COMPONENT, "refusing checkpoint from %s: %s (kept as evidence)",
          origin, why);
  w->stats.evidence++;
  int rc = lg__store_wit_evidence_put(w->st, origin, why, request, len,
                                      gl_clock_now(w->clock));
  if (rc != 0)
    GL_ERROR(COMPONENT, "could not record evidence for %s: %s", origin,
             gl_strerror(rc));
}

/* The state transition, inside the open write transaction. Returns a
 * decision; evidence is written in the same transaction, which is then
 * committed whatever the decision. */
static int decide(lg_witness *w, const wit_request *r, const lg_checkpoint *cp,
                  const char *text, size_t text_len, const char *request,
                  size_t len, lg_witness_result *res) {
  uint64_t size = 0;
  uint8_t root[LG_HASH_LEN];
  int rc = lg__store_wit_state_get(w->st, cp->origin, &size, root);
  bool known = rc == 0;
  if (rc != 0 && rc != GL_ENOENT)
    return answer(res, 500, "storage error", rc);
  if (r->old != size) {
    res->latest_size = size;
    return answer(res, 409, "old size is not the last cosigned size",
                  GL_ECONFLICT);
  }
  if (r->old == 0 && r->nproof != 0)
    return answer(res, 400, "a proof from size 0 must be empty", GL_EINVAL);
  if (known && r->old == cp->size) {
    if (memcmp(root, cp->root, LG_HASH_LEN) != 0) {
      keep_evidence(w, cp->origin, "same size, different root (fork)", request,
                    len);
      res->latest_size = size;
      return answer(res, 409,
                    "same size as the cosigned checkpoint but a "
                    "different root: the log forked",
                    GL_ECONFLICT);
    }
    if (r->nproof != 0)
      return answer(res, 400, "a proof between equal sizes must be empty",
                    GL_EINVAL);
  } else if (known && r->old > 0) {
    const char *why = NULL;
    rc = lg_verify_consistency(r->old, cp->size, root, cp->root, r->proof,
                               r->nproof, &why);
    if (rc == GL_EVERIFY) {
      keep_evidence(w, cp->origin, why, request, len);
      return answer(res, 422,
                    "consistency proof does not verify: not an "
                    "extension of the cosigned tree",
                    GL_EVERIFY);
    }
    if (rc != 0)
      return answer(res, 500, "proof verification failed", rc);
  }
  char *note = malloc(text_len + 1);
  if (!note)
    return answer(res, 500, "out of memory", GL_ENOMEM);
  memcpy(note, text, text_len);
  note[text_len] = '\0';
  rc = lg__store_wit_state_put(w->st, cp->origin, cp->size, cp->root, note,
                               gl_clock_now(w->clock));
  free(note);
  if (rc != 0)
    return answer(res, 500, "storage error", rc);
  return answer(res, 200, "cosigned", 0);
}

int lg_witness_add_checkpoint(lg_witness *w, const char *request, size_t len,
                              char **cosig, lg_witness_result *res) {
  lg_witness_result dummy;
  if (!res)
    res = &dummy;
  memset(res, 0, sizeof *res);
  *cosig = NULL;
  wit_request *r = NULL;
  lg_note *n = NULL;
  int rc;
  if (len > LG_NOTE_MAX + 64 * WITNESS_PROOF_MAX) {
    rc = answer(res, 400, "request too large", GL_EPARSE);
    goto out;
  }
  r = malloc(sizeof *r);
  n = malloc(sizeof *n);
  rc = GL_ENOMEM;
  if (!r || !n) {
    answer(res, 500, "out of memory", rc);
    goto out;
  }
  lg_checkpoint cp;
  if (parse_request(request, len, r) != 0 ||
      lg_note_parse(r->note, r->note_len, n) != 0 ||
      lg_checkpoint_parse(n->text, n->text_len, &cp) != 0) {
    rc = answer(res, 400, "malformed request or checkpoint", GL_EPARSE);
    goto out;
  }
  char vtext[LG_KEY_TEXT_MAX];
  rc = lg__store_wit_log_get(w->st, cp.origin, vtext, sizeof vtext);
  if (rc == GL_ENOENT) {
    answer(res, 404, "unknown log origin", rc);
    goto out;
  }
  lg_vkey vkey;
  if (rc == 0)
    rc = lg_vkey_parse(vtext, strlen(vtext), &vkey);
  if (rc != 0) {
    answer(res, 500, "cannot read the log's key", rc);
    goto out;
  }
  const char *why = NULL;
  if (lg_note_verify(n, &vkey, 1, NULL, NULL, &why) != 0) {
    rc = answer(res, 403, "checkpoint not signed by the log's key", GL_EPERM);
    goto out;
  }
  if (r->old > cp.size) {
    rc = answer(res, 400, "old size is above the checkpoint size", GL_EINVAL);
    goto out;
  }
  rc = lg__store_begin(w->st, true);
  if (rc != 0) {
    answer(res, 500, "storage error", rc);
    goto out;
  }
  rc = decide(w, r, &cp, n->text, n->text_len, request, len, res);
  /* Commit both a new state and any evidence; a storage failure inside
   * decide() rolls back instead. */
  int crc = res->status == 500 ? (lg__store_rollback(w->st), 0)
                               : lg__store_commit(w->st);
  if (crc != 0) {
    rc = crc;
    answer(res, 500, "storage error", rc);
    goto out;
  }
  if (rc != 0)
    goto out;
  /* Recorded first, then signed: a cosignature is never handed out for a
   * state the witness might forget. */
  char line[LG_SIGLINE_MAX];
  int64_t now = gl_clock_now(w->clock);
  uint64_t ts = now > 0 ? (uint64_t)(now / GL_NS_PER_SEC) : 0;
  rc = lg_note_sign_line(&w->key, n->text, n->text_len, ts, line, sizeof line);
  if (rc == 0) {
    *cosig = strdup(line);
    if (!*cosig)
      rc = GL_ENOMEM;
  }
  if (rc != 0)
    answer(res, 500, "signing failed", rc);
  else
    GL_INFO(COMPONENT, "cosigned %s at size %" PRIu64, cp.origin, cp.size);
out:
  account(w, res);
  free(r);
  free(n);
  return rc;
}
