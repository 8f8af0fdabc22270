/* SPDX-License-Identifier: MIT */
/*
 * conf.c - table-driven INI loading. See gridlet/conf.h.
 *
 * inih does the tokenising; we feed it through our own line reader so that
 * we know the line number of every key (Debian's inih is built without
 * INI_HANDLER_LINENO) and can reject, with the right line, the lines inih
 * would silently reinterpret: continuation lines, over-long lines (inih
 * would split them) and lines without a separator.
 */
#include "gridlet/conf.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CONF_MAX_FILE (1024 * 1024)

/* ---- Value parsing ----------------------------------------------------- */

int gl_conf_parse_int(const char *text, int64_t *out) {
  if (!text || !*text)
    return GL_EPARSE;
  const char *p = text;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (!isdigit((unsigned char)*p))
    return GL_EPARSE;
  uint64_t v = 0;
  const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; isdigit((unsigned char)*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > (limit - d) / 10)
      return GL_ERANGE;
    v = v * 10 + d;
  }
  if (*p)
    return GL_EPARSE;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

int gl_conf_parse_decimal(const char *text, int scale, int64_t *out) {
  if (!text || !*text || scale < 0 || scale > 9)
    return GL_EPARSE;
  const char *p = text;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (!isdigit((unsigned char)*p) &&
      !(*p == '.' && isdigit((unsigned char)p[1])))
    return GL_EPARSE;
  int64_t whole = 0;
  for (; isdigit((unsigned char)*p); p++) {
    int d = *p - '0';
    if (whole > (INT64_MAX - d) / 10)
      return GL_ERANGE;
    whole = whole * 10 + d;
  }
  int64_t frac = 0;
  int nfrac = 0;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return GL_EPARSE;
    for (; isdigit((unsigned char)*p); p++) {
      if (nfrac == scale)
        return GL_ERANGE; /* more precision than the setting holds */
      frac = frac * 10 + (*p - '0');
      nfrac++;
    }
  }
  if (*p)
    return GL_EPARSE;
  int64_t mul = 1;
  for (int i = 0; i < scale; i++)
    mul *= 10;
  for (; nfrac < scale; nfrac++)
    frac *= 10;
  if (whole > (INT64_MAX - frac) / mul)
    return GL_ERANGE;
  int64_t v = whole * mul + frac;
  *out = neg ? -v : v;
  return 0;
}

static int parse_bool(const char *text, bool *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(text, yes[i]) == 0) {
      *out = true;
      return 0;
    }
    if (strcasecmp(text, no[i]) == 0) {
      *out = false;
      return 0;
    }
  }
  return GL_EPARSE;
}

static void format_scaled(int64_t v, int scale, char *buf, size_t size) {
  if (scale == 0) {
    snprintf(buf, size, "%" PRId64, v);
    return;
  }
  int64_t mul = 1;
  for (int i = 0; i < scale; i++)
    mul *= 10;
  uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  snprintf(buf, size, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "",
           a / (uint64_t)mul, scale, a % (uint64_t)mul);
}

/* Describe the bounds of an item in the user's units, for messages. */
static void format_bound(const gl_conf_item *it, int64_t v, char *buf,
                         size_t size) {
  switch (it->type) {
  case GL_CONF_DURATION:
    gl_duration_format(v, buf, size);
    break;
  case GL_CONF_DECIMAL:
    format_scaled(v, it->scale, buf, size);
    break;
  default:
    snprintf(buf, size, "%" PRId64, v);
  }
}

/* Checks that apply to every type, before parsing. */
static int check_value(const gl_conf_item *it, const char *value, char *why,
                       size_t whylen) {
  /* inih strips an inline comment only after " ;". A " #" inside a value
   * is almost always meant as a comment; say so rather than keep it. */
  const char *hash = strstr(value, " #");
  if (!hash)
    hash = strstr(value, "\t#");
  if (hash) {
    snprintf(why, whylen,
             "'#' after a value is not a comment (inline comments start "
             "with \" ;\"; '#' only at the start of a line)");
    return GL_ECONFIG;
  }
  if (it->required && (value[0] == '\0' || strcmp(value, "\"\"") == 0)) {
    snprintf(why, whylen, "required setting is empty");
    return GL_ECONFIG;
  }
  return 0;
}

/* Parse `value` for `it` and store it in dst. On failure writes a reason
 * (without location) into `why`. */
static int store_value(const gl_conf_item *it, void *dst, const char *value,
                       char *why, size_t whylen) {
  char *field = (char *)dst + it->offset;
  int64_t v = 0;
  int rc = 0;
  bool ranged = !(it->min == 0 && it->max == 0);
  switch (it->type) {
  case GL_CONF_STRING: {
    size_t len = strlen(value);
    /* A value wrapped in double quotes loses them. */
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
      value++;
      len -= 2;
    }
    if (memchr(value, '"', len)) {
      snprintf(why, whylen, "stray double quote in \"%s\"", value);
      return GL_ECONFIG;
    }
    for (size_t i = 0; i < len; i++) {
      if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
        snprintf(why, whylen, "control character (0x%02x) in the value",
                 (unsigned char)value[i]);
        return GL_ECONFIG;
      }
    }
    if (len + 1 > it->size) {
      snprintf(why, whylen, "value is %zu characters long, at most %zu allowed",
               len, it->size - 1);
      return GL_ECONFIG;
    }
    if (ranged && ((int64_t)len < it->min || (int64_t)len > it->max)) {
      snprintf(why, whylen, "length %zu is out of range %" PRId64 "..%" PRId64,
               len, it->min, it->max);
      return GL_ECONFIG;
    }
    memcpy(field, value, len);
    field[len] = '\0';
    return 0;
  }
  case GL_CONF_BOOL: {
    bool b;
    if (parse_bool(value, &b)) {
      snprintf(why, whylen,
               "\"%s\" is not a boolean (true/false, yes/no, on/off, 1/0)",
               value);
      return GL_ECONFIG;
    }
    memcpy(field, &b, sizeof b);
    return 0;
  }
  case GL_CONF_ENUM: {
    for (int i = 0; it->choices && it->choices[i]; i++) {
      if (strcmp(value, it->choices[i]) == 0) {
        memcpy(field, &i, sizeof i);
        return 0;
      }
    }
    size_t off = (size_t)snprintf(why, whylen, "\"%s\" is not one of:", value);
    for (int i = 0; it->choices && it->choices[i] && off < whylen; i++)
      off += (size_t)snprintf(why + off, whylen - off, " %s", it->choices[i]);
    return GL_ECONFIG;
  }
  case GL_CONF_INT:
    rc = gl_conf_parse_int(value, &v);
    if (rc == GL_EPARSE)
      snprintf(why, whylen, "\"%s\" is not an integer", value);
    break;
  case GL_CONF_DURATION:
    rc = gl_duration_parse(value, &v);
    if (rc == GL_EPARSE)
      snprintf(
          why, whylen,
          "\"%s\" is not a duration (a number and a unit: 500ms, 5s, 15m, 1h)",
          value);
    break;
  case GL_CONF_DECIMAL:
    rc = gl_conf_parse_decimal(value, it->scale, &v);
    if (rc == GL_EPARSE)
      snprintf(why, whylen, "\"%s\" is not a decimal number", value);
    else if (rc == GL_ERANGE)
      snprintf(why, whylen,
               "\"%s\" is too large or has more than %d digits after the point",
               value, it->scale);
    break;
  }
  if (rc == GL_ERANGE && it->type != GL_CONF_DECIMAL)
    snprintf(why, whylen, "\"%s\" is out of range", value);
  if (rc)
    return GL_ECONFIG;
  if (ranged && (v < it->min || v > it->max)) {
    char lo[48], hi[48];
    format_bound(it, it->min, lo, sizeof lo);
    format_bound(it, it->max, hi, sizeof hi);
    snprintf(why, whylen, "%s is out of range %s..%s", value, lo, hi);
    return GL_ECONFIG;
  }
  memcpy(field, &v, sizeof v);
  return 0;
}

static void set_zero(const gl_conf_item *it, void *dst) {
  char *field = (char *)dst + it->offset;
  switch (it->type) {
  case GL_CONF_STRING:
    field[0] = '\0';
    break;
  case GL_CONF_BOOL:
    memset(field, 0, sizeof(bool));
    break;
  case GL_CONF_ENUM:
    memset(field, 0, sizeof(int));
    break;
  default:
    memset(field, 0, sizeof(int64_t));
  }
}

int gl_conf_defaults(const gl_conf_item *items, size_t n, void *dst) {
  int result = 0;
  for (size_t i = 0; i < n; i++) {
    const gl_conf_item *it = &items[i];
    set_zero(it, dst);
    if (!it->def)
      continue;
    char why[GL_CONF_ERROR_LEN];
    if (store_value(it, dst, it->def, why, sizeof why)) {
      GL_ERROR("conf", "invalid built-in default for %s.%s: %s", it->section,
               it->name, why);
      result = GL_ECONFIG;
    }
  }
  return result;
}

/* ---- Loading ----------------------------------------------------------- */

typedef struct load_ctx {
  const gl_conf_item *items;
  size_t n;
  void *dst;
  const char *name;
  gl_conf_errors *errs;
  int *set_line;        /* per item: line where it was set, 0 if not */
  char bad_section[64]; /* unknown section already reported at its header */
  /* the reader */
  const char *p, *end;
  int line;
  int error_count;
} load_ctx;

static void add_error(load_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(load_ctx *c, int line, const char *fmt, ...) {
  c->error_count++;
  if (!c->errs)
    return;
  int k = c->errs->count++;
  if (k >= GL_CONF_MAX_ERRORS)
    return;
  char *m = c->errs->msg[k];
  int off = line > 0 ? snprintf(m, GL_CONF_ERROR_LEN, "%s:%d: ", c->name, line)
                     : snprintf(m, GL_CONF_ERROR_LEN, "%s: ", c->name);
  if (off < 0 || off >= GL_CONF_ERROR_LEN)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m + off, (size_t)(GL_CONF_ERROR_LEN - off), fmt, ap);
  va_end(ap);
}

static const char *key_name(const char *section, const char *name, char *buf,
                            size_t size) {
  if (section && *section)
    snprintf(buf, size, "%s.%s", section, name);
  else
    snprintf(buf, size, "%s", name);
  return buf;
}

/* The line reader inih calls: hands it one line at a time, counting lines
 * and replacing lines we reject (after recording why) by an empty line. */
static char *reader(char *str, int num, void *stream) {
  load_ctx *c = stream;
  if (c->p >= c->end)
    return NULL;
  const char *start = c->p;
  const char *nl = memchr(start, '\n', (size_t)(c->end - start));
  const char *stop = nl ? nl : c->end;
  c->p = nl ? nl + 1 : c->end;
  c->line++;

  size_t len = (size_t)(stop - start);
  if (len > 0 && start[len - 1] == '\r')
    len--;
  /* The UTF-8 byte order mark some editors write. */
  if (c->line == 1 && len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
    start += 3;
    len -= 3;
  }
  str[0] = '\n';
  str[1] = '\0';
  if (memchr(start, '\0', len)) {
    add_error(c, c->line, "NUL byte in line");
    return str;
  }
  if (len + 2 > (size_t)num) {
    add_error(c, c->line, "line is %zu bytes long, at most %d allowed", len,
              num - 2);
    return str;
  }
  const char *s = start;
  const char *e = start + len;
  while (s < e && isspace((unsigned char)*s))
    s++;
  if (s == e || *s == ';' || *s == '#') {
    /* blank or comment: pass through as blank */
  } else if (s != start) {
    add_error(c, c->line,
              "line starts with whitespace (continuation lines are not "
              "supported; write the value on one line)");
    return str;
  } else if (*s == '[') {
    const char *close = memchr(s, ']', (size_t)(e - s));
    if (!close) {
      add_error(c, c->line, "section header without closing ']'");
      return str;
    }
    for (const char *q = close + 1; q < e; q++) {
      if (*q == ';' || *q == '#')
        break;
      if (!isspace((unsigned char)*q)) {
        add_error(c, c->line, "text after section header");
        return str;
      }
    }
    /* An unknown section is an error at its header, even with no keys
     * under it (a misspelt [section] would otherwise hide silently). */
    char name[64];
    const char *n0 = s + 1, *n1 = close;
    while (n0 < n1 && isspace((unsigned char)*n0))
      n0++;
    while (n1 > n0 && isspace((unsigned char)n1[-1]))
      n1--;
    size_t nlen = (size_t)(n1 - n0);
    bool known = false;
    if (nlen < sizeof name) {
      memcpy(name, n0, nlen);
      name[nlen] = '\0';
      for (size_t i = 0; i < c->n && !known; i++)
        known = strcmp(c->items[i].section, name) == 0;
    }
    if (!known) {
      add_error(c, c->line, "unknown section [%.*s]",
                (int)(nlen > 60 ? 60 : nlen), n0);
      snprintf(c->bad_section, sizeof c->bad_section, "%.*s",
               (int)(nlen < sizeof name ? nlen : 0), n0);
    }
  } else {
    /* The line is not NUL-terminated here: scan within [s, e). */
    const char *sep = s;
    while (sep < e && *sep != '=' && *sep != ':')
      sep++;
    if (sep == e) {
      add_error(c, c->line, "expected \"key = value\" or \"[section]\"");
      return str;
    }
    if (sep == s) {
      add_error(c, c->line, "missing key name before '%c'", s[0]);
      return str;
    }
  }
  memcpy(str, start, len);
  str[len] = '\n';
  str[len + 1] = '\0';
  return str;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value) {
  load_ctx *c = user;
  char key[160];
  key_name(section, name, key, sizeof key);
  size_t i;
  bool section_known = false;
  for (i = 0; i < c->n; i++) {
    if (strcmp(c->items[i].section, section) == 0) {
      section_known = true;
      if (strcmp(c->items[i].name, name) == 0)
        break;
    }
  }
  if (i == c->n) {
    /* Keys of an unknown section: its header was reported already. */
    if (!section_known && *section && strcmp(section, c->bad_section) == 0)
      return 1;
    if (!section_known && *section)
      add_error(c, c->line, "%s: unknown section [%s]", key, section);
    else
      add_error(c, c->line, "%s: unknown key", key);
    return 1; /* keep going: report every error in one pass */
  }
  if (c->set_line[i]) {
    add_error(c, c->line, "%s: set twice (first on line %d)", key,
              c->set_line[i]);
    return 1;
  }
  c->set_line[i] = c->line;
  char why[GL_CONF_ERROR_LEN];
  if (check_value(&c->items[i], value, why, sizeof why) ||
      store_value(&c->items[i], c->dst, value, why, sizeof why))
    add_error(c, c->line, "%s: %s", key, why);
  return 1;
}

int gl_conf_load_buffer(const gl_conf_item *items, size_t n, void *dst,
                        const char *name, const char *text, size_t len,
                        gl_conf_errors *errs) {
  if (errs)
    errs->count = 0;
  if (gl_conf_defaults(items, n, dst))
    return GL_ECONFIG;
  load_ctx c = {.items = items,
                .n = n,
                .dst = dst,
                .name = name ? name : "(config)",
                .errs = errs,
                .p = text,
                .end = text + len};
  c.set_line = calloc(n ? n : 1, sizeof *c.set_line);
  if (!c.set_line)
    return GL_ENOMEM;
  int rc = ini_parse_stream(reader, &c, handler, &c);
  if (rc > 0 && c.error_count == 0) {
    /* Our reader screens every syntax error inih knows of; should inih
     * still object, report it rather than accept the file. */
    add_error(&c, rc, "malformed line");
  } else if (rc < 0) {
    add_error(&c, 0, "parser failed (%d)", rc);
  }
  for (size_t i = 0; i < n; i++) {
    if (items[i].required && !c.set_line[i]) {
      char key[160];
      add_error(&c, 0, "%s: required setting is missing",
                key_name(items[i].section, items[i].name, key, sizeof key));
    }
  }
  free(c.set_line);
  return c.error_count ? GL_ECONFIG : 0;
}

int gl_conf_load_file(const gl_conf_item *items, size_t n, void *dst,
                      const char *path, gl_conf_errors *errs) {
  if (errs)
    errs->count = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    GL_ERROR("conf", "cannot open %s: %s", path, strerror(e));
    return e == ENOENT ? GL_ENOENT : GL_EIO;
  }
  char *buf = malloc(CONF_MAX_FILE + 1);
  if (!buf) {
    fclose(f);
    return GL_ENOMEM;
  }
  size_t len = fread(buf, 1, CONF_MAX_FILE + 1, f);
  int read_error = ferror(f);
  fclose(f);
  int rc;
  if (read_error) {
    GL_ERROR("conf", "cannot read %s", path);
    rc = GL_EIO;
  } else if (len > CONF_MAX_FILE) {
    GL_ERROR("conf", "%s is larger than %d bytes", path, CONF_MAX_FILE);
    rc = GL_ETOOBIG;
  } else {
    rc = gl_conf_load_buffer(items, n, dst, path, buf, len, errs);
  }
  free(buf);
  return rc;
}

int gl_conf_set(const gl_conf_item *items, size_t n, void *dst,
                const char *assignment, char *err, size_t errlen) {
  const char *eq = strchr(assignment, '=');
  if (!eq) {
    snprintf(err, errlen, "\"%s\": expected section.key=value", assignment);
    return GL_ECONFIG;
  }
  char key[160];
  size_t klen = (size_t)(eq - assignment);
  if (klen == 0 || klen >= sizeof key) {
    snprintf(err, errlen, "\"%s\": bad key", assignment);
    return GL_ECONFIG;
  }
  memcpy(key, assignment, klen);
  key[klen] = '\0';
  const char *dot = strrchr(key, '.');
  const char *section = "", *name = key;
  if (dot) {
    key[dot - key] = '\0';
    section = key;
    name = dot + 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (strcmp(items[i].section, section) || strcmp(items[i].name, name))
      continue;
    char why[GL_CONF_ERROR_LEN];
    if (check_value(&items[i], eq + 1, why, sizeof why) ||
        store_value(&items[i], dst, eq + 1, why, sizeof why)) {
      snprintf(err, errlen, "%.*s: %s", (int)klen, assignment, why);
      return GL_ECONFIG;
    }
    return 0;
  }
  snprintf(err, errlen, "%.*s: unknown key", (int)klen, assignment);
  return GL_ECONFIG;
}

void gl_conf_log_errors(const gl_conf_errors *errs, const char *component) {
  int kept =
      errs->count < GL_CONF_MAX_ERRORS ? errs->count : GL_CONF_MAX_ERRORS;
  for (int i = 0; i < kept; i++)
    GL_ERROR(component, "%s", errs->msg[i]);
  if (errs->count > kept)
    GL_ERROR(component, "... and %d more configuration errors",
             errs->count - kept);
}

int gl_conf_write_defaults(const gl_conf_item *items, size_t n, FILE *out) {
  const char *section = NULL;
  for (size_t i = 0; i < n; i++) {
    const gl_conf_item *it = &items[i];
    if (!section || strcmp(section, it->section) != 0) {
      section = it->section;
      if (*section)
        fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
    }
    if (it->help)
      fprintf(out, "; %s\n", it->help);
    if (it->type == GL_CONF_ENUM && it->choices) {
      fprintf(out, "; one of:");
      for (int k = 0; it->choices[k]; k++)
        fprintf(out, " %s", it->choices[k]);
      fprintf(out, "\n");
    } else if (!(it->min == 0 && it->max == 0) && it->type != GL_CONF_STRING) {
      char lo[48], hi[48];
      format_bound(it, it->min, lo, sizeof lo);
      format_bound(it, it->max, hi, sizeof hi);
      fprintf(out, "; range: %s..%s\n", lo, hi);
    }
    if (it->required)
      fprintf(out, "%s = \n", it->name);
    else
      fprintf(out, ";%s = %s\n", it->name, it->def ? it->def : "");
  }
  return ferror(out) ? GL_EIO : 0;
}
