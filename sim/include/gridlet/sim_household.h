/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_household.h - the physics of one simulated household: PV
 * generation by time of day and season, a household load curve, and a
 * battery run for self-consumption, integrated over time into exact
 * cumulative energy counters.
 *
 * Energies are integrated in watt-milliseconds (int64), so counters never
 * drift through rounding: every Wh a device shows comes from the same
 * integral. Powers are whole watts, constant within each 2-second cell of
 * an absolute time grid, so how often the household is advanced does not
 * change its energies (except at the instant the battery fills or
 * empties, where the clamp depends on the step). Grid power is load - PV +
 * battery
 * charging - battery discharging, so import - export equals load - PV +
 * charge - discharge exactly over any span.
 *
 * Randomness (clouds, appliance spikes) is a pure function of the seed and
 * the time block, so the same seed gives the same household whatever the
 * order or spacing of the calls that advance it. Time is whatever the
 * caller passes (the simulator's injected clock). Not thread-safe.
 */
#ifndef GRIDLET_SIM_HOUSEHOLD_H
#define GRIDLET_SIM_HOUSEHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_WMS_PER_WH INT64_C(3600000)

/* Household parameters; zero fields take the defaults in brackets. */
typedef struct sim_household_cfg {
  uint32_t pv_peak_w;       /* clear-sky peak PV output [5000] */
  uint32_t load_base_w;     /* standby load [250] */
  uint32_t load_peak_w;     /* evening peak on top of the base [2000] */
  uint32_t battery_wh;      /* usable capacity; 0 with no_battery [10000] */
  uint32_t battery_max_w;   /* charge and discharge limit [3000] */
  uint32_t battery_eff_pct; /* round-trip efficiency, 50..100 [90] */
  uint32_t reserve_pct;     /* never discharge below [10] */
  uint32_t soc_start_pct;   /* state of charge at start [50] */
  bool no_battery;
  int32_t utc_offset_s; /* local solar time = UTC + offset [0] */
  uint64_t seed;
  bool no_pv; /* a household without PV (pv_peak_w is then ignored) */
} sim_household_cfg;

/* The state at one instant. Energies are cumulative since creation. */
typedef struct sim_household_state {
  int64_t time_ns;
  int32_t pv_w, load_w;
  int32_t battery_w; /* > 0 charging, < 0 discharging */
  int32_t grid_w;    /* > 0 importing, < 0 exporting */
  int64_t pv_wms, load_wms, import_wms, export_wms;
  int64_t charge_wms, discharge_wms; /* AC side of the battery */
  int64_t stored_wms;                /* energy in the battery */
  int64_t capacity_wms;
} sim_household_state;

typedef struct sim_household sim_household;

/* sim_household_new - a household whose clock starts at start_ns. Owned
 * handle or NULL. */
sim_household *sim_household_new(const sim_household_cfg *cfg,
                                 int64_t start_ns);

/* sim_household_free - release; NULL is a no-op. */
void sim_household_free(sim_household *h);

/*
 * sim_household_advance - integrate up to `now_ns`. Time that goes
 * backwards (a clock step) is ignored: the household waits until time
 * passes its last instant again. Returns the number of steps taken.
 */
uint64_t sim_household_advance(sim_household *h, int64_t now_ns);

/* sim_household_state_get - the current state. */
void sim_household_state_get(const sim_household *h, sim_household_state *out);

/*
 * sim_household_set_limits - charge / discharge limits from battery
 * control, in W; negative means "no limit beyond battery_max_w".
 */
void sim_household_set_limits(sim_household *h, int32_t charge_max_w,
                              int32_t discharge_max_w);

/*
 * sim_household_spec_parse - one household's parameters from text, as
 * `gridlet-sim devices --household` takes them:
 *
 *     INDEX:KEY=VALUE[,KEY=VALUE]...
 *
 * INDEX is the household (0-based, below `max_index`); keys: `pv` (clear-
 * sky peak in W, 0: no PV), `battery` (usable Wh, 0: no battery),
 * `battery_w` (charge/discharge limit in W), `base` and `peak` (load:
 * standby and evening peak in W). Values are decimal integers in
 * 0..1000000 (`battery` up to 10000000; `battery_w`, `base`, `peak` at
 * least 1). Keys not given keep what `cfg` holds on entry (the caller's
 * template). Returns 0 with *index and *cfg set, or GL_EPARSE with a
 * reason in `err` (NUL-terminated, may be truncated) and *cfg unchanged.
 */
int sim_household_spec_parse(const char *text, int max_index, int *index,
                             sim_household_cfg *cfg, char *err, size_t errlen);

/* sim_household_pv_w / load_w - the model's curves at a time (pure). */
int32_t sim_household_pv_w(const sim_household *h, int64_t t_ns);
int32_t sim_household_load_w(const sim_household *h, int64_t t_ns);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_HOUSEHOLD_H */
