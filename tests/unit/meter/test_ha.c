/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the Home Assistant publisher (no broker: the messages,
 * the totals and their durability in a real SQLite store): node ids,
 * local days across daylight-saving changes, every discovery message
 * against Home Assistant's documented format, the state's exact numbers,
 * each result counted once and only for today, savings against the
 * household's tariffs, rolled-back transactions forgotten, totals
 * surviving a restart, and the day's totals starting again at midnight.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_config.h"
#include "gridlet/mtr_ha.h"
#include "gridlet/mtr_store.h"
#include "testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define HOUR (3600 * SEC)
#define I15 (900 * SEC)
/* 2026-06-21T08:00:00Z = 10:00 in Zurich (CEST, +02:00). */
#define T0 (INT64_C(1782028800) * SEC)
/* Local midnight of that day in Zurich: 2026-06-20T22:00:00Z. */
#define MIDNIGHT (INT64_C(1781992800) * SEC)

typedef struct fx {
  char dir[GT_PATH_MAX], db[GT_PATH_MAX];
  mtr_config cfg;
  mtr_store *store;
  gl_manual_clock *mc;
  mtr_ha *ha;
} fx;

static fx F;

static void open_ha(bool pv, bool battery) {
  mtr_ha_opts o = {.meter_id = "meter.0_7",
                   .version = "9.8.7",
                   .has_pv = pv,
                   .has_battery = battery,
                   .has_soc = battery};
  assert_int_equal(
      mtr_ha_new(&F.cfg, &o, F.store, gl_manual_clock_clock(F.mc), &F.ha), 0);
}

static int setup(void **st) {
  (void)st;
  memset(&F, 0, sizeof F);
  setenv("TZ", "Europe/Zurich", 1);
  tzset();
  gt_tmpdir("mha", F.dir);
  gt_path(F.db, F.dir, "meter.db");
  mtr_store_opts so = {
      .create = true, .meter_id = "meter.0_7", .community = "c1"};
  assert_int_equal(mtr_store_open(F.db, &so, &F.store), 0);
  const char *text = "[meter]\ncommunity = c1\n"
                     "[grid_meter]\nendpoint = tcp:127.0.0.1\n"
                     "[mqtt]\nuri = mqtts://broker:8883\n"
                     "[home_assistant]\nenabled = yes\nhost = 127.0.0.1\n"
                     "retail = 0.30\nfeed_in = 0.08\nname = Our house\n";
  gl_conf_errors e = {0};
  assert_int_equal(
      mtr_config_load_buffer(&F.cfg, "meter.conf", text, strlen(text), &e), 0);
  F.mc = gl_manual_clock_new(T0);
  open_ha(true, true);
  return 0;
}

static int teardown(void **st) {
  (void)st;
  mtr_ha_free(F.ha);
  mtr_store_free(F.store);
  gl_manual_clock_free(F.mc);
  gt_rmtree(F.dir);
  return 0;
}

/* ---- Helpers ------------------------------------------------------------- */

static json_t *state_json(void) {
  char buf[2048];
  assert_int_equal(mtr_ha_state(F.ha, buf, sizeof buf), 0);
  json_error_t err;
  json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    fail_msg("state is not JSON (%s): %s", err.text, buf);
  return j;
}

/* A state field as its exact text ("1.234", "null"). */
static void expect_field(const char *key, const char *want) {
  char buf[2048], pat[96];
  assert_int_equal(mtr_ha_state(F.ha, buf, sizeof buf), 0);
  snprintf(pat, sizeof pat, "\"%s\":%s", key, want);
  size_t n = strlen(pat);
  const char *p = strstr(buf, pat);
  if (!p || (p[n] != ',' && p[n] != '}'))
    fail_msg("want %s in %s", pat, buf);
}

static void reading(int64_t start, int64_t imp, int64_t exp, int64_t pv,
                    int64_t ch, int64_t dis, int64_t soc) {
  pr_reading r = {.start = start,
                  .end = start + I15,
                  .import_wh = imp,
                  .export_wh = exp,
                  .pv_wh = pv,
                  .charge_wh = ch,
                  .discharge_wh = dis,
                  .has_soc_bp = soc >= 0,
                  .soc_bp = soc};
  assert_int_equal(mtr_store_begin(F.store), 0);
  assert_int_equal(mtr_ha_reading(F.ha, &r), 0);
  assert_int_equal(mtr_store_commit(F.store), 0);
  mtr_ha_commit(F.ha, true);
}

static void result(int64_t start, int64_t imp, int64_t exp, int64_t buy,
                   int64_t sell, int64_t net, int64_t balance, uint32_t flags) {
  pr_result r;
  memset(&r, 0, sizeof r);
  snprintf(r.meter, sizeof r.meter, "meter.0_7");
  r.start = start;
  r.end = start + I15;
  r.settlement.import_wh = imp;
  r.settlement.export_wh = exp;
  r.settlement.local_buy_wh = buy;
  r.settlement.local_sell_wh = sell;
  r.settlement.net = net;
  r.balance = balance;
  r.flags = flags;
  assert_int_equal(mtr_store_begin(F.store), 0);
  gl_clock c = gl_manual_clock_clock(F.mc);
  assert_int_equal(mtr_ha_result(F.ha, &r, gl_clock_now(&c)), 0);
  assert_int_equal(mtr_store_commit(F.store), 0);
  mtr_ha_commit(F.ha, true);
}

/* ---- Tests --------------------------------------------------------------- */

static void test_ha_node_ids_fit_home_assistant_and_stay_unique(void **st) {
  (void)st;
  char b[64];
  assert_int_equal(mtr_ha_node("meter-017", b, sizeof b), 0);
  assert_string_equal(b, "meter-017");
  assert_int_equal(mtr_ha_node("a_b.c", b, sizeof b), 0);
  assert_string_equal(b, "a__b_dc");
  /* "a.d" and "a_d" are both valid meter ids: they must not collide. */
  char x[16], y[16];
  assert_int_equal(mtr_ha_node("a.d", x, sizeof x), 0);
  assert_int_equal(mtr_ha_node("a_d", y, sizeof y), 0);
  assert_string_not_equal(x, y);
  assert_int_equal(mtr_ha_node("abc_", b, 5), GL_ETOOBIG);
}

static void test_ha_local_days_follow_the_time_zone(void **st) {
  (void)st;
  int64_t a, b;
  assert_int_equal(mtr_ha_day(T0, &a, &b), 0);
  assert_int_equal(a, MIDNIGHT);
  assert_int_equal(b - a, 24 * HOUR);
  /* The day itself belongs to itself; its last nanosecond too. */
  assert_int_equal(mtr_ha_day(MIDNIGHT, &a, &b), 0);
  assert_int_equal(a, MIDNIGHT);
  assert_int_equal(mtr_ha_day(MIDNIGHT - 1, &a, &b), 0);
  assert_int_equal(b, MIDNIGHT);
  /* 2026-03-29: clocks go forward, a 23-hour day; 2026-10-25: back, 25. */
  int64_t spring = INT64_C(1774778400) * SEC; /* 2026-03-29T10:00:00Z */
  assert_int_equal(mtr_ha_day(spring, &a, &b), 0);
  assert_int_equal(b - a, 23 * HOUR);
  int64_t autumn = INT64_C(1792922400) * SEC; /* 2026-10-25T10:00:00Z */
  assert_int_equal(mtr_ha_day(autumn, &a, &b), 0);
  assert_int_equal(b - a, 25 * HOUR);
  assert_true(a <= autumn && autumn < b);
}

/* Every sensor's discovery message has what Home Assistant's MQTT
 * discovery documents for a sensor (and what the Energy dashboard needs),
 * with the right JSON types. */
static void test_ha_discovery_messages_follow_the_documented_format(void **st) {
  (void)st;
  size_t n;
  const mtr_ha_sensor *s = mtr_ha_sensors(&n);
  assert_true(n >= 10);
  const char *uids[16];
  for (size_t i = 0; i < n; i++) {
    char topic[512];
    char *payload = NULL;
    assert_int_equal(mtr_ha_discovery(F.ha, i, topic, sizeof topic, &payload),
                     0);
    char want[512];
    snprintf(want, sizeof want, "homeassistant/sensor/meter_d0__7/%s/config",
             s[i].key);
    assert_string_equal(topic, want);
    json_error_t err;
    json_t *j = json_loads(payload, JSON_REJECT_DUPLICATES, &err);
    if (!j)
      fail_msg("%s: not JSON: %s", topic, err.text);
    assert_true(json_is_object(j));
    const char *str_keys[] = {"name",
                              "unique_id",
                              "state_topic",
                              "value_template",
                              "device_class",
                              "state_class",
                              "unit_of_measurement",
                              "availability_topic",
                              "payload_available",
                              "payload_not_available"};
    for (size_t k = 0; k < sizeof str_keys / sizeof *str_keys; k++)
      if (!json_is_string(json_object_get(j, str_keys[k])))
        fail_msg("%s: \"%s\" missing or not a string", topic, str_keys[k]);
    assert_true(
        json_is_integer(json_object_get(j, "suggested_display_precision")));
    char uid[128];
    snprintf(uid, sizeof uid, "gridlet_meter_d0__7_%s", s[i].key);
    assert_string_equal(json_string_value(json_object_get(j, "unique_id")),
                        uid);
    uids[i] = s[i].key;
    assert_string_equal(json_string_value(json_object_get(j, "state_topic")),
                        "gridlet/meter_d0__7/state");
    assert_string_equal(
        json_string_value(json_object_get(j, "availability_topic")),
        "gridlet/meter_d0__7/availability");
    char tmpl[96];
    snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", s[i].key);
    assert_string_equal(json_string_value(json_object_get(j, "value_template")),
                        tmpl);
    const char *dc = json_string_value(json_object_get(j, "device_class"));
    const char *sc = json_string_value(json_object_get(j, "state_class"));
    const char *unit =
        json_string_value(json_object_get(j, "unit_of_measurement"));
    /* The pairings Home Assistant accepts for these device classes. */
    if (strcmp(dc, "energy") == 0) {
      assert_string_equal(sc, "total_increasing");
      assert_string_equal(unit, "kWh");
    } else if (strcmp(dc, "monetary") == 0) {
      assert_string_equal(sc, "total");
      assert_string_equal(unit, "EUR");
    } else {
      assert_string_equal(dc, "battery");
      assert_string_equal(sc, "measurement");
      assert_string_equal(unit, "%");
    }
    json_t *lr = json_object_get(j, "last_reset_value_template");
    if (strcmp(s[i].key, "savings_today") == 0)
      assert_string_equal(json_string_value(lr), "{{ value_json.day_start }}");
    else
      assert_null(lr);
    json_t *dev = json_object_get(j, "device");
    assert_true(json_is_object(dev));
    json_t *ids = json_object_get(dev, "identifiers");
    assert_true(json_is_array(ids));
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_array_get(ids, 0)),
                        "gridlet_meter_d0__7");
    assert_string_equal(json_string_value(json_object_get(dev, "name")),
                        "Our house");
    assert_string_equal(json_string_value(json_object_get(dev, "manufacturer")),
                        "gridlet");
    assert_string_equal(json_string_value(json_object_get(dev, "model")),
                        "gridlet-meter");
    assert_string_equal(json_string_value(json_object_get(dev, "sw_version")),
                        "9.8.7");
    json_t *origin = json_object_get(j, "origin");
    assert_true(json_is_string(json_object_get(origin, "name")));
    json_decref(j);
    free(payload);
  }
  for (size_t i = 0; i < n; i++)
    for (size_t k = i + 1; k < n; k++)
      assert_string_not_equal(uids[i], uids[k]);
  char topic[512];
  char *payload = NULL;
  assert_int_equal(mtr_ha_discovery(F.ha, n, topic, sizeof topic, &payload),
                   GL_EINVAL);
}

/* Without PV, battery and tariffs, those sensors' discovery is an empty
 * payload: Home Assistant removes an entity left from an earlier setup. */
static void test_ha_sensors_a_household_lacks_are_removed(void **st) {
  (void)st;
  mtr_ha_free(F.ha);
  F.ha = NULL;
  F.cfg.ha_has_tariffs = false;
  open_ha(false, false);
  size_t n;
  const mtr_ha_sensor *s = mtr_ha_sensors(&n);
  int removed = 0;
  for (size_t i = 0; i < n; i++) {
    char topic[512];
    char *payload = NULL;
    assert_int_equal(mtr_ha_discovery(F.ha, i, topic, sizeof topic, &payload),
                     0);
    if (s[i].needs) {
      assert_string_equal(payload, "");
      removed++;
    } else {
      assert_true(strlen(payload) > 100);
    }
    free(payload);
  }
  assert_int_equal(removed, 5); /* PV, 2 battery totals, level, savings */
  expect_field("savings_today", "null");
}

static void test_ha_state_holds_exact_totals(void **st) {
  (void)st;
  json_t *j = state_json();
  assert_true(json_is_null(json_object_get(j, "battery_soc")));
  assert_true(json_is_null(json_object_get(j, "balance")));
  assert_true(json_is_null(json_object_get(j, "last_interval_end")));
  assert_string_equal(json_string_value(json_object_get(j, "day_start")),
                      "2026-06-21T00:00:00+02:00");
  json_decref(j);
  expect_field("energy_import", "0.000");

  reading(T0, 1234, 5, 700, 300, 0, 5555);
  reading(T0 + I15, 766, 0, 1, 0, 2000, 4321);
  expect_field("energy_import", "2.000");
  expect_field("energy_export", "0.005");
  expect_field("energy_pv", "0.701");
  expect_field("energy_battery_charge", "0.300");
  expect_field("energy_battery_discharge", "2.000");
  expect_field("battery_soc", "43.21");
  j = state_json();
  assert_string_equal(
      json_string_value(json_object_get(j, "last_interval_end")),
      "2026-06-21T08:30:00Z");
  /* Every sensor has its key (a number or null). */
  size_t n;
  const mtr_ha_sensor *s = mtr_ha_sensors(&n);
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(j, s[i].key);
    if (!json_is_number(v) && !json_is_null(v))
      fail_msg("state lacks %s", s[i].key);
  }
  json_decref(j);
}

/* Savings = net - (export at feed-in - import at retail). Here: bought
 * 600 Wh of 1000 Wh imported locally and paid 246000 µ in all (local at
 * 0.20, fee 0.01, the rest at retail 0.30): alone it would have paid
 * 300000 µ, so 54000 µ saved. */
static void test_ha_results_count_once_and_only_today(void **st) {
  (void)st;
  result(T0, 1000, 0, 600, 0, -246000, -246000, 0);
  expect_field("local_bought_today", "0.600");
  expect_field("savings_today", "0.054000");
  expect_field("balance", "-0.246000");
  /* The same result again (redelivered, or repeated by the aggregator). */
  result(T0, 1000, 0, 600, 0, -246000, -246000, 0);
  expect_field("local_bought_today", "0.600");
  expect_field("savings_today", "0.054000");
  /* Selling 400 Wh of 500 Wh exported at 0.15 (fee 0.01 paid by buyers):
   * net 60000 + 8000 = 68000 µ; alone 40000 µ: 28000 more. */
  result(T0 + I15, 0, 500, 0, 400, 68000, -178000, 0);
  expect_field("local_sold_today", "0.400");
  expect_field("savings_today", "0.082000");
  expect_field("balance", "-0.178000");
  /* Yesterday's interval (a late delivery) is not today's trading, and an
   * older result does not replace the balance. */
  result(MIDNIGHT - I15, 2000, 0, 2000, 0, -400000, -999000, 0);
  expect_field("local_bought_today", "0.600");
  expect_field("balance", "-0.178000");
  /* A result flagged missing: grid-settled; its trades count, no savings. */
  result(T0 + 2 * I15, 0, 0, 0, 0, 0, -178000, PR_RESULT_MISSING);
  expect_field("savings_today", "0.082000");
  /* Negative savings (fees above the margin) are shown as such. */
  result(T0 + 3 * I15, 1000, 0, 1000, 0, -310000, -488000, 0);
  expect_field("savings_today", "0.072000");
}

static void test_ha_rolled_back_transactions_are_forgotten(void **st) {
  (void)st;
  reading(T0, 100, 0, 0, 0, 0, -1);
  pr_reading r = {.start = T0 + I15, .end = T0 + 2 * I15, .import_wh = 50};
  assert_int_equal(mtr_store_begin(F.store), 0);
  assert_int_equal(mtr_ha_reading(F.ha, &r), 0);
  mtr_store_rollback(F.store);
  mtr_ha_commit(F.ha, false);
  expect_field("energy_import", "0.100");
  /* And the store agrees after a restart. */
  mtr_ha_free(F.ha);
  F.ha = NULL;
  open_ha(true, true);
  expect_field("energy_import", "0.100");
}

static void test_ha_totals_survive_a_restart(void **st) {
  (void)st;
  reading(T0, 1500, 20, 3000, 100, 50, 8000);
  result(T0, 1500, 20, 700, 0, -100000, -100000, 0);
  char before[2048], after[2048];
  assert_int_equal(mtr_ha_state(F.ha, before, sizeof before), 0);
  mtr_ha_free(F.ha);
  F.ha = NULL;
  open_ha(true, true);
  assert_int_equal(mtr_ha_state(F.ha, after, sizeof after), 0);
  assert_string_equal(before, after);
  /* The saved record is one the strict reader accepts, byte for byte. */
  uint8_t rec[MTR_HA_RECORD_MAX + 1], back[MTR_HA_RECORD_MAX];
  size_t len = 0, blen = 0;
  assert_int_equal(mtr_store_get_blob(F.store, "ha", rec, sizeof rec, &len), 0);
  assert_int_equal(mtr_ha_record_check(rec, len, back, &blen), 0);
  assert_int_equal(blen, len);
  assert_memory_equal(back, rec, len);
  rec[len - 1] = 0xff; /* minutes past the longest day */
  assert_int_equal(mtr_ha_record_check(rec, len, back, &blen), GL_EPARSE);
  assert_int_equal(mtr_ha_record_check(rec, len - 1, back, &blen), GL_EPARSE);
  /* The restarted publisher still knows the result was counted. */
  result(T0, 1500, 20, 700, 0, -100000, -100000, 0);
  expect_field("local_bought_today", "0.700");
}

static void test_ha_unreadable_record_starts_from_zero(void **st) {
  (void)st;
  reading(T0, 1500, 0, 0, 0, 0, -1);
  mtr_ha_free(F.ha);
  F.ha = NULL;
  assert_int_equal(mtr_store_put_blob(F.store, "ha", "\x07garbage", 8), 0);
  gt_log_capture_begin();
  open_ha(true, true);
  bool warned = gt_log_contains("unreadable");
  gt_log_capture_end();
  assert_true(warned);
  expect_field("energy_import", "0.000");
}

static void test_ha_day_totals_start_again_at_local_midnight(void **st) {
  (void)st;
  result(T0, 1000, 0, 600, 0, -246000, -246000, 0);
  expect_field("local_bought_today", "0.600");
  int64_t next = mtr_ha_deadline(F.ha);
  assert_int_equal(next, MIDNIGHT + 24 * HOUR);
  gl_manual_clock_set(F.mc, next - SEC);
  mtr_ha_handle(F.ha, next - SEC);
  expect_field("local_bought_today", "0.600");
  gl_manual_clock_set(F.mc, next + SEC);
  mtr_ha_handle(F.ha, next + SEC);
  expect_field("local_bought_today", "0.000");
  expect_field("savings_today", "0.000000");
  /* The balance and the lifetime totals carry on. */
  expect_field("balance", "-0.246000");
  json_t *j = state_json();
  assert_string_equal(json_string_value(json_object_get(j, "day_start")),
                      "2026-06-22T00:00:00+02:00");
  json_decref(j);
  assert_int_equal(mtr_ha_deadline(F.ha), next + 24 * HOUR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_ha_node_ids_fit_home_assistant_and_stay_unique, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ha_local_days_follow_the_time_zone,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ha_discovery_messages_follow_the_documented_format, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_ha_sensors_a_household_lacks_are_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ha_state_holds_exact_totals, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ha_results_count_once_and_only_today,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ha_rolled_back_transactions_are_forgotten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ha_totals_survive_a_restart, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_ha_unreadable_record_starts_from_zero, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_ha_day_totals_start_again_at_local_midnight, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
