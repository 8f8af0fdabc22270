/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the RFC 9162 Merkle tree: the public vectors first, then
 * every inclusion proof of every tree up to 64 leaves and every consistency
 * proof between sizes up to 64, each of which must verify, while any
 * single-bit change, added, removed or reordered hash, or wrong size or
 * index must not.
 *
 * Vectors: the historical Certificate Transparency test vectors as
 * published in the transparency-dev Merkle library's tests
 * (github.com/transparency-dev/merkle, Apache-2.0), copied here so the
 * test needs nothing outside the tree.
 */
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_merkle.h"
#include "ledger_testhelp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- Public vectors (transparency-dev/merkle, Apache-2.0) ---------------- */

static const char *const leaf_data_hex[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f"};

static const char *const roots_hex[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

static const char *const incl_5_of_8[3] = {
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};

static const char *const cons_6_to_8[3] = {
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};

static void vector_tree(th_tree *t) {
  memset(t, 0, sizeof *t);
  for (int i = 0; i < 8; i++) {
    uint8_t buf[16];
    size_t n = strlen(leaf_data_hex[i]) / 2;
    if (n)
      th_unhex(leaf_data_hex[i], buf, n);
    th_tree_add(t, buf, n);
  }
}

static void test_merkle_hasher_matches_public_vectors(void **state) {
  (void)state;
  uint8_t h[32], want[32];
  assert_int_equal(lg_empty_root(h), 0);
  th_unhex(roots_hex[0], want, 32);
  assert_memory_equal(h, want, 32);
  assert_int_equal(lg_leaf_hash("", 0, h), 0);
  th_unhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
           want, 32);
  assert_memory_equal(h, want, 32);
  assert_int_equal(lg_leaf_hash("L123456", 7, h), 0);
  th_unhex("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
           want, 32);
  assert_memory_equal(h, want, 32);
  /* lg_node_hash itself, pinned by the public roots: the root of two
   * leaves is node(leaf(""), leaf("00")), of four node(node(l0, l1),
   * node(l2, l3)). (The CT vector children("N123", "N456") hashes 4-byte
   * strings, which lg_node_hash's 32-byte children cannot take.) */
  uint8_t l[4][32], a[32], b[32];
  for (int i = 0; i < 4; i++) {
    uint8_t data[2];
    size_t n = strlen(leaf_data_hex[i]) / 2;
    if (n)
      th_unhex(leaf_data_hex[i], data, n);
    assert_int_equal(lg_leaf_hash(data, n, l[i]), 0);
  }
  assert_int_equal(lg_node_hash(l[0], l[1], a), 0);
  th_unhex(roots_hex[2], want, 32);
  assert_memory_equal(a, want, 32);
  assert_int_equal(lg_node_hash(l[2], l[3], b), 0);
  assert_int_equal(lg_node_hash(a, b, h), 0);
  th_unhex(roots_hex[4], want, 32);
  assert_memory_equal(h, want, 32);
  /* Children in the other order give another hash. */
  assert_int_equal(lg_node_hash(b, a, h), 0);
  assert_memory_not_equal(h, want, 32);
  /* The output may alias either child. */
  memcpy(h, a, 32);
  assert_int_equal(lg_node_hash(h, b, h), 0);
  assert_memory_equal(h, want, 32);
  memcpy(h, b, 32);
  assert_int_equal(lg_node_hash(a, h, h), 0);
  assert_memory_equal(h, want, 32);
}

static void test_merkle_roots_0_to_8_match_public_vectors(void **state) {
  (void)state;
  th_tree t;
  vector_tree(&t);
  lg_hash_source src = th_tree_source(&t);
  lg_frontier f = {0};
  for (size_t n = 0; n <= 8; n++) {
    uint8_t want[32], got[32];
    th_unhex(roots_hex[n], want, 32);
    assert_int_equal(lg_frontier_root(&f, got), 0);
    assert_memory_equal(got, want, 32);
    if (n > 0) {
      assert_int_equal(lg_range_hash(&src, 0, n, got), 0);
      assert_memory_equal(got, want, 32);
      lg_frontier g;
      assert_int_equal(lg_frontier_load(&g, &src, n), 0);
      assert_int_equal(lg_frontier_root(&g, got), 0);
      assert_memory_equal(got, want, 32);
    }
    if (n < 8)
      assert_int_equal(lg_frontier_push(&f, t.leaves[n].b, NULL, NULL), 0);
  }
  th_tree_free(&t);
}

static void test_merkle_inclusion_5_of_8_matches_public_vector(void **state) {
  (void)state;
  th_tree t;
  vector_tree(&t);
  lg_hash_source src = th_tree_source(&t);
  lg_hash want[3], got[LG_PROOF_MAX];
  for (int i = 0; i < 3; i++)
    th_unhex(incl_5_of_8[i], want[i].b, 32);
  size_t n;
  assert_int_equal(lg_make_inclusion_proof(&src, 5, 8, got, LG_PROOF_MAX, &n),
                   0);
  assert_int_equal(n, 3);
  assert_memory_equal(got, want, sizeof want);
  uint8_t root[32];
  th_unhex(roots_hex[8], root, 32);
  assert_int_equal(
      lg_verify_inclusion(t.leaves[5].b, 5, 8, want, 3, root, NULL), 0);
  /* Every single-bit change of the leaf, each proof hash and the root. */
  for (int bit = 0; bit < 256; bit++) {
    uint8_t leaf[32], r[32];
    memcpy(leaf, t.leaves[5].b, 32);
    leaf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(lg_verify_inclusion(leaf, 5, 8, want, 3, root, NULL),
                     GL_EVERIFY);
    memcpy(r, root, 32);
    r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(lg_verify_inclusion(t.leaves[5].b, 5, 8, want, 3, r, NULL),
                     GL_EVERIFY);
    for (int k = 0; k < 3; k++) {
      lg_hash p[3];
      memcpy(p, want, sizeof p);
      p[k].b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      assert_int_equal(
          lg_verify_inclusion(t.leaves[5].b, 5, 8, p, 3, root, NULL),
          GL_EVERIFY);
    }
  }
  th_tree_free(&t);
}

static void test_merkle_consistency_6_to_8_matches_public_vector(void **state) {
  (void)state;
  th_tree t;
  vector_tree(&t);
  lg_hash_source src = th_tree_source(&t);
  lg_hash want[3], got[LG_PROOF_MAX];
  for (int i = 0; i < 3; i++)
    th_unhex(cons_6_to_8[i], want[i].b, 32);
  size_t n;
  assert_int_equal(lg_make_consistency_proof(&src, 6, 8, got, LG_PROOF_MAX, &n),
                   0);
  assert_int_equal(n, 3);
  assert_memory_equal(got, want, sizeof want);
  uint8_t r6[32], r8[32];
  th_unhex(roots_hex[6], r6, 32);
  th_unhex(roots_hex[8], r8, 32);
  assert_int_equal(lg_verify_consistency(6, 8, r6, r8, want, 3, NULL), 0);
  for (int bit = 0; bit < 256; bit++) {
    for (int k = 0; k < 3; k++) {
      lg_hash p[3];
      memcpy(p, want, sizeof p);
      p[k].b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      assert_int_equal(lg_verify_consistency(6, 8, r6, r8, p, 3, NULL),
                       GL_EVERIFY);
    }
    uint8_t a[32], b[32];
    memcpy(a, r6, 32);
    memcpy(b, r8, 32);
    a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(lg_verify_consistency(6, 8, a, r8, want, 3, NULL),
                     GL_EVERIFY);
    assert_int_equal(lg_verify_consistency(6, 8, r6, b, want, 3, NULL),
                     GL_EVERIFY);
  }
  th_tree_free(&t);
}

/* ---- The rules every verifier must enforce --------------------------------
 */

static void test_merkle_verifier_enforces_the_rules(void **state) {
  (void)state;
  th_tree t;
  vector_tree(&t);
  uint8_t r6[32], r8[32];
  th_unhex(roots_hex[6], r6, 32);
  th_unhex(roots_hex[8], r8, 32);
  lg_hash p[4];
  for (int i = 0; i < 3; i++)
    th_unhex(incl_5_of_8[i], p[i].b, 32);
  const char *why = NULL;
  /* An index at or past the size. */
  assert_int_equal(lg_verify_inclusion(t.leaves[5].b, 8, 8, p, 3, r8, &why),
                   GL_EVERIFY);
  assert_non_null(why);
  assert_int_equal(lg_verify_inclusion(t.leaves[5].b, 9, 8, p, 3, r8, NULL),
                   GL_EVERIFY);
  /* Exactly the expected number of hashes: not more, not fewer. */
  memcpy(p[3].b, p[2].b, 32);
  assert_int_equal(lg_verify_inclusion(t.leaves[5].b, 5, 8, p, 4, r8, NULL),
                   GL_EVERIFY);
  assert_int_equal(lg_verify_inclusion(t.leaves[5].b, 5, 8, p, 2, r8, NULL),
                   GL_EVERIFY);
  /* A tree of one leaf: the leaf hash is the root and the proof is empty. */
  assert_int_equal(
      lg_verify_inclusion(t.leaves[0].b, 0, 1, NULL, 0, t.leaves[0].b, NULL),
      0);
  assert_int_equal(
      lg_verify_inclusion(t.leaves[0].b, 0, 1, p, 1, t.leaves[0].b, NULL),
      GL_EVERIFY);
  /* Consistency from size 0 is an error, even with matching "roots". */
  uint8_t empty[32];
  assert_int_equal(lg_empty_root(empty), 0);
  assert_int_equal(lg_verify_consistency(0, 8, empty, r8, NULL, 0, &why),
                   GL_EVERIFY);
  assert_int_equal(lg_verify_consistency(0, 0, empty, empty, NULL, 0, NULL),
                   GL_EVERIFY);
  /* Equal sizes: empty proof and equal roots. */
  assert_int_equal(lg_verify_consistency(8, 8, r8, r8, NULL, 0, NULL), 0);
  assert_int_equal(lg_verify_consistency(8, 8, r8, r6, NULL, 0, NULL),
                   GL_EVERIFY);
  assert_int_equal(lg_verify_consistency(8, 8, r8, r8, p, 1, NULL), GL_EVERIFY);
  /* Second size below the first. */
  lg_hash c[3];
  for (int i = 0; i < 3; i++)
    th_unhex(cons_6_to_8[i], c[i].b, 32);
  assert_int_equal(lg_verify_consistency(8, 6, r8, r6, c, 3, NULL), GL_EVERIFY);
  /* Different sizes with an empty proof. */
  assert_int_equal(lg_verify_consistency(6, 8, r6, r8, NULL, 0, NULL),
                   GL_EVERIFY);
  /* Sizes beyond 2^63 - 1 are refused outright. */
  assert_int_equal(
      lg_verify_inclusion(t.leaves[0].b, 0, UINT64_MAX, p, 3, r8, NULL),
      GL_EVERIFY);
  th_tree_free(&t);
}

/* ---- Exhaustive: every proof up to 64 leaves -------------------------------
 */

#define MAXN 64

static void leaf_data(uint64_t i, uint8_t buf[9], size_t *len) {
  /* Distinct data per leaf (identical leaves would make an index
   * ambiguous, which no proof can rule out). */
  buf[0] = 'L';
  for (int k = 0; k < 8; k++)
    buf[1 + k] = (uint8_t)(i >> (8 * k));
  *len = 9;
}

static void exhaustive_tree(th_tree *t, uint8_t roots[MAXN + 1][32]) {
  memset(t, 0, sizeof *t);
  for (uint64_t i = 0; i < MAXN; i++) {
    uint8_t buf[9];
    size_t len;
    leaf_data(i, buf, &len);
    th_tree_add(t, buf, len);
  }
  assert_int_equal(lg_empty_root(roots[0]), 0);
  for (uint64_t n = 1; n <= MAXN; n++)
    th_mth(t, 0, n, roots[n]);
}

/* Bit to flip in the k-th hash of proof number `seq`: rotating through all
 * 256 positions across the proofs (for the leaf and the roots). */
static void flip(lg_hash *h, uint64_t seq, size_t k) {
  unsigned bit = (unsigned)((seq * 37 + k * 101) % 256);
  h->b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void flip_bit(lg_hash *h, unsigned bit) {
  h->b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Proofs in trees up to this size get every one of the 256 single-bit
 * changes in every hash; larger trees one rotating bit per hash (all 256
 * positions over the proofs). Every proof shape (left and right siblings,
 * the right border, the first-subtree case of consistency) occurs below
 * this size, and the full sweep of all 64 sizes would cost about twenty
 * CPU-seconds natively and far more under qemu. */
#define FULL_BITS_MAXN 12

/* The bits of hash k of proof `seq` to try: [*from, *to). */
static void bits_to_try(uint64_t size, uint64_t seq, size_t k, unsigned *from,
                        unsigned *to) {
  if (size <= FULL_BITS_MAXN) {
    *from = 0;
    *to = 256;
  } else {
    *from = (unsigned)((seq * 37 + k * 101) % 256);
    *to = *from + 1;
  }
}

static void
test_merkle_every_inclusion_proof_up_to_64_verifies_and_any_change_fails(
    void **state) {
  (void)state;
  th_tree t;
  static uint8_t roots[MAXN + 1][32];
  exhaustive_tree(&t, roots);
  lg_hash_source src = th_tree_source(&t);
  uint64_t seq = 0;
  for (uint64_t size = 1; size <= MAXN; size++) {
    for (uint64_t index = 0; index < size; index++, seq++) {
      lg_hash p[LG_PROOF_MAX], q[LG_PROOF_MAX + 1];
      size_t n;
      assert_int_equal(
          lg_make_inclusion_proof(&src, index, size, p, LG_PROOF_MAX, &n), 0);
      assert_int_equal(n, lg_inclusion_proof_len(index, size));
      const uint8_t *leaf = t.leaves[index].b;
      assert_int_equal(
          lg_verify_inclusion(leaf, index, size, p, n, roots[size], NULL), 0);
      /* Single-bit changes of every proof hash (all 256 in small trees,
       * see FULL_BITS_MAXN); one rotating bit of the leaf and the root. */
      memcpy(q, p, n * sizeof *p);
      for (size_t k = 0; k < n; k++) {
        unsigned from, to;
        bits_to_try(size, seq, k, &from, &to);
        for (unsigned bit = from; bit < to; bit++) {
          flip_bit(&q[k], bit);
          assert_int_equal(
              lg_verify_inclusion(leaf, index, size, q, n, roots[size], NULL),
              GL_EVERIFY);
          flip_bit(&q[k], bit);
        }
      }
      lg_hash l, r;
      memcpy(l.b, leaf, 32);
      memcpy(r.b, roots[size], 32);
      flip(&l, seq, 7);
      flip(&r, seq, 11);
      assert_int_equal(
          lg_verify_inclusion(l.b, index, size, p, n, roots[size], NULL),
          GL_EVERIFY);
      assert_int_equal(lg_verify_inclusion(leaf, index, size, p, n, r.b, NULL),
                       GL_EVERIFY);
      /* An added hash, at the end and at the start. */
      memcpy(q, p, n * sizeof *p);
      memcpy(q[n].b, roots[size], 32);
      assert_int_equal(
          lg_verify_inclusion(leaf, index, size, q, n + 1, roots[size], NULL),
          GL_EVERIFY);
      memcpy(q + 1, p, n * sizeof *p);
      memcpy(q[0].b, leaf, 32);
      assert_int_equal(
          lg_verify_inclusion(leaf, index, size, q, n + 1, roots[size], NULL),
          GL_EVERIFY);
      /* A removed hash, at every position. */
      for (size_t k = 0; k < n; k++) {
        memcpy(q, p, k * sizeof *p);
        memcpy(q + k, p + k + 1, (n - k - 1) * sizeof *p);
        assert_int_equal(
            lg_verify_inclusion(leaf, index, size, q, n - 1, roots[size], NULL),
            GL_EVERIFY);
      }
      /* Two hashes swapped. */
      for (size_t k = 0; k + 1 < n; k++) {
        memcpy(q, p, n * sizeof *p);
        q[k] = p[k + 1];
        q[k + 1] = p[k];
        assert_int_equal(
            lg_verify_inclusion(leaf, index, size, q, n, roots[size], NULL),
            GL_EVERIFY);
      }
      /* Another index in the same tree: the neighbours, the mirror image
       * and one past the end. */
      uint64_t others[4] = {index - 1, index + 1, size - 1 - index, size};
      for (int k = 0; k < 4; k++) {
        if (others[k] == index || others[k] > size)
          continue;
        assert_int_equal(
            lg_verify_inclusion(leaf, others[k], size, p, n, roots[size], NULL),
            GL_EVERIFY);
      }
      /* Another tree size, with that tree's root (a size only means
       * something together with its root, as in a checkpoint): the
       * neighbours and the next power of two. */
      uint64_t pow2 = 1;
      while (pow2 <= size)
        pow2 *= 2;
      uint64_t sizes[3] = {size - 1, size + 1, pow2};
      for (int k = 0; k < 3; k++) {
        if (sizes[k] <= index || sizes[k] > MAXN)
          continue;
        assert_int_equal(lg_verify_inclusion(leaf, index, sizes[k], p, n,
                                             roots[sizes[k]], NULL),
                         GL_EVERIFY);
      }
    }
  }
  th_tree_free(&t);
}

static void
test_merkle_every_consistency_proof_up_to_64_verifies_and_any_change_fails(
    void **state) {
  (void)state;
  th_tree t;
  static uint8_t roots[MAXN + 1][32];
  exhaustive_tree(&t, roots);
  lg_hash_source src = th_tree_source(&t);
  uint64_t seq = 0;
  for (uint64_t s2 = 1; s2 <= MAXN; s2++) {
    for (uint64_t s1 = 1; s1 <= s2; s1++, seq++) {
      lg_hash p[LG_PROOF_MAX], q[LG_PROOF_MAX + 1];
      size_t n;
      assert_int_equal(
          lg_make_consistency_proof(&src, s1, s2, p, LG_PROOF_MAX, &n), 0);
      assert_int_equal(
          lg_verify_consistency(s1, s2, roots[s1], roots[s2], p, n, NULL), 0);
      /* Single-bit changes of every proof hash (all 256 in small trees,
       * see FULL_BITS_MAXN). */
      memcpy(q, p, n * sizeof *p);
      for (size_t k = 0; k < n; k++) {
        unsigned from, to;
        bits_to_try(s2, seq, k, &from, &to);
        for (unsigned bit = from; bit < to; bit++) {
          flip_bit(&q[k], bit);
          assert_int_equal(
              lg_verify_consistency(s1, s2, roots[s1], roots[s2], q, n, NULL),
              GL_EVERIFY);
          flip_bit(&q[k], bit);
        }
      }
      lg_hash a, b;
      memcpy(a.b, roots[s1], 32);
      memcpy(b.b, roots[s2], 32);
      flip(&a, seq, 3);
      flip(&b, seq, 5);
      assert_int_equal(
          lg_verify_consistency(s1, s2, a.b, roots[s2], p, n, NULL),
          GL_EVERIFY);
      assert_int_equal(
          lg_verify_consistency(s1, s2, roots[s1], b.b, p, n, NULL),
          GL_EVERIFY);
      /* Added hashes. */
      memcpy(q, p, n * sizeof *p);
      memcpy(q[n].b, roots[s2], 32);
      assert_int_equal(
          lg_verify_consistency(s1, s2, roots[s1], roots[s2], q, n + 1, NULL),
          GL_EVERIFY);
      memcpy(q + 1, p, n * sizeof *p);
      memcpy(q[0].b, roots[s1], 32);
      assert_int_equal(
          lg_verify_consistency(s1, s2, roots[s1], roots[s2], q, n + 1, NULL),
          GL_EVERIFY);
      /* Removed hashes. */
      for (size_t k = 0; k < n; k++) {
        memcpy(q, p, k * sizeof *p);
        memcpy(q + k, p + k + 1, (n - k - 1) * sizeof *p);
        assert_int_equal(
            lg_verify_consistency(s1, s2, roots[s1], roots[s2], q, n - 1, NULL),
            GL_EVERIFY);
      }
      /* Swapped hashes. */
      for (size_t k = 0; k + 1 < n; k++) {
        memcpy(q, p, n * sizeof *p);
        q[k] = p[k + 1];
        q[k + 1] = p[k];
        assert_int_equal(
            lg_verify_consistency(s1, s2, roots[s1], roots[s2], q, n, NULL),
            GL_EVERIFY);
      }
      /* Other sizes (the neighbours of each), each with its own root. */
      uint64_t o1[2] = {s1 - 1, s1 + 1}, o2[2] = {s2 - 1, s2 + 1};
      for (int k = 0; k < 2; k++) {
        if (o1[k] >= 1 && o1[k] <= s2)
          assert_int_equal(lg_verify_consistency(o1[k], s2, roots[o1[k]],
                                                 roots[s2], p, n, NULL),
                           GL_EVERIFY);
        if (o2[k] >= s1 && o2[k] <= MAXN)
          assert_int_equal(lg_verify_consistency(s1, o2[k], roots[s1],
                                                 roots[o2[k]], p, n, NULL),
                           GL_EVERIFY);
      }
      /* The roots the wrong way round (different sizes). */
      if (s1 != s2)
        assert_int_equal(
            lg_verify_consistency(s1, s2, roots[s2], roots[s1], p, n, NULL),
            GL_EVERIFY);
    }
  }
  th_tree_free(&t);
}

typedef struct announced {
  const th_tree *t;
  uint64_t count;
} announced;

static int check_subtree(void *ctx, uint64_t start, unsigned height,
                         const uint8_t hash[32]) {
  announced *a = ctx;
  uint8_t want[32];
  th_mth(a->t, start, start + ((uint64_t)1 << height), want);
  assert_memory_equal(hash, want, 32);
  assert_int_equal(start % ((uint64_t)1 << height), 0);
  a->count++;
  return 0;
}

static void test_merkle_frontier_reports_every_completed_subtree(void **state) {
  (void)state;
  /* After n leaves a frontier has announced every complete aligned subtree
   * exactly once (2n - popcount(n) of them), each with the right hash, and
   * its root is the tree's root. */
  th_tree t;
  static uint8_t roots[MAXN + 1][32];
  exhaustive_tree(&t, roots);
  lg_frontier f = {0};
  announced a = {&t, 0};
  for (uint64_t i = 0; i < MAXN; i++) {
    assert_int_equal(lg_frontier_push(&f, t.leaves[i].b, check_subtree, &a), 0);
    uint64_t n = i + 1;
    assert_int_equal(a.count, 2 * n - (uint64_t)__builtin_popcountll(n));
    assert_int_equal(f.count, (unsigned)__builtin_popcountll(n));
    uint8_t r[32];
    assert_int_equal(lg_frontier_root(&f, r), 0);
    assert_memory_equal(r, roots[n], 32);
  }
  th_tree_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merkle_hasher_matches_public_vectors),
      cmocka_unit_test(test_merkle_roots_0_to_8_match_public_vectors),
      cmocka_unit_test(test_merkle_inclusion_5_of_8_matches_public_vector),
      cmocka_unit_test(test_merkle_consistency_6_to_8_matches_public_vector),
      cmocka_unit_test(test_merkle_verifier_enforces_the_rules),
      cmocka_unit_test(
          test_merkle_every_inclusion_proof_up_to_64_verifies_and_any_change_fails),
      cmocka_unit_test(
          test_merkle_every_consistency_proof_up_to_64_verifies_and_any_change_fails),
      cmocka_unit_test(test_merkle_frontier_reports_every_completed_subtree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
