/* SPDX-License-Identifier: MIT */
/*
 * samples.h - one fixed, fully populated example of every message type,
 * and the example keys. The same messages appear (sealed, in hex) in
 * docs/protocol.md; test_proto_docs checks that the page still matches.
 */
#ifndef GRIDLET_TEST_PROTO_SAMPLES_H
#define GRIDLET_TEST_PROTO_SAMPLES_H

#include "gridlet/proto.h"

/* Seeds 00 01 .. 1f (meter "meter-17") and 20 21 .. 3f ("aggregator"):
 * the same keys as tests/data/proto/cose_vectors.py. */
void sample_meter_key(gl_ed25519_key *key);
void sample_aggregator_key(gl_ed25519_key *key);

/* A keyring knowing both sample keys (static storage; thread-safe). */
pr_keyring sample_keyring(void);

/* sample_msg - fill `m` with the example of `type`. */
void sample_msg(pr_type type, pr_msg *m);

/* sample_max_msg - fill `m` with the largest valid message of `type`
 * (every optional field, every array full, longest strings, widest
 * numbers). */
void sample_max_msg(pr_type type, pr_msg *m);

/* A time in ns from "YYYY-MM-DDTHH:MM:SSZ" (aborts on bad input). */
int64_t sample_time(const char *rfc3339);

#endif
