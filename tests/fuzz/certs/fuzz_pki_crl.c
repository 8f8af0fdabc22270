/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pki_crl.c - revocation lists read from disk by the aggregator:
 * parse (PEM or DER), verify against the world's CA, look serials up, and
 * offer it to a trust. A CRL that verifies must have been signed by the
 * CA's key, so a mutated one must never verify unless unchanged in its
 * signed part.
 */
#include "fuzz_world.h"

#include "gridlet/pki_crl.h"

#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_get();
  fz_write_seeds("crl");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_world *w = fz_get();
  pki_crl *crl;
  if (pki_crl_parse((const char *)data, size, &crl, NULL) != 0)
    return 0;
  (void)pki_crl_verify(crl, w->ca, w->now, NULL);
  static const uint8_t probe[] = {0x10, 0x02};
  (void)pki_crl_find(crl, probe, sizeof probe, NULL);
  (void)pki_crl_find_hex(crl, "7f0102", NULL);
  size_t n = pki_crl_count(crl);
  for (size_t i = 0; i < n; i++) {
    const pki_crl_entry *e = pki_crl_entry_at(crl, i);
    if (!e || e->serial_len == 0 || e->serial_len > PKI_SERIAL_MAX ||
        !pki_crl_find(crl, e->serial, e->serial_len, NULL))
      __builtin_trap();
  }
  pki_crl_free(crl);
  return 0;
}
