/* SPDX-License-Identifier: MIT */
/* `gridlet-sim run` and `compare` as a researcher uses them, on the
 * sample files shipped in sim/examples: outputs and plots (real gnuplot,
 * PNG and SVG) are written and are byte-identical when run again; bad
 * input is reported with file:line and exit status 1; a run written as a
 * ledger replays to the same settlements, and a replay that differs from
 * the recorded settlements exits with 3. Processes are started by PID. */
#include "gridlet/ledger.h"
#include "gridlet/log.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[GT_PATH_MAX], bin[GT_PATH_MAX];

static int setup(void **state) {
  (void)state;
  gt_tmpdir("simruncli", dir);
  gt_build_path(bin, "sim/gridlet-sim");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

/* Run gridlet-sim with args (NULL-terminated); output into `log` (a name
 * in dir). Returns the exit status. */
static int sim(const char *log, ...) {
  char *argv[32];
  int n = 0;
  argv[n++] = bin;
  va_list ap;
  va_start(ap, log);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 31)
    argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  char lp[GT_PATH_MAX];
  gt_path(lp, dir, log);
  remove(lp);
  pid_t pid = gt_proc_start(argv, lp, NULL);
  int st = gt_proc_wait(pid, 120000);
  if (st < 0) {
    gt_proc_kill9(pid);
    fail_msg("gridlet-sim did not finish");
  }
  if (!WIFEXITED(st)) {
    char *out = gt_read_file(lp, NULL);
    fail_msg("gridlet-sim %s died (wait status %d, signal %d); output:\n%s",
             argv[1], st, WIFSIGNALED(st) ? WTERMSIG(st) : 0, out ? out : "");
  }
  return WEXITSTATUS(st);
}

static char *log_text(const char *log) {
  char lp[GT_PATH_MAX];
  char *t = gt_read_file(gt_path(lp, dir, log), NULL);
  return t ? t : calloc(1, 1);
}

static void same_file(const char *a, const char *b, const char *name) {
  char pa[GT_PATH_MAX], pb[GT_PATH_MAX], fa[GT_PATH_MAX], fb[GT_PATH_MAX];
  snprintf(fa, sizeof fa, "%s/%s", a, name);
  snprintf(fb, sizeof fb, "%s/%s", b, name);
  size_t la = 0, lb = 0;
  char *x = gt_read_file(gt_path(pa, dir, fa), &la);
  char *y = gt_read_file(gt_path(pb, dir, fb), &lb);
  if (!x || !y)
    fail_msg("%s is missing", name);
  if (la == 0 || la != lb || memcmp(x, y, la) != 0)
    fail_msg("%s differs between two runs", name);
  free(x);
  free(y);
}

static void test_cli_run_writes_the_same_bytes_twice(void **state) {
  (void)state;
  char scen[GT_PATH_MAX], o1[GT_PATH_MAX], o2[GT_PATH_MAX];
  gt_source_path(scen, "sim/examples/ausgrid.ini");
  gt_path(o1, dir, "a1");
  gt_path(o2, dir, "a2");
  assert_int_equal(sim("a1.log", "run", scen, "-o", o1, NULL), 0);
  assert_int_equal(sim("a2.log", "run", scen, "-o", o2, "-q", NULL), 0);
  char *out = log_text("a1.log");
  /* Not a terminal: no progress bar, just the table. */
  assert_non_null(strstr(out, "self-sufficiency"));
  assert_null(strstr(out, "intervals \r"));
  assert_null(strchr(out, '\r'));
  free(out);
  out = log_text("a2.log");
  assert_string_equal(out, "");
  free(out);
  static const char *const files[] = {
      "scenario.ini",      "summary.txt",       "kpi.csv",
      "timeseries.csv",    "daily.csv",         "plots/plots.gp",
      "plots/savings.dat", "plots/prices.png",  "plots/prices.svg",
      "plots/flows.png",   "plots/flows.svg",   "plots/battery.png",
      "plots/battery.svg", "plots/savings.png", "plots/savings.svg"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    same_file("a1", "a2", files[i]);
  /* PNG files are PNGs. */
  char p[GT_PATH_MAX];
  size_t len;
  char *png = gt_read_file(gt_path(p, o1, "plots/prices.png"), &len);
  assert_true(len > 1000 && memcmp(png, "\x89PNG", 4) == 0);
  free(png);
}

static void test_cli_compare_prints_one_table(void **state) {
  (void)state;
  char scen[GT_PATH_MAX], o[GT_PATH_MAX];
  gt_source_path(scen, "sim/examples/csv.ini");
  gt_path(o, dir, "cmp");
  assert_int_equal(sim("cmp.log", "compare", scen, "-o", o, "-m",
                       "exante/marginal", "-m", "exante/mcafee", "-m",
                       "continuous", "-m", "expost/k:0.25", NULL),
                   0);
  char *out = log_text("cmp.log");
  assert_non_null(strstr(out, "exante/marginal   exante/mcafee      "
                              "continuous   expost/k:0.25"));
  assert_non_null(strstr(out, "savings median"));
  free(out);
  char p[GT_PATH_MAX];
  char *csv = gt_read_file(gt_path(p, o, "compare.csv"), NULL);
  assert_non_null(csv);
  assert_non_null(strstr(csv, "kpi,exante/marginal,exante/mcafee,continuous,"
                              "expost/k:0.25\n"));
  free(csv);
  struct stat st;
  assert_int_equal(stat(gt_path(p, o, "plots/compare-savings.svg"), &st), 0);
  assert_int_equal(stat(gt_path(p, o, "continuous/plots/prices.png"), &st), 0);
}

static void test_cli_reports_bad_input_with_file_and_line(void **state) {
  (void)state;
  /* A copy of the Ausgrid sample with a broken value on line 5. */
  char src[GT_PATH_MAX], p[GT_PATH_MAX], scen[GT_PATH_MAX];
  char *data = gt_read_file(
      gt_source_path(src, "sim/examples/ausgrid-sample.csv"), NULL);
  assert_non_null(data);
  char *l = data;
  for (int i = 1; i < 5; i++)
    l = strchr(l, '\n') + 1;
  char *comma = strchr(l, ',');
  for (int i = 0; i < 7; i++)
    comma = strchr(comma + 1, ',');
  comma[1] = 'x';
  gt_write_file(gt_path(p, dir, "broken.csv"), data, (size_t)-1);
  free(data);
  gt_write_file(gt_path(scen, dir, "broken.ini"),
                "[scenario]\nname = broken\n[tariff]\nretail = 0.3\n"
                "feed_in = 0.1\n[input]\nsource = ausgrid\npath = broken.csv\n",
                (size_t)-1);
  assert_int_equal(sim("broken.log", "run", scen, "-o", p, NULL), 1);
  char *out = log_text("broken.log");
  assert_non_null(strstr(out, "broken.csv:5: column 2:00 (half hour ending "
                              "2:00) must be kWh"));
  free(out);
  /* A bad scenario; a bad command line. */
  gt_write_file(gt_path(scen, dir, "bad.ini"), "[scenario]\nseed = many\n",
                (size_t)-1);
  assert_int_equal(sim("bad.log", "run", scen, NULL), 1);
  out = log_text("bad.log");
  assert_non_null(strstr(out, "bad.ini:2: scenario.seed: 'many'"));
  free(out);
  assert_int_equal(sim("usage.log", "run", NULL), 2);
  assert_int_equal(sim("usage.log", "run", scen, "--bogus", NULL), 2);
  assert_int_equal(sim("usage.log", "compare", scen, "-m", "sideways", NULL),
                   1); /* the scenario fails first */
  /* --check validates without writing anything. */
  char ok[GT_PATH_MAX];
  gt_source_path(ok, "sim/examples/csv.ini");
  assert_int_equal(sim("check.log", "run", ok, "--check", NULL), 0);
  out = log_text("check.log");
  assert_non_null(strstr(out, "is valid: 3 households, 192 intervals"));
  free(out);
}

/* A one-interval ledger whose settlement is off by 1 µ between a and b
 * (money still conserved): a sells 100 Wh at 0.12, b buys at 0.25; the
 * marginal rule prices the exact split at 0.185, so a should get 18500 µ. */
static void tampered_ledger(const char *path) {
  lg_ledger_options lo = {.origin = "test/tampered", .create = true};
  lg_ledger *lg = NULL;
  assert_int_equal(lg_ledger_open(path, &lo, &lg), 0);
  lg_entry e[6];
  memset(e, 0, sizeof e);
  static const char *const id[2] = {"a", "b"};
  int64_t t0 = INT64_C(1780272000) * 1000000000;
  for (int i = 0; i < 2; i++) {
    e[i].type = LG_ENTRY_READING;
    e[i].u.reading.interval_start = t0;
    snprintf(e[i].u.reading.meter_id, sizeof e[i].u.reading.meter_id, "%s",
             id[i]);
    e[i].u.reading.seq = 1;
    e[i].u.reading.export_wh = i == 0 ? 100 : 0;
    e[i].u.reading.import_wh = i == 1 ? 100 : 0;
    e[2 + i].type = LG_ENTRY_ORDER;
    e[2 + i].u.order.interval_start = t0;
    snprintf(e[2 + i].u.order.meter_id, sizeof e[2 + i].u.order.meter_id, "%s",
             id[i]);
    e[2 + i].u.order.seq = 2;
    e[2 + i].u.order.side = i == 0 ? LG_SIDE_SELL : LG_SIDE_BUY;
    e[2 + i].u.order.limit_price = i == 0 ? 120000 : 250000;
  }
  lg_trade tr = {
      .buyer = "b", .seller = "a", .energy_wh = 100, .price = 185000};
  e[4].type = LG_ENTRY_CLEARING;
  e[4].u.clearing = (lg_clearing){.interval_start = t0,
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
  e[5].u.settlement = (lg_settlement){.interval_start = t0,
                                      .interval_len_s = 900,
                                      .retail_price = 300000,
                                      .feedin_price = 100000,
                                      .n_rows = 2,
                                      .rows = rows};
  assert_int_equal(lg_ledger_append_entries(lg, e, 6, NULL), 0);
  lg_ledger_free(lg);
}

static void test_cli_ledger_round_trip_and_what_if(void **state) {
  (void)state;
  char scen[GT_PATH_MAX], db[GT_PATH_MAX], o[GT_PATH_MAX], r[GT_PATH_MAX];
  gt_source_path(scen, "sim/examples/csv.ini");
  gt_path(db, dir, "run.db");
  gt_path(o, dir, "lrun");
  assert_int_equal(sim("l.log", "run", scen, "-o", o, "--no-plots", "--set",
                       "market.mode=expost", "--set", "market.rule=k",
                       "--ledger-out", db, NULL),
                   0);
  gt_write_file(gt_path(r, dir, "replay.ini"),
                "[scenario]\nname = replay\n[market]\nmode = expost\n"
                "rule = k\n[input]\nsource = ledger\npath = run.db\n",
                (size_t)-1);
  char o2[GT_PATH_MAX];
  gt_path(o2, dir, "lreplay");
  assert_int_equal(sim("r.log", "run", r, "-o", o2, "--no-plots", NULL), 0);
  char *out = log_text("r.log");
  assert_non_null(strstr(out, "recorded settlements               192 match, "
                              "0 differ, 0 not comparable"));
  free(out);
  /* The bills agree with the run that wrote the ledger. */
  char p[GT_PATH_MAX];
  char *a = gt_read_file(gt_path(p, o, "summary.txt"), NULL);
  char *b = gt_read_file(gt_path(p, o2, "summary.txt"), NULL);
  char *ba = strstr(a, "  bills"), *bb = strstr(b, "  bills");
  assert_non_null(ba);
  assert_non_null(bb);
  assert_memory_equal(ba, bb, (size_t)(strchr(ba, '(') - ba));
  free(a);
  free(b);
  /* A ledger whose settlement is not what the market computes. */
  char bad[GT_PATH_MAX];
  tampered_ledger(gt_path(bad, dir, "tampered.db"));
  gt_write_file(gt_path(r, dir, "tampered.ini"),
                "[scenario]\nname = t\n[market]\nmode = expost\n"
                "rule = marginal\n[input]\nsource = ledger\n"
                "path = tampered.db\n",
                (size_t)-1);
  gt_path(o2, dir, "ltampered");
  assert_int_equal(sim("t.log", "run", r, "-o", o2, "--no-plots", NULL), 3);
  out = log_text("t.log");
  assert_non_null(strstr(out, "the replay differs from the recorded "
                              "settlements: interval 2026-06-01T00:00:00Z, "
                              "meter a: money 18500 replayed, 18501 "
                              "recorded"));
  free(out);
  gt_path(r, dir, "replay.ini");
  /* "What would it have been under McAfee?" */
  gt_path(o2, dir, "lwhatif");
  assert_int_equal(sim("w.log", "compare", r, "-o", o2, "--no-plots", "-m",
                       "expost/k:0.5", "-m", "expost/mcafee", NULL),
                   0);
  out = log_text("w.log");
  assert_non_null(strstr(out, "settlements matching ledger"));
  free(out);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_run_writes_the_same_bytes_twice),
      cmocka_unit_test(test_cli_compare_prints_one_table),
      cmocka_unit_test(test_cli_reports_bad_input_with_file_and_line),
      cmocka_unit_test(test_cli_ledger_round_trip_and_what_if),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
