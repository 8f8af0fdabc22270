/* SPDX-License-Identifier: MIT */
/*
 * The MQTT client against a real mosquitto: delivery outcomes, MQTT 5
 * request/response properties, reconnecting forever, renewing
 * subscriptions after a broker restart, refusals, and back-pressure.
 */
#include "gridlet/error.h"
#include "gridlet/pr_mqtt.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct fixture {
  char dir[GT_PATH_MAX];
  uint16_t port;
  pid_t broker;
  char uri[64];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  gt_tmpdir("mqtt", f->dir);
  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  snprintf(f->uri, sizeof f->uri, "mqtt://127.0.0.1:%u", f->port);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  if (f->broker > 0)
    gt_proc_stop(f->broker, 5000);
  gt_rmtree(f->dir);
  free(f);
  return 0;
}

static pr_mqtt *client(const char *uri, const char *id, size_t queue_max) {
  pr_mqtt_config c = {.uri = uri,
                      .client_id = id,
                      .clean_start = true,
                      .reconnect_min_ms = 50,
                      .reconnect_max_ms = 400,
                      .queue_max = queue_max};
  pr_mqtt *m = NULL;
  assert_int_equal(pr_mqtt_new(&c, &m), 0);
  assert_int_equal(pr_mqtt_connect(m), 0);
  return m;
}

/* Wait for the next event of `type`, skipping others; fails after 10 s. */
static pr_mqtt_event wait_for(pr_mqtt *m, pr_mqtt_event_type type) {
  pr_mqtt_event ev;
  for (int i = 0; i < 1000; i++) {
    while (pr_mqtt_next(m, &ev) == 0)
      if (ev.type == type)
        return ev;
    pr_mqtt_wait(m, 10);
  }
  fail_msg("no event of type %d within 10 s", (int)type);
  return ev;
}

static void test_publish_is_acknowledged_and_delivered(void **state) {
  fixture *f = *state;
  pr_mqtt *sub = client(f->uri, "sub", 0), *pub = client(f->uri, "pub", 0);
  wait_for(sub, PR_MQTT_CONNECTED);
  assert_int_equal(pr_mqtt_subscribe(sub, "gridlet/t/#", 1), 0);
  pr_mqtt_event ev = wait_for(sub, PR_MQTT_SUBSCRIBED);
  assert_true(ev.ok);
  wait_for(pub, PR_MQTT_CONNECTED);
  pr_mqtt_msg msg = {
      .topic = "gridlet/t/a", .payload = "hello", .payload_len = 5, .qos = 1};
  uint64_t tok = 0;
  assert_int_equal(pr_mqtt_publish(pub, &msg, &tok), 0);
  assert_true(tok >= 1);
  ev = wait_for(pub, PR_MQTT_PUBLISHED);
  assert_true(ev.ok);
  assert_int_equal(ev.token, tok);
  ev = wait_for(sub, PR_MQTT_MESSAGE);
  assert_string_equal(ev.topic, "gridlet/t/a");
  assert_int_equal(ev.payload_len, 5);
  assert_memory_equal(ev.payload, "hello", 5);
  assert_int_equal(ev.qos, 1);
  pr_mqtt_stats st;
  pr_mqtt_get_stats(pub, &st);
  assert_int_equal(st.published_ok, 1);
  pr_mqtt_free(sub);
  pr_mqtt_free(pub);
}

static void test_response_topic_and_correlation_data_arrive(void **state) {
  fixture *f = *state;
  pr_mqtt *a = client(f->uri, "a", 0), *b = client(f->uri, "b", 0);
  wait_for(a, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(a, "req", 1);
  wait_for(a, PR_MQTT_SUBSCRIBED);
  wait_for(b, PR_MQTT_CONNECTED);
  const uint8_t corr[] = {0, 1, 2, 0xff};
  pr_mqtt_msg msg = {.topic = "req",
                     .payload = "?",
                     .payload_len = 1,
                     .qos = 1,
                     .response_topic = "resp/b",
                     .correlation = corr,
                     .correlation_len = sizeof corr};
  assert_int_equal(pr_mqtt_publish(b, &msg, NULL), 0);
  pr_mqtt_event ev = wait_for(a, PR_MQTT_MESSAGE);
  assert_string_equal(ev.response_topic, "resp/b");
  assert_int_equal(ev.correlation_len, sizeof corr);
  assert_memory_equal(ev.correlation, corr, sizeof corr);
  pr_mqtt_free(a);
  pr_mqtt_free(b);
}

static void
test_connects_once_broker_appears_and_renews_after_restart(void **state) {
  fixture *f = *state;
  /* Start with no broker at all: the client keeps trying. */
  gt_proc_stop(f->broker, 5000);
  f->broker = 0;
  pr_mqtt *m = client(f->uri, "late", 0);
  assert_int_equal(pr_mqtt_subscribe(m, "renew/#", 1), 0);
  pr_mqtt_event ev = wait_for(m, PR_MQTT_DISCONNECTED);
  assert_false(ev.ok);
  assert_false(pr_mqtt_connected(m));
  pr_mqtt_msg msg = {
      .topic = "renew/x", .payload = "1", .payload_len = 1, .qos = 1};
  assert_int_equal(pr_mqtt_publish(m, &msg, NULL), GL_ECONN);

  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  wait_for(m, PR_MQTT_CONNECTED);
  assert_true(wait_for(m, PR_MQTT_SUBSCRIBED).ok);

  /* Kill the broker hard, start a fresh one (no persistence): the client
   * reconnects and renews its subscription by itself. */
  gt_proc_kill9(f->broker);
  wait_for(m, PR_MQTT_DISCONNECTED);
  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  wait_for(m, PR_MQTT_CONNECTED);
  assert_true(wait_for(m, PR_MQTT_SUBSCRIBED).ok);

  pr_mqtt *other = client(f->uri, "other", 0);
  wait_for(other, PR_MQTT_CONNECTED);
  assert_int_equal(pr_mqtt_publish(other, &msg, NULL), 0);
  ev = wait_for(m, PR_MQTT_MESSAGE);
  assert_string_equal(ev.topic, "renew/x");
  pr_mqtt_stats st;
  pr_mqtt_get_stats(m, &st);
  assert_int_equal(st.connects, 2);
  assert_true(st.disconnects >= 2);
  pr_mqtt_free(other);
  pr_mqtt_free(m);
}

static void test_refused_publish_reports_failure(void **state) {
  fixture *f = *state;
  gt_proc_stop(f->broker, 5000);
  char acl[GT_PATH_MAX], extra[GT_PATH_MAX + 32];
  gt_path(acl, f->dir, "acl");
  gt_write_file(acl, "topic readwrite allowed/#\n", (size_t)-1);
  snprintf(extra, sizeof extra, "acl_file %s\n", acl);
  f->broker = gt_mosquitto_start(f->dir, &f->port, extra, false);
  pr_mqtt *m = client(f->uri, "acl", 0);
  wait_for(m, PR_MQTT_CONNECTED);
  pr_mqtt_msg ok = {
      .topic = "allowed/x", .payload = "1", .payload_len = 1, .qos = 1};
  pr_mqtt_msg no = {
      .topic = "denied/x", .payload = "1", .payload_len = 1, .qos = 1};
  uint64_t t1, t2;
  assert_int_equal(pr_mqtt_publish(m, &ok, &t1), 0);
  pr_mqtt_event ev = wait_for(m, PR_MQTT_PUBLISHED);
  assert_int_equal(ev.token, t1);
  assert_true(ev.ok);
  assert_int_equal(pr_mqtt_publish(m, &no, &t2), 0);
  ev = wait_for(m, PR_MQTT_PUBLISHED);
  assert_int_equal(ev.token, t2);
  assert_false(ev.ok);
  assert_int_equal(ev.reason, 0x87); /* MQTT 5: not authorized */
  pr_mqtt_free(m);
}

/* Publish n numbered QoS 1 messages to "flood", honouring the broker's
 * receive maximum as the daemons do, and wait for every acknowledgement. */
static void flood(pr_mqtt *pub, int n) {
  int acked = 0, eagain = 0;
  for (int i = 0; i < n; i++) {
    char body[16];
    int len = snprintf(body, sizeof body, "%d", i);
    pr_mqtt_msg msg = {.topic = "flood",
                       .payload = body,
                       .payload_len = (size_t)len,
                       .qos = 1};
    int rc;
    while ((rc = pr_mqtt_publish(pub, &msg, NULL)) == GL_EAGAIN) {
      eagain++;
      assert_true(wait_for(pub, PR_MQTT_PUBLISHED).ok);
      acked++;
    }
    assert_int_equal(rc, 0);
  }
  while (acked < n)
    if (wait_for(pub, PR_MQTT_PUBLISHED).ok)
      acked++;
  /* mosquitto's receive maximum is 20: the window really pushed back. */
  assert_true(n <= 20 || eagain > 0);
}

static void test_slow_owner_loses_nothing(void **state) {
  fixture *f = *state;
  pr_mqtt *sub = client(f->uri, "slow", 0), *pub = client(f->uri, "fast", 0);
  wait_for(sub, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(sub, "flood", 1);
  wait_for(sub, PR_MQTT_SUBSCRIBED);
  wait_for(pub, PR_MQTT_CONNECTED);
  enum { N = 2000 };
  flood(pub, N); /* the subscriber's owner does not look meanwhile */
  for (int i = 0; i < N; i++) {
    pr_mqtt_event ev = wait_for(sub, PR_MQTT_MESSAGE);
    char want[16];
    snprintf(want, sizeof want, "%d", i);
    assert_int_equal(ev.payload_len, strlen(want));
    assert_memory_equal(ev.payload, want, ev.payload_len);
  }
  pr_mqtt_stats st;
  pr_mqtt_get_stats(sub, &st);
  assert_int_equal(st.received, N);
  assert_int_equal(st.dropped, 0);
  pr_mqtt_free(sub);
  pr_mqtt_free(pub);
}

/* pr_mqtt_disconnect: what arrived before stays readable, nothing arrives
 * after, publishing fails with GL_ECONN. A receiver can thus store all
 * that paho acknowledged before it frees the client. */
static void test_disconnect_keeps_the_queue_and_stops_delivery(void **state) {
  fixture *f = *state;
  pr_mqtt *sub = client(f->uri, "drainer", 0),
          *pub = client(f->uri, "feeder", 0);
  wait_for(sub, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(sub, "flood", 1);
  wait_for(sub, PR_MQTT_SUBSCRIBED);
  wait_for(pub, PR_MQTT_CONNECTED);
  enum { N = 200 };
  flood(pub, N); /* acknowledged by the broker, queued for "drainer" */
  /* Let the broker hand them over, without taking any. */
  pr_mqtt_stats st;
  for (int w = 0; w < 500; w++) {
    pr_mqtt_get_stats(sub, &st);
    if (st.received == N)
      break;
    gt_sleep_ms(10);
  }
  assert_int_equal(st.received, N);
  pr_mqtt_disconnect(sub);
  assert_false(pr_mqtt_connected(sub));
  pr_mqtt_disconnect(sub); /* idempotent */
  flood(pub, 10);          /* after the disconnect: not for us */
  gt_sleep_ms(300);
  for (int i = 0; i < N; i++) {
    pr_mqtt_event ev = wait_for(sub, PR_MQTT_MESSAGE);
    char want[16];
    snprintf(want, sizeof want, "%d", i);
    assert_int_equal(ev.payload_len, strlen(want));
    assert_memory_equal(ev.payload, want, ev.payload_len);
  }
  pr_mqtt_event ev;
  while (pr_mqtt_next(sub, &ev) == 0)
    assert_int_not_equal(ev.type, PR_MQTT_MESSAGE);
  pr_mqtt_get_stats(sub, &st);
  assert_int_equal(st.received, N);
  pr_mqtt_msg msg = {.topic = "x", .payload = "y", .payload_len = 1, .qos = 1};
  assert_int_equal(pr_mqtt_publish(sub, &msg, NULL), GL_ECONN);
  pr_mqtt_free(sub);
  pr_mqtt_free(pub);
}

static void test_queue_overflow_is_counted_and_logged(void **state) {
  fixture *f = *state;
  pr_mqtt *sub = client(f->uri, "tiny", 50), *pub = client(f->uri, "fast", 0);
  wait_for(sub, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(sub, "flood", 1);
  wait_for(sub, PR_MQTT_SUBSCRIBED);
  wait_for(pub, PR_MQTT_CONNECTED);
  gt_log_capture_begin();
  flood(pub, 200);
  for (int i = 0; i < 100 && !gt_log_contains("incoming queue full"); i++)
    gt_sleep_ms(20);
  pr_mqtt_stats st;
  for (int i = 0; i < 100; i++) {
    pr_mqtt_get_stats(sub, &st);
    if (st.received + st.dropped == 200)
      break;
    gt_sleep_ms(20);
  }
  assert_true(gt_log_contains("incoming queue full (50 events, "));
  gt_log_capture_end();
  /* The first 49 queued events are messages (one slot holds SUBSCRIBED). */
  assert_int_equal(st.received + st.dropped, 200);
  assert_true(st.dropped >= 150);
  pr_mqtt_free(sub);
  pr_mqtt_free(pub);
}

static void test_bad_arguments_are_rejected(void **state) {
  (void)state;
  pr_mqtt *m = NULL;
  pr_mqtt_config c = {.uri = "http://x", .client_id = "x"};
  assert_int_equal(pr_mqtt_new(&c, &m), GL_EINVAL);
  c.uri = "mqtt://127.0.0.1:1";
  c.client_id = "";
  assert_int_equal(pr_mqtt_new(&c, &m), GL_EINVAL);
  c.client_id = "x";
  assert_int_equal(pr_mqtt_new(&c, &m), 0);
  assert_int_equal(pr_mqtt_subscribe(m, "", 1), GL_EINVAL);
  assert_int_equal(pr_mqtt_subscribe(m, "a", 2), GL_EINVAL);
  pr_mqtt_msg msg = {.topic = "a", .qos = 3};
  assert_int_equal(pr_mqtt_publish(m, &msg, NULL), GL_EINVAL);
  pr_mqtt_free(m);
  pr_mqtt_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_publish_is_acknowledged_and_delivered, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_response_topic_and_correlation_data_arrive, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_connects_once_broker_appears_and_renews_after_restart, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_refused_publish_reports_failure,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_owner_loses_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_disconnect_keeps_the_queue_and_stops_delivery, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_overflow_is_counted_and_logged,
                                      setup, teardown),
      cmocka_unit_test(test_bad_arguments_are_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
