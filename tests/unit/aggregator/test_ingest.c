/* SPDX-License-Identifier: MIT */
/*
 * The aggregator's checks on verified messages, one test per reason, with
 * real sealed messages and a real database (no network).
 */
#include "fixture.h"

#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define IV (15 * FX_MIN)
#define SEC INT64_C(1000000000)

static fx f;

static int setup(void **state) {
  (void)state;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fx_teardown(&f);
  return 0;
}

static uint64_t rejected(agg_reason r) {
  return atomic_load(&f.metrics.rejected[r]);
}

/* Send a reading message as it is (the clock is not moved). */
static agg_reason send(size_t i, const pr_msg *m, pr_topic_kind kind) {
  agg_reason r = AGG_R_INTERNAL;
  assert_int_equal(fx_send(&f, i, m, kind, &r, NULL), 0);
  return r;
}

static void at(int64_t t) {
  gl_manual_clock_set(f.mc, t);
}

static void test_forged_signature_is_bad_signature(void **state) {
  (void)state;
  pr_msg m = fx_reading_msg(&f, 0, FX_T0, 10, 0);
  at(m.ts);
  /* Signed by meter 2's key but claiming to be meter 1. */
  agg_job *j = fx_job(&f, 0, &m, PR_TOPIC_READING, NULL, &f.keys[1]);
  agg_reason r;
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  free(j);
  assert_int_equal(r, AGG_R_BAD_SIGNATURE);
  assert_int_equal(rejected(AGG_R_BAD_SIGNATURE), 1);
}

static void test_another_meters_topic_is_sender_mismatch(void **state) {
  (void)state;
  pr_msg m = fx_reading_msg(&f, 0, FX_T0, 10, 0);
  at(m.ts);
  agg_job *j = fx_job(&f, 0, &m, PR_TOPIC_READING, f.ids[1], NULL);
  agg_reason r;
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  free(j);
  assert_int_equal(r, AGG_R_SENDER_MISMATCH);
}

static void test_unknown_meter_is_unknown_key(void **state) {
  (void)state;
  pr_msg m;
  assert_int_equal(
      pr_msg_init(&m, PR_MSG_READING, "stranger", 1, FX_T0 + IV + 5 * SEC), 0);
  m.reading.start = FX_T0;
  m.reading.end = FX_T0 + IV;
  at(m.ts);
  agg_job *j = fx_job(&f, 0, &m, PR_TOPIC_READING, "stranger", &f.keys[0]);
  agg_reason r;
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  free(j);
  assert_int_equal(r, AGG_R_UNKNOWN_KEY);
}

static void test_revoked_meter_is_revoked(void **state) {
  (void)state;
  fx g;
  fx_setup(&g, 2, MKT_MODE_EXPOST, NULL);
  assert_int_equal(
      agg_store_meter_set_state(g.st, g.ids[1], AGG_METER_REVOKED, FX_T0), 0);
  assert_int_equal(agg_meters_load(g.meters, g.st, NULL, NULL), 0);
  pr_msg m = fx_reading_msg(&g, 1, FX_T0, 10, 0);
  gl_manual_clock_set(g.mc, m.ts);
  agg_reason r;
  assert_int_equal(fx_send(&g, 1, &m, PR_TOPIC_READING, &r, NULL), 0);
  assert_int_equal(r, AGG_R_REVOKED);
  assert_int_equal(atomic_load(&g.metrics.rejected[AGG_R_REVOKED]), 1);
  fx_teardown(&g);
}

static void test_malformed_and_oversize_bytes(void **state) {
  (void)state;
  agg_job *j = calloc(1, sizeof *j);
  snprintf(j->topic, sizeof j->topic, "gridlet/test/meter/%s/reading",
           f.ids[0]);
  j->topic_len = strlen(j->topic);
  memcpy(j->buf, "\xd2\x84garbage", 9);
  j->len = 9;
  agg_verify_job(j, f.cfg.community, &f.kr, &f.real);
  agg_reason r;
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  assert_int_equal(r, AGG_R_MALFORMED);
  /* 3000 bytes on the reading topic (limit 2048 + envelope). */
  memset(j->buf, 0xa0, 3000);
  j->len = 3000;
  agg_verify_job(j, f.cfg.community, &f.kr, &f.real);
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  assert_int_equal(r, AGG_R_OVERSIZE);
  /* Not a meter topic at all. */
  snprintf(j->topic, sizeof j->topic, "gridlet/test/public/summary");
  j->topic_len = strlen(j->topic);
  agg_verify_job(j, f.cfg.community, &f.kr, &f.real);
  assert_int_equal(agg_ingest_process(f.in, j, &r, NULL), 0);
  assert_int_equal(r, AGG_R_BAD_TOPIC);
  free(j);
}

static void test_timestamps_far_ahead_or_too_old(void **state) {
  (void)state;
  pr_msg m = fx_reading_msg(&f, 0, FX_T0, 10, 0);
  at(m.ts - 10 * FX_MIN); /* our clock is 10 minutes behind the meter's */
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_TS_FUTURE);
  /* Not final: once our clock has caught up, the meter's re-send of the
   * same bytes is examined again and taken, not ignored as a duplicate. */
  at(m.ts);
  bool dup = true;
  agg_reason r = AGG_R_INTERNAL;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_READING, &r, &dup), 0);
  assert_int_equal(r, AGG_R_NONE);
  assert_false(dup);
  m = fx_reading_msg(&f, 0, FX_T0, 10, 0);
  at(m.ts + 31 * 86400 * SEC);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_TS_STALE);
  /* A reading for an interval that has not ended yet, with a ts of now. */
  at(FX_T0 + 5 * FX_MIN);
  m = fx_reading_msg(&f, 1, FX_T0, 10, 0);
  m.ts = FX_T0 + 5 * FX_MIN;
  assert_int_equal(send(1, &m, PR_TOPIC_READING), AGG_R_TS_FUTURE);
}

static void test_reading_must_be_one_interval(void **state) {
  (void)state;
  pr_msg m = fx_reading_msg(&f, 0, FX_T0, 10, 0);
  m.reading.end = FX_T0 + 10 * FX_MIN;
  at(m.ts);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_BAD_INTERVAL);
  m = fx_reading_msg(&f, 0, FX_T0 + FX_MIN, 10, 0);
  at(m.ts);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_BAD_INTERVAL);
  m = fx_reading_msg(&f, 0, FX_T0 - IV, 10, 0);
  at(m.ts);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_BEFORE_START);
}

static void test_energy_above_rated_power_is_implausible(void **state) {
  (void)state;
  /* 43 kW for 15 minutes is 10750 Wh. */
  assert_int_equal(fx_reading(&f, 0, FX_T0, 10750, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, FX_T0, 10751, 0), AGG_R_IMPLAUSIBLE_POWER);
  /* A per-meter rating overrides the default. */
  assert_int_equal(agg_store_meter_set_rated(f.st, f.ids[2], 4000), 0);
  fx_flush(&f);
  assert_int_equal(agg_meters_load(f.meters, f.st, NULL, NULL), 0);
  pr_msg m = fx_reading_msg(&f, 2, FX_T0, 0, 0);
  m.reading.pv_wh = 1001; /* 4 kW * 15 min = 1000 Wh */
  at(m.ts);
  assert_int_equal(send(2, &m, PR_TOPIC_READING), AGG_R_IMPLAUSIBLE_POWER);
}

static void test_counters_must_not_run_backwards(void **state) {
  (void)state;
  pr_msg m = fx_reading_msg(&f, 0, FX_T0, 100, 0);
  m.reading.has_import_total_wh = true;
  m.reading.import_total_wh = 5000;
  at(m.ts);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_NONE);
  m = fx_reading_msg(&f, 0, FX_T0 + IV, 100, 0);
  m.reading.has_import_total_wh = true;
  m.reading.import_total_wh = 4000;
  at(m.ts);
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_COUNTER_BACKWARDS);
  /* With the reset flag it is accepted. */
  m = fx_reading_msg(&f, 0, FX_T0 + IV, 100, 0);
  m.reading.has_import_total_wh = true;
  m.reading.import_total_wh = 100;
  m.reading.flags = PR_FLAG_COUNTER_RESET;
  assert_int_equal(send(0, &m, PR_TOPIC_READING), AGG_R_NONE);
}

static void test_pv_production_at_night_is_refused(void **state) {
  (void)state;
  fx g;
  fx_setup(&g, 1, MKT_MODE_EXPOST, NULL);
  /* 01:00 UTC at 50 N 0 E in June: the sun is about 15 degrees below. */
  int64_t night = FX_T0 + 15 * 3600 * SEC; /* 01:00 the next day */
  pr_msg m = fx_reading_msg(&g, 0, night, 0, 0);
  m.reading.pv_wh = 50;
  gl_manual_clock_set(g.mc, m.ts);
  agg_reason r;
  assert_int_equal(fx_send(&g, 0, &m, PR_TOPIC_READING, &r, NULL), 0);
  assert_int_equal(r, AGG_R_PV_AT_NIGHT);
  /* Within the tolerance (sensor noise) it passes. */
  m = fx_reading_msg(&g, 0, night, 0, 0);
  m.reading.pv_wh = 5;
  assert_int_equal(fx_send(&g, 0, &m, PR_TOPIC_READING, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  /* At noon, plenty of PV is fine. */
  pr_msg d = fx_reading_msg(&g, 0, FX_T0 + 2 * 3600 * SEC, 0, 0);
  d.reading.pv_wh = 1200;
  gl_manual_clock_set(g.mc, d.ts);
  assert_int_equal(fx_send(&g, 0, &d, PR_TOPIC_READING, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  fx_teardown(&g);
}

static void test_order_in_expost_mode_is_mode_mismatch(void **state) {
  (void)state;
  pr_msg m;
  at(FX_T0);
  assert_int_equal(pr_msg_init(&m, PR_MSG_ORDER, f.ids[0], ++f.seq[0], FX_T0),
                   0);
  m.order.start = FX_T0 + 2 * IV;
  m.order.end = FX_T0 + 3 * IV;
  assert_int_equal(send(0, &m, PR_TOPIC_ORDER), AGG_R_MODE_MISMATCH);
}

static void tweak_exante(agg_config *c) {
  c->horizon = 2 * 3600 * SEC;
}

static void test_order_beyond_horizon(void **state) {
  (void)state;
  fx g;
  fx_setup(&g, 1, MKT_MODE_EXANTE, tweak_exante);
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_ORDER, g.ids[0], 1, FX_T0), 0);
  m.order.start = FX_T0 + 3 * 3600 * SEC;
  m.order.end = m.order.start + IV;
  agg_reason r;
  assert_int_equal(fx_send(&g, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_BEYOND_HORIZON);
  fx_teardown(&g);
}

static void
test_status_updates_gauges_and_proofs_are_rate_limited(void **state) {
  (void)state;
  pr_msg m;
  at(FX_T0);
  f.seq[1] = 9; /* the will below was signed earlier, with seq 1 */
  assert_int_equal(pr_msg_init(&m, PR_MSG_STATUS, f.ids[1], ++f.seq[1], FX_T0),
                   0);
  m.status.state = PR_STATE_ONLINE;
  m.status.has_outbox = true;
  m.status.outbox = 7;
  assert_int_equal(send(1, &m, PR_TOPIC_STATUS), AGG_R_NONE);
  assert_int_equal(atomic_load(&f.metrics.meters_online), 1);
  assert_int_equal(atomic_load(&f.metrics.meters_outbox), 7);
  /* The will arrives later with a lower seq: the latest delivered wins. */
  pr_msg w;
  assert_int_equal(pr_msg_init(&w, PR_MSG_STATUS, f.ids[1], 1, FX_T0 - SEC), 0);
  w.status.state = PR_STATE_OFFLINE;
  assert_int_equal(send(1, &w, PR_TOPIC_STATUS), AGG_R_NONE);
  assert_int_equal(atomic_load(&f.metrics.meters_online), 0);
  assert_int_equal(atomic_load(&f.metrics.meters_outbox), 0);
  int before = f.proofs;
  for (int i = 0; i < 61; i++) {
    pr_msg p;
    assert_int_equal(
        pr_msg_init(&p, PR_MSG_PROOF_REQUEST, f.ids[2], ++f.seq[2], FX_T0), 0);
    p.proof_request.kind = PR_PROOF_INCLUSION;
    p.proof_request.index = 0;
    p.proof_request.size = 1;
    agg_reason r = send(2, &p, PR_TOPIC_PROOF_REQUEST);
    assert_int_equal(r, i < 60 ? AGG_R_NONE : AGG_R_RATE_LIMITED);
  }
  assert_int_equal(f.proofs - before, 60);
  fx_flush(&f);
}

static void tweak_rate(agg_config *cfg) {
  cfg->meter_rate = 1;
  cfg->meter_burst = 5;
}

static void
test_a_meter_over_its_rate_is_dropped_before_verification(void **state) {
  (void)state;
  fx g;
  fx_setup(&g, 2, MKT_MODE_EXPOST, tweak_rate);
  char t0[PR_TOPIC_MAX], t1[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_build(PR_TOPIC_READING, g.cfg.community, g.ids[0],
                                  t0, sizeof t0),
                   0);
  assert_int_equal(
      pr_topic_build(PR_TOPIC_STATUS, g.cfg.community, g.ids[1], t1, sizeof t1),
      0);
  /* A burst of five, then nothing until a second has passed (the test
   * runs far faster than one message a second). */
  for (int i = 0; i < 5; i++)
    assert_true(agg_ingest_admit(g.in, t0, strlen(t0)));
  assert_false(agg_ingest_admit(g.in, t0, strlen(t0)));
  assert_false(agg_ingest_admit(g.in, t0, strlen(t0)));
  assert_int_equal(atomic_load(&g.metrics.rejected[AGG_R_METER_RATE]), 2);
  /* Another meter has its own budget; topics of no enrolled meter pass
   * to verification, which refuses them. */
  assert_true(agg_ingest_admit(g.in, t1, strlen(t1)));
  const char *stranger = "gridlet/test/meter/nobody/reading";
  for (int i = 0; i < 10; i++)
    assert_true(agg_ingest_admit(g.in, stranger, strlen(stranger)));
  assert_string_equal(agg_reason_name(AGG_R_METER_RATE), "meter_rate");
  fx_teardown(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_forged_signature_is_bad_signature,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_another_meters_topic_is_sender_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_meter_is_unknown_key, setup,
                                      teardown),
      cmocka_unit_test(test_revoked_meter_is_revoked),
      cmocka_unit_test_setup_teardown(test_malformed_and_oversize_bytes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_timestamps_far_ahead_or_too_old,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_reading_must_be_one_interval, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_energy_above_rated_power_is_implausible, setup, teardown),
      cmocka_unit_test_setup_teardown(test_counters_must_not_run_backwards,
                                      setup, teardown),
      cmocka_unit_test(test_pv_production_at_night_is_refused),
      cmocka_unit_test_setup_teardown(
          test_order_in_expost_mode_is_mode_mismatch, setup, teardown),
      cmocka_unit_test(test_order_beyond_horizon),
      cmocka_unit_test_setup_teardown(
          test_status_updates_gauges_and_proofs_are_rate_limited, setup,
          teardown),
      cmocka_unit_test(
          test_a_meter_over_its_rate_is_dropped_before_verification),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
