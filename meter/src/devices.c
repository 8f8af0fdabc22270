/* SPDX-License-Identifier: MIT */
/*
 * devices.c - the household's devices over hal: profiles, shared links,
 * and one poll of everything into an mtr_poll. See gridlet/mtr_devices.h.
 */
#include "gridlet/mtr_devices.h"

#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_profile.h"
#include "gridlet/hal_transport.h"
#include "gridlet/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "meter"

static const int counter_qty[MTR_C_COUNT] = {
    [MTR_C_IMPORT] = HAL_Q_GRID_IMPORT_WH,
    [MTR_C_EXPORT] = HAL_Q_GRID_EXPORT_WH,
    [MTR_C_PV] = HAL_Q_PV_ENERGY_WH,
    [MTR_C_CHARGE] = HAL_Q_BATTERY_CHARGE_WH,
    [MTR_C_DISCHARGE] = HAL_Q_BATTERY_DISCHARGE_WH,
};

struct mtr_devices {
  gl_clock clock;
  hal_link *links[MTR_ROLE_COUNT];
  char link_ep[MTR_ROLE_COUNT][HAL_HOST_MAX + 32];
  int nlinks;
  hal_device *dev[MTR_ROLE_COUNT]; /* NULL: no such device */
  hal_profile profile[MTR_ROLE_COUNT];
  int src[MTR_C_COUNT]; /* role providing each counter, -1: none */
  int soc_src;
  hal_sample sample[MTR_ROLE_COUNT];
  mtr_obs last[MTR_C_COUNT]; /* the last good read of each counter */
};

__attribute__((format(printf, 2, 3))) static void
add_error(gl_conf_errors *errs, const char *fmt, ...) {
  char msg[GL_CONF_ERROR_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (errs) {
    if (errs->count < GL_CONF_MAX_ERRORS)
      snprintf(errs->msg[errs->count], GL_CONF_ERROR_LEN, "%s", msg);
    errs->count++;
  } else {
    GL_ERROR(COMP, "%s", msg);
  }
}

static hal_link *link_for(mtr_devices *d, const mtr_config *cfg,
                          const hal_endpoint *ep, gl_rand rand) {
  char canon[HAL_HOST_MAX + 32];
  hal_endpoint_format(ep, canon, sizeof canon);
  for (int i = 0; i < d->nlinks; i++)
    if (strcmp(d->link_ep[i], canon) == 0)
      return d->links[i];
  hal_transport t;
  if (hal_transport_modbus_new(ep, &t))
    return NULL;
  hal_link_cfg lc = {.timeout_ns = cfg->modbus_timeout_ns,
                     .attempts = (int)cfg->modbus_attempts};
  if (ep->kind == HAL_EP_RTU) {
    lc.pause_ns = HAL_RTU_PAUSE_NS;
    lc.unit_pause_ns = HAL_RTU_UNIT_PAUSE_NS;
  }
  hal_link *l = hal_link_new(t, &lc, d->clock, rand, canon);
  if (!l)
    return NULL;
  snprintf(d->link_ep[d->nlinks], sizeof d->link_ep[0], "%s", canon);
  d->links[d->nlinks++] = l;
  return l;
}

int mtr_devices_new(const mtr_config *cfg, gl_clock clock, gl_rand rand,
                    mtr_devices **out, gl_conf_errors *errs) {
  *out = NULL;
  mtr_devices *d = calloc(1, sizeof *d);
  if (!d)
    return GL_ENOMEM;
  d->clock = clock;
  bool bad = false;
  for (int r = 0; r < MTR_ROLE_COUNT; r++) {
    const mtr_device_conf *dc = &cfg->dev[r];
    if (!dc->endpoint[0])
      continue;
    hal_endpoint ep;
    char why[128] = "";
    if (hal_endpoint_parse(dc->endpoint, &ep, why, sizeof why)) {
      add_error(errs, "%s.endpoint: \"%s\": %s", mtr_role_name(r), dc->endpoint,
                why);
      bad = true;
      continue;
    }
    char path[MTR_TEXT_MAX * 2 + 16];
    if (mtr_config_profile_path(cfg, r, path, sizeof path)) {
      add_error(errs, "%s.profile: path too long", mtr_role_name(r));
      bad = true;
      continue;
    }
    gl_conf_errors perr = {0};
    if (hal_profile_load(path, &d->profile[r], &perr)) {
      for (int i = 0; i < perr.count && i < GL_CONF_MAX_ERRORS; i++)
        add_error(errs, "%s.profile: %s", mtr_role_name(r), perr.msg[i]);
      if (!perr.count)
        add_error(errs, "%s.profile: cannot load %s", mtr_role_name(r), path);
      bad = true;
      continue;
    }
    hal_link *l = link_for(d, cfg, &ep, rand);
    hal_device_cfg hc = {.unit = (uint8_t)dc->unit,
                         .allow_control = false,
                         .name = mtr_role_name(r)};
    d->dev[r] = l ? hal_device_new(l, &d->profile[r], &hc) : NULL;
    if (!d->dev[r]) {
      mtr_devices_free(d);
      return GL_ENOMEM;
    }
  }
  for (int c = 0; c < MTR_C_COUNT; c++) {
    d->src[c] = -1;
    for (int r = 0; r < MTR_ROLE_COUNT && d->src[c] < 0; r++)
      if (d->dev[r] && d->profile[r].q[counter_qty[c]].mapped)
        d->src[c] = r;
  }
  d->soc_src = -1;
  for (int r = 0; r < MTR_ROLE_COUNT && d->soc_src < 0; r++)
    if (d->dev[r] && d->profile[r].q[HAL_Q_BATTERY_SOC].mapped)
      d->soc_src = r;
  if (!bad && (d->src[MTR_C_IMPORT] < 0 || d->src[MTR_C_EXPORT] < 0)) {
    add_error(errs, "no configured device's profile maps the grid import "
                    "and export energy counters (grid_import_energy, "
                    "grid_export_energy)");
    bad = true;
  }
  if (bad) {
    mtr_devices_free(d);
    return GL_ECONFIG;
  }
  for (int c = 0; c < MTR_C_COUNT; c++)
    if (d->src[c] >= 0)
      GL_INFO(COMP, "%s energy from the %s", mtr_counter_name(c),
              mtr_role_name(d->src[c]));
  *out = d;
  return 0;
}

void mtr_devices_free(mtr_devices *d) {
  if (!d)
    return;
  for (int r = 0; r < MTR_ROLE_COUNT; r++)
    hal_device_free(d->dev[r]);
  for (int i = 0; i < d->nlinks; i++)
    hal_link_free(d->links[i]);
  free(d);
}

uint32_t mtr_devices_counters(const mtr_devices *d) {
  uint32_t m = 0;
  for (int c = 0; c < MTR_C_COUNT; c++)
    if (d->src[c] >= 0)
      m |= 1u << c;
  return m;
}

bool mtr_devices_has_soc(const mtr_devices *d) {
  return d->soc_src >= 0;
}

void mtr_devices_poll(mtr_devices *d, mtr_poll *out) {
  memset(out, 0, sizeof *out);
  out->wall = gl_clock_now(&d->clock);
  out->mono = gl_clock_monotonic(&d->clock);
  bool ok[MTR_ROLE_COUNT] = {false};
  for (int r = 0; r < MTR_ROLE_COUNT; r++) {
    if (!d->dev[r])
      continue;
    int rc = hal_device_poll(d->dev[r], &d->sample[r]);
    ok[r] = rc == 0 && d->sample[r].online;
    if (!ok[r])
      out->failed = true;
  }
  for (int c = 0; c < MTR_C_COUNT; c++) {
    int r = d->src[c];
    if (r < 0 || !ok[r])
      continue;
    const hal_reading *h = &d->sample[r].r[counter_qty[c]];
    mtr_obs *o = &out->c[c];
    if (h->status == 0) {
      o->ok = h->value >= 0;
      o->value = h->value;
      o->raw = h->raw;
      o->bits = h->raw_bits;
      o->exp = h->exp;
      o->identity = d->sample[r].identity;
      if (o->ok)
        d->last[c] = *o;
    } else if (h->status == GL_ENOTSUP && d->last[c].ok &&
               d->last[c].bits != 0 &&
               d->last[c].identity == d->sample[r].identity) {
      /* SunSpec integer accumulators use 0 for "not implemented". An
       * accumulator that was implemented and now reads 0 was reset: hand
       * the accountant the 0 it really shows. */
      *o = d->last[c];
      o->value = 0;
      o->raw = 0;
    } else if (h->status == GL_ENOENT || h->status == GL_ENOTSUP) {
      o->absent = true;
    }
  }
  if (d->soc_src >= 0 && ok[d->soc_src]) {
    const hal_reading *h = &d->sample[d->soc_src].r[HAL_Q_BATTERY_SOC];
    if (h->status == 0 && h->value >= 0 && h->value <= 10000) {
      out->soc_ok = true;
      out->soc_bp = h->value;
    }
  }
}
