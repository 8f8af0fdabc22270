/* SPDX-License-Identifier: MIT */
/* Unit tests for the SunSpec tables, point decoding, scaling and discovery
 * on in-memory register images. */
#include "gridlet/error.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/log.h"
#include "testutil.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* ---- Tables ----------------------------------------------------------------
 */

static void test_sunspec_tables_have_every_supported_model(void **state) {
  (void)state;
  static const uint16_t ids[] = {1,   101, 102, 103, 111, 112, 113, 124, 160,
                                 201, 202, 203, 204, 211, 212, 213, 701, 802};
  assert_int_equal(hal_ss_model_count(), sizeof ids / sizeof ids[0]);
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    const hal_ss_model *m = hal_ss_model_find(ids[i]);
    assert_non_null(m);
    assert_int_equal(m->id, ids[i]);
    assert_ptr_equal(hal_ss_model_at(i), m);
  }
  assert_null(hal_ss_model_find(0));
  assert_null(hal_ss_model_find(999));
  assert_null(hal_ss_model_find(65535));
}

/* Lengths from the SunSpec specification (the L register's value). */
static void test_sunspec_model_lengths_match_the_specification(void **state) {
  (void)state;
  static const struct {
    uint16_t id, len;
  } want[] = {{1, 66},    {101, 50},  {102, 50},  {103, 50},  {111, 60},
              {112, 60},  {113, 60},  {124, 24},  {160, 8},   {201, 105},
              {202, 105}, {203, 105}, {204, 105}, {211, 124}, {212, 124},
              {213, 124}, {701, 153}, {802, 62}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_int_equal(hal_ss_model_find(want[i].id)->length, want[i].len);
  const hal_ss_model *m160 = hal_ss_model_find(160);
  assert_int_equal(m160->group_length, 20);
  assert_string_equal(m160->group_name, "module");
}

/* Every point follows the previous one without gaps; scale factor indices
 * name sunssf points; a value and its scale factor fit in one request. */
static void check_points(const hal_ss_model *m, const hal_ss_point *pts,
                         uint16_t n, uint16_t total) {
  uint16_t off = 0;
  for (uint16_t i = 0; i < n; i++) {
    const hal_ss_point *p = &pts[i];
    assert_int_equal(p->offset, off);
    off = (uint16_t)(off + p->size);
    if (p->flags & HAL_SS_SF_POINT) {
      assert_true(p->sf_index >= 0 && p->sf_index < m->n_points);
      const hal_ss_point *sp = &m->points[p->sf_index];
      assert_int_equal(sp->type, HAL_SS_SUNSSF);
      if (pts == m->points) {
        int lo = p->offset < sp->offset ? p->offset : sp->offset;
        int hi = p->offset + p->size > sp->offset + 1 ? p->offset + p->size
                                                      : sp->offset + 1;
        assert_true(hi - lo <= 125);
      }
    }
  }
  assert_int_equal(off, total);
}

static void
test_sunspec_points_are_contiguous_and_scale_factors_resolve(void **state) {
  (void)state;
  for (size_t i = 0; i < hal_ss_model_count(); i++) {
    const hal_ss_model *m = hal_ss_model_at(i);
    assert_string_equal(m->points[0].name, "ID");
    assert_string_equal(m->points[1].name, "L");
    check_points(m, m->points, m->n_points, (uint16_t)(m->length + 2));
    if (m->group_points)
      check_points(m, m->group_points, m->n_group_points, m->group_length);
  }
}

static void test_sunspec_derived_models_copy_their_sibling(void **state) {
  (void)state;
  const hal_ss_model *a = hal_ss_model_find(111), *b = hal_ss_model_find(112);
  assert_int_equal(a->n_points, b->n_points);
  for (uint16_t i = 0; i < a->n_points; i++) {
    assert_string_equal(a->points[i].name, b->points[i].name);
    assert_int_equal(a->points[i].type, b->points[i].type);
    assert_int_equal(a->points[i].offset, b->points[i].offset);
  }
  assert_int_equal(hal_ss_model_find(212)->length,
                   hal_ss_model_find(211)->length);
}

static void test_sunspec_point_lookup(void **state) {
  (void)state;
  const hal_ss_model *m = hal_ss_model_find(203);
  const hal_ss_point *p = hal_ss_point_find(m, "TotWhImp");
  assert_non_null(p);
  assert_int_equal(p->type, HAL_SS_ACC32);
  assert_int_equal(p->size, 2);
  assert_string_equal(m->points[p->sf_index].name, "TotWh_SF");
  assert_null(hal_ss_point_find(m, "totwhimp"));
  assert_null(hal_ss_group_point_find(m, "DCW"));
  assert_non_null(hal_ss_group_point_find(hal_ss_model_find(160), "DCWH"));
  assert_int_equal(hal_ss_type_parse("acc64"), HAL_SS_ACC64);
  assert_int_equal(hal_ss_type_parse("nope"), -1);
  assert_string_equal(hal_ss_type_name(HAL_SS_FLOAT32), "float32");
  assert_string_equal(hal_ss_type_name(99), "?");
}

/* ---- Decoding ------------------------------------------------------------ */

/* A model-203 block with W = -1234 (W_SF -1) and TotWhImp = 0x12345678. */
static void meter_regs(uint16_t *r, size_t n) {
  memset(r, 0, n * sizeof *r);
  const hal_ss_model *m = hal_ss_model_find(203);
  r[0] = 203;
  r[1] = m->length;
  r[hal_ss_point_find(m, "W")->offset] = (uint16_t)(int16_t)-1234;
  r[hal_ss_point_find(m, "W_SF")->offset] = (uint16_t)(int16_t)-1;
  const hal_ss_point *imp = hal_ss_point_find(m, "TotWhImp");
  r[imp->offset] = 0x1234;
  r[imp->offset + 1] = 0x5678;
  r[hal_ss_point_find(m, "TotWh_SF")->offset] = 2;
}

static void test_sunspec_decode_signed_value_with_scale_factor(void **state) {
  (void)state;
  uint16_t r[107];
  meter_regs(r, 107);
  const hal_ss_model *m = hal_ss_model_find(203);
  hal_ss_value v;
  assert_int_equal(
      hal_ss_decode(m, hal_ss_point_find(m, "W"), r, 107, NULL, 0, &v), 0);
  assert_true(v.implemented);
  assert_int_equal(v.i, -1234);
  assert_true(v.has_sf);
  assert_int_equal(v.sf_status, 0);
  assert_int_equal(v.sf, -1);
  int64_t w;
  assert_int_equal(hal_scale_int(v.i, v.sf, HAL_ROUND_NEAREST, &w), 0);
  assert_int_equal(w, -123); /* -123.4 rounds to -123 */
}

static void test_sunspec_decode_acc32_big_endian(void **state) {
  (void)state;
  uint16_t r[107];
  meter_regs(r, 107);
  const hal_ss_model *m = hal_ss_model_find(203);
  hal_ss_value v;
  assert_int_equal(
      hal_ss_decode(m, hal_ss_point_find(m, "TotWhImp"), r, 107, NULL, 0, &v),
      0);
  assert_true(v.implemented);
  assert_int_equal(v.u, 0x12345678u);
  assert_int_equal(v.sf, 2);
}

static void test_sunspec_decode_sentinels_mean_not_implemented(void **state) {
  (void)state;
  uint16_t r[107];
  meter_regs(r, 107);
  const hal_ss_model *m = hal_ss_model_find(203);
  hal_ss_value v;
  r[hal_ss_point_find(m, "W")->offset] = 0x8000;
  hal_ss_decode(m, hal_ss_point_find(m, "W"), r, 107, NULL, 0, &v);
  assert_false(v.implemented);
  /* acc32 0 means "not accumulated". */
  const hal_ss_point *exp = hal_ss_point_find(m, "TotWhExp");
  r[exp->offset] = r[exp->offset + 1] = 0;
  hal_ss_decode(m, exp, r, 107, NULL, 0, &v);
  assert_false(v.implemented);
  /* A not-implemented scale factor. */
  r[hal_ss_point_find(m, "TotWh_SF")->offset] = 0x8000;
  hal_ss_decode(m, hal_ss_point_find(m, "TotWhImp"), r, 107, NULL, 0, &v);
  assert_true(v.implemented);
  assert_int_equal(v.sf_status, GL_ENOTSUP);
  /* A scale factor outside -10..10. */
  r[hal_ss_point_find(m, "TotWh_SF")->offset] = 11;
  hal_ss_decode(m, hal_ss_point_find(m, "TotWhImp"), r, 107, NULL, 0, &v);
  assert_int_equal(v.sf_status, GL_ERANGE);
  /* uint16 0xFFFF, enum16 0xFFFF. */
  const hal_ss_model *inv = hal_ss_model_find(103);
  uint16_t ir[52];
  memset(ir, 0xFF, sizeof ir);
  hal_ss_decode(inv, hal_ss_point_find(inv, "A"), ir, 52, NULL, 0, &v);
  assert_false(v.implemented);
  hal_ss_decode(inv, hal_ss_point_find(inv, "St"), ir, 52, NULL, 0, &v);
  assert_false(v.implemented);
  hal_ss_decode(inv, hal_ss_point_find(inv, "Evt1"), ir, 52, NULL, 0, &v);
  assert_false(v.implemented);
}

static void test_sunspec_decode_64_bit_and_float(void **state) {
  (void)state;
  const hal_ss_model *m = hal_ss_model_find(701);
  uint16_t r[155];
  memset(r, 0, sizeof r);
  const hal_ss_point *inj = hal_ss_point_find(m, "TotWhInj");
  r[inj->offset] = 0x0001;
  r[inj->offset + 1] = 0x0002;
  r[inj->offset + 2] = 0x0003;
  r[inj->offset + 3] = 0x0004;
  hal_ss_value v;
  hal_ss_decode(m, inj, r, 155, NULL, 0, &v);
  assert_true(v.implemented);
  assert_true(v.u == UINT64_C(0x0001000200030004));
  for (int i = 0; i < 4; i++)
    r[inj->offset + i] = 0xFFFF;
  hal_ss_decode(m, inj, r, 155, NULL, 0, &v);
  assert_false(v.implemented); /* uint64 sentinel */

  const hal_ss_model *f = hal_ss_model_find(213);
  uint16_t fr[126];
  memset(fr, 0, sizeof fr);
  const hal_ss_point *w = hal_ss_point_find(f, "W");
  fr[w->offset] = 0xC49A; /* -1234.5f = 0xC49A5000 */
  fr[w->offset + 1] = 0x5000;
  hal_ss_decode(f, w, fr, 126, NULL, 0, &v);
  assert_true(v.implemented);
  assert_true(v.f == -1234.5);
  assert_false(v.has_sf);
  fr[w->offset] = 0x7FC0; /* NaN */
  fr[w->offset + 1] = 0;
  hal_ss_decode(f, w, fr, 126, NULL, 0, &v);
  assert_false(v.implemented);
}

static void
test_sunspec_points_beyond_reported_length_are_absent(void **state) {
  (void)state;
  const hal_ss_model *m = hal_ss_model_find(1);
  uint16_t r[67];
  memset(r, 0, sizeof r);
  r[0] = 1;
  r[1] = 65; /* no Pad */
  r[66] = 7; /* DA */
  hal_ss_value v;
  hal_ss_decode(m, hal_ss_point_find(m, "DA"), r, 67, NULL, 0, &v);
  assert_true(v.implemented);
  assert_int_equal(v.u, 7);
  hal_ss_decode(m, hal_ss_point_find(m, "Pad"), r, 67, NULL, 0, &v);
  assert_false(v.implemented);
  /* A point of another model is refused. */
  assert_int_equal(hal_ss_decode(m,
                                 hal_ss_point_find(hal_ss_model_find(203), "W"),
                                 r, 67, NULL, 0, &v),
                   GL_EINVAL);
}

static void test_sunspec_decode_string_trims_and_sanitises(void **state) {
  (void)state;
  const hal_ss_model *m = hal_ss_model_find(1);
  const hal_ss_point *mn = hal_ss_point_find(m, "Mn");
  uint16_t r[68];
  memset(r, 0, sizeof r);
  r[2] = ('S' << 8) | 'M';
  r[3] = ('A' << 8) | 0x01;
  r[4] = (' ' << 8) | ' ';
  char buf[40];
  assert_int_equal(hal_ss_decode_string(mn, r, 68, buf, sizeof buf), 4);
  assert_string_equal(buf, "SMA?");
  char small[3];
  hal_ss_decode_string(mn, r, 68, small, sizeof small);
  assert_string_equal(small, "SM");
  assert_int_equal(hal_ss_decode_string(mn, r, 10, buf, sizeof buf), 0);
}

static void
test_sunspec_group_points_use_the_fixed_block_scale_factor(void **state) {
  (void)state;
  const hal_ss_model *m = hal_ss_model_find(160);
  uint16_t r[10 + 40];
  memset(r, 0, sizeof r);
  r[0] = 160;
  r[1] = 48;
  r[hal_ss_point_find(m, "DCW_SF")->offset] = (uint16_t)(int16_t)-2;
  const hal_ss_point *dcw = hal_ss_group_point_find(m, "DCW");
  uint16_t *mod2 = r + 10 + 20;
  mod2[dcw->offset] = 12345;
  hal_ss_value v;
  assert_int_equal(hal_ss_decode(m, dcw, r, 50, mod2, 20, &v), 0);
  assert_true(v.implemented);
  assert_int_equal(v.u, 12345);
  assert_int_equal(v.sf, -2);
}

/* ---- Scaling ---------------------------------------------------------------
 */

static void test_scale_rounding_modes(void **state) {
  (void)state;
  int64_t o;
  assert_int_equal(hal_scale_int(12345, -2, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 123);
  assert_int_equal(hal_scale_int(12350, -2, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 124);
  assert_int_equal(hal_scale_int(-12350, -2, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, -124);
  assert_int_equal(hal_scale_int(12399, -2, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, 123);
  assert_int_equal(hal_scale_int(-12301, -2, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, -124);
  assert_int_equal(hal_scale_int(42, 3, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, 42000);
  assert_int_equal(hal_scale_int(INT64_MAX, 1, HAL_ROUND_FLOOR, &o), GL_ERANGE);
  assert_int_equal(hal_scale_int(0, 25, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, 0);
  assert_int_equal(hal_scale_int(1, 19, HAL_ROUND_FLOOR, &o), GL_ERANGE);
  assert_int_equal(hal_scale_int(-5, -20, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, -1);
  assert_int_equal(hal_scale_int(INT64_MAX, -19, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 1);
  assert_int_equal(hal_scale_int(1, 31, HAL_ROUND_FLOOR, &o), GL_ERANGE);
}

static void test_scale_unsigned_above_int64_max(void **state) {
  (void)state;
  int64_t o;
  assert_int_equal(hal_scale_uint(UINT64_MAX - 1, -1, HAL_ROUND_FLOOR, &o), 0);
  assert_true(o == (int64_t)((UINT64_MAX - 1) / 10));
  assert_int_equal(hal_scale_uint(UINT64_MAX, 0, HAL_ROUND_FLOOR, &o),
                   GL_ERANGE);
  assert_int_equal(hal_scale_uint(UINT64_MAX, -19, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 2);
  assert_int_equal(hal_scale_uint(1000, -3, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 1);
}

static void test_scale_double(void **state) {
  (void)state;
  int64_t o;
  assert_int_equal(hal_scale_double(1.25, 1, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, 13); /* 12.5: half away from zero */
  assert_int_equal(hal_scale_double(-2.5, 0, HAL_ROUND_NEAREST, &o), 0);
  assert_int_equal(o, -3);
  assert_int_equal(hal_scale_double(2.99, 0, HAL_ROUND_FLOOR, &o), 0);
  assert_int_equal(o, 2);
  assert_int_equal(hal_scale_double(NAN, 0, HAL_ROUND_FLOOR, &o), GL_ENOTSUP);
  assert_int_equal(hal_scale_double(INFINITY, 0, HAL_ROUND_FLOOR, &o),
                   GL_ERANGE);
  assert_int_equal(hal_scale_double(1e19, 0, HAL_ROUND_FLOOR, &o), GL_ERANGE);
}

/* ---- Discovery on images
 * ------------------------------------------------------ */

/* Build a chain at `base` in img (indexed from `start`): models given as
 * id/length pairs. Returns the number of registers used. */
static size_t chain(uint16_t *img, size_t cap, size_t at,
                    const uint16_t *models, size_t n) {
  size_t a = at;
  img[a++] = HAL_SS_MARKER_HI;
  img[a++] = HAL_SS_MARKER_LO;
  for (size_t i = 0; i < n; i++) {
    assert_true(a + 2 + models[2 * i + 1] <= cap);
    img[a] = models[2 * i];
    img[a + 1] = models[2 * i + 1];
    a += 2u + models[2 * i + 1];
  }
  img[a++] = HAL_SS_END_ID;
  img[a++] = 0;
  return a;
}

static uint16_t big[60000];

static void test_discovery_finds_marker_and_sub_devices(void **state) {
  (void)state;
  memset(big, 0, sizeof big);
  static const uint16_t models[] = {1, 65, 103, 50, 160, 48, 1, 66, 203, 105};
  chain(big, 2000, 0, models, 5);
  hal_ss_map map;
  assert_int_equal(hal_ss_map_parse(big, 2000, 40000, &map), 0);
  assert_int_equal(map.base, 40000);
  assert_int_equal(map.n, 5);
  assert_int_equal(map.n_devices, 2);
  assert_int_equal(map.models[0].length, 65);
  assert_int_equal(map.models[1].addr, 40002 + 67);
  assert_int_equal(map.models[3].device, 1);
  assert_non_null(map.models[4].def);
  assert_ptr_equal(hal_ss_map_find(&map, 203, -1, 0), &map.models[4]);
  assert_ptr_equal(hal_ss_map_find(&map, 1, 1, 0), &map.models[3]);
  assert_ptr_equal(hal_ss_map_find(&map, 1, -1, 1), &map.models[3]);
  assert_null(hal_ss_map_find(&map, 203, 0, 0));
  assert_null(hal_ss_map_find(&map, 802, -1, 0));
}

static void test_discovery_tries_0_and_50000(void **state) {
  (void)state;
  memset(big, 0, sizeof big);
  static const uint16_t models[] = {1, 66};
  chain(big, 200, 0, models, 1);
  hal_ss_map map;
  assert_int_equal(hal_ss_map_parse(big, 200, 0, &map), 0);
  assert_int_equal(map.base, 0);
  assert_int_equal(hal_ss_map_parse(big, 200, 50000, &map), 0);
  assert_int_equal(map.base, 50000);
  /* Not at a base address: not found. */
  assert_int_equal(hal_ss_map_parse(big, 200, 100, &map), GL_ENOENT);
  big[0] = 0;
  assert_int_equal(hal_ss_map_parse(big, 200, 40000, &map), GL_ENOENT);
}

static void test_discovery_rejects_malformed_chains(void **state) {
  (void)state;
  memset(big, 0, sizeof big);
  hal_ss_map map;
  /* Ends without an end marker: the image stops. */
  static const uint16_t models[] = {1, 66, 203, 105};
  size_t used = chain(big, 400, 0, models, 2);
  assert_int_equal(hal_ss_map_parse(big, used - 2, 40000, &map), GL_EPROTO);
  /* A length that runs past register 65535. */
  big[2] = 1;
  big[3] = 30000;
  assert_int_equal(hal_ss_map_parse(big, 400, 40000, &map), GL_EPROTO);
  /* Model id 0 ends the chain with a warning. */
  chain(big, 400, 0, models, 2);
  big[2 + 68] = 0;
  gt_log_capture_begin();
  assert_int_equal(hal_ss_map_parse(big, 400, 40000, &map), 0);
  assert_int_equal(map.n, 1);
  assert_true(gt_log_contains("model id 0"));
  gt_log_capture_end();
}

static void test_discovery_truncates_endless_chains(void **state) {
  (void)state;
  memset(big, 0, sizeof big);
  uint16_t models[2 * 60];
  for (int i = 0; i < 60; i++) {
    models[2 * i] = 64000;
    models[2 * i + 1] = 0;
  }
  chain(big, 1000, 0, models, 60);
  hal_ss_map map;
  gt_log_capture_begin();
  assert_int_equal(hal_ss_map_parse(big, 1000, 40000, &map), 0);
  gt_log_capture_end();
  assert_true(map.truncated);
  assert_int_equal(map.n, HAL_SS_MAX_MODELS);
  assert_null(map.models[0].def); /* vendor model: unknown but listed */
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sunspec_tables_have_every_supported_model),
      cmocka_unit_test(test_sunspec_model_lengths_match_the_specification),
      cmocka_unit_test(
          test_sunspec_points_are_contiguous_and_scale_factors_resolve),
      cmocka_unit_test(test_sunspec_derived_models_copy_their_sibling),
      cmocka_unit_test(test_sunspec_point_lookup),
      cmocka_unit_test(test_sunspec_decode_signed_value_with_scale_factor),
      cmocka_unit_test(test_sunspec_decode_acc32_big_endian),
      cmocka_unit_test(test_sunspec_decode_sentinels_mean_not_implemented),
      cmocka_unit_test(test_sunspec_decode_64_bit_and_float),
      cmocka_unit_test(test_sunspec_points_beyond_reported_length_are_absent),
      cmocka_unit_test(test_sunspec_decode_string_trims_and_sanitises),
      cmocka_unit_test(
          test_sunspec_group_points_use_the_fixed_block_scale_factor),
      cmocka_unit_test(test_scale_rounding_modes),
      cmocka_unit_test(test_scale_unsigned_above_int64_max),
      cmocka_unit_test(test_scale_double),
      cmocka_unit_test(test_discovery_finds_marker_and_sub_devices),
      cmocka_unit_test(test_discovery_tries_0_and_50000),
      cmocka_unit_test(test_discovery_rejects_malformed_chains),
      cmocka_unit_test(test_discovery_truncates_endless_chains),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
