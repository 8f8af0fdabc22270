/* SPDX-License-Identifier: MIT */
/*
 * Every kind of bad message, through a real TLS broker to the real
 * gridlet-aggregator: each is refused with its own reason, counted under
 * that reason in /metrics and logged. One test per rejection.
 *
 * Meters 1-3 are enrolled at the aggregator, meter 4 only at the CA.
 */
#include "aggtest.h"

#include "gridlet/error.h"
#include "gridlet/pr_seal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static agt t;
static agt_meter m1, m2, m3, m4;

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = 4, .sync_upto = 3, .speed = 60};
  agt_setup(&t, "aggrej", &o);
  agt_start(&t, NULL);
  agt_meter_open(&t, 1, &m1);
  agt_meter_open(&t, 2, &m2);
  agt_meter_open(&t, 3, &m3);
  agt_meter_open(&t, 4, &m4);
  /* Let the first interval end so that readings for it are current. */
  int64_t first = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  agt_sleep_until(&t, first + t.interval + GL_NS_PER_SEC);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  agt_meter_close(&m1);
  agt_meter_close(&m2);
  agt_meter_close(&m3);
  agt_meter_close(&m4);
  agt_teardown(&t);
  return 0;
}

/* The last interval that has ended. */
static int64_t last_interval(void) {
  return gl_floor_div(agt_now(&t), t.interval) * t.interval - t.interval;
}

static pr_msg reading(agt_meter *m, int64_t start) {
  pr_msg msg;
  int64_t ts = gl_floor_div(agt_now(&t), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  assert_int_equal(pr_msg_init(&msg, PR_MSG_READING, m->id.id, ++m->seq, ts),
                   0);
  msg.reading.start = start;
  msg.reading.end = start + t.interval;
  msg.reading.import_wh = 100;
  return msg;
}

static char *series(const char *reason) {
  static char s[128];
  snprintf(s, sizeof s,
           "gridlet_aggregator_messages_rejected_total{reason=\"%s\"}", reason);
  return s;
}

/* Wait for the reason's counter to reach 1 and its log line. */
static void expect(const char *reason) {
  assert_int_equal(agt_wait_metric(&t, series(reason), 1, 10000), 1);
  char line[96];
  snprintf(line, sizeof line, "rejected (%s)", reason);
  char *log = NULL;
  for (int i = 0; i < 100; i++) {
    free(log);
    log = gt_read_file(t.log, NULL);
    if (log && strstr(log, line))
      break;
    gt_sleep_ms(20);
  }
  assert_non_null(strstr(log, line));
  free(log);
}

static void test_forged_signature(void **state) {
  (void)state;
  pr_msg msg = reading(&m1, last_interval());
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m1, &msg, &m2.key, buf); /* not meter 1's key */
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, buf, len);
  expect("bad_signature");
}

static void test_replayed_message_is_a_harmless_duplicate(void **state) {
  (void)state;
  const char *acc = "gridlet_aggregator_messages_accepted_total{kind=\""
                    "reading\"}";
  int64_t before = agt_metric(&t, acc);
  pr_msg msg = reading(&m1, last_interval());
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m1, &msg, NULL, buf);
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, buf, len);
  assert_int_equal(agt_wait_metric(&t, acc, before + 1, 10000), before + 1);
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, buf, len);
  assert_int_equal(
      agt_wait_metric(&t, "gridlet_aggregator_messages_duplicate_total", 1,
                      10000),
      1);
  /* Acknowledged and ignored: nothing more was accepted. */
  assert_int_equal(agt_metric(&t, acc), before + 1);
}

static void test_sequence_number_reuse_is_evidence(void **state) {
  (void)state;
  pr_msg msg = reading(&m2, last_interval());
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m2, &msg, NULL, buf);
  agt_publish(&t, &m2, PR_TOPIC_READING, NULL, buf, len);
  /* Other content under the same seq. */
  msg.reading.import_wh = 5000;
  len = agt_seal(&m2, &msg, NULL, buf);
  agt_publish(&t, &m2, PR_TOPIC_READING, NULL, buf, len);
  expect("seq_reuse");
  assert_int_equal(
      agt_wait_metric(&t, "gridlet_aggregator_evidence_total", 1, 5000), 1);
}

static void test_unknown_meter(void **state) {
  (void)state;
  pr_msg msg = reading(&m4, last_interval());
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m4, &msg, NULL, buf);
  agt_publish(&t, &m4, PR_TOPIC_READING, NULL, buf, len);
  expect("unknown_key");
}

static void test_revoked_meter(void **state) {
  (void)state;
  char bin[GT_PATH_MAX], out[GT_PATH_MAX];
  agt_bin(bin, "certs/gridlet-ca");
  gt_path(out, t.comm.root, "ca.log");
  char *argv[] = {bin,         "--dir",    t.cadir,         "revoke",
                  "meter-003", "--reason", "keyCompromise", NULL};
  assert_int_equal(agt_run_cli(argv, out), 0);
  agt_sighup(&t);
  assert_int_equal(
      agt_wait_metric(&t, "gridlet_aggregator_meters{state=\"revoked\"}", 1,
                      10000),
      1);
  /* The broker has not been reloaded: the connection still works, the
   * aggregator refuses what it signs. */
  pr_msg msg = reading(&m3, last_interval());
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m3, &msg, NULL, buf);
  agt_publish(&t, &m3, PR_TOPIC_READING, NULL, buf, len);
  expect("revoked");
}

static void test_message_for_another_meters_topic(void **state) {
  (void)state;
  /* Meter 2 re-publishes a message meter 1 signed, on its own topic (the
   * broker lets nobody publish on another meter's topic). */
  pr_msg msg = reading(&m1, last_interval() - t.interval);
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m1, &msg, NULL, buf);
  agt_publish(&t, &m2, PR_TOPIC_READING, NULL, buf, len);
  expect("sender_mismatch");
}

static void test_oversize_payload(void **state) {
  (void)state;
  uint8_t *big = malloc(10000);
  memset(big, 'x', 10000);
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, big, 10000);
  free(big);
  expect("oversize");
}

static void test_malformed_payload(void **state) {
  (void)state;
  static const uint8_t junk[] = "{\"v\":1,\"type\":\"reading\"} not COSE";
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, junk, sizeof junk - 1);
  expect("malformed");
}

static void test_timestamp_far_in_the_future(void **state) {
  (void)state;
  pr_msg msg = reading(&m1, last_interval());
  msg.ts += 86400 * GL_NS_PER_SEC;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m1, &msg, NULL, buf);
  agt_publish(&t, &m1, PR_TOPIC_READING, NULL, buf, len);
  expect("ts_future");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_signature),
      cmocka_unit_test(test_replayed_message_is_a_harmless_duplicate),
      cmocka_unit_test(test_sequence_number_reuse_is_evidence),
      cmocka_unit_test(test_unknown_meter),
      cmocka_unit_test(test_revoked_meter),
      cmocka_unit_test(test_message_for_another_meters_topic),
      cmocka_unit_test(test_oversize_payload),
      cmocka_unit_test(test_malformed_payload),
      cmocka_unit_test(test_timestamp_far_in_the_future),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
