/* SPDX-License-Identifier: MIT */
/*
 * log.c - stderr / journald / sink logging. See gridlet/log.h.
 */
#include "gridlet/log.h"

#include "gridlet/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = GL_LOG_INFO;
static const char *log_ident = "gridlet";
/* The sink and its context change together (tests swap them while other
 * threads log), so both are read and written under one lock. */
static pthread_mutex_t log_sink_lock = PTHREAD_MUTEX_INITIALIZER;
static gl_log_sink log_sink;
static void *log_sink_ctx;
/* -1 unknown, 0 plain stderr, 1 journald stream. Decided once. */
static atomic_int log_journal = -1;

void gl_log_set_level(int level) {
  atomic_store(&log_level, level);
}

int gl_log_get_level(void) {
  return atomic_load(&log_level);
}

static const char *const level_names[] = {
    [GL_LOG_ERROR] = "error",   [GL_LOG_WARN] = "warn",
    [GL_LOG_NOTICE] = "notice", [GL_LOG_INFO] = "info",
    [GL_LOG_DEBUG] = "debug",
};

const char *gl_log_level_name(int level) {
  if (level < GL_LOG_ERROR || level > GL_LOG_DEBUG)
    return "?";
  return level_names[level];
}

int gl_log_level_parse(const char *name, int *level) {
  for (int l = GL_LOG_ERROR; l <= GL_LOG_DEBUG; l++) {
    if (name && strcmp(name, level_names[l]) == 0) {
      *level = l;
      return 0;
    }
  }
  return GL_EINVAL;
}

void gl_log_set_ident(const char *ident) {
  log_ident = ident ? ident : "gridlet";
}

void gl_log_set_sink(gl_log_sink sink, void *ctx) {
  pthread_mutex_lock(&log_sink_lock);
  log_sink = sink;
  log_sink_ctx = ctx;
  pthread_mutex_unlock(&log_sink_lock);
}

/* systemd sets JOURNAL_STREAM=<dev>:<ino> for services whose stderr is the
 * journal; only trust it if it really names our stderr (a child of such a
 * service may have had its stderr redirected). */
static bool stderr_is_journal(void) {
  int cached = atomic_load(&log_journal);
  if (cached >= 0)
    return cached == 1;
  bool yes = false;
  const char *js = getenv("JOURNAL_STREAM");
  struct stat st;
  if (js && fstat(STDERR_FILENO, &st) == 0) {
    unsigned long long dev = 0, ino = 0;
    if (sscanf(js, "%llu:%llu", &dev, &ino) == 2)
      yes = (dev == (unsigned long long)st.st_dev &&
             ino == (unsigned long long)st.st_ino);
  }
  atomic_store(&log_journal, yes ? 1 : 0);
  return yes;
}

static size_t append(char *buf, size_t cap, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t cap, size_t len, const char *fmt, ...) {
  if (len >= cap)
    return len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
  if (n < 0)
    return len;
  return len + (size_t)n;
}

void gl_logv(int level, const char *component, const char *fmt, va_list ap) {
  if (level > atomic_load(&log_level))
    return;
  if (!component)
    component = "-";
  int saved_errno = errno;

  char msg[GL_LOG_LINE_MAX];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  if (n < 0)
    snprintf(msg, sizeof msg, "(unformattable message)");
  else if ((size_t)n >= sizeof msg)
    memcpy(msg + sizeof msg - 4, "...", 4);

  pthread_mutex_lock(&log_sink_lock);
  gl_log_sink sink = log_sink;
  void *sink_ctx = log_sink_ctx;
  pthread_mutex_unlock(&log_sink_lock);
  if (sink) {
    sink(sink_ctx, level, component, msg);
    errno = saved_errno;
    return;
  }

  char line[GL_LOG_LINE_MAX + 128];
  size_t len = 0;
  if (stderr_is_journal()) {
    len = append(line, sizeof line, len, "<%d>%s: %s\n", level, component, msg);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    len = append(line, sizeof line, len,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s %s: %s\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_ident,
                 (long)getpid(), gl_log_level_name(level), component, msg);
  }
  if (len >= sizeof line) {
    len = sizeof line - 1;
    line[len - 1] = '\n';
  }
  /* One write per line keeps lines whole across threads and processes
   * sharing the same stderr. A failed log write has nowhere to go. */
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
  errno = saved_errno;
}

void gl_log(int level, const char *component, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gl_logv(level, component, fmt, ap);
  va_end(ap);
}
