/* SPDX-License-Identifier: MIT */
/* Unit tests for the device profile parser: valid profiles, the shipped
 * profiles, and every class of error with its file:line message. */
#include "gridlet/error.h"
#include "gridlet/hal_profile.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/hal_transport.h"
#include "gridlet/log.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *text, hal_profile *p, gl_conf_errors *e) {
  return hal_profile_parse("x.profile", text, strlen(text), p, e);
}

/* Exactly one error, equal to want. */
static void expect_error(const char *text, const char *want) {
  hal_profile p;
  gl_conf_errors e;
  int rc = parse(text, &p, &e);
  if (rc != GL_ECONFIG || e.count != 1 || strcmp(e.msg[0], want) != 0) {
    print_error("rc %d, %d error(s)\n", rc, e.count);
    for (int i = 0; i < e.count && i < GL_CONF_MAX_ERRORS; i++)
      print_error("got:  %s\n", e.msg[i]);
    print_error("want: %s\n", want);
    fail();
  }
}

/* At least one error, the first equal to want (later ones may follow from
 * it). */
static void expect_first_error(const char *text, const char *want) {
  hal_profile p;
  gl_conf_errors e;
  int rc = parse(text, &p, &e);
  if (rc != GL_ECONFIG || e.count < 1 || strcmp(e.msg[0], want) != 0) {
    for (int i = 0; i < e.count && i < GL_CONF_MAX_ERRORS; i++)
      print_error("got:  %s\n", e.msg[i]);
    print_error("want: %s\n", want);
    fail();
  }
}

#define HEAD "[profile]\nname = t\nkind = sunspec\n"
#define RHEAD "[profile]\nname = t\nkind = registers\nsource = doc\n"

static void test_profile_sunspec_alternatives_and_sign(void **state) {
  (void)state;
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(parse(HEAD "# comment\n"
                              "[grid_power]\n"
                              "point = 203.W 213.W   ; inline comment\n"
                              "sign = -1\n"
                              "scale = 1\n"
                              "[grid_import_energy]\n"
                              "point = 203.TotWhImp\n"
                              "subdevice = 2\n",
                         &p, &e),
                   0);
  assert_string_equal(p.name, "t");
  assert_int_equal(p.kind, HAL_PROFILE_SUNSPEC);
  const hal_qty_map *m = &p.q[HAL_Q_GRID_POWER_W];
  assert_true(m->mapped);
  assert_int_equal(m->n_alts, 2);
  assert_int_equal(m->alts[0].model, 203);
  assert_string_equal(m->alts[1].point, "W");
  assert_int_equal(m->alts[1].model, 213);
  assert_int_equal(m->sign, -1);
  assert_int_equal(m->scale, 1);
  assert_int_equal(p.q[HAL_Q_GRID_IMPORT_WH].subdevice, 2);
  assert_int_equal(p.q[HAL_Q_GRID_IMPORT_WH].sign, 1);
  assert_false(p.q[HAL_Q_PV_POWER_W].mapped);
  assert_int_equal(p.control_model, 0);
}

static void test_profile_registers(void **state) {
  (void)state;
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(parse(RHEAD "unit = 3\nmerge_gap = 4\n"
                               "[pv_power]\nregister = holding 30775\n"
                               "type = int32\nnot_implemented = 0x80000000\n"
                               "[grid_power]\nregister = input 0x34\n"
                               "type = float32\nword_order = little\n"
                               "[pv_energy]\nregister = input 12\n"
                               "type = int16\nnot_implemented = -32768\n",
                         &p, &e),
                   0);
  assert_int_equal(p.unit, 3);
  assert_int_equal(p.merge_gap, 4);
  const hal_qty_map *m = &p.q[HAL_Q_PV_POWER_W];
  assert_int_equal(m->table, HAL_REG_HOLDING);
  assert_int_equal(m->addr, 30775);
  assert_int_equal(m->type, HAL_SS_INT32);
  assert_true(m->has_nan);
  assert_true(m->nan == 0x80000000u);
  assert_int_equal(p.q[HAL_Q_GRID_POWER_W].table, HAL_REG_INPUT);
  assert_int_equal(p.q[HAL_Q_GRID_POWER_W].addr, 0x34);
  assert_true(p.q[HAL_Q_GRID_POWER_W].word_little);
  assert_true(p.q[HAL_Q_PV_ENERGY_WH].nan == 0x8000u);
}

static void test_profile_shipped_profiles_parse(void **state) {
  (void)state;
  static const char *const names[] = {"sunspec-inverter", "sunspec-meter",
                                      "sunspec-battery", "eastron-sdm630",
                                      "sma-sunnyboy"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char rel[128], path[GT_PATH_MAX];
    snprintf(rel, sizeof rel, "hal/profiles/%s.profile", names[i]);
    gt_source_path(path, rel);
    hal_profile p;
    gl_conf_errors e;
    int rc = hal_profile_load(path, &p, &e);
    for (int k = 0; rc && k < e.count && k < GL_CONF_MAX_ERRORS; k++)
      print_error("%s\n", e.msg[k]);
    assert_int_equal(rc, 0);
    assert_string_equal(p.name, names[i]);
  }
  hal_profile p;
  gl_conf_errors e;
  char path[GT_PATH_MAX];
  gt_source_path(path, "hal/profiles/sunspec-battery.profile");
  assert_int_equal(hal_profile_load(path, &p, &e), 0);
  assert_int_equal(p.control_model, 124);
  assert_int_equal(p.q[HAL_Q_BATTERY_POWER_W].sign, -1);
  assert_int_equal(hal_profile_load("/nonexistent/x.profile", &p, &e),
                   GL_ENOENT);
  assert_int_equal(e.count, 1);
}

static void test_profile_errors_name_file_and_line(void **state) {
  (void)state;
  expect_error(HEAD "[grid_power]\npoint = 203.Wx\n",
               "x.profile:5: point: model 203 (ac_meter_abcn) has no point "
               "\"Wx\"");
  expect_error(HEAD "[grid_power]\npoint = 999.W\n",
               "x.profile:5: point: SunSpec model 999 is not supported "
               "(supported: 1, 101-103, 111-113, 124, 160, 201-204, "
               "211-213, 701, 802)");
  expect_error(HEAD "[grid_power]\npoint = 1.Mn\n",
               "x.profile:5: point: 1.Mn is a string, not a number");
  expect_error(HEAD "[grid_power]\npoint = W\n",
               "x.profile:5: point: \"W\" is not MODEL.POINT (e.g. "
               "203.TotWhImp)");
  expect_error(HEAD "[grid_power]\npoint = 203.W\npoint = 203.W\n",
               "x.profile:6: point is given twice (first on line 5)");
  expect_error(HEAD "[grid_power]\npoint = 203.W\nsign = 2\n",
               "x.profile:6: sign must be 1 or -1, not \"2\"");
  expect_error(HEAD "[grid_power]\npoint = 203.W\nscale = 11\n",
               "x.profile:6: scale must be -10..10, not \"11\"");
  expect_error(HEAD "[grid_power]\npoint = 203.W\nbogus = 1\n",
               "x.profile:6: unknown key \"bogus\" in [grid_power]");
  expect_error(HEAD "[solar]\npoint = 203.W\n",
               "x.profile:4: unknown section [solar] (expected [profile], "
               "[control] or a quantity such as [grid_import_energy])");
  expect_error(HEAD "[grid_power]\npoint = 203.W\n[grid_power]\n",
               "x.profile:6: section [grid_power] appears twice");
  expect_error(HEAD "[grid_import_energy]\npoint = 203.TotWhImp\nsign = -1\n",
               "x.profile:6: [grid_import_energy]: a counter cannot have sign "
               "-1 (map the other counter instead)");
  expect_first_error(HEAD "[grid_power]\nregister = input 1\ntype = int16\n",
                     "x.profile:4: [grid_power]: point is required in a "
                     "sunspec profile");
  expect_error(HEAD "garbage\n[grid_power]\npoint = 203.W\n",
               "x.profile:4: expected \"key = value\" or \"[section]\"");
  expect_error(HEAD "[grid_power\npoint = 203.W\n",
               "x.profile:4: section header must end with ']'");
  expect_error("[grid_power]\npoint = 203.W\n",
               "x.profile:1: the first section must be [profile]");
  expect_error("[profile]\nname = t\n[grid_power]\npoint = 203.W\n",
               "x.profile:1: [profile]: kind is required (sunspec or "
               "registers)");
  expect_error("[profile]\nname = bad name\nkind = sunspec\n"
               "[grid_power]\npoint = 203.W\n",
               "x.profile:2: name \"bad name\" may contain only letters, "
               "digits, '-', '_', '.'");
  expect_error("[profile]\nname = t\nkind = registers\n"
               "[grid_power]\nregister = input 1\ntype = int16\n",
               "x.profile:1: [profile]: source is required for a registers "
               "profile (name the vendor document the register list comes "
               "from)");
  expect_error(RHEAD "[grid_power]\nregister = coil 1\ntype = int16\n",
               "x.profile:6: register table must be holding or input, not "
               "\"coil\"");
  expect_error(RHEAD "[grid_power]\nregister = input 70000\ntype = int16\n",
               "x.profile:6: register address \"70000\" must be 0..65535 "
               "(decimal or 0x hex, 0-based)");
  /* A value must end at or below register 65535 (the device could never
   * be asked for it otherwise). */
  expect_error(RHEAD "[grid_power]\nregister = input 65535\ntype = int32\n",
               "x.profile:6: [grid_power]: a 2-register value at address "
               "65535 runs past 65535");
  expect_error(RHEAD "[grid_power]\nregister = holding 0xFFFD\n"
                     "type = float64\n",
               "x.profile:6: [grid_power]: a 4-register value at address "
               "65533 runs past 65535");
  expect_error(RHEAD "[grid_power]\nregister = input 1\ntype = acc32\n",
               "x.profile:7: type must be int16, uint16, int32, uint32, "
               "int64, uint64, float32 or float64, not \"acc32\"");
  expect_error(RHEAD "[grid_power]\nregister = input 1\ntype = int16\n"
                     "not_implemented = 0x10000\n",
               "x.profile:8: [grid_power]: not_implemented does not fit in 16 "
               "bits");
  expect_error(RHEAD "[grid_power]\nregister = input 1\ntype = int16\n"
                     "word_order = little\n",
               "x.profile:8: [grid_power]: word_order means nothing for a "
               "16-bit type");
  expect_error(RHEAD "[grid_power]\nregister = input 1\ntype = int16\n"
                     "[control]\nbattery = 124\n",
               "x.profile:9: [control]: battery control needs a sunspec "
               "profile");
  expect_error(HEAD "[grid_power]\npoint = 203.W\n[control]\nbattery = 802\n",
               "x.profile:7: battery: only SunSpec model 124 control is "
               "supported, not \"802\"");
  expect_error(HEAD, "x.profile:3: the profile maps no quantity");
  expect_error("", "x.profile:1: missing [profile] section");
}

static void
test_profile_rejects_control_characters_and_long_lines(void **state) {
  (void)state;
  expect_first_error(HEAD "[grid_power]\npoint = 203.W\x01\n",
                     "x.profile:5: control character in line");
  char text[1200];
  memset(text, 0, sizeof text);
  snprintf(text, sizeof text, HEAD "[grid_power]\npoint = 203.W\n#");
  memset(text + strlen(text), 'x', 600);
  expect_error(text, "x.profile:6: line longer than 512 bytes");
  /* NUL bytes in the middle of the text. */
  static const char nul[] = HEAD "[grid_power]\npoint = 203.W\0\n";
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_parse("x.profile", nul, sizeof nul - 1, &p, &e),
                   GL_ECONFIG);
  /* CRLF line ends are fine. */
  static const char crlf[] = "[profile]\r\nname = t\r\nkind = sunspec\r\n"
                             "[grid_power]\r\npoint = 203.W\r\n";
  assert_int_equal(hal_profile_parse("x", crlf, sizeof crlf - 1, &p, &e), 0);
}

static void test_profile_registers_reach_the_last_address(void **state) {
  (void)state;
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(parse(RHEAD "[grid_power]\nregister = input 65535\n"
                               "type = int16\n"
                               "[pv_power]\nregister = input 65534\n"
                               "type = uint32\n"
                               "[pv_energy]\nregister = holding 65532\n"
                               "type = uint64\n",
                         &p, &e),
                   0);
}

static void test_profile_collects_all_errors(void **state) {
  (void)state;
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(
      parse(HEAD "[grid_power]\npoint = 203.Q 204.R\nsign = 0\n", &p, &e),
      GL_ECONFIG);
  assert_int_equal(e.count, 3);
}

static void test_endpoint_parse(void **state) {
  (void)state;
  hal_endpoint ep;
  char err[200], buf[300];
  assert_int_equal(hal_endpoint_parse("tcp:192.168.1.10", &ep, err, 200), 0);
  assert_int_equal(ep.kind, HAL_EP_TCP);
  assert_string_equal(ep.host, "192.168.1.10");
  assert_int_equal(ep.port, 502);
  assert_int_equal(hal_endpoint_parse("tcp:[fe80::1]:1502", &ep, err, 200), 0);
  assert_string_equal(ep.host, "fe80::1");
  assert_int_equal(ep.port, 1502);
  assert_string_equal(hal_endpoint_format(&ep, buf, sizeof buf),
                      "tcp:[fe80::1]:1502");
  assert_int_equal(
      hal_endpoint_parse("rtu:/dev/ttyUSB0:19200:8E1", &ep, err, 200), 0);
  assert_int_equal(ep.kind, HAL_EP_RTU);
  assert_string_equal(ep.device, "/dev/ttyUSB0");
  assert_int_equal(ep.baud, 19200);
  assert_int_equal(ep.parity, 'E');
  assert_string_equal(hal_endpoint_format(&ep, buf, sizeof buf),
                      "rtu:/dev/ttyUSB0:19200:8E1");
  assert_int_equal(hal_endpoint_parse("rtu:/dev/ttyS1", &ep, err, 200), 0);
  assert_int_equal(ep.baud, 9600);
  assert_int_equal(hal_endpoint_parse("udp:x", &ep, err, 200), GL_EPARSE);
  assert_non_null(strstr(err, "must start with tcp: or rtu:"));
  assert_int_equal(hal_endpoint_parse("tcp:host:0", &ep, err, 200), GL_EPARSE);
  assert_int_equal(hal_endpoint_parse("tcp:fe80::1", &ep, err, 200), GL_EPARSE);
  assert_int_equal(hal_endpoint_parse("tcp:", &ep, err, 200), GL_EPARSE);
  assert_int_equal(hal_endpoint_parse("rtu:/dev/x:12", &ep, err, 200),
                   GL_EPARSE);
  assert_int_equal(hal_endpoint_parse("rtu:/dev/x:9600:8X1", &ep, err, 200),
                   GL_EPARSE);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_profile_sunspec_alternatives_and_sign),
      cmocka_unit_test(test_profile_registers),
      cmocka_unit_test(test_profile_shipped_profiles_parse),
      cmocka_unit_test(test_profile_errors_name_file_and_line),
      cmocka_unit_test(test_profile_rejects_control_characters_and_long_lines),
      cmocka_unit_test(test_profile_registers_reach_the_last_address),
      cmocka_unit_test(test_profile_collects_all_errors),
      cmocka_unit_test(test_endpoint_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
