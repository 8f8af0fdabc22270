/* SPDX-License-Identifier: MIT */
/*
 * ha.c - Home Assistant MQTT discovery and state on the household's own
 * broker. See gridlet/mtr_ha.h. Sections: the sensors, local days, the
 * saved record, the messages, the connection, the agent's hooks.
 */
#include "gridlet/mtr_ha.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/market.h"
#include "gridlet/pr_mqtt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMP "ha"
#define SEC GL_NS_PER_SEC
#define MINUTE (60 * SEC)
/* Minutes of the longest local day (25 hours, when clocks go back). */
#define DAY_MINUTES 1500
#define COUNTED_BYTES ((DAY_MINUTES + 7) / 8)
#define STORE_KEY "ha"
#define RECORD_VERSION 1
#define NODE_MAX (2 * PR_ID_MAX + 1)
#define HA_TOPIC_MAX (MTR_TEXT_MAX + NODE_MAX + 32)
#define STATE_MAX 1024

/* ---- The sensors -----------------------------------------------------------
 */

enum { E_IMPORT, E_EXPORT, E_PV, E_CHARGE, E_DISCHARGE, E_COUNT };

static const mtr_ha_sensor sensors[] = {
    {"energy_import", "Grid import", "energy", "total_increasing", "kWh", 3,
     false, 0},
    {"energy_export", "Grid export", "energy", "total_increasing", "kWh", 3,
     false, 0},
    {"energy_pv", "Solar production", "energy", "total_increasing", "kWh", 3,
     false, MTR_HA_NEEDS_PV},
    {"energy_battery_charge", "Battery charge", "energy", "total_increasing",
     "kWh", 3, false, MTR_HA_NEEDS_BATTERY},
    {"energy_battery_discharge", "Battery discharge", "energy",
     "total_increasing", "kWh", 3, false, MTR_HA_NEEDS_BATTERY},
    {"battery_soc", "Battery level", "battery", "measurement", "%", 1, false,
     MTR_HA_NEEDS_SOC},
    {"local_bought_today", "Bought from neighbours today", "energy",
     "total_increasing", "kWh", 3, true, 0},
    {"local_sold_today", "Sold to neighbours today", "energy",
     "total_increasing", "kWh", 3, true, 0},
    {"savings_today", "Savings today", "monetary", "total", NULL, 2, true,
     MTR_HA_NEEDS_TARIFFS},
    {"balance", "Community balance", "monetary", "total", NULL, 2, false, 0},
};

#define NSENSORS (sizeof sensors / sizeof sensors[0])
/* Pending publications: one bit per sensor, then these. */
#define BIT_AVAIL (1u << 29)
#define BIT_STATE (1u << 30)
#define BITS_ALL (((1u << NSENSORS) - 1) | BIT_AVAIL | BIT_STATE)

const mtr_ha_sensor *mtr_ha_sensors(size_t *n) {
  if (n)
    *n = NSENSORS;
  return sensors;
}

/* What is counted and saved. */
typedef struct ha_state {
  int64_t total_wh[E_COUNT];
  int64_t day_start; /* local day the day's totals are for; 0 = none */
  int64_t bought_wh, sold_wh, savings;
  bool has_balance;
  int64_t balance, balance_start;
  bool has_soc;
  int64_t soc_bp, last_end;       /* of the newest reading; last_end 0 = none */
  uint8_t counted[COUNTED_BYTES]; /* minute of a counted result's start */
} ha_state;

struct mtr_ha {
  const mtr_config *cfg;
  char meter_id[PR_ID_MAX + 1];
  char version[64];
  uint32_t have; /* MTR_HA_NEEDS_* this household meets */
  mtr_store *store;
  gl_clock clock;
  pr_mqtt *mqtt;
  char node[NODE_MAX + 1];
  char uri[MTR_TEXT_MAX + 32];
  char t_state[HA_TOPIC_MAX], t_avail[HA_TOPIC_MAX], t_status[HA_TOPIC_MAX];
  ha_state st, tx; /* committed, and staged in the caller's transaction */
  bool in_tx;
  bool connected, ever_connected, refusal_logged;
  uint32_t pending;
  int64_t day_next;
  int64_t last_rediscover; /* monotonic; INT64_MIN: never */
  char buf[STATE_MAX];
};

/* ---- Local days ------------------------------------------------------------
 */

int mtr_ha_day(int64_t t, int64_t *start, int64_t *next) {
  time_t s = (time_t)gl_floor_div(t, SEC);
  struct tm tm;
  if (!localtime_r(&s, &tm))
    return GL_ERANGE;
  struct tm a = tm, b = tm;
  a.tm_hour = a.tm_min = a.tm_sec = 0;
  a.tm_isdst = -1;
  b.tm_hour = b.tm_min = b.tm_sec = 0;
  b.tm_mday += 1;
  b.tm_isdst = -1;
  time_t ta = mktime(&a), tb = mktime(&b);
  if (ta == (time_t)-1 || tb == (time_t)-1 || tb <= ta)
    return GL_ERANGE;
  /* A zone whose midnight does not exist on some day (clocks jump at
   * 00:00) puts the day's start after t's; then t belongs to it anyway. */
  if (ta > s)
    ta = s;
  *start = (int64_t)ta * SEC;
  *next = (int64_t)tb * SEC;
  return 0;
}

/* RFC 3339 with the local offset: "2026-11-21T00:00:00+01:00". */
static void format_local(int64_t t, char out[64]) {
  time_t s = (time_t)gl_floor_div(t, SEC);
  struct tm tm;
  if (!localtime_r(&s, &tm)) {
    snprintf(out, 64, "1970-01-01T00:00:00+00:00");
    return;
  }
  /* Offsets are within a day; minutes only (RFC 3339 has no seconds). */
  long off = tm.tm_gmtoff % 86400;
  char sign = off < 0 ? '-' : '+';
  if (off < 0)
    off = -off;
  snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, sign, (int)(off / 3600), (int)(off % 3600 / 60));
}

/* Start a new day's totals when `now` is in another local day. */
static void roll(ha_state *s, int64_t now) {
  int64_t start, next;
  if (mtr_ha_day(now, &start, &next) || s->day_start == start)
    return;
  s->day_start = start;
  s->bought_wh = s->sold_wh = s->savings = 0;
  memset(s->counted, 0, sizeof s->counted);
}

/* ---- The saved record ------------------------------------------------------
 * Version byte, then little-endian int64s, then the bitmap. */

#define NINTS (E_COUNT + 10)

static void record_encode(const ha_state *s, uint8_t *out, size_t *len) {
  int64_t v[NINTS] = {s->total_wh[0], s->total_wh[1], s->total_wh[2],
                      s->total_wh[3], s->total_wh[4], s->day_start,
                      s->bought_wh,   s->sold_wh,     s->savings,
                      s->has_balance, s->balance,     s->balance_start,
                      s->has_soc,     s->soc_bp,      s->last_end};
  size_t o = 0;
  out[o++] = RECORD_VERSION;
  for (size_t i = 0; i < NINTS; i++)
    for (int b = 0; b < 8; b++)
      out[o++] = (uint8_t)((uint64_t)v[i] >> (8 * b));
  memcpy(out + o, s->counted, sizeof s->counted);
  *len = o + sizeof s->counted;
}

static int record_decode(const uint8_t *in, size_t len, ha_state *s) {
  if (len != 1 + 8 * NINTS + sizeof s->counted || in[0] != RECORD_VERSION)
    return GL_EPARSE;
  int64_t v[NINTS];
  for (size_t i = 0; i < NINTS; i++) {
    uint64_t u = 0;
    for (int b = 0; b < 8; b++)
      u |= (uint64_t)in[1 + 8 * i + (size_t)b] << (8 * b);
    v[i] = (int64_t)u;
  }
  /* Strict: exactly what record_encode writes (so a damaged record is
   * refused rather than half-read). */
  for (int e = 0; e < E_COUNT; e++)
    if (v[e] < 0)
      return GL_EPARSE;
  if ((v[9] != 0 && v[9] != 1) || (v[12] != 0 && v[12] != 1) || v[13] < 0 ||
      v[13] > 10000 || v[6] < 0 || v[7] < 0)
    return GL_EPARSE;
  uint8_t last = in[1 + 8 * NINTS + COUNTED_BYTES - 1];
  if (DAY_MINUTES % 8 && (last >> (DAY_MINUTES % 8)) != 0)
    return GL_EPARSE;
  memset(s, 0, sizeof *s);
  memcpy(s->total_wh, v, sizeof s->total_wh);
  s->day_start = v[5];
  s->bought_wh = v[6];
  s->sold_wh = v[7];
  s->savings = v[8];
  s->has_balance = v[9] != 0;
  s->balance = v[10];
  s->balance_start = v[11];
  s->has_soc = v[12] != 0;
  s->soc_bp = v[13];
  s->last_end = v[14];
  memcpy(s->counted, in + 1 + 8 * NINTS, sizeof s->counted);
  return 0;
}

int mtr_ha_record_check(const uint8_t *rec, size_t len,
                        uint8_t out[MTR_HA_RECORD_MAX], size_t *out_len) {
  ha_state s;
  _Static_assert(1 + 8 * NINTS + COUNTED_BYTES <= MTR_HA_RECORD_MAX,
                 "MTR_HA_RECORD_MAX holds a record");
  int rc = record_decode(rec, len, &s);
  if (rc)
    return rc;
  record_encode(&s, out, out_len);
  return 0;
}

static int record_save(mtr_ha *h, const ha_state *s) {
  uint8_t rec[1 + 8 * NINTS + COUNTED_BYTES];
  size_t len;
  record_encode(s, rec, &len);
  return mtr_store_put_blob(h->store, STORE_KEY, rec, len);
}

/* ---- The messages ----------------------------------------------------------
 */

int mtr_ha_node(const char *meter_id, char *buf, size_t cap) {
  size_t o = 0;
  for (const char *p = meter_id; *p; p++) {
    const char *esc = *p == '_' ? "__" : *p == '.' ? "_d" : NULL;
    size_t n = esc ? 2 : 1;
    if (o + n >= cap)
      return GL_ETOOBIG;
    if (esc)
      memcpy(buf + o, esc, 2);
    else
      buf[o] = *p;
    o += n;
  }
  if (cap == 0)
    return GL_ETOOBIG;
  buf[o] = '\0';
  return 0;
}

static bool applies(const mtr_ha *h, const mtr_ha_sensor *s) {
  return (s->needs & ~h->have) == 0;
}

/* Set `key` to a string value; false on allocation failure. */
static bool put_str(json_t *o, const char *key, const char *v) {
  return json_object_set_new(o, key, json_string(v)) == 0;
}

int mtr_ha_discovery(const mtr_ha *h, size_t i, char *topic, size_t tcap,
                     char **payload) {
  *payload = NULL;
  if (i >= NSENSORS)
    return GL_EINVAL;
  const mtr_ha_sensor *s = &sensors[i];
  int n = snprintf(topic, tcap, "%s/sensor/%s/%s/config",
                   h->cfg->ha_discovery_prefix, h->node, s->key);
  if (n < 0 || (size_t)n >= tcap)
    return GL_ETOOBIG;
  if (!applies(h, s)) {
    *payload = calloc(1, 1);
    return *payload ? 0 : GL_ENOMEM;
  }
  char uid[NODE_MAX + 64], tmpl[96], dev_id[NODE_MAX + 16], name[MTR_TEXT_MAX];
  snprintf(uid, sizeof uid, "gridlet_%s_%s", h->node, s->key);
  snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", s->key);
  snprintf(dev_id, sizeof dev_id, "gridlet_%s", h->node);
  if (h->cfg->ha_name[0])
    snprintf(name, sizeof name, "%s", h->cfg->ha_name);
  else
    snprintf(name, sizeof name, "gridlet %s", h->meter_id);

  json_t *o = json_object(), *dev = json_object(), *ids = json_array(),
         *origin = json_object();
  bool ok = o && dev && ids && origin;
  ok = ok && put_str(o, "name", s->name) && put_str(o, "unique_id", uid) &&
       put_str(o, "state_topic", h->t_state) &&
       put_str(o, "value_template", tmpl) &&
       put_str(o, "device_class", s->device_class) &&
       put_str(o, "state_class", s->state_class) &&
       put_str(o, "unit_of_measurement",
               s->unit ? s->unit : h->cfg->ha_currency) &&
       json_object_set_new(o, "suggested_display_precision",
                           json_integer(s->precision)) == 0;
  if (ok && s->daily && strcmp(s->state_class, "total") == 0)
    ok = put_str(o, "last_reset_value_template", "{{ value_json.day_start }}");
  ok = ok && put_str(o, "availability_topic", h->t_avail) &&
       put_str(o, "payload_available", "online") &&
       put_str(o, "payload_not_available", "offline");
  ok = ok && json_array_append_new(ids, json_string(dev_id)) == 0 &&
       json_object_set(dev, "identifiers", ids) == 0 &&
       put_str(dev, "name", name) && put_str(dev, "manufacturer", "gridlet") &&
       put_str(dev, "model", "gridlet-meter") &&
       put_str(dev, "sw_version", h->version) &&
       json_object_set(o, "device", dev) == 0;
  ok = ok && put_str(origin, "name", "gridlet") &&
       put_str(origin, "sw_version", h->version) &&
       put_str(origin, "support_url", "https://github.com/gridlet/gridlet") &&
       json_object_set(o, "origin", origin) == 0;
  char *text = ok ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(ids);
  json_decref(dev);
  json_decref(origin);
  json_decref(o);
  if (!text)
    return GL_ENOMEM;
  *payload = text;
  return 0;
}

/* Append `v` / 10^digits as an exact decimal ("-1.230000"). */
static void put_fixed(char *buf, size_t cap, size_t *o, int64_t v, int digits) {
  uint64_t p = 1;
  for (int i = 0; i < digits; i++)
    p *= 10;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  int n = snprintf(buf + *o, *o < cap ? cap - *o : 0, "%s%llu.%0*llu",
                   v < 0 ? "-" : "", (unsigned long long)(u / p), digits,
                   (unsigned long long)(u % p));
  if (n > 0)
    *o += (size_t)n;
}

static void put_text(char *buf, size_t cap, size_t *o, const char *t) {
  int n = snprintf(buf + *o, *o < cap ? cap - *o : 0, "%s", t);
  if (n > 0)
    *o += (size_t)n;
}

int mtr_ha_state(const mtr_ha *h, char *buf, size_t cap) {
  const ha_state *s = &h->st;
  size_t o = 0;
  static const char *const keys[E_COUNT] = {
      "energy_import", "energy_export", "energy_pv", "energy_battery_charge",
      "energy_battery_discharge"};
  put_text(buf, cap, &o, "{");
  for (int e = 0; e < E_COUNT; e++) {
    put_text(buf, cap, &o, e ? ",\"" : "\"");
    put_text(buf, cap, &o, keys[e]);
    put_text(buf, cap, &o, "\":");
    put_fixed(buf, cap, &o, s->total_wh[e], 3);
  }
  put_text(buf, cap, &o, ",\"battery_soc\":");
  if (s->has_soc)
    put_fixed(buf, cap, &o, s->soc_bp, 2);
  else
    put_text(buf, cap, &o, "null");
  put_text(buf, cap, &o, ",\"local_bought_today\":");
  put_fixed(buf, cap, &o, s->bought_wh, 3);
  put_text(buf, cap, &o, ",\"local_sold_today\":");
  put_fixed(buf, cap, &o, s->sold_wh, 3);
  put_text(buf, cap, &o, ",\"savings_today\":");
  if (h->cfg->ha_has_tariffs)
    put_fixed(buf, cap, &o, s->savings, 6);
  else
    put_text(buf, cap, &o, "null");
  put_text(buf, cap, &o, ",\"balance\":");
  if (s->has_balance)
    put_fixed(buf, cap, &o, s->balance, 6);
  else
    put_text(buf, cap, &o, "null");
  char t[64];
  format_local(s->day_start, t);
  put_text(buf, cap, &o, ",\"day_start\":\"");
  put_text(buf, cap, &o, t);
  put_text(buf, cap, &o, "\",\"last_interval_end\":");
  if (s->last_end) {
    char u[GL_TIME_STR_MAX];
    put_text(buf, cap, &o, "\"");
    put_text(buf, cap, &o, gl_time_format(s->last_end, u));
    put_text(buf, cap, &o, "\"");
  } else {
    put_text(buf, cap, &o, "null");
  }
  put_text(buf, cap, &o, "}");
  return o < cap ? 0 : GL_ETOOBIG;
}

const char *mtr_ha_state_topic(const mtr_ha *h) {
  return h->t_state;
}

const char *mtr_ha_availability_topic(const mtr_ha *h) {
  return h->t_avail;
}

/* ---- The connection --------------------------------------------------------
 */

/* Publish one pending message. 0 (done, or given up with a log line) or
 * GL_EAGAIN / GL_ECONN (keep it pending). */
static int publish_one(mtr_ha *h, uint32_t bit, uint64_t *token) {
  char topic[HA_TOPIC_MAX];
  char *owned = NULL;
  pr_mqtt_msg m = {.topic = topic, .qos = 1, .retain = true};
  if (bit == BIT_AVAIL) {
    snprintf(topic, sizeof topic, "%s", h->t_avail);
    m.payload = "online";
    m.payload_len = 6;
  } else if (bit == BIT_STATE) {
    snprintf(topic, sizeof topic, "%s", h->t_state);
    if (mtr_ha_state(h, h->buf, sizeof h->buf)) {
      GL_ERROR(COMP, "the state message does not fit (a bug)");
      return 0;
    }
    m.payload = h->buf;
    m.payload_len = strlen(h->buf);
  } else {
    size_t i = 0;
    while ((1u << i) != bit)
      i++;
    int rc = mtr_ha_discovery(h, i, topic, sizeof topic, &owned);
    if (rc) {
      GL_ERROR(COMP, "cannot build the discovery message of %s: %s",
               sensors[i].key, gl_strerror(rc));
      return 0;
    }
    m.payload = owned;
    m.payload_len = strlen(owned);
  }
  int rc = pr_mqtt_publish(h->mqtt, &m, token);
  free(owned);
  if (rc == GL_EAGAIN || rc == GL_ECONN)
    return rc;
  if (rc)
    GL_WARN(COMP, "cannot publish on %s: %s", topic, gl_strerror(rc));
  return 0;
}

/* Publish what is pending, discovery first, then availability, then the
 * state (Home Assistant wants the entity before its value). */
static void pump(mtr_ha *h) {
  while (h->connected && h->pending) {
    uint32_t bit = h->pending & (0u - h->pending); /* the lowest one */
    if (publish_one(h, bit, NULL))
      return;
    h->pending &= ~bit;
  }
}

static void on_event(mtr_ha *h, const pr_mqtt_event *ev) {
  switch (ev->type) {
  case PR_MQTT_CONNECTED:
    GL_NOTICE(COMP, "connected to the Home Assistant broker at %s", h->uri);
    h->connected = h->ever_connected = true;
    h->refusal_logged = false;
    h->pending = BITS_ALL;
    break;
  case PR_MQTT_DISCONNECTED:
    if (h->connected)
      GL_WARN(COMP,
              "lost the connection to the Home Assistant broker at %s (%s); "
              "trading is not affected, retrying",
              h->uri, ev->text ? ev->text : "no reason given");
    else if (!h->ever_connected && !h->refusal_logged) {
      GL_WARN(COMP, "cannot connect to the Home Assistant broker at %s: %s",
              h->uri, ev->text ? ev->text : "no reason given");
      h->refusal_logged = true;
    }
    h->connected = false;
    break;
  case PR_MQTT_MESSAGE: {
    bool online = ev->payload_len == 6 && memcmp(ev->payload, "online", 6) == 0;
    if (strcmp(ev->topic, h->t_status) != 0 || !online)
      break;
    /* Home Assistant (re)started: it forgets non-retained state, and a
     * broker without persistence forgot the retained messages too. */
    int64_t mono = gl_clock_monotonic(&h->clock);
    if (h->last_rediscover != INT64_MIN &&
        mono - h->last_rediscover < MTR_HA_REDISCOVER_NS)
      break;
    h->last_rediscover = mono;
    GL_INFO(COMP, "Home Assistant came online: publishing discovery again");
    h->pending = BITS_ALL;
    break;
  }
  case PR_MQTT_PUBLISHED:
    if (!ev->ok && h->connected && !h->refusal_logged) {
      GL_WARN(
          COMP,
          "the Home Assistant broker refused a message (reason 0x%02x%s%s): "
          "check the user's permissions for %s/# and %s/#",
          (unsigned)ev->reason, ev->text ? ": " : "", ev->text ? ev->text : "",
          h->cfg->ha_discovery_prefix, h->cfg->ha_topic_prefix);
      h->refusal_logged = true;
    }
    break;
  case PR_MQTT_SUBSCRIBED:
    if (!ev->ok)
      GL_WARN(COMP,
              "the Home Assistant broker refused the subscription to "
              "%s: discovery is not repeated when Home Assistant "
              "restarts (it is retained, so this rarely matters)",
              h->t_status);
    break;
  }
}

int mtr_ha_new(const mtr_config *cfg, const mtr_ha_opts *opts, mtr_store *store,
               gl_clock clock, mtr_ha **out) {
  *out = NULL;
  mtr_ha *h = calloc(1, sizeof *h);
  if (!h)
    return GL_ENOMEM;
  h->cfg = cfg;
  h->store = store;
  h->clock = clock;
  h->last_rediscover = INT64_MIN;
  snprintf(h->meter_id, sizeof h->meter_id, "%s", opts->meter_id);
  snprintf(h->version, sizeof h->version, "%s", opts->version);
  h->have = (opts->has_pv ? MTR_HA_NEEDS_PV : 0) |
            (opts->has_battery ? MTR_HA_NEEDS_BATTERY : 0) |
            (opts->has_soc ? MTR_HA_NEEDS_SOC : 0) |
            (cfg->ha_has_tariffs ? MTR_HA_NEEDS_TARIFFS : 0);
  int rc = mtr_ha_node(opts->meter_id, h->node, sizeof h->node);
  int n1 = snprintf(h->t_state, sizeof h->t_state, "%s/%s/state",
                    cfg->ha_topic_prefix, h->node);
  int n2 = snprintf(h->t_avail, sizeof h->t_avail, "%s/%s/availability",
                    cfg->ha_topic_prefix, h->node);
  int n3 = snprintf(h->t_status, sizeof h->t_status, "%s/status",
                    cfg->ha_discovery_prefix);
  bool v6 = strchr(cfg->ha_host, ':') != NULL;
  int64_t port = cfg->ha_port ? cfg->ha_port : cfg->ha_tls ? 8883 : 1883;
  int n4 = snprintf(h->uri, sizeof h->uri, "%s://%s%s%s:%lld",
                    cfg->ha_tls ? "mqtts" : "mqtt", v6 ? "[" : "", cfg->ha_host,
                    v6 ? "]" : "", (long long)port);
  if (rc || n1 < 0 || (size_t)n1 >= sizeof h->t_state || n2 < 0 ||
      (size_t)n2 >= sizeof h->t_avail || n3 < 0 ||
      (size_t)n3 >= sizeof h->t_status || n4 < 0 ||
      (size_t)n4 >= sizeof h->uri) {
    free(h);
    return GL_EINVAL;
  }

  /* The saved totals. */
  uint8_t rec[1 + 8 * NINTS + COUNTED_BYTES + 1];
  size_t len = 0;
  rc = mtr_store_get_blob(store, STORE_KEY, rec, sizeof rec, &len);
  if (rc == 0 && record_decode(rec, len, &h->st) != 0) {
    GL_WARN(COMP, "the saved Home Assistant totals are unreadable; they "
                  "start again from zero");
    memset(&h->st, 0, sizeof h->st);
  } else if (rc == GL_ETOOBIG) {
    GL_WARN(COMP, "the saved Home Assistant totals are unreadable; they "
                  "start again from zero");
  } else if (rc && rc != GL_ENOENT) {
    free(h);
    return rc;
  }
  int64_t now = gl_clock_now(&clock), start;
  roll(&h->st, now);
  if (mtr_ha_day(now, &start, &h->day_next))
    h->day_next = now + 3600 * SEC;

  char client_id[MTR_TEXT_MAX + 16];
  if (cfg->ha_client_id[0])
    snprintf(client_id, sizeof client_id, "%s", cfg->ha_client_id);
  else
    snprintf(client_id, sizeof client_id, "gridlet-%s", opts->meter_id);
  pr_mqtt_config mc = {
      .uri = h->uri,
      .client_id = client_id,
      .ca_file = cfg->ha_tls && cfg->ha_ca[0] ? cfg->ha_ca : NULL,
      .username = cfg->ha_username[0] ? cfg->ha_username : NULL,
      .password = cfg->ha_password[0] ? cfg->ha_password : NULL,
      .keepalive_s = 30,
      .clean_start = true,
      .session_expiry_s = 0,
      .will_topic = h->t_avail,
      .will_payload = "offline",
      .will_len = 7,
      .will_retain = true,
      .will_qos = 1,
      /* Only Home Assistant's short status messages are expected: keep
       * what a misbehaving broker can make us hold small. */
      .max_packet_bytes = 4096,
      .queue_max_bytes = 64 * 1024,
      .queue_max = 256,
      .reconnect_min_ms = (int)(cfg->reconnect_min_ns / GL_NS_PER_MS),
      .reconnect_max_ms = (int)(cfg->reconnect_max_ns / GL_NS_PER_MS),
  };
  rc = pr_mqtt_new(&mc, &h->mqtt);
  if (!rc)
    rc = pr_mqtt_subscribe(h->mqtt, h->t_status, 1);
  if (rc) {
    GL_ERROR(COMP, "cannot create the MQTT client for %s: %s", h->uri,
             gl_strerror(rc));
    mtr_ha_free(h);
    return rc == GL_ENOMEM ? rc : rc == GL_EPROTO ? rc : GL_EINVAL;
  }
  *out = h;
  return 0;
}

void mtr_ha_free(mtr_ha *h) {
  if (!h)
    return;
  pr_mqtt_free(h->mqtt);
  free(h);
}

void mtr_ha_start(mtr_ha *h) {
  GL_INFO(COMP, "publishing to Home Assistant at %s (discovery prefix %s)",
          h->uri, h->cfg->ha_discovery_prefix);
  pr_mqtt_connect(h->mqtt);
}

int mtr_ha_fd(const mtr_ha *h) {
  return pr_mqtt_fd(h->mqtt);
}

int64_t mtr_ha_deadline(const mtr_ha *h) {
  return h->day_next;
}

void mtr_ha_handle(mtr_ha *h, int64_t now) {
  pr_mqtt_event ev;
  while (pr_mqtt_next(h->mqtt, &ev) == 0)
    on_event(h, &ev);
  if (now >= h->day_next && !h->in_tx) {
    int64_t start;
    roll(&h->st, now);
    if (mtr_ha_day(now, &start, &h->day_next))
      h->day_next = now + 3600 * SEC;
    h->pending |= BIT_STATE;
  }
  pump(h);
}

void mtr_ha_stop(mtr_ha *h) {
  if (!h->connected)
    return;
  pump(h);
  uint64_t token = 0;
  pr_mqtt_msg m = {.topic = h->t_avail,
                   .payload = "offline",
                   .payload_len = 7,
                   .qos = 1,
                   .retain = true};
  gl_clock real = gl_clock_real();
  int64_t end = gl_clock_monotonic(&real) + MTR_HA_STOP_WAIT_MS * GL_NS_PER_MS;
  bool sent = false, acked = false;
  while (!acked && gl_clock_monotonic(&real) < end) {
    if (!sent) {
      int rc = pr_mqtt_publish(h->mqtt, &m, &token);
      if (rc == 0)
        sent = true;
      else if (rc != GL_EAGAIN)
        break;
    }
    if (!pr_mqtt_wait(h->mqtt, 50))
      continue;
    pr_mqtt_event ev;
    while (pr_mqtt_next(h->mqtt, &ev) == 0) {
      if (ev.type == PR_MQTT_PUBLISHED && sent && ev.token == token)
        acked = true;
      else if (ev.type == PR_MQTT_DISCONNECTED)
        end = 0;
    }
  }
  if (!acked)
    GL_WARN(COMP, "the Home Assistant broker did not take \"offline\" in "
                  "time; its last will says so when the connection drops");
}

/* ---- The agent's hooks -----------------------------------------------------
 */

static ha_state *staged(mtr_ha *h) {
  if (!h->in_tx) {
    h->tx = h->st;
    h->in_tx = true;
  }
  return &h->tx;
}

int mtr_ha_reading(mtr_ha *h, const pr_reading *r) {
  ha_state *s = staged(h);
  const int64_t wh[E_COUNT] = {r->import_wh, r->export_wh, r->pv_wh,
                               r->charge_wh, r->discharge_wh};
  for (int e = 0; e < E_COUNT; e++)
    if (wh[e] > 0 && s->total_wh[e] <= INT64_MAX - wh[e])
      s->total_wh[e] += wh[e];
  if (r->has_soc_bp) {
    s->has_soc = true;
    s->soc_bp = r->soc_bp;
  }
  if (r->end > s->last_end)
    s->last_end = r->end;
  return record_save(h, s);
}

int mtr_ha_result(mtr_ha *h, const pr_result *r, int64_t now) {
  ha_state *s = staged(h);
  roll(s, now);
  if (!s->has_balance || r->start >= s->balance_start) {
    s->has_balance = true;
    s->balance = r->balance;
    s->balance_start = r->start;
  }
  int64_t start, next;
  if (mtr_ha_day(s->day_start, &start, &next) == 0 && r->start >= start &&
      r->start < next) {
    int64_t minute = (r->start - start) / MINUTE;
    uint8_t mask = (uint8_t)(1u << (minute % 8));
    if (minute < DAY_MINUTES && !(s->counted[minute / 8] & mask)) {
      s->counted[minute / 8] |= mask;
      const pr_settlement *st = &r->settlement;
      s->bought_wh += st->local_buy_wh;
      s->sold_wh += st->local_sell_wh;
      int64_t paid_alone, got_alone;
      if (h->cfg->ha_has_tariffs && !(r->flags & PR_RESULT_MISSING) &&
          mkt_money(st->import_wh, h->cfg->ha_retail, &paid_alone) == 0 &&
          mkt_money(st->export_wh, h->cfg->ha_feed_in, &got_alone) == 0)
        s->savings += st->net - (got_alone - paid_alone);
    }
  }
  return record_save(h, s);
}

void mtr_ha_commit(mtr_ha *h, bool ok) {
  if (!h->in_tx)
    return;
  if (ok) {
    h->st = h->tx;
    h->pending |= BIT_STATE;
  }
  h->in_tx = false;
}
