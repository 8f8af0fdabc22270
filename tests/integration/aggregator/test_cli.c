/* SPDX-License-Identifier: MIT */
/*
 * gridlet-aggregator's command line and HTTP API as an operator uses them:
 * --print-default-config, --check-config (good and broken files, exit
 * statuses), meters list / set-rated, the API's endpoints, errors and
 * methods, and the billing export's filters.
 */
#include "aggtest.h"

#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static agt t;
static char bin[GT_PATH_MAX], out[GT_PATH_MAX];

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = 2, .speed = 60};
  agt_setup(&t, "aggcli", &o);
  agt_bin(bin, "aggregator/gridlet-aggregator");
  gt_path(out, t.comm.root, "cli.out");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  agt_teardown(&t);
  return 0;
}

static char *run_out(char *const argv[], int *status) {
  *status = agt_run_cli(argv, out);
  char *text = gt_read_file(out, NULL);
  unlink(out);
  return text ? text : strdup("");
}

static void test_default_config_and_check(void **state) {
  (void)state;
  int st;
  char *argv1[] = {bin, "--print-default-config", NULL};
  char *text = run_out(argv1, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(text, "[market]"));
  assert_non_null(strstr(text, ";mode = expost"));
  free(text);
  char *argv2[] = {bin, "--check-config", "-c", t.conf, NULL};
  text = run_out(argv2, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(text, "configuration OK: community demo"));
  free(text);
  /* A broken file: exit status 2 and every error named. */
  char bad[GT_PATH_MAX];
  gt_path(bad, t.comm.root, "bad.conf");
  gt_write_file(bad,
                "[community]\nname = Demo\n[market]\nretail = 0.05\n"
                "feed_in = 0.08\nmode = dutch\n",
                (size_t)-1);
  char *argv3[] = {bin, "--check-config", "-c", bad, NULL};
  text = run_out(argv3, &st);
  assert_int_equal(st, 2);
  assert_non_null(strstr(text, "market.mode"));
  free(text);
  gt_write_file(bad, "[community]\nname = Demo\n[market]\nretail = 0.05\n",
                (size_t)-1);
  text = run_out(argv3, &st);
  assert_int_equal(st, 2);
  assert_non_null(strstr(text, "community.name"));
  assert_non_null(strstr(text, "market.feed_in"));
  free(text);
  /* A wrong key file is found by --check-config, not at 3 a.m. */
  char wrong[GT_PATH_MAX];
  gt_path(wrong, t.comm.root, "wrong.conf");
  char *conf = gt_read_file(t.conf, NULL);
  char *k = strstr(conf, "[ledger]\nkey = ");
  assert_non_null(k);
  char *eol = strchr(k + 15, '\n');
  char fixed[8192];
  snprintf(fixed, sizeof fixed, "%.*s[ledger]\nkey = /nonexistent.key%s",
           (int)(k - conf), conf, eol);
  gt_write_file(wrong, fixed, (size_t)-1);
  free(conf);
  char *argv4[] = {bin, "--check-config", "-c", wrong, NULL};
  text = run_out(argv4, &st);
  assert_int_equal(st, 2);
  assert_non_null(strstr(text, "ledger.key"));
  free(text);
}

static void test_meters_list_and_rating(void **state) {
  (void)state;
  int st;
  char *argv1[] = {bin, "meters", "list", "-c", t.conf, NULL};
  char *text = run_out(argv1, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(text, "meter-001"));
  assert_non_null(strstr(text, "meter-002"));
  assert_non_null(strstr(text, "active"));
  free(text);
  char *argv2[] = {bin,    "meters",    "set-rated", "-c",
                   t.conf, "meter-002", "7000",      NULL};
  text = run_out(argv2, &st);
  assert_int_equal(st, 0);
  free(text);
  char *argv3[] = {bin,    "meters",    "set-rated", "-c",
                   t.conf, "meter-099", "7000",      NULL};
  text = run_out(argv3, &st);
  assert_int_equal(st, 1);
  free(text);
  /* meters sync twice: nothing new the second time. */
  char *argv4[] = {bin, "meters", "sync", "-c", t.conf, NULL};
  text = run_out(argv4, &st);
  assert_int_equal(st, 0);
  assert_non_null(strstr(text, "0 added, 0 updated, 0 revoked, 2 unchanged"));
  free(text);
}

static int status_of(const char *path) {
  return agt_http(&t, path, NULL);
}

static void test_api_endpoints_errors_and_methods(void **state) {
  (void)state;
  agt_start(&t, NULL);
  agt_meter m;
  agt_meter_open(&t, 1, &m);
  int64_t s = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  agt_sleep_until(&t, s + t.interval + GL_NS_PER_SEC);
  agt_reading(&t, &m, s, 250, 0);
  agt_wait_settled(&t, s, 15000);
  json_t *j = agt_json(&t, "/v1/status");
  assert_string_equal(json_string_value(json_object_get(j, "community")),
                      "demo");
  assert_string_equal(json_string_value(json_object_get(j, "mode")), "expost");
  assert_true(json_is_true(json_object_get(j, "mqtt_connected")));
  json_decref(j);
  j = agt_json(&t, "/v1/meters/meter-002");
  assert_int_equal(json_integer_value(json_object_get(j, "rated_w")), 7000);
  assert_string_equal(json_string_value(json_object_get(j, "state")), "active");
  json_decref(j);
  j = agt_json(&t, "/v1/meters");
  assert_int_equal(json_array_size(json_object_get(j, "meters")), 2);
  json_decref(j);
  j = agt_json(&t, "/v1/intervals?limit=2&order=desc");
  json_t *ivs = json_object_get(j, "intervals");
  assert_true(json_array_size(ivs) >= 1 && json_array_size(ivs) <= 2);
  json_decref(j);
  char path[160], ts[GL_TIME_STR_MAX];
  snprintf(path, sizeof path, "/v1/meters/meter-001/settlements?from=%s",
           gl_time_format(s, ts));
  j = agt_json(&t, path);
  json_t *rows = json_object_get(j, "settlements");
  assert_true(json_array_size(rows) >= 1);
  json_t *last = json_array_get(rows, json_array_size(rows) - 1);
  assert_int_equal(json_integer_value(json_object_get(last, "import_wh")), 250);
  json_decref(j);
  j = agt_json(&t, "/v1/checkpoints?limit=3");
  assert_true(json_array_size(json_object_get(j, "checkpoints")) >= 1);
  json_decref(j);
  j = agt_json(&t, "/v1/checkpoints/latest");
  assert_non_null(
      strstr(json_string_value(json_object_get(j, "note")), "gridlet/demo\n"));
  json_decref(j);
  j = agt_json(&t, "/v1/ledger/entries/0");
  assert_string_equal(json_string_value(json_object_get(j, "type")),
                      "parameter");
  json_decref(j);
  j = agt_json(&t, "/v1/balances/meter-001");
  assert_int_equal(json_integer_value(json_object_get(j, "intervals")) >= 1, 1);
  json_decref(j);
  /* Errors. */
  assert_int_equal(status_of("/v1/nothing"), 404);
  assert_int_equal(status_of("/v1/intervals/yesterday"), 400);
  assert_int_equal(status_of("/v1/intervals?limit=0"), 400);
  assert_int_equal(status_of("/v1/intervals?order=sideways"), 400);
  assert_int_equal(status_of("/v1/intervals/1999-01-01T00:00:00Z"), 404);
  assert_int_equal(status_of("/v1/meters/meter-777"), 404);
  assert_int_equal(status_of("/v1/ledger/entries/999999"), 404);
  assert_int_equal(status_of("/v1/proofs/inclusion?index=0"), 400);
  char *body = NULL;
  assert_int_equal(agt_http(&t, "/v1/meters/Bad!", &body), 400);
  assert_non_null(strstr(body, "\"error\""));
  free(body);
  /* The metrics exposition names the meter's reported outbox when known,
   * and counts what was accepted. */
  assert_true(agt_metric(&t, "gridlet_aggregator_messages_accepted_total{"
                             "kind=\"reading\"}") >= 1);
  agt_meter_close(&m);
  /* Billing export filters. */
  char csv[GT_PATH_MAX];
  gt_path(csv, t.comm.root, "one.csv");
  char from[GL_TIME_STR_MAX], to[GL_TIME_STR_MAX];
  gl_time_format(s, from);
  gl_time_format(s + t.interval, to);
  char *argv[] = {bin,         "export", "settlements", "-c", t.conf,
                  "--from",    from,     "--to",        to,   "--meter",
                  "meter-001", "--out",  csv,           NULL};
  int st = agt_run_cli(argv, out);
  assert_int_equal(st, 0);
  char *text = gt_read_file(csv, NULL);
  int lines = 0;
  for (char *p = text; *p; p++)
    lines += *p == '\n';
  assert_int_equal(lines, 2); /* header + the one row */
  assert_non_null(strstr(text, ",meter-001,,250,0,"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_config_and_check),
      cmocka_unit_test(test_meters_list_and_rating),
      cmocka_unit_test(test_api_endpoints_errors_and_methods),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
