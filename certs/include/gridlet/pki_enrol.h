/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_enrol.h - the device's half of enrolment.
 *
 * On the meter board: make the device key (it never leaves the board) and
 * a CSR naming the meter id; the household hands the CSR to the operator,
 * whose CA checks and signs it (`gridlet-ca sign`), and installs the
 * returned certificate next to the key. `gridlet-meter keygen` and
 * `gridlet-meter csr` are thin shells over these two functions.
 * Thread-safe.
 */
#ifndef GRIDLET_PKI_ENROL_H
#define GRIDLET_PKI_ENROL_H

#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * pki_enrol_keygen - check `meter_id` against the naming rules, make a new
 * key of `type` from `rand`, write it to `key_path` (mode 0600; an
 * existing key is never replaced: GL_EEXIST) and its CSR to `csr_path`.
 * Returns 0, GL_EINVAL (bad id), GL_EEXIST, GL_EIO or GL_ECRYPTO, with the
 * reason.
 */
int pki_enrol_keygen(const char *meter_id, pki_key_type type,
                     const char *key_path, const char *csr_path,
                     const gl_rand *rand, pki_why *why);

/*
 * pki_enrol_csr - a new CSR for the existing key at `key_path` (e.g. after
 * the CSR was lost, or to renew), written to `csr_path`. Returns 0,
 * GL_EINVAL, a key loading error or GL_EIO, with the reason.
 */
int pki_enrol_csr(const char *meter_id, const char *key_path,
                  const char *csr_path, pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_ENROL_H */
