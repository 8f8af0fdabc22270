/* SPDX-License-Identifier: MIT */
/*
 * systest.c - see systest.h. Every process is the real program, started
 * and stopped by PID through the demo's fleet; the checks read the
 * aggregator's database and each meter's own database after everything
 * has stopped, so they see exactly what a crash or a restart left.
 */
#include "systest.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/pki_key.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void st_up(st *s, const char *tag, const st_opts *o) {
  memset(s, 0, sizeof *s);
  char dir[GT_PATH_MAX], profiles[GT_PATH_MAX], bin[GT_PATH_MAX];
  gt_tmpdir(tag, dir);
  gt_source_path(profiles, "hal/profiles");
  gt_build_path(bin, "");
  size_t bl = strlen(bin);
  if (bl > 1 && bin[bl - 1] == '/')
    bin[bl - 1] = '\0';
  int64_t v = 0;
  assert_int_equal(gl_time_parse(ST_VSTART_UTC, &v), 0);
  demo_fleet_opts fo = {
      .dir = dir,
      .bin_dir = bin,
      .profile_dir = profiles,
      .households = o && o->households ? o->households : 4,
      .spare_meters = o ? o->spare : 0,
      .spare_synced = o ? o->spare_synced : 0,
      .grace = o && o->grace ? o->grace : "5m",
      .fee = "0.01",
      .speed = o && o->speed ? o->speed : ST_SPEED,
      .vstart = v,
      .lead_ms = 1000,
      .log_level = "info",
  };
  demo_why why = {{0}};
  if (demo_fleet_new(&fo, &s->f, &why) != 0)
    fail_msg("building the community: %s", why.text);
  s->in = demo_fleet_get_info(s->f);
  s->L = s->in->interval;
  if (demo_fleet_start(s->f, &why) != 0)
    fail_msg("starting the community: %s", why.text);
  /* The processes come up during the interval before `v + L`. */
  s->first = v + s->L;
  print_message("community in %s: broker %s, API 127.0.0.1:%u\n", s->in->dir,
                s->in->uri, s->in->http_port);
}

int64_t st_next_interval(st *s) {
  return (gl_floor_div(demo_fleet_now(s->f), s->L) + 1) * s->L;
}

void st_wait_settled(st *s, int64_t start) {
  int64_t ms = demo_fleet_real_ms(s->f, 20 * s->L);
  int rc = demo_fleet_wait_settled(s->f, start, false, (int)ms);
  if (rc != 0) {
    char t[GL_TIME_STR_MAX];
    fail_msg("the interval %s was not settled within %lld ms (%s); see %s",
             gl_time_format(start, t), (long long)ms, gl_strerror(rc),
             s->in->agg_log);
  }
}

void st_run_intervals(st *s, unsigned n) {
  if (n == 0)
    return;
  int64_t last = st_next_interval(s) - s->L + (int64_t)(n - 1) * s->L;
  assert_int_equal(demo_fleet_sleep_until(s->f, last + s->L), 0);
  st_wait_settled(s, last);
}

int64_t st_metric(st *s, const char *series) {
  int64_t v = 0;
  if (demo_fleet_metric(s->f, series, &v) != 0)
    return 0;
  return v;
}

int64_t st_rejected(st *s, const char *reason) {
  char series[128];
  snprintf(series, sizeof series,
           "gridlet_aggregator_messages_rejected_total{reason=\"%s\"}", reason);
  return st_metric(s, series);
}

int64_t st_wait_metric(st *s, const char *series, int64_t want,
                       int timeout_ms) {
  int64_t v = 0;
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    v = st_metric(s, series);
    if (v >= want)
      break;
    gt_sleep_ms(50);
  }
  return v;
}

void st_finish(st *s, int64_t until, st_result *r) {
  memset(r, 0, sizeof *r);
  demo_why why = {{0}};
  if (demo_fleet_check_alive(s->f, &why) != 0)
    fail_msg("a process died during the test: %s", why.text);
  demo_fleet_stop(s->f);
  /* The independent auditor: signatures, hash chain, checkpoints,
   * within-entry rules, balances. */
  char out[DEMO_PATH_MAX];
  demo_fleet_path(s->f, "audit.txt", out);
  char *args[] = {"audit",
                  "--db",
                  (char *)s->in->agg_db,
                  "--vkey",
                  (char *)s->in->vkey,
                  "--balances",
                  NULL};
  int code = -1;
  assert_int_equal(demo_fleet_tool(s->f, "ledger", args, out, &code), 0);
  if (code != 0) {
    char *text = gt_read_file(out, NULL);
    fail_msg("gridlet-ledger audit exited %d:\n%s", code, text ? text : "");
  }
  demo_ledger *l = NULL;
  if (demo_ledger_load(s->in->agg_db, s->L, &l, &why) != 0)
    fail_msg("reading the ledger: %s", why.text);
  if (demo_ledger_verify(l, &why) != 0) {
    demo_ledger_free(l);
    fail_msg("ledger rules: %s", why.text);
  }
  demo_ledger_get_stats(l, &r->stats);
  /* Every balance the auditor recomputed equals the sum of that meter's
   * settlement entries (demo_ledger_balance), for every meter. */
  {
    char *text = gt_read_file(out, NULL);
    assert_non_null(text);
    size_t seen = 0;
    for (char *line = text; line && *line;) {
      char *nl = strchr(line, '\n');
      if (nl)
        *nl = '\0';
      char id[80];
      long long v[8];
      if (line[0] != '#' &&
          sscanf(line, "%79s %lld %lld %lld %lld %lld %lld %lld %lld", id,
                 &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 9) {
        demo_balance b;
        if (demo_ledger_balance(l, id, &b) != 0 || b.money != v[0] ||
            b.fees != v[1] || b.local_bought_wh != v[2] ||
            b.local_sold_wh != v[3] || b.grid_import_wh != v[4] ||
            b.grid_export_wh != v[5] || b.intervals != v[6] ||
            b.missing != v[7])
          fail_msg("the auditor's balance of %s differs from the sum of its "
                   "settlement entries",
                   id);
        seen++;
      }
      line = nl ? nl + 1 : NULL;
    }
    free(text);
    assert_int_equal(seen, demo_ledger_meter_count(l));
  }
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  print_message("ledger: %llu entries, intervals %s .. %s settled (%lld), "
                "%lld reading digests (%lld late)\n",
                (unsigned long long)r->stats.entries,
                gl_time_format(r->stats.first, a),
                gl_time_format(r->stats.last, b), (long long)r->stats.intervals,
                (long long)r->stats.readings, (long long)r->stats.late);
  /* Every interval of the run settled (verify checked: each once, none
   * skipped between first and last). */
  assert_true(r->stats.intervals > 0);
  assert_true(r->stats.first <= s->first);
  assert_true(r->stats.last >= until - s->L);
  for (unsigned i = 0; i < s->in->households; i++) {
    const demo_meter_info *m = demo_fleet_meter(s->f, i);
    demo_meter_check mc;
    if (demo_ledger_check_meter(l, m->id, m->db, &mc, &why) != 0) {
      demo_ledger_free(l);
      fail_msg("%s", why.text);
    }
    print_message("%s: %lld readings, %lld in the ledger (%lld late), %lld "
                  "after the last settlement, %lld undelivered\n",
                  m->id, (long long)mc.readings, (long long)mc.in_ledger,
                  (long long)mc.late, (long long)mc.pending,
                  (long long)mc.undelivered);
    if (mc.undelivered != 0) {
      demo_ledger_free(l);
      fail_msg("%s still holds %lld readings of settled intervals that are "
               "not in the ledger",
               m->id, (long long)mc.undelivered);
    }
    if (mc.lost > 0) {
      demo_ledger_free(l);
      fail_msg("%lld readings of %s lost: %s", (long long)mc.lost, m->id,
               why.text);
    }
    assert_int_equal(mc.in_ledger + mc.pending + mc.lost, mc.readings);
    r->readings += mc.in_ledger;
    r->late += mc.late;
    demo_balance bal;
    if (demo_ledger_balance(l, m->id, &bal) == 0)
      r->missing += bal.missing;
  }
  demo_ledger_free(l);
  demo_fleet_remove_dir(s->f, true);
  demo_fleet_free(s->f);
  s->f = NULL;
}

/* ---- The client -----------------------------------------------------------
 */

/* The next event of `type` (others are dropped) within timeout_ms; false
 * when none came. */
static bool next_event(pr_mqtt *m, pr_mqtt_event_type type, int timeout_ms,
                       pr_mqtt_event *ev) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    while (pr_mqtt_next(m, ev) == 0)
      if (ev->type == type)
        return true;
      else if (type == PR_MQTT_CONNECTED && ev->type == PR_MQTT_DISCONNECTED)
        return true;
    pr_mqtt_wait(m, 20);
  }
  return false;
}

int st_client_open_files(st *s, const char *id, const char *ca,
                         const char *cert, const char *key, st_client *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->id, sizeof c->id, "%s", id);
  if (pki_key_load_ed25519(key, &c->key, NULL) != 0)
    fail_msg("cannot load %s", key);
  pr_mqtt_config cfg = {.uri = s->in->uri,
                        .client_id = c->id,
                        .ca_file = ca,
                        .cert_file = cert,
                        .key_file = key,
                        .clean_start = true,
                        .reconnect_min_ms = 200,
                        .reconnect_max_ms = 1000};
  assert_int_equal(pr_mqtt_new(&cfg, &c->mqtt), 0);
  assert_int_equal(pr_mqtt_connect(c->mqtt), 0);
  pr_mqtt_event ev;
  if (!next_event(c->mqtt, PR_MQTT_CONNECTED, 15000, &ev) ||
      ev.type != PR_MQTT_CONNECTED) {
    st_client_close(c);
    return -1;
  }
  c->seq = 1000;
  return 0;
}

int st_client_open(st *s, unsigned i, st_client *c) {
  const demo_meter_info *m = demo_fleet_meter(s->f, i);
  assert_non_null(m);
  return st_client_open_files(s, m->id, m->ca, m->cert, m->key, c);
}

void st_client_close(st_client *c) {
  pr_mqtt_free(c->mqtt);
  c->mqtt = NULL;
  gl_wipe(&c->key, sizeof c->key);
}

int st_publish(st_client *c, const char *topic, const uint8_t *buf,
               size_t len) {
  pr_mqtt_msg msg = {
      .topic = topic, .payload = buf, .payload_len = len, .qos = 1};
  uint64_t tok = 0;
  int rc;
  int tries = 0;
  while ((rc = pr_mqtt_publish(c->mqtt, &msg, &tok)) == GL_EAGAIN &&
         tries++ < 1000)
    pr_mqtt_wait(c->mqtt, 10);
  if (rc != 0)
    return -1;
  pr_mqtt_event ev;
  for (;;) {
    if (!next_event(c->mqtt, PR_MQTT_PUBLISHED, 15000, &ev))
      return -1;
    if (ev.token == tok)
      break;
  }
  if (ev.ok)
    return 0;
  return ev.reason > 0 ? ev.reason : -1;
}

char *st_topic(st *s, pr_topic_kind kind, const char *id, char *buf) {
  assert_int_equal(
      pr_topic_build(kind, s->in->community, id, buf, PR_TOPIC_MAX), 0);
  return buf;
}

pr_msg st_reading_msg(st *s, st_client *c, int64_t start) {
  pr_msg m;
  int64_t ts =
      gl_floor_div(demo_fleet_now(s->f), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, c->id, ++c->seq, ts), 0);
  m.reading.start = start;
  m.reading.end = start + s->L;
  m.reading.import_wh = 100;
  return m;
}

size_t st_seal(st_client *c, const pr_msg *m, const gl_ed25519_key *key,
               uint8_t *buf) {
  size_t len = 0;
  pr_diag d = {0};
  if (pr_seal(m, key ? key : &c->key, buf, PR_SEAL_MAX, &len, &d) != 0)
    fail_msg("seal: %s", d.msg);
  return len;
}
