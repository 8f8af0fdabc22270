/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the meter's configuration: defaults, every cross-setting
 * rule with its message, derived values, and the default file loading
 * back once the required settings are filled in.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_config.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MINIMAL                                                                \
  "[meter]\ncommunity = oak-street\n"                                          \
  "[grid_meter]\nendpoint = tcp:192.168.1.10\n"                                \
  "[mqtt]\nuri = mqtts://broker.example:8883\n"

static int load(const char *text, mtr_config *c, gl_conf_errors *e) {
  memset(e, 0, sizeof *e);
  return mtr_config_load_buffer(c, "meter.conf", text, strlen(text), e);
}

/* The file must fail with exactly one error containing `want`. */
static void expect_error(const char *text, const char *want) {
  mtr_config c;
  gl_conf_errors e;
  int rc = load(text, &c, &e);
  if (rc != GL_ECONFIG || e.count != 1 || !strstr(e.msg[0], want)) {
    print_error("rc %d, %d errors\n", rc, e.count);
    for (int i = 0; i < e.count && i < GL_CONF_MAX_ERRORS; i++)
      print_error("got: %s\n", e.msg[i]);
    print_error("want: %s\n", want);
    fail();
  }
}

static void test_config_minimal_file_takes_defaults(void **st) {
  (void)st;
  mtr_config c;
  gl_conf_errors e;
  assert_int_equal(load(MINIMAL, &c, &e), 0);
  assert_string_equal(c.community, "oak-street");
  assert_string_equal(c.id, "");
  assert_int_equal(c.interval_ns, 15 * 60 * GL_NS_PER_SEC);
  assert_int_equal(c.poll_ns, 5 * GL_NS_PER_SEC);
  assert_int_equal(c.log_level, GL_LOG_INFO);
  assert_int_equal(c.mode, MTR_TRADE_EXPOST);
  assert_false(c.has_buy_below);
  assert_int_equal(c.outbox_max, 20000);
  assert_int_equal(c.when_full, MTR_FULL_DROP_OLDEST);
  /* receipt_timeout 0: two intervals plus the grace of a fifth. */
  assert_int_equal(c.receipt_wait_ns, 33 * 60 * GL_NS_PER_SEC);
  /* Results, checks, checkpoints and alarms: a quarter of a year. */
  assert_int_equal(c.retention_ns, INT64_C(90) * 86400 * GL_NS_PER_SEC);
  assert_string_equal(c.dev[MTR_ROLE_GRID].profile, "sunspec-meter");
  assert_string_equal(c.dev[MTR_ROLE_INVERTER].endpoint, "");
  char path[MTR_TEXT_MAX + 32];
  assert_int_equal(
      mtr_config_profile_path(&c, MTR_ROLE_GRID, path, sizeof path), 0);
  assert_non_null(strstr(path, "/sunspec-meter.profile"));
}

static void test_config_prices_are_micro_currency_per_kwh(void **st) {
  (void)st;
  mtr_config c;
  gl_conf_errors e;
  assert_int_equal(load(MINIMAL "[trading]\nbuy_below = 0.28\n"
                                "sell_above = 0.095\n",
                        &c, &e),
                   0);
  assert_true(c.has_buy_below);
  assert_int_equal(c.buy_below, 280000);
  assert_true(c.has_sell_above);
  assert_int_equal(c.sell_above, 95000);
}

static void test_config_cross_setting_rules(void **st) {
  (void)st;
  expect_error(MINIMAL "[trading]\nbuy_below = cheap\n",
               "trading.buy_below: \"cheap\" is not a price");
  expect_error("[meter]\ncommunity = Oak\n[grid_meter]\nendpoint = tcp:h\n"
               "[mqtt]\nuri = mqtts://b:8883\n",
               "meter.community: \"Oak\" is not a community name");
  expect_error("[meter]\ncommunity = c\ninterval = 7m\n[grid_meter]\n"
               "endpoint = tcp:h\n[mqtt]\nuri = mqtts://b:8883\n",
               "meter.interval: 7m does not divide a day");
  expect_error("[meter]\ncommunity = c\npoll = 7s\n[grid_meter]\n"
               "endpoint = tcp:h\n[mqtt]\nuri = mqtts://b:8883\n",
               "meter.poll: 7s does not divide the interval (15m)");
  expect_error("[meter]\ncommunity = c\nclose_wait = 5m\n[grid_meter]\n"
               "endpoint = tcp:h\n[mqtt]\nuri = mqtts://b:8883\n",
               "meter.close_wait: 5m must be shorter than a fifth");
  expect_error("[meter]\ncommunity = c\nid = aggregator\n[grid_meter]\n"
               "endpoint = tcp:h\n[mqtt]\nuri = mqtts://b:8883\n",
               "meter.id: \"aggregator\" is not a meter id");
  expect_error("[meter]\ncommunity = c\n[mqtt]\nuri = mqtts://b:8883\n",
               "grid_meter.endpoint: required setting is missing");
  expect_error("[meter]\ncommunity = c\n[grid_meter]\nendpoint = tcp:h\n"
               "[mqtt]\nuri = http://b\n",
               "mqtt.uri: \"http://b\" must start with mqtts://");
  expect_error(MINIMAL "[trading]\nmode = exante\nbuy_below = 0.3\n",
               "trading.mode: exante orders need trading.buy_below and "
               "trading.sell_above");
  expect_error(MINIMAL "[trading]\nforecast_lag = 20m\n",
               "trading.forecast_lag: 20m is not a whole number");
  expect_error(MINIMAL "[aggregator]\nreceipt_timeout = 5m\n",
               "aggregator.receipt_timeout: at least one interval");
  expect_error(MINIMAL "[trading]\nbattery_capacity = 10000\n",
               "trading.battery_power: required with "
               "trading.battery_capacity");
  expect_error(MINIMAL "[meter]\nclock_step = 2m\nclock_horizon = 1m\n",
               "meter.clock_horizon: shorter than meter.clock_step");
}

static void test_config_line_errors_name_file_line_and_key(void **st) {
  (void)st;
  expect_error(MINIMAL "[outbox]\nmax_messages = 5\n",
               "meter.conf:8: outbox.max_messages: 5 is out of range");
  expect_error(MINIMAL "[outbox]\nwhen_ful = drop-oldest\n",
               "meter.conf:8: outbox.when_ful: unknown key");
  expect_error("[meter]\n[grid_meter]\nendpoint = tcp:h\n[mqtt]\n"
               "uri = mqtts://b:8883\n",
               "meter.community: required setting is missing");
}

static void test_config_exante_with_prices_loads(void **st) {
  (void)st;
  mtr_config c;
  gl_conf_errors e;
  assert_int_equal(load(MINIMAL "[trading]\nmode = exante\nbuy_below = 0.3\n"
                                "sell_above = -0.01\nbattery_capacity = "
                                "10000\nbattery_power = 3000\n",
                        &c, &e),
                   0);
  assert_int_equal(c.mode, MTR_TRADE_EXANTE);
  assert_int_equal(c.sell_above, -10000);
  assert_int_equal(c.battery_capacity_wh, 10000);
}

static void test_config_default_file_loads_once_required_are_set(void **st) {
  (void)st;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(mtr_config_write_defaults(f), 0);
  fclose(f);
  /* Every setting is listed with its help. */
  assert_non_null(strstr(buf, ";when_full = drop-oldest"));
  assert_non_null(strstr(buf, "; one of: expost exante continuous"));
  /* Replace "community = ", "endpoint = " (grid) and "uri = " lines. */
  char *out = malloc(len + 256);
  assert_non_null(out);
  size_t w = 0;
  const char *p = buf;
  bool grid = false;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n == 12 && strncmp(p, "[grid_meter]", 12) == 0)
      grid = true;
    else if (n && p[0] == '[')
      grid = false;
    if (n == 12 && strncmp(p, "community = ", 12) == 0)
      w += (size_t)snprintf(out + w, len + 256 - w, "community = demo\n");
    else if (n == 6 && strncmp(p, "uri = ", 6) == 0)
      w += (size_t)snprintf(out + w, len + 256 - w,
                            "uri = mqtts://localhost:8883\n");
    else if (grid && strncmp(p, "endpoint = ", 11) == 0)
      w += (size_t)snprintf(out + w, len + 256 - w,
                            "endpoint = tcp:127.0.0.1\n");
    else {
      memcpy(out + w, p, n);
      w += n;
      out[w++] = '\n';
    }
    p += n + (nl ? 1 : 0);
  }
  mtr_config c;
  gl_conf_errors e;
  memset(&e, 0, sizeof e);
  int rc = mtr_config_load_buffer(&c, "default.conf", out, w, &e);
  for (int i = 0; i < e.count && i < GL_CONF_MAX_ERRORS; i++)
    print_error("%s\n", e.msg[i]);
  assert_int_equal(rc, 0);
  free(out);
  free(buf);
}

static void test_config_home_assistant_is_off_and_checked_when_on(void **st) {
  (void)st;
  mtr_config c;
  gl_conf_errors e;
  assert_int_equal(load(MINIMAL, &c, &e), 0);
  assert_false(c.ha_enabled);
  assert_string_equal(c.ha_discovery_prefix, "homeassistant");
  assert_string_equal(c.ha_topic_prefix, "gridlet");
  assert_string_equal(c.ha_currency, "EUR");
  assert_false(c.ha_has_tariffs);
  /* A disabled section may be half-filled. */
  assert_int_equal(load(MINIMAL "[home_assistant]\nport = 1884\n", &c, &e), 0);

  assert_int_equal(load(MINIMAL "[home_assistant]\nenabled = yes\n"
                                "host = homeassistant.local\n"
                                "username = gridlet\npassword = s3cret\n"
                                "retail = 0.30\nfeed_in = 0.08\n"
                                "currency = CHF\n",
                        &c, &e),
                   0);
  assert_true(c.ha_enabled);
  assert_true(c.ha_has_tariffs);
  assert_int_equal(c.ha_retail, 300000);
  assert_int_equal(c.ha_feed_in, 80000);

  expect_error(MINIMAL "[home_assistant]\nenabled = yes\n",
               "home_assistant.host: required when enabled");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = a b\n",
               "home_assistant.host: \"a b\" is not a host name");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = h\n"
                       "discovery_prefix = home/+\n",
               "home_assistant.discovery_prefix: \"home/+\" must be MQTT");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = h\n"
                       "topic_prefix = gridlet/\n",
               "home_assistant.topic_prefix: \"gridlet/\" must be MQTT");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = h\n"
                       "currency = eur\n",
               "home_assistant.currency: \"eur\" is not an ISO 4217 code");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = h\n"
                       "retail = 0.30\n",
               "home_assistant.feed_in: savings need both retail and feed_in");
  expect_error(MINIMAL "[home_assistant]\nenabled = yes\nhost = h\n"
                       "password = x\n",
               "home_assistant.password: set without home_assistant.username");
  expect_error(MINIMAL "[home_assistant]\nretail = cheap\n",
               "home_assistant.retail: \"cheap\" is not a price per kWh");
  expect_error(MINIMAL "[home_assistant]\nport = 70000\n",
               "home_assistant.port: 70000 is out of range");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_minimal_file_takes_defaults),
      cmocka_unit_test(test_config_prices_are_micro_currency_per_kwh),
      cmocka_unit_test(test_config_cross_setting_rules),
      cmocka_unit_test(test_config_line_errors_name_file_line_and_key),
      cmocka_unit_test(test_config_exante_with_prices_loads),
      cmocka_unit_test(test_config_default_file_loads_once_required_are_set),
      cmocka_unit_test(test_config_home_assistant_is_off_and_checked_when_on),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
