/* SPDX-License-Identifier: MIT */
/*
 * checkpoint.c - tlog-checkpoint text, signing, and the k-of-n witness
 * policy. The parser is strict about the three mandatory lines (one
 * spelling of each size and root) because two spellings of the same tree
 * head would let a log show different signed bytes for one state.
 */
#include "gridlet/ledger_checkpoint.h"

#include "gridlet/error.h"
#include "gridlet/ledger_merkle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a decimal with no leading zeroes (except "0") up to INT64_MAX. */
static int parse_size(const char *s, size_t len, uint64_t *out) {
  if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
    return GL_EPARSE;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return GL_EPARSE;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX)
    return GL_EPARSE;
  *out = v;
  return 0;
}

int lg_checkpoint_parse(const char *text, size_t len, lg_checkpoint *cp) {
  if (len == 0 || text[len - 1] != '\n' || !lg_text_valid(text, len))
    return GL_EPARSE;
  const char *line[3];
  size_t line_len[3];
  size_t pos = 0;
  for (int i = 0; i < 3; i++) {
    if (pos >= len)
      return GL_EPARSE;
    const char *nl = memchr(text + pos, '\n', len - pos);
    line[i] = text + pos;
    line_len[i] = (size_t)(nl - line[i]);
    if (line_len[i] == 0)
      return GL_EPARSE;
    pos += line_len[i] + 1;
  }
  /* Extension lines must be non-empty. */
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    if (nl == text + pos)
      return GL_EPARSE;
    pos = (size_t)(nl - text) + 1;
  }
  lg_checkpoint c;
  if (line_len[0] > LG_ORIGIN_MAX)
    return GL_EPARSE;
  memcpy(c.origin, line[0], line_len[0]);
  c.origin[line_len[0]] = '\0';
  if (parse_size(line[1], line_len[1], &c.size) != 0)
    return GL_EPARSE;
  size_t root_len;
  uint8_t root[LG_HASH_LEN + 1];
  if (gl_base64_decode(line[2], line_len[2], root, sizeof root, &root_len) !=
          0 ||
      root_len != LG_HASH_LEN)
    return GL_EPARSE;
  memcpy(c.root, root, LG_HASH_LEN);
  /* The root of the empty tree is fixed (RFC 6962: SHA-256 of nothing), so
   * a size-0 checkpoint with another root names no tree at all
   * (tlog-checkpoint: the root "at the specified tree size"). */
  if (c.size == 0) {
    uint8_t empty[LG_HASH_LEN];
    if (lg_empty_root(empty) != 0 || memcmp(empty, c.root, LG_HASH_LEN) != 0)
      return GL_EPARSE;
  }
  *cp = c;
  return 0;
}

int lg_checkpoint_format(const lg_checkpoint *cp, char *buf, size_t cap,
                         size_t *len) {
  if (!lg_key_name_valid(cp->origin, strnlen(cp->origin, LG_ORIGIN_MAX + 1)) ||
      cp->size > (uint64_t)INT64_MAX)
    return GL_EINVAL;
  char root[48];
  int rc = gl_base64_encode(cp->root, LG_HASH_LEN, root, sizeof root);
  if (rc != 0)
    return rc;
  int n =
      snprintf(buf, cap, "%s\n%" PRIu64 "\n%s\n", cp->origin, cp->size, root);
  if (n < 0 || (size_t)n >= cap)
    return GL_ETOOBIG;
  if (len)
    *len = (size_t)n;
  return 0;
}

int lg_checkpoint_sign(const lg_checkpoint *cp, const lg_signer *signer,
                       char *buf, size_t cap, size_t *len) {
  if (signer->vkey.type != LG_SIG_ED25519 ||
      strcmp(signer->vkey.name, cp->origin) != 0)
    return GL_EINVAL;
  size_t text_len;
  int rc = lg_checkpoint_format(cp, buf, cap, &text_len);
  if (rc != 0)
    return rc;
  if (text_len + 1 >= cap)
    return GL_ETOOBIG;
  buf[text_len] = '\n'; /* the blank line */
  rc = lg_note_sign_line(signer, buf, text_len, 0, buf + text_len + 1,
                         cap - text_len - 1);
  if (rc != 0)
    return rc;
  if (len)
    *len = strlen(buf);
  return 0;
}

int lg_policy_verify(const lg_policy *policy, const char *note, size_t len,
                     lg_checkpoint *cp, lg_policy_result *result,
                     const char **why) {
  const char *dummy;
  if (!why)
    why = &dummy;
  if (!policy->log_key || policy->log_key->type != LG_SIG_ED25519 ||
      policy->quorum > policy->n_witnesses) {
    *why = "policy is unsatisfiable (log key missing or quorum above n)";
    return GL_EINVAL;
  }
  for (size_t i = 0; i < policy->n_witnesses; i++) {
    if (policy->witnesses[i].type != LG_SIG_COSIG_V1) {
      *why = "witness keys must be cosignature (type 0x04) keys";
      return GL_EINVAL;
    }
    /* One witness listed twice would let one cosignature line count twice
     * towards the quorum (lg_note_verify marks every matching key slot).
     * A witness is its public key: the same key under another name is
     * still one witness, so compare the keys alone. */
    for (size_t j = 0; j < i; j++) {
      if (memcmp(policy->witnesses[i].pub, policy->witnesses[j].pub,
                 sizeof policy->witnesses[i].pub) == 0) {
        *why = "the same witness key is listed twice in the policy";
        return GL_EINVAL;
      }
    }
  }
  lg_note *n = malloc(sizeof *n);
  size_t nkeys = 1 + policy->n_witnesses;
  lg_vkey *keys = malloc(nkeys * sizeof *keys);
  bool *ok = calloc(nkeys, sizeof *ok);
  uint64_t *ts = calloc(nkeys, sizeof *ts);
  int rc = GL_ENOMEM;
  if (!n || !keys || !ok || !ts)
    goto out;
  rc = lg_note_parse(note, len, n);
  if (rc != 0) {
    *why = "malformed signed note";
    goto out;
  }
  keys[0] = *policy->log_key;
  if (policy->n_witnesses)
    memcpy(keys + 1, policy->witnesses,
           policy->n_witnesses * sizeof *policy->witnesses);
  rc = lg_note_verify(n, keys, nkeys, ok, ts, why);
  if (rc != 0)
    goto out;
  if (!ok[0]) {
    rc = GL_EVERIFY;
    *why = "checkpoint is not signed by the log key";
    goto out;
  }
  lg_policy_result r = {0, 0};
  for (size_t i = 1; i < nkeys; i++) {
    if (ok[i]) {
      r.witnesses_ok++;
      if (ts[i] > r.newest_cosig_time)
        r.newest_cosig_time = ts[i];
    }
  }
  if (r.witnesses_ok < policy->quorum) {
    rc = GL_EVERIFY;
    *why = "too few witness cosignatures for the policy";
    goto out;
  }
  rc = lg_checkpoint_parse(n->text, n->text_len, cp);
  if (rc != 0) {
    *why = "note text is not a checkpoint";
    goto out;
  }
  if (strcmp(cp->origin, policy->log_key->name) != 0) {
    rc = GL_EVERIFY;
    *why = "checkpoint origin does not match the log key name";
    goto out;
  }
  if (result)
    *result = r;
out:
  if (rc == GL_ENOMEM)
    *why = "out of memory";
  free(n);
  free(keys);
  free(ok);
  free(ts);
  return rc;
}
