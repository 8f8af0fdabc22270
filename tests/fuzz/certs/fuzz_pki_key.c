/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pki_key.c - private key files (PEM PKCS#8 or SEC1). A key that
 * loads must re-encode and load back to the same key.
 */
#include "fuzz_world.h"

#include "gridlet/pki_key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_get();
  fz_write_seeds("key");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_get();
  pki_key k, back;
  if (pki_key_from_pem((const char *)data, size, &k, NULL) != 0)
    return 0;
  char *pem;
  size_t len;
  if (pki_key_to_pem(&k, &pem, &len) != 0)
    __builtin_trap();
  if (pki_key_from_pem(pem, len, &back, NULL) != 0 ||
      !pki_pubkey_equal(&k.pub, &back.pub) ||
      memcmp(k.priv, back.priv, PKI_PRIV_LEN) != 0)
    __builtin_trap();
  free(pem);
  return 0;
}
