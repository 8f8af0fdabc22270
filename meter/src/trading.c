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

int mtr_trading_order(const mtr_config *cfg, int64_t start,
                      const pr_reading *history, bool has_soc, int64_t soc_bp,
                      pr_order *out) {
  memset(out, 0, sizeof *out);
  if (cfg->forecast == MTR_FORECAST_NONE || !history ||
      (history->flags & (PR_FLAG_MISSING | PR_FLAG_ESTIMATED)) ||
      history->end - history->start != cfg->interval_ns)
    return GL_ENOENT;
  out->start = start;
  out->end = start + cfg->interval_ns;
  int64_t buy = history->import_wh, sell = history->export_wh;
  if (has_soc && cfg->battery_capacity_wh > 0) {
    /* Energy above the reserve, in Wh, rounded down. */
    int64_t above = soc_bp - cfg->battery_reserve_pct * 100;
    if (above > 0) {
      int64_t avail = above * cfg->battery_capacity_wh / 10000;
      buy = buy > avail ? buy - avail : 0;
    }
  }
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
