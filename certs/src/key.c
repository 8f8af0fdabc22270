/* SPDX-License-Identifier: MIT */
/*
 * key.c - key pairs: generation from the injected generator, PEM PKCS#8
 * text and files. See gridlet/pki_key.h.
 */
#include "gridlet/pki_key.h"

#include "internal.h"

#include "gridlet/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Key files are a few hundred bytes; anything much larger is not one. */
#define KEY_FILE_MAX 16384

const char *pki_key_type_name(pki_key_type type) {
  switch (type) {
  case PKI_KEY_ED25519:
    return "ed25519";
  case PKI_KEY_P256:
    return "p256";
  }
  return "?";
}

int pki_key_type_parse(const char *name, pki_key_type *type) {
  if (strcmp(name, "ed25519") == 0)
    *type = PKI_KEY_ED25519;
  else if (strcmp(name, "p256") == 0 || strcmp(name, "p-256") == 0)
    *type = PKI_KEY_P256;
  else
    return GL_EINVAL;
  return 0;
}

int pki_key_from_ed25519(const gl_ed25519_key *ed, pki_key *key) {
  memset(key, 0, sizeof *key);
  key->pub.type = PKI_KEY_ED25519;
  memcpy(key->pub.bytes, ed->pub, GL_ED25519_PUB_LEN);
  key->pub.len = GL_ED25519_PUB_LEN;
  memcpy(key->priv, ed->seed, GL_ED25519_SEED_LEN);
  return 0;
}

int pki_key_to_ed25519(const pki_key *key, gl_ed25519_key *ed) {
  if (key->pub.type != PKI_KEY_ED25519)
    return GL_ENOTSUP;
  memcpy(ed->seed, key->priv, GL_ED25519_SEED_LEN);
  memcpy(ed->pub, key->pub.bytes, GL_ED25519_PUB_LEN);
  return 0;
}

int pki_key_generate(pki_key_type type, const gl_rand *rand, pki_key *key) {
  memset(key, 0, sizeof *key);
  if (type == PKI_KEY_ED25519) {
    gl_ed25519_key ed;
    int rc = gl_ed25519_generate(rand, &ed);
    if (rc == 0)
      pki_key_from_ed25519(&ed, key);
    gl_wipe(&ed, sizeof ed);
    return rc;
  }
  if (type != PKI_KEY_P256)
    return GL_EINVAL;
  /* Rejection sampling of a scalar in [1, n-1]: the chance of a retry is
   * about 2^-32, so the loop bound is never reached by a working source. */
  for (int tries = 0; tries < 64; tries++) {
    int rc = gl_rand_fill(rand, key->priv, PKI_PRIV_LEN);
    if (rc)
      return rc;
    rc = pki__p256_pub(key->priv, key->pub.bytes);
    if (rc == GL_ERANGE)
      continue;
    if (rc) {
      pki_key_wipe(key);
      return rc;
    }
    key->pub.type = PKI_KEY_P256;
    key->pub.len = 65;
    return 0;
  }
  pki_key_wipe(key);
  return GL_ECRYPTO;
}

bool pki_pubkey_equal(const pki_pubkey *a, const pki_pubkey *b) {
  return a->type == b->type && a->len == b->len &&
         memcmp(a->bytes, b->bytes, a->len) == 0;
}

void pki_key_wipe(pki_key *key) {
  gl_wipe(key, sizeof *key);
}

int pki_key_to_pem(const pki_key *key, char **pem, size_t *len) {
  uint8_t der[256];
  size_t n;
  int rc = pki__key_to_pkcs8(key, der, sizeof der, &n);
  if (rc == 0)
    rc = pki__pem_encode("PRIVATE KEY", der, n, pem, len);
  gl_wipe(der, sizeof der);
  return rc;
}

int pki_key_from_pem(const char *text, size_t len, pki_key *key, pki_why *why) {
  if (pki__pem_has(text, len, "ENCRYPTED PRIVATE KEY"))
    return pki__fail_quiet(why, GL_ENOTSUP,
                           "the private key is encrypted; gridlet daemons "
                           "start unattended and need an unencrypted key "
                           "(protect it with file permissions)");
  uint8_t *der = NULL;
  size_t n = 0;
  bool sec1 = false;
  int rc = pki__pem_decode(text, len, "PRIVATE KEY", NULL, &der, &n, why);
  if (rc == GL_ENOENT) {
    rc = pki__pem_decode(text, len, "EC PRIVATE KEY", NULL, &der, &n, why);
    sec1 = true;
  }
  if (rc == GL_ENOENT)
    return pki__fail_quiet(why, GL_EPARSE,
                           "no \"PRIVATE KEY\" PEM block found");
  if (rc)
    return rc;
  rc = pki__key_from_der(der, n, sec1, key, why);
  gl_wipe(der, n);
  free(der);
  return rc;
}

int pki_key_write_file(const pki_key *key, const char *path, bool overwrite,
                       pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_key_to_pem(key, &pem, &n);
  if (rc)
    return rc;
  rc = pki__write_file(path, pem, n, 0600, overwrite ? 0 : PKI__W_EXCL, why);
  gl_wipe(pem, n);
  free(pem);
  return rc;
}

int pki_key_load_file(const char *path, pki_key *key, pki_why *why) {
  char *text;
  size_t n;
  mode_t mode;
  pki_why inner = {{0}};
  int rc = pki__read_file(path, KEY_FILE_MAX, &text, &n, &mode, &inner);
  if (rc)
    return pki__fail(why, rc, "private key: %s", inner.text);
  /* A key others can read may already be someone else's too: refuse it,
   * as the ledger refuses its signing keys, rather than warn into a log
   * nobody reads. */
  if (mode & (S_IRWXG | S_IRWXO)) {
    gl_wipe(text, n);
    free(text);
    return pki__fail(why, GL_EPERM,
                     "private key %s is accessible to group or others (mode "
                     "%04o); refusing to use it: chmod 600 %s",
                     path, (unsigned)(mode & 07777), path);
  }
  rc = pki_key_from_pem(text, n, key, &inner);
  gl_wipe(text, n);
  free(text);
  if (rc)
    return pki__fail(why, rc, "private key %s: %s", path, inner.text);
  return 0;
}

int pki_key_load_ed25519(const char *path, gl_ed25519_key *ed, pki_why *why) {
  pki_key key;
  int rc = pki_key_load_file(path, &key, why);
  if (rc)
    return rc;
  pki_key_type type = key.pub.type;
  rc = pki_key_to_ed25519(&key, ed);
  pki_key_wipe(&key);
  if (rc)
    return pki__fail(why, rc, "%s holds a %s key, not Ed25519", path,
                     pki_key_type_name(type));
  return 0;
}
