/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter with an aggregator certificate it cannot trust (a CRL past
 * its next update; a file not there yet): it starts all the same,
 * keeps making and sending readings, rejects the aggregator's results,
 * says so in `status`, and trusts the aggregator once the file is right
 * and SIGHUP asks it to load it again.
 */
#include "gridlet/error.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pki_ca.h"
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

#define I15 (15 * MH_MIN)
#define YEAR (INT64_C(365) * 86400 * MH_SEC)

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mtrust", 2);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

static void run_until(mh_agg *a, const gl_clock *clock, int64_t until) {
  while (gl_clock_now(clock) < until)
    mh_agg_pump(a, 20);
}

static int64_t counter(const char *db, const char *name) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(db, &o, &s), 0);
  int64_t v = 0;
  int rc = mtr_store_counter_get(s, name, &v);
  assert_true(rc == 0 || rc == GL_ENOENT);
  mtr_store_free(s);
  return v;
}

static bool has_result(const char *db) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s;
  assert_int_equal(mtr_store_open(db, &o, &s), 0);
  static mtr_result_row r;
  bool has = mtr_store_result_last(s, &r) == 0;
  mtr_store_free(s);
  return has;
}

/* The aggregator publishes a result for `start` to meter `m`. */
static void send_result(mh_agg *a, const mh_meter *m, int64_t start) {
  pr_msg msg;
  assert_int_equal(
      pr_msg_init(&msg, PR_MSG_RESULT, PR_AGGREGATOR_ID, ++a->seq, start + I15),
      0);
  pr_result *r = &msg.result;
  snprintf(r->meter, sizeof r->meter, "%s", m->id.id);
  r->start = start;
  r->end = start + I15;
  r->mode = PR_MODE_EXPOST;
  r->flags = PR_RESULT_MISSING;
  char topic[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(PR_TOPIC_RESULT, comm.community, m->id.id,
                                  topic, sizeof topic),
                   0);
  mh_agg_publish(a, topic, &msg, false, NULL, 0);
}

/* `gridlet-meter status`: its exit status, the report in `out`. */
static int status(const mh_meter *m, char *out, size_t cap) {
  char bin[GT_PATH_MAX], log[GT_PATH_MAX];
  gt_build_path(bin, "meter/gridlet-meter");
  gt_path(log, m->dir, "status.out");
  unlink(log);
  char *argv[] = {bin, "status", "--config", (char *)m->conf, NULL};
  int st = gt_proc_wait(gt_proc_start(argv, log, NULL), 10000);
  char *text = gt_read_file(log, NULL);
  snprintf(out, cap, "%s", text ? text : "");
  free(text);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A CRL of the community's CA that expired a year ago, in `path`: issued
 * by a copy of the CA on a clock two years back. */
static void stale_crl(const char *path) {
  char copy[GT_PATH_MAX], cmd[4 * GT_PATH_MAX], crl[GT_PATH_MAX];
  gt_path(copy, comm.root, "ca-copy");
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/ca' '%s'", copy, comm.dir,
           copy);
  assert_int_equal(system(cmd), 0);
  gl_clock real = gl_clock_real();
  gl_manual_clock *mc = gl_manual_clock_new(gl_clock_now(&real) - 2 * YEAR);
  gl_clock past = gl_manual_clock_clock(mc);
  gl_rand rand = gl_rand_system();
  pki_ca *ca;
  pki_why why = {{0}};
  pki_ca_open_opts o = {.no_sync = true};
  if (pki_ca_open(copy, &o, &rand, &past, &ca, &why))
    fail_msg("CA copy: %s", why.text);
  if (pki_ca_write_crl(ca, 86400 * MH_SEC, &why))
    fail_msg("CRL: %s", why.text);
  pki_ca_free(ca);
  gl_manual_clock_free(mc);
  gt_path(crl, copy, "crl.pem");
  char *text = gt_read_file(crl, NULL);
  assert_non_null(text);
  gt_write_file(path, text, (size_t)-1);
  free(text);
}

static void test_meter_keeps_metering_with_an_untrusted_aggregator(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 5 * 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim1");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  char crl[GT_PATH_MAX], extra[GT_PATH_MAX + 16];
  gt_path(crl, comm.root, "stale-crl.pem");
  stale_crl(crl);
  snprintf(extra, sizeof extra, "crl = %s\n", crl);
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n", extra);
  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + 2 * I15 + MH_MIN);
  assert_true(gt_proc_alive(m.pid));
  pr_msg **r;
  size_t n = mh_readings(&agg, m.id.id, &r);
  assert_true(n >= 2);
  int64_t start = r[0]->reading.start;
  free(r);
  send_result(&agg, &m, start);
  for (int i = 0; i < 250 && !counter(m.db, "rejected_untrusted"); i++)
    mh_agg_pump(&agg, 20);
  assert_int_equal(counter(m.db, "rejected_untrusted"), 1);
  assert_false(has_result(m.db));
  char out[8192];
  assert_int_equal(status(&m, out, sizeof out), 1);
  assert_non_null(strstr(out, "aggregator     certificate not trusted: "));
  assert_non_null(strstr(out, "the aggregator's certificate is not trusted"));
  mh_meter_stop(&m);
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(strstr(log, "the aggregator's certificate cannot be "
                              "trusted: readings are made and sent"));
  free(log);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

static void test_meter_trusts_the_aggregator_after_sighup(void **st) {
  (void)st;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  mh_clock(600, I15, 3600 * MH_SEC, spec, &clock, &ac);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim2");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 30s\n", NULL);
  /* The aggregator's certificate is not installed yet. */
  char real[GT_PATH_MAX], later[GT_PATH_MAX];
  gt_path(real, comm.dir, "aggregator/aggregator.pem");
  gt_path(later, m.dir, "aggregator.pem");
  unlink(later);
  char *conf = gt_read_file(m.conf, NULL);
  char *p = strstr(conf, real);
  assert_non_null(p);
  size_t cap = strlen(conf) + GT_PATH_MAX;
  char *fixed = malloc(cap);
  snprintf(fixed, cap, "%.*s%s%s", (int)(p - conf), conf, later,
           p + strlen(real));
  gt_write_file(m.conf, fixed, (size_t)-1);
  free(fixed);
  free(conf);

  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  run_until(&agg, &clock, t0 + I15 + MH_MIN);
  assert_true(gt_proc_alive(m.pid));
  int64_t s0 = gl_floor_div(t0, I15) * I15;
  send_result(&agg, &m, s0);
  for (int i = 0; i < 250 && !counter(m.db, "rejected_untrusted"); i++)
    mh_agg_pump(&agg, 20);
  assert_int_equal(counter(m.db, "rejected_untrusted"), 1);

  /* Installed, and the agent told. */
  char *pem = gt_read_file(real, NULL);
  gt_write_file(later, pem, (size_t)-1);
  free(pem);
  kill(m.pid, SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 250 && !reloaded; i++) {
    mh_agg_pump(&agg, 20);
    char *log = gt_read_file(m.log, NULL);
    reloaded = log && strstr(log, "SIGHUP: aggregator certificate and CRL "
                                  "reloaded");
    free(log);
  }
  assert_true(reloaded);
  send_result(&agg, &m, s0 + I15);
  for (int i = 0; i < 250 && !has_result(m.db); i++)
    mh_agg_pump(&agg, 20);
  assert_true(has_result(m.db));
  assert_int_equal(counter(m.db, "rejected_untrusted"), 1);
  char out[8192];
  status(&m, out, sizeof out);
  assert_null(strstr(out, "not trusted"));
  mh_meter_stop(&m);
  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_meter_keeps_metering_with_an_untrusted_aggregator),
      cmocka_unit_test(test_meter_trusts_the_aggregator_after_sighup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
