/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_synth.h - the synthetic community: PV from a clear-sky model
 * by latitude, longitude and day of year with stochastic cloudiness, and
 * household load from typical daily shapes with seasonal and random
 * variation. Deterministic from the scenario seed.
 *
 * ## PV
 * The sun's position follows the usual engineering formulas (Cooper's
 * declination, Spencer-style equation of time, hour angle from UTC and
 * longitude). Clear-sky global horizontal irradiance is Haurwitz's model,
 * GHI = 1098 cos z exp(-0.057 / cos z) W/m^2 for a sun above the horizon.
 * A module of 1 kWp delivers GHI / 1000 * performance_ratio kW (horizontal
 * modules; the ratio stands for inverter, wiring, temperature and tilt).
 * Each interval's energy averages the irradiance at the middle of each
 * 5-minute piece of it. The whole community shares one sky: a clear-sky
 * index k multiplies every household's PV. Each day draws a regime (with
 * probability `cloudiness` a cloudy day, mean k uniform in 0.25..0.65,
 * else a clear day, mean k uniform in 0.85..1.0); within the day k follows
 * an AR(1) process around that mean (0.85 persistence per 15 minutes),
 * clamped to [0.05, 1.1].
 *
 * ## Load
 * A typical residential daily shape (hourly points, linear in between,
 * separate weekday and weekend shapes, each of mean 1: low at night, a
 * morning bump, an evening peak) times a seasonal factor 1 + 0.15 cos(2π
 * (doy - d) / 365.25) with d the middle of local winter (mid-July south of
 * the equator, mid-January north of it), times a per-household daily
 * factor 1 + 0.10 N, times a per-interval factor 1 + load_noise N (N
 * standard normal, approximated by the Irwin-Hall sum of four uniforms;
 * factors clamped at 0.1), scaled so that the household's mean annual
 * consumption is load_kwh. Local time is UTC + the scenario's fixed
 * utc_offset (no daylight saving).
 *
 * ## Determinism
 * Random numbers come from gl_seeded_rand seeded with the scenario seed,
 * drawn in a fixed order: at each new local day the regime (2 draws) and
 * every household's daily factor (1 draw each, in id order); in every
 * interval one draw for the sky and one per household (16-bit pieces of one
 * 64-bit draw make the four uniforms). Floating point is IEEE double
 * without contraction (the library is built with -ffp-contract=off), and
 * each energy is rounded half away from zero to whole Wh.
 *
 * Thread-safety: a handle is used by one thread at a time.
 */
#ifndef GRIDLET_SIM_SYNTH_H
#define GRIDLET_SIM_SYNTH_H

#include "gridlet/sim_scenario.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sim_synth sim_synth;

/*
 * sim_synth_new - a generator for the households `homes` (n of them,
 * borrowed: must outlive the handle) under the scenario's [synthetic]
 * settings, interval and seed. Returns 0 and an owned handle, GL_EINVAL
 * or GL_ENOMEM.
 */
int sim_synth_new(const sim_scenario *sc, const sim_home *homes, size_t n,
                  sim_synth **out);

/* sim_synth_free - release; NULL is a no-op. */
void sim_synth_free(sim_synth *s);

/*
 * sim_synth_next - the load and PV energies (Wh) of every household for
 * the interval starting at `start` into load[n] and pv[n]. Intervals must
 * be asked for in order, each the one after the last (the random stream
 * depends on it). Returns 0 or GL_ESTATE (out of order).
 */
int sim_synth_next(sim_synth *s, int64_t start, int64_t *load, int64_t *pv);

/*
 * sim_synth_clear_sky - clear-sky global horizontal irradiance (W/m^2) at
 * UTC time `t_ns` for a site at latitude/longitude in degrees. Pure.
 */
double sim_synth_clear_sky(double lat_deg, double lon_deg, int64_t t_ns);

/*
 * sim_synth_shape - the relative load (mean 1 over a day) at local hour
 * `hour` (0 <= hour < 24) of a weekday or weekend day. Pure.
 */
double sim_synth_shape(double hour, bool weekend);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_SYNTH_H */
