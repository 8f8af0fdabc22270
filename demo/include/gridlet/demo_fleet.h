/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_fleet.h - a whole community as real processes: the one
 * orchestration library of `make demo` and the system tests.
 *
 * demo_fleet_new builds a throw-away community in a directory: a CA, the
 * broker's TLS configuration and ACL, the aggregator's identity and one
 * enrolled identity per meter (gridlet/pki_dev.h: the production enrolment
 * path), the ledger's log key, the aggregator's configuration, the meters
 * enrolled at the aggregator through its own command line (`meters sync`),
 * and a configuration per meter agent. demo_fleet_start then runs, each as
 * the real program and tracked by PID (gridlet/demo_proc.h):
 *
 *   mosquitto           from the generated configuration, on a free
 *                       loopback port (TLS 1.3, client certificates)
 *   gridlet-aggregator  with its HTTP API on another free loopback port
 *   gridlet-sim devices the households' inverters, batteries and grid
 *                       meters on Modbus TCP (one simulator per 24)
 *   gridlet-meter       one agent per household, reading its devices
 *
 * all on ONE accelerated clock (`--clock accel:SPEED:VSTART:ANCHOR`, see
 * gridlet/clock.h): every process computes the same virtual time from the
 * same three numbers. Each part can then be stopped, killed with SIGKILL
 * and started again on its own (the system tests' faults), and
 * demo_fleet_stop ends everything that still runs, meters first, the
 * broker last.
 *
 * Layout of the directory:
 *   community/          CA, broker/, aggregator/, meters/<id>/ (keys, certs)
 *   ledger.key          the ledger's log key (its verifier key: info.vkey)
 *   aggregator.conf, aggregator.db, aggregator.log
 *   mosquitto.log       the broker's log
 *   sim-<k>.log         simulator k's output
 *   households/<id>/    meter.conf, meter.db, meter.log of each agent
 *
 * Files of programs: with `bin_dir` set, the programs of a build tree
 * (bin_dir/aggregator/gridlet-aggregator, bin_dir/meter/gridlet-meter,
 * bin_dir/sim/gridlet-sim, bin_dir/ledger/cli/gridlet-ledger,
 * bin_dir/certs/gridlet-ca); otherwise the installed ones found in PATH.
 *
 * Thread-safety: a fleet belongs to the thread that made it. Functions
 * return 0 or a negative GL_E* code and, where they can fail for an
 * outside reason, put a sentence saying what failed in `why` (may be NULL).
 */
#ifndef GRIDLET_DEMO_FLEET_H
#define GRIDLET_DEMO_FLEET_H

#include "gridlet/clock.h"
#include "gridlet/demo_mix.h"
#include "gridlet/demo_why.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEMO_PATH_MAX 512
#define DEMO_MAX_METERS 2000
#define DEMO_HOUSEHOLDS_PER_SIM 24

/* What to build. Zero fields take the defaults in brackets. */
typedef struct demo_fleet_opts {
  const char *dir;         /* work directory, created; must not hold a
                              community yet [a new mkdtemp under $TMPDIR] */
  const char *bin_dir;     /* build tree root [programs from PATH] */
  const char *profile_dir; /* device profiles [the meter's default] */
  const char *community;   /* ["demo"] */
  unsigned households;     /* meters with a simulated household, 1..
                              DEMO_MAX_METERS [10] */
  /* NULL or `households` entries [demo_mix_household]. Borrowed. */
  const demo_household *homes;
  /* More identities enrolled at the CA, meter ids after the households',
   * never started by the fleet (tests speak the protocol with them). The
   * first `spare_synced` of them are also enrolled at the aggregator; the
   * others only at the CA (the broker lets them in, the aggregator does
   * not know their keys). */
  unsigned spare_meters;
  unsigned spare_synced;
  /* The market, as in aggregator.conf ([market]). */
  const char *mode;     /* expost, exante, continuous [expost] */
  const char *rule;     /* marginal, k, mcafee, pay-as-bid [marginal] */
  const char *interval; /* ["15m"] */
  const char *grace;    /* [the aggregator's default: interval / 5] */
  const char *retail, *feed_in, *fee; /* currency per kWh [0.30, 0.08, 0] */
  const char *market_extra;           /* more [market] lines, or NULL */
  const char *broker_extra;           /* more mosquitto.conf lines, or NULL */
  /* The shared clock: `speed` times real time with virtual time `vstart`
   * at the moment demo_fleet_start has set up (its anchor is then + a
   * lead time for the processes to come up). speed 0: the real clock. */
  uint32_t speed;
  int64_t vstart;
  int lead_ms;           /* real time from demo_fleet_start to vstart [2000] */
  uint64_t seed;         /* the simulator's households [42] */
  const char *log_level; /* of the daemons [info] */
  /* Set non-zero (e.g. by a SIGINT handler) to make every wait of the
   * fleet give up with GL_ECLOSED. May be NULL. */
  const volatile sig_atomic_t *cancel;
} demo_fleet_opts;

/* The fleet's files, addresses and clock. Valid while the fleet lives. */
typedef struct demo_fleet_info {
  char dir[DEMO_PATH_MAX];
  char community_dir[DEMO_PATH_MAX];
  char community[40];
  char ca_dir[DEMO_PATH_MAX];
  char agg_conf[DEMO_PATH_MAX], agg_db[DEMO_PATH_MAX], agg_log[DEMO_PATH_MAX];
  char broker_log[DEMO_PATH_MAX];
  char ledger_key[DEMO_PATH_MAX];
  char vkey[160]; /* the ledger's verifier key, name+id+key */
  char uri[64];   /* "mqtts://127.0.0.1:<port>" */
  uint16_t mqtt_port;
  uint16_t http_port;                 /* the aggregator's API */
  unsigned households, meters;        /* meters = households + spare */
  int64_t interval;                   /* ns */
  char clock_spec[GL_CLOCK_SPEC_MAX]; /* set by demo_fleet_start */
  uint32_t speed;
} demo_fleet_info;

/* One meter's files and state. */
typedef struct demo_meter_info {
  char id[64];
  unsigned index; /* 0-based; < households: it has a simulated household */
  bool synced;    /* enrolled at the aggregator */
  char cert[DEMO_PATH_MAX], key[DEMO_PATH_MAX], ca[DEMO_PATH_MAX];
  char conf[DEMO_PATH_MAX], db[DEMO_PATH_MAX], log[DEMO_PATH_MAX];
  demo_household home; /* households only */
  pid_t pid;           /* running agent, 0: none */
} demo_meter_info;

typedef struct demo_fleet demo_fleet;

/*
 * demo_fleet_new - build the community and every configuration (nothing
 * runs yet). Returns 0 and an owned handle; GL_EINVAL (bad options),
 * GL_EIO and others with `why`.
 */
int demo_fleet_new(const demo_fleet_opts *opts, demo_fleet **out,
                   demo_why *why);

/* demo_fleet_free - demo_fleet_stop, then release. Keeps the directory
 * unless demo_fleet_remove_dir was asked for. NULL is a no-op. */
void demo_fleet_free(demo_fleet *f);

/* demo_fleet_remove_dir - delete the work directory when the fleet is
 * freed (a test that passed). */
void demo_fleet_remove_dir(demo_fleet *f, bool remove);

const demo_fleet_info *demo_fleet_get_info(const demo_fleet *f);
/* demo_fleet_meter - meter `i` (0-based, < info.meters); NULL beyond. */
const demo_meter_info *demo_fleet_meter(const demo_fleet *f, unsigned i);

/*
 * demo_fleet_start - fix the shared clock, then start the broker, the
 * aggregator (waiting until its API answers and it is subscribed), the
 * simulator(s) and every household's meter agent. Returns 0, or the first
 * failure with `why` naming the process and its log.
 */
int demo_fleet_start(demo_fleet *f, demo_why *why);

/*
 * demo_fleet_check_alive - whether every process the fleet started (and
 * has not stopped) still runs. Returns 0, or GL_ESTATE with `why` naming
 * the first one that exited and its log (it is then forgotten).
 */
int demo_fleet_check_alive(demo_fleet *f, demo_why *why);

/* demo_fleet_stop - stop everything still running: meters (together),
 * simulators, aggregator, broker. Idempotent. */
void demo_fleet_stop(demo_fleet *f);

/* ---- Each part on its own (fault tests) --------------------------------- */

int demo_fleet_broker_start(demo_fleet *f, demo_why *why);
void demo_fleet_broker_stop(demo_fleet *f);
void demo_fleet_broker_kill9(demo_fleet *f);
/* SIGHUP: mosquitto re-reads its ACL and CRL. */
int demo_fleet_broker_reload(demo_fleet *f);

/* Starts and waits until the API answers and the aggregator is connected
 * and subscribed. */
int demo_fleet_aggregator_start(demo_fleet *f, demo_why *why);
/* SIGTERM; *status (may be NULL) gets the wait status. */
void demo_fleet_aggregator_stop(demo_fleet *f, int *status);
void demo_fleet_aggregator_kill9(demo_fleet *f);
/* SIGHUP: the aggregator re-reads its CRL and enrolled meters. */
int demo_fleet_aggregator_reload(demo_fleet *f);
pid_t demo_fleet_aggregator_pid(const demo_fleet *f);

int demo_fleet_sim_start(demo_fleet *f, demo_why *why);
void demo_fleet_sim_stop(demo_fleet *f);

/*
 * demo_fleet_meter_config - (re)write meter i's configuration with
 * `broker_uri` as its broker (NULL: the fleet's broker); for a test that
 * puts a relay between a meter and the broker. Takes effect at the
 * meter's next start.
 */
int demo_fleet_meter_config(demo_fleet *f, unsigned i, const char *broker_uri,
                            demo_why *why);
int demo_fleet_meter_start(demo_fleet *f, unsigned i, demo_why *why);
void demo_fleet_meter_stop(demo_fleet *f, unsigned i, int *status);
void demo_fleet_meter_kill9(demo_fleet *f, unsigned i);
/* Every running meter, together (SIGTERM, then wait). */
void demo_fleet_meters_stop(demo_fleet *f);

/* ---- Time -----------------------------------------------------------------
 */

/* demo_fleet_now - the shared virtual time (ns since the epoch). */
int64_t demo_fleet_now(const demo_fleet *f);
/* demo_fleet_real_ms - the real milliseconds a virtual span takes. */
int64_t demo_fleet_real_ms(const demo_fleet *f, int64_t virtual_ns);
/* demo_fleet_sleep_ms - real sleep; GL_ECLOSED when cancelled. */
int demo_fleet_sleep_ms(demo_fleet *f, int ms);
/* demo_fleet_sleep_until - until the virtual time `v`; GL_ECLOSED. */
int demo_fleet_sleep_until(demo_fleet *f, int64_t v);

/* ---- The aggregator's API ---------------------------------------------------
 */

/* demo_fleet_http - GET `path`: *status, *body (owned, may be NULL). */
int demo_fleet_http(demo_fleet *f, const char *path, int *status, char **body);
/* demo_fleet_metrics - the /metrics text (owned). */
int demo_fleet_metrics(demo_fleet *f, char **text);
/* demo_fleet_metric - one series' value (GL_ENOENT when absent). */
int demo_fleet_metric(demo_fleet *f, const char *series, int64_t *value);
/*
 * demo_fleet_wait_settled - wait until the interval starting at `start`
 * is settled and its results signed (state "signed" or "published"; with
 * `published`, only "published"), at most timeout_ms real. GL_ETIMEDOUT,
 * GL_ECLOSED.
 */
int demo_fleet_wait_settled(demo_fleet *f, int64_t start, bool published,
                            int timeout_ms);

/* ---- Running the tools
 * -------------------------------------------------------- */

/*
 * demo_fleet_tool - run one of gridlet's command-line programs ("ledger",
 * "aggregator", "meter", "ca", "sim") with `args` (NULL-terminated, the
 * arguments after the program name), its output to `out` (NULL: into the
 * work directory's tools.log). Returns 0 and its exit code in *code, or an
 * error starting it.
 */
int demo_fleet_tool(demo_fleet *f, const char *tool, char *const args[],
                    const char *out, int *code);

/* demo_fleet_path - a path inside the work directory, into out. */
char *demo_fleet_path(const demo_fleet *f, const char *name,
                      char out[DEMO_PATH_MAX]);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_FLEET_H */
