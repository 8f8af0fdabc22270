/* SPDX-License-Identifier: MIT */
/*
 * jcodec.c - the descriptor-driven JSON engine behind pr_msg (see
 * jcodec.h). Three walks over the same tables:
 *   decode    JSON value -> C struct: JSON types, shapes, presence;
 *   validate  C struct: ranges, formats, cross-field rules (run after
 *             decode and before encode, so both sides apply one rule set);
 *   encode    C struct -> JSON value, fields in table order.
 */
#include "jcodec.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/pr_ident.h"
#include "gridlet/pr_msg.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_ 96

_Static_assert(sizeof(pr_side) == sizeof(int), "enums are int-sized");
_Static_assert(sizeof(pr_proof_status) == sizeof(int), "enums are int-sized");

/* ---- Field access ------------------------------------------------------ */

static int64_t *i64_at(void *base, size_t off) {
  return (int64_t *)((char *)base + off);
}
static int64_t i64_get(const void *base, size_t off) {
  return *(const int64_t *)((const char *)base + off);
}
static int int_get(const void *base, size_t off) {
  return *(const int *)((const char *)base + off);
}
static size_t size_get(const void *base, size_t off) {
  return *(const size_t *)((const char *)base + off);
}
/* Optional numbers, times and objects record their presence in a bool. */
static bool uses_has(const jfield *f) {
  return f->presence == J_OPT &&
         (f->kind == JK_INT || f->kind == JK_TIME || f->kind == JK_OBJECT);
}
static bool has_get(const jfield *f, const void *base) {
  return *(const bool *)((const char *)base + f->has_off);
}
static void has_set(const jfield *f, void *base) {
  if (uses_has(f))
    *(bool *)((char *)base + f->has_off) = true;
}
static const char *str_get(const void *base, size_t off) {
  return (const char *)base + off;
}

/* Capacity in characters of a string field (without the NUL). */
static size_t str_cap(const jfield *f) {
  if (f->kind == JK_SENDER || f->kind == JK_METER)
    return PR_ID_MAX;
  return (size_t)f->max;
}

static bool cond_active(const jfield *f, const void *base) {
  return f->cond_value == 0 || int_get(base, f->cond_off) == f->cond_value;
}

/* "kind is \"inclusion\"" for messages about conditional fields. */
static void cond_text(const jschema *s, const jfield *f, char *out,
                      size_t cap) {
  for (size_t i = 0; i < s->nfields; i++) {
    const jfield *c = &s->fields[i];
    if (c->off == f->cond_off && c->kind == JK_ENUM && f->cond_value > 0 &&
        (size_t)f->cond_value < c->nnames) {
      snprintf(out, cap, "%s is \"%s\"", c->name, c->names[f->cond_value]);
      return;
    }
  }
  snprintf(out, cap, "its condition holds");
}

/* "parent.name" (or "name" at the top), truncated to fit. This runs for
 * every field decoded, so it copies rather than formats. */
static void child_path(char out[PATH_MAX_], const char *path,
                       const char *name) {
  size_t n = strnlen(path, PATH_MAX_ - 1);
  memcpy(out, path, n);
  if (n > 0 && n < PATH_MAX_ - 1)
    out[n++] = '.';
  size_t m = strnlen(name, PATH_MAX_ - 1 - n);
  memcpy(out + n, name, m);
  out[n + m] = '\0';
}

static void index_path(char out[PATH_MAX_], const char *path, size_t i) {
  /* Keep room for "[<20 digits>]" so the index is never cut off. */
  size_t n = strnlen(path, PATH_MAX_ - 24);
  memcpy(out, path, n);
  snprintf(out + n, 24, "[%zu]", i);
}

const char *pr__jsafe(const char *text, char out[40]) {
  size_t i = 0;
  for (; text[i] != '\0' && i < 32; i++) {
    unsigned char c = (unsigned char)text[i];
    out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
  }
  if (text[i] != '\0') {
    memcpy(out + i, "...", 3);
    i += 3;
  }
  out[i] = '\0';
  return out;
}

static const char *json_kind_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a real number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

static int type_error(pr_diag *d, const char *path, const char *want,
                      const json_t *got) {
  return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "%s: expected %s, got %s",
                     path, want, json_kind_name(got));
}

/* ---- Text formats ------------------------------------------------------ */

static bool token_valid(const char *s, size_t cap) {
  size_t n = strlen(s);
  if (n == 0 || n > cap)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
          c == '-'))
      return false;
  }
  return true;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

/*
 * A signed note's shape (C2SP signed-note): UTF-8 text without control
 * characters other than newline, a non-empty body, a blank line, and a
 * final newline. Returns NULL or what is wrong.
 */
static const char *note_problem(const char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return "must not be empty";
  if (!utf8_valid((const unsigned char *)s, n))
    return "is not valid UTF-8";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\n') || c == 0x7f)
      return "contains a control character other than newline";
  }
  if (s[n - 1] != '\n')
    return "must end with a newline";
  if (s[0] == '\n' || strstr(s, "\n\n") == NULL)
    return "must have a body, a blank line and signature lines";
  return NULL;
}

static int parse_time(const char *path, const json_t *v, int64_t *out,
                      pr_diag *d) {
  if (!json_is_string(v))
    return type_error(d, path, "an RFC 3339 time string", v);
  const char *s = json_string_value(v);
  char safe[40];
  int64_t ns;
  /* gl_time_parse checks digits, separators and calendar ranges; length
   * 20 with 'T' and 'Z' in place leaves no room for a fraction, an offset
   * or lower case, so what passes is the one canonical spelling. */
  if (json_string_length(v) != 20 || s[10] != 'T' || s[19] != 'Z' ||
      gl_time_parse(s, &ns) != 0)
    return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                       "%s: \"%s\" is not a UTC time of the form "
                       "YYYY-MM-DDTHH:MM:SSZ",
                       path, pr__jsafe(s, safe));
  *out = ns;
  return 0;
}

static int enum_lookup(const jfield *f, const char *path, const json_t *v,
                       int *out, pr_diag *d) {
  if (!json_is_string(v))
    return type_error(d, path, "a string", v);
  const char *s = json_string_value(v);
  for (size_t i = 1; i < f->nnames; i++) {
    if (f->names[i] != NULL && strcmp(s, f->names[i]) == 0) {
      *out = (int)i;
      return 0;
    }
  }
  char list[160] = "", safe[40];
  size_t pos = 0;
  for (size_t i = (f->kind == JK_ENUM ? 1 : 0); i < f->nnames; i++) {
    int n = snprintf(list + pos, sizeof list - pos, "%s%s", pos ? ", " : "",
                     f->names[i]);
    if (n < 0 || (size_t)n >= sizeof list - pos)
      break;
    pos += (size_t)n;
  }
  return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                     "%s: unknown value \"%s\" (expected one of: %s)", path,
                     pr__jsafe(s, safe), list);
}

/* ---- Decode ------------------------------------------------------------ */

static int decode_value(const jfield *f, const json_t *v, void *base,
                        const char *path, pr_diag *d) {
  int rc;
  switch (f->kind) {
  case JK_INT:
    if (!json_is_integer(v))
      return type_error(d, path, "an integer", v);
    *i64_at(base, f->off) = (int64_t)json_integer_value(v);
    break;
  case JK_TIME:
    if ((rc = parse_time(path, v, i64_at(base, f->off), d)) != 0)
      return rc;
    break;
  case JK_SENDER:
  case JK_METER:
  case JK_TOKEN:
  case JK_NOTE: {
    if (!json_is_string(v))
      return type_error(d, path, "a string", v);
    size_t n = json_string_length(v), cap = str_cap(f);
    if (n > cap)
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: string of %zu bytes exceeds the limit of %zu",
                         path, n, cap);
    char *dst = (char *)base + f->off;
    memcpy(dst, json_string_value(v), n);
    dst[n] = '\0';
    break;
  }
  case JK_ENUM: {
    int e;
    if ((rc = enum_lookup(f, path, v, &e, d)) != 0)
      return rc;
    *(int *)((char *)base + f->off) = e;
    break;
  }
  case JK_FLAGS: {
    if (!json_is_array(v))
      return type_error(d, path, "an array of flag names", v);
    uint32_t flags = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
      char ip[PATH_MAX_];
      index_path(ip, path, i);
      int bit;
      /* names[] of a flag field is indexed by bit, starting at 0. */
      const json_t *e = json_array_get(v, i);
      if (!json_is_string(e))
        return type_error(d, ip, "a flag name", e);
      bit = -1;
      for (size_t k = 0; k < f->nnames; k++)
        if (strcmp(json_string_value(e), f->names[k]) == 0)
          bit = (int)k;
      if (bit < 0)
        return enum_lookup(f, ip, e, &bit, d);
      if (flags & (1u << bit))
        return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                           "%s: flag \"%s\" repeated", ip, f->names[bit]);
      flags |= 1u << bit;
    }
    *(uint32_t *)((char *)base + f->off) = flags;
    break;
  }
  case JK_BYTES: {
    if (!json_is_string(v))
      return type_error(d, path, "a base64 string", v);
    size_t n;
    if (json_string_length(v) == 0)
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: must not be empty (omit the field instead)",
                         path);
    rc = gl_base64_decode(json_string_value(v), json_string_length(v),
                          (uint8_t *)base + f->off, (size_t)f->max, &n);
    if (rc == GL_ETOOBIG)
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: more than %" PRId64 " bytes", path, f->max);
    if (rc != 0)
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: not canonical padded base64", path);
    *(size_t *)((char *)base + f->count_off) = n;
    break;
  }
  case JK_HASHES:
  case JK_INTS:
  case JK_OBJECTS: {
    if (!json_is_array(v))
      return type_error(d, path, "an array", v);
    size_t n = json_array_size(v);
    if (n > (size_t)f->max)
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: %zu elements exceed the limit of %" PRId64, path,
                         n, f->max);
    for (size_t i = 0; i < n; i++) {
      const json_t *e = json_array_get(v, i);
      char ip[PATH_MAX_];
      index_path(ip, path, i);
      if (f->kind == JK_INTS) {
        if (!json_is_integer(e))
          return type_error(d, ip, "an integer", e);
        *i64_at(base, f->off + i * sizeof(int64_t)) =
            (int64_t)json_integer_value(e);
      } else if (f->kind == JK_HASHES) {
        if (!json_is_string(e))
          return type_error(d, ip, "a base64 string", e);
        uint8_t *dst = (uint8_t *)base + f->off + i * PR_HASH_LEN;
        size_t got;
        if (gl_base64_decode(json_string_value(e), json_string_length(e), dst,
                             PR_HASH_LEN, &got) != 0 ||
            got != PR_HASH_LEN)
          return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                             "%s: not the canonical base64 of a %d-byte hash",
                             ip, PR_HASH_LEN);
      } else {
        void *elem = (char *)base + f->off + i * f->elem_size;
        if ((rc = pr__jdecode_object(f->sub, e, elem, ip, NULL, d)) != 0)
          return rc;
      }
    }
    *(size_t *)((char *)base + f->count_off) = n;
    break;
  }
  case JK_OBJECT:
    if ((rc = pr__jdecode_object(f->sub, v, (char *)base + f->off, path, NULL,
                                 d)) != 0)
      return rc;
    break;
  }
  has_set(f, base);
  return 0;
}

static bool in_list(const char *key, const char *const *list) {
  for (; list != NULL && *list != NULL; list++)
    if (strcmp(key, *list) == 0)
      return true;
  return false;
}

int pr__jdecode_object(const jschema *s, const json_t *obj, void *base,
                       const char *path, const char *const *skip, pr_diag *d) {
  if (!json_is_object(obj))
    return type_error(d, path[0] ? path : s->name, "an object", obj);
  uint64_t seen = 0;
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    if (in_list(key, skip))
      continue;
    size_t i = 0;
    while (i < s->nfields && strcmp(s->fields[i].name, key) != 0)
      i++;
    char fp[PATH_MAX_], safe[40];
    if (i == s->nfields) {
      child_path(fp, path, pr__jsafe(key, safe));
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "%s: unknown field in %s",
                         fp, s->name);
    }
    if (json_is_null(val)) {
      child_path(fp, path, key);
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                         "%s: null is not allowed (omit an absent field)", fp);
    }
    child_path(fp, path, key);
    int rc = decode_value(&s->fields[i], val, base, fp, d);
    if (rc != 0)
      return rc;
    seen |= UINT64_C(1) << i;
  }
  /* Presence, after every field is in: conditions refer to decoded enums. */
  for (size_t i = 0; i < s->nfields; i++) {
    const jfield *f = &s->fields[i];
    bool here = (seen >> i) & 1u, active = cond_active(f, base);
    if (active == here || (active && f->presence == J_OPT))
      continue;
    char fp[PATH_MAX_], why[80];
    child_path(fp, path, f->name);
    if (active && f->presence == J_REQ && !here) {
      if (f->cond_value != 0) {
        cond_text(s, f, why, sizeof why);
        return pr_diag_set(d, PR_R_INVALID, GL_EPARSE,
                           "%s: missing (required when %s)", fp, why);
      }
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "%s: missing", fp);
    }
    if (!active && here) {
      cond_text(s, f, why, sizeof why);
      return pr_diag_set(d, PR_R_INVALID, GL_EPARSE, "%s: only allowed when %s",
                         fp, why);
    }
  }
  return 0;
}

/* ---- Validate ---------------------------------------------------------- */

/* Whether a field carries a value in the struct (for conditions). */
static bool value_present(const jfield *f, const void *base) {
  switch (f->kind) {
  case JK_INT:
  case JK_TIME:
    return uses_has(f) ? has_get(f, base) : i64_get(base, f->off) != 0;
  case JK_SENDER:
  case JK_METER:
  case JK_TOKEN:
  case JK_NOTE:
    return str_get(base, f->off)[0] != '\0';
  case JK_ENUM:
    return int_get(base, f->off) != 0;
  case JK_FLAGS:
    return *(const uint32_t *)((const char *)base + f->off) != 0;
  case JK_BYTES:
  case JK_HASHES:
  case JK_INTS:
  case JK_OBJECTS:
    return size_get(base, f->count_off) != 0;
  case JK_OBJECT:
    return uses_has(f) && has_get(f, base);
  }
  return false;
}

static int range_error(pr_diag *d, const char *path, int64_t v, int64_t lo,
                       int64_t hi) {
  return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                     "%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64
                     "]",
                     path, v, lo, hi);
}

static int validate_field(const jfield *f, const void *base, const char *path,
                          pr_diag *d) {
  char safe[40];
  switch (f->kind) {
  case JK_INT: {
    int64_t v = i64_get(base, f->off);
    if (v < f->min || v > f->max)
      return range_error(d, path, v, f->min, f->max);
    return 0;
  }
  case JK_TIME: {
    int64_t v = i64_get(base, f->off);
    if (v <= 0)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: not set (or before 1970)", path);
    if (v % GL_NS_PER_SEC != 0)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: not a whole second (%" PRId64 " ns)", path, v);
    return 0;
  }
  case JK_SENDER:
  case JK_METER: {
    const char *s = str_get(base, f->off);
    size_t n = strnlen(s, PR_ID_MAX + 1);
    if (n == 0)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE, "%s: missing", path);
    if (f->kind == JK_SENDER ? !pr_sender_valid(s, n)
                             : !pr_meter_id_valid(s, n))
      return pr_diag_set(
          d, PR_R_INVALID, GL_ERANGE, "%s: \"%s\" is not a valid %s", path,
          pr__jsafe(s, safe), f->kind == JK_SENDER ? "sender id" : "meter id");
    return 0;
  }
  case JK_TOKEN: {
    const char *s = str_get(base, f->off);
    if (!token_valid(s, (size_t)f->max))
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: \"%s\" is not 1 to %" PRId64
                         " of [A-Za-z0-9._+-]",
                         path, pr__jsafe(s, safe), f->max);
    return 0;
  }
  case JK_NOTE: {
    const char *why = note_problem(str_get(base, f->off));
    if (why != NULL)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE, "%s: signed note %s", path,
                         why);
    return 0;
  }
  case JK_ENUM: {
    int v = int_get(base, f->off);
    if (v <= 0 || (size_t)v >= f->nnames)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: not set to a valid value (%d)", path, v);
    return 0;
  }
  case JK_FLAGS: {
    uint32_t v = *(const uint32_t *)((const char *)base + f->off);
    uint32_t all = (uint32_t)((UINT64_C(1) << f->nnames) - 1);
    if (v & ~all)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: unknown flag bits 0x%" PRIx32, path, v & ~all);
    return 0;
  }
  case JK_BYTES:
    if (size_get(base, f->count_off) > (size_t)f->max)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: more than %" PRId64 " bytes", path, f->max);
    return 0;
  case JK_HASHES:
  case JK_INTS:
  case JK_OBJECTS: {
    size_t n = size_get(base, f->count_off);
    if (n > (size_t)f->max)
      return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                         "%s: %zu elements exceed the limit of %" PRId64, path,
                         n, f->max);
    for (size_t i = 0; i < n && f->kind != JK_HASHES; i++) {
      char ip[PATH_MAX_];
      index_path(ip, path, i);
      int rc;
      if (f->kind == JK_INTS) {
        int64_t v = i64_get(base, f->off + i * sizeof(int64_t));
        if (v < f->imin || v > f->imax)
          return range_error(d, ip, v, f->imin, f->imax);
      } else if ((rc = pr__jvalidate(
                      f->sub, (const char *)base + f->off + i * f->elem_size,
                      ip, d)) != 0) {
        return rc;
      }
    }
    return 0;
  }
  case JK_OBJECT:
    return pr__jvalidate(f->sub, (const char *)base + f->off, path, d);
  }
  return pr_diag_set(d, PR_R_INTERNAL, GL_EINTERNAL, "%s: bad schema", path);
}

/* Absent optional fields and empty optional strings/bytes are skipped. */
static bool optional_absent(const jfield *f, const void *base) {
  return f->presence == J_OPT && !value_present(f, base);
}

int pr__jvalidate(const jschema *s, const void *base, const char *path,
                  pr_diag *d) {
  for (size_t i = 0; i < s->nfields; i++) {
    const jfield *f = &s->fields[i];
    char fp[PATH_MAX_], why[80];
    child_path(fp, path, f->name);
    if (!cond_active(f, base)) {
      if (value_present(f, base)) {
        cond_text(s, f, why, sizeof why);
        return pr_diag_set(d, PR_R_INVALID, GL_ERANGE,
                           "%s: only allowed when %s", fp, why);
      }
      continue;
    }
    if (optional_absent(f, base))
      continue;
    int rc = validate_field(f, base, fp, d);
    if (rc != 0)
      return rc;
  }
  return s->check != NULL ? s->check(base, path, d) : 0;
}

/* ---- Encode ------------------------------------------------------------ */

static json_t *encode_value(const jfield *f, const void *base) {
  switch (f->kind) {
  case JK_INT:
    return json_integer(i64_get(base, f->off));
  case JK_TIME: {
    char t[GL_TIME_STR_MAX];
    return json_string(gl_time_format(i64_get(base, f->off), t));
  }
  case JK_SENDER:
  case JK_METER:
  case JK_TOKEN:
  case JK_NOTE:
    return json_string(str_get(base, f->off));
  case JK_ENUM:
    return json_string(f->names[int_get(base, f->off)]);
  case JK_FLAGS: {
    uint32_t v = *(const uint32_t *)((const char *)base + f->off);
    json_t *a = json_array();
    for (size_t b = 0; a != NULL && b < f->nnames; b++)
      if ((v >> b) & 1u)
        if (json_array_append_new(a, json_string(f->names[b])) != 0) {
          json_decref(a);
          a = NULL;
        }
    return a;
  }
  case JK_BYTES: {
    size_t n = size_get(base, f->count_off);
    size_t cap = gl_base64_len(n) + 1;
    char *b64 = malloc(cap);
    if (b64 == NULL)
      return NULL;
    json_t *v = NULL;
    if (gl_base64_encode((const uint8_t *)base + f->off, n, b64, cap) == 0)
      v = json_string(b64);
    free(b64);
    return v;
  }
  case JK_HASHES:
  case JK_INTS:
  case JK_OBJECTS: {
    size_t n = size_get(base, f->count_off);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
      json_t *e = NULL;
      if (f->kind == JK_INTS) {
        e = json_integer(i64_get(base, f->off + i * sizeof(int64_t)));
      } else if (f->kind == JK_HASHES) {
        char b64[gl_base64_len(PR_HASH_LEN) + 1];
        if (gl_base64_encode((const uint8_t *)base + f->off + i * PR_HASH_LEN,
                             PR_HASH_LEN, b64, sizeof b64) == 0)
          e = json_string(b64);
      } else {
        e = json_object();
        if (e != NULL &&
            pr__jencode_object(f->sub,
                               (const char *)base + f->off + i * f->elem_size,
                               e) != 0) {
          json_decref(e);
          e = NULL;
        }
      }
      if (json_array_append_new(a, e) != 0) {
        json_decref(a);
        a = NULL;
      }
    }
    return a;
  }
  case JK_OBJECT: {
    json_t *o = json_object();
    if (o != NULL &&
        pr__jencode_object(f->sub, (const char *)base + f->off, o) != 0) {
      json_decref(o);
      o = NULL;
    }
    return o;
  }
  }
  return NULL;
}

int pr__jencode_object(const jschema *s, const void *base, json_t *obj) {
  for (size_t i = 0; i < s->nfields; i++) {
    const jfield *f = &s->fields[i];
    if (!cond_active(f, base) || optional_absent(f, base))
      continue;
    /* json_object_set_new takes the value, and frees it on failure. */
    if (json_object_set_new(obj, f->name, encode_value(f, base)) != 0)
      return GL_ENOMEM;
  }
  return 0;
}
