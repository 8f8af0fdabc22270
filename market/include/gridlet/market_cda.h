/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_cda.h - the continuous double auction (continuous mode):
 * one order book per delivery interval, matched as orders arrive until gate
 * closure.
 *
 * Rules:
 * - Price-time priority: an incoming order matches the best opposite price
 *   level first, and within a level the order that arrived first.
 * - A trade happens at the resting order's price, for the smaller of the
 *   two remaining quantities; an order partly filled keeps its priority.
 * - Whatever is left of an incoming order rests in the book at its limit.
 * - Self-trade prevention (unless allow_self_trade) is "decrement both":
 *   when an incoming order would meet a resting order of the same
 *   participant, both are reduced by the smaller remaining quantity
 *   without a trade (the resting one leaves the book if it reaches zero)
 *   and matching goes on with the next resting order. It is reported to the
 *   sink's self_trade callback. This is the same netting as the call
 *   auction's, so both mechanisms treat a participant's crossing orders
 *   alike.
 * - Cancel removes a resting order by id.
 * - Gate closure (mkt_cda_close) reports every resting order with what is
 *   left of it (the residue, which the settlement treats as unmatched) and
 *   empties the book; mkt_cda_reopen starts the next interval.
 *
 * Prices: the book has one level per tick between price_min and price_max
 * (at most MKT_CDA_LEVELS_MAX levels), kept in flat arrays with a
 * three-level bitmap over the non-empty levels, so finding the next best
 * price after a level empties costs a few word scans. A tick larger than
 * 1 µ/kWh (as exchanges have) keeps the arrays small and cache-resident;
 * limits off the tick grid are refused. In a banded market pass the band's
 * feed-in and retail tariffs as price_min and price_max with clamp = true:
 * limits outside the band are clamped into it, as the market rules
 * require. With clamp = false they are rejected.
 *
 * Memory is allocated only by mkt_cda_new: 32 bytes per order of capacity,
 * 11 to 21 for its id-map slots, 16 per price level, plus the bitmaps. No call
 * allocates afterwards; an add that could need to rest when `capacity`
 * orders already rest fails with GL_EFULL before it changes anything.
 *
 * Callbacks run synchronously inside mkt_cda_add and mkt_cda_close; they
 * must not call back into the same book.
 *
 * Thread-safety: a handle is used by one thread at a time; distinct handles
 * are independent.
 */
#ifndef GRIDLET_MARKET_CDA_H
#define GRIDLET_MARKET_CDA_H

#include "gridlet/market.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The widest price range of one book (4 194 304 ticks of 1 µ/kWh). */
#define MKT_CDA_LEVELS_MAX (INT64_C(1) << 22)

/* A self-trade prevented: both orders were reduced by qty Wh. */
typedef struct mkt_self_trade {
  uint32_t participant;
  uint64_t incoming_id;
  uint64_t resting_id;
  int64_t qty;
} mkt_self_trade;

/* Where a book reports what happens. Any callback may be NULL. */
typedef struct mkt_cda_sink {
  /* A trade; `aggressor` is the side of the incoming order, so the incoming
   * id is t->buy_id for MKT_BUY and t->sell_id for MKT_SELL. */
  void (*trade)(void *ctx, const mkt_trade *t, mkt_side aggressor);
  /* A self-trade prevented. */
  void (*self_trade)(void *ctx, const mkt_self_trade *st);
  /* At gate closure, each resting order with its remaining qty. */
  void (*residue)(void *ctx, const mkt_order *o);
  void *ctx; /* borrowed; passed to every callback */
} mkt_cda_sink;

typedef struct mkt_cda_config {
  size_t capacity;       /* most orders resting at once, 1 .. 2^31 - 1 */
  int64_t price_min;     /* lowest price level, µ/kWh */
  int64_t price_max;     /* highest price level, on the tick grid */
  int64_t tick;          /* price step, µ/kWh (0 or 1: every µ/kWh); limits
                            must lie on price_min + k * tick */
  bool clamp;            /* clamp limits into [min, max] instead of rejecting */
  bool allow_self_trade; /* true switches self-trade prevention off */
  int64_t interval;      /* the interval the book opens for */
  mkt_cda_sink sink;     /* copied */
} mkt_cda_config;

/* What one add did. */
typedef struct mkt_cda_result {
  int64_t filled; /* Wh of the order traded on arrival */
  int64_t netted; /* Wh removed by self-trade prevention */
  int64_t rested; /* Wh left resting in the book */
  size_t trades;  /* trades reported for it */
} mkt_cda_result;

/* One price level of the book. */
typedef struct mkt_cda_level {
  int64_t price;
  int64_t qty;   /* Wh resting at this price */
  size_t orders; /* orders resting at this price */
} mkt_cda_level;

typedef struct mkt_cda mkt_cda;

/*
 * mkt_cda_new - a book open for cfg->interval. Returns 0 and an owned handle
 * in *out, GL_EINVAL (capacity out of range, price_min > price_max, tick < 0
 * or price_max off the grid, more than MKT_CDA_LEVELS_MAX levels, prices
 * beyond MKT_PRICE_MAX) or GL_ENOMEM.
 */
int mkt_cda_new(const mkt_cda_config *cfg, mkt_cda **out);

/* mkt_cda_free - release the book; NULL is a no-op. No callbacks run. */
void mkt_cda_free(mkt_cda *b);

/*
 * mkt_cda_add - match order `o` against the book and rest what is left.
 * Trades and prevented self-trades go to the sink as they happen; *res
 * (may be NULL) receives the summary. Returns 0, GL_EINVAL (side,
 * o->interval is not the book's, or the price is off the tick grid),
 * GL_ERANGE (qty or price out of range, or price outside [price_min,
 * price_max] without clamp), GL_EEXIST (an order
 * with this id rests in the book), GL_EFULL (capacity orders rest) or
 * GL_ECLOSED (gate closed). On error nothing changed. The id of an order
 * that is no longer resting may be reused.
 */
int mkt_cda_add(mkt_cda *b, const mkt_order *o, mkt_cda_result *res);

/*
 * mkt_cda_cancel - remove the resting order `id`; *qty (may be NULL)
 * receives what was left of it. Returns 0, GL_ENOENT (not resting: unknown,
 * filled or cancelled) or GL_ECLOSED.
 */
int mkt_cda_cancel(mkt_cda *b, uint64_t id, int64_t *qty);

/*
 * mkt_cda_depth - up to `max` price levels of `side`, best first, into
 * out[]; *n receives how many. O(levels walked + orders in them).
 * Returns 0 or GL_EINVAL (side).
 */
int mkt_cda_depth(const mkt_cda *b, mkt_side side, mkt_cda_level *out,
                  size_t max, size_t *n);

/* mkt_cda_resting - the number of orders resting in the book. */
size_t mkt_cda_resting(const mkt_cda *b);

/*
 * mkt_cda_close - gate closure: report every resting order to the sink's
 * residue callback (bids from the best price down, then offers from the
 * best price up; time priority within a price), empty the book and refuse
 * further orders. *resting (may be NULL) receives the number reported.
 * Returns 0 or GL_ECLOSED (already closed). O(resting orders + levels
 * holding them).
 */
int mkt_cda_close(mkt_cda *b, size_t *resting);

/*
 * mkt_cda_reopen - open the (closed, empty) book for `interval`. Returns 0
 * or GL_ESTATE (still open).
 */
int mkt_cda_reopen(mkt_cda *b, int64_t interval);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_CDA_H */
