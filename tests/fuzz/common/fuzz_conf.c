/* SPDX-License-Identifier: MIT */
/*
 * fuzz_conf.c - configuration files are user input: the loader must turn
 * any bytes into either a config or errors, never a crash or an overflow
 * of a string field.
 */
#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/log.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct cfg {
  char name[8];
  int64_t n;
  bool b;
  int64_t d;
  int64_t money;
  int mode;
} cfg;

static const char *const modes[] = {"a", "b", NULL};
static const gl_conf_item items[] = {
    GL_CONF_STR("", "name", cfg, name, "x", "name"),
    GL_CONF_INTEGER("s", "n", cfg, n, "1", -5, 5, "n"),
    GL_CONF_BOOLEAN("s", "b", cfg, b, "no", "b"),
    GL_CONF_DUR("t", "d", cfg, d, "1s", 0, 0, "d"),
    GL_CONF_DEC("t", "money", cfg, money, "0.5", 3, -1000, 1000, "m"),
    GL_CONF_CHOICE("t", "mode", cfg, mode, "a", modes, "mode"),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1); /* silence */
  cfg c;
  gl_conf_errors e;
  int rc = gl_conf_load_buffer(items, sizeof items / sizeof items[0], &c,
                               "fuzz.conf", (const char *)data, size, &e);
  if (rc == 0) {
    /* Accepted values must respect their declared limits. */
    if (memchr(c.name, '\0', sizeof c.name) == NULL || c.n < -5 || c.n > 5 ||
        c.money < -1000 || c.money > 1000 || c.mode < 0 || c.mode > 1)
      __builtin_trap();
  }
  return 0;
}
