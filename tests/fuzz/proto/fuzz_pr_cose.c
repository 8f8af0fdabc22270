/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pr_cose.c - strict COSE_Sign1 parsing of outside bytes. Whatever
 * the parser accepts must re-assemble to exactly the input (it accepts one
 * deterministic encoding only), and verification of an accepted envelope
 * must fail cleanly for a key that did not sign it.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pr_cose_view v;
  pr_diag d = {0};
  int rc = pr_cose_parse(data, size, PR_PAYLOAD_MAX, &v, &d);
  if (rc != 0) {
    if (d.reason == PR_R_NONE || d.msg[0] == '\0')
      __builtin_trap(); /* every rejection has a reason and a message */
    return 0;
  }
  static uint8_t again[PR_COSE_MAX];
  size_t n;
  if (pr_cose_assemble((const char *)v.kid, v.kid_len, v.payload, v.payload_len,
                       v.sig, again, sizeof again, &n) != 0 ||
      n != size || memcmp(again, data, size) != 0 ||
      pr_cose_size(v.kid_len, v.payload_len) != size)
    __builtin_trap();
  static const uint8_t pub[32] = {
      0x03, 0xa1, 0x07, 0xbf, 0xf3, 0xce, 0x10, 0xbe, 0x1d, 0x70, 0xdd,
      0x18, 0xe7, 0x4b, 0xc0, 0x99, 0x67, 0xe4, 0xd6, 0x30, 0x9b, 0xa5,
      0x0d, 0x5f, 0x1d, 0xdc, 0x86, 0x64, 0x12, 0x55, 0x31, 0xb8};
  rc = pr_cose_verify(&v, pub, &d);
  if (rc != 0 && rc != GL_EVERIFY)
    __builtin_trap();
  return 0;
}
