/* SPDX-License-Identifier: MIT */
/*
 * gridlet-probe - point it at a device, see what it is and what it reads.
 *
 *   gridlet-probe tcp:192.168.1.10            SunSpec discovery, all values
 *   gridlet-probe -u 3 -p meter.profile rtu:/dev/ttyUSB0:9600:8E1
 *
 * A thin shell over hal_probe_run(): parse the command line, build a link
 * with the real clock, print the report. Never writes to the device.
 * Exit status: 0 success, 1 the device could not be read, 2 usage or
 * profile errors.
 */
#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_probe.h"
#include "gridlet/hal_profile.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: gridlet-probe [options] ENDPOINT\n"
             "\n"
             "ENDPOINT is tcp:HOST[:PORT] or rtu:DEVICE[:BAUD[:8N1]]\n"
             "\n"
             "  -u, --unit N        Modbus unit id (default: the profile's, "
             "else 1)\n"
             "  -p, --profile FILE  also read the quantities of this device "
             "profile\n"
             "  -t, --timeout DUR   response timeout (default 2s)\n"
             "  -a, --all           also list points the device does not "
             "implement\n"
             "  -m, --models        list the model chain only\n"
             "  -v, --verbose       debug logging (every request)\n"
             "  -h, --help          this text\n");
}

int main(int argc, char **argv) {
  gl_log_set_ident("gridlet-probe");
  /* The report says what went wrong; log lines only with -v. */
  gl_log_set_level(GL_LOG_ERROR);
  static const struct option longopts[] = {
      {"unit", required_argument, NULL, 'u'},
      {"profile", required_argument, NULL, 'p'},
      {"timeout", required_argument, NULL, 't'},
      {"all", no_argument, NULL, 'a'},
      {"models", no_argument, NULL, 'm'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  hal_probe_opts opts = {0};
  const char *profile_path = NULL;
  int64_t timeout = 2 * GL_NS_PER_SEC;
  int c;
  while ((c = getopt_long(argc, argv, "u:p:t:amvh", longopts, NULL)) != -1) {
    switch (c) {
    case 'u': {
      int64_t u;
      if (gl_conf_parse_int(optarg, &u) != 0 || u < 1 || u > 255) {
        fprintf(stderr, "gridlet-probe: unit must be 1..255\n");
        return 2;
      }
      opts.unit = (uint8_t)u;
      break;
    }
    case 'p':
      profile_path = optarg;
      break;
    case 't':
      if (gl_duration_parse(optarg, &timeout) != 0 || timeout <= 0) {
        fprintf(stderr, "gridlet-probe: bad timeout \"%s\" (e.g. 500ms)\n",
                optarg);
        return 2;
      }
      break;
    case 'a':
      opts.all_points = true;
      break;
    case 'm':
      opts.no_points = true;
      break;
    case 'v':
      gl_log_set_level(GL_LOG_DEBUG);
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  hal_profile profile;
  if (profile_path) {
    gl_conf_errors errs;
    if (hal_profile_load(profile_path, &profile, &errs) != 0) {
      for (int i = 0; i < errs.count && i < GL_CONF_MAX_ERRORS; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
      return 2;
    }
    opts.profile = &profile;
  }
  hal_endpoint ep;
  char err[256];
  if (hal_endpoint_parse(argv[optind], &ep, err, sizeof err) != 0) {
    fprintf(stderr, "gridlet-probe: %s\n", err);
    return 2;
  }
  hal_transport t;
  if (hal_transport_modbus_new(&ep, &t) != 0) {
    fprintf(stderr, "gridlet-probe: cannot use endpoint %s\n", argv[optind]);
    return 2;
  }
  /* Probing is interactive: fail fast rather than wait out reconnects. */
  hal_link_cfg lc = {.timeout_ns = timeout, .attempts = 2};
  if (ep.kind == HAL_EP_RTU) {
    lc.pause_ns = HAL_RTU_PAUSE_NS;
    lc.unit_pause_ns = HAL_RTU_UNIT_PAUSE_NS;
  }
  hal_link *link =
      hal_link_new(t, &lc, gl_clock_real(), gl_rand_system(), "probe");
  if (!link) {
    fprintf(stderr, "gridlet-probe: out of memory\n");
    return 1;
  }
  int rc = hal_probe_run(link, &opts, stdout);
  hal_link_free(link);
  return rc == 0 ? 0 : 1;
}
