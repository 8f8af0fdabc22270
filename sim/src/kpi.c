/* SPDX-License-Identifier: MIT */
/*
 * kpi.c - derived KPIs from the run's sums. See gridlet/sim_kpi.h for the
 * formulas; every figure is an integer so that reports repeat byte for
 * byte on every machine.
 */
#include "gridlet/sim_kpi.h"

#include "gridlet/market.h"

#include <stdlib.h>

void sim_totals_add(sim_totals *a, const sim_totals *b) {
  a->intervals += b->intervals;
  a->absent += b->absent;
  a->load += b->load;
  a->pv += b->pv;
  a->import_wh += b->import_wh;
  a->export_wh += b->export_wh;
  a->charge += b->charge;
  a->discharge += b->discharge;
  a->losses_mwh += b->losses_mwh;
  a->bought += b->bought;
  a->sold += b->sold;
  a->grid_import += b->grid_import;
  a->grid_export += b->grid_export;
  a->utility_used += b->utility_used;
  a->local_paid += b->local_paid;
  a->local_received += b->local_received;
  a->fee_paid += b->fee_paid;
  a->grid_paid += b->grid_paid;
  a->grid_received += b->grid_received;
  a->money += b->money;
  a->baseline += b->baseline;
}

int64_t sim_ratio_ppm(int64_t num, int64_t den) {
  if (den <= 0)
    return SIM_NA;
  /* num * 10^6 fits for |num| < 9.2 * 10^12 Wh (9.2 TWh). */
  return mkt_div_round(num * 1000000, den);
}

/* 1 - a / b in ppm, or SIM_NA. */
static int64_t one_minus(int64_t a, int64_t b) {
  int64_t r = sim_ratio_ppm(a, b);
  return r == SIM_NA ? SIM_NA : 1000000 - r;
}

/* µ per kWh: money * 1000 / Wh. */
static int64_t avg_price(int64_t money, int64_t wh) {
  return wh > 0 ? mkt_div_round(money * 1000, wh) : SIM_NA;
}

void sim_kpi_home_finish(sim_kpi_home *k, bool physical) {
  const sim_totals *t = &k->t;
  k->self_sufficiency_ppm =
      physical ? one_minus(t->import_wh, t->load) : SIM_NA;
  k->self_consumption_ppm = physical ? one_minus(t->export_wh, t->pv) : SIM_NA;
  k->met_locally_ppm = physical ? one_minus(t->utility_used, t->load) : SIM_NA;
  k->avg_buy_price = avg_price(t->local_paid, t->bought);
  k->avg_sell_price = avg_price(t->local_received, t->sold);
  k->bill = -t->money;
  k->baseline_bill = -t->baseline;
  k->savings = k->baseline_bill - k->bill;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[n]: the ceil(q/100 * n)-th value. */
static int64_t rank(const int64_t *v, size_t n, int q) {
  size_t r = ((size_t)q * n + 99) / 100;
  if (r < 1)
    r = 1;
  return v[r - 1];
}

void sim_kpi_community_finish(sim_kpi_community *c, const sim_kpi_home *homes,
                              size_t n, int64_t *scratch) {
  const sim_totals *t = &c->t;
  bool phys = c->physical;
  c->self_sufficiency_ppm =
      phys ? one_minus(c->transformer_import, t->load) : SIM_NA;
  c->self_consumption_ppm =
      phys ? one_minus(c->transformer_export, t->pv) : SIM_NA;
  c->met_locally_ppm = phys ? one_minus(t->utility_used, t->load) : SIM_NA;
  c->p2p_share_ppm = phys ? sim_ratio_ppm(t->bought, t->load) : SIM_NA;
  c->avg_buy_price = avg_price(t->local_paid, t->bought);
  c->avg_sell_price = avg_price(t->local_received, t->sold);
  c->bill = -t->money;
  c->baseline_bill = -t->baseline;
  c->savings = c->baseline_bill - c->bill;
  c->savings_ppm = c->baseline_bill > 0
                       ? sim_ratio_ppm(c->savings, c->baseline_bill)
                       : SIM_NA;
  sim_distribution *d = &c->dist;
  d->n = n;
  if (n == 0)
    return;
  int64_t sum = 0;
  d->gained = d->lost = 0;
  for (size_t i = 0; i < n; i++) {
    scratch[i] = homes[i].savings;
    sum += homes[i].savings;
    d->gained += homes[i].savings > 0;
    d->lost += homes[i].savings < 0;
  }
  qsort(scratch, n, sizeof *scratch, cmp_i64);
  d->min = scratch[0];
  d->max = scratch[n - 1];
  d->p10 = rank(scratch, n, 10);
  d->p25 = rank(scratch, n, 25);
  d->p50 = rank(scratch, n, 50);
  d->p75 = rank(scratch, n, 75);
  d->p90 = rank(scratch, n, 90);
  d->mean = mkt_div_round(sum, (int64_t)n);
}
