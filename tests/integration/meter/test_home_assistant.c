/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter with Home Assistant switched on: the real agent against
 * the device simulator and the community's TLS broker (results signed by
 * the aggregator's key, as the aggregator sends them), publishing to a
 * second, real mosquitto playing the household's own Home Assistant
 * broker (plain TCP, user name and password, an ACL like the Mosquitto
 * add-on's). Checked as Home Assistant would see it:
 *   - every discovery message, delivered retained to a fresh subscriber,
 *     against the documented format (topic, required keys and their JSON
 *     types, the device block, unique ids), and the unique ids stay the
 *     same across a restart;
 *   - the state after each interval (lifetime energy totals that add up
 *     the readings the aggregator received; today's local trades and
 *     savings from the results sent) and the availability, "online"
 *     while the agent runs, "offline" after SIGTERM and after SIGKILL
 *     (the will);
 *   - Home Assistant's "online" birth message brings back discovery that
 *     was cleared;
 *   - the household broker down at the start, and killed later, changes
 *     nothing for trading: every interval's reading still reaches the
 *     aggregator, and discovery appears once the broker is up.
 */
#include "gridlet/error.h"
#include "gridlet/market.h"
#include "gridlet/mtr_ha.h"
#include "harness.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#define I15 (15 * MH_MIN)
#define RETAIL 300000 /* µ/kWh, the household's tariffs in the config */
#define FEED_IN 80000

static gt_community comm;

static int group_setup(void **state) {
  (void)state;
  gt_community_start(&comm, "mha", 2);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_community_stop(&comm);
  return 0;
}

/* ---- The household's broker ----------------------------------------------
 */

typedef struct ha_broker {
  char dir[GT_PATH_MAX];
  uint16_t port;
  pid_t pid;
} ha_broker;

static void ha_broker_start(ha_broker *b) {
  char conf[2048], pw[GT_PATH_MAX], acl[GT_PATH_MAX];
  gt_path(pw, b->dir, "passwd");
  gt_path(acl, b->dir, "acl");
  /* Like the Home Assistant Mosquitto add-on: logins required; the
   * agent's user may write discovery and its own topics only. */
  gt_write_file(acl,
                "user gridlet\ntopic write homeassistant/#\n"
                "topic read homeassistant/status\ntopic write gridlet/#\n"
                "user observer\ntopic readwrite #\n",
                (size_t)-1);
  if (b->port == 0)
    b->port = gt_free_port();
  snprintf(conf, sizeof conf,
           "listener %u 127.0.0.1\nallow_anonymous false\n"
           "password_file %s\nacl_file %s\npersistence false\n"
           "log_dest stdout\n",
           b->port, pw, acl);
  b->pid = gt_mosquitto_start(b->dir, &b->port, conf, true);
}

static void ha_broker_prepare(ha_broker *b, const char *name) {
  memset(b, 0, sizeof *b);
  gt_path(b->dir, comm.root, name);
  mkdir(b->dir, 0700);
  char pw[GT_PATH_MAX];
  gt_path(pw, b->dir, "passwd");
  gt_write_file(pw, "", 0);
  const char *users[][2] = {{"gridlet", "m3ter-pw"}, {"observer", "obs-pw"}};
  for (int i = 0; i < 2; i++) {
    char *argv[] = {"mosquitto_passwd",  "-b", pw, (char *)users[i][0],
                    (char *)users[i][1], NULL};
    pid_t pid = gt_proc_start(argv, NULL, NULL);
    int st = gt_proc_wait(pid, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
}

/* ---- Home Assistant's view -----------------------------------------------
 */

typedef struct ha_msg {
  char topic[256];
  char *payload; /* NUL-terminated copy */
  size_t len;
  bool retained;
} ha_msg;

typedef struct observer {
  pr_mqtt *mqtt;
  ha_msg *m;
  size_t n, cap;
  bool subscribed;
} observer;

static void obs_pump(observer *o, int ms) {
  gl_clock real = gl_clock_real();
  int64_t end = gl_clock_monotonic(&real) + (int64_t)ms * GL_NS_PER_MS;
  for (;;) {
    pr_mqtt_event ev;
    while (pr_mqtt_next(o->mqtt, &ev) == 0) {
      if (ev.type == PR_MQTT_SUBSCRIBED && ev.ok)
        o->subscribed = true;
      if (ev.type != PR_MQTT_MESSAGE)
        continue;
      if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->m = realloc(o->m, o->cap * sizeof *o->m);
        assert_non_null(o->m);
      }
      ha_msg *h = &o->m[o->n++];
      snprintf(h->topic, sizeof h->topic, "%s", ev.topic);
      h->payload = malloc(ev.payload_len + 1);
      assert_non_null(h->payload);
      memcpy(h->payload, ev.payload, ev.payload_len);
      h->payload[ev.payload_len] = '\0';
      h->len = ev.payload_len;
      h->retained = ev.retained;
    }
    int64_t left = (end - gl_clock_monotonic(&real)) / GL_NS_PER_MS;
    if (left <= 0)
      break;
    pr_mqtt_wait(o->mqtt, left > 50 ? 50 : (int)left);
  }
}

/* A fresh subscriber to everything Home Assistant looks at. */
static void obs_start(observer *o, const ha_broker *b) {
  memset(o, 0, sizeof *o);
  char uri[64];
  snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%u", b->port);
  pr_mqtt_config mc = {.uri = uri,
                       .client_id = "homeassistant-test",
                       .username = "observer",
                       .password = "obs-pw",
                       .clean_start = true,
                       .reconnect_min_ms = 50,
                       .reconnect_max_ms = 300};
  assert_int_equal(pr_mqtt_new(&mc, &o->mqtt), 0);
  assert_int_equal(pr_mqtt_subscribe(o->mqtt, "homeassistant/#", 1), 0);
  assert_int_equal(pr_mqtt_subscribe(o->mqtt, "gridlet/#", 1), 0);
  assert_int_equal(pr_mqtt_connect(o->mqtt), 0);
  for (int i = 0; i < 500 && !o->subscribed; i++)
    obs_pump(o, 20);
  assert_true(o->subscribed);
  obs_pump(o, 300); /* the retained messages */
}

static void obs_free(observer *o) {
  pr_mqtt_free(o->mqtt);
  for (size_t i = 0; i < o->n; i++)
    free(o->m[i].payload);
  free(o->m);
  memset(o, 0, sizeof *o);
}

static void obs_publish(observer *o, const char *topic, const char *payload,
                        bool retain) {
  pr_mqtt_msg m = {.topic = topic,
                   .payload = payload,
                   .payload_len = strlen(payload),
                   .qos = 1,
                   .retain = retain};
  assert_int_equal(pr_mqtt_publish(o->mqtt, &m, NULL), 0);
}

/* The newest message on `topic` at or after index `from`, or NULL. */
static const ha_msg *obs_last(const observer *o, const char *topic,
                              size_t from) {
  for (size_t i = o->n; i-- > from;)
    if (strcmp(o->m[i].topic, topic) == 0)
      return &o->m[i];
  return NULL;
}

/* Wait up to `ms` for a message on `topic` with `payload` after `from`. */
static bool obs_wait_for(observer *o, const char *topic, const char *payload,
                         size_t from, int ms) {
  for (int i = 0; i < ms / 20; i++) {
    for (size_t k = from; k < o->n; k++)
      if (strcmp(o->m[k].topic, topic) == 0 &&
          (!payload || strcmp(o->m[k].payload, payload) == 0))
        return true;
    obs_pump(o, 20);
  }
  return false;
}

static json_t *parse(const char *text) {
  json_error_t err;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    fail_msg("not JSON (%s): %s", err.text, text);
  return j;
}

static const char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v))
    fail_msg("\"%s\" missing or not a string", key);
  return json_string_value(v);
}

/*
 * Check the discovery messages a fresh subscriber got (retained), as
 * Home Assistant's MQTT discovery documents them, and return the unique
 * ids in sensor order (owned strings).
 */
static void check_discovery(const observer *o, const char *node,
                            char *uids[16]) {
  size_t n;
  const mtr_ha_sensor *s = mtr_ha_sensors(&n);
  char state_topic[128], avail_topic[128];
  snprintf(state_topic, sizeof state_topic, "gridlet/%s/state", node);
  snprintf(avail_topic, sizeof avail_topic, "gridlet/%s/availability", node);
  for (size_t i = 0; i < n; i++) {
    char topic[256];
    snprintf(topic, sizeof topic, "homeassistant/sensor/%s/%s/config", node,
             s[i].key);
    const ha_msg *m = obs_last(o, topic, 0);
    if (!m)
      fail_msg("no discovery message on %s", topic);
    if (!m->retained)
      fail_msg("%s was not retained", topic);
    json_t *j = parse(m->payload);
    assert_true(json_is_object(j));
    /* Required for a sensor with discovery: a state topic; what makes it
     * an Energy dashboard sensor and customisable: the rest. */
    assert_string_equal(jstr(j, "state_topic"), state_topic);
    assert_string_equal(jstr(j, "availability_topic"), avail_topic);
    assert_string_equal(jstr(j, "payload_available"), "online");
    assert_string_equal(jstr(j, "payload_not_available"), "offline");
    char tmpl[96];
    snprintf(tmpl, sizeof tmpl, "{{ value_json.%s }}", s[i].key);
    assert_string_equal(jstr(j, "value_template"), tmpl);
    assert_true(strlen(jstr(j, "name")) > 0);
    const char *dc = jstr(j, "device_class"), *sc = jstr(j, "state_class"),
               *unit = jstr(j, "unit_of_measurement");
    if (strcmp(dc, "energy") == 0) {
      assert_string_equal(sc, "total_increasing");
      assert_string_equal(unit, "kWh");
    } else if (strcmp(dc, "monetary") == 0) {
      assert_string_equal(sc, "total");
      assert_string_equal(unit, "CHF");
    } else {
      assert_string_equal(dc, "battery");
      assert_string_equal(unit, "%");
    }
    assert_true(
        json_is_integer(json_object_get(j, "suggested_display_precision")));
    json_t *dev = json_object_get(j, "device");
    assert_true(json_is_object(dev));
    json_t *ids = json_object_get(dev, "identifiers");
    assert_true(json_is_array(ids) && json_array_size(ids) == 1);
    char dev_id[128];
    snprintf(dev_id, sizeof dev_id, "gridlet_%s", node);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), dev_id);
    assert_true(strlen(jstr(dev, "name")) > 0);
    assert_string_equal(jstr(dev, "manufacturer"), "gridlet");
    assert_string_equal(jstr(dev, "model"), "gridlet-meter");
    assert_true(strlen(jstr(dev, "sw_version")) > 0);
    const char *uid = jstr(j, "unique_id");
    for (size_t k = 0; k < i; k++)
      assert_string_not_equal(uids[k], uid);
    uids[i] = strdup(uid);
    json_decref(j);
  }
}

/* The newest state a subscriber saw, parsed. */
static json_t *last_state(const observer *o, const char *node, size_t from) {
  char topic[200]; /* "gridlet/" + a node id of up to 150 + "/state" */
  snprintf(topic, sizeof topic, "gridlet/%s/state", node);
  const ha_msg *m = obs_last(o, topic, from);
  return m ? parse(m->payload) : NULL;
}

/* A decimal number in the state as an exact integer (kWh -> Wh at 3
 * digits, money -> µ at 6). */
static int64_t scaled(json_t *st, const char *key, int digits) {
  json_t *v = json_object_get(st, key);
  if (!json_is_number(v))
    fail_msg("state: %s is not a number", key);
  double d = json_number_value(v);
  double p = 1;
  for (int i = 0; i < digits; i++)
    p *= 10;
  return (int64_t)(d * p + (d < 0 ? -0.5 : 0.5));
}

/* ---- The community's side ------------------------------------------------
 */

/* A virtual day starting at 06:00 local time (the household imports in
 * the morning; a test never reaches midnight), UTC-aligned to the
 * interval, anchored at real now. */
static void clock_at_one(uint32_t speed, char spec[GL_CLOCK_SPEC_MAX],
                         gl_clock *clock, gl_accel_clock **owned) {
  gl_clock real = gl_clock_real();
  int64_t now = gl_clock_now(&real), start, next;
  assert_int_equal(mtr_ha_day(now, &start, &next), 0);
  int64_t anchor = now / GL_NS_PER_MS * GL_NS_PER_MS;
  gl_clock_spec s = {.accel = true,
                     .speed = speed,
                     .virtual_start =
                         gl_floor_div(start + 6 * 3600 * MH_SEC, I15) * I15,
                     .real_anchor = anchor};
  gl_clock_spec_format(&s, spec);
  assert_int_equal(gl_clock_spec_open(&s, clock, owned), 0);
}

/* What the results sent so far add up to: after k results, cum[k]. */
typedef struct totals {
  int64_t bought, sold, savings, balance;
} totals;

typedef struct expect {
  int64_t bought, sold, savings, balance;
  int64_t results;
  totals cum[256];
} expect;

/* Answer each new reading of `meter` with a signed result in which half
 * of its import was bought and half of its export sold locally. */
static void answer_readings(mh_agg *a, const char *meter, size_t *done,
                            expect *e) {
  for (; *done < a->n; (*done)++) {
    const mh_rec *rec = &a->recs[*done];
    if (rec->m->type != PR_MSG_READING || strcmp(rec->m->sender, meter) != 0)
      continue;
    const pr_reading *r = &rec->m->reading;
    pr_settlement s = {.import_wh = r->import_wh, .export_wh = r->export_wh};
    s.local_buy_wh = r->import_wh / 2;
    s.grid_buy_wh = r->import_wh - s.local_buy_wh;
    s.local_sell_wh = r->export_wh / 2;
    s.grid_sell_wh = r->export_wh - s.local_sell_wh;
    assert_int_equal(mkt_money(s.local_buy_wh, 200000, &s.local_cost), 0);
    assert_int_equal(mkt_money(s.grid_buy_wh, RETAIL, &s.grid_cost), 0);
    assert_int_equal(mkt_money(s.local_sell_wh, 150000, &s.local_revenue), 0);
    assert_int_equal(mkt_money(s.grid_sell_wh, FEED_IN, &s.grid_revenue), 0);
    s.net = s.local_revenue + s.grid_revenue - s.local_cost - s.grid_cost;
    int64_t alone_paid, alone_got;
    assert_int_equal(mkt_money(r->import_wh, RETAIL, &alone_paid), 0);
    assert_int_equal(mkt_money(r->export_wh, FEED_IN, &alone_got), 0);
    e->bought += s.local_buy_wh;
    e->sold += s.local_sell_wh;
    e->savings += s.net - (alone_got - alone_paid);
    e->balance += s.net;
    e->results++;
    assert_true(e->results < 256);
    e->cum[e->results] = (totals){e->bought, e->sold, e->savings, e->balance};
    pr_msg m;
    assert_int_equal(pr_msg_init(&m, PR_MSG_RESULT, PR_AGGREGATOR_ID, ++a->seq,
                                 r->end + MH_MIN),
                     0);
    snprintf(m.result.meter, sizeof m.result.meter, "%s", meter);
    m.result.start = r->start;
    m.result.end = r->end;
    m.result.mode = PR_MODE_EXPOST;
    m.result.settlement = s;
    m.result.balance = e->balance;
    m.result.ledger.size = 2;
    m.result.ledger.nentries = 2;
    m.result.ledger.entries[0] = 0;
    m.result.ledger.entries[1] = 1;
    char topic[PR_TOPIC_MAX];
    assert_int_equal(pr_topic_build(PR_TOPIC_RESULT, comm.community, meter,
                                    topic, sizeof topic),
                     0);
    mh_agg_publish(a, topic, &m, false, NULL, 0);
  }
}

static void run_until(mh_agg *a, const gl_clock *clock, int64_t until,
                      const char *meter, size_t *done, expect *e) {
  while (gl_clock_now(clock) < until) {
    mh_agg_pump(a, 20);
    if (meter)
      answer_readings(a, meter, done, e);
  }
}

static const char *ha_extra(const ha_broker *b) {
  static char t[512];
  snprintf(t, sizeof t,
           "[home_assistant]\nenabled = yes\nhost = 127.0.0.1\nport = %u\n"
           "username = gridlet\npassword = m3ter-pw\ncurrency = CHF\n"
           "retail = 0.30\nfeed_in = 0.08\nname = Test house\n",
           b->port);
  return t;
}

/* Sum of the energies of the readings the aggregator received from
 * `meter` for intervals ending at or before `last_end`. */
static void sums(const mh_agg *a, const char *meter, int64_t last_end,
                 int64_t *imp, int64_t *exp, int64_t *pv, size_t *n) {
  pr_msg **r;
  size_t all = mh_readings(a, meter, &r);
  *imp = *exp = *pv = 0;
  *n = 0;
  for (size_t i = 0; i < all; i++) {
    if (r[i]->reading.end > last_end)
      continue;
    (*n)++;
    *imp += r[i]->reading.import_wh;
    *exp += r[i]->reading.export_wh;
    *pv += r[i]->reading.pv_wh;
  }
  free(r);
}

/* ---- Tests ----------------------------------------------------------------
 */

static void test_ha_discovery_state_and_availability(void **state) {
  (void)state;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  clock_at_one(600, spec, &clock, &ac);
  ha_broker hb;
  ha_broker_prepare(&hb, "ha1");
  ha_broker_start(&hb);
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim1");
  mkdir(dir, 0700);
  /* An idle battery (it still answers): the house imports at night. */
  mh_sim_start(&sim, dir, spec, 1, "--no-battery");
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  mh_meter_config(&m, &comm, 1, &sim, 0, NULL, "poll = 30s\n", ha_extra(&hb));
  char node[160];
  assert_int_equal(mtr_ha_node(m.id.id, node, sizeof node), 0);
  char avail[200];
  snprintf(avail, sizeof avail, "gridlet/%s/availability", node);

  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  size_t done = 0;
  expect e = {0};
  run_until(&agg, &clock, t0 + 4 * I15 + MH_MIN, m.id.id, &done, &e);
  mh_agg_pump(&agg, 500);
  answer_readings(&agg, m.id.id, &done, &e);
  mh_agg_pump(&agg, 500);
  assert_true(e.results >= 3);

  /* What Home Assistant finds when it (re)connects: everything retained. */
  observer o;
  obs_start(&o, &hb);
  char *uids[16] = {0};
  check_discovery(&o, node, uids);
  const ha_msg *av = obs_last(&o, avail, 0);
  assert_non_null(av);
  assert_true(av->retained);
  assert_string_equal(av->payload, "online");
  json_t *st = last_state(&o, node, 0);
  assert_non_null(st);
  json_decref(st);

  /* The state as the intervals pass: totals add up what the aggregator
   * received, today's trades and savings what the results said. */
  size_t from = o.n;
  int64_t t1 = gl_clock_now(&clock);
  while (gl_clock_now(&clock) < t1 + 3 * I15) {
    mh_agg_pump(&agg, 20);
    answer_readings(&agg, m.id.id, &done, &e);
    obs_pump(&o, 5);
  }
  /* Let the last result arrive and be published. */
  for (int i = 0; i < 40; i++) {
    mh_agg_pump(&agg, 20);
    obs_pump(&o, 20);
  }
  int updates = 0;
  int64_t prev_import = -1;
  char state_topic[200];
  snprintf(state_topic, sizeof state_topic, "gridlet/%s/state", node);
  for (size_t i = from; i < o.n; i++) {
    if (strcmp(o.m[i].topic, state_topic) != 0)
      continue;
    json_t *j = parse(o.m[i].payload);
    int64_t v = scaled(j, "energy_import", 3);
    assert_true(v >= prev_import); /* total_increasing: never down */
    prev_import = v;
    updates++;
    json_decref(j);
  }
  assert_true(updates >= 3);
  st = last_state(&o, node, from);
  assert_non_null(st);
  /* Home Assistant was enabled before the first reading, so the totals
   * are exactly the sums of the readings up to the newest one counted
   * (the clock runs on: a reading may be on its way). */
  int64_t last_end;
  assert_int_equal(
      gl_time_parse(json_string_value(json_object_get(st, "last_interval_end")),
                    &last_end),
      0);
  int64_t imp, exp, pv;
  size_t nread;
  sums(&agg, m.id.id, last_end, &imp, &exp, &pv, &nread);
  assert_true(nread >= 6);
  assert_int_equal(scaled(st, "energy_import", 3), imp);
  assert_int_equal(scaled(st, "energy_export", 3), exp);
  assert_int_equal(scaled(st, "energy_pv", 3), pv);
  /* Today's trading is the sum of all results sent, or of all but the
   * newest one if that is still on its way. */
  bool matched = false;
  for (int64_t k = e.results; k >= e.results - 1 && k >= 1 && !matched; k--)
    matched = scaled(st, "local_bought_today", 3) == e.cum[k].bought &&
              scaled(st, "local_sold_today", 3) == e.cum[k].sold &&
              scaled(st, "savings_today", 6) == e.cum[k].savings &&
              scaled(st, "balance", 6) == e.cum[k].balance;
  if (!matched) {
    char *txt = json_dumps(st, 0);
    fail_msg("state %s matches none of the last results' totals "
             "(bought %lld, sold %lld, savings %lld, balance %lld after %lld)",
             txt, (long long)e.bought, (long long)e.sold, (long long)e.savings,
             (long long)e.balance, (long long)e.results);
  }
  assert_true(json_is_number(json_object_get(st, "battery_soc")));
  assert_true(json_is_string(json_object_get(st, "day_start")));
  json_decref(st);
  assert_true(e.bought > 0);

  /* Home Assistant restarted on a broker that forgot the discovery: its
   * "online" birth message brings it back. */
  size_t n;
  const mtr_ha_sensor *sens = mtr_ha_sensors(&n);
  for (size_t i = 0; i < n; i++) {
    char topic[256];
    snprintf(topic, sizeof topic, "homeassistant/sensor/%s/%s/config", node,
             sens[i].key);
    obs_publish(&o, topic, "", true);
  }
  obs_pump(&o, 300);
  from = o.n;
  obs_publish(&o, "homeassistant/status", "online", false);
  char first[256];
  snprintf(first, sizeof first, "homeassistant/sensor/%s/%s/config", node,
           sens[0].key);
  assert_true(obs_wait_for(&o, first, NULL, from, 5000));
  obs_free(&o);

  /* A clean stop says "offline", retained. */
  obs_start(&o, &hb);
  from = o.n;
  mh_meter_stop(&m);
  assert_true(obs_wait_for(&o, avail, "offline", from, 5000));
  obs_free(&o);
  obs_start(&o, &hb);
  av = obs_last(&o, avail, 0);
  assert_non_null(av);
  assert_true(av->retained);
  assert_string_equal(av->payload, "offline");
  st = last_state(&o, node, 0);
  int64_t before_restart = scaled(st, "energy_import", 3);
  json_decref(st);
  obs_free(&o);

  /* Restarted: the same entities (unique ids), "online" again, and the
   * totals carry on from where they were. */
  mh_meter_start(&m, spec);
  int64_t t2 = gl_clock_now(&clock);
  run_until(&agg, &clock, t2 + I15 + 30 * MH_SEC, m.id.id, &done, &e);
  obs_start(&o, &hb);
  char *uids2[16] = {0};
  check_discovery(&o, node, uids2);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(uids[i], uids2[i]);
    free(uids[i]);
    free(uids2[i]);
  }
  av = obs_last(&o, avail, 0);
  assert_string_equal(av->payload, "online");
  st = last_state(&o, node, 0);
  assert_true(scaled(st, "energy_import", 3) >= before_restart);
  json_decref(st);

  /* Killed: the broker publishes the will. */
  from = o.n;
  mh_meter_kill9(&m);
  assert_true(obs_wait_for(&o, avail, "offline", from, 10000));
  obs_free(&o);

  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gt_proc_stop(hb.pid, 5000);
  gl_accel_clock_free(ac);
}

/* Readings of `meter` cover every interval from the first to the last,
 * without a gap. */
static void check_no_gap(const mh_agg *a, const char *meter, size_t *n) {
  pr_msg **r;
  *n = mh_readings(a, meter, &r);
  for (size_t i = 1; i < *n; i++)
    assert_int_equal(r[i]->reading.start, r[i - 1]->reading.end);
  free(r);
}

static void test_ha_broker_trouble_never_touches_trading(void **state) {
  (void)state;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_clock clock;
  gl_accel_clock *ac;
  clock_at_one(600, spec, &clock, &ac);
  ha_broker hb;
  ha_broker_prepare(&hb, "ha2");
  hb.port = gt_free_port(); /* nobody listens there yet */
  mh_sim sim;
  char dir[GT_PATH_MAX];
  gt_path(dir, comm.root, "sim2");
  mkdir(dir, 0700);
  mh_sim_start(&sim, dir, spec, 1, NULL);
  mh_agg agg;
  mh_agg_start(&agg, &comm, 2);
  mh_meter m;
  mh_meter_config(&m, &comm, 2, &sim, 0, NULL, "poll = 30s\n", ha_extra(&hb));
  char node[160];
  assert_int_equal(mtr_ha_node(m.id.id, node, sizeof node), 0);

  int64_t t0 = gl_clock_now(&clock);
  mh_meter_start(&m, spec);
  /* Down from the start: readings flow all the same. */
  run_until(&agg, &clock, t0 + 3 * I15 + MH_MIN, NULL, NULL, NULL);
  size_t n1;
  check_no_gap(&agg, m.id.id, &n1);
  assert_true(n1 >= 3);

  /* Up: discovery appears (the agent keeps retrying). */
  ha_broker_start(&hb);
  char first[256];
  snprintf(first, sizeof first, "homeassistant/sensor/%s/energy_import/config",
           node);
  observer o;
  memset(&o, 0, sizeof o);
  bool seen = false;
  for (int i = 0; i < 40 && !seen; i++) {
    obs_start(&o, &hb);
    seen = obs_last(&o, first, 0) != NULL;
    obs_free(&o);
    if (!seen)
      run_until(&agg, &clock, gl_clock_now(&clock) + 10 * MH_SEC, NULL, NULL,
                NULL);
  }
  assert_true(seen);

  /* Killed in the middle of the day: trading carries on. */
  gt_proc_kill9(hb.pid);
  int64_t t1 = gl_clock_now(&clock);
  run_until(&agg, &clock, t1 + 3 * I15 + MH_MIN, NULL, NULL, NULL);
  mh_agg_pump(&agg, 300);
  size_t n2;
  check_no_gap(&agg, m.id.id, &n2);
  assert_true(n2 >= n1 + 3);
  mh_check_seq_unique(&agg);

  /* And the agent still stops cleanly (quickly) with the broker gone. */
  gl_clock real = gl_clock_real();
  int64_t s0 = gl_clock_monotonic(&real);
  mh_meter_stop(&m);
  assert_true(gl_clock_monotonic(&real) - s0 < 8 * MH_SEC);
  char *log = gt_read_file(m.log, NULL);
  assert_non_null(log);
  assert_non_null(strstr(log, "Home Assistant broker"));
  free(log);

  mh_agg_free(&agg);
  mh_sim_stop(&sim);
  gl_accel_clock_free(ac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ha_discovery_state_and_availability),
      cmocka_unit_test(test_ha_broker_trouble_never_touches_trading),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
