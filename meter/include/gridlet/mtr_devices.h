/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_devices.h - the household's devices as the agent sees them:
 * up to three (grid meter, inverter, battery) on shared Modbus links,
 * read together into one mtr_poll for the interval accountant.
 *
 * Built from the configuration: each configured device gets its profile
 * (shipped name or file) and a hal_device; devices whose endpoints are the
 * same (after parsing, e.g. an inverter that also serves its battery and
 * meter at other unit ids) share one hal_link, as the device layer
 * requires. Each counter of a reading comes from the first device, in the
 * order grid meter, inverter, battery, whose profile maps it; the grid
 * import and export counters are required.
 *
 * hal never writes to a device here: the links are created read-only.
 *
 * Thread-safety: one thread at a time.
 */
#ifndef GRIDLET_MTR_DEVICES_H
#define GRIDLET_MTR_DEVICES_H

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/mtr_account.h"
#include "gridlet/mtr_config.h"
#include "gridlet/rand.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtr_devices mtr_devices;

/*
 * mtr_devices_new - load the profiles and create links and devices (no
 * I/O towards the devices yet). The clock and generator are borrowed and
 * must outlive the handle. Problems (unreadable profile, bad endpoint, no
 * device mapping the grid counters) are described in `errs` (may be NULL)
 * and give GL_ECONFIG; otherwise 0 and an owned handle, or GL_ENOMEM.
 */
int mtr_devices_new(const mtr_config *cfg, gl_clock clock, gl_rand rand,
                    mtr_devices **out, gl_conf_errors *errs);

/* mtr_devices_free - release; NULL is a no-op. */
void mtr_devices_free(mtr_devices *d);

/* mtr_devices_counters - bit (1 << mtr_counter) for each counter some
 * device's profile maps. */
uint32_t mtr_devices_counters(const mtr_devices *d);

/* mtr_devices_has_soc - whether some device maps the state of charge. */
bool mtr_devices_has_soc(const mtr_devices *d);

/*
 * mtr_devices_poll - read every device once (blocking; hal's timeouts and
 * retries apply) into *out, stamped with the clock's wall and monotonic
 * time at the start of the poll. A device that could not be read sets
 * out->failed. Never allocates.
 */
void mtr_devices_poll(mtr_devices *d, mtr_poll *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_DEVICES_H */
