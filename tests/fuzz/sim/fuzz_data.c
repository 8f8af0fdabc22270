/* SPDX-License-Identifier: MIT */
/*
 * fuzz_data.c - the research simulator's data readers on arbitrary files:
 * the long CSV and the Ausgrid layout (byte 0 picks which, and the
 * interval: equal to the data step, a multiple, or a divisor). The file
 * goes through a memfd so the real reader runs (the pre-pass that checks
 * every row, then streaming); rows are also parsed one by one. Whatever
 * the bytes, a refusal comes with a reason, and streaming a file that
 * passed the check never fails.
 */
#define _GNU_SOURCE
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/sim_input.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rows(const uint8_t *data, size_t size, bool ausgrid) {
  sim_csv_format f = {
      .step = 900000000000, .has_utc_offset = true, .utc_offset_s = 36000};
  char why[256];
  size_t pos = 0;
  while (pos < size) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
    const char *l = (const char *)data + pos;
    if (ausgrid) {
      sim_ausgrid_row r;
      int nf;
      if (sim_ausgrid_row_parse(l, n, 53, &r, why, sizeof why) && !why[0])
        __builtin_trap();
      sim_ausgrid_header(l, n, &nf, why, sizeof why);
    } else {
      sim_csv_row r;
      why[0] = '\0';
      if (sim_csv_row_parse(l, n, &f, &r, why, sizeof why) && !why[0])
        __builtin_trap();
      sim_csv_header(l, n, &f, why, sizeof why);
    }
    pos += n + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  if (size < 1 || size > (1u << 20))
    return 0;
  bool ausgrid = data[0] & 1;
  int conv = (data[0] >> 1) % 3;
  const uint8_t *in = data + 1;
  size_t n = size - 1;
  rows(in, n, ausgrid);

  int fd = memfd_create("fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (n && write(fd, in, n) != (ssize_t)n) {
    close(fd);
    return 0;
  }
  static const char *const csv_iv[3] = {"15m", "30m", "5m"};
  static const char *const ag_iv[3] = {"30m", "1h", "15m"};
  char text[512];
  snprintf(text, sizeof text,
           "[scenario]\nname = f\ninterval = %s\n[tariff]\nretail = 0.3\n"
           "feed_in = 0.1\n[input]\nsource = %s\npath = /proc/self/fd/%d\n"
           "%s%s",
           ausgrid ? ag_iv[conv] : csv_iv[conv], ausgrid ? "ausgrid" : "csv",
           fd, ausgrid ? "" : "step = 15m\nutc_offset = +10:00\n",
           data[0] & 0x80 ? "missing = absent\n" : "");
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  if (sim_scenario_parse("/fuzz.ini", text, strlen(text), NULL, 0, &sc, &d))
    __builtin_trap();
  sim_source *s = NULL;
  int rc = sim_source_open(sc, &s, &d);
  if (rc) {
    if (d.count == 0 && rc != GL_ENOMEM)
      __builtin_trap();
  } else {
    sim_source_info si;
    sim_source_info_get(s, &si);
    if (si.n_ids == 0 || !si.has_span || si.end <= si.start)
      __builtin_trap();
    sim_home *homes = calloc(si.n_ids, sizeof *homes);
    for (size_t i = 0; i < si.n_ids; i++)
      snprintf(homes[i].id, sizeof homes[i].id, "%s", si.ids[i]);
    int64_t L = sc->interval;
    int64_t start = (si.start + L - 1) / L * L, end = si.end / L * L;
    if (end - start > 400 * L)
      end = start + 400 * L;
    if (end > start && sim_source_start(s, homes, si.n_ids, start, end) == 0) {
      int64_t *load = calloc(si.n_ids, sizeof *load);
      int64_t *pv = calloc(si.n_ids, sizeof *pv);
      uint8_t *present = calloc(si.n_ids, 1);
      for (int64_t t = start; t < end; t += L) {
        if (sim_source_next(s, t, load, pv, present, &d))
          __builtin_trap(); /* checked, so it streams */
        for (size_t i = 0; i < si.n_ids; i++)
          if (load[i] < 0 || pv[i] < 0)
            __builtin_trap();
      }
      free(load);
      free(pv);
      free(present);
    }
    free(homes);
    sim_source_free(s);
  }
  sim_scenario_free(sc);
  close(fd);
  return 0;
}
