/* SPDX-License-Identifier: MIT */
/*
 * The simulator replays ledgers the real aggregator wrote: the aggregator
 * unit-test fixture (real SQLite database, real signed and verified
 * messages, the real market, a manual clock) settles intervals in which
 * a meter's reading never came, the ledger is exported
 * (lg_ledger_export, what `gridlet-ledger export` writes), and a research
 * run on the export (sim_run, what `gridlet-sim run` runs) must reproduce
 * every clearing and settlement: in exante and continuous mode the meter
 * without a reading keeps its firm trades and settles them with the
 * utility, in expost it takes no part.
 */
#include "aggledger.h"
#include "fixture.h"

#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/sim_run.h"

#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char dir[GT_PATH_MAX];

static int setup(void **state) {
  (void)state;
  gt_tmpdir("simagg", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

/* Replay `db` under `mode` (marginal pricing, the aggregator's defaults)
 * and check every interval was verified equal. */
static void replay(const char *mode, const char *db, size_t missing,
                   const agg_settled *want) {
  char text[512], path[GT_PATH_MAX];
  snprintf(text, sizeof text,
           "[scenario]\nname = agg-%s\ninterval = 15m\n"
           "[market]\nmode = %s\nrule = marginal\n"
           "[input]\nsource = ledger\npath = %s\n",
           mode, mode, db);
  gt_write_file(gt_path(path, dir, "replay.ini"), text, (size_t)-1);
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  if (sim_scenario_load(path, NULL, 0, &sc, &d)) {
    sim_diag_print(&d, stderr);
    fail_msg("the scenario did not load");
  }
  sim_results *r = NULL;
  int rc = sim_run(sc, NULL, &r, &d);
  if (rc) {
    sim_diag_print(&d, stderr);
    fail_msg("the run failed: %s", gl_strerror(rc));
  }
  const sim_world_result *w = sim_results_world(r, 0);
  if (w->mismatched)
    fail_msg("%s: %s", mode, w->first_mismatch);
  assert_int_equal(w->verified, want->intervals);
  assert_int_equal(w->unverified, 0);
  /* The meter without a reading: absent in every settled interval, yet
   * its firm trades are in its bill, as the aggregator settled them. */
  const sim_kpi_home *h = &w->homes[missing];
  assert_int_equal(h->t.absent, want->intervals);
  assert_int_equal(h->t.intervals, 0);
  assert_int_equal(h->t.import_wh + h->t.export_wh, 0);
  assert_int_equal(h->bill, -want->money);
  assert_int_equal(h->t.bought, want->bought);
  assert_int_equal(h->t.sold, want->sold);
  assert_int_equal(h->t.grid_import, want->grid_import);
  assert_int_equal(h->t.grid_export, want->grid_export);
  sim_results_free(r);
  sim_scenario_free(sc);
}

static void
test_agg_exante_ledger_with_a_missing_seller_replays_exactly(void **state) {
  (void)state;
  agg_settled s = agg_ledger(dir, MKT_MODE_EXANTE, 0, "exante.db");
  /* The seller delivered nothing: it buys its sale from the grid. */
  assert_int_equal(s.sold, 300);
  assert_int_equal(s.grid_import, 300);
  replay("exante", "exante.db", 0, &s);
}

static void
test_agg_continuous_ledger_with_a_missing_buyer_replays_exactly(void **state) {
  (void)state;
  agg_settled s = agg_ledger(dir, MKT_MODE_CONTINUOUS, 1, "cont.db");
  /* The buyer took nothing: what it bought goes back at feed-in. */
  assert_int_equal(s.bought, 300);
  assert_int_equal(s.grid_export, 300);
  replay("continuous", "cont.db", 1, &s);
}

static void
test_agg_expost_ledger_with_a_missing_meter_replays_exactly(void **state) {
  (void)state;
  agg_settled s = agg_ledger(dir, MKT_MODE_EXPOST, 2, "expost.db");
  replay("expost", "expost.db", 2, &s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_agg_exante_ledger_with_a_missing_seller_replays_exactly, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_agg_continuous_ledger_with_a_missing_buyer_replays_exactly,
          setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_agg_expost_ledger_with_a_missing_meter_replays_exactly, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
