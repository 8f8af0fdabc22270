/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_memdev.h - an in-memory Modbus device behind the transport
 * seam.
 *
 * A memdev holds holding and input registers per unit id and answers
 * requests the way a real device does: registers that were never defined
 * give the exception ILLEGAL DATA ADDRESS, a unit id with no registers at
 * all does not answer (GL_ETIMEDOUT), writes to registers not marked
 * writable give ILLEGAL DATA ADDRESS. Tests can script failures (the next
 * N requests time out, answer with an exception, ...) and take the device
 * offline. The fuzz target serves fuzzed register images through it.
 *
 * The simulated devices that real agents talk to over sockets live in
 * sim/; this is the cheap in-process backend for unit tests and fuzzing.
 * All functions are thread-safe (one mutex), so a test may change
 * registers while a link reads them from another thread.
 */
#ifndef GRIDLET_HAL_MEMDEV_H
#define GRIDLET_HAL_MEMDEV_H

#include "gridlet/hal_transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hal_memdev hal_memdev;

/* hal_memdev_new - an empty device. Owned handle, or NULL (no memory). */
hal_memdev *hal_memdev_new(void);

/* hal_memdev_free - release; NULL is a no-op. Transports obtained from it
 * must no longer be used. */
void hal_memdev_free(hal_memdev *md);

/*
 * hal_memdev_set - define `n` registers of `unit` in `table` starting at
 * `addr` with the values `vals` (copied). `writable` marks them writable
 * by function 0x10. Returns 0, GL_ERANGE when addr + n > 65536, GL_ENOMEM.
 */
int hal_memdev_set(hal_memdev *md, uint8_t unit, hal_regtype table,
                   uint16_t addr, const uint16_t *vals, size_t n,
                   bool writable);

/* hal_memdev_get - copy `n` defined registers out. GL_ENOENT if any of
 * them is undefined. */
int hal_memdev_get(hal_memdev *md, uint8_t unit, hal_regtype table,
                   uint16_t addr, uint16_t *vals, size_t n);

/* hal_memdev_clear - forget every register of `unit`. */
void hal_memdev_clear(hal_memdev *md, uint8_t unit);

/*
 * hal_memdev_fail - the next `count` requests (reads and writes) fail with
 * `err` (GL_ETIMEDOUT, GL_EPROTO, GL_ECONN ...) or, when err is GL_EDEVICE,
 * with the exception `exc`. Calls add to the queue (up to 64 entries).
 */
void hal_memdev_fail(hal_memdev *md, int err, uint8_t exc, unsigned count);

/* hal_memdev_set_offline - while offline, open() fails with GL_ECONN and
 * an open connection fails every request with GL_ECONN. */
void hal_memdev_set_offline(hal_memdev *md, bool offline);

typedef struct hal_memdev_stats {
  uint64_t opens;  /* successful open() calls */
  uint64_t reads;  /* read requests received (answered or not) */
  uint64_t writes; /* write requests received (answered or not) */
  uint64_t registers_read;
} hal_memdev_stats;

/* hal_memdev_stats_get - the counters so far. */
void hal_memdev_stats_get(hal_memdev *md, hal_memdev_stats *out);

/*
 * hal_memdev_transport - a transport talking to `md`. Destroying the
 * transport does not free the device (it is borrowed); the device must
 * outlive it.
 */
hal_transport hal_memdev_transport(hal_memdev *md);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_MEMDEV_H */
