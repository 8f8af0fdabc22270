/* SPDX-License-Identifier: MIT */
/*
 * config.c - the aggregator's configuration table and the checks that span
 * settings. See gridlet/agg_config.h.
 */
#include "gridlet/agg_config.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <stdarg.h>
#include <string.h>

#define S GL_NS_PER_SEC
#define MIN (60 * S)
#define HOUR (3600 * S)
#define DAY (86400 * S)

static const char *const modes[] = {"expost", "exante", "continuous", NULL};
static const char *const rules[] = {"marginal", "k", "mcafee", "pay-as-bid",
                                    NULL};
static const char *const rationings[] = {"pro-rata", "time", NULL};
static const char *const levels[] = {"error", "warn",  "notice",
                                     "info",  "debug", NULL};

#define T agg_config
static const gl_conf_item items[] = {
    /* [community] */
    {"community", "name", GL_CONF_STRING, offsetof(T, community),
     sizeof(((T *)0)->community), NULL, 1, PR_COMMUNITY_MAX, true, 0, NULL,
     "the community name (as in the CA and the topics), e.g. oak-street"},
    GL_CONF_STR("community", "latitude", T, latitude, "",
                "decimal degrees north (negative: south); with longitude it "
                "defines night for the pv_at_night check"),
    GL_CONF_STR("community", "longitude", T, longitude, "",
                "decimal degrees east (negative: west)"),
    /* [mqtt] */
    GL_CONF_STR("mqtt", "uri", T, mqtt_uri, "mqtts://localhost:8883",
                "the broker: mqtts://host:port (TLS) or mqtt://host:port"),
    GL_CONF_STR("mqtt", "ca", T, mqtt_ca, "/etc/gridlet/ca.pem",
                "CA certificate the broker's certificate is checked against"),
    GL_CONF_STR("mqtt", "cert", T, mqtt_cert, "/etc/gridlet/aggregator.pem",
                "the aggregator's certificate (CN aggregator)"),
    GL_CONF_STR("mqtt", "key", T, mqtt_key, "/etc/gridlet/aggregator.key",
                "its private key (PEM PKCS#8, mode 0600); also signs results"),
    GL_CONF_DUR("mqtt", "keepalive", T, mqtt_keepalive, "30s", 5 * S, HOUR,
                "MQTT keep-alive interval"),
    GL_CONF_DUR("mqtt", "session_expiry", T, mqtt_session_expiry, "7d", 0,
                30 * DAY,
                "how long the broker keeps our session (and queues meter "
                "messages) while the aggregator is down"),
    GL_CONF_INTEGER("mqtt", "queue_max", T, mqtt_queue_max, "1000000", 1000,
                    100000000,
                    "received messages buffered before verification; beyond "
                    "it messages are dropped and counted (meters re-send)"),
    GL_CONF_INTEGER("mqtt", "queue_bytes", T, mqtt_queue_bytes, "268435456",
                    1048576, INT64_C(17179869184),
                    "payload bytes buffered before verification (same rule)"),
    /* [pki] */
    GL_CONF_STR("pki", "ca", T, pki_ca, "/etc/gridlet/ca.pem",
                "the community CA: meter certificates must chain to it"),
    GL_CONF_STR("pki", "crl", T, pki_crl, "/etc/mosquitto/gridlet/crl.pem",
                "the CA's revocation list, re-read on SIGHUP (\"\" = none)"),
    GL_CONF_STR("pki", "ca_dir", T, pki_ca_dir, "",
                "the CA directory `meters sync` reads when --ca is not given"),
    /* [ledger] */
    GL_CONF_STR("ledger", "key", T, ledger_key, "/etc/gridlet/ledger.key",
                "the log's signer key (gridlet-ledger init; mode 0600)"),
    GL_CONF_STR("ledger", "origin", T, ledger_origin, "",
                "the log's origin; default gridlet/<community>"),
    /* [storage] */
    GL_CONF_STR("storage", "db", T, db_path,
                "/var/lib/gridlet-aggregator/aggregator.db",
                "the aggregator's database (SQLite, WAL); holds the ledger"),
    GL_CONF_DUR("storage", "retention", T, retention, "400d", DAY, 36500 * DAY,
                "raw signed meter messages are kept this long (ledger "
                "entries, settlements and balances forever)"),
    /* [market] */
    GL_CONF_CHOICE("market", "mode", T, mode, "expost", modes,
                   "expost (standing limits, measured quantities), exante "
                   "(call auction at gate closure) or continuous (CDA)"),
    GL_CONF_CHOICE("market", "rule", T, rule, "marginal", rules,
                   "call auction price rule"),
    GL_CONF_CHOICE("market", "rationing", T, rationing, "pro-rata", rationings,
                   "rationing at the marginal price"),
    GL_CONF_DEC("market", "k", T, k_ppm, "0.5", 6, 0, 1000000,
                "k of the k-double auction (rule = k), 0..1"),
    GL_CONF_DUR("market", "interval", T, interval, "15m", MIN, DAY,
                "delivery interval; must divide a day"),
    GL_CONF_DUR("market", "grace", T, grace, "0", 0, DAY,
                "wait this long after an interval for missing readings "
                "(0: a fifth of the interval)"),
    GL_CONF_DUR("market", "gate_closure", T, gate_closure, "5m", 0, DAY,
                "exante/continuous: orders close this long before delivery"),
    GL_CONF_DUR("market", "horizon", T, horizon, "1d", MIN, 7 * DAY,
                "exante/continuous: orders at most this far ahead"),
    GL_CONF_DEC("market", "tick", T, tick, "0.001", 6, 1, 1000000,
                "continuous: price step in currency per kWh"),
    GL_CONF_DEC("market", "retail", T, retail, "0.30", 6, 0, 1000000000,
                "utility's selling price, currency per kWh"),
    GL_CONF_DEC("market", "feed_in", T, feed_in, "0.08", 6, 0, 1000000000,
                "utility's buying price (feed-in tariff), currency per kWh"),
    GL_CONF_DEC("market", "fee", T, fee, "0", 6, 0, 1000000000,
                "local network fee per kWh traded locally, paid by buyers"),
    GL_CONF_BOOLEAN("market", "allow_self_trade", T, allow_self_trade, "false",
                    "let a meter's own bids and offers match each other"),
    /* [ingest] */
    GL_CONF_INTEGER("ingest", "workers", T, workers, "0", 0, 256,
                    "signature verification threads (0: one per core)"),
    GL_CONF_INTEGER("ingest", "queue", T, queue, "4096", 16, 1000000,
                    "messages in verification at once"),
    GL_CONF_INTEGER("ingest", "batch_max", T, batch_max, "2000", 1, 1000000,
                    "most messages stored per database transaction"),
    GL_CONF_DUR("ingest", "batch_delay", T, batch_delay, "50ms", 0, 10 * S,
                "longest a received message waits for its transaction"),
    GL_CONF_DUR("ingest", "max_future", T, max_future, "2m", 0, DAY,
                "how far a message's time may lie ahead of our clock"),
    GL_CONF_DUR("ingest", "max_age", T, max_age, "30d", HOUR, 3650 * DAY,
                "how old a message may be (meters re-send after outages)"),
    GL_CONF_INTEGER("ingest", "proof_rate", T, proof_rate, "60", 1, 1000000,
                    "proof requests answered per meter per minute"),
    /* [plausibility] */
    GL_CONF_INTEGER("plausibility", "rated_power", T, rated_power, "43000", 100,
                    100000000,
                    "W a household can import, export, produce or store at "
                    "most (per-meter values: meters set)"),
    GL_CONF_BOOLEAN("plausibility", "pv_at_night", T, pv_night, "true",
                    "reject PV production at night (needs the community's "
                    "latitude and longitude)"),
    GL_CONF_DEC("plausibility", "night_elevation", T, night_elev_mdeg, "-6", 3,
                -18000, 0,
                "the sun below this elevation (degrees) all interval long "
                "is night"),
    GL_CONF_INTEGER("plausibility", "night_tolerance", T, night_tolerance, "5",
                    0, 1000000, "Wh of PV tolerated at night (sensor noise)"),
    /* [http] */
    GL_CONF_STR("http", "listen", T, http_listen, "127.0.0.1:8480",
                "HTTP API and /metrics (IPv4:port; \"\" switches it off)"),
    /* [log] */
    GL_CONF_CHOICE("log", "level", T, log_level, "info", levels,
                   "error, warn, notice, info or debug"),
};
#undef T

const gl_conf_item *agg_config_items(size_t *n) {
  *n = sizeof items / sizeof *items;
  return items;
}

void agg_config_defaults(agg_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  gl_conf_defaults(items, sizeof items / sizeof *items, cfg);
}

static void add_err(gl_conf_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_err(gl_conf_errors *errs, const char *fmt, ...) {
  if (!errs)
    return;
  if (errs->count < GL_CONF_MAX_ERRORS) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->count], GL_CONF_ERROR_LEN, fmt, ap);
    va_end(ap);
  }
  errs->count++;
}

/* Degrees as text into micro-degrees within +-limit. */
static bool parse_deg(const char *text, int64_t limit, int64_t *out) {
  int64_t v;
  if (gl_conf_parse_decimal(text, 6, &v) != 0)
    return false;
  if (v < -limit * 1000000 || v > limit * 1000000)
    return false;
  *out = v;
  return true;
}

int agg_config_check(agg_config *cfg, gl_conf_errors *errs) {
  int before = errs ? errs->count : 0;
  gl_conf_errors local = {0};
  if (!errs)
    errs = &local;
  if (!pr_community_valid(cfg->community))
    add_err(errs,
            "community.name: \"%s\" is not a community name "
            "(^[a-z0-9][a-z0-9-]{0,31}$)",
            cfg->community);
  if (cfg->feed_in > cfg->retail)
    add_err(errs, "market.feed_in (%.6f) is above market.retail (%.6f)",
            (double)cfg->feed_in / 1e6, (double)cfg->retail / 1e6);
  if (cfg->interval <= 0 || DAY % cfg->interval != 0 || cfg->interval % S != 0)
    add_err(errs, "market.interval: must be whole seconds and divide a day "
                  "(1m, 5m, 15m, 30m, 1h, ...)");
  cfg->grace_eff = cfg->grace ? cfg->grace : cfg->interval / 5;
  if (cfg->grace_eff >= cfg->interval * 4)
    add_err(errs, "market.grace: must be below four intervals");
  if (cfg->mode != MKT_MODE_EXPOST) {
    if (cfg->gate_closure >= cfg->horizon)
      add_err(errs, "market.gate_closure must be below market.horizon");
  }
  if (cfg->mode == MKT_MODE_CONTINUOUS) {
    if ((cfg->retail - cfg->feed_in) % cfg->tick != 0)
      add_err(errs,
              "market.tick (%.6f) must divide retail - feed_in (%.6f) in "
              "continuous mode",
              (double)cfg->tick / 1e6,
              (double)(cfg->retail - cfg->feed_in) / 1e6);
    else if ((cfg->retail - cfg->feed_in) / cfg->tick >= (INT64_C(1) << 22))
      add_err(errs, "market.tick is too fine for the price band (at most "
                    "4194304 price levels)");
  }
  cfg->has_location = false;
  bool lat = cfg->latitude[0] != '\0', lon = cfg->longitude[0] != '\0';
  if (lat != lon) {
    add_err(errs, "community.latitude and community.longitude go together");
  } else if (lat) {
    if (!parse_deg(cfg->latitude, 90, &cfg->lat_udeg))
      add_err(errs,
              "community.latitude: \"%s\" is not a latitude in degrees "
              "(-90..90)",
              cfg->latitude);
    else if (!parse_deg(cfg->longitude, 180, &cfg->lon_udeg))
      add_err(errs,
              "community.longitude: \"%s\" is not a longitude in "
              "degrees (-180..180)",
              cfg->longitude);
    else
      cfg->has_location = true;
  }
  if (cfg->ledger_origin[0])
    snprintf(cfg->origin, sizeof cfg->origin, "%s", cfg->ledger_origin);
  else
    snprintf(cfg->origin, sizeof cfg->origin, "gridlet/%s", cfg->community);
  if (cfg->retention < cfg->max_age)
    add_err(errs, "storage.retention must be at least ingest.max_age (a "
                  "pruned message must be too old to be accepted again)");
  if (cfg->http_listen[0]) {
    const char *colon = strrchr(cfg->http_listen, ':');
    if (!colon || colon == cfg->http_listen || !colon[1])
      add_err(errs, "http.listen: \"%s\" is not ADDRESS:PORT",
              cfg->http_listen);
  }
  if (!cfg->mqtt_uri[0])
    add_err(errs, "mqtt.uri is empty");
  if (!cfg->db_path[0])
    add_err(errs, "storage.db is empty");
  return errs->count > before ? GL_ECONFIG : 0;
}

int agg_config_load(const char *path, agg_config *cfg, gl_conf_errors *errs) {
  memset(cfg, 0, sizeof *cfg);
  int rc =
      gl_conf_load_file(items, sizeof items / sizeof *items, cfg, path, errs);
  if (rc)
    return rc;
  return agg_config_check(cfg, errs);
}

int agg_config_write_defaults(FILE *out) {
  fputs("# gridlet-aggregator configuration. Every setting is shown with its\n"
        "# default; only community.name is required. See\n"
        "# docs/operations/aggregator.md.\n\n",
        out);
  return gl_conf_write_defaults(items, sizeof items / sizeof *items, out);
}

void agg_config_market(const agg_config *cfg, mkt_interval_config *out) {
  memset(out, 0, sizeof *out);
  out->mode = (mkt_mode)cfg->mode;
  out->band.feed_in = cfg->feed_in;
  out->band.retail = cfg->retail;
  out->band.fee = cfg->fee;
  out->rule = (mkt_rule)cfg->rule;
  out->k_ppm = (int32_t)cfg->k_ppm;
  out->rationing = (mkt_rationing)cfg->rationing;
  out->allow_self_trade = cfg->allow_self_trade;
}
