/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ledger entry formats: one worked byte-level example, round
 * trips of every type, strict decoding (every truncation, trailing bytes,
 * out-of-range values) and the within-entry conservation checks.
 */
#include "gridlet/error.h"
#include "gridlet/ledger_entry.h"
#include "ledger_testhelp.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_entry_order_bytes_match_the_documented_layout(void **state) {
  (void)state;
  lg_entry e = {.type = LG_ENTRY_ORDER};
  lg_order *o = &e.u.order;
  o->interval_start = 0x0102030405060708;
  snprintf(o->meter_id, sizeof o->meter_id, "m1");
  o->seq = 9;
  o->side = LG_SIDE_SELL;
  o->quantity_wh = 1500;
  o->limit_price = 120000;
  memset(o->msg_digest, 0xee, sizeof o->msg_digest);
  uint8_t *b;
  size_t n;
  assert_int_equal(lg_entry_encode(&e, &b, &n), 0);
  static const uint8_t want[] = {
      0x01, 0x01,                                     /* tag, version */
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* interval_start */
      0x02, 'm',  '1',                                /* meter id */
      0,    0,    0,    0,    0,    0,    0,    9,    /* seq */
      0x02,                                           /* side: sell */
      0,    0,    0,    0,    0,    0,    0x05, 0xdc, /* 1500 Wh */
      0,    0,    0,    0,    0,    0x01, 0xd4, 0xc0, /* 120000 */
  };
  assert_int_equal(n, sizeof want + 32);
  assert_memory_equal(b, want, sizeof want);
  free(b);
}

/* One valid entry of each type. Clearing and settlement arrays are
 * static, so these entries are never passed to lg_entry_clear. */
static lg_trade trades[2] = {{"a1", "b2", 300, 210000},
                             {"c3", "b2", 200, 210000}};

static void sample(int type, lg_entry *e) {
  memset(e, 0, sizeof *e);
  switch (type) {
  case LG_ENTRY_ORDER:
    th_order(3, e);
    break;
  case LG_ENTRY_READING:
    e->type = LG_ENTRY_READING;
    e->u.reading.interval_start = 1767225600000000000;
    snprintf(e->u.reading.meter_id, 64, "meter-7.a_b");
    e->u.reading.seq = 77;
    e->u.reading.import_wh = 1234;
    e->u.reading.export_wh = 0;
    e->u.reading.flags = 0x5;
    memset(e->u.reading.msg_digest, 3, 32);
    break;
  case LG_ENTRY_CLEARING:
    e->type = LG_ENTRY_CLEARING;
    e->u.clearing.interval_start = 1767225600000000000;
    e->u.clearing.interval_len_s = 900;
    e->u.clearing.mode = LG_MODE_EXANTE;
    e->u.clearing.rule = LG_RULE_MARGINAL;
    e->u.clearing.price = 210000;
    e->u.clearing.volume_wh = 500;
    e->u.clearing.n_trades = 2;
    e->u.clearing.trades = trades;
    break;
  case LG_ENTRY_SETTLEMENT:
    th_settlement(1767225600000000000, 5, 1, e);
    break;
  case LG_ENTRY_PARAM:
    e->type = LG_ENTRY_PARAM;
    e->u.param.effective_from = 1767225600000000000;
    snprintf(e->u.param.key, sizeof e->u.param.key, "market.price_rule");
    snprintf(e->u.param.value, sizeof e->u.param.value,
             "mcafee (k=0.5) \xc3\xa9");
    break;
  case LG_ENTRY_ENROLMENT:
    e->type = LG_ENTRY_ENROLMENT;
    e->u.enrolment.time = 1767225600000000000;
    e->u.enrolment.action = LG_REVOKE;
    snprintf(e->u.enrolment.meter_id, 64, "m0042");
    memset(e->u.enrolment.pubkey, 0x42, 32);
    memset(e->u.enrolment.cert_digest, 0x24, 32);
    break;
  }
}

static void release(lg_entry *e) {
  if (e->type == LG_ENTRY_SETTLEMENT)
    th_settlement_free(e);
}

static void test_entry_every_type_round_trips_byte_for_byte(void **state) {
  (void)state;
  for (int type = 1; type <= 6; type++) {
    lg_entry e, d;
    sample(type, &e);
    assert_int_equal(lg_entry_check(&e, NULL), 0);
    uint8_t *b, *b2;
    size_t n, n2;
    assert_int_equal(lg_entry_encode(&e, &b, &n), 0);
    assert_int_equal(b[0], type);
    assert_int_equal(b[1], LG_ENTRY_VERSION);
    assert_int_equal(lg_entry_decode(b, n, &d, NULL), 0);
    assert_int_equal(d.type, type);
    assert_int_equal(lg_entry_encode(&d, &b2, &n2), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(b, b2, n);
    if (type == LG_ENTRY_SETTLEMENT) {
      assert_int_equal(d.u.settlement.n_rows, 5);
      assert_string_equal(d.u.settlement.rows[4].meter_id, "h004");
    }
    if (type == LG_ENTRY_CLEARING)
      assert_string_equal(d.u.clearing.trades[1].buyer, "c3");
    lg_entry_clear(&d);
    free(b);
    free(b2);
    release(&e);
  }
}

static void
test_entry_decode_rejects_every_truncation_and_trailing_byte(void **state) {
  (void)state;
  for (int type = 1; type <= 6; type++) {
    lg_entry e, d;
    sample(type, &e);
    uint8_t *b;
    size_t n;
    assert_int_equal(lg_entry_encode(&e, &b, &n), 0);
    for (size_t cut = 0; cut < n; cut++)
      assert_int_not_equal(lg_entry_decode(b, cut, &d, NULL), 0);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    const char *why = NULL;
    assert_int_equal(lg_entry_decode(longer, n + 1, &d, &why), GL_EPARSE);
    assert_string_equal(why, "trailing bytes after the entry");
    /* Unknown version and unknown type. */
    longer[1] = 2;
    assert_int_equal(lg_entry_decode(longer, n, &d, NULL), GL_ENOTSUP);
    longer[1] = 1;
    longer[0] = 0x07;
    assert_int_equal(lg_entry_decode(longer, n, &d, NULL), GL_ENOTSUP);
    free(longer);
    free(b);
    release(&e);
  }
}

static void expect_refused(lg_entry *e) {
  uint8_t *b = NULL;
  size_t n;
  gt_log_capture_begin();
  assert_int_equal(lg_entry_encode(e, &b, &n), GL_EINVAL);
  gt_log_capture_end();
  assert_null(b);
}

static void test_entry_values_out_of_range_are_refused(void **state) {
  (void)state;
  lg_entry e;
  /* Meter ids: upper case, a leading dash, empty, reserved, too long. */
  static const char *const bad_ids[] = {"M1",         "-m", "",
                                        "aggregator", "ca", "a b"};
  for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
    sample(LG_ENTRY_ORDER, &e);
    snprintf(e.u.order.meter_id, 64, "%s", bad_ids[i]);
    expect_refused(&e);
  }
  assert_false(lg_meter_id_valid(
      "a123456789012345678901234567890123456789012345678901234567890123", 64));
  assert_true(lg_meter_id_valid(
      "a12345678901234567890123456789012345678901234567890123456789012", 63));
  sample(LG_ENTRY_ORDER, &e);
  e.u.order.side = 3;
  expect_refused(&e);
  sample(LG_ENTRY_ORDER, &e);
  e.u.order.quantity_wh = -1;
  expect_refused(&e);
  sample(LG_ENTRY_READING, &e);
  e.u.reading.export_wh = -5;
  expect_refused(&e);
  sample(LG_ENTRY_CLEARING, &e);
  e.u.clearing.mode = 4;
  expect_refused(&e);
  sample(LG_ENTRY_CLEARING, &e);
  e.u.clearing.price = -2;
  expect_refused(&e);
  lg_trade self[1] = {{"a1", "a1", 5, 1}};
  sample(LG_ENTRY_CLEARING, &e);
  e.u.clearing.trades = self;
  e.u.clearing.n_trades = 1;
  expect_refused(&e);
  /* Settlement rows out of order or duplicated; unknown flags. */
  sample(LG_ENTRY_SETTLEMENT, &e);
  snprintf(e.u.settlement.rows[2].meter_id, 64, "h001");
  expect_refused(&e);
  th_settlement_free(&e);
  sample(LG_ENTRY_SETTLEMENT, &e);
  e.u.settlement.rows[0].flags = 0x80;
  expect_refused(&e);
  th_settlement_free(&e);
  sample(LG_ENTRY_PARAM, &e);
  snprintf(e.u.param.key, sizeof e.u.param.key, "Bad Key");
  expect_refused(&e);
  sample(LG_ENTRY_PARAM, &e);
  snprintf(e.u.param.value, sizeof e.u.param.value, "two\nlines");
  expect_refused(&e);
  sample(LG_ENTRY_ENROLMENT, &e);
  e.u.enrolment.action = 0;
  expect_refused(&e);
}

static void test_entry_decode_bounds_counts_by_the_data_present(void **state) {
  (void)state;
  /* A settlement header claiming 2^32 - 1 rows in a few bytes must fail
   * before allocating anything. */
  uint8_t b[2 + 8 + 4 + 5 * 8 + 4];
  memset(b, 0, sizeof b);
  b[0] = LG_ENTRY_SETTLEMENT;
  b[1] = 1;
  b[13] = 1; /* interval_len_s = 1 */
  memset(b + sizeof b - 4, 0xff, 4);
  lg_entry e;
  const char *why = NULL;
  assert_int_equal(lg_entry_decode(b, sizeof b, &e, &why), GL_EPARSE);
  assert_string_equal(why, "settlement: row count exceeds the data");
}

static void test_entry_check_enforces_conservation(void **state) {
  (void)state;
  lg_entry e;
  const char *why = NULL;
  sample(LG_ENTRY_SETTLEMENT, &e);
  e.u.settlement.rows[0].money += 1;
  assert_int_equal(lg_entry_check(&e, &why), GL_EINVAL);
  assert_string_equal(why, "settlement: money is not conserved");
  th_settlement_free(&e);
  sample(LG_ENTRY_SETTLEMENT, &e);
  e.u.settlement.rows[0].local_sold_wh += 1;
  assert_int_equal(lg_entry_check(&e, &why), GL_EINVAL);
  assert_string_equal(
      why, "settlement: local energy bought differs from energy sold");
  th_settlement_free(&e);
  sample(LG_ENTRY_SETTLEMENT, &e);
  e.u.settlement.fee_money += 1;
  e.u.settlement.utility_money -= 1;
  assert_int_equal(lg_entry_check(&e, &why), GL_EINVAL);
  assert_string_equal(
      why, "settlement: participants' fees do not add up to fee_money");
  th_settlement_free(&e);
  sample(LG_ENTRY_CLEARING, &e);
  e.u.clearing.volume_wh = 499;
  assert_int_equal(lg_entry_check(&e, &why), GL_EINVAL);
  assert_string_equal(why, "clearing: volume_wh is not the sum of the trades");
  sample(LG_ENTRY_SETTLEMENT, &e);
  e.u.settlement.rows[0].money = INT64_MAX;
  e.u.settlement.rows[1].money = INT64_MAX;
  assert_int_equal(lg_entry_check(&e, &why), GL_EINVAL);
  assert_string_equal(why, "settlement: sums overflow");
  th_settlement_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_entry_order_bytes_match_the_documented_layout),
      cmocka_unit_test(test_entry_every_type_round_trips_byte_for_byte),
      cmocka_unit_test(
          test_entry_decode_rejects_every_truncation_and_trailing_byte),
      cmocka_unit_test(test_entry_values_out_of_range_are_refused),
      cmocka_unit_test(test_entry_decode_bounds_counts_by_the_data_present),
      cmocka_unit_test(test_entry_check_enforces_conservation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
