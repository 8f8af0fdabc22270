/* SPDX-License-Identifier: MIT */
/*
 * market_csv.c - the CSV order-book parser. See gridlet/market_csv.h.
 *
 * Files come from people, so every rejection says which field was wrong,
 * what was expected and what was found (shortened and with unprintable
 * bytes escaped, so an error message can never carry control characters
 * to a terminal).
 */
#include "gridlet/market_csv.h"

#include "gridlet/conf.h"
#include "gridlet/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FIELDS 4
#define FIELD_MAX 32 /* longer than any valid field */

typedef struct span {
  const char *p;
  size_t n;
} span;

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

static span trim(const char *p, size_t n) {
  while (n > 0 && is_blank(*p)) {
    p++;
    n--;
  }
  while (n > 0 && is_blank(p[n - 1]))
    n--;
  return (span){p, n};
}

static bool span_eq(span s, const char *word) {
  size_t n = strlen(word);
  return s.n == n && strncasecmp(s.p, word, n) == 0;
}

/* The field for messages: at most 24 bytes, unprintables as \xNN. */
static void show(span s, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < s.n && i < 24 && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)s.p[i];
    if (c >= 0x20 && c < 0x7f && c != '\'')
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
  }
  if (s.n > 24 && o + 4 < cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

static void fail(mkt_csv_error *e, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(mkt_csv_error *e, size_t line, const char *fmt, ...) {
  e->line = line;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->reason, sizeof e->reason, fmt, ap);
  va_end(ap);
}

/* Parse a decimal integer field within [lo, hi]. */
static bool parse_int(span s, int64_t lo, int64_t hi, int64_t *out) {
  char buf[FIELD_MAX + 1];
  if (s.n == 0 || s.n > FIELD_MAX)
    return false;
  memcpy(buf, s.p, s.n);
  buf[s.n] = '\0';
  int64_t v;
  if (gl_conf_parse_int(buf, &v) != 0 || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/*
 * One content line (comment already cut, trimmed, non-empty). Returns 1 for
 * an order in *o, 0 for the header, -1 for an error in *e.
 */
static int parse_line(span line, size_t lineno, bool first, mkt_order *o,
                      mkt_csv_error *e) {
  span f[FIELDS];
  size_t nf = 0;
  const char *p = line.p, *end = line.p + line.n;
  for (;;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    if (nf < FIELDS)
      f[nf] = trim(p, (size_t)(stop - p));
    nf++;
    if (!comma)
      break;
    p = comma + 1;
  }
  if (nf != FIELDS) {
    fail(e, lineno, "expected 4 fields side,participant,qty_wh,price, got %zu",
         nf);
    return -1;
  }
  char shown[128];
  if (span_eq(f[0], "side")) {
    if (first && span_eq(f[1], "participant") && span_eq(f[2], "qty_wh") &&
        span_eq(f[3], "price"))
      return 0;
    fail(e, lineno,
         first ? "bad header: expected side,participant,qty_wh,price"
               : "a header is only allowed on the first line");
    return -1;
  }
  if (span_eq(f[0], "buy")) {
    o->side = MKT_BUY;
  } else if (span_eq(f[0], "sell")) {
    o->side = MKT_SELL;
  } else {
    show(f[0], shown, sizeof shown);
    fail(e, lineno, "side must be buy or sell, got '%s'", shown);
    return -1;
  }
  int64_t v;
  if (!parse_int(f[1], 0, UINT32_MAX, &v)) {
    show(f[1], shown, sizeof shown);
    fail(e, lineno, "participant must be an integer 0..4294967295, got '%s'",
         shown);
    return -1;
  }
  o->participant = (uint32_t)v;
  if (!parse_int(f[2], 1, MKT_QTY_MAX, &o->qty)) {
    show(f[2], shown, sizeof shown);
    fail(e, lineno, "qty_wh must be an integer 1..%lld Wh, got '%s'",
         (long long)MKT_QTY_MAX, shown);
    return -1;
  }
  if (!parse_int(f[3], -MKT_PRICE_MAX, MKT_PRICE_MAX, &o->price)) {
    show(f[3], shown, sizeof shown);
    fail(e, lineno,
         "price must be an integer -%lld..%lld (micro-currency per kWh), "
         "got '%s'",
         (long long)MKT_PRICE_MAX, (long long)MKT_PRICE_MAX, shown);
    return -1;
  }
  o->id = lineno;
  return 1;
}

int mkt_csv_parse(const char *buf, size_t len, int64_t interval,
                  mkt_csv_order_fn on_order, mkt_csv_error_fn on_error,
                  void *ctx, size_t *n_errors) {
  size_t errors = 0, lineno = 0, pos = 0;
  bool first = true;
  int rc = 0;
  while (pos < len) {
    const char *p = buf + pos;
    const char *nl = memchr(p, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - p) : len - pos;
    pos += n + (nl ? 1 : 0);
    lineno++;
    if (n > 0 && p[n - 1] == '\r')
      n--;
    mkt_csv_error e;
    int kind;
    mkt_order o;
    if (n > MKT_CSV_LINE_MAX) {
      fail(&e, lineno, "line longer than %d bytes", MKT_CSV_LINE_MAX);
      kind = -1;
    } else if (memchr(p, '\0', n)) {
      fail(&e, lineno, "line contains a NUL byte");
      kind = -1;
    } else {
      const char *hash = memchr(p, '#', n);
      span line = trim(p, hash ? (size_t)(hash - p) : n);
      if (line.n == 0)
        continue;
      o.interval = interval;
      kind = parse_line(line, lineno, first, &o, &e);
    }
    first = false;
    if (kind < 0) {
      errors++;
      if (on_error)
        on_error(ctx, &e);
    } else if (kind > 0) {
      rc = on_order(ctx, &o);
      if (rc)
        break;
    }
  }
  if (n_errors)
    *n_errors = errors;
  if (rc)
    return rc;
  return errors ? GL_EPARSE : 0;
}

size_t mkt_csv_count_lines(const char *buf, size_t len) {
  size_t lines = 0;
  for (const char *p = buf, *end = buf + len; p < end; lines++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  return lines;
}
