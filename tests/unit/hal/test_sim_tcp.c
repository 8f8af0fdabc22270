/* SPDX-License-Identifier: MIT */
/* hal against the device simulator over real Modbus TCP on loopback: every
 * point of every supported model decodes to exactly what the simulator
 * meant; the shipped profiles read exactly what the households' devices
 * show; state-changing faults (scale factor change, counter reset and
 * rollover, model 1 of length 65) are reported as they happen; and no
 * Modbus write ever reaches a device unless both profile and
 * configuration enable battery control. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_devices.h"
#include "testutil.h"

#include "sim_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* 2026-06-21 11:00 UTC: midsummer, the sun is up. */
#define NOON INT64_C(1782039600000000000)

typedef struct fx {
  gl_manual_clock *mc;
  gl_seeded_rand *sr;
  sim_devices *sd;
  hal_link *links[SIM_MAX_HOUSEHOLDS];
  int nlinks;
} fx;

static fx *sim_up(const sim_devices_cfg *cfg) {
  fx *f = calloc(1, sizeof *f);
  f->mc = gl_manual_clock_new(NOON);
  f->sr = gl_seeded_rand_new(7);
  assert_int_equal(sim_devices_new(cfg, gl_manual_clock_clock(f->mc),
                                   gl_clock_real(), gl_seeded_rand_rand(f->sr),
                                   &f->sd),
                   0);
  assert_int_equal(sim_devices_bind(f->sd), 0);
  assert_int_equal(sim_devices_start(f->sd), 0);
  return f;
}

static void sim_down(fx *f) {
  for (int i = 0; i < f->nlinks; i++)
    hal_link_free(f->links[i]);
  sim_devices_free(f->sd);
  gl_seeded_rand_free(f->sr);
  gl_manual_clock_free(f->mc);
  free(f);
}

static hal_link *tcp_link(fx *f, int household, bool allow_write) {
  hal_endpoint ep = {.kind = HAL_EP_TCP,
                     .port = sim_devices_port(f->sd, household)};
  snprintf(ep.host, sizeof ep.host, "127.0.0.1");
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  hal_link_cfg cfg = {.timeout_ns = 2 * GL_NS_PER_SEC,
                      .allow_write = allow_write};
  hal_link *l = hal_link_new(t, &cfg, gl_manual_clock_clock(f->mc),
                             gl_seeded_rand_rand(f->sr), "tcp");
  assert_non_null(l);
  f->links[f->nlinks++] = l;
  return l;
}

static int64_t now_of(fx *f) {
  gl_clock c = gl_manual_clock_clock(f->mc);
  return gl_clock_now(&c);
}

static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}

static void test_sim_tcp_every_model_decodes_exactly(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 7, .variety = true};
  fx *f = sim_up(&cfg);
  int points = 0;
  bool seen[66000] = {false};
  for (int h = 0; h < 7; h++) {
    hal_link *l = tcp_link(f, h, false);
    for (int dev = 0; dev < SIM_DEV_COUNT; dev++) {
      points += check_device(f->sd, l, h, dev, false);
      uint16_t ids[32];
      size_t n = sim_devices_chain(f->sd, h, dev, ids, 32);
      for (size_t i = 0; i < n; i++)
        seen[ids[i]] = true;
    }
  }
  /* Every model gridlet supports was served and checked. */
  for (size_t i = 0; i < hal_ss_model_count(); i++)
    assert_true(seen[hal_ss_model_at(i)->id]);
  assert_true(points > 2000);
  sim_down(f);
}

static void test_sim_tcp_sub_devices_and_other_bases(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1,
                         .chain_layout = true,
                         .sunspec_base = SIM_SUNSPEC_BASE_0};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 0, false);
  hal_ss_map map;
  assert_int_equal(hal_ss_discover(l, 1, &map), 0);
  assert_int_equal(map.base, 0);
  assert_int_equal(map.n_devices, 3);
  check_device(f->sd, l, 0, SIM_DEV_INVERTER, false);
  /* One profile reading all three sub-devices of one unit. */
  static const char text[] =
      "[profile]\nname = hybrid\nkind = sunspec\n"
      "[pv_power]\npoint = 103.W\n"
      "[grid_power]\npoint = 203.W\n"
      "[battery_power]\npoint = 802.W\nsign = -1\n"
      "[battery_charge_energy]\npoint = 701.TotWhAbs\nsubdevice = 2\n";
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_parse("hybrid", text, sizeof text - 1, &p, &e),
                   0);
  hal_device_cfg dc = {.unit = 1};
  hal_device *d = hal_device_new(l, &p, &dc);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  sim_devices_state st;
  sim_devices_state_get(f->sd, 0, &st);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].value, st.pv_w);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].value, st.grid_w);
  assert_int_equal(s.r[HAL_Q_BATTERY_POWER_W].value, st.battery_w);
  assert_int_equal(s.r[HAL_Q_BATTERY_CHARGE_WH].value, st.charge_wh);
  hal_device_free(d);
  sim_down(f);

  sim_devices_cfg c2 = {.households = 1, .sunspec_base = 50000};
  f = sim_up(&c2);
  l = tcp_link(f, 0, false);
  assert_int_equal(hal_ss_discover(l, 3, &map), 0);
  assert_int_equal(map.base, 50000);
  check_device(f->sd, l, 0, SIM_DEV_METER, false);
  sim_down(f);
}

/* ---- Profiles against the households' state --------------------------- */

typedef struct trio {
  hal_device *inv, *bat, *met;
} trio;

static trio devices(fx *f, hal_link *l, int h, bool allow_control) {
  hal_profile pi = profile("sunspec-inverter");
  hal_profile pb = profile("sunspec-battery");
  hal_profile pm = profile("sunspec-meter");
  trio t;
  hal_device_cfg c = {.unit = sim_devices_unit(f->sd, h, 0, false),
                      .name = "inverter"};
  t.inv = hal_device_new(l, &pi, &c);
  c.unit = sim_devices_unit(f->sd, h, 1, false);
  c.name = "battery";
  c.allow_control = allow_control;
  t.bat = hal_device_new(l, &pb, &c);
  c.unit = sim_devices_unit(f->sd, h, 2, false);
  c.name = "meter";
  c.allow_control = false;
  t.met = hal_device_new(l, &pm, &c);
  return t;
}

static void free_trio(trio *t) {
  hal_device_free(t->inv);
  hal_device_free(t->bat);
  hal_device_free(t->met);
}

static void poll_and_compare(fx *f, int h, trio *t) {
  hal_sample si, sb, sm;
  assert_int_equal(hal_device_poll(t->inv, &si), 0);
  assert_int_equal(hal_device_poll(t->bat, &sb), 0);
  assert_int_equal(hal_device_poll(t->met, &sm), 0);
  sim_devices_state st;
  sim_devices_state_get(f->sd, h, &st);
  assert_int_equal(si.r[HAL_Q_PV_POWER_W].value, st.pv_w);
  assert_int_equal(si.r[HAL_Q_PV_ENERGY_WH].value, st.pv_wh);
  assert_int_equal(sm.r[HAL_Q_GRID_POWER_W].value, st.grid_w);
  assert_int_equal(sm.r[HAL_Q_GRID_IMPORT_WH].value, st.import_wh);
  assert_int_equal(sm.r[HAL_Q_GRID_EXPORT_WH].value, st.export_wh);
  assert_int_equal(sb.r[HAL_Q_BATTERY_POWER_W].value, st.battery_w);
  assert_int_equal(sb.r[HAL_Q_BATTERY_SOC].value, st.soc);
  assert_int_equal(sb.r[HAL_Q_BATTERY_CHARGE_WH].value, st.charge_wh);
  assert_int_equal(sb.r[HAL_Q_BATTERY_DISCHARGE_WH].value, st.discharge_wh);
}

static void test_sim_tcp_profiles_follow_the_household(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 2};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 1, false);
  trio t = devices(f, l, 1, false);
  /* A day in 15-minute steps: every poll matches the devices exactly. */
  for (int i = 0; i < 96; i++) {
    poll_and_compare(f, 1, &t);
    gl_manual_clock_advance(f->mc, 15 * 60 * GL_NS_PER_SEC);
  }
  /* The household's energy balance holds on the devices' counters. */
  sim_devices_state st;
  sim_devices_state_get(f->sd, 1, &st);
  const sim_household_state *s = &st.truth;
  assert_true(s->import_wms - s->export_wms ==
              s->load_wms - s->pv_wms + s->charge_wms - s->discharge_wms);
  /* Three devices, one connection. */
  sim_devices_stats ss;
  sim_devices_stats_get(f->sd, 1, &ss);
  assert_int_equal(ss.connections, 1);
  free_trio(&t);
  sim_down(f);
}

static void test_sim_tcp_vendor_profiles(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1,
                         .inverter_model = SIM_MODEL_SMA,
                         .meter_model = SIM_MODEL_SDM630};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 0, false);
  hal_profile ps = profile("sma-sunnyboy"), pe = profile("eastron-sdm630");
  hal_device_cfg c = {.unit = 1};
  hal_device *inv = hal_device_new(l, &ps, &c);
  c.unit = 3;
  hal_device *met = hal_device_new(l, &pe, &c);
  for (int i = 0; i < 48; i++) {
    hal_sample si, sm;
    assert_int_equal(hal_device_poll(inv, &si), 0);
    assert_int_equal(hal_device_poll(met, &sm), 0);
    sim_devices_state st;
    sim_devices_state_get(f->sd, 0, &st);
    if (st.pv_w > 0)
      assert_int_equal(si.r[HAL_Q_PV_POWER_W].value, st.pv_w);
    else /* SMA reports NaN while not feeding in */
      assert_int_equal(si.r[HAL_Q_PV_POWER_W].status, GL_ENOTSUP);
    assert_int_equal(si.r[HAL_Q_PV_ENERGY_WH].value, st.pv_wh);
    assert_int_equal(sm.r[HAL_Q_GRID_POWER_W].value, st.grid_w);
    /* float32 kWh: exact to the Wh at these magnitudes (< 8 MWh). */
    assert_int_equal(sm.r[HAL_Q_GRID_IMPORT_WH].value, st.import_wh);
    assert_int_equal(sm.r[HAL_Q_GRID_EXPORT_WH].value, st.export_wh);
    gl_manual_clock_advance(f->mc, 30 * 60 * GL_NS_PER_SEC);
  }
  hal_device_free(inv);
  hal_device_free(met);
  sim_down(f);
}

/* ---- State-changing faults ------------------------------------------------
 */

static void fault(fx *f, const char *text) {
  sim_fault ft;
  char err[160];
  assert_int_equal(sim_fault_parse(text, &ft, err, sizeof err), 0);
  assert_int_equal(sim_devices_fault(f->sd, &ft), 0);
}

static void test_sim_tcp_scale_factor_change_is_reported(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 0, false);
  trio t = devices(f, l, 0, false);
  poll_and_compare(f, 0, &t);
  hal_sample s;
  hal_device_poll(t.met, &s);
  assert_int_equal(s.r[HAL_Q_GRID_IMPORT_WH].exp, 0);
  fault(f, "sf household=0 device=meter sf=1 energy_sf=1");
  fault(f, "sf household=0 device=inverter sf=1 energy_sf=-1");
  hal_device_poll(t.met, &s);
  sim_devices_state st;
  sim_devices_state_get(f->sd, 0, &st);
  const hal_reading *imp = &s.r[HAL_Q_GRID_IMPORT_WH];
  assert_int_equal(imp->sf, 1);
  assert_int_equal(imp->exp, 1);
  assert_int_equal(imp->raw, st.import_wh / 10);
  assert_int_equal(imp->value, st.import_wh / 10 * 10);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].sf, 1);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].value, st.grid_w);
  hal_device_poll(t.inv, &s);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].exp, -1);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].raw, st.pv_wh * 10);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].value, st.pv_wh);
  free_trio(&t);
  sim_down(f);
}

static void test_sim_tcp_counter_reset_and_rollover(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 0, false);
  trio t = devices(f, l, 0, false);
  hal_sample s;
  hal_device_poll(t.met, &s);
  int64_t before = s.r[HAL_Q_GRID_IMPORT_WH].value;
  assert_true(before > 1000000);
  /* A replaced meter starts again near zero: the raw value goes down. */
  fault(f, "reset household=0 device=meter");
  sim_devices_state st;
  /* Until energy flows through the meter again (a battery may absorb a
   * sunny hour's surplus). */
  do {
    gl_manual_clock_advance(f->mc, 900 * GL_NS_PER_SEC);
    sim_devices_state_get(f->sd, 0, &st);
  } while (st.import_wh + st.export_wh == 0);
  hal_device_poll(t.met, &s);
  sim_devices_state_get(f->sd, 0, &st);
  const hal_reading *imp = &s.r[HAL_Q_GRID_IMPORT_WH];
  const hal_reading *exp = &s.r[HAL_Q_GRID_EXPORT_WH];
  /* Both counters restarted; an acc32 at 0 means "not accumulated". */
  int64_t total = st.import_wh + st.export_wh;
  assert_true(total > 0 && total < 100000);
  if (st.import_wh > 0) {
    assert_int_equal(imp->status, 0);
    assert_int_equal(imp->value, st.import_wh);
  } else {
    assert_int_equal(imp->status, GL_ENOTSUP);
  }
  if (st.export_wh > 0)
    assert_int_equal(exp->value, st.export_wh);
  /* A 32-bit accumulator 50 Wh before its end: it wraps to small raw
   * values and keeps counting; hal reports the raw value and its width. */
  fault(f, "rollover household=0 device=inverter margin=50");
  hal_device_poll(t.inv, &s);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].raw_bits, 32);
  assert_true(s.r[HAL_Q_PV_ENERGY_WH].raw >= UINT32_MAX - 50);
  uint64_t high = s.r[HAL_Q_PV_ENERGY_WH].raw;
  /* On to the next noon: the sun fills more than 50 Wh. */
  int64_t target = NOON;
  while (target <= now_of(f))
    target += 86400 * GL_NS_PER_SEC;
  gl_manual_clock_set(f->mc, target);
  hal_device_poll(t.inv, &s);
  sim_devices_state_get(f->sd, 0, &st);
  assert_true(s.r[HAL_Q_PV_ENERGY_WH].raw < high);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].raw,
                   (uint64_t)st.pv_wh & 0xFFFFFFFFu);
  assert_int_equal(
      (int64_t)(s.r[HAL_Q_PV_ENERGY_WH].raw + (UINT64_C(1) << 32) - high),
      st.pv_wh - (int64_t)high);
  free_trio(&t);
  sim_down(f);
}

static void test_sim_tcp_model1_length_65(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1};
  fx *f = sim_up(&cfg);
  hal_link *l = tcp_link(f, 0, false);
  trio t = devices(f, l, 0, false);
  poll_and_compare(f, 0, &t);
  /* The inverter's firmware now reports model 1 with 65 registers: every
   * later model moves. The next poll notices and discovers again. */
  fault(f, "len65 household=0 device=inverter");
  gl_log_set_level(GL_LOG_ERROR);
  poll_and_compare(f, 0, &t);
  hal_device_stats ds;
  hal_device_stats_get(t.inv, &ds);
  assert_int_equal(ds.map_changes, 1);
  assert_int_equal(hal_device_map(t.inv)->models[0].length, 65);
  check_device(f->sd, l, 0, SIM_DEV_INVERTER, false);
  free_trio(&t);
  sim_down(f);
}

/* ---- Read-only by default ---------------------------------------------------
 */

static void test_sim_tcp_default_never_writes(void **state) {
  (void)state;
  sim_devices_cfg cfg = {.households = 1};
  fx *f = sim_up(&cfg);
  /* Everything a meter agent does with default settings: discovery,
   * polls across a day, and a request for battery control it may not
   * make. The battery profile does declare [control]. */
  hal_link *l = tcp_link(f, 0, false);
  trio t = devices(f, l, 0, false);
  for (int i = 0; i < 48; i++) {
    poll_and_compare(f, 0, &t);
    gl_manual_clock_advance(f->mc, 30 * 60 * GL_NS_PER_SEC);
  }
  gl_log_set_level(GL_LOG_ERROR);
  assert_int_equal(hal_device_battery_limit(t.bat, 0, 0), GL_EPERM);
  assert_int_equal(hal_device_battery_release(t.bat), GL_EPERM);
  sim_devices_stats ss;
  sim_devices_stats_get(f->sd, -1, &ss);
  assert_true(ss.reads > 100);
  assert_int_equal(ss.writes, 0);
  free_trio(&t);
  /* The configuration allows control, the link does not: still nothing. */
  t = devices(f, l, 0, true);
  assert_int_equal(hal_device_battery_limit(t.bat, 0, 0), GL_EPERM);
  sim_devices_stats_get(f->sd, -1, &ss);
  assert_int_equal(ss.writes, 0);
  free_trio(&t);

  /* Both enable it: the limits reach the battery, which obeys. */
  hal_link *lw = tcp_link(f, 0, true);
  t = devices(f, lw, 0, true);
  gl_manual_clock_set(f->mc, NOON + 86400 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_battery_limit(t.bat, 500, 3000), 0);
  sim_devices_stats_get(f->sd, -1, &ss);
  assert_int_equal(ss.writes, 2);
  assert_int_equal(ss.writes_applied, 2);
  gl_manual_clock_advance(f->mc, 60 * GL_NS_PER_SEC);
  sim_devices_state st;
  sim_devices_state_get(f->sd, 0, &st);
  assert_true(st.truth.battery_w <= 500);
  free_trio(&t);
  sim_down(f);
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sim_tcp_every_model_decodes_exactly),
      cmocka_unit_test(test_sim_tcp_sub_devices_and_other_bases),
      cmocka_unit_test(test_sim_tcp_profiles_follow_the_household),
      cmocka_unit_test(test_sim_tcp_vendor_profiles),
      cmocka_unit_test(test_sim_tcp_scale_factor_change_is_reported),
      cmocka_unit_test(test_sim_tcp_counter_reset_and_rollover),
      cmocka_unit_test(test_sim_tcp_model1_length_65),
      cmocka_unit_test(test_sim_tcp_default_never_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
