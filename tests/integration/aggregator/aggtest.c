/* SPDX-License-Identifier: MIT */
/* aggtest.c - see aggtest.h. */
#include "aggtest.h"

#include "gridlet/error.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pr_seal.h"
#include "gridlet/rand.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

char *agt_bin(char out[GT_PATH_MAX], const char *rel) {
  return gt_build_path(out, rel);
}

int agt_run_cli(char *const argv[], const char *out) {
  pid_t pid = gt_proc_start(argv, out, NULL);
  int st = gt_proc_wait(pid, 60000);
  if (st < 0) {
    gt_proc_kill9(pid);
    return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

void agt_setup(agt *t, const char *tag, const agt_opts *o) {
  memset(t, 0, sizeof *t);
  t->o = *o;
  if (!t->o.speed)
    t->o.speed = 1;
  if (!t->o.vstart)
    t->o.vstart = "2026-06-21T09:58:00Z";
  if (!t->o.mode)
    t->o.mode = "expost";
  if (!t->o.interval)
    t->o.interval = "1m";
  if (!t->o.grace)
    t->o.grace = "0";
  gt_community_start(&t->comm, tag, o->meters);
  gt_path(t->conf, t->comm.root, "aggregator.conf");
  gt_path(t->db, t->comm.root, "aggregator.db");
  gt_path(t->log, t->comm.root, "aggregator.log");
  gt_path(t->key, t->comm.root, "ledger.key");
  gt_path(t->cadir, t->comm.dir, "ca");
  gl_rand r = gl_rand_system();
  assert_int_equal(
      lg_signer_generate("gridlet/demo", LG_SIG_ED25519, &r, &t->log_key), 0);
  assert_int_equal(lg_signer_write_file(t->key, &t->log_key), 0);
  assert_int_equal(gl_duration_parse(t->o.interval, &t->interval), 0);
  /* The clock every process of the test shares. */
  gl_clock real = gl_clock_real();
  gl_clock_spec spec = {.accel = true, .speed = t->o.speed};
  assert_int_equal(gl_time_parse(t->o.vstart, &spec.virtual_start), 0);
  spec.real_anchor = gl_clock_now(&real);
  gl_clock_spec_format(&spec, t->spec);
  assert_int_equal(gl_clock_spec_open(&spec, &t->clock, &t->accel), 0);
  t->http = gt_free_port();
  gt_identity agg;
  gt_community_aggregator(&t->comm, &agg);
  pki_cert *cert = NULL;
  assert_int_equal(pki_cert_load_file(agg.cert, &cert, NULL), 0);
  assert_int_equal(pki_cert_ed25519_pub(cert, t->agg_pub_key.pub, NULL), 0);
  pki_cert_free(cert);
  char text[8192] = "";
  append(text, sizeof text,
         "[community]\nname = demo\nlatitude = 50\nlongitude = 0\n"
         "[mqtt]\nuri = %s\nca = %s\ncert = %s\nkey = %s\n"
         "session_expiry = 1d\n",
         t->comm.uri, agg.ca, agg.cert, agg.key);
  append(text, sizeof text,
         "[pki]\nca = %s/ca.pem\ncrl = %s/crl.pem\nca_dir = %s\n", t->cadir,
         t->cadir, t->cadir);
  append(text, sizeof text, "[ledger]\nkey = %s\n[storage]\ndb = %s\n", t->key,
         t->db);
  append(text, sizeof text,
         "[market]\nmode = %s\ninterval = %s\ngrace = %s\n%s\n", t->o.mode,
         t->o.interval, t->o.grace, t->o.extra ? t->o.extra : "");
  append(text, sizeof text,
         "[ingest]\nbatch_delay = 20ms\n[http]\nlisten = 127.0.0.1:%u\n"
         "[log]\nlevel = info\n",
         t->http);
  gt_write_file(t->conf, text, (size_t)-1);
  /* Enrol through the real CLI. */
  char bin[GT_PATH_MAX], out[GT_PATH_MAX];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  gt_path(out, t->comm.root, "cli.log");
  if (!o->sync_upto) {
    char *argv[] = {bin, "meters", "sync", "-c", t->conf, NULL};
    assert_int_equal(agt_run_cli(argv, out), 0);
  } else {
    for (unsigned i = 1; i <= o->sync_upto; i++) {
      gt_identity m;
      gt_community_meter(&t->comm, i, &m);
      char *argv[] = {bin, "meters", "add", "-c", t->conf, m.cert, NULL};
      assert_int_equal(agt_run_cli(argv, out), 0);
    }
  }
}

void agt_teardown(agt *t) {
  if (getenv("AGT_SHOW_LOG") && t->agg > 0) {
    char *body = NULL;
    agt_http(t, "/metrics", &body);
    for (char *l = body; l && *l;) {
      char *nl = strchr(l, '\n');
      if (nl)
        *nl = 0;
      if (strstr(l, "published_total") || strstr(l, "outbox"))
        fprintf(stderr, "%s\n", l);
      l = nl ? nl + 1 : NULL;
    }
    free(body);
  }
  if (t->agg > 0)
    agt_stop(t);
  if (getenv("AGT_SHOW_LOG")) {
    char *log = gt_read_file(t->log, NULL);
    fprintf(stderr, "---- aggregator log ----\n%s---- end ----\n",
            log ? log : "");
    free(log);
  }
  gl_accel_clock_free(t->accel);
  lg_signer_wipe(&t->log_key);
  if (getenv("AGT_KEEP")) {
    /* Debugging: keep the directory (the broker is stopped). */
    gt_community_broker_stop(&t->comm);
    fprintf(stderr, "kept %s\n", t->comm.root);
    return;
  }
  gt_community_stop(&t->comm);
}

void agt_start(agt *t, char *const env[]) {
  char bin[GT_PATH_MAX];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  char *argv[] = {bin, "-c", t->conf, "--clock", t->spec, NULL};
  t->agg = gt_proc_start(argv, t->log, env);
  for (int i = 0; i < 300; i++) {
    if (!gt_proc_alive(t->agg))
      break;
    if (agt_http(t, "/healthz", NULL) == 200)
      return;
    gt_sleep_ms(50);
  }
  char *log = gt_read_file(t->log, NULL);
  fail_msg("the aggregator did not come up; its log:\n%s", log ? log : "");
}

int agt_stop(agt *t) {
  int st = gt_proc_stop(t->agg, 10000);
  t->agg = 0;
  return st;
}

void agt_kill9(agt *t) {
  gt_proc_kill9(t->agg);
  t->agg = 0;
}

int agt_wait_exit(agt *t, int timeout_ms) {
  int st = gt_proc_wait(t->agg, timeout_ms);
  if (st >= 0)
    t->agg = 0;
  return st;
}

void agt_sighup(agt *t) {
  kill(t->agg, SIGHUP);
}

int64_t agt_now(agt *t) {
  return gl_clock_now(&t->clock);
}

void agt_sleep_until(agt *t, int64_t v) {
  int64_t now = agt_now(t);
  if (v > now)
    gt_sleep_ms(
        (int)(gl_clock_real_duration(&t->clock, v - now) / GL_NS_PER_MS) + 1);
}

/* ---- HTTP ---------------------------------------------------------------- */

int agt_http(agt *t, const char *path, char **body) {
  if (body)
    *body = NULL;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t->http)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap)
      buf = realloc(buf, cap *= 2);
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  int status = -1;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    status = -1;
  char *b = strstr(buf, "\r\n\r\n");
  if (body && b)
    *body = strdup(b + 4);
  free(buf);
  return status;
}

json_t *agt_json(agt *t, const char *path) {
  char *body = NULL;
  int st = agt_http(t, path, &body);
  if (st != 200)
    fail_msg("GET %s: %d %s", path, st, body ? body : "");
  json_error_t e;
  json_t *j = json_loads(body, 0, &e);
  if (!j)
    fail_msg("GET %s: not JSON: %s", path, e.text);
  free(body);
  return j;
}

int64_t agt_metric(agt *t, const char *series) {
  char *body = NULL;
  if (agt_http(t, "/metrics", &body) != 200) {
    free(body);
    return -1;
  }
  int64_t v = -1;
  size_t n = strlen(series);
  for (char *line = body; line && *line;) {
    char *nl = strchr(line, '\n');
    if (strncmp(line, series, n) == 0 && line[n] == ' ') {
      v = strtoll(line + n + 1, NULL, 10);
      break;
    }
    line = nl ? nl + 1 : NULL;
  }
  free(body);
  return v;
}

int64_t agt_wait_metric(agt *t, const char *series, int64_t want,
                        int timeout_ms) {
  int64_t v = -1;
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    v = agt_metric(t, series);
    if (v >= want)
      return v;
    gt_sleep_ms(20);
  }
  return v;
}

void agt_wait_settled(agt *t, int64_t start, int timeout_ms) {
  char path[128], ts[GL_TIME_STR_MAX];
  snprintf(path, sizeof path, "/v1/intervals/%s", gl_time_format(start, ts));
  for (int waited = 0; waited <= timeout_ms; waited += 25) {
    char *body = NULL;
    int st = agt_http(t, path, &body);
    bool done = st == 200 && body && !strstr(body, "\"state\":\"settled\"");
    free(body);
    if (done)
      return;
    gt_sleep_ms(25);
  }
  char *log = gt_read_file(t->log, NULL);
  fail_msg("interval %s not settled in time; aggregator log:\n%s", ts,
           log ? log : "");
}

/* ---- Meters -------------------------------------------------------------- */

static void keep(agt_meter *am, const pr_mqtt_event *ev) {
  agt_rx *r = calloc(1, sizeof *r);
  assert_non_null(r);
  snprintf(r->topic, sizeof r->topic, "%s", ev->topic);
  r->payload = malloc(ev->payload_len ? ev->payload_len : 1);
  memcpy(r->payload, ev->payload, ev->payload_len);
  r->len = ev->payload_len;
  if (ev->correlation && ev->correlation_len <= sizeof r->corr) {
    memcpy(r->corr, ev->correlation, ev->correlation_len);
    r->corr_len = ev->correlation_len;
  }
  if (am->tail)
    am->tail->next = r;
  else
    am->head = r;
  am->tail = r;
}

/* Wait for an event of `type`; messages met on the way are kept. */
static pr_mqtt_event wait_event_m(agt_meter *am, pr_mqtt *m,
                                  pr_mqtt_event_type type, int timeout_ms) {
  pr_mqtt_event ev;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    while (pr_mqtt_next(m, &ev) == 0) {
      if (ev.type == type)
        return ev;
      if (am && ev.type == PR_MQTT_MESSAGE)
        keep(am, &ev);
    }
    pr_mqtt_wait(m, 10);
  }
  fail_msg("no MQTT event %d within %d ms", (int)type, timeout_ms);
  return ev;
}

#define wait_event(m, type, ms) wait_event_m(NULL, m, type, ms)

void agt_meter_open(agt *t, unsigned i, agt_meter *m) {
  memset(m, 0, sizeof *m);
  gt_community_meter(&t->comm, i, &m->id);
  assert_int_equal(pki_key_load_ed25519(m->id.key, &m->key, NULL), 0);
  pr_mqtt_config c = {.uri = t->comm.uri,
                      .client_id = m->id.id,
                      .ca_file = m->id.ca,
                      .cert_file = m->id.cert,
                      .key_file = m->id.key,
                      .clean_start = true,
                      .reconnect_min_ms = 50,
                      .reconnect_max_ms = 500};
  assert_int_equal(pr_mqtt_new(&c, &m->mqtt), 0);
  assert_int_equal(pr_mqtt_connect(m->mqtt), 0);
  wait_event(m->mqtt, PR_MQTT_CONNECTED, 15000);
  m->seq = 100;
}

void agt_meter_close(agt_meter *m) {
  while (m->head) {
    agt_rx *r = m->head;
    m->head = r->next;
    free(r->payload);
    free(r);
  }
  m->tail = NULL;
  pr_mqtt_free(m->mqtt);
  m->mqtt = NULL;
  gl_wipe(&m->key, sizeof m->key);
}

size_t agt_seal(agt_meter *m, const pr_msg *msg, const gl_ed25519_key *key,
                uint8_t *buf) {
  size_t len = 0;
  pr_diag d = {0};
  if (pr_seal(msg, key ? key : &m->key, buf, PR_SEAL_MAX, &len, &d) != 0)
    fail_msg("seal: %s", d.msg);
  return len;
}

void agt_publish(agt *t, agt_meter *m, pr_topic_kind kind, const char *topic,
                 const uint8_t *buf, size_t len) {
  char own[PR_TOPIC_MAX];
  if (!topic) {
    assert_int_equal(
        pr_topic_build(kind, t->comm.community, m->id.id, own, sizeof own), 0);
    topic = own;
  }
  pr_mqtt_msg msg = {
      .topic = topic, .payload = buf, .payload_len = len, .qos = 1};
  uint64_t tok = 0;
  int rc;
  while ((rc = pr_mqtt_publish(m->mqtt, &msg, &tok)) == GL_EAGAIN)
    pr_mqtt_wait(m->mqtt, 10);
  assert_int_equal(rc, 0);
  pr_mqtt_event ev;
  for (;;) {
    ev = wait_event_m(m, m->mqtt, PR_MQTT_PUBLISHED, 15000);
    if (ev.token == tok)
      break;
  }
  assert_true(ev.ok);
}

int64_t agt_reading(agt *t, agt_meter *m, int64_t start, int64_t imp,
                    int64_t exp) {
  pr_msg msg;
  int64_t ts = gl_floor_div(agt_now(t), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  assert_int_equal(pr_msg_init(&msg, PR_MSG_READING, m->id.id, ++m->seq, ts),
                   0);
  msg.reading.start = start;
  msg.reading.end = start + t->interval;
  msg.reading.import_wh = imp;
  msg.reading.export_wh = exp;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(m, &msg, NULL, buf);
  agt_publish(t, m, PR_TOPIC_READING, NULL, buf, len);
  return m->seq;
}

void agt_subscribe(agt *t, agt_meter *m) {
  char f1[PR_TOPIC_MAX], f2[PR_TOPIC_MAX];
  assert_int_equal(
      pr_topic_filter_inbox(t->comm.community, m->id.id, f1, sizeof f1), 0);
  assert_int_equal(pr_topic_filter_public(t->comm.community, f2, sizeof f2), 0);
  assert_int_equal(pr_mqtt_subscribe(m->mqtt, f1, 1), 0);
  assert_true(wait_event_m(m, m->mqtt, PR_MQTT_SUBSCRIBED, 15000).ok);
  assert_int_equal(pr_mqtt_subscribe(m->mqtt, f2, 1), 0);
  assert_true(wait_event_m(m, m->mqtt, PR_MQTT_SUBSCRIBED, 15000).ok);
}

int agt_next_message_corr(agt_meter *m, char *topic, size_t tcap, uint8_t *buf,
                          size_t cap, uint8_t *corr, size_t *corr_len,
                          int timeout_ms) {
  pr_mqtt_event ev;
  for (int waited = 0; waited <= timeout_ms && !m->head; waited += 10) {
    while (pr_mqtt_next(m->mqtt, &ev) == 0)
      if (ev.type == PR_MQTT_MESSAGE)
        keep(m, &ev);
    if (!m->head)
      pr_mqtt_wait(m->mqtt, 10);
  }
  agt_rx *r = m->head;
  if (!r)
    return -1;
  m->head = r->next;
  if (!m->head)
    m->tail = NULL;
  snprintf(topic, tcap, "%s", r->topic);
  size_t n = r->len < cap ? r->len : cap;
  memcpy(buf, r->payload, n);
  if (corr) {
    memcpy(corr, r->corr, r->corr_len);
    *corr_len = r->corr_len;
  }
  free(r->payload);
  free(r);
  return (int)n;
}

int agt_next_message(agt_meter *m, char *topic, size_t tcap, uint8_t *buf,
                     size_t cap, int timeout_ms) {
  return agt_next_message_corr(m, topic, tcap, buf, cap, NULL, NULL,
                               timeout_ms);
}

/* ---- Real meters and the device simulator -------------------------------- */

static char *wait_text(const char *path, const char *needle, int ms) {
  for (int i = 0; i < ms / 20; i++) {
    char *text = gt_read_file(path, NULL);
    if (text && strstr(text, needle))
      return text;
    free(text);
    gt_sleep_ms(20);
  }
  char *text = gt_read_file(path, NULL);
  fail_msg("\"%s\" did not appear in %s:\n%s", needle, path, text ? text : "");
  return NULL;
}

void agt_sim_start(agt *t, agt_sim *s, int households, const char *extra) {
  memset(s, 0, sizeof *s);
  char bin[GT_PATH_MAX], n[16];
  agt_bin(bin, "sim/gridlet-sim");
  gt_path(s->log, t->comm.root, "sim.log");
  snprintf(n, sizeof n, "%d", households);
  char *argv[] = {bin,           "devices", "-n",          n,
                  "--seed",      "42",      "--clock",     t->spec,
                  "--log-level", "warn",    (char *)extra, NULL};
  s->pid = gt_proc_start(argv, s->log, NULL);
  char *out = wait_text(s->log, "\nready\n", 15000);
  for (char *line = out; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    int h;
    unsigned p;
    if (sscanf(line, "listen household=%d tcp=127.0.0.1:%u", &h, &p) == 2 &&
        h >= 0 && h < 16)
      s->port[h] = (uint16_t)p;
    line = nl ? nl + 1 : NULL;
  }
  free(out);
  assert_true(s->port[0] > 0);
}

void agt_sim_stop(agt_sim *s) {
  if (s->pid > 0)
    gt_proc_stop(s->pid, 10000);
  s->pid = 0;
}

void agt_meter_proc_config(agt *t, agt_proc_meter *m, unsigned index,
                           const agt_sim *sim, int household,
                           const char *trading) {
  memset(m, 0, sizeof *m);
  gt_community_meter(&t->comm, index, &m->id);
  char dir[GT_PATH_MAX], name[32];
  snprintf(name, sizeof name, "m%u", index);
  gt_path(dir, t->comm.root, name);
  mkdir(dir, 0700);
  gt_path(m->conf, dir, "meter.conf");
  gt_path(m->db, dir, "meter.db");
  gt_path(m->log, dir, "meter.log");
  char prof[3][GT_PATH_MAX], agg[GT_PATH_MAX], vkey[LG_KEY_TEXT_MAX];
  gt_source_path(prof[0], "hal/profiles/sunspec-meter.profile");
  gt_source_path(prof[1], "hal/profiles/sunspec-inverter.profile");
  gt_source_path(prof[2], "hal/profiles/sunspec-battery.profile");
  gt_path(agg, t->comm.dir, "aggregator/aggregator.pem");
  assert_int_equal(lg_vkey_format(&t->log_key.vkey, vkey, sizeof vkey), 0);
  uint16_t port = sim->port[household];
  char *text = malloc(16384);
  assert_non_null(text);
  /* Poll and wait times scaled to the 1-minute test interval: the meter
   * must hand its reading out well within the aggregator's grace. */
  snprintf(text, 16384,
           "[meter]\ncommunity = demo\ndatabase = %s\ninterval = %s\n"
           "poll = 2s\nclose_wait = 4s\nstate_save = 10s\n"
           "[grid_meter]\nendpoint = tcp:127.0.0.1:%u\nunit = 3\n"
           "profile = %s\n"
           "[inverter]\nendpoint = tcp:127.0.0.1:%u\nunit = 1\nprofile = %s\n"
           "[battery]\nendpoint = tcp:127.0.0.1:%u\nunit = 2\nprofile = %s\n"
           "[modbus]\ntimeout = 500ms\n"
           "[mqtt]\nuri = %s\nca = %s\ncert = %s\nkey = %s\n"
           "reconnect_min = 100ms\nreconnect_max = 1s\n"
           "[aggregator]\ncert = %s\nlog_key = %s\nproof_timeout = 5s\n"
           "[trading]\nmode = %s\n%s",
           m->db, t->o.interval, port, prof[0], port, prof[1], port, prof[2],
           t->comm.uri, m->id.ca, m->id.cert, m->id.key, agg, vkey, t->o.mode,
           trading ? trading : "");
  gt_write_file(m->conf, text, (size_t)-1);
  free(text);
}

void agt_meter_proc_start(agt *t, agt_proc_meter *m) {
  char bin[GT_PATH_MAX];
  agt_bin(bin, "meter/gridlet-meter");
  char *argv[] = {bin, "run", "--config", m->conf, "--clock", t->spec, NULL};
  m->pid = gt_proc_start(argv, m->log, NULL);
}

int agt_meter_proc_stop(agt_proc_meter *m) {
  if (m->pid <= 0)
    return -1;
  int st = gt_proc_stop(m->pid, 15000);
  m->pid = 0;
  return st;
}

int agt_meter_proc_status(agt_proc_meter *m, char **report) {
  char bin[GT_PATH_MAX], out[GT_PATH_MAX + 8];
  agt_bin(bin, "meter/gridlet-meter");
  snprintf(out, sizeof out, "%s.status", m->log);
  char *argv[] = {bin, "status", "--config", m->conf, NULL};
  int st = agt_run_cli(argv, out);
  if (report)
    *report = gt_read_file(out, NULL);
  return st;
}
