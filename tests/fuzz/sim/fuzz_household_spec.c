/* SPDX-License-Identifier: MIT */
/*
 * fuzz_household_spec.c - `gridlet-sim devices --household` text: the
 * parser never crashes, and what it accepts is a household index below
 * the limit with values in their documented ranges; a refusal leaves the
 * template untouched and says why.
 */
#include "gridlet/sim_household.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char text[512];
  if (size >= sizeof text)
    size = sizeof text - 1;
  memcpy(text, data, size);
  text[size] = '\0';
  sim_household_cfg tmpl = {.pv_peak_w = 5000, .battery_wh = 10000};
  sim_household_cfg c = tmpl;
  int idx = -1;
  char err[64];
  err[0] = '\0';
  if (sim_household_spec_parse(text, 24, &idx, &c, err, sizeof err) == 0) {
    if (idx < 0 || idx >= 24 || c.pv_peak_w > 1000000 ||
        c.battery_wh > 10000000 || c.load_base_w > 1000000 ||
        c.load_peak_w > 1000000 || c.battery_max_w > 1000000)
      abort();
    /* It builds a household that runs. */
    sim_household *h = sim_household_new(&c, 0);
    if (!h)
      abort();
    sim_household_advance(h, INT64_C(3600) * 1000000000);
    sim_household_free(h);
  } else if (err[0] == '\0' || idx != -1 || c.pv_peak_w != tmpl.pv_peak_w ||
             c.battery_wh != tmpl.battery_wh || c.no_pv || c.no_battery) {
    abort();
  }
  return 0;
}
