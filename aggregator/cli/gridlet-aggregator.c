/* SPDX-License-Identifier: MIT */
/*
 * gridlet-aggregator - the community aggregator: a thin shell over the
 * aggregator library.
 *
 *   gridlet-aggregator [run]              the daemon (agg_daemon_run)
 *   gridlet-aggregator --check-config     validate the configuration
 *   gridlet-aggregator --print-default-config
 *   gridlet-aggregator meters sync|add|list|set-rated ...   enrolment
 *   gridlet-aggregator export settlements ...               CSV for billing
 *
 * Exit status: 0 success, 1 failure, 2 usage or configuration error.
 */
#include "gridlet/agg_config.h"
#include "gridlet/agg_daemon.h"
#include "gridlet/agg_export.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_store.h"
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/pki_identity.h"
#include "gridlet/pki_trust.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *prog = "gridlet-aggregator";

static const char usage_text[] =
    "usage: gridlet-aggregator [COMMAND] [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run                      run the aggregator (the default)\n"
    "  meters sync [--ca DIR]   enrol every meter of the CA in DIR (default\n"
    "                           pki.ca_dir), mark revoked ones revoked\n"
    "  meters add CERT...       enrol meters from certificate files\n"
    "  meters list              the enrolled meters and their state\n"
    "  meters set-rated METER W rated power of one meter (0: the default)\n"
    "  export settlements [--from T] [--to T] [--meter ID] [--decimal]\n"
    "                    [--out FILE]   settlements as CSV (billing)\n"
    "\n"
    "options:\n"
    "  -c, --config FILE        configuration (default " AGG_CONFIG_DEFAULT_PATH
    ")\n"
    "      --check-config       validate the configuration and the files it\n"
    "                           names, then exit\n"
    "      --print-default-config  the commented default configuration\n"
    "      --clock SPEC         \"real\" or accel:SPEED:VSTART:ANCHOR (the\n"
    "                           clock shared by a demo's processes)\n"
    "      --log-level L        error, warn, notice, info, debug\n"
    "  -h, --help               this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop; SIGHUP reloads the CRL and the meters.\n"
    "See docs/operations/aggregator.md.\n";

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "%s: %s\n\n", prog, msg);
  fputs(usage_text, stderr);
  return 2;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, gl_strerror(rc));
  return 1;
}

typedef struct opts {
  const char *config;
  const char *clock;
  const char *log_level;
  const char *ca;
  const char *from, *to, *meter, *out;
  bool decimal;
  bool check, print_default;
} opts;

enum {
  O_CHECK = 256,
  O_PRINT,
  O_CLOCK,
  O_LEVEL,
  O_CA,
  O_FROM,
  O_TO,
  O_METER,
  O_OUT,
  O_DECIMAL
};

static int parse(int argc, char **argv, int first, opts *o) {
  static const struct option lo[] = {
      {"config", required_argument, NULL, 'c'},
      {"check-config", no_argument, NULL, O_CHECK},
      {"print-default-config", no_argument, NULL, O_PRINT},
      {"clock", required_argument, NULL, O_CLOCK},
      {"log-level", required_argument, NULL, O_LEVEL},
      {"ca", required_argument, NULL, O_CA},
      {"from", required_argument, NULL, O_FROM},
      {"to", required_argument, NULL, O_TO},
      {"meter", required_argument, NULL, O_METER},
      {"out", required_argument, NULL, O_OUT},
      {"decimal", no_argument, NULL, O_DECIMAL},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  optind = first;
  int c;
  while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
    switch (c) {
    case 'c':
      o->config = optarg;
      break;
    case O_CHECK:
      o->check = true;
      break;
    case O_PRINT:
      o->print_default = true;
      break;
    case O_CLOCK:
      o->clock = optarg;
      break;
    case O_LEVEL:
      o->log_level = optarg;
      break;
    case O_CA:
      o->ca = optarg;
      break;
    case O_FROM:
      o->from = optarg;
      break;
    case O_TO:
      o->to = optarg;
      break;
    case O_METER:
      o->meter = optarg;
      break;
    case O_OUT:
      o->out = optarg;
      break;
    case O_DECIMAL:
      o->decimal = true;
      break;
    case 'h':
      fputs(usage_text, stdout);
      exit(0);
    default:
      return -1;
    }
  }
  return optind;
}

/* Load the configuration; on errors print them and return 2. */
static int load_config(const opts *o, agg_config *cfg) {
  const char *path = o->config ? o->config : AGG_CONFIG_DEFAULT_PATH;
  gl_conf_errors errs = {0};
  int rc = agg_config_load(path, cfg, &errs);
  if (rc == GL_ECONFIG) {
    for (int i = 0; i < errs.count && i < GL_CONF_MAX_ERRORS; i++)
      fprintf(stderr, "%s: %s\n", prog, errs.msg[i]);
    if (errs.count > GL_CONF_MAX_ERRORS)
      fprintf(stderr, "%s: ... and %d more errors\n", prog,
              errs.count - GL_CONF_MAX_ERRORS);
    return 2;
  }
  if (rc) {
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, gl_strerror(rc));
    return 2;
  }
  int level = GL_LOG_ERROR + cfg->log_level;
  if (o->log_level && gl_log_level_parse(o->log_level, &level) != 0) {
    fprintf(stderr, "%s: --log-level: error, warn, notice, info or debug\n",
            prog);
    return 2;
  }
  gl_log_set_level(level);
  return 0;
}

/* --check-config: the file, then every file it names. */
static int check_config(const opts *o) {
  agg_config cfg;
  int rc = load_config(o, &cfg);
  if (rc)
    return rc;
  int bad = 0;
  pki_identity *id = NULL;
  pki_why why = {{0}};
  if (pki_identity_load(cfg.mqtt_cert, cfg.mqtt_key, &id, &why) != 0) {
    fprintf(stderr, "%s: mqtt.cert/mqtt.key: %s\n", prog, why.text);
    bad++;
  } else if (strcmp(pki_identity_name(id), "aggregator") != 0) {
    fprintf(stderr,
            "%s: mqtt.cert is the certificate of \"%s\", not of "
            "\"aggregator\"\n",
            prog, pki_identity_name(id));
    bad++;
  }
  pki_identity_free(id);
  lg_signer key;
  rc = lg_signer_read_file(cfg.ledger_key, &key);
  if (rc) {
    fprintf(stderr, "%s: ledger.key %s: %s\n", prog, cfg.ledger_key,
            gl_strerror(rc));
    bad++;
  } else if (strcmp(key.vkey.name, cfg.origin) != 0) {
    fprintf(stderr, "%s: ledger.key is named \"%s\", the origin is \"%s\"\n",
            prog, key.vkey.name, cfg.origin);
    bad++;
  }
  lg_signer_wipe(&key);
  gl_clock real = gl_clock_real();
  pki_trust *trust = NULL;
  if (pki_trust_load(cfg.pki_ca, cfg.pki_crl[0] ? cfg.pki_crl : NULL, &real,
                     &trust, &why) != 0) {
    fprintf(stderr, "%s: pki.ca/pki.crl: %s\n", prog, why.text);
    bad++;
  }
  pki_trust_free(trust);
  if (!cfg.has_location && cfg.pv_night)
    fprintf(stderr,
            "%s: note: community.latitude/longitude are not set, so PV "
            "production at night is not checked\n",
            prog);
  if (bad)
    return 2;
  char dur[32];
  printf("configuration OK: community %s, market %s (%s), interval %s, "
         "ledger %s, database %s\n",
         cfg.community, mkt_mode_name((mkt_mode)cfg.mode),
         mkt_rule_name((mkt_rule)cfg.rule),
         gl_duration_format(cfg.interval, dur, sizeof dur), cfg.origin,
         cfg.db_path);
  return 0;
}

static int run(const opts *o) {
  agg_config cfg;
  int rc = load_config(o, &cfg);
  if (rc)
    return rc;
  gl_clock real = gl_clock_real(), clock = real;
  gl_accel_clock *accel = NULL;
  if (o->clock) {
    gl_clock_spec spec;
    if (gl_clock_spec_parse(o->clock, &spec) != 0)
      return usage("--clock: \"real\" or accel:SPEED:VSTART:ANCHOR");
    if (gl_clock_spec_open(&spec, &clock, &accel) != 0)
      return fail("--clock", GL_ENOMEM);
  }
  rc = agg_daemon_run(&cfg, &clock, &real);
  gl_accel_clock_free(accel);
  return rc ? 1 : 0;
}

/* Run as root (to read the CA), the tool must not leave the database to
 * root: the daemon runs as the owner of the database's directory. */
static void give_to_directory_owner(const char *db) {
  if (geteuid() != 0)
    return;
  char dir[AGG_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", db);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  struct stat sb;
  if (stat(dir, &sb) != 0 || sb.st_uid == 0)
    return;
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[AGG_PATH_MAX + 8];
    snprintf(p, sizeof p, "%s%s", db, suffix[i]);
    if (chown(p, sb.st_uid, sb.st_gid) != 0 && i == 0)
      fprintf(stderr, "%s: note: could not give %s to the owner of %s\n", prog,
              p, dir);
  }
}

static int open_store(const opts *o, agg_config *cfg, agg_store **st) {
  int rc = load_config(o, cfg);
  if (rc)
    return rc;
  rc = agg_store_open(cfg->db_path, true, false, st);
  if (rc) {
    fprintf(stderr, "%s: cannot open %s: %s\n", prog, cfg->db_path,
            gl_strerror(rc));
    return 1;
  }
  give_to_directory_owner(cfg->db_path);
  return 0;
}

static int list_meter(void *ctx, const agg_meter_rec *m) {
  agg_store *st = ctx;
  agg_meter_dyn d;
  bool have = agg_store_dyn_get(st, m->id, &d) == 0;
  char na[GL_TIME_STR_MAX], seen[GL_TIME_STR_MAX];
  printf("%-24s %-7s %-34s %s %-7s %s\n", m->id,
         m->state == AGG_METER_ACTIVE ? "active" : "revoked", m->serial,
         gl_time_format(m->not_after, na),
         have && d.status == 1   ? "online"
         : have && d.status == 2 ? "offline"
                                 : "-",
         have && d.last_seen ? gl_time_format(d.last_seen, seen) : "never");
  return 0;
}

static int meters(int argc, char **argv) {
  if (argc < 3)
    return usage("meters: sync, add, list or set-rated");
  const char *sub = argv[2];
  opts o = {0};
  int first = parse(argc, argv, 3, &o);
  if (first < 0)
    return usage(NULL);
  agg_config cfg;
  agg_store *st = NULL;
  int rc = open_store(&o, &cfg, &st);
  if (rc)
    return rc;
  gl_clock real = gl_clock_real();
  int ret = 0;
  if (strcmp(sub, "sync") == 0) {
    const char *dir = o.ca ? o.ca : cfg.pki_ca_dir;
    if (!dir[0]) {
      agg_store_free(st);
      return usage("meters sync: --ca DIR (or pki.ca_dir) is required");
    }
    agg_sync_stats s;
    rc = agg_meters_sync_ca(st, dir, cfg.community, &real, &s);
    if (rc)
      ret = fail("meters sync", rc);
    else
      printf("meters sync: %u added, %u updated, %u revoked, %u unchanged, "
             "%u refused\n",
             s.added, s.updated, s.revoked, s.unchanged, s.refused);
  } else if (strcmp(sub, "add") == 0) {
    if (first >= argc) {
      agg_store_free(st);
      return usage("meters add: certificate files expected");
    }
    pki_trust *trust = NULL;
    pki_why why = {{0}};
    rc = pki_trust_load(cfg.pki_ca, cfg.pki_crl[0] ? cfg.pki_crl : NULL, &real,
                        &trust, &why);
    if (rc) {
      fprintf(stderr, "%s: trust: %s\n", prog, why.text);
      ret = 1;
    }
    for (int i = first; rc == 0 && i < argc; i++) {
      char id[AGG_ID_LEN];
      int r = agg_meters_add_cert(st, trust, argv[i], &real, id);
      if (r) {
        fprintf(stderr, "%s: %s: %s\n", prog, argv[i], gl_strerror(r));
        ret = 1;
      } else {
        printf("enrolled %s from %s\n", id, argv[i]);
      }
    }
    pki_trust_free(trust);
  } else if (strcmp(sub, "list") == 0) {
    printf("%-24s %-7s %-34s %-20s %-7s %s\n", "# meter", "state", "serial",
           "not_after", "status", "last_seen");
    rc = agg_store_meters_each(st, list_meter, st);
    if (rc)
      ret = fail("meters list", rc);
  } else if (strcmp(sub, "set-rated") == 0) {
    int64_t w = 0;
    if (argc - first != 2 || gl_conf_parse_int(argv[first + 1], &w) != 0 ||
        w < 0 || w > 100000000) {
      agg_store_free(st);
      return usage("meters set-rated METER WATTS (0 .. 100000000)");
    }
    rc = agg_store_meter_set_rated(st, argv[first], w);
    int64_t v = 0;
    if (rc == 0) {
      agg_store_meta_get(st, "meters_version", &v);
      rc = agg_store_meta_set(st, "meters_version", v + 1);
    }
    if (rc)
      ret = fail(argv[first], rc);
    else
      printf("%s: rated power %s\n", argv[first],
             w ? argv[first + 1] : "the configured default");
  } else {
    ret = usage("meters: sync, add, list or set-rated");
  }
  agg_store_free(st);
  return ret;
}

static int export_cmd(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[2], "settlements") != 0)
    return usage("export settlements [options]");
  opts o = {0};
  if (parse(argc, argv, 3, &o) < 0)
    return usage(NULL);
  int64_t from = INT64_MIN, to = INT64_MAX;
  if (o.from && gl_time_parse(o.from, &from) != 0)
    return usage("--from: an RFC 3339 time");
  if (o.to && gl_time_parse(o.to, &to) != 0)
    return usage("--to: an RFC 3339 time");
  agg_config cfg;
  agg_store *st = NULL;
  int rc = open_store(&o, &cfg, &st);
  if (rc)
    return rc;
  FILE *out = stdout;
  if (o.out && !(out = fopen(o.out, "w"))) {
    agg_store_free(st);
    perror(o.out);
    return 1;
  }
  size_t rows = 0;
  rc = agg_export_settlements(st, from, to, o.meter, o.decimal, out, &rows);
  if (out != stdout && fclose(out) != 0 && rc == 0)
    rc = GL_EIO;
  agg_store_free(st);
  if (rc)
    return fail("export", rc);
  if (o.out)
    fprintf(stderr, "%s: %zu settlement rows written to %s\n", prog, rows,
            o.out);
  return 0;
}

int main(int argc, char **argv) {
  gl_log_set_ident(prog);
  if (argc >= 2 && strcmp(argv[1], "meters") == 0)
    return meters(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "export") == 0)
    return export_cmd(argc, argv);
  int first = (argc >= 2 && strcmp(argv[1], "run") == 0) ? 2 : 1;
  opts o = {0};
  int rest = parse(argc, argv, first, &o);
  if (rest < 0)
    return usage(NULL);
  if (rest < argc)
    return usage("unknown command");
  if (o.print_default)
    return agg_config_write_defaults(stdout) == 0 ? 0 : 1;
  if (o.check)
    return check_config(&o);
  return run(&o);
}
