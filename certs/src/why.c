/* SPDX-License-Identifier: MIT */
/*
 * why.c - recording why outside input was refused: the reason goes to the
 * caller's pki_why and, once, to the log.
 */
#include "internal.h"

#include "gridlet/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vformat(pki_why *why, const char *fmt, va_list ap, char *buf,
                    size_t size) {
  vsnprintf(buf, size, fmt, ap);
  if (why)
    snprintf(why->text, sizeof why->text, "%s", buf);
}

int pki__fail(pki_why *why, int err, const char *fmt, ...) {
  char buf[PKI_WHY_MAX];
  va_list ap;
  va_start(ap, fmt);
  vformat(why, fmt, ap, buf, sizeof buf);
  va_end(ap);
  GL_WARN(PKI__LOG, "%s", buf);
  return err;
}

int pki__fail_quiet(pki_why *why, int err, const char *fmt, ...) {
  char buf[PKI_WHY_MAX];
  va_list ap;
  va_start(ap, fmt);
  vformat(why, fmt, ap, buf, sizeof buf);
  va_end(ap);
  return err;
}

void pki__why_prefix(pki_why *why, const char *prefix) {
  if (!why)
    return;
  /* Room for the prefix; the reason's tail is cut if it must be. */
  char tmp[2 * PKI_WHY_MAX];
  snprintf(tmp, sizeof tmp, "%s: %s", prefix, why->text);
  snprintf(why->text, sizeof why->text, "%.*s", PKI_WHY_MAX - 1, tmp);
}
