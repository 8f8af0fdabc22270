/* SPDX-License-Identifier: MIT */
/*
 * name.c - community and meter id rules (shared protocol map). See
 * gridlet/pki_name.h.
 */
#include "gridlet/pki_name.h"

#include "internal.h"

#include "gridlet/error.h"

#include <string.h>

static const char *const reserved[] = {"aggregator", "broker", "witness",
                                       "admin", "ca"};

bool pki_name_is_reserved(const char *name) {
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcmp(name, reserved[i]) == 0)
      return true;
  return false;
}

static bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Shared check: first character [a-z0-9], the rest [a-z0-9] or one of
 * `extra`, at most `max` characters in all. */
static int check(const char *what, const char *s, size_t max, const char *extra,
                 pki_why *why) {
  if (!s || !*s)
    return pki__fail_quiet(why, GL_EINVAL, "%s is empty", what);
  size_t n = strlen(s);
  if (n > max)
    return pki__fail_quiet(why, GL_EINVAL,
                           "%s is %zu characters long, the limit is %zu", what,
                           n, max);
  if (!lower_alnum(s[0]))
    return pki__fail_quiet(why, GL_EINVAL,
                           "%s \"%.64s\" must start with a-z or 0-9", what, s);
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!lower_alnum(c) && !strchr(extra, c)) {
      unsigned char u = (unsigned char)c;
      if (u >= 0x20 && u < 0x7f)
        return pki__fail_quiet(why, GL_EINVAL,
                               "%s \"%.64s\" contains '%c' (allowed: a-z 0-9 "
                               "%s)",
                               what, s, c, extra);
      return pki__fail_quiet(why, GL_EINVAL,
                             "%s contains the byte 0x%02x (allowed: a-z 0-9 "
                             "%s)",
                             what, u, extra);
    }
  }
  return 0;
}

int pki_name_check_meter_id(const char *id, pki_why *why) {
  int rc = check("meter id", id, PKI_METER_ID_MAX - 1, "._-", why);
  if (rc)
    return rc;
  if (pki_name_is_reserved(id))
    return pki__fail_quiet(why, GL_EINVAL,
                           "\"%s\" is a reserved identity and cannot be a "
                           "meter id",
                           id);
  return 0;
}

int pki_name_check_community(const char *name, pki_why *why) {
  return check("community name", name, PKI_COMMUNITY_MAX - 1, "-", why);
}
