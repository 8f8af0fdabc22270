/* SPDX-License-Identifier: MIT */
/*
 * sunspec.c - SunSpec model lookup, point decoding, scaling and discovery.
 * See gridlet/hal_sunspec.h. The point tables themselves are generated
 * (sunspec_tables.c); everything here is written against the table structs,
 * so a new model needs only its JSON and a run of the generator.
 */
#include "gridlet/hal_sunspec.h"

#include "gridlet/error.h"
#include "gridlet/hal_link.h"
#include "gridlet/log.h"
#include "hal_internal.h"

#include <math.h>
#include <string.h>

/* ---- Tables
 * ------------------------------------------------------------------ */

const hal_ss_model *hal_ss_model_find(uint16_t id) {
  size_t lo = 0, hi = hal__ss_n_models;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (hal__ss_models[mid].id == id)
      return &hal__ss_models[mid];
    if (hal__ss_models[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

size_t hal_ss_model_count(void) {
  return hal__ss_n_models;
}

const hal_ss_model *hal_ss_model_at(size_t i) {
  return i < hal__ss_n_models ? &hal__ss_models[i] : NULL;
}

const hal_ss_point *hal_ss_point_find(const hal_ss_model *m, const char *name) {
  if (!m || !name)
    return NULL;
  for (uint16_t i = 0; i < m->n_points; i++)
    if (strcmp(m->points[i].name, name) == 0)
      return &m->points[i];
  return NULL;
}

const hal_ss_point *hal_ss_group_point_find(const hal_ss_model *m,
                                            const char *name) {
  if (!m || !name || !m->group_points)
    return NULL;
  for (uint16_t i = 0; i < m->n_group_points; i++)
    if (strcmp(m->group_points[i].name, name) == 0)
      return &m->group_points[i];
  return NULL;
}

static const char *const type_names[HAL_SS_TYPE_MAX] = {
    [HAL_SS_INT16] = "int16",           [HAL_SS_UINT16] = "uint16",
    [HAL_SS_INT32] = "int32",           [HAL_SS_UINT32] = "uint32",
    [HAL_SS_INT64] = "int64",           [HAL_SS_UINT64] = "uint64",
    [HAL_SS_ACC16] = "acc16",           [HAL_SS_ACC32] = "acc32",
    [HAL_SS_ACC64] = "acc64",           [HAL_SS_BITFIELD16] = "bitfield16",
    [HAL_SS_BITFIELD32] = "bitfield32", [HAL_SS_BITFIELD64] = "bitfield64",
    [HAL_SS_ENUM16] = "enum16",         [HAL_SS_ENUM32] = "enum32",
    [HAL_SS_FLOAT32] = "float32",       [HAL_SS_FLOAT64] = "float64",
    [HAL_SS_STRING] = "string",         [HAL_SS_PAD] = "pad",
    [HAL_SS_SUNSSF] = "sunssf",         [HAL_SS_COUNT] = "count",
    [HAL_SS_RAW16] = "raw16",           [HAL_SS_IPADDR] = "ipaddr",
    [HAL_SS_IPV6ADDR] = "ipv6addr",     [HAL_SS_EUI48] = "eui48",
};

const char *hal_ss_type_name(int type) {
  if (type < 0 || type >= HAL_SS_TYPE_MAX || !type_names[type])
    return "?";
  return type_names[type];
}

int hal_ss_type_parse(const char *name) {
  for (int t = 0; name && t < HAL_SS_TYPE_MAX; t++)
    if (type_names[t] && strcmp(type_names[t], name) == 0)
      return t;
  return -1;
}

/* ---- Decoding ---------------------------------------------------------- */

static bool belongs(const hal_ss_point *p, const hal_ss_point *arr,
                    uint16_t n) {
  return arr && p >= arr && p < arr + n;
}

static bool all_zero(const uint16_t *r, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (r[i])
      return false;
  return true;
}

void hal__ss_decode_at(const hal_ss_point *p, const uint16_t *r,
                       hal_ss_value *v) {
  uint64_t u;
  v->type = p->type;
  switch (p->type) {
  case HAL_SS_INT16:
  case HAL_SS_SUNSSF:
    u = r[0];
    v->u = u;
    v->i = hal__sext(u, 16);
    v->implemented = u != 0x8000u;
    break;
  case HAL_SS_UINT16:
  case HAL_SS_ENUM16:
  case HAL_SS_BITFIELD16:
    v->u = r[0];
    v->i = (int64_t)v->u;
    v->implemented = v->u != 0xFFFFu;
    break;
  case HAL_SS_COUNT:
  case HAL_SS_RAW16:
    v->u = r[0];
    v->i = (int64_t)v->u;
    v->implemented = true;
    break;
  case HAL_SS_ACC16:
    v->u = r[0];
    v->i = (int64_t)v->u;
    v->implemented = v->u != 0;
    break;
  case HAL_SS_INT32:
    u = hal__be_words(r, 2);
    v->u = u;
    v->i = hal__sext(u, 32);
    v->implemented = u != 0x80000000u;
    break;
  case HAL_SS_UINT32:
  case HAL_SS_ENUM32:
  case HAL_SS_BITFIELD32:
    v->u = hal__be_words(r, 2);
    v->i = (int64_t)v->u;
    v->implemented = v->u != 0xFFFFFFFFu;
    break;
  case HAL_SS_ACC32:
  case HAL_SS_IPADDR:
    v->u = hal__be_words(r, 2);
    v->i = (int64_t)v->u;
    v->implemented = v->u != 0;
    break;
  case HAL_SS_INT64:
    v->u = hal__be_words(r, 4);
    v->i = (int64_t)v->u;
    v->implemented = v->u != UINT64_C(0x8000000000000000);
    break;
  case HAL_SS_UINT64:
  case HAL_SS_BITFIELD64:
    v->u = hal__be_words(r, 4);
    v->i = (int64_t)v->u;
    v->implemented = v->u != UINT64_MAX;
    break;
  case HAL_SS_ACC64:
    v->u = hal__be_words(r, 4);
    v->i = (int64_t)v->u;
    v->implemented = v->u != 0;
    break;
  case HAL_SS_EUI48:
    v->u = hal__be_words(r, 4) & UINT64_C(0xFFFFFFFFFFFF);
    v->i = (int64_t)v->u;
    v->implemented = v->u != UINT64_C(0xFFFFFFFFFFFF);
    break;
  case HAL_SS_FLOAT32:
    v->u = hal__be_words(r, 2);
    v->f = hal__f32((uint32_t)v->u);
    v->implemented = !isnan(v->f);
    break;
  case HAL_SS_FLOAT64:
    v->u = hal__be_words(r, 4);
    v->f = hal__f64(v->u);
    v->implemented = !isnan(v->f);
    break;
  case HAL_SS_STRING:
  case HAL_SS_IPV6ADDR:
    v->implemented = !all_zero(r, p->size);
    break;
  case HAL_SS_PAD:
  default:
    v->implemented = false;
    break;
  }
}

int hal_ss_decode(const hal_ss_model *m, const hal_ss_point *p,
                  const uint16_t *regs, size_t nregs,
                  const uint16_t *group_regs, size_t group_nregs,
                  hal_ss_value *v) {
  if (!m || !p || !v || (!regs && nregs))
    return GL_EINVAL;
  bool in_group = belongs(p, m->group_points, m->n_group_points);
  if (!in_group && !belongs(p, m->points, m->n_points))
    return GL_EINVAL;
  if (in_group && !group_regs)
    group_nregs = 0;
  memset(v, 0, sizeof *v);
  v->type = p->type;

  /* Scale factor first: it is looked up in the fixed block either way. */
  if (p->flags & HAL_SS_SF_FIXED) {
    v->has_sf = true;
    v->sf = p->sf_fixed;
  } else if (p->flags & HAL_SS_SF_POINT) {
    v->has_sf = true;
    const hal_ss_point *sp = &m->points[p->sf_index];
    if (sp->offset >= nregs || regs[sp->offset] == 0x8000u) {
      v->sf_status = GL_ENOTSUP;
    } else {
      int16_t sf = (int16_t)regs[sp->offset];
      if (sf < -10 || sf > 10)
        v->sf_status = GL_ERANGE;
      v->sf = sf;
    }
  }

  const uint16_t *src = in_group ? group_regs : regs;
  size_t sn = in_group ? group_nregs : nregs;
  if ((size_t)p->offset + p->size > sn)
    return 0; /* beyond the reported length: not implemented */
  hal__ss_decode_at(p, src + p->offset, v);
  return 0;
}

size_t hal_ss_decode_string(const hal_ss_point *p, const uint16_t *regs,
                            size_t nregs, char *buf, size_t size) {
  if (!buf || size == 0)
    return 0;
  buf[0] = '\0';
  if (!p || !regs || (size_t)p->offset + p->size > nregs)
    return 0;
  size_t len = 0;
  for (unsigned i = 0; i < p->size && len + 1 < size; i++) {
    uint16_t w = regs[p->offset + i];
    unsigned char c[2] = {(unsigned char)(w >> 8), (unsigned char)(w & 0xFF)};
    for (int k = 0; k < 2 && len + 1 < size; k++) {
      if (c[k] == 0)
        goto done;
      buf[len++] = (c[k] >= 32 && c[k] < 127) ? (char)c[k] : '?';
    }
  }
done:
  while (len > 0 && buf[len - 1] == ' ')
    len--;
  buf[len] = '\0';
  return len;
}

/* ---- Scaling
 * ----------------------------------------------------------------- */

static const int64_t pow10_i[19] = {1,
                                    10,
                                    100,
                                    1000,
                                    10000,
                                    100000,
                                    1000000,
                                    10000000,
                                    100000000,
                                    1000000000,
                                    10000000000,
                                    100000000000,
                                    1000000000000,
                                    10000000000000,
                                    100000000000000,
                                    1000000000000000,
                                    10000000000000000,
                                    100000000000000000,
                                    1000000000000000000};

int hal_scale_int(int64_t raw, int exp, hal_round mode, int64_t *out) {
  if (exp < -30 || exp > 30)
    return GL_ERANGE;
  if (exp >= 0) {
    if (raw == 0) {
      *out = 0;
      return 0;
    }
    int64_t r;
    if (exp > 18 || __builtin_mul_overflow(raw, pow10_i[exp], &r))
      return GL_ERANGE;
    *out = r;
    return 0;
  }
  int e = -exp;
  if (e > 18) {
    /* |raw| < 9.3e18: the quotient is 0, or +-1 after rounding at 10^19. */
    int64_t q = 0;
    if (mode == HAL_ROUND_FLOOR)
      q = raw < 0 ? -1 : 0;
    else if (e == 19 && raw >= INT64_C(5000000000000000000))
      q = 1;
    else if (e == 19 && raw <= -INT64_C(5000000000000000000))
      q = -1;
    *out = q;
    return 0;
  }
  int64_t d = pow10_i[e];
  int64_t q = raw / d, rem = raw % d;
  if (mode == HAL_ROUND_FLOOR) {
    if (rem < 0)
      q--;
  } else {
    int64_t arem = rem < 0 ? -rem : rem;
    if (2 * arem >= d)
      q += rem < 0 ? -1 : 1;
  }
  *out = q;
  return 0;
}

int hal_scale_uint(uint64_t raw, int exp, hal_round mode, int64_t *out) {
  if (raw <= (uint64_t)INT64_MAX)
    return hal_scale_int((int64_t)raw, exp, mode, out);
  if (exp >= 0 || exp < -30)
    return GL_ERANGE;
  int e = -exp;
  if (e > 19) {
    *out = 0;
    return 0;
  }
  uint64_t d = e == 19 ? UINT64_C(10000000000000000000) : (uint64_t)pow10_i[e];
  uint64_t q = raw / d, rem = raw % d;
  if (mode == HAL_ROUND_NEAREST && rem >= d - rem)
    q++;
  if (q > (uint64_t)INT64_MAX)
    return GL_ERANGE;
  *out = (int64_t)q;
  return 0;
}

int hal_scale_double(double f, int exp, hal_round mode, int64_t *out) {
  if (isnan(f))
    return GL_ENOTSUP;
  if (isinf(f) || exp < -30 || exp > 30)
    return GL_ERANGE;
  double x = f * pow(10.0, exp);
  x = mode == HAL_ROUND_FLOOR ? floor(x) : round(x);
  /* 2^63 is exactly representable; anything at or above it overflows. */
  if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
    return GL_ERANGE;
  *out = (int64_t)x;
  return 0;
}

/* ---- Discovery -------------------------------------------------------------
 */

typedef int (*reg_reader)(void *ctx, uint16_t addr, uint16_t n, uint16_t *dst,
                          uint8_t *exc);

static const uint16_t bases[] = {40000, 0, 50000};

static int walk(reg_reader rd, void *ctx, hal_ss_map *map, const char *who) {
  memset(map, 0, sizeof *map);
  uint16_t r[2];
  uint8_t exc = 0;
  bool found = false, answered = false;
  int last = GL_ENOENT;
  for (size_t i = 0; i < sizeof bases / sizeof bases[0] && !found; i++) {
    int rc = rd(ctx, bases[i], 2, r, &exc);
    if (rc == 0) {
      answered = true;
      if (r[0] == HAL_SS_MARKER_HI && r[1] == HAL_SS_MARKER_LO) {
        map->base = bases[i];
        found = true;
      }
    } else if (rc == GL_ECONN) {
      return rc; /* the device is not there at all */
    } else {
      if (rc != GL_ETIMEDOUT)
        answered = true;
      last = rc;
    }
  }
  if (!found) {
    if (!answered)
      return last;
    GL_DEBUG(HAL_LOG, "%s: no SunSpec marker at 40000, 0 or 50000", who);
    return GL_ENOENT;
  }

  uint32_t addr = (uint32_t)map->base + 2;
  int device = -1;
  for (;;) {
    if (addr + 2 > 65536u) {
      GL_WARN(HAL_LOG, "%s: SunSpec model chain runs past register 65535", who);
      return GL_EPROTO;
    }
    int rc = rd(ctx, (uint16_t)addr, 2, r, &exc);
    if (rc == GL_EDEVICE && exc == HAL_EXC_ILLEGAL_ADDRESS) {
      GL_WARN(HAL_LOG,
              "%s: SunSpec model chain ends at %u without the end marker", who,
              (unsigned)addr);
      return GL_EPROTO;
    }
    if (rc != 0)
      return rc;
    uint16_t id = r[0], len = r[1];
    if (id == HAL_SS_END_ID)
      break;
    if (id == 0) {
      /* Seen on devices that leave the rest of the map zeroed: treat as the
       * end, but say so. */
      GL_WARN(HAL_LOG,
              "%s: model id 0 at %u; treating it as the end of the chain", who,
              (unsigned)addr);
      break;
    }
    if (map->n == HAL_SS_MAX_MODELS) {
      GL_WARN(HAL_LOG, "%s: more than %d SunSpec models; ignoring the rest",
              who, HAL_SS_MAX_MODELS);
      map->truncated = true;
      break;
    }
    if (id == 1)
      device++;
    if (device < 0) {
      GL_WARN(HAL_LOG,
              "%s: SunSpec chain does not start with model 1 (found %u)", who,
              id);
      device = 0;
    }
    if (device > 255)
      device = 255;
    hal_ss_model_ref *ref = &map->models[map->n++];
    ref->id = id;
    ref->length = len;
    ref->addr = (uint16_t)addr;
    ref->device = (uint8_t)device;
    ref->def = hal_ss_model_find(id);
    GL_DEBUG(HAL_LOG, "%s: model %u at %u, length %u%s", who, id,
             (unsigned)addr, len, ref->def ? "" : " (unknown to gridlet)");
    addr += 2u + len;
  }
  map->n_devices = (uint8_t)(device < 0 ? 0 : device + 1);
  return 0;
}

static int link_reader(void *ctx, uint16_t addr, uint16_t n, uint16_t *dst,
                       uint8_t *exc) {
  const struct {
    hal_link *link;
    uint8_t unit;
  } *c = ctx;
  return hal_link_read(c->link, c->unit, HAL_REG_HOLDING, addr, n, dst, exc);
}

int hal_ss_discover(struct hal_link *link, uint8_t unit, hal_ss_map *map) {
  if (!link || !map)
    return GL_EINVAL;
  struct {
    hal_link *link;
    uint8_t unit;
  } c = {link, unit};
  return walk(link_reader, &c, map, hal_link_name(link));
}

typedef struct mem_image {
  const uint16_t *regs;
  size_t n;
  uint32_t start;
} mem_image;

static int mem_reader(void *ctx, uint16_t addr, uint16_t n, uint16_t *dst,
                      uint8_t *exc) {
  const mem_image *m = ctx;
  *exc = 0;
  if (addr < m->start || (size_t)(addr - m->start) + n > m->n) {
    *exc = HAL_EXC_ILLEGAL_ADDRESS;
    return GL_EDEVICE;
  }
  memcpy(dst, m->regs + (addr - m->start), n * sizeof *dst);
  return 0;
}

int hal_ss_map_parse(const uint16_t *regs, size_t n, uint16_t start,
                     hal_ss_map *map) {
  if ((!regs && n) || !map)
    return GL_EINVAL;
  mem_image m = {regs, n, start};
  return walk(mem_reader, &m, map, "image");
}

const hal_ss_model_ref *hal_ss_map_find(const hal_ss_map *map, uint16_t id,
                                        int device, unsigned nth) {
  if (!map)
    return NULL;
  for (uint16_t i = 0; i < map->n && i < HAL_SS_MAX_MODELS; i++) {
    const hal_ss_model_ref *r = &map->models[i];
    if (r->id == id && (device < 0 || r->device == device)) {
      if (nth == 0)
        return r;
      nth--;
    }
  }
  return NULL;
}
