/* SPDX-License-Identifier: MIT */
/*
 * fuzz_codec.c - base64 and hex decoding of outside text (signed notes,
 * proofs, keys). Anything accepted must re-encode to exactly the input:
 * the decoders accept one canonical form only.
 */
#include "gridlet/crypto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096)
    return 0;
  const char *text = (const char *)data;
  uint8_t out[4096];
  size_t n;
  if (gl_base64_decode(text, size, out, sizeof out, &n) == 0) {
    char back[8192];
    if (gl_base64_encode(out, n, back, sizeof back) != 0 ||
        strlen(back) != size || memcmp(back, text, size) != 0)
      __builtin_trap();
  }
  if (gl_hex_decode(text, size, out, sizeof out, &n) == 0) {
    char back[8193];
    gl_hex_encode(out, n, back);
    for (size_t i = 0; i < size; i++) {
      char c = text[i];
      if (c >= 'A' && c <= 'F')
        c = (char)(c - 'A' + 'a');
      if (back[i] != c)
        __builtin_trap();
    }
  }
  return 0;
}
