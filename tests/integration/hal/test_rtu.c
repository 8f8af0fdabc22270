/* SPDX-License-Identifier: MIT */
/* hal over Modbus RTU through a pseudo-terminal pair: the simulator serves
 * one RS-485-like bus on the pty master, hal's libmodbus RTU transport
 * opens the slave side like a USB-RS485 adapter. Every point of every
 * model served decodes exactly; profiles read the household's devices on
 * one shared bus; a dropped frame is recovered. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
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

#define NOON INT64_C(1782039600000000000)

typedef struct fx {
  gl_manual_clock *mc;
  gl_seeded_rand *sr;
  sim_devices *sd;
  hal_link *link;
} fx;

static fx *bus_up(int households, bool variety) {
  fx *f = calloc(1, sizeof *f);
  f->mc = gl_manual_clock_new(NOON);
  f->sr = gl_seeded_rand_new(9);
  sim_devices_cfg cfg = {.households = households,
                         .variety = variety,
                         .rtu = true,
                         .tcp_off = true};
  assert_int_equal(sim_devices_new(&cfg, gl_manual_clock_clock(f->mc),
                                   gl_clock_real(), gl_seeded_rand_rand(f->sr),
                                   &f->sd),
                   0);
  assert_int_equal(sim_devices_bind(f->sd), 0);
  assert_int_equal(sim_devices_start(f->sd), 0);
  const char *path = sim_devices_rtu_path(f->sd);
  assert_non_null(path);
  char text[300];
  snprintf(text, sizeof text, "rtu:%s:19200:8E1", path);
  hal_endpoint ep;
  char err[200];
  assert_int_equal(hal_endpoint_parse(text, &ep, err, sizeof err), 0);
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  /* RS-485 pacing, but on the real clock: the bus is real time. */
  hal_link_cfg lc = {.timeout_ns = 500 * GL_NS_PER_MS,
                     .pause_ns = 2 * GL_NS_PER_MS,
                     .unit_pause_ns = 5 * GL_NS_PER_MS};
  f->link =
      hal_link_new(t, &lc, gl_clock_real(), gl_seeded_rand_rand(f->sr), "rtu");
  assert_non_null(f->link);
  return f;
}

static void bus_down(fx *f) {
  hal_link_free(f->link);
  sim_devices_free(f->sd);
  gl_seeded_rand_free(f->sr);
  gl_manual_clock_free(f->mc);
  free(f);
}

static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}

static void test_rtu_every_model_decodes_exactly(void **state) {
  (void)state;
  /* Seven households cover every inverter and meter model. */
  fx *f = bus_up(7, true);
  int points = 0;
  for (int h = 0; h < 7; h++)
    for (int dev = 0; dev < SIM_DEV_COUNT; dev++)
      points += check_device(f->sd, f->link, h, dev, true);
  assert_true(points > 2000);
  bus_down(f);
}

static void test_rtu_profiles_on_a_shared_bus(void **state) {
  (void)state;
  fx *f = bus_up(2, false);
  hal_profile pi = profile("sunspec-inverter"), pm = profile("sunspec-meter"),
              pb = profile("sunspec-battery");
  hal_device *dev[2][3];
  for (int h = 0; h < 2; h++) {
    hal_device_cfg c = {.unit = sim_devices_unit(f->sd, h, 0, true)};
    dev[h][0] = hal_device_new(f->link, &pi, &c);
    c.unit = sim_devices_unit(f->sd, h, 1, true);
    dev[h][1] = hal_device_new(f->link, &pb, &c);
    c.unit = sim_devices_unit(f->sd, h, 2, true);
    dev[h][2] = hal_device_new(f->link, &pm, &c);
  }
  for (int round = 0; round < 4; round++) {
    for (int h = 0; h < 2; h++) {
      hal_sample s[3];
      for (int k = 0; k < 3; k++)
        assert_int_equal(hal_device_poll(dev[h][k], &s[k]), 0);
      sim_devices_state st;
      sim_devices_state_get(f->sd, h, &st);
      assert_int_equal(s[0].r[HAL_Q_PV_ENERGY_WH].value, st.pv_wh);
      assert_int_equal(s[1].r[HAL_Q_BATTERY_SOC].value, st.soc);
      assert_int_equal(s[2].r[HAL_Q_GRID_IMPORT_WH].value, st.import_wh);
      assert_int_equal(s[2].r[HAL_Q_GRID_EXPORT_WH].value, st.export_wh);
    }
    gl_manual_clock_advance(f->mc, 900 * GL_NS_PER_SEC);
  }
  /* A frame the meter never answers: the bus is flushed and the request
   * repeated. */
  sim_fault ft;
  char err[100];
  assert_int_equal(sim_fault_parse("drop household=1 device=meter count=1", &ft,
                                   err, sizeof err),
                   0);
  assert_int_equal(sim_devices_fault(f->sd, &ft), 0);
  hal_sample s;
  assert_int_equal(hal_device_poll(dev[1][2], &s), 0);
  hal_link_stats ls;
  hal_link_stats_get(f->link, &ls);
  assert_int_equal(ls.timeouts, 1);
  /* A unit nobody answers to on the bus times out. */
  uint16_t r[2];
  gl_log_set_level(GL_LOG_ERROR);
  assert_int_equal(
      hal_link_read(f->link, 200, HAL_REG_HOLDING, 40000, 2, r, NULL),
      GL_ETIMEDOUT);
  for (int h = 0; h < 2; h++)
    for (int k = 0; k < 3; k++)
      hal_device_free(dev[h][k]);
  bus_down(f);
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rtu_every_model_decodes_exactly),
      cmocka_unit_test(test_rtu_profiles_on_a_shared_bus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
