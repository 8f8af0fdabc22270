/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_run.h - a research run: a scenario replayed interval by
 * interval through market/'s one pipeline (gridlet/market_interval.h, the
 * code the aggregator runs), under one mechanism or several side by side.
 *
 * Per interval, for each mechanism (a "world": its own batteries, price
 * history, market handle and accounts, all fed the same input):
 *   1. the input gives every household's load and PV (or, for a ledger,
 *      its measured net energy and recorded orders);
 *   2. expost: each present household runs its battery by its strategy
 *      (gridlet/sim_home.h), its measured net and standing limits go to
 *      mkt_interval_expost;
 *      exante: each household orders by the meter agent's rule
 *      (mtr_trading_order, on what it measured yesterday or in the interval
 *      its `forecast` names), in a random arrival order drawn from the
 *      seed; batteries run by their strategies; mkt_interval_exante clears
 *      the orders and settles them against the measured nets. Batteries of
 *      the follow-contract strategy need the contracts first: the same
 *      orders are then cleared once before with mkt_auction (deterministic,
 *      so those are the contracts settled) and those batteries follow them;
 *      continuous: the same orders arrive in a random order at a continuous
 *      double auction (market_cda.h, band as price range, one tick per
 *      µ/kWh), follow-contract batteries follow its trades, and
 *      mkt_interval_continuous settles them;
 *   3. the interval's accounts feed the KPIs (gridlet/sim_kpi.h), the
 *      conservation checks and the outputs.
 * Conservation is checked in every interval (each household's energy
 * balance, the market's energy and money laws, the sum of the measured
 * nets) and over the run; a violation stops the run with GL_EINTERNAL.
 * The price forecast of the price-aware strategy is, per time of day, an
 * average of past interval prices (each new price weighs 1/4): the
 * clearing price when energy traded locally, else retail when the
 * community was short and feed-in when it was long.
 *
 * ## Outputs (when out_dir is given; docs/research.md shows them)
 *   scenario.ini      the canonical scenario (gridlet/sim_scenario.h)
 *   summary.txt       KPI tables: community and households
 *   kpi.csv           one row per household and one for the community
 *   timeseries.csv    one row per interval (community sums, prices)
 *   daily.csv         one row per local day
 *   households.csv    one row per household and interval (optional)
 *   plots/            gnuplot script, PNG and SVG (optional)
 * With several mechanisms each gets a subdirectory named after it
 * ("expost-k-0.5"), and compare.txt / compare.csv hold one table with a
 * column per mechanism, plus comparison plots. Every file starts with the
 * gridlet version and the scenario hash. Nothing in them depends on the
 * time of the run or the machine: the same scenario and seed give
 * byte-identical files.
 *
 * Thread-safety: a run uses one thread; separate runs are independent.
 */
#ifndef GRIDLET_SIM_RUN_H
#define GRIDLET_SIM_RUN_H

#include "gridlet/sim_diag.h"
#include "gridlet/sim_kpi.h"
#include "gridlet/sim_scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called after each interval with the number done and the total. */
typedef void (*sim_progress_fn)(void *ctx, int64_t done, int64_t total);

typedef struct sim_run_options {
  /* The mechanisms to run side by side; NULL: the scenario's [market]. */
  const sim_mechanism *mechanisms;
  size_t n_mechanisms;
  const char *out_dir;    /* created if absent; NULL: no files */
  bool household_series;  /* write households.csv */
  bool plots;             /* render plots (needs out_dir and gnuplot) */
  const char *gnuplot;    /* the program; NULL: "gnuplot" from PATH */
  const char *ledger_out; /* write the run as a ledger (one mechanism) */
  bool check_only;        /* open and check the scenario and input, run nothing:
                             the results hold the info and no mechanism */
  sim_progress_fn progress;
  void *progress_ctx;
} sim_run_options;

/* One mechanism's results. */
typedef struct sim_world_result {
  sim_mechanism mechanism;
  sim_kpi_community community;
  const sim_kpi_home *homes; /* n_homes, by id */
  size_t n_homes;
  /* Ledger input: intervals compared with the recorded settlement. */
  uint64_t verified, mismatched, unverified;
  char first_mismatch[SIM_DIAG_LEN];
} sim_world_result;

/* What the run was. */
typedef struct sim_run_info {
  char version[32];
  char scenario_hash[65];
  char input_digest[65]; /* data file or ledger root; "" synthetic */
  int64_t start, end, interval, intervals;
  size_t n_homes, n_worlds;
  bool physical;           /* load and PV known (not a ledger) */
  uint64_t late_readings;  /* ledger: readings after their settlement */
  int64_t input_rows;      /* data rows or ledger entries read */
  bool has_band;           /* the scenario's tariffs apply throughout */
  int64_t retail, feed_in; /* µ/kWh, when has_band */
  char currency[8];
  int32_t local_offset_s; /* days in daily.csv are local at this offset */
} sim_run_info;

typedef struct sim_results sim_results;

/*
 * sim_run - run `sc` under `opt` (NULL: defaults, no outputs). Returns 0
 * with owned results in *out (may be NULL when not wanted), GL_ECONFIG /
 * GL_EPARSE (input problems, in `diag`), GL_EINVAL (bad options: ledger
 * output with several mechanisms, a mechanism the input cannot drive),
 * GL_EIO (outputs), GL_ENOTSUP (ledger output of what format 1 cannot
 * hold), GL_EINTERNAL (a conservation law failed: a bug, described in
 * `diag`), GL_ENOMEM.
 */
int sim_run(const sim_scenario *sc, const sim_run_options *opt,
            sim_results **out, sim_diag *diag);

/* sim_results_info - the run's description. */
const sim_run_info *sim_results_info(const sim_results *r);

/* sim_results_world - mechanism i's results (i < info->n_worlds; NULL
 * beyond, and always after a check_only run). */
const sim_world_result *sim_results_world(const sim_results *r, size_t i);

/* sim_results_free - release; NULL is a no-op. */
void sim_results_free(sim_results *r);

/* sim_version - the gridlet version this library was built as. */
const char *sim_version(void);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_RUN_H */
