/* SPDX-License-Identifier: MIT */
/*
 * fuzz_profile.c - device profiles and endpoint strings are written by
 * installers: any bytes give a valid profile (one that keeps every promise
 * of hal_profile.h) or errors naming file:line; never a crash.
 */
#include "gridlet/conf.h"
#include "gridlet/hal_profile.h"
#include "gridlet/hal_sunspec.h"
#include "gridlet/hal_transport.h"
#include "gridlet/log.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  hal_profile p;
  gl_conf_errors e;
  int rc = hal_profile_parse("fuzz.profile", (const char *)data, size, &p, &e);
  if (rc == 0) {
    if (memchr(p.name, '\0', sizeof p.name) == NULL || !p.name[0] ||
        (p.kind != HAL_PROFILE_SUNSPEC && p.kind != HAL_PROFILE_REGISTERS) ||
        (p.control_model != 0 && p.control_model != 124))
      __builtin_trap();
    for (int q = 0; q < HAL_Q_COUNT; q++) {
      const hal_qty_map *m = &p.q[q];
      if (!m->mapped)
        continue;
      if ((m->sign != 1 && m->sign != -1) || m->scale < -10 || m->scale > 10 ||
          m->n_alts > HAL_PROFILE_ALTS ||
          (hal_qty_is_counter(q) && m->sign < 0))
        __builtin_trap();
      for (int a = 0; a < m->n_alts; a++) {
        const hal_ss_model *md = hal_ss_model_find(m->alts[a].model);
        if (!md || !hal_ss_point_find(md, m->alts[a].point))
          __builtin_trap();
      }
      if (p.kind == HAL_PROFILE_SUNSPEC && m->n_alts == 0)
        __builtin_trap();
    }
  } else if (e.count <= 0) {
    __builtin_trap(); /* an error must be described */
  }
  /* The same bytes as an endpoint ("tcp:host:502", "rtu:/dev/x:9600"). */
  char text[600];
  size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
  memcpy(text, data, n);
  text[n] = '\0';
  hal_endpoint ep;
  char err[200], out[600];
  if (hal_endpoint_parse(text, &ep, err, sizeof err) == 0) {
    hal_endpoint back;
    hal_endpoint_format(&ep, out, sizeof out);
    if (hal_endpoint_parse(out, &back, err, sizeof err) != 0 ||
        memcmp(&ep, &back, sizeof ep) != 0)
      __builtin_trap(); /* formatting round-trips */
  }
  return 0;
}
