/* SPDX-License-Identifier: MIT */
/*
 * gridlet/clock.h - the clock seam, and time helpers.
 *
 * No gridlet library reads the system clock itself: callers hand in a
 * gl_clock, a table of function pointers plus a context (like SQLite's VFS).
 * Three implementations ship:
 *   - the real clock (daemons in production),
 *   - a manual clock (tests): time moves only when the test sets or advances
 *     it, or when code sleeps on it (sleeping advances it instantly, so a
 *     retry-with-backoff loop runs in no real time and the test can check
 *     exactly how much virtual time passed),
 *   - an accelerated clock (demos and the device simulator): virtual time
 *     starts at a chosen instant and runs `speed` times faster than real
 *     time, so a 15-minute interval passes in a few seconds.
 *
 * Units: all times are int64_t nanoseconds. Wall time is UTC nanoseconds
 * since the Unix epoch (good until the year 2262); monotonic time has an
 * arbitrary origin and never goes backwards.
 */
#ifndef GRIDLET_CLOCK_H
#define GRIDLET_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GL_NS_PER_US INT64_C(1000)
#define GL_NS_PER_MS INT64_C(1000000)
#define GL_NS_PER_SEC INT64_C(1000000000)

typedef struct gl_clock_ops {
  /* Wall-clock UTC time, ns since the Unix epoch. May step. */
  int64_t (*now)(void *ctx);
  /* Monotonic time in ns; never decreases. */
  int64_t (*monotonic)(void *ctx);
  /* Block the calling thread for `ns` of this clock's time (<= 0: return). */
  void (*sleep)(void *ctx, int64_t ns);
  /* How many real nanoseconds `ns` of this clock's time lasts; used to turn
   * a deadline into a poll(2) timeout. 0 for a manual clock. */
  int64_t (*real_duration)(void *ctx, int64_t ns);
} gl_clock_ops;

/* A clock is a value: copy it freely. The context is borrowed. */
typedef struct gl_clock {
  const gl_clock_ops *ops;
  void *ctx;
} gl_clock;

static inline int64_t gl_clock_now(const gl_clock *c) {
  return c->ops->now(c->ctx);
}
static inline int64_t gl_clock_monotonic(const gl_clock *c) {
  return c->ops->monotonic(c->ctx);
}
static inline void gl_clock_sleep(const gl_clock *c, int64_t ns) {
  c->ops->sleep(c->ctx, ns);
}
static inline int64_t gl_clock_real_duration(const gl_clock *c, int64_t ns) {
  return c->ops->real_duration(c->ctx, ns);
}

/* gl_clock_real - the system clock (CLOCK_REALTIME / CLOCK_MONOTONIC). */
gl_clock gl_clock_real(void);

/* ---- Manual clock (tests) ---------------------------------------------- */

typedef struct gl_manual_clock gl_manual_clock;

/*
 * gl_manual_clock_new - a clock standing still at `start_ns` (wall time);
 * its monotonic time starts at 0. Returns an owned handle, or NULL when out
 * of memory. All operations on it are thread-safe.
 */
gl_manual_clock *gl_manual_clock_new(int64_t start_ns);

/* gl_manual_clock_free - release; NULL is a no-op. */
void gl_manual_clock_free(gl_manual_clock *mc);

/* gl_manual_clock_clock - the gl_clock view; valid while `mc` lives. */
gl_clock gl_manual_clock_clock(gl_manual_clock *mc);

/* gl_manual_clock_advance - move wall and monotonic time forward by ns >= 0. */
void gl_manual_clock_advance(gl_manual_clock *mc, int64_t ns);

/*
 * gl_manual_clock_set - set wall time (monotonic time is unaffected). Wall
 * time may go backwards: tests use this to simulate a clock step.
 */
void gl_manual_clock_set(gl_manual_clock *mc, int64_t now_ns);

/* ---- Accelerated clock (demos, simulator) ------------------------------ */

typedef struct gl_accel_clock gl_accel_clock;

/* The fastest an accelerated clock may run: a 15-minute interval in 90 ms,
 * a year in under an hour, and a day of real time still stays within the
 * range of int64 nanoseconds (1970..2262). */
#define GL_ACCEL_SPEED_MAX 10000u

/*
 * gl_accel_clock_new - virtual wall time starts at `start_ns` now and runs
 * `speed` times faster than real time (1 <= speed <= GL_ACCEL_SPEED_MAX;
 * speed 1 with start_ns set to the real time is a real clock). Returns an
 * owned handle, or NULL when out of memory, for a bad speed, or when virtual
 * time would leave 1970..2262 within a day of real time. Readings saturate
 * rather than overflow. Thread-safe.
 */
gl_accel_clock *gl_accel_clock_new(int64_t start_ns, uint32_t speed);

/*
 * gl_accel_clock_new_anchored - like gl_accel_clock_new, but virtual time is
 * virtual_start at the real wall-clock instant `real_anchor` (ns since the
 * epoch, may be in the past): virtual = virtual_start + (real - anchor) *
 * speed. Processes given the same three numbers agree on virtual time to
 * within their real clocks' agreement, whenever each of them started: this
 * is how the demo's broker-side and household-side processes share one
 * accelerated day. NULL as gl_accel_clock_new (an anchor far in the past at
 * a high speed puts virtual time out of range). Thread-safe.
 */
gl_accel_clock *gl_accel_clock_new_anchored(int64_t virtual_start,
                                            int64_t real_anchor,
                                            uint32_t speed);

/* gl_accel_clock_free - release; NULL is a no-op. */
void gl_accel_clock_free(gl_accel_clock *ac);

/* gl_accel_clock_clock - the gl_clock view; valid while `ac` lives. */
gl_clock gl_accel_clock_clock(gl_accel_clock *ac);

/* ---- Clock specifications (the daemons' --clock option) --------------- */

/*
 * A clock described as text, so that every gridlet process of a demo or a
 * test can be handed the same clock:
 *   "real"                                 the system clock
 *   "accel:SPEED:VSTART:ANCHOR"            anchored accelerated clock:
 *       SPEED   integer, 1..GL_ACCEL_SPEED_MAX
 *       VSTART  virtual start, RFC 3339 ("2026-06-21T04:00:00Z")
 *       ANCHOR  the real instant VSTART corresponds to, RFC 3339 with an
 *               optional fraction ("2026-11-21T10:15:02.250Z")
 */
typedef struct gl_clock_spec {
  bool accel;
  uint32_t speed;
  int64_t virtual_start;
  int64_t real_anchor;
} gl_clock_spec;

#define GL_CLOCK_SPEC_MAX 96

/* gl_clock_spec_parse - parse a specification. Returns 0 or GL_EPARSE. */
int gl_clock_spec_parse(const char *text, gl_clock_spec *out);

/* gl_clock_spec_format - the text form; buf of GL_CLOCK_SPEC_MAX bytes. */
char *gl_clock_spec_format(const gl_clock_spec *spec,
                           char buf[GL_CLOCK_SPEC_MAX]);

/*
 * gl_clock_spec_open - make the clock a specification describes. For an
 * accelerated clock *owned receives the handle to free with
 * gl_accel_clock_free once the clock is no longer used (NULL for "real").
 * Returns 0, GL_ERANGE (virtual time would leave 1970..2262 within a day of
 * real time: logged) or GL_ENOMEM.
 */
int gl_clock_spec_open(const gl_clock_spec *spec, gl_clock *clock,
                       gl_accel_clock **owned);

/* ---- Time formatting and parsing --------------------------------------- */

/* Enough for "2026-11-21T10:15:00.123456789Z" and a NUL. */
#define GL_TIME_STR_MAX 32

/*
 * gl_time_format - format wall time as RFC 3339 UTC. Whole seconds print
 * as "2026-11-21T10:15:00Z"; otherwise the fraction is printed with
 * millisecond, microsecond or nanosecond precision, whichever is exact.
 * `buf` must hold GL_TIME_STR_MAX bytes. Returns `buf`.
 */
char *gl_time_format(int64_t ns, char buf[GL_TIME_STR_MAX]);

/*
 * gl_time_parse - parse RFC 3339 time ("2026-11-21T10:15:00Z", optional
 * fraction of up to 9 digits, "Z" or a "+hh:mm"/"-hh:mm" offset; 'T' may be
 * a space) into UTC ns. Returns 0, GL_EPARSE for malformed text, or
 * GL_ERANGE for a time outside 1970..2262.
 */
int gl_time_parse(const char *text, int64_t *ns);

/*
 * gl_duration_parse - parse a duration: an integer followed by a unit,
 * "ns", "us", "ms", "s", "m", "h" or "d" ("15m", "500ms"); several parts
 * may follow each other ("1h30m"). A bare "0" is allowed. Returns 0,
 * GL_EPARSE for malformed text, or GL_ERANGE on overflow or a negative
 * duration.
 */
int gl_duration_parse(const char *text, int64_t *ns);

/*
 * gl_duration_format - the shortest exact form of a duration ("15m",
 * "1h30m", "250ms"). `buf` of `size` bytes; returns `buf`.
 */
char *gl_duration_format(int64_t ns, char *buf, size_t size);

/*
 * gl_floor_div - floor division for possibly negative numerators, used to
 * align times to interval boundaries. `d` must be > 0.
 */
static inline int64_t gl_floor_div(int64_t n, int64_t d) {
  int64_t q = n / d;
  return (n % d != 0 && (n < 0)) ? q - 1 : q;
}

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_CLOCK_H */
