/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pr_json.c - strict decoding of JSON payloads. The first byte picks
 * the accepted message type (byte % PR_MSG_COUNT; 0 accepts any), the
 * rest is the payload. A payload that decodes must validate, re-encode,
 * and decode again to the same encoding (a fixed point), so decoder,
 * validator and encoder agree on every input the fuzzer finds.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int t = data[0] % PR_MSG_COUNT;
  uint32_t allowed = t == 0 ? PR_TYPES_ANY : PR_TYPE_BIT(t);
  static pr_msg m, m2;
  pr_diag d = {0};
  if (pr_msg_decode((const char *)data + 1, size - 1, allowed, &m, &d) != 0) {
    if (d.reason == PR_R_NONE || d.msg[0] == '\0' || m.type != PR_MSG_NONE)
      __builtin_trap();
    return 0;
  }
  if (t != 0 && (int)m.type != t)
    __builtin_trap();
  if (pr_msg_validate(&m, &d) != 0)
    __builtin_trap();
  static char a[PR_PAYLOAD_MAX], b[PR_PAYLOAD_MAX];
  size_t na, nb;
  if (pr_msg_encode(&m, a, sizeof a, &na, &d) != 0)
    __builtin_trap();
  if (pr_msg_decode(a, na, allowed, &m2, &d) != 0)
    __builtin_trap();
  if (pr_msg_encode(&m2, b, sizeof b, &nb, &d) != 0 || na != nb ||
      memcmp(a, b, na) != 0)
    __builtin_trap();
  return 0;
}
