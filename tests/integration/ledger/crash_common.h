/* SPDX-License-Identifier: MIT */
/*
 * crash_common.h - the deterministic batches the crash writer appends and
 * the crash test checks for (shared by both, header-only).
 */
#ifndef GRIDLET_LEDGER_CRASH_COMMON_H
#define GRIDLET_LEDGER_CRASH_COMMON_H

#include "gridlet/clock.h"
#include "gridlet/ledger_entry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRASH_ORIGIN "gridlet/crashville"
#define CRASH_BATCH_MAX 40

/* Batch sizes vary from 1 to 37 so that batches end inside tiles. */
static inline size_t crash_batch_len(uint64_t b) {
  return (size_t)(1 + (b * 7 + b / 5) % 37);
}

/* Entry j of batch b (owned bytes). Distinct for every (b, j). */
static inline uint8_t *crash_entry(uint64_t b, size_t j, size_t *len) {
  lg_entry e;
  memset(&e, 0, sizeof e);
  e.type = LG_ENTRY_ORDER;
  e.u.order.interval_start =
      INT64_C(1767225600000000000) + (int64_t)b * 900 * GL_NS_PER_SEC;
  snprintf(e.u.order.meter_id, sizeof e.u.order.meter_id, "w%03u",
           (unsigned)((b * 41 + j) % 500));
  e.u.order.seq = b * 1000 + j + 1;
  e.u.order.side = (uint8_t)(j % 2 ? LG_SIDE_SELL : LG_SIDE_BUY);
  e.u.order.quantity_wh = (int64_t)(j * 10);
  e.u.order.limit_price = 150000;
  uint8_t *out = NULL;
  if (lg_entry_encode(&e, &out, len) != 0)
    abort();
  return out;
}

#endif
