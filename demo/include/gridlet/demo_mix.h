/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_mix.h - the households of the demo's neighbourhood: who has
 * how much PV, what battery, what load, and what price limits they set.
 *
 * A street is only interesting when it is mixed: roofs full of panels
 * next to flats without any, batteries here and there, early risers and
 * night owls. demo_mix_household gives household i a fixed, plausible
 * installation from a table of ten archetypes (the default demo shows each
 * once); households beyond ten repeat the archetypes with their sizes
 * varied deterministically, so every run of the demo with the same
 * options is the same street. Pure functions, thread-safe.
 */
#ifndef GRIDLET_DEMO_MIX_H
#define GRIDLET_DEMO_MIX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One household's installation and trading preferences. */
typedef struct demo_household {
  const char *label;   /* "family, big roof" (static text) */
  uint32_t pv_w;       /* PV clear-sky peak, W; 0: no PV */
  uint32_t battery_wh; /* usable battery, Wh; 0: no battery */
  uint32_t base_w;     /* load: standby, W */
  uint32_t peak_w;     /* load: evening peak on top of the base, W */
  /* Standing price limits in currency per kWh ("0.25"), as the household
   * would write them in its meter.conf; NULL: any price in the band. */
  const char *buy_below;
  const char *sell_above;
} demo_household;

/* demo_mix_household - household `i` (0-based) of the neighbourhood. */
void demo_mix_household(unsigned i, demo_household *out);

/*
 * demo_mix_sim_spec - the `gridlet-sim devices --household` argument for
 * household `h` served as index `index` by its simulator, e.g.
 * "3:pv=8000,battery=10000,base=300,peak=2500", into buf. Returns buf (an
 * empty string when cap is too small).
 */
char *demo_mix_sim_spec(const demo_household *h, unsigned index, char *buf,
                        size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_MIX_H */
