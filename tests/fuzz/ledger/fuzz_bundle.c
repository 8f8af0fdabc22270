/* SPDX-License-Identifier: MIT */
/*
 * fuzz_bundle.c - C2SP tlog-proof bundles as meters and auditors receive
 * them. Invariants: nothing crashes; a parsed bundle formats back to the
 * same text; verification never accepts a bundle whose entry was changed.
 */
#include "fuzz_keys.h"
#include "gridlet/ledger_bundle.h"
#include "gridlet/ledger_entry.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lg_signer log, wit;
  static int init;
  if (!init) {
    fuzz_keys(&log, &wit);
    init = 1;
  }
  lg_bundle *b = malloc(sizeof *b);
  if (!b)
    return 0;
  if (lg_bundle_parse((const char *)data, size, b) == 0) {
    char *back;
    size_t len;
    if (lg_bundle_format(b->index, b->proof, b->nproof, b->extra, b->extra_len,
                         b->checkpoint, b->checkpoint_len, &back, &len) == 0) {
      if (len != size || memcmp(back, data, size) != 0)
        __builtin_trap();
      free(back);
    }
    lg_policy pol = {&log.vkey, &wit.vkey, 1, 0};
    if (lg_bundle_verify(b, &pol, NULL, NULL, NULL) == 0 && b->extra) {
      lg_entry e;
      if (lg_entry_decode(b->extra, b->extra_len, &e, NULL) == 0)
        lg_entry_clear(&e);
      /* One changed bit of the entry must not verify. */
      b->extra[b->extra_len / 2] ^= 0x10;
      if (lg_bundle_verify(b, &pol, NULL, NULL, NULL) == 0)
        __builtin_trap();
    }
  }
  lg_bundle_clear(b);
  free(b);
  return 0;
}
