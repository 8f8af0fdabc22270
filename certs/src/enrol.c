/* SPDX-License-Identifier: MIT */
/*
 * enrol.c - the device's half of enrolment: key and CSR files. See
 * gridlet/pki_enrol.h.
 */
#include "gridlet/pki_enrol.h"

#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_name.h"

#include <stdlib.h>

static int write_csr(const pki_key *key, const char *meter_id,
                     const char *csr_path, pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_csr_create(key, meter_id, &pem, &n);
  if (rc)
    return pki__fail(why, rc, "cannot make the CSR: %s", gl_strerror(rc));
  rc = pki__write_file(csr_path, pem, n, 0644, 0, why);
  free(pem);
  return rc;
}

static int check_id(const char *meter_id, pki_why *why) {
  pki_why inner = {{0}};
  if (pki_name_check_meter_id(meter_id, &inner))
    return pki__fail(why, GL_EINVAL, "%s", inner.text);
  return 0;
}

int pki_enrol_keygen(const char *meter_id, pki_key_type type,
                     const char *key_path, const char *csr_path,
                     const gl_rand *rand, pki_why *why) {
  int rc = check_id(meter_id, why);
  if (rc)
    return rc;
  if (pki__exists(key_path))
    return pki__fail(why, GL_EEXIST,
                     "%s already exists; this device already has a key (use "
                     "`csr` to make a new request for it)",
                     key_path);
  pki_key key;
  rc = pki_key_generate(type, rand, &key);
  if (rc) {
    pki_key_wipe(&key);
    return pki__fail(why, rc, "cannot make a key: %s", gl_strerror(rc));
  }
  rc = pki_key_write_file(&key, key_path, false, why);
  if (rc == 0)
    rc = write_csr(&key, meter_id, csr_path, why);
  pki_key_wipe(&key);
  if (rc == 0)
    GL_NOTICE(PKI__LOG, "new %s key in %s, request for \"%s\" in %s",
              pki_key_type_name(type), key_path, meter_id, csr_path);
  return rc;
}

int pki_enrol_csr(const char *meter_id, const char *key_path,
                  const char *csr_path, pki_why *why) {
  int rc = check_id(meter_id, why);
  if (rc)
    return rc;
  pki_key key;
  rc = pki_key_load_file(key_path, &key, why);
  if (rc)
    return rc;
  rc = write_csr(&key, meter_id, csr_path, why);
  pki_key_wipe(&key);
  return rc;
}
