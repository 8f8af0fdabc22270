/* SPDX-License-Identifier: MIT */
/* Unit tests for the topic tree: building, parsing, filters. */
#include "gridlet/error.h"
#include "gridlet/proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_topic_builds_every_kind(void **state) {
  (void)state;
  static const struct {
    pr_topic_kind kind;
    const char *topic;
  } want[] = {
      {PR_TOPIC_READING, "gridlet/c1/meter/meter-17/reading"},
      {PR_TOPIC_ORDER, "gridlet/c1/meter/meter-17/order"},
      {PR_TOPIC_STATUS, "gridlet/c1/meter/meter-17/status"},
      {PR_TOPIC_PROOF_REQUEST, "gridlet/c1/meter/meter-17/proof"},
      {PR_TOPIC_RESULT, "gridlet/c1/result/meter-17/interval"},
      {PR_TOPIC_PROOF_RESPONSE, "gridlet/c1/result/meter-17/proof"},
      {PR_TOPIC_SUMMARY, "gridlet/c1/public/summary"},
      {PR_TOPIC_CHECKPOINT, "gridlet/c1/public/checkpoint"},
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    char buf[PR_TOPIC_MAX];
    assert_int_equal(
        pr_topic_build(want[i].kind, "c1", "meter-17", buf, sizeof buf), 0);
    assert_string_equal(buf, want[i].topic);
    pr_topic t;
    pr_diag d = {0};
    assert_int_equal(pr_topic_parse(buf, strlen(buf), "c1", &t, &d), 0);
    assert_int_equal(t.kind, want[i].kind);
    assert_string_equal(t.community, "c1");
    assert_string_equal(t.id, pr_topic_kind_name(want[i].kind) != NULL &&
                                      (want[i].kind == PR_TOPIC_SUMMARY ||
                                       want[i].kind == PR_TOPIC_CHECKPOINT)
                                  ? ""
                                  : "meter-17");
  }
}

static void test_topic_build_rejects_bad_names_and_small_buffers(void **state) {
  (void)state;
  char buf[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "C1", "m1", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "c1", "m/1", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "c1", "+", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "c1", "broker", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "c1", NULL, buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_NONE, "c1", "m1", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_COUNT, "c1", "m1", buf, 64),
                   GL_EINVAL);
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, "c1", "m1", buf, 10),
                   GL_ETOOBIG);
  assert_int_equal(pr_topic_build(PR_TOPIC_SUMMARY, "c1", NULL, buf, 64), 0);
  assert_string_equal(buf, "gridlet/c1/public/summary");
}

static void test_topic_longest_topic_fits_the_maximum(void **state) {
  (void)state;
  char community[PR_COMMUNITY_MAX + 1], id[PR_ID_MAX + 1];
  memset(community, 'c', PR_COMMUNITY_MAX);
  community[PR_COMMUNITY_MAX] = '\0';
  memset(id, 'm', PR_ID_MAX);
  id[PR_ID_MAX] = '\0';
  char buf[PR_TOPIC_MAX];
  for (int k = 1; k < PR_TOPIC_COUNT; k++) {
    assert_int_equal(
        pr_topic_build((pr_topic_kind)k, community, id, buf, sizeof buf), 0);
    pr_topic t;
    assert_int_equal(pr_topic_parse(buf, strlen(buf), NULL, &t, NULL), 0);
    assert_int_equal(t.kind, k);
  }
}

static void expect_bad(const char *topic, const char *msg) {
  pr_topic t;
  pr_diag d = {0};
  int rc = pr_topic_parse(topic, strlen(topic), "c1", &t, &d);
  if (rc != GL_EPARSE || d.reason != PR_R_BAD_TOPIC ||
      strstr(d.msg, msg) == NULL)
    fail_msg("%s: got %d %s \"%s\", want \"%s\"", topic, rc,
             pr_reason_name(d.reason), d.msg, msg);
  assert_int_equal(t.kind, PR_TOPIC_NONE);
}

static void test_topic_parse_rejects_everything_outside_the_tree(void **state) {
  (void)state;
  expect_bad("", "not under gridlet/");
  expect_bad("gridlet", "not under gridlet/");
  expect_bad("gridlet/c1", "not under gridlet/");
  expect_bad("other/c1/meter/m1/reading", "not under gridlet/");
  expect_bad("/gridlet/c1/meter/m1/reading", "not under gridlet/");
  expect_bad("gridlet/c2/meter/m1/reading", "another community");
  expect_bad("gridlet/C1/meter/m1/reading", "invalid community");
  expect_bad("gridlet//meter/m1/reading", "invalid community");
  expect_bad("gridlet/c1/meter/m1/readings", "unknown topic");
  expect_bad("gridlet/c1/meter/m1/interval", "unknown topic");
  expect_bad("gridlet/c1/result/m1/reading", "unknown topic");
  expect_bad("gridlet/c1/meter/m1/reading/", "too many levels");
  expect_bad("gridlet/c1/meter/m1/reading/x", "too many levels");
  expect_bad("gridlet/c1/meter/m1", "exactly five levels");
  expect_bad("gridlet/c1/meter/+/reading", "invalid meter id");
  expect_bad("gridlet/c1/meter/#", "exactly five levels");
  expect_bad("gridlet/c1/meter//reading", "invalid meter id");
  expect_bad("gridlet/c1/meter/aggregator/reading", "invalid meter id");
  expect_bad("gridlet/c1/meter/Meter/reading", "invalid meter id");
  expect_bad("gridlet/c1/public/summary/x", "exactly four levels");
  expect_bad("gridlet/c1/public/status", "unknown topic");
  expect_bad("gridlet/c1/admin/m1/reading", "unknown section");
  pr_topic t;
  pr_diag d = {0};
  assert_int_equal(
      pr_topic_parse("gridlet/c1/meter/m\0/reading", 26, NULL, &t, &d),
      GL_EPARSE);
  assert_non_null(strstr(d.msg, "NUL"));
  char longt[300];
  memset(longt, 'a', sizeof longt);
  assert_int_equal(pr_topic_parse(longt, sizeof longt, NULL, &t, &d),
                   GL_EPARSE);
  /* The length counts, not a NUL: a prefix of a valid topic is parsed. */
  const char *s = "gridlet/c1/public/summaryXYZ";
  assert_int_equal(pr_topic_parse(s, strlen(s) - 3, "c1", &t, &d), 0);
  assert_int_equal(t.kind, PR_TOPIC_SUMMARY);
}

static void test_topic_filters_for_both_sides(void **state) {
  (void)state;
  char buf[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_filter_ingest("c1", buf, sizeof buf), 0);
  assert_string_equal(buf, "gridlet/c1/meter/+/+");
  assert_int_equal(pr_topic_filter_inbox("c1", "meter-17", buf, sizeof buf), 0);
  assert_string_equal(buf, "gridlet/c1/result/meter-17/#");
  assert_int_equal(pr_topic_filter_public("c1", buf, sizeof buf), 0);
  assert_string_equal(buf, "gridlet/c1/public/#");
  assert_int_equal(
      pr_topic_filter(PR_TOPIC_READING, "c1", NULL, buf, sizeof buf), 0);
  assert_string_equal(buf, "gridlet/c1/meter/+/reading");
  assert_int_equal(
      pr_topic_filter(PR_TOPIC_STATUS, "c1", "m1", buf, sizeof buf), 0);
  assert_string_equal(buf, "gridlet/c1/meter/m1/status");
  assert_int_equal(pr_topic_filter_inbox("c1", "aggregator", buf, sizeof buf),
                   GL_EINVAL);
  assert_int_equal(pr_topic_filter_public("c1", buf, 5), GL_ETOOBIG);
}

static void test_topic_kinds_carry_their_message_types(void **state) {
  (void)state;
  assert_int_equal(pr_topic_types(PR_TOPIC_READING),
                   PR_TYPE_BIT(PR_MSG_READING));
  assert_int_equal(pr_topic_types(PR_TOPIC_ORDER),
                   PR_TYPE_BIT(PR_MSG_ORDER) | PR_TYPE_BIT(PR_MSG_PREFS));
  assert_int_equal(pr_topic_types(PR_TOPIC_PROOF_RESPONSE),
                   PR_TYPE_BIT(PR_MSG_PROOF_RESPONSE));
  assert_int_equal(pr_topic_types(PR_TOPIC_NONE), 0);
  /* every message type travels on exactly one kind of topic */
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    int n = 0;
    for (int k = 1; k < PR_TOPIC_COUNT; k++)
      n += (pr_topic_types((pr_topic_kind)k) & PR_TYPE_BIT(t)) != 0;
    assert_int_equal(n, 1);
  }
  assert_true(pr_topic_retained(PR_TOPIC_STATUS));
  assert_true(pr_topic_retained(PR_TOPIC_CHECKPOINT));
  assert_false(pr_topic_retained(PR_TOPIC_READING));
  assert_true(pr_topic_from_meter(PR_TOPIC_PROOF_REQUEST));
  assert_false(pr_topic_from_meter(PR_TOPIC_PROOF_RESPONSE));
  assert_false(pr_topic_from_meter(PR_TOPIC_SUMMARY));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_topic_builds_every_kind),
      cmocka_unit_test(test_topic_build_rejects_bad_names_and_small_buffers),
      cmocka_unit_test(test_topic_longest_topic_fits_the_maximum),
      cmocka_unit_test(test_topic_parse_rejects_everything_outside_the_tree),
      cmocka_unit_test(test_topic_filters_for_both_sides),
      cmocka_unit_test(test_topic_kinds_carry_their_message_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
