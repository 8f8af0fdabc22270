/* SPDX-License-Identifier: MIT */
/*
 * gridlet/conf.h - table-driven INI configuration on top of inih.
 *
 * A program describes each setting once, in a table of gl_conf_item: its
 * section and name, type, where it lives in the program's config struct,
 * default, range and whether it is required. The loader applies defaults,
 * reads the file with inih and checks every line against the table.
 *
 * Everything doubtful is an error, never a silent default: unknown sections
 * (at their header) and keys, a key set twice, values that do not parse or
 * are out of range, control characters in strings, a '#' after a value
 * (only " ;" starts an inline comment), continuation lines, lines that are
 * neither "[section]" nor "key = value", over-long lines, and required
 * settings that are missing or empty. Each error names the file,
 * the line and the key: "meter.conf:12: mqtt.port: 70000 is out of range
 * 1..65535". All errors of a file are collected, not just the first.
 *
 * File syntax: "[section]" headers; "key = value" (or "key: value"); whole-
 * line comments start with ';' or '#'; an inline comment starts with " ;".
 * A string value may be wrapped in double quotes, which are removed.
 * Choice (enum) names are case-sensitive; booleans are not.
 *
 * Thread-safety: the functions share no state; a table and its destination
 * struct must not be used by two threads at once.
 */
#ifndef GRIDLET_CONF_H
#define GRIDLET_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gl_conf_type {
  GL_CONF_STRING,   /* char field[size]; min/max bound the length */
  GL_CONF_INT,      /* int64_t */
  GL_CONF_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
  GL_CONF_DURATION, /* int64_t ns, text as in gl_duration_parse ("15m") */
  GL_CONF_DECIMAL,  /* int64_t fixed point: "0.28" with scale 6 is 280000 */
  GL_CONF_ENUM,     /* int: index into `choices` */
} gl_conf_type;

typedef struct gl_conf_item {
  const char *section; /* "" for keys before any [section] header */
  const char *name;
  gl_conf_type type;
  size_t offset;   /* offsetof(your_struct, field) */
  size_t size;     /* GL_CONF_STRING: sizeof the char array */
  const char *def; /* default as the text a user would write; NULL = none */
  /* Inclusive bounds in stored units (ns for durations, scaled integer for
   * decimals, length for strings). min == max == 0 means unbounded. */
  int64_t min, max;
  bool required; /* must appear in the file (a default does not count) */
  int scale;     /* GL_CONF_DECIMAL: decimal digits after the point, 0..9 */
  const char *const *choices; /* GL_CONF_ENUM: NULL-terminated names */
  const char *help;           /* one line, printed by gl_conf_write_defaults */
} gl_conf_item;

/* Declaration helpers; T is the config struct type, F the field. */
#define GL_CONF_STR(sec, key, T, F, def_, help_)                               \
  {                                                                            \
    sec, key, GL_CONF_STRING, offsetof(T, F), sizeof(((T *)0)->F), def_, 0, 0, \
        false, 0, NULL, help_                                                  \
  }
#define GL_CONF_INTEGER(sec, key, T, F, def_, lo, hi, help_)                   \
  {                                                                            \
    sec, key, GL_CONF_INT, offsetof(T, F), sizeof(int64_t), def_, lo, hi,      \
        false, 0, NULL, help_                                                  \
  }
#define GL_CONF_BOOLEAN(sec, key, T, F, def_, help_)                           \
  {                                                                            \
    sec, key, GL_CONF_BOOL, offsetof(T, F), sizeof(bool), def_, 0, 0, false,   \
        0, NULL, help_                                                         \
  }
#define GL_CONF_DUR(sec, key, T, F, def_, lo, hi, help_)                       \
  {                                                                            \
    sec, key, GL_CONF_DURATION, offsetof(T, F), sizeof(int64_t), def_, lo, hi, \
        false, 0, NULL, help_                                                  \
  }
#define GL_CONF_DEC(sec, key, T, F, def_, scale_, lo, hi, help_)               \
  {                                                                            \
    sec, key, GL_CONF_DECIMAL, offsetof(T, F), sizeof(int64_t), def_, lo, hi,  \
        false, scale_, NULL, help_                                             \
  }
#define GL_CONF_CHOICE(sec, key, T, F, def_, choices_, help_)                  \
  {                                                                            \
    sec, key, GL_CONF_ENUM, offsetof(T, F), sizeof(int), def_, 0, 0, false, 0, \
        choices_, help_                                                        \
  }

#define GL_CONF_MAX_ERRORS 16
#define GL_CONF_ERROR_LEN 256

/* Errors collected by a load; the first GL_CONF_MAX_ERRORS are kept. */
typedef struct gl_conf_errors {
  int count; /* all errors found, may exceed GL_CONF_MAX_ERRORS */
  char msg[GL_CONF_MAX_ERRORS][GL_CONF_ERROR_LEN];
} gl_conf_errors;

/*
 * gl_conf_defaults - store every item's default (or zero / empty string
 * when it has none) into `dst`. Returns 0, or GL_ECONFIG if a default in
 * the table itself is invalid (a bug in the table; also logged).
 */
int gl_conf_defaults(const gl_conf_item *items, size_t n, void *dst);

/*
 * gl_conf_load_file - apply defaults, then read `path`. Returns 0;
 * GL_ECONFIG when the file has errors (described in *errs; may be NULL);
 * GL_ENOENT / GL_EIO when it cannot be read; GL_ETOOBIG above 1 MiB.
 * On error `dst` holds a mix of defaults and values: do not use it.
 * Borrows everything; allocates only temporarily.
 */
int gl_conf_load_file(const gl_conf_item *items, size_t n, void *dst,
                      const char *path, gl_conf_errors *errs);

/*
 * gl_conf_load_buffer - as gl_conf_load_file for `len` bytes of text;
 * `name` is the file name used in messages.
 */
int gl_conf_load_buffer(const gl_conf_item *items, size_t n, void *dst,
                        const char *name, const char *text, size_t len,
                        gl_conf_errors *errs);

/*
 * gl_conf_set - set one item from text, as a command-line override
 * ("mqtt.port=1884"): `assignment` is "section.key=value" (or "key=value"
 * for the unnamed section). Returns 0 or GL_ECONFIG with a message in
 * `err` (of `errlen` bytes).
 */
int gl_conf_set(const gl_conf_item *items, size_t n, void *dst,
                const char *assignment, char *err, size_t errlen);

/*
 * gl_conf_log_errors - log each collected error at error level under
 * `component`, plus a count of those not kept.
 */
void gl_conf_log_errors(const gl_conf_errors *errs, const char *component);

/*
 * gl_conf_write_defaults - write a commented configuration file listing
 * every item with its help text, range and default (the conffile shipped
 * in packages). Returns 0 or GL_EIO.
 */
int gl_conf_write_defaults(const gl_conf_item *items, size_t n, FILE *out);

/*
 * gl_conf_parse_decimal - parse a decimal with at most `scale` fraction
 * digits into a scaled integer ("0.28", 6 -> 280000; "-1.5", 2 -> -150).
 * Returns 0, GL_EPARSE, or GL_ERANGE (too many digits or overflow).
 */
int gl_conf_parse_decimal(const char *text, int scale, int64_t *out);

/*
 * gl_conf_parse_int - strict base-10 int64 (optional sign, no spaces, no
 * trailing text). Returns 0, GL_EPARSE or GL_ERANGE.
 */
int gl_conf_parse_int(const char *text, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_CONF_H */
