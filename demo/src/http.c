/* SPDX-License-Identifier: MIT */
/* http.c - see gridlet/demo_http.h. */
#include "gridlet/demo_http.h"

#include "gridlet/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0)
      return GL_ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, (int)left);
    if (r > 0)
      return 0;
    if (r < 0 && errno != EINTR)
      return GL_ECONN;
  }
}

int demo_http_get(uint16_t port, const char *path, int timeout_ms, int *status,
                  char **body, size_t *len) {
  if (body)
    *body = NULL;
  if (!path || path[0] != '/' || !status)
    return GL_EINVAL;
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return GL_EINVAL;
  int64_t deadline = mono_ms() + timeout_ms;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return GL_ECONN;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = 0;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    if (errno != EINPROGRESS)
      rc = GL_ECONN;
    else if ((rc = wait_fd(fd, POLLOUT, deadline)) == 0) {
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr)
        rc = GL_ECONN;
    }
  }
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n",
                   path);
  if (rc == 0 && (n <= 0 || (size_t)n >= sizeof req))
    rc = GL_EINVAL;
  for (int off = 0; rc == 0 && off < n;) {
    ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
    if (w > 0)
      off += (int)w;
    else if (w < 0 && (errno == EAGAIN || errno == EINTR))
      rc = wait_fd(fd, POLLOUT, deadline);
    else
      rc = GL_ECONN;
  }
  size_t cap = 16384, used = 0;
  char *buf = rc == 0 ? malloc(cap) : NULL;
  if (rc == 0 && !buf)
    rc = GL_ENOMEM;
  while (rc == 0) {
    if (used + 1 >= cap) {
      if (cap >= DEMO_HTTP_MAX) {
        rc = GL_ETOOBIG;
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = GL_ENOMEM;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = recv(fd, buf + used, cap - used - 1, 0);
    if (r > 0)
      used += (size_t)r;
    else if (r == 0)
      break;
    else if (errno == EAGAIN || errno == EINTR)
      rc = wait_fd(fd, POLLIN, deadline);
    else
      rc = GL_ECONN;
  }
  close(fd);
  if (rc) {
    free(buf);
    return rc;
  }
  buf[used] = '\0';
  int st = 0;
  char *hdr_end = strstr(buf, "\r\n\r\n");
  if (strncmp(buf, "HTTP/1.", 7) != 0 || used < 12 || !hdr_end ||
      sscanf(buf + 9, "%3d", &st) != 1 || st < 100 || st > 599) {
    free(buf);
    return GL_EPROTO;
  }
  *status = st;
  if (body) {
    size_t blen = used - (size_t)(hdr_end + 4 - buf);
    memmove(buf, hdr_end + 4, blen);
    buf[blen] = '\0';
    *body = buf;
    if (len)
      *len = blen;
  } else {
    free(buf);
  }
  return 0;
}

/* ---- Prometheus text ------------------------------------------------------
 */

int demo_metric_value(const char *text, const char *series, int64_t *value) {
  size_t n = strlen(series);
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    if (line[0] != '#' && strncmp(line, series, n) == 0 && line[n] == ' ') {
      char *end;
      errno = 0;
      double v = strtod(line + n + 1, &end);
      if (end == line + n + 1 || errno)
        return GL_EPARSE;
      *value = (int64_t)v;
      return 0;
    }
    line = nl ? nl + 1 : NULL;
  }
  return GL_ENOENT;
}

int demo_metric_sum(const char *text, const char *name, int64_t *sum) {
  size_t n = strlen(name);
  int64_t s = 0;
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    if (line[0] != '#' && strncmp(line, name, n) == 0 &&
        (line[n] == ' ' || line[n] == '{')) {
      const char *sp = line[n] == '{' ? strchr(line + n, '}') : line + n;
      if (sp && nl && sp > nl)
        sp = NULL; /* a label set that does not close on its line */
      if (sp && sp[0] == '}')
        sp++;
      if (sp && *sp == ' ')
        s += (int64_t)strtod(sp + 1, NULL);
    }
    line = nl ? nl + 1 : NULL;
  }
  *sum = s;
  return 0;
}
