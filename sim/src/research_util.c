/* SPDX-License-Identifier: MIT */
/*
 * research_util.c - line cursor, id map, energy numbers and file digests
 * for the research simulator's readers. See research_int.h.
 */
#include "research_int.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/market.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Line cursor --------------------------------------------------------- */

int sim__lines_init(sim__lines *c, int fd, off_t offset, int64_t line,
                    size_t cap) {
  memset(c, 0, sizeof *c);
  if (cap < SIM__LINE_MAX + 1)
    cap = SIM__LINE_MAX + 1;
  c->buf = malloc(cap);
  if (!c->buf)
    return GL_ENOMEM;
  c->fd = fd;
  c->base = offset;
  c->cap = cap;
  c->line = line;
  return 0;
}

void sim__lines_free(sim__lines *c) {
  free(c->buf);
  c->buf = NULL;
}

/* Move the unread rest to the front and read more. 0 or GL_EIO. */
static int refill(sim__lines *c) {
  size_t rest = c->len - c->at;
  memmove(c->buf, c->buf + c->at, rest);
  c->base += (off_t)c->at;
  c->at = 0;
  c->len = rest;
  while (c->len < c->cap && !c->eof) {
    ssize_t got =
        pread(c->fd, c->buf + c->len, c->cap - c->len, c->base + (off_t)c->len);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return GL_EIO;
    }
    if (got == 0)
      c->eof = true;
    c->len += (size_t)got;
  }
  return 0;
}

int sim__lines_next(sim__lines *c, const char **line, size_t *len,
                    int64_t *lineno, off_t *offset) {
  for (;;) {
    char *start = c->buf + c->at;
    size_t avail = c->len - c->at;
    char *nl = memchr(start, '\n', avail);
    if (!nl && !c->eof && (c->at > 0 || c->len < c->cap)) {
      /* Room can be made, or more can be read: try again. */
      int rc = refill(c);
      if (rc)
        return rc;
      continue;
    }
    if (!nl && avail == 0)
      return 0;
    size_t n = nl ? (size_t)(nl - start) : avail;
    *lineno = c->line++;
    if (offset)
      *offset = c->base + (off_t)c->at;
    if (n > SIM__LINE_MAX || (!nl && !c->eof)) {
      /* Too long: skip to the end of this line, however far. */
      while (!nl) {
        c->at = c->len;
        if (c->eof)
          return GL_ETOOBIG;
        int rc = refill(c);
        if (rc)
          return rc;
        nl = memchr(c->buf, '\n', c->len);
      }
      c->at = (size_t)(nl - c->buf) + 1;
      return GL_ETOOBIG;
    }
    c->at += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
      n--;
    *line = start;
    *len = n;
    return 1;
  }
}

/* ---- Fields -------------------------------------------------------------- */

size_t sim__split(const char *line, size_t len, sim__span *f, size_t max) {
  size_t nf = 0;
  const char *p = line, *end = line + len;
  for (;;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma ? comma : end;
    if (nf < max) {
      sim__span s = {p, (size_t)(stop - p)};
      if (s.n >= 2 && s.p[0] == '"' && s.p[s.n - 1] == '"') {
        s.p++;
        s.n -= 2;
      }
      f[nf] = s;
    }
    nf++;
    if (!comma)
      break;
    p = comma + 1;
  }
  return nf;
}

bool sim__span_is(sim__span s, const char *word) {
  size_t n = strlen(word);
  return s.n == n && memcmp(s.p, word, n) == 0;
}

bool sim__span_int(sim__span s, int64_t lo, int64_t hi, int64_t *out) {
  if (s.n == 0 || s.n > 18)
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9')
      return false;
    v = v * 10 + (s.p[i] - '0');
  }
  if (v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/* ---- Id map -------------------------------------------------------------- */

struct sim__idmap {
  size_t n, cap; /* keys */
  char **keys;
  size_t slots; /* power of two */
  long *table;  /* index + 1, 0 = empty */
};

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(1099511628211);
  }
  return h;
}

sim__idmap *sim__idmap_new(void) {
  sim__idmap *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->slots = 64;
  m->table = calloc(m->slots, sizeof *m->table);
  if (!m->table) {
    free(m);
    return NULL;
  }
  return m;
}

void sim__idmap_free(sim__idmap *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->n; i++)
    free(m->keys[i]);
  free(m->keys);
  free(m->table);
  free(m);
}

static size_t find_slot(const sim__idmap *m, const char *key, size_t len) {
  size_t mask = m->slots - 1, i = (size_t)fnv(key, len) & mask;
  for (;;) {
    long v = m->table[i];
    if (v == 0)
      return i;
    const char *k = m->keys[v - 1];
    if (strlen(k) == len && memcmp(k, key, len) == 0)
      return i;
    i = (i + 1) & mask;
  }
}

long sim__idmap_get(const sim__idmap *m, const char *key, size_t len) {
  long v = m->table[find_slot(m, key, len)];
  return v - 1;
}

static int grow(sim__idmap *m) {
  size_t slots = m->slots * 2;
  long *t = calloc(slots, sizeof *t);
  if (!t)
    return -1;
  long *old = m->table;
  m->table = t;
  m->slots = slots;
  for (size_t i = 0; i < m->n; i++) {
    const char *k = m->keys[i];
    m->table[find_slot(m, k, strlen(k))] = (long)i + 1;
  }
  free(old);
  return 0;
}

long sim__idmap_add(sim__idmap *m, const char *key, size_t len, bool *added) {
  *added = false;
  size_t s = find_slot(m, key, len);
  if (m->table[s])
    return m->table[s] - 1;
  if ((m->n + 1) * 2 > m->slots) {
    if (grow(m))
      return -1;
    s = find_slot(m, key, len);
  }
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    char **k = realloc(m->keys, cap * sizeof *k);
    if (!k)
      return -1;
    m->keys = k;
    m->cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy)
    return -1;
  memcpy(copy, key, len);
  copy[len] = '\0';
  m->keys[m->n] = copy;
  m->table[s] = (long)++m->n;
  *added = true;
  return (long)m->n - 1;
}

size_t sim__idmap_count(const sim__idmap *m) {
  return m->n;
}

const char *sim__idmap_key(const sim__idmap *m, size_t i) {
  return i < m->n ? m->keys[i] : NULL;
}

/* ---- Energy numbers ------------------------------------------------------ */

int sim__parse_energy(const char *s, size_t n, int unit_exp3, int64_t *wh) {
  /* Digits before and after the point, as an integer scaled by 10^9. */
  size_t i = 0;
  int64_t ip = 0, fp = 0;
  int fdigits = 0;
  bool any = false;
  if (n == 0)
    return GL_EPARSE;
  if (s[0] == '+')
    i++;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
    if (ip > INT64_C(100000000000))
      return GL_ERANGE;
    ip = ip * 10 + (s[i] - '0');
    any = true;
  }
  if (i < n && s[i] == '.') {
    for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      if (fdigits == 9)
        return GL_ERANGE;
      fp = fp * 10 + (s[i] - '0');
      fdigits++;
      any = true;
    }
  }
  if (!any || i != n)
    return GL_EPARSE;
  for (int k = fdigits; k < 9; k++)
    fp *= 10;
  /* Value in units of 10^-9 of the unit; the unit is 10^(3*unit_exp3/3)
   * Wh, i.e. 1 Wh or 1000 Wh. */
  int64_t unit_wh = unit_exp3 == 3 ? 1000 : 1;
  if (ip > MKT_QTY_MAX / unit_wh)
    return GL_ERANGE;
  /* wh = (ip + fp / 10^9) * unit_wh, rounded half to even as a whole
   * (the parity of the integer part decides a tie): at most
   * 10^18 + 10^12 units of 10^-9 Wh, within int64. */
  int64_t nano = ip * unit_wh * INT64_C(1000000000) + fp * unit_wh;
  int64_t r = mkt_div_round(nano, INT64_C(1000000000));
  if (r > MKT_QTY_MAX)
    return GL_ERANGE;
  *wh = r;
  return 0;
}

/* ---- File digest --------------------------------------------------------- */

int sim__sha256_file(int fd, char hex[65]) {
  enum { BLOCK = 1 << 20 };
  uint8_t *buf = malloc(BLOCK);
  if (!buf)
    return GL_ENOMEM;
  uint8_t chain[GL_SHA256_LEN] = {0};
  off_t off = 0;
  int rc = 0;
  for (;;) {
    size_t len = 0;
    while (len < BLOCK) {
      ssize_t got = pread(fd, buf + len, BLOCK - len, off + (off_t)len);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0) {
        rc = GL_EIO;
        break;
      }
      if (got == 0)
        break;
      len += (size_t)got;
    }
    if (rc || len == 0)
      break;
    uint8_t bd[GL_SHA256_LEN], next[GL_SHA256_LEN];
    gl_bytes parts[2] = {{chain, sizeof chain}, {bd, sizeof bd}};
    if ((rc = gl_sha256(buf, len, bd)) ||
        (rc = gl_sha256_parts(parts, 2, next)))
      break;
    memcpy(chain, next, sizeof chain);
    off += (off_t)len;
    if (len < BLOCK)
      break;
  }
  free(buf);
  if (!rc)
    gl_hex_encode(chain, sizeof chain, hex);
  return rc;
}
