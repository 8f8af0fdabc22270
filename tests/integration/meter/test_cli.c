/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter's command line as a household meets it: the default
 * configuration, --check-config on good and bad files (every error names
 * file, line and key, or the file that is wrong), refusals to start (a
 * meter id that is not the certificate's, another meter's database),
 * status and alarms without and with a database, SIGHUP and a clean
 * SIGTERM.
 */
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/rand.h"
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static gt_community comm;
static char tool[GT_PATH_MAX], outpath[GT_PATH_MAX];

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mcli", 2);
  gt_build_path(tool, "meter/gridlet-meter");
  gt_path(outpath, comm.root, "out.txt");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

/* Run gridlet-meter with arguments; returns the exit status, output in
 * *out (owned). */
static int meter(char **out, ...) {
  char *argv[16] = {tool};
  int n = 1;
  va_list ap;
  va_start(ap, out);
  for (char *a; n < 15 && (a = va_arg(ap, char *)) != NULL;)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  unlink(outpath);
  pid_t pid = gt_proc_start(argv, outpath, NULL);
  int st = gt_proc_wait(pid, 20000);
  *out = gt_read_file(outpath, NULL);
  if (!*out)
    *out = calloc(1, 1);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_in(const char *text, const char *needle) {
  if (!strstr(text, needle))
    fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static void test_meter_cli_prints_default_config(void **st) {
  (void)st;
  char *out;
  assert_int_equal(meter(&out, "--print-default-config", NULL), 0);
  expect_in(out, "[meter]");
  expect_in(out, "[grid_meter]");
  expect_in(out, "[outbox]");
  expect_in(out, ";when_full = drop-oldest");
  expect_in(out, "; one of: drop-oldest drop-newest");
  free(out);
  assert_int_equal(meter(&out, "bogus", NULL), 2);
  expect_in(out, "unknown command");
  free(out);
}

static void test_meter_cli_check_config_names_every_problem(void **st) {
  (void)st;
  char path[GT_PATH_MAX];
  gt_path(path, comm.root, "bad.conf");
  gt_write_file(path,
                "[meter]\ncommunity = demo\npoll = 7s\nfoo = 1\n"
                "[grid_meter]\nendpoint = tcp:127.0.0.1\nunit = 300\n"
                "[mqtt]\nuri = mqtts://127.0.0.1:8883\n",
                (size_t)-1);
  char *out;
  assert_int_equal(meter(&out, "--check-config", "--config", path, NULL), 2);
  expect_in(out, "bad.conf:4: meter.foo: unknown key");
  expect_in(out, "bad.conf:7: grid_meter.unit: 300 is out of range 0..247");
  free(out);
  /* Syntax fine, rules across settings not. */
  gt_write_file(path,
                "[meter]\ncommunity = demo\npoll = 7s\n"
                "[grid_meter]\nendpoint = tcp:127.0.0.1\n"
                "[mqtt]\nuri = mqtts://127.0.0.1:8883\n",
                (size_t)-1);
  assert_int_equal(meter(&out, "--check-config", "--config", path, NULL), 2);
  expect_in(out, "bad.conf: meter.poll: 7s does not divide the interval");
  free(out);
  /* Valid, but the files it names are not there. */
  gt_write_file(
      path,
      "[meter]\ncommunity = demo\n"
      "[grid_meter]\nendpoint = tcp:127.0.0.1\nprofile = "
      "/nonexistent.profile\n"
      "[mqtt]\nuri = mqtts://127.0.0.1:8883\ncert = /nonexistent.pem\n"
      "key = /nonexistent.key\nca = /nonexistent-ca.pem\n"
      "[aggregator]\ncert = /nonexistent-agg.pem\n",
      (size_t)-1);
  assert_int_equal(meter(&out, "--check-config", "--config", path, NULL), 2);
  expect_in(out, "mqtt.cert / mqtt.key:");
  expect_in(out, "mqtt.ca / aggregator.crl:");
  expect_in(out, "grid_meter.profile:");
  free(out);
  assert_int_equal(
      meter(&out, "--check-config", "--config", "/nonexistent.conf", NULL), 2);
  expect_in(out, "cannot read /nonexistent.conf");
  free(out);
}

static void test_meter_cli_check_config_accepts_an_enrolled_meter(void **st) {
  (void)st;
  lg_signer signer;
  gl_rand rand = gl_rand_system();
  assert_int_equal(
      lg_signer_generate("gridlet/demo", LG_SIG_ED25519, &rand, &signer), 0);
  char vkey[LG_KEY_TEXT_MAX], extra[LG_KEY_TEXT_MAX + 32];
  assert_int_equal(lg_vkey_format(&signer.vkey, vkey, sizeof vkey), 0);
  lg_signer_wipe(&signer);
  snprintf(extra, sizeof extra, "[aggregator]\nlog_key = %s\n", vkey);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, NULL, 0, NULL, NULL, extra);
  char *out;
  assert_int_equal(meter(&out, "--check-config", "--config", m.conf, NULL), 0);
  expect_in(out, "configuration OK (community demo");
  free(out);
  /* A log key that is not one. */
  mh_meter_config(&m, &comm, 1, NULL, 0, NULL, NULL,
                  "[aggregator]\nlog_key = gridlet/demo+00000000+AAAA\n");
  assert_int_equal(meter(&out, "--check-config", "--config", m.conf, NULL), 2);
  expect_in(out, "aggregator.log_key: \"gridlet/demo+00000000+AAAA\" is not");
  free(out);
}

static void test_meter_cli_refuses_wrong_identity_and_database(void **st) {
  (void)st;
  mh_meter a, b;
  mh_meter_config(&a, &comm, 1, NULL, 0, NULL, "id = meter-002\n", NULL);
  char *out;
  char spec[] = "real";
  assert_int_equal(
      meter(&out, "run", "--config", a.conf, "--clock", spec, NULL), 2);
  expect_in(out, "meter.id: \"meter-002\" but the certificate is for "
                 "\"meter-001\"");
  free(out);
  /* Meter 1 creates its database; meter 2 pointed at it refuses. */
  mh_meter_config(&a, &comm, 1, NULL, 0, NULL, NULL, NULL);
  mh_meter_start(&a, "real");
  for (int i = 0; i < 200 && access(a.db, F_OK) != 0; i++)
    gt_sleep_ms(20);
  gt_sleep_ms(300);
  kill(a.pid, SIGHUP);
  gt_sleep_ms(300);
  mh_meter_stop(&a);
  char *log = gt_read_file(a.log, NULL);
  expect_in(log, "SIGHUP: aggregator certificate and CRL reloaded");
  expect_in(log, "stopping (signal 15)");
  free(log);
  char extra[GT_PATH_MAX + 32];
  snprintf(extra, sizeof extra, "database = %s\n", a.db);
  mh_meter_config(&b, &comm, 2, NULL, 0, NULL, NULL, NULL);
  /* Rewrite b's file with a's database. */
  char *conf = gt_read_file(b.conf, NULL);
  char *p = strstr(conf, "database = ");
  assert_non_null(p);
  char *nl = strchr(p, '\n');
  char *fixed = malloc(strlen(conf) + GT_PATH_MAX + 32);
  snprintf(fixed, strlen(conf) + GT_PATH_MAX + 32, "%.*sdatabase = %s%s",
           (int)(p - conf), conf, a.db, nl);
  gt_write_file(b.conf, fixed, (size_t)-1);
  free(fixed);
  free(conf);
  assert_int_equal(meter(&out, "run", "--config", b.conf, NULL), 2);
  expect_in(out, "belongs to meter \"meter-001\", not \"meter-002\"");
  free(out);
  /* Status of meter 1: nothing lost, and stopped on request a moment ago
   * (a restart), which needs no attention. */
  assert_int_equal(meter(&out, "status", "--database", a.db, NULL), 0);
  expect_in(out, "meter          meter-001 in community demo");
  expect_in(out, "agent          stopped on request at ");
  expect_in(out, "alarms         none");
  free(out);
  /* Its alarms: none, so nothing to acknowledge. */
  assert_int_equal(meter(&out, "alarms", "--database", a.db, NULL), 0);
  expect_in(out, "0 alarms, 0 not acknowledged");
  free(out);
  assert_int_equal(meter(&out, "alarms", "--database", a.db, "--ack", NULL), 0);
  expect_in(out, "0 alarms acknowledged");
  free(out);
  assert_int_equal(meter(&out, "status", "--database", a.db, "--ack", NULL), 2);
  expect_in(out, "--ack is for alarms");
  free(out);
  char missing[GT_PATH_MAX];
  gt_path(missing, comm.root, "none.db");
  assert_int_equal(meter(&out, "status", "--database", missing, NULL), 2);
  expect_in(out, "has the agent run yet?");
  free(out);
  assert_int_equal(meter(&out, "alarms", "--database", missing, NULL), 2);
  expect_in(out, "has the agent run yet?");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_cli_prints_default_config),
      cmocka_unit_test(test_meter_cli_check_config_names_every_problem),
      cmocka_unit_test(test_meter_cli_check_config_accepts_an_enrolled_meter),
      cmocka_unit_test(test_meter_cli_refuses_wrong_identity_and_database),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
