/* SPDX-License-Identifier: MIT */
/*
 * fuzz_meter_state.c - the interval accountant's saved state is read back
 * from the database file at every start: a damaged file must be refused
 * (and the accountant reset), never crash it. Accepted state must save
 * back to the same bytes, and feeding and closing intervals from it must
 * work.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_account.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  mtr_account_cfg cfg = {.interval_ns = 15 * 60 * GL_NS_PER_SEC,
                         .poll_ns = 5 * GL_NS_PER_SEC,
                         .close_wait_ns = 30 * GL_NS_PER_SEC,
                         .step_ns = 2 * GL_NS_PER_SEC,
                         .backfill_ns = 3600 * GL_NS_PER_SEC,
                         .max_power_w = 50000,
                         .counters = 0x1f};
  mtr_account *a;
  if (mtr_account_new(&cfg, &a))
    abort();
  if (mtr_account_load(a, data, size) == 0) {
    uint8_t buf[MTR_ACCOUNT_STATE_MAX];
    size_t len;
    if (mtr_account_save(a, buf, sizeof buf, &len) || len != size ||
        memcmp(buf, data, size) != 0)
      abort();
    /* One poll and whatever it closes; intervals stay well-formed. */
    mtr_poll p;
    memset(&p, 0, sizeof p);
    int64_t open = mtr_account_open_start(a);
    p.wall = open == INT64_MIN ? 0 : open + 17 * GL_NS_PER_SEC;
    for (int c = 0; c < MTR_C_COUNT; c++)
      p.c[c] = (mtr_obs){true, false, 1000, 1000, 32, 0, 1};
    mtr_account_feed(a, &p);
    mtr_interval iv;
    for (int i = 0; i < 200 && mtr_account_next(
                                   a, p.wall + 3600 * GL_NS_PER_SEC, &iv) == 0;
         i++)
      if (iv.end - iv.start != cfg.interval_ns)
        abort();
  }
  mtr_account_free(a);
  return 0;
}
