/* SPDX-License-Identifier: MIT */
/*
 * util.c - small helpers shared inside hal: IEEE bit patterns and the log
 * rate limiter (see hal_internal.h).
 */
#include "hal_internal.h"

#include <string.h>

double hal__f32(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return (double)f;
}

double hal__f64(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

bool hal__rl_allow(hal_ratelimit *rl, int64_t now_ns, uint64_t *suppressed) {
  if (!rl->active) {
    rl->active = true;
    rl->gap_ns = HAL_RL_FIRST_GAP;
    rl->next_ns = now_ns + rl->gap_ns;
    rl->suppressed = 0;
    *suppressed = 0;
    return true;
  }
  if (now_ns < rl->next_ns) {
    rl->suppressed++;
    return false;
  }
  *suppressed = rl->suppressed;
  rl->suppressed = 0;
  if (rl->gap_ns < HAL_RL_MAX_GAP)
    rl->gap_ns =
        rl->gap_ns * 2 > HAL_RL_MAX_GAP ? HAL_RL_MAX_GAP : rl->gap_ns * 2;
  rl->next_ns = now_ns + rl->gap_ns;
  return true;
}

uint64_t hal__rl_reset(hal_ratelimit *rl) {
  uint64_t s = rl->active ? rl->suppressed : 0;
  memset(rl, 0, sizeof *rl);
  return s;
}
