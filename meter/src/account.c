/* SPDX-License-Identifier: MIT */
/*
 * account.c - interval accounting from cumulative counters. The rules are
 * in gridlet/mtr_account.h; this file is organised as: state, counter
 * differences (anomalies), attribution to intervals, feeding a poll,
 * handing out intervals, and the saved state format.
 */
#include "gridlet/mtr_account.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pr_msg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define COMP "account"
#define MAX_BUCKETS 4
#define NONE INT64_MIN
/* Wh = W * ns / NS_PER_WH_W */
#define NS_PER_HOUR (INT64_C(3600) * GL_NS_PER_SEC)

/* ---- State ---------------------------------------------------------------
 */

/* The last good read of one counter. */
typedef struct ctr {
  bool has;
  int64_t value;
  uint64_t raw;
  uint8_t bits;
  int8_t exp;
  uint32_t identity;
  int64_t t;    /* effective time of the read */
  int64_t mono; /* monotonic time of the read (valid when mono_ok) */
  bool mono_ok; /* read in this run */
  bool invalid; /* the device reports an impossible value (logged once) */
} ctr;

/* Per-bucket, per-counter coverage bits. */
enum {
  CF_SEEN = 1,       /* a difference or a share was counted in it */
  CF_FROM_START = 2, /* a read at the interval's start */
  CF_BOUNDARY = 4,   /* a read at the interval's end */
  CF_ABSENT = 8,     /* the device said it lacks the counter */
};

/* An interval being accounted. */
typedef struct bucket {
  bool used;
  int64_t start;
  uint32_t flags;
  bool closed_ok; /* a poll after the end in which every device answered */
  int64_t wh[MTR_C_COUNT];
  uint8_t cf[MTR_C_COUNT];
  bool has_soc;
  int64_t soc;
  bool has_tot[2];
  int64_t tot[2];
} bucket;

struct mtr_account {
  mtr_account_cfg cfg;
  ctr c[MTR_C_COUNT];
  bool has_poll;
  int64_t last_t;    /* effective time of the last poll */
  int64_t last_wall; /* its wall time as read */
  int64_t last_mono;
  bool mono_ok;               /* last_mono is from this run */
  int64_t emitted_end;        /* end of the last interval handed out */
  int64_t step_missing_until; /* missing intervals before this: clock_step */
  /* A step beyond the horizon, not yet believed (this run only). */
  bool held;
  int64_t held_offset; /* wall clock minus the expected time */
  int64_t held_since;  /* monotonic time it was first seen */
  bucket b[MAX_BUCKETS];
  mtr_account_counts counts; /* since the last mtr_account_take_counts */
};

static const char *const counter_names[] = {
    "grid import", "grid export", "PV", "battery charge", "battery discharge"};

const char *mtr_counter_name(int c) {
  return c >= 0 && c < MTR_C_COUNT ? counter_names[c] : "?";
}

static void reset_state(mtr_account *a) {
  mtr_account_cfg cfg = a->cfg;
  memset(a, 0, sizeof *a);
  a->cfg = cfg;
  a->emitted_end = NONE;
  a->step_missing_until = NONE;
}

int mtr_account_new(const mtr_account_cfg *cfg, mtr_account **out) {
  *out = NULL;
  if (!cfg || cfg->interval_ns <= 0 || cfg->poll_ns <= 0 ||
      cfg->close_wait_ns < 0 || cfg->step_ns <= 0 || cfg->backfill_ns < 0 ||
      cfg->max_power_w <= 0 || cfg->step_horizon_ns < 0 ||
      cfg->step_confirm_ns < 0 ||
      (cfg->step_horizon_ns && cfg->step_horizon_ns < cfg->step_ns) ||
      (INT64_C(86400) * GL_NS_PER_SEC) % cfg->interval_ns != 0)
    return GL_EINVAL;
  mtr_account *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->cfg = *cfg;
  reset_state(a);
  *out = a;
  return 0;
}

void mtr_account_free(mtr_account *a) {
  free(a);
}

void mtr_account_copy(mtr_account *dst, const mtr_account *src) {
  *dst = *src;
}

void mtr_account_take_counts(mtr_account *a, mtr_account_counts *out) {
  *out = a->counts;
  memset(&a->counts, 0, sizeof a->counts);
}

static int64_t interval_start(const mtr_account *a, int64_t t) {
  return gl_floor_div(t, a->cfg.interval_ns) * a->cfg.interval_ns;
}

static bucket *find_bucket(mtr_account *a, int64_t start) {
  for (int i = 0; i < MAX_BUCKETS; i++)
    if (a->b[i].used && a->b[i].start == start)
      return &a->b[i];
  return NULL;
}

/* The bucket for the interval starting at `start`, created when it is
 * not already handed out. NULL when it was (or no slot is free, which the
 * closing rules make impossible: at most two intervals are ever open). */
static bucket *get_bucket(mtr_account *a, int64_t start) {
  bucket *b = find_bucket(a, start);
  if (b)
    return b;
  if (a->emitted_end != NONE && start < a->emitted_end)
    return NULL;
  for (int i = 0; i < MAX_BUCKETS; i++)
    if (!a->b[i].used) {
      memset(&a->b[i], 0, sizeof a->b[i]);
      a->b[i].used = true;
      a->b[i].start = start;
      if (a->emitted_end == NONE)
        a->emitted_end = start; /* nothing before the first read */
      return &a->b[i];
    }
  GL_ERROR(COMP, "no free interval slot (a bug): interval dropped");
  return NULL;
}

static bucket *oldest_bucket(mtr_account *a) {
  bucket *best = NULL;
  for (int i = 0; i < MAX_BUCKETS; i++)
    if (a->b[i].used && (!best || a->b[i].start < best->start))
      best = &a->b[i];
  return best;
}

static void fmt_time(int64_t t, char buf[GL_TIME_STR_MAX]) {
  gl_time_format(t, buf);
}

/* ---- Counter differences -------------------------------------------------
 */

static int64_t pow10_i(int e) {
  int64_t p = 1;
  while (e-- > 0 && p < INT64_C(1000000000000000000))
    p *= 10;
  return p;
}

/* Wh one step of a register is worth (at least 1). */
static int64_t resolution(int8_t exp) {
  return exp > 0 ? pow10_i(exp) : 1;
}

/*
 * floor(a * b / c) for c > 0 and a result below 2^64, exactly, without a
 * 128-bit type (32-bit ARM has none): the 128-bit product by 32-bit
 * halves, then restoring division. Used only for gaps and limits, not per
 * read.
 */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu,
           bh = b >> 32;
  uint64_t p0 = al * bl, p1 = al * bh, p2 = ah * bl, p3 = ah * bh;
  uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);
  uint64_t lo = (p0 & 0xffffffffu) | (mid << 32);
  uint64_t hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
  uint64_t q = 0, r = 0;
  for (int i = 127; i >= 0; i--) {
    uint64_t bit = i >= 64 ? (hi >> (i - 64)) & 1u : (lo >> i) & 1u;
    bool carry = (r >> 63) != 0;
    r = (r << 1) | bit;
    if (carry || r >= c) {
      r -= c; /* modulo 2^64: exact, as the true remainder is >= c */
      if (i < 64)
        q |= UINT64_C(1) << i;
    }
  }
  return q;
}

/* The most energy that can plausibly flow in `elapsed` ns. */
static int64_t plausible_wh(const mtr_account *a, int64_t elapsed) {
  if (elapsed < a->cfg.poll_ns)
    elapsed = a->cfg.poll_ns;
  uint64_t wh = mul_div((uint64_t)a->cfg.max_power_w, (uint64_t)elapsed,
                        (uint64_t)NS_PER_HOUR);
  return wh > (uint64_t)(INT64_MAX / 2) ? INT64_MAX / 2 : (int64_t)wh;
}

/*
 * The energy between the last read of counter `c` and `o`, with the
 * anomaly rules; flags for the interval of the later read go to *flags.
 */
static int64_t difference(mtr_account *a, int c, const ctr *last,
                          const mtr_obs *o, int64_t elapsed, bool elapsed_known,
                          uint32_t *flags) {
  const char *name = mtr_counter_name(c);
  if (o->identity != last->identity || o->bits != last->bits) {
    GL_WARN(COMP,
            "%s: another device answers (identity %08x, was %08x): its "
            "counter starts a new baseline (flagged counter_reset)",
            name, o->identity, last->identity);
    *flags |= PR_FLAG_COUNTER_RESET;
    return 0;
  }
  int64_t limit = plausible_wh(a, elapsed);
  bool scale = o->exp != last->exp;
  int64_t unit = resolution(o->exp) > resolution(last->exp)
                     ? resolution(o->exp)
                     : resolution(last->exp);
  limit += unit;
  if (scale) {
    GL_NOTICE(COMP,
              "%s: the device changed its scale from 10^%d to 10^%d "
              "(flagged scale_change)",
              name, last->exp, o->exp);
    *flags |= PR_FLAG_SCALE_CHANGE;
  }
  int64_t d = o->value - last->value;
  if (d >= 0) {
    /* Across a restart with the wall clock behind the last read, the time
     * the agent was down is unknown: any rise may be real. */
    if (d > limit && elapsed_known) {
      GL_WARN(COMP,
              "%s: the counter jumped from %lld to %lld Wh, more than %lld W "
              "could deliver in the time since the last read; treated as a "
              "counter reset (0 Wh counted, flagged counter_reset)",
              name, (long long)last->value, (long long)o->value,
              (long long)a->cfg.max_power_w);
      *flags |= PR_FLAG_COUNTER_RESET;
      return 0;
    }
    return d;
  }
  if (scale && -d < unit)
    return 0; /* the coarser resolution rounded it down */
  /* 2^32 * 10^8 still fits an int64; larger exponents never roll over
   * plausibly anyway. */
  if ((o->bits == 16 || o->bits == 32) && o->exp <= 8) {
    int64_t span = o->exp >= 0 ? (INT64_C(1) << o->bits) * pow10_i(o->exp)
                               : (INT64_C(1) << o->bits) / pow10_i(-o->exp);
    int64_t wrapped = span - last->value + o->value;
    if (wrapped >= 0 && wrapped <= limit) {
      GL_NOTICE(COMP,
                "%s: the %u-bit counter rolled over (%lld -> %lld Wh; %lld Wh "
                "counted, flagged rollover)",
                name, o->bits, (long long)last->value, (long long)o->value,
                (long long)wrapped);
      *flags |= PR_FLAG_ROLLOVER;
      return wrapped;
    }
  }
  *flags |= PR_FLAG_COUNTER_RESET;
  int64_t since = o->value <= limit ? o->value : 0;
  GL_WARN(COMP,
          "%s: the counter went back from %lld to %lld Wh (device reset or "
          "replaced); %lld Wh counted since the reset (flagged counter_reset)",
          name, (long long)last->value, (long long)o->value, (long long)since);
  return since;
}

/* ---- Attribution ---------------------------------------------------------
 */

/*
 * The grid counters are what is settled, so `estimated` says whether
 * they are: PV and battery energies are information, and an inverter
 * asleep at night (no reads) must not make exact grid readings look
 * estimated (and useless as forecasts). A failed read of any device still
 * flags `device_offline`.
 */
static bool is_grid(int c) {
  return c == MTR_C_IMPORT || c == MTR_C_EXPORT;
}

static void set_total(bucket *b, int c, int64_t value) {
  if (c == MTR_C_IMPORT || c == MTR_C_EXPORT) {
    b->has_tot[c] = true;
    b->tot[c] = value;
  }
}

/* The energy of [t_a, x) when d Wh flowed evenly over [t_a, t_b). */
static int64_t share_until(int64_t d, int64_t t_a, int64_t t_b, int64_t x) {
  if (x <= t_a)
    return 0;
  if (x >= t_b)
    return d;
  return (int64_t)mul_div((uint64_t)d, (uint64_t)(x - t_a),
                          (uint64_t)(t_b - t_a));
}

/*
 * Attribute `d` Wh of counter c, read at t_a and again at t_b (t_a <=
 * t_b), per the rules of the header. `value` is the counter at t_b.
 */
static void attribute(mtr_account *a, int c, int64_t d, int64_t t_a,
                      int64_t t_b, int64_t value) {
  int64_t I = a->cfg.interval_ns, tol = a->cfg.poll_ns;
  int64_t s_a = interval_start(a, t_a), s_b = interval_start(a, t_b);
  bucket *bb = get_bucket(a, s_b);
  if (bb && t_b - s_b <= tol)
    bb->cf[c] |= CF_FROM_START;
  if (s_a == s_b) {
    if (bb) {
      bb->wh[c] += d;
      bb->cf[c] |= CF_SEEN;
      set_total(bb, c, value);
    }
    return;
  }
  if (s_b == s_a + I && t_b - s_b <= tol) {
    /* The boundary read: everything belongs to the interval that ended. */
    bucket *ba = find_bucket(a, s_a);
    if (ba) {
      ba->wh[c] += d;
      ba->cf[c] |= CF_SEEN | CF_BOUNDARY;
      set_total(ba, c, value);
    } else if (d > 0) {
      char ts[GL_TIME_STR_MAX];
      fmt_time(s_a, ts);
      GL_WARN(COMP,
              "%s: %lld Wh read at the end of the interval starting %s came "
              "after it was reported; not in any reading",
              mtr_counter_name(c), (long long)d, ts);
    }
    if (bb)
      set_total(bb, c, value);
    return;
  }
  /* A gap across boundaries: split in proportion to time. Only a split
   * grid counter makes the reading `estimated` (see is_grid). */
  int64_t given = 0;
  uint32_t est = is_grid(c) ? PR_FLAG_ESTIMATED : 0;
  bucket *ba = find_bucket(a, s_a);
  if (ba) {
    int64_t x = share_until(d, t_a, t_b, s_a + I);
    ba->wh[c] += x;
    given += x;
    ba->cf[c] |= CF_SEEN | CF_BOUNDARY;
    ba->flags |= est;
  }
  if (bb) {
    int64_t x = d - share_until(d, t_a, t_b, s_b);
    bb->wh[c] += x;
    given += x;
    bb->cf[c] |= CF_SEEN | CF_FROM_START;
    bb->flags |= est;
    set_total(bb, c, value);
  }
  if (d - given > 0) {
    char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX];
    fmt_time(t_a, t1);
    fmt_time(t_b, t2);
    GL_WARN(COMP,
            "%s: %lld of %lld Wh between the reads at %s and %s fell in "
            "intervals already reported or without data; they are in no "
            "reading (the counter totals still include them)",
            mtr_counter_name(c), (long long)(d - given), (long long)d, t1, t2);
  }
}

/* ---- Feeding a poll ------------------------------------------------------
 */

static int64_t abs64(int64_t v) {
  return v < 0 ? -v : v;
}

/*
 * A step beyond the horizon: believed only once the wall clock has kept
 * the new offset for step_confirm (of monotonic time). Until then the
 * poll counts at the expected time. Returns true when the step is
 * accepted now.
 */
static bool confirm_step(mtr_account *a, const mtr_poll *p, int64_t skew) {
  char d[32], c[32];
  if (!a->held || abs64(skew - a->held_offset) > a->cfg.step_ns) {
    a->held = true;
    a->held_offset = skew;
    a->held_since = p->mono;
    GL_WARN(COMP,
            "the wall clock jumped %s by %s, more than the clock horizon: "
            "the readings keep the time they had until the new time has "
            "held for %s (flagged clock_step)",
            skew < 0 ? "back" : "ahead",
            gl_duration_format(abs64(skew), d, sizeof d),
            gl_duration_format(a->cfg.step_confirm_ns, c, sizeof c));
  }
  if (p->mono - a->held_since < a->cfg.step_confirm_ns)
    return false;
  GL_WARN(COMP,
          "the wall clock has kept its jump of %s for %s: the readings "
          "follow it now",
          gl_duration_format(abs64(skew), d, sizeof d),
          gl_duration_format(p->mono - a->held_since, c, sizeof c));
  a->held = false;
  return true;
}

/*
 * The accepted timeline moves back to `t` (a large backward step that
 * held): the old timeline was ahead, so its open intervals are never
 * reported; what they measured counts in the interval of `t`, the
 * interval after the step.
 */
static void reanchor(mtr_account *a, int64_t t) {
  int64_t s = interval_start(a, t);
  bucket keep = {0};
  keep.used = true;
  keep.start = s;
  keep.flags = PR_FLAG_CLOCK_STEP | PR_FLAG_ESTIMATED;
  for (int i = 0; i < MAX_BUCKETS; i++) {
    bucket *b = &a->b[i];
    if (!b->used)
      continue;
    for (int c = 0; c < MTR_C_COUNT; c++) {
      keep.wh[c] += b->wh[c];
      keep.cf[c] |= b->cf[c] & (CF_SEEN | CF_ABSENT);
    }
    for (int k = 0; k < 2; k++)
      if (b->has_tot[k]) {
        keep.has_tot[k] = true;
        keep.tot[k] = b->tot[k];
      }
    keep.has_soc = keep.has_soc || b->has_soc;
    if (b->has_soc)
      keep.soc = b->soc;
    keep.flags |= b->flags & PR_FLAG_DEVICE_OFFLINE;
    b->used = false;
  }
  a->b[0] = keep;
  char ts[GL_TIME_STR_MAX];
  fmt_time(s, ts);
  GL_WARN(COMP,
          "intervals are counted from %s again; those reported on the time "
          "that was ahead stay as they were sent",
          ts);
  a->emitted_end = s;
  a->step_missing_until = NONE;
  a->last_t = t;
  for (int c = 0; c < MTR_C_COUNT; c++)
    if (a->c[c].has)
      a->c[c].t = t;
}

void mtr_account_feed(mtr_account *a, const mtr_poll *p) {
  int64_t I = a->cfg.interval_ns, tol = a->cfg.poll_ns;
  bool stepped = false, backward = false, held = false;
  int64_t wall = p->wall;
  if (a->has_poll) {
    /* Where the wall clock should be: the last read plus the monotonic
     * time since. Across a restart only a clock behind the last read can
     * be seen (a clock ahead looks like downtime). */
    int64_t expected = wall, skew = 0;
    if (a->mono_ok) {
      expected = a->last_wall + (p->mono - a->last_mono);
      skew = wall - expected;
    } else if (wall < a->last_wall - a->cfg.step_ns) {
      expected = a->last_wall;
      skew = wall - expected;
    }
    if (abs64(skew) > a->cfg.step_ns) {
      if (a->cfg.step_horizon_ns && abs64(skew) > a->cfg.step_horizon_ns &&
          !confirm_step(a, p, skew)) {
        held = true;
        wall = expected;
      } else {
        stepped = true;
        backward = skew < 0;
      }
    } else if (a->held) {
      GL_NOTICE(COMP, "the wall clock is back where it should be");
      a->held = false;
    }
  }
  if (stepped && backward && a->cfg.step_horizon_ns &&
      abs64(wall - a->last_wall) > a->cfg.step_horizon_ns)
    reanchor(a, wall);
  /* Effective time never runs backwards, nor into reported intervals. */
  int64_t t = wall;
  if (a->has_poll && t < a->last_t)
    t = a->last_t;
  if (a->emitted_end != NONE && t < a->emitted_end)
    t = a->emitted_end;
  int64_t s = interval_start(a, t);

  if (held) {
    bucket *hb = get_bucket(a, s);
    if (hb)
      hb->flags |= PR_FLAG_CLOCK_STEP;
  }
  if (stepped) {
    char w1[GL_TIME_STR_MAX], w2[GL_TIME_STR_MAX];
    fmt_time(a->last_wall, w1);
    fmt_time(wall, w2);
    GL_WARN(COMP,
            "the wall clock stepped %s (from %s to %s between two reads); the "
            "intervals around it are flagged clock_step",
            backward ? "backwards" : "forwards", w1, w2);
    bucket *old = find_bucket(a, interval_start(a, a->last_t));
    if (old)
      old->flags |= PR_FLAG_CLOCK_STEP;
    if (!backward)
      a->step_missing_until = s;
  }
  bucket *cur = get_bucket(a, s);
  if (cur && stepped)
    cur->flags |= PR_FLAG_CLOCK_STEP;
  if (p->failed) {
    if (cur)
      cur->flags |= PR_FLAG_DEVICE_OFFLINE;
    /* A failed boundary read also leaves the previous interval without
     * its end. */
    bucket *prev = t - s <= tol ? find_bucket(a, s - I) : NULL;
    if (prev)
      prev->flags |= PR_FLAG_DEVICE_OFFLINE;
  }

  for (int c = 0; c < MTR_C_COUNT; c++) {
    const mtr_obs *o = &p->c[c];
    ctr *k = &a->c[c];
    bool ok = o->ok;
    if (ok && (o->value < 0 || o->value > PR_INT_MAX)) {
      /* No household counter reaches 2^53 Wh (9 PWh): the device reports
       * garbage (a wrong scale factor in its profile, a broken register).
       * Such a read is not a reading: the counter has a gap, as if the
       * device had not answered, so nothing impossible is ever signed. */
      ok = false;
      a->counts.invalid_values++;
      if (cur)
        cur->flags |= PR_FLAG_DEVICE_OFFLINE;
      if (!k->invalid)
        GL_WARN(COMP,
                "%s: the device reports %lld Wh, beyond any real counter "
                "(above 2^53-1): the read is ignored and the interval "
                "flagged device_offline until it reports a valid value "
                "(check the device profile's scale)",
                mtr_counter_name(c), (long long)o->value);
      k->invalid = true;
    } else if (ok && k->invalid) {
      GL_NOTICE(COMP, "%s: the device reports valid values again",
                mtr_counter_name(c));
      k->invalid = false;
    }
    if (!ok) {
      if (o->absent && cur)
        cur->cf[c] |= CF_ABSENT;
      if (stepped && k->has)
        k->t = t; /* keep the counter on the new timeline */
      continue;
    }
    if (!k->has) {
      /* The first read of this counter: a baseline (no energy yet). */
      if (cur) {
        if (t - s <= tol)
          cur->cf[c] |= CF_FROM_START;
        set_total(cur, c, o->value);
      }
    } else {
      uint32_t flags = 0;
      int64_t elapsed = k->mono_ok ? p->mono - k->mono : t - k->t;
      bool known = k->mono_ok || p->wall >= k->t;
      int64_t d = difference(a, c, k, o, elapsed, known, &flags);
      if (stepped) {
        /* The difference across a step counts after it. */
        if (cur) {
          cur->wh[c] += d;
          cur->cf[c] |= CF_SEEN;
          set_total(cur, c, o->value);
        }
      } else {
        attribute(a, c, d, k->t, t, o->value);
      }
      if (flags && cur)
        cur->flags |= flags;
    }
    k->has = true;
    k->value = o->value;
    k->raw = o->raw;
    k->bits = o->bits;
    k->exp = o->exp;
    k->identity = o->identity;
    k->t = t;
    k->mono = p->mono;
    k->mono_ok = true;
  }
  if (p->soc_ok) {
    /* The state of charge at an interval's end is the boundary read's. */
    bucket *prev = t - s <= tol ? find_bucket(a, s - I) : NULL;
    if (prev) {
      prev->has_soc = true;
      prev->soc = p->soc_bp;
    }
    if (cur) {
      cur->has_soc = true;
      cur->soc = p->soc_bp;
    }
  }
  if (!p->failed)
    for (int i = 0; i < MAX_BUCKETS; i++)
      if (a->b[i].used && a->b[i].start + I <= t)
        a->b[i].closed_ok = true;
  a->has_poll = true;
  a->last_t = t;
  a->last_wall = wall;
  a->last_mono = p->mono;
  a->mono_ok = true;
}

/* ---- Handing out intervals -----------------------------------------------
 */

static void emit_bucket(mtr_account *a, bucket *b, mtr_interval *out) {
  memset(out, 0, sizeof *out);
  out->start = b->start;
  out->end = b->start + a->cfg.interval_ns;
  uint32_t flags = b->flags;
  uint32_t have = a->cfg.counters;
  bool grid_seen =
      ((have & (1u << MTR_C_IMPORT)) && (b->cf[MTR_C_IMPORT] & CF_SEEN)) ||
      ((have & (1u << MTR_C_EXPORT)) && (b->cf[MTR_C_EXPORT] & CF_SEEN));
  if (!grid_seen) {
    flags |= PR_FLAG_MISSING;
    flags &= ~(uint32_t)(PR_FLAG_ESTIMATED | PR_FLAG_ROLLOVER |
                         PR_FLAG_SCALE_CHANGE | PR_FLAG_COUNTER_RESET);
  } else {
    for (int c = 0; c < MTR_C_COUNT; c++) {
      if (!(have & (1u << c)))
        continue;
      uint8_t cf = b->cf[c];
      if ((cf & CF_ABSENT) && !(cf & CF_SEEN))
        continue;
      if (is_grid(c) && (!(cf & CF_FROM_START) || !(cf & CF_BOUNDARY)))
        flags |= PR_FLAG_ESTIMATED;
      int64_t wh = b->wh[c] > 0 ? b->wh[c] : 0;
      if (wh > PR_ENERGY_MAX) {
        /* More than the protocol's 10^9 Wh in one interval: only a coarse
         * register (one step worth 10^9 Wh or more) gets here. Sign the
         * limit, flagged estimated, rather than nothing. */
        char ts[GL_TIME_STR_MAX];
        fmt_time(b->start, ts);
        GL_WARN(COMP,
                "%s: %lld Wh in the interval starting %s is more than a "
                "reading can carry; reported as %lld Wh, flagged estimated",
                mtr_counter_name(c), (long long)wh, ts,
                (long long)PR_ENERGY_MAX);
        wh = PR_ENERGY_MAX;
        flags |= PR_FLAG_ESTIMATED;
        a->counts.capped++;
      }
      out->wh[c] = wh;
    }
    /* Saved states of older versions may hold values the protocol cannot
     * carry; leave those out rather than sign something invalid. */
    out->has_soc = b->has_soc && b->soc >= 0 && b->soc <= 10000;
    out->soc_bp = out->has_soc ? b->soc : 0;
    for (int k = 0; k < 2; k++) {
      bool has = b->has_tot[k] && b->tot[k] >= 0 && b->tot[k] <= PR_INT_MAX;
      if (k == MTR_C_IMPORT) {
        out->has_import_total = has;
        out->import_total_wh = has ? b->tot[k] : 0;
      } else {
        out->has_export_total = has;
        out->export_total_wh = has ? b->tot[k] : 0;
      }
    }
  }
  out->flags = flags;
  a->emitted_end = out->end;
  b->used = false;
}

int mtr_account_next(mtr_account *a, int64_t now, mtr_interval *out) {
  int64_t I = a->cfg.interval_ns;
  if (a->emitted_end == NONE)
    return GL_EAGAIN;
  /* Between polls only polls move the accountant's time: a wall clock
   * that jumped since the last one is judged at the next. Polls come every
   * poll period, answered or not, so close_wait expires all the same. */
  int64_t bound = a->last_t + a->cfg.poll_ns;
  if (a->has_poll && now > bound)
    now = bound;
  bucket *b = oldest_bucket(a);
  int64_t m = a->emitted_end;
  if ((!b || b->start > m) && m + I + a->cfg.close_wait_ns <= now) {
    /* An interval without data: report it missing, unless it lies beyond
     * the backfill horizon. */
    int64_t horizon = now - a->cfg.backfill_ns;
    if (m + I <= horizon) {
      int64_t first = interval_start(a, horizon) + I;
      if (b && first > b->start)
        first = b->start;
      if (first > m) {
        char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX];
        fmt_time(m, t1);
        fmt_time(first, t2);
        GL_WARN(COMP,
                "no data from %s to %s (%lld intervals): older than the "
                "backfill horizon, not reported",
                t1, t2, (long long)((first - m) / I));
        a->emitted_end = m = first;
        if (b && b->start == m)
          goto bucket_due;
        if (m + I + a->cfg.close_wait_ns > now)
          return GL_EAGAIN;
      }
    }
    memset(out, 0, sizeof *out);
    out->start = m;
    out->end = m + I;
    out->flags = PR_FLAG_MISSING;
    if (a->step_missing_until != NONE && m < a->step_missing_until)
      out->flags |= PR_FLAG_CLOCK_STEP;
    a->emitted_end = out->end;
    return 0;
  }
bucket_due:
  if (b && b->start + I <= now &&
      (b->closed_ok || now >= b->start + I + a->cfg.close_wait_ns)) {
    emit_bucket(a, b, out);
    return 0;
  }
  return GL_EAGAIN;
}

int64_t mtr_account_deadline(const mtr_account *a) {
  if (a->emitted_end == NONE)
    return INT64_MAX;
  int64_t I = a->cfg.interval_ns;
  int64_t best = INT64_MAX;
  for (int i = 0; i < MAX_BUCKETS; i++) {
    const bucket *b = &a->b[i];
    if (!b->used)
      continue;
    int64_t d = b->start + I + (b->closed_ok ? 0 : a->cfg.close_wait_ns);
    if (d < best)
      best = d;
  }
  /* A missing interval right after the last one handed out. */
  int64_t m = a->emitted_end + I + a->cfg.close_wait_ns;
  if (m < best)
    best = m;
  return best;
}

int64_t mtr_account_open_start(const mtr_account *a) {
  return a->has_poll ? interval_start(a, a->last_t) : INT64_MIN;
}

/* ---- Saved state ---------------------------------------------------------
 *
 * Little-endian, fixed layout, version byte first:
 *   u8 version (1) | i64 interval_ns | u8 has_poll | i64 last_t |
 *   i64 last_wall | i64 emitted_end | i64 step_missing_until |
 *   5 x counter { u8 has | i64 value | u64 raw | u8 bits | i8 exp |
 *                 u32 identity | i64 t } |
 *   u8 nbuckets | n x bucket { i64 start | u32 flags | u8 closed_ok |
 *                 5 x { i64 wh | u8 cf } | u8 has_soc | i64 soc |
 *                 2 x { u8 has | i64 tot } }
 * Monotonic times are not saved: they mean nothing after a restart.
 */

#define STATE_VERSION 1

typedef struct wbuf {
  uint8_t *p;
  size_t cap, len;
  bool over;
} wbuf;

static void put(wbuf *w, uint64_t v, int bytes) {
  if (w->len + (size_t)bytes > w->cap) {
    w->over = true;
    return;
  }
  for (int i = 0; i < bytes; i++)
    w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

typedef struct rbuf {
  const uint8_t *p;
  size_t len, off;
  bool bad;
} rbuf;

static uint64_t get(rbuf *r, int bytes) {
  if (r->off + (size_t)bytes > r->len) {
    r->bad = true;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)r->p[r->off++] << (8 * i);
  return v;
}

static bool get_bool(rbuf *r) {
  uint64_t v = get(r, 1);
  if (v > 1)
    r->bad = true;
  return v == 1;
}

int mtr_account_save(const mtr_account *a, uint8_t *buf, size_t cap,
                     size_t *len) {
  wbuf w = {buf, cap, 0, false};
  put(&w, STATE_VERSION, 1);
  put(&w, (uint64_t)a->cfg.interval_ns, 8);
  put(&w, a->has_poll, 1);
  put(&w, (uint64_t)a->last_t, 8);
  put(&w, (uint64_t)a->last_wall, 8);
  put(&w, (uint64_t)a->emitted_end, 8);
  put(&w, (uint64_t)a->step_missing_until, 8);
  for (int c = 0; c < MTR_C_COUNT; c++) {
    const ctr *k = &a->c[c];
    put(&w, k->has, 1);
    put(&w, (uint64_t)k->value, 8);
    put(&w, k->raw, 8);
    put(&w, k->bits, 1);
    put(&w, (uint8_t)k->exp, 1);
    put(&w, k->identity, 4);
    put(&w, (uint64_t)k->t, 8);
  }
  int n = 0;
  for (int i = 0; i < MAX_BUCKETS; i++)
    n += a->b[i].used;
  put(&w, (uint64_t)n, 1);
  for (int i = 0; i < MAX_BUCKETS; i++) {
    const bucket *b = &a->b[i];
    if (!b->used)
      continue;
    put(&w, (uint64_t)b->start, 8);
    put(&w, b->flags, 4);
    put(&w, b->closed_ok, 1);
    for (int c = 0; c < MTR_C_COUNT; c++) {
      put(&w, (uint64_t)b->wh[c], 8);
      put(&w, b->cf[c], 1);
    }
    put(&w, b->has_soc, 1);
    put(&w, (uint64_t)b->soc, 8);
    for (int k = 0; k < 2; k++) {
      put(&w, b->has_tot[k], 1);
      put(&w, (uint64_t)b->tot[k], 8);
    }
  }
  if (w.over)
    return GL_ETOOBIG;
  *len = w.len;
  return 0;
}

/* Times and counters a saved state may hold: up to 2^62 (ns: the year
 * 2116; Wh: far beyond any meter), so the arithmetic on them cannot
 * overflow. */
#define STATE_MAX (INT64_C(1) << 62)

static bool in_range(int64_t v) {
  return v >= 0 && v < STATE_MAX;
}

int mtr_account_load(mtr_account *a, const uint8_t *buf, size_t len) {
  reset_state(a);
  rbuf r = {buf, len, 0, false};
  if (get(&r, 1) != STATE_VERSION)
    return GL_EPARSE;
  int64_t interval = (int64_t)get(&r, 8);
  if (r.bad)
    return GL_EPARSE;
  if (interval != a->cfg.interval_ns)
    return GL_ENOTSUP;
  a->has_poll = get_bool(&r);
  a->last_t = (int64_t)get(&r, 8);
  a->last_wall = (int64_t)get(&r, 8);
  a->emitted_end = (int64_t)get(&r, 8);
  a->step_missing_until = (int64_t)get(&r, 8);
  if (!in_range(a->last_t) || !in_range(a->last_wall) ||
      (a->emitted_end != NONE && !in_range(a->emitted_end)) ||
      (a->step_missing_until != NONE && !in_range(a->step_missing_until)))
    r.bad = true;
  for (int c = 0; c < MTR_C_COUNT; c++) {
    ctr *k = &a->c[c];
    k->has = get_bool(&r);
    k->value = (int64_t)get(&r, 8);
    k->raw = get(&r, 8);
    k->bits = (uint8_t)get(&r, 1);
    k->exp = (int8_t)(uint8_t)get(&r, 1);
    k->identity = (uint32_t)get(&r, 4);
    k->t = (int64_t)get(&r, 8);
    if ((k->bits != 0 && k->bits != 16 && k->bits != 32 && k->bits != 64) ||
        !in_range(k->value) || !in_range(k->t) || k->exp < -20 || k->exp > 20)
      r.bad = true;
  }
  uint64_t n = get(&r, 1);
  if (n > MAX_BUCKETS)
    r.bad = true;
  for (uint64_t i = 0; i < n && !r.bad; i++) {
    bucket *b = &a->b[i];
    b->used = true;
    b->start = (int64_t)get(&r, 8);
    b->flags = (uint32_t)get(&r, 4);
    b->closed_ok = get_bool(&r);
    for (int c = 0; c < MTR_C_COUNT; c++) {
      b->wh[c] = (int64_t)get(&r, 8);
      b->cf[c] = (uint8_t)get(&r, 1);
      if (!in_range(b->wh[c]) || b->cf[c] > 15)
        r.bad = true;
    }
    b->has_soc = get_bool(&r);
    b->soc = (int64_t)get(&r, 8);
    for (int k = 0; k < 2; k++) {
      b->has_tot[k] = get_bool(&r);
      b->tot[k] = (int64_t)get(&r, 8);
    }
    if (!in_range(b->start) || !in_range(b->soc) || !in_range(b->tot[0]) ||
        !in_range(b->tot[1]) || (b->flags & ~PR_FLAGS_ALL) ||
        gl_floor_div(b->start, interval) * interval != b->start)
      r.bad = true;
    for (uint64_t j = 0; j < i; j++)
      if (a->b[j].start == b->start)
        r.bad = true;
  }
  if (r.bad || r.off != r.len) {
    reset_state(a);
    return GL_EPARSE;
  }
  a->mono_ok = false;
  return 0;
}
