/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for pr_seal / pr_open: every type opens on its topic, and
 * each way a message can be wrong is rejected with its own reason (the
 * reasons the aggregator counts), before any expensive or risky step
 * where possible.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"
#include "samples.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static gl_ed25519_key meter_key, agg_key, other_key;
static pr_key_entry key_entries[4];
static pr_key_table key_table = {key_entries, 4};
static pr_keyring keys;

static int setup(void **state) {
  (void)state;
  sample_meter_key(&meter_key);
  sample_aggregator_key(&agg_key);
  uint8_t seed[32];
  memset(seed, 0x77, sizeof seed);
  assert_int_equal(gl_ed25519_from_seed(seed, &other_key), 0);
  key_entries[0] = (pr_key_entry){"meter-17", {0}, false};
  memcpy(key_entries[0].pub, meter_key.pub, 32);
  key_entries[1] = (pr_key_entry){PR_AGGREGATOR_ID, {0}, false};
  memcpy(key_entries[1].pub, agg_key.pub, 32);
  key_entries[2] = (pr_key_entry){"meter-18", {0}, false};
  memcpy(key_entries[2].pub, other_key.pub, 32);
  key_entries[3] = (pr_key_entry){"meter-19", {0}, true}; /* revoked */
  memcpy(key_entries[3].pub, other_key.pub, 32);
  keys = pr_key_table_keyring(&key_table);
  return 0;
}

static pr_topic topic_of(pr_topic_kind kind, const char *id) {
  char buf[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(kind, "c1", id, buf, sizeof buf), 0);
  pr_topic t;
  assert_int_equal(pr_topic_parse(buf, strlen(buf), "c1", &t, NULL), 0);
  return t;
}

static const gl_ed25519_key *key_for(const pr_msg *m) {
  return strcmp(m->sender, PR_AGGREGATOR_ID) == 0 ? &agg_key : &meter_key;
}

static pr_topic_kind kind_for(pr_type t) {
  for (int k = 1; k < PR_TOPIC_COUNT; k++)
    if (pr_topic_types((pr_topic_kind)k) & PR_TYPE_BIT(t))
      return (pr_topic_kind)k;
  fail();
  return PR_TOPIC_NONE;
}

static uint8_t sealed[PR_SEAL_MAX];

static size_t seal_sample(pr_type type) {
  pr_msg m;
  sample_msg(type, &m);
  size_t n;
  pr_diag d = {0};
  assert_int_equal(pr_seal(&m, key_for(&m), sealed, sizeof sealed, &n, &d), 0);
  return n;
}

/* Sign a raw payload under a kid with a key (for hand-made messages). */
static size_t sign_raw(const gl_ed25519_key *key, const char *kid,
                       const char *payload) {
  size_t n;
  assert_int_equal(pr_cose_sign(key, kid, strlen(kid), payload, strlen(payload),
                                sealed, sizeof sealed, &n),
                   0);
  return n;
}

static void expect_open(size_t len, const pr_topic *t, const pr_keyring *k,
                        pr_reason reason, int err, const char *msg) {
  pr_msg m;
  pr_cose_view view;
  pr_diag d = {0};
  int rc = pr_open(sealed, len, t, k, &m, &view, &d);
  if (rc != err || d.reason != reason ||
      (msg != NULL && strstr(d.msg, msg) == NULL))
    fail_msg("got %s/%s \"%s\"; want %s/%s \"...%s...\"", gl_err_name(rc),
             pr_reason_name(d.reason), d.msg, gl_err_name(err),
             pr_reason_name(reason), msg ? msg : "");
  if (err != 0) {
    assert_int_equal(m.type, PR_MSG_NONE);
    assert_null(view.payload);
  }
}

/* ---- Success ----------------------------------------------------------- */

static void test_seal_every_type_opens_on_its_topic(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    size_t n = seal_sample((pr_type)t);
    pr_msg want, got;
    sample_msg((pr_type)t, &want);
    pr_topic topic = topic_of(kind_for((pr_type)t), "meter-17");
    pr_cose_view view;
    pr_diag d = {0};
    int rc = pr_open(sealed, n, &topic, &keys, &got, &view, &d);
    if (rc != 0)
      fail_msg("%s: %s", pr_type_name((pr_type)t), d.msg);
    assert_int_equal(got.type, t);
    assert_int_equal(d.reason, PR_R_NONE);
    /* The view's payload is exactly what the encoder produced. */
    char json[PR_PAYLOAD_MAX];
    size_t jn;
    assert_int_equal(pr_msg_encode(&want, json, sizeof json, &jn, NULL), 0);
    assert_int_equal(view.payload_len, jn);
    assert_memory_equal(view.payload, json, jn);
    assert_ptr_equal(view.kid, sealed + 9); /* after d2 84 43a10127 a1 04 4x */
    assert_int_equal(view.kid_len, strlen(want.sender));
    /* Sizes: never above what pr_seal_max promises. */
    assert_true(n <= pr_seal_max((pr_type)t));
  }
}

static void test_seal_open_without_topic_accepts_any_type(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    size_t n = seal_sample((pr_type)t);
    pr_msg m;
    assert_int_equal(pr_open(sealed, n, NULL, &keys, &m, NULL, NULL), 0);
    assert_int_equal(m.type, t);
  }
}

static void test_seal_largest_messages_fit_seal_max(void **state) {
  (void)state;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    pr_msg m;
    sample_max_msg((pr_type)t, &m);
    size_t n, max = pr_seal_max((pr_type)t);
    pr_diag d = {0};
    assert_int_equal(pr_seal(&m, &other_key, sealed, max, &n, &d), 0);
    assert_true(n <= max);
    assert_int_equal(pr_seal(&m, &other_key, sealed, n - 1, &n, &d),
                     GL_ETOOBIG);
    assert_int_equal(d.reason, PR_R_OVERSIZE);
  }
  assert_int_equal(pr_seal_max(PR_MSG_NONE), 0);
}

static void test_seal_refuses_invalid_messages(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  m.reading.import_wh = -5;
  size_t n;
  pr_diag d = {0};
  assert_int_equal(pr_seal(&m, &meter_key, sealed, sizeof sealed, &n, &d),
                   GL_EINVAL);
  assert_string_equal(d.msg, "import_wh: -5 is out of range [0, 1000000000]");
  m.type = PR_MSG_NONE;
  assert_int_equal(pr_seal(&m, &meter_key, sealed, sizeof sealed, &n, &d),
                   GL_EINVAL);
}

/* ---- Each rejection, in pr_open's order -------------------------------- */

static void test_open_rejects_oversize_before_parsing(void **state) {
  (void)state;
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  memset(sealed, 0xd2, 3000);
  expect_open(3000, &t, &keys, PR_R_OVERSIZE, GL_ETOOBIG,
              "message of 3000 bytes exceeds the limit of");
  /* The same size is fine for a proof response topic, and then merely
   * malformed. */
  pr_topic big = topic_of(PR_TOPIC_PROOF_RESPONSE, "meter-17");
  expect_open(3000, &big, &keys, PR_R_MALFORMED, GL_EPARSE, NULL);
}

static void test_open_rejects_malformed_envelopes(void **state) {
  (void)state;
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  memcpy(sealed, "{\"v\":1}", 7);
  expect_open(7, &t, &keys, PR_R_MALFORMED, GL_EPARSE,
              "COSE: the COSE_Sign1 tag must be a tag");
  size_t n = seal_sample(PR_MSG_READING);
  expect_open(n - 1, &t, &keys, PR_R_MALFORMED, GL_EPARSE, "truncated");
  sealed[n] = 0;
  expect_open(n + 1, &t, &keys, PR_R_MALFORMED, GL_EPARSE, "trailing");
}

static void test_open_rejects_other_algorithms(void **state) {
  (void)state;
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  size_t n = seal_sample(PR_MSG_READING);
  assert_int_equal(sealed[5], 0x27);
  sealed[5] = 0x26; /* -7: ES256 */
  expect_open(n, &t, &keys, PR_R_UNSUPPORTED_ALG, GL_ENOTSUP, "h'a10126'");
}

static void test_open_rejects_a_kid_other_than_the_topics(void **state) {
  (void)state;
  size_t n = seal_sample(PR_MSG_READING);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-18");
  expect_open(n, &t, &keys, PR_R_SENDER_MISMATCH, GL_EPERM,
              "kid \"meter-17\" may not publish on this topic (only "
              "\"meter-18\" may)");
  /* A meter's message on an aggregator topic, and the reverse. */
  pr_topic r = topic_of(PR_TOPIC_RESULT, "meter-17");
  expect_open(n, &r, &keys, PR_R_SENDER_MISMATCH, GL_EPERM,
              "(only \"aggregator\" may)");
  n = seal_sample(PR_MSG_CHECKPOINT);
  t = topic_of(PR_TOPIC_STATUS, "meter-17");
  expect_open(n, &t, &keys, PR_R_SENDER_MISMATCH, GL_EPERM,
              "kid \"aggregator\" may not publish");
}

static void test_open_rejects_unknown_senders(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  memcpy(m.sender, "meter-99", 9);
  size_t n;
  assert_int_equal(pr_seal(&m, &other_key, sealed, sizeof sealed, &n, NULL), 0);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-99");
  expect_open(n, &t, &keys, PR_R_UNKNOWN_KEY, GL_ENOENT,
              "kid \"meter-99\": no key enrolled for this sender");
}

static void test_open_rejects_revoked_senders(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  memcpy(m.sender, "meter-19", 9);
  size_t n;
  assert_int_equal(pr_seal(&m, &other_key, sealed, sizeof sealed, &n, NULL), 0);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-19");
  expect_open(n, &t, &keys, PR_R_REVOKED, GL_EREVOKED,
              "kid \"meter-19\": key revoked");
}

static int lookup_fails(void *ctx, const char *kid, uint8_t pub[32]) {
  (void)kid;
  (void)pub;
  return *(int *)ctx;
}

static void test_open_passes_on_keyring_errors(void **state) {
  (void)state;
  size_t n = seal_sample(PR_MSG_READING);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  static const pr_keyring_ops ops = {lookup_fails};
  int err = GL_EEXPIRED;
  pr_keyring k = {&ops, &err};
  expect_open(n, &t, &k, PR_R_KEY_EXPIRED, GL_EEXPIRED,
              "certificate expired or not yet valid");
  err = GL_ESTORE;
  expect_open(n, &t, &k, PR_R_INTERNAL, GL_ESTORE, "key lookup failed");
  expect_open(n, &t, NULL, PR_R_INTERNAL, GL_EINVAL, "no keyring");
}

static void test_open_rejects_bad_signatures(void **state) {
  (void)state;
  /* meter-17's message signed by someone else. */
  pr_msg m;
  sample_msg(PR_MSG_READING, &m);
  size_t n;
  assert_int_equal(pr_seal(&m, &other_key, sealed, sizeof sealed, &n, NULL), 0);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  expect_open(n, &t, &keys, PR_R_BAD_SIGNATURE, GL_EVERIFY,
              "signature does not verify for kid \"meter-17\"");
  /* A forged result: "aggregator" signed with a meter's key. */
  sample_msg(PR_MSG_RESULT, &m);
  assert_int_equal(pr_seal(&m, &meter_key, sealed, sizeof sealed, &n, NULL), 0);
  t = topic_of(PR_TOPIC_RESULT, "meter-17");
  expect_open(n, &t, &keys, PR_R_BAD_SIGNATURE, GL_EVERIFY, NULL);
}

static void test_open_no_single_bit_change_is_accepted(void **state) {
  (void)state;
  size_t n = seal_sample(PR_MSG_READING);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  for (size_t i = 0; i < n; i++) {
    uint8_t bit = (uint8_t)(1u << (i % 8));
    sealed[i] ^= bit;
    pr_msg m;
    pr_diag d = {0};
    if (pr_open(sealed, n, &t, &keys, &m, NULL, &d) == 0)
      fail_msg("flipping bit %zu of byte %zu was accepted", i % 8, i);
    assert_int_not_equal(d.reason, PR_R_NONE);
    sealed[i] ^= bit;
  }
  pr_msg m;
  assert_int_equal(pr_open(sealed, n, &t, &keys, &m, NULL, NULL), 0);
}

static void test_open_rejects_other_versions_after_verifying(void **state) {
  (void)state;
  size_t n = sign_raw(&meter_key, "meter-17",
                      "{\"v\":2,\"type\":\"reading\",\"sender\":\"meter-17\"}");
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  expect_open(n, &t, &keys, PR_R_WRONG_VERSION, GL_ENOTSUP,
              "v: version 2 is not supported");
}

static void test_open_rejects_types_the_topic_does_not_carry(void **state) {
  (void)state;
  size_t n = seal_sample(PR_MSG_PREFS);
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  expect_open(n, &t, &keys, PR_R_WRONG_TYPE, GL_EPROTO,
              "a prefs message is not accepted here");
  t = topic_of(PR_TOPIC_ORDER, "meter-17");
  expect_open(n, &t, &keys, PR_R_NONE, 0, NULL);
  n = seal_sample(PR_MSG_SUMMARY);
  t = topic_of(PR_TOPIC_CHECKPOINT, NULL);
  expect_open(n, &t, &keys, PR_R_WRONG_TYPE, GL_EPROTO, "summary");
}

static void test_open_rejects_invalid_payloads(void **state) {
  (void)state;
  pr_topic t = topic_of(PR_TOPIC_STATUS, "meter-17");
  size_t n = sign_raw(&meter_key, "meter-17",
                      "{\"v\":1,\"type\":\"status\",\"sender\":\"meter-17\","
                      "\"seq\":1,\"ts\":\"2026-01-01T00:00:00Z\","
                      "\"state\":\"asleep\"}");
  expect_open(n, &t, &keys, PR_R_INVALID, GL_EPARSE,
              "state: unknown value \"asleep\"");
  n = sign_raw(&meter_key, "meter-17", "not json");
  expect_open(n, &t, &keys, PR_R_MALFORMED, GL_EPARSE, "invalid JSON");
}

static void test_open_rejects_a_sender_field_other_than_the_kid(void **state) {
  (void)state;
  pr_topic t = topic_of(PR_TOPIC_STATUS, "meter-17");
  size_t n = sign_raw(&meter_key, "meter-17",
                      "{\"v\":1,\"type\":\"status\",\"sender\":\"meter-18\","
                      "\"seq\":1,\"ts\":\"2026-01-01T00:00:00Z\","
                      "\"state\":\"online\"}");
  expect_open(n, &t, &keys, PR_R_SENDER_MISMATCH, GL_EPERM,
              "sender: \"meter-18\" but the message is signed by kid "
              "\"meter-17\"");
  /* Without a topic, the kid still has to match the payload. */
  expect_open(n, NULL, &keys, PR_R_SENDER_MISMATCH, GL_EPERM, NULL);
}

static void test_open_rejects_results_for_another_meter(void **state) {
  (void)state;
  pr_msg m;
  sample_msg(PR_MSG_RESULT, &m);
  memcpy(m.result.meter, "meter-18", 9);
  size_t n;
  assert_int_equal(pr_seal(&m, &agg_key, sealed, sizeof sealed, &n, NULL), 0);
  pr_topic t = topic_of(PR_TOPIC_RESULT, "meter-17");
  expect_open(n, &t, &keys, PR_R_SENDER_MISMATCH, GL_EPERM,
              "meter: \"meter-18\" but the topic is meter \"meter-17\"'s");
  sample_msg(PR_MSG_PROOF_RESPONSE, &m);
  memcpy(m.proof_response.meter, "meter-18", 9);
  assert_int_equal(pr_seal(&m, &agg_key, sealed, sizeof sealed, &n, NULL), 0);
  t = topic_of(PR_TOPIC_PROOF_RESPONSE, "meter-17");
  expect_open(n, &t, &keys, PR_R_SENDER_MISMATCH, GL_EPERM, "meter-18");
  t = topic_of(PR_TOPIC_PROOF_RESPONSE, "meter-18");
  expect_open(n, &t, &keys, PR_R_NONE, 0, NULL);
}

static void test_open_rejects_an_unparsed_topic(void **state) {
  (void)state;
  size_t n = seal_sample(PR_MSG_READING);
  pr_topic t = {0};
  expect_open(n, &t, &keys, PR_R_BAD_TOPIC, GL_EINVAL, NULL);
}

/* ---- Threads ----------------------------------------------------------- */

typedef struct worker {
  const uint8_t *msg;
  size_t len;
  int failures;
} worker;

static void *open_many(void *arg) {
  worker *w = arg;
  pr_topic t = topic_of(PR_TOPIC_READING, "meter-17");
  for (int i = 0; i < 100; i++) {
    pr_msg m;
    if (pr_open(w->msg, w->len, &t, &keys, &m, NULL, NULL) != 0 ||
        m.reading.pv_wh != 310)
      w->failures++;
  }
  return NULL;
}

static void test_open_runs_concurrently_on_shared_keys(void **state) {
  (void)state;
  static uint8_t msg[PR_SEAL_MAX];
  size_t n = seal_sample(PR_MSG_READING);
  memcpy(msg, sealed, n);
  worker w[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){msg, n, 0};
    assert_int_equal(pthread_create(&th[i], NULL, open_many, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].failures, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seal_every_type_opens_on_its_topic),
      cmocka_unit_test(test_seal_open_without_topic_accepts_any_type),
      cmocka_unit_test(test_seal_largest_messages_fit_seal_max),
      cmocka_unit_test(test_seal_refuses_invalid_messages),
      cmocka_unit_test(test_open_rejects_oversize_before_parsing),
      cmocka_unit_test(test_open_rejects_malformed_envelopes),
      cmocka_unit_test(test_open_rejects_other_algorithms),
      cmocka_unit_test(test_open_rejects_a_kid_other_than_the_topics),
      cmocka_unit_test(test_open_rejects_unknown_senders),
      cmocka_unit_test(test_open_rejects_revoked_senders),
      cmocka_unit_test(test_open_passes_on_keyring_errors),
      cmocka_unit_test(test_open_rejects_bad_signatures),
      cmocka_unit_test(test_open_no_single_bit_change_is_accepted),
      cmocka_unit_test(test_open_rejects_other_versions_after_verifying),
      cmocka_unit_test(test_open_rejects_types_the_topic_does_not_carry),
      cmocka_unit_test(test_open_rejects_invalid_payloads),
      cmocka_unit_test(test_open_rejects_a_sender_field_other_than_the_kid),
      cmocka_unit_test(test_open_rejects_results_for_another_meter),
      cmocka_unit_test(test_open_rejects_an_unparsed_topic),
      cmocka_unit_test(test_open_runs_concurrently_on_shared_keys),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
