/* SPDX-License-Identifier: MIT */
/*
 * identity.c - a daemon's own certificate and key. See
 * gridlet/pki_identity.h.
 */
#include "gridlet/pki_identity.h"

#include "internal.h"

#include "gridlet/error.h"

#include <stdlib.h>

struct pki_identity {
  pki_cert *cert;
  pki_key key;
};

int pki_identity_load(const char *cert_path, const char *key_path,
                      pki_identity **out, pki_why *why) {
  *out = NULL;
  pki_identity *id = calloc(1, sizeof *id);
  if (!id)
    return GL_ENOMEM;
  int rc = pki_cert_load_file(cert_path, &id->cert, why);
  if (rc == 0)
    rc = pki_key_load_file(key_path, &id->key, why);
  if (rc == 0 && !pki_cert_matches_key(id->cert, &id->key))
    rc =
        pki__fail(why, GL_ECONFIG,
                  "the key %s does not belong to the certificate %s (%s); "
                  "install the certificate issued for this key",
                  key_path, cert_path, pki_cert_get_info(id->cert)->subject_cn);
  if (rc) {
    pki_identity_free(id);
    return rc;
  }
  *out = id;
  return 0;
}

void pki_identity_free(pki_identity *id) {
  if (!id)
    return;
  pki_cert_free(id->cert);
  pki_key_wipe(&id->key);
  free(id);
}

const pki_cert *pki_identity_cert(const pki_identity *id) {
  return id->cert;
}

const char *pki_identity_name(const pki_identity *id) {
  return pki_cert_get_info(id->cert)->subject_cn;
}

const pki_key *pki_identity_key(const pki_identity *id) {
  return &id->key;
}

int pki_identity_ed25519(const pki_identity *id, gl_ed25519_key *ed) {
  return pki_key_to_ed25519(&id->key, ed);
}
