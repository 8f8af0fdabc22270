/* SPDX-License-Identifier: MIT */
/*
 * seal.c - pr_seal and pr_open: the message pipeline in both directions,
 * and the fixed-table keyring.
 */
#include "gridlet/pr_seal.h"

#include "gridlet/error.h"

#include <stdlib.h>
#include <string.h>

/* ---- Fixed-table keyring ----------------------------------------------- */

static int table_lookup(void *ctx, const char *kid,
                        uint8_t pub[GL_ED25519_PUB_LEN]) {
  const pr_key_table *t = ctx;
  for (size_t i = 0; t != NULL && i < t->n; i++) {
    if (t->entries[i].kid != NULL && strcmp(t->entries[i].kid, kid) == 0) {
      if (t->entries[i].revoked)
        return GL_EREVOKED;
      memcpy(pub, t->entries[i].pub, GL_ED25519_PUB_LEN);
      return 0;
    }
  }
  return GL_ENOENT;
}

static const pr_keyring_ops table_ops = {table_lookup};

pr_keyring pr_key_table_keyring(const pr_key_table *table) {
  return (pr_keyring){&table_ops, (void *)table};
}

/* ---- Seal -------------------------------------------------------------- */

size_t pr_seal_max(pr_type type) {
  size_t limit = pr_type_max_payload(type);
  return limit == 0 ? 0 : limit + PR_COSE_OVERHEAD_MAX;
}

/* Payloads of types up to this limit are encoded on the stack. */
#define SEAL_STACK 4096

int pr_seal(const pr_msg *m, const gl_ed25519_key *key, uint8_t *out,
            size_t cap, size_t *out_len, pr_diag *d) {
  pr_diag_clear(d);
  if (m == NULL || key == NULL || out == NULL || out_len == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "seal: missing argument");
  size_t limit = pr_type_max_payload(m->type);
  if (limit == 0)
    return pr_diag_set(d, PR_R_INVALID, GL_EINVAL,
                       "type: not a message type (%d)", (int)m->type);
  char stack[SEAL_STACK], *json = stack;
  if (limit > sizeof stack) {
    json = malloc(limit);
    if (json == NULL)
      return pr_diag_set(d, PR_R_INTERNAL, GL_ENOMEM, "seal: out of memory");
  }
  size_t n;
  int rc = pr_msg_encode(m, json, limit, &n, d);
  if (rc == 0) {
    rc = pr_cose_sign(key, m->sender, strlen(m->sender), json, n, out, cap,
                      out_len);
    if (rc == GL_ETOOBIG)
      pr_diag_set(d, PR_R_OVERSIZE, rc,
                  "seal: output buffer of %zu bytes is too small (need %zu)",
                  cap, pr_cose_size(strlen(m->sender), n));
    else if (rc != 0)
      pr_diag_set(d, PR_R_INTERNAL, rc, "seal: signing failed: %s",
                  gl_strerror(rc));
  }
  if (json != stack)
    free(json);
  return rc;
}

/* ---- Open -------------------------------------------------------------- */

static size_t topic_limit(const pr_topic *topic) {
  if (topic == NULL)
    return PR_PAYLOAD_MAX;
  size_t limit = 0;
  uint32_t types = pr_topic_types(topic->kind);
  for (int t = 1; t < PR_MSG_COUNT; t++)
    if ((types & PR_TYPE_BIT(t)) && pr_type_max_payload((pr_type)t) > limit)
      limit = pr_type_max_payload((pr_type)t);
  return limit;
}

static int key_error(int rc, const char *kid, pr_diag *d) {
  switch (rc) {
  case GL_ENOENT:
    return pr_diag_set(d, PR_R_UNKNOWN_KEY, rc,
                       "kid \"%s\": no key enrolled for this sender", kid);
  case GL_EREVOKED:
    return pr_diag_set(d, PR_R_REVOKED, rc, "kid \"%s\": key revoked", kid);
  case GL_EEXPIRED:
    return pr_diag_set(d, PR_R_KEY_EXPIRED, rc,
                       "kid \"%s\": certificate expired or not yet valid", kid);
  default:
    return pr_diag_set(d, PR_R_INTERNAL, rc,
                       "kid \"%s\": key lookup failed: %s", kid,
                       gl_strerror(rc));
  }
}

static int open_msg(const uint8_t *buf, size_t len, const pr_topic *topic,
                    const pr_keyring *keys, pr_msg *m, pr_cose_view *v,
                    pr_diag *d) {
  if (topic != NULL && pr_topic_types(topic->kind) == 0)
    return pr_diag_set(d, PR_R_BAD_TOPIC, GL_EINVAL,
                       "topic: not a parsed gridlet topic");
  int rc = pr_cose_parse(buf, len, topic_limit(topic), v, d);
  if (rc != 0)
    return rc;
  /* kid_len <= PR_ID_MAX: pr_cose_parse accepted it as a sender id. */
  char kid[PR_ID_MAX + 1];
  memcpy(kid, v->kid, v->kid_len);
  kid[v->kid_len] = '\0';

  if (topic != NULL) {
    const char *expect =
        pr_topic_from_meter(topic->kind) ? topic->id : PR_AGGREGATOR_ID;
    if (strcmp(kid, expect) != 0)
      return pr_diag_set(d, PR_R_SENDER_MISMATCH, GL_EPERM,
                         "kid \"%s\" may not publish on this topic (only "
                         "\"%s\" may)",
                         kid, expect);
  }

  if (keys == NULL || keys->ops == NULL || keys->ops->lookup == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "open: no keyring");
  uint8_t pub[GL_ED25519_PUB_LEN];
  rc = keys->ops->lookup(keys->ctx, kid, pub);
  if (rc != 0)
    return key_error(rc, kid, d);
  if ((rc = pr_cose_verify(v, pub, d)) != 0)
    return rc;

  uint32_t allowed = topic != NULL ? pr_topic_types(topic->kind) : PR_TYPES_ANY;
  rc = pr_msg_decode((const char *)v->payload, v->payload_len, allowed, m, d);
  if (rc != 0)
    return rc;
  if (strcmp(m->sender, kid) != 0)
    return pr_diag_set(d, PR_R_SENDER_MISMATCH, GL_EPERM,
                       "sender: \"%s\" but the message is signed by kid "
                       "\"%s\"",
                       m->sender, kid);
  if (topic != NULL &&
      (m->type == PR_MSG_RESULT || m->type == PR_MSG_PROOF_RESPONSE)) {
    const char *meter =
        m->type == PR_MSG_RESULT ? m->result.meter : m->proof_response.meter;
    if (strcmp(meter, topic->id) != 0)
      return pr_diag_set(d, PR_R_SENDER_MISMATCH, GL_EPERM,
                         "meter: \"%s\" but the topic is meter \"%s\"'s", meter,
                         topic->id);
  }
  return 0;
}

int pr_open(const uint8_t *buf, size_t len, const pr_topic *topic,
            const pr_keyring *keys, pr_msg *m, pr_cose_view *view, pr_diag *d) {
  pr_diag_clear(d);
  if (buf == NULL || m == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "open: missing argument");
  pr_cose_view local;
  pr_cose_view *v = view != NULL ? view : &local;
  memset(v, 0, sizeof *v);
  int rc = open_msg(buf, len, topic, keys, m, v, d);
  if (rc != 0) {
    memset(m, 0, sizeof *m);
    memset(v, 0, sizeof *v);
  }
  return rc;
}
