/* SPDX-License-Identifier: MIT */
/*
 * Keeps docs/protocol.md honest: every example on the page (the keys, each
 * message's JSON payload, each sealed envelope in hex, the Sig_structure)
 * is recomputed here from samples.c and must appear on the page verbatim
 * (whitespace aside). Run with GRIDLET_PRINT_EXAMPLES=1 to print the
 * examples for pasting after a deliberate change.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"
#include "samples.h"
#include "testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *page; /* docs/protocol.md without whitespace */
static bool print_examples;

static char *squeeze(const char *s) {
  char *out = malloc(strlen(s) + 1);
  assert_non_null(out);
  size_t n = 0;
  for (; *s; s++)
    if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
      out[n++] = *s;
  out[n] = '\0';
  return out;
}

static void expect_on_page(const char *what, const char *text) {
  char *sq = squeeze(text);
  bool found = strstr(page, sq) != NULL;
  free(sq);
  if (!found && !print_examples)
    fail_msg("docs/protocol.md lacks the current %s (run test_proto_docs "
             "with GRIDLET_PRINT_EXAMPLES=1)",
             what);
}

/* Hex in lines of 64 characters, as the page shows it. */
static char *wrapped_hex(const uint8_t *data, size_t len) {
  char *hex = malloc(2 * len + 1);
  char *out = malloc(2 * len + 2 * len / 64 + 2);
  assert_non_null(hex);
  assert_non_null(out);
  gl_hex_encode(data, len, hex);
  size_t o = 0;
  for (size_t i = 0; i < 2 * len; i++) {
    out[o++] = hex[i];
    if (i % 64 == 63 && i + 1 < 2 * len)
      out[o++] = '\n';
  }
  out[o] = '\0';
  free(hex);
  return out;
}

static int setup(void **state) {
  (void)state;
  print_examples = getenv("GRIDLET_PRINT_EXAMPLES") != NULL;
  char path[GT_PATH_MAX];
  char *text = gt_read_file(gt_source_path(path, "docs/protocol.md"), NULL);
  if (text == NULL)
    return -1;
  page = squeeze(text);
  free(text);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(page);
  return 0;
}

static void test_docs_show_the_example_keys(void **state) {
  (void)state;
  gl_ed25519_key k;
  char hex[65];
  sample_meter_key(&k);
  expect_on_page("meter public key", gl_hex_encode(k.pub, 32, hex));
  if (print_examples)
    printf("meter-17 public key: %s\n", hex);
  sample_aggregator_key(&k);
  expect_on_page("aggregator public key", gl_hex_encode(k.pub, 32, hex));
  if (print_examples)
    printf("aggregator public key: %s\n", hex);
}

static void test_docs_show_every_message_as_sent(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    pr_msg m;
    sample_msg((pr_type)t, &m);
    static char json[PR_PAYLOAD_MAX + 1];
    size_t n;
    assert_int_equal(pr_msg_encode(&m, json, sizeof json - 1, &n, NULL), 0);
    json[n] = '\0';
    /* The page shows the payload indented; the order of keys is kept. */
    json_t *v = json_loadb(json, n, 0, NULL);
    assert_non_null(v);
    char *pretty = json_dumps(v, JSON_INDENT(2));
    json_decref(v);
    assert_non_null(pretty);
    char what[64];
    snprintf(what, sizeof what, "%s payload", pr_type_name((pr_type)t));
    expect_on_page(what, pretty);

    gl_ed25519_key key;
    if (strcmp(m.sender, PR_AGGREGATOR_ID) == 0)
      sample_aggregator_key(&key);
    else
      sample_meter_key(&key);
    static uint8_t cose[PR_SEAL_MAX];
    size_t clen;
    assert_int_equal(pr_seal(&m, &key, cose, sizeof cose, &clen, NULL), 0);
    char *hex = wrapped_hex(cose, clen);
    snprintf(what, sizeof what, "%s envelope", pr_type_name((pr_type)t));
    expect_on_page(what, hex);
    if (print_examples)
      printf("\n### %s (%zu-byte payload, %zu-byte envelope)\n\n```json\n%s\n"
             "```\n\n```\n%s\n```\n",
             pr_type_name((pr_type)t), n, clen, pretty, hex);
    free(hex);
    free(pretty);
  }
}

static void test_docs_show_the_sig_structure_of_the_reading(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  static char json[PR_PAYLOAD_MAX];
  size_t n;
  assert_int_equal(pr_msg_encode(&m, json, sizeof json, &n, NULL), 0);
  /* Built by hand from RFC 9052 section 4.4, not with the library. */
  static uint8_t tbs[PR_PAYLOAD_MAX + 32];
  static const uint8_t prefix[] = {0x84, 0x6a, 'S',  'i',  'g',  'n',
                                   'a',  't',  'u',  'r',  'e',  '1',
                                   0x43, 0xa1, 0x01, 0x27, 0x40, 0x59};
  memcpy(tbs, prefix, sizeof prefix);
  tbs[sizeof prefix] = (uint8_t)(n >> 8);
  tbs[sizeof prefix + 1] = (uint8_t)n;
  memcpy(tbs + sizeof prefix + 2, json, n);
  size_t len = sizeof prefix + 2 + n;
  assert_true(n >= 256);
  char *hex = wrapped_hex(tbs, 32);
  expect_on_page("Sig_structure start", hex);
  if (print_examples)
    printf("\nSig_structure (first 32 bytes): %s\n", hex);
  free(hex);
  /* And the envelope's signature is over exactly these bytes. */
  gl_ed25519_key key;
  sample_meter_key(&key);
  uint8_t sig[64];
  assert_int_equal(gl_ed25519_sign(&key, tbs, len, sig), 0);
  static uint8_t cose[PR_SEAL_MAX];
  size_t clen;
  assert_int_equal(pr_seal(&m, &key, cose, sizeof cose, &clen, NULL), 0);
  assert_memory_equal(cose + clen - 64, sig, 64);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_docs_show_the_example_keys),
      cmocka_unit_test(test_docs_show_every_message_as_sent),
      cmocka_unit_test(test_docs_show_the_sig_structure_of_the_reading),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
