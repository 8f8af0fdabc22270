/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_ca.h - a community certificate authority on disk.
 *
 * The operator's CA lives in one directory:
 *   ca.key         the CA private key (PEM PKCS#8, mode 0600)
 *   ca.pem         the self-signed CA certificate
 *   index.sqlite   every certificate issued, with its revocation state
 *   crl.pem        the current signed revocation list
 *   ca.lock        flock'd while a CRL is issued (see below)
 *   certs/<name>.pem  the latest certificate issued to each subject
 * The directory itself is mode 0700. `gridlet-ca` is a thin shell over
 * this module; the development community (gridlet/pki_dev.h) uses it too.
 *
 * Policy enforced here:
 *   - a device certificate is issued only from a CSR whose self-signature
 *     verifies, whose subject is exactly CN=<meter id> with a valid,
 *     non-reserved id, and whose key is Ed25519 or P-256;
 *   - one valid certificate per subject: re-enrolling needs `replace`,
 *     which revokes the previous certificate as superseded;
 *   - a public key is certified for one subject only, and never again
 *     once a certificate holding it was revoked for any reason other
 *     than "superseded" (a renewal supersedes the old certificate, so a
 *     meter may renew with the same key any number of times);
 *   - serial numbers are 16 random bytes from the injected generator,
 *     unique in the index (a collision is retried);
 *   - validity starts one hour before the injected clock's time (boards
 *     without a real-time clock boot a little behind) and never ends after
 *     the CA's own certificate.
 * Every issue and revocation runs under the index's write lock (SQLite
 * BEGIN IMMEDIATE, synchronous=FULL), so CA processes never race. A change
 * that revokes signs its new CRL under that lock into a temporary file and
 * moves it over crl.pem only after the change (and the CRL's number) has
 * committed, so a failed commit never leaves a published list whose number
 * is used again; a lock file (ca.lock, flock) keeps CA processes from
 * putting their lists in place out of order. A new certificate's file
 * (certs/<name>.pem) is written after the commit.
 *
 * Thread-safety: one pki_ca per thread; SQLite serialises processes.
 */
#ifndef GRIDLET_PKI_CA_H
#define GRIDLET_PKI_CA_H

#include "gridlet/clock.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default lifetimes. */
#define PKI_CA_LIFETIME_DEFAULT (INT64_C(3650) * 86400 * GL_NS_PER_SEC)
#define PKI_METER_LIFETIME_DEFAULT (INT64_C(1826) * 86400 * GL_NS_PER_SEC)
#define PKI_SERVICE_LIFETIME_DEFAULT (INT64_C(825) * 86400 * GL_NS_PER_SEC)
#define PKI_CRL_LIFETIME_DEFAULT (INT64_C(180) * 86400 * GL_NS_PER_SEC)
/* How far back validity starts, for device clocks running behind. */
#define PKI_BACKDATE (INT64_C(3600) * GL_NS_PER_SEC)

typedef struct pki_ca pki_ca;

typedef struct pki_ca_init_opts {
  const char *community; /* required; the community naming rules apply */
  pki_key_type key_type; /* default Ed25519 */
  int64_t lifetime;      /* ns; 0: PKI_CA_LIFETIME_DEFAULT */
  int64_t crl_lifetime;  /* ns; 0: PKI_CRL_LIFETIME_DEFAULT */
  bool no_sync;          /* see pki_ca_open_opts */
} pki_ca_init_opts;

/*
 * pki_ca_init - create a CA in `dir` (made with mode 0700 if missing): a
 * new key from `rand`, a self-signed certificate with CN "<community>
 * community CA" and O=<community>, the index and an empty CRL. Refuses
 * (GL_EEXIST) if `dir` already holds a CA. Returns 0, GL_EINVAL (bad
 * community), GL_EEXIST, GL_EIO, GL_ESTORE or GL_ECRYPTO, with the reason.
 */
int pki_ca_init(const char *dir, const pki_ca_init_opts *opts,
                const gl_rand *rand, const gl_clock *clock, pki_why *why);

typedef struct pki_ca_open_opts {
  /* Skip fsync, SQLite's synchronous writes and atomic file replacement:
   * for throw-away development communities only. */
  bool no_sync;
} pki_ca_open_opts;

/*
 * pki_ca_open - open the CA in `dir`; `opts` may be NULL. `rand` (serials,
 * keys) and `clock` (validity, revocation times) are borrowed and must
 * outlive the handle. Checks that ca.key belongs to ca.pem. Returns 0 and
 * an owned handle, or GL_ENOENT (no CA there), GL_ESTORE, GL_ECONFIG, ...
 */
int pki_ca_open(const char *dir, const pki_ca_open_opts *opts,
                const gl_rand *rand, const gl_clock *clock, pki_ca **out,
                pki_why *why);

/* pki_ca_free - close; NULL is a no-op. */
void pki_ca_free(pki_ca *ca);

/* Accessors, valid while `ca` lives. */
const pki_cert *pki_ca_cert(const pki_ca *ca);
const char *pki_ca_community(const pki_ca *ca);
const char *pki_ca_dir(const pki_ca *ca);

typedef struct pki_ca_sign_opts {
  int64_t lifetime; /* ns; 0: PKI_METER_LIFETIME_DEFAULT */
  bool replace;     /* revoke the subject's current certificate(s) */
} pki_ca_sign_opts;

/*
 * pki_ca_sign_csr - check a meter's CSR (PEM or DER, `len` bytes) and
 * issue its device certificate; `opts` may be NULL. Also writes
 * certs/<id>.pem (after the commit: a failure to write it is logged as an
 * error, the certificate is still returned). Returns 0 and the certificate
 * (owned), or GL_EPARSE, GL_EVERIFY, GL_ENOTSUP, GL_EPERM (subject), GL_EEXIST
 * (subject already enrolled, without `replace`), GL_ECONFLICT (key certified
 * for another subject), GL_ESTORE, GL_EIO, with the reason.
 */
int pki_ca_sign_csr(pki_ca *ca, const char *csr, size_t len,
                    const pki_ca_sign_opts *opts, pki_cert **out, pki_why *why);

typedef struct pki_ca_service_opts {
  const char *name; /* PKI_NAME_BROKER or PKI_NAME_AGGREGATOR */
  const char *const *dns;
  size_t n_dns;
  const char *const *ips;
  size_t n_ips;
  int64_t lifetime; /* ns; 0: PKI_SERVICE_LIFETIME_DEFAULT */
  bool replace;     /* revoke the service's current certificate(s) */
  /*
   * Optional (may be NULL): called with the new certificate once every
   * check has passed, before anything commits (under the index's write
   * lock). Write the service's new key and certificate to temporary files
   * here and move them into place after pki_ca_issue_service returns 0. A
   * negative return (a GL_E* code; fill `why`) abandons the issue: nothing
   * is recorded, no certificate revoked, crl.pem unchanged, and that code
   * is returned. So a key that cannot be written never costs the running
   * service its working certificate.
   */
  int (*stage)(void *ctx, const pki_cert *cert, pki_why *why);
  void *stage_ctx;
} pki_ca_service_opts;

/*
 * pki_ca_issue_service - issue the broker's (serverAuth) or the
 * aggregator's (serverAuth + clientAuth) certificate for `pub`, with
 * subjectAltName DNS/IP entries. Without `replace`, a service that already
 * has a valid certificate is refused (GL_EEXIST): re-issuing revokes the
 * one the running service uses. Once the issue has committed, failures to
 * publish the new CRL or write certs/<name>.pem are logged as errors (the
 * certificate is issued and kept in the index) and 0 is returned. Returns
 * as pki_ca_sign_csr, the stage callback's code, GL_EINVAL for another
 * name.
 */
int pki_ca_issue_service(pki_ca *ca, const pki_ca_service_opts *opts,
                         const pki_pubkey *pub, pki_cert **out, pki_why *why);

/* One row of the index. */
typedef struct pki_ca_record {
  char serial_hex[PKI_SERIAL_HEX_MAX];
  char subject[PKI_CN_MAX];
  char kind[8]; /* "ca", "meter" or "service" */
  pki_key_type key_type;
  int64_t issued_at, not_before, not_after;
  bool revoked;
  int64_t revoked_at; /* when revoked */
  int reason;         /* pki_reason, when revoked */
} pki_ca_record;

/* pki_ca_list flags. */
#define PKI_CA_LIST_ALL 0x1u /* include revoked and expired certificates */

/*
 * pki_ca_list - call `cb` for each certificate in the index, ordered by
 * subject then issue time; without PKI_CA_LIST_ALL only those valid now.
 * A non-zero return from `cb` stops the walk and is returned. Returns 0 or
 * GL_ESTORE.
 */
int pki_ca_list(pki_ca *ca, unsigned flags,
                int (*cb)(void *ctx, const pki_ca_record *rec), void *ctx);

/*
 * pki_ca_find - the record of serial `serial_hex`. Returns 0, GL_ENOENT or
 * GL_ESTORE.
 */
int pki_ca_find(pki_ca *ca, const char *serial_hex, pki_ca_record *rec);

/*
 * pki_ca_revoke - revoke every unrevoked certificate of `subject` (when
 * `serial_hex` is NULL) or the one certificate `serial_hex` (`subject`
 * NULL), with `reason`, then re-issue crl.pem. The CA's own certificate
 * cannot be revoked. *n (may be NULL) gets the number revoked. Returns 0,
 * GL_ENOENT (nothing to revoke), GL_EINVAL, GL_EPERM, GL_ESTORE, GL_EIO.
 */
int pki_ca_revoke(pki_ca *ca, const char *subject, const char *serial_hex,
                  int reason, unsigned *n, pki_why *why);

/*
 * pki_ca_write_crl - issue a new CRL (next cRLNumber, valid for
 * `lifetime` ns or the CA's configured CRL lifetime when 0) listing every
 * revoked certificate that has not expired yet, and write it to crl.pem.
 * Returns 0, GL_ESTORE, GL_EIO or GL_ECRYPTO.
 */
int pki_ca_write_crl(pki_ca *ca, int64_t lifetime, pki_why *why);

/*
 * pki_ca_denied_names - call `cb` for each subject that has a revoked
 * certificate and no valid one now: the identities the broker's ACL denies
 * outright, so a revoked device still connected loses access at the next
 * broker reload. Returns 0, GL_ESTORE or `cb`'s non-zero return.
 */
int pki_ca_denied_names(pki_ca *ca, int (*cb)(void *ctx, const char *name),
                        void *ctx);

/*
 * pki_ca_get_setting / pki_ca_set_setting - small named settings kept in
 * the index ("broker_dir", "crl_lifetime_s", ...). get: 0 and the value in
 * `buf` (`size` bytes), GL_ENOENT, GL_ETOOBIG or GL_ESTORE. set: 0 or
 * GL_ESTORE.
 */
int pki_ca_get_setting(pki_ca *ca, const char *name, char *buf, size_t size);
int pki_ca_set_setting(pki_ca *ca, const char *name, const char *value);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_CA_H */
