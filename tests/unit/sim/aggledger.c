/* SPDX-License-Identifier: MIT */
/* aggledger.c - see aggledger.h. */
#include "aggledger.h"

#include "fixture.h"

#include "gridlet/ledger.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define IV (15 * FX_MIN)

static void tweak_continuous(agg_config *c) {
  c->tick = 1000;
}

static void send_order(fx *f, size_t i, int64_t start, pr_side side, int64_t wh,
                       int64_t price) {
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
  agg_reason r;
  assert_int_equal(fx_send(f, i, &m, PR_TOPIC_ORDER, &r, NULL), 0);
  assert_int_equal(r, AGG_R_NONE);
}

agg_settled agg_ledger(const char *dir, int mode, size_t missing,
                       const char *db) {
  fx f;
  fx_setup(&f, 3, mode, mode == MKT_MODE_CONTINUOUS ? tweak_continuous : NULL);
  int64_t s = mode == MKT_MODE_EXPOST ? FX_T0 : FX_T0 + IV;
  /* m001 sells 300 Wh, m002 buys 300 Wh, m003 only measures. */
  if (mode != MKT_MODE_EXPOST) {
    send_order(&f, 0, s, PR_SIDE_SELL, 300, 150000);
    send_order(&f, 1, s, PR_SIDE_BUY, 300, 250000);
    fx_flush(&f);
  }
  const int64_t imp[3] = {0, 300, 20}, exp[3] = {300, 0, 0};
  for (size_t i = 0; i < 3; i++)
    if (i != missing)
      assert_int_equal(fx_reading(&f, i, s, imp[i], exp[i]), AGG_R_NONE);
  fx_flush(&f);
  agg_settled out;
  memset(&out, 0, sizeof out);
  out.intervals = fx_tick_at(&f, s + IV + 4 * FX_MIN);
  assert_int_equal(out.intervals, mode == MKT_MODE_EXPOST ? 1 : 2);
  fx_audit(&f);
  agg_settle_rec a;
  assert_int_equal(agg_store_settle_get(f.st, s, f.ids[missing], &a), 0);
  assert_true(a.flags & PR_RESULT_MISSING);
  if (mode != MKT_MODE_EXPOST)
    assert_int_equal(a.bought + a.sold, 300); /* the firm trade stands */
  else
    assert_int_equal(a.bought + a.sold + a.grid_import + a.grid_export, 0);
  out.money = a.net;
  out.bought = a.bought;
  out.sold = a.sold;
  out.grid_import = a.grid_import;
  out.grid_export = a.grid_export;
  if (mode != MKT_MODE_EXPOST) {
    /* The empty first interval: settled with nothing. */
    assert_int_equal(agg_store_settle_get(f.st, FX_T0, f.ids[missing], &a), 0);
    assert_int_equal(a.net, 0);
  }
  /* The export holds the whole ledger (the interval's checkpoint is the
   * latest). */
  lg_ledger *lg = agg_market_ledger(f.mk);
  uint64_t size = 0, esize = 0;
  assert_int_equal(lg_ledger_size(lg, &size), 0);
  char path[GT_PATH_MAX];
  assert_int_equal(lg_ledger_export(lg, gt_path(path, dir, db), 0), 0);
  fx_teardown(&f);
  lg_ledger_options lo = {.read_only = true};
  assert_int_equal(lg_ledger_open(path, &lo, &lg), 0);
  assert_int_equal(lg_ledger_size(lg, &esize), 0);
  lg_ledger_free(lg);
  assert_int_equal(esize, size);
  return out;
}
