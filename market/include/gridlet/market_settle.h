/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_settle.h - market modes, expost orders from measurements,
 * and the settlement of an interval against what the meters measured.
 *
 * The three modes (DESIGN.md) use the mechanisms and this settlement so:
 *
 *   expost (default)  after the interval, each participant's measured net
 *                     energy and standing limits become one order
 *                     (mkt_expost_orders); one call auction clears them
 *                     (market_auction.h, pro-rata rationing recommended
 *                     since all orders arrive together); mkt_settle with
 *                     MKT_MODE_EXPOST. The traded quantities are the
 *                     measurements themselves, so nobody deviates from a
 *                     contract: the only energy with the utility is the
 *                     part of each measurement not matched locally.
 *   exante            orders for a future interval until gate closure; one
 *                     call auction at gate closure; after the interval
 *                     mkt_settle with MKT_MODE_EXANTE settles each
 *                     participant's imbalance (measured minus contracted)
 *                     with the utility.
 *   continuous        a continuous double auction (market_cda.h) until gate
 *                     closure; the trades it reported are settled exactly
 *                     as in exante (MKT_MODE_CONTINUOUS).
 *
 * ## Settlement arithmetic
 * Sign convention: a participant's measured net energy is positive when it
 * imported (consumed more than it produced) and negative when it exported.
 * For participant p with local trades:
 *   bought, sold      Wh bought and sold locally (sum over its trades)
 *   contracted        bought - sold
 *   imbalance         measured - contracted
 *   grid_import       max(imbalance, 0): short, bought from the utility at
 *                     the retail tariff
 *   grid_export       max(-imbalance, 0): long, sold to the utility at the
 *                     feed-in tariff
 * Money (µ), every amount rounded half to even (market.h):
 *   per trade         the buyer pays mkt_money(qty, buy_price) plus the fee
 *                     mkt_money(qty, band.fee); the seller receives
 *                     mkt_money(qty, sell_price); any difference of the two
 *                     energy amounts is the mechanism surplus (McAfee)
 *   per participant   grid_paid = mkt_money(grid_import, retail),
 *                     grid_received = mkt_money(grid_export, feed_in)
 *   net               local_received + grid_received
 *                       - local_paid - fee_paid - grid_paid
 * Conservation, exact and asserted on every call:
 *   sum bought == sum sold;
 *   sum measured == sum grid_import - sum grid_export;
 *   sum local_paid == sum local_received + surplus;
 *   sum net + fees + surplus + utility_net == 0, where utility_net =
 *   sum grid_paid - sum grid_received is what the utility takes in.
 *
 * Participants are identified by uint32 ids; results come in ascending
 * participant order, the order of the `meters` array, which the caller
 * sorts (the function checks it), so nothing depends on hashing.
 *
 * Thread-safety: the functions are pure; they only touch the arrays given.
 */
#ifndef GRIDLET_MARKET_SETTLE_H
#define GRIDLET_MARKET_SETTLE_H

#include "gridlet/market.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mkt_mode {
  MKT_MODE_EXPOST = 0, /* default */
  MKT_MODE_EXANTE = 1,
  MKT_MODE_CONTINUOUS = 2,
} mkt_mode;

/* A participant's measured net energy for the interval. */
typedef struct mkt_meter {
  uint32_t participant;
  int64_t net; /* Wh: > 0 imported, < 0 exported */
} mkt_meter;

/* A participant's measurement with its standing limits (expost mode). */
typedef struct mkt_standing {
  uint32_t participant;
  int64_t net;        /* Wh: > 0 imported (buys), < 0 exported (sells) */
  int64_t buy_limit;  /* highest µ/kWh it pays for local energy */
  int64_t sell_limit; /* lowest µ/kWh it accepts for its surplus */
} mkt_standing;

/* One participant's settlement. Energies in Wh, money in µ, all >= 0 except
 * `measured` and `net` (and money at negative prices). */
typedef struct mkt_account {
  uint32_t participant;
  int64_t measured;       /* the metered net energy, as given */
  int64_t bought;         /* local energy bought */
  int64_t sold;           /* local energy sold */
  int64_t grid_import;    /* imbalance short: bought from the utility */
  int64_t grid_export;    /* imbalance long: sold to the utility */
  int64_t local_paid;     /* for local energy, without fees */
  int64_t local_received; /* for local energy sold */
  int64_t fee_paid;       /* local network fees */
  int64_t grid_paid;      /* to the utility at retail */
  int64_t grid_received;  /* from the utility at feed-in */
  int64_t net;            /* received minus paid */
} mkt_account;

/* Totals over an interval; the conservation laws above hold exactly. */
typedef struct mkt_settle_totals {
  int64_t local;            /* Wh traded locally (sum bought == sum sold) */
  int64_t measured;         /* sum of measured net energy */
  int64_t grid_import;      /* Wh the utility supplied */
  int64_t grid_export;      /* Wh the utility took */
  int64_t local_paid;       /* sum local_paid */
  int64_t local_received;   /* sum local_received */
  int64_t fees;             /* to the network operator */
  int64_t surplus;          /* to the market operator (McAfee reduction) */
  int64_t utility_net;      /* sum grid_paid - sum grid_received */
  int64_t participants_net; /* sum net */
} mkt_settle_totals;

/* mkt_mode_name - "expost", "exante", "continuous" ("?" otherwise). */
const char *mkt_mode_name(mkt_mode mode);

/* mkt_mode_parse - the inverse of mkt_mode_name. Returns 0 or GL_EINVAL. */
int mkt_mode_parse(const char *name, mkt_mode *out);

/*
 * mkt_expost_orders - turn measurements and standing limits into the
 * interval's orders: a participant that imported `net` Wh bids for them at
 * buy_limit, one that exported offers them at sell_limit, one at zero
 * places nothing. Orders are written to out[] (room for n) in input order
 * with ids first_id, first_id + 1, ...; *nout receives how many. Returns 0,
 * GL_ERANGE (|net| > MKT_QTY_MAX or a limit beyond MKT_PRICE_MAX; nothing
 * is written past the bad entry and *nout counts the orders before it).
 */
int mkt_expost_orders(const mkt_standing *in, size_t n, int64_t interval,
                      uint64_t first_id, mkt_order *out, size_t *nout);

/*
 * mkt_settle - settle one interval.
 *   mode       MKT_MODE_EXPOST additionally checks that the trades are
 *              consistent with the measurements (nobody bought more than it
 *              imported or sold more than it exported, nor both bought and
 *              sold); the arithmetic is the same for every mode.
 *   band       tariffs and fee (required).
 *   trades     the interval's trades (from the auction or the CDA).
 *   meters     one entry per participant, sorted by participant ascending,
 *              no duplicates; every buyer and seller of `trades` must have
 *              one. Participants without trades settle wholly with the
 *              utility.
 *   accounts   out: n_meters entries, accounts[i] for meters[i].
 *   totals     out (may be NULL).
 * Returns 0, GL_EINVAL (bad mode or band, meters unsorted or duplicated, a
 * trade with qty <= 0 or prices out of range), GL_ENOENT (a trade names a
 * participant without a meter entry), GL_ECONFLICT (expost trades
 * inconsistent with the measurements) or GL_ERANGE (a sum overflows). On
 * error the outputs are unspecified.
 */
int mkt_settle(mkt_mode mode, const mkt_band *band, const mkt_trade *trades,
               size_t n_trades, const mkt_meter *meters, size_t n_meters,
               mkt_account *accounts, mkt_settle_totals *totals);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_SETTLE_H */
