/* SPDX-License-Identifier: MIT */
/*
 * csv.c - rows of the generic long CSV (timestamp,household,load,pv). See
 * gridlet/sim_input.h for the format; the source that reads whole files
 * is in input.c.
 */
#include "gridlet/sim_input.h"

#include "research_int.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <stdio.h>
#include <string.h>

static int fail(char *why, size_t cap, const char *what, sim__span s) {
  char shown[64];
  snprintf(why, cap, "%s, got '%s'", what,
           sim_diag_show(s.p, s.n, shown, sizeof shown));
  return GL_EPARSE;
}

int sim_csv_header(const char *line, size_t len, const sim_csv_format *f,
                   char *why, size_t cap) {
  sim__span fl[5];
  size_t nf = sim__split(line, len, fl, 5);
  const char *load = f->unit_kwh ? "load_kwh" : "load_wh";
  const char *pv = f->unit_kwh ? "pv_kwh" : "pv_wh";
  if (nf != 4 || !sim__span_is(fl[0], "timestamp") ||
      !sim__span_is(fl[1], "household") || !sim__span_is(fl[2], load) ||
      !sim__span_is(fl[3], pv)) {
    char shown[64];
    snprintf(why, cap, "the header must be timestamp,household,%s,%s, got '%s'",
             load, pv, sim_diag_show(line, len, shown, sizeof shown));
    return GL_EPARSE;
  }
  return 0;
}

/* RFC 3339 with a zone, or naive local time at the configured offset. */
static int parse_ts(sim__span s, const sim_csv_format *f, int64_t *out) {
  char buf[48];
  if (s.n == 0 || s.n > 40)
    return GL_EPARSE;
  memcpy(buf, s.p, s.n);
  buf[s.n] = '\0';
  if (gl_time_parse(buf, out) == 0)
    return 0;
  /* No zone designator after the date part: local time, if we know it. */
  if (!f->has_utc_offset || s.n < 11 || strpbrk(buf + 10, "Zz+-"))
    return GL_EPARSE;
  int32_t o = f->utc_offset_s, a = o < 0 ? -o : o;
  snprintf(buf + s.n, sizeof buf - s.n, "%c%02d:%02d", o < 0 ? '-' : '+',
           (int)(a / 3600), (int)(a / 60 % 60));
  return gl_time_parse(buf, out);
}

int sim_csv_row_parse(const char *line, size_t len, const sim_csv_format *f,
                      sim_csv_row *row, char *why, size_t cap) {
  sim__span fl[4];
  size_t nf = sim__split(line, len, fl, 4);
  if (nf != 4) {
    snprintf(why, cap, "expected 4 fields timestamp,household,load,pv, got %zu",
             nf);
    return GL_EPARSE;
  }
  int64_t t;
  if (parse_ts(fl[0], f, &t))
    return fail(why, cap,
                f->has_utc_offset
                    ? "timestamp must be RFC 3339 (2026-01-01T00:00:00Z, or "
                      "without a zone in local time)"
                    : "timestamp must be RFC 3339 with a zone "
                      "(2026-01-01T00:00:00Z), or set input.utc_offset",
                fl[0]);
  if (f->timestamps_end)
    t -= f->step;
  if (f->step > 0 && gl_floor_div(t, f->step) * f->step != t)
    return fail(why, cap,
                f->timestamps_end ? "timestamp is not on the step grid"
                                  : "timestamp is not on the step grid "
                                    "(input.step, aligned to UTC)",
                fl[0]);
  if (!sim_id_valid(fl[1].p, fl[1].n))
    return fail(why, cap,
                "household must be a meter id ([a-z0-9][a-z0-9._-]{0,62})",
                fl[1]);
  int unit = f->unit_kwh ? 3 : 0;
  int rc = sim__parse_energy(fl[2].p, fl[2].n, unit, &row->load_wh);
  if (rc)
    return fail(why, cap,
                rc == GL_ERANGE ? "load is too large (above 10^9 Wh)"
                                : "load must be a non-negative decimal",
                fl[2]);
  rc = sim__parse_energy(fl[3].p, fl[3].n, unit, &row->pv_wh);
  if (rc)
    return fail(why, cap,
                rc == GL_ERANGE ? "pv is too large (above 10^9 Wh)"
                                : "pv must be a non-negative decimal",
                fl[3]);
  row->start = t;
  row->household = fl[1].p;
  row->household_len = fl[1].n;
  return 0;
}
