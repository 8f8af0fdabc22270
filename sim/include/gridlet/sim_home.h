/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_home.h - one household of the research simulator for one
 * interval: its battery, the strategy that runs it, and the orders it
 * places, in exact integer arithmetic.
 *
 * ## Energy balance (per interval, Wh on the AC side of the house)
 *   net = load - pv + charge - discharge
 *   import = max(net, 0), export = max(-net, 0)
 * The meter measures `net` (the market's sign convention: positive when
 * the household imports). It holds exactly, by construction.
 *
 * ## Battery
 * The state of charge is kept in mWh. The round-trip efficiency η is split
 * evenly: charging and discharging each have efficiency e = sqrt(η)
 * (integer square root of η in ppm^2, so e is exact and the same on every
 * machine). Charging c Wh stores floor(c * e) mWh-exact energy; delivering
 * d Wh draws ceil(d / e) from storage, so the battery never delivers more
 * than it holds. Per interval a battery charges at most charge_w * Δt and
 * discharges at most discharge_w * Δt (Δt the interval length, floor to
 * whole Wh), never above capacity and never below the reserve
 * (reserve_ppm of the capacity). Losses = charge - discharge - Δstored,
 * tracked exactly.
 *
 * ## Strategies (sim_home_plan)
 *   self-consumption  surplus PV (pv > load) charges the battery; a deficit
 *                     discharges it.
 *   price-aware       the same, but only when the price forecast says it
 *                     pays: a surplus is stored only if the forecast local
 *                     price is at or below charge_below (otherwise it is
 *                     sold now), a deficit is covered from the battery only
 *                     if the forecast is at or above discharge_above
 *                     (otherwise bought now). The forecast is the engine's
 *                     per-time-of-day average of past interval prices
 *                     (docs/research.md).
 *   follow-contract   self-consumption in expost mode; in exante and
 *                     continuous mode, once the interval's contracts are
 *                     known (bought - sold = contracted), the battery
 *                     charges or discharges so that net equals contracted
 *                     as far as its limits allow (sim_home_follow): every
 *                     Wh of imbalance is settled at the band's worst price.
 * A real household's battery runs on its inverter's own logic whatever the
 * market does; the first two strategies are that, the third a what-if.
 *
 * ## Orders (exante, continuous)
 * Orders are not made here: the engine calls the meter agent's own rule,
 * mtr_trading_order (gridlet/mtr_trading.h), on the import and export the
 * household measured in the interval its `forecast` names, so simulated
 * households order exactly as gridlet-meter would.
 *
 * Thread-safety: the functions are pure apart from the battery they are
 * given.
 */
#ifndef GRIDLET_SIM_HOME_H
#define GRIDLET_SIM_HOME_H

#include "gridlet/sim_scenario.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A household's battery. Zero capacity: no battery. */
typedef struct sim_battery {
  int64_t capacity_mwh;
  int64_t reserve_mwh;
  int64_t stored_mwh;    /* state of charge */
  int64_t eff_ppm;       /* one-way efficiency, sqrt of the round trip */
  int64_t charge_max;    /* Wh per interval */
  int64_t discharge_max; /* Wh per interval */
} sim_battery;

/* What one interval did in one household (Wh). */
typedef struct sim_flows {
  int64_t load, pv;
  int64_t charge, discharge; /* AC side */
  int64_t net;               /* load - pv + charge - discharge */
  int64_t stored_delta_mwh;  /* change of the state of charge */
} sim_flows;

/*
 * sim_battery_init - the battery of household `h` for intervals of
 * `interval_ns`, at its initial state of charge (initial_ppm of the
 * capacity, but not below the reserve).
 */
void sim_battery_init(sim_battery *b, const sim_home *h, int64_t interval_ns);

/* sim_battery_charge_room - the most Wh it can take this interval. */
int64_t sim_battery_charge_room(const sim_battery *b);

/* sim_battery_discharge_room - the most Wh it can give this interval. */
int64_t sim_battery_discharge_room(const sim_battery *b);

/*
 * sim_home_plan - the battery action (Wh on the AC side, > 0 charge,
 * < 0 discharge) that household `h`'s strategy chooses for `load` and
 * `pv` given battery `b` and the price forecast `price` (µ/kWh; only the
 * price-aware strategy reads it; follow-contract plans as
 * self-consumption). Within the battery's limits. Pure.
 */
int64_t sim_home_plan(const sim_home *h, const sim_battery *b, int64_t load,
                      int64_t pv, int64_t price);

/*
 * sim_home_follow - the battery action that brings net as close to
 * `contracted` Wh as the battery's limits allow. Pure.
 */
int64_t sim_home_follow(const sim_battery *b, int64_t load, int64_t pv,
                        int64_t contracted);

/*
 * sim_home_apply - carry out `action` (clamped to the limits) on `b` and
 * fill *f. The balance net = load - pv + charge - discharge holds exactly.
 */
void sim_home_apply(sim_battery *b, int64_t load, int64_t pv, int64_t action,
                    sim_flows *f);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_HOME_H */
