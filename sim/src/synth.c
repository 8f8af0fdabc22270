/* SPDX-License-Identifier: MIT */
/*
 * synth.c - the synthetic community's sky and households. See
 * gridlet/sim_synth.h for the model and the order of random draws, which
 * is part of the format of a run: changing it changes every synthetic
 * result, so do it only with a note in docs/research.md.
 */
#include "gridlet/sim_synth.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/rand.h"

#include <math.h>
#include <stdlib.h>

#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)
#define SUB_NS (INT64_C(300) * GL_NS_PER_SEC) /* irradiance sample spacing */
#define SKY_STREAM UINT64_C(0x736b790000000002)

struct sim_synth {
  const sim_home *homes;
  size_t n;
  gl_seeded_rand *sr;
  gl_rand rng;
  double lat, lon, pr, cloudiness, noise;
  int64_t interval;
  int32_t utc_offset_s;
  bool southern;
  int64_t next;      /* the interval expected next; INT64_MIN before any */
  int64_t local_day; /* current local day number */
  double day_mean_k; /* the day's regime */
  double k_dev;      /* AR(1) deviation of the clear-sky index */
  double rho;        /* persistence per interval */
  double *daily;     /* per household daily factor */
  double *load_base; /* per household mean Wh per interval */
};

/* ---- Random helpers ------------------------------------------------------ */

static uint64_t draw(sim_synth *s) {
  uint64_t u = 0;
  gl_rand_u64(&s->rng, &u);
  return u;
}

static double unit(uint64_t u) {
  return (double)(u >> 11) / 9007199254740992.0; /* [0, 1) */
}

/* Approximately standard normal from the four 16-bit pieces of u: the
 * Irwin-Hall sum of four uniforms has mean 2 and variance 1/3. */
static double normal4(uint64_t u) {
  double sum = 0;
  for (int i = 0; i < 4; i++)
    sum += ((double)((u >> (16 * i)) & 0xffff) + 0.5) / 65536.0;
  return (sum - 2.0) * 1.7320508075688772;
}

/* ---- Sun ----------------------------------------------------------------- */

static const double PI = 3.14159265358979323846;

/* Day of year 1..366 of the civil date `day` days after 1970-01-01
 * (Howard Hinnant's days-to-civil algorithm). */
static int64_t day_of_year(int64_t day) {
  int64_t z = day + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
  /* doy_mar counts from March 1st. */
  int64_t mp = (5 * doy_mar + 2) / 153;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2);
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month >= 3 ? doy_mar + 60 + (leap ? 1 : 0) : doy_mar - 305;
}

double sim_synth_clear_sky(double lat_deg, double lon_deg, int64_t t_ns) {
  int64_t day = gl_floor_div(t_ns, DAY_NS);
  double hour_utc = (double)(t_ns - day * DAY_NS) / 3.6e12;
  int64_t n = day_of_year(day);
  double decl = 23.45 * sin(2.0 * PI * (284.0 + (double)n) / 365.0);
  double b = 2.0 * PI * ((double)n - 81.0) / 364.0;
  double eot_min = 9.87 * sin(2.0 * b) - 7.53 * cos(b) - 1.5 * sin(b);
  double solar = hour_utc + lon_deg / 15.0 + eot_min / 60.0;
  double omega = 15.0 * (solar - 12.0) * PI / 180.0;
  double phi = lat_deg * PI / 180.0, d = decl * PI / 180.0;
  double cosz = sin(phi) * sin(d) + cos(phi) * cos(d) * cos(omega);
  if (cosz <= 0.0)
    return 0.0;
  return 1098.0 * cosz * exp(-0.057 / cosz);
}

/* ---- Load shape ---------------------------------------------------------- */

/* Hourly points (value at hh:00), mean 1. Residential averages of this
 * shape appear in every published load profile set: a night trough, a
 * breakfast bump, a midday plateau and the evening peak. */
static const double weekday_pts[24] = {
    0.62, 0.52, 0.48, 0.46, 0.47, 0.55, 0.85, 1.20, 1.15, 0.90, 0.82, 0.80,
    0.82, 0.80, 0.80, 0.88, 1.10, 1.55, 1.85, 1.80, 1.62, 1.40, 1.10, 0.85};
static const double weekend_pts[24] = {
    0.70, 0.58, 0.52, 0.49, 0.48, 0.50, 0.60, 0.82, 1.10, 1.25, 1.22, 1.15,
    1.10, 1.02, 0.96, 0.98, 1.10, 1.45, 1.70, 1.68, 1.52, 1.34, 1.10, 0.88};

static double mean24(const double *p) {
  double s = 0;
  for (int i = 0; i < 24; i++)
    s += p[i];
  return s / 24.0;
}

double sim_synth_shape(double hour, bool weekend) {
  const double *p = weekend ? weekend_pts : weekday_pts;
  if (hour < 0)
    hour = 0;
  int h = (int)hour;
  if (h > 23)
    h = 23;
  double f = hour - h;
  double v = p[h] * (1.0 - f) + p[(h + 1) % 24] * f;
  return v / mean24(p);
}

/* ---- Generator ----------------------------------------------------------- */

int sim_synth_new(const sim_scenario *sc, const sim_home *homes, size_t n,
                  sim_synth **out) {
  *out = NULL;
  if (!n || sc->interval <= 0)
    return GL_EINVAL;
  sim_synth *s = calloc(1, sizeof *s);
  if (!s)
    return GL_ENOMEM;
  s->homes = homes;
  s->n = n;
  s->daily = calloc(n, sizeof *s->daily);
  s->load_base = calloc(n, sizeof *s->load_base);
  s->sr = gl_seeded_rand_new(sc->seed ^ SKY_STREAM);
  if (!s->daily || !s->load_base || !s->sr) {
    sim_synth_free(s);
    return GL_ENOMEM;
  }
  s->rng = gl_seeded_rand_rand(s->sr);
  s->lat = (double)sc->latitude_udeg / 1e6;
  s->lon = (double)sc->longitude_udeg / 1e6;
  s->pr = (double)sc->performance_ratio_ppm / 1e6;
  s->cloudiness = (double)sc->cloudiness_ppm / 1e6;
  s->noise = (double)sc->load_noise_ppm / 1e6;
  s->interval = sc->interval;
  s->utc_offset_s = sc->synth_utc_offset_s;
  s->southern = sc->latitude_udeg < 0;
  s->next = INT64_MIN;
  s->local_day = INT64_MIN;
  /* AR(1) persistence 0.85 per 15 minutes, scaled to the interval. */
  s->rho = pow(0.85, (double)sc->interval / (900.0 * 1e9));
  double per_interval = (double)sc->interval / (365.25 * (double)DAY_NS);
  for (size_t i = 0; i < n; i++)
    s->load_base[i] = (double)homes[i].load_wh_year * per_interval *
                      (double)homes[i].load_scale_ppm / 1e6;
  *out = s;
  return 0;
}

void sim_synth_free(sim_synth *s) {
  if (!s)
    return;
  gl_seeded_rand_free(s->sr);
  free(s->daily);
  free(s->load_base);
  free(s);
}

static int64_t round_wh(double x) {
  if (x <= 0)
    return 0;
  return (int64_t)floor(x + 0.5);
}

/* Day number of the civil calendar in local time. */
static int64_t local_day_of(const sim_synth *s, int64_t t) {
  return gl_floor_div(t + (int64_t)s->utc_offset_s * GL_NS_PER_SEC, DAY_NS);
}

static void new_day(sim_synth *s, int64_t day) {
  s->local_day = day;
  double cls = unit(draw(s));
  double m = unit(draw(s));
  s->day_mean_k = cls < s->cloudiness ? 0.25 + 0.40 * m : 0.85 + 0.15 * m;
  for (size_t i = 0; i < s->n; i++) {
    double f = 1.0 + 0.10 * normal4(draw(s));
    s->daily[i] = f < 0.1 ? 0.1 : f;
  }
}

int sim_synth_next(sim_synth *s, int64_t start, int64_t *load, int64_t *pv) {
  if (s->next != INT64_MIN && start != s->next)
    return GL_ESTATE;
  s->next = start + s->interval;
  int64_t day = local_day_of(s, start);
  if (day != s->local_day)
    new_day(s, day);

  /* Sky: one AR(1) step, then the interval's mean clear-sky energy. */
  double eps = normal4(draw(s));
  double sigma = 0.12 * sqrt(1.0 - s->rho * s->rho);
  s->k_dev = s->rho * s->k_dev + sigma * eps;
  double k = s->day_mean_k + s->k_dev;
  k = k < 0.05 ? 0.05 : (k > 1.1 ? 1.1 : k);
  int64_t pieces = s->interval / SUB_NS;
  if (pieces < 1)
    pieces = 1;
  int64_t piece = s->interval / pieces;
  double ghi = 0;
  for (int64_t i = 0; i < pieces; i++)
    ghi += sim_synth_clear_sky(s->lat, s->lon, start + i * piece + piece / 2);
  ghi /= (double)pieces;
  double hours = (double)s->interval / 3.6e12;
  /* Wh per Wp of modules over the interval. */
  double wh_per_wp = ghi / 1000.0 * s->pr * k * hours;

  /* Load: shape at the interval's middle in local time, season. */
  int64_t mid =
      start + s->interval / 2 + (int64_t)s->utc_offset_s * GL_NS_PER_SEC;
  int64_t mday = gl_floor_div(mid, DAY_NS);
  double hour = (double)(mid - mday * DAY_NS) / 3.6e12;
  int weekday = (int)(((mday % 7) + 7 + 3) % 7); /* 0 = Monday */
  double shape = sim_synth_shape(hour, weekday >= 5);
  double doy = (double)day_of_year(mday);
  double winter = s->southern ? 196.0 : 15.0;
  double season = 1.0 + 0.15 * cos(2.0 * PI * (doy - winter) / 365.25);

  for (size_t i = 0; i < s->n; i++) {
    const sim_home *h = &s->homes[i];
    double f = 1.0 + s->noise * normal4(draw(s));
    if (f < 0.1)
      f = 0.1;
    load[i] = round_wh(s->load_base[i] * shape * season * s->daily[i] * f);
    pv[i] =
        round_wh((double)h->pv_wp * wh_per_wp * (double)h->pv_scale_ppm / 1e6);
  }
  return 0;
}
