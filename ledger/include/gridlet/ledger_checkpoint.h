/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_checkpoint.h - C2SP tlog-checkpoint bodies and the
 * verifier policy "log key + k of n witnesses".
 *
 * A checkpoint (c2sp.org/tlog-checkpoint) is a signed note whose text is
 *
 *     <origin>\n            e.g. "gridlet/oakfield"
 *     <tree size>\n         ASCII decimal, no leading zeroes
 *     <base64 root hash>\n  the RFC 9162 root at that size
 *     [<extension line>\n]  optional, non-empty; gridlet writes none
 *
 * signed by the log's Ed25519 key (signature type 0x01, key name = origin)
 * and optionally cosigned by witnesses (type 0x04). A verifier trusts a
 * checkpoint when the log's signature verifies and at least `quorum` of
 * its configured witnesses cosigned it.
 *
 * Parsers borrow nothing: the parsed checkpoint is a self-contained value.
 * All functions are thread-safe.
 */
#ifndef GRIDLET_LEDGER_CHECKPOINT_H
#define GRIDLET_LEDGER_CHECKPOINT_H

#include "gridlet/ledger_merkle.h"
#include "gridlet/ledger_note.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_ORIGIN_MAX 255
/* Room for a checkpoint text without extension lines. */
#define LG_CHECKPOINT_TEXT_MAX (LG_ORIGIN_MAX + 80)

typedef struct lg_checkpoint {
  char origin[LG_ORIGIN_MAX + 1];
  uint64_t size;
  uint8_t root[LG_HASH_LEN];
} lg_checkpoint;

/*
 * lg_checkpoint_parse - parse a checkpoint note text (`len` bytes ending
 * in a newline: the text part of a note, not its signatures). Extension
 * lines are checked to be non-empty and otherwise ignored. Returns 0 or
 * GL_EPARSE (bad origin, size with leading zeroes or above 2^63 - 1,
 * root that is not the base64 of 32 bytes, size 0 with a root other than
 * the empty tree's, missing lines).
 */
int lg_checkpoint_parse(const char *text, size_t len, lg_checkpoint *cp);

/*
 * lg_checkpoint_format - the text of `cp` into `buf` of `cap` bytes
 * (NUL-terminated); *len (may be NULL) gets its length. The origin must be
 * a valid key name (non-empty, no spaces, no '+'), as gridlet uses the
 * origin as the log key's name. Returns 0, GL_EINVAL or GL_ETOOBIG.
 */
int lg_checkpoint_format(const lg_checkpoint *cp, char *buf, size_t cap,
                         size_t *len);

/*
 * lg_checkpoint_sign - format `cp` and sign it with the log key `signer`
 * (type 0x01, named like the origin): the whole signed note into `buf`
 * (NUL-terminated, LG_CHECKPOINT_TEXT_MAX + LG_SIGLINE_MAX suffices).
 * Returns 0, GL_EINVAL (key type or name does not fit the origin),
 * GL_ETOOBIG or GL_ECRYPTO.
 */
int lg_checkpoint_sign(const lg_checkpoint *cp, const lg_signer *signer,
                       char *buf, size_t cap, size_t *len);

/* What a checkpoint must satisfy to be trusted. Borrowed pointers. */
typedef struct lg_policy {
  const lg_vkey *log_key;   /* type 0x01; its name is the expected origin */
  const lg_vkey *witnesses; /* type 0x04 cosigner keys, may be NULL */
  size_t n_witnesses;
  size_t quorum; /* distinct witnesses that must have cosigned (k of n) */
} lg_policy;

/* What lg_policy_verify found, for reports. */
typedef struct lg_policy_result {
  size_t witnesses_ok;        /* how many configured witnesses cosigned */
  uint64_t newest_cosig_time; /* POSIX seconds, 0 when none */
} lg_policy_result;

/*
 * lg_policy_verify - parse and verify a signed checkpoint note against a
 * policy: the log key must sign, `quorum` distinct witnesses must cosign,
 * no trusted key's signature may fail, the origin must equal the log key's
 * name. On success *cp holds the checkpoint. `result` may be NULL.
 * Returns 0, GL_EPARSE / GL_ETOOBIG (malformed note or checkpoint),
 * GL_EVERIFY (signatures or quorum), GL_EINVAL (a policy that can never
 * pass, e.g. quorum > n, or one that lists a witness public key twice, which
 * would let one cosignature count twice). `why` (may be NULL) receives a
 * static reason.
 */
int lg_policy_verify(const lg_policy *policy, const char *note, size_t len,
                     lg_checkpoint *cp, lg_policy_result *result,
                     const char **why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_CHECKPOINT_H */
