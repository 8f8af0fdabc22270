/* SPDX-License-Identifier: MIT */
/*
 * image.c - register images of simulated devices. See gridlet/sim_image.h.
 */
#include "gridlet/sim_image.h"

#include "gridlet/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
  uint8_t table;
  uint16_t addr;
  uint32_t n;
  uint16_t *val;
  uint8_t *wr;
} block;

typedef struct model_inst {
  uint16_t id;
  uint16_t addr;
  uint16_t len;
  uint16_t repeats;
  const hal_ss_model *def;
  sim_point_value *vals;  /* def->n_points */
  sim_point_value *gvals; /* repeats * def->n_group_points */
} model_inst;

struct sim_image {
  block *blocks;
  size_t nblocks;
  model_inst *models;
  size_t nmodels;
};

sim_image *sim_image_new(void) {
  return calloc(1, sizeof(sim_image));
}

void sim_image_reset(sim_image *img) {
  for (size_t i = 0; i < img->nblocks; i++) {
    free(img->blocks[i].val);
    free(img->blocks[i].wr);
  }
  free(img->blocks);
  for (size_t i = 0; i < img->nmodels; i++) {
    free(img->models[i].vals);
    free(img->models[i].gvals);
  }
  free(img->models);
  memset(img, 0, sizeof *img);
}

void sim_image_free(sim_image *img) {
  if (!img)
    return;
  sim_image_reset(img);
  free(img);
}

/* ---- Blocks ----------------------------------------------------------------
 */

static block *find_block(const sim_image *img, hal_regtype table, uint32_t addr,
                         uint32_t n) {
  for (size_t i = 0; i < img->nblocks; i++) {
    block *b = &img->blocks[i];
    if (b->table == table && addr >= b->addr && addr + n <= b->addr + b->n)
      return b;
  }
  return NULL;
}

int sim_image_block(sim_image *img, hal_regtype table, uint16_t addr,
                    uint16_t n, bool writable) {
  if (n == 0 || (uint32_t)addr + n > 65536u)
    return GL_ERANGE;
  for (size_t i = 0; i < img->nblocks; i++) {
    const block *b = &img->blocks[i];
    if (b->table == table && addr < b->addr + b->n &&
        b->addr < (uint32_t)addr + n)
      return GL_EEXIST;
  }
  block *nb = realloc(img->blocks, (img->nblocks + 1) * sizeof *nb);
  if (!nb)
    return GL_ENOMEM;
  img->blocks = nb;
  block *b = &img->blocks[img->nblocks];
  b->table = (uint8_t)table;
  b->addr = addr;
  b->n = n;
  b->val = calloc(n, sizeof *b->val);
  b->wr = calloc(n, 1);
  if (!b->val || !b->wr) {
    free(b->val);
    free(b->wr);
    return GL_ENOMEM;
  }
  if (writable)
    memset(b->wr, 1, n);
  img->nblocks++;
  return 0;
}

int sim_image_read(const sim_image *img, hal_regtype table, uint16_t addr,
                   uint16_t n, uint16_t *dst) {
  const block *b = find_block(img, table, addr, n);
  if (!b)
    return HAL_EXC_ILLEGAL_ADDRESS;
  memcpy(dst, b->val + (addr - b->addr), n * sizeof *dst);
  return 0;
}

int sim_image_write(sim_image *img, uint16_t addr, uint16_t n,
                    const uint16_t *src) {
  block *b = find_block(img, HAL_REG_HOLDING, addr, n);
  if (!b)
    return HAL_EXC_ILLEGAL_ADDRESS;
  for (uint16_t i = 0; i < n; i++)
    if (!b->wr[addr - b->addr + i])
      return HAL_EXC_ILLEGAL_ADDRESS;
  memcpy(b->val + (addr - b->addr), src, n * sizeof *src);
  return 0;
}

int sim_image_poke(sim_image *img, hal_regtype table, uint16_t addr,
                   const uint16_t *src, uint16_t n) {
  block *b = find_block(img, table, addr, n);
  if (!b)
    return GL_ERANGE;
  memcpy(b->val + (addr - b->addr), src, n * sizeof *src);
  return 0;
}

/* ---- Encoding -------------------------------------------------------------
 */

/* Big-endian, high word first: written without hal's helpers on purpose,
 * so the decoder is checked against an independent encoder. */
static void put_be(uint16_t *r, unsigned words, uint64_t v) {
  for (unsigned i = words; i-- > 0;) {
    r[i] = (uint16_t)(v & 0xFFFFu);
    v >>= 16;
  }
}

static uint64_t sentinel(int type, unsigned size) {
  switch (type) {
  case HAL_SS_INT16:
  case HAL_SS_SUNSSF:
    return 0x8000u;
  case HAL_SS_UINT16:
  case HAL_SS_ENUM16:
  case HAL_SS_BITFIELD16:
    return 0xFFFFu;
  case HAL_SS_INT32:
    return 0x80000000u;
  case HAL_SS_UINT32:
  case HAL_SS_ENUM32:
  case HAL_SS_BITFIELD32:
    return 0xFFFFFFFFu;
  case HAL_SS_INT64:
    return UINT64_C(0x8000000000000000);
  case HAL_SS_UINT64:
  case HAL_SS_BITFIELD64:
    return UINT64_MAX;
  case HAL_SS_EUI48:
    return UINT64_C(0xFFFFFFFFFFFF);
  case HAL_SS_FLOAT32:
    return 0x7FC00000u;
  case HAL_SS_FLOAT64:
    return UINT64_C(0x7FF8000000000000);
  default:
    (void)size;
    return 0; /* acc*, count, raw16, pad, strings, ipaddr */
  }
}

static bool is_int_type(int t) {
  return t != HAL_SS_FLOAT32 && t != HAL_SS_FLOAT64 && t != HAL_SS_STRING &&
         t != HAL_SS_PAD && t != HAL_SS_IPV6ADDR;
}

static bool is_signed_type(int t) {
  return t == HAL_SS_INT16 || t == HAL_SS_INT32 || t == HAL_SS_INT64 ||
         t == HAL_SS_SUNSSF;
}

/* Where a point lives: its registers, or NULL (absent), and its record. */
typedef struct loc {
  const hal_ss_point *p;
  uint16_t *regs;
  sim_point_value *rec;
  const model_inst *mi;
} loc;

static int locate(const sim_image *img, int m, int grp, const char *name,
                  loc *out) {
  if (m < 0 || (size_t)m >= img->nmodels || !name)
    return GL_ENOENT;
  const model_inst *mi = &img->models[m];
  const hal_ss_model *def = mi->def;
  const hal_ss_point *p;
  uint32_t start;
  sim_point_value *rec;
  if (grp < 0) {
    p = hal_ss_point_find(def, name);
    if (!p)
      return GL_ENOENT;
    start = mi->addr + p->offset;
    rec = &mi->vals[p - def->points];
  } else {
    p = hal_ss_group_point_find(def, name);
    if (!p || grp >= mi->repeats)
      return GL_ENOENT;
    start = mi->addr + 2u + def->length + (uint32_t)grp * def->group_length +
            p->offset;
    rec = &mi->gvals[(size_t)grp * def->n_group_points +
                     (size_t)(p - def->group_points)];
  }
  out->p = p;
  out->rec = rec;
  out->mi = mi;
  out->regs = NULL;
  if (start + p->size <= (uint32_t)mi->addr + 2u + mi->len) {
    block *b = find_block(img, HAL_REG_HOLDING, start, p->size);
    if (b)
      out->regs = b->val + (start - b->addr);
  }
  return 0;
}

static int store_int(loc *l, uint64_t bits, int64_t sval) {
  const hal_ss_point *p = l->p;
  if (!l->regs)
    return GL_ENOTSUP;
  put_be(l->regs, p->size, bits);
  memset(l->rec, 0, sizeof *l->rec);
  l->rec->implemented = bits != sentinel(p->type, p->size);
  l->rec->u = bits;
  l->rec->i = sval;
  return 0;
}

int sim_image_set_int(sim_image *img, int m, int grp, const char *point,
                      int64_t v) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  int t = l.p->type;
  if (!is_int_type(t))
    return GL_EINVAL;
  unsigned bits = 16u * l.p->size;
  if (bits > 64)
    bits = 64;
  if (is_signed_type(t)) {
    int64_t lo = bits >= 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
    int64_t hi = bits >= 64 ? INT64_MAX : (INT64_C(1) << (bits - 1)) - 1;
    if (v < lo || v > hi)
      return GL_ERANGE;
    uint64_t mask = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    return store_int(&l, (uint64_t)v & mask, v);
  }
  if (v < 0 || (bits < 64 && (uint64_t)v >= (UINT64_C(1) << bits)))
    return GL_ERANGE;
  return store_int(&l, (uint64_t)v, v);
}

int sim_image_set_u64(sim_image *img, int m, int grp, const char *point,
                      uint64_t v) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  if (!is_int_type(l.p->type) || is_signed_type(l.p->type))
    return GL_EINVAL;
  unsigned bits = 16u * l.p->size;
  if (bits < 64 && v >= (UINT64_C(1) << bits))
    return GL_ERANGE;
  return store_int(&l, v, (int64_t)v);
}

int sim_image_set_float(sim_image *img, int m, int grp, const char *point,
                        double v) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  if (l.p->type != HAL_SS_FLOAT32 && l.p->type != HAL_SS_FLOAT64)
    return GL_EINVAL;
  if (!l.regs)
    return GL_ENOTSUP;
  memset(l.rec, 0, sizeof *l.rec);
  l.rec->is_float = true;
  if (l.p->type == HAL_SS_FLOAT32) {
    float f = (float)v;
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    put_be(l.regs, 2, b);
    l.rec->f = (double)f;
    l.rec->u = b;
  } else {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    put_be(l.regs, 4, b);
    l.rec->f = v;
    l.rec->u = b;
  }
  l.rec->implemented = !isnan(l.rec->f);
  return 0;
}

int sim_image_set_string(sim_image *img, int m, int grp, const char *point,
                         const char *s) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  if (l.p->type != HAL_SS_STRING)
    return GL_EINVAL;
  if (!l.regs)
    return GL_ENOTSUP;
  size_t cap = 2u * l.p->size, n = strlen(s);
  if (n > cap)
    n = cap;
  memset(l.rec, 0, sizeof *l.rec);
  l.rec->is_string = true;
  for (unsigned i = 0; i < l.p->size; i++) {
    unsigned char hi = 2 * i < n ? (unsigned char)s[2 * i] : 0;
    unsigned char lo = 2 * i + 1 < n ? (unsigned char)s[2 * i + 1] : 0;
    l.regs[i] = (uint16_t)(hi << 8 | lo);
  }
  size_t keep = n < sizeof l.rec->s - 1 ? n : sizeof l.rec->s - 1;
  memcpy(l.rec->s, s, keep);
  l.rec->s[keep] = '\0';
  l.rec->implemented = n > 0;
  return 0;
}

static int current_sf(const sim_image *img, const loc *l) {
  const hal_ss_point *p = l->p;
  if (p->flags & HAL_SS_SF_FIXED)
    return p->sf_fixed;
  if (!(p->flags & HAL_SS_SF_POINT))
    return 0;
  const hal_ss_point *sp = &l->mi->def->points[p->sf_index];
  uint32_t a = (uint32_t)l->mi->addr + sp->offset;
  const block *b = find_block(img, HAL_REG_HOLDING, a, 1);
  if (!b)
    return 0;
  uint16_t raw = b->val[a - b->addr];
  return raw == 0x8000u ? 0 : (int16_t)raw;
}

int sim_image_set_scaled(sim_image *img, int m, int grp, const char *point,
                         double v) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  if (l.p->type == HAL_SS_FLOAT32 || l.p->type == HAL_SS_FLOAT64)
    return sim_image_set_float(img, m, grp, point, v);
  double mant = round(v / pow(10.0, current_sf(img, &l)));
  if (!(mant >= -9.2e18 && mant <= 9.2e18))
    return GL_ERANGE;
  return sim_image_set_int(img, m, grp, point, (int64_t)mant);
}

int sim_image_set_absent(sim_image *img, int m, int grp, const char *point) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  if (!l.regs)
    return 0;
  if (l.p->type == HAL_SS_STRING || l.p->type == HAL_SS_IPV6ADDR ||
      l.p->type == HAL_SS_PAD)
    memset(l.regs, 0, l.p->size * sizeof *l.regs);
  else
    put_be(l.regs, l.p->size, sentinel(l.p->type, l.p->size));
  memset(l.rec, 0, sizeof *l.rec);
  return 0;
}

int sim_image_point(const sim_image *img, int m, int grp, const char *point,
                    sim_point_value *out) {
  loc l;
  int rc = locate(img, m, grp, point, &l);
  if (rc != 0)
    return rc;
  *out = *l.rec;
  if (!l.regs)
    out->implemented = false;
  return 0;
}

/* ---- SunSpec layout -------------------------------------------------------
 */

int sim_image_model(const sim_image *img, uint16_t id, unsigned nth) {
  for (size_t i = 0; i < img->nmodels; i++)
    if (img->models[i].id == id && nth-- == 0)
      return (int)i;
  return -1;
}

size_t sim_image_model_count(const sim_image *img) {
  return img->nmodels;
}

uint16_t sim_image_model_id(const sim_image *img, int m) {
  return m >= 0 && (size_t)m < img->nmodels ? img->models[m].id : 0;
}

uint16_t sim_image_model_addr(const sim_image *img, int m) {
  return m >= 0 && (size_t)m < img->nmodels ? img->models[m].addr : 0;
}

static void fill_absent(uint16_t *r, const hal_ss_point *pts, uint16_t n,
                        uint32_t avail) {
  for (uint16_t i = 0; i < n; i++) {
    const hal_ss_point *p = &pts[i];
    if ((uint32_t)p->offset + p->size > avail)
      continue;
    uint64_t s = sentinel(p->type, p->size);
    if (p->type == HAL_SS_STRING || p->type == HAL_SS_IPV6ADDR ||
        p->type == HAL_SS_PAD)
      memset(r + p->offset, 0, p->size * sizeof *r);
    else
      put_be(r + p->offset, p->size, s);
  }
}

static void mark_writable(uint8_t *wr, const hal_ss_point *pts, uint16_t n,
                          uint32_t avail) {
  for (uint16_t i = 0; i < n; i++)
    if ((pts[i].flags & HAL_SS_WRITABLE) &&
        (uint32_t)pts[i].offset + pts[i].size <= avail)
      memset(wr + pts[i].offset, 1, pts[i].size);
}

int sim_image_sunspec(sim_image *img, uint16_t base,
                      const sim_model_spec *models, size_t n) {
  /* Compute the layout first. */
  uint32_t total = 2;
  for (size_t i = 0; i < n; i++) {
    const hal_ss_model *def = hal_ss_model_find(models[i].id);
    if (!def)
      return GL_ENOENT;
    uint32_t len =
        models[i].length
            ? models[i].length
            : def->length + (uint32_t)models[i].repeats * def->group_length;
    total += 2 + len;
  }
  total += 2;
  if ((uint32_t)base + total > 65536u)
    return GL_ERANGE;
  int rc = sim_image_block(img, HAL_REG_HOLDING, base, (uint16_t)total, false);
  if (rc != 0)
    return rc;
  block *b = find_block(img, HAL_REG_HOLDING, base, total);
  model_inst *nm =
      realloc(img->models, (img->nmodels + n) * sizeof *img->models);
  if (!nm)
    return GL_ENOMEM;
  img->models = nm;
  b->val[0] = HAL_SS_MARKER_HI;
  b->val[1] = HAL_SS_MARKER_LO;
  uint32_t a = 2;
  for (size_t i = 0; i < n; i++) {
    const hal_ss_model *def = hal_ss_model_find(models[i].id);
    uint32_t len =
        models[i].length
            ? models[i].length
            : def->length + (uint32_t)models[i].repeats * def->group_length;
    model_inst *mi = &img->models[img->nmodels];
    memset(mi, 0, sizeof *mi);
    mi->id = def->id;
    mi->addr = (uint16_t)(base + a);
    mi->len = (uint16_t)len;
    mi->def = def;
    mi->repeats = def->group_points ? models[i].repeats : 0;
    mi->vals = calloc(def->n_points, sizeof *mi->vals);
    mi->gvals = calloc((size_t)mi->repeats * def->n_group_points + 1,
                       sizeof *mi->gvals);
    if (!mi->vals || !mi->gvals) {
      free(mi->vals);
      free(mi->gvals);
      return GL_ENOMEM;
    }
    img->nmodels++;
    uint16_t *r = b->val + a;
    uint32_t avail = 2 + len;
    fill_absent(r, def->points, def->n_points, avail);
    mark_writable(b->wr + a, def->points, def->n_points, avail);
    for (uint16_t k = 0; k < mi->repeats; k++) {
      uint32_t goff = 2u + def->length + (uint32_t)k * def->group_length;
      if (goff >= avail)
        break;
      fill_absent(r + goff, def->group_points, def->n_group_points,
                  avail - goff);
      mark_writable(b->wr + a + goff, def->group_points, def->n_group_points,
                    avail - goff);
    }
    r[0] = def->id;
    r[1] = (uint16_t)len;
    mi->vals[0] =
        (sim_point_value){.implemented = true, .i = def->id, .u = def->id};
    mi->vals[1] = (sim_point_value){.implemented = true, .i = len, .u = len};
    /* ID and L are not writable even if a definition said so. */
    b->wr[a] = b->wr[a + 1] = 0;
    a += 2 + len;
  }
  b->val[a] = HAL_SS_END_ID;
  b->val[a + 1] = 0;
  return 0;
}
