/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the HTTP access-token parsers (gridlet/agg_auth.h): the input is
 * split at its first two newlines into an Authorization header, a Cookie
 * header and a ?token= value, all checked against a fixed token. The
 * parsers must never read outside their input, and only the exact token
 * may pass.
 */
#include "gridlet/agg_auth.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char token[] = "0123456789abcdef-fuzz-token";

/* Whether a credential found by a parser is the token itself. */
static bool is_token(const char *p, size_t n) {
  return n == sizeof token - 1 && memcmp(p, token, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *parts[3] = {text, NULL, NULL};
  for (int i = 1; i < 3; i++) {
    char *nl = parts[i - 1] ? strchr(parts[i - 1], '\n') : NULL;
    if (nl) {
      *nl = '\0';
      parts[i] = nl + 1;
    }
  }
  agg_auth a = {0};
  char err[128];
  if (agg_auth_set(&a, token, sizeof token - 1, err, sizeof err) != 0)
    abort();
  const char *t;
  size_t n;
  bool expect = false;
  if (agg_auth_bearer(parts[0], &t, &n)) {
    if (t < parts[0] || t + n > parts[0] + strlen(parts[0]))
      abort();
    expect |= is_token(t, n);
  }
  if (agg_auth_cookie(parts[1], &t, &n)) {
    if (t < parts[1] || t + n > parts[1] + strlen(parts[1]))
      abort();
    expect |= is_token(t, n);
  }
  if (parts[2])
    expect |= strcmp(parts[2], token) == 0;
  if (agg_auth_check(&a, parts[0], parts[1], parts[2]) != expect)
    abort();
  /* A token file's contents: accepted only when well formed. */
  agg_auth b = {0};
  if (agg_auth_set(&b, text, strlen(text), err, sizeof err) == 0 && !b.enabled)
    abort();
  free(text);
  return 0;
}
