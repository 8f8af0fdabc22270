/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_diag.h - the errors found in a researcher's files.
 *
 * Scenario files and data sets come from people and from other programs,
 * so the research simulator reports every problem it finds in them as
 * "file:line: what was wrong", collects all of them rather than stopping at
 * the first (up to SIM_DIAG_KEEP are kept, all are counted), logs each one
 * at error level under the component "sim", and refuses to run until the
 * files are clean. Nothing is silently skipped or repaired.
 *
 * Thread-safety: a sim_diag is used by one thread at a time.
 */
#ifndef GRIDLET_SIM_DIAG_H
#define GRIDLET_SIM_DIAG_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_DIAG_KEEP 20
#define SIM_DIAG_LEN 320

/* Collected errors; zero-initialise before use. */
typedef struct sim_diag {
  int count; /* every error reported, may exceed SIM_DIAG_KEEP */
  char msg[SIM_DIAG_KEEP][SIM_DIAG_LEN];
} sim_diag;

/*
 * sim_diag_add - record one error (printf-style, conventionally
 * "file:line: message") and log it. `d` may be NULL (only logged).
 */
void sim_diag_add(sim_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* sim_diag_print - write the kept messages, one per line, and a line with
 * the number left out, to `f`. */
void sim_diag_print(const sim_diag *d, FILE *f);

/* sim_diag_first - the first message, or "" when there is none. */
const char *sim_diag_first(const sim_diag *d);

/*
 * sim_diag_show - `text` of `len` bytes for use inside a message: at most
 * 40 bytes, unprintable bytes as \xNN, "..." when cut. `out` must hold
 * `cap` >= 8 bytes. Returns out.
 */
char *sim_diag_show(const char *text, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_DIAG_H */
