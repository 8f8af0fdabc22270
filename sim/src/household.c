/* SPDX-License-Identifier: MIT */
/*
 * household.c - PV, load and battery of one simulated household. See
 * gridlet/sim_household.h.
 *
 * The curves are deliberately simple but shaped like the real thing:
 *   - PV: zero at night, a sine-shaped day whose length follows the season
 *     (about 8 h in December to 16 h in June, as at 50 degrees north),
 *     peak scaled down in winter, times a cloud factor drawn per 10-minute
 *     block (clear, hazy or overcast);
 *   - load: a standby base, a morning bump (6:30-9:00), an evening peak
 *     (17:00-22:30), noise per 5-minute block, and the odd kettle;
 *   - battery: self-consumption - surplus PV charges it, deficits discharge
 *     it down to the reserve, within the power limits and any limits set
 *     through battery control. The round-trip loss is taken on charging.
 */
#include "gridlet/sim_household.h"

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_NS (2 * GL_NS_PER_SEC)
#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)

struct sim_household {
  sim_household_cfg cfg;
  sim_household_state st;
  int32_t charge_limit, discharge_limit;
};

/* splitmix64: a well-mixed hash of (seed, stream, block). */
static uint64_t mix(uint64_t x) {
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

static double unit_rand(uint64_t seed, uint64_t stream, int64_t block) {
  uint64_t h = mix(seed ^ mix(stream ^ mix((uint64_t)block)));
  return (double)(h >> 11) / 9007199254740992.0; /* [0, 1) */
}

static void defaults(sim_household_cfg *c) {
  if (c->no_pv)
    c->pv_peak_w = 0;
  else if (!c->pv_peak_w)
    c->pv_peak_w = 5000;
  if (!c->load_base_w)
    c->load_base_w = 250;
  if (!c->load_peak_w)
    c->load_peak_w = 2000;
  if (!c->battery_wh && !c->no_battery)
    c->battery_wh = 10000;
  if (c->no_battery)
    c->battery_wh = 0;
  if (!c->battery_max_w)
    c->battery_max_w = 3000;
  if (c->battery_eff_pct < 50 || c->battery_eff_pct > 100)
    c->battery_eff_pct = 90;
  if (!c->reserve_pct)
    c->reserve_pct = 10;
  if (c->reserve_pct > 90)
    c->reserve_pct = 90;
  if (!c->soc_start_pct)
    c->soc_start_pct = 50;
  if (c->soc_start_pct > 100)
    c->soc_start_pct = 100;
}

sim_household *sim_household_new(const sim_household_cfg *cfg,
                                 int64_t start_ns) {
  sim_household *h = calloc(1, sizeof *h);
  if (!h)
    return NULL;
  if (cfg)
    h->cfg = *cfg;
  defaults(&h->cfg);
  h->st.time_ns = start_ns - start_ns % GL_NS_PER_MS;
  h->st.capacity_wms = (int64_t)h->cfg.battery_wh * SIM_WMS_PER_WH;
  h->st.stored_wms = h->st.capacity_wms * h->cfg.soc_start_pct / 100;
  h->charge_limit = h->discharge_limit = -1;
  return h;
}

void sim_household_free(sim_household *h) {
  free(h);
}

void sim_household_set_limits(sim_household *h, int32_t charge_max_w,
                              int32_t discharge_max_w) {
  h->charge_limit = charge_max_w;
  h->discharge_limit = discharge_max_w;
}

/* ---- Parameters as text ---------------------------------------------------
 */

static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int spec_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GL_EPARSE;
}

/* A decimal integer in lo..hi spelled by exactly [s, s + n). */
static bool spec_num(const char *s, size_t n, int64_t lo, int64_t hi,
                     int64_t *out) {
  char buf[24];
  if (n == 0 || n >= sizeof buf)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return gl_conf_parse_int(buf, out) == 0 && *out >= lo && *out <= hi;
}

int sim_household_spec_parse(const char *text, int max_index, int *index,
                             sim_household_cfg *cfg, char *err, size_t errlen) {
  if (!text || !index || !cfg)
    return spec_fail(err, errlen, "nothing to parse");
  const char *colon = strchr(text, ':');
  int64_t v;
  if (!colon)
    return spec_fail(err, errlen,
                     "expected INDEX:KEY=VALUE[,KEY=VALUE]..., e.g. "
                     "\"3:pv=8000,battery=0\"");
  if (max_index < 1 ||
      !spec_num(text, (size_t)(colon - text), 0, max_index - 1, &v))
    return spec_fail(err, errlen, "the household index must be 0..%d",
                     max_index - 1);
  int idx = (int)v;
  sim_household_cfg c = *cfg;
  const char *p = colon + 1;
  if (!*p)
    return spec_fail(err, errlen, "household %d: no KEY=VALUE given", idx);
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (!eq)
      return spec_fail(err, errlen, "household %d: \"%.*s\" is not KEY=VALUE",
                       idx, (int)(len > 40 ? 40 : len), p);
    size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
    const char *val = eq + 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
    if (KEY("pv")) {
      if (!spec_num(val, vlen, 0, 1000000, &v))
        return spec_fail(err, errlen, "household %d: pv must be 0..1000000 W",
                         idx);
      c.no_pv = v == 0;
      c.pv_peak_w = (uint32_t)v;
    } else if (KEY("battery")) {
      if (!spec_num(val, vlen, 0, 10000000, &v))
        return spec_fail(err, errlen,
                         "household %d: battery must be 0..10000000 Wh", idx);
      c.no_battery = v == 0;
      c.battery_wh = (uint32_t)v;
    } else if (KEY("battery_w") || KEY("base") || KEY("peak")) {
      if (!spec_num(val, vlen, 1, 1000000, &v))
        return spec_fail(err, errlen, "household %d: %.*s must be 1..1000000 W",
                         idx, (int)klen, p);
      if (KEY("battery_w"))
        c.battery_max_w = (uint32_t)v;
      else if (KEY("base"))
        c.load_base_w = (uint32_t)v;
      else
        c.load_peak_w = (uint32_t)v;
    } else {
      return spec_fail(err, errlen,
                       "household %d: unknown key \"%.*s\" (pv, battery, "
                       "battery_w, base, peak)",
                       idx, (int)(klen > 20 ? 20 : klen), p);
    }
#undef KEY
    if (!end)
      break;
    p = end + 1;
  }
  *cfg = c;
  *index = idx;
  return 0;
}

/* Local solar time of day in hours, and day of year. */
static void local_time(const sim_household *h, int64_t t_ns, double *hour,
                       int *doy) {
  int64_t local = t_ns + (int64_t)h->cfg.utc_offset_s * GL_NS_PER_SEC;
  int64_t day = gl_floor_div(local, DAY_NS);
  int64_t in_day = local - day * DAY_NS;
  *hour = (double)in_day / (double)(3600 * GL_NS_PER_SEC);
  /* Day of year from days since the epoch; 365.2425-day years are close
   * enough for a sun model. */
  double y = fmod((double)day, 365.2425);
  if (y < 0)
    y += 365.2425;
  *doy = (int)y + 1;
}

int32_t sim_household_pv_w(const sim_household *h, int64_t t_ns) {
  double hour;
  int doy;
  local_time(h, t_ns, &hour, &doy);
  /* Day length and peak by season: longest around day 172 (June 21). */
  double season = cos(2.0 * M_PI * (doy - 172) / 365.2425);
  double daylen = 12.0 + 4.0 * season;
  double rise = 12.0 - daylen / 2.0, set = 12.0 + daylen / 2.0;
  if (hour <= rise || hour >= set)
    return 0;
  double shape = sin(M_PI * (hour - rise) / daylen);
  double peak = h->cfg.pv_peak_w * (0.65 + 0.35 * season);
  /* Clouds per 10-minute block. */
  int64_t block = gl_floor_div(t_ns, 600 * GL_NS_PER_SEC);
  double r = unit_rand(h->cfg.seed, 1, block);
  double cloud = r < 0.6 ? 1.0 : (r < 0.85 ? 0.7 : 0.3);
  return (int32_t)lround(peak * pow(shape, 1.3) * cloud);
}

int32_t sim_household_load_w(const sim_household *h, int64_t t_ns) {
  double hour;
  int doy;
  local_time(h, t_ns, &hour, &doy);
  double w = h->cfg.load_base_w;
  if (hour >= 6.5 && hour < 9.0)
    w += 0.4 * h->cfg.load_peak_w * sin(M_PI * (hour - 6.5) / 2.5);
  if (hour >= 17.0 && hour < 22.5)
    w += h->cfg.load_peak_w * sin(M_PI * (hour - 17.0) / 5.5);
  int64_t block = gl_floor_div(t_ns, 300 * GL_NS_PER_SEC);
  w *= 0.85 + 0.3 * unit_rand(h->cfg.seed, 2, block);
  /* A kettle or oven in about one 5-minute block in twenty. */
  if (unit_rand(h->cfg.seed, 3, block) < 0.05)
    w += 2000;
  return (int32_t)lround(w);
}

/* One piece of integration, within one grid cell: powers are those of
 * the cell (evaluated at its middle), so any partition of a span into
 * pieces integrates to the same energies. */
static void step(sim_household *h, int64_t dt_ns) {
  sim_household_state *s = &h->st;
  int64_t cell = gl_floor_div(s->time_ns, STEP_NS) * STEP_NS;
  int64_t mid = cell + STEP_NS / 2;
  int32_t pv = sim_household_pv_w(h, mid);
  int32_t load = sim_household_load_w(h, mid);
  int64_t dt_ms = dt_ns / GL_NS_PER_MS;
  int32_t bat = 0;
  if (h->cfg.battery_wh) {
    int32_t surplus = pv - load;
    int32_t maxw = (int32_t)h->cfg.battery_max_w;
    if (surplus > 0) {
      int32_t lim = maxw;
      if (h->charge_limit >= 0 && h->charge_limit < lim)
        lim = h->charge_limit;
      int32_t c = surplus < lim ? surplus : lim;
      /* Room left, counted on the AC side (loss applied on charging). */
      int64_t room = s->capacity_wms - s->stored_wms;
      int64_t ac_room =
          room * 100 / (int64_t)h->cfg.battery_eff_pct; /* Wms of AC */
      if (dt_ms > 0 && (int64_t)c * dt_ms > ac_room)
        c = (int32_t)(ac_room / dt_ms);
      bat = c;
    } else if (surplus < 0) {
      int32_t lim = maxw;
      if (h->discharge_limit >= 0 && h->discharge_limit < lim)
        lim = h->discharge_limit;
      int32_t d = -surplus < lim ? -surplus : lim;
      int64_t floor_wms = s->capacity_wms * h->cfg.reserve_pct / 100;
      int64_t avail = s->stored_wms - floor_wms;
      if (avail < 0)
        avail = 0;
      if (dt_ms > 0 && (int64_t)d * dt_ms > avail)
        d = (int32_t)(avail / dt_ms);
      bat = -d;
    }
  }
  int32_t grid = load - pv + bat;
  s->pv_w = pv;
  s->load_w = load;
  s->battery_w = bat;
  s->grid_w = grid;
  s->pv_wms += (int64_t)pv * dt_ms;
  s->load_wms += (int64_t)load * dt_ms;
  if (grid > 0)
    s->import_wms += (int64_t)grid * dt_ms;
  else
    s->export_wms += (int64_t)-grid * dt_ms;
  if (bat > 0) {
    s->charge_wms += (int64_t)bat * dt_ms;
    s->stored_wms += (int64_t)bat * dt_ms * h->cfg.battery_eff_pct / 100;
  } else if (bat < 0) {
    s->discharge_wms += (int64_t)-bat * dt_ms;
    s->stored_wms -= (int64_t)-bat * dt_ms;
  }
  if (s->stored_wms > s->capacity_wms)
    s->stored_wms = s->capacity_wms;
  if (s->stored_wms < 0)
    s->stored_wms = 0;
  s->time_ns += dt_ns;
}

uint64_t sim_household_advance(sim_household *h, int64_t now_ns) {
  uint64_t steps = 0;
  /* Whole milliseconds only, so energies stay exact integers. */
  now_ns -= now_ns % GL_NS_PER_MS;
  while (h->st.time_ns < now_ns) {
    int64_t cell_end = (gl_floor_div(h->st.time_ns, STEP_NS) + 1) * STEP_NS;
    int64_t to = now_ns < cell_end ? now_ns : cell_end;
    int64_t dt = to - h->st.time_ns;
    dt -= dt % GL_NS_PER_MS;
    if (dt <= 0)
      break;
    step(h, dt);
    steps++;
  }
  return steps;
}

void sim_household_state_get(const sim_household *h, sim_household_state *out) {
  *out = h->st;
}
