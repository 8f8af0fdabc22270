/* SPDX-License-Identifier: MIT */
/*
 * hal_internal.h - declarations shared by hal's source files only: the
 * generated SunSpec tables, word-order helpers and the log rate limiter.
 */
#ifndef GRIDLET_HAL_INTERNAL_H
#define GRIDLET_HAL_INTERNAL_H

#include "gridlet/hal_sunspec.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAL_LOG "hal"

/* ---- Generated tables (sunspec_tables.c) -------------------------------- */

extern const hal_ss_model hal__ss_models[];
extern const size_t hal__ss_n_models;

/* Decode the value of point `p` whose registers start at r (p->size of
 * them): sets implemented, u, i, f; leaves the scale factor fields alone. */
void hal__ss_decode_at(const hal_ss_point *p, const uint16_t *r,
                       hal_ss_value *v);

/* ---- Register words ------------------------------------------------------ */

/* Big-endian (high word first) assembly of n <= 4 registers. */
static inline uint64_t hal__be_words(const uint16_t *r, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++)
    v = (v << 16) | r[i];
  return v;
}

/* Little-endian word order (low word first), as some vendors use. */
static inline uint64_t hal__le_words(const uint16_t *r, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;)
    v = (v << 16) | r[i];
  return v;
}

/* Sign-extend the low `bits` bits of v. */
static inline int64_t hal__sext(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return (int64_t)v;
  uint64_t m = UINT64_C(1) << (bits - 1);
  v &= (UINT64_C(1) << bits) - 1;
  return (int64_t)((v ^ m) - m);
}

/* IEEE 754 bit patterns to floating point. */
double hal__f32(uint32_t bits);
double hal__f64(uint64_t bits);

/* ---- Link internals other hal modules use ------------------------------ */

struct hal_link;
#include "gridlet/clock.h"
/* The link's injected clock. */
gl_clock hal__link_clock(struct hal_link *l);
/* Whether the link was created with allow_write. */
bool hal__link_write_allowed(struct hal_link *l);

/* ---- Log rate limiting ----------------------------------------------------
 */

/*
 * A condition that repeats (a device that stays unreachable for weeks) is
 * logged the first time, then at most once per `gap`, the gap doubling from
 * HAL_RL_FIRST_GAP to HAL_RL_MAX_GAP, each line saying how many repeats it
 * stands for. hal__rl_reset() when the condition clears.
 */
#define HAL_RL_FIRST_GAP (INT64_C(60) * 1000000000)
#define HAL_RL_MAX_GAP (INT64_C(3600) * 1000000000)

typedef struct hal_ratelimit {
  bool active;
  int64_t next_ns; /* monotonic time from which the next line may go out */
  int64_t gap_ns;
  uint64_t suppressed; /* repeats since the last line */
} hal_ratelimit;

/* True when a line may be logged now; *suppressed gets the repeats it
 * stands for (0 for the first). */
bool hal__rl_allow(hal_ratelimit *rl, int64_t now_ns, uint64_t *suppressed);

/* Forget the condition; returns the repeats never logged. */
uint64_t hal__rl_reset(hal_ratelimit *rl);

#endif /* GRIDLET_HAL_INTERNAL_H */
