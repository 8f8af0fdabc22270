/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sunspec_image.c - a device's register image is outside data: any
 * registers must give a SunSpec map or an error, decoded points or "not
 * implemented", and readings or per-reading errors; never a crash, an
 * out-of-bounds read, or a reading that breaks hal's promises.
 *
 * Input: byte 0 picks the base address (40000, 0, 50000) the image starts
 * at; the rest are big-endian registers. The image is parsed directly
 * (hal_ss_map_parse + hal_ss_decode of every point of every model) and
 * served through the in-memory device to profile-driven polls.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_memdev.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REGS 4096

static const char *const profiles[] = {
    "[profile]\nname = i\nkind = sunspec\n"
    "[pv_power]\npoint = 103.W 101.W 102.W 113.W 111.W 112.W 701.W\n"
    "[pv_energy]\npoint = 103.WH 101.WH 113.WH 701.TotWhInj\n",
    "[profile]\nname = m\nkind = sunspec\n"
    "[grid_import_energy]\npoint = 203.TotWhImp 201.TotWhImp 213.TotWhImp\n"
    "[grid_export_energy]\npoint = 203.TotWhExp 211.TotWhExp\n"
    "[grid_power]\npoint = 204.W 202.W 212.W\nscale = 2\n",
    "[profile]\nname = b\nkind = sunspec\n"
    "[battery_power]\npoint = 802.W 701.W\nsign = -1\n"
    "[battery_charge_energy]\npoint = 701.TotWhAbs\nsubdevice = 2\n"
    "[battery_soc]\npoint = 802.SoC 124.ChaState\n"
    "[control]\nbattery = 124\n",
};

static void check_points(const hal_ss_model *m, const uint16_t *regs,
                         size_t n) {
  char s[40];
  for (uint16_t i = 0; i < m->n_points; i++) {
    hal_ss_value v;
    if (hal_ss_decode(m, &m->points[i], regs, n, NULL, 0, &v) != 0)
      __builtin_trap();
    if (v.has_sf && v.sf_status == 0 && (v.sf < -10 || v.sf > 10))
      __builtin_trap();
    if (hal_ss_decode_string(&m->points[i], regs, n, s, sizeof s) >= sizeof s)
      __builtin_trap();
  }
  if (!m->group_points || !m->group_length)
    return;
  for (size_t off = 2u + m->length; off + m->group_length <= n;
       off += m->group_length)
    for (uint16_t i = 0; i < m->n_group_points; i++) {
      hal_ss_value v;
      if (hal_ss_decode(m, &m->group_points[i], regs, n, regs + off,
                        m->group_length, &v) != 0)
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1); /* silence */
  if (size < 1)
    return 0;
  static const uint16_t bases[] = {40000, 0, 50000};
  uint16_t base = bases[data[0] % 3];
  size_t n = (size - 1) / 2;
  if (n > MAX_REGS)
    n = MAX_REGS;
  static uint16_t regs[MAX_REGS];
  for (size_t i = 0; i < n; i++)
    regs[i] = (uint16_t)(data[1 + 2 * i] << 8 | data[2 + 2 * i]);

  /* Discovery and decoding on the image itself. */
  hal_ss_map map;
  if (hal_ss_map_parse(regs, n, base, &map) == 0) {
    if (map.n > HAL_SS_MAX_MODELS)
      __builtin_trap();
    for (uint16_t i = 0; i < map.n; i++) {
      const hal_ss_model_ref *r = &map.models[i];
      if (!r->def)
        continue;
      size_t at = (size_t)(r->addr - base);
      size_t len = 2u + r->length;
      if (at + len > n)
        len = n - at; /* decode what there is */
      check_points(r->def, regs + at, len);
    }
  }

  /* The same image behind the transport seam, read by profiles. */
  hal_memdev *md = hal_memdev_new();
  gl_manual_clock *mc = gl_manual_clock_new(0);
  gl_seeded_rand *sr = gl_seeded_rand_new(1);
  if (!md || !mc || !sr)
    goto out;
  if ((size_t)base + n > 65536u)
    n = 65536u - base;
  if (n)
    hal_memdev_set(md, 1, HAL_REG_HOLDING, base, regs, n, true);
  hal_link_cfg lc = {.attempts = 1, .allow_write = data[0] & 0x80};
  hal_link *link =
      hal_link_new(hal_memdev_transport(md), &lc, gl_manual_clock_clock(mc),
                   gl_seeded_rand_rand(sr), "fuzz");
  for (size_t k = 0; link && k < sizeof profiles / sizeof profiles[0]; k++) {
    hal_profile p;
    if (hal_profile_parse("p", profiles[k], strlen(profiles[k]), &p, NULL))
      __builtin_trap(); /* the profiles above are valid */
    hal_device_cfg dc = {.unit = 1, .allow_control = true};
    hal_device *d = hal_device_new(link, &p, &dc);
    if (!d)
      continue;
    for (int poll = 0; poll < 2; poll++) {
      hal_sample s;
      hal_device_poll(d, &s);
      for (int q = 0; q < HAL_Q_COUNT; q++) {
        const hal_reading *r = &s.r[q];
        if (r->status != 0)
          continue;
        if (r->raw_bits != 0 && r->raw_bits != 16 && r->raw_bits != 32 &&
            r->raw_bits != 64)
          __builtin_trap();
        if (hal_qty_is_counter(q) && r->value < 0)
          __builtin_trap();
      }
      gl_manual_clock_advance(mc, 600 * GL_NS_PER_SEC);
    }
    if (k == 2)
      hal_device_battery_limit(d, 1000, 500);
    hal_device_free(d);
  }
  hal_link_free(link);
out:
  hal_memdev_free(md);
  gl_manual_clock_free(mc);
  gl_seeded_rand_free(sr);
  return 0;
}
