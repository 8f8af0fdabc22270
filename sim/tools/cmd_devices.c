/* SPDX-License-Identifier: MIT */
/*
 * cmd_devices.c - `gridlet-sim devices`: parse the options, build the
 * clocks, run sim_devices until SIGTERM or SIGINT, and stop cleanly.
 *
 * What it prints on stdout is for scripts: one "listen ..." line per
 * endpoint (household TCP ports, the RTU pty, the control port), then
 * "ready". Logs go to stderr.
 */
#include "sim_tool.h"

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_devices.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sim_devices *running;

static void on_signal(int sig) {
  (void)sig;
  if (running)
    sim_devices_stop(running);
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: gridlet-sim devices [options]\n"
      "\n"
      "Serves the SunSpec inverter, battery and grid meter of N simulated\n"
      "households over Modbus TCP (household i on one port, devices at unit\n"
      "ids 1, 2, 3) and optionally over Modbus RTU on a pseudo-terminal.\n"
      "Prints \"listen ...\" lines and \"ready\"; stops on SIGTERM.\n"
      "\n"
      "  -n, --households N    households (1..%d, default 1)\n"
      "      --host ADDR       address to listen on (default 127.0.0.1)\n"
      "      --port PORT       household i on PORT+i (default: free ports)\n"
      "      --units I,B,M     TCP unit ids of inverter, battery, meter "
      "(1,2,3)\n"
      "      --rtu             also serve all households on one RTU bus "
      "(pty)\n"
      "      --no-tcp          RTU only\n"
      "      --inverter MODEL  101-103, 111-113, 701 or sma (default 103)\n"
      "      --meter MODEL     201-204, 211-213 or sdm630 (default 203)\n"
      "      --variety         household i uses the i-th model of each list\n"
      "      --chain           one unit per household; the three devices are\n"
      "                        sub-devices of one SunSpec chain\n"
      "      --base ADDR       SunSpec base address: 40000, 0 or 50000\n"
      "      --max-clients N   connections per port (default 4)\n"
      "      --speed N         simulated time runs N times faster (default "
      "1)\n"
      "      --start TIME      simulated start time, RFC 3339 (default now)\n"
      "      --clock SPEC      \"real\" or accel:SPEED:VSTART:ANCHOR, the\n"
      "                        clock shared by all processes of a demo\n"
      "                        (overrides --speed and --start)\n"
      "      --seed N          deterministic households (default random)\n"
      "      --pv-peak W       PV peak power (default 5000)\n"
      "      --battery-wh WH   battery capacity (default 10000)\n"
      "      --no-battery      households without battery (the battery\n"
      "                        device still answers, idle)\n"
      "      --household I:K=V[,K=V]...  household I's own parameters\n"
      "                        (repeatable; keys pv, battery, battery_w,\n"
      "                        base, peak in W or Wh; pv=0: no PV,\n"
      "                        battery=0: no battery), e.g.\n"
      "                        --household 2:pv=0,base=400,peak=2500\n"
      "      --control         open the control port (line protocol)\n"
      "      --control-port P  its port (default: a free one)\n"
      "      --fault SPEC      inject a fault at start, e.g. \"drop "
      "household=0\n"
      "                        device=meter count=3\" (repeatable)\n"
      "      --log-level L     error, warn, notice, info, debug (info)\n"
      "  -h, --help            this text\n",
      SIM_MAX_HOUSEHOLDS);
}

static bool parse_num(const char *what, const char *v, int64_t lo, int64_t hi,
                      int64_t *out) {
  if (gl_conf_parse_int(v, out) == 0 && *out >= lo && *out <= hi)
    return true;
  fprintf(stderr, "gridlet-sim devices: %s must be %lld..%lld, not \"%s\"\n",
          what, (long long)lo, (long long)hi, v);
  return false;
}

static bool parse_model(const char *v, bool inverter, uint16_t *out) {
  if (inverter && strcmp(v, "sma") == 0) {
    *out = SIM_MODEL_SMA;
    return true;
  }
  if (!inverter && strcmp(v, "sdm630") == 0) {
    *out = SIM_MODEL_SDM630;
    return true;
  }
  int64_t m;
  if (gl_conf_parse_int(v, &m) == 0 && m > 0 && m < 65535) {
    *out = (uint16_t)m;
    return true;
  }
  fprintf(stderr, "gridlet-sim devices: bad %s model \"%s\"\n",
          inverter ? "inverter" : "meter", v);
  return false;
}

enum {
  OPT_HOST = 256,
  OPT_PORT,
  OPT_UNITS,
  OPT_RTU,
  OPT_NO_TCP,
  OPT_INVERTER,
  OPT_METER,
  OPT_VARIETY,
  OPT_CHAIN,
  OPT_BASE,
  OPT_MAX_CLIENTS,
  OPT_SPEED,
  OPT_START,
  OPT_CLOCK,
  OPT_SEED,
  OPT_PV_PEAK,
  OPT_BATTERY_WH,
  OPT_NO_BATTERY,
  OPT_HOUSEHOLD,
  OPT_CONTROL,
  OPT_CONTROL_PORT,
  OPT_FAULT,
  OPT_LOG_LEVEL
};

#define MAX_FAULTS 32

int sim_cmd_devices(int argc, char **argv) {
  gl_log_set_ident("gridlet-sim");
  static const struct option longopts[] = {
      {"households", required_argument, NULL, 'n'},
      {"host", required_argument, NULL, OPT_HOST},
      {"port", required_argument, NULL, OPT_PORT},
      {"units", required_argument, NULL, OPT_UNITS},
      {"rtu", no_argument, NULL, OPT_RTU},
      {"no-tcp", no_argument, NULL, OPT_NO_TCP},
      {"inverter", required_argument, NULL, OPT_INVERTER},
      {"meter", required_argument, NULL, OPT_METER},
      {"variety", no_argument, NULL, OPT_VARIETY},
      {"chain", no_argument, NULL, OPT_CHAIN},
      {"base", required_argument, NULL, OPT_BASE},
      {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
      {"speed", required_argument, NULL, OPT_SPEED},
      {"start", required_argument, NULL, OPT_START},
      {"clock", required_argument, NULL, OPT_CLOCK},
      {"seed", required_argument, NULL, OPT_SEED},
      {"pv-peak", required_argument, NULL, OPT_PV_PEAK},
      {"battery-wh", required_argument, NULL, OPT_BATTERY_WH},
      {"no-battery", no_argument, NULL, OPT_NO_BATTERY},
      {"household", required_argument, NULL, OPT_HOUSEHOLD},
      {"control", no_argument, NULL, OPT_CONTROL},
      {"control-port", required_argument, NULL, OPT_CONTROL_PORT},
      {"fault", required_argument, NULL, OPT_FAULT},
      {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  sim_devices_cfg cfg = {0};
  int64_t speed = 1, start = 0, x;
  gl_clock_spec spec = {0};
  bool have_spec = false;
  bool have_seed = false;
  uint64_t seed = 0;
  sim_fault faults[MAX_FAULTS];
  int nfaults = 0;
  /* --household specifications, applied once the template is complete. */
  const char *specs[4 * SIM_MAX_HOUSEHOLDS];
  int nspecs = 0;
  sim_household_cfg each[SIM_MAX_HOUSEHOLDS];
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'n':
      if (!parse_num("households", optarg, 1, SIM_MAX_HOUSEHOLDS, &x))
        return 2;
      cfg.households = (int)x;
      break;
    case OPT_HOST:
      cfg.bind_host = optarg;
      break;
    case OPT_PORT:
      if (!parse_num("port", optarg, 1, 65535, &x))
        return 2;
      cfg.base_port = (uint16_t)x;
      break;
    case OPT_UNITS: {
      unsigned a, b, m;
      char tail;
      if (sscanf(optarg, "%u,%u,%u%c", &a, &b, &m, &tail) != 3 || !a || !b ||
          !m || a > 247 || b > 247 || m > 247) {
        fprintf(stderr, "gridlet-sim devices: --units wants I,B,M in "
                        "1..247\n");
        return 2;
      }
      cfg.unit[0] = (uint8_t)a;
      cfg.unit[1] = (uint8_t)b;
      cfg.unit[2] = (uint8_t)m;
      break;
    }
    case OPT_RTU:
      cfg.rtu = true;
      break;
    case OPT_NO_TCP:
      cfg.tcp_off = true;
      break;
    case OPT_INVERTER:
      if (!parse_model(optarg, true, &cfg.inverter_model))
        return 2;
      break;
    case OPT_METER:
      if (!parse_model(optarg, false, &cfg.meter_model))
        return 2;
      break;
    case OPT_VARIETY:
      cfg.variety = true;
      break;
    case OPT_CHAIN:
      cfg.chain_layout = true;
      break;
    case OPT_BASE:
      if (!parse_num("base", optarg, 0, 50000, &x) ||
          (x != 0 && x != 40000 && x != 50000)) {
        fprintf(stderr, "gridlet-sim devices: --base must be 40000, 0 or "
                        "50000\n");
        return 2;
      }
      cfg.sunspec_base = x == 0 ? SIM_SUNSPEC_BASE_0 : (uint32_t)x;
      break;
    case OPT_MAX_CLIENTS:
      if (!parse_num("max-clients", optarg, 1, 64, &x))
        return 2;
      cfg.max_clients = (int)x;
      break;
    case OPT_SPEED:
      if (!parse_num("speed", optarg, 1, GL_ACCEL_SPEED_MAX, &speed))
        return 2;
      break;
    case OPT_START:
      if (gl_time_parse(optarg, &start) != 0) {
        fprintf(stderr,
                "gridlet-sim devices: bad --start \"%s\" (RFC 3339, "
                "e.g. 2026-06-21T06:00:00Z)\n",
                optarg);
        return 2;
      }
      break;
    case OPT_CLOCK:
      if (gl_clock_spec_parse(optarg, &spec) != 0) {
        fprintf(stderr,
                "gridlet-sim devices: bad --clock \"%s\" (\"real\" or "
                "accel:SPEED:VSTART:ANCHOR)\n",
                optarg);
        return 2;
      }
      have_spec = true;
      break;
    case OPT_SEED:
      if (!parse_num("seed", optarg, 0, INT64_MAX, &x))
        return 2;
      seed = (uint64_t)x;
      have_seed = true;
      break;
    case OPT_PV_PEAK:
      if (!parse_num("pv-peak", optarg, 1, 1000000, &x))
        return 2;
      cfg.household.pv_peak_w = (uint32_t)x;
      break;
    case OPT_BATTERY_WH:
      if (!parse_num("battery-wh", optarg, 1, 10000000, &x))
        return 2;
      cfg.household.battery_wh = (uint32_t)x;
      break;
    case OPT_NO_BATTERY:
      cfg.household.no_battery = true;
      break;
    case OPT_HOUSEHOLD:
      if (nspecs == (int)(sizeof specs / sizeof specs[0])) {
        fprintf(stderr, "gridlet-sim devices: too many --household\n");
        return 2;
      }
      specs[nspecs++] = optarg;
      break;
    case OPT_CONTROL:
      cfg.control = true;
      break;
    case OPT_CONTROL_PORT:
      if (!parse_num("control-port", optarg, 1, 65535, &x))
        return 2;
      cfg.control = true;
      cfg.control_port = (uint16_t)x;
      break;
    case OPT_FAULT: {
      char err[160];
      if (nfaults == MAX_FAULTS) {
        fprintf(stderr, "gridlet-sim devices: at most %d --fault\n",
                MAX_FAULTS);
        return 2;
      }
      if (sim_fault_parse(optarg, &faults[nfaults], err, sizeof err) != 0) {
        fprintf(stderr, "gridlet-sim devices: --fault \"%s\": %s\n", optarg,
                err);
        return 2;
      }
      nfaults++;
      break;
    }
    case OPT_LOG_LEVEL: {
      int level;
      if (gl_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, "gridlet-sim devices: bad log level \"%s\"\n", optarg);
        return 2;
      }
      gl_log_set_level(level);
      break;
    }
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "gridlet-sim devices: unexpected argument \"%s\"\n",
            argv[optind]);
    return 2;
  }

  if (nspecs > 0) {
    int n = cfg.households ? cfg.households : 1;
    for (int i = 0; i < n; i++)
      each[i] = cfg.household;
    for (int k = 0; k < nspecs; k++) {
      char err[160];
      int idx = 0;
      sim_household_cfg tmp;
      /* Parse against the template first, to learn the index. */
      tmp = cfg.household;
      if (sim_household_spec_parse(specs[k], n, &idx, &tmp, err, sizeof err) !=
              0 ||
          sim_household_spec_parse(specs[k], n, &idx, &each[idx], err,
                                   sizeof err) != 0) {
        fprintf(stderr, "gridlet-sim devices: --household \"%s\": %s\n",
                specs[k], err);
        return 2;
      }
    }
    cfg.each = each;
  }

  gl_clock real = gl_clock_real();
  gl_accel_clock *accel = NULL;
  gl_clock clock = real;
  if (have_spec) {
    /* The shared clock of a demo: every process agrees on virtual time. */
    if (gl_clock_spec_open(&spec, &clock, &accel) != 0)
      return 1;
    speed = spec.accel ? spec.speed : 1;
  } else if (speed > 1 || start) {
    accel = gl_accel_clock_new(start ? start : gl_clock_now(&real),
                               (uint32_t)speed);
    if (!accel)
      return 1;
    clock = gl_accel_clock_clock(accel);
  }
  gl_seeded_rand *sr = have_seed ? gl_seeded_rand_new(seed) : NULL;
  gl_rand rand = sr ? gl_seeded_rand_rand(sr) : gl_rand_system();

  sim_devices *sd = NULL;
  int rc = sim_devices_new(&cfg, clock, real, rand, &sd);
  if (rc == 0)
    rc = sim_devices_bind(sd);
  for (int i = 0; rc == 0 && i < nfaults; i++) {
    int frc = sim_devices_fault(sd, &faults[i]);
    if (frc != 0) {
      GL_ERROR("sim", "fault %d does not apply: %s", i + 1, gl_strerror(frc));
      rc = frc;
    }
  }
  if (rc == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    running = sd;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sim_devices_print(sd, stdout);
    GL_INFO("sim", "serving %d household(s)%s",
            cfg.households ? cfg.households : 1,
            speed > 1 ? " on an accelerated clock" : "");
    rc = sim_devices_run(sd);
    running = NULL;
    GL_INFO("sim", "stopped");
  }
  sim_devices_free(sd);
  gl_seeded_rand_free(sr);
  gl_accel_clock_free(accel);
  return rc == 0 ? 0 : 1;
}
