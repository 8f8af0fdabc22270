/* SPDX-License-Identifier: MIT */
/*
 * auth.c - the HTTP access token: parsing where a request carries it and
 * comparing it in constant time. See gridlet/agg_auth.h.
 */
#include "gridlet/agg_auth.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static bool token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' || c == '-';
}

bool agg_auth_token_valid(const char *tok, size_t len) {
  if (!tok || len < AGG_TOKEN_MIN || len > AGG_TOKEN_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!token_char(tok[i]))
      return false;
  return true;
}

int agg_auth_set(agg_auth *a, const char *text, size_t len, char *err,
                 size_t errlen) {
  if (len && text[len - 1] == '\n')
    len--;
  if (len && text[len - 1] == '\r')
    len--;
  if (len < AGG_TOKEN_MIN || len > AGG_TOKEN_MAX) {
    snprintf(err, errlen, "the token has %zu characters; it needs %d to %d",
             len, AGG_TOKEN_MIN, AGG_TOKEN_MAX);
    return GL_EINVAL;
  }
  if (!agg_auth_token_valid(text, len)) {
    snprintf(err, errlen,
             "the token may only contain A-Z a-z 0-9 . _ ~ - (one line; "
             "e.g. openssl rand -hex 32)");
    return GL_EINVAL;
  }
  gl_sha256(text, len, a->digest);
  a->enabled = true;
  return 0;
}

int agg_auth_load_file(agg_auth *a, const char *path, char *err,
                       size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
    return e == ENOENT ? GL_ENOENT : GL_EIO;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    snprintf(err, errlen, "%s is not a regular file", path);
    close(fd);
    return GL_EIO;
  }
  if (sb.st_mode & S_IRWXO) {
    snprintf(err, errlen,
             "%s may be read by anyone (mode %03o): chmod 0640 or 0600", path,
             (unsigned)(sb.st_mode & 0777));
    close(fd);
    return GL_EPERM;
  }
  char buf[AGG_TOKEN_MAX + 4];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return GL_EIO;
  }
  int rc = agg_auth_set(a, buf, (size_t)n, err, errlen);
  gl_wipe(buf, sizeof buf);
  return rc;
}

static const char *skip_sp(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

bool agg_auth_bearer(const char *header, const char **tok, size_t *len) {
  if (!header)
    return false;
  const char *p = skip_sp(header);
  if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
    return false;
  p = skip_sp(p + 6);
  size_t n = strcspn(p, " \t");
  if (!n || *skip_sp(p + n))
    return false; /* nothing, or more than one word */
  *tok = p;
  *len = n;
  return true;
}

bool agg_auth_cookie(const char *header, const char **val, size_t *len) {
  if (!header)
    return false;
  static const char name[] = AGG_TOKEN_COOKIE;
  const size_t nl = sizeof name - 1;
  const char *p = header;
  /* cookie-string = cookie-pair *( ";" SP cookie-pair ) (RFC 6265 4.2.1);
   * be lenient about spaces, strict about the name. */
  while (*p) {
    p = skip_sp(p);
    size_t pair = strcspn(p, ";");
    const char *eq = memchr(p, '=', pair);
    if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
      const char *v = eq + 1;
      size_t vl = pair - (size_t)(v - p);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v++;
        vl -= 2;
      }
      *val = v;
      *len = vl;
      return true;
    }
    p += pair;
    if (*p == ';')
      p++;
  }
  return false;
}

/* Whether `len` bytes equal the token: compare digests in constant time. */
static bool matches(const agg_auth *a, const char *tok, size_t len) {
  uint8_t d[32];
  if (len > AGG_TOKEN_MAX * 4 || gl_sha256(tok, len, d) != 0)
    return false;
  return gl_memeq_ct(d, a->digest, sizeof d);
}

bool agg_auth_check(const agg_auth *a, const char *authorization,
                    const char *cookie, const char *query) {
  if (!a->enabled)
    return true;
  const char *t;
  size_t n;
  bool ok = false;
  if (agg_auth_bearer(authorization, &t, &n))
    ok |= matches(a, t, n);
  if (agg_auth_cookie(cookie, &t, &n))
    ok |= matches(a, t, n);
  if (query)
    ok |= matches(a, query, strlen(query));
  return ok;
}
