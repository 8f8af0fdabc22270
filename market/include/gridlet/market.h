/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market.h - units, orders, trades, the price band and the money
 * arithmetic shared by every market mechanism.
 *
 * The market library is pure: no I/O, no clock, no global state, no
 * allocation after a handle is created. Everything is an integer:
 *
 *   energy   Wh                                   (int64_t)
 *   price    micro-currency per kWh  ("µ/kWh")    (int64_t)
 *   money    micro-currency          ("µ")        (int64_t)
 *
 * so 0.25 EUR/kWh is the price 250000 and 1.5 kWh is 1500 Wh. The value of
 * `wh` Wh at `price` is wh * price / 1000 µ; that division is the only place
 * where rounding happens, and it is always round-half-to-even (banker's
 * rounding, see mkt_money). Every trade is rounded on its own and the buyer's
 * payment is *defined* as the seller's receipt plus the fee plus any
 * mechanism surplus (mkt_trade_money), so money is conserved exactly by
 * construction, and the settlement module asserts it.
 *
 * The mechanisms built on these types:
 *   gridlet/market_auction.h  call auction (uniform clearing per interval)
 *   gridlet/market_cda.h      continuous double auction
 *   gridlet/market_settle.h   settlement against measured energy, expost
 *                             orders from measurements
 *   gridlet/market_csv.h      the CSV order-book format (gridlet-market)
 *   gridlet/market_stream.h   the binary order-stream format, generator and
 *                             replay with checksum (benchmarks, research)
 *
 * Thread-safety: every function here is pure and thread-safe.
 */
#ifndef GRIDLET_MARKET_H
#define GRIDLET_MARKET_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Range limits. They keep every single product wh * price below 2^63 (10^9 *
 * 10^9 = 10^18), so per-trade money never overflows; sums are checked.
 * 10^9 µ/kWh is 1000 currency units per kWh, 10^9 Wh is 1 GWh per order.
 */
#define MKT_PRICE_MAX INT64_C(1000000000)
#define MKT_QTY_MAX INT64_C(1000000000)

/* k of the k-double auction is given in millionths (500000 = 0.5). */
#define MKT_K_ONE 1000000

/* Order sides. Zero is deliberately not a side, so a zeroed order is invalid.
 */
typedef enum mkt_side {
  MKT_BUY = 1,
  MKT_SELL = 2,
} mkt_side;

/*
 * An order: the participant wants to buy (or sell) up to `qty` Wh for
 * delivery in `interval` at a price no worse than `price`. A participant may
 * place several orders for the same interval (a stepped curve).
 */
typedef struct mkt_order {
  uint64_t id;          /* caller's id, unique among the orders of a book */
  uint32_t participant; /* who; any uint32 */
  mkt_side side;        /* MKT_BUY or MKT_SELL */
  int64_t interval;     /* delivery interval, an opaque number of the caller */
  int64_t qty;          /* Wh, 1..MKT_QTY_MAX */
  int64_t price;        /* limit, µ/kWh, -MKT_PRICE_MAX..MKT_PRICE_MAX */
} mkt_order;

/*
 * A trade: `qty` Wh delivered from `seller` to `buyer`. The buyer pays
 * buy_price per kWh and the seller receives sell_price per kWh (both before
 * fees). They are equal for every mechanism except McAfee's trade-reduction
 * case, where the difference is the mechanism's surplus and goes to the
 * market operator.
 */
typedef struct mkt_trade {
  uint64_t buy_id;    /* the buy order's id */
  uint64_t sell_id;   /* the sell order's id */
  uint32_t buyer;     /* participant of the buy order */
  uint32_t seller;    /* participant of the sell order */
  int64_t qty;        /* Wh, > 0 */
  int64_t buy_price;  /* µ/kWh the buyer pays, excluding the fee */
  int64_t sell_price; /* µ/kWh the seller receives */
} mkt_trade;

/*
 * The price band. The utility buys any surplus at `feed_in` and sells any
 * shortfall at `retail` (feed_in <= retail); local limits are clamped into
 * [feed_in, retail], so local prices always lie between the two. `fee` is the
 * local network fee per kWh of local energy, paid by the buyer on top of the
 * trade price and received by the network operator; 0 means none.
 */
typedef struct mkt_band {
  int64_t feed_in; /* µ/kWh */
  int64_t retail;  /* µ/kWh */
  int64_t fee;     /* µ/kWh, >= 0 */
} mkt_band;

/*
 * The money of one trade, all in µ and all >= 0 for non-negative prices.
 *   buyer_pays  = seller_gets + fee + surplus, exactly.
 */
typedef struct mkt_money_split {
  int64_t buyer_pays;  /* energy at buy_price plus the fee */
  int64_t seller_gets; /* mkt_money(qty, sell_price) */
  int64_t fee;         /* mkt_money(qty, band fee) */
  int64_t surplus;     /* mkt_money(qty, buy_price) - seller_gets */
} mkt_money_split;

/*
 * mkt_side_name - "buy" or "sell" ("?" for anything else). Static string.
 */
const char *mkt_side_name(mkt_side side);

/*
 * mkt_order_check - validate an order's fields: side is MKT_BUY or MKT_SELL,
 * 1 <= qty <= MKT_QTY_MAX, |price| <= MKT_PRICE_MAX. Returns 0, GL_EINVAL
 * (side) or GL_ERANGE (qty or price).
 */
int mkt_order_check(const mkt_order *o);

/*
 * mkt_band_check - validate a band: |feed_in|, |retail| <= MKT_PRICE_MAX,
 * feed_in <= retail, 0 <= fee <= MKT_PRICE_MAX. Returns 0 or GL_EINVAL.
 */
int mkt_band_check(const mkt_band *b);

/* mkt_band_clamp - `price` clamped into [b->feed_in, b->retail]. */
static inline int64_t mkt_band_clamp(const mkt_band *b, int64_t price) {
  return price < b->feed_in ? b->feed_in
                            : (price > b->retail ? b->retail : price);
}

/*
 * mkt_div_round - num / den rounded to the nearest integer, ties to the even
 * integer (banker's rounding), for any sign of num; den must be > 0.
 * Used for every rounding in the market: money, midpoints, k-prices,
 * averages. Unbiased, so many small roundings do not drift one way.
 */
int64_t mkt_div_round(int64_t num, int64_t den);

/*
 * mkt_money - the value of `wh` Wh at `price` µ/kWh in µ: wh * price / 1000
 * rounded half to even. Returns 0 and sets *out, or GL_ERANGE if the product
 * does not fit in 64 bits (never for |wh| <= MKT_QTY_MAX and |price| <=
 * MKT_PRICE_MAX).
 */
int mkt_money(int64_t wh, int64_t price, int64_t *out);

/*
 * mkt_trade_money - the money of trade `t` with local network fee `fee`
 * µ/kWh: the seller gets mkt_money(qty, sell_price), the fee is
 * mkt_money(qty, fee), the surplus is mkt_money(qty, buy_price) minus what
 * the seller gets, and the buyer pays the sum of the three. The trade must
 * satisfy the ranges of mkt_order (qty, prices, fee); returns 0 or
 * GL_ERANGE.
 */
int mkt_trade_money(const mkt_trade *t, int64_t fee, mkt_money_split *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_H */
