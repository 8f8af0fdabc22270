/* SPDX-License-Identifier: MIT */
/*
 * sim_check.h - shared by the hal tests that talk to the simulator over
 * TCP (unit) and RTU (integration): discover one simulated device over a
 * link, read every model whole, and check that every point decodes to
 * exactly what the simulator meant. Test-only; functions are static.
 */
#ifndef GRIDLET_TEST_SIM_CHECK_H
#define GRIDLET_TEST_SIM_CHECK_H

#include "gridlet/hal_link.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/sim_devices.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

static int compare_point(sim_devices *sd, int h, int dev, const hal_ss_model *m,
                         unsigned nth, int grp, const hal_ss_point *p,
                         const uint16_t *regs, size_t n, const uint16_t *g,
                         size_t gn) {
  if (p->type == HAL_SS_PAD)
    return 0;
  sim_point_value want;
  assert_int_equal(
      sim_devices_point(sd, h, dev, m->id, nth, grp, p->name, &want), 0);
  hal_ss_value v;
  assert_int_equal(hal_ss_decode(m, p, regs, n, g, gn, &v), 0);
  if (v.implemented != want.implemented) {
    print_error("household %d model %u point %s: implemented %d, meant %d\n", h,
                m->id, p->name, v.implemented, want.implemented);
    fail();
  }
  if (!v.implemented)
    return 1;
  if (p->type == HAL_SS_STRING) {
    char s[80];
    hal_ss_decode_string(p, g ? g : regs, g ? gn : n, s, sizeof s);
    assert_string_equal(s, want.s);
  } else if (want.is_float) {
    assert_true(v.f == want.f);
  } else {
    if (v.u != want.u) {
      print_error("household %d model %u point %s: read %llu, meant %llu\n", h,
                  m->id, p->name, (unsigned long long)v.u,
                  (unsigned long long)want.u);
      fail();
    }
    assert_true(v.i == want.i);
    if (v.has_sf && (p->flags & HAL_SS_SF_POINT)) {
      sim_point_value sf;
      assert_int_equal(sim_devices_point(sd, h, dev, m->id, nth, -1,
                                         m->points[p->sf_index].name, &sf),
                       0);
      assert_int_equal(v.sf, sf.i);
    }
  }
  return 1;
}

/* Discover one device, read each model whole and compare every point.
 * Returns the number of points compared. */
static int check_device(sim_devices *sd, hal_link *l, int h, int dev,
                        bool rtu) {
  uint8_t unit = sim_devices_unit(sd, h, dev, rtu);
  hal_ss_map map;
  assert_int_equal(hal_ss_discover(l, unit, &map), 0);
  uint16_t ids[32];
  size_t nids = sim_devices_chain(sd, h, dev, ids, 32);
  assert_int_equal(map.n, nids);
  int points = 0;
  for (uint16_t i = 0; i < map.n; i++) {
    const hal_ss_model_ref *ref = &map.models[i];
    assert_int_equal(ref->id, ids[i]);
    const hal_ss_model *m = ref->def;
    assert_non_null(m);
    unsigned nth = 0;
    for (uint16_t k = 0; k < i; k++)
      nth += map.models[k].id == ref->id;
    size_t n = 2u + ref->length;
    uint16_t regs[400];
    assert_true(n <= 400);
    for (size_t got = 0; got < n;) {
      uint16_t c = (uint16_t)(n - got > 125 ? 125 : n - got);
      assert_int_equal(hal_link_read(l, unit, HAL_REG_HOLDING,
                                     (uint16_t)(ref->addr + got), c, regs + got,
                                     NULL),
                       0);
      got += c;
    }
    for (uint16_t p = 0; p < m->n_points; p++)
      points += compare_point(sd, h, dev, m, nth, -1, &m->points[p], regs, n,
                              NULL, 0);
    for (int g = 0; m->group_points &&
                    2u + m->length + (size_t)(g + 1) * m->group_length <= n;
         g++) {
      const uint16_t *gr = regs + 2 + m->length + (size_t)g * m->group_length;
      for (uint16_t p = 0; p < m->n_group_points; p++)
        points += compare_point(sd, h, dev, m, nth, g, &m->group_points[p],
                                regs, n, gr, m->group_length);
    }
  }
  return points;
}

#endif
