/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_seal.h - the two calls most code needs: seal a message
 * (struct -> JSON -> signed COSE_Sign1 bytes) and open one (bytes ->
 * verified payload -> struct), with one rejection reason per failure.
 *
 * pr_open checks, cheapest first, and stops at the first failure:
 *   1. size against the limit of the topic's message types   oversize
 *   2. strict COSE_Sign1 structure, EdDSA only     malformed, unsupported_alg
 *   3. kid is the identity the topic allows         sender_mismatch
 *      (meter/<id>/...: <id>; result/ and public/: "aggregator")
 *   4. key lookup through the caller's keyring   unknown_key, revoked,
 *                                                key_expired
 *   5. Ed25519 signature over the exact payload     bad_signature
 *   6. JSON payload: version, type allowed on the topic, schema
 *                                 wrong_version, wrong_type, invalid, ...
 *   7. payload "sender" equals the kid; a result's or proof response's
 *      "meter" equals the topic's id               sender_mismatch
 * The signature is checked before the JSON is parsed, so unauthenticated
 * bytes never reach the JSON parser. What pr_open does not check is state:
 * sequence numbers, duplicates, timestamp windows and physical
 * plausibility belong to the receiver.
 *
 * Thread-safety: both calls are reentrant; pr_open may run on many threads
 * at once when the keyring's lookup may.
 */
#ifndef GRIDLET_PR_SEAL_H
#define GRIDLET_PR_SEAL_H

#include "gridlet/crypto.h"
#include "gridlet/pr_cose.h"
#include "gridlet/pr_diag.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Keyrings ---------------------------------------------------------- */

typedef struct pr_keyring_ops {
  /*
   * Find the Ed25519 public key of sender `kid` (a NUL-terminated valid
   * sender id). Returns 0 with `pub` filled, GL_ENOENT (no such sender
   * enrolled), GL_EREVOKED (revoked), GL_EEXPIRED (certificate outside its
   * validity) or any other GL_E* on an internal failure.
   */
  int (*lookup)(void *ctx, const char *kid, uint8_t pub[GL_ED25519_PUB_LEN]);
} pr_keyring_ops;

/*
 * The seam through which pr_open learns keys: the aggregator plugs in its
 * enrolment state, a meter a table with the aggregator's key. A value;
 * the context is borrowed.
 */
typedef struct pr_keyring {
  const pr_keyring_ops *ops;
  void *ctx;
} pr_keyring;

/* One entry of a fixed key table. */
typedef struct pr_key_entry {
  const char *kid; /* borrowed */
  uint8_t pub[GL_ED25519_PUB_LEN];
  bool revoked;
} pr_key_entry;

typedef struct pr_key_table {
  const pr_key_entry *entries; /* borrowed */
  size_t n;
} pr_key_table;

/*
 * pr_key_table_keyring - a keyring over a fixed table (meters, tools,
 * tests). The table is borrowed and must outlive the keyring; lookups are
 * a linear scan and thread-safe while nobody modifies the table.
 */
pr_keyring pr_key_table_keyring(const pr_key_table *table);

/* ---- Seal and open ----------------------------------------------------- */

/* Room for the sealed form of any message. */
#define PR_SEAL_MAX PR_COSE_MAX

/*
 * pr_seal_max - bytes enough for the sealed form of a message of `type`
 * from a sender id of up to PR_ID_MAX bytes (0 for an unknown type).
 */
size_t pr_seal_max(pr_type type);

/*
 * pr_seal - validate and encode `m`, then sign its payload with `key`
 * under kid = m->sender, writing the COSE_Sign1 bytes to `out` (`cap`
 * bytes; pr_seal_max(m->type) is always enough). The caller must pass the
 * key that belongs to m->sender; the library cannot tell. Returns 0,
 * GL_EINVAL (invalid message; `d` names the field), GL_ETOOBIG (`out` too
 * small), GL_ENOMEM or GL_ECRYPTO. Borrows everything.
 */
int pr_seal(const pr_msg *m, const gl_ed25519_key *key, uint8_t *out,
            size_t cap, size_t *out_len, pr_diag *d);

/*
 * pr_open - verify and decode the message of `len` bytes at `buf`,
 * received on `topic` (NULL: no topic constraints, e.g. a message read
 * back from storage or received over HTTP; then any type is accepted and
 * no id is compared with a topic). Keys come from `keys`. On success `m`
 * holds the message and, when `view` is not NULL, `view` points at the
 * envelope's parts inside `buf` (the exact payload bytes, to store or
 * hash). Returns 0 or a GL_E* code with `d` (may be NULL) giving the
 * reason and a message (see the list at the top of this file); `m` is all
 * zero on failure.
 */
int pr_open(const uint8_t *buf, size_t len, const pr_topic *topic,
            const pr_keyring *keys, pr_msg *m, pr_cose_view *view, pr_diag *d);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_SEAL_H */
