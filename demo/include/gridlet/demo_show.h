/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_show.h - what the demo prints, as aligned text for a person
 * at a terminal: one line per settled interval and a table of household
 * balances against the no-trading baseline.
 *
 * Everything in gridlet is an integer (Wh, micro-currency, micro-currency
 * per kWh); these functions turn them into kWh and currency with a fixed
 * number of decimals, rounding half away from zero. Display only: nothing
 * printed here is fed back into a computation. Pure functions of their
 * arguments (apart from writing to `out`); thread-safe.
 */
#ifndef GRIDLET_DEMO_SHOW_H
#define GRIDLET_DEMO_SHOW_H

#include "gridlet/demo_check.h"
#include "gridlet/demo_mix.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEMO_NUM_MAX 32

/*
 * demo_fmt_fixed - `v / per_unit` with `decimals` (0..6) decimals, rounded
 * half away from zero, with a leading '+' when `plus` and v > 0 (a '-'
 * for negative values always; neither when the value rounds to zero),
 * into buf (DEMO_NUM_MAX bytes). Returns buf.
 * demo_fmt_fixed(-1234567, 1000000, 2, false, b) is "-1.23".
 */
char *demo_fmt_fixed(int64_t v, int64_t per_unit, int decimals, bool plus,
                     char buf[DEMO_NUM_MAX]);

/* demo_fmt_kwh - Wh as kWh with 2 decimals ("3.25"). */
char *demo_fmt_kwh(int64_t wh, char buf[DEMO_NUM_MAX]);
/* demo_fmt_money - micro-currency with 2 decimals, signed ("+1.20"). */
char *demo_fmt_money(int64_t micro, char buf[DEMO_NUM_MAX]);
/* demo_fmt_price - micro-currency per kWh with 3 decimals ("0.215"). */
char *demo_fmt_price(int64_t micro_per_kwh, char buf[DEMO_NUM_MAX]);

/*
 * demo_money_at - what `wh` cost at `price` (micro-currency per kWh), in
 * micro-currency, rounded half away from zero: wh * price / 1000.
 */
int64_t demo_money_at(int64_t wh, int64_t price);

/*
 * demo_baseline - a household's money without local trading: everything it
 * took from others (bought locally or from the grid) bought from the
 * utility at `retail`, everything it gave (sold locally or to the grid)
 * sold to the utility at `feed_in`, no network fee. Negative: it pays.
 * Computed on the totals, so it may differ from a per-interval settlement
 * by the rounding of one micro-currency unit per interval.
 */
int64_t demo_baseline(const demo_balance *b, int64_t retail, int64_t feed_in);

/* demo_share_pct - part/whole in whole percent, rounded; 0 when whole is 0. */
int demo_share_pct(int64_t part, int64_t whole);

/* One settled interval as the demo shows it. */
typedef struct demo_interval_view {
  int64_t start;
  bool has_price;
  int64_t price;          /* micro-currency per kWh */
  int64_t traded_wh;      /* bought by neighbours from neighbours */
  int64_t grid_import_wh; /* bought from the utility */
  int64_t grid_export_wh; /* sold to the utility */
  int64_t meters, missing;
  int64_t refused; /* messages refused since the previous line */
  int64_t late;    /* late readings since the previous line */
} demo_interval_view;

/* demo_show_interval_header / demo_show_interval - the per-interval table
 * (header two lines, then one line per interval). */
void demo_show_interval_header(FILE *out, const char *currency);
void demo_show_interval(FILE *out, const demo_interval_view *v);

/* One household's line of the balance table. */
typedef struct demo_household_view {
  const char *id;
  const demo_household *home; /* may be NULL */
  demo_balance bal;
  int64_t baseline; /* demo_baseline */
} demo_household_view;

/* demo_show_balances - the balance table for `n` households and a total
 * line, amounts in `currency`. */
void demo_show_balances(FILE *out, const demo_household_view *rows, size_t n,
                        const char *currency);

/* demo_describe_home - "8 kWp PV, 10 kWh battery" into buf. */
char *demo_describe_home(const demo_household *h, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_SHOW_H */
