/* SPDX-License-Identifier: MIT */
/*
 * solar.c - the sun's elevation (low-precision model). See
 * gridlet/agg_solar.h.
 */
#include "gridlet/agg_solar.h"

#include "gridlet/clock.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define DEG (M_PI / 180.0)
#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)

double agg_solar_elevation(int64_t t_ns, int64_t lat_udeg, int64_t lon_udeg) {
  /* Fractional day of the year, counted from days since the epoch with
   * the mean tropical year (good to a fraction of a day for 1970..2262,
   * which moves the declination by less than 0.4 degrees). */
  int64_t day = gl_floor_div(t_ns, DAY_NS);
  double hours = (double)(t_ns - day * DAY_NS) / (3600.0 * GL_NS_PER_SEC);
  /* Days since 2000-01-01 12:00 UTC (day 10957.5 of the epoch): there the
   * fractional year of the NOAA formulas is 0, and the tropical year keeps
   * it in step with the seasons. */
  double days = (double)day + hours / 24.0 - 10957.5;
  double year_days = fmod(days, 365.2422);
  if (year_days < 0)
    year_days += 365.2422;
  double gamma = 2.0 * M_PI * year_days / 365.2422;
  /* Declination and equation of time (Spencer 1971, as in NOAA). */
  double decl = 0.006918 - 0.399912 * cos(gamma) + 0.070257 * sin(gamma) -
                0.006758 * cos(2 * gamma) + 0.000907 * sin(2 * gamma) -
                0.002697 * cos(3 * gamma) + 0.00148 * sin(3 * gamma);
  double eqtime_min =
      229.18 * (0.000075 + 0.001868 * cos(gamma) - 0.032077 * sin(gamma) -
                0.014615 * cos(2 * gamma) - 0.040849 * sin(2 * gamma));
  double lat = (double)lat_udeg / 1e6 * DEG;
  double lon_deg = (double)lon_udeg / 1e6;
  double solar_min = hours * 60.0 + eqtime_min + 4.0 * lon_deg;
  double ha = (solar_min / 4.0 - 180.0) * DEG;
  double s = sin(lat) * sin(decl) + cos(lat) * cos(decl) * cos(ha);
  if (s > 1.0)
    s = 1.0;
  if (s < -1.0)
    s = -1.0;
  return asin(s) / DEG;
}

bool agg_solar_night(int64_t start, int64_t end, int64_t lat_udeg,
                     int64_t lon_udeg, int64_t night_mdeg) {
  double limit = (double)night_mdeg / 1000.0;
  const int64_t step = 300 * GL_NS_PER_SEC;
  for (int64_t t = start;; t += step) {
    if (t > end)
      t = end;
    if (agg_solar_elevation(t, lat_udeg, lon_udeg) >= limit)
      return false;
    if (t == end)
      return true;
  }
}
