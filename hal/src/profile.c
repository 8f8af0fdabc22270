/* SPDX-License-Identifier: MIT */
/*
 * profile.c - the strict device profile parser. See gridlet/hal_profile.h
 * for the format. Profiles are outside data (an installer may write one),
 * so this parser is fuzzed (tests/fuzz/hal/fuzz_profile.c): any bytes give
 * either a valid profile or errors naming file:line, never a crash.
 */
#include "gridlet/hal_profile.h"

#include "gridlet/error.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/hal_transport.h"
#include "hal_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 512
#define FILE_MAX (64 * 1024)

/* ---- Quantities ---------------------------------------------------------- */

static const struct {
  const char *name;
  const char *unit;
  bool counter;
} qinfo[HAL_Q_COUNT] = {
    [HAL_Q_GRID_IMPORT_WH] = {"grid_import_energy", "Wh", true},
    [HAL_Q_GRID_EXPORT_WH] = {"grid_export_energy", "Wh", true},
    [HAL_Q_GRID_POWER_W] = {"grid_power", "W", false},
    [HAL_Q_PV_POWER_W] = {"pv_power", "W", false},
    [HAL_Q_PV_ENERGY_WH] = {"pv_energy", "Wh", true},
    [HAL_Q_BATTERY_POWER_W] = {"battery_power", "W", false},
    [HAL_Q_BATTERY_CHARGE_WH] = {"battery_charge_energy", "Wh", true},
    [HAL_Q_BATTERY_DISCHARGE_WH] = {"battery_discharge_energy", "Wh", true},
    [HAL_Q_BATTERY_SOC] = {"battery_soc", "0.01%", false},
};

const char *hal_qty_name(int q) {
  return q >= 0 && q < HAL_Q_COUNT ? qinfo[q].name : "?";
}

const char *hal_qty_unit(int q) {
  return q >= 0 && q < HAL_Q_COUNT ? qinfo[q].unit : "?";
}

bool hal_qty_is_counter(int q) {
  return q >= 0 && q < HAL_Q_COUNT && qinfo[q].counter;
}

int hal_qty_parse(const char *name) {
  for (int q = 0; name && q < HAL_Q_COUNT; q++)
    if (strcmp(qinfo[q].name, name) == 0)
      return q;
  return -1;
}

/* ---- Parser state -----------------------------------------------------------
 */

enum { SEC_NONE = -1, SEC_PROFILE = HAL_Q_COUNT, SEC_CONTROL, SEC_MAX };

/* Keys, as bits in a per-section "seen" mask. */
enum {
  K_NAME,
  K_DESCRIPTION,
  K_SOURCE,
  K_KIND,
  K_UNIT,
  K_MERGE_GAP,
  K_POINT,
  K_SUBDEVICE,
  K_REGISTER,
  K_TYPE,
  K_WORD_ORDER,
  K_NOT_IMPL,
  K_SCALE,
  K_SIGN,
  K_BATTERY,
  K_MAX
};

static const char *const key_names[K_MAX] = {
    "name",       "description",     "source",    "kind",     "unit",
    "merge_gap",  "point",           "subdevice", "register", "type",
    "word_order", "not_implemented", "scale",     "sign",     "battery",
};

typedef struct pstate {
  const char *fname;
  gl_conf_errors *errs;
  hal_profile *p;
  int line;
  int section;
  bool seen_section[SEC_MAX];
  uint32_t seen_keys[SEC_MAX];
  int key_line[SEC_MAX][K_MAX];
  int nerr;
  bool said_profile_first;
  int early_qty_line; /* a quantity section before kind was known */
} pstate;

static void err(pstate *s, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err(pstate *s, int line, const char *fmt, ...) {
  s->nerr++;
  if (!s->errs)
    return;
  int i = s->errs->count++;
  if (i >= GL_CONF_MAX_ERRORS)
    return;
  char *m = s->errs->msg[i];
  int off = snprintf(m, GL_CONF_ERROR_LEN, "%s:%d: ", s->fname, line);
  if (off < 0 || off >= GL_CONF_ERROR_LEN)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m + off, (size_t)(GL_CONF_ERROR_LEN - off), fmt, ap);
  va_end(ap);
}

/* ---- Small parsers --------------------------------------------------------
 */

static bool parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out) {
  int64_t x;
  if (gl_conf_parse_int(v, &x) != 0 || x < lo || x > hi)
    return false;
  *out = x;
  return true;
}

/* Decimal (optionally negative) or 0x hexadecimal, as raw 64 bits. */
static bool parse_raw(const char *v, uint64_t *out) {
  if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    const char *h = v + 2;
    size_t n = strlen(h);
    if (n == 0 || n > 16)
      return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
      char c = h[i];
      unsigned d;
      if (c >= '0' && c <= '9')
        d = (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = (unsigned)(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = (unsigned)(c - 'A' + 10);
      else
        return false;
      x = (x << 4) | d;
    }
    *out = x;
    return true;
  }
  int64_t x;
  if (gl_conf_parse_int(v, &x) == 0) {
    *out = (uint64_t)x;
    return true;
  }
  /* Unsigned values above INT64_MAX in decimal. */
  if (v[0] < '0' || v[0] > '9' || strlen(v) > 20)
    return false;
  uint64_t u = 0;
  for (const char *c = v; *c; c++) {
    if (*c < '0' || *c > '9')
      return false;
    unsigned d = (unsigned)(*c - '0');
    if (u > (UINT64_MAX - d) / 10)
      return false;
    u = u * 10 + d;
  }
  *out = u;
  return true;
}

static bool parse_addr(const char *v, uint16_t *out) {
  uint64_t x;
  if (v[0] == '-' || !parse_raw(v, &x) || x > 65535)
    return false;
  *out = (uint16_t)x;
  return true;
}

static bool numeric_type(int t) {
  switch (t) {
  case HAL_SS_INT16:
  case HAL_SS_UINT16:
  case HAL_SS_INT32:
  case HAL_SS_UINT32:
  case HAL_SS_INT64:
  case HAL_SS_UINT64:
  case HAL_SS_ACC16:
  case HAL_SS_ACC32:
  case HAL_SS_ACC64:
  case HAL_SS_FLOAT32:
  case HAL_SS_FLOAT64:
    return true;
  default:
    return false;
  }
}

static bool raw_type(int t) {
  switch (t) {
  case HAL_SS_INT16:
  case HAL_SS_UINT16:
  case HAL_SS_INT32:
  case HAL_SS_UINT32:
  case HAL_SS_INT64:
  case HAL_SS_UINT64:
  case HAL_SS_FLOAT32:
  case HAL_SS_FLOAT64:
    return true;
  default:
    return false;
  }
}

static bool name_ok(const char *v) {
  if (!*v)
    return false;
  for (const char *c = v; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
      return false;
  return true;
}

/* "203.TotWhImp" into *ref; false with a reason in why. */
static bool parse_point(const char *tok, hal_point_ref *ref, char *why,
                        size_t wlen) {
  const char *dot = strchr(tok, '.');
  if (!dot || dot == tok) {
    snprintf(why, wlen, "\"%s\" is not MODEL.POINT (e.g. 203.TotWhImp)", tok);
    return false;
  }
  char num[8];
  size_t nl = (size_t)(dot - tok);
  if (nl >= sizeof num) {
    snprintf(why, wlen, "bad model number in \"%s\"", tok);
    return false;
  }
  memcpy(num, tok, nl);
  num[nl] = '\0';
  int64_t id;
  if (!parse_i64(num, 1, 65534, &id)) {
    snprintf(why, wlen, "bad model number in \"%s\"", tok);
    return false;
  }
  const hal_ss_model *m = hal_ss_model_find((uint16_t)id);
  if (!m) {
    snprintf(why, wlen,
             "SunSpec model %lld is not supported (supported: 1, 101-103, "
             "111-113, 124, 160, 201-204, 211-213, 701, 802)",
             (long long)id);
    return false;
  }
  const char *pname = dot + 1;
  const hal_ss_point *pt = hal_ss_point_find(m, pname);
  if (!pt) {
    snprintf(why, wlen, "model %lld (%s) has no point \"%.24s\"", (long long)id,
             m->name, pname);
    return false;
  }
  if (!numeric_type(pt->type)) {
    snprintf(why, wlen, "%lld.%s is a %s, not a number", (long long)id,
             pt->name, hal_ss_type_name(pt->type));
    return false;
  }
  ref->model = (uint16_t)id;
  snprintf(ref->point, sizeof ref->point, "%s", pt->name);
  return true;
}

/* ---- Keys ---------------------------------------------------------------- */

static int key_index(const char *k) {
  for (int i = 0; i < K_MAX; i++)
    if (strcmp(key_names[i], k) == 0)
      return i;
  return -1;
}

static bool key_allowed(int section, int k) {
  if (section == SEC_PROFILE)
    return k >= K_NAME && k <= K_MERGE_GAP;
  if (section == SEC_CONTROL)
    return k == K_BATTERY;
  return k >= K_POINT && k <= K_SIGN;
}

static void set_text(char *dst, size_t size, const char *v, pstate *s,
                     const char *key) {
  size_t n = strlen(v);
  if (n >= size)
    err(s, s->line, "%s is too long (%zu bytes, at most %zu)", key, n,
        size - 1);
  snprintf(dst, size, "%s", v);
}

static void profile_key(pstate *s, int k, const char *v) {
  hal_profile *p = s->p;
  int64_t x;
  switch (k) {
  case K_NAME:
    if (!name_ok(v))
      err(s, s->line,
          "name \"%.64s\" may contain only letters, digits, '-', '_', '.'", v);
    set_text(p->name, sizeof p->name, v, s, "name");
    break;
  case K_DESCRIPTION:
    set_text(p->description, sizeof p->description, v, s, "description");
    break;
  case K_SOURCE:
    set_text(p->source, sizeof p->source, v, s, "source");
    break;
  case K_KIND:
    if (strcmp(v, "sunspec") == 0)
      p->kind = HAL_PROFILE_SUNSPEC;
    else if (strcmp(v, "registers") == 0)
      p->kind = HAL_PROFILE_REGISTERS;
    else
      err(s, s->line, "kind must be sunspec or registers, not \"%.32s\"", v);
    break;
  case K_UNIT:
    if (parse_i64(v, 1, 247, &x))
      p->unit = (uint8_t)x;
    else
      err(s, s->line, "unit must be a Modbus unit id 1..247, not \"%.32s\"", v);
    break;
  case K_MERGE_GAP:
    if (parse_i64(v, 0, 64, &x))
      p->merge_gap = (uint8_t)x;
    else
      err(s, s->line, "merge_gap must be 0..64, not \"%.32s\"", v);
    break;
  default:
    break;
  }
}

static void qty_key(pstate *s, int q, int k, char *v) {
  hal_qty_map *m = &s->p->q[q];
  int64_t x;
  char why[200];
  switch (k) {
  case K_POINT: {
    m->n_alts = 0;
    char *save = v;
    for (;;) {
      while (*save == ' ' || *save == '\t')
        save++;
      if (!*save)
        break;
      char *end = save;
      while (*end && *end != ' ' && *end != '\t')
        end++;
      char c = *end;
      *end = '\0';
      if (m->n_alts == HAL_PROFILE_ALTS) {
        err(s, s->line, "point: at most %d alternatives", HAL_PROFILE_ALTS);
        *end = c;
        break;
      }
      if (parse_point(save, &m->alts[m->n_alts], why, sizeof why))
        m->n_alts++;
      else
        err(s, s->line, "point: %s", why);
      *end = c;
      save = end;
    }
    if (m->n_alts == 0 && s->nerr == 0)
      err(s, s->line, "point: no MODEL.POINT given");
    break;
  }
  case K_SUBDEVICE:
    if (parse_i64(v, 1, 32, &x))
      m->subdevice = (uint8_t)x;
    else
      err(s, s->line, "subdevice must be 1..32, not \"%.32s\"", v);
    break;
  case K_REGISTER: {
    char *sp = strpbrk(v, " \t");
    if (!sp) {
      err(s, s->line,
          "register must be \"holding ADDRESS\" or \"input ADDRESS\", not "
          "\"%.32s\"",
          v);
      break;
    }
    *sp = '\0';
    char *a = sp + 1;
    while (*a == ' ' || *a == '\t')
      a++;
    if (strcmp(v, "holding") == 0)
      m->table = HAL_REG_HOLDING;
    else if (strcmp(v, "input") == 0)
      m->table = HAL_REG_INPUT;
    else
      err(s, s->line, "register table must be holding or input, not \"%.32s\"",
          v);
    if (!parse_addr(a, &m->addr))
      err(s, s->line,
          "register address \"%.32s\" must be 0..65535 (decimal or 0x hex, "
          "0-based)",
          a);
    break;
  }
  case K_TYPE: {
    int t = hal_ss_type_parse(v);
    if (t < 0 || !raw_type(t))
      err(s, s->line,
          "type must be int16, uint16, int32, uint32, int64, uint64, float32 "
          "or float64, not \"%.32s\"",
          v);
    else
      m->type = (uint8_t)t;
    break;
  }
  case K_WORD_ORDER:
    if (strcmp(v, "big") == 0)
      m->word_little = false;
    else if (strcmp(v, "little") == 0)
      m->word_little = true;
    else
      err(s, s->line, "word_order must be big or little, not \"%.32s\"", v);
    break;
  case K_NOT_IMPL:
    if (parse_raw(v, &m->nan))
      m->has_nan = true;
    else
      err(s, s->line, "not_implemented must be an integer, not \"%.32s\"", v);
    break;
  case K_SCALE:
    if (parse_i64(v, -10, 10, &x))
      m->scale = (int8_t)x;
    else
      err(s, s->line, "scale must be -10..10, not \"%.32s\"", v);
    break;
  case K_SIGN:
    if (strcmp(v, "1") == 0 || strcmp(v, "+1") == 0)
      m->sign = 1;
    else if (strcmp(v, "-1") == 0)
      m->sign = -1;
    else
      err(s, s->line, "sign must be 1 or -1, not \"%.32s\"", v);
    break;
  default:
    break;
  }
}

static void control_key(pstate *s, const char *v) {
  if (strcmp(v, "124") == 0)
    s->p->control_model = 124;
  else
    err(s, s->line,
        "battery: only SunSpec model 124 control is supported, not \"%.32s\"",
        v);
}

/* ---- Section checks --------------------------------------------------------
 */

static bool has(const pstate *s, int sec, int k) {
  return (s->seen_keys[sec] >> k) & 1u;
}

static void check_quantity(pstate *s, int q) {
  hal_qty_map *m = &s->p->q[q];
  int line = m->line;
  if (s->p->kind == HAL_PROFILE_SUNSPEC) {
    if (!has(s, q, K_POINT))
      err(s, line, "[%s]: point is required in a sunspec profile",
          hal_qty_name(q));
    for (int k = K_REGISTER; k <= K_NOT_IMPL; k++)
      if (has(s, q, k))
        err(s, s->key_line[q][k], "[%s]: %s belongs in a registers profile",
            hal_qty_name(q), key_names[k]);
  } else if (s->p->kind == HAL_PROFILE_REGISTERS) {
    if (!has(s, q, K_REGISTER))
      err(s, line, "[%s]: register is required in a registers profile",
          hal_qty_name(q));
    if (!has(s, q, K_TYPE))
      err(s, line, "[%s]: type is required in a registers profile",
          hal_qty_name(q));
    for (int k = K_POINT; k <= K_SUBDEVICE; k++)
      if (has(s, q, k))
        err(s, s->key_line[q][k], "[%s]: %s belongs in a sunspec profile",
            hal_qty_name(q), key_names[k]);
    if (has(s, q, K_WORD_ORDER) && m->word_little &&
        (m->type == HAL_SS_INT16 || m->type == HAL_SS_UINT16))
      err(s, s->key_line[q][K_WORD_ORDER],
          "[%s]: word_order means nothing for a 16-bit type", hal_qty_name(q));
    unsigned words = m->type == HAL_SS_INT16 || m->type == HAL_SS_UINT16 ? 1
                     : m->type == HAL_SS_INT32 || m->type == HAL_SS_UINT32 ||
                             m->type == HAL_SS_FLOAT32
                         ? 2
                         : 4;
    /* Register addresses end at 65535: a value must fit below, or the
     * device could never be asked for it. */
    if (has(s, q, K_REGISTER) && has(s, q, K_TYPE) &&
        (uint32_t)m->addr + words > 65536u)
      err(s, s->key_line[q][K_REGISTER],
          "[%s]: a %u-register value at address %u runs past 65535",
          hal_qty_name(q), words, (unsigned)m->addr);
    if (m->has_nan) {
      unsigned bits = 16u * words;
      if (bits < 64) {
        uint64_t mask = (UINT64_C(1) << bits) - 1;
        /* A negative decimal for a signed type: keep its low bits. */
        if ((m->nan & ~mask) != 0 && (m->nan | mask) != UINT64_MAX)
          err(s, s->key_line[q][K_NOT_IMPL],
              "[%s]: not_implemented does not fit in %u bits", hal_qty_name(q),
              bits);
        m->nan &= mask;
      }
    }
  }
  if (hal_qty_is_counter(q) && m->sign < 0)
    err(s, has(s, q, K_SIGN) ? s->key_line[q][K_SIGN] : line,
        "[%s]: a counter cannot have sign -1 (map the other counter "
        "instead)",
        hal_qty_name(q));
  m->mapped = true;
}

static void end_section(pstate *s) {
  if (s->section >= 0 && s->section < HAL_Q_COUNT && s->p->kind != 0)
    check_quantity(s, s->section);
}

static void begin_section(pstate *s, const char *name) {
  end_section(s);
  int sec;
  int q = hal_qty_parse(name);
  if (q >= 0)
    sec = q;
  else if (strcmp(name, "profile") == 0)
    sec = SEC_PROFILE;
  else if (strcmp(name, "control") == 0)
    sec = SEC_CONTROL;
  else {
    err(s, s->line,
        "unknown section [%.40s] (expected [profile], [control] or a "
        "quantity such as [grid_import_energy])",
        name);
    s->section = SEC_NONE - 1; /* swallow its keys silently */
    return;
  }
  if (s->seen_section[sec]) {
    err(s, s->line, "section [%s] appears twice", name);
    s->section = SEC_NONE - 1;
    return;
  }
  if (sec != SEC_PROFILE && !s->seen_section[SEC_PROFILE] &&
      !s->said_profile_first) {
    err(s, s->line, "the first section must be [profile]");
    s->said_profile_first = true;
  }
  if (q >= 0 && s->p->kind == 0 && !s->early_qty_line)
    s->early_qty_line = s->line; /* reported at the end if kind comes */
  s->seen_section[sec] = true;
  s->section = sec;
  if (q >= 0) {
    s->p->q[q].line = s->line;
    s->p->q[q].sign = 1;
  }
}

/* ---- Lines -----------------------------------------------------------------
 */

static char *trim(char *a) {
  while (*a == ' ' || *a == '\t')
    a++;
  size_t n = strlen(a);
  while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
    a[--n] = '\0';
  return a;
}

static void do_line(pstate *s, char *line) {
  /* Inline comments: " #" or " ;" (after a blank). */
  for (char *c = line; *c; c++) {
    if ((*c == '#' || *c == ';') &&
        (c == line || c[-1] == ' ' || c[-1] == '\t')) {
      *c = '\0';
      break;
    }
  }
  char *t = trim(line);
  if (!*t)
    return;
  if (*t == '[') {
    size_t n = strlen(t);
    if (t[n - 1] != ']') {
      err(s, s->line, "section header must end with ']'");
      s->section = SEC_NONE - 1;
      return;
    }
    t[n - 1] = '\0';
    begin_section(s, trim(t + 1));
    return;
  }
  char *eq = strchr(t, '=');
  if (!eq) {
    err(s, s->line, "expected \"key = value\" or \"[section]\"");
    return;
  }
  *eq = '\0';
  char *key = trim(t), *val = trim(eq + 1);
  if (s->section == SEC_NONE - 1)
    return; /* inside a rejected section: already reported */
  if (s->section == SEC_NONE) {
    err(s, s->line, "key \"%.40s\" before any [section]", key);
    return;
  }
  int k = key_index(key);
  if (k < 0 || !key_allowed(s->section, k)) {
    const char *sname = s->section == SEC_PROFILE   ? "profile"
                        : s->section == SEC_CONTROL ? "control"
                                                    : hal_qty_name(s->section);
    err(s, s->line, "unknown key \"%.40s\" in [%s]", key, sname);
    return;
  }
  if (has(s, s->section, k)) {
    err(s, s->line, "%s is given twice (first on line %d)", key_names[k],
        s->key_line[s->section][k]);
    return;
  }
  s->seen_keys[s->section] |= 1u << k;
  s->key_line[s->section][k] = s->line;
  if (!*val) {
    err(s, s->line, "%s has no value", key_names[k]);
    return;
  }
  if (s->section == SEC_PROFILE)
    profile_key(s, k, val);
  else if (s->section == SEC_CONTROL)
    control_key(s, val);
  else
    qty_key(s, s->section, k, val);
}

int hal_profile_parse(const char *name, const char *text, size_t len,
                      hal_profile *out, gl_conf_errors *errs) {
  if (!out || (!text && len))
    return GL_EINVAL;
  if (errs)
    errs->count = 0;
  memset(out, 0, sizeof *out);
  pstate s;
  memset(&s, 0, sizeof s);
  s.fname = name ? name : "profile";
  s.errs = errs;
  s.p = out;
  s.section = SEC_NONE;
  char buf[LINE_MAX_LEN + 2];
  size_t pos = 0;
  while (pos < len) {
    s.line++;
    size_t start = pos, n = 0;
    bool bad = false, toolong = false;
    while (pos < len && text[pos] != '\n') {
      unsigned char c = (unsigned char)text[pos];
      if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
        bad = true;
      if (n < LINE_MAX_LEN + 1)
        buf[n++] = (char)c;
      else
        toolong = true;
      pos++;
    }
    if (pos < len)
      pos++; /* the newline */
    (void)start;
    if (n > 0 && buf[n - 1] == '\r')
      n--;
    if (toolong || n > LINE_MAX_LEN) {
      err(&s, s.line, "line longer than %d bytes", LINE_MAX_LEN);
      continue;
    }
    buf[n] = '\0';
    if (bad || memchr(buf, '\r', n)) {
      err(&s, s.line, "control character in line");
      continue;
    }
    do_line(&s, buf);
  }
  end_section(&s);
  if (!s.seen_section[SEC_PROFILE]) {
    if (!s.said_profile_first)
      err(&s, s.line > 0 ? s.line : 1, "missing [profile] section");
  } else {
    if (!has(&s, SEC_PROFILE, K_NAME))
      err(&s, 1, "[profile]: name is required");
    if (!has(&s, SEC_PROFILE, K_KIND))
      err(&s, 1, "[profile]: kind is required (sunspec or registers)");
    else if (s.early_qty_line)
      err(&s, s.early_qty_line,
          "set kind in [profile] before the quantity sections");
    if (out->kind == HAL_PROFILE_REGISTERS && !has(&s, SEC_PROFILE, K_SOURCE))
      err(&s, 1,
          "[profile]: source is required for a registers profile (name the "
          "vendor document the register list comes from)");
    if (out->kind == HAL_PROFILE_REGISTERS && out->control_model)
      err(&s, s.key_line[SEC_CONTROL][K_BATTERY],
          "[control]: battery control needs a sunspec profile");
    bool any = false;
    for (int q = 0; q < HAL_Q_COUNT; q++)
      any |= out->q[q].mapped;
    if (!any && s.nerr == 0)
      err(&s, s.line, "the profile maps no quantity");
  }
  return s.nerr ? GL_ECONFIG : 0;
}

int hal_profile_load(const char *path, hal_profile *out, gl_conf_errors *errs) {
  if (!path || !out)
    return GL_EINVAL;
  if (errs)
    errs->count = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    if (errs) {
      snprintf(errs->msg[0], GL_CONF_ERROR_LEN, "%s: %s", path, strerror(e));
      errs->count = 1;
    }
    return e == ENOENT ? GL_ENOENT : GL_EIO;
  }
  /* Profiles are read at start-up; one temporary buffer is fine there. */
  char *buf = malloc(FILE_MAX + 1);
  if (!buf) {
    fclose(f);
    return GL_ENOMEM;
  }
  size_t n = fread(buf, 1, FILE_MAX + 1, f);
  bool ioerr = ferror(f) != 0;
  fclose(f);
  int rc;
  if (ioerr) {
    if (errs) {
      snprintf(errs->msg[0], GL_CONF_ERROR_LEN, "%s: read error", path);
      errs->count = 1;
    }
    rc = GL_EIO;
  } else if (n > FILE_MAX) {
    if (errs) {
      snprintf(errs->msg[0], GL_CONF_ERROR_LEN,
               "%s: larger than %d bytes; not a profile", path, FILE_MAX);
      errs->count = 1;
    }
    rc = GL_ETOOBIG;
  } else {
    rc = hal_profile_parse(path, buf, n, out, errs);
  }
  free(buf);
  return rc;
}
