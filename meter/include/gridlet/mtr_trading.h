/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_trading.h - the household's trading preferences as protocol
 * messages.
 *
 * expost (the default market): the household states standing limits once,
 * "buy locally only at or below B, sell only at or above S" (either may
 * be absent: any price in the community's band). The agent sends a
 * `prefs` message at start-up whenever the limits differ from the last
 * ones it sent (a fingerprint is kept in the store), effective from the
 * next interval.
 *
 * exante / continuous: for each delivery interval the agent sends one
 * `order` at order time = start - gate_closure - order_margin. The
 * quantities are a persistence forecast: what the household imported and
 * exported in the same interval forecast_lag earlier (default one day).
 * The battery covers part of the expected import: the energy above the
 * reserve, (soc - reserve) x capacity, is subtracted from the buy
 * quantity, so the plan never counts on the battery below its reserve.
 * The buy step's limit is buy_below and the sell step's sell_above. Without
 * a usable forecast (no reading for that interval, or one flagged missing
 * or estimated) no order is sent: the household is then settled against
 * the grid for that interval, which is the safe default.
 *
 * All functions are pure and thread-safe.
 */
#ifndef GRIDLET_MTR_TRADING_H
#define GRIDLET_MTR_TRADING_H

#include "gridlet/mtr_config.h"
#include "gridlet/pr_msg.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mtr_trading_prefs - the standing limits of `cfg`, effective at
 * `effective`. */
void mtr_trading_prefs(const mtr_config *cfg, int64_t effective, pr_prefs *out);

/* mtr_trading_prefs_fingerprint - a number that changes when the limits
 * change (so a restart does not resend unchanged prefs). */
int64_t mtr_trading_prefs_fingerprint(const mtr_config *cfg);

/* mtr_trading_order_time - when the order for the interval starting at
 * `start` is made. */
int64_t mtr_trading_order_time(const mtr_config *cfg, int64_t start);

/* mtr_trading_gate - the gate closure of the interval starting at
 * `start`: an order still queued after it is useless. */
int64_t mtr_trading_gate(const mtr_config *cfg, int64_t start);

/* mtr_trading_first_open - the earliest interval start whose order time is
 * at or after `now`. */
int64_t mtr_trading_first_open(const mtr_config *cfg, int64_t now);

/*
 * mtr_trading_order - the order for the interval starting at `start`, from
 * the reading of the interval forecast_lag earlier (`history`, NULL when
 * there is none) and the battery's state of charge now (has_soc false:
 * unknown). Returns 0 with *out filled (0 to 2 steps; 0 steps means
 * nothing to trade), or GL_ENOENT when there is no usable forecast.
 */
int mtr_trading_order(const mtr_config *cfg, int64_t start,
                      const pr_reading *history, bool has_soc, int64_t soc_bp,
                      pr_order *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_TRADING_H */
