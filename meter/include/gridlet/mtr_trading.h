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
 * The battery covers part of the expected import, never more than:
 *   - what it holds above the reserve, (soc - reserve) x capacity, less
 *     what orders for intervals not yet over already count on (the
 *     battery plan: the battery is counted once, not for every interval);
 *   - what it can deliver in one interval at battery_power.
 * That part is subtracted from the buy quantity and added to the plan.
 * Without a current state of charge (the battery did not answer lately:
 * mtr_trading_soc_usable) the battery is not counted on. The buy step's
 * limit is buy_below and the sell step's sell_above. Without a usable
 * forecast (no reading for that interval, or one flagged missing or
 * estimated: grid values partly estimated) no order is sent: the
 * household is then settled against the grid for that interval, which is
 * the safe default.
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

/* What orders already count on from the battery: Wh per interval start,
 * for intervals not yet over. Zero is an empty plan. */
#define MTR_BATTERY_PLAN_MAX 16
typedef struct mtr_battery_plan {
  size_t n;
  int64_t start[MTR_BATTERY_PLAN_MAX];
  int64_t wh[MTR_BATTERY_PLAN_MAX];
} mtr_battery_plan;

/*
 * mtr_trading_soc_usable - whether a state of charge read `age_ns` ago
 * may still be planned with: at most three poll periods (and at least a
 * minute) old. A battery that stopped answering is not counted on.
 */
bool mtr_trading_soc_usable(const mtr_config *cfg, int64_t age_ns);

/*
 * mtr_trading_order - the order for the interval starting at `start`, made
 * at `now`, from the reading of the interval forecast_lag earlier
 * (`history`, NULL when there is none), the battery's state of charge
 * (has_soc false: unknown) and `plan` (may be NULL: no battery plan),
 * which it updates: intervals over by `now` leave it, and the battery
 * energy this order counts on is recorded for `start`. Returns 0 with
 * *out filled (0 to 2 steps; 0 steps means nothing to trade), or
 * GL_ENOENT when there is no usable forecast (the plan is then only
 * pruned).
 */
int mtr_trading_order(const mtr_config *cfg, int64_t start, int64_t now,
                      const pr_reading *history, bool has_soc, int64_t soc_bp,
                      mtr_battery_plan *plan, pr_order *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_TRADING_H */
