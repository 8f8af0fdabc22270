/* SPDX-License-Identifier: MIT */
/*
 * fuzz_witness.c - tlog-witness add-checkpoint requests, the input a
 * witness takes from anyone who can reach it. The witness state lives in a
 * real SQLite file in a temporary directory (created once). Invariant:
 * nothing crashes, and the recorded size never decreases.
 */
#include "fuzz_keys.h"
#include "gridlet/clock.h"
#include "gridlet/ledger_witness.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lg_witness *w;
static gl_manual_clock *mc;
static gl_clock clock_view;
static char dir[256];

static void cleanup(void) {
  lg_witness_free(w);
  gl_manual_clock_free(mc);
  char path[300];
  static const char *const files[] = {"w.db", "w.db-wal", "w.db-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!w) {
    lg_signer log, wit;
    fuzz_keys(&log, &wit);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gridlet-fuzz-witness-XXXXXX",
             tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
      abort();
    char path[300];
    snprintf(path, sizeof path, "%s/w.db", dir);
    mc = gl_manual_clock_new(INT64_C(1767225600000000000));
    clock_view = gl_manual_clock_clock(mc);
    if (lg_witness_open(path, &wit, &clock_view, &w) != 0)
      abort();
    char vk[LG_KEY_TEXT_MAX];
    lg_vkey_format(&log.vkey, vk, sizeof vk);
    if (lg_witness_add_log(w, vk) != 0)
      abort();
    atexit(cleanup);
  }
  uint64_t before = 0, after = 0;
  uint8_t root[32];
  (void)lg_witness_state(w, FUZZ_ORIGIN, &before, root);
  char *cosig = NULL;
  lg_witness_result res;
  (void)lg_witness_add_checkpoint(w, (const char *)data, size, &cosig, &res);
  free(cosig);
  (void)lg_witness_state(w, FUZZ_ORIGIN, &after, root);
  if (after < before)
    __builtin_trap();
  return 0;
}
