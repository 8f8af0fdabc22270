/* SPDX-License-Identifier: MIT */
/* Fuzz the configuration: the table-driven loader with the aggregator's
 * table, then the rules spanning settings (agg_config_check). */
#include "gridlet/agg_config.h"
#include "gridlet/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n = 0;
  const gl_conf_item *items = agg_config_items(&n);
  agg_config *c = calloc(1, sizeof *c);
  if (!c)
    return 0;
  gl_conf_errors errs = {0};
  int rc = gl_conf_load_buffer(items, n, c, "fuzz.conf", (const char *)data,
                               size, &errs);
  if (rc == 0) {
    rc = agg_config_check(c, &errs);
    if (rc != 0 && rc != GL_ECONFIG)
      abort();
    if (rc == 0 && (c->feed_in > c->retail || c->grace_eff <= 0))
      abort();
  }
  free(c);
  return 0;
}
