/* SPDX-License-Identifier: MIT */
/*
 * home.c - a household's battery and strategy for one interval. See
 * gridlet/sim_home.h for the rules; everything here is integer arithmetic
 * so that runs repeat bit for bit on every machine.
 */
#include "gridlet/sim_home.h"

#include "gridlet/clock.h"

/* floor(sqrt(x)) for x >= 0, exactly (Newton's method on integers). */
static int64_t isqrt(int64_t x) {
  if (x <= 0)
    return 0;
  int64_t r = x, y = (r + 1) / 2;
  while (y < r) {
    r = y;
    y = (r + x / r) / 2;
  }
  return r;
}

void sim_battery_init(sim_battery *b, const sim_home *h, int64_t interval_ns) {
  b->capacity_mwh = h->battery_wh * 1000;
  b->reserve_mwh = b->capacity_mwh * h->reserve_ppm / SIM_PPM;
  int64_t initial = b->capacity_mwh * h->initial_ppm / SIM_PPM;
  b->stored_mwh = initial > b->reserve_mwh ? initial : b->reserve_mwh;
  b->eff_ppm = isqrt(h->efficiency_ppm * SIM_PPM);
  if (b->eff_ppm < 1)
    b->eff_ppm = 1;
  int64_t secs = interval_ns / GL_NS_PER_SEC;
  b->charge_max = b->capacity_mwh ? h->charge_w * secs / 3600 : 0;
  b->discharge_max = b->capacity_mwh ? h->discharge_w * secs / 3600 : 0;
}

int64_t sim_battery_charge_room(const sim_battery *b) {
  if (b->capacity_mwh <= 0)
    return 0;
  /* Largest c with floor(c * 1000 * e / 10^6) <= capacity - stored. */
  int64_t room = b->capacity_mwh - b->stored_mwh;
  int64_t c = room * SIM_PPM / (1000 * b->eff_ppm);
  return c < b->charge_max ? c : b->charge_max;
}

int64_t sim_battery_discharge_room(const sim_battery *b) {
  if (b->capacity_mwh <= 0)
    return 0;
  /* Largest d with ceil(d * 10^9 / e) <= stored - reserve. */
  int64_t avail = b->stored_mwh - b->reserve_mwh;
  if (avail <= 0)
    return 0;
  int64_t d = avail * b->eff_ppm / (1000 * SIM_PPM);
  return d < b->discharge_max ? d : b->discharge_max;
}

static int64_t clamp_action(const sim_battery *b, int64_t a) {
  if (a > 0) {
    int64_t room = sim_battery_charge_room(b);
    return a < room ? a : room;
  }
  if (a < 0) {
    int64_t room = sim_battery_discharge_room(b);
    return -a < room ? a : -room;
  }
  return 0;
}

int64_t sim_home_plan(const sim_home *h, const sim_battery *b, int64_t load,
                      int64_t pv, int64_t price) {
  if (b->capacity_mwh <= 0)
    return 0;
  int64_t surplus = pv - load;
  if (h->strategy == SIM_STRATEGY_PRICE_AWARE) {
    if (surplus > 0 && price > h->charge_below)
      return 0; /* selling now pays better than storing */
    if (surplus < 0 && price < h->discharge_above)
      return 0; /* buying now is cheap enough: keep the charge */
  }
  return clamp_action(b, surplus);
}

int64_t sim_home_follow(const sim_battery *b, int64_t load, int64_t pv,
                        int64_t contracted) {
  /* net = load - pv + action = contracted. */
  return clamp_action(b, contracted - load + pv);
}

void sim_home_apply(sim_battery *b, int64_t load, int64_t pv, int64_t action,
                    sim_flows *f) {
  action = clamp_action(b, action);
  f->load = load;
  f->pv = pv;
  f->charge = action > 0 ? action : 0;
  f->discharge = action < 0 ? -action : 0;
  f->net = load - pv + f->charge - f->discharge;
  int64_t delta = 0;
  if (f->charge)
    delta = f->charge * 1000 * b->eff_ppm / SIM_PPM;
  else if (f->discharge) {
    /* ceil(d * 10^9 / e) */
    int64_t num = f->discharge * 1000 * SIM_PPM;
    delta = -((num + b->eff_ppm - 1) / b->eff_ppm);
  }
  b->stored_mwh += delta;
  f->stored_delta_mwh = delta;
}
