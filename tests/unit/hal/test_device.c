/* SPDX-License-Identifier: MIT */
/* Unit tests for hal_device: read plans, decoding into readings, scale
 * factor changes, register maps that change under us, offline backoff, and
 * the battery-control write gate. The device is an in-memory register map
 * filled from the simulator's SunSpec image builder. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/hal_memdev.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_image.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct fx {
  gl_manual_clock *mc;
  gl_seeded_rand *sr;
  hal_memdev *md;
  hal_link *link;
  sim_image *img;
} fx;

static void link_with(fx *f, bool allow_write) {
  hal_link_free(f->link);
  hal_link_cfg cfg = {.allow_write = allow_write, .attempts = 1};
  f->link = hal_link_new(hal_memdev_transport(f->md), &cfg,
                         gl_manual_clock_clock(f->mc),
                         gl_seeded_rand_rand(f->sr), "dev");
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->mc = gl_manual_clock_new(INT64_C(1790000000) * GL_NS_PER_SEC);
  f->sr = gl_seeded_rand_new(1);
  f->md = hal_memdev_new();
  f->img = sim_image_new();
  link_with(f, false);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  hal_link_free(f->link);
  hal_memdev_free(f->md);
  sim_image_free(f->img);
  gl_seeded_rand_free(f->sr);
  gl_manual_clock_free(f->mc);
  free(f);
  return 0;
}

/* Copy the image's SunSpec block (at base) into the memdev for unit 1. */
static void publish(fx *f, uint16_t base) {
  hal_memdev_clear(f->md, 1);
  uint16_t r[1];
  for (uint32_t a = base; a < 65536u; a++) {
    if (sim_image_read(f->img, HAL_REG_HOLDING, (uint16_t)a, 1, r) != 0)
      break;
    /* Points writable in the image are writable in the memdev too. */
    bool wr = sim_image_write(f->img, (uint16_t)a, 1, r) == 0;
    hal_memdev_set(f->md, 1, HAL_REG_HOLDING, (uint16_t)a, r, 1, wr);
  }
}

static void build(fx *f, const sim_model_spec *specs, size_t n) {
  sim_image_reset(f->img);
  assert_int_equal(sim_image_sunspec(f->img, 40000, specs, n), 0);
}

static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}

static uint64_t reads(fx *f) {
  hal_memdev_stats st;
  hal_memdev_stats_get(f->md, &st);
  return st.reads;
}

static const sim_model_spec inverter[] = {{1, 0, 0}, {103, 0, 0}, {160, 0, 2}};

static void set_inverter(fx *f, int64_t w, int w_sf, int64_t wh) {
  int m = sim_image_model(f->img, 103, 0);
  sim_image_set_int(f->img, m, -1, "W_SF", w_sf);
  sim_image_set_int(f->img, m, -1, "W", w);
  sim_image_set_int(f->img, m, -1, "WH_SF", 0);
  sim_image_set_int(f->img, m, -1, "WH", wh);
}

static void test_device_polls_inverter_in_one_request(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 4321, 0, 2000123);
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1, .name = "inv"};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  assert_non_null(d);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_true(s.online);
  assert_int_equal(s.identity, 1);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].status, 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].value, 4321);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].model, 103);
  const hal_reading *e = &s.r[HAL_Q_PV_ENERGY_WH];
  assert_int_equal(e->status, 0);
  assert_int_equal(e->value, 2000123);
  assert_int_equal(e->raw, 2000123);
  assert_int_equal(e->raw_bits, 32);
  assert_int_equal(e->exp, 0);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].status, GL_ENOENT);
  hal_device_info info;
  assert_int_equal(hal_device_info_get(d, &info), 0);
  /* Steady state: one request per poll covers W, WH, their scale factors
   * and the model's ID/length check. */
  uint64_t before = reads(f);
  for (int i = 0; i < 5; i++)
    assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(reads(f) - before, 5);
  hal_device_free(d);
}

static void test_device_follows_a_scale_factor_change(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 4321, 0, 2000123);
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].sf, 0);
  /* The inverter switches to tens of watts. */
  set_inverter(f, 432, 1, 2000123);
  publish(f, 40000);
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].sf, 1);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].exp, 1);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].raw, 432);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].value, 4320);
  /* A scale factor outside the specification is refused, and said so. */
  int m = sim_image_model(f->img, 103, 0);
  sim_image_set_int(f->img, m, -1, "W_SF", 12);
  publish(f, 40000);
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].status, GL_ERANGE);
  assert_true(gt_log_contains("scale factor 12 outside -10..10"));
  gt_log_capture_end();
  hal_device_stats st;
  hal_device_stats_get(d, &st);
  assert_int_equal(st.bad_values, 1);
  hal_device_free(d);
}

/* Warnings about bad values are rate-limited per quantity: a persistent
 * problem with the power does not hide a new one with the energy. */
static void
test_device_bad_value_warnings_are_limited_per_quantity(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 4321, 12, 2000123); /* W_SF 12: out of range */
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(gt_log_count("pv_power: scale factor 12"), 1);
  /* The same problem again, seconds later: not logged again. */
  gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(gt_log_count("pv_power: scale factor 12"), 1);
  /* Now the energy goes wrong too: that is news, logged at once. */
  int m = sim_image_model(f->img, 103, 0);
  sim_image_set_int(f->img, m, -1, "WH_SF", -11);
  publish(f, 40000);
  gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].status, GL_ERANGE);
  assert_int_equal(gt_log_count("pv_energy: scale factor -11"), 1);
  assert_int_equal(gt_log_count("pv_power: scale factor 12"), 1);
  gt_log_capture_end();
  hal_device_free(d);
}

static void test_device_reports_not_implemented_points(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 4321, 0, 2000123);
  int m = sim_image_model(f->img, 103, 0);
  sim_image_set_absent(f->img, m, -1, "W");
  sim_image_set_int(f->img, m, -1, "WH", 0); /* acc32 0: not accumulated */
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].status, GL_ENOTSUP);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].status, GL_ENOTSUP);
  hal_device_free(d);
}

static void test_device_rediscovers_when_the_map_changes(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 1000, 0, 5000);
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.identity, 1);
  /* A firmware update: model 1 now reports length 65, every later model
   * moves down one register. */
  static const sim_model_spec moved[] = {{1, 65, 0}, {103, 0, 0}, {160, 0, 2}};
  build(f, moved, 3);
  set_inverter(f, 2000, 0, 6000);
  publish(f, 40000);
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_true(gt_log_contains("register map changed"));
  gt_log_capture_end();
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].value, 2000);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].value, 6000);
  assert_int_equal(s.identity, 2);
  hal_device_stats st;
  hal_device_stats_get(d, &st);
  assert_int_equal(st.map_changes, 1);
  assert_int_equal(hal_device_map(d)->models[0].length, 65);
  hal_device_free(d);
}

static void test_device_backs_off_while_offline(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 1000, 0, 5000);
  publish(f, 40000);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1,
                        .offline_min_ns = 5 * GL_NS_PER_SEC,
                        .offline_max_ns = 60 * GL_NS_PER_SEC};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  /* The unit stops answering (the bus is fine, the device is not). */
  hal_memdev_clear(f->md, 1);
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), GL_ETIMEDOUT);
  assert_false(s.online);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].status, GL_ETIMEDOUT);
  assert_true(gt_log_contains("is offline"));
  uint64_t r0 = reads(f);
  /* Polls during the backoff return at once, without a request. */
  assert_int_equal(hal_device_poll(d, &s), GL_ETIMEDOUT);
  assert_int_equal(reads(f), r0);
  gl_manual_clock_advance(f->mc, 5 * GL_NS_PER_SEC);
  hal_device_poll(d, &s);
  assert_true(reads(f) > r0);
  hal_device_stats st;
  hal_device_stats_get(d, &st);
  assert_int_equal(st.polls_skipped, 1);
  /* Back: a notice, and readings again. */
  publish(f, 40000);
  gl_manual_clock_advance(f->mc, 60 * GL_NS_PER_SEC);
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_true(s.online);
  assert_true(gt_log_contains("back online after"));
  gt_log_capture_end();
  hal_device_free(d);
}

static void test_device_reads_vendor_registers(void **state) {
  fx *f = *state;
  /* An SDM630-like meter: float32 in input registers, kWh. */
  uint16_t r[0x50];
  memset(r, 0, sizeof r);
  r[0x34] = 0xC2F7; /* -123.5 W */
  r[0x35] = 0x0000;
  r[0x48] = 0x453B; /* 3000.25 kWh = 0x453B8400 */
  r[0x49] = 0x8400;
  r[0x4A] = 0x42C8; /* 100.0 kWh */
  r[0x4B] = 0x0000;
  hal_memdev_set(f->md, 1, HAL_REG_INPUT, 0, r, 0x50, false);
  hal_profile p = profile("eastron-sdm630");
  hal_device_cfg cfg = {0};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  assert_int_equal(hal_device_unit(d), 1);
  hal_sample s;
  uint64_t before = reads(f);
  assert_int_equal(hal_device_poll(d, &s), 0);
  /* Power alone, the two adjacent counters together. */
  assert_int_equal(reads(f) - before, 2);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].value, -124);
  assert_int_equal(s.r[HAL_Q_GRID_IMPORT_WH].value, 3000250);
  assert_int_equal(s.r[HAL_Q_GRID_IMPORT_WH].raw_bits, 0);
  assert_int_equal(s.r[HAL_Q_GRID_EXPORT_WH].value, 100000);
  assert_int_equal(hal_device_info_get(d, &(hal_device_info){0}), GL_ENOTSUP);
  hal_device_free(d);
}

static void
test_device_sentinel_and_word_order_of_vendor_registers(void **state) {
  fx *f = *state;
  static const char text[] =
      "[profile]\nname = v\nkind = registers\nsource = test\n"
      "[pv_power]\nregister = holding 10\ntype = int32\n"
      "not_implemented = 0x80000000\n"
      "[pv_energy]\nregister = holding 20\ntype = uint32\n"
      "word_order = little\n"
      "[battery_soc]\nregister = holding 30\ntype = uint16\nscale = -1\n";
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_parse("v", text, sizeof text - 1, &p, &e), 0);
  uint16_t r[40] = {0};
  r[10] = 0x8000;
  r[20] = 0x5678; /* little word order: 0x12345678 */
  r[21] = 0x1234;
  r[30] = 567; /* 56.7 % */
  hal_memdev_set(f->md, 1, HAL_REG_HOLDING, 0, r, 40, false);
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_PV_POWER_W].status, GL_ENOTSUP);
  assert_int_equal(s.r[HAL_Q_PV_ENERGY_WH].value, 0x12345678);
  assert_int_equal(s.r[HAL_Q_BATTERY_SOC].value, 5670);
  hal_device_free(d);
}

static const sim_model_spec battery[] = {
    {1, 0, 0}, {701, 0, 0}, {802, 0, 0}, {124, 0, 0}};

static void battery_image(fx *f) {
  build(f, battery, 4);
  int m = sim_image_model(f->img, 124, 0);
  sim_image_set_int(f->img, m, -1, "WChaMax", 300);
  sim_image_set_int(f->img, m, -1, "WChaMax_SF", 1); /* 3000 W */
  sim_image_set_int(f->img, m, -1, "InOutWRte_SF", -1);
  sim_image_set_int(f->img, m, -1, "StorCtl_Mod", 0);
  sim_image_set_int(f->img, m, -1, "InWRte", 1000);
  sim_image_set_int(f->img, m, -1, "OutWRte", 1000);
  int b = sim_image_model(f->img, 802, 0);
  sim_image_set_int(f->img, b, -1, "W_SF", 0);
  sim_image_set_int(f->img, b, -1, "W", -1500); /* discharging shown < 0 */
  sim_image_set_int(f->img, b, -1, "SoC_SF", -1);
  sim_image_set_int(f->img, b, -1, "SoC", 523);
  int a = sim_image_model(f->img, 701, 0);
  sim_image_set_int(f->img, a, -1, "TotWh_SF", 0);
  sim_image_set_int(f->img, a, -1, "TotWhAbs", 800000);
  sim_image_set_int(f->img, a, -1, "TotWhInj", 700000);
  publish(f, 40000);
}

static void test_device_battery_readings_and_sign(void **state) {
  fx *f = *state;
  battery_image(f);
  hal_profile p = profile("sunspec-battery");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  assert_int_equal(hal_device_poll(d, &s), 0);
  assert_int_equal(s.r[HAL_Q_BATTERY_POWER_W].value, 1500); /* charging */
  assert_int_equal(s.r[HAL_Q_BATTERY_SOC].value, 5230);
  assert_int_equal(s.r[HAL_Q_BATTERY_CHARGE_WH].value, 800000);
  assert_int_equal(s.r[HAL_Q_BATTERY_CHARGE_WH].raw_bits, 64);
  assert_int_equal(s.r[HAL_Q_BATTERY_DISCHARGE_WH].value, 700000);
  hal_device_free(d);
}

static void
test_device_battery_control_needs_profile_config_and_link(void **state) {
  fx *f = *state;
  battery_image(f);
  hal_profile p = profile("sunspec-battery");
  hal_memdev_stats ms;
  /* Configuration does not allow control: nothing is written. */
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  gt_log_capture_begin();
  assert_int_equal(hal_device_battery_limit(d, 1000, 1000), GL_EPERM);
  assert_true(gt_log_contains("not enabled in the configuration"));
  hal_device_free(d);
  /* Allowed by the configuration, but the link is read-only. */
  cfg.allow_control = true;
  d = hal_device_new(f->link, &p, &cfg);
  assert_int_equal(hal_device_battery_limit(d, 1000, 1000), GL_EPERM);
  assert_true(gt_log_contains("the link is read-only"));
  hal_device_free(d);
  /* A profile without [control]. */
  link_with(f, true);
  hal_profile q = p;
  q.control_model = 0;
  d = hal_device_new(f->link, &q, &cfg);
  assert_int_equal(hal_device_battery_release(d), GL_EPERM);
  hal_device_free(d);
  gt_log_capture_end();
  hal_memdev_stats_get(f->md, &ms);
  assert_int_equal(ms.writes, 0);
  /* All three agree: limits are written as percent of WChaMax. */
  d = hal_device_new(f->link, &p, &cfg);
  assert_int_equal(hal_device_battery_limit(d, 1500, 600), 0);
  hal_memdev_stats_get(f->md, &ms);
  assert_int_equal(ms.writes, 2);
  const hal_ss_model_ref *ref = hal_ss_map_find(hal_device_map(d), 124, -1, 0);
  uint16_t r[26];
  assert_int_equal(hal_memdev_get(f->md, 1, HAL_REG_HOLDING, ref->addr, r, 26),
                   0);
  assert_int_equal(r[5], 3);    /* StorCtl_Mod: charge and discharge limits */
  assert_int_equal(r[13], 500); /* InWRte 50.0 % of 3000 W */
  assert_int_equal(r[12], 200); /* OutWRte 20.0 % */
  assert_int_equal(hal_device_battery_release(d), 0);
  hal_memdev_get(f->md, 1, HAL_REG_HOLDING, ref->addr, r, 26);
  assert_int_equal(r[5], 0);
  hal_device_free(d);
}

/* The largest WChaMax a device can state (65535 x 10^10 W) with the
 * finest rate resolution (0.01 %): the percentages are exact and nothing
 * overflows (UBSan would say so in the sanitizer build). */
static void test_device_battery_limits_at_extreme_scales(void **state) {
  fx *f = *state;
  battery_image(f);
  int m = sim_image_model(f->img, 124, 0);
  sim_image_set_int(f->img, m, -1, "WChaMax", 65534);
  sim_image_set_int(f->img, m, -1, "WChaMax_SF", 10);
  sim_image_set_int(f->img, m, -1, "InOutWRte_SF", -2);
  publish(f, 40000);
  link_with(f, true);
  hal_profile p = profile("sunspec-battery");
  hal_device_cfg cfg = {.unit = 1, .allow_control = true};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  int64_t wmax = INT64_C(65534) * INT64_C(10000000000);
  /* Charge just below WChaMax, discharge at a third of it. */
  assert_int_equal(hal_device_battery_limit(d, wmax - 1, wmax / 3), 0);
  const hal_ss_model_ref *ref = hal_ss_map_find(hal_device_map(d), 124, -1, 0);
  uint16_t r[26];
  assert_int_equal(hal_memdev_get(f->md, 1, HAL_REG_HOLDING, ref->addr, r, 26),
                   0);
  assert_int_equal(r[13], 10000); /* InWRte: 100.00 % */
  assert_int_equal(r[12], 3333);  /* OutWRte: 33.33 % */
  /* Above WChaMax: clamped to 100 %. */
  assert_int_equal(hal_device_battery_limit(d, INT64_MAX, 0), 0);
  hal_memdev_get(f->md, 1, HAL_REG_HOLDING, ref->addr, r, 26);
  assert_int_equal(r[13], 10000);
  assert_int_equal(r[12], 0);
  hal_device_free(d);
}

static void test_device_profile_for_another_device_reads_nothing(void **state) {
  fx *f = *state;
  build(f, inverter, 3);
  set_inverter(f, 1000, 0, 5000);
  publish(f, 40000);
  hal_profile p = profile("sunspec-meter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  gt_log_capture_begin();
  /* Nothing to read: a configuration error, never "online" (a poll would
   * do no I/O and could not tell whether the device is there). */
  assert_int_equal(hal_device_poll(d, &s), GL_ENOENT);
  assert_true(gt_log_contains("has none of the models profile sunspec-meter"));
  assert_true(gt_log_contains("a configuration error"));
  assert_false(gt_log_contains("is offline"));
  gt_log_capture_end();
  assert_false(s.online);
  assert_int_equal(s.r[HAL_Q_GRID_IMPORT_WH].status, GL_ENOENT);
  hal_device_free(d);
}

/* A registers profile whose only value cannot be addressed (built without
 * the parser, which refuses it) plans no request: an error, no I/O, not
 * online. */
static void test_device_nothing_plannable_is_an_error(void **state) {
  fx *f = *state;
  hal_profile p;
  memset(&p, 0, sizeof p);
  snprintf(p.name, sizeof p.name, "edge");
  p.kind = HAL_PROFILE_REGISTERS;
  p.q[HAL_Q_GRID_POWER_W].mapped = true;
  p.q[HAL_Q_GRID_POWER_W].table = HAL_REG_INPUT;
  p.q[HAL_Q_GRID_POWER_W].addr = 65535;
  p.q[HAL_Q_GRID_POWER_W].type = HAL_SS_INT32;
  p.q[HAL_Q_GRID_POWER_W].sign = 1;
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  uint64_t before = reads(f);
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), GL_ENOENT);
  assert_true(gt_log_contains("a configuration error"));
  gt_log_capture_end();
  assert_false(s.online);
  assert_int_equal(s.r[HAL_Q_GRID_POWER_W].status, GL_ENOENT);
  assert_int_equal(reads(f), before);
  hal_device_free(d);
}

/* A device without a SunSpec map under a SunSpec profile: the log says
 * configuration error, not "offline". */
static void
test_device_without_sunspec_map_is_a_configuration_error(void **state) {
  fx *f = *state;
  uint16_t r[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  hal_memdev_set(f->md, 1, HAL_REG_HOLDING, 0, r, 8, false);
  hal_memdev_set(f->md, 1, HAL_REG_HOLDING, 40000, r, 8, false);
  hal_memdev_set(f->md, 1, HAL_REG_HOLDING, 50000, r, 8, false);
  hal_profile p = profile("sunspec-inverter");
  hal_device_cfg cfg = {.unit = 1};
  hal_device *d = hal_device_new(f->link, &p, &cfg);
  hal_sample s;
  gt_log_capture_begin();
  assert_int_equal(hal_device_poll(d, &s), GL_ENOENT);
  assert_true(gt_log_contains("no SunSpec map found"));
  assert_true(gt_log_contains("a configuration error"));
  assert_false(gt_log_contains("is offline"));
  gt_log_capture_end();
  assert_false(s.online);
  hal_device_free(d);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_device_bad_value_warnings_are_limited_per_quantity, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_device_battery_limits_at_extreme_scales, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_nothing_plannable_is_an_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_device_without_sunspec_map_is_a_configuration_error, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_device_polls_inverter_in_one_request,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_follows_a_scale_factor_change,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_device_reports_not_implemented_points, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_device_rediscovers_when_the_map_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_backs_off_while_offline,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_reads_vendor_registers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_device_sentinel_and_word_order_of_vendor_registers, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_device_battery_readings_and_sign,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_device_battery_control_needs_profile_config_and_link, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_device_profile_for_another_device_reads_nothing, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
