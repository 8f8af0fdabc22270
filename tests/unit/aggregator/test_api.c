/* SPDX-License-Identifier: MIT */
/* The HTTP API's URL routing and the Prometheus exposition. */
#include "gridlet/agg_api.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static agg_route route(const char *path, int want) {
  agg_route r;
  char err[160];
  assert_int_equal(agg_api_route(path, &r, err, sizeof err), want);
  return r;
}

static void test_routes_resolve_with_their_parameters(void **state) {
  (void)state;
  assert_int_equal(route("/metrics", 0).kind, AGG_API_METRICS);
  assert_int_equal(route("/healthz", 0).kind, AGG_API_HEALTH);
  assert_int_equal(route("/v1/status", 0).kind, AGG_API_STATUS);
  agg_route r = route("/v1/intervals/2026-06-21T10:15:00Z", 0);
  assert_int_equal(r.kind, AGG_API_INTERVAL);
  int64_t t;
  gl_time_parse("2026-06-21T10:15:00Z", &t);
  assert_int_equal(r.time, t);
  assert_int_equal(route("/v1/intervals/2026-06-21T10:15:00Z/trades", 0).kind,
                   AGG_API_INTERVAL_TRADES);
  r = route("/v1/meters/meter-017/settlements", 0);
  assert_int_equal(r.kind, AGG_API_METER_SETTLEMENTS);
  assert_string_equal(r.id, "meter-017");
  assert_int_equal(route("/v1/balances/h1", 0).kind, AGG_API_BALANCE);
  assert_int_equal(route("/v1/checkpoints/latest", 0).kind,
                   AGG_API_CHECKPOINT_LATEST);
  r = route("/v1/checkpoints/1234", 0);
  assert_int_equal(r.kind, AGG_API_CHECKPOINT);
  assert_int_equal(r.num, 1234);
  r = route("/v1/ledger/entries/0", 0);
  assert_int_equal(r.kind, AGG_API_ENTRY);
  assert_int_equal(r.num, 0);
  assert_int_equal(route("/v1/proofs/inclusion", 0).kind,
                   AGG_API_PROOF_INCLUSION);
  assert_int_equal(route("/v1/proofs/consistency", 0).kind,
                   AGG_API_PROOF_CONSISTENCY);
}

static void test_bad_parameters_and_unknown_paths(void **state) {
  (void)state;
  route("/v1/intervals/yesterday", GL_EINVAL);
  route("/v1/meters/Meter-1", GL_EINVAL);
  route("/v1/meters/aggregator", GL_EINVAL); /* reserved */
  route("/v1/checkpoints/0", GL_EINVAL);
  route("/v1/checkpoints/-3", GL_EINVAL);
  route("/v1/ledger/entries/x", GL_EINVAL);
  route("/", GL_ENOENT);
  route("", GL_ENOENT);
  route("/v2/status", GL_ENOENT);
  route("/v1/status/", GL_ENOENT);
  route("/v1//status", GL_ENOENT);
  route("/v1/meters/m1/bogus", GL_ENOENT);
  route("/v1/a/b/c/d/e/f", GL_ENOENT);
}

static void
test_metrics_exposition_lists_every_reason_and_histogram(void **state) {
  (void)state;
  agg_metrics *m = malloc(sizeof *m);
  agg_metrics_init(m);
  agg_count(&m->rejected[AGG_R_BAD_SIGNATURE], 3);
  agg_count(&m->received[AGG_KIND_READING], 10);
  agg_hist_observe(&m->verify, 80 * GL_NS_PER_US);
  agg_hist_observe(&m->verify, 3 * GL_NS_PER_MS);
  agg_text t = {0};
  agg_metrics_render(m, &t);
  assert_false(t.oom);
  assert_non_null(strstr(t.s, "gridlet_aggregator_messages_rejected_total{"
                              "reason=\"bad_signature\"} 3\n"));
  assert_non_null(strstr(t.s, "gridlet_aggregator_messages_rejected_total{"
                              "reason=\"seq_reuse\"} 0\n"));
  assert_non_null(strstr(t.s, "gridlet_aggregator_messages_received_total{"
                              "kind=\"reading\"} 10\n"));
  assert_non_null(strstr(
      t.s, "gridlet_aggregator_verify_seconds_bucket{le=\"0.0001\"} 1\n"));
  assert_non_null(
      strstr(t.s, "gridlet_aggregator_verify_seconds_bucket{le=\"+Inf\"} 2\n"));
  assert_non_null(strstr(t.s, "gridlet_aggregator_verify_seconds_count 2\n"));
  /* Every reason label is exported. */
  for (int r = 1; r < AGG_R_COUNT; r++) {
    char needle[96];
    snprintf(needle, sizeof needle, "reason=\"%s\"",
             agg_reason_name((agg_reason)r));
    assert_non_null(strstr(t.s, needle));
  }
  /* Each line is a comment or "name{labels} value". */
  for (char *line = t.s; *line;) {
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    assert_true(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'));
    line = nl + 1;
  }
  agg_text_free(&t);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes_resolve_with_their_parameters),
      cmocka_unit_test(test_bad_parameters_and_unknown_paths),
      cmocka_unit_test(
          test_metrics_exposition_lists_every_reason_and_histogram),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
