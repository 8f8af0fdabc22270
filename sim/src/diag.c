/* SPDX-License-Identifier: MIT */
/*
 * diag.c - collected file errors of the research simulator. See
 * gridlet/sim_diag.h.
 */
#include "gridlet/sim_diag.h"

#include "gridlet/log.h"

#include <stdarg.h>
#include <string.h>

void sim_diag_add(sim_diag *d, const char *fmt, ...) {
  char buf[SIM_DIAG_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  GL_ERROR("sim", "%s", buf);
  if (!d)
    return;
  if (d->count >= 0 && d->count < SIM_DIAG_KEEP)
    memcpy(d->msg[d->count], buf, sizeof buf);
  if (d->count < 0x7fffffff)
    d->count++;
}

void sim_diag_print(const sim_diag *d, FILE *f) {
  int kept = d->count < SIM_DIAG_KEEP ? d->count : SIM_DIAG_KEEP;
  for (int i = 0; i < kept; i++)
    fprintf(f, "%s\n", d->msg[i]);
  if (d->count > kept)
    fprintf(f, "... and %d more errors\n", d->count - kept);
}

const char *sim_diag_first(const sim_diag *d) {
  return d->count > 0 ? d->msg[0] : "";
}

char *sim_diag_show(const char *text, size_t len, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < len && i < 40 && o + 8 < cap; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
  }
  if (len > 40 && o + 4 < cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}
