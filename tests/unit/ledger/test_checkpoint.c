/* SPDX-License-Identifier: MIT */
/* Unit tests for checkpoint text, signing, and the k-of-n witness policy. */
#include "gridlet/error.h"
#include "gridlet/ledger_checkpoint.h"
#include "ledger_testhelp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_checkpoint_parse_accepts_the_spec_example(void **state) {
  (void)state;
  /* c2sp.org/tlog-checkpoint example text. */
  const char text[] = "example.com/behind-the-sofa\n20852163\n"
                      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  lg_checkpoint cp;
  assert_int_equal(lg_checkpoint_parse(text, strlen(text), &cp), 0);
  assert_string_equal(cp.origin, "example.com/behind-the-sofa");
  assert_int_equal(cp.size, 20852163);
  char back[LG_CHECKPOINT_TEXT_MAX];
  size_t len;
  assert_int_equal(lg_checkpoint_format(&cp, back, sizeof back, &len), 0);
  assert_string_equal(back, text);
  /* Extension lines are allowed (and ignored) when non-empty. */
  const char ext[] =
      "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n";
  assert_int_equal(lg_checkpoint_parse(ext, strlen(ext), &cp), 0);
  assert_int_equal(cp.size, 0);
}

static void test_checkpoint_parse_is_strict(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "o\n",
      "o\n1\n",
      "o\n1\nAAAA\n", /* root not 32 bytes */
      "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n+1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n9223372036854775808\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n1 \n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
      "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
      "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
      /* Size 0 names the empty tree, whose root is SHA-256(""). */
      "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
      "o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
  };
  lg_checkpoint cp;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(lg_checkpoint_parse(bad[i], strlen(bad[i]), &cp),
                     GL_EPARSE);
  const char max[] = "o\n9223372036854775807\n"
                     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
  assert_int_equal(lg_checkpoint_parse(max, strlen(max), &cp), 0);
  assert_int_equal(cp.size, INT64_MAX);
}

typedef struct keys {
  gl_seeded_rand *sr;
  lg_signer log;
  lg_signer w[3];
  lg_vkey wk[3];
} keys;

static void make_keys(keys *k) {
  k->sr = gl_seeded_rand_new(21);
  gl_rand r = gl_seeded_rand_rand(k->sr);
  assert_int_equal(
      lg_signer_generate("gridlet/oakfield", LG_SIG_ED25519, &r, &k->log), 0);
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "witness.example/w%d", i);
    assert_int_equal(lg_signer_generate(name, LG_SIG_COSIG_V1, &r, &k->w[i]),
                     0);
    k->wk[i] = k->w[i].vkey;
  }
}

/* A checkpoint note cosigned by the witnesses whose bit is set in `mask`. */
static char *cosigned(const keys *k, const lg_checkpoint *cp, unsigned mask) {
  char *buf = calloc(1, 4096);
  size_t len;
  assert_int_equal(lg_checkpoint_sign(cp, &k->log, buf, 4096, &len), 0);
  const char *text_end = strstr(buf, "\n\n") + 1;
  size_t text_len = (size_t)(text_end - buf);
  for (int i = 0; i < 3; i++) {
    if (!(mask & (1u << i)))
      continue;
    char line[LG_SIGLINE_MAX];
    assert_int_equal(lg_note_sign_line(&k->w[i], buf, text_len,
                                       1767225600 + (uint64_t)i, line,
                                       sizeof line),
                     0);
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s", line);
  }
  return buf;
}

static void
test_checkpoint_policy_needs_log_key_and_k_of_n_witnesses(void **state) {
  (void)state;
  keys k;
  make_keys(&k);
  lg_checkpoint cp = {.origin = "gridlet/oakfield", .size = 42};
  memset(cp.root, 0xab, sizeof cp.root);
  lg_policy pol = {&k.log.vkey, k.wk, 3, 2};
  for (unsigned mask = 0; mask < 8; mask++) {
    char *note = cosigned(&k, &cp, mask);
    lg_checkpoint got;
    lg_policy_result res;
    const char *why = NULL;
    int rc = lg_policy_verify(&pol, note, strlen(note), &got, &res, &why);
    unsigned count = (unsigned)__builtin_popcount(mask);
    if (count >= 2) {
      assert_int_equal(rc, 0);
      assert_int_equal(res.witnesses_ok, count);
      assert_int_equal(got.size, 42);
      assert_memory_equal(got.root, cp.root, 32);
      assert_true(res.newest_cosig_time >= 1767225600);
    } else {
      assert_int_equal(rc, GL_EVERIFY);
      assert_string_equal(why, "too few witness cosignatures for the policy");
    }
    free(note);
  }
  /* Quorum 0: the log key alone. */
  lg_policy alone = {&k.log.vkey, NULL, 0, 0};
  char *note = cosigned(&k, &cp, 0);
  assert_int_equal(
      lg_policy_verify(&alone, note, strlen(note), &cp, NULL, NULL), 0);
  /* A policy that can never pass is a usage error. */
  lg_policy impossible = {&k.log.vkey, k.wk, 3, 4};
  assert_int_equal(
      lg_policy_verify(&impossible, note, strlen(note), &cp, NULL, NULL),
      GL_EINVAL);
  /* Signed by someone else's key with the same name: not the log. */
  gl_rand r = gl_seeded_rand_rand(k.sr);
  lg_signer impostor;
  assert_int_equal(
      lg_signer_generate("gridlet/oakfield", LG_SIG_ED25519, &r, &impostor), 0);
  lg_policy wrong = {&impostor.vkey, NULL, 0, 0};
  assert_int_equal(
      lg_policy_verify(&wrong, note, strlen(note), &cp, NULL, NULL),
      GL_EVERIFY);
  free(note);
  /* A log key whose name is not the origin is refused. */
  lg_checkpoint other = cp;
  snprintf(other.origin, sizeof other.origin, "gridlet/elsewhere");
  char buf[1024];
  assert_int_equal(lg_checkpoint_sign(&other, &k.log, buf, sizeof buf, NULL),
                   GL_EINVAL);
  gl_seeded_rand_free(k.sr);
}

static void
test_checkpoint_policy_rejects_a_tampered_cosignature(void **state) {
  (void)state;
  keys k;
  make_keys(&k);
  lg_checkpoint cp = {.origin = "gridlet/oakfield", .size = 7};
  memset(cp.root, 0x11, sizeof cp.root);
  char *note = cosigned(&k, &cp, 7);
  /* Flip one base64 character in the last cosignature (avoid padding). */
  char *last = strrchr(note, ' ');
  last[10] = last[10] == 'A' ? 'B' : 'A';
  lg_policy pol = {&k.log.vkey, k.wk, 3, 1};
  const char *why = NULL;
  assert_int_equal(lg_policy_verify(&pol, note, strlen(note), &cp, NULL, &why),
                   GL_EVERIFY);
  free(note);
  gl_seeded_rand_free(k.sr);
}

/* One cosignature must not meet a 2-of-2 policy that lists its witness
 * twice: the policy is refused, under the same name or another one. */
static void
test_checkpoint_policy_refuses_a_witness_listed_twice(void **state) {
  (void)state;
  keys k;
  make_keys(&k);
  lg_checkpoint cp = {.origin = "gridlet/oakfield", .size = 9};
  memset(cp.root, 0x22, sizeof cp.root);
  char *note = cosigned(&k, &cp, 1); /* witness 0 only */
  lg_vkey twice[2] = {k.wk[0], k.wk[0]};
  lg_policy pol = {&k.log.vkey, twice, 2, 2};
  const char *why = NULL;
  assert_int_equal(lg_policy_verify(&pol, note, strlen(note), &cp, NULL, &why),
                   GL_EINVAL);
  assert_string_equal(why,
                      "the same witness key is listed twice in the policy");
  /* Quorum 1 with the duplicate is refused too: the policy is malformed. */
  pol.quorum = 1;
  assert_int_equal(lg_policy_verify(&pol, note, strlen(note), &cp, NULL, NULL),
                   GL_EINVAL);
  /* The same public key under a second name is still one witness. */
  lg_vkey alias = k.wk[0];
  snprintf(alias.name, sizeof alias.name, "witness.example/alias");
  lg_vkey renamed[2] = {k.wk[0], alias};
  lg_policy pol2 = {&k.log.vkey, renamed, 2, 2};
  assert_int_equal(lg_policy_verify(&pol2, note, strlen(note), &cp, NULL, NULL),
                   GL_EINVAL);
  /* Distinct witnesses still count one each. */
  lg_vkey two[2] = {k.wk[0], k.wk[1]};
  lg_policy pol3 = {&k.log.vkey, two, 2, 2};
  assert_int_equal(lg_policy_verify(&pol3, note, strlen(note), &cp, NULL, NULL),
                   GL_EVERIFY);
  free(note);
  gl_seeded_rand_free(k.sr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checkpoint_parse_accepts_the_spec_example),
      cmocka_unit_test(test_checkpoint_parse_is_strict),
      cmocka_unit_test(
          test_checkpoint_policy_needs_log_key_and_k_of_n_witnesses),
      cmocka_unit_test(test_checkpoint_policy_rejects_a_tampered_cosignature),
      cmocka_unit_test(test_checkpoint_policy_refuses_a_witness_listed_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
