/* SPDX-License-Identifier: MIT */
/* Unit tests for the data inputs: the long CSV and the Ausgrid formats,
 * row by row and as files (both row orders), unit, timezone and interval
 * conversions, and every kind of malformed input reported with its
 * file:line. */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/sim_input.h"

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
#define MIN (60 * NS)
/* 2026-06-01T00:00:00Z */
#define T0 (INT64_C(1780272000) * NS)

static char dir[GT_PATH_MAX];

static int setup(void **state) {
  (void)state;
  gt_tmpdir("siminput", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

/* ---- Rows ---------------------------------------------------------------- */

static void test_input_csv_rows(void **state) {
  (void)state;
  sim_csv_format f = {.step = 15 * MIN};
  sim_csv_row r;
  char why[256];
  const char *l = "2026-06-01T00:15:00Z,h01,120,0.5";
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why), 0);
  assert_int_equal(r.start, T0 + 15 * MIN);
  assert_int_equal(r.household_len, 3);
  assert_memory_equal(r.household, "h01", 3);
  assert_int_equal(r.load_wh, 120);
  assert_int_equal(r.pv_wh, 0); /* 0.5 Wh rounds half to even */
  l = "2026-06-01T10:15:00+10:00,\"h01\",2.5,3.5";
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why), 0);
  assert_int_equal(r.start, T0 + 15 * MIN);
  assert_int_equal(r.load_wh, 2);
  assert_int_equal(r.pv_wh, 4);
  /* Timestamps marking ends. */
  f.timestamps_end = true;
  l = "2026-06-01T00:15:00Z,h01,1,1";
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why), 0);
  assert_int_equal(r.start, T0);
  f.timestamps_end = false;
  /* Naive local time only with an offset configured. */
  l = "2026-06-01 10:00:00,h01,1,1";
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why),
                   GL_EPARSE);
  assert_non_null(strstr(why, "or set input.utc_offset"));
  f.has_utc_offset = true;
  f.utc_offset_s = 36000;
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why), 0);
  assert_int_equal(r.start, T0);
  /* kWh: exact to the Wh, rounding beyond. */
  f.unit_kwh = true;
  l = "2026-06-01T00:00:00Z,h01,0.855,0.0015";
  assert_int_equal(sim_csv_row_parse(l, strlen(l), &f, &r, why, sizeof why), 0);
  assert_int_equal(r.load_wh, 855);
  assert_int_equal(r.pv_wh, 2);
  f.unit_kwh = false;
  static const struct {
    const char *line, *why;
  } bad[] = {
      {"2026-06-01T00:07:00Z,h01,1,1", "not on the step grid"},
      {"2026-06-01T00:00:00Z,H01,1,1", "household must be a meter id"},
      {"2026-06-01T00:00:00Z,h01,-5,1", "load must be a non-negative"},
      {"2026-06-01T00:00:00Z,h01,1,", "pv must be a non-negative"},
      {"2026-06-01T00:00:00Z,h01,1,2e3", "pv must be a non-negative"},
      {"2026-06-01T00:00:00Z,h01,99999999999,1", "load is too large"},
      {"2026-06-01T00:00:00Z,h01,1", "expected 4 fields"},
      {"2026-06-01T00:00:00Z,h01,1,1,1", "expected 4 fields"},
      {"yesterday,h01,1,1", "timestamp must be RFC 3339"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = '\0';
    assert_int_equal(sim_csv_row_parse(bad[i].line, strlen(bad[i].line), &f, &r,
                                       why, sizeof why),
                     GL_EPARSE);
    if (!strstr(why, bad[i].why))
      fail_msg("%s: got \"%s\", expected \"%s\"", bad[i].line, why, bad[i].why);
  }
  l = "timestamp,household,load_wh,pv_wh";
  assert_int_equal(sim_csv_header(l, strlen(l), &f, why, sizeof why), 0);
  f.unit_kwh = true;
  assert_int_equal(sim_csv_header(l, strlen(l), &f, why, sizeof why),
                   GL_EPARSE);
  assert_non_null(strstr(why, "load_kwh,pv_kwh"));
}

/* An Ausgrid header and rows, built from pieces. */
static void ausgrid_header(char *buf, size_t cap, bool quality) {
  size_t o = (size_t)snprintf(
      buf, cap,
      "Customer,Generator Capacity,Postcode,Consumption Category,date");
  for (int i = 0; i < 48; i++) {
    int m = ((i + 1) * 30) % 1440;
    o += (size_t)snprintf(buf + o, cap - o, ",%d:%02d", m / 60, m % 60);
  }
  if (quality)
    snprintf(buf + o, cap - o, ",Row Quality");
}

/* A row whose every slot is `all`, except slot `s` which is `v`. */
static void ausgrid_row(char *buf, size_t cap, int cust, const char *ch,
                        const char *date, const char *all, int s,
                        const char *v) {
  size_t o = (size_t)snprintf(buf, cap, "%d,3.78,2076,%s,%s", cust, ch, date);
  for (int i = 0; i < 48; i++)
    o += (size_t)snprintf(buf + o, cap - o, ",%s", i == s ? v : all);
}

static void test_input_ausgrid_rows(void **state) {
  (void)state;
  char h[1024], row[1024], why[256];
  int nf;
  ausgrid_header(h, sizeof h, false);
  assert_int_equal(sim_ausgrid_header(h, strlen(h), &nf, why, sizeof why), 0);
  assert_int_equal(nf, 53);
  ausgrid_header(h, sizeof h, true);
  assert_int_equal(sim_ausgrid_header(h, strlen(h), &nf, why, sizeof why), 0);
  assert_int_equal(nf, 54);
  /* Labels are interval ends: a header starting at 0:00 is wrong. */
  char *p = strstr(h, ",0:30,");
  memcpy(p, ",0:00,", 6);
  assert_int_equal(sim_ausgrid_header(h, strlen(h), &nf, why, sizeof why),
                   GL_EPARSE);
  assert_non_null(strstr(why, "must be '0:30'"));
  ausgrid_header(h, sizeof h, false);
  sim_ausgrid_row r;
  ausgrid_row(row, sizeof row, 7, "GG", "1/07/2012", "0", 47, "1.234");
  assert_int_equal(
      sim_ausgrid_row_parse(row, strlen(row), 53, &r, why, sizeof why), 0);
  assert_int_equal(r.channel, SIM_AUSGRID_GG);
  assert_int_equal(r.capacity_w, 3780);
  assert_int_equal(r.day, 15522); /* 2012-07-01 */
  assert_int_equal(r.wh[47], 1234);
  assert_int_equal(r.wh[0], 0);
  static const struct {
    const char *ch, *date, *v, *why;
    int nf;
  } bad[] = {
      {"XX", "1/07/2012", "0", "Consumption Category must be", 53},
      {"GC", "31/02/2012", "0", "date must be d/m/yyyy", 53},
      {"GC", "2012-07-01", "0", "date must be d/m/yyyy", 53},
      {"GC", "1/07/2012", "-0.1", "must be kWh", 53},
      {"GC", "1/07/2012", "", "must be kWh", 53},
      {"GC", "1/07/2012", "abc", "half hour ending 12:00", 53},
      {"GC", "1/07/2012", "0", "expected 54 columns", 54},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ausgrid_row(row, sizeof row, 7, bad[i].ch, bad[i].date, "0", 23, bad[i].v);
    why[0] = '\0';
    assert_int_equal(
        sim_ausgrid_row_parse(row, strlen(row), bad[i].nf, &r, why, sizeof why),
        GL_EPARSE);
    if (!strstr(why, bad[i].why))
      fail_msg("case %zu: got \"%s\", expected \"%s\"", i, why, bad[i].why);
  }
}

/* ---- Files --------------------------------------------------------------- */

/* Write `data` to dir/name and a scenario reading it with `extra` keys in
 * [input] and [scenario]. */
static sim_scenario *scenario_for(const char *name, const char *data,
                                  const char *source, const char *input_extra,
                                  const char *scen_extra) {
  char path[GT_PATH_MAX], text[2048];
  gt_write_file(gt_path(path, dir, name), data, (size_t)-1);
  snprintf(text, sizeof text,
           "[scenario]\nname = t\n%s\n[tariff]\nretail = 0.3\nfeed_in = "
           "0.1\n[input]\nsource = %s\npath = %s\n%s\n",
           scen_extra, source, name, input_extra);
  char sp[GT_PATH_MAX];
  gt_path(sp, dir, "s.ini");
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  if (sim_scenario_parse(sp, text, strlen(text), NULL, 0, &sc, &d)) {
    sim_diag_print(&d, stderr);
    fail_msg("scenario did not parse");
  }
  return sc;
}

/* Open the source; on failure every needle must appear in some error. */
static sim_source *open_src(const sim_scenario *sc, sim_diag *d) {
  sim_source *s = NULL;
  memset(d, 0, sizeof *d);
  if (sim_source_open(sc, &s, d))
    return NULL;
  return s;
}

static void expect_errors(const sim_diag *d, const char *const *needles,
                          size_t n) {
  for (size_t k = 0; k < n; k++) {
    bool found = false;
    for (int i = 0; i < d->count && i < SIM_DIAG_KEEP; i++)
      if (strstr(d->msg[i], needles[k]))
        found = true;
    if (!found) {
      sim_diag_print(d, stderr);
      fail_msg("no error contains \"%s\"", needles[k]);
    }
  }
}

typedef struct stream {
  size_t n;
  int64_t load[8][4], pv[8][4];
  uint8_t present[8][4];
} stream;

/* Start the source for homes named as its ids and read `k` intervals. */
static void read_all(sim_source *s, const sim_scenario *sc, int64_t start,
                     int k, stream *out) {
  sim_source_info si;
  sim_source_info_get(s, &si);
  sim_home homes[4];
  memset(homes, 0, sizeof homes);
  for (size_t i = 0; i < si.n_ids; i++)
    snprintf(homes[i].id, sizeof homes[i].id, "%s", si.ids[i]);
  out->n = si.n_ids;
  assert_int_equal(
      sim_source_start(s, homes, si.n_ids, start, start + k * sc->interval), 0);
  sim_diag d;
  memset(&d, 0, sizeof d);
  for (int i = 0; i < k; i++)
    assert_int_equal(sim_source_next(s, start + i * sc->interval, out->load[i],
                                     out->pv[i], out->present[i], &d),
                     0);
}

static const char *by_time = "timestamp,household,load_wh,pv_wh\n"
                             "# a comment\n"
                             "2026-06-01T00:00:00Z,b,20,0\n"
                             "2026-06-01T00:00:00Z,a,10,1\n"
                             "\n"
                             "2026-06-01T00:15:00Z,a,11,2\n"
                             "2026-06-01T00:15:00Z,b,21,0\n"
                             "2026-06-01T00:30:00Z,b,22,0\n"
                             "2026-06-01T00:30:00Z,a,12,3\n";

static const char *by_household = "\xef\xbb\xbf"
                                  "timestamp,household,load_wh,pv_wh\n"
                                  "2026-06-01T00:00:00Z,b,20,0\n"
                                  "2026-06-01T00:15:00Z,b,21,0\n"
                                  "2026-06-01T00:30:00Z,b,22,0\n"
                                  "2026-06-01T00:00:00Z,a,10,1\n"
                                  "2026-06-01T00:15:00Z,a,11,2\n"
                                  "2026-06-01T00:30:00Z,a,12,3\n";

static void test_input_csv_files_in_either_order(void **state) {
  (void)state;
  const char *files[2] = {by_time, by_household};
  for (int f = 0; f < 2; f++) {
    sim_scenario *sc = scenario_for("d.csv", files[f], "csv", "", "");
    sim_diag d;
    sim_source *s = open_src(sc, &d);
    assert_non_null(s);
    sim_source_info si;
    sim_source_info_get(s, &si);
    assert_int_equal(si.n_ids, 2);
    assert_string_equal(si.ids[0], "a");
    assert_string_equal(si.ids[1], "b");
    assert_int_equal(si.start, T0);
    assert_int_equal(si.end, T0 + 45 * MIN);
    assert_int_equal(si.rows, 6);
    assert_int_equal(strlen(si.digest), 64);
    stream st;
    read_all(s, sc, T0, 3, &st);
    for (int i = 0; i < 3; i++) {
      assert_int_equal(st.load[i][0], 10 + i);
      assert_int_equal(st.pv[i][0], 1 + i);
      assert_int_equal(st.load[i][1], 20 + i);
      assert_true(st.present[i][0] && st.present[i][1]);
    }
    sim_source_free(s);
    sim_scenario_free(sc);
  }
}

static void test_input_resampling_sums_splits_or_refuses(void **state) {
  (void)state;
  /* 5-minute data into 15-minute intervals: sums. */
  char data[2048];
  size_t o = (size_t)snprintf(data, sizeof data,
                              "timestamp,household,load_wh,pv_wh\n");
  for (int i = 0; i < 6; i++)
    o += (size_t)snprintf(data + o, sizeof data - o,
                          "2026-06-01T00:%02d:00Z,a,%d,%d\n", 5 * i, i + 1,
                          10 * i);
  sim_scenario *sc =
      scenario_for("d.csv", data, "csv", "step = 5m", "interval = 15m");
  sim_diag d;
  sim_source *s = open_src(sc, &d);
  assert_non_null(s);
  stream st;
  read_all(s, sc, T0, 2, &st);
  assert_int_equal(st.load[0][0], 1 + 2 + 3);
  assert_int_equal(st.pv[0][0], 0 + 10 + 20);
  assert_int_equal(st.load[1][0], 4 + 5 + 6);
  assert_int_equal(st.pv[1][0], 30 + 40 + 50);
  sim_source_free(s);
  sim_scenario_free(sc);

  /* Half-hourly into 15 minutes: split, the remainder to the first part. */
  const char *half = "timestamp,household,load_wh,pv_wh\n"
                     "2026-06-01T00:00:00Z,a,7,1\n"
                     "2026-06-01T00:30:00Z,a,8,3\n";
  sc = scenario_for("d.csv", half, "csv", "step = 30m", "interval = 15m");
  s = open_src(sc, &d);
  assert_non_null(s);
  read_all(s, sc, T0, 4, &st);
  assert_int_equal(st.load[0][0], 4);
  assert_int_equal(st.load[1][0], 3);
  assert_int_equal(st.pv[0][0], 1);
  assert_int_equal(st.pv[1][0], 0);
  assert_int_equal(st.load[2][0], 4);
  assert_int_equal(st.load[3][0], 4);
  assert_int_equal(st.pv[2][0], 2);
  assert_int_equal(st.pv[3][0], 1);
  sim_source_free(s);
  sim_scenario_free(sc);

  /* Or refused; and steps that do not convert are refused. */
  sc = scenario_for("d.csv", half, "csv", "step = 30m\nresample = refuse",
                    "interval = 15m");
  assert_null(open_src(sc, &d));
  const char *n1[] = {"longer than the interval 15m and input.resample = "
                      "refuse"};
  expect_errors(&d, n1, 1);
  sim_scenario_free(sc);
  sc = scenario_for("d.csv", half, "csv", "step = 20m", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *n2[] = {"neither a multiple nor a divisor"};
  expect_errors(&d, n2, 1);
  sim_scenario_free(sc);
}

static void test_input_csv_malformed_rows_are_all_reported(void **state) {
  (void)state;
  const char *data = "timestamp,household,load_wh,pv_wh\n"
                     "2026-06-01T00:00:00Z,a,10,1\n"
                     "2026-06-01T00:00:00Z,b,x,1\n"
                     "2026-06-01T00:15:00Z,a,11\n"
                     "2026-06-01T00:15:00Z,b,1,1\n"
                     "2026-06-01T00:15:00Z,a,11,1\n"
                     "2026-06-01T00:30:00Z,B,1,1\n";
  sim_scenario *sc = scenario_for("bad.csv", data, "csv", "", "");
  sim_diag d;
  assert_null(open_src(sc, &d));
  const char *must[] = {"bad.csv:3: load must be a non-negative decimal",
                        "bad.csv:4: expected 4 fields",
                        "bad.csv:7: household must be a meter id"};
  expect_errors(&d, must, 3);
  sim_scenario_free(sc);

  /* Duplicates, and rows in neither order. */
  data = "timestamp,household,load_wh,pv_wh\n"
         "2026-06-01T00:00:00Z,a,10,1\n"
         "2026-06-01T00:15:00Z,a,10,1\n"
         "2026-06-01T00:15:00Z,a,10,1\n";
  sc = scenario_for("dup.csv", data, "csv", "", "");
  assert_null(open_src(sc, &d));
  const char *dup[] = {"dup.csv:4: household a: time 2026-06-01T00:15:00Z is "
                       "a duplicate of line 3"};
  expect_errors(&d, dup, 1);
  sim_scenario_free(sc);
  data = "timestamp,household,load_wh,pv_wh\n"
         "2026-06-01T00:15:00Z,a,10,1\n"
         "2026-06-01T00:00:00Z,b,10,1\n"
         "2026-06-01T00:15:00Z,b,10,1\n"
         "2026-06-01T00:00:00Z,a,10,1\n";
  sc = scenario_for("mixed.csv", data, "csv", "", "");
  assert_null(open_src(sc, &d));
  const char *mix[] = {"mixed.csv:5: household a: time 2026-06-01T00:00:00Z "
                       "is earlier than the row on line 2"};
  expect_errors(&d, mix, 1);
  sim_scenario_free(sc);
  data = "timestamp,household,load_wh,pv_wh\n"
         "2026-06-01T00:15:00Z,a,10,1\n"
         "2026-06-01T00:00:00Z,b,10,1\n"
         "2026-06-01T00:30:00Z,a,10,1\n"
         "2026-06-01T00:15:00Z,b,10,1\n";
  sc = scenario_for("mixed.csv", data, "csv", "missing = absent", "");
  assert_null(open_src(sc, &d));
  const char *mix2[] = {"mixed.csv:3: rows must be in time order, or grouped "
                        "by household"};
  expect_errors(&d, mix2, 1);
  sim_scenario_free(sc);
  /* No header, an empty file. */
  sc = scenario_for("empty.csv", "", "csv", "", "");
  assert_null(open_src(sc, &d));
  const char *emp[] = {"empty.csv: no header line"};
  expect_errors(&d, emp, 1);
  sim_scenario_free(sc);
  sc =
      scenario_for("nohdr.csv", "2026-06-01T00:00:00Z,a,10,1\n", "csv", "", "");
  assert_null(open_src(sc, &d));
  const char *nh[] = {"nohdr.csv:1: the header must be"};
  expect_errors(&d, nh, 1);
  sim_scenario_free(sc);
  /* A file that is not there. */
  sc = scenario_for("x.csv", "", "csv", "", "");
  char p[GT_PATH_MAX];
  remove(gt_path(p, dir, "x.csv"));
  assert_null(open_src(sc, &d));
  const char *nf[] = {"x.csv: cannot open"};
  expect_errors(&d, nf, 1);
  sim_scenario_free(sc);
}

static void test_input_gaps_are_errors_or_absences(void **state) {
  (void)state;
  const char *data = "timestamp,household,load_wh,pv_wh\n"
                     "2026-06-01T00:00:00Z,a,10,1\n"
                     "2026-06-01T00:00:00Z,b,20,1\n"
                     "2026-06-01T00:15:00Z,b,21,1\n"
                     "2026-06-01T00:30:00Z,a,12,1\n"
                     "2026-06-01T00:30:00Z,b,22,1\n";
  sim_scenario *sc = scenario_for("gap.csv", data, "csv", "", "");
  sim_diag d;
  assert_null(open_src(sc, &d));
  const char *g[] = {"gap.csv:5: household a: no data from "
                     "2026-06-01T00:15:00Z to 2026-06-01T00:30:00Z"};
  expect_errors(&d, g, 1);
  sim_scenario_free(sc);
  /* A span from the scenario that the data does not cover. */
  sc = scenario_for("gap.csv", data, "csv", "missing = error",
                    "start = 2026-05-31T23:45:00Z\nend = "
                    "2026-06-01T00:45:00Z");
  assert_null(open_src(sc, &d));
  const char *g2[] = {"household b: no data from 2026-05-31T23:45:00Z (the "
                      "run's start) to 2026-06-01T00:00:00Z"};
  expect_errors(&d, g2, 1);
  sim_scenario_free(sc);
  /* missing = absent: the household is absent in that interval. */
  sc = scenario_for("gap.csv", data, "csv", "missing = absent", "");
  sim_source *s = open_src(sc, &d);
  assert_non_null(s);
  stream st;
  read_all(s, sc, T0, 3, &st);
  assert_true(st.present[0][0] && !st.present[1][0] && st.present[2][0]);
  assert_true(st.present[1][1]);
  assert_int_equal(st.load[1][1], 21);
  sim_source_free(s);
  sim_scenario_free(sc);
}

/* Two customers, two days; the `cl` customer has controlled load. */
static char *ausgrid_file(bool title, bool quality, const char *day2_gg) {
  size_t cap = 16384, o = 0;
  char *buf = malloc(cap), h[1024], row[1024];
  if (title)
    o += (size_t)snprintf(buf + o, cap - o,
                          "Solar home half-hour data - sample (not real "
                          "data),,,\n");
  ausgrid_header(h, sizeof h, quality);
  o += (size_t)snprintf(buf + o, cap - o, "%s\n", h);
  const char *days[2] = {"1/07/2012", "2/07/2012"};
  for (int c = 1; c <= 2; c++)
    for (int dd = 0; dd < 2; dd++) {
      if (c == 1) {
        ausgrid_row(row, sizeof row, c, "CL", days[dd], "0.1", 0, "0.1");
        o += (size_t)snprintf(buf + o, cap - o, "%s%s\n", row,
                              quality ? "," : "");
      }
      ausgrid_row(row, sizeof row, c, "GC", days[dd], "0.25", 47, "1.234");
      o += (size_t)snprintf(buf + o, cap - o, "%s%s\n", row,
                            quality ? ",NA" : "");
      ausgrid_row(row, sizeof row, c, "GG", days[dd], "0", 23,
                  dd == 1 && day2_gg ? day2_gg : "2");
      o +=
          (size_t)snprintf(buf + o, cap - o, "%s%s\n", row, quality ? "," : "");
    }
  return buf;
}

static void test_input_ausgrid_files_times_and_channels(void **state) {
  (void)state;
  char *data = ausgrid_file(true, true, NULL);
  /* 2012-07-01 00:00 AEST is 2012-06-30T14:00:00Z. */
  int64_t start = INT64_C(1341064800) * NS;
  sim_scenario *sc =
      scenario_for("ag.csv", data, "ausgrid", "", "interval = 30m");
  sim_diag d;
  sim_source *s = open_src(sc, &d);
  assert_non_null(s);
  sim_source_info si;
  sim_source_info_get(s, &si);
  assert_int_equal(si.n_ids, 2);
  assert_string_equal(si.ids[0], "1");
  assert_int_equal(si.start, start);
  assert_int_equal(si.end, start + 2 * 86400 * NS);
  assert_int_equal(si.rows, 10);
  stream st;
  sim_source_free(s);
  /* Load is GC + CL. The "0:00" column is the LAST half hour of its date;
   * "12:00" is the half hour before local noon (01:30 to 02:00 UTC). */
  s = open_src(sc, &d);
  sim_home homes[2];
  memset(homes, 0, sizeof homes);
  snprintf(homes[0].id, sizeof homes[0].id, "1");
  snprintf(homes[1].id, sizeof homes[1].id, "2");
  assert_int_equal(sim_source_start(s, homes, 2, start, start + 2 * 86400 * NS),
                   0);
  int64_t load[2], pv[2];
  uint8_t present[2];
  for (int i = 0; i < 96; i++) {
    assert_int_equal(
        sim_source_next(s, start + i * 30 * 60 * NS, load, pv, present, &d), 0);
    int slot = i % 48;
    assert_int_equal(load[1], slot == 47 ? 1234 : 250);
    assert_int_equal(load[0], (slot == 47 ? 1234 : 250) + 100);
    assert_int_equal(pv[0], slot == 23 ? 2000 : 0);
    assert_true(present[0] && present[1]);
  }
  sim_source_free(s);
  sim_scenario_free(sc);

  /* Controlled load left out; 15-minute intervals split the half hours. */
  sc = scenario_for("ag.csv", data, "ausgrid", "controlled_load = exclude",
                    "interval = 15m");
  s = open_src(sc, &d);
  assert_non_null(s);
  read_all(s, sc, start, 2, &st);
  assert_int_equal(st.load[0][0], 125);
  assert_int_equal(st.load[1][0], 125);
  sim_source_free(s);
  sim_scenario_free(sc);
  free(data);

  /* Without a title line and Row Quality, and another time zone. */
  data = ausgrid_file(false, false, NULL);
  sc = scenario_for("ag2.csv", data, "ausgrid", "utc_offset = +09:30",
                    "interval = 30m");
  s = open_src(sc, &d);
  assert_non_null(s);
  sim_source_info_get(s, &si);
  assert_int_equal(si.start, start + 30 * 60 * NS);
  sim_source_free(s);
  sim_scenario_free(sc);
  free(data);
}

static void test_input_ausgrid_malformed(void **state) {
  (void)state;
  sim_diag d;
  /* A bad value on line 8 (customer 1, day 2, GG) and 12 (customer 2). */
  char *data = ausgrid_file(true, false, "x");
  sim_scenario *sc =
      scenario_for("bad.csv", data, "ausgrid", "", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *b1[] = {"bad.csv:8: column 12:00 (half hour ending 12:00) must "
                      "be kWh",
                      "bad.csv:12: column 12:00"};
  expect_errors(&d, b1, 2);
  sim_scenario_free(sc);
  free(data);
  /* A customer without generation; a customer split in two. */
  char h[1024], r1[1024], r2[1024], r3[1024], buf[8192];
  ausgrid_header(h, sizeof h, false);
  ausgrid_row(r1, sizeof r1, 1, "GC", "1/07/2012", "0.1", 0, "0.1");
  ausgrid_row(r2, sizeof r2, 2, "GC", "1/07/2012", "0.1", 0, "0.1");
  ausgrid_row(r3, sizeof r3, 2, "GG", "1/07/2012", "0.1", 0, "0.1");
  snprintf(buf, sizeof buf, "title\n%s\n%s\n%s\n%s\n", h, r1, r2, r3);
  sc = scenario_for("nogg.csv", buf, "ausgrid", "", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *b2[] = {"customer 1 has no GG rows (gross generation is "
                      "required)"};
  expect_errors(&d, b2, 1);
  sim_scenario_free(sc);
  char r4[1024];
  ausgrid_row(r4, sizeof r4, 1, "GG", "1/07/2012", "0.1", 0, "0.1");
  snprintf(buf, sizeof buf, "title\n%s\n%s\n%s\n%s\n%s\n", h, r1, r2, r3, r4);
  sc = scenario_for("split.csv", buf, "ausgrid", "", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *b3[] = {"split.csv:6: customer 1's rows are not together (its "
                      "rows began on line 3)"};
  expect_errors(&d, b3, 1);
  sim_scenario_free(sc);
  /* A wrong header. */
  snprintf(buf, sizeof buf, "title\nCustomer,Capacity\n%s\n", r1);
  sc = scenario_for("hdr.csv", buf, "ausgrid", "", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *b4[] = {"hdr.csv:2: the header must have 53 columns"};
  expect_errors(&d, b4, 1);
  sim_scenario_free(sc);
  /* A day missing in the middle of a channel. */
  char r5[1024];
  ausgrid_row(r5, sizeof r5, 1, "GC", "3/07/2012", "0.1", 0, "0.1");
  char r6[1024];
  ausgrid_row(r6, sizeof r6, 1, "GG", "2/07/2012", "0.1", 0, "0.1");
  char r7[1024];
  ausgrid_row(r7, sizeof r7, 1, "GG", "3/07/2012", "0.1", 0, "0.1");
  snprintf(buf, sizeof buf, "title\n%s\n%s\n%s\n%s\n%s\n%s\n", h, r1, r4, r6,
           r5, r7);
  sc = scenario_for("gap.csv", buf, "ausgrid", "", "interval = 30m");
  assert_null(open_src(sc, &d));
  const char *b5[] = {"gap.csv:6: customer 1 channel GC: no data from "
                      "2012-07-02 to 2012-07-03"};
  expect_errors(&d, b5, 1);
  sim_scenario_free(sc);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_input_csv_rows),
      cmocka_unit_test(test_input_ausgrid_rows),
      cmocka_unit_test(test_input_csv_files_in_either_order),
      cmocka_unit_test(test_input_resampling_sums_splits_or_refuses),
      cmocka_unit_test(test_input_csv_malformed_rows_are_all_reported),
      cmocka_unit_test(test_input_gaps_are_errors_or_absences),
      cmocka_unit_test(test_input_ausgrid_files_times_and_channels),
      cmocka_unit_test(test_input_ausgrid_malformed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
