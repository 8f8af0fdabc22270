/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pr_topic.c - parsing of received MQTT topics. An accepted topic
 * must rebuild to exactly the input.
 */
#include "gridlet/proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pr_topic t;
  pr_diag d = {0};
  if (pr_topic_parse((const char *)data, size, NULL, &t, &d) != 0) {
    if (d.reason != PR_R_BAD_TOPIC)
      __builtin_trap();
    return 0;
  }
  char again[PR_TOPIC_MAX];
  if (pr_topic_build(t.kind, t.community, t.id, again, sizeof again) != 0 ||
      strlen(again) != size || memcmp(again, data, size) != 0)
    __builtin_trap();
  return 0;
}
