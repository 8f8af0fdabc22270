/* SPDX-License-Identifier: MIT */
/*
 * bench_sim_run.c - the research simulator's replay speed: household-
 * intervals per second of `gridlet-sim run` (the library's sim_run, no
 * output files), on one core, and its peak memory for a short and a long
 * span (which must not grow with the span: inputs are streamed).
 *
 *   bench_sim_run [--households N] [--days D] [--repeats R]
 *                 [--mechanism SPEC] [--short-days D] [--no-file]
 *                 [--outputs]
 *
 * Workloads (medians over R repeats, wall clock and process CPU time):
 *   synthetic  N households of the generator (PV, batteries on a third of
 *              them, standing limits drawn per household), D days of
 *              15-minute intervals;
 *   ausgrid    the same community written first as an Ausgrid-layout file
 *              (half-hourly GC, CL, GG rows, customer by customer, as the
 *              dataset is), replayed into 15-minute intervals.
 * Peak RSS is measured in a fresh process per span (the benchmark runs
 * itself with --child), as VmHWM of that process.
 */
#include "benchutil.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_run.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int households = 1000, days = 365, repeats = 3, short_days = 30;
static const char *mechanism = "expost/k:0.5";
static bool with_file = true, outputs = false;
static char tmpdir[512];

static const char *scenario_text(bool file, int span_days, char *buf,
                                 size_t cap, const char *data) {
  if (!file) {
    snprintf(buf, cap,
             "[scenario]\nname = bench\nseed = 1\n"
             "start = 2026-01-01T00:00:00Z\ndays = %d\ninterval = 15m\n"
             "[tariff]\nretail = 0.30\nfeed_in = 0.06\nnetwork_fee = 0.01\n"
             "[defaults]\nload_kwh = 2500..7500\nbuy_limit = 0.12..0.30\n"
             "sell_limit = 0.06..0.20\n"
             "[household pv]\ncount = %d\npv_kwp = 2..9\n"
             "[household bat]\ncount = %d\npv_kwp = 6\nbattery_kwh = 5..13\n"
             "[household none]\ncount = %d\n",
             span_days, households - 2 * (households / 3), households / 3,
             households / 3);
  } else {
    snprintf(buf, cap,
             "[scenario]\nname = bench\nstart = 2012-06-30T14:00:00Z\n"
             "days = %d\ninterval = 15m\n"
             "[tariff]\nretail = 0.30\nfeed_in = 0.06\nnetwork_fee = 0.01\n"
             "[input]\nsource = ausgrid\npath = %s\n"
             "[defaults]\nbuy_limit = 0.12..0.30\nsell_limit = 0.06..0.20\n",
             span_days, data);
  }
  return buf;
}

/* An Ausgrid-layout file of `households` customers and `days` days from
 * 1 July 2012, made-up values. */
static int write_ausgrid(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  fprintf(f, "Solar home half-hour data - benchmark (made up)\n"
             "Customer,Generator Capacity,Postcode,Consumption Category,"
             "date");
  for (int i = 0; i < 48; i++) {
    int m = ((i + 1) * 30) % 1440;
    fprintf(f, ",%d:%02d", m / 60, m % 60);
  }
  fputc('\n', f);
  gl_seeded_rand *sr = gl_seeded_rand_new(99);
  gl_rand r = gl_seeded_rand_rand(sr);
  static const int mdays[12] = {31, 31, 30, 31, 30, 31, 31, 28, 31, 30, 31, 30};
  for (int c = 1; c <= households; c++) {
    uint64_t u;
    gl_rand_u64(&r, &u);
    int kwp10 = 10 + (int)(u % 80);
    bool cl = c % 3 == 0;
    int month = 0, day = 1, year = 2012;
    for (int d = 0; d < days; d++) {
      for (int ch = 0; ch < 3; ch++) {
        if (ch == 1 && !cl)
          continue;
        static const char *const names[3] = {"GC", "CL", "GG"};
        fprintf(f, "%d,%d.%d,2000,%s,%d/%d/%d", c, kwp10 / 10, kwp10 % 10,
                names[ch], day, (month + 6) % 12 + 1, year);
        for (int i = 0; i < 48; i++) {
          gl_rand_u64(&r, &u);
          double h = i * 0.5 + 0.25, v;
          if (ch == 0)
            v = 0.15 + 0.35 * exp(-(h - 19) * (h - 19) / 6.0) +
                (double)(u % 100) / 1000.0;
          else if (ch == 1)
            v = i < 6 ? 1.2 : 0.0;
          else
            v = h < 6 || h > 19
                    ? 0.0
                    : kwp10 / 10.0 * 0.4 * sin(3.14159 * (h - 6) / 13) *
                          (0.5 + (double)(u % 50) / 100.0);
          /* kWh with three decimals, formatted by hand: printf("%.3f")
           * would make writing the file slower than replaying it. */
          long wh = lround(v * 1000);
          char cell[24];
          int k = (int)sizeof cell;
          cell[--k] = '\0';
          for (int dgt = 0; dgt < 3; dgt++, wh /= 10)
            cell[--k] = (char)('0' + wh % 10);
          cell[--k] = '.';
          do {
            cell[--k] = (char)('0' + wh % 10);
            wh /= 10;
          } while (wh);
          cell[--k] = ',';
          fputs(cell + k, f);
        }
        fputc('\n', f);
      }
      if (++day > mdays[month]) {
        day = 1;
        if (++month == 6)
          year++;
        month %= 12;
      }
    }
  }
  gl_seeded_rand_free(sr);
  return fclose(f);
}

/* One run; returns household-intervals, or -1. */
static int64_t run_once(bool file, int span_days, const char *data,
                        const char *out_dir) {
  char text[2048];
  scenario_text(file, span_days, text, sizeof text, data);
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  char name[600];
  snprintf(name, sizeof name, "%s/bench.ini", tmpdir);
  if (sim_scenario_parse(name, text, strlen(text), NULL, 0, &sc, &d)) {
    sim_diag_print(&d, stderr);
    return -1;
  }
  sim_mechanism m;
  if (sim_mechanism_parse(mechanism, &sc->market, &m, NULL)) {
    fprintf(stderr, "bad --mechanism %s\n", mechanism);
    sim_scenario_free(sc);
    return -1;
  }
  sim_run_options o = {.mechanisms = &m, .n_mechanisms = 1, .out_dir = out_dir};
  sim_results *r = NULL;
  int rc = sim_run(sc, &o, &r, &d);
  sim_scenario_free(sc);
  if (rc) {
    sim_diag_print(&d, stderr);
    return -1;
  }
  const sim_run_info *in = sim_results_info(r);
  int64_t hi = in->intervals * (int64_t)in->n_homes;
  sim_results_free(r);
  return hi;
}

static void measure(const char *what, bool file, const char *data) {
  int64_t wall[16], cpu[16], hi = 0;
  char out[600];
  snprintf(out, sizeof out, "%s/out", tmpdir);
  for (int i = 0; i < repeats; i++) {
    int64_t t0 = gb_now_ns(), c0 = gb_cpu_ns();
    hi = run_once(file, days, data, outputs ? out : NULL);
    wall[i] = gb_now_ns() - t0;
    cpu[i] = gb_cpu_ns() - c0;
    if (hi < 0)
      exit(1);
  }
  int64_t mw = gb_median(wall, (size_t)repeats);
  int64_t mc = gb_median(cpu, (size_t)repeats);
  printf("%s, %d households x %d days, %s%s: %" PRId64 " household-intervals\n",
         what, households, days, mechanism, outputs ? ", with outputs" : "",
         hi);
  printf("  wall: median %.2f s = %.0f household-intervals/s (min %.2f, "
         "max %.2f s, %d runs)\n",
         (double)mw / 1e9, (double)hi / ((double)mw / 1e9),
         (double)wall[0] / 1e9, (double)wall[repeats - 1] / 1e9, repeats);
  printf("  cpu:  median %.2f s = %.0f household-intervals/s per core\n",
         (double)mc / 1e9, (double)hi / ((double)mc / 1e9));
}

/* A whole number in [lo, hi] from text, or exit(2). */
static long num(const char *what, const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "bench_sim_run: %s must be %ld..%ld, got '%s'\n", what, lo,
            hi, s);
    exit(2);
  }
  return v;
}

static long vm_hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
      break;
  if (f)
    fclose(f);
  return v;
}

/* Peak RSS of a fresh process running one span. */
static long child_rss(const char *self, bool file, int span, const char *data) {
  int fds[2];
  if (pipe(fds))
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    char hs[32], ds[32];
    snprintf(hs, sizeof hs, "%d", households);
    snprintf(ds, sizeof ds, "%d", span);
    execl(self, self, "--child", file ? "file" : "synthetic", hs, ds,
          data ? data : "-", tmpdir, mechanism, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[64] = {0};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  buf[n > 0 ? n : 0] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl)
    *nl = '\0';
  return n > 0 ? num("child's peak RSS", buf, 0, LONG_MAX) : -1;
}

int main(int argc, char **argv) {
  gl_log_set_level(GL_LOG_ERROR);
  if (argc == 8 && strcmp(argv[1], "--child") == 0) {
    households = (int)num("households", argv[3], 3, 1000000);
    snprintf(tmpdir, sizeof tmpdir, "%s", argv[6]);
    mechanism = argv[7];
    bool file = strcmp(argv[2], "file") == 0;
    if (run_once(file, (int)num("days", argv[4], 1, 100000),
                 file ? argv[5] : NULL, NULL) < 0)
      return 1;
    printf("%ld\n", vm_hwm_kib());
    return 0;
  }
  static const struct option opts[] = {
      {"households", required_argument, NULL, 'n'},
      {"days", required_argument, NULL, 'd'},
      {"repeats", required_argument, NULL, 'r'},
      {"mechanism", required_argument, NULL, 'm'},
      {"short-days", required_argument, NULL, 's'},
      {"no-file", no_argument, NULL, 'F'},
      {"outputs", no_argument, NULL, 'o'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      households = (int)num("--households", optarg, 3, 1000000);
      break;
    case 'd':
      days = (int)num("--days", optarg, 1, 100000);
      break;
    case 'r':
      repeats = (int)num("--repeats", optarg, 1, 16);
      break;
    case 'm':
      mechanism = optarg;
      break;
    case 's':
      short_days = (int)num("--days", optarg, 1, 100000);
      break;
    case 'F':
      with_file = false;
      break;
    case 'o':
      outputs = true;
      break;
    default:
      fprintf(stderr, "usage: bench_sim_run [--households N] [--days D] "
                      "[--repeats R] [--mechanism SPEC] [--short-days D] "
                      "[--no-file] [--outputs]\n");
      return 2;
    }
  }
  if (households < 3 || days < 1 || repeats < 1 || repeats > 16 ||
      short_days < 1 || short_days > days)
    return 2;
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(tmpdir, sizeof tmpdir, "%s/gridlet-bench-sim-XXXXXX", base);
  if (!mkdtemp(tmpdir))
    return 1;
  char self[512];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0)
    return 1;
  self[sl] = '\0';

  measure("synthetic", false, NULL);
  printf("  peak RSS: %d days %ld KiB, %d days %ld KiB\n", short_days,
         child_rss(self, false, short_days, NULL), days,
         child_rss(self, false, days, NULL));
  if (with_file) {
    char data[600];
    snprintf(data, sizeof data, "%s/ausgrid.csv", tmpdir);
    int64_t t0 = gb_now_ns();
    if (write_ausgrid(data)) {
      fprintf(stderr, "cannot write %s\n", data);
      return 1;
    }
    struct stat st;
    stat(data, &st);
    printf("\n(wrote a %.0f MB Ausgrid-layout file in %.1f s)\n",
           (double)st.st_size / 1e6, (double)(gb_now_ns() - t0) / 1e9);
    measure("ausgrid file", true, data);
    printf("  peak RSS: %d days %ld KiB, %d days %ld KiB\n", short_days,
           child_rss(self, true, short_days, data), days,
           child_rss(self, true, days, data));
    remove(data);
  }
  static const char *const files[] = {"scenario.ini", "summary.txt", "kpi.csv",
                                      "timeseries.csv", "daily.csv"};
  char p[700];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/out/%s", tmpdir, files[i]);
    remove(p);
  }
  snprintf(p, sizeof p, "%s/out", tmpdir);
  rmdir(p);
  rmdir(tmpdir);
  return 0;
}
