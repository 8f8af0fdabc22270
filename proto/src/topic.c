/* SPDX-License-Identifier: MIT */
/*
 * topic.c - building and parsing topics of the tree in gridlet/pr_topic.h.
 */
#include "gridlet/pr_topic.h"

#include "gridlet/error.h"
#include "gridlet/pr_msg.h"

#include <stdio.h>
#include <string.h>

typedef struct topic_def {
  const char *section; /* "meter", "result" or "public" */
  const char *leaf;
  const char *name;
  uint32_t types;
  bool retained;
} topic_def;

static const topic_def defs[PR_TOPIC_COUNT] = {
    [PR_TOPIC_READING] = {"meter", "reading", "reading",
                          PR_TYPE_BIT(PR_MSG_READING), false},
    [PR_TOPIC_ORDER] = {"meter", "order", "order",
                        PR_TYPE_BIT(PR_MSG_ORDER) | PR_TYPE_BIT(PR_MSG_PREFS),
                        false},
    [PR_TOPIC_STATUS] = {"meter", "status", "status",
                         PR_TYPE_BIT(PR_MSG_STATUS), true},
    [PR_TOPIC_PROOF_REQUEST] = {"meter", "proof", "proof_request",
                                PR_TYPE_BIT(PR_MSG_PROOF_REQUEST), false},
    [PR_TOPIC_RESULT] = {"result", "interval", "result",
                         PR_TYPE_BIT(PR_MSG_RESULT), false},
    [PR_TOPIC_PROOF_RESPONSE] = {"result", "proof", "proof_response",
                                 PR_TYPE_BIT(PR_MSG_PROOF_RESPONSE), false},
    [PR_TOPIC_SUMMARY] = {"public", "summary", "summary",
                          PR_TYPE_BIT(PR_MSG_SUMMARY), false},
    [PR_TOPIC_CHECKPOINT] = {"public", "checkpoint", "checkpoint",
                             PR_TYPE_BIT(PR_MSG_CHECKPOINT), true},
};

static bool valid_kind(pr_topic_kind k) {
  return k > PR_TOPIC_NONE && k < PR_TOPIC_COUNT;
}

static bool is_public(pr_topic_kind k) {
  return strcmp(defs[k].section, "public") == 0;
}

uint32_t pr_topic_types(pr_topic_kind kind) {
  return valid_kind(kind) ? defs[kind].types : 0;
}

bool pr_topic_from_meter(pr_topic_kind kind) {
  return valid_kind(kind) && strcmp(defs[kind].section, "meter") == 0;
}

bool pr_topic_retained(pr_topic_kind kind) {
  return valid_kind(kind) && defs[kind].retained;
}

const char *pr_topic_kind_name(pr_topic_kind kind) {
  return valid_kind(kind) ? defs[kind].name : NULL;
}

/* snprintf into buf; GL_ETOOBIG when it does not fit. */
static int fit(int n, size_t cap) {
  return (n < 0 || (size_t)n >= cap) ? GL_ETOOBIG : 0;
}

static int build(pr_topic_kind kind, const char *community, const char *id,
                 bool wildcard, char *buf, size_t cap) {
  if (!valid_kind(kind) || buf == NULL || !pr_community_valid(community))
    return GL_EINVAL;
  if (is_public(kind))
    return fit(snprintf(buf, cap, PR_TOPIC_ROOT "/%s/public/%s", community,
                        defs[kind].leaf),
               cap);
  if (wildcard)
    id = "+";
  else if (id == NULL || !pr_meter_id_valid(id, strlen(id)))
    return GL_EINVAL;
  return fit(snprintf(buf, cap, PR_TOPIC_ROOT "/%s/%s/%s/%s", community,
                      defs[kind].section, id, defs[kind].leaf),
             cap);
}

int pr_topic_build(pr_topic_kind kind, const char *community, const char *id,
                   char *buf, size_t cap) {
  return build(kind, community, id, false, buf, cap);
}

int pr_topic_filter(pr_topic_kind kind, const char *community, const char *id,
                    char *buf, size_t cap) {
  return build(kind, community, id, id == NULL, buf, cap);
}

int pr_topic_filter_ingest(const char *community, char *buf, size_t cap) {
  if (buf == NULL || !pr_community_valid(community))
    return GL_EINVAL;
  return fit(snprintf(buf, cap, PR_TOPIC_ROOT "/%s/meter/+/+", community), cap);
}

int pr_topic_filter_inbox(const char *community, const char *id, char *buf,
                          size_t cap) {
  if (buf == NULL || !pr_community_valid(community) || id == NULL ||
      !pr_meter_id_valid(id, strlen(id)))
    return GL_EINVAL;
  return fit(snprintf(buf, cap, PR_TOPIC_ROOT "/%s/result/%s/#", community, id),
             cap);
}

int pr_topic_filter_public(const char *community, char *buf, size_t cap) {
  if (buf == NULL || !pr_community_valid(community))
    return GL_EINVAL;
  return fit(snprintf(buf, cap, PR_TOPIC_ROOT "/%s/public/#", community), cap);
}

/* ---- Parsing ----------------------------------------------------------- */

#define MAX_LEVELS 5

typedef struct level {
  const char *p;
  size_t n;
} level;

static bool level_is(const level *l, const char *s) {
  return l->n == strlen(s) && memcmp(l->p, s, l->n) == 0;
}

static int bad(pr_diag *d, const char *why) {
  return pr_diag_set(d, PR_R_BAD_TOPIC, GL_EPARSE, "topic: %s", why);
}

int pr_topic_parse(const char *topic, size_t len, const char *community,
                   pr_topic *out, pr_diag *d) {
  pr_diag_clear(d);
  if (out == NULL || topic == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "topic: none given");
  memset(out, 0, sizeof *out);
  if (len >= PR_TOPIC_MAX)
    return bad(d, "too long for the gridlet tree");
  if (memchr(topic, '\0', len) != NULL)
    return bad(d, "contains a NUL byte");
  static const char root[] = PR_TOPIC_ROOT "/";
  if (len < sizeof root - 1 || memcmp(topic, root, sizeof root - 1) != 0)
    return bad(d, "not under " PR_TOPIC_ROOT "/<community>/");
  level lv[MAX_LEVELS];
  size_t nlv = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || topic[i] == '/') {
      if (nlv == MAX_LEVELS)
        return bad(d, "too many levels");
      lv[nlv++] = (level){topic + start, i - start};
      start = i + 1;
    }
  }
  if (nlv < 4 || !level_is(&lv[0], PR_TOPIC_ROOT))
    return bad(d, "not under " PR_TOPIC_ROOT "/<community>/");
  char comm[PR_COMMUNITY_MAX + 1];
  if (lv[1].n == 0 || lv[1].n > PR_COMMUNITY_MAX)
    return bad(d, "invalid community name");
  memcpy(comm, lv[1].p, lv[1].n);
  comm[lv[1].n] = '\0';
  if (!pr_community_valid(comm))
    return bad(d, "invalid community name");
  if (community != NULL && strcmp(comm, community) != 0)
    return bad(d, "belongs to another community");

  const level *section = &lv[2], *id = NULL, *leaf;
  if (level_is(section, "public")) {
    if (nlv != 4)
      return bad(d, "public topics have exactly four levels");
    leaf = &lv[3];
  } else if (level_is(section, "meter") || level_is(section, "result")) {
    if (nlv != 5)
      return bad(d, "meter and result topics have exactly five levels");
    id = &lv[3];
    leaf = &lv[4];
    if (!pr_meter_id_valid(id->p, id->n))
      return bad(d, "invalid meter id");
  } else {
    return bad(d, "unknown section (meter, result or public)");
  }
  for (int k = 1; k < PR_TOPIC_COUNT; k++) {
    if (level_is(section, defs[k].section) && level_is(leaf, defs[k].leaf)) {
      out->kind = (pr_topic_kind)k;
      memcpy(out->community, comm, strlen(comm) + 1);
      if (id != NULL) {
        memcpy(out->id, id->p, id->n);
        out->id[id->n] = '\0';
      }
      return 0;
    }
  }
  return bad(d, "unknown topic in its section");
}
