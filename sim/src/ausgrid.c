/* SPDX-License-Identifier: MIT */
/*
 * ausgrid.c - rows of the Ausgrid Solar Home Electricity dataset's wide
 * half-hourly CSV. See gridlet/sim_input.h for the format and the meaning
 * of the columns; input.c reads whole files with it.
 */
#include "gridlet/sim_input.h"

#include "research_int.h"

#include "gridlet/error.h"

#include <stdio.h>
#include <string.h>

#define FIXED 5 /* Customer .. date */

static const char *const fixed_names[FIXED] = {"Customer", "Generator Capacity",
                                               "Postcode",
                                               "Consumption Category", "date"};

/* The label of slot i: the END of the half hour, "0:30" .. "23:30", "0:00". */
static void slot_label(int i, char *buf, size_t cap) {
  int end_min = ((i + 1) * 30) % (24 * 60);
  snprintf(buf, cap, "%d:%02d", end_min / 60, end_min % 60);
}

int sim_ausgrid_header(const char *line, size_t len, int *n_fields, char *why,
                       size_t cap) {
  sim__span f[FIXED + SIM_AUSGRID_SLOTS + 2];
  size_t nf = sim__split(line, len, f, sizeof f / sizeof f[0]);
  char shown[64], label[8];
  if (nf != FIXED + SIM_AUSGRID_SLOTS && nf != FIXED + SIM_AUSGRID_SLOTS + 1) {
    snprintf(why, cap,
             "the header must have 53 columns (Customer,Generator Capacity,"
             "Postcode,Consumption Category,date,0:30,...,23:30,0:00) or 54 "
             "(plus Row Quality), got %zu",
             nf);
    return GL_EPARSE;
  }
  for (int i = 0; i < FIXED; i++)
    if (!sim__span_is(f[i], fixed_names[i])) {
      snprintf(why, cap, "header column %d must be '%s', got '%s'", i + 1,
               fixed_names[i],
               sim_diag_show(f[i].p, f[i].n, shown, sizeof shown));
      return GL_EPARSE;
    }
  for (int i = 0; i < SIM_AUSGRID_SLOTS; i++) {
    slot_label(i, label, sizeof label);
    if (!sim__span_is(f[FIXED + i], label)) {
      snprintf(
          why, cap,
          "header column %d must be '%s' (labels mark half-hour ends), "
          "got '%s'",
          FIXED + i + 1, label,
          sim_diag_show(f[FIXED + i].p, f[FIXED + i].n, shown, sizeof shown));
      return GL_EPARSE;
    }
  }
  if (nf == FIXED + SIM_AUSGRID_SLOTS + 1) {
    sim__span last = f[FIXED + SIM_AUSGRID_SLOTS];
    if (last.n && !sim__span_is(last, "Row Quality")) {
      snprintf(why, cap, "header column 54 must be 'Row Quality', got '%s'",
               sim_diag_show(last.p, last.n, shown, sizeof shown));
      return GL_EPARSE;
    }
  }
  *n_fields = (int)nf;
  return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* "d/m/yyyy" (one or two digits for day and month). */
static bool parse_date(sim__span s, int64_t *day) {
  int64_t part[3] = {0, 0, 0};
  int k = 0, digits = 0;
  for (size_t i = 0; i < s.n; i++) {
    char c = s.p[i];
    if (c == '/') {
      if (k == 2 || digits == 0 || digits > 2)
        return false;
      k++;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      part[k] = part[k] * 10 + (c - '0');
      digits++;
    } else {
      return false;
    }
  }
  if (k != 2 || digits != 4)
    return false;
  int64_t d = part[0], m = part[1], y = part[2];
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
    return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && d == 29 && !leap)
    return false;
  *day = days_from_civil(y, m, d);
  return true;
}

static int bad(char *why, size_t cap, const char *what, sim__span s) {
  char shown[64];
  snprintf(why, cap, "%s, got '%s'", what,
           sim_diag_show(s.p, s.n, shown, sizeof shown));
  return GL_EPARSE;
}

int sim_ausgrid_row_parse(const char *line, size_t len, int n_fields,
                          sim_ausgrid_row *row, char *why, size_t cap) {
  sim__span f[FIXED + SIM_AUSGRID_SLOTS + 1];
  size_t nf = sim__split(line, len, f, sizeof f / sizeof f[0]);
  if ((int)nf != n_fields) {
    snprintf(why, cap, "expected %d columns like the header, got %zu", n_fields,
             nf);
    return GL_EPARSE;
  }
  int64_t v;
  /* Customer numbers: 1 .. 10^9, no leading zeros (the id is the text). */
  if (!sim__span_int(f[0], 1, 1000000000, &v) || f[0].p[0] == '0')
    return bad(why, cap, "Customer must be a number 1 .. 1000000000", f[0]);
  if (sim__parse_energy(f[1].p, f[1].n, 3, &row->capacity_w))
    return bad(why, cap, "Generator Capacity must be kWp, a decimal >= 0",
               f[1]);
  if (!sim__span_int(f[2], 0, 9999, &v))
    return bad(why, cap, "Postcode must be a number 0 .. 9999", f[2]);
  if (sim__span_is(f[3], "GC"))
    row->channel = SIM_AUSGRID_GC;
  else if (sim__span_is(f[3], "CL"))
    row->channel = SIM_AUSGRID_CL;
  else if (sim__span_is(f[3], "GG"))
    row->channel = SIM_AUSGRID_GG;
  else
    return bad(why, cap, "Consumption Category must be GC, CL or GG", f[3]);
  if (!parse_date(f[4], &row->day))
    return bad(why, cap, "date must be d/m/yyyy (a real date, 1970..2200)",
               f[4]);
  for (int i = 0; i < SIM_AUSGRID_SLOTS; i++) {
    sim__span s = f[FIXED + i];
    int rc = sim__parse_energy(s.p, s.n, 3, &row->wh[i]);
    if (rc) {
      char label[8], what[96];
      slot_label(i, label, sizeof label);
      snprintf(what, sizeof what,
               "column %s (half hour ending %s) must be kWh, a decimal >= 0",
               label, label);
      return bad(why, cap, what, s);
    }
  }
  row->customer = f[0].p;
  row->customer_len = f[0].n;
  return 0;
}
