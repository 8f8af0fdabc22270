/* SPDX-License-Identifier: MIT */
/*
 * fuzz_meter_config.c - the meter's configuration file is typed by a
 * household: any bytes must become either a checked configuration or
 * errors naming what is wrong, never a crash, an overflow of a text
 * setting, or a configuration that breaks the rules mtr_config_check
 * promises (checked again here on every accepted input).
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1); /* silence */
  mtr_config c;
  gl_conf_errors e;
  memset(&e, 0, sizeof e);
  int rc =
      mtr_config_load_buffer(&c, "fuzz.conf", (const char *)data, size, &e);
  if (rc == 0) {
    /* What an accepted configuration guarantees the agent. */
    if (e.count != 0 || !c.community[0] || !c.dev[MTR_ROLE_GRID].endpoint[0] ||
        (INT64_C(86400) * GL_NS_PER_SEC) % c.interval_ns != 0 ||
        c.interval_ns % c.poll_ns != 0 ||
        c.close_wait_ns >= c.interval_ns / 5 ||
        c.receipt_wait_ns < c.interval_ns ||
        memchr(c.database, '\0', sizeof c.database) == NULL)
      abort();
    char path[2 * MTR_TEXT_MAX + 16];
    for (int r = 0; r < MTR_ROLE_COUNT; r++)
      (void)mtr_config_profile_path(&c, r, path, sizeof path);
  } else if (rc == GL_ECONFIG && e.count == 0) {
    abort(); /* an error must say what is wrong */
  }
  return 0;
}
