/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_report.h - the files a research run writes: KPI tables
 * (text and CSV), time series, the comparison of mechanisms, and plots
 * rendered with gnuplot. gridlet/sim_run.h lists the files; the formats
 * are documented in docs/research.md.
 *
 * Every number is printed from integers (energies from Wh, money from µ,
 * ratios from ppm, with half-to-even rounding where digits are dropped),
 * so files are byte-identical across runs and machines. Every file begins
 * with comment lines ("# ...") naming the gridlet version, the scenario
 * hash and the mechanism; CSV readers skip them with a comment option
 * (pandas: comment='#'). A figure that does not exist is empty in CSV and
 * "n/a" in text.
 *
 * Thread-safety: functions touch only the files and values given.
 */
#ifndef GRIDLET_SIM_REPORT_H
#define GRIDLET_SIM_REPORT_H

#include "gridlet/sim_diag.h"
#include "gridlet/sim_kpi.h"
#include "gridlet/sim_run.h"
#include "gridlet/sim_scenario.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Numbers as text ----------------------------------------------------- */

/* A buffer of SIM_FMT_MAX bytes holds any value of the sim_fmt_ functions
 * (at most 22 bytes: sign, 19 digits, point, NUL); a smaller `cap`
 * truncates (snprintf semantics, always NUL-terminated). */
#define SIM_FMT_MAX 32

/* Wh as kWh with three decimals ("1234.567"); "n/a" for SIM_NA. */
char *sim_fmt_kwh(int64_t wh, char *buf, size_t cap);

/* µ as currency with two decimals, half to even ("-12.35"). */
char *sim_fmt_money(int64_t micro, char *buf, size_t cap);

/* µ/kWh as currency per kWh with four decimals ("0.2345"); "n/a". */
char *sim_fmt_price(int64_t micro_per_kwh, char *buf, size_t cap);

/* ppm as a percentage with two decimals ("38.21"); "n/a". */
char *sim_fmt_pct(int64_t ppm, char *buf, size_t cap);

/* ---- Streamed series ----------------------------------------------------- */

/* One interval of the community, for timeseries.csv. */
typedef struct sim_series_row {
  int64_t start;
  const sim_totals *sums; /* this interval's sums over present households */
  int64_t stored_mwh;     /* batteries at the end, SIM_NA / -1: none */
  int64_t local;          /* Wh traded locally */
  int64_t buy_price, sell_price; /* volume-weighted, SIM_NA: no trade */
  int64_t transformer;           /* sum of net, Wh (> 0 import) */
  int64_t present, absent;
  int64_t fees, surplus, utility; /* µ */
} sim_series_row;

void sim_report_series_header(FILE *f, const sim_run_info *info,
                              const sim_mechanism *m, bool physical);
void sim_report_series_row(FILE *f, const sim_series_row *r, bool physical);

/* daily.csv: one row per local day (`day`: days since 1970-01-01). */
void sim_report_daily_header(FILE *f, const sim_run_info *info,
                             const sim_mechanism *m, bool physical);
void sim_report_daily_row(FILE *f, int64_t day, const sim_totals *t,
                          int64_t stored_mwh, bool physical);

/* households.csv: one row per household and interval. */
void sim_report_households_header(FILE *f, const sim_run_info *info,
                                  const sim_mechanism *m, bool physical);
void sim_report_households_row(FILE *f, int64_t start, const char *id,
                               const sim_totals *t, int64_t stored_mwh,
                               bool physical);

/* ---- Tables -------------------------------------------------------------- */

/* sim_report_summary - the KPI tables of one mechanism (summary.txt). */
void sim_report_summary(FILE *f, const sim_scenario *sc,
                        const sim_run_info *info, const sim_world_result *w);

/* sim_report_kpi_csv - kpi.csv: households, then the community. */
void sim_report_kpi_csv(FILE *f, const sim_run_info *info,
                        const sim_world_result *w);

/* sim_report_compare - one table, a column per mechanism (compare.txt). */
void sim_report_compare(FILE *f, const sim_scenario *sc,
                        const sim_run_info *info, const sim_world_result *w,
                        size_t n);

/* sim_report_compare_csv - compare.csv: a row per KPI, a column per
 * mechanism, in base units. */
void sim_report_compare_csv(FILE *f, const sim_run_info *info,
                            const sim_world_result *w, size_t n);

/*
 * sim_report_scenario - write dir/scenario.ini (the canonical scenario).
 * Returns 0, GL_EIO (in diag) or GL_ENOMEM.
 */
int sim_report_scenario(const char *dir, const sim_scenario *sc,
                        sim_diag *diag);

/*
 * sim_report_write - the end-of-run files: for each mechanism
 * summary.txt and kpi.csv (in its subdirectory when n > 1), and with
 * n > 1 compare.txt and compare.csv in dir. Returns 0 or GL_EIO.
 */
int sim_report_write(const char *dir, const sim_scenario *sc,
                     const sim_run_info *info, const sim_world_result *w,
                     size_t n, sim_diag *diag);

/* ---- Plots --------------------------------------------------------------- */

/*
 * sim_plot_script - the gnuplot script that draws one mechanism's plots
 * (prices, flows, battery, savings per household) from the files in
 * `dir` into PNG and SVG files in dir/plots; or, with n > 1, the comparison
 * plots. Written to `f`. Paths in the script are relative to `dir`.
 */
void sim_plot_script(FILE *f, const sim_run_info *info,
                     const sim_world_result *w, size_t n, bool compare);

/*
 * sim_plot_render - write the scripts and data the plots need
 * (plots/plots.gp, plots/savings.dat per mechanism, and with n > 1 the
 * comparison's in dir/plots) and run `gnuplot` (NULL: "gnuplot" from
 * PATH) on each. Returns 0, GL_ENOENT (no gnuplot), GL_EIO (it failed;
 * the message names the script) or GL_ENOMEM.
 */
int sim_plot_render(const char *dir, const sim_run_info *info,
                    const sim_world_result *w, size_t n, const char *gnuplot,
                    sim_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_REPORT_H */
