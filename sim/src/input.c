/* SPDX-License-Identifier: MIT */
/*
 * input.c - the research simulator's data sources: synthetic, long CSV
 * and Ausgrid, each converted to the scenario's interval. See
 * gridlet/sim_input.h for the formats and conversion rules.
 *
 * Opening a data source reads the file once from end to end and checks
 * everything (rows, order, duplicates, gaps), remembering only what is
 * needed to stream it again: where each household's rows begin. A run then
 * streams the file interval by interval, with one line cursor (rows in time
 * order) or one cursor per household and channel (rows grouped by
 * household, as the Ausgrid dataset is), so memory depends on the number
 * of households, never on the time span.
 */
#include "gridlet/sim_input.h"

#include "research_int.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/sim_synth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)
#define HALF_HOUR_NS (INT64_C(1800) * GL_NS_PER_SEC)
#define NONE INT64_MIN

/* Per household (CSV) or per household and channel (Ausgrid): where its
 * rows start, and what the pre-pass saw. */
typedef struct track {
  off_t off;
  int64_t line;
  bool has;
  /* pre-pass */
  int64_t prev; /* last time (CSV: ns, Ausgrid: day) */
  int64_t prev_line;
  int64_t first_in, last_in; /* inside the window */
  int64_t prev_in;
} track;

/* Streaming look-ahead of one cursor. */
typedef struct look {
  bool has; /* the track has rows at all */
  bool valid, done;
  int64_t t; /* CSV: step start; Ausgrid: day */
  int64_t load, pv;
  int64_t wh[SIM_AUSGRID_SLOTS];
} look;

struct sim_source {
  const sim_scenario *sc;
  sim_source_kind kind;
  int fd;
  char digest[65];
  sim__idmap *map;
  size_t n;
  const char **ids;  /* sorted */
  size_t *sorted_of; /* map index -> sorted index */
  bool has_span;
  int64_t data_start, data_end;
  int64_t step, rows;
  int64_t wstart, wend; /* window checked for gaps, in the track's units */
  sim_csv_format fmt;
  int n_fields;
  bool time_major;
  off_t data_off;
  int64_t data_line;
  int channels;  /* tracks per household: 1 (CSV) or 3 (Ausgrid) */
  track *tracks; /* [sorted index * channels + channel] */
  /* Streaming. */
  const sim_home *homes;
  int64_t interval, next_t;
  sim_synth *synth;
  sim__lines main;
  bool main_open;
  look main_look;
  long main_idx;
  sim__lines *cur; /* one per track (household-grouped files) */
  look *looks;
  bool started;
  int64_t st_t; /* cached data step (splitting) */
  int64_t *st_load, *st_pv, *tmp_load, *tmp_pv;
  uint8_t *st_present, *tmp_present;
};

static const char *file_of(const sim_source *s) {
  return s->sc->input;
}

/* ---- Pre-pass helpers ---------------------------------------------------- */

typedef struct scan {
  sim_source *s;
  sim_diag *diag;
  int errors;
  size_t cap; /* tracks allocated, in households */
  /* Row order. */
  int64_t prev_t;
  long prev_idx;
  int64_t back_line;   /* first row that went back in time */
  int64_t split_line;  /* first row resuming a household seen before */
  int64_t split_first; /* where that household's rows were */
  bool have_window;
} scan;

static void serr(scan *c, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void serr(scan *c, int64_t line, const char *fmt, ...) {
  char buf[SIM_DIAG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (line > 0)
    sim_diag_add(c->diag, "%s:%lld: %s", file_of(c->s), (long long)line, buf);
  else
    sim_diag_add(c->diag, "%s: %s", file_of(c->s), buf);
  c->errors++;
}

/* The track of map index `idx`, growing the array as households appear. */
static track *track_of(scan *c, long idx, int channel) {
  sim_source *s = c->s;
  if ((size_t)idx >= c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    while (cap <= (size_t)idx)
      cap *= 2;
    track *t = realloc(s->tracks, cap * (size_t)s->channels * sizeof *t);
    if (!t)
      return NULL;
    for (size_t i = c->cap * (size_t)s->channels; i < cap * (size_t)s->channels;
         i++) {
      memset(&t[i], 0, sizeof t[i]);
      t[i].prev = t[i].first_in = t[i].last_in = t[i].prev_in = NONE;
    }
    s->tracks = t;
    c->cap = cap;
  }
  return &s->tracks[(size_t)idx * (size_t)s->channels + (size_t)channel];
}

static const char *time_text(int64_t t, char buf[GL_TIME_STR_MAX]) {
  return gl_time_format(t, buf);
}

static const char *day_text(int64_t day, char *buf, size_t cap) {
  char t[GL_TIME_STR_MAX];
  gl_time_format(day * DAY_NS, t);
  snprintf(buf, cap, "%.10s", t);
  return buf;
}

/* Record a row's time (unit: step ns or days) on its track; checks order,
 * duplicates and gaps inside the window. `unit` is the spacing. */
static void track_row(scan *c, track *t, const char *who, int64_t v,
                      int64_t unit, int64_t line, bool days) {
  sim_source *s = c->s;
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  if (t->prev != NONE && v <= t->prev) {
    serr(c, line, "%s: %s %s is %s line %lld", who, days ? "day" : "time",
         days ? day_text(v, a, sizeof a) : time_text(v, a),
         v == t->prev ? "a duplicate of" : "earlier than the row on",
         (long long)t->prev_line);
    return;
  }
  t->prev = v;
  t->prev_line = line;
  bool inside = !c->have_window || (v >= s->wstart && v < s->wend);
  if (!inside)
    return;
  if (t->prev_in != NONE && v - t->prev_in > unit && !s->sc->missing_absent)
    serr(c, line,
         "%s: no data from %s to %s (a gap; set input.missing = "
         "absent to treat gaps as missing readings)",
         who,
         days ? day_text(t->prev_in + unit, a, sizeof a)
              : time_text(t->prev_in + unit, a),
         days ? day_text(v, b, sizeof b) : time_text(v, b));
  if (t->first_in == NONE)
    t->first_in = v;
  t->last_in = v;
  t->prev_in = v;
}

/* After the pass: coverage of the window's ends. */
static void track_cover(scan *c, track *t, const char *who, int64_t unit,
                        bool days) {
  sim_source *s = c->s;
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  if (s->sc->missing_absent)
    return;
  if (t->first_in == NONE) {
    serr(c, 0, "%s: no data in the run's time span %s .. %s", who,
         days ? day_text(s->wstart, a, sizeof a) : time_text(s->wstart, a),
         days ? day_text(s->wend, b, sizeof b) : time_text(s->wend, b));
    return;
  }
  if (t->first_in > s->wstart)
    serr(c, 0, "%s: no data from %s (the run's start) to %s", who,
         days ? day_text(s->wstart, a, sizeof a) : time_text(s->wstart, a),
         days ? day_text(t->first_in, b, sizeof b) : time_text(t->first_in, b));
  if (t->last_in + unit < s->wend)
    serr(c, 0, "%s: no data from %s to %s (the run's end)", who,
         days ? day_text(t->last_in + unit, a, sizeof a)
              : time_text(t->last_in + unit, a),
         days ? day_text(s->wend, b, sizeof b) : time_text(s->wend, b));
}

static bool blank_or_comment(const char *l, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (l[i] == '#' && i == 0)
      return true;
    if (l[i] != ' ' && l[i] != '\t')
      return false;
  }
  return true;
}

/* Row order bookkeeping shared by both formats. */
static void note_order(scan *c, long idx, bool added, int64_t t, int64_t line,
                       const track *first) {
  if (c->prev_idx >= 0 && idx != c->prev_idx && !added && !c->split_line) {
    c->split_line = line;
    c->split_first = first->line;
  }
  if (c->prev_t != NONE && t < c->prev_t && !c->back_line)
    c->back_line = line;
  c->prev_t = t;
  c->prev_idx = idx;
}

/* ---- CSV pre-pass -------------------------------------------------------- */

static int scan_csv(scan *c) {
  sim_source *s = c->s;
  sim__lines cur;
  int rc = sim__lines_init(&cur, s->fd, 0, 1, SIM__CURSOR_BUF);
  if (rc)
    return rc;
  const char *l;
  size_t n;
  int64_t line;
  off_t off;
  bool header = false;
  char why[SIM_DIAG_LEN];
  while ((rc = sim__lines_next(&cur, &l, &n, &line, &off)) != 0) {
    if (rc == GL_ETOOBIG) {
      serr(c, line, "line longer than %d bytes", SIM__LINE_MAX);
      continue;
    }
    if (rc < 0)
      break;
    if (line == 1 && n >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0) {
      l += 3;
      n -= 3;
    }
    if (blank_or_comment(l, n))
      continue;
    if (!header) {
      header = true;
      if (sim_csv_header(l, n, &s->fmt, why, sizeof why)) {
        serr(c, line, "%s", why);
        rc = 0;
        break; /* nothing else can be read without the header */
      }
      continue;
    }
    sim_csv_row row;
    if (sim_csv_row_parse(l, n, &s->fmt, &row, why, sizeof why)) {
      serr(c, line, "%s", why);
      continue;
    }
    s->rows++;
    bool added;
    long idx = sim__idmap_add(s->map, row.household, row.household_len, &added);
    track *t = idx < 0 ? NULL : track_of(c, idx, 0);
    if (!t) {
      rc = GL_ENOMEM;
      break;
    }
    if (added) {
      t->off = off;
      t->line = line;
      t->has = true;
    }
    note_order(c, idx, added, row.start, line, t);
    char who[96];
    snprintf(who, sizeof who, "household %s",
             sim__idmap_key(s->map, (size_t)idx));
    track_row(c, t, who, row.start, s->step, line, false);
    if (s->data_start == NONE || row.start < s->data_start)
      s->data_start = row.start;
    if (s->data_end == NONE || row.start + s->step > s->data_end)
      s->data_end = row.start + s->step;
  }
  sim__lines_free(&cur);
  if (rc < 0)
    return rc;
  if (!header)
    serr(c, 0, "no header line (timestamp,household,%s,%s)",
         s->fmt.unit_kwh ? "load_kwh" : "load_wh",
         s->fmt.unit_kwh ? "pv_kwh" : "pv_wh");
  return 0;
}

/* ---- Ausgrid pre-pass ---------------------------------------------------- */

static const char *const channel_names[3] = {"GC", "CL", "GG"};

static int scan_ausgrid(scan *c) {
  sim_source *s = c->s;
  sim__lines cur;
  int rc = sim__lines_init(&cur, s->fd, 0, 1, SIM__CURSOR_BUF);
  if (rc)
    return rc;
  const char *l;
  size_t n;
  int64_t line;
  off_t off;
  bool header = false;
  int64_t first_line = 0;
  char why[SIM_DIAG_LEN];
  sim_ausgrid_row row;
  while ((rc = sim__lines_next(&cur, &l, &n, &line, &off)) != 0) {
    if (rc == GL_ETOOBIG) {
      serr(c, line, "line longer than %d bytes", SIM__LINE_MAX);
      continue;
    }
    if (rc < 0)
      break;
    if (line == 1 && n >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0) {
      l += 3;
      n -= 3;
    }
    if (!header) {
      /* The title line comes first; the header may also be line 1. */
      bool is_header = n >= 9 && memcmp(l, "Customer,", 9) == 0;
      if (!is_header && !first_line) {
        first_line = line;
        continue;
      }
      header = true;
      if (sim_ausgrid_header(l, n, &s->n_fields, why, sizeof why)) {
        serr(c, line, "%s", why);
        rc = 0;
        break;
      }
      continue;
    }
    if (n == 0)
      continue; /* a final empty line */
    if (sim_ausgrid_row_parse(l, n, s->n_fields, &row, why, sizeof why)) {
      serr(c, line, "%s", why);
      continue;
    }
    s->rows++;
    bool added;
    long idx = sim__idmap_add(s->map, row.customer, row.customer_len, &added);
    track *t = idx < 0 ? NULL : track_of(c, idx, (int)row.channel);
    if (!t) {
      rc = GL_ENOMEM;
      break;
    }
    track *t0 = track_of(c, idx, 0);
    if (added)
      t0->line = line; /* the customer's first line, for messages */
    if (!t->has) {
      t->off = off;
      t->line = line;
      t->has = true;
    }
    /* Customers must be contiguous: a customer seen before, after rows of
     * another one, cannot be streamed without reading the file again. */
    if (c->prev_idx >= 0 && idx != c->prev_idx && !added)
      serr(c, line,
           "customer %s's rows are not together (its rows began on line "
           "%lld); sort the file by customer",
           sim__idmap_key(s->map, (size_t)idx), (long long)t0->line);
    c->prev_idx = idx;
    char who[96];
    snprintf(who, sizeof who, "customer %s channel %s",
             sim__idmap_key(s->map, (size_t)idx), channel_names[row.channel]);
    track_row(c, t, who, row.day, 1, line, true);
    int64_t off_ns = (int64_t)s->sc->utc_offset_s * GL_NS_PER_SEC;
    int64_t a = row.day * DAY_NS - off_ns, b = a + DAY_NS;
    if (s->data_start == NONE || a < s->data_start)
      s->data_start = a;
    if (s->data_end == NONE || b > s->data_end)
      s->data_end = b;
  }
  sim__lines_free(&cur);
  if (rc < 0)
    return rc;
  if (!header)
    serr(c, 0,
         "no header line (Customer,Generator Capacity,Postcode,"
         "Consumption Category,date,0:30,...,0:00)");
  return 0;
}

/* ---- Open ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The window [a, b) of the run (UTC ns) in the units a track counts in:
 * data steps for CSV, local days for Ausgrid. */
static void set_window(sim_source *s, int64_t a, int64_t b) {
  if (s->kind == SIM_SOURCE_AUSGRID) {
    int64_t off = (int64_t)s->sc->utc_offset_s * GL_NS_PER_SEC;
    s->wstart = gl_floor_div(a + off, DAY_NS);
    s->wend = gl_floor_div(b + off - 1, DAY_NS) + 1;
  } else {
    s->wstart = gl_floor_div(a, s->step) * s->step;
    s->wend = (gl_floor_div(b - 1, s->step) + 1) * s->step;
  }
}

static int check_conversion(const sim_scenario *sc, int64_t step,
                            sim_diag *diag) {
  int64_t L = sc->interval;
  if (L == step || L % step == 0)
    return 0;
  if (step % L == 0) {
    if (sc->resample_even)
      return 0;
    char a[32], b[32];
    sim_diag_add(diag,
                 "%s: the data's step %s is longer than the interval %s and "
                 "input.resample = refuse",
                 sc->file, gl_duration_format(step, a, sizeof a),
                 gl_duration_format(L, b, sizeof b));
    return GL_EINVAL;
  }
  char a[32], b[32];
  sim_diag_add(diag,
               "%s: the interval %s is neither a multiple nor a divisor of "
               "the data's step %s",
               sc->file, gl_duration_format(L, a, sizeof a),
               gl_duration_format(step, b, sizeof b));
  return GL_EINVAL;
}

int sim_source_open(const sim_scenario *sc, sim_source **out, sim_diag *diag) {
  *out = NULL;
  if (sc->source == SIM_SOURCE_LEDGER)
    return GL_EINVAL;
  sim_source *s = calloc(1, sizeof *s);
  if (!s)
    return GL_ENOMEM;
  s->sc = sc;
  s->kind = sc->source;
  s->fd = -1;
  s->data_start = s->data_end = NONE;
  s->step = sc->source == SIM_SOURCE_SYNTHETIC ? sc->interval : sc->step;
  s->st_t = NONE;
  if (sc->source == SIM_SOURCE_SYNTHETIC) {
    *out = s;
    return 0;
  }
  int rc = check_conversion(sc, s->step, diag);
  if (rc) {
    free(s);
    return rc;
  }
  s->fd = open(sc->input, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    int e = errno;
    sim_diag_add(diag, "%s: cannot open: %s", sc->input, strerror(e));
    free(s);
    return e == ENOENT ? GL_ENOENT : GL_EIO;
  }
  s->map = sim__idmap_new();
  if (!s->map) {
    sim_source_free(s);
    return GL_ENOMEM;
  }
  s->fmt.unit_kwh = sc->unit_kwh;
  s->fmt.timestamps_end = sc->timestamps_end;
  s->fmt.step = s->step;
  s->fmt.has_utc_offset = sc->has_utc_offset;
  s->fmt.utc_offset_s = sc->utc_offset_s;
  s->channels = sc->source == SIM_SOURCE_AUSGRID ? 3 : 1;

  scan c;
  memset(&c, 0, sizeof c);
  c.s = s;
  c.diag = diag;
  c.prev_t = NONE;
  c.prev_idx = -1;
  c.have_window = sc->has_start || sc->has_end;
  if (c.have_window)
    set_window(s, sc->has_start ? sc->start : INT64_MIN / 4,
               sc->has_end ? sc->end : INT64_MAX / 4);
  rc = sim__sha256_file(s->fd, s->digest);
  if (!rc)
    rc = sc->source == SIM_SOURCE_CSV ? scan_csv(&c) : scan_ausgrid(&c);
  if (rc) {
    if (rc == GL_EIO)
      sim_diag_add(diag, "%s: read error", sc->input);
    sim_source_free(s);
    return rc;
  }
  s->n = sim__idmap_count(s->map);
  if (s->n == 0 && !c.errors)
    serr(&c, 0, "no data rows");
  if (s->kind == SIM_SOURCE_CSV && c.back_line && c.split_line) {
    serr(&c, c.back_line,
         "rows must be in time order, or grouped by household in time "
         "order: this row goes back in time, and line %lld resumes a "
         "household whose rows began on line %lld",
         (long long)c.split_line, (long long)c.split_first);
  }
  s->time_major = s->kind == SIM_SOURCE_CSV && !c.back_line;
  s->has_span = s->data_start != NONE;
  if (s->has_span) {
    /* With no window from the scenario the gap checks inside the data
     * ran over the whole file; now the ends are known. */
    set_window(s, sc->has_start ? sc->start : s->data_start,
               sc->has_end ? sc->end : s->data_end);
    bool days = s->kind == SIM_SOURCE_AUSGRID;
    int64_t unit = days ? 1 : s->step;
    for (size_t i = 0; i < s->n; i++) {
      const char *id = sim__idmap_key(s->map, i);
      for (int ch = 0; ch < s->channels; ch++) {
        track *t = &s->tracks[i * (size_t)s->channels + (size_t)ch];
        char who[96];
        if (days)
          snprintf(who, sizeof who, "customer %s channel %s", id,
                   channel_names[ch]);
        else
          snprintf(who, sizeof who, "household %s", id);
        if (days && !t->has) {
          if (ch != SIM_AUSGRID_CL)
            serr(&c, 0, "customer %s has no %s rows (%s is required)", id,
                 channel_names[ch],
                 ch == SIM_AUSGRID_GC ? "general consumption"
                                      : "gross generation");
          continue;
        }
        track_cover(&c, t, who, unit, days);
      }
    }
  }
  if (c.errors) {
    sim_source_free(s);
    return GL_EPARSE;
  }
  /* Households in byte order: the participant order of the market. */
  s->ids = malloc(s->n * sizeof *s->ids);
  s->sorted_of = malloc(s->n * sizeof *s->sorted_of);
  if (!s->ids || !s->sorted_of) {
    sim_source_free(s);
    return GL_ENOMEM;
  }
  for (size_t i = 0; i < s->n; i++)
    s->ids[i] = sim__idmap_key(s->map, i);
  qsort(s->ids, s->n, sizeof *s->ids, cmp_str);
  for (size_t i = 0; i < s->n; i++)
    s->sorted_of[sim__idmap_get(s->map, s->ids[i], strlen(s->ids[i]))] = i;
  *out = s;
  return 0;
}

void sim_source_info_get(const sim_source *s, sim_source_info *out) {
  memset(out, 0, sizeof *out);
  out->kind = s->kind;
  out->n_ids = s->kind == SIM_SOURCE_SYNTHETIC ? 0 : s->n;
  out->ids = (const char *const *)s->ids;
  out->has_span = s->has_span;
  out->start = s->data_start;
  out->end = s->data_end;
  out->step = s->step;
  out->rows = s->rows;
  memcpy(out->digest, s->digest, sizeof out->digest);
}

void sim_source_free(sim_source *s) {
  if (!s)
    return;
  if (s->cur) {
    size_t nt = s->n * (size_t)s->channels;
    for (size_t i = 0; i < nt; i++)
      sim__lines_free(&s->cur[i]);
    free(s->cur);
  }
  if (s->main_open)
    sim__lines_free(&s->main);
  free(s->looks);
  sim_synth_free(s->synth);
  if (s->fd >= 0)
    close(s->fd);
  sim__idmap_free(s->map);
  free((void *)s->ids);
  free(s->sorted_of);
  free(s->tracks);
  free(s->st_load);
  free(s->st_pv);
  free(s->st_present);
  free(s->tmp_load);
  free(s->tmp_pv);
  free(s->tmp_present);
  free(s);
}

/* ---- Start --------------------------------------------------------------- */

int sim_source_start(sim_source *s, const sim_home *homes, size_t n,
                     int64_t start, int64_t end) {
  if (s->started || start >= end)
    return GL_EINVAL;
  s->homes = homes;
  s->interval = s->sc->interval;
  s->next_t = start;
  s->started = true;
  if (s->kind == SIM_SOURCE_SYNTHETIC) {
    s->n = n;
    return sim_synth_new(s->sc, homes, n, &s->synth);
  }
  if (n != s->n)
    return GL_EINVAL;
  s->st_load = calloc(n, sizeof *s->st_load);
  s->st_pv = calloc(n, sizeof *s->st_pv);
  s->st_present = calloc(n, 1);
  s->tmp_load = calloc(n, sizeof *s->tmp_load);
  s->tmp_pv = calloc(n, sizeof *s->tmp_pv);
  s->tmp_present = calloc(n, 1);
  if (!s->st_load || !s->st_pv || !s->st_present || !s->tmp_load ||
      !s->tmp_pv || !s->tmp_present)
    return GL_ENOMEM;
  if (s->time_major) {
    int rc = sim__lines_init(&s->main, s->fd, 0, 1, 64 * 1024);
    if (rc)
      return rc;
    s->main_open = true;
    return 0;
  }
  /* One cursor per track, in sorted household order. */
  size_t nt = n * (size_t)s->channels;
  s->cur = calloc(nt, sizeof *s->cur);
  s->looks = calloc(nt, sizeof *s->looks);
  if (!s->cur || !s->looks)
    return GL_ENOMEM;
  for (size_t m = 0; m < n; m++) {
    size_t i = s->sorted_of[m];
    for (int ch = 0; ch < s->channels; ch++) {
      const track *t = &s->tracks[m * (size_t)s->channels + (size_t)ch];
      size_t k = i * (size_t)s->channels + (size_t)ch;
      int rc =
          sim__lines_init(&s->cur[k], s->fd, t->off, t->line, SIM__CURSOR_BUF);
      if (rc)
        return rc;
      s->looks[k].has = t->has;
      if (!t->has)
        s->looks[k].done = true;
    }
  }
  return 0;
}

/* ---- Streaming ----------------------------------------------------------- */

static int changed(sim_source *s, sim_diag *diag, int64_t line,
                   const char *why) {
  sim_diag_add(diag, "%s:%lld: %s (the file changed after it was checked?)",
               file_of(s), (long long)line, why);
  return GL_EPARSE;
}

/* Time-major CSV: the next data row after the header into main_look. */
static int main_advance(sim_source *s, sim_diag *diag) {
  const char *l;
  size_t n;
  int64_t line;
  char why[SIM_DIAG_LEN];
  for (;;) {
    int rc = sim__lines_next(&s->main, &l, &n, &line, NULL);
    if (rc == 0) {
      s->main_look.done = true;
      s->main_look.valid = false;
      return 0;
    }
    if (rc < 0)
      return rc == GL_ETOOBIG ? changed(s, diag, line, "line too long") : rc;
    if (line == 1 && n >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0) {
      l += 3;
      n -= 3;
    }
    if (blank_or_comment(l, n))
      continue;
    if (!s->data_line) {
      s->data_line = line; /* the header */
      continue;
    }
    sim_csv_row row;
    if (sim_csv_row_parse(l, n, &s->fmt, &row, why, sizeof why))
      return changed(s, diag, line, why);
    long idx = sim__idmap_get(s->map, row.household, row.household_len);
    if (idx < 0)
      return changed(s, diag, line, "unknown household");
    s->main_look.valid = true;
    s->main_look.t = row.start;
    s->main_look.load = row.load_wh;
    s->main_look.pv = row.pv_wh;
    s->main_idx = (long)s->sorted_of[idx];
    return 0;
  }
}

/* Household-grouped CSV: the next row of household track k. */
static int csv_track_advance(sim_source *s, size_t k, sim_diag *diag) {
  look *lk = &s->looks[k];
  const char *l;
  size_t n;
  int64_t line;
  char why[SIM_DIAG_LEN];
  for (;;) {
    int rc = sim__lines_next(&s->cur[k], &l, &n, &line, NULL);
    if (rc == 0) {
      lk->done = true;
      lk->valid = false;
      return 0;
    }
    if (rc < 0)
      return rc == GL_ETOOBIG ? changed(s, diag, line, "line too long") : rc;
    if (blank_or_comment(l, n))
      continue;
    sim_csv_row row;
    if (sim_csv_row_parse(l, n, &s->fmt, &row, why, sizeof why))
      return changed(s, diag, line, why);
    const char *id = s->ids[k];
    if (strlen(id) != row.household_len ||
        memcmp(id, row.household, row.household_len) != 0) {
      lk->done = true; /* the next household's rows begin */
      lk->valid = false;
      return 0;
    }
    lk->valid = true;
    lk->t = row.start;
    lk->load = row.load_wh;
    lk->pv = row.pv_wh;
    return 0;
  }
}

/* Ausgrid: the next row of customer i's channel ch (track k). */
static int ausgrid_track_advance(sim_source *s, size_t k, size_t i, int ch,
                                 sim_diag *diag) {
  look *lk = &s->looks[k];
  const char *l;
  size_t n;
  int64_t line;
  char why[SIM_DIAG_LEN];
  const char *id = s->ids[i];
  size_t idlen = strlen(id);
  for (;;) {
    int rc = sim__lines_next(&s->cur[k], &l, &n, &line, NULL);
    if (rc == 0) {
      lk->done = true;
      lk->valid = false;
      return 0;
    }
    if (rc < 0)
      return rc == GL_ETOOBIG ? changed(s, diag, line, "line too long") : rc;
    if (n == 0)
      continue;
    /* Cheap look at the first and fourth fields before a full parse:
     * other channels' rows are skipped, another customer's end the run. */
    sim__span f[4];
    if (sim__split(l, n, f, 4) < 4)
      return changed(s, diag, line, "too few columns");
    if (f[0].n != idlen || memcmp(f[0].p, id, idlen) != 0) {
      lk->done = true;
      lk->valid = false;
      return 0;
    }
    if (!sim__span_is(f[3], channel_names[ch]))
      continue;
    sim_ausgrid_row row;
    if (sim_ausgrid_row_parse(l, n, s->n_fields, &row, why, sizeof why))
      return changed(s, diag, line, why);
    lk->valid = true;
    lk->t = row.day;
    memcpy(lk->wh, row.wh, sizeof lk->wh);
    return 0;
  }
}

/* One data step starting at t into load/pv/present (all households). */
static int fetch_step(sim_source *s, int64_t t, int64_t *load, int64_t *pv,
                      uint8_t *present, sim_diag *diag) {
  size_t n = s->n;
  memset(load, 0, n * sizeof *load);
  memset(pv, 0, n * sizeof *pv);
  memset(present, 0, n);
  int rc;
  if (s->kind == SIM_SOURCE_CSV && s->time_major) {
    if (!s->main_look.valid && !s->main_look.done &&
        (rc = main_advance(s, diag)))
      return rc;
    while (s->main_look.valid && s->main_look.t <= t) {
      if (s->main_look.t == t) {
        size_t i = (size_t)s->main_idx;
        load[i] = s->main_look.load;
        pv[i] = s->main_look.pv;
        present[i] = 1;
      }
      if ((rc = main_advance(s, diag)))
        return rc;
    }
    return 0;
  }
  if (s->kind == SIM_SOURCE_CSV) {
    for (size_t i = 0; i < n; i++) {
      look *lk = &s->looks[i];
      if (!lk->valid && !lk->done && (rc = csv_track_advance(s, i, diag)))
        return rc;
      while (lk->valid && lk->t < t)
        if ((rc = csv_track_advance(s, i, diag)))
          return rc;
      if (lk->valid && lk->t == t) {
        load[i] = lk->load;
        pv[i] = lk->pv;
        present[i] = 1;
      }
    }
    return 0;
  }
  /* Ausgrid: the local day and half-hour slot of t. */
  int64_t local = t + (int64_t)s->sc->utc_offset_s * GL_NS_PER_SEC;
  int64_t day = gl_floor_div(local, DAY_NS);
  size_t slot = (size_t)((local - day * DAY_NS) / HALF_HOUR_NS);
  for (size_t i = 0; i < n; i++) {
    bool ok = true;
    int64_t gc = 0, cl = 0, gg = 0;
    for (int ch = 0; ch < 3; ch++) {
      size_t k = i * 3 + (size_t)ch;
      look *lk = &s->looks[k];
      /* CL is optional, but a customer that has it needs it daily. */
      bool required = ch != SIM_AUSGRID_CL || lk->has;
      if (!lk->valid && !lk->done &&
          (rc = ausgrid_track_advance(s, k, i, ch, diag)))
        return rc;
      while (lk->valid && lk->t < day)
        if ((rc = ausgrid_track_advance(s, k, i, ch, diag)))
          return rc;
      bool have = lk->valid && lk->t == day;
      int64_t v = have ? lk->wh[slot] : 0;
      if (ch == SIM_AUSGRID_GC)
        gc = v;
      else if (ch == SIM_AUSGRID_CL)
        cl = v;
      else
        gg = v;
      if (!have && required)
        ok = false;
    }
    load[i] = gc + (s->sc->controlled_load ? cl : 0);
    pv[i] = gg;
    present[i] = ok;
  }
  return 0;
}

int sim_source_next(sim_source *s, int64_t t, int64_t *load, int64_t *pv,
                    uint8_t *present, sim_diag *diag) {
  if (!s->started || t != s->next_t)
    return GL_ESTATE;
  s->next_t = t + s->interval;
  size_t n = s->n;
  if (s->kind == SIM_SOURCE_SYNTHETIC) {
    memset(present, 1, n);
    return sim_synth_next(s->synth, t, load, pv);
  }
  int64_t L = s->interval, d = s->step;
  int rc;
  if (L == d)
    return fetch_step(s, t, load, pv, present, diag);
  if (L > d) {
    memset(load, 0, n * sizeof *load);
    memset(pv, 0, n * sizeof *pv);
    memset(present, 1, n);
    for (int64_t u = t; u < t + L; u += d) {
      if ((rc = fetch_step(s, u, s->tmp_load, s->tmp_pv, s->tmp_present, diag)))
        return rc;
      for (size_t i = 0; i < n; i++) {
        load[i] += s->tmp_load[i];
        pv[i] += s->tmp_pv[i];
        present[i] &= s->tmp_present[i];
      }
    }
    return 0;
  }
  /* L < d: split the step evenly, the remainder to the first parts. */
  int64_t t0 = gl_floor_div(t, d) * d;
  if (s->st_t != t0) {
    if ((rc = fetch_step(s, t0, s->st_load, s->st_pv, s->st_present, diag)))
      return rc;
    s->st_t = t0;
  }
  int64_t m = d / L, j = (t - t0) / L;
  for (size_t i = 0; i < n; i++) {
    int64_t a = s->st_load[i], b = s->st_pv[i];
    load[i] = a / m + (j < a % m ? 1 : 0);
    pv[i] = b / m + (j < b % m ? 1 : 0);
    present[i] = s->st_present[i];
  }
  return 0;
}
