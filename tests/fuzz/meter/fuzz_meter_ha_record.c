/* SPDX-License-Identifier: MIT */
/*
 * fuzz_meter_ha_record.c - the Home Assistant totals are read back from
 * the agent's database at every start: a damaged record must be refused,
 * never crash the agent, and an accepted one must write back to exactly
 * the same bytes (nothing half-read).
 */
#include "gridlet/mtr_ha.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t out[MTR_HA_RECORD_MAX];
  size_t len = 0;
  if (mtr_ha_record_check(data, size, out, &len) == 0 &&
      (len != size || memcmp(out, data, size) != 0))
    abort();
  return 0;
}
