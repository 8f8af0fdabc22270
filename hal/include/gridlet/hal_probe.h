/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_probe.h - what gridlet-probe does, as a library function.
 *
 * The first thing an installer runs: connect to a device, find its SunSpec
 * model chain, print every model with its decoded points, and, given a
 * profile, the quantities the meter agent would read. Read-only: a probe
 * never writes to the device.
 */
#ifndef GRIDLET_HAL_PROBE_H
#define GRIDLET_HAL_PROBE_H

#include "gridlet/clock.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_profile.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hal_probe_opts {
  uint8_t unit;               /* 0: the profile's, else 1 */
  const hal_profile *profile; /* NULL: SunSpec discovery only */
  bool all_points;            /* also print points that are not implemented */
  bool no_points;             /* print the model chain only */
} hal_probe_opts;

/*
 * hal_probe_run - probe the device behind `link` (borrowed) and print a
 * report to `out`. Returns 0 when the device answered and (SunSpec) a map
 * was found or (registers profile) every mapped quantity was read; else the
 * error (also explained in the report). Never writes to the device.
 */
int hal_probe_run(hal_link *link, const hal_probe_opts *opts, FILE *out);

/*
 * hal_format_scaled - write raw * 10^exp as an exact decimal ("123.45",
 * "-0.5", "1200") into buf. Returns buf.
 */
char *hal_format_scaled(int64_t raw, int exp, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_PROBE_H */
