/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter - the household meter agent: a thin shell over the meter
 * library (gridlet/mtr_agent.h and friends) and over certs/ for
 * enrolment.
 *
 *   run            load the configuration, build the agent, run its event
 *                  loop until SIGTERM/SIGINT (SIGHUP reloads the
 *                  aggregator's certificate and the CRL)
 *   status         a report from the agent's database (read-only)
 *   alarms         the alarms; --ack acknowledges them
 *   keygen, csr    make the device key and a certificate request
 *   --check-config, --print-default-config
 *
 * Exit status: 0 success; 1 a runtime failure (the service manager
 * restarts the agent); 2 bad usage or configuration (restarting would not
 * help); status: 1 when something needs attention (the agent is down or
 * stuck, alarms, lost readings).
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_agent.h"
#include "gridlet/mtr_config.h"
#include "gridlet/mtr_status.h"
#include "gridlet/pki_enrol.h"
#include "gridlet/pki_key.h"
#include "gridlet/rand.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_KEY "/etc/gridlet/meter.key"
#define DEFAULT_CSR "/etc/gridlet/meter.csr"
#define DEFAULT_CONFIG "/etc/gridlet/meter.conf"

static const char *prog = "gridlet-meter";

static const char usage_text[] =
    "usage: gridlet-meter COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE] [--clock SPEC] [--log-level LEVEL]\n"
    "      run the agent (normally started by systemd)\n"
    "  status [--config FILE | --database FILE]\n"
    "      what the agent is doing: last reading, outbox, broker, alarms\n"
    "  alarms [--config FILE | --database FILE] [--ack]\n"
    "      every alarm kept; --ack acknowledges them (run it as the\n"
    "      database's owner: sudo -u gridlet gridlet-meter alarms --ack)\n"
    "  keygen --id METER_ID [--key FILE] [--csr FILE] [--key-type T]\n"
    "      make this device's key (mode 0600; never overwritten) and a\n"
    "      certificate signing request for METER_ID\n"
    "  csr --id METER_ID [--key FILE] [--csr FILE]\n"
    "      a new request for the existing key\n"
    "  --check-config [--config FILE]\n"
    "      check the configuration and the files it names, then exit\n"
    "  --print-default-config\n"
    "      print the commented default configuration\n"
    "\n"
    "defaults: --config " DEFAULT_CONFIG ", --key " DEFAULT_KEY
    ", --csr " DEFAULT_CSR "\n"
    "--clock: \"real\" (default) or accel:SPEED:VSTART:ANCHOR (demos, tests)\n"
    "Give the .csr file to your community operator; install the certificate\n"
    "you get back next to the key.\n";

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "%s: %s\n\n", prog, msg);
  fputs(usage_text, stderr);
  return 2;
}

/* ---- Enrolment ---------------------------------------------------------- */

static int cmd_enrol(int argc, char **argv, bool keygen) {
  static const struct option lo[] = {{"id", 1, 0, 'i'},
                                     {"key", 1, 0, 'k'},
                                     {"csr", 1, 0, 'c'},
                                     {"key-type", 1, 0, 't'},
                                     {0, 0, 0, 0}};
  const char *id = NULL, *key = DEFAULT_KEY, *csr = DEFAULT_CSR;
  pki_key_type type = PKI_KEY_ED25519;
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'i':
      id = optarg;
      break;
    case 'k':
      key = optarg;
      break;
    case 'c':
      csr = optarg;
      break;
    case 't':
      if (!keygen || pki_key_type_parse(optarg, &type))
        return usage("--key-type (keygen only) is ed25519 or p256");
      break;
    default:
      return usage(NULL);
    }
  }
  if (!id || optind != argc)
    return usage("--id METER_ID is required");
  pki_why why = {{0}};
  gl_rand rand = gl_rand_system();
  int rc = keygen ? pki_enrol_keygen(id, type, key, csr, &rand, &why)
                  : pki_enrol_csr(id, key, csr, &why);
  if (rc) {
    fprintf(stderr, "%s: %s\n", prog, why.text[0] ? why.text : gl_strerror(rc));
    return 1;
  }
  if (keygen)
    printf("new %s key: %s (keep it on this device)\n", pki_key_type_name(type),
           key);
  printf("certificate request for \"%s\": %s\n"
         "give it to your community operator (gridlet-ca sign)\n",
         id, csr);
  return 0;
}

/* ---- Configuration ------------------------------------------------------ */

static int load_config(const char *path, mtr_config *cfg) {
  gl_conf_errors errs = {0};
  int rc = mtr_config_load(cfg, path, &errs);
  if (rc == GL_ECONFIG) {
    for (int i = 0; i < errs.count && i < GL_CONF_MAX_ERRORS; i++)
      fprintf(stderr, "%s\n", errs.msg[i]);
    if (errs.count > GL_CONF_MAX_ERRORS)
      fprintf(stderr, "(and %d more)\n", errs.count - GL_CONF_MAX_ERRORS);
    return 2;
  }
  if (rc) {
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, gl_strerror(rc));
    return 2;
  }
  return 0;
}

static void print_errors(const gl_conf_errors *errs) {
  for (int i = 0; i < errs->count && i < GL_CONF_MAX_ERRORS; i++)
    fprintf(stderr, "%s\n", errs->msg[i]);
  if (errs->count > GL_CONF_MAX_ERRORS)
    fprintf(stderr, "(and %d more)\n", errs->count - GL_CONF_MAX_ERRORS);
}

static int check_config(const char *path) {
  mtr_config cfg;
  int rc = load_config(path, &cfg);
  if (rc)
    return rc;
  gl_conf_errors errs = {0}, warnings = {0};
  gl_log_set_level(GL_LOG_ERROR);
  int bad = mtr_agent_check(&cfg, gl_clock_real(), &errs, &warnings);
  for (int i = 0; i < warnings.count && i < GL_CONF_MAX_ERRORS; i++)
    fprintf(stderr,
            "warning: %s (the agent runs, but rejects the aggregator's "
            "results until this is fixed)\n",
            warnings.msg[i]);
  if (bad) {
    print_errors(&errs);
    fprintf(stderr, "%s: %s has problems (see above)\n", prog, path);
    return 2;
  }
  printf("%s: configuration OK (community %s, interval %llds, reads every "
         "%llds, database %s)\n",
         path, cfg.community, (long long)(cfg.interval_ns / GL_NS_PER_SEC),
         (long long)(cfg.poll_ns / GL_NS_PER_SEC), cfg.database);
  return 0;
}

/* ---- run ---------------------------------------------------------------- */

static int cmd_run(const char *path, const char *clock_text,
                   const char *level_text) {
  mtr_config cfg;
  int rc = load_config(path, &cfg);
  if (rc)
    return rc;
  int level = cfg.log_level;
  if (level_text && gl_log_level_parse(level_text, &level))
    return usage("--log-level is error, warn, notice, info or debug");
  gl_log_set_level(level);
  gl_clock_spec spec;
  if (gl_clock_spec_parse(clock_text, &spec))
    return usage("--clock is \"real\" or accel:SPEED:VSTART:ANCHOR");
  gl_clock clock;
  gl_accel_clock *accel = NULL;
  if (gl_clock_spec_open(&spec, &clock, &accel)) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  /* Signals arrive through a signalfd polled by the agent's loop. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    perror("signalfd");
    gl_accel_clock_free(accel);
    return 1;
  }
  gl_conf_errors errs = {0};
  mtr_agent *agent = NULL;
  rc = mtr_agent_new(&cfg, clock, gl_rand_system(), &agent, &errs);
  if (rc) {
    gl_conf_log_errors(&errs, "meter");
    GL_ERROR("meter", "cannot start: %s", gl_strerror(rc));
    close(sfd);
    gl_accel_clock_free(accel);
    return rc == GL_ECONFIG || rc == GL_ECONFLICT ? 2 : 1;
  }
  rc = mtr_agent_run(agent, sfd);
  mtr_agent_free(agent);
  close(sfd);
  gl_accel_clock_free(accel);
  if (!rc)
    GL_NOTICE("meter", "stopped");
  return rc ? 1 : 0;
}

/* ---- status ------------------------------------------------------------- */

/* The database `--database` names, or else the configuration's. Returns 0
 * or the exit status of a configuration that cannot be loaded. */
static int database_path(const char *config, const char *database,
                         char db[MTR_TEXT_MAX]) {
  if (database) {
    snprintf(db, MTR_TEXT_MAX, "%s", database);
    return 0;
  }
  mtr_config cfg;
  int rc = load_config(config, &cfg);
  if (!rc)
    snprintf(db, MTR_TEXT_MAX, "%s", cfg.database);
  return rc;
}

static int cmd_status(const char *config, const char *database) {
  char db[MTR_TEXT_MAX];
  int e = database_path(config, database, db);
  if (e)
    return e;
  gl_log_set_level(GL_LOG_ERROR);
  gl_clock real = gl_clock_real();
  int rc = mtr_status_report(db, gl_clock_now(&real), stdout);
  if (rc < 0) {
    fprintf(stderr, "%s: cannot read %s: %s%s\n", prog, db, gl_strerror(rc),
            rc == GL_ENOENT ? " (has the agent run yet?)" : "");
    return 2;
  }
  return rc;
}

/* ---- alarms ------------------------------------------------------------- */

static int cmd_alarms(const char *config, const char *database, bool ack) {
  char db[MTR_TEXT_MAX];
  int e = database_path(config, database, db);
  if (e)
    return e;
  gl_log_set_level(GL_LOG_ERROR);
  if (ack) {
    /* Written as root, the database's -wal and -shm files could end up
     * root's, and the agent could no longer write. */
    struct stat st;
    if (geteuid() == 0 && stat(db, &st) == 0 && st.st_uid != 0) {
      fprintf(stderr,
              "%s: run this as the database's owner, e.g. sudo -u gridlet "
              "gridlet-meter alarms --ack\n",
              prog);
      return 2;
    }
    int64_t n = 0;
    int rc = mtr_alarms_ack(db, &n);
    if (rc) {
      fprintf(stderr, "%s: cannot write %s: %s\n", prog, db, gl_strerror(rc));
      return 2;
    }
    printf("%lld alarm%s acknowledged\n", (long long)n, n == 1 ? "" : "s");
    return 0;
  }
  int rc = mtr_alarms_report(db, stdout);
  if (rc < 0) {
    fprintf(stderr, "%s: cannot read %s: %s%s\n", prog, db, gl_strerror(rc),
            rc == GL_ENOENT ? " (has the agent run yet?)" : "");
    return 2;
  }
  return rc;
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv) {
  gl_log_set_ident(prog);
  if (argc < 2)
    return usage(NULL);
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "csr") == 0) {
    gl_log_set_level(GL_LOG_ERROR);
    return cmd_enrol(argc, argv, strcmp(cmd, "keygen") == 0);
  }
  if (strcmp(cmd, "--print-default-config") == 0) {
    if (argc != 2)
      return usage("--print-default-config takes no arguments");
    return mtr_config_write_defaults(stdout) ? 1 : 0;
  }
  enum { O_CONFIG = 1, O_CLOCK, O_LEVEL, O_DB, O_CHECK, O_ACK };
  static const struct option lo[] = {{"config", 1, 0, O_CONFIG},
                                     {"clock", 1, 0, O_CLOCK},
                                     {"log-level", 1, 0, O_LEVEL},
                                     {"database", 1, 0, O_DB},
                                     {"check-config", 0, 0, O_CHECK},
                                     {"ack", 0, 0, O_ACK},
                                     {0, 0, 0, 0}};
  bool run = strcmp(cmd, "run") == 0, status = strcmp(cmd, "status") == 0,
       alarms = strcmp(cmd, "alarms") == 0;
  if (!run && !status && !alarms && strncmp(cmd, "--", 2) != 0)
    return usage("unknown command");
  bool check = false, ack = false;
  const char *config = DEFAULT_CONFIG, *clock = "real", *level = NULL,
             *database = NULL;
  int c;
  optind = run || status || alarms ? 2 : 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_CONFIG:
      config = optarg;
      break;
    case O_CLOCK:
      clock = optarg;
      break;
    case O_LEVEL:
      level = optarg;
      break;
    case O_DB:
      database = optarg;
      break;
    case O_CHECK:
      check = true;
      break;
    case O_ACK:
      ack = true;
      break;
    default:
      return usage(NULL);
    }
  }
  if (optind != argc)
    return usage("unexpected argument");
  if (ack && !alarms)
    return usage("--ack is for alarms");
  if (check) {
    if (run || status || alarms)
      return usage("--check-config is a command of its own");
    return check_config(config);
  }
  if (alarms)
    return cmd_alarms(config, database, ack);
  if (run) {
    if (database)
      return usage("--database is for status and alarms");
    return cmd_run(config, clock, level);
  }
  if (status)
    return cmd_status(config, database);
  return usage("unknown command");
}
