/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scenario.c - the research simulator's scenario parser on arbitrary
 * text, with an override taken from the input's first line. A scenario
 * that parses must give canonical text that parses again to the very
 * same text (and hash), and its households must resolve or be refused
 * with a reason.
 */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/sim_scenario.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  /* Text after a first line "!override" is the file; the line is a --set. */
  const char *text = (const char *)data;
  char set[256];
  const char *sets[1] = {set};
  size_t n_sets = 0;
  if (size > 1 && data[0] == '!') {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t k = nl ? (size_t)(nl - data) - 1 : size - 1;
    if (k >= sizeof set)
      k = sizeof set - 1;
    memcpy(set, data + 1, k);
    set[k] = '\0';
    if (strlen(set) == k)
      n_sets = 1;
    size_t skip = nl ? (size_t)(nl - data) + 1 : size;
    text += skip;
    size -= skip;
  }
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  int rc = sim_scenario_parse("fuzz.ini", text, size, sets, n_sets, &sc, &d);
  if (rc) {
    if (sc || d.count == 0)
      __builtin_trap(); /* refused without a reason */
    return 0;
  }
  char *a = NULL, *b = NULL;
  if (sim_scenario_format(sc, &a))
    __builtin_trap();
  sim_scenario *again = NULL;
  memset(&d, 0, sizeof d);
  if (sim_scenario_parse("fuzz.ini", a, strlen(a), NULL, 0, &again, &d))
    __builtin_trap(); /* canonical text must parse */
  if (sim_scenario_format(again, &b) || strcmp(a, b) != 0)
    __builtin_trap(); /* and round-trip */
  sim_home *homes = NULL;
  size_t n = 0;
  memset(&d, 0, sizeof d);
  static const char *const ids[] = {"1", "a", "b"};
  rc = sim_scenario_homes(sc, ids, 3, &homes, &n, &d);
  if (rc == 0) {
    for (size_t i = 1; i < n; i++)
      if (strcmp(homes[i - 1].id, homes[i].id) >= 0)
        __builtin_trap(); /* sorted, unique */
  } else if (rc != GL_ENOMEM && d.count == 0) {
    __builtin_trap();
  }
  free(homes);
  free(a);
  free(b);
  sim_scenario_free(again);
  sim_scenario_free(sc);
  return 0;
}
