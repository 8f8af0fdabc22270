/* SPDX-License-Identifier: MIT */
/*
 * fuzz_entry.c - strict decoding of ledger entries (from exported ledgers,
 * bundles and mirrors). Invariant: anything accepted re-encodes to exactly
 * the input bytes, so each value has one encoding.
 */
#include "gridlet/ledger_balances.h"
#include "gridlet/ledger_entry.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lg_entry e;
  if (lg_entry_decode(data, size, &e, NULL) != 0)
    return 0;
  uint8_t *back;
  size_t len;
  if (lg_entry_encode(&e, &back, &len) != 0 || len != size ||
      memcmp(back, data, size) != 0)
    __builtin_trap();
  free(back);
  (void)lg_entry_check(&e, NULL);
  lg_balances *b = lg_balances_new();
  if (b) {
    (void)lg_balances_add_entry(b, data, size);
    for (size_t i = 0; i < lg_balances_count(b); i++)
      if (!lg_balances_at(b, i))
        __builtin_trap();
    lg_balances_free(b);
  }
  lg_entry_clear(&e);
  return 0;
}
