/* SPDX-License-Identifier: MIT */
/* Unit tests for C2SP tlog-proof bundles: format, parse, verify, tamper. */
#include "gridlet/error.h"
#include "gridlet/ledger_bundle.h"
#include "ledger_testhelp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The example of c2sp.org/tlog-proof (signatures elided there, so it
 * parses but cannot verify). */
static const char spec_example[] =
    "c2sp.org/tlog-proof@v1\n"
    "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
    "index 73894\n"
    "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
    "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
    "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n"
    "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n"
    "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n"
    "\n"
    "example.com/fancylog\n"
    "109482\n"
    "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
    "\n"
    "\xe2\x80\x94 example.com/fancylog hI2DJw[...]1roloI=\n";

static void test_bundle_parses_the_spec_example(void **state) {
  (void)state;
  lg_bundle b;
  assert_int_equal(lg_bundle_parse(spec_example, strlen(spec_example), &b), 0);
  assert_int_equal(b.index, 73894);
  assert_int_equal(b.nproof, 5);
  assert_non_null(b.extra);
  assert_true(strncmp(b.checkpoint, "example.com/fancylog\n", 21) == 0);
  lg_bundle_clear(&b);
}

typedef struct fixture {
  gl_seeded_rand *sr;
  lg_signer log;
  th_tree tree;
  uint8_t *entries[20];
  size_t lens[20];
  char note[1024];
} fixture;

static void make_fixture(fixture *f) {
  memset(f, 0, sizeof *f);
  f->sr = gl_seeded_rand_new(5);
  gl_rand r = gl_seeded_rand_rand(f->sr);
  assert_int_equal(lg_signer_generate("gridlet/b", LG_SIG_ED25519, &r, &f->log),
                   0);
  for (int i = 0; i < 20; i++) {
    f->entries[i] = th_order_bytes((uint64_t)i, &f->lens[i]);
    th_tree_add(&f->tree, f->entries[i], f->lens[i]);
  }
  lg_checkpoint cp = {.origin = "gridlet/b", .size = 20};
  th_mth(&f->tree, 0, 20, cp.root);
  assert_int_equal(
      lg_checkpoint_sign(&cp, &f->log, f->note, sizeof f->note, NULL), 0);
}

static void free_fixture(fixture *f) {
  for (int i = 0; i < 20; i++)
    free(f->entries[i]);
  th_tree_free(&f->tree);
  gl_seeded_rand_free(f->sr);
}

static char *bundle_for(fixture *f, uint64_t index, bool extra) {
  lg_hash_source src = th_tree_source(&f->tree);
  lg_hash p[LG_PROOF_MAX];
  size_t n;
  assert_int_equal(
      lg_make_inclusion_proof(&src, index, 20, p, LG_PROOF_MAX, &n), 0);
  char *out;
  assert_int_equal(lg_bundle_format(index, p, n,
                                    extra ? f->entries[index] : NULL,
                                    extra ? f->lens[index] : 0, f->note,
                                    strlen(f->note), &out, NULL),
                   0);
  return out;
}

static void test_bundle_round_trips_and_verifies_every_entry(void **state) {
  (void)state;
  fixture f;
  make_fixture(&f);
  lg_policy pol = {&f.log.vkey, NULL, 0, 0};
  for (uint64_t i = 0; i < 20; i++) {
    char *text = bundle_for(&f, i, true);
    lg_bundle b;
    assert_int_equal(lg_bundle_parse(text, strlen(text), &b), 0);
    assert_int_equal(b.index, i);
    assert_int_equal(b.extra_len, f.lens[i]);
    assert_memory_equal(b.extra, f.entries[i], f.lens[i]);
    lg_checkpoint cp;
    assert_int_equal(lg_bundle_verify(&b, &pol, NULL, &cp, NULL), 0);
    assert_int_equal(cp.size, 20);
    /* With an explicit leaf hash instead of the extra data. */
    assert_int_equal(lg_bundle_verify(&b, &pol, f.tree.leaves[i].b, NULL, NULL),
                     0);
    /* Another entry's hash does not verify at this index. */
    assert_int_equal(
        lg_bundle_verify(&b, &pol, f.tree.leaves[(i + 1) % 20].b, NULL, NULL),
        GL_EVERIFY);
    lg_bundle_clear(&b);
    free(text);
  }
  free_fixture(&f);
}

static void test_bundle_rejects_tampering(void **state) {
  (void)state;
  fixture f;
  make_fixture(&f);
  lg_policy pol = {&f.log.vkey, NULL, 0, 0};
  char *text = bundle_for(&f, 5, true);
  lg_bundle b;
  /* Changed entry bytes in the extra line. */
  assert_int_equal(lg_bundle_parse(text, strlen(text), &b), 0);
  b.extra[b.extra_len - 1] ^= 1;
  assert_int_equal(lg_bundle_verify(&b, &pol, NULL, NULL, NULL), GL_EVERIFY);
  lg_bundle_clear(&b);
  /* Another index. */
  assert_int_equal(lg_bundle_parse(text, strlen(text), &b), 0);
  b.index = 6;
  assert_int_equal(lg_bundle_verify(&b, &pol, NULL, NULL, NULL), GL_EVERIFY);
  /* One proof hash dropped, or one added. */
  b.index = 5;
  b.nproof--;
  assert_int_equal(lg_bundle_verify(&b, &pol, NULL, NULL, NULL), GL_EVERIFY);
  b.nproof += 2;
  memset(b.proof[b.nproof - 1].b, 0, 32);
  assert_int_equal(lg_bundle_verify(&b, &pol, NULL, NULL, NULL), GL_EVERIFY);
  lg_bundle_clear(&b);
  /* A checkpoint from another log key. */
  gl_rand r = gl_seeded_rand_rand(f.sr);
  lg_signer other;
  assert_int_equal(lg_signer_generate("gridlet/b", LG_SIG_ED25519, &r, &other),
                   0);
  lg_policy wrong = {&other.vkey, NULL, 0, 0};
  assert_int_equal(lg_bundle_parse(text, strlen(text), &b), 0);
  assert_int_equal(lg_bundle_verify(&b, &wrong, NULL, NULL, NULL), GL_EVERIFY);
  lg_bundle_clear(&b);
  /* No extra and no leaf hash: nothing to check. */
  char *bare = bundle_for(&f, 5, false);
  assert_int_equal(lg_bundle_parse(bare, strlen(bare), &b), 0);
  assert_null(b.extra);
  assert_int_equal(lg_bundle_verify(&b, &pol, NULL, NULL, NULL), GL_EINVAL);
  assert_int_equal(lg_bundle_verify(&b, &pol, f.tree.leaves[5].b, NULL, NULL),
                   0);
  lg_bundle_clear(&b);
  free(bare);
  free(text);
  free_fixture(&f);
}

static void test_bundle_parser_rejects_malformed_text(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "c2sp.org/tlog-proof@v2\nindex 1\n\nx\n",
      "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
      "c2sp.org/tlog-proof@v1\nindex -1\n\nx\n",
      "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx\n",
      "c2sp.org/tlog-proof@v1\nindex 1\n\n",
      "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\nx\n",
      "c2sp.org/tlog-proof@v1\nextra !!!!\nindex 1\n\nx\n",
      "c2sp.org/tlog-proof@v1\nindex 1\n",
      "c2sp.org/tlog-proof@v1\nindex 1",
  };
  lg_bundle b;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_not_equal(lg_bundle_parse(bad[i], strlen(bad[i]), &b), 0);
    lg_bundle_clear(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bundle_parses_the_spec_example),
      cmocka_unit_test(test_bundle_round_trips_and_verifies_every_entry),
      cmocka_unit_test(test_bundle_rejects_tampering),
      cmocka_unit_test(test_bundle_parser_rejects_malformed_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
