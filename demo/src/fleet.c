/* SPDX-License-Identifier: MIT */
/*
 * fleet.c - a community as real processes. See gridlet/demo_fleet.h.
 *
 * Sections: options and paths; building the community and configurations;
 * the processes (broker, aggregator, simulators, meters); time; the API;
 * the tools.
 */
#include "gridlet/demo_fleet.h"

#include "gridlet/demo_http.h"
#include "gridlet/demo_proc.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/pki_dev.h"
#include "gridlet/rand.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIMS                                                               \
  ((DEMO_MAX_METERS + DEMO_HOUSEHOLDS_PER_SIM - 1) / DEMO_HOUSEHOLDS_PER_SIM)
#define TEXT_MAX 64
#define HTTP_TIMEOUT_MS 15000
#define START_TIMEOUT_MS 30000

struct demo_fleet {
  demo_fleet_info info;
  demo_meter_info *meters;
  /* Copies of the options' strings. */
  char bin_dir[DEMO_PATH_MAX], profile_dir[DEMO_PATH_MAX];
  char mode[TEXT_MAX], rule[TEXT_MAX], interval[TEXT_MAX], grace[TEXT_MAX];
  char log_level[TEXT_MAX];
  char retail[TEXT_MAX], feed_in[TEXT_MAX]; /* the band, currency per kWh */
  uint64_t seed;
  int lead_ms;
  int64_t vstart;
  const volatile sig_atomic_t *cancel;
  /* Processes. */
  pid_t broker, agg;
  pid_t sims[MAX_SIMS];
  unsigned nsims;
  uint16_t *sim_port; /* per household */
  /* The shared clock, once started. */
  bool clock_set;
  gl_clock clock;
  gl_accel_clock *accel;
  bool remove_dir;
};

/* ---- Small helpers ------------------------------------------------------- */

static int fail(demo_why *why, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(demo_why *why, int rc, const char *fmt, ...) {
  if (why) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->text, sizeof why->text, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* a/b into out; false (and out empty) when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la + 1 + lb + 1 > cap) {
    if (cap)
      out[0] = '\0';
    return false;
  }
  memmove(out, a, la);
  out[la] = '/';
  memmove(out + la + 1, b, lb);
  out[la + 1 + lb] = '\0';
  return true;
}

char *demo_fleet_path(const demo_fleet *f, const char *name,
                      char out[DEMO_PATH_MAX]) {
  if (!join(out, DEMO_PATH_MAX, f->info.dir, name))
    out[0] = '\0';
  return out;
}

static void copy(char *dst, size_t cap, const char *src, const char *def) {
  snprintf(dst, cap, "%s", src && *src ? src : def);
}

/* A text buffer that grows; on allocation failure it stays empty and
 * `bad` is set. */
typedef struct text {
  char *s;
  size_t len, cap;
  bool bad;
} text;

static void add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
  if (t->bad)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->bad = true;
      return;
    }
    if (t->s && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = (t->cap ? t->cap : 1024);
    while (cap <= t->len + (size_t)n)
      cap *= 2;
    char *ns = realloc(t->s, cap);
    if (!ns) {
      t->bad = true;
      return;
    }
    t->s = ns;
    t->cap = cap;
  }
}

static int write_file(const char *path, const char *data, size_t len,
                      demo_why *why) {
  FILE *fp = fopen(path, "w");
  if (!fp)
    return fail(why, GL_EIO, "cannot write %s: %s", path, strerror(errno));
  size_t w = fwrite(data, 1, len, fp);
  if (fclose(fp) != 0 || w != len)
    return fail(why, GL_EIO, "cannot write %s", path);
  return 0;
}

static int write_text(const char *path, text *t, demo_why *why) {
  int rc = t->bad ? fail(why, GL_ENOMEM, "out of memory writing %s", path)
                  : write_file(path, t->s ? t->s : "", t->len, why);
  free(t->s);
  t->s = NULL;
  t->len = t->cap = 0;
  return rc;
}

static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static bool port_open(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* The program for `tool` ("aggregator", "meter", "sim", "ledger", "ca"). */
static void program(const demo_fleet *f, const char *tool,
                    char out[DEMO_PATH_MAX]) {
  static const struct {
    const char *tool, *rel, *name;
  } map[] = {
      {"aggregator", "aggregator/gridlet-aggregator", "gridlet-aggregator"},
      {"meter", "meter/gridlet-meter", "gridlet-meter"},
      {"sim", "sim/gridlet-sim", "gridlet-sim"},
      {"ledger", "ledger/cli/gridlet-ledger", "gridlet-ledger"},
      {"ca", "certs/gridlet-ca", "gridlet-ca"},
  };
  out[0] = '\0';
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i].tool, tool) == 0) {
      if (f->bin_dir[0])
        join(out, DEMO_PATH_MAX, f->bin_dir, map[i].rel);
      else
        snprintf(out, DEMO_PATH_MAX, "%s", map[i].name);
      return;
    }
}

/* The tail of a log file, for error messages. */
static void log_tail(const char *path, char *out, size_t cap) {
  out[0] = '\0';
  FILE *fp = fopen(path, "r");
  if (!fp)
    return;
  if (fseek(fp, 0, SEEK_END) == 0) {
    long size = ftell(fp);
    long from = size > (long)cap - 1 ? size - (long)cap + 1 : 0;
    if (fseek(fp, from, SEEK_SET) == 0) {
      size_t n = fread(out, 1, cap - 1, fp);
      out[n] = '\0';
    }
  }
  fclose(fp);
}

static int proc_failed(demo_why *why, int rc, const char *what,
                       const char *log) {
  char tail[300];
  log_tail(log, tail, sizeof tail);
  return fail(why, rc, "%s did not start (%s); the end of %s:\n%s", what,
              gl_strerror(rc), log, tail);
}

/* ---- Options and the community ------------------------------------------ */

static int make_dir(const char *opt, char out[DEMO_PATH_MAX], demo_why *why) {
  if (opt && *opt) {
    if (mkdir(opt, 0700) != 0 && errno != EEXIST)
      return fail(why, GL_EIO, "cannot create %s: %s", opt, strerror(errno));
    snprintf(out, DEMO_PATH_MAX, "%s", opt);
    return 0;
  }
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp)
    tmp = "/tmp";
  snprintf(out, DEMO_PATH_MAX, "%s/gridlet-demo-XXXXXX", tmp);
  if (!mkdtemp(out))
    return fail(why, GL_EIO, "cannot create a directory in %s: %s", tmp,
                strerror(errno));
  return 0;
}

/* The virtual interval in seconds, and the timings derived from it. */
static int64_t interval_s(const demo_fleet *f) {
  return f->info.interval / GL_NS_PER_SEC;
}

static bool accelerated(const demo_fleet *f) {
  return f->info.speed > 1;
}

/* Meter agent settings scaled to the interval: a read every thirtieth of
 * it, like a 30 s poll at 15 minutes. With a real clock the agent's own
 * defaults (production settings) apply. */
static void meter_timings(const demo_fleet *f, text *t) {
  if (!accelerated(f))
    return;
  int64_t L = interval_s(f);
  int64_t poll = L / 30 > 0 ? L / 30 : 1;
  while (poll > 1 && L % poll)
    poll--;
  int64_t save = L / 3 > 0 ? L / 3 : 1;
  add(t,
      "poll = %llds\nclose_wait = %llds\nstate_save = %llds\n"
      "clock_step = %llds\n",
      (long long)poll, (long long)(2 * poll), (long long)save,
      (long long)(L / 2 > 2 ? L / 2 : 2));
}

static const char *home_profile(const demo_fleet *f, const char *name,
                                char out[DEMO_PATH_MAX]) {
  if (f->profile_dir[0]) {
    char file[64];
    snprintf(file, sizeof file, "%s.profile", name);
    join(out, DEMO_PATH_MAX, f->profile_dir, file);
    return out;
  }
  return name;
}

int demo_fleet_meter_config(demo_fleet *f, unsigned i, const char *broker_uri,
                            demo_why *why) {
  if (i >= f->info.meters)
    return fail(why, GL_EINVAL, "no meter %u", i);
  demo_meter_info *m = &f->meters[i];
  if (i >= f->info.households)
    return fail(why, GL_EINVAL, "%s has no household to read", m->id);
  const demo_household *h = &m->home;
  uint16_t port = f->sim_port ? f->sim_port[i] : 0;
  char prof[DEMO_PATH_MAX], agg_cert[DEMO_PATH_MAX], crl[DEMO_PATH_MAX];
  join(agg_cert, sizeof agg_cert, f->info.community_dir,
       "aggregator/aggregator.pem");
  join(crl, sizeof crl, f->info.ca_dir, "crl.pem");
  text t = {0};
  add(&t,
      "# gridlet-meter for household %u (%s), written by the demo fleet.\n"
      "[meter]\ncommunity = %s\ndatabase = %s\ninterval = %s\n"
      "log_level = %s\n",
      i + 1, h->label ? h->label : "", f->info.community, m->db, f->interval,
      f->log_level);
  meter_timings(f, &t);
  add(&t, "[grid_meter]\nendpoint = tcp:127.0.0.1:%u\nunit = 3\nprofile = %s\n",
      port, home_profile(f, "sunspec-meter", prof));
  if (h->pv_w)
    add(&t, "[inverter]\nendpoint = tcp:127.0.0.1:%u\nunit = 1\nprofile = %s\n",
        port, home_profile(f, "sunspec-inverter", prof));
  if (h->battery_wh)
    add(&t, "[battery]\nendpoint = tcp:127.0.0.1:%u\nunit = 2\nprofile = %s\n",
        port, home_profile(f, "sunspec-battery", prof));
  add(&t, "[modbus]\ntimeout = 500ms\n");
  add(&t,
      "[mqtt]\nuri = %s\nca = %s\ncert = %s\nkey = %s\n"
      "reconnect_min = 100ms\nreconnect_max = 1s\n",
      broker_uri ? broker_uri : f->info.uri, m->ca, m->cert, m->key);
  add(&t, "[aggregator]\ncert = %s\ncrl = %s\nlog_key = %s\n", agg_cert, crl,
      f->info.vkey);
  if (accelerated(f)) {
    int64_t proof = 2 * interval_s(f) / 3;
    add(&t, "proof_timeout = %llds\n", (long long)(proof > 1 ? proof : 1));
  }
  add(&t, "[trading]\nmode = %s\n", f->mode);
  /* Orders (exante, continuous) carry both limits: a household without a
   * preference takes any price in the band (buys up to the retail price,
   * sells down to the feed-in tariff). */
  bool orders = strcmp(f->mode, "expost") != 0;
  if (h->buy_below || orders)
    add(&t, "buy_below = %s\n", h->buy_below ? h->buy_below : f->retail);
  if (h->sell_above || orders)
    add(&t, "sell_above = %s\n", h->sell_above ? h->sell_above : f->feed_in);
  if (strcmp(f->mode, "expost") != 0) {
    /* A persistence forecast two intervals back: the latest interval
     * whose reading exists when the order must go out (the community
     * runs for a day only, so "the same time yesterday" has no data). */
    add(&t, "forecast_lag = %llds\n", (long long)(2 * interval_s(f)));
    if (accelerated(f))
      add(&t, "order_margin = %llds\n", (long long)(interval_s(f) / 3));
    if (h->battery_wh)
      add(&t, "battery_capacity = %u\n", h->battery_wh);
  }
  return write_text(m->conf, &t, why);
}

static int aggregator_config(demo_fleet *f, const demo_fleet_opts *o,
                             demo_why *why) {
  char ca[DEMO_PATH_MAX], cert[DEMO_PATH_MAX], key[DEMO_PATH_MAX];
  join(ca, sizeof ca, f->info.community_dir, "aggregator/ca.pem");
  join(cert, sizeof cert, f->info.community_dir, "aggregator/aggregator.pem");
  join(key, sizeof key, f->info.community_dir, "aggregator/aggregator.key");
  text t = {0};
  /* The simulator's sun is that of 50 degrees north with solar time equal
   * to UTC, so the aggregator's night check uses the same place. */
  add(&t,
      "# gridlet-aggregator, written by the demo fleet.\n"
      "[community]\nname = %s\nlatitude = 50\nlongitude = 0\n"
      "[mqtt]\nuri = %s\nca = %s\ncert = %s\nkey = %s\nsession_expiry = 1d\n",
      f->info.community, f->info.uri, ca, cert, key);
  add(&t, "[pki]\nca = %s/ca.pem\ncrl = %s/crl.pem\nca_dir = %s\n",
      f->info.ca_dir, f->info.ca_dir, f->info.ca_dir);
  add(&t, "[ledger]\nkey = %s\n[storage]\ndb = %s\n", f->info.ledger_key,
      f->info.agg_db);
  add(&t, "[market]\nmode = %s\nrule = %s\ninterval = %s\n", f->mode, f->rule,
      f->interval);
  if (f->grace[0])
    add(&t, "grace = %s\n", f->grace);
  if (o->retail)
    add(&t, "retail = %s\n", o->retail);
  if (o->feed_in)
    add(&t, "feed_in = %s\n", o->feed_in);
  if (o->fee)
    add(&t, "fee = %s\n", o->fee);
  if (o->market_extra)
    add(&t, "%s\n", o->market_extra);
  add(&t, "[ingest]\nbatch_delay = 20ms\n");
  /* Each meter asks for a proof of every entry its results cite; on a
   * clock running hundreds of times faster that is far more requests per
   * (virtual) minute than the production limit is sized for. */
  if (accelerated(f))
    add(&t, "proof_rate = 1000000\n");
  add(&t, "[http]\nlisten = 127.0.0.1:%u\n[log]\nlevel = %s\n",
      f->info.http_port, f->log_level);
  return write_text(f->info.agg_conf, &t, why);
}

/* mosquitto's configuration: the generated one, with the fleet's
 * additions (a queue for offline sessions as the operator's guide
 * recommends, and the caller's lines). */
static int broker_config(demo_fleet *f, const char *extra, demo_why *why) {
  char path[DEMO_PATH_MAX];
  join(path, sizeof path, f->info.community_dir, "broker/mosquitto.conf");
  FILE *fp = fopen(path, "a");
  if (!fp)
    return fail(why, GL_EIO, "cannot open %s: %s", path, strerror(errno));
  /* Persistence as in production (`gridlet-ca broker-config
   * --persistence`, docs/operations/pki.md): a broker restart keeps the
   * aggregator's session and the messages queued for it. */
  fprintf(fp,
          "\n# Added by the demo fleet (docs/operations/aggregator.md).\n"
          "max_queued_messages 100000\npersistence true\n"
          "persistence_location %s/\n%s%s",
          f->info.dir, extra ? extra : "", extra ? "\n" : "");
  return fclose(fp) == 0 ? 0 : fail(why, GL_EIO, "cannot write %s", path);
}

static int enrol_at_aggregator(demo_fleet *f, demo_why *why) {
  unsigned synced = 0;
  for (unsigned i = 0; i < f->info.meters; i++)
    synced += f->meters[i].synced;
  char out[DEMO_PATH_MAX];
  demo_fleet_path(f, "tools.log", out);
  int code = 0, rc;
  if (synced == f->info.meters) {
    /* The operator's path: every meter of the CA's index. */
    char *args[] = {"meters", "sync", "-c", f->info.agg_conf, NULL};
    rc = demo_fleet_tool(f, "aggregator", args, out, &code);
  } else {
    size_t n = 4 + synced + 1;
    char **args = calloc(n, sizeof *args);
    if (!args)
      return fail(why, GL_ENOMEM, "out of memory");
    size_t k = 0;
    args[k++] = "meters";
    args[k++] = "add";
    args[k++] = "-c";
    args[k++] = f->info.agg_conf;
    for (unsigned i = 0; i < f->info.meters; i++)
      if (f->meters[i].synced)
        args[k++] = f->meters[i].cert;
    args[k] = NULL;
    rc = synced ? demo_fleet_tool(f, "aggregator", args, out, &code) : 0;
    free(args);
  }
  if (rc)
    return fail(why, rc, "cannot run gridlet-aggregator meters: %s",
                gl_strerror(rc));
  if (code != 0)
    return fail(why, GL_ECONFIG,
                "gridlet-aggregator meters (enrolment) exited %d; see %s", code,
                out);
  return 0;
}

int demo_fleet_new(const demo_fleet_opts *opts, demo_fleet **out,
                   demo_why *why) {
  demo_fleet_opts o = opts ? *opts : (demo_fleet_opts){0};
  if (!o.households)
    o.households = 10;
  if (o.households > DEMO_MAX_METERS ||
      o.spare_meters > DEMO_MAX_METERS - o.households ||
      o.spare_synced > o.spare_meters)
    return fail(why, GL_EINVAL, "at most %d meters (%u households, %u spare)",
                DEMO_MAX_METERS, o.households, o.spare_meters);
  if (o.speed > GL_ACCEL_SPEED_MAX)
    return fail(why, GL_EINVAL, "the clock runs at most %u times real time",
                GL_ACCEL_SPEED_MAX);
  demo_fleet *f = calloc(1, sizeof *f);
  if (!f)
    return fail(why, GL_ENOMEM, "out of memory");
  demo_fleet_info *in = &f->info;
  copy(f->bin_dir, sizeof f->bin_dir, o.bin_dir, "");
  copy(f->profile_dir, sizeof f->profile_dir, o.profile_dir, "");
  copy(in->community, sizeof in->community, o.community, "demo");
  copy(f->mode, sizeof f->mode, o.mode, "expost");
  copy(f->rule, sizeof f->rule, o.rule, "marginal");
  copy(f->interval, sizeof f->interval, o.interval, "15m");
  copy(f->grace, sizeof f->grace, o.grace, "");
  copy(f->log_level, sizeof f->log_level, o.log_level, "info");
  copy(f->retail, sizeof f->retail, o.retail, "0.30");
  copy(f->feed_in, sizeof f->feed_in, o.feed_in, "0.08");
  f->seed = o.seed ? o.seed : 42;
  f->lead_ms = o.lead_ms > 0 ? o.lead_ms : 2000;
  f->vstart = o.vstart;
  f->cancel = o.cancel;
  in->speed = o.speed;
  in->households = o.households;
  in->meters = o.households + o.spare_meters;
  int rc = gl_duration_parse(f->interval, &in->interval);
  if (rc || in->interval < GL_NS_PER_SEC * 60) {
    rc = fail(why, GL_EINVAL, "bad interval \"%s\"", f->interval);
    free(f);
    return rc;
  }
  rc = make_dir(o.dir, in->dir, why);
  if (rc) {
    free(f);
    return rc;
  }
  f->meters = calloc(in->meters, sizeof *f->meters);
  f->sim_port = calloc(in->households, sizeof *f->sim_port);
  if (!f->meters || !f->sim_port) {
    demo_fleet_free(f);
    return fail(why, GL_ENOMEM, "out of memory");
  }
  demo_fleet_path(f, "community", in->community_dir);
  join(in->ca_dir, sizeof in->ca_dir, in->community_dir, "ca");
  demo_fleet_path(f, "aggregator.conf", in->agg_conf);
  demo_fleet_path(f, "aggregator.db", in->agg_db);
  demo_fleet_path(f, "aggregator.log", in->agg_log);
  demo_fleet_path(f, "mosquitto.log", in->broker_log);
  demo_fleet_path(f, "ledger.key", in->ledger_key);
  in->mqtt_port = free_port();
  in->http_port = free_port();
  snprintf(in->uri, sizeof in->uri, "mqtts://127.0.0.1:%u", in->mqtt_port);

  /* The community: CA, broker, aggregator, every meter's identity. */
  char log_dest[DEMO_PATH_MAX + 8];
  snprintf(log_dest, sizeof log_dest, "file %s", in->broker_log);
  struct passwd *pw = getpwuid(geteuid());
  pki_dev_opts po = {.community = in->community,
                     .meters = in->meters,
                     .port = in->mqtt_port,
                     .run_as_user = pw ? pw->pw_name : NULL,
                     .log_dest = log_dest};
  gl_rand rand = gl_rand_system();
  gl_clock real = gl_clock_real();
  pki_why pw_why = {{0}};
  rc = pki_dev_community(in->community_dir, &po, &rand, &real, &pw_why);
  if (rc) {
    demo_fleet_free(f);
    return fail(why, rc, "cannot build the community: %s", pw_why.text);
  }
  rc = broker_config(f, o.broker_extra, why);
  /* The ledger's log key, named after the community's origin. */
  lg_signer signer;
  char origin[64];
  snprintf(origin, sizeof origin, "gridlet/%s", in->community);
  if (rc == 0 && (lg_signer_generate(origin, LG_SIG_ED25519, &rand, &signer) ||
                  lg_signer_write_file(in->ledger_key, &signer) ||
                  lg_vkey_format(&signer.vkey, in->vkey, sizeof in->vkey)))
    rc = fail(why, GL_EIO, "cannot make the ledger's key %s", in->ledger_key);
  lg_signer_wipe(&signer);
  char hh_dir[DEMO_PATH_MAX];
  demo_fleet_path(f, "households", hh_dir);
  if (rc == 0 && mkdir(hh_dir, 0700) != 0 && errno != EEXIST)
    rc = fail(why, GL_EIO, "cannot create %s", hh_dir);
  for (unsigned i = 0; rc == 0 && i < in->meters; i++) {
    demo_meter_info *m = &f->meters[i];
    m->index = i;
    pki_dev_meter_id(&po, i + 1, m->id, sizeof m->id);
    m->synced = i < in->households + o.spare_synced;
    char sub[128], dir[DEMO_PATH_MAX];
    snprintf(sub, sizeof sub, "meters/%s", m->id);
    join(dir, sizeof dir, in->community_dir, sub);
    join(m->cert, sizeof m->cert, dir, "meter.pem");
    join(m->key, sizeof m->key, dir, "meter.key");
    join(m->ca, sizeof m->ca, dir, "ca.pem");
    join(dir, sizeof dir, hh_dir, m->id);
    if (i < in->households && mkdir(dir, 0700) != 0 && errno != EEXIST)
      rc = fail(why, GL_EIO, "cannot create %s", dir);
    join(m->conf, sizeof m->conf, dir, "meter.conf");
    join(m->db, sizeof m->db, dir, "meter.db");
    join(m->log, sizeof m->log, dir, "meter.log");
    if (i < in->households) {
      if (o.homes)
        m->home = o.homes[i];
      else
        demo_mix_household(i, &m->home);
    }
  }
  if (rc == 0)
    rc = aggregator_config(f, &o, why);
  if (rc == 0)
    rc = enrol_at_aggregator(f, why);
  for (unsigned i = 0; rc == 0 && i < in->households; i++)
    rc = demo_fleet_meter_config(f, i, NULL, why);
  if (rc) {
    demo_fleet_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

static int rmtree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return -1;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (!d)
      return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      char sub[DEMO_PATH_MAX];
      if (join(sub, sizeof sub, path, e->d_name))
        rmtree(sub);
    }
    closedir(d);
    return rmdir(path);
  }
  return unlink(path);
}

void demo_fleet_free(demo_fleet *f) {
  if (!f)
    return;
  demo_fleet_stop(f);
  gl_accel_clock_free(f->accel);
  if (f->remove_dir && f->info.dir[0])
    rmtree(f->info.dir);
  free(f->meters);
  free(f->sim_port);
  free(f);
}

void demo_fleet_remove_dir(demo_fleet *f, bool remove) {
  f->remove_dir = remove;
}

const demo_fleet_info *demo_fleet_get_info(const demo_fleet *f) {
  return &f->info;
}

const demo_meter_info *demo_fleet_meter(const demo_fleet *f, unsigned i) {
  return i < f->info.meters ? &f->meters[i] : NULL;
}

/* ---- The processes --------------------------------------------------------
 */

static bool cancelled(const demo_fleet *f) {
  return f->cancel && *f->cancel;
}

int demo_fleet_broker_start(demo_fleet *f, demo_why *why) {
  if (f->broker > 0)
    return 0;
  char conf[DEMO_PATH_MAX], out[DEMO_PATH_MAX];
  join(conf, sizeof conf, f->info.community_dir, "broker/mosquitto.conf");
  demo_fleet_path(f, "mosquitto.out", out);
  const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0
                        ? "/usr/sbin/mosquitto"
                        : "mosquitto";
  char *argv[] = {(char *)bin, "-c", conf, NULL};
  int rc = demo_proc_spawn(argv, out, NULL, &f->broker);
  if (rc)
    return fail(why, rc, "cannot start mosquitto (%s): is it installed?",
                gl_strerror(rc));
  for (int waited = 0; waited < START_TIMEOUT_MS; waited += 20) {
    if (port_open(f->info.mqtt_port))
      return 0;
    if (!demo_proc_alive(f->broker) || cancelled(f))
      break;
    demo_sleep_ms(20, NULL);
  }
  demo_fleet_broker_kill9(f);
  return proc_failed(why, GL_ETIMEDOUT, "mosquitto", f->info.broker_log);
}

void demo_fleet_broker_stop(demo_fleet *f) {
  demo_proc_stop(f->broker, 5000, NULL);
  f->broker = 0;
}

void demo_fleet_broker_kill9(demo_fleet *f) {
  demo_proc_kill9(f->broker);
  f->broker = 0;
}

int demo_fleet_broker_reload(demo_fleet *f) {
  return f->broker > 0 && kill(f->broker, SIGHUP) == 0 ? 0 : GL_ESTATE;
}

int demo_fleet_aggregator_start(demo_fleet *f, demo_why *why) {
  if (f->agg > 0)
    return 0;
  char bin[DEMO_PATH_MAX];
  program(f, "aggregator", bin);
  char *argv[] = {
      bin, "run", "-c", f->info.agg_conf, "--clock", f->info.clock_spec, NULL};
  int rc = demo_proc_spawn(argv, f->info.agg_log, NULL, &f->agg);
  if (rc)
    return proc_failed(why, rc, "gridlet-aggregator", f->info.agg_log);
  /* Up when the API answers and the broker has granted the subscription:
   * from then on no reading can pass it by. */
  for (int waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
    int64_t v = 0;
    if (demo_fleet_metric(f, "gridlet_aggregator_mqtt_connected", &v) == 0 &&
        v == 1)
      return 0;
    if (!demo_proc_alive(f->agg) || cancelled(f))
      break;
    demo_sleep_ms(50, NULL);
  }
  rc = demo_proc_alive(f->agg) ? GL_ETIMEDOUT : GL_ECONN;
  demo_fleet_aggregator_kill9(f);
  return proc_failed(why, rc, "gridlet-aggregator", f->info.agg_log);
}

void demo_fleet_aggregator_stop(demo_fleet *f, int *status) {
  demo_proc_stop(f->agg, 15000, status);
  f->agg = 0;
}

void demo_fleet_aggregator_kill9(demo_fleet *f) {
  demo_proc_kill9(f->agg);
  f->agg = 0;
}

int demo_fleet_aggregator_reload(demo_fleet *f) {
  return f->agg > 0 && kill(f->agg, SIGHUP) == 0 ? 0 : GL_ESTATE;
}

pid_t demo_fleet_aggregator_pid(const demo_fleet *f) {
  return f->agg;
}

/* Read simulator k's ports from its output once it says "ready". */
static int sim_ports(demo_fleet *f, unsigned k, const char *log,
                     demo_why *why) {
  for (int waited = 0; waited < START_TIMEOUT_MS; waited += 20) {
    FILE *fp = fopen(log, "r");
    bool ready = false;
    if (fp) {
      char line[512];
      while (fgets(line, sizeof line, fp)) {
        int h;
        unsigned p;
        if (sscanf(line, "listen household=%d tcp=127.0.0.1:%u", &h, &p) == 2 &&
            h >= 0 && h < DEMO_HOUSEHOLDS_PER_SIM && p > 0 && p < 65536) {
          unsigned idx = k * DEMO_HOUSEHOLDS_PER_SIM + (unsigned)h;
          if (idx < f->info.households)
            f->sim_port[idx] = (uint16_t)p;
        }
        if (strcmp(line, "ready\n") == 0)
          ready = true;
      }
      fclose(fp);
    }
    if (ready)
      return 0;
    if (!demo_proc_alive(f->sims[k]) || cancelled(f))
      break;
    demo_sleep_ms(20, NULL);
  }
  return proc_failed(why, GL_ETIMEDOUT, "gridlet-sim devices", log);
}

int demo_fleet_sim_start(demo_fleet *f, demo_why *why) {
  if (f->nsims)
    return 0;
  char bin[DEMO_PATH_MAX];
  program(f, "sim", bin);
  unsigned n = f->info.households;
  unsigned nsims = (n + DEMO_HOUSEHOLDS_PER_SIM - 1) / DEMO_HOUSEHOLDS_PER_SIM;
  int rc = 0;
  for (unsigned k = 0; rc == 0 && k < nsims; k++) {
    unsigned first = k * DEMO_HOUSEHOLDS_PER_SIM;
    unsigned count = n - first < DEMO_HOUSEHOLDS_PER_SIM
                         ? n - first
                         : DEMO_HOUSEHOLDS_PER_SIM;
    /* devices -n N --seed S --clock C --log-level warn + 2 per household */
    size_t argc = 11 + 2 * (size_t)count;
    char **argv = calloc(argc + 1, sizeof *argv);
    char(*specs)[96] = calloc(count, sizeof *specs);
    char num[16], seed[24], log[DEMO_PATH_MAX], name[32];
    if (!argv || !specs) {
      free(argv);
      free(specs);
      return fail(why, GL_ENOMEM, "out of memory");
    }
    snprintf(num, sizeof num, "%u", count);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(f->seed + k));
    snprintf(name, sizeof name, "sim-%u.log", k);
    demo_fleet_path(f, name, log);
    size_t a = 0;
    argv[a++] = bin;
    argv[a++] = "devices";
    argv[a++] = "-n";
    argv[a++] = num;
    argv[a++] = "--seed";
    argv[a++] = seed;
    argv[a++] = "--clock";
    argv[a++] = f->info.clock_spec;
    argv[a++] = "--log-level";
    argv[a++] = "warn";
    for (unsigned h = 0; h < count; h++) {
      demo_mix_sim_spec(&f->meters[first + h].home, h, specs[h],
                        sizeof specs[h]);
      argv[a++] = "--household";
      argv[a++] = specs[h];
    }
    argv[a] = NULL;
    rc = demo_proc_spawn(argv, log, NULL, &f->sims[k]);
    free(argv);
    free(specs);
    if (rc)
      return proc_failed(why, rc, "gridlet-sim devices", log);
    f->nsims = k + 1;
    rc = sim_ports(f, k, log, why);
  }
  /* The meters' configurations name the ports the simulators got. */
  for (unsigned i = 0; rc == 0 && i < n; i++)
    rc = demo_fleet_meter_config(f, i, NULL, why);
  return rc;
}

void demo_fleet_sim_stop(demo_fleet *f) {
  demo_proc_stop_all(f->sims, NULL, f->nsims, 10000);
  f->nsims = 0;
}

int demo_fleet_meter_start(demo_fleet *f, unsigned i, demo_why *why) {
  if (i >= f->info.households)
    return fail(why, GL_EINVAL, "no household %u", i);
  demo_meter_info *m = &f->meters[i];
  if (m->pid > 0)
    return 0;
  char bin[DEMO_PATH_MAX];
  program(f, "meter", bin);
  char *argv[] = {
      bin, "run", "--config", m->conf, "--clock", f->info.clock_spec, NULL};
  int rc = demo_proc_spawn(argv, m->log, NULL, &m->pid);
  return rc ? proc_failed(why, rc, m->id, m->log) : 0;
}

void demo_fleet_meter_stop(demo_fleet *f, unsigned i, int *status) {
  if (i >= f->info.meters)
    return;
  demo_proc_stop(f->meters[i].pid, 15000, status);
  f->meters[i].pid = 0;
}

void demo_fleet_meter_kill9(demo_fleet *f, unsigned i) {
  if (i >= f->info.meters)
    return;
  demo_proc_kill9(f->meters[i].pid);
  f->meters[i].pid = 0;
}

void demo_fleet_meters_stop(demo_fleet *f) {
  unsigned n = f->info.meters;
  pid_t *pids = calloc(n ? n : 1, sizeof *pids);
  if (!pids) {
    for (unsigned i = 0; i < n; i++)
      demo_fleet_meter_stop(f, i, NULL);
    return;
  }
  for (unsigned i = 0; i < n; i++)
    pids[i] = f->meters[i].pid;
  demo_proc_stop_all(pids, NULL, n, 15000);
  for (unsigned i = 0; i < n; i++)
    f->meters[i].pid = 0;
  free(pids);
}

int demo_fleet_start(demo_fleet *f, demo_why *why) {
  /* The one clock: virtual time vstart lead_ms from now. */
  gl_clock real = gl_clock_real();
  gl_clock_spec spec = {0};
  if (f->info.speed > 0) {
    spec.accel = true;
    spec.speed = f->info.speed;
    spec.virtual_start = f->vstart;
    spec.real_anchor = gl_clock_now(&real) + (int64_t)f->lead_ms * GL_NS_PER_MS;
  }
  gl_clock_spec_format(&spec, f->info.clock_spec);
  gl_accel_clock_free(f->accel);
  f->accel = NULL;
  int rc = gl_clock_spec_open(&spec, &f->clock, &f->accel);
  if (rc)
    return fail(why, rc, "the clock %s cannot run", f->info.clock_spec);
  f->clock_set = true;
  rc = demo_fleet_broker_start(f, why);
  if (rc == 0)
    rc = demo_fleet_aggregator_start(f, why);
  if (rc == 0)
    rc = demo_fleet_sim_start(f, why);
  for (unsigned i = 0; rc == 0 && i < f->info.households; i++)
    rc = demo_fleet_meter_start(f, i, why);
  if (rc == 0 && cancelled(f))
    rc = fail(why, GL_ECLOSED, "stopped");
  return rc;
}

static int gone(demo_why *why, pid_t *pid, const char *what, const char *log) {
  *pid = 0;
  char tail[300];
  log_tail(log, tail, sizeof tail);
  return fail(why, GL_ESTATE, "%s exited; the end of %s:\n%s", what, log, tail);
}

int demo_fleet_check_alive(demo_fleet *f, demo_why *why) {
  if (f->broker > 0 && !demo_proc_alive(f->broker))
    return gone(why, &f->broker, "mosquitto", f->info.broker_log);
  if (f->agg > 0 && !demo_proc_alive(f->agg))
    return gone(why, &f->agg, "gridlet-aggregator", f->info.agg_log);
  for (unsigned k = 0; k < f->nsims; k++)
    if (f->sims[k] > 0 && !demo_proc_alive(f->sims[k])) {
      char name[32], log[DEMO_PATH_MAX];
      snprintf(name, sizeof name, "sim-%u.log", k);
      return gone(why, &f->sims[k], "gridlet-sim devices",
                  demo_fleet_path(f, name, log));
    }
  for (unsigned i = 0; i < f->info.meters; i++) {
    demo_meter_info *m = &f->meters[i];
    if (m->pid > 0 && !demo_proc_alive(m->pid))
      return gone(why, &m->pid, m->id, m->log);
  }
  return 0;
}

void demo_fleet_stop(demo_fleet *f) {
  demo_fleet_meters_stop(f);
  demo_fleet_sim_stop(f);
  demo_fleet_aggregator_stop(f, NULL);
  demo_fleet_broker_stop(f);
}

/* ---- Time -----------------------------------------------------------------
 */

int64_t demo_fleet_now(const demo_fleet *f) {
  if (!f->clock_set) {
    gl_clock real = gl_clock_real();
    return gl_clock_now(&real);
  }
  return gl_clock_now(&f->clock);
}

int64_t demo_fleet_real_ms(const demo_fleet *f, int64_t virtual_ns) {
  int64_t speed = f->info.speed > 0 ? f->info.speed : 1;
  return virtual_ns / speed / GL_NS_PER_MS;
}

int demo_fleet_sleep_ms(demo_fleet *f, int ms) {
  return demo_sleep_ms(ms, f->cancel) ? 0 : GL_ECLOSED;
}

int demo_fleet_sleep_until(demo_fleet *f, int64_t v) {
  for (;;) {
    int64_t left = demo_fleet_real_ms(f, v - demo_fleet_now(f));
    if (left <= 0)
      return 0;
    if (demo_fleet_sleep_ms(f, left > 200 ? 200 : (int)left + 1))
      return GL_ECLOSED;
  }
}

/* ---- The API --------------------------------------------------------------
 */

int demo_fleet_http(demo_fleet *f, const char *path, int *status, char **body) {
  return demo_http_get(f->info.http_port, path, HTTP_TIMEOUT_MS, status, body,
                       NULL);
}

int demo_fleet_metrics(demo_fleet *f, char **text_out) {
  int st = 0;
  int rc = demo_fleet_http(f, "/metrics", &st, text_out);
  if (rc == 0 && st != 200) {
    free(*text_out);
    *text_out = NULL;
    rc = GL_EPROTO;
  }
  return rc;
}

int demo_fleet_metric(demo_fleet *f, const char *series, int64_t *value) {
  char *body = NULL;
  int rc = demo_fleet_metrics(f, &body);
  if (rc == 0)
    rc = demo_metric_value(body, series, value);
  free(body);
  return rc;
}

int demo_fleet_wait_settled(demo_fleet *f, int64_t start, bool published,
                            int timeout_ms) {
  char path[128], ts[GL_TIME_STR_MAX];
  snprintf(path, sizeof path, "/v1/intervals/%s", gl_time_format(start, ts));
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    int st = 0;
    char *body = NULL;
    if (demo_fleet_http(f, path, &st, &body) == 0 && st == 200) {
      json_t *j = json_loads(body, 0, NULL);
      const char *state = json_string_value(json_object_get(j, "state"));
      bool done = state && (published ? strcmp(state, "published") == 0
                                      : strcmp(state, "settled") != 0);
      json_decref(j);
      if (done) {
        free(body);
        return 0;
      }
    }
    free(body);
    if (demo_fleet_sleep_ms(f, 50))
      return GL_ECLOSED;
  }
  return GL_ETIMEDOUT;
}

/* ---- Tools ----------------------------------------------------------------
 */

int demo_fleet_tool(demo_fleet *f, const char *tool, char *const args[],
                    const char *out, int *code) {
  char bin[DEMO_PATH_MAX], log[DEMO_PATH_MAX];
  program(f, tool, bin);
  if (!bin[0])
    return GL_EINVAL;
  size_t n = 0;
  while (args && args[n])
    n++;
  char **argv = calloc(n + 2, sizeof *argv);
  if (!argv)
    return GL_ENOMEM;
  argv[0] = bin;
  for (size_t i = 0; i < n; i++)
    argv[i + 1] = args[i];
  argv[n + 1] = NULL;
  if (!out)
    out = demo_fleet_path(f, "tools.log", log);
  int rc = demo_proc_run(argv, out, 120000, code);
  free(argv);
  return rc;
}
