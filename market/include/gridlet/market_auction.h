/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_auction.h - the call auction: one uniform clearing of an
 * interval's order book (exante mode at gate closure; expost mode on the
 * orders made from measurements, see market_settle.h).
 *
 * Use:
 *   mkt_auction *a;  mkt_auction_new(capacity, &a);
 *   mkt_auction_reset(a, interval);
 *   mkt_auction_add(a, &order) ...            (copies each order)
 *   mkt_auction_clear(a, &cfg, &clearing);    (may be repeated with other
 *                                              rules: orders are kept)
 *   mkt_auction_trades(a, &n) / mkt_auction_fill(a, i, &fill)
 *   mkt_auction_free(a);
 *
 * Nothing is allocated after mkt_auction_new: the book, the working arrays
 * and the trade list are sized for `capacity` orders (a clearing of n
 * orders never produces more than n - 1 trades).
 *
 * ## The clearing (all rules)
 * 1. Limits are clamped into the band, if one is given.
 * 2. Self-trade prevention (unless allow_self_trade): for each participant,
 *    its own bids (highest first) and offers (lowest first) that cross each
 *    other are decremented against each other until they no longer cross
 *    ("decrement both", as in continuous markets). A participant whose
 *    remaining bids are all below its remaining offers can never be on
 *    both sides of a uniform clearing, so no trade pairs a participant with
 *    itself. The decrement is reported per order as `netted`.
 * 3. Bids are ranked by price descending, offers ascending; within one
 *    price, by the order in which they were added (time priority).
 * 4. Walking both rankings, the volume V is the largest quantity at which
 *    the marginal bid still prices at or above the marginal offer. The
 *    last bid level and the last offer level touched are the marginal pair
 *    (b, s), with prices marginal_bid >= marginal_ask.
 * 5. Price (rule):
 *    - MKT_RULE_MARGINAL: if the marginal offer level is only partly
 *      filled, the price is s; else if the marginal bid level is only
 *      partly filled, it is b; if both are filled exactly, the midpoint
 *      (b + s) / 2 rounded half to even.
 *    - MKT_RULE_K: k*b + (1-k)*s with k = k_ppm / 10^6, rounded half to
 *      even.
 *    - MKT_RULE_MCAFEE: McAfee (1992) applied to the unit expansion of the
 *      book: each Wh is one unit order. b_(V+1) and s_(V+1) are the prices
 *      of the first unit left out on each side (the same level when the
 *      marginal level is partly filled). If both exist and p0 =
 *      (b_(V+1) + s_(V+1)) / 2 (rounded half to even) lies in [s, b], all V
 *      Wh trade at p0. Otherwise the last unit is dropped (trade
 *      reduction): V - 1 Wh trade, buyers pay b and sellers receive s, and
 *      the difference (b - s per kWh) is the mechanism's surplus. With unit
 *      orders (1 Wh each) this is exactly McAfee's mechanism, dominant-
 *      strategy truthful and budget-balanced up to the surplus; with
 *      larger orders it is truthful only for unit-demand traders.
 *    - MKT_RULE_PAY_AS_BID: each trade is priced at its buy order's (clamped)
 *      limit: the buyer pays what it bid and the seller of that pair gets
 *      the same. clearing.price is the volume-weighted average of the trade
 *      prices, rounded half to even.
 * 6. Allocation: levels better than the marginal level fill completely;
 *    the marginal level of each side shares what is left (R Wh) by the
 *    rationing rule:
 *    - MKT_RATION_PRO_RATA (default): order i of quantity q_i in a level of
 *      total Q gets floor(q_i * R / Q); the Wh still left (fewer than the
 *      number of orders) go one each to the orders with the largest
 *      remainders (q_i * R mod Q), ties to the earlier-added order.
 *    - MKT_RATION_TIME: earlier-added orders fill first.
 * 7. Trades pair the filled bids with the filled offers, one trade per
 *    overlap of their quantities:
 *    - uniform prices (marginal, k, McAfee): filled bids in add order are
 *      merged with filled offers in add order. Who is paired with whom
 *      changes no price and no quantity, only the per-trade rounding of
 *      money, so the simplest deterministic order is used (and the one
 *      that is cheapest at a million orders: no sort of the fills);
 *    - pay-as-bid: in price priority, the highest bids with the lowest
 *      offers first, because there the pairing sets what sellers receive.
 *    Every trade lies within both limits: every accepted bid is >= b >= s
 *    >= every accepted offer.
 *
 * Price and volume depend only on the set of orders; every order's fill
 * also on the add order within equal prices (time priority, and pro-rata's
 * tie-break); the trade list is deterministic.
 *
 * Thread-safety: a handle is used by one thread at a time; distinct handles
 * are independent.
 */
#ifndef GRIDLET_MARKET_AUCTION_H
#define GRIDLET_MARKET_AUCTION_H

#include "gridlet/market.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mkt_rule {
  MKT_RULE_MARGINAL = 0, /* textbook uniform price (default) */
  MKT_RULE_K = 1,        /* k-double auction */
  MKT_RULE_MCAFEE = 2,   /* McAfee trade reduction */
  MKT_RULE_PAY_AS_BID = 3,
} mkt_rule;

typedef enum mkt_rationing {
  MKT_RATION_PRO_RATA = 0, /* default */
  MKT_RATION_TIME = 1,
} mkt_rationing;

/* How to clear. Zero is the default: marginal, pro-rata, self-trade
 * prevention on, no band. */
typedef struct mkt_auction_config {
  mkt_rule rule;
  int32_t k_ppm;           /* MKT_RULE_K only: k in millionths, 0..10^6 */
  mkt_rationing rationing; /* at the marginal price level */
  bool allow_self_trade;   /* true switches self-trade prevention off */
  const mkt_band *band;    /* borrowed for the call; NULL: no clamping */
} mkt_auction_config;

/* The outcome of one clearing. Prices are 0 when volume is 0. */
typedef struct mkt_clearing {
  int64_t volume;       /* Wh traded */
  int64_t price;        /* the uniform price; pay-as-bid: volume-weighted
                           average; McAfee reduction: (buy + sell) / 2 */
  int64_t buy_price;    /* what buyers pay per kWh (pay-as-bid: average) */
  int64_t sell_price;   /* what sellers get per kWh (pay-as-bid: average) */
  int64_t marginal_bid; /* b: clamped limit of the last accepted bid level */
  int64_t marginal_ask; /* s: clamped limit of the last accepted offer level */
  bool reduced;         /* McAfee trade reduction applied */
  size_t trades;        /* number of trades (mkt_auction_trades) */
  int64_t demand;       /* Wh bid after self-trade netting */
  int64_t supply;       /* Wh offered after self-trade netting */
  int64_t netted;       /* Wh removed from each side by self-trade netting */
} mkt_clearing;

/* One order's outcome in the last clearing. */
typedef struct mkt_fill {
  int64_t filled; /* Wh of the order that traded */
  int64_t netted; /* Wh removed by self-trade prevention */
  int64_t price;  /* the limit after clamping into the band */
} mkt_fill;

typedef struct mkt_auction mkt_auction;

/*
 * mkt_auction_new - an empty book for up to `capacity` orders (1 ..
 * 2^31 - 1), with every buffer preallocated (170 to 200 bytes per order).
 * The book starts open for interval 0. Returns 0 and an owned handle in
 * *out, GL_EINVAL (capacity) or GL_ENOMEM.
 */
int mkt_auction_new(size_t capacity, mkt_auction **out);

/* mkt_auction_free - release the book; NULL is a no-op. */
void mkt_auction_free(mkt_auction *a);

/*
 * mkt_auction_reset - forget every order and result; the book now takes
 * orders for `interval`. O(1).
 */
void mkt_auction_reset(mkt_auction *a, int64_t interval);

/*
 * mkt_auction_add - copy one order into the book. Order ids are copied into
 * trades but not checked for uniqueness (O(1) per add); the add order is the
 * time priority. Invalidates the results of the last clearing.
 * Returns 0, GL_EINVAL (bad side, or o->interval is not the book's
 * interval), GL_ERANGE (qty or price out of range, see mkt_order_check) or
 * GL_EFULL (capacity orders already added).
 */
int mkt_auction_add(mkt_auction *a, const mkt_order *o);

/* mkt_auction_count - the number of orders added since the last reset. */
size_t mkt_auction_count(const mkt_auction *a);

/*
 * mkt_auction_order - copy the index-th added order (0-based, add order) to
 * *out. Returns 0 or GL_ENOENT.
 */
int mkt_auction_order(const mkt_auction *a, size_t index, mkt_order *out);

/*
 * mkt_auction_clear - clear the book under `cfg` (NULL: all defaults) and
 * fill *out. The orders stay in the book, so the same book can be cleared
 * again under another rule. Returns 0, or GL_EINVAL (bad config: unknown
 * rule or rationing, k_ppm outside 0..10^6, invalid band); on error no
 * result is available (trades and fills read as empty). Sums cannot
 * overflow: a book holds at most 2^31 orders of at most 10^9 Wh.
 */
int mkt_auction_clear(mkt_auction *a, const mkt_auction_config *cfg,
                      mkt_clearing *out);

/*
 * mkt_auction_trades - the trades of the last successful clearing, *n of
 * them, in the pairing order of step 7. Borrowed: valid until the next
 * add, clear, reset or free.
 */
const mkt_trade *mkt_auction_trades(const mkt_auction *a, size_t *n);

/*
 * mkt_auction_fill - the outcome of the index-th order in the last
 * successful clearing. Returns 0, GL_ENOENT (index) or GL_ESTATE (not
 * cleared since the last add or reset).
 */
int mkt_auction_fill(const mkt_auction *a, size_t index, mkt_fill *out);

/* mkt_rule_name - "marginal", "k", "mcafee", "pay-as-bid" ("?" otherwise). */
const char *mkt_rule_name(mkt_rule rule);

/* mkt_rule_parse - the inverse of mkt_rule_name. Returns 0 or GL_EINVAL. */
int mkt_rule_parse(const char *name, mkt_rule *out);

/* mkt_rationing_name - "pro-rata" or "time" ("?" otherwise). */
const char *mkt_rationing_name(mkt_rationing r);

/* mkt_rationing_parse - the inverse of mkt_rationing_name; 0 or GL_EINVAL. */
int mkt_rationing_parse(const char *name, mkt_rationing *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_AUCTION_H */
