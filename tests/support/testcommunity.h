/* SPDX-License-Identifier: MIT */
/*
 * testcommunity.h - a throw-away community with a real TLS broker, for
 * integration and system tests.
 *
 * gt_community_start builds a development community (CA, broker and
 * aggregator identities, N enrolled meters: gridlet/pki_dev.h) in a temp
 * dir and starts mosquitto from its generated configuration (TLS 1.3,
 * client certificates, per-meter ACL, CRL) on a free loopback port,
 * tracked by PID. Everything is real; nothing is mocked.
 */
#ifndef GRIDLET_TESTCOMMUNITY_H
#define GRIDLET_TESTCOMMUNITY_H

#include "testutil.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct gt_community {
  char root[GT_PATH_MAX]; /* temp dir; the community is in root/community */
  char dir[GT_PATH_MAX];  /* root/community */
  char community[32];     /* its name */
  unsigned meters;
  uint16_t port;
  pid_t broker;
  char uri[64]; /* "mqtts://127.0.0.1:<port>" */
  char broker_log[GT_PATH_MAX];
} gt_community;

/* Paths of one identity's files. */
typedef struct gt_identity {
  char id[64];
  char cert[GT_PATH_MAX], key[GT_PATH_MAX], ca[GT_PATH_MAX];
} gt_identity;

/* gt_community_start - build the community and start its broker. Aborts
 * the test with the broker's log if anything fails. */
void gt_community_start(gt_community *c, const char *tag, unsigned meters);

/* gt_community_meter - identity of meter i (1-based). */
void gt_community_meter(const gt_community *c, unsigned i, gt_identity *out);

/* gt_community_aggregator - the aggregator's identity. */
void gt_community_aggregator(const gt_community *c, gt_identity *out);

/* gt_community_broker_start / _stop / _kill9 - control the broker (the
 * same port and configuration each time). */
void gt_community_broker_start(gt_community *c);
void gt_community_broker_stop(gt_community *c);
void gt_community_broker_kill9(gt_community *c);

/* gt_community_stop - stop the broker and remove the temp dir. */
void gt_community_stop(gt_community *c);

#endif
