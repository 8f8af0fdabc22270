/* SPDX-License-Identifier: MIT */
/*
 * merkle.c - RFC 9162 Merkle tree hashing, proofs and their verification.
 *
 * The verification functions follow the algorithms of RFC 9162 sections
 * 2.1.3.2 and 2.1.4.2 step by step, including every early "stop and fail"
 * case, because each of those checks has been missed by some real
 * verifier (proofs with trailing hashes, consistency from size 0, ...).
 * Generation follows the recursive definitions PATH and SUBPROOF of
 * sections 2.1.3.1 and 2.1.4.1, asking a hash source for complete
 * subtrees so that nothing is recomputed from the leaves.
 */
#include "gridlet/ledger_merkle.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <string.h>

/* Proof arrays are copied and hashed as packed runs of 32-byte hashes. */
_Static_assert(sizeof(lg_hash) == LG_HASH_LEN, "lg_hash must be packed");

/* ---- Hashing ------------------------------------------------------------ */

int lg_empty_root(uint8_t out[LG_HASH_LEN]) {
  return gl_sha256("", 0, out);
}

int lg_leaf_hash(const void *data, size_t len, uint8_t out[LG_HASH_LEN]) {
  static const uint8_t prefix = 0x00;
  gl_bytes parts[2] = {{&prefix, 1}, {data, len}};
  return gl_sha256_parts(parts, 2, out);
}

int lg_node_hash(const uint8_t left[LG_HASH_LEN],
                 const uint8_t right[LG_HASH_LEN], uint8_t out[LG_HASH_LEN]) {
  static const uint8_t prefix = 0x01;
  gl_bytes parts[3] = {{&prefix, 1}, {left, LG_HASH_LEN}, {right, LG_HASH_LEN}};
  /* gl_sha256_parts reads every input before writing `out`, so out may
   * alias left or right. */
  return gl_sha256_parts(parts, 3, out);
}

uint64_t lg_split_point(uint64_t n) {
  /* The largest power of two strictly below n: the top bit of n - 1. */
  uint64_t k = 1;
  while (k << 1 < n)
    k <<= 1;
  return k;
}

static bool is_pow2(uint64_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

static unsigned log2_exact(uint64_t n) {
  unsigned h = 0;
  while (n > 1) {
    n >>= 1;
    h++;
  }
  return h;
}

/* ---- Verification ------------------------------------------------------- */

static int fail(const char **why, const char *reason) {
  if (why)
    *why = reason;
  return GL_EVERIFY;
}

size_t lg_inclusion_proof_len(uint64_t index, uint64_t size) {
  if (index >= size || size > LG_MAX_SIZE)
    return 0;
  size_t len = 0;
  uint64_t a = 0, b = size;
  while (b - a > 1) {
    uint64_t k = lg_split_point(b - a);
    if (index < a + k)
      b = a + k;
    else
      a += k;
    len++;
  }
  return len;
}

int lg_root_from_inclusion(const uint8_t leaf_hash[LG_HASH_LEN], uint64_t index,
                           uint64_t size, const lg_hash *proof, size_t n,
                           uint8_t root[LG_HASH_LEN], const char **why) {
  if (size > LG_MAX_SIZE)
    return fail(why, "tree size too large");
  if (index >= size)
    return fail(why, "index is at or past the tree size");
  if (n > LG_PROOF_MAX)
    return fail(why, "proof has too many hashes");
  uint64_t fn = index, sn = size - 1;
  uint8_t r[LG_HASH_LEN];
  memcpy(r, leaf_hash, LG_HASH_LEN);
  for (size_t i = 0; i < n; i++) {
    if (sn == 0)
      return fail(why, "proof has more hashes than the tree needs");
    int rc;
    if ((fn & 1) || fn == sn) {
      rc = lg_node_hash(proof[i].b, r, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      rc = lg_node_hash(r, proof[i].b, r);
    }
    if (rc != 0)
      return rc;
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    return fail(why, "proof has fewer hashes than the tree needs");
  memcpy(root, r, LG_HASH_LEN);
  return 0;
}

int lg_verify_inclusion(const uint8_t leaf_hash[LG_HASH_LEN], uint64_t index,
                        uint64_t size, const lg_hash *proof, size_t n,
                        const uint8_t root[LG_HASH_LEN], const char **why) {
  uint8_t got[LG_HASH_LEN];
  int rc = lg_root_from_inclusion(leaf_hash, index, size, proof, n, got, why);
  if (rc != 0)
    return rc;
  if (memcmp(got, root, LG_HASH_LEN) != 0)
    return fail(why, "computed root does not match the expected root");
  return 0;
}

int lg_verify_consistency(uint64_t size1, uint64_t size2,
                          const uint8_t root1[LG_HASH_LEN],
                          const uint8_t root2[LG_HASH_LEN],
                          const lg_hash *proof, size_t n, const char **why) {
  if (size1 > LG_MAX_SIZE || size2 > LG_MAX_SIZE)
    return fail(why, "tree size too large");
  if (size1 == 0)
    return fail(why, "a consistency proof from size 0 is not defined");
  if (size2 < size1)
    return fail(why, "second tree size is smaller than the first");
  if (n > LG_PROOF_MAX)
    return fail(why, "proof has too many hashes");
  if (size1 == size2) {
    if (n != 0)
      return fail(why, "proof between equal sizes must be empty");
    if (memcmp(root1, root2, LG_HASH_LEN) != 0)
      return fail(why, "equal sizes but different roots");
    return 0;
  }
  if (n == 0)
    return fail(why, "empty proof between different sizes");

  /* When size1 is a power of two its root is a node of the larger tree and
   * the proof omits it: the algorithm starts from root1 itself. */
  const uint8_t *first;
  size_t next;
  if (is_pow2(size1)) {
    first = root1;
    next = 0;
  } else {
    first = proof[0].b;
    next = 1;
  }
  uint64_t fn = size1 - 1, sn = size2 - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  uint8_t fr[LG_HASH_LEN], sr[LG_HASH_LEN];
  memcpy(fr, first, LG_HASH_LEN);
  memcpy(sr, first, LG_HASH_LEN);
  for (size_t i = next; i < n; i++) {
    if (sn == 0)
      return fail(why, "proof has more hashes than the trees need");
    int rc;
    if ((fn & 1) || fn == sn) {
      rc = lg_node_hash(proof[i].b, fr, fr);
      if (rc == 0)
        rc = lg_node_hash(proof[i].b, sr, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      rc = lg_node_hash(sr, proof[i].b, sr);
    }
    if (rc != 0)
      return rc;
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    return fail(why, "proof has fewer hashes than the trees need");
  if (memcmp(fr, root1, LG_HASH_LEN) != 0)
    return fail(why, "proof does not lead to the first root");
  if (memcmp(sr, root2, LG_HASH_LEN) != 0)
    return fail(why, "proof does not lead to the second root");
  return 0;
}

/* ---- Generation --------------------------------------------------------- */

int lg_range_hash(const lg_hash_source *src, uint64_t begin, uint64_t end,
                  uint8_t out[LG_HASH_LEN]) {
  if (end <= begin)
    return GL_EINVAL;
  uint64_t n = end - begin;
  if (is_pow2(n) && (begin & (n - 1)) == 0)
    return src->subtree(src->ctx, begin, log2_exact(n), out);
  uint64_t k = lg_split_point(n);
  uint8_t left[LG_HASH_LEN], right[LG_HASH_LEN];
  int rc = lg_range_hash(src, begin, begin + k, left);
  if (rc == 0)
    rc = lg_range_hash(src, begin + k, end, right);
  if (rc == 0)
    rc = lg_node_hash(left, right, out);
  return rc;
}

typedef struct proof_out {
  lg_hash *out;
  size_t cap, n;
} proof_out;

static int emit_range(const lg_hash_source *src, proof_out *po, uint64_t begin,
                      uint64_t end) {
  if (po->n == po->cap)
    return GL_ETOOBIG;
  int rc = lg_range_hash(src, begin, end, po->out[po->n].b);
  if (rc == 0)
    po->n++;
  return rc;
}

/* PATH(m, D[a:b]) with m an absolute leaf index in [a, b). */
static int path(const lg_hash_source *src, proof_out *po, uint64_t m,
                uint64_t a, uint64_t b) {
  if (b - a <= 1)
    return 0;
  uint64_t k = lg_split_point(b - a);
  int rc;
  if (m < a + k) {
    rc = path(src, po, m, a, a + k);
    if (rc == 0)
      rc = emit_range(src, po, a + k, b);
  } else {
    rc = path(src, po, m, a + k, b);
    if (rc == 0)
      rc = emit_range(src, po, a, a + k);
  }
  return rc;
}

int lg_make_inclusion_proof(const lg_hash_source *src, uint64_t index,
                            uint64_t size, lg_hash *out, size_t cap,
                            size_t *n) {
  if (index >= size || size > LG_MAX_SIZE)
    return GL_EINVAL;
  proof_out po = {out, cap, 0};
  int rc = path(src, &po, index, 0, size);
  *n = po.n;
  return rc;
}

/* SUBPROOF(m, D[a:b], whole) with m counted from a. */
static int subproof(const lg_hash_source *src, proof_out *po, uint64_t m,
                    uint64_t a, uint64_t b, bool whole) {
  uint64_t n = b - a;
  if (m == n)
    return whole ? 0 : emit_range(src, po, a, b);
  uint64_t k = lg_split_point(n);
  int rc;
  if (m <= k) {
    rc = subproof(src, po, m, a, a + k, whole);
    if (rc == 0)
      rc = emit_range(src, po, a + k, b);
  } else {
    rc = subproof(src, po, m - k, a + k, b, false);
    if (rc == 0)
      rc = emit_range(src, po, a, a + k);
  }
  return rc;
}

int lg_make_consistency_proof(const lg_hash_source *src, uint64_t size1,
                              uint64_t size2, lg_hash *out, size_t cap,
                              size_t *n) {
  *n = 0;
  if (size1 == 0 || size1 > size2 || size2 > LG_MAX_SIZE)
    return GL_EINVAL;
  if (size1 == size2)
    return 0;
  proof_out po = {out, cap, 0};
  int rc = subproof(src, &po, size1, 0, size2, true);
  *n = po.n;
  return rc;
}

/* ---- Frontier ----------------------------------------------------------- */

int lg_frontier_push(lg_frontier *f, const uint8_t leaf_hash[LG_HASH_LEN],
                     lg_subtree_cb cb, void *ctx) {
  if (f->size >= LG_MAX_SIZE)
    return GL_EFULL;
  uint64_t old = f->size;
  memcpy(f->hashes[f->count].b, leaf_hash, LG_HASH_LEN);
  f->count++;
  f->size = old + 1;
  int rc = cb ? cb(ctx, old, 0, leaf_hash) : 0;
  /* Each trailing one bit of the old size is a complete subtree of the
   * same height as the one just finished: merge them pairwise. */
  unsigned height = 0;
  for (uint64_t s = old; rc == 0 && (s & 1); s >>= 1) {
    rc = lg_node_hash(f->hashes[f->count - 2].b, f->hashes[f->count - 1].b,
                      f->hashes[f->count - 2].b);
    f->count--;
    height++;
    if (rc == 0 && cb)
      rc = cb(ctx, f->size - ((uint64_t)1 << height), height,
              f->hashes[f->count - 1].b);
  }
  return rc;
}

int lg_frontier_root(const lg_frontier *f, uint8_t root[LG_HASH_LEN]) {
  if (f->count == 0)
    return lg_empty_root(root);
  uint8_t r[LG_HASH_LEN];
  memcpy(r, f->hashes[f->count - 1].b, LG_HASH_LEN);
  for (unsigned i = f->count - 1; i-- > 0;) {
    int rc = lg_node_hash(f->hashes[i].b, r, r);
    if (rc != 0)
      return rc;
  }
  memcpy(root, r, LG_HASH_LEN);
  return 0;
}

int lg_frontier_load(lg_frontier *f, const lg_hash_source *src, uint64_t size) {
  if (size > LG_MAX_SIZE)
    return GL_EINVAL;
  memset(f, 0, sizeof *f);
  uint64_t start = 0;
  for (unsigned h = 64; h-- > 0;) {
    uint64_t bit = (uint64_t)1 << h;
    if (!(size & bit))
      continue;
    int rc = src->subtree(src->ctx, start, h, f->hashes[f->count].b);
    if (rc != 0)
      return rc;
    f->count++;
    start += bit;
  }
  f->size = size;
  return 0;
}
