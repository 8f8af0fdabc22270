/* SPDX-License-Identifier: MIT */
/*
 * trading.c - standing limits and persistence-forecast orders. See
 * gridlet/mtr_trading.h.
 */
#include "gridlet/mtr_trading.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <string.h>

void mtr_trading_prefs(const mtr_config *cfg, int64_t effective,
                       pr_prefs *out) {
  memset(out, 0, sizeof *out);
  out->effective = effective;
  out->has_buy_below = cfg->has_buy_below;
  out->buy_below = cfg->buy_below;
  out->has_sell_above = cfg->has_sell_above;
  out->sell_above = cfg->sell_above;
}

int64_t mtr_trading_prefs_fingerprint(const mtr_config *cfg) {
  /* FNV-1a over the values that make up the message. */
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  int64_t v[5] = {cfg->mode, cfg->has_buy_below, cfg->buy_below,
                  cfg->has_sell_above, cfg->sell_above};
  for (size_t i = 0; i < 5; i++)
    for (int b = 0; b < 8; b++) {
      h ^= (uint8_t)((uint64_t)v[i] >> (8 * b));
      h *= UINT64_C(0x100000001b3);
    }
  return (int64_t)(h >> 1);
}

int64_t mtr_trading_gate(const mtr_config *cfg, int64_t start) {
  return start - cfg->gate_closure_ns;
}

int64_t mtr_trading_order_time(const mtr_config *cfg, int64_t start) {
  return start - cfg->gate_closure_ns - cfg->order_margin_ns;
}

int64_t mtr_trading_first_open(const mtr_config *cfg, int64_t now) {
  int64_t I = cfg->interval_ns;
  int64_t lead = cfg->gate_closure_ns + cfg->order_margin_ns;
  /* The smallest aligned start s with s - lead >= now. */
  int64_t s = gl_floor_div(now + lead, I) * I;
  if (s - lead < now)
    s += I;
  return s;
}

bool mtr_trading_soc_usable(const mtr_config *cfg, int64_t age_ns) {
  int64_t max = 3 * cfg->poll_ns;
  if (max < 60 * GL_NS_PER_SEC)
    max = 60 * GL_NS_PER_SEC;
  return age_ns >= 0 && age_ns <= max;
}

/* Forget the plan's intervals that are over; the total of the rest. */
static int64_t plan_prune(const mtr_config *cfg, mtr_battery_plan *plan,
                          int64_t now) {
  int64_t total = 0;
  size_t k = 0;
  for (size_t i = 0; i < plan->n && i < MTR_BATTERY_PLAN_MAX; i++) {
    if (plan->start[i] + cfg->interval_ns <= now || plan->wh[i] <= 0)
      continue;
    plan->start[k] = plan->start[i];
    plan->wh[k] = plan->wh[i];
    total += plan->wh[k];
    k++;
  }
  plan->n = k;
  return total;
}

/* Record `wh` for `start` (replacing an earlier entry for it). */
static void plan_put(mtr_battery_plan *plan, int64_t start, int64_t wh) {
  size_t i = 0;
  while (i < plan->n && plan->start[i] != start)
    i++;
  if (i == plan->n) {
    if (plan->n == MTR_BATTERY_PLAN_MAX) {
      /* Cannot happen (orders are made at most a few intervals ahead);
       * forget the oldest rather than the newest. */
      memmove(&plan->start[0], &plan->start[1],
              (MTR_BATTERY_PLAN_MAX - 1) * sizeof plan->start[0]);
      memmove(&plan->wh[0], &plan->wh[1],
              (MTR_BATTERY_PLAN_MAX - 1) * sizeof plan->wh[0]);
      i = MTR_BATTERY_PLAN_MAX - 1;
    } else {
      plan->n++;
    }
  }
  plan->start[i] = start;
  plan->wh[i] = wh;
}

int mtr_trading_order(const mtr_config *cfg, int64_t start, int64_t now,
                      const pr_reading *history, bool has_soc, int64_t soc_bp,
                      mtr_battery_plan *plan, pr_order *out) {
  memset(out, 0, sizeof *out);
  mtr_battery_plan none = {0};
  if (!plan)
    plan = &none;
  int64_t planned = plan_prune(cfg, plan, now);
  /* An order for `start` made again replaces its part of the plan. */
  for (size_t i = 0; i < plan->n; i++)
    if (plan->start[i] == start)
      planned -= plan->wh[i];
  if (cfg->forecast == MTR_FORECAST_NONE || !history ||
      (history->flags & (PR_FLAG_MISSING | PR_FLAG_ESTIMATED)) ||
      history->end - history->start != cfg->interval_ns)
    return GL_ENOENT;
  out->start = start;
  out->end = start + cfg->interval_ns;
  int64_t buy = history->import_wh, sell = history->export_wh;
  int64_t use = 0;
  if (has_soc && cfg->battery_capacity_wh > 0 && buy > 0) {
    /* Energy above the reserve, in Wh, rounded down, less what other
     * orders already count on. */
    int64_t above = soc_bp - cfg->battery_reserve_pct * 100;
    int64_t avail =
        above > 0 ? above * cfg->battery_capacity_wh / 10000 - planned : 0;
    /* And no more than the battery can deliver in one interval. */
    int64_t deliver =
        cfg->battery_power_w * (cfg->interval_ns / GL_NS_PER_SEC) / 3600;
    use = buy;
    if (use > avail)
      use = avail;
    if (use > deliver)
      use = deliver;
    if (use < 0)
      use = 0;
    buy -= use;
  }
  plan_put(plan, start, use);
  plan_prune(cfg, plan, now);
  if (buy > PR_ENERGY_MAX)
    buy = PR_ENERGY_MAX;
  if (sell > PR_ENERGY_MAX)
    sell = PR_ENERGY_MAX;
  if (buy > 0 && cfg->has_buy_below)
    out->steps[out->nsteps++] =
        (pr_step){.side = PR_SIDE_BUY, .wh = buy, .price = cfg->buy_below};
  if (sell > 0 && cfg->has_sell_above)
    out->steps[out->nsteps++] =
        (pr_step){.side = PR_SIDE_SELL, .wh = sell, .price = cfg->sell_above};
  return 0;
}
