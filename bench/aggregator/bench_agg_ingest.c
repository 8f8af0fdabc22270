/* SPDX-License-Identifier: MIT */
/*
 * bench_agg_ingest - end-to-end ingest of signed readings: a load
 * generator publishes the readings of 10,000 enrolled meters through a
 * real TLS mosquitto to the real gridlet-aggregator, which verifies each
 * one on all cores, checks it and commits it to its database; the clock
 * runs from the first publish to the moment /metrics counts the last one
 * accepted (stored and committed).
 *
 *   bench_agg_ingest [runs] [meters] [rounds]
 *
 * The community (CA, broker configuration, `meters` enrolled identities)
 * is built once with the production enrolment path (pki_dev_community)
 * and kept in bench_agg_ingest.work/ next to the binary; delete it to
 * rebuild. Publishing from 10,000 TLS connections is not possible on the
 * small machine this runs on, so one "loadgen" identity, which the
 * broker's ACL lets write every meter topic, publishes each meter's own
 * readings, signed beforehand with that meter's enrolled key: the
 * aggregator sees exactly what 10,000 meters would send (kid = the topic's
 * meter, signature by the meter's key), over one connection.
 *
 * Two ways of measuring:
 *   live     the aggregator runs while the load generator publishes as
 *            fast as the broker takes it (the generator and the broker
 *            share the machine's cores with the aggregator);
 *   backlog  the load generator publishes while the aggregator is down
 *            (its persistent session queues everything at the broker);
 *            the clock runs from the first reading the restarted
 *            aggregator accepts to the last: the aggregator alone,
 *            without a generator competing for the cores.
 * Each is compared with the raw Ed25519 verification rate (COSE parse +
 * verify, as bench_proto measures it) on all the machine's cores,
 * measured in this process right after each run, and, since the broker
 * and the generator take CPU too, with the raw rate of the cores the
 * aggregator actually used (its CPU time over the wall time). Medians
 * over `runs` (default 3).
 */
#include "benchutil.h"

#include "gridlet/agg_store.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_verify.h"
#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pki_enrol.h"
#include "gridlet/pki_key.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RUNS 16
#define WORK "bench_agg_ingest.work"
#define COMM WORK "/community"

static const char *bin_dir;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "bench_agg_ingest: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  exit(1);
}

/* ---- The community ------------------------------------------------------- */

static void build_community(unsigned meters) {
  char check[256];
  snprintf(check, sizeof check, COMM "/meters/%s", "loadgen");
  struct stat sb;
  char ca[256];
  snprintf(ca, sizeof ca, COMM "/ca/ca.pem");
  if (stat(ca, &sb) == 0 && stat(check, &sb) == 0) {
    char last[64], path[256];
    pki_dev_meter_id(NULL, meters, last, sizeof last);
    snprintf(path, sizeof path, COMM "/meters/%s/meter.key", last);
    if (stat(path, &sb) == 0)
      return; /* cached */
    die("the cached community has fewer meters; delete " WORK, NULL);
  }
  mkdir(WORK, 0700);
  fprintf(stderr,
          "building a community of %u meters in %s (kept for "
          "later runs)...\n",
          meters, COMM);
  struct passwd *pw = getpwuid(geteuid());
  char logdest[300];
  snprintf(logdest, sizeof logdest, "file %s/%s/mosquitto.log", bin_dir, WORK);
  pki_dev_opts o = {.community = "demo",
                    .meters = meters,
                    .port = 18883,
                    .run_as_user = pw ? pw->pw_name : NULL,
                    .log_dest = logdest};
  gl_rand rand = gl_rand_system();
  gl_clock clock = gl_clock_real();
  pki_why why = {{0}};
  if (pki_dev_community(COMM, &o, &rand, &clock, &why))
    die("pki_dev_community", why.text);
  /* The load generator's identity: a client certificate of the CA that
   * the broker's ACL lets write every meter topic. */
  mkdir(COMM "/meters/loadgen", 0700);
  if (pki_enrol_keygen("loadgen", PKI_KEY_ED25519,
                       COMM "/meters/loadgen/meter.key",
                       COMM "/meters/loadgen/meter.csr", &rand, &why))
    die("loadgen key", why.text);
  pki_ca *cao = NULL;
  if (pki_ca_open(COMM "/ca", &(pki_ca_open_opts){.no_sync = true}, &rand,
                  &clock, &cao, &why))
    die("CA", why.text);
  size_t len = 0;
  char *csr = gt_read_file(COMM "/meters/loadgen/meter.csr", &len);
  pki_cert *cert = NULL;
  if (!csr || pki_ca_sign_csr(cao, csr, len, NULL, &cert, &why) ||
      pki_cert_write_file(cert, COMM "/meters/loadgen/meter.pem", &why))
    die("loadgen certificate", why.text);
  free(csr);
  pki_cert_free(cert);
  pki_ca_free(cao);
  FILE *acl = fopen(COMM "/broker/acl", "a");
  if (!acl)
    die("acl", strerror(errno));
  fputs("\n# bench_agg_ingest: one load generator publishes every meter's "
        "signed readings\nuser loadgen\ntopic write gridlet/demo/meter/#\n",
        acl);
  fclose(acl);
}

/* The broker configuration with this run's port and a queue large enough
 * for the backlog. */
static void broker_conf(uint16_t port, char *out, size_t cap) {
  char *conf = gt_read_file(COMM "/broker/mosquitto.conf", NULL);
  if (!conf)
    die("mosquitto.conf", NULL);
  char *l = strstr(conf, "\nlistener ");
  if (!l)
    die("mosquitto.conf has no listener", NULL);
  char *eol = strchr(l + 1, '\n');
  *l = '\0';
  snprintf(out, cap,
           "%s\nmax_queued_messages 10000000\nmax_queued_bytes 0\n"
           "listener %u 127.0.0.1%s",
           conf, port, eol ? eol : "\n");
  free(conf);
}

/* ---- Processes and the API ----------------------------------------------- */

static int http_metric(uint16_t port, const char *series, int64_t *v) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
  if (write(fd, req, sizeof req - 1) < 0) {
    close(fd);
    return -1;
  }
  static char buf[1 << 20];
  size_t len = 0;
  ssize_t r;
  while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)r;
  close(fd);
  buf[len] = '\0';
  /* A sample line starts with the series; "# HELP <series> 1 while..."
   * must not count (it made the live phase start publishing before the
   * aggregator had subscribed, and the broker dropped what came first). */
  char *p = strstr(buf, series);
  while (p && (p[strlen(series)] != ' ' || (p != buf && p[-1] != '\n')))
    p = strstr(p + 1, series);
  if (!p)
    return -1;
  *v = strtoll(p + strlen(series) + 1, NULL, 10);
  return 0;
}

static int64_t proc_cpu_ns(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st) != 2)
    return 0;
  long hz = sysconf(_SC_CLK_TCK);
  return (int64_t)(ut + st) * (GL_NS_PER_SEC / hz);
}

/* ---- Signed readings ----------------------------------------------------- */

typedef struct msgs {
  unsigned meters, rounds;
  int64_t t0, L;
  char (*topic)[PR_TOPIC_MAX];
  uint8_t **buf;
  size_t *len;
  gl_ed25519_key *keys;
} msgs;

static void sign_one(void *ctx, size_t idx) {
  msgs *ms = ctx;
  unsigned i = (unsigned)(idx % ms->meters), k = (unsigned)(idx / ms->meters);
  char id[64];
  pki_dev_meter_id(NULL, i + 1, id, sizeof id);
  pr_msg m;
  pr_msg_init(&m, PR_MSG_READING, id, k + 1, ms->t0);
  m.reading.start = ms->t0 + (int64_t)k * ms->L;
  m.reading.end = m.reading.start + ms->L;
  m.reading.import_wh = (i % 2) ? 0 : 100 + (int64_t)((idx * 7919) % 900);
  m.reading.export_wh = (i % 2) ? 50 + (int64_t)((idx * 104729) % 900) : 0;
  m.reading.pv_wh = m.reading.export_wh * 2;
  m.reading.has_import_total_wh = true;
  m.reading.import_total_wh = 1000000 + (int64_t)k * 1000;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = 0;
  if (pr_seal(&m, &ms->keys[i], buf, sizeof buf, &len, NULL) != 0)
    die("seal", id);
  ms->buf[idx] = malloc(len);
  memcpy(ms->buf[idx], buf, len);
  ms->len[idx] = len;
}

static void prepare(msgs *ms, size_t threads) {
  size_t n = (size_t)ms->meters * ms->rounds;
  ms->topic = calloc(ms->meters, sizeof *ms->topic);
  ms->buf = calloc(n, sizeof *ms->buf);
  ms->len = calloc(n, sizeof *ms->len);
  ms->keys = calloc(ms->meters, sizeof *ms->keys);
  for (unsigned i = 0; i < ms->meters; i++) {
    char id[64], path[256];
    pki_dev_meter_id(NULL, i + 1, id, sizeof id);
    snprintf(path, sizeof path, COMM "/meters/%s/meter.key", id);
    if (pki_key_load_ed25519(path, &ms->keys[i], NULL) != 0)
      die("meter key", path);
    pr_topic_build(PR_TOPIC_READING, "demo", id, ms->topic[i],
                   sizeof ms->topic[i]);
  }
  agg_parallel_for(threads, n, sign_one, ms);
}

/* ---- Raw verification rate ----------------------------------------------- */

typedef struct vctx {
  const msgs *ms;
  atomic_size_t next;
  size_t n;
} vctx;

static void verify_one(void *ctx, size_t i) {
  vctx *v = ctx;
  size_t k = i % v->n;
  pr_cose_view view;
  unsigned meter = (unsigned)(k % v->ms->meters);
  if (pr_cose_parse(v->ms->buf[k], v->ms->len[k], PR_PAYLOAD_MAX, &view,
                    NULL) != 0 ||
      pr_cose_verify(&view, v->ms->keys[meter].pub, NULL) != 0)
    die("raw verify", NULL);
}

/* Verifications per second of wall time on `threads` threads; *per_cpu
 * gets them per second of CPU time (what one core does when it runs). */
static double raw_rate(const msgs *ms, size_t threads, double *per_cpu) {
  vctx v = {.ms = ms, .n = (size_t)ms->meters * ms->rounds};
  size_t n = 20000;
  int64_t t0 = gb_now_ns(), c0 = gb_cpu_ns();
  agg_parallel_for(threads, n, verify_one, &v);
  int64_t t1 = gb_now_ns(), c1 = gb_cpu_ns();
  *per_cpu = (double)n * 1e9 / (double)(c1 - c0);
  return (double)n * 1e9 / (double)(t1 - t0);
}

/* ---- One run ------------------------------------------------------------- */

typedef struct run_out {
  double rate;    /* readings/s */
  double cores;   /* aggregator CPU seconds per wall second */
  double raw_all; /* raw verify/s on all cores, right after */
  double raw_cpu; /* raw verifications per CPU second */
} run_out;

static pid_t start_broker(uint16_t port, const char *dir) {
  char conf[65536], path[512], out[512];
  broker_conf(port, conf, sizeof conf);
  snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
  gt_write_file(path, conf, (size_t)-1);
  snprintf(out, sizeof out, "%s/mosquitto.out", dir);
  const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0
                        ? "/usr/sbin/mosquitto"
                        : "mosquitto";
  char *argv[] = {(char *)bin, "-c", path, NULL};
  pid_t pid = gt_proc_start(argv, out, NULL);
  if (!gt_wait_port(port, 15000))
    die("mosquitto did not start", out);
  return pid;
}

static pid_t start_aggregator(const char *conf, const char *spec,
                              const char *log, uint16_t http) {
  char bin[512];
  snprintf(bin, sizeof bin, "%s/../../aggregator/gridlet-aggregator", bin_dir);
  char *argv[] = {bin, "-c", (char *)conf, "--clock", (char *)spec, NULL};
  pid_t pid = gt_proc_start(argv, log, NULL);
  int64_t v = 0;
  for (int i = 0; i < 600; i++) {
    if (http_metric(http, "gridlet_aggregator_mqtt_connected", &v) == 0 &&
        v == 1)
      return pid;
    if (!gt_proc_alive(pid))
      break;
    gt_sleep_ms(50);
  }
  die("the aggregator did not connect; see", log);
  return 0;
}

static pr_mqtt *loadgen_connect(uint16_t port) {
  char uri[64];
  snprintf(uri, sizeof uri, "mqtts://127.0.0.1:%u", port);
  pr_mqtt_config c = {.uri = uri,
                      .client_id = "loadgen",
                      .ca_file = COMM "/meters/loadgen/../../ca/ca.pem",
                      .cert_file = COMM "/meters/loadgen/meter.pem",
                      .key_file = COMM "/meters/loadgen/meter.key",
                      .clean_start = true};
  pr_mqtt *m = NULL;
  if (pr_mqtt_new(&c, &m) || pr_mqtt_connect(m))
    die("loadgen client", NULL);
  pr_mqtt_event ev;
  for (int i = 0; i < 1500; i++) {
    while (pr_mqtt_next(m, &ev) == 0)
      if (ev.type == PR_MQTT_CONNECTED)
        return m;
    pr_mqtt_wait(m, 10);
  }
  die("loadgen could not connect", NULL);
  return NULL;
}

static void publish_all(pr_mqtt *m, const msgs *ms) {
  size_t n = (size_t)ms->meters * ms->rounds, acked = 0;
  pr_mqtt_event ev;
  for (size_t i = 0; i < n; i++) {
    pr_mqtt_msg msg = {.topic = ms->topic[i % ms->meters],
                       .payload = ms->buf[i],
                       .payload_len = ms->len[i],
                       .qos = 1};
    int rc;
    while ((rc = pr_mqtt_publish(m, &msg, NULL)) == GL_EAGAIN) {
      pr_mqtt_wait(m, 1);
      while (pr_mqtt_next(m, &ev) == 0)
        if (ev.type == PR_MQTT_PUBLISHED) {
          if (!ev.ok)
            die("a reading was refused by the broker", NULL);
          acked++;
        }
    }
    if (rc)
      die("publish", gl_strerror(rc));
  }
  while (acked < n) {
    pr_mqtt_wait(m, 10);
    while (pr_mqtt_next(m, &ev) == 0)
      if (ev.type == PR_MQTT_PUBLISHED)
        acked++;
  }
}

static const char *ACC =
    "gridlet_aggregator_messages_accepted_total{kind=\"reading\"}";

static void run(int r, bool backlog, const msgs *ms, const char *keyfile,
                size_t cores, run_out *o) {
  char dir[512], db[600], conf[600], log[600], spec[GL_CLOCK_SPEC_MAX];
  snprintf(dir, sizeof dir, WORK "/run-%s-%d", backlog ? "backlog" : "live", r);
  gt_rmtree(dir);
  mkdir(dir, 0700);
  snprintf(db, sizeof db, "%s/agg.db", dir);
  snprintf(conf, sizeof conf, "%s/aggregator.conf", dir);
  snprintf(log, sizeof log, "%s/aggregator.log", dir);
  /* Enrolled meters: a copy of the template database. */
  size_t len = 0;
  char *tmpl = gt_read_file(WORK "/template.db", &len);
  gt_write_file(db, tmpl, len);
  free(tmpl);
  uint16_t port = gt_free_port(), http = gt_free_port();
  char text[4096];
  snprintf(text, sizeof text,
           "[community]\nname = demo\n"
           "[mqtt]\nuri = mqtts://127.0.0.1:%u\nca = " COMM
           "/aggregator/ca.pem\ncert = " COMM
           "/aggregator/aggregator.pem\nkey = " COMM
           "/aggregator/aggregator.key\n"
           "[pki]\nca = " COMM "/ca/ca.pem\ncrl = " COMM "/ca/crl.pem\n"
           "[ledger]\nkey = %s\n[storage]\ndb = %s\n"
           "[market]\ninterval = 15m\n"
           "[ingest]\nmax_future = 1d\n"
           "[http]\nlisten = 127.0.0.1:%u\n[log]\nlevel = warn\n",
           port, keyfile, db, http);
  gt_write_file(conf, text, (size_t)-1);
  gl_clock real = gl_clock_real();
  gl_clock_spec cs = {.accel = true,
                      .speed = 1,
                      .virtual_start = ms->t0 + 10 * GL_NS_PER_SEC,
                      .real_anchor = gl_clock_now(&real)};
  gl_clock_spec_format(&cs, spec);
  pid_t broker = start_broker(port, dir);
  size_t n = (size_t)ms->meters * ms->rounds;
  pid_t agg = start_aggregator(conf, spec, log, http);
  pr_mqtt *lg = loadgen_connect(port);
  int64_t t0, t1, c0, c1, v = 0;
  if (backlog) {
    /* The aggregator's session stays at the broker while it is down. */
    gt_sleep_ms(300);
    gt_proc_stop(agg, 10000);
    publish_all(lg, ms);
    agg = start_aggregator(conf, spec, log, http);
    do {
      http_metric(http, ACC, &v);
    } while (v == 0 && gt_proc_alive(agg) && (gt_sleep_ms(10), 1));
    t0 = gb_now_ns();
    c0 = proc_cpu_ns(agg);
    n -= (size_t)v;
  } else {
    t0 = gb_now_ns();
    c0 = proc_cpu_ns(agg);
    publish_all(lg, ms);
  }
  int64_t base = backlog ? v : 0;
  /* Poll gently: every scrape renders every meter's series, which would
   * otherwise show up in the aggregator's own CPU time. */
  for (int waited = 0;; waited += 100) {
    if (http_metric(http, ACC, &v) == 0 && v - base >= (int64_t)n)
      break;
    if (!gt_proc_alive(agg))
      die("the aggregator died; see", log);
    if (getenv("BENCH_VERBOSE") && waited % 1000 == 0)
      fprintf(stderr, "  %s: %lld of %zu accepted\n",
              backlog ? "backlog" : "live", (long long)(v - base), n);
    if (waited > 120000)
      die("not every reading was accepted (rejections?); see", log);
    gt_sleep_ms(100);
  }
  t1 = gb_now_ns();
  c1 = proc_cpu_ns(agg);
  o->rate = (double)n * 1e9 / (double)(t1 - t0);
  o->cores = (double)(c1 - c0) / (double)(t1 - t0);
  pr_mqtt_free(lg);
  gt_proc_stop(agg, 10000);
  gt_proc_stop(broker, 5000);
  o->raw_all = raw_rate(ms, cores, &o->raw_cpu);
  gt_rmtree(dir);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *name, run_out *o, int runs, size_t cores) {
  double rate[MAX_RUNS], ratio[MAX_RUNS], used[MAX_RUNS], pcore[MAX_RUNS],
      raw[MAX_RUNS];
  for (int i = 0; i < runs; i++) {
    rate[i] = o[i].rate;
    ratio[i] = o[i].rate / o[i].raw_all;
    used[i] = o[i].cores;
    /* Readings per aggregator CPU second over verifications per CPU
     * second: the share of the aggregator's work that is verification. */
    pcore[i] = o[i].rate / o[i].cores / o[i].raw_cpu;
    raw[i] = o[i].raw_all;
  }
  printf("%s: median %.0f readings/s; raw verify on %zu cores %.0f/s -> "
         "ratio %.2f; the aggregator used %.2f cores: per CPU second it "
         "ingests %.2f of the raw verification rate (%d runs)\n",
         name, median(rate, runs), cores, median(raw, runs),
         median(ratio, runs), median(used, runs), median(pcore, runs), runs);
}

static int arg(int argc, char **argv, int i, int def) {
  if (argc <= i)
    return def;
  char *end;
  long v = strtol(argv[i], &end, 10);
  return *end || v < 1 || v > 1000000 ? -1 : (int)v;
}

int main(int argc, char **argv) {
  int runs = arg(argc, argv, 1, 3);
  int meters = arg(argc, argv, 2, 10000);
  int rounds = arg(argc, argv, 3, 5);
  if (runs < 1 || runs > MAX_RUNS || meters < 1 || meters > 100000 ||
      rounds < 1 || rounds > 90) {
    fprintf(stderr, "usage: bench_agg_ingest [runs 1..16] [meters] [rounds]\n");
    return 2;
  }
  gl_log_set_level(GL_LOG_ERROR);
  signal(SIGPIPE, SIG_IGN);
  /* Everything (the work directory, the aggregator binary) is found
   * relative to this program's own directory, whatever the caller's. */
  static char cwd[400];
  ssize_t n = readlink("/proc/self/exe", cwd, sizeof cwd - 1);
  if (n <= 0)
    die("readlink /proc/self/exe", NULL);
  cwd[n] = '\0';
  char *slash = strrchr(cwd, '/');
  if (slash)
    *slash = '\0';
  if (chdir(cwd) != 0)
    die("chdir", cwd);
  bin_dir = cwd;
  build_community((unsigned)meters);
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  size_t cores = nc > 0 ? (size_t)nc : 1;
  /* The ledger key and the template database with every meter enrolled
   * through the real CA path (meters sync). */
  char keyfile[512];
  snprintf(keyfile, sizeof keyfile, "%s/" WORK "/ledger.key", cwd);
  struct stat sb;
  if (stat(keyfile, &sb) != 0) {
    lg_signer k;
    gl_rand r = gl_rand_system();
    if (lg_signer_generate("gridlet/demo", LG_SIG_ED25519, &r, &k) ||
        lg_signer_write_file(keyfile, &k))
      die("ledger key", NULL);
    lg_signer_wipe(&k);
  }
  unlink(WORK "/template.db");
  agg_store *st = NULL;
  gl_clock real = gl_clock_real();
  agg_sync_stats ss;
  if (agg_store_open(WORK "/template.db", true, false, &st) ||
      agg_meters_sync_ca(st, COMM "/ca", "demo", &real, &ss))
    die("enrolling the meters", NULL);
  agg_store_free(st);
  msgs ms = {.meters = (unsigned)meters,
             .rounds = (unsigned)rounds,
             .L = 15 * 60 * GL_NS_PER_SEC};
  gl_time_parse("2026-06-21T10:00:00Z", &ms.t0);
  fprintf(stderr, "%u meters enrolled; signing %d readings...\n", ss.added,
          meters * rounds);
  prepare(&ms, cores);
  run_out live[MAX_RUNS], back[MAX_RUNS];
  for (int r = 0; r < runs; r++) {
    run(r, false, &ms, keyfile, cores, &live[r]);
    run(r, true, &ms, keyfile, cores, &back[r]);
  }
  printf("end-to-end ingest of %d readings of %d meters through TLS "
         "mosquitto into the aggregator's database, %zu cores\n",
         meters * rounds, meters, cores);
  report("live (generator and broker on the same cores)", live, runs, cores);
  report("backlog (aggregator alone, draining the broker's queue)", back, runs,
         cores);
  return 0;
}
