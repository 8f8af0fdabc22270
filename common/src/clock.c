/* SPDX-License-Identifier: MIT */
/*
 * clock.c - real, manual and accelerated clocks; RFC 3339 and duration
 * text. See gridlet/clock.h.
 */
#include "gridlet/clock.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Real clock -------------------------------------------------------- */

static int64_t ts_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * GL_NS_PER_SEC + ts.tv_nsec;
}

static void sleep_real_ns(int64_t ns) {
  if (ns <= 0)
    return;
  struct timespec ts = {.tv_sec = (time_t)(ns / GL_NS_PER_SEC),
                        .tv_nsec = (long)(ns % GL_NS_PER_SEC)};
  /* Resume after signals: a sleep is a sleep. Daemons that must react to
   * signals wait in poll(2) instead. */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int64_t real_now(void *ctx) {
  (void)ctx;
  return ts_ns(CLOCK_REALTIME);
}
static int64_t real_mono(void *ctx) {
  (void)ctx;
  return ts_ns(CLOCK_MONOTONIC);
}
static void real_sleep(void *ctx, int64_t ns) {
  (void)ctx;
  sleep_real_ns(ns);
}
static int64_t real_duration_identity(void *ctx, int64_t ns) {
  (void)ctx;
  return ns;
}

static const gl_clock_ops real_ops = {real_now, real_mono, real_sleep,
                                      real_duration_identity};

gl_clock gl_clock_real(void) {
  return (gl_clock){&real_ops, NULL};
}

/* ---- Manual clock ------------------------------------------------------ */

struct gl_manual_clock {
  _Atomic int64_t wall;
  _Atomic int64_t mono;
};

static int64_t manual_now(void *ctx) {
  return atomic_load(&((gl_manual_clock *)ctx)->wall);
}
static int64_t manual_mono(void *ctx) {
  return atomic_load(&((gl_manual_clock *)ctx)->mono);
}
static void manual_sleep(void *ctx, int64_t ns) {
  if (ns > 0)
    gl_manual_clock_advance(ctx, ns);
}
static int64_t manual_real_duration(void *ctx, int64_t ns) {
  (void)ctx;
  (void)ns;
  return 0;
}

static const gl_clock_ops manual_ops = {manual_now, manual_mono, manual_sleep,
                                        manual_real_duration};

gl_manual_clock *gl_manual_clock_new(int64_t start_ns) {
  gl_manual_clock *mc = calloc(1, sizeof *mc);
  if (!mc)
    return NULL;
  atomic_init(&mc->wall, start_ns);
  atomic_init(&mc->mono, 0);
  return mc;
}

void gl_manual_clock_free(gl_manual_clock *mc) {
  free(mc);
}

gl_clock gl_manual_clock_clock(gl_manual_clock *mc) {
  return (gl_clock){&manual_ops, mc};
}

void gl_manual_clock_advance(gl_manual_clock *mc, int64_t ns) {
  if (ns <= 0)
    return;
  atomic_fetch_add(&mc->wall, ns);
  atomic_fetch_add(&mc->mono, ns);
}

void gl_manual_clock_set(gl_manual_clock *mc, int64_t now_ns) {
  atomic_store(&mc->wall, now_ns);
}

/* ---- Accelerated clock ------------------------------------------------- */

struct gl_accel_clock {
  int64_t start_wall; /* virtual wall time at mono0 */
  int64_t mono0;      /* real monotonic time virtual time counts from */
  int64_t speed;
};

/* Saturating arithmetic: an accelerated clock must never overflow (that is
 * undefined behaviour), whatever it is asked; creation refuses clocks that
 * would reach the limits within a day of real time (see below). */
static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
  return r;
}
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

static int64_t accel_elapsed(const gl_accel_clock *ac) {
  return sat_mul(ts_ns(CLOCK_MONOTONIC) - ac->mono0, ac->speed);
}
static int64_t accel_now(void *ctx) {
  gl_accel_clock *ac = ctx;
  int64_t t = sat_add(ac->start_wall, accel_elapsed(ac));
  return t < 0 ? 0 : t;
}
static int64_t accel_mono(void *ctx) {
  return accel_elapsed(ctx);
}
static int64_t accel_real_duration(void *ctx, int64_t ns) {
  gl_accel_clock *ac = ctx;
  if (ns <= 0)
    return 0;
  /* Round up so a deadline is never reached early in virtual time. */
  return ns / ac->speed + (ns % ac->speed != 0);
}
static void accel_sleep(void *ctx, int64_t ns) {
  sleep_real_ns(accel_real_duration(ctx, ns));
}

static const gl_clock_ops accel_ops = {accel_now, accel_mono, accel_sleep,
                                       accel_real_duration};

/* Would virtual time stay in 1970..2262 from now until a day of real time
 * from now? */
static bool accel_range_ok(int64_t start_wall, int64_t real_elapsed,
                           int64_t speed) {
  const int64_t day = 86400 * GL_NS_PER_SEC;
  int64_t a, b, now, later;
  if (__builtin_mul_overflow(real_elapsed, speed, &a) ||
      __builtin_add_overflow(start_wall, a, &now) ||
      __builtin_mul_overflow(real_elapsed + day, speed, &b) ||
      __builtin_add_overflow(start_wall, b, &later))
    return false;
  return now >= 0 && later >= 0;
}

gl_accel_clock *gl_accel_clock_new(int64_t start_ns, uint32_t speed) {
  if (speed < 1 || speed > GL_ACCEL_SPEED_MAX || start_ns < 0 ||
      !accel_range_ok(start_ns, 0, speed))
    return NULL;
  gl_accel_clock *ac = calloc(1, sizeof *ac);
  if (!ac)
    return NULL;
  ac->start_wall = start_ns;
  ac->mono0 = ts_ns(CLOCK_MONOTONIC);
  ac->speed = speed;
  return ac;
}

gl_accel_clock *gl_accel_clock_new_anchored(int64_t virtual_start,
                                            int64_t real_anchor,
                                            uint32_t speed) {
  int64_t since_anchor = ts_ns(CLOCK_REALTIME) - real_anchor;
  if (speed < 1 || speed > GL_ACCEL_SPEED_MAX || virtual_start < 0 ||
      !accel_range_ok(virtual_start, since_anchor, speed))
    return NULL;
  gl_accel_clock *ac = gl_accel_clock_new(virtual_start, speed);
  if (!ac)
    return NULL;
  /* Move the monotonic origin back to where the anchor lies, so elapsed
   * virtual time counts from the anchor rather than from now. */
  ac->mono0 -= since_anchor;
  return ac;
}

void gl_accel_clock_free(gl_accel_clock *ac) {
  free(ac);
}

/* ---- Clock specifications ---------------------------------------------- */

int gl_clock_spec_parse(const char *text, gl_clock_spec *out) {
  memset(out, 0, sizeof *out);
  if (!text)
    return GL_EPARSE;
  if (strcmp(text, "real") == 0)
    return 0;
  if (strncmp(text, "accel:", 6) != 0)
    return GL_EPARSE;
  const char *p = text + 6;
  if (!isdigit((unsigned char)*p))
    return GL_EPARSE;
  char *end;
  errno = 0;
  unsigned long speed = strtoul(p, &end, 10);
  if (errno || *end != ':' || speed < 1 || speed > GL_ACCEL_SPEED_MAX)
    return GL_EPARSE;
  p = end + 1;
  /* VSTART ends at the first "Z:" (RFC 3339 UTC, as we write it). */
  const char *colon = strstr(p, "Z:");
  if (!colon)
    return GL_EPARSE;
  char vstart[GL_TIME_STR_MAX];
  size_t n = (size_t)(colon - p) + 1;
  if (n >= sizeof vstart)
    return GL_EPARSE;
  memcpy(vstart, p, n);
  vstart[n] = '\0';
  if (gl_time_parse(vstart, &out->virtual_start) ||
      gl_time_parse(colon + 2, &out->real_anchor))
    return GL_EPARSE;
  out->accel = true;
  out->speed = (uint32_t)speed;
  return 0;
}

char *gl_clock_spec_format(const gl_clock_spec *spec,
                           char buf[GL_CLOCK_SPEC_MAX]) {
  if (!spec->accel) {
    snprintf(buf, GL_CLOCK_SPEC_MAX, "real");
    return buf;
  }
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  snprintf(buf, GL_CLOCK_SPEC_MAX, "accel:%u:%s:%s", spec->speed,
           gl_time_format(spec->virtual_start, a),
           gl_time_format(spec->real_anchor, b));
  return buf;
}

int gl_clock_spec_open(const gl_clock_spec *spec, gl_clock *clock,
                       gl_accel_clock **owned) {
  *owned = NULL;
  if (!spec->accel) {
    *clock = gl_clock_real();
    return 0;
  }
  gl_accel_clock *ac = gl_accel_clock_new_anchored(
      spec->virtual_start, spec->real_anchor, spec->speed);
  if (!ac) {
    GL_ERROR("clock",
             "accelerated clock out of range: at speed %u, virtual time "
             "would leave 1970..2262 within a day (is the anchor old?)",
             spec->speed);
    return GL_ERANGE;
  }
  *owned = ac;
  *clock = gl_accel_clock_clock(ac);
  return 0;
}

gl_clock gl_accel_clock_clock(gl_accel_clock *ac) {
  return (gl_clock){&accel_ops, ac};
}

/* ---- RFC 3339 ---------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm): exact, no timezone database, no global state. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

char *gl_time_format(int64_t ns, char buf[GL_TIME_STR_MAX]) {
  int64_t secs = gl_floor_div(ns, GL_NS_PER_SEC);
  int64_t frac = ns - secs * GL_NS_PER_SEC;
  int64_t days = gl_floor_div(secs, 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  int hh = (int)(sod / 3600), mm = (int)(sod / 60 % 60), ss = (int)(sod % 60);
  /* Format into a roomy buffer: the compiler cannot know that the year has
   * four digits (int64 nanoseconds end in 2262), and neither should it. */
  char fs[24] = "";
  if (frac % GL_NS_PER_MS == 0 && frac)
    snprintf(fs, sizeof fs, ".%03d", (int)(frac / GL_NS_PER_MS));
  else if (frac % GL_NS_PER_US == 0 && frac)
    snprintf(fs, sizeof fs, ".%06d", (int)(frac / GL_NS_PER_US));
  else if (frac)
    snprintf(fs, sizeof fs, ".%09d", (int)frac);
  char tmp[96];
  snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02d:%02d:%02d%sZ", (long long)y,
           m, d, hh, mm, ss, fs);
  size_t len = strnlen(tmp, GL_TIME_STR_MAX - 1);
  memcpy(buf, tmp, len);
  buf[len] = '\0';
  return buf;
}

/* Parse exactly `n` decimal digits at *p. */
static bool digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static unsigned days_in_month(int y, int m) {
  static const unsigned dim[] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29u : dim[m - 1];
}

int gl_time_parse(const char *text, int64_t *ns) {
  if (!text)
    return GL_EINVAL;
  const char *p = text;
  int y, mo, d, h, mi, s;
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
      !digits(&p, 2, &d))
    return GL_EPARSE;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return GL_EPARSE;
  p++;
  if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
      !digits(&p, 2, &s))
    return GL_EPARSE;
  if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo) ||
      h > 23 || mi > 59 || s > 59)
    return GL_EPARSE;
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (isdigit((unsigned char)*p)) {
      if (nd == 9)
        return GL_EPARSE;
      frac = frac * 10 + (*p++ - '0');
      nd++;
    }
    if (nd == 0)
      return GL_EPARSE;
    for (; nd < 9; nd++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 ||
        om > 59)
      return GL_EPARSE;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return GL_EPARSE;
  }
  if (*p != '\0')
    return GL_EPARSE;
  int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                 h * 3600 + mi * 60 + s - offset;
  /* int64 nanoseconds cover 1677..2262; accept 1970..2262 only. */
  if (secs < 0 || secs > INT64_MAX / GL_NS_PER_SEC - 1)
    return GL_ERANGE;
  *ns = secs * GL_NS_PER_SEC + frac;
  return 0;
}

/* ---- Durations --------------------------------------------------------- */

static const struct {
  const char *name;
  int64_t ns;
} duration_units[] = {
    /* Longest names first so "ms" is not read as "m" followed by "s". */
    {"ns", 1},
    {"us", GL_NS_PER_US},
    {"ms", GL_NS_PER_MS},
    {"s", GL_NS_PER_SEC},
    {"m", 60 * GL_NS_PER_SEC},
    {"h", 3600 * GL_NS_PER_SEC},
    {"d", 86400 * GL_NS_PER_SEC},
};

int gl_duration_parse(const char *text, int64_t *ns) {
  if (!text)
    return GL_EINVAL;
  const char *p = text;
  if (strcmp(p, "0") == 0) {
    *ns = 0;
    return 0;
  }
  if (*p == '\0')
    return GL_EPARSE;
  int64_t total = 0;
  while (*p) {
    if (*p == '-')
      return GL_ERANGE;
    if (!isdigit((unsigned char)*p))
      return GL_EPARSE;
    int64_t v = 0;
    while (isdigit((unsigned char)*p)) {
      int dgt = *p++ - '0';
      if (v > (INT64_MAX - dgt) / 10)
        return GL_ERANGE;
      v = v * 10 + dgt;
    }
    size_t i, nunits = sizeof duration_units / sizeof duration_units[0];
    for (i = 0; i < nunits; i++) {
      size_t len = strlen(duration_units[i].name);
      if (strncmp(p, duration_units[i].name, len) == 0 &&
          !isalpha((unsigned char)p[len]))
        break;
    }
    if (i == nunits)
      return GL_EPARSE;
    p += strlen(duration_units[i].name);
    if (v > (INT64_MAX - total) / duration_units[i].ns)
      return GL_ERANGE;
    total += v * duration_units[i].ns;
  }
  *ns = total;
  return 0;
}

char *gl_duration_format(int64_t ns, char *buf, size_t size) {
  if (size == 0)
    return buf;
  if (ns == 0) {
    snprintf(buf, size, "0");
    return buf;
  }
  size_t len = 0;
  buf[0] = '\0';
  if (ns < 0) {
    snprintf(buf, size, "-");
    len = 1;
    ns = ns == INT64_MIN ? INT64_MAX : -ns;
  }
  for (int i = (int)(sizeof duration_units / sizeof duration_units[0]) - 1;
       i >= 0 && ns > 0; i--) {
    /* Days are printed only for whole days; "36h" reads better than "1d12h". */
    if (duration_units[i].ns == 86400 * GL_NS_PER_SEC &&
        ns % duration_units[i].ns != 0)
      continue;
    int64_t q = ns / duration_units[i].ns;
    if (q == 0)
      continue;
    ns -= q * duration_units[i].ns;
    if (len < size) {
      int n = snprintf(buf + len, size - len, "%lld%s", (long long)q,
                       duration_units[i].name);
      if (n > 0)
        len += (size_t)n;
    }
  }
  return buf;
}
