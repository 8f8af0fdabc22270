/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_topic.h - the MQTT topic tree.
 *
 *   gridlet/<community>/meter/<id>/reading    meter -> aggregator
 *   gridlet/<community>/meter/<id>/order      meter -> aggregator
 *   gridlet/<community>/meter/<id>/status     meter, retained (last will)
 *   gridlet/<community>/meter/<id>/proof      meter -> aggregator requests
 *   gridlet/<community>/result/<id>/interval  aggregator -> meter <id>
 *   gridlet/<community>/result/<id>/proof     aggregator -> meter <id>
 *   gridlet/<community>/public/summary        aggregator -> everyone
 *   gridlet/<community>/public/checkpoint     aggregator, retained
 *
 * All at QoS 1. The broker's ACL lets a meter write only below
 * meter/<its CN>/ and read only result/<its CN>/ and public/, so the id in
 * a topic is the identity the broker authenticated; pr_open checks that
 * the COSE kid agrees with it.
 *
 * Parsing accepts exactly these shapes (no wildcards, no empty levels, no
 * extra levels, valid names) and yields the kind and the meter id; anything
 * else is PR_R_BAD_TOPIC. All functions are pure and thread-safe.
 */
#ifndef GRIDLET_PR_TOPIC_H
#define GRIDLET_PR_TOPIC_H

#include "gridlet/pr_diag.h"
#include "gridlet/pr_ident.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest topic or filter the tree can produce, with its NUL. */
#define PR_TOPIC_MAX 128

#define PR_TOPIC_ROOT "gridlet"

typedef enum pr_topic_kind {
  PR_TOPIC_NONE = 0,
  PR_TOPIC_READING,        /* meter/<id>/reading */
  PR_TOPIC_ORDER,          /* meter/<id>/order */
  PR_TOPIC_STATUS,         /* meter/<id>/status (retained) */
  PR_TOPIC_PROOF_REQUEST,  /* meter/<id>/proof */
  PR_TOPIC_RESULT,         /* result/<id>/interval */
  PR_TOPIC_PROOF_RESPONSE, /* result/<id>/proof */
  PR_TOPIC_SUMMARY,        /* public/summary */
  PR_TOPIC_CHECKPOINT,     /* public/checkpoint (retained) */
  PR_TOPIC_COUNT
} pr_topic_kind;

/* A parsed topic. */
typedef struct pr_topic {
  pr_topic_kind kind;
  char community[PR_COMMUNITY_MAX + 1];
  char id[PR_ID_MAX + 1]; /* the meter id; "" for public topics */
} pr_topic;

/*
 * pr_topic_build - the topic of `kind` for `community` and meter `id`
 * (ignored, may be NULL, for public kinds) into `buf` of `cap` bytes.
 * Returns 0, GL_EINVAL (bad kind, community or id) or GL_ETOOBIG.
 */
int pr_topic_build(pr_topic_kind kind, const char *community, const char *id,
                   char *buf, size_t cap);

/*
 * pr_topic_parse - parse a received topic of `len` bytes (not necessarily
 * NUL-terminated) into `out`. When `community` is not NULL the topic must
 * belong to it. Returns 0, or GL_EPARSE with PR_R_BAD_TOPIC in `d` (may
 * be NULL).
 */
int pr_topic_parse(const char *topic, size_t len, const char *community,
                   pr_topic *out, pr_diag *d);

/*
 * pr_topic_filter - a subscription filter for one kind with the meter id
 * replaced by '+' when `id` is NULL (the aggregator's
 * "gridlet/c1/meter/+/reading"); with an id it equals the topic. Returns
 * as pr_topic_build.
 */
int pr_topic_filter(pr_topic_kind kind, const char *community, const char *id,
                    char *buf, size_t cap);

/* pr_topic_filter_ingest - "gridlet/<c>/meter/+/+": all meter topics. */
int pr_topic_filter_ingest(const char *community, char *buf, size_t cap);

/* pr_topic_filter_inbox - "gridlet/<c>/result/<id>/#": one meter's inbox. */
int pr_topic_filter_inbox(const char *community, const char *id, char *buf,
                          size_t cap);

/* pr_topic_filter_public - "gridlet/<c>/public/#". */
int pr_topic_filter_public(const char *community, char *buf, size_t cap);

/*
 * pr_topic_types - the set of message types (PR_TYPE_BIT of pr_type, see
 * gridlet/pr_msg.h) a topic of `kind` carries; 0 for an unknown kind.
 */
uint32_t pr_topic_types(pr_topic_kind kind);

/* pr_topic_from_meter - true for the four meter/<id>/ kinds. */
bool pr_topic_from_meter(pr_topic_kind kind);

/* pr_topic_retained - true for the kinds published with the retain flag. */
bool pr_topic_retained(pr_topic_kind kind);

/* pr_topic_kind_name - "reading", "result", ... ; NULL when unknown. */
const char *pr_topic_kind_name(pr_topic_kind kind);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_TOPIC_H */
