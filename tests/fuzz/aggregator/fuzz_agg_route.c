/* SPDX-License-Identifier: MIT */
/* Fuzz the HTTP API's path parser (agg_api_route). */
#include "gridlet/agg_api.h"
#include "gridlet/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = malloc(size + 1);
  if (!path)
    return 0;
  memcpy(path, data, size);
  path[size] = '\0';
  agg_route r;
  char err[160];
  int rc = agg_api_route(path, &r, err, sizeof err);
  if (rc != 0 && rc != GL_ENOENT && rc != GL_EINVAL)
    abort();
  if (rc == 0 && (r.kind == AGG_API_NOT_FOUND || strlen(r.id) > PR_ID_MAX))
    abort();
  free(path);
  return 0;
}
