/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `gridlet-sim run` and `gridlet-sim compare`: load the
 * scenario, run it (sim_run), show a progress bar on a terminal, print the
 * KPI table. All the work is in the sim library (gridlet/sim_run.h).
 *
 * Exit status: 0 done; 1 a problem with the scenario, the input or the
 * outputs (each described on stderr as file:line: what); 2 bad command
 * line; 3 a ledger replay whose settlements differ from the recorded ones.
 */
#include "sim_tool.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/sim_report.h"
#include "gridlet/sim_run.h"
#include "gridlet/sim_scenario.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SETS_MAX 64

static void usage(FILE *f, bool compare) {
  fprintf(f,
          "usage: gridlet-sim %s SCENARIO [options]\n"
          "\n"
          "%s\n"
          "Outputs (KPI tables, CSV series, plots) go to --out DIR; the same\n"
          "scenario and seed always give the same bytes. docs/research.md\n"
          "describes the scenario file, the inputs and every output.\n"
          "\n"
          "  -o, --out DIR          output directory (default sim-NAME)\n"
          "      --set SEC.KEY=VAL  override a scenario setting (repeatable),\n"
          "                         e.g. --set market.rule=mcafee or\n"
          "                         --set household:h01.battery_kwh=10\n"
          "      --seed N           same as --set scenario.seed=N\n"
          "%s"
          "      --household-series also write households.csv (large)\n"
          "      --no-plots         do not run gnuplot\n"
          "      --gnuplot PROG     the gnuplot program (default gnuplot)\n"
          "      --check            check the scenario and its input, run "
          "nothing\n"
          "  -q, --quiet            print nothing but errors\n"
          "  -h, --help             this text\n",
          compare ? "compare" : "run",
          compare ? "Runs one scenario under several market mechanisms side "
                    "by side and\nprints one table with a column per "
                    "mechanism."
                  : "Replays a community through gridlet's market and "
                    "settlement (the\naggregator's code), interval by "
                    "interval.",
          compare
              ? "  -m, --mechanism SPEC   MODE[/RULE[:K]], e.g. expost/k:0.5 "
                "(repeatable;\n"
                "                         default: [market] compare)\n"
              : "      --ledger-out FILE  also write the run as a gridlet "
                "ledger\n");
}

/* The progress bar: on a terminal only, at most ten times a second. */
typedef struct progress {
  gl_clock clock;
  int64_t started, last;
  bool shown;
} progress;

static void on_progress(void *ctx, int64_t done, int64_t total) {
  progress *p = ctx;
  int64_t now = gl_clock_monotonic(&p->clock);
  if (done < total && now - p->last < 100 * GL_NS_PER_MS)
    return;
  p->last = now;
  int width = 40;
  int fill = total > 0 ? (int)(done * width / total) : width;
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = '\0';
  double secs = (double)(now - p->started) / 1e9;
  fprintf(stderr, "\r[%s] %3d%% %lld/%lld intervals %.1f s", bar,
          total > 0 ? (int)(done * 100 / total) : 100, (long long)done,
          (long long)total, secs);
  if (done >= total)
    fputc('\n', stderr);
  p->shown = true;
}

static int run_command(int argc, char **argv, bool compare) {
  static const struct option opts[] = {
      {"out", required_argument, NULL, 'o'},
      {"set", required_argument, NULL, 'S'},
      {"seed", required_argument, NULL, 's'},
      {"mechanism", required_argument, NULL, 'm'},
      {"ledger-out", required_argument, NULL, 'L'},
      {"household-series", no_argument, NULL, 'H'},
      {"no-plots", no_argument, NULL, 'P'},
      {"gnuplot", required_argument, NULL, 'G'},
      {"check", no_argument, NULL, 'c'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *sets[SETS_MAX + 1];
  size_t n_sets = 0;
  const char *specs[SIM_MECHANISMS_MAX];
  size_t n_specs = 0;
  char seedset[64];
  sim_run_options ro;
  memset(&ro, 0, sizeof ro);
  ro.plots = true;
  const char *out = NULL;
  bool check = false, quiet = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, compare ? "o:m:qh" : "o:qh", opts,
                          NULL)) != -1) {
    switch (c) {
    case 'o':
      out = optarg;
      break;
    case 'S':
    case 's':
      if (n_sets == SETS_MAX) {
        fprintf(stderr, "gridlet-sim: too many --set options\n");
        return 2;
      }
      if (c == 's') {
        snprintf(seedset, sizeof seedset, "scenario.seed=%s", optarg);
        sets[n_sets++] = seedset;
      } else {
        sets[n_sets++] = optarg;
      }
      break;
    case 'm':
      if (!compare || n_specs == SIM_MECHANISMS_MAX) {
        fprintf(stderr, "gridlet-sim: at most %d mechanisms\n",
                SIM_MECHANISMS_MAX);
        return 2;
      }
      specs[n_specs++] = optarg;
      break;
    case 'L':
      if (compare) {
        usage(stderr, compare);
        return 2;
      }
      ro.ledger_out = optarg;
      break;
    case 'H':
      ro.household_series = true;
      break;
    case 'P':
      ro.plots = false;
      break;
    case 'G':
      ro.gnuplot = optarg;
      break;
    case 'c':
      check = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      usage(stdout, compare);
      return 0;
    default:
      usage(stderr, compare);
      return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr, compare);
    return 2;
  }
  const char *file = argv[optind];
  gl_log_set_ident("gridlet-sim");
  if (quiet)
    gl_log_set_level(GL_LOG_ERROR);
  /* Problems are printed once, as file:line lines, not also as log lines. */
  gl_log_set_level(GL_LOG_ERROR - 1);

  sim_diag diag;
  memset(&diag, 0, sizeof diag);
  sim_scenario *sc = NULL;
  int rc = sim_scenario_load(file, sets, n_sets, &sc, &diag);
  if (rc) {
    sim_diag_print(&diag, stderr);
    return 1;
  }
  sim_mechanism mechs[SIM_MECHANISMS_MAX];
  if (compare) {
    if (n_specs == 0) {
      memcpy(mechs, sc->compare, sc->n_compare * sizeof *mechs);
      n_specs = sc->n_compare;
    } else {
      for (size_t i = 0; i < n_specs; i++) {
        const char *why;
        if (sim_mechanism_parse(specs[i], &sc->market, &mechs[i], &why)) {
          fprintf(stderr, "gridlet-sim: --mechanism %s: %s\n", specs[i], why);
          sim_scenario_free(sc);
          return 2;
        }
      }
    }
    ro.mechanisms = mechs;
    ro.n_mechanisms = n_specs;
  }
  char outdir[SIM_PATH_MAX];
  snprintf(outdir, sizeof outdir, "%s", out ? out : "");
  if (!out)
    snprintf(outdir, sizeof outdir, "sim-%s", sc->name);
  if (check) {
    ro.check_only = true;
    ro.out_dir = NULL;
    ro.plots = false;
    ro.ledger_out = NULL;
  } else {
    ro.out_dir = outdir;
  }
  progress prog = {.clock = gl_clock_real()};
  prog.started = prog.last = gl_clock_monotonic(&prog.clock);
  if (!quiet && !check && isatty(STDERR_FILENO)) {
    ro.progress = on_progress;
    ro.progress_ctx = &prog;
  }
  sim_results *res = NULL;
  rc = sim_run(sc, &ro, &res, &diag);
  if (rc) {
    if (prog.shown)
      fputc('\n', stderr);
    sim_diag_print(&diag, stderr);
    if (diag.count == 0)
      fprintf(stderr, "gridlet-sim: %s\n", gl_strerror(rc));
    sim_scenario_free(sc);
    return 1;
  }
  const sim_run_info *info = sim_results_info(res);
  int status = 0;
  for (size_t k = 0; k < info->n_worlds; k++)
    if (sim_results_world(res, k)->mismatched && sc->verify)
      status = 3;
  if (!quiet) {
    if (check) {
      printf("scenario %s is valid: %zu households, %lld intervals\n", file,
             info->n_homes, (long long)info->intervals);
    } else if (info->n_worlds > 1) {
      sim_report_compare(stdout, sc, info, sim_results_world(res, 0),
                         info->n_worlds);
      printf("\noutputs in %s\n", outdir);
    } else {
      sim_report_summary(stdout, sc, info, sim_results_world(res, 0));
      printf("\noutputs in %s\n", outdir);
    }
  }
  if (status == 3)
    fprintf(stderr,
            "gridlet-sim: the replay differs from the recorded settlements: "
            "%s\n",
            sim_results_world(res, 0)->first_mismatch);
  sim_results_free(res);
  sim_scenario_free(sc);
  return status;
}

int sim_cmd_run(int argc, char **argv) {
  return run_command(argc, argv, false);
}

int sim_cmd_compare(int argc, char **argv) {
  return run_command(argc, argv, true);
}
