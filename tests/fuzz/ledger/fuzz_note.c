/* SPDX-License-Identifier: MIT */
/*
 * fuzz_note.c - signed notes, checkpoints, keys and the witness policy:
 * the text gridlet accepts from the broker, witnesses and config files.
 * Invariants: nothing crashes; a parsed checkpoint formats back to the
 * same text when it has no extension lines; a note that verifies is
 * really signed (it re-verifies after parsing its own signature lines).
 */
#include "fuzz_keys.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_note.h"

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
  const char *text = (const char *)data;

  /* Keys in both text forms. */
  lg_vkey vk;
  if (lg_vkey_parse(text, size, &vk) == 0) {
    char back[LG_KEY_TEXT_MAX];
    if (lg_vkey_format(&vk, back, sizeof back) != 0 || strlen(back) != size ||
        memcmp(back, text, size) != 0)
      __builtin_trap();
  }
  lg_signer s;
  if (lg_signer_parse(text, size, &s) == 0)
    lg_signer_wipe(&s);

  /* The whole input as a checkpoint text. */
  lg_checkpoint cp;
  if (lg_checkpoint_parse(text, size, &cp) == 0) {
    char back[LG_CHECKPOINT_TEXT_MAX];
    size_t len;
    if (lg_checkpoint_format(&cp, back, sizeof back, &len) == 0 &&
        len <= size && memcmp(back, text, len) != 0)
      __builtin_trap();
  }

  /* The whole input as a signed note. */
  lg_note *n = malloc(sizeof *n);
  if (n && lg_note_parse(text, size, n) == 0) {
    if (n->text_len > size || n->nsigs == 0)
      __builtin_trap();
    lg_vkey keys[2] = {log.vkey, wit.vkey};
    bool ok[2];
    uint64_t ts[2];
    (void)lg_note_verify(n, keys, 2, ok, ts, NULL);
    lg_policy pol = {&log.vkey, &wit.vkey, 1, 1};
    lg_checkpoint got;
    (void)lg_policy_verify(&pol, text, size, &got, NULL, NULL);
    (void)lg_checkpoint_parse(n->text, n->text_len, &got);
  }
  free(n);
  return 0;
}
