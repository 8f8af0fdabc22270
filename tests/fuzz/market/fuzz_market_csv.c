/* SPDX-License-Identifier: MIT */
/*
 * fuzz_market_csv - any bytes through the CSV order-book parser into a call
 * auction, cleared under every rule, rationing and self-trade setting, with
 * and without a band. Whatever the input: no crash, and for every clearing
 * both sides trade the volume, every trade lies within both limits, no
 * self-trade under prevention, and settlement balances (it asserts its
 * conservation laws itself).
 */
#include "gridlet/error.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_csv.h"
#include "gridlet/market_settle.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int add(void *ctx, const mkt_order *o) {
  return mkt_auction_add(ctx, o);
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  return (a > b) - (a < b);
}

/* lim and buy are indexed by order id, which is the line number. */
static void check(mkt_auction *a, const mkt_auction_config *cfg, mkt_meter *m,
                  size_t nm, mkt_account *acc, int64_t *lim, uint8_t *buy) {
  mkt_clearing c;
  if (mkt_auction_clear(a, cfg, &c) != 0)
    __builtin_trap(); /* valid config: clearing cannot fail at this size */
  int64_t fb = 0, fs = 0;
  for (size_t i = 0; i < mkt_auction_count(a); i++) {
    mkt_order o;
    mkt_fill f;
    mkt_auction_order(a, i, &o);
    mkt_auction_fill(a, i, &f);
    if (f.filled < 0 || f.filled + f.netted > o.qty)
      __builtin_trap();
    *(o.side == MKT_BUY ? &fb : &fs) += f.filled;
    lim[o.id] = f.price;
    buy[o.id] = o.side == MKT_BUY;
  }
  size_t n;
  const mkt_trade *t = mkt_auction_trades(a, &n);
  int64_t traded = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i].qty <= 0 || !buy[t[i].buy_id] || buy[t[i].sell_id] ||
        t[i].buy_price > lim[t[i].buy_id] ||
        t[i].sell_price < lim[t[i].sell_id] ||
        t[i].sell_price > t[i].buy_price ||
        (!cfg->allow_self_trade && t[i].buyer == t[i].seller))
      __builtin_trap();
    traded += t[i].qty;
  }
  if (traded != c.volume || fb != c.volume || fs != c.volume)
    __builtin_trap();
  mkt_band band = cfg->band ? *cfg->band : (mkt_band){0, 1000, 3};
  int rc = mkt_settle(MKT_MODE_EXANTE, &band, t, n, m, nm, acc, NULL);
  if (rc != 0 && rc != GL_ERANGE)
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  size_t lines = mkt_csv_count_lines(text, size);
  mkt_auction *a;
  if (mkt_auction_new(lines + 1, &a) != 0)
    return 0;
  size_t errors;
  int rc = mkt_csv_parse(text, size, 0, add, NULL, a, &errors);
  if (rc != 0 && rc != GL_EPARSE)
    __builtin_trap(); /* the auction was sized for every line */
  size_t n = mkt_auction_count(a), nm = 0;
  uint32_t *parts = malloc((n + 1) * sizeof *parts);
  mkt_meter *m = malloc((n + 1) * sizeof *m);
  mkt_account *acc = malloc((n + 1) * sizeof *acc);
  int64_t *lim = malloc((lines + 2) * sizeof *lim);
  uint8_t *buy = malloc(lines + 2);
  if (!parts || !m || !acc || !lim || !buy)
    __builtin_trap();
  for (size_t i = 0; i < n; i++) {
    mkt_order o;
    mkt_auction_order(a, i, &o);
    parts[i] = o.participant;
  }
  qsort(parts, n, sizeof *parts, cmp_u32);
  for (size_t i = 0; i < n; i++)
    if (nm == 0 || m[nm - 1].participant != parts[i])
      m[nm++] = (mkt_meter){parts[i], (int64_t)(parts[i] % 2001) - 1000};
  mkt_band band = {100, 300, 7};
  for (int rule = 0; rule < 4; rule++)
    for (int bits = 0; bits < 8; bits++) {
      mkt_auction_config cfg = {.rule = (mkt_rule)rule,
                                .k_ppm = 333333,
                                .rationing = (mkt_rationing)(bits & 1),
                                .allow_self_trade = (bits & 2) != 0,
                                .band = (bits & 4) ? &band : NULL};
      check(a, &cfg, m, nm, acc, lim, buy);
    }
  free(parts);
  free(m);
  free(acc);
  free(lim);
  free(buy);
  mkt_auction_free(a);
  return 0;
}
