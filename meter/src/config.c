/* SPDX-License-Identifier: MIT */
/*
 * config.c - the meter agent's configuration table and the rules across
 * settings. See gridlet/mtr_config.h.
 */
#include "gridlet/mtr_config.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pr_msg.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef MTR_PROFILE_DIR
#define MTR_PROFILE_DIR "/usr/share/gridlet/profiles"
#endif

#define SEC GL_NS_PER_SEC
#define MIN (60 * GL_NS_PER_SEC)
#define HOUR (3600 * GL_NS_PER_SEC)
#define DAY (86400 * GL_NS_PER_SEC)

static const char *const level_names[] = {"error", "warn",  "notice",
                                          "info",  "debug", NULL};
static const int level_values[] = {GL_LOG_ERROR, GL_LOG_WARN, GL_LOG_NOTICE,
                                   GL_LOG_INFO, GL_LOG_DEBUG};
static const char *const full_names[] = {"drop-oldest", "drop-newest", NULL};
static const char *const mode_names[] = {"expost", "exante", "continuous",
                                         NULL};
static const char *const forecast_names[] = {"persistence", "none", NULL};

#define S(sec, key, field, def, help)                                          \
  GL_CONF_STR(sec, key, mtr_config, field, def, help)
#define D(sec, key, field, def, lo, hi, help)                                  \
  GL_CONF_DUR(sec, key, mtr_config, field, def, lo, hi, help)
#define I(sec, key, field, def, lo, hi, help)                                  \
  GL_CONF_INTEGER(sec, key, mtr_config, field, def, lo, hi, help)
#define DEVICE(sec, idx, endpoint_help, profile_def)                           \
  S(sec, "endpoint", dev[idx].endpoint, "", endpoint_help),                    \
      I(sec, "unit", dev[idx].unit, "0", 0, 247,                               \
        "Modbus unit id; 0 = the profile's default (else 1)"),                 \
      S(sec, "profile", dev[idx].profile, profile_def,                         \
        "device profile: a shipped name or a file path")

static const gl_conf_item items[] = {
    /* [meter] */
    {"meter", "community", GL_CONF_STRING, offsetof(mtr_config, community),
     sizeof(((mtr_config *)0)->community), NULL, 1, PR_COMMUNITY_MAX, true, 0,
     NULL, "your community's name, as given by the operator (required)"},
    S("meter", "id", id, "",
      "this meter's id; empty = the name in its certificate (must match)"),
    D("meter", "interval", interval_ns, "15m", MIN, DAY,
      "market interval; must divide a day and equal the community's"),
    D("meter", "poll", poll_ns, "5s", SEC, 5 * MIN,
      "how often the devices are read; must divide the interval"),
    D("meter", "close_wait", close_wait_ns, "30s", 0, HOUR,
      "how long after an interval ends to wait for a device that missed "
      "the boundary read"),
    D("meter", "state_save", state_save_ns, "1m", SEC, HOUR,
      "how often counter state is saved between interval boundaries"),
    D("meter", "clock_step", clock_step_ns, "2s", 100 * GL_NS_PER_MS, HOUR,
      "a wall clock jump larger than this is flagged clock_step"),
    D("meter", "clock_horizon", clock_horizon_ns, "1h", MIN, 30 * DAY,
      "a wall clock jump larger than this is believed only once it has "
      "held for clock_confirm"),
    D("meter", "clock_confirm", clock_confirm_ns, "10m", 0, DAY,
      "how long a jump beyond clock_horizon must hold to be believed"),
    D("meter", "backfill", backfill_ns, "1d", 0, 30 * DAY,
      "after a long stop, report missing intervals this far back"),
    I("meter", "max_power", max_power_w, "50000", 100, 10000000,
      "W; a counter rising faster than this is a jump, not energy"),
    S("meter", "database", database, "/var/lib/gridlet-meter/meter.db",
      "SQLite file with the outbox, sequence numbers and counter state"),
    D("meter", "retention", retention_ns, "90d", DAY, 3650 * DAY,
      "results, proof checks, checkpoints and alarms are kept this long"),
    GL_CONF_CHOICE("meter", "log_level", mtr_config, log_level_choice, "info",
                   level_names, "how much to log"),
    /* devices */
    {"grid_meter", "endpoint", GL_CONF_STRING,
     offsetof(mtr_config, dev[MTR_ROLE_GRID].endpoint),
     sizeof(((mtr_config *)0)->dev[0].endpoint), NULL, 1, MTR_TEXT_MAX - 1,
     true, 0, NULL,
     "grid meter: tcp:HOST[:PORT] or rtu:DEVICE[:BAUD[:FRAME]] (required)"},
    I("grid_meter", "unit", dev[MTR_ROLE_GRID].unit, "0", 0, 247,
      "Modbus unit id; 0 = the profile's default (else 1)"),
    S("grid_meter", "profile", dev[MTR_ROLE_GRID].profile, "sunspec-meter",
      "device profile: a shipped name or a file path"),
    DEVICE("inverter", MTR_ROLE_INVERTER,
           "PV inverter endpoint; empty = no PV (may equal another device's)",
           "sunspec-inverter"),
    DEVICE("battery", MTR_ROLE_BATTERY, "battery endpoint; empty = no battery",
           "sunspec-battery"),
    /* [modbus] */
    D("modbus", "timeout", modbus_timeout_ns, "1s", 10 * GL_NS_PER_MS, MIN,
      "response timeout per Modbus request"),
    I("modbus", "attempts", modbus_attempts, "3", 1, 10,
      "attempts per Modbus request"),
    S("modbus", "profile_dir", profile_dir, MTR_PROFILE_DIR,
      "where shipped device profiles are"),
    /* [mqtt] */
    {"mqtt", "uri", GL_CONF_STRING, offsetof(mtr_config, uri),
     sizeof(((mtr_config *)0)->uri), NULL, 1, MTR_TEXT_MAX - 1, true, 0, NULL,
     "the community broker, mqtts://HOST:8883 (required)"},
    S("mqtt", "ca", ca, "/etc/gridlet/ca.pem", "the community CA certificate"),
    S("mqtt", "cert", cert, "/etc/gridlet/meter.pem",
      "this meter's certificate (from the operator)"),
    S("mqtt", "key", key, "/etc/gridlet/meter.key",
      "this meter's key (made by gridlet-meter keygen; never leaves it)"),
    D("mqtt", "keepalive", keepalive_ns, "30s", 5 * SEC, 10 * MIN,
      "MQTT keepalive"),
    D("mqtt", "reconnect_min", reconnect_min_ns, "500ms", 10 * GL_NS_PER_MS,
      MIN, "first wait before reconnecting"),
    D("mqtt", "reconnect_max", reconnect_max_ns, "1m", SEC, HOUR,
      "longest wait between reconnection attempts"),
    D("mqtt", "session_expiry", session_expiry_ns, "7d", 0, 30 * DAY,
      "how long the broker keeps results for us while we are away"),
    /* [aggregator] */
    S("aggregator", "cert", aggregator_cert, "/etc/gridlet/aggregator.pem",
      "the aggregator's certificate; results are checked against it"),
    S("aggregator", "crl", crl, "",
      "the community's revocation list (optional)"),
    S("aggregator", "log_key", log_key, "",
      "the ledger's verifier key (name+id+key); empty = no ledger checks"),
    D("aggregator", "receipt_timeout", receipt_timeout_ns, "0", 0, 7 * DAY,
      "re-send a reading with no result this long after its interval; "
      "0 = 2 intervals + interval/5"),
    D("aggregator", "receipt_give_up", receipt_give_up_ns, "2d", HOUR, 30 * DAY,
      "stop re-sending a reading this long after its interval"),
    D("aggregator", "proof_timeout", proof_timeout_ns, "1m", SEC, HOUR,
      "wait this long for an answer to a proof request"),
    GL_CONF_BOOLEAN("aggregator", "check_ledger", mtr_config, check_ledger,
                    "yes",
                    "check that the ledger holds our readings (needs "
                    "log_key)"),
    /* [outbox] */
    I("outbox", "max_messages", outbox_max, "20000", 10, 10000000,
      "messages the outbox holds while the broker is unreachable"),
    GL_CONF_CHOICE("outbox", "when_full", mtr_config, when_full, "drop-oldest",
                   full_names,
                   "when full: drop the oldest reading, or the new one"),
    I("outbox", "inflight", inflight, "16", 1, 64,
      "messages published but not yet acknowledged"),
    /* [trading] */
    GL_CONF_CHOICE("trading", "mode", mtr_config, mode, "expost", mode_names,
                   "the community's market mode"),
    S("trading", "buy_below", buy_below_text, "",
      "buy locally only at or below this price per kWh (e.g. 0.25)"),
    S("trading", "sell_above", sell_above_text, "",
      "sell locally only at or above this price per kWh (e.g. 0.10)"),
    GL_CONF_CHOICE("trading", "forecast", mtr_config, forecast, "persistence",
                   forecast_names,
                   "exante: orders repeat the same interval forecast_lag ago"),
    D("trading", "forecast_lag", forecast_lag_ns, "1d", MIN, 14 * DAY,
      "exante: how far back the persistence forecast looks"),
    D("trading", "gate_closure", gate_closure_ns, "5m", 0, DAY,
      "exante: orders close this long before the interval starts"),
    D("trading", "order_margin", order_margin_ns, "1m", 0, DAY,
      "exante: send orders this long before gate closure"),
    I("trading", "battery_capacity", battery_capacity_wh, "0", 0, 10000000,
      "Wh usable in the battery; 0 = do not count on it"),
    I("trading", "battery_reserve", battery_reserve_pct, "20", 0, 100,
      "percent of the battery never planned to be used"),
    I("trading", "battery_power", battery_power_w, "0", 0, 10000000,
      "W the battery delivers at most (required with battery_capacity)"),
    /* [home_assistant] */
    GL_CONF_BOOLEAN("home_assistant", "enabled", mtr_config, ha_enabled, "no",
                    "publish energy, trades and savings to your own Home "
                    "Assistant broker (MQTT discovery)"),
    S("home_assistant", "host", ha_host, "",
      "your Home Assistant MQTT broker's host name or address (required "
      "when enabled)"),
    I("home_assistant", "port", ha_port, "0", 0, 65535,
      "its port; 0 = 1883, or 8883 with tls"),
    GL_CONF_BOOLEAN("home_assistant", "tls", mtr_config, ha_tls, "no",
                    "connect with TLS (the broker's name is checked)"),
    S("home_assistant", "ca", ha_ca, "",
      "CA certificate for tls; empty = the system's trusted CAs"),
    S("home_assistant", "username", ha_username, "",
      "user name on that broker; empty = none"),
    S("home_assistant", "password", ha_password, "",
      "its password (keep this file readable by root and gridlet only)"),
    S("home_assistant", "client_id", ha_client_id, "",
      "MQTT client id; empty = gridlet-<meter id>"),
    S("home_assistant", "discovery_prefix", ha_discovery_prefix,
      "homeassistant", "Home Assistant's discovery prefix"),
    S("home_assistant", "topic_prefix", ha_topic_prefix, "gridlet",
      "state and availability topics start with this"),
    S("home_assistant", "name", ha_name, "",
      "the device's name in Home Assistant; empty = gridlet <meter id>"),
    S("home_assistant", "currency", ha_currency, "EUR",
      "ISO 4217 code of your currency, for savings and balance"),
    S("home_assistant", "retail", ha_retail_text, "",
      "your own tariff per kWh from the utility (e.g. 0.30); with feed_in, "
      "shows today's savings"),
    S("home_assistant", "feed_in", ha_feed_in_text, "",
      "what the utility pays you per kWh (e.g. 0.08)"),
};

#define NITEMS (sizeof items / sizeof items[0])

const gl_conf_item *mtr_config_items(size_t *n) {
  if (n)
    *n = NITEMS;
  return items;
}

const char *mtr_role_name(int role) {
  static const char *const names[] = {"grid_meter", "inverter", "battery"};
  return role >= 0 && role < MTR_ROLE_COUNT ? names[role] : "?";
}

int mtr_config_defaults(mtr_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  return gl_conf_defaults(items, NITEMS, cfg);
}

__attribute__((format(printf, 3, 4))) static void
add_error(gl_conf_errors *errs, const char *name, const char *fmt, ...) {
  if (!errs)
    return;
  if (errs->count < GL_CONF_MAX_ERRORS) {
    char msg[GL_CONF_ERROR_LEN - 40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(errs->msg[errs->count], GL_CONF_ERROR_LEN, "%s: %s", name, msg);
  }
  errs->count++;
}

static int parse_price(const char *text, bool *has, int64_t *out,
                       const char *section, const char *key, const char *name,
                       gl_conf_errors *errs) {
  *has = false;
  *out = 0;
  if (!text[0])
    return 0;
  int64_t v;
  int rc = gl_conf_parse_decimal(text, 6, &v);
  if (rc || v < -PR_PRICE_MAX || v > PR_PRICE_MAX) {
    add_error(errs, name,
              "%s.%s: \"%s\" is not a price per kWh between -1000 and "
              "1000 with at most 6 decimals",
              section, key, text);
    return GL_ECONFIG;
  }
  *has = true;
  *out = v;
  return 0;
}

/* A topic level prefix: not empty, no wildcards, no empty level, no
 * leading or trailing '/'. */
static bool topic_prefix_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || p[0] == '/' || p[n - 1] == '/' || strstr(p, "//"))
    return false;
  return strpbrk(p, "+#") == NULL;
}

/* The [home_assistant] rules (only when enabled: a disabled section may
 * hold a half-finished setup). */
static int check_ha(mtr_config *cfg, const char *name, gl_conf_errors *errs) {
  bool bad = false, has_retail, has_feed_in;
  cfg->ha_has_tariffs = false;
  if (parse_price(cfg->ha_retail_text, &has_retail, &cfg->ha_retail,
                  "home_assistant", "retail", name, errs))
    bad = true;
  if (parse_price(cfg->ha_feed_in_text, &has_feed_in, &cfg->ha_feed_in,
                  "home_assistant", "feed_in", name, errs))
    bad = true;
  if (!cfg->ha_enabled)
    return bad ? GL_ECONFIG : 0;
  if (!cfg->ha_host[0]) {
    add_error(errs, name, "home_assistant.host: required when enabled");
    bad = true;
  } else if (strpbrk(cfg->ha_host, " /[]@")) {
    add_error(errs, name,
              "home_assistant.host: \"%s\" is not a host name or address",
              cfg->ha_host);
    bad = true;
  }
  if (!topic_prefix_ok(cfg->ha_discovery_prefix)) {
    add_error(errs, name,
              "home_assistant.discovery_prefix: \"%s\" must be MQTT topic "
              "levels without wildcards or empty levels",
              cfg->ha_discovery_prefix);
    bad = true;
  }
  if (!topic_prefix_ok(cfg->ha_topic_prefix)) {
    add_error(errs, name,
              "home_assistant.topic_prefix: \"%s\" must be MQTT topic "
              "levels without wildcards or empty levels",
              cfg->ha_topic_prefix);
    bad = true;
  }
  const char *c = cfg->ha_currency;
  if (strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
      c[2] < 'A' || c[2] > 'Z') {
    add_error(errs, name,
              "home_assistant.currency: \"%s\" is not an ISO 4217 code "
              "(three capital letters, e.g. EUR)",
              c);
    bad = true;
  }
  if (has_retail != has_feed_in) {
    add_error(errs, name,
              "home_assistant.%s: savings need both retail and feed_in",
              has_retail ? "feed_in" : "retail");
    bad = true;
  }
  if (cfg->ha_password[0] && !cfg->ha_username[0]) {
    add_error(errs, name,
              "home_assistant.password: set without home_assistant.username");
    bad = true;
  }
  cfg->ha_has_tariffs = has_retail && has_feed_in;
  return bad ? GL_ECONFIG : 0;
}

int mtr_config_check(mtr_config *cfg, const char *name, gl_conf_errors *errs) {
  int before = errs ? errs->count : 0;
  bool bad = false;
#define FAIL(...)                                                              \
  do {                                                                         \
    add_error(errs, name, __VA_ARGS__);                                        \
    bad = true;                                                                \
  } while (0)

  if (!pr_community_valid(cfg->community))
    FAIL("meter.community: \"%s\" is not a community name (lower-case "
         "letters, digits and '-', at most 32)",
         cfg->community);
  if (cfg->id[0] && !pr_meter_id_valid(cfg->id, strlen(cfg->id)))
    FAIL("meter.id: \"%s\" is not a meter id (lower-case letters, digits, "
         "'.', '_', '-', at most 63, not a reserved name)",
         cfg->id);
  char a[32], b[32];
  if (DAY % cfg->interval_ns != 0)
    FAIL("meter.interval: %s does not divide a day",
         gl_duration_format(cfg->interval_ns, a, sizeof a));
  else if (cfg->interval_ns % cfg->poll_ns != 0)
    FAIL("meter.poll: %s does not divide the interval (%s), so no read would "
         "fall on the interval boundaries",
         gl_duration_format(cfg->poll_ns, a, sizeof a),
         gl_duration_format(cfg->interval_ns, b, sizeof b));
  /* The aggregator waits interval/5 after an interval's end: a reading
   * held back longer than that arrives too late to be settled. */
  if (cfg->close_wait_ns >= cfg->interval_ns / 5)
    FAIL("meter.close_wait: %s must be shorter than a fifth of the interval "
         "(%s), the community's grace period",
         gl_duration_format(cfg->close_wait_ns, a, sizeof a),
         gl_duration_format(cfg->interval_ns / 5, b, sizeof b));
  if (!cfg->database[0])
    FAIL("meter.database: must not be empty");
  if (!cfg->dev[MTR_ROLE_GRID].endpoint[0])
    FAIL("grid_meter.endpoint: required (the grid meter measures what is "
         "traded)");
  for (int r = 0; r < MTR_ROLE_COUNT; r++)
    if (cfg->dev[r].endpoint[0] && !cfg->dev[r].profile[0])
      FAIL("%s.profile: required when an endpoint is set", mtr_role_name(r));
  if (cfg->clock_horizon_ns < cfg->clock_step_ns)
    FAIL("meter.clock_horizon: shorter than meter.clock_step");
  if (cfg->reconnect_min_ns > cfg->reconnect_max_ns)
    FAIL("mqtt.reconnect_min: longer than mqtt.reconnect_max");
  if (strncmp(cfg->uri, "mqtts://", 8) != 0 &&
      strncmp(cfg->uri, "ssl://", 6) != 0 &&
      strncmp(cfg->uri, "mqtt://", 7) != 0 &&
      strncmp(cfg->uri, "tcp://", 6) != 0)
    FAIL("mqtt.uri: \"%s\" must start with mqtts:// (or mqtt:// for a "
         "broker without TLS)",
         cfg->uri);
  if (parse_price(cfg->buy_below_text, &cfg->has_buy_below, &cfg->buy_below,
                  "trading", "buy_below", name, errs))
    bad = true;
  if (parse_price(cfg->sell_above_text, &cfg->has_sell_above, &cfg->sell_above,
                  "trading", "sell_above", name, errs))
    bad = true;
  if (check_ha(cfg, name, errs))
    bad = true;
  if (cfg->mode != MTR_TRADE_EXPOST && cfg->forecast != MTR_FORECAST_NONE &&
      (!cfg->buy_below_text[0] || !cfg->sell_above_text[0]))
    FAIL("trading.mode: %s orders need trading.buy_below and "
         "trading.sell_above (the order's limit prices)",
         mode_names[cfg->mode]);
  if (DAY % cfg->interval_ns == 0 && cfg->forecast_lag_ns % cfg->interval_ns)
    FAIL("trading.forecast_lag: %s is not a whole number of intervals",
         gl_duration_format(cfg->forecast_lag_ns, a, sizeof a));
  if (cfg->gate_closure_ns + cfg->order_margin_ns >= cfg->forecast_lag_ns)
    FAIL("trading.gate_closure + order_margin must be shorter than "
         "trading.forecast_lag (the forecast must be known when ordering)");
  if (cfg->battery_capacity_wh > 0 && cfg->battery_power_w == 0)
    FAIL("trading.battery_power: required with trading.battery_capacity "
         "(the most the battery delivers, W: a plan counting on more than "
         "it can give would buy too little)");
  if (cfg->receipt_timeout_ns && cfg->receipt_timeout_ns < cfg->interval_ns)
    FAIL("aggregator.receipt_timeout: at least one interval (or 0 for the "
         "default)");
#undef FAIL
  cfg->log_level = level_values[cfg->log_level_choice];
  cfg->receipt_wait_ns = cfg->receipt_timeout_ns
                             ? cfg->receipt_timeout_ns
                             : 2 * cfg->interval_ns + cfg->interval_ns / 5;
  if (errs && errs->count > before)
    bad = true;
  return bad ? GL_ECONFIG : 0;
}

int mtr_config_load_buffer(mtr_config *cfg, const char *name, const char *text,
                           size_t len, gl_conf_errors *errs) {
  memset(cfg, 0, sizeof *cfg);
  int rc = gl_conf_load_buffer(items, NITEMS, cfg, name, text, len, errs);
  if (rc)
    return rc;
  return mtr_config_check(cfg, name, errs);
}

int mtr_config_load(mtr_config *cfg, const char *path, gl_conf_errors *errs) {
  memset(cfg, 0, sizeof *cfg);
  int rc = gl_conf_load_file(items, NITEMS, cfg, path, errs);
  if (rc)
    return rc;
  const char *base = strrchr(path, '/');
  return mtr_config_check(cfg, base ? base + 1 : path, errs);
}

int mtr_config_write_defaults(FILE *out) {
  fputs("; gridlet-meter configuration (gridlet-meter "
        "--print-default-config).\n"
        "; Lines starting with ';' show the default; remove the ';' to "
        "change one.\n"
        "; Check the file with: gridlet-meter --check-config --config "
        "FILE\n\n",
        out);
  return gl_conf_write_defaults(items, NITEMS, out);
}

int mtr_config_profile_path(const mtr_config *cfg, int role, char *buf,
                            size_t cap) {
  const char *p = cfg->dev[role].profile;
  int n = strchr(p, '/')
              ? snprintf(buf, cap, "%s", p)
              : snprintf(buf, cap, "%s/%s.profile", cfg->profile_dir, p);
  return n < 0 || (size_t)n >= cap ? GL_ETOOBIG : 0;
}
