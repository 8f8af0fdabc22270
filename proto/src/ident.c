/* SPDX-License-Identifier: MIT */
/*
 * ident.c - community names and identities (see gridlet/pr_ident.h).
 */
#include "gridlet/pr_ident.h"

#include <string.h>

static bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool pr_community_valid(const char *s) {
  if (s == NULL)
    return false;
  size_t len = strlen(s);
  if (len == 0 || len > PR_COMMUNITY_MAX || !is_lower_alnum(s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_lower_alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

bool pr_id_reserved(const char *s, size_t len) {
  static const char *const reserved[] = {PR_AGGREGATOR_ID, "broker", "witness",
                                         "admin", "ca"};
  if (s == NULL)
    return false;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strlen(reserved[i]) == len && memcmp(reserved[i], s, len) == 0)
      return true;
  return false;
}

bool pr_meter_id_valid(const char *s, size_t len) {
  if (s == NULL || len == 0 || len > PR_ID_MAX || !is_lower_alnum(s[0]))
    return false;
  for (size_t i = 1; i < len; i++) {
    char c = s[i];
    if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
      return false;
  }
  return !pr_id_reserved(s, len);
}

bool pr_sender_valid(const char *s, size_t len) {
  if (s == NULL)
    return false;
  if (len == sizeof PR_AGGREGATOR_ID - 1 &&
      memcmp(s, PR_AGGREGATOR_ID, len) == 0)
    return true;
  return pr_meter_id_valid(s, len);
}
