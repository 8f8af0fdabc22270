/* SPDX-License-Identifier: MIT */
/*
 * The MQTT client over TLS 1.3 with Ed25519 client certificates, against a
 * real mosquitto configured by gridlet-ca for a development community: the
 * path every meter and the aggregator take in production.
 */
#include "gridlet/error.h"
#include "gridlet/pr_mqtt.h"
#include "testcommunity.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mqtls", 2);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

static pr_mqtt *tls_client(const gt_identity *who, const char *ca) {
  pr_mqtt_config c = {.uri = comm.uri,
                      .client_id = who->id,
                      .ca_file = ca ? ca : who->ca,
                      .cert_file = who->cert,
                      .key_file = who->key,
                      .clean_start = true,
                      .reconnect_min_ms = 50,
                      .reconnect_max_ms = 400};
  pr_mqtt *m = NULL;
  assert_int_equal(pr_mqtt_new(&c, &m), 0);
  assert_int_equal(pr_mqtt_connect(m), 0);
  return m;
}

static pr_mqtt_event wait_for(pr_mqtt *m, pr_mqtt_event_type type) {
  pr_mqtt_event ev;
  for (int i = 0; i < 1500; i++) {
    while (pr_mqtt_next(m, &ev) == 0)
      if (ev.type == type)
        return ev;
    pr_mqtt_wait(m, 10);
  }
  fail_msg("no event of type %d within 15 s", (int)type);
  return ev;
}

static void
test_meter_publishes_own_topic_over_tls_and_aggregator_receives(void **state) {
  (void)state;
  gt_identity agg, m1;
  gt_community_aggregator(&comm, &agg);
  gt_community_meter(&comm, 1, &m1);
  pr_mqtt *a = tls_client(&agg, NULL), *m = tls_client(&m1, NULL);
  wait_for(a, PR_MQTT_CONNECTED);
  assert_int_equal(pr_mqtt_subscribe(a, "gridlet/demo/meter/+/reading", 1), 0);
  assert_true(wait_for(a, PR_MQTT_SUBSCRIBED).ok);
  wait_for(m, PR_MQTT_CONNECTED);

  char own[128], other[128];
  snprintf(own, sizeof own, "gridlet/demo/meter/%s/reading", m1.id);
  snprintf(other, sizeof other, "gridlet/demo/meter/meter-002/reading");
  pr_mqtt_msg msg = {.topic = own, .payload = "r1", .payload_len = 2, .qos = 1};
  uint64_t tok;
  assert_int_equal(pr_mqtt_publish(m, &msg, &tok), 0);
  pr_mqtt_event ev = wait_for(m, PR_MQTT_PUBLISHED);
  assert_true(ev.ok);
  ev = wait_for(a, PR_MQTT_MESSAGE);
  assert_string_equal(ev.topic, own);

  /* Another meter's topic: the broker's ACL refuses, the aggregator never
   * sees it. */
  msg.topic = other;
  assert_int_equal(pr_mqtt_publish(m, &msg, &tok), 0);
  ev = wait_for(m, PR_MQTT_PUBLISHED);
  assert_false(ev.ok);
  assert_int_equal(ev.reason, 0x87);
  gt_sleep_ms(200);
  while (pr_mqtt_next(a, &ev) == 0)
    assert_int_not_equal(ev.type, PR_MQTT_MESSAGE);
  pr_mqtt_free(m);
  pr_mqtt_free(a);
}

static void test_wrong_trust_anchor_never_connects(void **state) {
  (void)state;
  gt_identity m1;
  gt_community_meter(&comm, 1, &m1);
  /* Trusting only the meter's own certificate, the broker's cannot
   * verify: the client keeps failing and says why. */
  pr_mqtt *m = tls_client(&m1, m1.cert);
  pr_mqtt_event ev = wait_for(m, PR_MQTT_DISCONNECTED);
  assert_false(ev.ok);
  assert_non_null(ev.text);
  gt_sleep_ms(300);
  assert_false(pr_mqtt_connected(m));
  pr_mqtt_free(m);
}

static void test_tls_client_reconnects_after_broker_restart(void **state) {
  (void)state;
  gt_identity m2;
  gt_community_meter(&comm, 2, &m2);
  pr_mqtt *m = tls_client(&m2, NULL);
  wait_for(m, PR_MQTT_CONNECTED);
  gt_community_broker_kill9(&comm);
  wait_for(m, PR_MQTT_DISCONNECTED);
  gt_community_broker_start(&comm);
  wait_for(m, PR_MQTT_CONNECTED);
  char own[128];
  snprintf(own, sizeof own, "gridlet/demo/meter/%s/status", m2.id);
  pr_mqtt_msg msg = {.topic = own,
                     .payload = "on",
                     .payload_len = 2,
                     .qos = 1,
                     .retain = true};
  assert_int_equal(pr_mqtt_publish(m, &msg, NULL), 0);
  assert_true(wait_for(m, PR_MQTT_PUBLISHED).ok);
  pr_mqtt_free(m);
}

static void
test_broker_refuses_oversize_packets_and_others_carry_on(void **state) {
  (void)state;
  gt_identity agg, m1, m2;
  gt_community_aggregator(&comm, &agg);
  gt_community_meter(&comm, 1, &m1);
  gt_community_meter(&comm, 2, &m2);
  pr_mqtt *a = tls_client(&agg, NULL), *big = tls_client(&m1, NULL),
          *ok = tls_client(&m2, NULL);
  wait_for(a, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(a, "gridlet/demo/meter/+/reading", 1);
  assert_true(wait_for(a, PR_MQTT_SUBSCRIBED).ok);
  wait_for(big, PR_MQTT_CONNECTED);
  wait_for(ok, PR_MQTT_CONNECTED);
  /* 200 KiB: above the broker's max_packet_size from gridlet-ca. */
  static char huge[200 * 1024];
  memset(huge, 'x', sizeof huge);
  char t1[128], t2[128];
  snprintf(t1, sizeof t1, "gridlet/demo/meter/%s/reading", m1.id);
  snprintf(t2, sizeof t2, "gridlet/demo/meter/%s/reading", m2.id);
  pr_mqtt_msg hm = {
      .topic = t1, .payload = huge, .payload_len = sizeof huge, .qos = 1};
  assert_int_equal(pr_mqtt_publish(big, &hm, NULL), 0);
  assert_false(wait_for(big, PR_MQTT_PUBLISHED).ok);
  /* The honest meter's reading still arrives, and the oversize one never. */
  pr_mqtt_msg sm = {.topic = t2, .payload = "r", .payload_len = 1, .qos = 1};
  assert_int_equal(pr_mqtt_publish(ok, &sm, NULL), 0);
  assert_true(wait_for(ok, PR_MQTT_PUBLISHED).ok);
  pr_mqtt_event ev = wait_for(a, PR_MQTT_MESSAGE);
  assert_string_equal(ev.topic, t2);
  assert_int_equal(ev.payload_len, 1);
  pr_mqtt_free(big);
  pr_mqtt_free(ok);
  pr_mqtt_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_meter_publishes_own_topic_over_tls_and_aggregator_receives),
      cmocka_unit_test(test_wrong_trust_anchor_never_connects),
      cmocka_unit_test(test_tls_client_reconnects_after_broker_restart),
      cmocka_unit_test(
          test_broker_refuses_oversize_packets_and_others_carry_on),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
