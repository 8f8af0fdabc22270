/* SPDX-License-Identifier: MIT */
/* Unit tests for simulated register images: SunSpec layout, encoding,
 * sentinels, writable points, vendor blocks. */
#include "gridlet/error.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/sim_image.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void test_image_lays_out_a_chain(void **state) {
  (void)state;
  sim_image *img = sim_image_new();
  static const sim_model_spec specs[] = {{1, 65, 0}, {203, 0, 0}, {160, 0, 3}};
  assert_int_equal(sim_image_sunspec(img, 40000, specs, 3), 0);
  uint16_t r[4];
  assert_int_equal(sim_image_read(img, HAL_REG_HOLDING, 40000, 4, r), 0);
  assert_int_equal(r[0], 0x5375);
  assert_int_equal(r[1], 0x6e53);
  assert_int_equal(r[2], 1);
  assert_int_equal(r[3], 65);
  assert_int_equal(sim_image_model_addr(img, 1), 40002 + 67);
  assert_int_equal(sim_image_model_id(img, 2), 160);
  /* 160 with three modules: 8 + 3 * 20. */
  uint16_t a = sim_image_model_addr(img, 2);
  assert_int_equal(sim_image_read(img, HAL_REG_HOLDING, a, 2, r), 0);
  assert_int_equal(r[1], 68);
  assert_int_equal(sim_image_read(img, HAL_REG_HOLDING, a + 70, 2, r), 0);
  assert_int_equal(r[0], 0xFFFF);
  assert_int_equal(r[1], 0);
  /* Beyond the end: an exception, like a real device. */
  assert_int_equal(sim_image_read(img, HAL_REG_HOLDING, a + 71, 2, r),
                   HAL_EXC_ILLEGAL_ADDRESS);
  assert_int_equal(sim_image_read(img, HAL_REG_INPUT, 40000, 1, r),
                   HAL_EXC_ILLEGAL_ADDRESS);
  /* A length-65 model 1 still has DA (the last register) but no Pad. */
  assert_int_equal(sim_image_set_int(img, 0, -1, "DA", 5), 0);
  sim_point_value v;
  assert_int_equal(sim_image_point(img, 0, -1, "Pad", &v), 0);
  assert_false(v.implemented);
  static const sim_model_spec short1[] = {{1, 60, 0}};
  sim_image *s2 = sim_image_new();
  assert_int_equal(sim_image_sunspec(s2, 40000, short1, 1), 0);
  assert_int_equal(sim_image_set_string(s2, 0, -1, "SN", "x"), GL_ENOTSUP);
  sim_image_free(s2);
  sim_image_free(img);
}

static void test_image_encodes_and_records(void **state) {
  (void)state;
  sim_image *img = sim_image_new();
  static const sim_model_spec specs[] = {{1, 0, 0}, {213, 0, 0}, {701, 0, 0}};
  assert_int_equal(sim_image_sunspec(img, 0, specs, 3), 0);
  /* Every point starts not implemented. */
  sim_point_value v;
  assert_int_equal(sim_image_point(img, 1, -1, "W", &v), 0);
  assert_false(v.implemented);
  assert_int_equal(sim_image_set_float(img, 1, -1, "W", -1234.5), 0);
  uint16_t a =
      (uint16_t)(sim_image_model_addr(img, 1) +
                 hal_ss_point_find(hal_ss_model_find(213), "W")->offset);
  uint16_t r[4];
  sim_image_read(img, HAL_REG_HOLDING, a, 2, r);
  assert_int_equal(r[0], 0xC49A);
  assert_int_equal(r[1], 0x5000);
  assert_int_equal(sim_image_point(img, 1, -1, "W", &v), 0);
  assert_true(v.implemented && v.is_float && v.f == -1234.5);
  assert_int_equal(sim_image_set_int(img, 1, -1, "W", 1), GL_EINVAL);
  /* 64-bit counter, big-endian. */
  assert_int_equal(
      sim_image_set_int(img, 2, -1, "TotWhInj", INT64_C(0x0102030405060708)),
      0);
  a = (uint16_t)(sim_image_model_addr(img, 2) +
                 hal_ss_point_find(hal_ss_model_find(701), "TotWhInj")->offset);
  sim_image_read(img, HAL_REG_HOLDING, a, 4, r);
  assert_int_equal(r[0], 0x0102);
  assert_int_equal(r[3], 0x0708);
  /* Range checks. */
  assert_int_equal(sim_image_set_int(img, 2, -1, "W", 40000), GL_ERANGE);
  assert_int_equal(sim_image_set_int(img, 2, -1, "W", -32768), 0);
  assert_int_equal(sim_image_point(img, 2, -1, "W", &v), 0);
  assert_false(v.implemented); /* that is the int16 sentinel */
  assert_int_equal(sim_image_set_int(img, 2, -1, "Nope", 1), GL_ENOENT);
  /* set_scaled honours the scale factor register. */
  sim_image_set_int(img, 2, -1, "W_SF", -1);
  assert_int_equal(sim_image_set_scaled(img, 2, -1, "W", 123.46), 0);
  sim_image_point(img, 2, -1, "W", &v);
  assert_int_equal(v.i, 1235);
  sim_image_set_string(img, 0, -1, "Mn", "gridlet");
  sim_image_point(img, 0, -1, "Mn", &v);
  assert_string_equal(v.s, "gridlet");
  sim_image_free(img);
}

static void test_image_writes_only_writable_registers(void **state) {
  (void)state;
  sim_image *img = sim_image_new();
  static const sim_model_spec specs[] = {{1, 0, 0}, {124, 0, 0}};
  assert_int_equal(sim_image_sunspec(img, 40000, specs, 2), 0);
  uint16_t a = sim_image_model_addr(img, 1);
  uint16_t v = 1;
  /* StorCtl_Mod (offset 5) is RW, ChaState (8) is not, ID never. */
  assert_int_equal(sim_image_write(img, (uint16_t)(a + 5), 1, &v), 0);
  assert_int_equal(sim_image_write(img, (uint16_t)(a + 8), 1, &v),
                   HAL_EXC_ILLEGAL_ADDRESS);
  assert_int_equal(sim_image_write(img, a, 1, &v), HAL_EXC_ILLEGAL_ADDRESS);
  uint16_t two[2] = {5, 6};
  assert_int_equal(sim_image_write(img, (uint16_t)(a + 12), 2, two), 0);
  /* Vendor blocks. */
  assert_int_equal(sim_image_block(img, HAL_REG_INPUT, 0, 100, false), 0);
  assert_int_equal(sim_image_block(img, HAL_REG_INPUT, 50, 10, false),
                   GL_EEXIST);
  uint16_t x[2] = {7, 8};
  assert_int_equal(sim_image_poke(img, HAL_REG_INPUT, 98, x, 2), 0);
  assert_int_equal(sim_image_poke(img, HAL_REG_INPUT, 99, x, 2), GL_ERANGE);
  sim_image_free(img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_image_lays_out_a_chain),
      cmocka_unit_test(test_image_encodes_and_records),
      cmocka_unit_test(test_image_writes_only_writable_registers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
