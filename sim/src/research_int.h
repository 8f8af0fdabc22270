/* SPDX-License-Identifier: MIT */
/*
 * research_int.h - helpers shared inside the research simulator (not part
 * of the public API): a line cursor over a data file that several readers
 * can share, a string-to-index map for household ids, and the exact
 * decimal-to-Wh conversion every data format uses.
 */
#ifndef GRIDLET_SIM_RESEARCH_INT_H
#define GRIDLET_SIM_RESEARCH_INT_H

#include "gridlet/sim_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest data line accepted (an Ausgrid row is about 350 bytes). */
#define SIM__LINE_MAX 4000
/* A cursor's buffer (one line must fit). */
#define SIM__CURSOR_BUF 4096

/*
 * A cursor reading lines from `fd` (borrowed, shared by many cursors: it
 * uses pread, never the file position) from a byte offset on, counting
 * lines for messages. Its buffer holds at least one whole line.
 */
typedef struct sim__lines {
  int fd;
  off_t base; /* file offset of buf[0] */
  char *buf;
  size_t cap, len, at;
  int64_t line; /* number of the next line */
  bool eof;
} sim__lines;

/* sim__lines_init - a cursor at `offset`, whose line is number `line`;
 * `cap` is the buffer size (>= SIM__LINE_MAX + 1). 0 or GL_ENOMEM. */
int sim__lines_init(sim__lines *c, int fd, off_t offset, int64_t line,
                    size_t cap);

/* sim__lines_free - release the buffer. */
void sim__lines_free(sim__lines *c);

/*
 * sim__lines_next - the next line without its "\n" (a "\r" before it is
 * dropped too), its number and its offset. Returns 1 with a line, 0 at
 * the end of the file, GL_ETOOBIG (a line longer than SIM__LINE_MAX; the
 * cursor skips it) or GL_EIO. The line is valid until the next call.
 */
int sim__lines_next(sim__lines *c, const char **line, size_t *len,
                    int64_t *lineno, off_t *offset);

/* A field of a CSV line. */
typedef struct sim__span {
  const char *p;
  size_t n;
} sim__span;

/*
 * sim__split - split a line at commas into at most `max` fields (spaces
 * around a field are kept: data formats have none), removing one pair of
 * double quotes around a field. Returns the number of fields in the line,
 * which may exceed `max` (the extra ones are not stored).
 */
size_t sim__split(const char *line, size_t len, sim__span *f, size_t max);

/* sim__span_is - the field equals `word` exactly. */
bool sim__span_is(sim__span s, const char *word);

/* sim__span_int - a field that is a plain decimal integer within
 * [lo, hi]. */
bool sim__span_int(sim__span s, int64_t lo, int64_t hi, int64_t *out);

/* A map from strings (household ids) to dense indices 0, 1, ... */
typedef struct sim__idmap sim__idmap;

sim__idmap *sim__idmap_new(void);
void sim__idmap_free(sim__idmap *m);

/* sim__idmap_get - the index of `key` or -1. */
long sim__idmap_get(const sim__idmap *m, const char *key, size_t len);

/* sim__idmap_add - the index of `key`, adding it (next index) if absent;
 * *added tells which. -1 on out of memory. */
long sim__idmap_add(sim__idmap *m, const char *key, size_t len, bool *added);

/* sim__idmap_count - how many keys. */
size_t sim__idmap_count(const sim__idmap *m);

/* sim__idmap_key - the key of index i (NUL-terminated, owned by the map). */
const char *sim__idmap_key(const sim__idmap *m, size_t i);

/*
 * sim__parse_energy - a non-negative decimal ("12", "0.855", ".5") in
 * units of 10^-unit_exp3 * 1000 Wh: pass 0 for Wh, 3 for kWh. At most
 * 9 fraction digits; the value is converted to whole Wh exactly when it
 * has no more digits than the unit allows (3 for kWh, 0 for Wh) and
 * otherwise rounded half to even. Returns 0, GL_EPARSE (not a number,
 * negative) or GL_ERANGE (above 10^9 Wh).
 */
int sim__parse_energy(const char *s, size_t n, int unit_exp3, int64_t *wh);

/*
 * sim__sha256_file - the digest outputs record for an input file, computed
 * in constant memory: d = 32 zero bytes, then for each consecutive 1 MiB
 * block b of the file d = SHA-256(d || SHA-256(b)); as hex. Returns 0,
 * GL_ENOMEM, GL_EIO or GL_ECRYPTO.
 */
int sim__sha256_file(int fd, char hex[65]);

#endif
