/* SPDX-License-Identifier: MIT */
/*
 * probe.c - the installer's first look at a device. See gridlet/hal_probe.h.
 *
 * The report is meant to be read by a person on a ladder: each failure is
 * followed by the likely causes, in the order worth checking.
 */
#include "gridlet/hal_probe.h"

#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_sunspec.h"
#include "hal_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

char *hal_format_scaled(int64_t raw, int exp, char *buf, size_t size) {
  if (size == 0)
    return buf;
  char digits[48];
  bool neg = raw < 0;
  uint64_t mag = neg ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
  snprintf(digits, sizeof digits, "%" PRIu64, mag);
  if (exp >= 0) {
    char zeros[32];
    int z = mag == 0 ? 0 : (exp > 30 ? 30 : exp);
    memset(zeros, '0', (size_t)z);
    zeros[z] = '\0';
    snprintf(buf, size, "%s%s%s", neg ? "-" : "", digits, zeros);
    return buf;
  }
  int frac = -exp > 30 ? 30 : -exp;
  size_t len = strlen(digits);
  char padded[80];
  size_t pad = len <= (size_t)frac ? (size_t)frac + 1 - len : 0;
  memset(padded, '0', pad);
  memcpy(padded + pad, digits, len + 1);
  size_t plen = pad + len;
  size_t ipart = plen - (size_t)frac;
  snprintf(buf, size, "%s%.*s.%s", neg ? "-" : "", (int)ipart, padded,
           padded + ipart);
  return buf;
}

static void hint(FILE *out, int rc) {
  switch (rc) {
  case GL_ECONN:
    fprintf(out,
            "  hints: check the address and port (or serial device and its "
            "permissions);\n"
            "         is Modbus TCP enabled on the device?\n"
            "         many inverters accept only ONE Modbus TCP client: stop "
            "other readers first\n");
    break;
  case GL_ETIMEDOUT:
    fprintf(out, "  hints: check the unit id (SunSpec inverters often use 1, "
                 "meters 240 or 2);\n"
                 "         on RS-485: wiring (A/B swapped?), termination, baud "
                 "rate and parity\n");
    break;
  case GL_ENOENT:
    fprintf(out,
            "  hints: the device answered but has no SunSpec marker at 40000, "
            "0 or 50000:\n"
            "         wrong unit id, SunSpec disabled in the device's "
            "settings, or not a SunSpec\n"
            "         device (use a registers profile, see "
            "docs/devices.md)\n");
    break;
  case GL_EDEVICE:
    fprintf(out, "  hints: the device rejected the request; check the unit "
                 "id and that the register map matches the device\n");
    break;
  default:
    break;
  }
}

static void print_value(FILE *out, const hal_ss_point *p, const hal_ss_value *v,
                        const uint16_t *regs, size_t nregs) {
  char b[96];
  if (!v->implemented) {
    fprintf(out, "n/i");
    return;
  }
  switch (p->type) {
  case HAL_SS_STRING:
    hal_ss_decode_string(p, regs, nregs, b, sizeof b);
    fprintf(out, "\"%s\"", b);
    return;
  case HAL_SS_FLOAT32:
  case HAL_SS_FLOAT64:
    fprintf(out, "%.7g", v->f);
    break;
  case HAL_SS_ENUM16:
  case HAL_SS_ENUM32:
    fprintf(out, "%" PRIu64, v->u);
    break;
  case HAL_SS_BITFIELD16:
  case HAL_SS_BITFIELD32:
  case HAL_SS_BITFIELD64:
    fprintf(out, "0x%" PRIx64, v->u);
    break;
  case HAL_SS_IPADDR:
    fprintf(out, "%u.%u.%u.%u", (unsigned)(v->u >> 24) & 255u,
            (unsigned)(v->u >> 16) & 255u, (unsigned)(v->u >> 8) & 255u,
            (unsigned)v->u & 255u);
    return;
  case HAL_SS_IPV6ADDR:
  case HAL_SS_EUI48:
    fprintf(out, "(binary)");
    return;
  default: {
    bool is_signed = p->type == HAL_SS_INT16 || p->type == HAL_SS_INT32 ||
                     p->type == HAL_SS_INT64 || p->type == HAL_SS_SUNSSF;
    if (v->has_sf && v->sf_status == GL_ENOTSUP) {
      fprintf(out, "%" PRIu64 " (scale factor not implemented)", v->u);
    } else if (v->has_sf && v->sf_status != 0) {
      fprintf(out, "%" PRIu64 " (scale factor %d out of range)", v->u, v->sf);
    } else if (!is_signed && v->u > (uint64_t)INT64_MAX) {
      fprintf(out, "%" PRIu64 "e%d", v->u, v->has_sf ? v->sf : 0);
    } else {
      fprintf(out, "%s",
              hal_format_scaled(is_signed ? v->i : (int64_t)v->u,
                                v->has_sf ? v->sf : 0, b, sizeof b));
    }
  }
  }
  if (p->units[0])
    fprintf(out, " %s", p->units);
}

static void print_points(FILE *out, const hal_ss_model *m,
                         const hal_ss_point *pts, uint16_t npts,
                         const uint16_t *regs, size_t nregs,
                         const uint16_t *grp, size_t gn, bool all) {
  for (uint16_t i = 0; i < npts; i++) {
    const hal_ss_point *p = &pts[i];
    if (p->type == HAL_SS_PAD || (!grp && i < 2))
      continue;
    hal_ss_value v;
    if (hal_ss_decode(m, p, regs, nregs, grp, gn, &v) != 0)
      continue;
    if (!v.implemented && !all)
      continue;
    fprintf(out, "      %-16s ", p->name);
    print_value(out, p, &v, grp ? grp : regs, grp ? gn : nregs);
    if (p->label[0])
      fprintf(out, "   # %s", p->label);
    fprintf(out, "\n");
  }
}

static int probe_sunspec(hal_link *link, uint8_t unit, const hal_probe_opts *o,
                         FILE *out) {
  hal_ss_map *map = malloc(sizeof *map);
  if (!map)
    return GL_ENOMEM;
  int rc = hal_ss_discover(link, unit, map);
  if (rc != 0) {
    fprintf(out, "sunspec   not found: %s\n", gl_strerror(rc));
    hint(out, rc);
    free(map);
    return rc;
  }
  fprintf(out, "sunspec   marker at %u; %u model(s) in %u sub-device(s)%s\n",
          map->base, map->n, map->n_devices,
          map->truncated ? " (chain truncated)" : "");
  int dev = -1;
  for (uint16_t i = 0; i < map->n; i++) {
    const hal_ss_model_ref *ref = &map->models[i];
    if (ref->device != dev) {
      dev = ref->device;
      fprintf(out, "\nsub-device %d\n", dev + 1);
    }
    const hal_ss_model *m = ref->def;
    fprintf(out, "  model %-5u %-28s at %u, length %u", ref->id,
            m ? m->name : "(unknown to gridlet)", ref->addr, ref->length);
    if (m && !m->group_points && ref->length != m->length)
      fprintf(out, " (definition: %u)", m->length);
    fprintf(out, "\n");
    if (!m || o->no_points)
      continue;
    size_t n = 2u + ref->length;
    if (n > 2048)
      n = 2048; /* more than any supported model needs */
    uint16_t *regs = malloc(n * sizeof *regs);
    if (!regs) {
      free(map);
      return GL_ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
      uint16_t chunk =
          (uint16_t)(n - got > HAL_MAX_READ_REGS ? HAL_MAX_READ_REGS : n - got);
      rc = hal_link_read(link, unit, HAL_REG_HOLDING,
                         (uint16_t)(ref->addr + got), chunk, regs + got, NULL);
      if (rc != 0)
        break;
      got += chunk;
    }
    if (rc != 0) {
      fprintf(out, "      (cannot read the model: %s)\n", gl_strerror(rc));
      free(regs);
      free(map);
      hint(out, rc);
      return rc;
    }
    print_points(out, m, m->points, m->n_points, regs, n, NULL, 0,
                 o->all_points);
    if (m->group_points && m->group_length) {
      size_t fixed = 2u + m->length;
      for (size_t k = 0; fixed + (k + 1) * m->group_length <= n; k++) {
        fprintf(out, "    %s %zu\n", m->group_name, k + 1);
        print_points(out, m, m->group_points, m->n_group_points, regs, n,
                     regs + fixed + k * m->group_length, m->group_length,
                     o->all_points);
      }
    }
    free(regs);
  }
  free(map);
  return 0;
}

static int probe_profile(hal_link *link, uint8_t unit, const hal_profile *prof,
                         FILE *out) {
  hal_device_cfg cfg = {.unit = unit, .name = "probe"};
  hal_device *dev = hal_device_new(link, prof, &cfg);
  if (!dev)
    return GL_ENOMEM;
  hal_sample *s = malloc(sizeof *s);
  if (!s) {
    hal_device_free(dev);
    return GL_ENOMEM;
  }
  int rc = hal_device_poll(dev, s);
  fprintf(out, "\nprofile   %s (%s)\n", prof->name,
          prof->kind == HAL_PROFILE_SUNSPEC ? "sunspec" : "registers");
  if (!s->online && rc == GL_ENOENT && prof->kind == HAL_PROFILE_REGISTERS) {
    fprintf(out, "  nothing to read: no quantity of this profile can be "
                 "read from the device\n");
  } else if (!s->online && rc == GL_ENOENT && hal_device_map(dev)) {
    fprintf(out,
            "  nothing to read: the device has none of the models this "
            "profile reads\n"
            "  hints: check the unit id and the profile against the models "
            "listed above\n");
  } else if (!s->online) {
    fprintf(out, "  device did not answer: %s\n", gl_strerror(rc));
    hint(out, rc);
  }
  for (int q = 0; q < HAL_Q_COUNT && s->online; q++) {
    const hal_reading *r = &s->r[q];
    const hal_qty_map *m = &prof->q[q];
    if (!m->mapped)
      continue;
    fprintf(out, "  %-26s ", hal_qty_name(q));
    if (r->status == 0)
      fprintf(out, "%lld %s", (long long)r->value, hal_qty_unit(q));
    else
      fprintf(out, "- (%s)", gl_strerror(r->status));
    if (prof->kind == HAL_PROFILE_SUNSPEC && r->model)
      fprintf(out, "   from model %u", r->model);
    else if (prof->kind == HAL_PROFILE_REGISTERS)
      fprintf(out, "   from %s %u",
              m->table == HAL_REG_INPUT ? "input" : "holding", m->addr);
    if (r->status == 0 && hal_qty_is_counter(q) && r->raw_bits)
      fprintf(out, ", %u-bit counter %" PRIu64 " x 10^%d", r->raw_bits, r->raw,
              r->exp);
    else if (r->status == 0 && r->raw_bits)
      fprintf(out, ", scale 10^%d", r->exp);
    fprintf(out, "\n");
  }
  free(s);
  hal_device_free(dev);
  return rc;
}

int hal_probe_run(hal_link *link, const hal_probe_opts *o, FILE *out) {
  hal_probe_opts none = {0};
  if (!o)
    o = &none;
  const hal_profile *prof = o->profile;
  uint8_t unit = o->unit ? o->unit : (prof && prof->unit ? prof->unit : 1);
  fprintf(out, "endpoint  %s, unit %u\n", hal_link_describe(link), unit);
  int rc = 0;
  if (!prof || prof->kind == HAL_PROFILE_SUNSPEC)
    rc = probe_sunspec(link, unit, o, out);
  if (prof && rc == 0)
    rc = probe_profile(link, unit, prof, out);
  return rc;
}
