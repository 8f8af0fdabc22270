/* SPDX-License-Identifier: MIT */
/*
 * device_models.c - the simulated inverter, battery and meter of one
 * household: which models they serve, how their registers follow the
 * household's physics, and the state-changing faults (scale factor change,
 * counter reset and rollover, model 1 of length 65).
 *
 * Every point of every served model gets a value: the points that carry
 * the household's physics (powers, energy counters, state of charge) follow
 * it; every other point gets a fixed synthetic value derived from a hash of
 * its name, so that a test can check the decoding of every point of every
 * supported model, not just the few the meter agent uses.
 *
 * Counters: a device shows floor(energy / 1 Wh) + an offset. Offsets start
 * at realistic lifetime totals (a new meter is rare), and the reset and
 * rollover faults change them, exactly as a replaced meter or a 32-bit
 * accumulator that wraps would look from the outside.
 */
#include "sim_internal.h"

#include "gridlet/error.h"
#include "gridlet/hal_sunspec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MPPT_MODULES 2

/* ---- Helpers --------------------------------------------------------------
 */

static uint64_t fnv(const char *s, uint64_t h) {
  h ^= UINT64_C(0xcbf29ce484222325);
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(0x100000001b3);
  }
  h ^= h >> 29;
  h *= UINT64_C(0xbf58476d1ce4e5b9);
  return h ^ (h >> 32);
}

static int64_t pow10i(int e) {
  int64_t p = 1;
  while (e-- > 0)
    p *= 10;
  return p;
}

/* The mantissa sim_image_set_scaled stores for v at scale factor sf. */
static int64_t mantissa(double v, int sf) {
  return (int64_t)round(v / pow(10.0, sf));
}

static bool is_float_model(uint16_t m) {
  return (m >= 111 && m <= 113) || (m >= 211 && m <= 213);
}

static bool is_vendor(uint16_t m) {
  return m == SIM_MODEL_SMA || m == SIM_MODEL_SDM630;
}

static int64_t shown_wh(const sim_dev *d, int i, int64_t wms) {
  int64_t v = wms / SIM_WMS_PER_WH + d->off_wh[i];
  return v < 0 ? 0 : v;
}

/* A counter in Wh as the mantissa at energy scale factor esf. */
static int64_t counter_mant(int64_t wh, int esf) {
  return esf >= 0 ? wh / pow10i(esf) : wh * pow10i(-esf);
}

static int64_t acc32(int64_t wh, int esf) {
  return (int64_t)((uint64_t)counter_mant(wh, esf) & 0xFFFFFFFFu);
}

/* ---- Synthetic values -------------------------------------------------- */

static void fill_point(sim_image *img, int m, int grp, const hal_ss_point *p,
                       uint64_t seed) {
  uint64_t h = fnv(p->name, seed ^ (uint64_t)(grp + 2) * 0x9e37u);
  switch (p->type) {
  case HAL_SS_STRING: {
    char s[40];
    snprintf(s, sizeof s, "gl-%s", p->name);
    sim_image_set_string(img, m, grp, p->name, s);
    break;
  }
  case HAL_SS_FLOAT32:
  case HAL_SS_FLOAT64:
    sim_image_set_float(img, m, grp, p->name, (double)(h % 40000) / 4.0 + 0.25);
    break;
  case HAL_SS_INT16:
    sim_image_set_int(img, m, grp, p->name, (int64_t)(h % 2001) - 1000);
    break;
  case HAL_SS_UINT16:
  case HAL_SS_ACC16:
    sim_image_set_int(img, m, grp, p->name, 1 + (int64_t)(h % 60000));
    break;
  case HAL_SS_COUNT:
  case HAL_SS_RAW16:
    sim_image_set_int(img, m, grp, p->name, (int64_t)(h % 100));
    break;
  case HAL_SS_ENUM16:
  case HAL_SS_ENUM32:
    sim_image_set_int(img, m, grp, p->name, 1 + (int64_t)(h % 8));
    break;
  case HAL_SS_BITFIELD16:
    sim_image_set_int(img, m, grp, p->name, (int64_t)(h % 0x7FFF));
    break;
  case HAL_SS_BITFIELD32:
    sim_image_set_int(img, m, grp, p->name, (int64_t)(h % 0x7FFFFFFF));
    break;
  case HAL_SS_INT32:
    sim_image_set_int(img, m, grp, p->name, (int64_t)(h % 2000001) - 1000000);
    break;
  case HAL_SS_UINT32:
  case HAL_SS_ACC32:
    sim_image_set_int(img, m, grp, p->name, 1 + (int64_t)(h % 1000000000));
    break;
  case HAL_SS_INT64:
    sim_image_set_int(img, m, grp, p->name,
                      (int64_t)(h % INT64_C(2000000000000)) -
                          INT64_C(1000000000000));
    break;
  case HAL_SS_UINT64:
  case HAL_SS_ACC64:
  case HAL_SS_BITFIELD64:
    sim_image_set_int(img, m, grp, p->name,
                      1 + (int64_t)(h % INT64_C(1000000000000000)));
    break;
  case HAL_SS_IPADDR:
    sim_image_set_int(img, m, grp, p->name, 0x7F000001);
    break;
  default:
    break; /* pad, sunssf (done first), ipv6addr, eui48: left absent */
  }
}

/* Plausible values for the points a person reading gridlet-probe's output
 * looks at first; the rest keep their synthetic values. */
static const struct {
  const char *name;
  double v;
} plausible_sf[] = {{"A_SF", -2},   {"V_SF", -1},  {"Hz_SF", -2},
                    {"Tmp_SF", -1}, {"PF_SF", -2}, {"DCA_SF", -2},
                    {"DCV_SF", -1}},
  plausible[] = {{"A", 6.52},        {"AphA", 2.17},     {"AphB", 2.18},
                 {"AphC", 2.17},     {"PhV", 230.1},     {"PhVphA", 230.1},
                 {"PhVphB", 229.8},  {"PhVphC", 231.0},  {"PPV", 399.6},
                 {"PPVphAB", 399.6}, {"PPVphBC", 400.2}, {"PPVphCA", 398.9},
                 {"PhVphAB", 399.6}, {"PhVphBC", 400.2}, {"PhVphCA", 398.9},
                 {"LNV", 230.1},     {"LLV", 399.6},     {"Hz", 50.01},
                 {"PF", 0.99},       {"TmpCab", 35.5},   {"TmpSnk", 41.0},
                 {"DCV", 380.5},     {"DCA", 11.8},      {"V", 51.2}};

static void make_plausible(sim_image *img, int m) {
  for (size_t i = 0; i < sizeof plausible_sf / sizeof plausible_sf[0]; i++)
    sim_image_set_int(img, m, -1, plausible_sf[i].name,
                      (int64_t)plausible_sf[i].v);
  for (size_t i = 0; i < sizeof plausible / sizeof plausible[0]; i++)
    sim_image_set_scaled(img, m, -1, plausible[i].name, plausible[i].v);
}

static void fill_model(sim_image *img, int m, uint64_t seed) {
  const hal_ss_model *def = hal_ss_model_find(sim_image_model_id(img, m));
  if (!def)
    return;
  /* Scale factors first: set_scaled of later points reads them. */
  for (uint16_t i = 2; i < def->n_points; i++)
    if (def->points[i].type == HAL_SS_SUNSSF)
      sim_image_set_int(img, m, -1, def->points[i].name,
                        (int64_t)(fnv(def->points[i].name, seed) % 4) - 2);
  for (uint16_t i = 2; i < def->n_points; i++)
    if (def->points[i].type != HAL_SS_SUNSSF)
      fill_point(img, m, -1, &def->points[i], seed);
  for (int g = 0; def->group_points && g < MPPT_MODULES; g++)
    for (uint16_t i = 0; i < def->n_group_points; i++)
      fill_point(img, m, g, &def->group_points[i], seed);
  if (def->id != 1)
    make_plausible(img, m);
}

/* ---- Layout
 * ------------------------------------------------------------------ */

static size_t dev_specs(const sim_dev *d, sim_model_spec *s) {
  size_t n = 0;
  s[n++] = (sim_model_spec){1, (uint16_t)(d->len65 ? 65 : 0), 0};
  switch (d->kind) {
  case SIM_DEV_INVERTER:
    s[n++] = (sim_model_spec){d->model, 0, 0};
    if (d->model != 701)
      s[n++] = (sim_model_spec){160, 0, MPPT_MODULES};
    break;
  case SIM_DEV_BATTERY:
    s[n++] = (sim_model_spec){701, 0, 0};
    s[n++] = (sim_model_spec){802, 0, 0};
    s[n++] = (sim_model_spec){124, 0, 0};
    break;
  default:
    s[n++] = (sim_model_spec){d->model, 0, 0};
    break;
  }
  return n;
}

static void assign_indices(sim_dev *d, int start) {
  d->m_common = start;
  d->m_main = d->m_160 = d->m_701 = d->m_802 = d->m_124 = -1;
  switch (d->kind) {
  case SIM_DEV_INVERTER:
    d->m_main = start + 1;
    if (d->model == 701)
      d->m_701 = start + 1;
    else
      d->m_160 = start + 2;
    break;
  case SIM_DEV_BATTERY:
    d->m_701 = start + 1;
    d->m_802 = start + 2;
    d->m_124 = start + 3;
    d->m_main = d->m_802;
    break;
  default:
    d->m_main = start + 1;
    break;
  }
}

static const char *kind_name(int k) {
  return k == SIM_DEV_INVERTER ? "inverter"
                               : (k == SIM_DEV_BATTERY ? "battery" : "meter");
}

static void apply_sf(sim_dev *d) {
  sim_image *img = d->img;
  int p = d->power_sf, e = d->energy_sf;
  if (d->kind == SIM_DEV_INVERTER && !is_float_model(d->model) &&
      d->model != 701) {
    sim_image_set_int(img, d->m_main, -1, "W_SF", p);
    sim_image_set_int(img, d->m_main, -1, "DCW_SF", p);
    sim_image_set_int(img, d->m_main, -1, "WH_SF", e);
    sim_image_set_int(img, d->m_160, -1, "DCW_SF", p);
    sim_image_set_int(img, d->m_160, -1, "DCWH_SF", e);
  }
  if (d->m_701 >= 0) {
    sim_image_set_int(img, d->m_701, -1, "W_SF", p);
    sim_image_set_int(img, d->m_701, -1, "TotWh_SF", e);
  }
  if (d->kind == SIM_DEV_BATTERY) {
    sim_image_set_int(img, d->m_802, -1, "W_SF", p);
    sim_image_set_int(img, d->m_802, -1, "SoC_SF", -1);
    sim_image_set_int(img, d->m_802, -1, "WHRtg_SF", 1);
    sim_image_set_int(img, d->m_802, -1, "WChaDisChaMax_SF", 0);
    sim_image_set_int(img, d->m_124, -1, "WChaMax_SF", 0);
    sim_image_set_int(img, d->m_124, -1, "ChaState_SF", -1);
    sim_image_set_int(img, d->m_124, -1, "InOutWRte_SF", 0);
  }
  if (d->kind == SIM_DEV_METER && !is_float_model(d->model)) {
    sim_image_set_int(img, d->m_main, -1, "W_SF", p);
    sim_image_set_int(img, d->m_main, -1, "TotWh_SF", e);
  }
}

static int build_vendor(sim_hh *hh, sim_dev *d) {
  (void)hh;
  int rc;
  if (d->model == SIM_MODEL_SMA) {
    /* SMA Modbus profile: registers are addressed by their documented
     * number; 30513 U64 total yield, 30529 U32 total yield, 30775 S32 AC
     * power. One block covering them (other registers read as zero). */
    rc = sim_image_block(d->img, HAL_REG_HOLDING, 30500, 300, false);
    if (rc == 0)
      rc = sim_image_block(d->img, HAL_REG_INPUT, 30500, 300, false);
    return rc;
  }
  /* Eastron SDM630: input registers 0x0000.. hold IEEE floats. */
  return sim_image_block(d->img, HAL_REG_INPUT, 0, 0x0180, false);
}

static void set_identity(sim_hh *hh, sim_dev *d) {
  char s[48];
  int m = d->m_common;
  sim_image_set_string(d->img, m, -1, "Mn", "gridlet");
  snprintf(s, sizeof s, "sim-%s-%u", kind_name(d->kind), d->model);
  sim_image_set_string(d->img, m, -1, "Md", s);
  snprintf(s, sizeof s, "household %d", hh->index);
  sim_image_set_string(d->img, m, -1, "Opt", s);
  sim_image_set_string(d->img, m, -1, "Vr", "1.0.0");
  snprintf(s, sizeof s, "GLSIM-%02d-%c", hh->index, "IBM"[d->kind]);
  sim_image_set_string(d->img, m, -1, "SN", s);
  sim_image_set_int(d->img, m, -1, "DA", d->unit_tcp ? d->unit_tcp : 1);
  sim_image_set_absent(d->img, m, -1, "Pad");
}

static int build_images(sim_hh *hh) {
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    if (hh->dev[k].own_img)
      sim_image_free(hh->dev[k].img);
    hh->dev[k].img = NULL;
    hh->dev[k].own_img = false;
  }
  sim_model_spec specs[16];
  uint16_t base = (uint16_t)(hh->base == SIM_SUNSPEC_BASE_0 ? 0 : hh->base);
  if (hh->chain_layout) {
    sim_image *img = sim_image_new();
    if (!img)
      return GL_ENOMEM;
    size_t n = 0;
    for (int k = 0; k < SIM_DEV_COUNT; k++) {
      if (is_vendor(hh->dev[k].model)) {
        sim_image_free(img);
        return GL_EINVAL;
      }
      assign_indices(&hh->dev[k], (int)n);
      n += dev_specs(&hh->dev[k], specs + n);
      hh->dev[k].img = img;
    }
    hh->dev[0].own_img = true;
    int rc = sim_image_sunspec(img, base, specs, n);
    if (rc != 0)
      return rc;
  } else {
    for (int k = 0; k < SIM_DEV_COUNT; k++) {
      sim_dev *d = &hh->dev[k];
      d->img = sim_image_new();
      if (!d->img)
        return GL_ENOMEM;
      d->own_img = true;
      int rc;
      if (is_vendor(d->model)) {
        d->m_common = d->m_main = d->m_160 = d->m_701 = d->m_802 = d->m_124 =
            -1;
        rc = build_vendor(hh, d);
      } else {
        size_t n = dev_specs(d, specs);
        assign_indices(d, 0);
        rc = sim_image_sunspec(d->img, base, specs, n);
      }
      if (rc != 0)
        return rc;
    }
  }
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    sim_dev *d = &hh->dev[k];
    if (is_vendor(d->model) || (hh->chain_layout && k > 0))
      continue;
    for (size_t m = 0; m < sim_image_model_count(d->img); m++)
      fill_model(d->img, (int)m, hh->seed ^ (uint64_t)m);
  }
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    sim_dev *d = &hh->dev[k];
    if (is_vendor(d->model))
      continue;
    set_identity(hh, d);
    apply_sf(d);
    if (d->m_160 >= 0) {
      sim_image_set_int(d->img, d->m_160, -1, "N", MPPT_MODULES);
      for (int g = 0; g < MPPT_MODULES; g++) {
        char s[16];
        snprintf(s, sizeof s, "string %d", g + 1);
        sim_image_set_int(d->img, d->m_160, g, "ID", g + 1);
        sim_image_set_string(d->img, d->m_160, g, "IDStr", s);
      }
    }
    if (d->m_124 >= 0) {
      /* Battery controls start released: no limits active. */
      sim_image_set_int(d->img, d->m_124, -1, "StorCtl_Mod", 0);
      sim_image_set_int(d->img, d->m_124, -1, "InWRte", 100);
      sim_image_set_int(d->img, d->m_124, -1, "OutWRte", 100);
    }
  }
  hh->dirty = true;
  return 0;
}

int sim__hh_build(sim_hh *hh, int64_t start_ns, const sim_household_cfg *tmpl) {
  sim_household_cfg hc = tmpl ? *tmpl : (sim_household_cfg){0};
  hc.seed = hh->seed;
  hh->phys = sim_household_new(&hc, start_ns);
  if (!hh->phys)
    return GL_ENOMEM;
  uint64_t s = hh->seed;
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    sim_dev *d = &hh->dev[k];
    d->kind = k;
    d->power_sf = 0;
    d->energy_sf = 0;
  }
  /* Lifetime totals so far: a few years of a typical household. */
  hh->dev[SIM_DEV_INVERTER].off_wh[0] = 2000000 + (int64_t)(s % 500000);
  hh->dev[SIM_DEV_METER].off_wh[0] = 3000000 + (int64_t)((s >> 20) % 500000);
  hh->dev[SIM_DEV_METER].off_wh[1] = 1500000 + (int64_t)((s >> 40) % 500000);
  hh->dev[SIM_DEV_BATTERY].off_wh[0] = 800000 + (int64_t)((s >> 8) % 100000);
  hh->dev[SIM_DEV_BATTERY].off_wh[1] = 700000 + (int64_t)((s >> 28) % 100000);
  hh->refreshed_ns = INT64_MIN;
  return build_images(hh);
}

void sim__hh_destroy(sim_hh *hh) {
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    if (hh->dev[k].own_img)
      sim_image_free(hh->dev[k].img);
    hh->dev[k].img = NULL;
    hh->dev[k].own_img = false;
  }
  sim_household_free(hh->phys);
  hh->phys = NULL;
}

/* ---- Following the physics -------------------------------------------------
 */

static void put_f32(uint16_t *r, double v) {
  float f = (float)v;
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  r[0] = (uint16_t)(b >> 16);
  r[1] = (uint16_t)(b & 0xFFFF);
}

static void refresh_inverter(sim_hh *hh, sim_dev *d,
                             const sim_household_state *s) {
  int64_t wh = shown_wh(d, 0, s->pv_wms);
  sim_image *img = d->img;
  if (d->model == SIM_MODEL_SMA) {
    uint16_t r[4];
    uint32_t w = s->pv_w > 0 ? (uint32_t)s->pv_w : 0x80000000u; /* NaN */
    r[0] = (uint16_t)(w >> 16);
    r[1] = (uint16_t)w;
    for (int t = 0; t < 2; t++) {
      hal_regtype tb = t ? HAL_REG_INPUT : HAL_REG_HOLDING;
      sim_image_poke(img, tb, 30775, r, 2);
      uint16_t y[2] = {(uint16_t)((uint64_t)wh >> 16), (uint16_t)wh};
      sim_image_poke(img, tb, 30529, y, 2);
      uint16_t y64[4] = {(uint16_t)((uint64_t)wh >> 48),
                         (uint16_t)((uint64_t)wh >> 32),
                         (uint16_t)((uint64_t)wh >> 16), (uint16_t)wh};
      sim_image_poke(img, tb, 30513, y64, 4);
    }
    return;
  }
  int m = d->m_main;
  if (d->model == 701) {
    sim_image_set_scaled(img, m, -1, "W", s->pv_w);
    sim_image_set_int(img, m, -1, "TotWhInj", counter_mant(wh, d->energy_sf));
    sim_image_set_int(img, m, -1, "TotWhAbs", 0);
    sim_image_set_int(img, m, -1, "St", s->pv_w > 0 ? 2 : 1);
    return;
  }
  if (is_float_model(d->model)) {
    sim_image_set_float(img, m, -1, "W", s->pv_w);
    sim_image_set_float(img, m, -1, "WH", (double)wh);
    sim_image_set_float(img, m, -1, "DCW", s->pv_w);
  } else {
    sim_image_set_scaled(img, m, -1, "W", s->pv_w);
    sim_image_set_int(img, m, -1, "WH", acc32(wh, d->energy_sf));
    sim_image_set_scaled(img, m, -1, "DCW", s->pv_w);
  }
  sim_image_set_int(img, m, -1, "St", s->pv_w > 0 ? 4 : 2);
  (void)hh;
  /* Two MPPT trackers share the DC side. */
  int32_t w0 = s->pv_w - s->pv_w / 2, w1 = s->pv_w / 2;
  int64_t e0 = wh - wh / 2, e1 = wh / 2;
  sim_image_set_scaled(img, d->m_160, 0, "DCW", w0);
  sim_image_set_scaled(img, d->m_160, 1, "DCW", w1);
  sim_image_set_int(img, d->m_160, 0, "DCWH", acc32(e0, d->energy_sf));
  sim_image_set_int(img, d->m_160, 1, "DCWH", acc32(e1, d->energy_sf));
}

static int64_t soc_mant(const sim_household_state *s) {
  if (s->capacity_wms <= 0)
    return 0;
  /* Tenths of a percent, rounded. */
  return (s->stored_wms * 1000 + s->capacity_wms / 2) / s->capacity_wms;
}

static void refresh_battery(sim_dev *d, const sim_household_state *s) {
  sim_image *img = d->img;
  int64_t cha = shown_wh(d, 0, s->charge_wms);
  int64_t dis = shown_wh(d, 1, s->discharge_wms);
  /* The devices count discharging as positive power. */
  sim_image_set_scaled(img, d->m_701, -1, "W", -s->battery_w);
  sim_image_set_int(img, d->m_701, -1, "TotWhInj",
                    counter_mant(dis, d->energy_sf));
  sim_image_set_int(img, d->m_701, -1, "TotWhAbs",
                    counter_mant(cha, d->energy_sf));
  sim_image_set_scaled(img, d->m_802, -1, "W", -s->battery_w);
  int64_t soc = soc_mant(s);
  sim_image_set_int(img, d->m_802, -1, "SoC", soc);
  sim_image_set_int(img, d->m_802, -1, "ChaSt",
                    s->battery_w > 0 ? 6 : (s->battery_w < 0 ? 5 : 4));
  sim_image_set_int(img, d->m_124, -1, "ChaState", soc);
  sim_image_set_int(img, d->m_124, -1, "ChaSt",
                    s->battery_w > 0 ? 6 : (s->battery_w < 0 ? 5 : 4));
}

static void refresh_meter(sim_dev *d, const sim_household_state *s) {
  sim_image *img = d->img;
  int64_t imp = shown_wh(d, 0, s->import_wms);
  int64_t exp = shown_wh(d, 1, s->export_wms);
  if (d->model == SIM_MODEL_SDM630) {
    uint16_t r[2];
    put_f32(r, s->grid_w);
    sim_image_poke(img, HAL_REG_INPUT, 0x0034, r, 2);
    put_f32(r, (double)imp / 1000.0);
    sim_image_poke(img, HAL_REG_INPUT, 0x0048, r, 2);
    put_f32(r, (double)exp / 1000.0);
    sim_image_poke(img, HAL_REG_INPUT, 0x004A, r, 2);
    return;
  }
  int m = d->m_main;
  int32_t w = s->grid_w;
  int32_t ph[3] = {w - 2 * (w / 3), w / 3, w / 3};
  int64_t pi[3] = {imp - 2 * (imp / 3), imp / 3, imp / 3};
  int64_t pe[3] = {exp - 2 * (exp / 3), exp / 3, exp / 3};
  static const char *const wph[3] = {"WphA", "WphB", "WphC"};
  static const char *const iph[3] = {"TotWhImpPhA", "TotWhImpPhB",
                                     "TotWhImpPhC"};
  static const char *const eph[3] = {"TotWhExpPhA", "TotWhExpPhB",
                                     "TotWhExpPhC"};
  if (is_float_model(d->model)) {
    sim_image_set_float(img, m, -1, "W", w);
    sim_image_set_float(img, m, -1, "TotWhImp", (double)imp);
    sim_image_set_float(img, m, -1, "TotWhExp", (double)exp);
    for (int i = 0; i < 3; i++) {
      sim_image_set_float(img, m, -1, wph[i], ph[i]);
      sim_image_set_float(img, m, -1, iph[i], (double)pi[i]);
      sim_image_set_float(img, m, -1, eph[i], (double)pe[i]);
    }
    return;
  }
  sim_image_set_scaled(img, m, -1, "W", w);
  sim_image_set_int(img, m, -1, "TotWhImp", acc32(imp, d->energy_sf));
  sim_image_set_int(img, m, -1, "TotWhExp", acc32(exp, d->energy_sf));
  for (int i = 0; i < 3; i++) {
    sim_image_set_scaled(img, m, -1, wph[i], ph[i]);
    sim_image_set_int(img, m, -1, iph[i], acc32(pi[i], d->energy_sf));
    sim_image_set_int(img, m, -1, eph[i], acc32(pe[i], d->energy_sf));
  }
}

void sim__hh_refresh(sim_hh *hh, int64_t now_ns) {
  sim_household_advance(hh->phys, now_ns);
  sim_household_state s;
  sim_household_state_get(hh->phys, &s);
  if (!hh->dirty && s.time_ns == hh->refreshed_ns)
    return;
  refresh_inverter(hh, &hh->dev[SIM_DEV_INVERTER], &s);
  refresh_battery(&hh->dev[SIM_DEV_BATTERY], &s);
  refresh_meter(&hh->dev[SIM_DEV_METER], &s);
  hh->refreshed_ns = s.time_ns;
  hh->dirty = false;
}

void sim__hh_after_write(sim_hh *hh, int dev) {
  sim_dev *d = &hh->dev[SIM_DEV_BATTERY];
  if (dev != SIM_DEV_BATTERY && !hh->chain_layout)
    return;
  if (d->m_124 < 0)
    return;
  uint16_t r[26];
  if (sim_image_read(d->img, HAL_REG_HOLDING,
                     sim_image_model_addr(d->img, d->m_124), 26, r) != 0)
    return;
  /* WChaMax (offset 2, sf at 18), StorCtl_Mod (5), OutWRte (12), InWRte
   * (13), InOutWRte_SF (25). */
  double wmax = (double)r[2] * pow(10.0, (int16_t)r[18]);
  double rsf = pow(10.0, (int16_t)r[25]);
  int32_t cha = -1, dis = -1;
  if (r[5] & 1u)
    cha = (int32_t)lround(wmax * (int16_t)r[13] * rsf / 100.0);
  if (r[5] & 2u)
    dis = (int32_t)lround(wmax * (int16_t)r[12] * rsf / 100.0);
  if (cha < -1)
    cha = 0;
  if (dis < -1)
    dis = 0;
  sim_household_set_limits(hh->phys, cha, dis);
}

/* ---- What the devices show -------------------------------------------------
 */

/* The whole watts hal reports for power p sent with scale factor sf: a
 * finer scale factor is exact, a coarser one rounds to its step. */
static int32_t shown_power(int32_t p, int sf, bool exact) {
  if (exact || sf <= 0)
    return p;
  return (int32_t)(mantissa(p, sf) * pow10i(sf));
}

void sim__hh_view(const sim_hh *hh, sim_devices_state *out) {
  memset(out, 0, sizeof *out);
  sim_household_state s;
  sim_household_state_get(hh->phys, &s);
  out->truth = s;
  const sim_dev *inv = &hh->dev[SIM_DEV_INVERTER];
  const sim_dev *bat = &hh->dev[SIM_DEV_BATTERY];
  const sim_dev *met = &hh->dev[SIM_DEV_METER];
  bool inv_exact = is_float_model(inv->model) || is_vendor(inv->model);
  bool met_exact = is_float_model(met->model) || is_vendor(met->model);
  out->pv_w = shown_power(s.pv_w, inv->power_sf, inv_exact);
  out->grid_w = shown_power(s.grid_w, met->power_sf, met_exact);
  out->battery_w = -shown_power(-s.battery_w, bat->power_sf, false);
  out->pv_wh = shown_wh(inv, 0, s.pv_wms);
  out->import_wh = shown_wh(met, 0, s.import_wms);
  out->export_wh = shown_wh(met, 1, s.export_wms);
  out->charge_wh = shown_wh(bat, 0, s.charge_wms);
  out->discharge_wh = shown_wh(bat, 1, s.discharge_wms);
  out->soc = (int32_t)(soc_mant(&s) * 10);
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    out->power_sf[k] = hh->dev[k].power_sf;
    out->energy_sf[k] = hh->dev[k].energy_sf;
    out->model[k] = hh->dev[k].model;
  }
}

/* ---- State-changing faults --------------------------------------------------
 */

static bool has_int_sf(const sim_dev *d) {
  return !is_vendor(d->model) && !is_float_model(d->model);
}

int sim__dev_set_sf(sim_hh *hh, int dev, int power_sf, int energy_sf) {
  sim_dev *d = &hh->dev[dev];
  if (!has_int_sf(d))
    return GL_ENOTSUP;
  d->power_sf = power_sf;
  d->energy_sf = energy_sf;
  apply_sf(d);
  hh->dirty = true;
  return 0;
}

static const int64_t *wms_of(const sim_household_state *s, int kind, int i) {
  switch (kind) {
  case SIM_DEV_INVERTER:
    return &s->pv_wms;
  case SIM_DEV_BATTERY:
    return i ? &s->discharge_wms : &s->charge_wms;
  default:
    return i ? &s->export_wms : &s->import_wms;
  }
}

int sim__dev_reset(sim_hh *hh, int dev) {
  sim_dev *d = &hh->dev[dev];
  sim_household_state s;
  sim_household_state_get(hh->phys, &s);
  int n = dev == SIM_DEV_INVERTER ? 1 : 2;
  for (int i = 0; i < n; i++)
    d->off_wh[i] = -(*wms_of(&s, dev, i) / SIM_WMS_PER_WH);
  hh->dirty = true;
  return 0;
}

int sim__dev_rollover(sim_hh *hh, int dev, uint64_t margin_wh) {
  sim_dev *d = &hh->dev[dev];
  /* Only 32-bit accumulators roll over: integer inverters and meters. */
  if (!has_int_sf(d) || dev == SIM_DEV_BATTERY || d->model == 701)
    return GL_ENOTSUP;
  int e = d->energy_sf;
  int64_t span =
      e >= 0 ? (INT64_C(1) << 32) * pow10i(e) : (INT64_C(1) << 32) / pow10i(-e);
  if ((int64_t)margin_wh >= span)
    return GL_EINVAL;
  sim_household_state s;
  sim_household_state_get(hh->phys, &s);
  int n = dev == SIM_DEV_INVERTER ? 1 : 2;
  for (int i = 0; i < n; i++)
    d->off_wh[i] =
        span - (int64_t)margin_wh - *wms_of(&s, dev, i) / SIM_WMS_PER_WH;
  hh->dirty = true;
  return 0;
}

int sim__dev_len65(sim_hh *hh, int dev, bool on) {
  if (is_vendor(hh->dev[dev].model))
    return GL_ENOTSUP;
  hh->dev[dev].len65 = on;
  return build_images(hh);
}
