/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_solar.h - where the sun is, to tell night from day for the
 * "PV production at night" plausibility check.
 *
 * The model is the usual low-precision one (NOAA's spreadsheet without the
 * refinements): solar declination and the equation of time from the day
 * of the year, the hour angle from UTC and longitude, and the elevation
 * from the spherical-astronomy formula. It is within about half a degree
 * of the true elevation, ample for a check that calls it night only when
 * the sun stays below night_elevation (default -6 degrees, the end of
 * civil twilight) for the whole interval: at that depth no panel produces
 * more than sensor noise, whatever the weather or the refraction.
 *
 * All functions are pure and thread-safe. Angles are in micro-degrees so
 * that configuration values stay integers.
 */
#ifndef GRIDLET_AGG_SOLAR_H
#define GRIDLET_AGG_SOLAR_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * agg_solar_elevation - the sun's elevation above the horizon in degrees
 * at wall time `t_ns` (UTC) seen from latitude/longitude in micro-degrees
 * (north and east positive). Range -90..90.
 */
double agg_solar_elevation(int64_t t_ns, int64_t lat_udeg, int64_t lon_udeg);

/*
 * agg_solar_night - true when the sun stays below `night_mdeg`
 * milli-degrees of elevation during all of [start, end): sampled every
 * five minutes and at both ends (elevation changes by at most 1.25
 * degrees in five minutes, which the default threshold's depth absorbs).
 */
bool agg_solar_night(int64_t start, int64_t end, int64_t lat_udeg,
                     int64_t lon_udeg, int64_t night_mdeg);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_SOLAR_H */
