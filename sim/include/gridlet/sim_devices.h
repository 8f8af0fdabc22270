/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_devices.h - simulated households' devices on real Modbus.
 *
 * What `gridlet-sim devices` runs, as a library so tests can run it in
 * process: N households (sim_household.h), each with a SunSpec inverter,
 * battery and grid meter (or vendor devices), served over Modbus TCP on one
 * port per household (devices at unit ids 1, 2, 3 by default) and
 * optionally over Modbus RTU on a pseudo-terminal (one bus, household h's
 * devices at unit ids 10h+1, 10h+2, 10h+3). Register values follow the
 * households on the injected simulation clock, updated whenever a request
 * arrives, so an accelerated clock runs the whole neighbourhood fast.
 *
 * Device chains (the SunSpec models each device serves):
 *   inverter  1, 101|102|103|111|112|113 (default 103), 160 with two
 *             MPPT modules; or 1, 701 (inverter model 701); or SMA's
 *             vendor registers (SIM_MODEL_SMA)
 *   battery   1, 701 (AC side), 802, 124 (writable controls)
 *   meter     1, 201|202|203|204|211|212|213 (default 203); or an
 *             Eastron SDM630's input registers (SIM_MODEL_SDM630)
 * With chain_layout one unit per household serves all three chains as
 * sub-devices of one SunSpec map (like inverters with an attached meter).
 *
 * Sign conventions of the simulated devices: inverter W >= 0; meter W > 0
 * when importing; battery W (701 and 802) > 0 when discharging.
 *
 * Faults (sim_fault) can be injected at start-up, through the API, or
 * through the control socket: response delays, dropped responses,
 * exception responses, scale factors that change at run time, counter
 * reset and rollover, a model 1 of length 65, and households that go
 * offline (listener closed, connections dropped).
 *
 * Thread-safety: sim_devices_run() runs the event loop in the calling
 * thread; every other function may be called from any thread while it
 * runs (one mutex). sim_devices_stop() is async-signal-safe.
 */
#ifndef GRIDLET_SIM_DEVICES_H
#define GRIDLET_SIM_DEVICES_H

#include "gridlet/clock.h"
#include "gridlet/rand.h"
#include "gridlet/sim_household.h"
#include "gridlet/sim_image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sim_dev_kind {
  SIM_DEV_INVERTER = 0,
  SIM_DEV_BATTERY = 1,
  SIM_DEV_METER = 2,
  SIM_DEV_COUNT = 3
} sim_dev_kind;

/* Vendor (non-SunSpec) device models. */
#define SIM_MODEL_SMA 60001    /* SMA Sunny Boy, SMA Modbus profile */
#define SIM_MODEL_SDM630 60002 /* Eastron SDM630 energy meter */

/* sunspec_base value meaning register address 0. */
#define SIM_SUNSPEC_BASE_0 0x10000u

#define SIM_MAX_HOUSEHOLDS 24

/* Zero fields take the defaults in brackets. */
typedef struct sim_devices_cfg {
  int households;              /* 1..SIM_MAX_HOUSEHOLDS [1] */
  const char *bind_host;       /* [127.0.0.1] */
  uint16_t base_port;          /* household i on base_port + i; 0: any free */
  uint8_t unit[SIM_DEV_COUNT]; /* TCP unit ids [1, 2, 3] */
  bool tcp_off;                /* serve no TCP ports (RTU only) */
  bool rtu;                    /* also serve one RTU bus on a pty */
  uint32_t sunspec_base;       /* 40000 or 50000, SIM_SUNSPEC_BASE_0 [40000] */
  uint16_t inverter_model;     /* see above [103] */
  uint16_t meter_model;        /* see above [203] */
  bool variety;          /* household i uses the i-th model of each list */
  bool chain_layout;     /* inverter, battery and meter in one chain */
  int max_clients;       /* connections per port [4] */
  bool control;          /* open a control port (line protocol) */
  uint16_t control_port; /* [any free] */
  sim_household_cfg household; /* template; seeds differ per household */
  /* NULL, or `households` entries: household i's own parameters instead
   * of the template (its seed still comes from the simulator's generator).
   * Read by sim_devices_new only. */
  const sim_household_cfg *each;
  int64_t start_ns; /* household clocks start [clock now] */
} sim_devices_cfg;

/* ---- Faults -------------------------------------------------------------- */

typedef enum sim_fault_kind {
  SIM_FAULT_DELAY = 1, /* delay responses by ms (count requests, 0: all) */
  SIM_FAULT_DROP,      /* never answer (count requests, 0: all) */
  SIM_FAULT_EXCEPTION, /* answer with exception `code` (count, 0: all) */
  SIM_FAULT_SF,        /* power scale factor `sf`, energy `energy_sf` */
  SIM_FAULT_RESET,     /* energy counters restart from 0 */
  SIM_FAULT_ROLLOVER,  /* 32-bit counters wrap after `margin` Wh */
  SIM_FAULT_LEN65,     /* model 1 reported with length 65 (value 0: 66) */
  SIM_FAULT_OFFLINE,   /* household unreachable for ms (0: until online) */
  SIM_FAULT_ONLINE,    /* end an offline fault */
  SIM_FAULT_CLEAR,     /* drop pending delay/drop/exception faults */
} sim_fault_kind;

typedef struct sim_fault {
  int kind;       /* sim_fault_kind */
  int household;  /* -1: all */
  int device;     /* sim_dev_kind, -1: all */
  uint32_t count; /* requests affected; 0: until cleared */
  uint32_t ms;
  uint8_t code;    /* exception code, 1..255 [4: device failure] */
  int sf;          /* power scale factor, -3..3 */
  int energy_sf;   /* energy scale factor, -3..3 */
  uint64_t margin; /* Wh before a rollover [100] */
  int value;       /* len65: 1 on, 0 off [1] */
} sim_fault;

/*
 * sim_fault_parse - "KIND key=value ..." into *f. KIND is delay, drop,
 * exception, sf, reset, rollover, len65, offline, online or clear; keys
 * household (number or all), device (inverter, battery, meter, all),
 * count, ms, code, sf, energy_sf, margin, value. Returns 0 or GL_EPARSE
 * with a reason in err.
 */
int sim_fault_parse(const char *text, sim_fault *f, char *err, size_t errlen);

/* ---- The simulator ---------------------------------------------------- */

typedef struct sim_devices sim_devices;

/*
 * sim_devices_new - build the households and their register images. `clock`
 * drives the households (accelerated in demos, manual in tests); `io` is
 * the real clock used for response delays and offline periods (real time:
 * they act on real network peers). Both are borrowed, as is `rand` (seeds
 * the households). Returns 0 and an owned handle in *out, GL_EINVAL for a
 * bad configuration (logged), GL_ENOMEM.
 */
int sim_devices_new(const sim_devices_cfg *cfg, gl_clock clock, gl_clock io,
                    gl_rand rand, sim_devices **out);

/* sim_devices_free - stop (if running), close everything, release. */
void sim_devices_free(sim_devices *sd);

/* sim_devices_bind - open the TCP listeners, the pty and the control
 * port. Returns 0, GL_EIO (logged with the port that failed). */
int sim_devices_bind(sim_devices *sd);

/* sim_devices_print - the machine-readable "listen ..." lines and a final
 * "ready" line (see docs/devices.md), flushed. */
void sim_devices_print(sim_devices *sd, FILE *out);

/* sim_devices_run - serve until sim_devices_stop(). Returns 0 or GL_EIO. */
int sim_devices_run(sim_devices *sd);

/* sim_devices_stop - make run() return soon. Async-signal-safe. */
void sim_devices_stop(sim_devices *sd);

/* sim_devices_start / sim_devices_join - run() on a thread of its own. */
int sim_devices_start(sim_devices *sd);
void sim_devices_join(sim_devices *sd);

/* Where things are (valid after bind). */
uint16_t sim_devices_port(sim_devices *sd, int household);
const char *sim_devices_rtu_path(sim_devices *sd);
uint16_t sim_devices_control_port(sim_devices *sd);
/* Unit id of a device on TCP (rtu false) or on the RTU bus. */
uint8_t sim_devices_unit(sim_devices *sd, int household, int dev, bool rtu);

/* sim_devices_fault - inject a fault. 0 or GL_EINVAL / GL_ENOTSUP. */
int sim_devices_fault(sim_devices *sd, const sim_fault *f);

/* What the devices of a household show right now, in device terms (after
 * their scale factors), and the truth behind it. */
typedef struct sim_devices_state {
  sim_household_state truth;
  int32_t pv_w, grid_w, battery_w; /* as shown; battery_w > 0 charging */
  int64_t pv_wh, import_wh, export_wh, charge_wh, discharge_wh; /* shown
                                     counters before 32-bit wrapping */
  int32_t soc; /* as shown, 0.01 % */
  int power_sf[SIM_DEV_COUNT], energy_sf[SIM_DEV_COUNT];
  uint16_t model[SIM_DEV_COUNT]; /* main model of each device */
} sim_devices_state;

/* sim_devices_state_get - advance household h to now and describe it. */
int sim_devices_state_get(sim_devices *sd, int household,
                          sim_devices_state *out);

/*
 * sim_devices_point - the value the simulator meant for a SunSpec point:
 * device `dev` of household h, the nth instance of `model` in its image,
 * repeating-group instance grp (-1: fixed block). Advances to now first.
 */
int sim_devices_point(sim_devices *sd, int household, int dev, uint16_t model,
                      unsigned nth, int grp, const char *point,
                      sim_point_value *out);

/* sim_devices_chain - model ids of device dev's image, in order. Returns
 * how many (at most max written). */
size_t sim_devices_chain(sim_devices *sd, int household, int dev, uint16_t *ids,
                         size_t max);

typedef struct sim_devices_stats {
  uint64_t requests; /* Modbus requests received */
  uint64_t reads;
  uint64_t writes; /* write requests received (function 6 or 16) */
  uint64_t writes_applied;
  uint64_t exceptions; /* exception responses sent */
  uint64_t dropped;    /* requests left unanswered by a fault */
  uint64_t delayed;
  uint64_t connections; /* TCP connections accepted */
  uint64_t refused;     /* over max_clients or offline */
} sim_devices_stats;

/* sim_devices_stats_get - counters of household h (-1: all). */
int sim_devices_stats_get(sim_devices *sd, int household,
                          sim_devices_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_DEVICES_H */
