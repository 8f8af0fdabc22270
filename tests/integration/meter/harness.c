/* SPDX-License-Identifier: MIT */
/* harness.c - see harness.h. */
#include "harness.h"

#include "gridlet/error.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_identity.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
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

/* ---- Clock ------------------------------------------------------------- */

void mh_clock(uint32_t speed, int64_t interval, int64_t offset,
              char spec[GL_CLOCK_SPEC_MAX], gl_clock *clock,
              gl_accel_clock **owned) {
  gl_clock real = gl_clock_real();
  int64_t now = gl_clock_now(&real);
  /* Anchor on a whole millisecond so the text form is exact. */
  int64_t anchor = now / GL_NS_PER_MS * GL_NS_PER_MS;
  gl_clock_spec s = {.accel = true,
                     .speed = speed,
                     .virtual_start =
                         gl_floor_div(anchor + offset, interval) * interval,
                     .real_anchor = anchor};
  gl_clock_spec_format(&s, spec);
  if (clock) {
    assert_int_equal(gl_clock_spec_open(&s, clock, owned), 0);
  }
}

/* ---- Device simulator ---------------------------------------------------- */

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

void mh_sim_start(mh_sim *s, const char *dir, const char *clock_spec,
                  int households, const char *extra) {
  memset(s, 0, sizeof *s);
  char bin[GT_PATH_MAX], n[16];
  gt_build_path(bin, "sim/gridlet-sim");
  gt_path(s->log, dir, "sim.log");
  snprintf(n, sizeof n, "%d", households);
  char *argv[] = {bin,
                  "devices",
                  "-n",
                  n,
                  "--control",
                  "--seed",
                  "42",
                  "--clock",
                  (char *)clock_spec,
                  "--log-level",
                  "warn",
                  (char *)extra,
                  NULL};
  s->pid = gt_proc_start(argv, s->log, NULL);
  char *out = wait_text(s->log, "\nready\n", 10000);
  for (char *line = out; line && *line;) {
    char *nl = strchr(line, '\n');
    if (nl)
      *nl = '\0';
    int h;
    unsigned p;
    if (sscanf(line, "listen household=%d tcp=127.0.0.1:%u", &h, &p) == 2 &&
        h >= 0 && h < 4)
      s->port[h] = (uint16_t)p;
    else if (sscanf(line, "listen control=127.0.0.1:%u", &p) == 1)
      s->control = (uint16_t)p;
    line = nl ? nl + 1 : NULL;
  }
  free(out);
  assert_true(s->port[0] > 0 && s->control > 0);
}

const char *mh_sim_cmd(const mh_sim *s, const char *line) {
  static char reply[512];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(s->control),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char msg[256];
  snprintf(msg, sizeof msg, "%s\n", line);
  assert_true(write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg));
  size_t n = 0;
  while (n < sizeof reply - 1) {
    ssize_t r = read(fd, reply + n, sizeof reply - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
    if (memchr(reply, '\n', n))
      break;
  }
  reply[n] = '\0';
  close(fd);
  return reply;
}

void mh_sim_stop(mh_sim *s) {
  if (s->pid > 0)
    gt_proc_stop(s->pid, 5000);
  s->pid = 0;
}

/* ---- gridlet-meter ---------------------------------------------------------
 */

void mh_meter_config(mh_meter *m, const gt_community *c, unsigned index,
                     const mh_sim *sim, int household, const char *uri,
                     const char *meter_extra, const char *extra) {
  memset(m, 0, sizeof *m);
  gt_community_meter(c, index, &m->id);
  char name[32];
  snprintf(name, sizeof name, "m%u", index);
  gt_path(m->dir, c->root, name);
  mkdir(m->dir, 0700);
  gt_path(m->conf, m->dir, "meter.conf");
  gt_path(m->db, m->dir, "meter.db");
  gt_path(m->log, m->dir, "meter.log");
  char prof[3][GT_PATH_MAX], agg[GT_PATH_MAX];
  gt_source_path(prof[0], "hal/profiles/sunspec-meter.profile");
  gt_source_path(prof[1], "hal/profiles/sunspec-inverter.profile");
  gt_source_path(prof[2], "hal/profiles/sunspec-battery.profile");
  gt_path(agg, c->dir, "aggregator/aggregator.pem");
  size_t cap = 16384;
  char *t = malloc(cap);
  assert_non_null(t);
  snprintf(t, cap,
           "[meter]\ncommunity = %s\ndatabase = %s\n%s"
           "[grid_meter]\nendpoint = tcp:127.0.0.1:%u\nunit = 3\nprofile = "
           "%s\n"
           "[inverter]\nendpoint = tcp:127.0.0.1:%u\nunit = 1\nprofile = %s\n"
           "[battery]\nendpoint = tcp:127.0.0.1:%u\nunit = 2\nprofile = %s\n"
           "[modbus]\ntimeout = 500ms\n"
           "[mqtt]\nuri = %s\nca = %s\ncert = %s\nkey = %s\n"
           "reconnect_min = 100ms\nreconnect_max = 1s\n"
           "[aggregator]\ncert = %s\n%s",
           c->community, m->db, meter_extra ? meter_extra : "",
           sim ? sim->port[household] : 1, prof[0],
           sim ? sim->port[household] : 1, prof[1],
           sim ? sim->port[household] : 1, prof[2], uri ? uri : c->uri,
           m->id.ca, m->id.cert, m->id.key, agg, extra ? extra : "");
  gt_write_file(m->conf, t, (size_t)-1);
  free(t);
}

void mh_meter_start(mh_meter *m, const char *clock_spec) {
  char bin[GT_PATH_MAX];
  gt_build_path(bin, "meter/gridlet-meter");
  char *argv[] = {
      bin, "run", "--config", m->conf, "--clock", (char *)clock_spec, NULL};
  m->pid = gt_proc_start(argv, m->log, NULL);
}

void mh_meter_stop(mh_meter *m) {
  if (m->pid <= 0)
    return;
  int st = gt_proc_stop(m->pid, 10000);
  m->pid = 0;
  if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    char *log = gt_read_file(m->log, NULL);
    fail_msg("gridlet-meter did not stop cleanly (status %d); log:\n%s", st,
             log ? log : "");
  }
}

void mh_meter_kill9(mh_meter *m) {
  if (m->pid > 0)
    gt_proc_kill9(m->pid);
  m->pid = 0;
}

/* ---- The aggregator's side -------------------------------------------------
 */

static void load_pub(const char *cert_path, uint8_t pub[32]) {
  pki_cert *cert = NULL;
  pki_why why = {{0}};
  assert_int_equal(pki_cert_load_file(cert_path, &cert, &why), 0);
  assert_int_equal(pki_cert_ed25519_pub(cert, pub, &why), 0);
  pki_cert_free(cert);
}

void mh_agg_start(mh_agg *a, const gt_community *c, unsigned nmeters) {
  memset(a, 0, sizeof *a);
  assert_true(nmeters <= 8);
  for (unsigned i = 1; i <= nmeters; i++) {
    gt_identity id;
    gt_community_meter(c, i, &id);
    snprintf(a->kids[i - 1], sizeof a->kids[0], "%s", id.id);
    a->keys[i - 1].kid = a->kids[i - 1];
    load_pub(id.cert, a->keys[i - 1].pub);
  }
  a->table = (pr_key_table){a->keys, nmeters};
  a->ring = pr_key_table_keyring(&a->table);
  gt_identity ag;
  gt_community_aggregator(c, &ag);
  pki_identity *ident = NULL;
  pki_why why = {{0}};
  assert_int_equal(pki_identity_load(ag.cert, ag.key, &ident, &why), 0);
  assert_int_equal(pki_identity_ed25519(ident, &a->key), 0);
  pki_identity_free(ident);
  pr_mqtt_config mc = {.uri = c->uri,
                       .client_id = "aggregator",
                       .ca_file = ag.ca,
                       .cert_file = ag.cert,
                       .key_file = ag.key,
                       .clean_start = true,
                       .reconnect_min_ms = 50,
                       .reconnect_max_ms = 300};
  assert_int_equal(pr_mqtt_new(&mc, &a->mqtt), 0);
  char filter[PR_TOPIC_MAX];
  assert_int_equal(pr_topic_filter_ingest(c->community, filter, sizeof filter),
                   0);
  assert_int_equal(pr_mqtt_subscribe(a->mqtt, filter, 1), 0);
  assert_int_equal(pr_mqtt_connect(a->mqtt), 0);
  a->seq = 1000;
  mh_agg_wait_subscribed(a, 15000);
}

static bool subscribed_flag;

static void handle(mh_agg *a, const pr_mqtt_event *ev) {
  if (ev->type == PR_MQTT_CONNECTED)
    a->connected = true;
  if (ev->type == PR_MQTT_DISCONNECTED)
    a->connected = false;
  if (ev->type == PR_MQTT_SUBSCRIBED && ev->ok)
    subscribed_flag = true;
  if (ev->type != PR_MQTT_MESSAGE)
    return;
  mh_rec r;
  memset(&r, 0, sizeof r);
  snprintf(r.topic, sizeof r.topic, "%s", ev->topic);
  pr_diag d = {0};
  assert_int_equal(pr_topic_parse(ev->topic, strlen(ev->topic), NULL, &r.t, &d),
                   0);
  r.m = malloc(sizeof *r.m);
  assert_non_null(r.m);
  int rc = pr_open(ev->payload, ev->payload_len, &r.t, &a->ring, r.m, NULL, &d);
  if (rc) {
    a->rejected++;
    fail_msg("a message on %s does not verify: %s", ev->topic, d.msg);
  }
  r.bytes = malloc(ev->payload_len);
  assert_non_null(r.bytes);
  memcpy(r.bytes, ev->payload, ev->payload_len);
  r.len = ev->payload_len;
  r.retained = ev->retained;
  if (ev->response_topic)
    snprintf(r.response_topic, sizeof r.response_topic, "%s",
             ev->response_topic);
  if (ev->correlation && ev->correlation_len <= sizeof r.corr) {
    memcpy(r.corr, ev->correlation, ev->correlation_len);
    r.corr_len = ev->correlation_len;
  }
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 256;
    a->recs = realloc(a->recs, a->cap * sizeof *a->recs);
    assert_non_null(a->recs);
  }
  a->recs[a->n++] = r;
}

void mh_agg_pump(mh_agg *a, int ms) {
  gl_clock real = gl_clock_real();
  int64_t end = gl_clock_monotonic(&real) + (int64_t)ms * GL_NS_PER_MS;
  do {
    pr_mqtt_event ev;
    while (pr_mqtt_next(a->mqtt, &ev) == 0)
      handle(a, &ev);
    int64_t left = (end - gl_clock_monotonic(&real)) / GL_NS_PER_MS;
    if (left <= 0)
      break;
    pr_mqtt_wait(a->mqtt, left > 50 ? 50 : (int)left);
  } while (1);
}

void mh_agg_wait_subscribed(mh_agg *a, int timeout_ms) {
  subscribed_flag = false;
  for (int i = 0; i < timeout_ms / 20 && !subscribed_flag; i++)
    mh_agg_pump(a, 20);
  assert_true(subscribed_flag);
}

void mh_agg_publish(mh_agg *a, const char *topic, pr_msg *m, bool retain,
                    const void *corr, size_t corr_len) {
  uint8_t buf[PR_SEAL_MAX];
  size_t len;
  pr_diag d = {0};
  if (pr_seal(m, &a->key, buf, sizeof buf, &len, &d))
    fail_msg("seal: %s", d.msg);
  pr_mqtt_msg msg = {.topic = topic,
                     .payload = buf,
                     .payload_len = len,
                     .qos = 1,
                     .retain = retain,
                     .correlation = corr,
                     .correlation_len = corr_len};
  int rc;
  for (int i = 0; i < 500; i++) {
    rc = pr_mqtt_publish(a->mqtt, &msg, NULL);
    if (rc != GL_EAGAIN && rc != GL_ECONN)
      break;
    mh_agg_pump(a, 10);
  }
  assert_int_equal(rc, 0);
}

void mh_agg_free(mh_agg *a) {
  pr_mqtt_free(a->mqtt);
  for (size_t i = 0; i < a->n; i++) {
    free(a->recs[i].m);
    free(a->recs[i].bytes);
  }
  free(a->recs);
  memset(a, 0, sizeof *a);
}

void mh_check_seq_unique(const mh_agg *a) {
  for (size_t i = 0; i < a->n; i++)
    for (size_t j = i + 1; j < a->n; j++) {
      const mh_rec *x = &a->recs[i], *y = &a->recs[j];
      if (x->m->seq != y->m->seq || strcmp(x->m->sender, y->m->sender) != 0)
        continue;
      if (x->len != y->len || memcmp(x->bytes, y->bytes, x->len) != 0)
        fail_msg("%s reused seq %lld for two different messages (%s and %s)",
                 x->m->sender, (long long)x->m->seq, pr_type_name(x->m->type),
                 pr_type_name(y->m->type));
    }
}

static int by_start(const void *x, const void *y) {
  const pr_msg *a = *(pr_msg *const *)x, *b = *(pr_msg *const *)y;
  return a->reading.start < b->reading.start   ? -1
         : a->reading.start > b->reading.start ? 1
                                               : 0;
}

size_t mh_readings(const mh_agg *a, const char *sender, pr_msg ***out) {
  pr_msg **v = calloc(a->n + 1, sizeof *v);
  assert_non_null(v);
  size_t n = 0;
  for (size_t i = 0; i < a->n; i++) {
    const pr_msg *m = a->recs[i].m;
    if (m->type != PR_MSG_READING || strcmp(m->sender, sender) != 0)
      continue;
    bool dup = false;
    for (size_t k = 0; k < n && !dup; k++)
      dup = v[k]->seq == m->seq;
    if (!dup)
      v[n++] = a->recs[i].m;
  }
  qsort(v, n, sizeof *v, by_start);
  for (size_t i = 1; i < n; i++)
    if (v[i]->reading.start == v[i - 1]->reading.start)
      fail_msg("two readings (seq %lld and %lld) for one interval",
               (long long)v[i - 1]->seq, (long long)v[i]->seq);
  *out = v;
  return n;
}

void mh_wait_virtual(const gl_clock *clock, int64_t until) {
  while (gl_clock_now(clock) < until)
    gt_sleep_ms(10);
}
