/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pki_cert.c - certificates from outside (a peer's PEM, a meter's
 * certificate file): parse as DER and as PEM, then run every check the
 * aggregator and the meter apply. Anything accepted as a meter must name a
 * valid meter id and carry a key of the profile.
 */
#include "fuzz_world.h"

#include "gridlet/pki_name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fz_get();
  fz_write_seeds("cert");
  return 0;
}

static void exercise(fz_world *w, const pki_cert *c) {
  const pki_cert_info *in = pki_cert_get_info(c);
  if (strlen(in->subject_cn) >= PKI_CN_MAX ||
      (in->pub.type == PKI_KEY_ED25519 && in->pub.len != 32) ||
      (in->pub.type == PKI_KEY_P256 && in->pub.len != 65))
    __builtin_trap();
  char id[PKI_METER_ID_MAX];
  if (pki_cert_meter_id(c, id, NULL) == 0 &&
      pki_name_check_meter_id(id, NULL) != 0)
    __builtin_trap();
  uint8_t pub[32];
  (void)pki_cert_ed25519_pub(c, pub, NULL);
  (void)pki_cert_names(c);
  (void)pki_cert_signed_by(c, c, NULL);
  pki_peer peer;
  if (pki_trust_verify(w->trust, c, PKI_ROLE_METER, &w->clock, &peer, NULL) ==
      0) {
    if (pki_name_check_meter_id(peer.name, NULL) != 0 ||
        !pki_pubkey_equal(&peer.pub, &in->pub))
      __builtin_trap();
  }
  (void)pki_trust_verify(w->trust, c, PKI_ROLE_AGGREGATOR, &w->clock, NULL,
                         NULL);
  char *pem;
  if (pki_cert_to_pem(c, &pem, NULL) == 0) {
    pki_cert *again;
    if (pki_cert_parse_pem(pem, strlen(pem), &again, NULL) != 0)
      __builtin_trap(); /* what we accepted, we must read back */
    pki_cert_free(again);
    free(pem);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_world *w = fz_get();
  pki_cert *c;
  if (pki_cert_parse_der(data, size, &c, NULL) == 0) {
    exercise(w, c);
    pki_cert_free(c);
  }
  if (pki_cert_parse_pem((const char *)data, size, &c, NULL) == 0) {
    exercise(w, c);
    pki_cert_free(c);
  }
  return 0;
}
