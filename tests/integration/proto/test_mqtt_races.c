/* SPDX-License-Identifier: MIT */
/*
 * The MQTT client's behaviour at the edges, against a real mosquitto:
 * a connection lost while a publish is being handed to paho (made
 * deterministic by wrapping MQTTAsync_sendMessage at link time), a broker
 * that keeps dropping the client, the maximum packet size, a last will
 * replaced while connected, wildcard topics.
 */
#include "gridlet/error.h"
#include "gridlet/pr_mqtt.h"
#include "testutil.h"

#include <MQTTAsync.h>
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

static fixture *the_fixture;

/* ---- Link-time wrapper: lose the connection in the middle of a send ---- */

enum race { RACE_NONE, RACE_LOSS_BEFORE_SEND, RACE_LOSS_AFTER_SEND };
static enum race race_mode;

int __real_MQTTAsync_sendMessage(MQTTAsync h, const char *topic,
                                 const MQTTAsync_message *msg,
                                 MQTTAsync_responseOptions *ro);
int __wrap_MQTTAsync_sendMessage(MQTTAsync h, const char *topic,
                                 const MQTTAsync_message *msg,
                                 MQTTAsync_responseOptions *ro);

/* Kill the broker and give paho time to notice (its connection-lost
 * callback runs while our publish is still in progress). */
static void lose_connection(void) {
  gt_proc_kill9(the_fixture->broker);
  the_fixture->broker = 0;
  gt_sleep_ms(500);
}

int __wrap_MQTTAsync_sendMessage(MQTTAsync h, const char *topic,
                                 const MQTTAsync_message *msg,
                                 MQTTAsync_responseOptions *ro) {
  enum race mode = race_mode;
  race_mode = RACE_NONE;
  if (mode == RACE_LOSS_BEFORE_SEND)
    lose_connection();
  int rc = __real_MQTTAsync_sendMessage(h, topic, msg, ro);
  if (mode == RACE_LOSS_AFTER_SEND)
    lose_connection();
  return rc;
}

/* ---- Helpers ------------------------------------------------------------ */

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  gt_tmpdir("mqrace", f->dir);
  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  snprintf(f->uri, sizeof f->uri, "mqtt://127.0.0.1:%u", f->port);
  the_fixture = f;
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

static pr_mqtt *client(const char *uri, const char *id, int min_ms, int max_ms,
                       size_t max_packet) {
  pr_mqtt_config c = {.uri = uri,
                      .client_id = id,
                      .clean_start = true,
                      .reconnect_min_ms = min_ms,
                      .reconnect_max_ms = max_ms,
                      .max_packet_bytes = max_packet};
  pr_mqtt *m = NULL;
  assert_int_equal(pr_mqtt_new(&c, &m), 0);
  assert_int_equal(pr_mqtt_connect(m), 0);
  return m;
}

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

/* Count the events of `type` that arrive within `ms`. */
static int count_events(pr_mqtt *m, pr_mqtt_event_type type, int ms) {
  int n = 0;
  pr_mqtt_event ev;
  for (int waited = 0; waited < ms; waited += 10) {
    while (pr_mqtt_next(m, &ev) == 0)
      n += ev.type == type;
    pr_mqtt_wait(m, 10);
  }
  while (pr_mqtt_next(m, &ev) == 0)
    n += ev.type == type;
  return n;
}

/* ---- Tests ----------------------------------------------------------------
 */

static void test_loss_before_send_returns_econn_and_no_event(void **state) {
  fixture *f = *state;
  pr_mqtt *m = client(f->uri, "race1", 50, 200, 0);
  wait_for(m, PR_MQTT_CONNECTED);
  pr_mqtt_msg msg = {.topic = "t", .payload = "x", .payload_len = 1, .qos = 1};
  uint64_t tok = 0;
  race_mode = RACE_LOSS_BEFORE_SEND;
  assert_int_equal(pr_mqtt_publish(m, &msg, &tok), GL_ECONN);
  /* No outcome for a publish the caller was told failed. */
  assert_int_equal(count_events(m, PR_MQTT_PUBLISHED, 300), 0);
  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  wait_for(m, PR_MQTT_CONNECTED);
  /* The receive window is whole again: a full window of publishes goes. */
  for (int i = 0; i < 20; i++)
    assert_int_equal(pr_mqtt_publish(m, &msg, NULL), 0);
  int ok = 0;
  for (int i = 0; i < 20; i++)
    ok += wait_for(m, PR_MQTT_PUBLISHED).ok;
  assert_int_equal(ok, 20);
  pr_mqtt_free(m);
}

static void
test_loss_after_send_gives_exactly_one_failed_outcome(void **state) {
  fixture *f = *state;
  pr_mqtt *m = client(f->uri, "race2", 50, 200, 0);
  wait_for(m, PR_MQTT_CONNECTED);
  pr_mqtt_msg msg = {.topic = "t", .payload = "x", .payload_len = 1, .qos = 1};
  uint64_t tok = 0;
  race_mode = RACE_LOSS_AFTER_SEND;
  int rc = pr_mqtt_publish(m, &msg, &tok);
  assert_int_equal(rc, 0);
  /* Exactly one outcome, for the token returned. (If the PUBACK beat the
   * kill, it is a success; otherwise a failure.) */
  pr_mqtt_event ev = wait_for(m, PR_MQTT_PUBLISHED);
  assert_int_equal(ev.token, tok);
  assert_int_equal(count_events(m, PR_MQTT_PUBLISHED, 500), 0);
  pr_mqtt_stats st;
  pr_mqtt_get_stats(m, &st);
  assert_int_equal(st.published_ok + st.published_failed, 1);
  pr_mqtt_free(m);
}

static void
test_duplicate_client_ids_back_off_instead_of_storming(void **state) {
  fixture *f = *state;
  gt_log_capture_begin();
  /* Two clients with one id: the broker drops whichever connected first. */
  pr_mqtt *a = client(f->uri, "twin", 100, 3000, 0);
  pr_mqtt *b = client(f->uri, "twin", 100, 3000, 0);
  int ca = 0, cb = 0;
  for (int t = 0; t < 80; t++) {
    ca += count_events(a, PR_MQTT_CONNECTED, 50);
    cb += count_events(b, PR_MQTT_CONNECTED, 50);
  }
  /* In 8 s at a fixed 100 ms backoff they would take turns ~80 times; with
   * the backoff growing towards 3 s, a dozen or so. */
  assert_true(ca + cb >= 3);
  assert_true(ca + cb <= 24);
  /* The repeated loss is logged as a warning once per client, not once per
   * cycle (repeats go to the debug level). */
  char needle[96];
  snprintf(needle, sizeof needle,
           "warn mqtt: tcp://127.0.0.1:%u: connection lost", f->port);
  assert_true(gt_log_count(needle) <= 2);
  gt_log_capture_end();
  pr_mqtt_free(a);
  pr_mqtt_free(b);
}

static void test_broker_honours_our_maximum_packet_size(void **state) {
  fixture *f = *state;
  pr_mqtt *sub = client(f->uri, "small", 50, 200, 1024);
  pr_mqtt *pub = client(f->uri, "big", 50, 200, 0);
  wait_for(sub, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(sub, "sz/#", 1);
  wait_for(sub, PR_MQTT_SUBSCRIBED);
  wait_for(pub, PR_MQTT_CONNECTED);
  static char big[8192];
  memset(big, 'x', sizeof big);
  pr_mqtt_msg m1 = {
      .topic = "sz/big", .payload = big, .payload_len = sizeof big, .qos = 1};
  pr_mqtt_msg m2 = {
      .topic = "sz/small", .payload = "ok", .payload_len = 2, .qos = 1};
  assert_int_equal(pr_mqtt_publish(pub, &m1, NULL), 0);
  assert_int_equal(pr_mqtt_publish(pub, &m2, NULL), 0);
  pr_mqtt_event ev = wait_for(sub, PR_MQTT_MESSAGE);
  assert_string_equal(ev.topic, "sz/small");
  assert_int_equal(count_events(sub, PR_MQTT_MESSAGE, 300), 0);
  pr_mqtt_free(sub);
  pr_mqtt_free(pub);
}

/* How many connections the helper has reported (lines that are exactly
 * "connected"; its log lines mention the word too). */
static int connections_reported(const char *log) {
  char *t = gt_read_file(log, NULL);
  int n = 0;
  for (const char *p = t; p && (p = strstr(p, "connected\n")); p++)
    n += (p == t || p[-1] == '\n');
  free(t);
  return n;
}

static void wait_connections(const char *log, int n) {
  for (int i = 0; i < 500 && connections_reported(log) < n; i++)
    gt_sleep_ms(20);
  assert_int_equal(connections_reported(log), n);
}

static void
test_will_replaced_while_connected_is_the_one_published(void **state) {
  fixture *f = *state;
  char helper[GT_PATH_MAX], log[GT_PATH_MAX];
  gt_build_path(helper, "tests/integration/proto/mqtt_will_client");
  gt_path(log, f->dir, "willer.log");
  char *argv[] = {helper, f->uri, "will/t", NULL};
  pid_t pid = gt_proc_start(argv, log, NULL);
  /* Connected with will "A", which it then replaces by "B". Restart the
   * broker: the client reconnects with will "B". Then kill the client. */
  wait_connections(log, 1);
  gt_proc_kill9(f->broker);
  f->broker = gt_mosquitto_start(f->dir, &f->port, NULL, false);
  wait_connections(log, 2);
  gt_proc_kill9(pid);
  pr_mqtt *obs = client(f->uri, "observer", 50, 200, 0);
  wait_for(obs, PR_MQTT_CONNECTED);
  pr_mqtt_subscribe(obs, "will/t", 1);
  pr_mqtt_event ev = wait_for(obs, PR_MQTT_MESSAGE);
  assert_true(ev.retained);
  assert_int_equal(ev.payload_len, 1);
  assert_memory_equal(ev.payload, "B", 1);
  pr_mqtt_free(obs);
}

static void test_wildcards_are_refused_in_topic_names(void **state) {
  fixture *f = *state;
  pr_mqtt *m = client(f->uri, "wild", 50, 200, 0);
  wait_for(m, PR_MQTT_CONNECTED);
  pr_mqtt_msg msg = {
      .topic = "a/+/b", .payload = "x", .payload_len = 1, .qos = 1};
  assert_int_equal(pr_mqtt_publish(m, &msg, NULL), GL_EINVAL);
  msg.topic = "a/#";
  assert_int_equal(pr_mqtt_publish(m, &msg, NULL), GL_EINVAL);
  assert_int_equal(pr_mqtt_set_will(m, "x/+", "y", 1, false, 0), GL_EINVAL);
  pr_mqtt_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_loss_before_send_returns_econn_and_no_event, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_loss_after_send_gives_exactly_one_failed_outcome, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_duplicate_client_ids_back_off_instead_of_storming, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_broker_honours_our_maximum_packet_size, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_will_replaced_while_connected_is_the_one_published, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_wildcards_are_refused_in_topic_names,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
