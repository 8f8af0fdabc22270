/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_merkle.h - the RFC 9162 (RFC 6962) Merkle tree: hashing,
 * proof generation and proof verification.
 *
 * This module is pure: no I/O, no allocation, no clock. The ledger stores
 * subtree hashes in SQLite and generates proofs through the hash-source
 * seam below; verifiers (meters, auditors, witnesses, the CLI) use the
 * verification functions directly.
 *
 * Hashing (RFC 9162 section 2.1.1), SHA-256 throughout:
 *   empty tree      MTH({})  = SHA-256("")
 *   leaf            leaf(d)  = SHA-256(0x00 || d)
 *   interior node   node(l,r) = SHA-256(0x01 || l || r)
 *   MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of
 *   two smaller than n.
 *
 * Verification enforces every rule a verifier must (each of which has
 * tripped real implementations): a proof has exactly the expected number
 * of hashes; an index at or past the size is an error; a consistency proof
 * from size 0 is an error; equal sizes need an empty proof and equal
 * roots; a second size below the first is an error. Hashes are always
 * exactly LG_HASH_LEN bytes: the types make a shorter one impossible, and
 * the text parsers (CLI, bundles) reject any other length.
 *
 * Sizes and indices are limited to LG_MAX_SIZE (2^63 - 1), the range SQLite
 * and the C2SP formats can carry; proofs are at most LG_PROOF_MAX hashes.
 *
 * All functions are thread-safe (they touch only their arguments).
 */
#ifndef GRIDLET_LEDGER_MERKLE_H
#define GRIDLET_LEDGER_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_HASH_LEN 32
#define LG_PROOF_MAX 64
#define LG_MAX_SIZE ((uint64_t)INT64_MAX)

/* One SHA-256 hash as a value. Proofs are arrays of these, ordered from the
 * leaf (or the smaller tree) towards the root, as in RFC 9162. (A struct
 * rather than an array typedef so that `const lg_hash *` accepts a plain
 * array of hashes without casts.) */
typedef struct lg_hash {
  uint8_t b[LG_HASH_LEN];
} lg_hash;

/* ---- Hashing ------------------------------------------------------------ */

/* lg_empty_root - the root of the empty tree, SHA-256(""). Returns 0 or
 * GL_ECRYPTO. */
int lg_empty_root(uint8_t out[LG_HASH_LEN]);

/* lg_leaf_hash - SHA-256(0x00 || data). Returns 0 or GL_ECRYPTO. */
int lg_leaf_hash(const void *data, size_t len, uint8_t out[LG_HASH_LEN]);

/* lg_node_hash - SHA-256(0x01 || left || right); out may alias either
 * input. Returns 0 or GL_ECRYPTO. */
int lg_node_hash(const uint8_t left[LG_HASH_LEN],
                 const uint8_t right[LG_HASH_LEN], uint8_t out[LG_HASH_LEN]);

/* lg_split_point - the largest power of two strictly smaller than n
 * (n >= 2): where RFC 9162 splits a tree of n leaves. */
uint64_t lg_split_point(uint64_t n);

/* ---- Verification ------------------------------------------------------- */

/*
 * lg_verify_inclusion - check that `leaf_hash` is the leaf at `index` of
 * the tree of `size` leaves whose root is `root`, using the RFC 9162
 * section 2.1.3.2 algorithm. `proof` holds `n` hashes (may be NULL when n
 * is 0). Returns 0 when the proof verifies, GL_EVERIFY otherwise (index
 * at or past size, a size beyond LG_MAX_SIZE, too many or too few hashes,
 * or a root mismatch), GL_ECRYPTO on a hashing failure. When `why` is not
 * NULL it receives a static one-line reason on failure.
 */
int lg_verify_inclusion(const uint8_t leaf_hash[LG_HASH_LEN], uint64_t index,
                        uint64_t size, const lg_hash *proof, size_t n,
                        const uint8_t root[LG_HASH_LEN], const char **why);

/*
 * lg_root_from_inclusion - the root implied by an inclusion proof (RFC
 * 9162 section 2.1.3.2 without the final comparison). Returns 0, or
 * GL_EVERIFY when the proof has the wrong shape for index and size.
 */
int lg_root_from_inclusion(const uint8_t leaf_hash[LG_HASH_LEN], uint64_t index,
                           uint64_t size, const lg_hash *proof, size_t n,
                           uint8_t root[LG_HASH_LEN], const char **why);

/*
 * lg_verify_consistency - check that the tree of size2 leaves with root2
 * extends the tree of size1 leaves with root1 (RFC 9162 section 2.1.4.2).
 * Rules: size1 == 0 is an error (nothing to prove: every tree extends the
 * empty one, and callers must not ask); size2 < size1 is an error;
 * size1 == size2 needs an empty proof and equal roots. Returns 0 when
 * consistent, GL_EVERIFY otherwise, GL_ECRYPTO on a hashing failure; `why`
 * as above.
 */
int lg_verify_consistency(uint64_t size1, uint64_t size2,
                          const uint8_t root1[LG_HASH_LEN],
                          const uint8_t root2[LG_HASH_LEN],
                          const lg_hash *proof, size_t n, const char **why);

/* lg_inclusion_proof_len - the exact number of hashes in an inclusion
 * proof for index < size (0 when the arguments are invalid). */
size_t lg_inclusion_proof_len(uint64_t index, uint64_t size);

/* ---- Proof generation over a hash source -------------------------------- */

/*
 * A hash source answers one question: the hash of the complete subtree of
 * 2^height leaves starting at leaf `start` (a multiple of 2^height). The
 * ledger answers it from stored tiles, tests from an array of leaf hashes.
 * The callback returns 0 or a GL_E* code, which is passed through.
 */
typedef struct lg_hash_source {
  int (*subtree)(void *ctx, uint64_t start, unsigned height,
                 uint8_t out[LG_HASH_LEN]);
  void *ctx;
} lg_hash_source;

/*
 * lg_range_hash - MTH(D[begin:end]) for begin < end, where the range is
 * one that appears in RFC 9162 proofs (its left parts are complete aligned
 * subtrees; any range starting at 0 qualifies). Returns 0, GL_EINVAL for
 * an empty or reversed range, or the source's error.
 */
int lg_range_hash(const lg_hash_source *src, uint64_t begin, uint64_t end,
                  uint8_t out[LG_HASH_LEN]);

/*
 * lg_make_inclusion_proof - the RFC 9162 inclusion proof PATH(index,
 * D[size]) into `out` (room for `cap` hashes); *n receives the count.
 * Returns 0, GL_EINVAL (index >= size or size beyond LG_MAX_SIZE),
 * GL_ETOOBIG (cap too small) or the source's error.
 */
int lg_make_inclusion_proof(const lg_hash_source *src, uint64_t index,
                            uint64_t size, lg_hash *out, size_t cap, size_t *n);

/*
 * lg_make_consistency_proof - the RFC 9162 consistency proof PROOF(size1,
 * D[size2]) for 0 < size1 <= size2 (empty when the sizes are equal).
 * Returns 0, GL_EINVAL, GL_ETOOBIG or the source's error.
 */
int lg_make_consistency_proof(const lg_hash_source *src, uint64_t size1,
                              uint64_t size2, lg_hash *out, size_t cap,
                              size_t *n);

/* ---- Frontier: the right edge of a growing tree -------------------------- */

/*
 * A frontier (a "compact range" over [0, size)) holds the hashes of the
 * complete subtrees a tree of `size` leaves decomposes into, largest (and
 * leftmost) first: one per set bit of size. It grows one leaf at a time in
 * O(1) amortised hashing and gives the root in O(log n); the ledger keeps
 * one while appending, the auditor while replaying. Zero-initialise for
 * the empty tree. A plain value: copy it freely.
 */
typedef struct lg_frontier {
  uint64_t size;
  unsigned count; /* number of hashes in use == popcount(size) */
  lg_hash hashes[64];
} lg_frontier;

/* Called for every complete subtree a push creates, including the leaf
 * itself (height 0), in increasing height. Returns 0 or an error, which
 * stops the push and is passed through. */
typedef int (*lg_subtree_cb)(void *ctx, uint64_t start, unsigned height,
                             const uint8_t hash[LG_HASH_LEN]);

/*
 * lg_frontier_push - append one leaf hash. `cb` may be NULL. Returns 0,
 * GL_EFULL at LG_MAX_SIZE, GL_ECRYPTO, or the callback's error (the
 * frontier is then unusable: rebuild it).
 */
int lg_frontier_push(lg_frontier *f, const uint8_t leaf_hash[LG_HASH_LEN],
                     lg_subtree_cb cb, void *ctx);

/* lg_frontier_root - the root of the tree so far (the empty root for
 * size 0). Returns 0 or GL_ECRYPTO. */
int lg_frontier_root(const lg_frontier *f, uint8_t root[LG_HASH_LEN]);

/*
 * lg_frontier_load - build the frontier of the tree of `size` leaves from a
 * hash source (popcount(size) subtree lookups). Returns 0, GL_EINVAL for a
 * size beyond LG_MAX_SIZE, or the source's error.
 */
int lg_frontier_load(lg_frontier *f, const lg_hash_source *src, uint64_t size);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_MERKLE_H */
