/* SPDX-License-Identifier: MIT */
/* mix.c - see gridlet/demo_mix.h. */
#include "gridlet/demo_mix.h"

#include <stddef.h>
#include <stdio.h>

/* Ten households of a street, sized after common installations: PV in
 * kWp of panels, batteries of the usual 5-13.5 kWh, loads from a student
 * flat to a home with an electric car. A few set price limits, as the
 * meter's configuration allows; most trade at any price in the band. */
static const demo_household archetypes[] = {
    {"family, panels and battery", 8000, 10000, 300, 2500, NULL, NULL},
    {"retired couple, small roof", 4000, 0, 200, 1200, NULL, "0.12"},
    {"flat, no panels", 0, 0, 250, 1800, "0.25", NULL},
    {"big roof, no battery", 10000, 0, 300, 2000, NULL, NULL},
    {"electric car, battery", 6000, 13500, 450, 3500, NULL, NULL},
    {"small roof, small battery", 3000, 5000, 250, 1500, NULL, NULL},
    {"home office, no panels", 0, 0, 450, 2000, NULL, NULL},
    {"farmhouse", 12000, 10000, 500, 3000, NULL, "0.10"},
    {"student flat", 0, 0, 150, 1000, "0.28", NULL},
    {"young family, panels", 5000, 0, 350, 2500, NULL, NULL},
};

#define N_ARCH (sizeof archetypes / sizeof archetypes[0])

/* A size scaled by a factor in 80..125 % that depends on the household
 * only, rounded to 100 W or Wh. */
static uint32_t vary(uint32_t v, unsigned i) {
  if (v == 0)
    return 0;
  unsigned pct = 80 + (i * 37u) % 46u;
  uint64_t x = (uint64_t)v * pct / 100u;
  x = (x + 50) / 100 * 100;
  return x ? (uint32_t)x : 100u;
}

void demo_mix_household(unsigned i, demo_household *out) {
  *out = archetypes[i % N_ARCH];
  if (i >= N_ARCH) {
    out->pv_w = vary(out->pv_w, i);
    out->battery_wh = vary(out->battery_wh, i + 3);
    out->base_w = vary(out->base_w, i + 5);
    out->peak_w = vary(out->peak_w, i + 7);
  }
}

char *demo_mix_sim_spec(const demo_household *h, unsigned index, char *buf,
                        size_t cap) {
  int n = snprintf(buf, cap, "%u:pv=%u,battery=%u,base=%u,peak=%u", index,
                   h->pv_w, h->battery_wh, h->base_w ? h->base_w : 250,
                   h->peak_w ? h->peak_w : 2000);
  if (n < 0 || (size_t)n >= cap) {
    if (cap)
      buf[0] = '\0';
  }
  return buf;
}
