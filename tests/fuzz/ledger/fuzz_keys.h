/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keys.h - the fixed keys the ledger fuzz targets verify against. The
 * seed corpora were made with the same keys (see corpus/README), so seeds
 * reach the code behind signature checks.
 */
#ifndef GRIDLET_LEDGER_FUZZ_KEYS_H
#define GRIDLET_LEDGER_FUZZ_KEYS_H

#include "gridlet/ledger_note.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_ORIGIN "gridlet/fuzz"
#define FUZZ_WITNESS "fuzz.example/w"

static inline void fuzz_keys(lg_signer *log, lg_signer *witness) {
  uint8_t seed[32];
  memset(seed, 0x11, sizeof seed);
  if (lg_signer_from_seed(FUZZ_ORIGIN, LG_SIG_ED25519, seed, log) != 0)
    abort();
  memset(seed, 0x22, sizeof seed);
  if (lg_signer_from_seed(FUZZ_WITNESS, LG_SIG_COSIG_V1, seed, witness) != 0)
    abort();
}

#endif
