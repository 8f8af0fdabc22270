/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the fault description language of the device simulator
 * ("drop household=2 device=meter count=3"), shared by the command line
 * and the control port. See sim_fault_parse() in gridlet/sim_devices.h.
 */
#include "gridlet/sim_devices.h"

#include "gridlet/conf.h"
#include "gridlet/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int kind;
} kinds[] = {
    {"delay", SIM_FAULT_DELAY},         {"drop", SIM_FAULT_DROP},
    {"exception", SIM_FAULT_EXCEPTION}, {"sf", SIM_FAULT_SF},
    {"reset", SIM_FAULT_RESET},         {"rollover", SIM_FAULT_ROLLOVER},
    {"len65", SIM_FAULT_LEN65},         {"offline", SIM_FAULT_OFFLINE},
    {"online", SIM_FAULT_ONLINE},       {"clear", SIM_FAULT_CLEAR},
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GL_EPARSE;
}

static bool num(const char *v, int64_t lo, int64_t hi, int64_t *out) {
  return gl_conf_parse_int(v, out) == 0 && *out >= lo && *out <= hi;
}

int sim_fault_parse(const char *text, sim_fault *f, char *err, size_t errlen) {
  if (err && errlen)
    err[0] = '\0';
  if (!text || !f)
    return GL_EINVAL;
  memset(f, 0, sizeof *f);
  f->household = -1;
  f->device = -1;
  f->code = 4;
  f->margin = 100;
  f->value = 1;
  char buf[256];
  size_t n = strlen(text);
  if (n >= sizeof buf)
    return fail(err, errlen, "fault description longer than %zu bytes",
                sizeof buf - 1);
  memcpy(buf, text, n + 1);
  char *save = NULL;
  char *tok = strtok_r(buf, " \t\r\n", &save);
  if (!tok)
    return fail(err, errlen,
                "empty fault (kinds: delay drop exception sf "
                "reset rollover len65 offline online clear)");
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(tok, kinds[i].name) == 0)
      f->kind = kinds[i].kind;
  if (!f->kind)
    return fail(err, errlen,
                "unknown fault \"%.32s\" (kinds: delay drop exception sf "
                "reset rollover len65 offline online clear)",
                tok);
  bool have_sf = false;
  while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
    char *eq = strchr(tok, '=');
    if (!eq)
      return fail(err, errlen, "expected key=value, got \"%.32s\"", tok);
    *eq = '\0';
    const char *k = tok, *v = eq + 1;
    int64_t x;
    if (strcmp(k, "household") == 0) {
      if (strcmp(v, "all") == 0)
        f->household = -1;
      else if (num(v, 0, SIM_MAX_HOUSEHOLDS - 1, &x))
        f->household = (int)x;
      else
        return fail(err, errlen, "household must be 0..%d or all",
                    SIM_MAX_HOUSEHOLDS - 1);
    } else if (strcmp(k, "device") == 0) {
      if (strcmp(v, "inverter") == 0)
        f->device = SIM_DEV_INVERTER;
      else if (strcmp(v, "battery") == 0)
        f->device = SIM_DEV_BATTERY;
      else if (strcmp(v, "meter") == 0)
        f->device = SIM_DEV_METER;
      else if (strcmp(v, "all") == 0)
        f->device = -1;
      else
        return fail(err, errlen,
                    "device must be inverter, battery, meter or all");
    } else if (strcmp(k, "count") == 0) {
      if (!num(v, 0, 1000000000, &x))
        return fail(err, errlen, "count must be 0..1000000000");
      f->count = (uint32_t)x;
    } else if (strcmp(k, "ms") == 0) {
      if (!num(v, 0, 3600000, &x))
        return fail(err, errlen, "ms must be 0..3600000");
      f->ms = (uint32_t)x;
    } else if (strcmp(k, "code") == 0) {
      if (!num(v, 1, 255, &x))
        return fail(err, errlen, "code must be a Modbus exception 1..255");
      f->code = (uint8_t)x;
    } else if (strcmp(k, "sf") == 0) {
      if (!num(v, -3, 3, &x))
        return fail(err, errlen, "sf must be -3..3");
      f->sf = (int)x;
      have_sf = true;
    } else if (strcmp(k, "energy_sf") == 0) {
      if (!num(v, -3, 3, &x))
        return fail(err, errlen, "energy_sf must be -3..3");
      f->energy_sf = (int)x;
    } else if (strcmp(k, "margin") == 0) {
      if (!num(v, 0, INT64_C(1) << 40, &x))
        return fail(err, errlen, "margin must be 0..2^40 Wh");
      f->margin = (uint64_t)x;
    } else if (strcmp(k, "value") == 0) {
      if (!num(v, 0, 1, &x))
        return fail(err, errlen, "value must be 0 or 1");
      f->value = (int)x;
    } else {
      return fail(err, errlen, "unknown key \"%.32s\"", k);
    }
  }
  if (f->kind == SIM_FAULT_SF && !have_sf)
    return fail(err, errlen, "sf needs sf=N (and optionally energy_sf=N)");
  if (f->kind == SIM_FAULT_DELAY && f->ms == 0)
    return fail(err, errlen, "delay needs ms=N");
  return 0;
}
