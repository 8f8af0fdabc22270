/* SPDX-License-Identifier: MIT */
/*
 * gridlet-demo - a neighbourhood trading energy for a day, every part real
 * (`make demo`; docs/quickstart.md explains every line it prints).
 *
 * A thin shell over the demo library: parse the options, build the fleet
 * (demo_fleet.h), start it, print one line per settled interval from the
 * aggregator's HTTP API, then check what a sceptical household would
 * check: one reading's inclusion proof (fetched from the aggregator,
 * verified with gridlet-ledger against the published key), the meters'
 * own proof checks, a full independent audit of the ledger, and the
 * cross-entry rules (demo_check.h); and print the balances against the
 * no-trading baseline. Every process it started is stopped by PID at the
 * end, on an error, and on Ctrl-C.
 *
 * Exit status: 0 everything ran and every check passed; 1 a check failed
 * or a process did not start; 2 bad options; 130 interrupted.
 */
#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/crypto.h"
#include "gridlet/demo_check.h"
#include "gridlet/demo_fleet.h"
#include "gridlet/demo_http.h"
#include "gridlet/demo_show.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/log.h"
#include "gridlet/mtr_store.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef DEMO_SOURCE_DIR
#define DEMO_SOURCE_DIR ""
#endif

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* ---- Options --------------------------------------------------------------
 */

typedef struct opts {
  unsigned households;
  const char *mode, *rule, *interval, *fee, *retail, *feed_in;
  const char *currency, *dir, *date, *from, *to;
  uint32_t speed;
  bool real_time, clean;
  unsigned intervals; /* --intervals, 0: from..to */
  uint64_t seed;
} opts;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: gridlet-demo [options]\n"
      "\n"
      "A neighbourhood of households trading energy, every part real: a TLS\n"
      "broker, gridlet-aggregator, one gridlet-meter per household reading\n"
      "simulated inverters, batteries and grid meters over Modbus TCP, a\n"
      "verifiable ledger. All on one accelerated clock. See "
      "docs/quickstart.md.\n"
      "\n"
      "  -n, --households N   households (1..%d, default 10)\n"
      "      --mode M         expost (default), exante or continuous\n"
      "      --rule R         marginal (default), k, mcafee or pay-as-bid\n"
      "      --fee F          local network fee per kWh (default 0.01)\n"
      "      --retail P       the utility's price per kWh (default 0.30)\n"
      "      --feed-in P      what the utility pays per kWh (default 0.08)\n"
      "      --currency C     the name shown for money (default EUR)\n"
      "      --date D         the simulated day, YYYY-MM-DD (default "
      "2026-04-20)\n"
      "      --from HH:MM     first interval, UTC = solar time (default "
      "05:00)\n"
      "      --to HH:MM       end of the last interval (default 20:00)\n"
      "      --interval I     market interval (default 15m)\n"
      "      --speed N        the clock runs N times real time (default 900:\n"
      "                       a 15-minute interval per second)\n"
      "      --real-time      the real clock, from now on (with "
      "--intervals)\n"
      "      --intervals N    run N intervals (default: --from to --to; 4 "
      "with\n"
      "                       --real-time)\n"
      "      --seed N         the simulated households' weather (default 42)\n"
      "      --dir DIR        work directory (default: a new one in $TMPDIR)\n"
      "      --clean          delete the work directory at the end\n"
      "  -h, --help           this text\n",
      DEMO_MAX_METERS);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("gridlet-demo: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  return 2;
}

static bool num(const char *v, int64_t lo, int64_t hi, int64_t *out) {
  return gl_conf_parse_int(v, out) == 0 && *out >= lo && *out <= hi;
}

static bool one_of(const char *v, const char *const *names) {
  for (; *names; names++)
    if (strcmp(v, *names) == 0)
      return true;
  return false;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){.households = 10,
              .mode = "expost",
              .rule = "marginal",
              .interval = "15m",
              .fee = "0.01",
              .retail = "0.30",
              .feed_in = "0.08",
              .currency = "EUR",
              .date = "2026-04-20",
              .from = "05:00",
              .to = "20:00",
              .speed = 900,
              .seed = 42};
  enum {
    O_MODE = 256,
    O_RULE,
    O_FEE,
    O_RETAIL,
    O_FEED_IN,
    O_CURRENCY,
    O_DATE,
    O_FROM,
    O_TO,
    O_INTERVAL,
    O_SPEED,
    O_REAL,
    O_INTERVALS,
    O_SEED,
    O_DIR,
    O_CLEAN
  };
  static const struct option longopts[] = {
      {"households", required_argument, NULL, 'n'},
      {"mode", required_argument, NULL, O_MODE},
      {"rule", required_argument, NULL, O_RULE},
      {"fee", required_argument, NULL, O_FEE},
      {"retail", required_argument, NULL, O_RETAIL},
      {"feed-in", required_argument, NULL, O_FEED_IN},
      {"currency", required_argument, NULL, O_CURRENCY},
      {"date", required_argument, NULL, O_DATE},
      {"from", required_argument, NULL, O_FROM},
      {"to", required_argument, NULL, O_TO},
      {"interval", required_argument, NULL, O_INTERVAL},
      {"speed", required_argument, NULL, O_SPEED},
      {"real-time", no_argument, NULL, O_REAL},
      {"intervals", required_argument, NULL, O_INTERVALS},
      {"seed", required_argument, NULL, O_SEED},
      {"dir", required_argument, NULL, O_DIR},
      {"clean", no_argument, NULL, O_CLEAN},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  static const char *const modes[] = {"expost", "exante", "continuous", NULL};
  static const char *const rules[] = {"marginal", "k", "mcafee", "pay-as-bid",
                                      NULL};
  int c;
  int64_t x;
  while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'n':
      if (!num(optarg, 1, DEMO_MAX_METERS, &x))
        return bad("--households must be 1..%d", DEMO_MAX_METERS);
      o->households = (unsigned)x;
      break;
    case O_MODE:
      if (!one_of(optarg, modes))
        return bad("--mode must be expost, exante or continuous");
      o->mode = optarg;
      break;
    case O_RULE:
      if (!one_of(optarg, rules))
        return bad("--rule must be marginal, k, mcafee or pay-as-bid");
      o->rule = optarg;
      break;
    case O_FEE:
      o->fee = optarg;
      break;
    case O_RETAIL:
      o->retail = optarg;
      break;
    case O_FEED_IN:
      o->feed_in = optarg;
      break;
    case O_CURRENCY:
      o->currency = optarg;
      break;
    case O_DATE:
      o->date = optarg;
      break;
    case O_FROM:
      o->from = optarg;
      break;
    case O_TO:
      o->to = optarg;
      break;
    case O_INTERVAL:
      o->interval = optarg;
      break;
    case O_SPEED:
      if (!num(optarg, 1, GL_ACCEL_SPEED_MAX, &x))
        return bad("--speed must be 1..%u", GL_ACCEL_SPEED_MAX);
      o->speed = (uint32_t)x;
      break;
    case O_REAL:
      o->real_time = true;
      break;
    case O_INTERVALS:
      if (!num(optarg, 1, 10000, &x))
        return bad("--intervals must be 1..10000");
      o->intervals = (unsigned)x;
      break;
    case O_SEED:
      if (!num(optarg, 1, INT64_MAX, &x))
        return bad("--seed must be a positive number");
      o->seed = (uint64_t)x;
      break;
    case O_DIR:
      o->dir = optarg;
      break;
    case O_CLEAN:
      o->clean = true;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc)
    return bad("unexpected argument \"%s\"", argv[optind]);
  return 0;
}

/* ---- Small helpers --------------------------------------------------------
 */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *get_json(demo_fleet *f, const char *path) {
  int st = 0;
  char *body = NULL;
  json_t *j = NULL;
  if (demo_fleet_http(f, path, &st, &body) == 0 && st == 200)
    j = json_loads(body, 0, NULL);
  free(body);
  return j;
}

static int64_t jint(json_t *o, const char *key) {
  return (int64_t)json_integer_value(json_object_get(o, key));
}

static void hhmm(int64_t t, char out[6]) {
  char b[GL_TIME_STR_MAX];
  gl_time_format(t, b);
  memcpy(out, b + 11, 5);
  out[5] = '\0';
}

static void hex(const uint8_t *b, size_t n, char *out) {
  gl_hex_encode(b, n, out);
}

/* The build tree this program lives in, if it does. */
static bool build_tree(char out[DEMO_PATH_MAX]) {
  char exe[DEMO_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return false;
  exe[n] = '\0';
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(exe, '/');
    if (!slash)
      return false;
    *slash = '\0';
  }
  char probe[DEMO_PATH_MAX + 40];
  snprintf(probe, sizeof probe, "%s/aggregator/gridlet-aggregator", exe);
  if (access(probe, X_OK) != 0)
    return false;
  snprintf(out, DEMO_PATH_MAX, "%s", exe);
  return true;
}

/* ---- The run --------------------------------------------------------------
 */

typedef struct run {
  opts o;
  demo_fleet *f;
  const demo_fleet_info *in;
  int64_t from, to, L;
  int64_t retail, feed_in, fee;
  int64_t refused_seen, late_seen;
  int64_t printed; /* intervals printed */
  int64_t traded, bought_grid, sold_grid;
  int failures;
} run;

static void section(const char *title) {
  printf("\n%s\n", title);
}

static void result(run *r, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result(run *r, bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("  %s ", ok ? "[ok]  " : "[FAIL]");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (!ok)
    r->failures++;
}

static void print_households(run *r) {
  section("The neighbourhood");
  printf(" household  installation                  load (standby / evening "
         "peak)  trading limits\n");
  for (unsigned i = 0; i < r->in->households; i++) {
    const demo_meter_info *m = demo_fleet_meter(r->f, i);
    char home[48], lim[64] = "any price in the band";
    demo_describe_home(&m->home, home, sizeof home);
    if (m->home.buy_below)
      snprintf(lim, sizeof lim, "buys locally below %s", m->home.buy_below);
    else if (m->home.sell_above)
      snprintf(lim, sizeof lim, "sells locally above %s", m->home.sell_above);
    printf(" %-10s %-28s %5u W / %5u W                  %s\n", m->id, home,
           m->home.base_w, m->home.peak_w, lim);
  }
}

/* Print every interval settled since the last call; true once `to` is
 * reached. */
static bool print_new_intervals(run *r, int64_t *next) {
  char path[160], t[GL_TIME_STR_MAX];
  snprintf(path, sizeof path, "/v1/intervals?order=asc&limit=200&from=%s",
           gl_time_format(*next, t));
  json_t *j = get_json(r->f, path);
  json_t *a = json_object_get(j, "intervals");
  char *metrics = NULL;
  int64_t refused = r->refused_seen, late = r->late_seen;
  if (json_array_size(a) && demo_fleet_metrics(r->f, &metrics) == 0) {
    demo_metric_sum(metrics, "gridlet_aggregator_messages_rejected_total",
                    &refused);
    demo_metric_value(metrics, "gridlet_aggregator_readings_late_total", &late);
  }
  free(metrics);
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *iv = json_array_get(a, i);
    int64_t start = 0;
    if (gl_time_parse(json_string_value(json_object_get(iv, "start")),
                      &start) != 0 ||
        start < *next)
      continue;
    demo_interval_view v = {.start = start,
                            .traded_wh = jint(iv, "traded_wh"),
                            .grid_import_wh = jint(iv, "grid_import_wh"),
                            .grid_export_wh = jint(iv, "grid_export_wh"),
                            .meters = jint(iv, "meters"),
                            .missing = jint(iv, "missing"),
                            .refused = refused - r->refused_seen,
                            .late = late - r->late_seen};
    json_t *price = json_object_get(iv, "price");
    v.has_price = json_is_integer(price) && v.traded_wh > 0;
    v.price = (int64_t)json_integer_value(price);
    r->refused_seen = refused;
    r->late_seen = late;
    demo_show_interval(stdout, &v);
    r->printed++;
    r->traded += v.traded_wh;
    r->bought_grid += v.grid_import_wh;
    r->sold_grid += v.grid_export_wh;
    *next = start + r->L;
  }
  json_decref(j);
  return *next >= r->to;
}

/*
 * One household's reading, checked as that household would: the entries
 * its result cites, the inclusion proof the aggregator serves for the
 * reading's digest, verified by gridlet-ledger against the published key;
 * and the digest compared with the bytes the meter itself signed.
 */
static void check_inclusion(run *r, unsigned meter, int64_t start) {
  const demo_meter_info *m = demo_fleet_meter(r->f, meter);
  char path[200], t[GL_TIME_STR_MAX], when[6];
  hhmm(start, when);
  snprintf(path, sizeof path, "/v1/intervals/%s", gl_time_format(start, t));
  json_t *iv = get_json(r->f, path);
  int64_t size = jint(json_object_get(iv, "ledger"), "checkpoint");
  json_t *rows = json_object_get(iv, "settlements");
  int64_t index = -1;
  for (size_t i = 0; i < json_array_size(rows) && index < 0; i++) {
    json_t *row = json_array_get(rows, i);
    if (strcmp(json_string_value(json_object_get(row, "meter")), m->id) != 0)
      continue;
    json_t *refs = json_object_get(row, "ledger_entries");
    for (size_t k = 0; k < json_array_size(refs) && index < 0; k++) {
      int64_t e = (int64_t)json_integer_value(json_array_get(refs, k));
      snprintf(path, sizeof path, "/v1/ledger/entries/%" PRId64, e);
      json_t *ent = get_json(r->f, path);
      const char *type = json_string_value(json_object_get(ent, "type"));
      if (type && strcmp(type, "reading") == 0)
        index = e;
      json_decref(ent);
    }
  }
  json_decref(iv);
  if (index < 0 || size <= index) {
    result(r, false, "%s's result for %s cites no reading digest", m->id, when);
    return;
  }
  snprintf(path, sizeof path,
           "/v1/proofs/inclusion?index=%" PRId64 "&size=%" PRId64, index, size);
  json_t *p = get_json(r->f, path);
  const char *note = json_string_value(json_object_get(p, "checkpoint"));
  const char *entry_b64 = json_string_value(json_object_get(p, "entry"));
  json_t *hashes = json_object_get(p, "path");
  uint8_t entry[LG_ENTRY_MAX > 4096 ? 4096 : LG_ENTRY_MAX];
  size_t elen = 0;
  if (!note || !entry_b64 ||
      gl_base64_decode(entry_b64, strlen(entry_b64), entry, sizeof entry,
                       &elen) != 0) {
    result(r, false, "the aggregator served no proof for entry %" PRId64,
           index);
    json_decref(p);
    return;
  }
  /* The checkpoint, against the ledger's published key. */
  char note_file[DEMO_PATH_MAX], out[DEMO_PATH_MAX];
  demo_fleet_path(r->f, "proof-checkpoint.txt", note_file);
  demo_fleet_path(r->f, "proof.txt", out);
  FILE *fp = fopen(note_file, "w");
  if (fp) {
    fputs(note, fp);
    fclose(fp);
  }
  int code = -1;
  char *vc[] = {"verify-checkpoint", "--vkey", (char *)r->in->vkey, note_file,
                NULL};
  remove(out);
  demo_fleet_tool(r->f, "ledger", vc, out, &code);
  bool cp_ok = code == 0;
  /* The root is the note's third line (base64). */
  char root_hex[2 * LG_HASH_LEN + 1] = "";
  const char *l2 = strchr(note, '\n');
  const char *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
  if (l3) {
    const char *end = strchr(l3 + 1, '\n');
    uint8_t root[64];
    size_t rl = 0;
    if (end &&
        gl_base64_decode(l3 + 1, (size_t)(end - l3 - 1), root, sizeof root,
                         &rl) == 0 &&
        rl == LG_HASH_LEN)
      hex(root, rl, root_hex);
  }
  /* The leaf hash of the entry as served: RFC 9162, SHA-256(0x00 || e). */
  uint8_t zero = 0, leaf[GL_SHA256_LEN];
  gl_bytes parts[2] = {{&zero, 1}, {entry, elen}};
  char leaf_hex[2 * GL_SHA256_LEN + 1] = "";
  if (gl_sha256_parts(parts, 2, leaf) == 0)
    hex(leaf, sizeof leaf, leaf_hex);
  size_t n = json_array_size(hashes);
  char **argv = calloc(10 + n, sizeof *argv);
  char(*hx)[2 * LG_HASH_LEN + 1] = calloc(n ? n : 1, sizeof *hx);
  char idx[24], sz[24];
  snprintf(idx, sizeof idx, "%" PRId64, index);
  snprintf(sz, sizeof sz, "%" PRId64, size);
  int vcode = -1;
  if (argv && hx) {
    size_t a = 0;
    argv[a++] = "verify-inclusion";
    argv[a++] = "--leaf-hash";
    argv[a++] = leaf_hex;
    argv[a++] = "--index";
    argv[a++] = idx;
    argv[a++] = "--size";
    argv[a++] = sz;
    argv[a++] = "--root";
    argv[a++] = root_hex;
    for (size_t i = 0; i < n; i++) {
      const char *b = json_string_value(json_array_get(hashes, i));
      uint8_t h[64];
      size_t hl = 0;
      if (b && gl_base64_decode(b, strlen(b), h, sizeof h, &hl) == 0 &&
          hl == LG_HASH_LEN)
        hex(h, hl, hx[i]);
      argv[a++] = hx[i];
    }
    argv[a] = NULL;
    demo_fleet_tool(r->f, "ledger", argv, out, &vcode);
  }
  free(argv);
  free(hx);
  json_decref(p);
  /* What the entry says, and whether it is what the meter signed. */
  lg_entry e;
  bool mine = false;
  if (lg_entry_decode(entry, elen, &e, NULL) == 0) {
    if (e.type == LG_ENTRY_READING &&
        strcmp(e.u.reading.meter_id, m->id) == 0 &&
        e.u.reading.interval_start == start) {
      mtr_store *s = NULL;
      mtr_store_opts so = {.read_only = true};
      mtr_reading_row *row = malloc(sizeof *row);
      uint8_t d[GL_SHA256_LEN];
      if (row && mtr_store_open(m->db, &so, &s) == 0 &&
          mtr_store_reading_by_start(s, start, row) == 0 &&
          gl_sha256(row->bytes, row->len, d) == 0)
        mine = gl_memeq_ct(d, e.u.reading.msg_digest, sizeof d) &&
               (int64_t)e.u.reading.seq == row->seq;
      mtr_store_free(s);
      free(row);
    }
    lg_entry_clear(&e);
  }
  result(r, cp_ok,
         "checkpoint of size %" PRId64
         " signed by the ledger's key (gridlet-ledger verify-checkpoint)",
         size);
  result(r, vcode == 0,
         "%s's reading for %s is entry %" PRId64
         " of that checkpoint: the inclusion proof of %zu hashes is valid "
         "(gridlet-ledger verify-inclusion)",
         m->id, when, index, n);
  result(r, mine,
         "the entry holds the SHA-256 of the very bytes %s signed (from its "
         "own database)",
         m->id);
}

/* `gridlet-meter status` of a household: its own proof checks. */
static void meter_status(run *r, unsigned meter) {
  const demo_meter_info *m = demo_fleet_meter(r->f, meter);
  char out[DEMO_PATH_MAX];
  demo_fleet_path(r->f, "meter-status.txt", out);
  remove(out);
  char *args[] = {"status", "--config", (char *)m->conf, NULL};
  int code = -1;
  demo_fleet_tool(r->f, "meter", args, out, &code);
  FILE *fp = fopen(out, "r");
  char line[512], readings[256] = "", alarms[128] = "";
  while (fp && fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "readings ", 9) == 0)
      snprintf(readings, sizeof readings, "%s",
               line + 9 + strspn(line + 9, " "));
    if (strncmp(line, "alarms ", 7) == 0)
      snprintf(alarms, sizeof alarms, "%s", line + 7 + strspn(line + 7, " "));
  }
  if (fp)
    fclose(fp);
  result(r, code == 0 && strcmp(alarms, "none") == 0,
         "%s's own checks (gridlet-meter status): %s; alarms: %s", m->id,
         readings[0] ? readings : "?", alarms[0] ? alarms : "?");
}

/* The audit tool's balance lines: "id money fees bought sold gi ge n m". */
static bool auditor_agrees(const char *file, const demo_ledger *l) {
  FILE *fp = fopen(file, "r");
  if (!fp)
    return false;
  char line[512];
  size_t seen = 0;
  bool ok = true;
  while (fgets(line, sizeof line, fp)) {
    char id[80];
    long long v[8];
    if (line[0] == '#' ||
        sscanf(line, "%79s %lld %lld %lld %lld %lld %lld %lld %lld", id, &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9)
      continue;
    demo_balance b;
    if (demo_ledger_balance(l, id, &b) != 0 || b.money != v[0] ||
        b.fees != v[1] || b.local_bought_wh != v[2] ||
        b.local_sold_wh != v[3] || b.grid_import_wh != v[4] ||
        b.grid_export_wh != v[5] || b.intervals != v[6] || b.missing != v[7])
      ok = false;
    seen++;
  }
  fclose(fp);
  return ok && seen == demo_ledger_meter_count(l);
}

static void final_checks(run *r) {
  section("Checking the ledger (the processes are stopped; this is the "
          "database as left)");
  char out[DEMO_PATH_MAX];
  demo_fleet_path(r->f, "audit.txt", out);
  remove(out);
  char *args[] = {"audit",
                  "--db",
                  (char *)r->in->agg_db,
                  "--vkey",
                  (char *)r->in->vkey,
                  "--balances",
                  NULL};
  int code = -1;
  demo_fleet_tool(r->f, "ledger", args, out, &code);
  char line[512] = "", first[512] = "";
  FILE *fp = fopen(out, "r");
  while (fp && fgets(line, sizeof line, fp))
    if (strncmp(line, "audit ", 6) == 0)
      snprintf(first, sizeof first, "%s", line);
  if (fp)
    fclose(fp);
  first[strcspn(first, "\n")] = '\0';
  result(r, code == 0, "independent audit (gridlet-ledger audit): %s",
         first[0] ? first : "no answer");
  demo_why why = {{0}};
  demo_ledger *l = NULL;
  if (demo_ledger_load(r->in->agg_db, r->L, &l, &why) != 0) {
    result(r, false, "reading the ledger: %s", why.text);
    return;
  }
  demo_ledger_stats s;
  demo_ledger_get_stats(l, &s);
  result(r, auditor_agrees(out, l),
         "every household's balance is the sum of its %" PRId64
         " settlement entries, as the auditor recomputed them",
         s.intervals);
  int rc = demo_ledger_verify(l, &why);
  result(r, rc == 0, "%s",
         rc == 0 ? "every interval settled exactly once; energy and money "
                   "conserved in each; every reading logged once, on time or "
                   "by the late rule"
                 : why.text);
  int64_t readings = 0, in = 0, late = 0, pending = 0;
  bool meters_ok = true;
  for (unsigned i = 0; i < r->in->households && meters_ok; i++) {
    const demo_meter_info *m = demo_fleet_meter(r->f, i);
    demo_meter_check mc;
    if (demo_ledger_check_meter(l, m->id, m->db, &mc, &why) != 0 ||
        mc.lost > 0) {
      meters_ok = false;
      break;
    }
    readings += mc.readings;
    in += mc.in_ledger;
    late += mc.late;
    pending += mc.pending + mc.undelivered;
  }
  if (meters_ok)
    result(r, true,
           "the %" PRId64 " readings the meters signed are in the ledger once "
           "each, byte for byte (%" PRId64 " of them late; %" PRId64
           " not yet due)",
           in, late, pending);
  else
    result(r, false, "%s", why.text);
  (void)readings;
  /* The table: balances from the ledger, against the baseline. */
  section("Household balances for the day (+ credited, - paid)");
  size_t n = r->in->households;
  demo_household_view *rows = calloc(n, sizeof *rows);
  for (size_t i = 0; rows && i < n; i++) {
    const demo_meter_info *m = demo_fleet_meter(r->f, (unsigned)i);
    rows[i].id = m->id;
    rows[i].home = &m->home;
    demo_ledger_balance(l, m->id, &rows[i].bal);
    rows[i].baseline = demo_baseline(&rows[i].bal, r->retail, r->feed_in);
  }
  if (rows)
    demo_show_balances(stdout, rows, n, r->o.currency);
  free(rows);
  char fees[DEMO_NUM_MAX], kwh[DEMO_NUM_MAX];
  int64_t fee_total = 0;
  for (size_t i = 0; i < demo_ledger_meter_count(l); i++) {
    demo_balance b;
    if (demo_ledger_balance(l, demo_ledger_meter_id(l, i), &b) == 0)
      fee_total += b.fees;
  }
  printf("\n took/gave: energy taken from / given to others (neighbours or "
         "the grid);\n without trading: the same energy at the utility's "
         "prices;\n gain: what trading with neighbours made (network fees "
         "included: %s %s in all).\n",
         demo_fmt_fixed(fee_total, 1000000, 2, false, fees), r->o.currency);
  printf(" %" PRId64 " trades moved %s kWh between neighbours over %" PRId64
         " intervals.\n",
         s.trades, demo_fmt_kwh(s.traded_wh, kwh), s.intervals);
  demo_ledger_free(l);
  /* The last checkpoint the aggregator signed, from the database. */
  lg_ledger *lg = NULL;
  lg_ledger_options lo = {.read_only = true};
  char *note = NULL;
  lg_checkpoint cp;
  if (lg_ledger_open(r->in->agg_db, &lo, &lg) == 0 &&
      lg_ledger_latest_checkpoint(lg, &note, &cp) == 0 && note) {
    section("The final signed checkpoint (a C2SP signed note: origin, size, "
            "root; signed by the ledger's key)");
    for (char *p = note; *p;) {
      char *nl = strchr(p, '\n');
      printf("    %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
      if (!nl)
        break;
      p = nl + 1;
    }
    printf("  the ledger's verifier key (publish it): %s\n", r->in->vkey);
  }
  free(note);
  lg_ledger_free(lg);
}

static void print_files(run *r) {
  section("Where everything is");
  printf("  %s\n", r->in->dir);
  printf("    aggregator.db        the aggregator's state and the ledger "
         "(SQLite)\n"
         "    aggregator.log       the aggregator's log\n"
         "    mosquitto.log        the broker's log\n"
         "    households/ID/       each meter's meter.conf, meter.db and "
         "meter.log\n"
         "    sim-0.log            the device simulator\n"
         "    community/           CA, certificates and keys, broker "
         "configuration\n"
         "    audit.txt            the auditor's report and balances\n");
  if (r->o.clean)
    printf("  (deleted now: --clean)\n");
  else
    printf("  Look around, e.g.: gridlet-ledger show --db %s/aggregator.db "
           "--from 0 --to 20\n  then remove it: rm -rf %s\n",
           r->in->dir, r->in->dir);
}

static int64_t tariff(json_t *status, const char *key) {
  return jint(json_object_get(status, "tariff"), key);
}

int main(int argc, char **argv) {
  int64_t t0 = mono_ms();
  setvbuf(stdout, NULL, _IOLBF, 0);
  run r = {0};
  int rc = parse(argc, argv, &r.o);
  if (rc)
    return rc;
  gl_log_set_level(GL_LOG_WARN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* The day. */
  if (gl_duration_parse(r.o.interval, &r.L) != 0 || r.L < 60 * GL_NS_PER_SEC ||
      (86400 * GL_NS_PER_SEC) % r.L)
    return bad("--interval must be at least 1m and divide a day");
  char when[64];
  if (r.o.real_time) {
    gl_clock real = gl_clock_real();
    int64_t now = gl_clock_now(&real);
    r.from = (gl_floor_div(now, r.L) + 1) * r.L;
    r.to = r.from + (int64_t)(r.o.intervals ? r.o.intervals : 4) * r.L;
  } else {
    snprintf(when, sizeof when, "%sT%s:00Z", r.o.date, r.o.from);
    if (gl_time_parse(when, &r.from) != 0)
      return bad("bad --date/--from (YYYY-MM-DD, HH:MM): %s", when);
    snprintf(when, sizeof when, "%sT%s:00Z", r.o.date, r.o.to);
    if (gl_time_parse(when, &r.to) != 0)
      return bad("bad --date/--to (YYYY-MM-DD, HH:MM): %s", when);
    r.from = gl_floor_div(r.from, r.L) * r.L;
    if (r.o.intervals)
      r.to = r.from + (int64_t)r.o.intervals * r.L;
    if (r.to <= r.from)
      return bad("--to must be after --from");
  }
  char bin[DEMO_PATH_MAX] = "", profiles[DEMO_PATH_MAX] = "";
  if (build_tree(bin) && DEMO_SOURCE_DIR[0])
    snprintf(profiles, sizeof profiles, "%s/hal/profiles", DEMO_SOURCE_DIR);
  demo_fleet_opts fo = {
      .dir = r.o.dir,
      .bin_dir = bin[0] ? bin : NULL,
      .profile_dir = profiles[0] ? profiles : NULL,
      .households = r.o.households,
      .mode = r.o.mode,
      .rule = r.o.rule,
      .interval = r.o.interval,
      .retail = r.o.retail,
      .feed_in = r.o.feed_in,
      .fee = r.o.fee,
      .speed = r.o.real_time ? 0 : r.o.speed,
      /* The processes start early in the interval before `from` (virtual
       * time runs lead_ms * speed before the anchor too), so the first
       * interval shown is the first whole one every meter measured. */
      .vstart = r.from - r.L + r.L / 10 +
                (int64_t)1500 * GL_NS_PER_MS * (int64_t)r.o.speed,
      .lead_ms = 1500,
      .seed = r.o.seed,
      .log_level = "info",
      .cancel = &stop_flag,
  };
  char span[2][6];
  hhmm(r.from, span[0]);
  hhmm(r.to, span[1]);
  int64_t n_iv = (r.to - r.from) / r.L;
  printf("gridlet demo: %u households trade energy through a real broker, "
         "aggregator and ledger\n",
         r.o.households);
  if (r.o.real_time)
    printf("  the real clock: %" PRId64 " interval%s of %s, %s to %s UTC\n",
           n_iv, n_iv == 1 ? "" : "s", r.o.interval, span[0], span[1]);
  else
    printf("  %s, %s to %s (UTC = solar time): %" PRId64
           " interval%s of %s, each in %.2f s (the clock runs %ux)\n",
           r.o.date, span[0], span[1], n_iv, n_iv == 1 ? "" : "s", r.o.interval,
           (double)r.L / GL_NS_PER_SEC / r.o.speed, r.o.speed);
  printf("  market: %s, %s price; the utility sells at %s and buys at %s "
         "%s/kWh; network fee %s\n",
         r.o.mode, r.o.rule, r.o.retail, r.o.feed_in, r.o.currency, r.o.fee);
  demo_why why = {{0}};
  printf("\nSetting up a throw-away community (CA, broker TLS config and "
         "ACL, %u meter identities) ...\n",
         r.o.households);
  rc = demo_fleet_new(&fo, &r.f, &why);
  if (rc) {
    fprintf(stderr, "gridlet-demo: %s\n", why.text);
    return 1;
  }
  r.in = demo_fleet_get_info(r.f);
  demo_fleet_remove_dir(r.f, r.o.clean);
  print_households(&r);
  printf("\nStarting mosquitto, gridlet-aggregator, gridlet-sim devices and "
         "%u gridlet-meter agents ...\n",
         r.o.households);
  rc = demo_fleet_start(r.f, &why);
  if (rc) {
    if (rc == GL_ECLOSED || stop_flag)
      goto interrupted;
    fprintf(stderr, "gridlet-demo: %s\n", why.text);
    demo_fleet_free(r.f);
    return 1;
  }
  printf("  broker %s, aggregator API http://127.0.0.1:%u, all %u meters "
         "running (%.1f s)\n",
         r.in->uri, r.in->http_port, r.o.households,
         (double)(mono_ms() - t0) / 1000);
  json_t *status = get_json(r.f, "/v1/status");
  r.retail = tariff(status, "retail");
  r.feed_in = tariff(status, "feed_in");
  r.fee = tariff(status, "fee");
  json_decref(status);

  section("Intervals as the aggregator settles them (from its HTTP API)");
  demo_show_interval_header(stdout, r.o.currency);
  int64_t next = r.from;
  /* Give up if an interval takes far longer than it should (ten intervals
   * of real time, at least a minute). */
  int64_t patience = demo_fleet_real_ms(r.f, 10 * r.L);
  if (patience < 60000)
    patience = 60000;
  int64_t last_progress = mono_ms();
  for (;;) {
    int64_t before = next;
    if (print_new_intervals(&r, &next))
      break;
    if (next != before)
      last_progress = mono_ms();
    if (mono_ms() - last_progress > patience) {
      fprintf(stderr, "gridlet-demo: no interval settled for %lld s; see %s\n",
              (long long)(patience / 1000), r.in->agg_log);
      r.failures++;
      break;
    }
    if (demo_fleet_check_alive(r.f, &why) != 0) {
      fprintf(stderr, "gridlet-demo: %s\n", why.text);
      r.failures++;
      break;
    }
    if (demo_fleet_sleep_ms(r.f, 200) != 0)
      goto interrupted;
  }
  char kwh[3][DEMO_NUM_MAX];
  printf("\n  In all: %s kWh traded between neighbours, %s kWh bought from "
         "and %s kWh sold to the grid;\n  neighbours met %d %% of the "
         "demand that was not met at home.\n",
         demo_fmt_kwh(r.traded, kwh[0]), demo_fmt_kwh(r.bought_grid, kwh[1]),
         demo_fmt_kwh(r.sold_grid, kwh[2]),
         demo_share_pct(r.traded, r.traded + r.bought_grid));

  section("A household checks its own reading");
  int64_t mid = r.from + (n_iv / 2) * r.L;
  check_inclusion(&r, 0, mid);
  meter_status(&r, 0);
  printf("\nStopping every process by PID (meters, simulator, aggregator, "
         "broker) ...\n");
  demo_fleet_stop(r.f);
  final_checks(&r);
  print_files(&r);
  printf("\ngridlet demo: %s in %.0f s of wall time.\n",
         r.failures ? "FINISHED WITH PROBLEMS (see above)" : "done",
         (double)(mono_ms() - t0) / 1000);
  demo_fleet_free(r.f);
  return r.failures ? 1 : 0;

interrupted:
  printf("\ngridlet-demo: interrupted; stopping every process it started "
         "...\n");
  demo_fleet_free(r.f);
  printf("gridlet-demo: stopped. The work directory is %s\n",
         r.o.clean ? "deleted" : "kept");
  return 130;
}
