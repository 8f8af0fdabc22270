/* SPDX-License-Identifier: MIT */
/*
 * device.c - profile-driven polling of one device. See gridlet/hal_device.h.
 *
 * The work is split in two so that the hot path stays small and never
 * allocates:
 *   - planning, after each discovery: resolve every mapped quantity to an
 *     absolute register address (SunSpec: through the discovered map), and
 *     pack the needed spans (a point together with its scale factor) into
 *     as few requests of <= 125 registers as possible;
 *   - polling: run the requests into the device's buffer, check the model
 *     ID/length registers that came along, decode.
 */
#include "gridlet/hal_device.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "hal_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQS 16
#define MAX_CHECKS 16
#define BUF_REGS (MAX_REQS * HAL_MAX_READ_REGS)

typedef struct plan_req {
  uint8_t table;
  uint16_t addr;
  uint16_t n;
  uint16_t off; /* into buf */
  int rc;       /* result of this poll's read */
} plan_req;

typedef struct plan_check {
  uint16_t addr; /* of the model's ID register */
  uint16_t id, len;
  int req;
} plan_check;

typedef struct plan_qty {
  int status; /* 0: readable; else reported for every poll */
  int req;    /* request holding value (and scale factor) */
  uint16_t addr;
  uint8_t type; /* hal_ss_type */
  uint8_t size;
  bool little;
  bool has_sf_reg;
  uint16_t sf_addr;
  int8_t sf_fixed;
  uint16_t model;
  uint8_t device;         /* SunSpec sub-device */
  const hal_ss_point *pt; /* SunSpec point */
} plan_qty;

struct hal_device {
  hal_link *link;
  hal_profile prof;
  hal_device_cfg cfg;
  char name[HAL_PROFILE_NAME_MAX];
  uint8_t unit;
  gl_clock clock;

  /* Discovery state. */
  bool planned;
  bool need_discovery;
  uint32_t link_gen;
  hal_ss_map map;
  uint64_t identity_hash;
  uint32_t identity;
  int subdevice;
  hal_device_info info;
  bool have_info;

  /* The plan. */
  plan_req reqs[MAX_REQS];
  int nreqs;
  plan_check checks[MAX_CHECKS];
  int nchecks;
  plan_qty q[HAL_Q_COUNT];
  uint16_t buf[BUF_REGS];

  /* Offline handling. */
  bool offline;
  int last_error;
  int64_t offline_since;
  int64_t next_try;
  int64_t backoff;
  uint64_t failed_polls;
  const char *nothing_why; /* why there is nothing to read (GL_ENOENT) */
  hal_ratelimit rl_offline;
  /* One per quantity: a persistent problem with one must not hide a new
   * problem with another for up to an hour. */
  hal_ratelimit rl_value[HAL_Q_COUNT];
  hal_ratelimit rl_control;

  hal_device_stats stats;
};

/* ---- Lifecycle --------------------------------------------------------------
 */

hal_device *hal_device_new(hal_link *link, const hal_profile *profile,
                           const hal_device_cfg *cfg) {
  if (!link || !profile ||
      (profile->kind != HAL_PROFILE_SUNSPEC &&
       profile->kind != HAL_PROFILE_REGISTERS))
    return NULL;
  hal_device *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->link = link;
  d->prof = *profile;
  if (cfg)
    d->cfg = *cfg;
  if (d->cfg.offline_min_ns <= 0)
    d->cfg.offline_min_ns = 5 * GL_NS_PER_SEC;
  if (d->cfg.offline_max_ns <= 0)
    d->cfg.offline_max_ns = 300 * GL_NS_PER_SEC;
  if (d->cfg.offline_max_ns < d->cfg.offline_min_ns)
    d->cfg.offline_max_ns = d->cfg.offline_min_ns;
  d->unit = d->cfg.unit ? d->cfg.unit : (profile->unit ? profile->unit : 1);
  snprintf(d->name, sizeof d->name, "%s",
           d->cfg.name ? d->cfg.name : profile->name);
  d->cfg.name = NULL; /* not kept: copied above */
  d->clock = hal__link_clock(link);
  d->need_discovery = true;
  return d;
}

void hal_device_free(hal_device *d) {
  free(d);
}

const hal_ss_map *hal_device_map(const hal_device *d) {
  return d->planned && d->prof.kind == HAL_PROFILE_SUNSPEC ? &d->map : NULL;
}

const char *hal_device_name(const hal_device *d) {
  return d->name;
}

uint8_t hal_device_unit(const hal_device *d) {
  return d->unit;
}

void hal_device_stats_get(const hal_device *d, hal_device_stats *out) {
  *out = d->stats;
}

int hal_device_info_get(hal_device *d, hal_device_info *out) {
  if (d->prof.kind != HAL_PROFILE_SUNSPEC)
    return GL_ENOTSUP;
  if (!d->have_info)
    return GL_ESTATE;
  *out = d->info;
  return 0;
}

/* ---- Planning ----------------------------------------------------------- */

typedef struct need {
  uint8_t table;
  uint16_t lo, hi; /* [lo, hi) */
  int q;           /* quantity index */
} need;

static int need_cmp(const void *a, const void *b) {
  const need *x = a, *y = b;
  if (x->table != y->table)
    return x->table - y->table;
  return (int)x->lo - (int)y->lo;
}

static unsigned type_words(int t) {
  switch (t) {
  case HAL_SS_INT16:
  case HAL_SS_UINT16:
  case HAL_SS_ACC16:
    return 1;
  case HAL_SS_INT32:
  case HAL_SS_UINT32:
  case HAL_SS_ACC32:
  case HAL_SS_FLOAT32:
    return 2;
  default:
    return 4;
  }
}

/* Resolve a SunSpec quantity against the map. */
static void resolve_sunspec(hal_device *d, int qi, need *nd, int *nneeds,
                            const hal_ss_model_ref **used) {
  const hal_qty_map *m = &d->prof.q[qi];
  plan_qty *pq = &d->q[qi];
  pq->status = GL_ENOENT;
  int dev = m->subdevice ? m->subdevice - 1 : -1;
  for (int a = 0; a < m->n_alts; a++) {
    const hal_ss_model_ref *ref =
        hal_ss_map_find(&d->map, m->alts[a].model, dev, 0);
    if (!ref || !ref->def)
      continue;
    const hal_ss_point *pt = hal_ss_point_find(ref->def, m->alts[a].point);
    if (!pt)
      continue; /* the profile parser checked this; a table change would */
    pq->model = ref->id;
    pq->device = ref->device;
    pq->pt = pt;
    pq->type = pt->type;
    pq->size = (uint8_t)pt->size;
    uint32_t avail = 2u + ref->length;
    if ((uint32_t)pt->offset + pt->size > avail) {
      pq->status = GL_ENOTSUP; /* beyond the reported length */
      return;
    }
    pq->addr = (uint16_t)(ref->addr + pt->offset);
    uint32_t lo = pq->addr, hi = (uint32_t)pq->addr + pt->size;
    pq->has_sf_reg = false;
    pq->sf_fixed = 0;
    if (pt->flags & HAL_SS_SF_POINT) {
      const hal_ss_point *sp = &ref->def->points[pt->sf_index];
      if (sp->offset >= avail) {
        pq->status = GL_ENOTSUP;
        return;
      }
      pq->has_sf_reg = true;
      pq->sf_addr = (uint16_t)(ref->addr + sp->offset);
      if (pq->sf_addr < lo)
        lo = pq->sf_addr;
      if ((uint32_t)pq->sf_addr + 1 > hi)
        hi = (uint32_t)pq->sf_addr + 1;
    } else if (pt->flags & HAL_SS_SF_FIXED) {
      pq->sf_fixed = pt->sf_fixed;
    }
    if (hi - lo > HAL_MAX_READ_REGS) {
      /* Cannot happen with the shipped models (checked by a test); a value
       * whose scale factor is out of reach of one request is refused rather
       * than read with a scale factor from another moment. */
      pq->status = GL_ENOTSUP;
      GL_WARN(HAL_LOG, "%s: %u.%s is %u registers from its scale factor",
              d->name, ref->id, pt->name, (unsigned)(hi - lo));
      return;
    }
    nd[*nneeds] = (need){HAL_REG_HOLDING, (uint16_t)lo, (uint16_t)(hi - 1), qi};
    /* hi stored inclusive to stay within uint16_t */
    (*nneeds)++;
    used[qi] = ref;
    pq->status = 0;
    return;
  }
}

static void resolve_registers(hal_device *d, int qi, need *nd, int *nneeds) {
  const hal_qty_map *m = &d->prof.q[qi];
  plan_qty *pq = &d->q[qi];
  pq->type = m->type;
  pq->size = (uint8_t)type_words(m->type);
  pq->little = m->word_little;
  pq->addr = m->addr;
  pq->model = 0;
  if ((uint32_t)m->addr + pq->size > 65536u) {
    pq->status = GL_ERANGE;
    return;
  }
  nd[*nneeds] =
      (need){m->table, m->addr, (uint16_t)(m->addr + pq->size - 1), qi};
  (*nneeds)++;
  pq->status = 0;
}

static int build_plan(hal_device *d) {
  need nd[HAL_Q_COUNT];
  int nn = 0;
  const hal_ss_model_ref *used[HAL_Q_COUNT] = {0};
  for (int qi = 0; qi < HAL_Q_COUNT; qi++) {
    memset(&d->q[qi], 0, sizeof d->q[qi]);
    d->q[qi].req = -1;
    if (!d->prof.q[qi].mapped) {
      d->q[qi].status = GL_ENOENT;
      continue;
    }
    if (d->prof.kind == HAL_PROFILE_SUNSPEC)
      resolve_sunspec(d, qi, nd, &nn, used);
    else
      resolve_registers(d, qi, nd, &nn);
  }
  qsort(nd, (size_t)nn, sizeof nd[0], need_cmp);
  /* SunSpec chains are contiguous, so any gap inside one request is
   * readable; vendor register maps may have holes that answer with an
   * exception, so only merge_gap unread registers are allowed there. */
  uint32_t gap = d->prof.kind == HAL_PROFILE_SUNSPEC ? HAL_MAX_READ_REGS
                                                     : d->prof.merge_gap;
  d->nreqs = 0;
  for (int i = 0; i < nn; i++) {
    plan_req *cur = d->nreqs ? &d->reqs[d->nreqs - 1] : NULL;
    uint32_t lo = nd[i].lo, hi = (uint32_t)nd[i].hi + 1;
    if (cur && cur->table == nd[i].table &&
        lo <= (uint32_t)cur->addr + cur->n + gap) {
      uint32_t end = (uint32_t)cur->addr + cur->n;
      if (hi > end)
        end = hi;
      if (end - cur->addr <= HAL_MAX_READ_REGS) {
        cur->n = (uint16_t)(end - cur->addr);
        d->q[nd[i].q].req = d->nreqs - 1;
        continue;
      }
    }
    if (d->nreqs == MAX_REQS)
      return GL_EFULL;
    d->reqs[d->nreqs] =
        (plan_req){nd[i].table, (uint16_t)lo, (uint16_t)(hi - lo), 0, 0};
    d->q[nd[i].q].req = d->nreqs;
    d->nreqs++;
  }
  /* Piggy-back the model ID/length check on a request of that model when it
   * stays within 125 registers: it costs no extra request. */
  d->nchecks = 0;
  for (int qi = 0; qi < HAL_Q_COUNT && d->prof.kind == HAL_PROFILE_SUNSPEC;
       qi++) {
    const hal_ss_model_ref *ref = used[qi];
    if (!ref || d->q[qi].req < 0)
      continue;
    bool dup = false;
    for (int c = 0; c < d->nchecks; c++)
      dup |= d->checks[c].addr == ref->addr;
    if (dup || d->nchecks == MAX_CHECKS)
      continue;
    plan_req *r = &d->reqs[d->q[qi].req];
    uint32_t end = (uint32_t)r->addr + r->n;
    if (ref->addr < r->addr) {
      if (end - ref->addr > HAL_MAX_READ_REGS)
        continue;
      r->n = (uint16_t)(end - ref->addr);
      r->addr = ref->addr;
    }
    d->checks[d->nchecks++] =
        (plan_check){ref->addr, ref->id, ref->length, d->q[qi].req};
  }
  uint16_t off = 0;
  for (int i = 0; i < d->nreqs; i++) {
    d->reqs[i].off = off;
    off = (uint16_t)(off + d->reqs[i].n);
  }
  return 0;
}

/* ---- Discovery ---------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) {
    h ^= c[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static void read_identity(hal_device *d) {
  d->have_info = false;
  memset(&d->info, 0, sizeof d->info);
  int sub = 0;
  for (int qi = 0; qi < HAL_Q_COUNT; qi++) {
    if (d->q[qi].status == 0 || d->q[qi].status == GL_ENOTSUP) {
      sub = d->q[qi].device;
      break;
    }
  }
  d->subdevice = sub;
  const hal_ss_model_ref *c = hal_ss_map_find(&d->map, 1, sub, 0);
  if (!c)
    return;
  const hal_ss_model *m = c->def;
  uint16_t n = (uint16_t)(2u + c->length);
  if (n > HAL_MAX_READ_REGS)
    n = HAL_MAX_READ_REGS;
  uint16_t *r = d->buf; /* scratch: the plan's buffer is refilled per poll */
  if (hal_link_read(d->link, d->unit, HAL_REG_HOLDING, c->addr, n, r, NULL) !=
      0)
    return;
  hal_ss_decode_string(hal_ss_point_find(m, "Mn"), r, n, d->info.manufacturer,
                       sizeof d->info.manufacturer);
  hal_ss_decode_string(hal_ss_point_find(m, "Md"), r, n, d->info.model,
                       sizeof d->info.model);
  hal_ss_decode_string(hal_ss_point_find(m, "Vr"), r, n, d->info.version,
                       sizeof d->info.version);
  hal_ss_decode_string(hal_ss_point_find(m, "SN"), r, n, d->info.serial,
                       sizeof d->info.serial);
  d->info.subdevice = (uint8_t)sub;
  d->have_info = true;
}

static int discover(hal_device *d) {
  d->stats.discoveries++;
  if (d->prof.kind == HAL_PROFILE_SUNSPEC) {
    int rc = hal_ss_discover(d->link, d->unit, &d->map);
    if (rc == GL_ENOENT)
      d->nothing_why = "no SunSpec map found";
    if (rc != 0)
      return rc;
  }
  /* The generation after discovery: its own first request may have been
   * the one that connected. */
  uint32_t gen = hal_link_generation(d->link);
  int rc = build_plan(d);
  if (rc != 0) {
    GL_ERROR(HAL_LOG, "%s: cannot plan the reads: %s", d->name,
             gl_strerror(rc));
    return rc;
  }
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  if (d->prof.kind == HAL_PROFILE_SUNSPEC) {
    read_identity(d);
    for (int i = 0; i < d->map.n; i++) {
      h = fnv(h, &d->map.models[i].id, sizeof d->map.models[i].id);
      h = fnv(h, &d->map.models[i].length, sizeof d->map.models[i].length);
      h = fnv(h, &d->map.models[i].addr, sizeof d->map.models[i].addr);
    }
    h = fnv(h, d->info.serial, strlen(d->info.serial));
  }
  int usable = 0, mapped = 0;
  for (int qi = 0; qi < HAL_Q_COUNT; qi++) {
    mapped += d->prof.q[qi].mapped;
    usable += d->prof.q[qi].mapped && d->q[qi].status != GL_ENOENT;
  }
  if (mapped > 0 && usable == 0)
    GL_WARN(HAL_LOG,
            "%s: unit %u has none of the models profile %s reads; check the "
            "unit id and the profile (gridlet-probe lists the models)",
            d->name, d->unit, d->prof.name);
  if (!d->planned || h != d->identity_hash) {
    d->identity++;
    if (d->prof.kind == HAL_PROFILE_SUNSPEC)
      GL_INFO(HAL_LOG,
              "%s: unit %u: SunSpec map at %u, %u models, %u sub-device(s); "
              "%s %s serial %s",
              d->name, d->unit, d->map.base, d->map.n, d->map.n_devices,
              d->have_info ? d->info.manufacturer : "?",
              d->have_info ? d->info.model : "?",
              d->have_info ? d->info.serial : "?");
  }
  d->identity_hash = h;
  d->planned = true;
  d->need_discovery = false;
  d->link_gen = gen;
  return 0;
}

/* ---- Decoding ------------------------------------------------------------ */

static void bad_value(hal_device *d, int qi, const char *what) {
  d->stats.bad_values++;
  uint64_t suppressed = 0;
  if (hal__rl_allow(&d->rl_value[qi], gl_clock_monotonic(&d->clock),
                    &suppressed))
    GL_WARN(HAL_LOG, "%s: %s: %s%s", d->name, hal_qty_name(qi), what,
            suppressed ? " (similar problems since not logged)" : "");
}

static void decode_qty(hal_device *d, int qi, hal_reading *r) {
  const plan_qty *pq = &d->q[qi];
  const hal_qty_map *m = &d->prof.q[qi];
  const plan_req *req = &d->reqs[pq->req];
  r->model = pq->model;
  if (req->rc != 0) {
    r->status = req->rc;
    return;
  }
  const uint16_t *regs = d->buf + req->off + (pq->addr - req->addr);
  int sf = 0;
  if (pq->has_sf_reg) {
    uint16_t raw = d->buf[req->off + (pq->sf_addr - req->addr)];
    if (raw == 0x8000u) {
      r->status = GL_ENOTSUP;
      return;
    }
    sf = (int16_t)raw;
    if (sf < -10 || sf > 10) {
      char what[96];
      snprintf(what, sizeof what, "scale factor %d outside -10..10", sf);
      bad_value(d, qi, what);
      r->status = GL_ERANGE;
      return;
    }
  } else {
    sf = pq->sf_fixed;
  }
  r->sf = (int8_t)sf;
  int exp = sf + m->scale + (qi == HAL_Q_BATTERY_SOC ? 2 : 0);
  bool is_float = pq->type == HAL_SS_FLOAT32 || pq->type == HAL_SS_FLOAT64;
  /* Integer counters are floored (a counter never shows energy it has not
   * counted yet); floats are rounded to nearest: 3312.847 kWh is stored as
   * 3312.8469..., which must read as 3312847 Wh. Rounding and flooring are
   * both monotonic, so counters stay monotonic either way. */
  hal_round mode =
      hal_qty_is_counter(qi) && !is_float ? HAL_ROUND_FLOOR : HAL_ROUND_NEAREST;
  int64_t value = 0;
  int rc;
  bool is_signed = pq->type == HAL_SS_INT16 || pq->type == HAL_SS_INT32 ||
                   pq->type == HAL_SS_INT64;
  unsigned words = pq->size;
  if (d->prof.kind == HAL_PROFILE_SUNSPEC) {
    hal_ss_value v;
    memset(&v, 0, sizeof v);
    hal__ss_decode_at(pq->pt, regs, &v);
    if (!v.implemented) {
      r->status = GL_ENOTSUP;
      return;
    }
    r->raw = v.u;
    if (is_float)
      rc = hal_scale_double(v.f, exp, mode, &value);
    else if (is_signed)
      rc = hal_scale_int(v.i, exp, mode, &value);
    else
      rc = hal_scale_uint(v.u, exp, mode, &value);
  } else {
    uint64_t u =
        pq->little ? hal__le_words(regs, words) : hal__be_words(regs, words);
    if (m->has_nan && u == m->nan) {
      r->status = GL_ENOTSUP;
      return;
    }
    r->raw = u;
    if (is_float) {
      double f = words == 2 ? hal__f32((uint32_t)u) : hal__f64(u);
      rc = hal_scale_double(f, exp, mode, &value);
    } else if (is_signed) {
      rc = hal_scale_int(hal__sext(u, words * 16u), exp, mode, &value);
    } else {
      rc = hal_scale_uint(u, exp, mode, &value);
    }
  }
  if (rc == GL_ENOTSUP) {
    r->status = rc;
    return;
  }
  if (rc != 0) {
    bad_value(d, qi, "value does not fit in 64 bits after scaling");
    r->status = GL_ERANGE;
    return;
  }
  if (is_float) {
    r->raw = (uint64_t)value;
    r->raw_bits = 0;
    r->exp = 0;
  } else {
    r->raw_bits = (uint8_t)(words * 16u);
    r->exp = (int8_t)exp;
  }
  if (hal_qty_is_counter(qi) && value < 0) {
    bad_value(d, qi, "negative energy counter");
    r->status = GL_ERANGE;
    return;
  }
  r->value = m->sign < 0 ? -value : value;
  r->status = 0;
}

/* ---- Polling ------------------------------------------------------------- */

static void fill_all(hal_sample *out, int status) {
  for (int qi = 0; qi < HAL_Q_COUNT; qi++)
    out->r[qi].status = status;
}

static void went_offline(hal_device *d, int rc, int64_t now) {
  d->stats.polls_failed++;
  d->failed_polls++;
  d->last_error = rc;
  char b1[32];
  uint64_t suppressed = 0;
  if (!d->offline) {
    d->offline = true;
    d->offline_since = now;
    d->backoff = d->cfg.offline_min_ns;
    hal__rl_allow(&d->rl_offline, now, &suppressed);
    if (rc == GL_ENOENT)
      /* The device answers, but has nothing this profile reads (no
       * SunSpec map, none of its models): not an outage, a mismatch
       * between the configuration and the device. */
      GL_ERROR(HAL_LOG,
               "%s: unit %u on %s has nothing profile %s can read (%s): a "
               "configuration error; check the unit id and the profile "
               "(gridlet-probe shows what the device offers); will keep "
               "trying",
               d->name, d->unit, hal_link_describe(d->link), d->prof.name,
               d->nothing_why ? d->nothing_why : gl_strerror(rc));
    else
      GL_WARN(HAL_LOG, "%s: unit %u on %s is offline: %s; will keep trying",
              d->name, d->unit, hal_link_describe(d->link), gl_strerror(rc));
  } else {
    bool say = hal__rl_allow(&d->rl_offline, now, &suppressed);
    if (say && rc == GL_ENOENT)
      GL_ERROR(HAL_LOG,
               "%s: still nothing profile %s can read after %s (%llu "
               "polls): %s; check the configuration",
               d->name, d->prof.name,
               gl_duration_format((now - d->offline_since) -
                                      (now - d->offline_since) % GL_NS_PER_SEC,
                                  b1, sizeof b1),
               (unsigned long long)d->failed_polls,
               d->nothing_why ? d->nothing_why : gl_strerror(rc));
    else if (say)
      GL_WARN(HAL_LOG, "%s: still offline after %s (%llu failed polls): %s",
              d->name,
              gl_duration_format((now - d->offline_since) -
                                     (now - d->offline_since) % GL_NS_PER_SEC,
                                 b1, sizeof b1),
              (unsigned long long)d->failed_polls, gl_strerror(rc));
    d->backoff = d->backoff * 2 > d->cfg.offline_max_ns ? d->cfg.offline_max_ns
                                                        : d->backoff * 2;
  }
  d->next_try = now + d->backoff;
}

static void came_online(hal_device *d, int64_t now) {
  if (d->offline) {
    char b1[32];
    hal__rl_reset(&d->rl_offline);
    GL_NOTICE(HAL_LOG, "%s: back online after %s (%llu failed polls)", d->name,
              gl_duration_format((now - d->offline_since) -
                                     (now - d->offline_since) % GL_NS_PER_SEC,
                                 b1, sizeof b1),
              (unsigned long long)d->failed_polls);
  }
  d->offline = false;
  d->failed_polls = 0;
  d->backoff = 0;
  d->nothing_why = NULL;
}

/* Run the plan once. Returns 0, the error that stops the poll, or
 * GL_ECONFLICT when the map changed and discovery must run again. */
static int run_plan(hal_device *d, int *first_err, bool *any_ok) {
  *first_err = 0;
  *any_ok = false;
  /* Nothing to read (the device has none of the profile's models, or no
   * mapped register can be read): a poll would do no I/O at all, so it
   * could never tell whether the device is there. That is a configuration
   * error, reported as such (went_offline), never "online". */
  if (d->nreqs == 0) {
    d->nothing_why = "it has none of the quantities the profile maps";
    return GL_ENOENT;
  }
  for (int i = 0; i < d->nreqs; i++) {
    plan_req *r = &d->reqs[i];
    uint8_t exc = 0;
    r->rc = hal_link_read(d->link, d->unit, (hal_regtype)r->table, r->addr,
                          r->n, d->buf + r->off, &exc);
    if (r->rc == 0) {
      *any_ok = true;
      continue;
    }
    if (!*first_err)
      *first_err = r->rc;
    if (r->rc == GL_ECONN)
      return r->rc; /* the rest would fail the same way */
    if (r->rc == GL_EDEVICE && exc == HAL_EXC_ILLEGAL_ADDRESS &&
        d->prof.kind == HAL_PROFILE_SUNSPEC)
      return GL_ECONFLICT;
  }
  for (int c = 0; c < d->nchecks; c++) {
    const plan_check *k = &d->checks[c];
    const plan_req *r = &d->reqs[k->req];
    if (r->rc != 0)
      continue;
    const uint16_t *p = d->buf + r->off + (k->addr - r->addr);
    if (p[0] != k->id || p[1] != k->len)
      return GL_ECONFLICT;
  }
  return 0;
}

int hal_device_poll(hal_device *d, hal_sample *out) {
  memset(out, 0, sizeof *out);
  out->time_ns = gl_clock_now(&d->clock);
  int64_t now = gl_clock_monotonic(&d->clock);
  d->stats.polls++;
  if (d->offline && now < d->next_try) {
    d->stats.polls_skipped++;
    out->status = d->last_error;
    out->identity = d->identity;
    fill_all(out, d->last_error);
    return d->last_error;
  }
  int first_err = 0;
  bool any_ok = false;
  int rc = 0;
  for (int pass = 0; pass < 2; pass++) {
    /* A reconnection may mean another device (replaced while it was
     * away): SunSpec devices are discovered again. Vendor register maps
     * have nothing to discover. */
    if (d->need_discovery || !d->planned ||
        (d->prof.kind == HAL_PROFILE_SUNSPEC &&
         hal_link_generation(d->link) != d->link_gen)) {
      rc = discover(d);
      if (rc != 0)
        break;
    }
    rc = run_plan(d, &first_err, &any_ok);
    if (rc == 0 && any_ok && d->prof.kind == HAL_PROFILE_SUNSPEC &&
        hal_link_generation(d->link) != d->link_gen && pass == 0) {
      /* The link reconnected during this poll (the device was away):
       * make sure it is still the same device before using its values. */
      d->need_discovery = true;
      continue;
    }
    if (rc != GL_ECONFLICT)
      break;
    d->stats.map_changes++;
    d->need_discovery = true;
    GL_NOTICE(HAL_LOG,
              "%s: the device's register map changed; discovering again",
              d->name);
    rc = GL_EPROTO; /* if the second pass conflicts again */
  }
  out->identity = d->identity;
  if (rc != 0 || !any_ok) {
    if (rc == 0)
      rc = first_err ? first_err : GL_EIO;
    if (rc == GL_ECONFLICT)
      rc = GL_EPROTO;
    went_offline(d, rc, gl_clock_monotonic(&d->clock));
    out->status = rc;
    fill_all(out, rc);
    return rc;
  }
  came_online(d, gl_clock_monotonic(&d->clock));
  out->online = true;
  int status = first_err;
  for (int qi = 0; qi < HAL_Q_COUNT; qi++) {
    hal_reading *r = &out->r[qi];
    if (d->q[qi].status != 0) {
      /* Unmapped or not implemented: reported per reading, not an error
       * of the poll. */
      r->status = d->q[qi].status;
      r->model = d->q[qi].model;
      continue;
    }
    decode_qty(d, qi, r);
  }
  if (status == 0)
    d->stats.polls_ok++;
  out->status = status;
  return status;
}

/* ---- Battery control ------------------------------------------------------
 */

static int control_allowed(hal_device *d) {
  const char *why = NULL;
  if (d->prof.control_model != 124)
    why = "the profile has no [control] section";
  else if (!d->cfg.allow_control)
    why = "battery control is not enabled in the configuration";
  else if (!hal__link_write_allowed(d->link))
    why = "the link is read-only";
  if (!why)
    return 0;
  uint64_t suppressed = 0;
  if (hal__rl_allow(&d->rl_control, gl_clock_monotonic(&d->clock), &suppressed))
    GL_WARN(HAL_LOG, "%s: battery control refused: %s; nothing written",
            d->name, why);
  return GL_EPERM;
}

static int write_124(hal_device *d, bool release, int64_t cha_w,
                     int64_t dis_w) {
  int rc = control_allowed(d);
  if (rc != 0)
    return rc;
  if (!d->planned || d->need_discovery) {
    rc = discover(d);
    if (rc != 0)
      return rc;
  }
  const hal_ss_model_ref *ref = hal_ss_map_find(&d->map, 124, -1, 0);
  if (!ref || ref->length < 24)
    return GL_ENOENT;
  uint16_t r[26];
  rc = hal_link_read(d->link, d->unit, HAL_REG_HOLDING, ref->addr, 26, r, NULL);
  if (rc != 0)
    return rc;
  if (r[0] != 124) {
    d->need_discovery = true;
    return GL_EPROTO;
  }
  uint16_t mod = 0;
  uint16_t rates[2] = {0, 0}; /* OutWRte, InWRte */
  if (!release) {
    if (cha_w < 0 || dis_w < 0)
      return GL_EINVAL;
    int16_t wsf = (int16_t)r[18], rsf = (int16_t)r[25];
    if (r[2] == 0xFFFFu || r[18] == 0x8000u || wsf < -10 || wsf > 10 ||
        r[25] == 0x8000u || rsf < -10 || rsf > 10)
      return GL_ERANGE;
    int64_t wmax;
    if (hal_scale_uint(r[2], wsf, HAL_ROUND_NEAREST, &wmax) != 0 || wmax <= 0)
      return GL_ERANGE;
    /* Percent of WChaMax in units of 10^rsf, rounded, clamped to 100 %. */
    int64_t full;
    if (hal_scale_int(100, -rsf, HAL_ROUND_NEAREST, &full) != 0 || full > 32767)
      return GL_ERANGE;
    int64_t w[2] = {dis_w, cha_w};
    for (int i = 0; i < 2; i++) {
      /* With the checks above w < wmax <= 65535e10 and full <= 10000, so
       * w * full stays below 2^63; the checked multiplication keeps that
       * an assertion of arithmetic rather than of those bounds. */
      int64_t x = full;
      if (w[i] < wmax) {
        int64_t p;
        if (__builtin_mul_overflow(w[i], full, &p) ||
            __builtin_add_overflow(p, wmax / 2, &p))
          return GL_ERANGE;
        x = p / wmax;
      }
      rates[i] = (uint16_t)x;
    }
    mod = 0x3; /* CHARGE | DISCHARGE limits active */
    uint8_t exc;
    rc = hal_link_write(d->link, d->unit, (uint16_t)(ref->addr + 12), 2, rates,
                        &exc);
    if (rc != 0)
      return rc;
  }
  uint8_t exc;
  rc = hal_link_write(d->link, d->unit, (uint16_t)(ref->addr + 5), 1, &mod,
                      &exc);
  if (rc == 0 && release)
    GL_INFO(HAL_LOG, "%s: battery released to its own control", d->name);
  else if (rc == 0)
    GL_INFO(HAL_LOG,
            "%s: battery limits set: charge <= %lld W, discharge <= %lld W",
            d->name, (long long)cha_w, (long long)dis_w);
  return rc;
}

int hal_device_battery_limit(hal_device *d, int64_t charge_max_w,
                             int64_t discharge_max_w) {
  return write_124(d, false, charge_max_w, discharge_max_w);
}

int hal_device_battery_release(hal_device *d) {
  return write_124(d, true, 0, 0);
}
