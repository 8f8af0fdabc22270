/* SPDX-License-Identifier: MIT */
/*
 * The meter's outbox (mtr_pub over a real SQLite file) publishing through
 * pr_mqtt to a real mosquitto, with an ACL that refuses one topic, and a
 * second client watching what the broker delivers. Times handed to the
 * outbox are chosen by the test, so days pass in a moment:
 *   - after a three-day broker outage the outbox is replayed in seq order,
 *     and receipt_give_up counts from the first PUBACK, not from the
 *     interval's end;
 *   - a message the broker refuses again and again, while it takes others,
 *     is set aside (state REFUSED, an alarm) so the messages behind it
 *     flow, even with one message in flight at a time;
 *   - once the broker said its receive window is full, mtr_pub_ready says
 *     no until an acknowledgement frees a place.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_pub.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_mqtt.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define I15 (900 * SEC)
#define DAY (86400 * SEC)
#define T0 (INT64_C(1782036000) * SEC)
#define T_READING "gridlet/c1/meter/m1/reading"
#define T_REFUSED "gridlet/c1/meter/m1/refused"

static char dir[GT_PATH_MAX];
static uint16_t port;
static pid_t broker;

static int group_setup(void **st) {
  (void)st;
  gt_tmpdir("moutbox", dir);
  char acl[GT_PATH_MAX], extra[GT_PATH_MAX + 64];
  gt_path(acl, dir, "acl");
  /* Anonymous clients may publish readings and read everything; nothing
   * else. A small receive window (MQTT 5 Receive Maximum). */
  gt_write_file(acl,
                "topic write gridlet/c1/meter/m1/reading\n"
                "topic read gridlet/#\n",
                (size_t)-1);
  snprintf(extra, sizeof extra, "acl_file %s\nmax_inflight_messages 3\n", acl);
  broker = gt_mosquitto_start(dir, &port, extra, false);
  return 0;
}

static int group_teardown(void **st) {
  (void)st;
  gt_proc_stop(broker, 5000);
  gt_rmtree(dir);
  return 0;
}

/* ---- A rig: store, outbox, the meter's client, a watcher ----------------- */

typedef struct rig {
  mtr_store *store;
  mtr_pub *pub;
  pr_mqtt *cli, *watch;
  bool connected, watching;
  int64_t seen[64]; /* seqs in the order the watcher got them */
  int nseen;
} rig;

static rig R;

static pr_mqtt *client(const char *id) {
  char uri[64];
  snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%u", port);
  pr_mqtt_config c = {.uri = uri,
                      .client_id = id,
                      .clean_start = true,
                      .reconnect_min_ms = 50,
                      .reconnect_max_ms = 200};
  pr_mqtt *m;
  assert_int_equal(pr_mqtt_new(&c, &m), 0);
  return m;
}

static void rig_start(int inflight) {
  memset(&R, 0, sizeof R);
  char path[GT_PATH_MAX];
  gt_path(path, dir, "meter.db");
  unlink(path);
  mtr_store_opts o = {.create = true, .meter_id = "m1", .community = "c1"};
  assert_int_equal(mtr_store_open(path, &o, &R.store), 0);
  R.cli = client("m1");
  R.watch = client("watcher");
  assert_int_equal(pr_mqtt_subscribe(R.watch, "gridlet/c1/meter/m1/#", 1), 0);
  mtr_pub_cfg c = {.outbox_max = 100,
                   .inflight = inflight,
                   .interval_ns = I15,
                   .receipt_wait_ns = 2 * I15 + I15 / 5,
                   .give_up_ns = 2 * DAY};
  assert_int_equal(mtr_pub_new(&c, R.store, R.cli, &R.pub), 0);
}

static void rig_stop(void) {
  mtr_pub_free(R.pub);
  pr_mqtt_free(R.cli);
  pr_mqtt_free(R.watch);
  mtr_store_free(R.store);
}

/* Queue reading `seq` (the payload names it) on `topic`, as the agent
 * does: outbox row and readings row in one transaction. */
static void queue(int64_t seq, const char *topic, int64_t start) {
  static mtr_outbox_row ob;
  static mtr_reading_row rd;
  memset(&ob, 0, sizeof ob);
  ob.seq = seq;
  ob.kind = MTR_MSG_READING;
  snprintf(ob.topic, sizeof ob.topic, "%s", topic);
  ob.start = start;
  ob.expires = INT64_MAX;
  ob.created = start + I15;
  ob.len = (size_t)snprintf((char *)ob.bytes, sizeof ob.bytes, "%lld",
                            (long long)seq);
  memset(&rd, 0, sizeof rd);
  rd.seq = seq;
  rd.r.start = start;
  rd.r.end = start + I15;
  rd.state = MTR_RS_QUEUED;
  rd.created = start + I15;
  snprintf(rd.topic, sizeof rd.topic, "%s", topic);
  rd.len = ob.len;
  memcpy(rd.bytes, ob.bytes, ob.len);
  bool admitted;
  assert_int_equal(mtr_store_begin(R.store), 0);
  assert_int_equal(mtr_pub_admit(R.pub, &ob, start + I15, &admitted), 0);
  assert_true(admitted);
  assert_int_equal(mtr_store_reading_add(R.store, &rd), 0);
  assert_int_equal(mtr_store_commit(R.store), 0);
}

/* Handle both clients' events, then pump the outbox at `now`, for up to
 * `ms` real milliseconds. */
static void run(int64_t now, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    pr_mqtt_event ev;
    pr_mqtt_wait(R.cli, 5);
    while (pr_mqtt_next(R.cli, &ev) == 0) {
      if (ev.type == PR_MQTT_CONNECTED) {
        R.connected = true;
        mtr_pub_connected(R.pub);
      } else if (ev.type == PR_MQTT_DISCONNECTED) {
        R.connected = false;
        mtr_pub_disconnected(R.pub);
      } else if (ev.type == PR_MQTT_PUBLISHED) {
        assert_int_equal(
            mtr_pub_published(R.pub, ev.token, ev.ok, ev.reason, now), 0);
      }
    }
    pr_mqtt_wait(R.watch, 5);
    while (pr_mqtt_next(R.watch, &ev) == 0) {
      if (ev.type == PR_MQTT_SUBSCRIBED)
        R.watching = true;
      if (ev.type == PR_MQTT_MESSAGE && R.nseen < 64) {
        char text[32];
        snprintf(text, sizeof text, "%.*s", (int)ev.payload_len,
                 (const char *)ev.payload);
        R.seen[R.nseen++] = strtoll(text, NULL, 10);
      }
    }
    assert_int_equal(mtr_pub_pump(R.pub, now), 0);
  }
}

static int64_t outbox_depth(void) {
  int64_t n = -1;
  assert_int_equal(mtr_store_outbox_count(R.store, &n), 0);
  return n;
}

static int state_of(int64_t seq) {
  static mtr_reading_row r;
  assert_int_equal(mtr_store_reading_get(R.store, seq, &r), 0);
  return r.state;
}

static void connect_both(void) {
  assert_int_equal(pr_mqtt_connect(R.watch), 0);
  for (int i = 0; i < 300 && !R.watching; i++)
    run(0, 10);
  assert_true(R.watching);
  assert_int_equal(pr_mqtt_connect(R.cli), 0);
}

static void
test_outbox_replayed_in_order_and_given_up_from_first_puback(void **st) {
  (void)st;
  rig_start(4);
  /* Twelve readings made while the broker was unreachable for days. */
  for (int64_t i = 0; i < 12; i++)
    queue(100 + i, T_READING, T0 + i * I15);
  connect_both();
  int64_t back = T0 + 3 * DAY; /* the broker is back three days later */
  for (int i = 0; i < 300 && (outbox_depth() || R.nseen < 12); i++)
    run(back, 10);
  assert_int_equal(outbox_depth(), 0);
  /* The broker got them in seq order. */
  assert_int_equal(R.nseen, 12);
  for (int i = 0; i < 12; i++)
    assert_int_equal(R.seen[i], 100 + i);
  /* Each now waits for its receipt, with its full receipt_give_up from
   * now on, not from its interval's end three days ago. */
  run(back + SEC, 50);
  for (int64_t i = 0; i < 12; i++)
    assert_int_equal(state_of(100 + i), MTR_RS_AWAITING);
  static mtr_reading_row r;
  assert_int_equal(mtr_store_reading_get(R.store, 100, &r), 0);
  assert_int_equal(r.acked, back);
  /* No receipt for two days after that: given up. */
  assert_int_equal(mtr_pub_pump(R.pub, back + 2 * DAY + SEC), 0);
  for (int64_t i = 0; i < 12; i++)
    assert_int_equal(state_of(100 + i), MTR_RS_UNCONFIRMED);
  rig_stop();
}

static void test_outbox_sets_aside_a_message_the_broker_refuses(void **st) {
  (void)st;
  /* One message in flight at a time: the strictest order. */
  rig_start(1);
  queue(1, T_REFUSED, T0);
  for (int64_t i = 2; i <= 5; i++)
    queue(i, T_READING, T0 + (i - 1) * I15);
  connect_both();
  gt_log_capture_begin();
  /* Each refusal pauses publishing (a minute, doubling): let time pass. */
  int64_t now = T0 + DAY;
  for (int round = 0; round < 40 && outbox_depth(); round++) {
    run(now, 60);
    now += 2 * 3600 * SEC;
  }
  int refusals = gt_log_count("the broker refused message seq 1");
  bool alarm = gt_log_contains("ALARM (refused)");
  gt_log_capture_end();
  assert_int_equal(outbox_depth(), 0);
  assert_true(alarm);
  assert_true(refusals <= 5);
  assert_int_equal(state_of(1), MTR_RS_REFUSED);
  for (int64_t i = 2; i <= 5; i++)
    assert_int_equal(state_of(i), MTR_RS_AWAITING);
  /* The others reached the broker, in order. */
  assert_int_equal(R.nseen, 4);
  for (int i = 0; i < 4; i++)
    assert_int_equal(R.seen[i], 2 + i);
  int64_t v = 0;
  assert_int_equal(mtr_store_counter_get(R.store, "outbox_refused", &v), 0);
  assert_int_equal(v, 1);
  rig_stop();
}

static void test_outbox_ready_only_with_room_in_the_window(void **st) {
  (void)st;
  rig_start(4);
  connect_both();
  for (int i = 0; i < 300 && !R.connected; i++)
    run(T0, 10);
  assert_true(R.connected);
  assert_true(mtr_pub_ready(R.pub));
  /* Publish directly, without handling any acknowledgement, until the
   * broker's window (3) is full. */
  pr_mqtt_msg m = {
      .topic = T_READING, .payload = "7", .payload_len = 1, .qos = 1};
  int sent = 0, rc = 0;
  while (sent < 50 && (rc = mtr_pub_direct(R.pub, &m)) == 0)
    sent++;
  assert_int_equal(rc, GL_EAGAIN);
  assert_int_equal(sent, 3);
  assert_false(mtr_pub_ready(R.pub));
  /* The acknowledgements free the window. */
  for (int i = 0; i < 300 && !mtr_pub_idle(R.pub); i++)
    run(T0, 10);
  assert_true(mtr_pub_idle(R.pub));
  assert_true(mtr_pub_ready(R.pub));
  rig_stop();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          test_outbox_replayed_in_order_and_given_up_from_first_puback),
      cmocka_unit_test(test_outbox_sets_aside_a_message_the_broker_refuses),
      cmocka_unit_test(test_outbox_ready_only_with_room_in_the_window),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
