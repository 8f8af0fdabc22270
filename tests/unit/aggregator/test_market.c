/* SPDX-License-Identifier: MIT */
/*
 * The market cycle end to end without the network: readings in, interval
 * settled, ledger audited, balances equal to the ledger's, settlements
 * reproduced from the ledger alone, results signed and queued behind their
 * checkpoint, restarts that neither lose nor repeat anything.
 */
#include "fixture.h"
#include "replay.h"

#include "gridlet/error.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/pr_seal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define IV (15 * FX_MIN)

static void check_replay(fx *f) {
  replay_report rep;
  if (replay_ledger(agg_market_ledger(f->mk), &rep) != 0)
    fail_msg("replay: %s", rep.problem);
}

/* Count the outbox rows by kind. */
typedef struct ob_count {
  int results, summaries, checkpoints;
  int64_t max_hold;
} ob_count;

static int count_row(void *ctx, const agg_outbox_rec *o) {
  ob_count *c = ctx;
  if (o->kind == AGG_PUB_RESULT)
    c->results++;
  else if (o->kind == AGG_PUB_SUMMARY)
    c->summaries++;
  else if (o->kind == AGG_PUB_CHECKPOINT)
    c->checkpoints++;
  if (o->kind != AGG_PUB_CHECKPOINT && o->hold > c->max_hold)
    c->max_hold = o->hold;
  return 0;
}

static ob_count outbox(fx *f) {
  ob_count c = {0};
  assert_int_equal(agg_store_outbox_each(f->st, 0, 0, count_row, &c), 0);
  return c;
}

static void
test_expost_interval_settles_when_all_readings_are_in(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 4, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0; /* the first interval */
  assert_int_equal(fx_reading(&f, 0, s, 1000, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 500, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 0, 900), AGG_R_NONE);
  /* Not all in: nothing due before end + grace. */
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 0);
  assert_int_equal(fx_reading(&f, 3, s, 0, 300), AGG_R_NONE);
  fx_flush(&f);
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 1);
  agg_interval_rec iv;
  assert_int_equal(agg_store_interval_get(f.st, s, &iv), 0);
  assert_int_equal(iv.meters, 4);
  assert_int_equal(iv.missing, 0);
  /* 1500 Wh demand, 1200 Wh supply: everything offered trades. */
  assert_int_equal(iv.volume, 1200);
  assert_int_equal(iv.grid_import, 300);
  assert_int_equal(iv.grid_export, 0);
  assert_int_equal(iv.state, AGG_IV_RESULTS);
  /* Every settlement conserves energy and money; balances = ledger. */
  fx_audit(&f);
  check_replay(&f);
  ob_count c = outbox(&f);
  assert_int_equal(c.results, 4);
  assert_int_equal(c.summaries, 1);
  /* One at start (the enrolments were logged), one for the interval. */
  assert_int_equal(c.checkpoints, 2);
  uint64_t size = 0;
  assert_int_equal(lg_ledger_size(agg_market_ledger(f.mk), &size), 0);
  assert_int_equal(c.max_hold, (int64_t)size);
  fx_teardown(&f);
}

static void
test_missing_meter_is_flagged_and_settled_against_nothing(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 0, s, 800, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 500), AGG_R_NONE);
  fx_flush(&f);
  /* Grace is a fifth of 15 minutes: not yet at end + 2 min. */
  assert_int_equal(fx_tick_at(&f, s + IV + 2 * FX_MIN), 0);
  assert_int_equal(fx_tick_at(&f, s + IV + 3 * FX_MIN), 1);
  agg_settle_rec r;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[2], &r), 0);
  assert_true(r.flags & PR_RESULT_MISSING);
  assert_int_equal(r.net, 0);
  assert_int_equal(r.nrefs, 2); /* clearing and settlement */
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &r), 0);
  assert_false(r.flags & PR_RESULT_MISSING);
  assert_int_equal(r.bought, 500);
  assert_int_equal(r.grid_import, 300);
  assert_int_equal(r.nrefs, 3); /* reading, clearing, settlement */
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void
test_duplicate_reading_is_ignored_and_reuse_is_evidence(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0;
  pr_msg m = fx_reading_msg(&f, 0, s, 100, 0);
  gl_manual_clock_set(f.mc, m.ts);
  agg_reason r;
  bool dup = false;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_READING, &r, &dup), 0);
  assert_int_equal(r, AGG_R_NONE);
  assert_false(dup);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_READING, &r, &dup), 0);
  assert_true(dup);
  assert_int_equal(atomic_load(&f.metrics.duplicates), 1);
  /* The same seq with other content. */
  m.reading.import_wh = 999;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_READING, &r, &dup), 0);
  assert_int_equal(r, AGG_R_SEQ_REUSE);
  assert_int_equal(atomic_load(&f.metrics.rejected[AGG_R_SEQ_REUSE]), 1);
  assert_int_equal(atomic_load(&f.metrics.evidence), 1);
  /* A second reading for the interval under a new seq. */
  assert_int_equal(fx_reading(&f, 0, s, 200, 0), AGG_R_READING_CONFLICT);
  fx_flush(&f);
  /* After a restart the duplicate is still recognised. */
  fx_close(&f);
  fx_open(&f);
  m.reading.import_wh = 100;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_READING, &r, &dup), 0);
  assert_true(dup);
  fx_teardown(&f);
}

static void
test_late_reading_is_logged_and_the_settlement_stands(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 0, s, 400, 0), AGG_R_NONE);
  fx_flush(&f);
  assert_int_equal(fx_tick_at(&f, s + IV + 4 * FX_MIN), 1);
  agg_balance_rec before;
  assert_int_equal(agg_store_balance_get(f.st, f.ids[1], &before), 0);
  assert_int_equal(before.missing, 1);
  uint8_t *first = NULL;
  size_t first_len = 0;
  assert_int_equal(agg_store_result_get(f.st, s, f.ids[1], &first, &first_len),
                   0);
  uint64_t size0 = 0;
  assert_int_equal(lg_ledger_size(agg_market_ledger(f.mk), &size0), 0);
  /* The missing meter's reading arrives after settlement. */
  pr_msg late = fx_reading_msg(&f, 1, s, 0, 700);
  gl_manual_clock_set(f.mc, s + IV + 5 * FX_MIN);
  agg_reason r;
  bool dup = false;
  assert_int_equal(fx_send(&f, 1, &late, PR_TOPIC_READING, &r, &dup), 0);
  assert_int_equal(r, AGG_R_NONE);
  assert_int_equal(atomic_load(&f.metrics.late), 1);
  fx_flush(&f);
  /* Logged as a late digest... */
  uint64_t size1 = 0;
  assert_int_equal(lg_ledger_size(agg_market_ledger(f.mk), &size1), 0);
  assert_int_equal(size1, size0 + 1);
  agg_reading_rec rd;
  assert_int_equal(agg_store_reading_find(f.st, s, f.ids[1], &rd), 0);
  assert_int_equal(rd.late, AGG_LATE);
  assert_int_equal(rd.ledger_index, (int64_t)size0);
  /* ...while the settlement, the balance and the result stand. */
  agg_settle_rec st;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[1], &st), 0);
  assert_true(st.flags & PR_RESULT_MISSING);
  assert_int_equal(st.net, 0);
  agg_balance_rec after;
  assert_int_equal(agg_store_balance_get(f.st, f.ids[1], &after), 0);
  assert_memory_equal(&before, &after, sizeof before);
  uint8_t *again = NULL;
  size_t again_len = 0;
  assert_int_equal(agg_store_result_get(f.st, s, f.ids[1], &again, &again_len),
                   0);
  assert_int_equal(again_len, first_len);
  assert_memory_equal(again, first, first_len);
  /* The meter repeats the reading (no receipt yet): the stored result is
   * sent again, byte for byte. */
  uint64_t resent = atomic_load(&f.metrics.receipts_resent);
  assert_int_equal(fx_send(&f, 1, &late, PR_TOPIC_READING, &r, &dup), 0);
  assert_true(dup);
  assert_int_equal(atomic_load(&f.metrics.receipts_resent), resent + 1);
  free(first);
  free(again);
  fx_flush(&f);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void test_restart_neither_repeats_nor_loses_a_settlement(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  for (int k = 0; k < 3; k++) {
    int64_t s = FX_T0 + k * IV;
    assert_int_equal(fx_reading(&f, 0, s, 300 + k, 0), AGG_R_NONE);
    assert_int_equal(fx_reading(&f, 1, s, 0, 200), AGG_R_NONE);
    assert_int_equal(fx_reading(&f, 2, s, 50, 0), AGG_R_NONE);
    assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 1);
    fx_close(&f);
    fx_open(&f);
    assert_int_equal(agg_market_last_settled(f.mk), s);
    assert_int_equal(fx_tick_at(&f, s + IV + 10 * FX_MIN), 0);
  }
  fx_audit(&f);
  check_replay(&f);
  agg_balance_rec b;
  assert_int_equal(agg_store_balance_get(f.st, f.ids[0], &b), 0);
  assert_int_equal(b.intervals, 3);
  fx_teardown(&f);
}

static void
test_catch_up_after_downtime_settles_every_interval_in_order(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_EXPOST, NULL);
  /* Five intervals pass without any tick; the aggregator comes back. */
  int64_t back = FX_T0 + 5 * IV + FX_MIN;
  agg_market_online(f.mk, back);
  assert_int_equal(fx_reading(&f, 0, FX_T0 + IV, 10, 0), AGG_R_NONE);
  fx_flush(&f);
  /* Within the grace after coming back: still waiting for re-sends. */
  assert_int_equal(fx_tick_at(&f, back + FX_MIN), 0);
  assert_int_equal(fx_tick_at(&f, back + 3 * FX_MIN + 1), 5);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void set_prefs(fx *f, size_t i, bool has_buy, int64_t buy, bool has_sell,
                      int64_t sell) {
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_PREFS, f->ids[i], ++f->seq[i],
                               gl_clock_now(&f->clock)),
                   0);
  m.prefs.effective = FX_T0;
  m.prefs.has_buy_below = has_buy;
  m.prefs.buy_below = buy;
  m.prefs.has_sell_above = has_sell;
  m.prefs.sell_above = sell;
  agg_reason r;
  assert_int_equal(fx_send(f, i, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
}

static void test_expost_standing_limits_decide_who_trades(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  /* m001 buys only below 0.10, m002 sells only above 0.20; m003 no limit. */
  set_prefs(&f, 0, true, 100000, false, 0);
  set_prefs(&f, 1, false, 0, true, 200000);
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 0, s, 500, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 400), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 300, 0), AGG_R_NONE);
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 1);
  agg_settle_rec r;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &r), 0);
  assert_int_equal(r.bought, 0); /* its limit is below the seller's */
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[2], &r), 0);
  assert_int_equal(r.bought, 300);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static pr_msg order_msg(fx *f, size_t i, int64_t start, pr_side side,
                        int64_t wh, int64_t price) {
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_ORDER, f->ids[i], ++f->seq[i],
                               gl_clock_now(&f->clock)),
                   0);
  m.order.start = start;
  m.order.end = start + IV;
  m.order.nsteps = 1;
  m.order.steps[0].side = side;
  m.order.steps[0].wh = wh;
  m.order.steps[0].price = price;
  return m;
}

static void
test_exante_orders_clear_at_gate_and_settle_imbalance(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXANTE, NULL);
  int64_t s = FX_T0 + IV; /* orders for the next interval */
  agg_reason r;
  pr_msg m = order_msg(&f, 0, s, PR_SIDE_BUY, 600, 250000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = order_msg(&f, 1, s, PR_SIDE_SELL, 400, 150000);
  assert_int_equal(fx_send(&f, 1, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  /* A replacement: m001 now wants 300 only. */
  m = order_msg(&f, 0, s, PR_SIDE_BUY, 300, 250000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  /* After the gate: refused. */
  gl_manual_clock_set(f.mc, s - 4 * FX_MIN);
  m = order_msg(&f, 2, s, PR_SIDE_BUY, 100, 300000);
  assert_int_equal(fx_send(&f, 2, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_GATE_CLOSED);
  fx_flush(&f);
  fx_tick_at(&f, s - FX_MIN);
  /* The first interval (nothing in it) settles; then the readings. */
  assert_int_equal(fx_reading(&f, 0, s, 350, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 300), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 20, 0), AGG_R_NONE);
  /* The empty first interval and this one. */
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 2);
  agg_settle_rec a, b;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[1], &b), 0);
  assert_int_equal(a.bought, 300);
  assert_int_equal(a.grid_import, 50); /* 350 measured - 300 contracted */
  assert_int_equal(b.sold, 300);
  assert_int_equal(b.grid_import, 0);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void tweak_continuous(agg_config *c) {
  c->tick = 1000;
}

static void
test_continuous_trades_as_orders_arrive_and_survive_restart(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_CONTINUOUS, tweak_continuous);
  int64_t s = FX_T0 + IV;
  agg_reason r;
  pr_msg m = order_msg(&f, 1, s, PR_SIDE_SELL, 500, 120000);
  assert_int_equal(fx_send(&f, 1, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = order_msg(&f, 0, s, PR_SIDE_BUY, 200, 200000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  m = order_msg(&f, 2, s, PR_SIDE_BUY, 100, 150500); /* off the tick grid */
  assert_int_equal(fx_send(&f, 2, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_OFF_TICK);
  m = order_msg(&f, 2, s, PR_SIDE_BUY, 400, 130000);
  assert_int_equal(fx_send(&f, 2, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  fx_flush(&f);
  /* Restart: the book is rebuilt from the stored orders. */
  fx_close(&f);
  fx_open(&f);
  assert_int_equal(fx_reading(&f, 0, s, 200, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 500), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 300, 0), AGG_R_NONE);
  fx_tick_at(&f, s + IV + FX_MIN);
  agg_settle_rec a, b, c;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[1], &b), 0);
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[2], &c), 0);
  assert_int_equal(a.bought, 200); /* at the resting offer's 0.12 */
  assert_int_equal(a.local_paid, 24000);
  assert_int_equal(c.bought, 300); /* 300 of its 400 rested, 300 left */
  assert_int_equal(c.grid_import, 0);
  assert_int_equal(b.sold, 500);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expost_interval_settles_when_all_readings_are_in),
      cmocka_unit_test(
          test_missing_meter_is_flagged_and_settled_against_nothing),
      cmocka_unit_test(test_duplicate_reading_is_ignored_and_reuse_is_evidence),
      cmocka_unit_test(test_late_reading_is_logged_and_the_settlement_stands),
      cmocka_unit_test(test_restart_neither_repeats_nor_loses_a_settlement),
      cmocka_unit_test(
          test_catch_up_after_downtime_settles_every_interval_in_order),
      cmocka_unit_test(test_expost_standing_limits_decide_who_trades),
      cmocka_unit_test(test_exante_orders_clear_at_gate_and_settle_imbalance),
      cmocka_unit_test(
          test_continuous_trades_as_orders_arrive_and_survive_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
