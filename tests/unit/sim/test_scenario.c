/* SPDX-License-Identifier: MIT */
/* Unit tests for the scenario file: values and defaults, every kind of
 * error with its file:line, overrides, the canonical text and its hash,
 * mechanisms, and the resolution of households (counts, ranges drawn from
 * the seed, inheritance from [defaults], ids from data). */
#include "gridlet/error.h"
#include "gridlet/sim_scenario.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NS INT64_C(1000000000)

static const char *base = "# a street\n"
                          "[scenario]\n"
                          "name = street\n"
                          "seed = 7\n"
                          "start = 2026-01-01T00:00:00Z\n"
                          "days = 2\n"
                          "interval = 30m\n"
                          "currency = AUD\n"
                          "\n"
                          "[market]\n"
                          "mode = exante\n"
                          "rule = k\n"
                          "k = 0.25\n"
                          "rationing = time\n"
                          "self_trade = allow\n"
                          "\n"
                          "[tariff]\n"
                          "retail = 0.30\n"
                          "feed_in = 0.05\n"
                          "network_fee = 0.012\n"
                          "\n"
                          "[defaults]\n"
                          "load_kwh = 5000\n"
                          "buy_limit = 0.20..0.25\n"
                          "\n"
                          "[household pv]\n"
                          "count = 12\n"
                          "pv_kwp = 6.6\n"
                          "battery_kwh = 13.5\n"
                          "battery_kw = 5\n"
                          "strategy = price-aware\n"
                          "\n"
                          "[household solo]\n"
                          "load_kwh = 3000\n";

static sim_scenario *parse(const char *text, const char *const *sets,
                           size_t n_sets, sim_diag *d) {
  sim_scenario *sc = NULL;
  memset(d, 0, sizeof *d);
  int rc = sim_scenario_parse("/data/s.ini", text, strlen(text), sets, n_sets,
                              &sc, d);
  if (rc)
    return NULL;
  return sc;
}

/* The file must fail and some collected error must contain `needle`. */
static void expect_error(const char *text, const char *needle) {
  sim_diag d;
  sim_scenario *sc = parse(text, NULL, 0, &d);
  if (sc)
    fail_msg("parsed, expected an error containing \"%s\"", needle);
  for (int i = 0; i < d.count && i < SIM_DIAG_KEEP; i++)
    if (strstr(d.msg[i], needle))
      return;
  sim_diag_print(&d, stderr);
  fail_msg("no error contains \"%s\"", needle);
}

static void test_scenario_values_and_defaults(void **state) {
  (void)state;
  sim_diag d;
  sim_scenario *sc = parse(base, NULL, 0, &d);
  assert_non_null(sc);
  assert_string_equal(sc->name, "street");
  assert_int_equal(sc->seed, 7);
  assert_int_equal(sc->start, INT64_C(1767225600) * NS);
  assert_int_equal(sc->end, sc->start + 2 * 86400 * NS);
  assert_int_equal(sc->interval, 1800 * NS);
  assert_string_equal(sc->currency, "AUD");
  assert_int_equal(sc->market.mode, MKT_MODE_EXANTE);
  assert_int_equal(sc->market.rule, MKT_RULE_K);
  assert_int_equal(sc->market.k_ppm, 250000);
  assert_int_equal(sc->market.rationing, MKT_RATION_TIME);
  assert_true(sc->market.allow_self_trade);
  assert_string_equal(sc->market.name, "exante/k:0.25");
  assert_int_equal(sc->band.retail, 300000);
  assert_int_equal(sc->band.feed_in, 50000);
  assert_int_equal(sc->band.fee, 12000);
  assert_int_equal(sc->source, SIM_SOURCE_SYNTHETIC);
  assert_string_equal(sc->dir, "/data");
  /* The default comparison: the four rules under the scenario's mode. */
  assert_int_equal(sc->n_compare, 4);
  assert_string_equal(sc->compare[0].name, "exante/marginal");
  assert_string_equal(sc->compare[1].name, "exante/k:0.25");
  assert_string_equal(sc->compare[2].name, "exante/mcafee");
  assert_string_equal(sc->compare[3].name, "exante/pay-as-bid");
  assert_int_equal(sc->n_specs, 2);
  assert_int_equal(sc->specs[0].count, 12);
  assert_int_equal(sc->specs[0].v[SIM_HK_PV_KWP].lo, 6600);
  assert_int_equal(sc->defaults.v[SIM_HK_BUY_LIMIT].lo, 200000);
  assert_int_equal(sc->defaults.v[SIM_HK_BUY_LIMIT].hi, 250000);
  sim_scenario_free(sc);
}

static void test_scenario_errors_name_file_and_line(void **state) {
  (void)state;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s[market]\nmode = sideways\n", base);
  expect_error(buf, "section [market] is given twice");
  expect_error("[scenario]\nname = a\nname = b\n",
               "/data/s.ini:3: scenario.name is given twice");
  expect_error("[scenario]\ncolour = red\n",
               "/data/s.ini:2: unknown key 'colour' in [scenario]");
  expect_error("[scenery]\n", "/data/s.ini:1: unknown section [scenery]");
  expect_error("[scenario]\njust words\n",
               "/data/s.ini:2: expected [section] or key = value");
  expect_error("name = x\n", "/data/s.ini:1: key 'name' outside any section");
  expect_error("[scenario]\ninterval = 7m\n",
               "/data/s.ini:2: scenario.interval: '7m' must be whole seconds");
  expect_error("[scenario]\nseed = -1\n", "/data/s.ini:2: scenario.seed");
  expect_error("[scenario]\nstart = yesterday\n",
               "scenario.start: 'yesterday' must be an RFC 3339 time");
  expect_error("[tariff]\nretail = 0.1234567\n", "has too many digits");
  expect_error("[tariff]\nretail = 0.10\nfeed_in = 0.20\n",
               "feed_in must not exceed retail");
  expect_error("[market]\nrule = best\n",
               "/data/s.ini:2: market.rule: 'best' must be marginal, k");
  expect_error("[market]\ncompare = expost, sideways/k\n",
               "market.compare: 'sideways/k': the mode must be");
  expect_error("[market]\ncompare = continuous/k\n",
               "continuous takes no price rule");
  expect_error("[household Bad]\n",
               "/data/s.ini:1: [household ID] needs an id");
  expect_error("[household aggregator]\n", "[household ID] needs an id");
  expect_error("[household a]\n[household a]\n",
               "/data/s.ini:2: household 'a' has a section already");
  expect_error("[household a]\npv_kwp = 8..3\n",
               "/data/s.ini:2: pv_kwp: '8..3' is a range whose low end");
  expect_error("[household a]\nbattery_efficiency = 0.3\n",
               "battery_efficiency: '0.3' is out of range");
  expect_error("[household a]\nstrategy = greedy\n",
               "strategy: 'greedy' is not one of the allowed words");
  expect_error("[household a]\nwings = 2\n",
               "/data/s.ini:2: unknown key 'wings' in a household section");
  expect_error("[defaults]\ncount = 3\n", "belongs in a [household ID]");
  expect_error("[scenario]\nstart = 2026-01-01T00:07:00Z\ndays = 1\n",
               "scenario.start is not on an interval boundary");
  expect_error("[scenario]\nname = x\n[tariff]\nretail = 0.3\nfeed_in = 0.1\n",
               "synthetic input needs scenario.start and scenario.end");
  expect_error("[input]\nsource = csv\n", "input.path is required");
  expect_error("[input]\nsource = ledger\npath = l.db\n[household a]\n",
               "household sections do not apply to ledger input");
  expect_error("[input]\nsource = csv\npath = x.csv\n[household a]\n"
               "pv_kwp = 3\n",
               "pv_kwp applies to synthetic input only");
  {
    static const char nul[] = "[scenario]\nname = x\0y\n";
    sim_scenario *sc = NULL;
    sim_diag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(
        sim_scenario_parse("n.ini", nul, sizeof nul - 1, NULL, 0, &sc, &d),
        GL_ECONFIG);
    assert_non_null(strstr(d.msg[0], "n.ini:2: NUL byte"));
  }
  /* Every error of the file is collected, not just the first. */
  sim_diag d;
  assert_null(
      parse("[scenario]\nseed = x\ninterval = y\n[nope]\n", NULL, 0, &d));
  assert_true(d.count >= 3);
  assert_non_null(strstr(d.msg[0], ":2:"));
  assert_non_null(strstr(d.msg[1], ":3:"));
  assert_non_null(strstr(d.msg[2], ":4:"));
}

static void test_scenario_overrides_replace_and_add(void **state) {
  (void)state;
  const char *sets[] = {"market.rule=mcafee", "scenario.seed=99",
                        "household:solo.battery_kwh=5",
                        "scenario.end=2026-01-01T12:00:00Z"};
  sim_diag d;
  sim_scenario *sc = parse(base, sets, 4, &d);
  assert_non_null(sc);
  assert_int_equal(sc->market.rule, MKT_RULE_MCAFEE);
  assert_int_equal(sc->seed, 99);
  assert_int_equal(sc->specs[1].v[SIM_HK_BATTERY_KWH].lo, 5000);
  assert_int_equal(sc->end, sc->start + 12 * 3600 * NS); /* replaces days */
  sim_scenario_free(sc);
  const char *bad[] = {"market.colour=red"};
  assert_null(parse(base, bad, 1, &d));
  assert_non_null(strstr(d.msg[0], "--set: unknown key 'colour'"));
  const char *bad2[] = {"household:nobody.pv_kwp=1"};
  assert_null(parse(base, bad2, 1, &d));
  assert_non_null(strstr(d.msg[0], "no [household nobody] section"));
  const char *bad3[] = {"no-dot"};
  assert_null(parse(base, bad3, 1, &d));
}

static void test_scenario_canonical_text_round_trips(void **state) {
  (void)state;
  sim_diag d;
  sim_scenario *a = parse(base, NULL, 0, &d);
  assert_non_null(a);
  char *ta = NULL, *tb = NULL;
  assert_int_equal(sim_scenario_format(a, &ta), 0);
  sim_scenario *b = parse(ta, NULL, 0, &d);
  assert_non_null(b);
  assert_int_equal(sim_scenario_format(b, &tb), 0);
  assert_string_equal(ta, tb);
  char ha[65], hb[65];
  assert_int_equal(sim_scenario_hash(a, ha), 0);
  assert_int_equal(sim_scenario_hash(b, hb), 0);
  assert_string_equal(ha, hb);
  assert_int_equal(strlen(ha), 64);
  /* Comments and spacing do not change the hash; a value does. */
  char buf[4096];
  snprintf(buf, sizeof buf, "# another comment\n\n%s", base);
  sim_scenario *c = parse(buf, NULL, 0, &d);
  char hc[65];
  assert_int_equal(sim_scenario_hash(c, hc), 0);
  assert_string_equal(ha, hc);
  const char *sets[] = {"scenario.seed=8"};
  sim_scenario *e = parse(base, sets, 1, &d);
  char he[65];
  assert_int_equal(sim_scenario_hash(e, he), 0);
  assert_string_not_equal(ha, he);
  assert_non_null(strstr(ta, "buy_limit = 0.2..0.25\n"));
  assert_non_null(strstr(ta, "end = 2026-01-03T00:00:00Z\n"));
  free(ta);
  free(tb);
  sim_scenario_free(a);
  sim_scenario_free(b);
  sim_scenario_free(c);
  sim_scenario_free(e);
}

static void test_scenario_mechanism_specs(void **state) {
  (void)state;
  sim_mechanism m;
  const char *why;
  assert_int_equal(sim_mechanism_parse("expost", NULL, &m, &why), 0);
  assert_string_equal(m.name, "expost/marginal");
  assert_int_equal(sim_mechanism_parse("exante/k:0.125", NULL, &m, &why), 0);
  assert_string_equal(m.name, "exante/k:0.125");
  assert_int_equal(m.k_ppm, 125000);
  assert_int_equal(sim_mechanism_parse("expost/k", NULL, &m, &why), 0);
  assert_int_equal(m.k_ppm, 500000);
  assert_int_equal(sim_mechanism_parse("continuous", NULL, &m, &why), 0);
  assert_string_equal(m.name, "continuous");
  assert_int_equal(sim_mechanism_parse("expost/mcafee:1", NULL, &m, &why),
                   GL_EINVAL);
  assert_int_equal(sim_mechanism_parse("expost/k:1.5", NULL, &m, &why),
                   GL_EINVAL);
  assert_int_equal(sim_mechanism_parse("", NULL, &m, &why), GL_EINVAL);
  char dir[32];
  sim_mechanism_parse("expost/k:0.5", NULL, &m, &why);
  assert_string_equal(sim_mechanism_dirname(&m, dir, sizeof dir),
                      "expost-k-0.5");
}

static void test_scenario_homes_expand_inherit_and_draw(void **state) {
  (void)state;
  sim_diag d;
  sim_scenario *sc = parse(base, NULL, 0, &d);
  sim_home *h = NULL;
  size_t n = 0;
  assert_int_equal(sim_scenario_homes(sc, NULL, 0, &h, &n, &d), 0);
  assert_int_equal(n, 13);
  /* Sorted by id, zero-padded counts. */
  assert_string_equal(h[0].id, "pv-01");
  assert_string_equal(h[11].id, "pv-12");
  assert_string_equal(h[12].id, "solo");
  /* Section values, [defaults], built-in defaults. */
  assert_int_equal(h[0].pv_wp, 6600);
  assert_int_equal(h[0].battery_wh, 13500);
  assert_int_equal(h[0].charge_w, 5000);
  assert_int_equal(h[0].discharge_w, 5000);
  assert_int_equal(h[0].strategy, SIM_STRATEGY_PRICE_AWARE);
  assert_int_equal(h[0].load_wh_year, 5000000);
  assert_int_equal(h[12].load_wh_year, 3000000);
  assert_int_equal(h[12].battery_wh, 0);
  assert_int_equal(h[12].efficiency_ppm, 900000);
  assert_int_equal(h[12].sell_limit, 50000);    /* feed-in */
  assert_int_equal(h[12].charge_below, 175000); /* band midpoint */
  /* Ranges: within bounds, not all equal, the same for the same seed. */
  bool differ = false;
  for (size_t i = 0; i < n; i++) {
    assert_in_range(h[i].buy_limit, 200000, 250000);
    if (h[i].buy_limit != h[0].buy_limit)
      differ = true;
  }
  assert_true(differ);
  sim_home *h2 = NULL;
  size_t n2 = 0;
  assert_int_equal(sim_scenario_homes(sc, NULL, 0, &h2, &n2, &d), 0);
  assert_memory_equal(h, h2, n * sizeof *h);
  free(h);
  free(h2);
  sim_scenario_free(sc);

  /* Data inputs: ids from the data, sections must name one of them. */
  const char *data = "[input]\nsource = csv\npath = d.csv\n"
                     "[tariff]\nretail = 0.3\nfeed_in = 0.1\n"
                     "[household b]\nbattery_kwh = 4\n";
  sc = parse(data, NULL, 0, &d);
  assert_non_null(sc);
  const char *ids[] = {"a", "b", "c"};
  assert_int_equal(sim_scenario_homes(sc, ids, 3, &h, &n, &d), 0);
  assert_int_equal(n, 3);
  assert_int_equal(h[1].battery_wh, 4000);
  assert_int_equal(h[1].charge_w, 2000); /* half the capacity per hour */
  assert_int_equal(h[0].battery_wh, 0);
  free(h);
  const char *ids2[] = {"a", "c"};
  memset(&d, 0, sizeof d);
  assert_int_equal(sim_scenario_homes(sc, ids2, 2, &h, &n, &d), GL_ECONFIG);
  assert_non_null(strstr(d.msg[0], "household b is not in the input"));
  sim_scenario_free(sc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scenario_values_and_defaults),
      cmocka_unit_test(test_scenario_errors_name_file_and_line),
      cmocka_unit_test(test_scenario_overrides_replace_and_add),
      cmocka_unit_test(test_scenario_canonical_text_round_trips),
      cmocka_unit_test(test_scenario_mechanism_specs),
      cmocka_unit_test(test_scenario_homes_expand_inherit_and_draw),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
