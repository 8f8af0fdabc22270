/* SPDX-License-Identifier: MIT */
/*
 * plot.c - plots of a research run, drawn by gnuplot (Debian's
 * gnuplot-nox has the pngcairo and svg terminals) from the CSV files the
 * run wrote. See gridlet/sim_report.h.
 *
 * The scripts are plain text next to the plots (plots/plots.gp), so a
 * researcher can restyle a figure and run gnuplot on it again. Runs of up
 * to 14 days plot every interval; longer ones plot days (daily.csv).
 */
#include "gridlet/sim_report.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)

static const struct term {
  const char *ext, *spec;
} terms[] = {
    {"png", "pngcairo size 960,480 font 'DejaVu Sans,10'"},
    {"svg", "svg size 960,480 dynamic font 'DejaVu Sans,10'"},
};

static bool daily_series(const sim_run_info *info) {
  return info->end - info->start > 14 * DAY_NS;
}

static void preamble(FILE *f, const sim_run_info *info, const char *what) {
  fprintf(f,
          "# gridlet-sim %s: %s\n# scenario sha256 %s\n"
          "# Run from the directory above plots/: gnuplot plots/%s\n",
          info->version, what, info->scenario_hash, "plots.gp");
  /* Every figure names what made it, like every file does. */
  fprintf(f,
          "set label 99 'gridlet-sim %s, scenario %.16s' at screen 0.005, "
          "screen 0.015 font ',7' tc rgb 'gray50'\n",
          info->version, info->scenario_hash);
  fputs("set datafile separator ','\n"
        "set datafile commentschars '#'\n"
        "set datafile columnheaders\n"
        "set grid\nset key outside right top\n"
        "set style data lines\n",
        f);
}

static void time_axis(FILE *f, const sim_run_info *info) {
  if (daily_series(info))
    fputs("set xdata time\nset timefmt '%Y-%m-%d'\nset format x '%d %b'\n", f);
  else
    fputs("set xdata time\nset timefmt '%Y-%m-%dT%H:%M:%SZ'\n"
          "set format x \"%d %b\\n%H:%M\"\n",
          f);
}

void sim_plot_script(FILE *f, const sim_run_info *info,
                     const sim_world_result *w, size_t n, bool compare) {
  bool daily = daily_series(info);
  const char *src = daily ? "daily.csv" : "timeseries.csv";
  const char *per = daily ? "per day" : "per interval";
  int gi = daily ? 11 : 12, ge = daily ? 12 : 13;
  const char *cur = info->currency;
  if (!compare) {
    preamble(f, info, w->mechanism.name);
    for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
      const struct term *t = &terms[k];
      fprintf(f, "\nset terminal %s\n", t->spec);
      time_axis(f, info);
      fprintf(f,
              "set output 'plots/prices.%s'\n"
              "set title 'Local price (%s, volume-weighted, %s)'\n"
              "set ylabel '%s/kWh'\n",
              t->ext, w->mechanism.name, per, cur);
      /* Intervals without a local trade have no price (empty fields),
       * which gnuplot would bridge with a line: points show them as
       * gaps. */
      if (info->has_band) {
        double lo = (double)info->feed_in / 1e6,
               hi = (double)info->retail / 1e6;
        double m = (hi - lo) * 0.05 + 1e-6;
        fprintf(f, "set yrange [%.6f:%.6f]\n", lo - m, hi + m);
      }
      fprintf(f, "plot '%s' using 1:($10/1e6) title 'local price' %s", src,
              daily ? "with linespoints pt 7 ps 0.5"
                    : "with points pt 7 ps 0.3");
      if (info->has_band)
        fprintf(f,
                ", %.6f title 'retail' dt 2 lc 'gray40', %.6f title "
                "'feed-in' dt 3 lc 'gray40'",
                (double)info->retail / 1e6, (double)info->feed_in / 1e6);
      fputs("\nunset yrange\n", f);
      fprintf(f,
              "set output 'plots/flows.%s'\n"
              "set title 'Community energy (%s)'\nset ylabel 'kWh'\n",
              t->ext, per);
      if (info->physical)
        fprintf(f,
                "plot '%s' using 1:($2/1000) title 'load', '' using "
                "1:($3/1000) title 'pv', '' using 1:($9/1000) title 'p2p', "
                "'' using 1:($%d/1000) title 'from utility', '' using "
                "1:($%d/1000) title 'to utility'\n",
                src, gi, ge);
      else
        fprintf(f,
                "plot '%s' using 1:($9/1000) title 'p2p', '' using "
                "1:($%d/1000) title 'from utility', '' using 1:($%d/1000) "
                "title 'to utility'\n",
                src, gi, ge);
      if (info->physical) {
        fprintf(f,
                "set output 'plots/battery.%s'\n"
                "set title 'Energy stored in batteries (%s)'\n"
                "set ylabel 'kWh'\n"
                "plot '%s' using 1:($8/1000) title 'stored' lw 1.5\n",
                t->ext, daily ? "end of day" : "end of interval", src);
      }
      fprintf(f,
              "unset xdata\nset format x '%%g'\n"
              "set output 'plots/savings.%s'\n"
              "set title 'Savings per household against no trading (%s)'\n"
              "set ylabel '%s'\nset xlabel 'households, by savings'\n"
              "set style fill solid 0.6 noborder\n"
              "set datafile nocolumnheaders\n"
              "plot 'plots/savings.dat' using 1:2 with boxes notitle\n"
              "set datafile columnheaders\nunset xlabel\n",
              t->ext, w->mechanism.name, cur);
    }
    fputs("unset output\n", f);
    return;
  }
  preamble(f, info, "comparison");
  /* Several mechanisms' prices overlap unreadably per interval: compare
   * daily averages unless the run is only a day or two. */
  bool cdaily = info->end - info->start > 2 * DAY_NS;
  if (cdaily) {
    src = "daily.csv";
    per = "daily volume-weighted average";
  }
  for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
    const struct term *t = &terms[k];
    fprintf(f, "\nset terminal %s\n", t->spec);
    if (cdaily)
      fputs("set xdata time\nset timefmt '%Y-%m-%d'\nset format x '%d %b'\n",
            f);
    else
      time_axis(f, info);
    fprintf(f,
            "set output 'plots/compare-prices.%s'\n"
            "set title 'Local price by mechanism (%s)'\nset ylabel '%s/kWh'\n"
            "plot ",
            t->ext, per, cur);
    for (size_t i = 0; i < n; i++) {
      char dir[SIM_MECH_NAME_MAX + 1];
      sim_mechanism_dirname(&w[i].mechanism, dir, sizeof dir);
      fprintf(f, "%s'%s/%s' using 1:($10/1e6) title '%s' %s", i ? ", " : "",
              dir, src, w[i].mechanism.name,
              cdaily ? "with linespoints pt 7 ps 0.5 lw 1.5"
                     : "with points pt 7 ps 0.3");
    }
    fputs("\n", f);
    fprintf(f,
            "unset xdata\nset format x '%%g'\n"
            "set output 'plots/compare-savings.%s'\n"
            "set title 'Savings per household: min, p10, median, p90, max'\n"
            "set ylabel '%s'\nset xrange [0.5:%zu.5]\nset boxwidth 0.4\n"
            "set datafile nocolumnheaders\n"
            "set style fill solid 0.3\nset bars 4\n"
            "plot 'plots/compare-savings.dat' using "
            "1:4:3:7:6:xticlabels(2) with candlesticks title "
            "'p10..p90, min..max', '' using 1:5:5:5:5 with candlesticks lw 2 "
            "lc 'black' title 'median'\n"
            "set datafile columnheaders\nunset xrange\n",
            t->ext, cur, n);
  }
  fputs("unset output\n", f);
}

/* ---- Rendering ----------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int write_file(const char *path, sim_diag *diag, FILE **out) {
  *out = fopen(path, "w");
  if (!*out) {
    sim_diag_add(diag, "%s: cannot create: %s", path, strerror(errno));
    return GL_EIO;
  }
  return 0;
}

static int close_file(FILE *f, const char *path, sim_diag *diag) {
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0 || bad) {
    sim_diag_add(diag, "%s: write error", path);
    return GL_EIO;
  }
  return 0;
}

/* Run gnuplot on plots/plots.gp inside `dir`. */
static int run_gnuplot(const char *dir, const char *gnuplot, sim_diag *diag) {
  const char *prog = gnuplot ? gnuplot : "gnuplot";
  pid_t pid = fork();
  if (pid < 0) {
    sim_diag_add(diag, "cannot start gnuplot: %s", strerror(errno));
    return GL_EIO;
  }
  if (pid == 0) {
    if (chdir(dir) != 0)
      _exit(126);
    execlp(prog, prog, "plots/plots.gp", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      sim_diag_add(diag, "waiting for gnuplot: %s", strerror(errno));
      return GL_EIO;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    sim_diag_add(diag,
                 "cannot run %s (install Debian's gnuplot-nox, or run without "
                 "plots)",
                 prog);
    return GL_ENOENT;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    sim_diag_add(diag, "%s failed on %s/plots/plots.gp (status %d)", prog, dir,
                 status);
    return GL_EIO;
  }
  return 0;
}

static int plots_dir(const char *dir, char *pd, size_t cap, sim_diag *diag) {
  snprintf(pd, cap, "%s/plots", dir);
  if (mkdir(pd, 0755) != 0 && errno != EEXIST) {
    sim_diag_add(diag, "%s: cannot create: %s", pd, strerror(errno));
    return GL_EIO;
  }
  return 0;
}

static int render_one(const char *dir, const sim_run_info *info,
                      const sim_world_result *w, const char *gnuplot,
                      sim_diag *diag) {
  char pd[SIM_PATH_MAX + 16], path[SIM_PATH_MAX + 48];
  int rc = plots_dir(dir, pd, sizeof pd, diag);
  if (rc)
    return rc;
  /* Savings per household, ascending, in currency units. */
  int64_t *v = malloc((w->n_homes ? w->n_homes : 1) * sizeof *v);
  if (!v)
    return GL_ENOMEM;
  for (size_t i = 0; i < w->n_homes; i++)
    v[i] = w->homes[i].savings;
  qsort(v, w->n_homes, sizeof *v, cmp_i64);
  FILE *f;
  snprintf(path, sizeof path, "%s/savings.dat", pd);
  if ((rc = write_file(path, diag, &f))) {
    free(v);
    return rc;
  }
  fprintf(f, "# rank savings(%s), ascending\n", info->currency);
  for (size_t i = 0; i < w->n_homes; i++) {
    char b[40];
    fprintf(f, "%zu,%s\n", i + 1, sim_fmt_money(v[i], b, sizeof b));
  }
  free(v);
  if ((rc = close_file(f, path, diag)))
    return rc;
  snprintf(path, sizeof path, "%s/plots.gp", pd);
  if ((rc = write_file(path, diag, &f)))
    return rc;
  sim_plot_script(f, info, w, 1, false);
  if ((rc = close_file(f, path, diag)))
    return rc;
  return run_gnuplot(dir, gnuplot, diag);
}

int sim_plot_render(const char *dir, const sim_run_info *info,
                    const sim_world_result *w, size_t n, const char *gnuplot,
                    sim_diag *diag) {
  int rc;
  if (n == 1)
    return render_one(dir, info, w, gnuplot, diag);
  for (size_t k = 0; k < n; k++) {
    char sub[SIM_PATH_MAX + SIM_MECH_NAME_MAX + 2], name[SIM_MECH_NAME_MAX + 1];
    sim_mechanism_dirname(&w[k].mechanism, name, sizeof name);
    snprintf(sub, sizeof sub, "%s/%s", dir, name);
    if ((rc = render_one(sub, info, &w[k], gnuplot, diag)))
      return rc;
  }
  char pd[SIM_PATH_MAX + 16], path[SIM_PATH_MAX + 48];
  if ((rc = plots_dir(dir, pd, sizeof pd, diag)))
    return rc;
  FILE *f;
  snprintf(path, sizeof path, "%s/compare-savings.dat", pd);
  if ((rc = write_file(path, diag, &f)))
    return rc;
  fprintf(f, "# index mechanism min p10 p50 p90 max (%s)\n", info->currency);
  for (size_t k = 0; k < n; k++) {
    const sim_distribution *d = &w[k].community.dist;
    char a[32], b[32], c[32], e[32], g[32];
    fprintf(
        f, "%zu,%s,%s,%s,%s,%s,%s\n", k + 1, w[k].mechanism.name,
        sim_fmt_money(d->min, a, sizeof a), sim_fmt_money(d->p10, b, sizeof b),
        sim_fmt_money(d->p50, c, sizeof c), sim_fmt_money(d->p90, e, sizeof e),
        sim_fmt_money(d->max, g, sizeof g));
  }
  if ((rc = close_file(f, path, diag)))
    return rc;
  snprintf(path, sizeof path, "%s/plots.gp", pd);
  if ((rc = write_file(path, diag, &f)))
    return rc;
  sim_plot_script(f, info, w, n, true);
  if ((rc = close_file(f, path, diag)))
    return rc;
  return run_gnuplot(dir, gnuplot, diag);
}
