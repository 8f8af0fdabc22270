/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_link.h - one shared, self-healing connection to a Modbus
 * endpoint.
 *
 * A link owns one transport (a TCP connection to an inverter or gateway, or
 * one RS-485 serial port) and is shared by every device reached through it:
 * many inverters accept a single Modbus TCP client, and a serial bus carries
 * several unit ids. The link serialises requests (a mutex), and adds the
 * policy the transports leave out:
 *
 *   - a response timeout per request (real time: it is the network's);
 *   - retries of a failed request (timeouts, malformed responses, "busy"
 *     and "acknowledge" exceptions) with exponential backoff and jitter;
 *   - a minimum pause between requests, and an extra one when the unit id
 *     changes (RS-485 devices need the bus to settle);
 *   - reconnection forever: an endpoint that cannot be reached (an inverter
 *     switched off for the night, or gone for weeks) is retried at growing
 *     intervals (reconnect_min .. reconnect_max, with jitter); between
 *     attempts requests fail at once with GL_ECONN instead of blocking;
 *   - log lines that do not flood: the first failure is a warning, repeats
 *     are rate-limited (with a count), recovery is a notice saying how long
 *     the outage lasted;
 *   - read-only by default: hal_link_write() refuses with GL_EPERM unless
 *     the link was created with allow_write, and refused writes never reach
 *     the transport.
 *
 * Backoff and pauses sleep on the injected gl_clock (a manual clock makes
 * them instant in tests); jitter comes from the injected gl_rand.
 *
 * Thread-safety: every function may be called from any thread; requests
 * are serialised, so a device's poll is never interleaved mid-request with
 * another reader's.
 */
#ifndef GRIDLET_HAL_LINK_H
#define GRIDLET_HAL_LINK_H

#include "gridlet/clock.h"
#include "gridlet/hal_transport.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Link policy. Zero fields take the default in brackets. */
typedef struct hal_link_cfg {
  int64_t timeout_ns;       /* response timeout per attempt [1 s] */
  int attempts;             /* attempts per request, >= 1 [3] */
  int64_t backoff_ns;       /* delay before the first retry [100 ms] */
  int64_t backoff_max_ns;   /* retry delays double up to this [2 s] */
  int64_t pause_ns;         /* minimum gap between requests [0] */
  int64_t unit_pause_ns;    /* extra gap when the unit id changes [0] */
  int64_t reconnect_min_ns; /* first reconnect delay [1 s] */
  int64_t reconnect_max_ns; /* reconnect delays double up to this [5 min] */
  bool allow_write;         /* false: every write is refused [false] */
} hal_link_cfg;

/* Recommended pauses for RS-485 buses. */
#define HAL_RTU_PAUSE_NS (INT64_C(20) * 1000000)
#define HAL_RTU_UNIT_PAUSE_NS (INT64_C(50) * 1000000)

typedef struct hal_link hal_link;

/*
 * hal_link_new - a link over `transport`, which it takes (destroyed by
 * hal_link_free, or here on failure). `name` (copied, may be NULL) prefixes
 * log lines ("inverter"). The clock and generator are borrowed and must
 * outlive the link. The link connects lazily, on the first request.
 * Returns an owned handle, or NULL (out of memory).
 */
hal_link *hal_link_new(hal_transport transport, const hal_link_cfg *cfg,
                       gl_clock clock, gl_rand rand, const char *name);

/* hal_link_free - close and release; NULL is a no-op. No request may be in
 * progress. */
void hal_link_free(hal_link *link);

/*
 * hal_link_read - read `n` (1..125) registers of `unit` from `table` at
 * `addr` into dst, with the retry and reconnect policy above. Returns 0;
 * GL_EDEVICE with *exc set when the device answered with a non-retryable
 * exception (or retryable ones until attempts ran out); GL_ETIMEDOUT;
 * GL_EPROTO; GL_ECONN when the endpoint is unreachable (including "not
 * yet time to reconnect"); GL_EINVAL for a bad count. `exc` may be NULL.
 * Never allocates.
 */
int hal_link_read(hal_link *link, uint8_t unit, hal_regtype table,
                  uint16_t addr, uint16_t n, uint16_t *dst, uint8_t *exc);

/*
 * hal_link_write - write `n` (1..123) holding registers. Returns GL_EPERM
 * (logged, counted, nothing sent) unless the link allows writes; otherwise
 * as hal_link_read, except that a write is never retried: a write that
 * timed out may have been applied, so the caller decides.
 */
int hal_link_write(hal_link *link, uint8_t unit, uint16_t addr, uint16_t n,
                   const uint16_t *src, uint8_t *exc);

/* hal_link_connected - true while the transport is connected. */
bool hal_link_connected(hal_link *link);

/*
 * hal_link_generation - a number that changes each time the link
 * (re)connects. Devices compare it to notice that what they learnt about
 * the device (its SunSpec map) must be checked again.
 */
uint32_t hal_link_generation(hal_link *link);

/* hal_link_name - the name given at creation ("" if none). */
const char *hal_link_name(const hal_link *link);

/* hal_link_describe - the transport's endpoint text. */
const char *hal_link_describe(hal_link *link);

typedef struct hal_link_stats {
  uint64_t requests; /* requests asked for (read + write) */
  uint64_t attempts; /* requests put on the wire, retries included */
  uint64_t ok;       /* requests that succeeded */
  uint64_t retries;
  uint64_t timeouts;       /* attempts that timed out */
  uint64_t exceptions;     /* attempts answered with an exception */
  uint64_t proto_errors;   /* attempts with a malformed response */
  uint64_t conn_failures;  /* failed (re)connection attempts */
  uint64_t connects;       /* successful connections */
  uint64_t fast_fails;     /* requests refused while waiting to reconnect */
  uint64_t writes;         /* writes sent */
  uint64_t writes_refused; /* writes refused because writing is off */
  int last_error;          /* last failure (GL_E*), 0 if none yet */
  uint8_t last_exception;  /* last exception code seen, 0 if none */
} hal_link_stats;

/* hal_link_stats_get - a snapshot of the counters. */
void hal_link_stats_get(hal_link *link, hal_link_stats *out);

/* hal_link_close - drop the connection now (the next request reconnects
 * at once); for tests and for shutting down politely. */
void hal_link_close(hal_link *link);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_LINK_H */
