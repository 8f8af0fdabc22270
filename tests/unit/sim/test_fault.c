/* SPDX-License-Identifier: MIT */
/* Unit tests for the simulator's fault language and its Modbus request
 * codec (both read outside input: the control port and the network). */
#include "gridlet/error.h"
#include "gridlet/sim_devices.h"
#include "sim_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_fault_parse_valid(void **state) {
  (void)state;
  sim_fault f;
  char err[160];
  assert_int_equal(sim_fault_parse("drop household=2 device=meter count=3", &f,
                                   err, sizeof err),
                   0);
  assert_int_equal(f.kind, SIM_FAULT_DROP);
  assert_int_equal(f.household, 2);
  assert_int_equal(f.device, SIM_DEV_METER);
  assert_int_equal(f.count, 3);
  assert_int_equal(sim_fault_parse("delay ms=250", &f, err, sizeof err), 0);
  assert_int_equal(f.household, -1);
  assert_int_equal(f.device, -1);
  assert_int_equal(f.ms, 250);
  assert_int_equal(
      sim_fault_parse("exception code=6 count=1", &f, err, sizeof err), 0);
  assert_int_equal(f.code, 6);
  assert_int_equal(sim_fault_parse("sf sf=-1 energy_sf=2", &f, err, sizeof err),
                   0);
  assert_int_equal(f.sf, -1);
  assert_int_equal(f.energy_sf, 2);
  assert_int_equal(
      sim_fault_parse("rollover margin=10 household=all", &f, err, sizeof err),
      0);
  assert_int_equal(f.margin, 10);
}

static void test_fault_parse_errors(void **state) {
  (void)state;
  sim_fault f;
  char err[160];
  assert_int_equal(sim_fault_parse("", &f, err, sizeof err), GL_EPARSE);
  assert_int_equal(sim_fault_parse("explode", &f, err, sizeof err), GL_EPARSE);
  assert_non_null(strstr(err, "unknown fault \"explode\""));
  assert_int_equal(sim_fault_parse("drop count", &f, err, sizeof err),
                   GL_EPARSE);
  assert_int_equal(sim_fault_parse("drop device=toaster", &f, err, sizeof err),
                   GL_EPARSE);
  assert_int_equal(sim_fault_parse("drop household=99", &f, err, sizeof err),
                   GL_EPARSE);
  assert_int_equal(sim_fault_parse("sf energy_sf=1", &f, err, sizeof err),
                   GL_EPARSE);
  assert_int_equal(sim_fault_parse("delay", &f, err, sizeof err), GL_EPARSE);
  assert_int_equal(sim_fault_parse("drop x=1", &f, err, sizeof err), GL_EPARSE);
}

static void test_pdu_parse_and_reply(void **state) {
  (void)state;
  sim_mb_req r;
  static const uint8_t rd[] = {0x03, 0x9C, 0x40, 0x00, 0x02};
  assert_int_equal(sim__pdu_parse(rd, sizeof rd, &r), 0);
  assert_int_equal(r.addr, 40000);
  assert_int_equal(r.n, 2);
  r.regs[0] = 0x5375;
  r.regs[1] = 0x6e53;
  uint8_t out[260];
  size_t n = sim__pdu_reply(&r, 0, out);
  assert_int_equal(n, 6);
  assert_int_equal(out[1], 4);
  assert_int_equal(out[2], 0x53);
  assert_int_equal(out[5], 0x53);
  static const uint8_t too_many[] = {0x04, 0, 0, 0, 126};
  assert_int_equal(sim__pdu_parse(too_many, 5, &r), 3);
  static const uint8_t fc7[] = {0x07};
  assert_int_equal(sim__pdu_parse(fc7, 1, &r), 1);
  n = sim__pdu_reply(&r, 1, out);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 0x87);
  static const uint8_t wr[] = {0x10, 0, 10, 0, 2, 4, 0, 1, 0, 2};
  assert_int_equal(sim__pdu_parse(wr, sizeof wr, &r), 0);
  assert_int_equal(r.regs[1], 2);
  static const uint8_t badbc[] = {0x10, 0, 10, 0, 2, 3, 0, 1, 0};
  assert_int_equal(sim__pdu_parse(badbc, sizeof badbc, &r), 3);
  /* CRC of "01 03 00 00 00 01" is 0x0A84 (84 0A on the wire). */
  static const uint8_t frame[] = {1, 3, 0, 0, 0, 1};
  assert_int_equal(sim__crc16(frame, 6), 0x0A84);
  uint8_t buf[] = {1, 0x10, 0, 0, 0, 1, 2};
  assert_int_equal(sim__rtu_request_len(buf, 1), 0);
  assert_int_equal(sim__rtu_request_len(buf, 6), 0);
  assert_int_equal(sim__rtu_request_len(buf, 7), 11);
  buf[1] = 0x2B;
  assert_int_equal(sim__rtu_request_len(buf, 7), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_parse_valid),
      cmocka_unit_test(test_fault_parse_errors),
      cmocka_unit_test(test_pdu_parse_and_reply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
