/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_book.h - the order book of a settled interval, as the market
 * saw it: every bid and offer that took part in the interval's clearing,
 * rebuilt from the stored readings, standing limits and orders by the same
 * rules the market cycle (agg_market.h) applies before it runs the shared
 * pipeline (market_interval.h). The HTTP API serves it
 * (/v1/intervals/{start}/orders) and the dashboard draws the bid and offer
 * curves from it.
 *
 * Rules, per mode of the interval:
 *   expost      each measured meter (an on-time reading not flagged
 *               missing) with a net import bids for it at its buy limit in
 *               force at the interval's start (none: any price, i.e. the
 *               retail tariff), one with a net export offers it at its
 *               sell limit (none: the feed-in tariff);
 *   exante      each measured meter's latest order (highest seq) for the
 *               interval, every step;
 *   continuous  each measured meter's latest order, every step: the orders
 *               resting in the book when it closed had already traded one
 *               by one, so these curves explain the prices, not a single
 *               clearing.
 * Prices are clamped into the interval's band [feed-in, retail] as the
 * auction clamps them; `limit` keeps what the meter asked for. Self-trade
 * netting (a meter's own crossing bid and offer) is not applied.
 *
 * Thread-safety: uses the given store handle (its owner's thread).
 */
#ifndef GRIDLET_AGG_BOOK_H
#define GRIDLET_AGG_BOOK_H

#include "gridlet/agg_store.h"
#include "gridlet/market.h"
#include "gridlet/market_settle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agg_book_order {
  char meter[AGG_ID_LEN];
  mkt_side side;
  int64_t wh;     /* quantity */
  int64_t price;  /* µ/kWh, clamped into the band */
  bool has_limit; /* false: no limit given (expost: any price) */
  int64_t limit;  /* µ/kWh as given */
  int64_t seq;    /* the message that set it (reading, prefs or order) */
} agg_book_order;

typedef struct agg_book {
  int64_t interval; /* start */
  int mode;         /* mkt_mode of the interval */
  mkt_band band;    /* the interval's tariff */
  size_t nbids, noffers;
  agg_book_order *bids;   /* owned; price descending, then arrival */
  agg_book_order *offers; /* owned; price ascending, then arrival */
} agg_book;

/*
 * agg_book_build - the book of the settled interval `iv` (as read from the
 * store). Returns 0 and fills *out (release with agg_book_clear), GL_ENOMEM
 * or a store error.
 */
int agg_book_build(agg_store *st, const agg_interval_rec *iv, agg_book *out);

/* agg_book_clear - free the arrays; the struct may be reused. */
void agg_book_clear(agg_book *b);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_BOOK_H */
