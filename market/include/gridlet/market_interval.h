/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_interval.h - one delivery interval, start to finish: the
 * single code path that both the aggregator and the research simulator
 * run, so that the two produce identical settlements for the same inputs.
 *
 * Per mode (see market_settle.h for the arithmetic):
 *   expost      measurements + standing limits -> orders (mkt_expost_orders)
 *               -> one call auction -> settlement (MKT_MODE_EXPOST);
 *   exante      the orders placed before gate closure -> one call auction
 *               -> settlement of the trades and imbalances against the
 *               measurements (MKT_MODE_EXANTE);
 *   continuous  the trades a continuous double auction made before gate
 *               closure -> the same settlement (MKT_MODE_CONTINUOUS).
 *
 * A handle preallocates everything for up to `max_participants` and
 * `max_orders`; running an interval allocates nothing. Results are
 * borrowed views into the handle, valid until its next run or free.
 *
 * Input rules (checked, GL_EINVAL otherwise): participants sorted
 * ascending without duplicates; every order's interval equals the run's.
 * Participants without a measurement (the aggregator's rule, which the
 * simulator's ledger replay follows):
 *   expost      they are not passed at all (without a measurement there is
 *               no order); the aggregator flags them and settles nothing;
 *   exante,     trades are firm at gate closure: they are passed with
 *   continuous  net 0 (they metered nothing) together with their orders
 *               or trades, so their whole contracted position is their
 *               imbalance, settled with the utility; the aggregator flags
 *               them missing.
 *
 * Thread-safety: a handle is used by one thread at a time.
 */
#ifndef GRIDLET_MARKET_INTERVAL_H
#define GRIDLET_MARKET_INTERVAL_H

#include "gridlet/market.h"
#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How an interval is cleared and settled. */
typedef struct mkt_interval_config {
  mkt_mode mode;
  mkt_band band;           /* tariffs and network fee (required) */
  mkt_rule rule;           /* call auction price rule (expost, exante) */
  int32_t k_ppm;           /* MKT_RULE_K: k in millionths */
  mkt_rationing rationing; /* at the marginal price level */
  bool allow_self_trade;   /* self-trade prevention is on unless set */
} mkt_interval_config;

/* The outcome of one interval. Arrays are borrowed from the handle. */
typedef struct mkt_interval_result {
  int64_t interval;
  mkt_clearing clearing;   /* the auction's outcome (zero for continuous) */
  const mkt_order *orders; /* the orders cleared (expost: generated) */
  size_t n_orders;
  const mkt_trade *trades; /* the trades settled */
  size_t n_trades;
  const mkt_account *accounts; /* one per participant, ascending */
  size_t n_accounts;
  mkt_settle_totals totals; /* conservation holds exactly (asserted) */
} mkt_interval_result;

typedef struct mkt_interval mkt_interval;

/*
 * mkt_interval_new - a handle for intervals of up to `max_participants`
 * participants and `max_orders` orders or trades (>= 1 each). Returns 0
 * and an owned handle in *out, GL_EINVAL or GL_ENOMEM.
 */
int mkt_interval_new(size_t max_participants, size_t max_orders,
                     mkt_interval **out);

/* mkt_interval_free - release; NULL is a no-op. */
void mkt_interval_free(mkt_interval *iv);

/*
 * mkt_interval_expost - run an expost interval: `standing` holds each
 * participant's measured net energy and limits, sorted by participant.
 * Order ids are first_id, first_id + 1, ... in `standing` order. cfg->mode
 * must be MKT_MODE_EXPOST. Returns 0 and fills *res; GL_EINVAL (bad config
 * or input), GL_EFULL (more than the handle's capacity), GL_ERANGE (a value
 * out of range) or an error of mkt_settle.
 */
int mkt_interval_expost(mkt_interval *iv, const mkt_interval_config *cfg,
                        int64_t interval, const mkt_standing *standing,
                        size_t n, uint64_t first_id, mkt_interval_result *res);

/*
 * mkt_interval_exante - run an exante interval: clear `orders` (their add
 * order is their time priority) and settle against `meters` (measured net
 * energy per participant, sorted). Every order's participant must have a
 * meter entry. cfg->mode must be MKT_MODE_EXANTE. Returns as above, plus
 * GL_ENOENT for an order of a participant without a measurement.
 */
int mkt_interval_exante(mkt_interval *iv, const mkt_interval_config *cfg,
                        int64_t interval, const mkt_order *orders,
                        size_t n_orders, const mkt_meter *meters,
                        size_t n_meters, mkt_interval_result *res);

/*
 * mkt_interval_continuous - settle the trades a continuous double auction
 * made for this interval (in the order it made them) against `meters`.
 * cfg->mode must be MKT_MODE_CONTINUOUS. Returns as mkt_interval_exante.
 */
int mkt_interval_continuous(mkt_interval *iv, const mkt_interval_config *cfg,
                            int64_t interval, const mkt_trade *trades,
                            size_t n_trades, const mkt_meter *meters,
                            size_t n_meters, mkt_interval_result *res);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_INTERVAL_H */
