/* SPDX-License-Identifier: MIT */
/*
 * bench_demo_scale - a community of 1,000 meters through one broker and
 * one aggregator for several intervals, end to end: every meter has its
 * own enrolled identity, its own TLS connection and its own signing key,
 * publishes its signed reading when the interval ends and waits for its
 * signed result, exactly as gridlet-meter does; the broker and the
 * aggregator are the real programs (the demo's fleet, gridlet/demo_fleet.h,
 * on an accelerated clock). One household with a real gridlet-meter agent
 * and simulated devices runs alongside.
 *
 * Running 1,000 meter agents with 1,000 simulated households is beyond the
 * 2-core machine this is measured on, so the meters' protocol side is a
 * load generator in this process (1,000 MQTT 5 clients over TLS 1.3, one
 * per identity).
 *
 *   bench_demo_scale [meters] [intervals] [speed]     (1000 4 60)
 *
 * Per interval it reports
 *   readings/s   the meters' readings over the real time from the first
 *                publish to the aggregator's /metrics counting the last one
 *                accepted (verified, checked, committed);
 *   close->last  the real time from the interval's end to the last meter
 *                receiving its signed result (the market cleared, settled,
 *                ledger appended, checkpoint signed and published, every
 *                result signed and delivered);
 * with medians over the intervals.
 */
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/demo_fleet.h"
#include "gridlet/demo_http.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_key.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"

#ifndef BENCH_PROFILE_DIR
#define BENCH_PROFILE_DIR NULL
#endif

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct client {
  pr_mqtt *mqtt;
  char id[64];
  char topic[PR_TOPIC_MAX];
  gl_ed25519_key key;
  int64_t seq;
  bool connected, subscribed, result;
  int64_t import_total;
} client;

/* The start of the interval whose result the clients wait for, as the
 * result's JSON payload (inside the COSE envelope) spells it. */
static char want_start[GL_TIME_STR_MAX + 16];

static bool contains(const uint8_t *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; k && i + k <= n; i++)
    if (memcmp(hay + i, needle, k) == 0)
      return true;
  return false;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_demo_scale: %s: %s\n", what, why ? why : "");
  exit(1);
}

static int64_t accepted(demo_fleet *f) {
  int64_t v = 0;
  demo_fleet_metric(
      f, "gridlet_aggregator_messages_accepted_total{kind=\"reading\"}", &v);
  return v;
}

/* Drain every client's events; true when all of them satisfy `done`. */
static unsigned pump(client *c, unsigned n, int64_t *last_result_ns) {
  unsigned results = 0;
  for (unsigned i = 0; i < n; i++) {
    pr_mqtt_event ev;
    while (pr_mqtt_next(c[i].mqtt, &ev) == 0) {
      switch (ev.type) {
      case PR_MQTT_CONNECTED:
        c[i].connected = true;
        break;
      case PR_MQTT_DISCONNECTED:
        c[i].connected = false;
        break;
      case PR_MQTT_SUBSCRIBED:
        c[i].subscribed = ev.ok;
        break;
      case PR_MQTT_MESSAGE:
        if (ev.topic && strstr(ev.topic, "/interval") && !c[i].result &&
            want_start[0] && contains(ev.payload, ev.payload_len, want_start)) {
          c[i].result = true;
          if (last_result_ns)
            *last_result_ns = gb_now_ns();
        }
        break;
      default:
        break;
      }
    }
    results += c[i].result;
  }
  return results;
}

int main(int argc, char **argv) {
  unsigned meters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
  unsigned intervals = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4;
  uint32_t speed = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 60;
  if (meters < 1 || meters > DEMO_MAX_METERS - 1 || intervals < 1 ||
      intervals > 100 || speed < 1 || speed > 900)
    die("usage", "bench_demo_scale [meters 1..1999] [intervals] [speed]");
  gl_log_set_level(GL_LOG_WARN);

  char bin[DEMO_PATH_MAX], self[DEMO_PATH_MAX];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0)
    die("readlink", "/proc/self/exe");
  self[sl] = '\0';
  /* build/bench/demo/bench_demo_scale -> build */
  for (int up = 0; up < 3; up++) {
    char *s = strrchr(self, '/');
    if (!s)
      die("build tree", self);
    *s = '\0';
  }
  snprintf(bin, sizeof bin, "%s", self);
  int64_t vstart = 0;
  gl_time_parse("2026-04-20T11:00:00Z", &vstart);
  demo_fleet_opts fo = {.bin_dir = bin,
                        .profile_dir = BENCH_PROFILE_DIR,
                        .households = 1,
                        .spare_meters = meters,
                        .spare_synced = meters,
                        .speed = speed,
                        .vstart = vstart,
                        .lead_ms = 2000,
                        .log_level = "info"};
  demo_fleet *f = NULL;
  demo_why why = {{0}};
  int64_t t = gb_now_ns();
  printf("building a community of %u meters ...\n", meters + 1);
  if (demo_fleet_new(&fo, &f, &why) != 0)
    die("community", why.text);
  /* BENCH_KEEP=1 keeps the work directory (logs, databases). */
  demo_fleet_remove_dir(f, !getenv("BENCH_KEEP"));
  const demo_fleet_info *in = demo_fleet_get_info(f);
  printf("  %.1f s; starting the broker, the aggregator, one household\n",
         (double)(gb_now_ns() - t) / 1e9);
  if (demo_fleet_start(f, &why) != 0)
    die("start", why.text);

  client *c = calloc(meters, sizeof *c);
  if (!c)
    die("memory", NULL);
  t = gb_now_ns();
  for (unsigned i = 0; i < meters; i++) {
    const demo_meter_info *m = demo_fleet_meter(f, 1 + i);
    snprintf(c[i].id, sizeof c[i].id, "%s", m->id);
    if (pki_key_load_ed25519(m->key, &c[i].key, NULL) != 0)
      die("key", m->key);
    pr_topic_build(PR_TOPIC_READING, in->community, m->id, c[i].topic,
                   sizeof c[i].topic);
    pr_mqtt_config cfg = {.uri = in->uri,
                          .client_id = c[i].id,
                          .ca_file = m->ca,
                          .cert_file = m->cert,
                          .key_file = m->key,
                          .clean_start = true,
                          .reconnect_min_ms = 500,
                          .reconnect_max_ms = 5000};
    if (pr_mqtt_new(&cfg, &c[i].mqtt) != 0 || pr_mqtt_connect(c[i].mqtt) != 0)
      die("client", m->id);
    c[i].seq = 0;
    c[i].import_total = 1000000;
  }
  for (unsigned waited = 0;; waited++) {
    pump(c, meters, NULL);
    unsigned up = 0;
    for (unsigned i = 0; i < meters; i++)
      up += c[i].connected;
    if (up == meters)
      break;
    if (waited > 6000)
      die("connect", "not every client connected within 60 s");
    usleep(10000);
  }
  for (unsigned i = 0; i < meters; i++) {
    char filter[PR_TOPIC_MAX];
    pr_topic_filter_inbox(in->community, c[i].id, filter, sizeof filter);
    if (pr_mqtt_subscribe(c[i].mqtt, filter, 1) != 0)
      die("subscribe", c[i].id);
  }
  for (unsigned waited = 0;; waited++) {
    pump(c, meters, NULL);
    unsigned sub = 0;
    for (unsigned i = 0; i < meters; i++)
      sub += c[i].subscribed;
    if (sub == meters)
      break;
    if (waited > 6000)
      die("subscribe", "not every client subscribed within 60 s");
    usleep(10000);
  }
  printf("  %u meters connected over TLS and subscribed in %.1f s\n", meters,
         (double)(gb_now_ns() - t) / 1e9);

  int64_t L = in->interval;
  int64_t *rate = calloc(intervals, sizeof *rate);
  int64_t *close_to_last = calloc(intervals, sizeof *close_to_last);
  if (!rate || !close_to_last)
    die("memory", NULL);
  /* Skip the interval the community started in: a partial one. */
  int64_t end = (gl_floor_div(demo_fleet_now(f), L) + 2) * L;
  for (unsigned k = 0; k < intervals; k++, end += L) {
    if (demo_fleet_sleep_until(f, end) != 0)
      die("sleep", NULL);
    int64_t t_close = gb_now_ns();
    int64_t base = accepted(f);
    for (unsigned i = 0; i < meters; i++)
      c[i].result = false;
    char st[GL_TIME_STR_MAX];
    snprintf(want_start, sizeof want_start, "\"start\":\"%s\"",
             gl_time_format(end - L, st));
    int64_t ts = gl_floor_div(demo_fleet_now(f), GL_NS_PER_SEC) * GL_NS_PER_SEC;
    for (unsigned i = 0; i < meters; i++) {
      pr_msg m;
      pr_msg_init(&m, PR_MSG_READING, c[i].id, ++c[i].seq, ts);
      m.reading.start = end - L;
      m.reading.end = end;
      bool seller = i % 3 == 0;
      m.reading.import_wh = seller ? 0 : 100 + (int64_t)((i * 7919u) % 400);
      m.reading.export_wh = seller ? 150 + (int64_t)((i * 104729u) % 400) : 0;
      m.reading.pv_wh = m.reading.export_wh * 2;
      c[i].import_total += m.reading.import_wh;
      m.reading.has_import_total_wh = true;
      m.reading.import_total_wh = c[i].import_total;
      uint8_t buf[PR_SEAL_MAX];
      size_t len = 0;
      if (pr_seal(&m, &c[i].key, buf, sizeof buf, &len, NULL) != 0)
        die("seal", c[i].id);
      pr_mqtt_msg msg = {
          .topic = c[i].topic, .payload = buf, .payload_len = len, .qos = 1};
      uint64_t tok;
      int rc;
      while ((rc = pr_mqtt_publish(c[i].mqtt, &msg, &tok)) == GL_EAGAIN) {
        pump(c, meters, NULL);
        usleep(1000);
      }
      if (rc != 0)
        die("publish", gl_strerror(rc));
    }
    int64_t t_all = 0, t_last = 0;
    int64_t deadline = t_close + 10 * demo_fleet_real_ms(f, L) * 1000000;
    for (;;) {
      unsigned got = pump(c, meters, &t_last);
      if (!t_all && accepted(f) >= base + meters)
        t_all = gb_now_ns();
      if (got == meters && t_all)
        break;
      if (gb_now_ns() > deadline) {
        fprintf(stderr,
                "interval %u: %u of %u results, accepted %lld of %u; see %s\n",
                k, got, meters, (long long)(accepted(f) - base), meters,
                in->agg_log);
        exit(1);
      }
      usleep(2000);
    }
    if (demo_fleet_check_alive(f, &why) != 0)
      die("community", why.text);
    rate[k] = t_all - t_close;
    close_to_last[k] = t_last - t_close;
    printf("  interval %u: %u readings accepted in %.0f ms (%.0f/s), last "
           "result %.0f ms after the interval's end\n",
           k + 1, meters, (double)rate[k] / 1e6,
           (double)meters * 1e9 / (double)rate[k],
           (double)close_to_last[k] / 1e6);
  }
  printf("bench_demo_scale: %u meters, %u intervals of %lld s real "
         "(grace %lld ms)\n",
         meters, intervals, (long long)demo_fleet_real_ms(f, L) / 1000,
         (long long)demo_fleet_real_ms(f, L / 5));
  gb_report("readings accepted, per reading", rate, intervals, meters, 1e3,
            "us");
  gb_report("interval end to last result delivered", close_to_last, intervals,
            1, 1e6, "ms");
  for (unsigned i = 0; i < meters; i++) {
    pr_mqtt_free(c[i].mqtt);
    gl_wipe(&c[i].key, sizeof c[i].key);
  }
  free(c);
  free(rate);
  free(close_to_last);
  demo_fleet_free(f);
  return 0;
}
