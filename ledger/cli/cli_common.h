/* SPDX-License-Identifier: MIT */
/*
 * cli_common.h - what gridlet-ledger and gridlet-witness share: option
 * parsing, exit codes, reading inputs, parsing numbers, hashes and keys,
 * and printing entries. A small static library (gridlet_ledger_cli), not
 * part of the ledger library's API.
 *
 * Exit codes of both tools:
 *   0  success / valid
 *   1  invalid, refused, or the audit found a problem (one line says why)
 *   2  usage error (bad or missing arguments)
 *   3  operational error (a file cannot be opened, storage failure)
 */
#ifndef GRIDLET_LEDGER_CLI_COMMON_H
#define GRIDLET_LEDGER_CLI_COMMON_H

#include "gridlet/ledger_entry.h"
#include "gridlet/ledger_merkle.h"
#include "gridlet/ledger_note.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_INVALID = 1, CLI_USAGE = 2, CLI_ERROR = 3 };

#define CLI_MAX_OPTS 16
#define CLI_MAX_MULTI 32
#define CLI_MAX_POS 80

typedef struct cli_opt {
  const char *name; /* without the leading "--" */
  bool has_arg;
  bool multi; /* may be repeated (values collected) */
} cli_opt;

typedef struct cli_args {
  const cli_opt *spec;
  size_t nspec;
  const char *val[CLI_MAX_OPTS];
  bool set[CLI_MAX_OPTS];
  const char *multi[CLI_MAX_OPTS][CLI_MAX_MULTI];
  size_t nmulti[CLI_MAX_OPTS];
  char *pos[CLI_MAX_POS];
  size_t npos;
} cli_args;

/* The program name used in messages ("gridlet-ledger"). */
extern const char *cli_prog;

/* Print "<prog>: usage: <message>" to stderr and return CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "<prog>: <message>" to stderr and return `code`. */
int cli_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Exit code for a library error: CLI_ERROR for storage/I/O, CLI_INVALID
 * for verification, conflicts and refusals, CLI_USAGE for bad input. */
int cli_code(int gl_err);

/* Parse options after the command word. Returns 0 or CLI_USAGE (with a
 * message printed). Positional arguments point into argv. */
int cli_parse(int argc, char **argv, const cli_opt *spec, size_t nspec,
              cli_args *a);

/* Value of a single option, or NULL when absent. */
const char *cli_get(const cli_args *a, const char *name);
bool cli_has(const cli_args *a, const char *name);
/* Values of a repeated option. */
size_t cli_getv(const cli_args *a, const char *name, const char *const **v);

/* Required option: the value, or NULL after printing a usage message. */
const char *cli_need(const cli_args *a, const char *name);

/* Parse a decimal uint64 (no sign, no leading zeroes but "0"). */
bool cli_u64(const char *s, uint64_t *out);

/* Parse an option's decimal value: 0, or CLI_USAGE with a message. When the
 * option is absent *out keeps its value (the default) unless `required`. */
int cli_opt_u64(const cli_args *a, const char *name, bool required,
                uint64_t *out);

/* Parse exactly 64 hex digits into a hash: 0 or CLI_USAGE (message). */
int cli_hash(const char *what, const char *hex, uint8_t out[LG_HASH_LEN]);

/* Read a whole file ("-" = stdin), at most `max` bytes; NUL-terminated.
 * Returns NULL after printing a message. */
char *cli_read(const char *path, size_t max, size_t *len);

/* A verifier key given as text or as the name of a file holding it.
 * Returns 0, or CLI_USAGE with a message. `type` (0 = any) must match. */
int cli_vkey(const char *arg, uint8_t type, lg_vkey *out);

/* Describe one entry on one line (no newline) into `out`. */
void cli_describe(FILE *out, const uint8_t *data, size_t len);

/* Set up logging for a tool: identity, level (warn; info with verbose). */
void cli_log_setup(const char *prog, bool verbose);

#endif
