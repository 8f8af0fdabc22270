/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pki_csr.c - certificate signing requests, the one input the CA
 * takes from households: parse (PEM or DER), check the subject and the
 * self-signature. A request that passes must have a printable CN and a
 * key of the profile.
 */
#include "fuzz_world.h"

#include "gridlet/pki_csr.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_get();
  fz_write_seeds("csr");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_get();
  pki_csr_info info;
  if (pki_csr_parse((const char *)data, size, &info, NULL) == 0) {
    size_t n = strlen(info.subject_cn);
    if (n == 0 || n >= PKI_CN_MAX)
      __builtin_trap();
    for (size_t i = 0; i < n; i++)
      if (info.subject_cn[i] < 0x20 || info.subject_cn[i] > 0x7e)
        __builtin_trap();
    if (!(info.pub.type == PKI_KEY_ED25519 && info.pub.len == 32) &&
        !(info.pub.type == PKI_KEY_P256 && info.pub.len == 65))
      __builtin_trap();
  }
  return 0;
}
