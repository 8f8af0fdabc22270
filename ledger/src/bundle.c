/* SPDX-License-Identifier: MIT */
/*
 * bundle.c - C2SP tlog-proof bundles: parse, format, verify.
 */
#include "gridlet/ledger_bundle.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next line of text[*pos..len) without its newline; GL_EPARSE when
 * there is no newline left. */
static int next_line(const char *text, size_t len, size_t *pos,
                     const char **line, size_t *line_len) {
  if (*pos >= len)
    return GL_EPARSE;
  const char *nl = memchr(text + *pos, '\n', len - *pos);
  if (!nl)
    return GL_EPARSE;
  *line = text + *pos;
  *line_len = (size_t)(nl - *line);
  *pos += *line_len + 1;
  return 0;
}

static bool starts_with(const char *line, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(line, prefix, n) == 0;
}

static int parse_index(const char *s, size_t len, uint64_t *out) {
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

void lg_bundle_clear(lg_bundle *b) {
  free(b->extra);
  b->extra = NULL;
  b->extra_len = 0;
}

int lg_bundle_parse(const char *text, size_t len, lg_bundle *b) {
  b->index = 0;
  b->nproof = 0;
  b->extra = NULL;
  b->extra_len = 0;
  b->checkpoint = NULL;
  b->checkpoint_len = 0;
  if (len > LG_BUNDLE_MAX)
    return GL_ETOOBIG;
  size_t pos = 0;
  const char *line;
  size_t line_len;
  if (next_line(text, len, &pos, &line, &line_len) != 0 ||
      line_len != strlen(LG_BUNDLE_HEADER) ||
      memcmp(line, LG_BUNDLE_HEADER, line_len) != 0)
    return GL_EPARSE;
  if (next_line(text, len, &pos, &line, &line_len) != 0)
    return GL_EPARSE;
  if (starts_with(line, line_len, "extra ")) {
    size_t b64_len = line_len - 6;
    if (b64_len == 0 || b64_len > gl_base64_len(LG_BUNDLE_EXTRA_MAX))
      return GL_EPARSE;
    size_t cap = b64_len / 4 * 3 + 1;
    b->extra = malloc(cap);
    if (!b->extra)
      return GL_ENOMEM;
    if (gl_base64_decode(line + 6, b64_len, b->extra, cap, &b->extra_len) != 0)
      return GL_EPARSE;
    if (next_line(text, len, &pos, &line, &line_len) != 0)
      return GL_EPARSE;
  }
  if (!starts_with(line, line_len, "index ") ||
      parse_index(line + 6, line_len - 6, &b->index) != 0)
    return GL_EPARSE;
  for (;;) {
    if (next_line(text, len, &pos, &line, &line_len) != 0)
      return GL_EPARSE;
    if (line_len == 0)
      break;
    if (b->nproof == LG_PROOF_MAX)
      return GL_EPARSE;
    uint8_t h[LG_HASH_LEN + 1];
    size_t hl;
    if (gl_base64_decode(line, line_len, h, sizeof h, &hl) != 0 ||
        hl != LG_HASH_LEN)
      return GL_EPARSE;
    memcpy(b->proof[b->nproof++].b, h, LG_HASH_LEN);
  }
  if (pos >= len)
    return GL_EPARSE; /* no checkpoint */
  b->checkpoint = text + pos;
  b->checkpoint_len = len - pos;
  return 0;
}

int lg_bundle_format(uint64_t index, const lg_hash *proof, size_t nproof,
                     const void *extra, size_t extra_len,
                     const char *checkpoint, size_t checkpoint_len, char **out,
                     size_t *out_len) {
  if (nproof > LG_PROOF_MAX || index > (uint64_t)INT64_MAX ||
      (extra && (extra_len == 0 || extra_len > LG_BUNDLE_EXTRA_MAX)))
    return GL_EINVAL;
  size_t cap =
      strlen(LG_BUNDLE_HEADER) + 1 + 32 + nproof * 46 + 2 + checkpoint_len + 1;
  if (extra)
    cap += 7 + gl_base64_len(extra_len);
  char *s = malloc(cap);
  if (!s)
    return GL_ENOMEM;
  size_t n = 0;
  n += (size_t)snprintf(s + n, cap - n, "%s\n", LG_BUNDLE_HEADER);
  if (extra) {
    memcpy(s + n, "extra ", 6);
    n += 6;
    if (gl_base64_encode(extra, extra_len, s + n, cap - n) != 0) {
      free(s);
      return GL_ETOOBIG;
    }
    n += strlen(s + n);
    s[n++] = '\n';
  }
  n += (size_t)snprintf(s + n, cap - n, "index %" PRIu64 "\n", index);
  for (size_t i = 0; i < nproof; i++) {
    if (gl_base64_encode(proof[i].b, LG_HASH_LEN, s + n, cap - n) != 0) {
      free(s);
      return GL_ETOOBIG;
    }
    n += strlen(s + n);
    s[n++] = '\n';
  }
  s[n++] = '\n';
  memcpy(s + n, checkpoint, checkpoint_len);
  n += checkpoint_len;
  s[n] = '\0';
  *out = s;
  if (out_len)
    *out_len = n;
  return 0;
}

int lg_bundle_verify(const lg_bundle *b, const lg_policy *policy,
                     const uint8_t *leaf_hash, lg_checkpoint *cp,
                     const char **why) {
  const char *dummy;
  if (!why)
    why = &dummy;
  uint8_t lh[LG_HASH_LEN];
  if (!leaf_hash) {
    if (!b->extra) {
      *why = "no leaf hash given and the bundle carries no entry";
      return GL_EINVAL;
    }
    int rc = lg_leaf_hash(b->extra, b->extra_len, lh);
    if (rc != 0)
      return rc;
    leaf_hash = lh;
  }
  lg_checkpoint c;
  int rc =
      lg_policy_verify(policy, b->checkpoint, b->checkpoint_len, &c, NULL, why);
  if (rc != 0)
    return rc;
  rc = lg_verify_inclusion(leaf_hash, b->index, c.size, b->proof, b->nproof,
                           c.root, why);
  if (rc != 0)
    return rc;
  if (cp)
    *cp = c;
  return 0;
}
