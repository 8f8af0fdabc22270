/* SPDX-License-Identifier: MIT */
/*
 * gridlet/log.h - levelled logging for daemons and libraries.
 *
 * Logging is the one piece of process-wide state in gridlet (as in SQLite's
 * SQLITE_CONFIG_LOG): a daemon's main() sets the level, identity and sink
 * once at start-up; libraries only call gl_log(). See docs/decisions.md.
 *
 * Output: by default one line per message on stderr,
 *   2026-11-21T10:15:00.123Z gridlet-meter[812] warn hal: timeout reading unit
 * 1 When stderr is connected to the systemd journal (JOURNAL_STREAM names it),
 * lines carry a "<N>" priority prefix instead of a timestamp, so journald
 * records the level and its own time. Timestamps are wall-clock UTC from the
 * real clock, never an injected one: logs are read against real time.
 *
 * Each message is formatted into one buffer and written with one write(2),
 * so lines from different threads never interleave. Messages longer than
 * GL_LOG_LINE_MAX are truncated and end in "...".
 */
#ifndef GRIDLET_LOG_H
#define GRIDLET_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Levels use syslog's numbers so they map straight onto journald priorities. */
enum gl_log_level {
  GL_LOG_ERROR = 3,
  GL_LOG_WARN = 4,
  GL_LOG_NOTICE = 5,
  GL_LOG_INFO = 6,
  GL_LOG_DEBUG = 7,
};

#define GL_LOG_LINE_MAX 1024

/*
 * A sink receives each formatted message (without timestamp, identity or
 * trailing newline). Used by tests to capture log lines and by daemons that
 * want another destination. It may be called from any thread.
 */
typedef void (*gl_log_sink)(void *ctx, int level, const char *component,
                            const char *message);

/*
 * gl_log_set_level - messages above `level` (less severe) are dropped.
 * Default GL_LOG_INFO. Thread-safe.
 */
void gl_log_set_level(int level);

/* gl_log_get_level - the current level. Thread-safe. */
int gl_log_get_level(void);

/*
 * gl_log_level_parse - "error", "warn", "notice", "info" or "debug" into a
 * level. Returns 0, or GL_EINVAL for any other string (*level untouched).
 */
int gl_log_level_parse(const char *name, int *level);

/* gl_log_level_name - "error", "warn", ... for a level; "?" if unknown. */
const char *gl_log_level_name(int level);

/*
 * gl_log_set_ident - the program name printed on each stderr line
 * ("gridlet-meter"). The string is borrowed and must outlive all logging.
 * Call before starting threads.
 */
void gl_log_set_ident(const char *ident);

/*
 * gl_log_set_sink - route messages to `sink` instead of stderr; NULL
 * restores stderr. Thread-safe: a message is delivered either to the old or
 * to the new sink, never to a mix of sink and context.
 */
void gl_log_set_sink(gl_log_sink sink, void *ctx);

/*
 * gl_log - log one message. `component` is the short module name ("hal",
 * "ledger"); `fmt` is printf-style. Thread-safe; never fails visibly.
 */
void gl_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* gl_logv - va_list form of gl_log. */
void gl_logv(int level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define GL_ERROR(comp, ...) gl_log(GL_LOG_ERROR, comp, __VA_ARGS__)
#define GL_WARN(comp, ...) gl_log(GL_LOG_WARN, comp, __VA_ARGS__)
#define GL_NOTICE(comp, ...) gl_log(GL_LOG_NOTICE, comp, __VA_ARGS__)
#define GL_INFO(comp, ...) gl_log(GL_LOG_INFO, comp, __VA_ARGS__)
#define GL_DEBUG(comp, ...) gl_log(GL_LOG_DEBUG, comp, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LOG_H */
