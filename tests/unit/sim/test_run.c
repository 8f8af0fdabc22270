/* SPDX-License-Identifier: MIT */
/* Unit tests for research runs: KPIs of a small community computed by
 * hand, energy and money conservation in every mode and mechanism,
 * byte-identical outputs for the same scenario and seed, and the ledger
 * path: a run written as a ledger replays to the very same settlements,
 * late readings are left out, a replay under other rules is told apart,
 * and an inconsistent ledger is refused. */
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/log.h"
#include "gridlet/sim_report.h"
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

#define NS INT64_C(1000000000)
/* 2026-06-01T00:00:00Z */
#define T0 (INT64_C(1780272000) * NS)

static char dir[GT_PATH_MAX];

static int setup(void **state) {
  (void)state;
  gt_tmpdir("simrun", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

static sim_scenario *load(const char *name, const char *text,
                          const char *const *sets, size_t n_sets) {
  char path[GT_PATH_MAX];
  gt_path(path, dir, name);
  gt_write_file(path, text, (size_t)-1);
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  if (sim_scenario_load(path, sets, n_sets, &sc, &d)) {
    sim_diag_print(&d, stderr);
    fail_msg("scenario %s did not load", name);
  }
  return sc;
}

static sim_results *run(const sim_scenario *sc, const sim_run_options *o) {
  sim_results *r = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  int rc = sim_run(sc, o, &r, &d);
  if (rc) {
    sim_diag_print(&d, stderr);
    fail_msg("run failed: %s", gl_strerror(rc));
  }
  return r;
}

/* ---- A community computed by hand ---------------------------------------- */

static const char *hand_csv = "timestamp,household,load_wh,pv_wh\n"
                              "2026-06-01T00:00:00Z,a,100,400\n"
                              "2026-06-01T00:00:00Z,b,500,0\n"
                              "2026-06-01T00:00:00Z,c,200,100\n"
                              "2026-06-01T00:15:00Z,a,100,0\n"
                              "2026-06-01T00:15:00Z,b,300,0\n"
                              "2026-06-01T00:15:00Z,c,100,500\n";

static const char *hand_ini = "[scenario]\nname = hand\ninterval = 15m\n"
                              "[market]\nmode = expost\nrule = marginal\n"
                              "[tariff]\nretail = 0.30\nfeed_in = 0.10\n"
                              "network_fee = 0.02\n"
                              "[input]\nsource = csv\npath = hand.csv\n"
                              "[household a]\nsell_limit = 0.12\n"
                              "[household b]\nbuy_limit = 0.25\n"
                              "[household c]\nbuy_limit = 0.20\n"
                              "sell_limit = 0.14\n";

/*
 * Interval 1: a sells 300 Wh at 0.12; b bids 500 at 0.25, c 100 at 0.20.
 * 300 Wh trade; the marginal bid level (b) is partly filled, so the
 * price is b's 0.25: b pays 75000 µ + 6000 µ fee, imports 200 Wh from the
 * utility (60000 µ); c imports 100 Wh (30000 µ).
 * Interval 2: a bids 100 at retail, b 300 at 0.25, c offers 400 at 0.14:
 * an exact split, price (0.25 + 0.14) / 2 = 0.195: a pays 19500 + 2000,
 * b 58500 + 6000, c receives 78000.
 */
static void test_run_kpis_of_a_small_community_by_hand(void **state) {
  (void)state;
  char p[GT_PATH_MAX];
  gt_write_file(gt_path(p, dir, "hand.csv"), hand_csv, (size_t)-1);
  sim_scenario *sc = load("hand.ini", hand_ini, NULL, 0);
  sim_results *r = run(sc, NULL);
  const sim_run_info *in = sim_results_info(r);
  assert_int_equal(in->intervals, 2);
  assert_int_equal(in->start, T0);
  const sim_world_result *w = sim_results_world(r, 0);
  const sim_kpi_home *a = &w->homes[0], *b = &w->homes[1], *c = &w->homes[2];
  assert_string_equal(a->id, "a");
  /* a */
  assert_int_equal(a->t.load, 200);
  assert_int_equal(a->t.import_wh, 100);
  assert_int_equal(a->t.export_wh, 300);
  assert_int_equal(a->t.bought, 100);
  assert_int_equal(a->t.sold, 300);
  assert_int_equal(a->t.grid_import, 0);
  assert_int_equal(a->t.local_paid, 19500);
  assert_int_equal(a->t.local_received, 75000);
  assert_int_equal(a->t.fee_paid, 2000);
  assert_int_equal(a->t.money, 53500);
  assert_int_equal(a->bill, -53500);
  assert_int_equal(a->baseline_bill, 0);
  assert_int_equal(a->savings, 53500);
  assert_int_equal(a->self_sufficiency_ppm, 500000);
  assert_int_equal(a->self_consumption_ppm, 250000);
  assert_int_equal(a->met_locally_ppm, 1000000);
  assert_int_equal(a->avg_buy_price, 195000);
  assert_int_equal(a->avg_sell_price, 250000);
  /* b */
  assert_int_equal(b->t.bought, 600);
  assert_int_equal(b->t.grid_import, 200);
  assert_int_equal(b->t.utility_used, 200);
  assert_int_equal(b->t.local_paid, 133500);
  assert_int_equal(b->t.fee_paid, 12000);
  assert_int_equal(b->t.grid_paid, 60000);
  assert_int_equal(b->bill, 205500);
  assert_int_equal(b->baseline_bill, 240000);
  assert_int_equal(b->savings, 34500);
  assert_int_equal(b->self_sufficiency_ppm, 0);
  assert_true(b->self_consumption_ppm == SIM_NA);
  assert_int_equal(b->met_locally_ppm, 750000);
  assert_int_equal(b->avg_buy_price, 222500);
  assert_true(b->avg_sell_price == SIM_NA);
  /* c */
  assert_int_equal(c->t.sold, 400);
  assert_int_equal(c->t.local_received, 78000);
  assert_int_equal(c->t.grid_paid, 30000);
  assert_int_equal(c->bill, -48000);
  assert_int_equal(c->baseline_bill, -10000);
  assert_int_equal(c->savings, 38000);
  assert_int_equal(c->self_sufficiency_ppm, 666667);
  assert_int_equal(c->self_consumption_ppm, 333333);
  assert_int_equal(c->met_locally_ppm, 666667);
  assert_int_equal(c->avg_sell_price, 195000);
  /* The community. */
  const sim_kpi_community *k = &w->community;
  assert_int_equal(k->t.load, 1300);
  assert_int_equal(k->t.pv, 1000);
  assert_int_equal(k->transformer_import, 300);
  assert_int_equal(k->transformer_export, 0);
  assert_int_equal(k->self_sufficiency_ppm, 769231);
  assert_int_equal(k->self_consumption_ppm, 1000000);
  assert_int_equal(k->met_locally_ppm, 769231);
  assert_int_equal(k->t.bought, 700);
  assert_int_equal(k->p2p_share_ppm, 538462);
  assert_int_equal(k->avg_buy_price, 218571);
  assert_int_equal(k->avg_sell_price, 218571);
  assert_int_equal(k->bill, 104000);
  assert_int_equal(k->baseline_bill, 230000);
  assert_int_equal(k->savings, 126000);
  assert_int_equal(k->savings_ppm, 547826);
  assert_int_equal(k->fees, 14000);
  assert_int_equal(k->surplus, 0);
  assert_int_equal(k->utility_net, 90000);
  assert_int_equal(k->peak_import, 300);
  assert_int_equal(k->peak_import_at, T0);
  assert_int_equal(k->peak_export, 0);
  assert_int_equal(k->intervals_traded, 2);
  assert_int_equal(k->dist.min, 34500);
  assert_int_equal(k->dist.p10, 34500);
  assert_int_equal(k->dist.p25, 34500);
  assert_int_equal(k->dist.p50, 38000);
  assert_int_equal(k->dist.p75, 53500);
  assert_int_equal(k->dist.p90, 53500);
  assert_int_equal(k->dist.max, 53500);
  assert_int_equal(k->dist.mean, 42000);
  assert_int_equal(k->dist.gained, 3);
  assert_int_equal(k->dist.lost, 0);
  sim_results_free(r);

  /* McAfee on the same book: no unit is left out on the offer side in
   * either interval, so one Wh is dropped each time: 299 + 399 Wh trade,
   * buyers pay 0.25, sellers get 0.12 then 0.14; the difference is the
   * mechanism's surplus: 74750 - 35880 + 25000 - 14000 + 74750 - 41860. */
  sim_mechanism m[2];
  assert_int_equal(sim_mechanism_parse("expost/mcafee", NULL, &m[0], NULL), 0);
  assert_int_equal(sim_mechanism_parse("expost/k:0.5", NULL, &m[1], NULL), 0);
  sim_run_options o = {.mechanisms = m, .n_mechanisms = 2};
  r = run(sc, &o);
  w = sim_results_world(r, 0);
  assert_int_equal(w->community.t.bought, 698);
  assert_int_equal(w->community.surplus, 82760);
  /* k = 0.5 in interval 1: 0.5 * 0.25 + 0.5 * 0.12 = 0.185. */
  w = sim_results_world(r, 1);
  assert_int_equal(w->homes[0].t.local_received, 55500);
  sim_results_free(r);
  sim_scenario_free(sc);
}

/*
 * Exante orders are the meter agent's (mtr_trading_order): with daily
 * intervals, day 1 has no history and no orders; on day 2 a bids what it
 * imported on day 1 (1000 Wh at its 0.25) and b offers what it exported
 * (800 Wh at 0.12). 800 Wh trade at a's 0.25 (its level is partly
 * filled); a imports 900 and buys the missing 100 Wh at retail, b exports
 * only 700 and buys the 100 Wh it sold but did not deliver.
 */
static void test_run_exante_orders_are_the_meter_agents(void **state) {
  (void)state;
  char p[GT_PATH_MAX];
  gt_write_file(gt_path(p, dir, "days.csv"),
                "timestamp,household,load_wh,pv_wh\n"
                "2026-06-01T00:00:00Z,a,1000,0\n"
                "2026-06-01T00:00:00Z,b,200,1000\n"
                "2026-06-02T00:00:00Z,a,900,0\n"
                "2026-06-02T00:00:00Z,b,300,1000\n",
                (size_t)-1);
  sim_scenario *sc = load("days.ini",
                          "[scenario]\nname = days\ninterval = 1d\n"
                          "[market]\nmode = exante\nrule = marginal\n"
                          "[tariff]\nretail = 0.30\nfeed_in = 0.10\n"
                          "[input]\nsource = csv\npath = days.csv\nstep = 1d\n"
                          "[household a]\nbuy_limit = 0.25\n"
                          "[household b]\nsell_limit = 0.12\n",
                          NULL, 0);
  sim_results *r = run(sc, NULL);
  const sim_world_result *w = sim_results_world(r, 0);
  const sim_kpi_home *a = &w->homes[0], *b = &w->homes[1];
  assert_int_equal(w->community.intervals_traded, 1);
  assert_int_equal(a->t.bought, 800);
  assert_int_equal(a->t.local_paid, 200000);
  assert_int_equal(a->t.grid_import, 1000 + 100);
  assert_int_equal(a->t.money, -300000 - 200000 - 30000);
  assert_int_equal(b->t.sold, 800);
  assert_int_equal(b->t.grid_import, 100);
  assert_int_equal(b->t.grid_export, 800);
  assert_int_equal(b->t.money, 80000 + 200000 - 30000);
  sim_results_free(r);
  sim_scenario_free(sc);
}

/* ---- Conservation -------------------------------------------------------- */

static const char *street =
    "[scenario]\nname = street\nseed = %d\nstart = 2026-03-01T00:00:00Z\n"
    "days = 2\ninterval = 15m\n"
    "[market]\nmode = expost\nrule = k\n"
    "[tariff]\nretail = 0.32\nfeed_in = 0.06\nnetwork_fee = 0.015\n"
    "[defaults]\nload_kwh = 2500..7000\nbuy_limit = 0.12..0.32\n"
    "sell_limit = 0.06..0.2\n"
    "[household pv]\ncount = 5\npv_kwp = 2..9\n"
    "[household store]\ncount = 3\npv_kwp = 5\nbattery_kwh = 5..13\n"
    "strategy = price-aware\nforecast = previous\n"
    "[household flat]\ncount = 3\nbattery_kwh = 4\nforecast = perfect\n"
    "strategy = follow-contract\n";

static void check_world(const sim_world_result *w) {
  const sim_kpi_community *c = &w->community;
  const sim_totals *t = &c->t;
  /* Energy: each household's balance, and the settlement's. */
  for (size_t i = 0; i < w->n_homes; i++) {
    const sim_totals *h = &w->homes[i].t;
    if (c->physical)
      assert_int_equal(h->import_wh - h->export_wh,
                       h->load - h->pv + h->charge - h->discharge);
    assert_int_equal(h->import_wh - h->export_wh,
                     h->grid_import - h->grid_export + h->bought - h->sold);
    assert_int_equal(h->money, h->local_received + h->grid_received -
                                   h->local_paid - h->fee_paid - h->grid_paid);
    assert_true(h->losses_mwh >= 0);
  }
  assert_int_equal(t->bought, t->sold);
  /* Money: households, network, mechanism and utility sum to zero. */
  assert_int_equal(t->money + c->fees + c->surplus + c->utility_net, 0);
  assert_int_equal(t->local_paid, t->local_received + c->surplus);
  assert_int_equal(c->utility_net, t->grid_paid - t->grid_received);
  assert_true(c->transformer_import - c->transformer_export ==
              t->import_wh - t->export_wh);
}

static void test_run_conserves_energy_and_money_everywhere(void **state) {
  (void)state;
  static const char *const specs[] = {"expost/marginal",   "expost/k:0.3",
                                      "expost/mcafee",     "expost/pay-as-bid",
                                      "exante/marginal",   "exante/mcafee",
                                      "exante/pay-as-bid", "continuous"};
  sim_mechanism m[8];
  for (int i = 0; i < 8; i++)
    assert_int_equal(sim_mechanism_parse(specs[i], NULL, &m[i], NULL), 0);
  for (int seed = 1; seed <= 3; seed++) {
    char text[2048];
    snprintf(text, sizeof text, street, seed);
    sim_scenario *sc = load("street.ini", text, NULL, 0);
    sim_run_options o = {.mechanisms = m, .n_mechanisms = 8};
    sim_results *r = run(sc, &o);
    for (int k = 0; k < 8; k++) {
      const sim_world_result *w = sim_results_world(r, (size_t)k);
      check_world(w);
      assert_int_equal(w->community.intervals, 192);
      assert_true(w->community.t.bought > 0);
    }
    /* Every mechanism saw the same households' load and PV. */
    for (int k = 1; k < 8; k++) {
      assert_int_equal(sim_results_world(r, (size_t)k)->community.t.load,
                       sim_results_world(r, 0)->community.t.load);
      assert_int_equal(sim_results_world(r, (size_t)k)->community.t.pv,
                       sim_results_world(r, 0)->community.t.pv);
    }
    sim_results_free(r);
    sim_scenario_free(sc);
  }
}

/* ---- Determinism --------------------------------------------------------- */

static void run_to(const char *scen, const char *out, int seed) {
  char text[2048], sub[GT_PATH_MAX];
  snprintf(text, sizeof text, street, seed);
  sim_scenario *sc = load(scen, text, NULL, 0);
  sim_mechanism m[2];
  sim_mechanism_parse("expost/k:0.5", NULL, &m[0], NULL);
  sim_mechanism_parse("exante/mcafee", NULL, &m[1], NULL);
  sim_run_options o = {.mechanisms = m,
                       .n_mechanisms = 2,
                       .out_dir = gt_path(sub, dir, out),
                       .household_series = true};
  sim_results_free(run(sc, &o));
  sim_scenario_free(sc);
}

static char *read_out(const char *out, const char *file, size_t *len) {
  char p[GT_PATH_MAX], q[GT_PATH_MAX];
  snprintf(q, sizeof q, "%s/%s", out, file);
  char *s = gt_read_file(gt_path(p, dir, q), len);
  if (!s)
    fail_msg("%s was not written", q);
  return s;
}

static void test_run_outputs_are_byte_identical(void **state) {
  (void)state;
  run_to("d1.ini", "o1", 5);
  run_to("d2.ini", "o2", 5);
  run_to("d3.ini", "o3", 6);
  static const char *const files[] = {"scenario.ini",
                                      "compare.txt",
                                      "compare.csv",
                                      "expost-k-0.5/summary.txt",
                                      "expost-k-0.5/kpi.csv",
                                      "expost-k-0.5/timeseries.csv",
                                      "expost-k-0.5/daily.csv",
                                      "expost-k-0.5/households.csv",
                                      "exante-mcafee/summary.txt",
                                      "exante-mcafee/timeseries.csv",
                                      "exante-mcafee/households.csv"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    size_t la, lb;
    char *a = read_out("o1", files[i], &la);
    char *b = read_out("o2", files[i], &lb);
    assert_true(la > 0);
    if (la != lb || memcmp(a, b, la) != 0)
      fail_msg("%s differs between two runs of the same scenario", files[i]);
    free(a);
    free(b);
  }
  /* Another seed, other results; every file names version and hash. */
  size_t la, lc;
  char *a = read_out("o1", "expost-k-0.5/timeseries.csv", &la);
  char *c = read_out("o3", "expost-k-0.5/timeseries.csv", &lc);
  assert_false(la == lc && memcmp(a, c, la) == 0);
  char want[128];
  snprintf(want, sizeof want, "# gridlet-sim %s\n# scenario sha256 ",
           sim_version());
  assert_memory_equal(a, want, strlen(want));
  free(a);
  free(c);
  char *s = read_out("o1", "expost-k-0.5/summary.txt", &la);
  assert_non_null(strstr(s, "energy and money balance exactly in all 192"));
  free(s);
}

/* ---- Ledger -------------------------------------------------------------- */

/* Household c has no data for the second interval. */
static const char *gap_csv = "timestamp,household,load_wh,pv_wh\n"
                             "2026-06-01T00:00:00Z,a,100,400\n"
                             "2026-06-01T00:00:00Z,b,500,0\n"
                             "2026-06-01T00:00:00Z,c,200,100\n"
                             "2026-06-01T00:15:00Z,a,100,0\n"
                             "2026-06-01T00:15:00Z,b,300,0\n"
                             "2026-06-01T00:30:00Z,a,50,300\n"
                             "2026-06-01T00:30:00Z,b,300,0\n"
                             "2026-06-01T00:30:00Z,c,100,500\n"
                             "2026-06-01T00:45:00Z,a,120,330\n"
                             "2026-06-01T00:45:00Z,b,90,0\n"
                             "2026-06-01T00:45:00Z,c,150,0\n";

static void write_ledger(const char *mode, const char *rule, const char *db) {
  char p[GT_PATH_MAX], text[1024], lp[GT_PATH_MAX];
  gt_write_file(gt_path(p, dir, "gap.csv"), gap_csv, (size_t)-1);
  snprintf(text, sizeof text,
           "[scenario]\nname = gap\ninterval = 15m\n"
           "[market]\nmode = %s\nrule = %s\nk = 0.4\n"
           "[tariff]\nretail = 0.30\nfeed_in = 0.10\nnetwork_fee = 0.02\n"
           "[input]\nsource = csv\npath = gap.csv\nmissing = absent\n"
           "[household a]\nsell_limit = 0.12\nbattery_kwh = 1\n"
           "[household b]\nbuy_limit = 0.25\nforecast = previous\n"
           "[household c]\nbuy_limit = 0.20\nsell_limit = 0.14\n",
           mode, rule);
  sim_scenario *sc = load("gap.ini", text, NULL, 0);
  sim_run_options o = {.ledger_out = gt_path(lp, dir, db)};
  remove(lp);
  sim_results *r = run(sc, &o);
  /* Replay it. */
  snprintf(text, sizeof text,
           "[scenario]\nname = replay\ninterval = 15m\n"
           "[market]\nmode = %s\nrule = %s\nk = 0.4\n"
           "[input]\nsource = ledger\npath = %s\n",
           mode, rule, db);
  sim_scenario *rs = load("replay.ini", text, NULL, 0);
  sim_results *rr = run(rs, NULL);
  const sim_world_result *w = sim_results_world(r, 0);
  const sim_world_result *v = sim_results_world(rr, 0);
  assert_int_equal(sim_results_info(rr)->intervals, 4);
  assert_int_equal(v->verified, 4);
  assert_int_equal(v->mismatched, 0);
  assert_int_equal(v->unverified, 0);
  assert_false(v->community.physical);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(w->homes[i].id, v->homes[i].id);
    assert_int_equal(w->homes[i].bill, v->homes[i].bill);
    assert_int_equal(w->homes[i].baseline_bill, v->homes[i].baseline_bill);
    assert_int_equal(w->homes[i].t.bought, v->homes[i].t.bought);
    assert_int_equal(w->homes[i].t.absent, v->homes[i].t.absent);
  }
  assert_int_equal(v->homes[2].t.absent, 1);
  assert_int_equal(w->community.utility_net, v->community.utility_net);
  sim_results_free(r);
  sim_results_free(rr);
  sim_scenario_free(sc);
  sim_scenario_free(rs);
}

static void test_run_ledger_replays_exactly(void **state) {
  (void)state;
  write_ledger("expost", "marginal", "expost.db");
  write_ledger("expost", "k", "k.db");
  write_ledger("expost", "mcafee", "mcafee.db");
  write_ledger("exante", "pay-as-bid", "exante.db");
  write_ledger("exante", "mcafee", "exmcafee.db");
  write_ledger("continuous", "marginal", "cont.db");
}

static void test_run_ledger_late_readings_and_what_ifs(void **state) {
  (void)state;
  write_ledger("expost", "k", "late.db");
  /* A reading of interval 2 for c, appended after it was settled. */
  char lp[GT_PATH_MAX];
  lg_ledger_options lo = {.create = false};
  lg_ledger *lg = NULL;
  assert_int_equal(lg_ledger_open(gt_path(lp, dir, "late.db"), &lo, &lg), 0);
  lg_entry e;
  memset(&e, 0, sizeof e);
  e.type = LG_ENTRY_READING;
  e.u.reading.interval_start = T0 + 15 * 60 * NS;
  snprintf(e.u.reading.meter_id, sizeof e.u.reading.meter_id, "c");
  e.u.reading.seq = 99;
  e.u.reading.import_wh = 500;
  assert_int_equal(lg_ledger_append_entries(lg, &e, 1, NULL), 0);
  lg_ledger_free(lg);
  const char *text = "[scenario]\nname = replay\ninterval = 15m\n"
                     "[market]\nmode = expost\nrule = k\nk = 0.4\n"
                     "[input]\nsource = ledger\npath = late.db\n";
  sim_scenario *rs = load("late.ini", text, NULL, 0);
  sim_results *rr = run(rs, NULL);
  assert_int_equal(sim_results_info(rr)->late_readings, 1);
  assert_int_equal(sim_results_world(rr, 0)->verified, 4);
  sim_results_free(rr);
  /* The ledger records k (a parameter entry): a replay under another k
   * is a what-if, not comparable, not a difference. */
  const char *sets[] = {"market.k=0.9"};
  sim_scenario *rk = load("late.ini", text, sets, 1);
  rr = run(rk, NULL);
  const sim_world_result *w = sim_results_world(rr, 0);
  assert_int_equal(w->mismatched, 0);
  assert_int_equal(w->unverified, 4);
  sim_results_free(rr);
  /* Other rules: not comparable, but run and conserved. */
  sim_mechanism m[2];
  sim_mechanism_parse("expost/k:0.4", NULL, &m[0], NULL);
  sim_mechanism_parse("expost/mcafee", NULL, &m[1], NULL);
  sim_run_options o = {.mechanisms = m, .n_mechanisms = 2};
  rr = run(rs, &o);
  assert_int_equal(sim_results_world(rr, 0)->verified, 4);
  assert_int_equal(sim_results_world(rr, 1)->unverified, 4);
  check_world(sim_results_world(rr, 1));
  sim_results_free(rr);
  /* Other tariffs are a what-if too. */
  const char *tset[] = {"tariff.retail=0.40", "tariff.feed_in=0.05"};
  sim_scenario *rt = load("late.ini", text, tset, 2);
  rr = run(rt, NULL);
  assert_int_equal(sim_results_world(rr, 0)->unverified, 4);
  sim_results_free(rr);
  sim_scenario_free(rs);
  sim_scenario_free(rk);
  sim_scenario_free(rt);
}

/* A one-interval ledger whose settlement is off by 1 µ between a and b
 * (still conserving money): a sells 100 Wh at 0.12, b buys at 0.25, the
 * marginal rule prices the exact split at 0.185, so a gets 18500 µ. */
static void tampered_ledger(const char *path) {
  lg_ledger_options lo = {.origin = "test/tampered", .create = true};
  lg_ledger *lg = NULL;
  assert_int_equal(lg_ledger_open(path, &lo, &lg), 0);
  lg_entry e[6];
  memset(e, 0, sizeof e);
  static const char *const id[2] = {"a", "b"};
  for (int i = 0; i < 2; i++) {
    e[i].type = LG_ENTRY_READING;
    e[i].u.reading.interval_start = T0;
    snprintf(e[i].u.reading.meter_id, sizeof e[i].u.reading.meter_id, "%s",
             id[i]);
    e[i].u.reading.seq = 1;
    e[i].u.reading.export_wh = i == 0 ? 100 : 0;
    e[i].u.reading.import_wh = i == 1 ? 100 : 0;
    e[2 + i].type = LG_ENTRY_ORDER;
    e[2 + i].u.order.interval_start = T0;
    snprintf(e[2 + i].u.order.meter_id, sizeof e[2 + i].u.order.meter_id, "%s",
             id[i]);
    e[2 + i].u.order.seq = 2;
    e[2 + i].u.order.side = i == 0 ? LG_SIDE_SELL : LG_SIDE_BUY;
    e[2 + i].u.order.limit_price = i == 0 ? 120000 : 250000;
  }
  lg_trade tr = {
      .buyer = "b", .seller = "a", .energy_wh = 100, .price = 185000};
  e[4].type = LG_ENTRY_CLEARING;
  e[4].u.clearing = (lg_clearing){.interval_start = T0,
                                  .interval_len_s = 900,
                                  .mode = LG_MODE_EXPOST,
                                  .rule = LG_RULE_MARGINAL,
                                  .price = 185000,
                                  .volume_wh = 100,
                                  .n_trades = 1,
                                  .trades = &tr};
  lg_settlement_row rows[2];
  memset(rows, 0, sizeof rows);
  snprintf(rows[0].meter_id, sizeof rows[0].meter_id, "a");
  rows[0].local_sold_wh = 100;
  rows[0].money = 18501;
  snprintf(rows[1].meter_id, sizeof rows[1].meter_id, "b");
  rows[1].local_bought_wh = 100;
  rows[1].money = -18501;
  e[5].type = LG_ENTRY_SETTLEMENT;
  e[5].u.settlement = (lg_settlement){.interval_start = T0,
                                      .interval_len_s = 900,
                                      .retail_price = 300000,
                                      .feedin_price = 100000,
                                      .n_rows = 2,
                                      .rows = rows};
  assert_int_equal(lg_ledger_append_entries(lg, e, 6, NULL), 0);
  lg_ledger_free(lg);
}

static void test_run_ledger_wrong_settlement_is_found(void **state) {
  (void)state;
  char lp[GT_PATH_MAX];
  tampered_ledger(gt_path(lp, dir, "tampered.db"));
  sim_scenario *sc = load("t.ini",
                          "[scenario]\nname = t\n[market]\nmode = expost\n"
                          "rule = marginal\n[input]\nsource = ledger\n"
                          "path = tampered.db\n",
                          NULL, 0);
  sim_results *r = run(sc, NULL);
  const sim_world_result *w = sim_results_world(r, 0);
  assert_int_equal(w->mismatched, 1);
  assert_string_equal(w->first_mismatch,
                      "interval 2026-06-01T00:00:00Z, meter a: money 18500 "
                      "replayed, 18501 recorded");
  assert_int_equal(w->homes[0].t.money, 18500);
  sim_results_free(r);
  sim_scenario_free(sc);
}

static void test_run_ledger_inconsistent_is_refused(void **state) {
  (void)state;
  char lp[GT_PATH_MAX];
  gt_path(lp, dir, "bad.db");
  lg_ledger_options lo = {.origin = "test/bad", .create = true};
  lg_ledger *lg = NULL;
  assert_int_equal(lg_ledger_open(lp, &lo, &lg), 0);
  lg_settlement_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.meter_id, sizeof row.meter_id, "a");
  lg_entry e;
  memset(&e, 0, sizeof e);
  e.type = LG_ENTRY_SETTLEMENT;
  e.u.settlement.interval_start = T0;
  e.u.settlement.interval_len_s = 900;
  e.u.settlement.retail_price = 300000;
  e.u.settlement.feedin_price = 100000;
  e.u.settlement.n_rows = 1;
  e.u.settlement.rows = &row;
  assert_int_equal(lg_ledger_append_entries(lg, &e, 1, NULL), 0);
  lg_ledger_free(lg);
  sim_scenario *sc = load("bad.ini",
                          "[scenario]\nname = bad\n[input]\nsource = ledger\n"
                          "path = bad.db\n",
                          NULL, 0);
  sim_diag d;
  memset(&d, 0, sizeof d);
  sim_results *r = NULL;
  assert_int_equal(sim_run(sc, NULL, &r, &d), GL_EPARSE);
  assert_non_null(strstr(d.msg[0], "entry 0: the settlement of "
                                   "2026-06-01T00:00:00Z counts meter a as "
                                   "read, but no reading of it precedes"));
  sim_scenario_free(sc);
  /* A ledger whose intervals are not the scenario's. */
  sc = load("bad.ini",
            "[scenario]\nname = bad\ninterval = 30m\n[input]\nsource = "
            "ledger\npath = bad.db\n",
            NULL, 0);
  memset(&d, 0, sizeof d);
  assert_int_equal(sim_run(sc, NULL, &r, &d), GL_EPARSE);
  assert_non_null(strstr(d.msg[0], "is for an interval of 15m"));
  sim_scenario_free(sc);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_kpis_of_a_small_community_by_hand),
      cmocka_unit_test(test_run_exante_orders_are_the_meter_agents),
      cmocka_unit_test(test_run_exante_orders_are_the_meter_agents),
      cmocka_unit_test(test_run_conserves_energy_and_money_everywhere),
      cmocka_unit_test(test_run_outputs_are_byte_identical),
      cmocka_unit_test(test_run_ledger_replays_exactly),
      cmocka_unit_test(test_run_ledger_late_readings_and_what_ifs),
      cmocka_unit_test(test_run_ledger_wrong_settlement_is_found),
      cmocka_unit_test(test_run_ledger_inconsistent_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
