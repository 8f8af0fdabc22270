/* SPDX-License-Identifier: MIT */
/*
 * The market cycle end to end without the network: readings in, interval
 * settled, ledger audited, balances equal to the ledger's, settlements
 * reproduced from the ledger alone, results signed and queued behind their
 * checkpoint, restarts that neither lose nor repeat anything.
 */
#include "fixture.h"
#include "replay.h"

#include "gridlet/agg_audit.h"
#include "gridlet/agg_book.h"
#include "gridlet/error.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/pr_seal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

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

/* The order book the dashboard draws (agg_book): ex post, every measured
 * meter's net energy at its standing limit in force, clamped into the
 * band; unlimited bids at retail, unlimited offers at feed-in. */
static void test_expost_book_rebuilds_the_bids_and_offers(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 5, MKT_MODE_EXPOST, NULL);
  set_prefs(&f, 0, true, 250000, false, 0);
  set_prefs(&f, 1, false, 0, true, 120000);
  set_prefs(&f, 3, true, 900000, false, 0); /* above retail: clamped */
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 0, s, 400, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 350), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 0, 200), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 3, s, 300, 0), AGG_R_NONE);
  /* m005 sends nothing: missing, so not in the book. */
  assert_int_equal(fx_tick_at(&f, s + IV + 4 * FX_MIN), 1);
  agg_interval_rec iv;
  assert_int_equal(agg_store_interval_get(f.st, s, &iv), 0);
  agg_book b;
  assert_int_equal(agg_book_build(f.st, &iv, &b), 0);
  assert_int_equal(b.interval, s);
  assert_int_equal(b.mode, MKT_MODE_EXPOST);
  assert_int_equal(b.band.retail, 300000);
  assert_int_equal(b.band.feed_in, 80000);
  assert_int_equal(b.nbids, 2);
  assert_int_equal(b.noffers, 2);
  /* Bids by price, highest first. */
  assert_string_equal(b.bids[0].meter, f.ids[3]);
  assert_int_equal(b.bids[0].side, MKT_BUY);
  assert_int_equal(b.bids[0].wh, 300);
  assert_int_equal(b.bids[0].price, 300000);
  assert_true(b.bids[0].has_limit);
  assert_int_equal(b.bids[0].limit, 900000);
  assert_string_equal(b.bids[1].meter, f.ids[0]);
  assert_int_equal(b.bids[1].wh, 400);
  assert_int_equal(b.bids[1].price, 250000);
  /* Offers by price, lowest first; no limit sells at feed-in. */
  assert_string_equal(b.offers[0].meter, f.ids[2]);
  assert_int_equal(b.offers[0].side, MKT_SELL);
  assert_int_equal(b.offers[0].wh, 200);
  assert_int_equal(b.offers[0].price, 80000);
  assert_false(b.offers[0].has_limit);
  assert_string_equal(b.offers[1].meter, f.ids[1]);
  assert_int_equal(b.offers[1].wh, 350);
  assert_int_equal(b.offers[1].price, 120000);
  /* The curves cross where the market cleared: all 550 Wh offered are
   * sold, at a price between the marginal offer and the marginal bid. */
  assert_true(iv.has_price);
  assert_int_equal(iv.volume, 550);
  assert_true(iv.price >= 120000 && iv.price <= 250000);
  agg_book_clear(&b);
  agg_book_clear(&b); /* reusable, and clearing twice is harmless */
  fx_teardown(&f);
}

/* Ex ante, the book is each meter's latest order for the interval. */
static void test_exante_book_keeps_the_latest_order(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_EXANTE, NULL);
  int64_t s = FX_T0 + IV;
  agg_reason r;
  pr_msg m = order_msg(&f, 0, s, PR_SIDE_BUY, 600, 250000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  m = order_msg(&f, 1, s, PR_SIDE_SELL, 400, 150000);
  assert_int_equal(fx_send(&f, 1, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  m = order_msg(&f, 0, s, PR_SIDE_BUY, 300, 260000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  fx_flush(&f);
  fx_tick_at(&f, s - FX_MIN);
  assert_int_equal(fx_reading(&f, 0, s, 300, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 300), AGG_R_NONE);
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 2);
  agg_interval_rec iv;
  assert_int_equal(agg_store_interval_get(f.st, s, &iv), 0);
  agg_book b;
  assert_int_equal(agg_book_build(f.st, &iv, &b), 0);
  assert_int_equal(b.nbids, 1);
  assert_int_equal(b.bids[0].wh, 300);
  assert_int_equal(b.bids[0].price, 260000);
  assert_int_equal(b.bids[0].seq, m.seq);
  assert_int_equal(b.noffers, 1);
  assert_int_equal(b.offers[0].wh, 400);
  assert_int_equal(b.offers[0].price, 150000);
  assert_int_equal(iv.volume, 300);
  agg_book_clear(&b);
  fx_teardown(&f);
}

/* The dashboard's audit (agg_audit_once): clean after settlement, and a
 * balance that no longer equals the ledger's is named. */
static void test_audit_finds_a_balance_the_ledger_disagrees_with(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 0, s, 300, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 200), AGG_R_NONE);
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 1);
  lg_audit_options o = {.log_key = &f.log_key.vkey};
  agg_audit_report rep;
  lg_ledger *lg = agg_market_ledger(f.mk);
  assert_int_equal(agg_audit_once(f.st, lg, &o, &rep), 0);
  if (rep.state != AGG_AUDIT_OK)
    fail_msg("audit: %s", rep.problem);
  assert_int_equal(rep.balances, 2);
  assert_true(rep.entries > 0);
  assert_true(rep.checkpoints >= 1);
  assert_false(agg_store_in_tx(f.st));
  /* Someone edits a balance behind the ledger's back. */
  char sql[160];
  snprintf(sql, sizeof sql,
           "UPDATE agg_balances SET money = money + 1 WHERE meter = '%s'",
           f.ids[1]);
  assert_int_equal(sqlite3_exec(agg_store_db(f.st), sql, NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(agg_audit_once(f.st, lg, &o, &rep), 0);
  assert_int_equal(rep.state, AGG_AUDIT_FAILED);
  assert_non_null(strstr(rep.problem, f.ids[1]));
  fx_teardown(&f);
}

static void test_exante_missing_meter_keeps_its_trade_and_settles_with_the_grid(
    void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXANTE, NULL);
  int64_t s = FX_T0 + IV;
  agg_reason r;
  pr_msg m = order_msg(&f, 0, s, PR_SIDE_SELL, 300, 150000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = order_msg(&f, 1, s, PR_SIDE_BUY, 300, 250000);
  assert_int_equal(fx_send(&f, 1, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  fx_flush(&f);
  /* The seller's reading never comes; the grace runs out. */
  assert_int_equal(fx_reading(&f, 1, s, 300, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 20, 0), AGG_R_NONE);
  assert_int_equal(fx_tick_at(&f, s + IV + 4 * FX_MIN), 2);
  agg_settle_rec a, b;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[1], &b), 0);
  /* The trade cleared at gate closure stands. */
  assert_int_equal(b.bought, 300);
  assert_int_equal(b.grid_import, 0);
  assert_int_equal(a.sold, 300);
  /* The seller metered nothing: it buys what it sold from the grid at
   * retail, and it is flagged. */
  assert_true(a.flags & PR_RESULT_MISSING);
  assert_int_equal(a.import_wh, 0);
  assert_int_equal(a.grid_import, 300);
  assert_int_equal(a.grid_paid, 300 * 300000 / 1000);
  assert_int_equal(a.net, a.local_received - a.grid_paid);
  agg_balance_rec bal;
  assert_int_equal(agg_store_balance_get(f.st, f.ids[0], &bal), 0);
  assert_int_equal(bal.missing, 2); /* this interval and the empty first */
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void
test_continuous_missing_meter_keeps_its_trade_and_settles_with_the_grid(
    void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 2, MKT_MODE_CONTINUOUS, tweak_continuous);
  int64_t s = FX_T0 + IV;
  agg_reason r;
  pr_msg m = order_msg(&f, 0, s, PR_SIDE_SELL, 300, 120000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  m = order_msg(&f, 1, s, PR_SIDE_BUY, 300, 200000);
  assert_int_equal(fx_send(&f, 1, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  fx_flush(&f);
  /* The buyer's reading never comes. */
  assert_int_equal(fx_reading(&f, 0, s, 0, 300), AGG_R_NONE);
  assert_int_equal(fx_tick_at(&f, s + IV + 4 * FX_MIN), 2);
  agg_settle_rec a, b;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[1], &b), 0);
  assert_int_equal(a.sold, 300);
  assert_int_equal(a.grid_export, 0);
  /* The buyer took nothing: what it bought goes back at feed-in. */
  assert_true(b.flags & PR_RESULT_MISSING);
  assert_int_equal(b.bought, 300);
  assert_int_equal(b.local_paid, 300 * 120000 / 1000);
  assert_int_equal(b.grid_export, 300);
  assert_int_equal(b.grid_received, 300 * 80000 / 1000);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

static void
test_after_an_unclean_stop_missing_readings_are_waited_for(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0, end = FX_T0 + IV;
  assert_int_equal(fx_reading(&f, 0, s, 100, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 1, s, 0, 100), AGG_R_NONE);
  fx_flush(&f);
  /* Killed (no clean-stop mark) and started again 30 s after the end:
   * meter 2's reading may have been acknowledged and lost. */
  fx_close(&f);
  gl_manual_clock_set(f.mc, end + 30 * GL_NS_PER_SEC);
  fx_open(&f);
  /* Past the grace (3 min): still waiting for the meters' re-sends, due
   * receipt_timeout (2 intervals + 3 min) after the end. */
  assert_int_equal(fx_tick_at(&f, end + 10 * FX_MIN), 0);
  assert_int_equal(fx_reading(&f, 2, s, 50, 0), AGG_R_NONE);
  /* Then it settles with all three (the two empty intervals after it
   * with it: they ended after the restart, nothing of theirs was lost). */
  assert_int_equal(fx_tick_at(&f, end + 2 * IV + 3 * FX_MIN + GL_NS_PER_SEC),
                   3);
  agg_settle_rec c;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[2], &c), 0);
  assert_false(c.flags & PR_RESULT_MISSING);
  assert_int_equal(c.import_wh, 50);
  fx_audit(&f);
  fx_teardown(&f);
}

static void test_a_revoked_meters_reading_does_not_make_all_in(void **state) {
  (void)state;
  fx f;
  fx_setup(&f, 3, MKT_MODE_EXPOST, NULL);
  int64_t s = FX_T0;
  assert_int_equal(fx_reading(&f, 1, s, 100, 0), AGG_R_NONE);
  assert_int_equal(fx_reading(&f, 2, s, 0, 100), AGG_R_NONE);
  fx_flush(&f);
  /* Meter 2 is revoked after it delivered: two meters are active, and
   * only one of them (meter 1) has delivered. */
  assert_int_equal(
      agg_store_meter_set_state(f.st, f.ids[2], AGG_METER_REVOKED, s), 0);
  assert_int_equal(agg_meters_load(f.meters, f.st, NULL, NULL), 0);
  assert_int_equal(agg_market_recount(f.mk), 0);
  assert_int_equal(fx_tick_at(&f, s + IV + FX_MIN), 0); /* waits for m0 */
  /* After a (clean) restart the count comes from the database, the same
   * way. */
  assert_int_equal(agg_market_stopped_cleanly(f.mk), 0);
  fx_close(&f);
  fx_open(&f);
  assert_int_equal(fx_tick_at(&f, s + IV + 2 * FX_MIN), 0);
  assert_int_equal(fx_tick_at(&f, s + IV + 4 * FX_MIN), 1);
  agg_settle_rec a;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_true(a.flags & PR_RESULT_MISSING);
  fx_teardown(&f);
}

/* An order of `n` steps of 10 Wh each on one side at `price`. */
static pr_msg steps_msg(fx *f, size_t i, int64_t start, pr_side side, size_t n,
                        int64_t price) {
  pr_msg m = order_msg(f, i, start, side, 10, price);
  m.order.nsteps = n;
  for (size_t k = 0; k < n; k++)
    m.order.steps[k] = m.order.steps[0];
  return m;
}

static void tweak_bounded(agg_config *c) {
  c->tick = 1000;
  c->max_orders_per_meter = 32;
}

static void test_continuous_order_memory_is_bounded(void **state) {
  (void)state;
  enum { N = 24 }; /* 24 meters x 16 steps: more than a new book holds */
  fx f;
  fx_setup(&f, N, MKT_MODE_CONTINUOUS, tweak_bounded);
  int64_t s = FX_T0 + IV;
  agg_reason r;
  /* Per meter: 32 steps in force over all books, then order_limit. */
  pr_msg m = steps_msg(&f, 0, s + IV, PR_SIDE_SELL, 16, 290000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = steps_msg(&f, 0, s + 2 * IV, PR_SIDE_SELL, 16, 290000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = steps_msg(&f, 0, s + 3 * IV, PR_SIDE_SELL, 1, 290000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_ORDER_LIMIT);
  assert_int_equal(atomic_load(&f.metrics.rejected[AGG_R_ORDER_LIMIT]), 1);
  /* A replacement with fewer steps frees room. */
  m = steps_msg(&f, 0, s + IV, PR_SIDE_SELL, 4, 290000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  m = steps_msg(&f, 0, s + 3 * IV, PR_SIDE_SELL, 12, 290000);
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  /* One book past its first size: it is rebuilt larger from the stored
   * orders, and nothing is lost. Meters 1..N-1 offer 16 x 10 Wh each. */
  for (size_t i = 1; i < N; i++) {
    m = steps_msg(&f, i, s, PR_SIDE_SELL, 16, 100000 + 1000 * (int64_t)i);
    assert_int_equal(fx_send(&f, i, &m, PR_TOPIC_ORDER, &r, NULL), 0);
    assert_int_equal(r, AGG_R_NONE);
  }
  /* Meter 0 buys 16 x 100 Wh at the top: it takes the 160 cheapest
   * steps in price order. */
  m = steps_msg(&f, 0, s, PR_SIDE_BUY, 16, 300000);
  for (size_t k = 0; k < 16; k++)
    m.order.steps[k].wh = 100;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_ORDER_LIMIT); /* 4 + 16 + 12 in force */
  for (int64_t k = 1; k <= 3; k++) {
    m = steps_msg(&f, 0, s + k * IV, PR_SIDE_SELL, 1, 290000);
    assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
    assert_int_equal(r, AGG_R_NONE);
  }
  m = steps_msg(&f, 0, s, PR_SIDE_BUY, 16, 300000);
  for (size_t k = 0; k < 16; k++)
    m.order.steps[k].wh = 100;
  assert_int_equal(fx_send(&f, 0, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
  fx_flush(&f);
  /* Restart: the books are rebuilt (and grown) from the stored orders. */
  fx_close(&f);
  fx_open(&f);
  assert_int_equal(fx_reading(&f, 0, s, 1600, 0), AGG_R_NONE);
  for (size_t i = 1; i < N; i++)
    assert_int_equal(fx_reading(&f, i, s, 0, 160), AGG_R_NONE);
  fx_tick_at(&f, s + IV + FX_MIN);
  agg_settle_rec a;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[0], &a), 0);
  assert_int_equal(a.bought, 1600);
  int64_t sold = 0;
  for (size_t i = 1; i < N; i++) {
    agg_settle_rec b;
    assert_int_equal(agg_store_settle_get(f.st, s, f.ids[i], &b), 0);
    sold += b.sold;
    /* The ten cheapest offers (meters 1..10) sold everything. */
    assert_int_equal(b.sold, i <= 10 ? 160 : 0);
  }
  assert_int_equal(sold, 1600);
  fx_audit(&f);
  check_replay(&f);
  fx_teardown(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expost_book_rebuilds_the_bids_and_offers),
      cmocka_unit_test(test_exante_book_keeps_the_latest_order),
      cmocka_unit_test(test_audit_finds_a_balance_the_ledger_disagrees_with),
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
      cmocka_unit_test(test_continuous_order_memory_is_bounded),
      cmocka_unit_test(test_a_revoked_meters_reading_does_not_make_all_in),
      cmocka_unit_test(
          test_after_an_unclean_stop_missing_readings_are_waited_for),
      cmocka_unit_test(
          test_exante_missing_meter_keeps_its_trade_and_settles_with_the_grid),
      cmocka_unit_test(
          test_continuous_missing_meter_keeps_its_trade_and_settles_with_the_grid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
