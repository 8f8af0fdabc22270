/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_device.h - one device (inverter, battery, grid meter) read
 * through a profile: the API the meter agent polls.
 *
 * A device is a unit id on a shared hal_link plus a hal_profile. The first
 * poll discovers the device (SunSpec profiles: the model chain) and builds
 * a read plan: the fewest requests (at most 125 registers each) that cover
 * every mapped point together with its scale factor, so a value and its
 * scale factor always come from the same response. Each request that can
 * also covers the model's ID and length registers, so a device whose
 * register map changed under us (firmware update, replaced device) is
 * noticed on the next poll and discovered again, without extra requests.
 *
 * What a poll returns (hal_sample) is built for counter accounting: every
 * reading carries the raw register value, its width (16/32/64 bits for
 * integer counters) and the exponent used, so the agent can tell a counter
 * reset (raw went down), a rollover (raw went down by about 2^bits) and a
 * scale factor change (exp changed) apart; hal does not guess. Integer
 * counters are scaled with floor, everything else (floats included)
 * rounded to nearest, half away from zero.
 *
 * Offline devices: a poll that cannot read the device marks it offline and
 * schedules the next real attempt with a growing delay (offline_min ..
 * offline_max); polls before then return at once with the last error.
 * Going offline is logged once (repeats rate-limited), coming back as a
 * notice with the outage's length.
 *
 * Steady-state polling allocates nothing: the plan and its buffers live in
 * the device object, sized at creation.
 *
 * Writes: hal_device_battery_limit() is the only function that writes, and
 * only when the profile has [control] battery = 124 AND the device was
 * created with allow_control AND its link allows writes. Otherwise it
 * returns GL_EPERM and nothing reaches the wire.
 *
 * Thread-safety: one device is used by one thread at a time; different
 * devices on one link may be polled from different threads (the link
 * serialises requests).
 */
#ifndef GRIDLET_HAL_DEVICE_H
#define GRIDLET_HAL_DEVICE_H

#include "gridlet/hal_link.h"
#include "gridlet/hal_profile.h"
#include "gridlet/hal_sunspec.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hal_device_cfg {
  uint8_t unit;           /* Modbus unit id; 0: the profile's, else 1 */
  bool allow_control;     /* the configuration permits battery control */
  int64_t offline_min_ns; /* first wait after a failed poll [5 s] */
  int64_t offline_max_ns; /* waits double up to this [5 min] */
  const char *name;       /* for log lines ("meter"); copied; NULL: profile */
} hal_device_cfg;

/* One quantity as read in one poll. */
typedef struct hal_reading {
  /* 0: value valid. GL_ENOENT: the profile does not map the quantity or
   * the device lacks every model it names. GL_ENOTSUP: the device reports
   * the point (or its scale factor) as not implemented. GL_ERANGE: scale
   * factor outside -10..10 or a value that does not fit. Any other code:
   * the read failed (as returned by the link). */
  int status;
  int64_t value;    /* in the quantity's unit (hal_qty_unit), sign applied */
  uint64_t raw;     /* the register value as read (two's complement bits for
                       signed types; floats: their value floored / rounded
                       like `value`, before sign) */
  uint8_t raw_bits; /* 16, 32 or 64 for integer registers; 0 for floats */
  int8_t exp;       /* value = sign * raw * 10^exp for integer registers */
  int8_t sf;        /* the device's SunSpec scale factor read with it (0 if
                       none) */
  uint16_t model;   /* SunSpec model it came from; 0 for vendor registers */
} hal_reading;

typedef struct hal_sample {
  int64_t time_ns; /* wall time (injected clock) at the start of the poll */
  int status;      /* 0: every request of the poll succeeded (readings may
                      still be GL_ENOENT / GL_ENOTSUP); else the first
                      error */
  bool online;     /* the device answered in this poll */
  /* Changes when discovery finds a different device: another model map or
   * serial number (device replaced, firmware update). Counters may jump. */
  uint32_t identity;
  hal_reading r[HAL_Q_COUNT];
} hal_sample;

typedef struct hal_device hal_device;

/*
 * hal_device_new - a device reached through `link` (borrowed; must outlive
 * the device) described by `profile` (copied). Returns an owned handle, or
 * NULL (out of memory, or an invalid profile: kind unset). No I/O.
 */
hal_device *hal_device_new(hal_link *link, const hal_profile *profile,
                           const hal_device_cfg *cfg);

/* hal_device_free - release; NULL is a no-op. */
void hal_device_free(hal_device *dev);

/*
 * hal_device_poll - read every mapped quantity into *out. Returns 0 when
 * all of them were read; otherwise the first error (also in out->status),
 * with each reading's own status telling what succeeded. Returns GL_ECONN
 * / GL_ETIMEDOUT / GL_EDEVICE ... when the device could not be read at all
 * (out->online false), GL_ENOENT (out->online false, logged as a
 * configuration error) when there is nothing to read: a SunSpec device
 * without a SunSpec map or with none of the profile's models, or a profile
 * none of whose registers can be read. A poll that would do no I/O never
 * reports the device online. Never allocates.
 */
int hal_device_poll(hal_device *dev, hal_sample *out);

/* Identity from the device's common model (SunSpec only). */
typedef struct hal_device_info {
  char manufacturer[33];
  char model[33];
  char version[17];
  char serial[33];
  uint8_t subdevice; /* 0-based sub-device the quantities come from */
} hal_device_info;

/*
 * hal_device_info_get - identity of the sub-device the profile's first
 * mapped quantity comes from. Returns 0, GL_ESTATE before a successful
 * discovery, GL_ENOTSUP for registers profiles.
 */
int hal_device_info_get(hal_device *dev, hal_device_info *out);

/* hal_device_map - the SunSpec map of the last discovery, or NULL. */
const hal_ss_map *hal_device_map(const hal_device *dev);

/* hal_device_name - the name used in log lines. */
const char *hal_device_name(const hal_device *dev);

/* hal_device_unit - the Modbus unit id. */
uint8_t hal_device_unit(const hal_device *dev);

/*
 * hal_device_battery_limit - limit battery charging to `charge_max_w` and
 * discharging to `discharge_max_w` (both >= 0) through SunSpec model 124
 * (InWRte / OutWRte as a percentage of WChaMax, StorCtl_Mod charge and
 * discharge bits set); hal_device_battery_release() clears the bits and
 * gives the battery back to its own control. Returns 0; GL_EPERM when
 * control is not enabled by both the profile and the configuration, or
 * the link does not allow writes (nothing is written, a warning is
 * logged); GL_ENOENT when the device has no model 124; GL_ERANGE when
 * WChaMax is not implemented; or a link error.
 */
int hal_device_battery_limit(hal_device *dev, int64_t charge_max_w,
                             int64_t discharge_max_w);
int hal_device_battery_release(hal_device *dev);

typedef struct hal_device_stats {
  uint64_t polls;
  uint64_t polls_ok;
  uint64_t polls_failed;
  uint64_t polls_skipped; /* returned at once while waiting (offline) */
  uint64_t discoveries;
  uint64_t map_changes; /* ID/length check failed: map changed */
  uint64_t bad_values;  /* scale factors out of range, overflows */
} hal_device_stats;

/* hal_device_stats_get - counters so far. */
void hal_device_stats_get(const hal_device *dev, hal_device_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_DEVICE_H */
