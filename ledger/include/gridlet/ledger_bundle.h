/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_bundle.h - offline proof bundles (C2SP tlog-proof).
 *
 * A bundle proves, without contacting the log, that an entry is in a tree
 * head that the log signed and witnesses cosigned:
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <base64 of the entry bytes>      (optional)
 *     index <N>
 *     <base64 hash>                           (inclusion proof, leaf first)
 *     ...
 *                                             (blank line)
 *     <signed checkpoint, with cosignatures>
 *
 * gridlet puts the entry bytes (the leaf data: type tag, version, body) in
 * the "extra" line, so the bundle is self-contained: the verifier hashes
 * them, checks the inclusion proof, and only then decodes the entry. The
 * extra data is not trusted by itself: it is authenticated only because
 * its hash verifies into a signed root.
 *
 * All functions are thread-safe.
 */
#ifndef GRIDLET_LEDGER_BUNDLE_H
#define GRIDLET_LEDGER_BUNDLE_H

#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_merkle.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_BUNDLE_HEADER "c2sp.org/tlog-proof@v1"
/* Largest extra data (decoded) a bundle may carry: one ledger entry. */
#define LG_BUNDLE_EXTRA_MAX (4u << 20)
/* Largest bundle text accepted. */
#define LG_BUNDLE_MAX (LG_BUNDLE_EXTRA_MAX / 3 * 4 + 64 * 1024)

typedef struct lg_bundle {
  uint64_t index;
  size_t nproof;
  lg_hash proof[LG_PROOF_MAX];
  uint8_t *extra; /* owned; NULL when the bundle has no extra line */
  size_t extra_len;
  const char *checkpoint; /* borrows the parsed text: the signed note */
  size_t checkpoint_len;
} lg_bundle;

/*
 * lg_bundle_parse - parse a tlog-proof text. The checkpoint part is only
 * located here (lg_bundle_verify checks it). `b` borrows `text` and owns
 * its extra data: release with lg_bundle_clear, also after a failure.
 * Returns 0, GL_EPARSE, GL_ETOOBIG or GL_ENOMEM.
 */
int lg_bundle_parse(const char *text, size_t len, lg_bundle *b);

/* lg_bundle_clear - free the extra data; the struct may be reused. */
void lg_bundle_clear(lg_bundle *b);

/*
 * lg_bundle_format - the tlog-proof text for an entry: `extra` may be NULL
 * (no extra line), `checkpoint` is the signed note to embed verbatim.
 * Returns 0 with *out an owned NUL-terminated string (free()), or
 * GL_EINVAL, GL_ETOOBIG, GL_ENOMEM.
 */
int lg_bundle_format(uint64_t index, const lg_hash *proof, size_t nproof,
                     const void *extra, size_t extra_len,
                     const char *checkpoint, size_t checkpoint_len, char **out,
                     size_t *out_len);

/*
 * lg_bundle_verify - check a parsed bundle: the checkpoint satisfies
 * `policy` (see lg_policy_verify), and the leaf with hash `leaf_hash` (or,
 * when leaf_hash is NULL, the leaf whose data is the bundle's extra bytes)
 * is at the bundle's index in that tree. On success *cp (may be NULL)
 * holds the checkpoint. Returns 0, GL_EVERIFY, GL_EPARSE or GL_EINVAL (no
 * leaf hash and no extra data); `why` gets a static reason.
 */
int lg_bundle_verify(const lg_bundle *b, const lg_policy *policy,
                     const uint8_t *leaf_hash, lg_checkpoint *cp,
                     const char **why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_BUNDLE_H */
