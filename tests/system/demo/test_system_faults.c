/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - the whole community under faults: the broker restarted
 * mid-run, the aggregator killed with SIGKILL and restarted, a meter
 * killed with SIGKILL and restarted, a meter cut off from the network for
 * several intervals and then back. Every part is the real program on its
 * own free loopback port (systest.h); after each fault the community runs
 * on, and the test ends with the checks of st_finish: the audit passes,
 * every interval is settled exactly once, every reading a household's
 * meter signed is in the ledger exactly once (none lost, none twice),
 * and late readings follow the documented rule (docs/protocol.md,
 * "Delivery and receipts", 6).
 *
 * One scenario per run: `test_system_faults test_NAME` (CTest registers each
 * as its own test so each stays well under a minute).
 */
#include "systest.h"

#include "gridlet/demo_proc.h"
#include "gridlet/error.h"
#include "testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void fleet_ok(st *s) {
  demo_why why = {{0}};
  if (demo_fleet_check_alive(s->f, &why) != 0)
    fail_msg("%s", why.text);
}

static void test_broker_restart(void **state) {
  (void)state;
  st s;
  st_up(&s, "sys-broker", NULL);
  st_run_intervals(&s, 3);
  /* Down for about one and a half intervals: the meters and the
   * aggregator lose their connections; what the broker held is gone
   * (persistence false). */
  demo_fleet_broker_stop(s.f);
  gt_sleep_ms((int)demo_fleet_real_ms(s.f, s.L * 3 / 2));
  demo_why why = {{0}};
  if (demo_fleet_broker_start(s.f, &why) != 0)
    fail_msg("%s", why.text);
  /* Two intervals plus grace for the receipts to time out, then the
   * re-sends and their receipts. */
  st_run_intervals(&s, 5);
  fleet_ok(&s);
  int64_t late_metric = st_metric(&s, "gridlet_aggregator_readings_late_total");
  int64_t until = st_next_interval(&s) - s.L;
  st_result r;
  st_finish(&s, until, &r);
  assert_int_equal(r.late, late_metric);
}

/* The broker killed with SIGKILL: what it acknowledged but had not yet
 * saved or delivered is gone, sessions included. The meters' receipts
 * (protocol item 4) must bring every reading back. */
static void test_broker_kill9(void **state) {
  (void)state;
  st s;
  st_up(&s, "sys-brokerkill", NULL);
  st_run_intervals(&s, 3);
  /* Just after an interval's end, while the readings are on their way. */
  demo_fleet_sleep_until(s.f, st_next_interval(&s) + s.L / 20);
  demo_fleet_broker_kill9(s.f);
  gt_sleep_ms((int)demo_fleet_real_ms(s.f, s.L));
  demo_why why = {{0}};
  if (demo_fleet_broker_start(s.f, &why) != 0)
    fail_msg("%s", why.text);
  st_run_intervals(&s, 5);
  fleet_ok(&s);
  int64_t until = st_next_interval(&s) - s.L;
  st_result r;
  /* The aggregator's reconnect starts a wait for the meters' re-sends
   * (agg_market_session_gap), so nothing the broker forgot is settled as
   * missing: st_finish fails the test on any lost reading. */
  st_finish(&s, until, &r);
}

static void test_aggregator_kill9(void **state) {
  (void)state;
  st s;
  st_up(&s, "sys-aggkill", NULL);
  st_run_intervals(&s, 3);
  /* A crash in the middle of an interval, while readings arrive. */
  demo_fleet_sleep_until(s.f, st_next_interval(&s) + s.L / 10);
  demo_fleet_aggregator_kill9(s.f);
  gt_sleep_ms((int)demo_fleet_real_ms(s.f, s.L));
  demo_why why = {{0}};
  if (demo_fleet_aggregator_start(s.f, &why) != 0)
    fail_msg("%s", why.text);
  st_run_intervals(&s, 5);
  fleet_ok(&s);
  int64_t until = st_next_interval(&s) - s.L;
  st_result r;
  st_finish(&s, until, &r);
}

static void test_meter_kill9(void **state) {
  (void)state;
  st s;
  st_up(&s, "sys-meterkill", NULL);
  st_run_intervals(&s, 3);
  /* Just after an interval's end: the meter is handing out its reading. */
  demo_fleet_sleep_until(s.f, st_next_interval(&s) + s.L / 30);
  demo_fleet_meter_kill9(s.f, 1);
  gt_sleep_ms((int)demo_fleet_real_ms(s.f, s.L / 2));
  demo_why why = {{0}};
  if (demo_fleet_meter_start(s.f, 1, &why) != 0)
    fail_msg("%s", why.text);
  st_run_intervals(&s, 5);
  fleet_ok(&s);
  int64_t until = st_next_interval(&s) - s.L;
  st_result r;
  st_finish(&s, until, &r);
}

/* A TCP relay between one meter and the broker (socat, its own process
 * group: the parent and the child of each connection are stopped
 * together, by the group of the PID we started). */
static pid_t relay_start(st *s, uint16_t port) {
  char listen[64], to[64], log[DEMO_PATH_MAX];
  snprintf(listen, sizeof listen, "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork",
           port);
  snprintf(to, sizeof to, "TCP:127.0.0.1:%u", s->in->mqtt_port);
  char *argv[] = {"socat", listen, to, NULL};
  pid_t pid = 0;
  assert_int_equal(demo_proc_spawn(argv,
                                   demo_fleet_path(s->f, "relay.log", log),
                                   NULL, &pid),
                   0);
  assert_true(gt_wait_port(port, 10000));
  return pid;
}

static void relay_stop(pid_t pid) {
  kill(-pid, SIGKILL);
  demo_proc_wait(pid, 5000, NULL);
}

static void test_meter_offline(void **state) {
  (void)state;
  st s;
  st_up(&s, "sys-offline", NULL);
  /* Meter 2 reaches the broker through a relay that the test cuts. */
  uint16_t port = gt_free_port();
  char uri[64];
  snprintf(uri, sizeof uri, "mqtts://127.0.0.1:%u", port);
  pid_t relay = relay_start(&s, port);
  demo_fleet_meter_stop(s.f, 2, NULL);
  demo_why why = {{0}};
  if (demo_fleet_meter_config(s.f, 2, uri, &why) != 0 ||
      demo_fleet_meter_start(s.f, 2, &why) != 0)
    fail_msg("%s", why.text);
  st_run_intervals(&s, 3);
  /* Offline for three whole intervals: the meter keeps measuring and
   * committing readings; the aggregator settles it as missing. */
  relay_stop(relay);
  int64_t off = st_next_interval(&s);
  st_run_intervals(&s, 4);
  relay = relay_start(&s, port);
  /* Back: its queued readings arrive late, are logged as late and change
   * nothing settled; then the receipts. */
  st_run_intervals(&s, 5);
  fleet_ok(&s);
  int64_t late_metric = st_metric(&s, "gridlet_aggregator_readings_late_total");
  int64_t until = st_next_interval(&s) - s.L;
  relay_stop(relay);
  st_result r;
  st_finish(&s, until, &r);
  char t[GL_TIME_STR_MAX];
  print_message("offline from %s: %lld late readings, %lld rows settled "
                "without a reading\n",
                gl_time_format(off, t), (long long)r.late,
                (long long)r.missing);
  /* At least the three whole intervals it was away were settled without
   * its reading, and their readings arrived late. */
  assert_true(r.missing >= 3);
  assert_true(r.late >= 3);
  assert_int_equal(r.late, late_metric);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broker_restart),
      cmocka_unit_test(test_broker_kill9),
      cmocka_unit_test(test_aggregator_kill9),
      cmocka_unit_test(test_meter_kill9),
      cmocka_unit_test(test_meter_offline),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
