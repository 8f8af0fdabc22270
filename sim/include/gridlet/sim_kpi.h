/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_kpi.h - the key performance indicators of a run, per
 * household and for the community, from exact integer sums.
 *
 * Per interval t and household h (Wh unless noted; only intervals in
 * which h is present count for h; a meter a ledger settled without a
 * reading in exante or continuous mode, whose trades were firm, is absent
 * but its settlement counts: B, S, GI, GE and money):
 *   L load, P pv, I import = max(net, 0), E export = max(-net, 0),
 *   B bought and S sold locally, GI grid_import and GE grid_export (the
 *   settlement's utility energies), money (µ) the settlement's net.
 * Community per interval: T = sum over present households of net (the
 * transformer's flow), T+ = max(T, 0), T- = max(-T, 0).
 *
 * Household (sums over the run):
 *   self-sufficiency   1 - sum I / sum L       (own PV and battery)
 *   self-consumption   1 - sum E / sum P       (own PV used at home)
 *   met locally        1 - sum min(I, GI) / sum L   (not bought from the
 *                      utility: own PV, battery and neighbours)
 *   average buy price  sum local_paid / sum B  (µ/kWh, without fee)
 *   average sell price sum local_received / sum S
 *   bill               - sum money             (µ; negative = credit)
 *   baseline bill      sum over t of money(I, retail) - money(E, feed_in),
 *                      the same household with the same physical flows
 *                      and no local market, rounded per interval like the
 *                      settlement, so a household that never trades saves
 *                      exactly 0
 *   savings            baseline bill - bill
 * Community:
 *   self-sufficiency   1 - sum T+ / sum L      (PV of the community)
 *   self-consumption   1 - sum T- / sum P
 *   met locally        1 - sum min(I, GI) / sum L
 *   P2P volume         sum B (= sum S), and its share of sum L
 *   average local price sum local_paid / P2P volume (buyers' side; the
 *                      sellers' side differs only under McAfee's trade
 *                      reduction)
 *   bills, baseline, savings: sums; savings share = savings / baseline
 *   savings distribution: min, 10th, 25th, 50th, 75th, 90th percentile
 *                      (nearest rank), max and mean of the households'
 *                      savings; how many saved and how many lost
 *   peak transformer import / export: max over t of T+ / T- in Wh per
 *                      interval (and in kW: Wh * 3600 / interval seconds
 *                      / 1000) and when.
 * Ratios are in ppm, rounded half to even. A figure that does not exist
 * (a denominator of 0, or load and PV in a ledger replay, which knows only
 * net energy) is SIM_NA.
 *
 * Thread-safety: pure functions.
 */
#ifndef GRIDLET_SIM_KPI_H
#define GRIDLET_SIM_KPI_H

#include "gridlet/sim_scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "Not available": no such figure. */
#define SIM_NA INT64_MIN

/* Sums over the run (one household, or the whole community). */
typedef struct sim_totals {
  int64_t intervals; /* present */
  int64_t absent;    /* intervals without data for it */
  int64_t load, pv, import_wh, export_wh, charge, discharge; /* Wh */
  int64_t losses_mwh;                             /* battery losses */
  int64_t bought, sold, grid_import, grid_export; /* Wh */
  int64_t utility_used;                           /* sum min(I, GI) */
  int64_t local_paid, local_received;             /* µ */
  int64_t fee_paid, grid_paid, grid_received;     /* µ */
  int64_t money;                                  /* µ received minus paid */
  int64_t baseline; /* µ, the same for the no-trading baseline */
} sim_totals;

/* sim_totals_add - a += b, field by field. */
void sim_totals_add(sim_totals *a, const sim_totals *b);

typedef struct sim_kpi_home {
  char id[SIM_ID_MAX + 1];
  sim_totals t;
  int64_t self_sufficiency_ppm, self_consumption_ppm, met_locally_ppm;
  int64_t avg_buy_price, avg_sell_price; /* µ/kWh or SIM_NA */
  int64_t bill, baseline_bill, savings;  /* µ */
} sim_kpi_home;

/* The savings of the households, summarised. */
typedef struct sim_distribution {
  size_t n;
  int64_t min, p10, p25, p50, p75, p90, max, mean;
  size_t gained, lost; /* savings > 0, < 0 */
} sim_distribution;

typedef struct sim_kpi_community {
  bool physical; /* load and PV known */
  int64_t intervals, intervals_traded;
  sim_totals t;
  int64_t transformer_import, transformer_export; /* sum T+, sum T- */
  int64_t peak_import, peak_export;               /* Wh per interval */
  int64_t peak_import_at, peak_export_at;         /* interval start, ns */
  int64_t fees, surplus, utility_net;             /* µ */
  int64_t self_sufficiency_ppm, self_consumption_ppm, met_locally_ppm;
  int64_t p2p_share_ppm;                 /* P2P volume / load */
  int64_t avg_buy_price, avg_sell_price; /* µ/kWh or SIM_NA */
  int64_t bill, baseline_bill, savings, savings_ppm;
  sim_distribution dist;
} sim_kpi_community;

/* sim_ratio_ppm - 10^6 * num / den rounded half to even; SIM_NA if
 * den <= 0. */
int64_t sim_ratio_ppm(int64_t num, int64_t den);

/* sim_kpi_home_finish - the derived fields of one household from its
 * totals (`physical`: load and PV are known). */
void sim_kpi_home_finish(sim_kpi_home *k, bool physical);

/*
 * sim_kpi_community_finish - the community's derived fields from its
 * totals and the households' (finished) KPIs. `scratch` must hold n
 * int64_t (for the percentiles).
 */
void sim_kpi_community_finish(sim_kpi_community *c, const sim_kpi_home *homes,
                              size_t n, int64_t *scratch);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_KPI_H */
