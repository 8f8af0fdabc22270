/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for COSE_Sign1 envelopes. The vectors in
 * tests/data/proto/cose_vectors.txt come from an independent Python
 * implementation (cose_vectors.py: hand-written CBOR, Ed25519 from the
 * `cryptography` package): our C must verify its envelopes, produce the
 * very same bytes when signing the same payload with the same key (Ed25519
 * is deterministic), and reject each broken envelope for the stated reason.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"
#include "samples.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct vector {
  char name[64], expect[32], kid[80];
  uint8_t seed[32], pub[32];
  uint8_t *payload, *cose;
  size_t payload_len, cose_len;
  bool is_message;
} vector;

static uint8_t *unhex_alloc(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  if (strcmp(hex, "-") == 0)
    n = 0;
  uint8_t *out = malloc(n / 2 + 1);
  assert_non_null(out);
  assert_int_equal(gl_hex_decode(hex, n, out, n / 2 + 1, len), 0);
  return out;
}

static size_t load_vectors(vector *v, size_t cap) {
  char path[GT_PATH_MAX];
  char *text = gt_read_file(
      gt_source_path(path, "tests/data/proto/cose_vectors.txt"), NULL);
  assert_non_null(text);
  size_t n = 0;
  for (char *line = text, *next; line != NULL && *line; line = next) {
    next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    if (line[0] == '#' || line[0] == '\0')
      continue;
    assert_true(n < cap);
    /* Fields are whitespace-free hex or names; the widest is the payload. */
    static char seed[80], pub[80], payload[60000], cose[60000], msg[4];
    int got =
        sscanf(line, "%63s %31s %79s %79s %79s %59999s %59999s %3s", v[n].name,
               v[n].expect, v[n].kid, seed, pub, payload, cose, msg);
    assert_int_equal(got, 8);
    size_t len;
    assert_int_equal(gl_hex_decode(seed, 64, v[n].seed, 32, &len), 0);
    assert_int_equal(gl_hex_decode(pub, 64, v[n].pub, 32, &len), 0);
    v[n].payload = unhex_alloc(payload, &v[n].payload_len);
    v[n].cose = unhex_alloc(cose, &v[n].cose_len);
    v[n].is_message = msg[0] == '1';
    n++;
  }
  free(text);
  return n;
}

static void free_vectors(vector *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].payload);
    free(v[i].cose);
  }
}

static void test_cose_agrees_with_the_independent_python_vectors(void **state) {
  (void)state;
  static vector v[64];
  size_t n = load_vectors(v, 64);
  assert_true(n >= 30);
  size_t ok = 0, bad = 0;
  for (size_t i = 0; i < n; i++) {
    pr_cose_view view;
    pr_diag d = {0};
    int rc = pr_cose_parse(v[i].cose, v[i].cose_len, PR_PAYLOAD_MAX, &view, &d);
    if (strcmp(v[i].expect, "ok") == 0) {
      if (rc != 0)
        fail_msg("%s: %s", v[i].name, d.msg);
      assert_int_equal(view.kid_len, strlen(v[i].kid));
      assert_memory_equal(view.kid, v[i].kid, view.kid_len);
      assert_int_equal(view.payload_len, v[i].payload_len);
      if (view.payload_len > 0)
        assert_memory_equal(view.payload, v[i].payload, view.payload_len);
      assert_int_equal(pr_cose_verify(&view, v[i].pub, &d), 0);
      /* Our signature over the same payload is the same bytes. */
      gl_ed25519_key key;
      assert_int_equal(gl_ed25519_from_seed(v[i].seed, &key), 0);
      assert_memory_equal(key.pub, v[i].pub, 32);
      uint8_t mine[PR_COSE_MAX];
      size_t len;
      assert_int_equal(pr_cose_sign(&key, v[i].kid, strlen(v[i].kid),
                                    v[i].payload, v[i].payload_len, mine,
                                    sizeof mine, &len),
                       0);
      assert_int_equal(len, v[i].cose_len);
      assert_memory_equal(mine, v[i].cose, len);
      assert_int_equal(pr_cose_size(strlen(v[i].kid), v[i].payload_len), len);
      if (v[i].is_message) {
        pr_key_entry e = {v[i].kid, {0}, false};
        memcpy(e.pub, v[i].pub, 32);
        pr_key_table table = {&e, 1};
        pr_keyring keys = pr_key_table_keyring(&table);
        pr_msg m;
        rc = pr_open(v[i].cose, v[i].cose_len, NULL, &keys, &m, NULL, &d);
        if (rc != 0)
          fail_msg("%s: pr_open: %s", v[i].name, d.msg);
      }
      ok++;
    } else if (strcmp(v[i].expect, "bad_signature") == 0) {
      if (rc != 0)
        fail_msg("%s: %s", v[i].name, d.msg);
      assert_int_equal(pr_cose_verify(&view, v[i].pub, &d), GL_EVERIFY);
      assert_int_equal(d.reason, PR_R_BAD_SIGNATURE);
      bad++;
    } else {
      if (rc == 0 || strcmp(pr_reason_name(d.reason), v[i].expect) != 0)
        fail_msg("%s: got %s \"%s\", want %s", v[i].name,
                 pr_reason_name(d.reason), d.msg, v[i].expect);
      bad++;
    }
  }
  assert_int_equal(ok, 5);
  assert_true(bad >= 25);
  free_vectors(v, n);
}

static void test_cose_messages_name_what_is_wrong(void **state) {
  (void)state;
  static const struct {
    const char *hex, *msg;
  } cases[] = {
      {"", "COSE: truncated before the COSE_Sign1 tag"},
      {"84", "untagged COSE_Sign1"},
      {"d1", "COSE: tag 17 is not COSE_Sign1 (18)"},
      {"d2", "COSE: truncated before the COSE_Sign1 array"},
      {"d283", "COSE_Sign1 array has 3 elements, not 4"},
      {"d29f", "the COSE_Sign1 array must be an array, got an "
               "indefinite-length item"},
      {"d28443a10126", "protected header must be exactly {1: -8} (a10127, "
                       "EdDSA), got h'a10126'"},
      {"d28443a10127a0", "unprotected header has 0 entries"},
      {"d28443a10127a10544", "unprotected header label 5"},
      {"d28443a10127a1046131", "the kid must be a byte string, got a text"},
      {"d28443a10127a104413140", "COSE: truncated before the signature"},
      {"d28443a10127a104580131", "the kid at byte 8 is not in deterministic"},
      {"d28443a10127a10441314040", "signature is 0 bytes, Ed25519 needs 64"},
      {"d28443a10127a10441314058", "truncated in the signature"},
      {"d28443a10127a10441414040", "kid of 1 bytes is not a valid sender id"},
      {"d28443a10127a1044131f6", "the payload must be a byte string, got a "
                                 "simple value"},
      {"d28443a10127a104413140fb", "invalid CBOR|truncated"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint8_t buf[64];
    size_t len;
    assert_int_equal(gl_hex_decode(cases[i].hex, strlen(cases[i].hex), buf,
                                   sizeof buf, &len),
                     0);
    pr_cose_view view;
    pr_diag d = {0};
    assert_int_not_equal(pr_cose_parse(buf, len, PR_PAYLOAD_MAX, &view, &d), 0);
    char want[128];
    snprintf(want, sizeof want, "%s", cases[i].msg);
    char *alt = strchr(want, '|');
    bool found;
    if (alt != NULL) {
      *alt = '\0';
      found = strstr(d.msg, want) || strstr(d.msg, alt + 1);
    } else {
      found = strstr(d.msg, want) != NULL;
    }
    if (!found)
      fail_msg("%s: got \"%s\", want \"%s\"", cases[i].hex, d.msg,
               cases[i].msg);
  }
}

static void test_cose_size_limit_is_checked_before_parsing(void **state) {
  (void)state;
  gl_ed25519_key key;
  sample_meter_key(&key);
  static uint8_t payload[2000], out[PR_COSE_MAX];
  memset(payload, 'x', sizeof payload);
  size_t len;
  assert_int_equal(pr_cose_sign(&key, "m1", 2, payload, sizeof payload, out,
                                sizeof out, &len),
                   0);
  pr_cose_view view;
  pr_diag d = {0};
  assert_int_equal(pr_cose_parse(out, len, 2000, &view, &d), 0);
  assert_int_equal(pr_cose_parse(out, len, 1999, &view, &d), GL_ETOOBIG);
  assert_int_equal(d.reason, PR_R_OVERSIZE);
  assert_string_equal(d.msg,
                      "COSE: payload of 2000 bytes exceeds the limit of 1999");
  assert_int_equal(pr_cose_parse(out, len, 1000, &view, &d), GL_ETOOBIG);
  assert_non_null(strstr(d.msg, "COSE: message of"));
}

static void test_cose_sign_checks_its_arguments(void **state) {
  (void)state;
  gl_ed25519_key key;
  sample_meter_key(&key);
  uint8_t out[256];
  size_t len;
  assert_int_equal(pr_cose_sign(&key, "M1", 2, "{}", 2, out, sizeof out, &len),
                   GL_EINVAL);
  assert_int_equal(pr_cose_sign(&key, "ca", 2, "{}", 2, out, sizeof out, &len),
                   GL_EINVAL);
  size_t need = pr_cose_size(2, 2);
  assert_int_equal(pr_cose_sign(&key, "m1", 2, "{}", 2, out, need - 1, &len),
                   GL_ETOOBIG);
  assert_int_equal(pr_cose_sign(&key, "m1", 2, "{}", 2, out, need, &len), 0);
  assert_int_equal(len, need);
  static uint8_t big[PR_PAYLOAD_MAX + 1];
  assert_int_equal(
      pr_cose_sign(&key, "m1", 2, big, sizeof big, out, sizeof out, &len),
      GL_EINVAL);
}

static void test_cose_sizes_follow_cbor_length_heads(void **state) {
  (void)state;
  gl_ed25519_key key;
  sample_meter_key(&key);
  static uint8_t payload[PR_PAYLOAD_MAX], out[PR_COSE_MAX];
  memset(payload, '{', sizeof payload);
  static const size_t lens[] = {0, 1, 23, 24, 255, 256, 65535 % 24577, 24576};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    for (size_t kl = 1; kl <= PR_ID_MAX; kl += 22) {
      char kid[PR_ID_MAX + 1];
      memset(kid, 'k', kl);
      size_t len;
      assert_int_equal(
          pr_cose_sign(&key, kid, kl, payload, lens[i], out, sizeof out, &len),
          0);
      assert_int_equal(len, pr_cose_size(kl, lens[i]));
      assert_true(len <= lens[i] + PR_COSE_OVERHEAD_MAX);
      pr_cose_view view;
      assert_int_equal(pr_cose_parse(out, len, PR_PAYLOAD_MAX, &view, NULL), 0);
      assert_int_equal(view.payload_len, lens[i]);
      assert_ptr_equal(view.sig, out + len - 64);
      assert_int_equal(pr_cose_verify(&view, key.pub, NULL), 0);
    }
  }
}

static void test_cose_verify_rejects_another_key(void **state) {
  (void)state;
  gl_ed25519_key key, other;
  sample_meter_key(&key);
  sample_aggregator_key(&other);
  uint8_t out[256];
  size_t len;
  assert_int_equal(pr_cose_sign(&key, "m1", 2, "{}", 2, out, sizeof out, &len),
                   0);
  pr_cose_view view;
  assert_int_equal(pr_cose_parse(out, len, PR_PAYLOAD_MAX, &view, NULL), 0);
  pr_diag d = {0};
  assert_int_equal(pr_cose_verify(&view, other.pub, &d), GL_EVERIFY);
  assert_string_equal(d.msg, "COSE: signature does not verify for kid \"m1\"");
  /* A public key that is not a curve point fails the same way. */
  uint8_t junk[32];
  memset(junk, 0xff, sizeof junk);
  assert_int_equal(pr_cose_verify(&view, junk, &d), GL_EVERIFY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cose_agrees_with_the_independent_python_vectors),
      cmocka_unit_test(test_cose_messages_name_what_is_wrong),
      cmocka_unit_test(test_cose_size_limit_is_checked_before_parsing),
      cmocka_unit_test(test_cose_sign_checks_its_arguments),
      cmocka_unit_test(test_cose_sizes_follow_cbor_length_heads),
      cmocka_unit_test(test_cose_verify_rejects_another_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
