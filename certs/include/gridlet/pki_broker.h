/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_broker.h - mosquitto configuration for a community.
 *
 * pki_broker_config writes everything mosquitto (2.0) needs to serve one
 * community into one directory:
 *   mosquitto.conf  a TLS 1.3-only listener that requires a client
 *                   certificate from the community CA, takes the MQTT
 *                   username from the certificate CN
 *                   (use_identity_as_username) and the client id from the
 *                   username (use_username_as_clientid, so no client can
 *                   take over another's session), checks the CRL, and
 *                   applies the ACL file; no anonymous access
 *   acl             the topic rules of the shared protocol map
 *   ca.pem, crl.pem copies of the CA certificate and current CRL
 *   broker.pem, broker.key  the broker's server certificate (CN "broker",
 *                   subjectAltName DNS/IP) and key, issued by the CA when
 *                   missing or when asked to renew; the new key and
 *                   certificate are written before the issue commits, so a
 *                   write failure never revokes a working certificate
 * and records the directory in the CA index, so that after later
 * revocations and enrolments the caller (gridlet-ca does) can refresh
 * crl.pem and acl there with pki_broker_refresh. mosquitto re-reads both
 * on SIGHUP (`systemctl reload mosquitto`).
 *
 * ACL (MQTT username = certificate CN, `%u` in patterns):
 *   user aggregator: read  gridlet/<c>/meter/#
 *                    write gridlet/<c>/result/#, gridlet/<c>/public/#
 *   every meter:     write gridlet/<c>/meter/%u/#
 *                    read  gridlet/<c>/result/%u/#, gridlet/<c>/public/#
 *   identities whose certificates are all revoked: deny # (cuts off a
 *   session that is still connected at the next reload; new connections
 *   are already refused by the CRL during the TLS handshake)
 * Nothing else may publish anything.
 *
 * Thread-safety: as the pki_ca passed in.
 */
#ifndef GRIDLET_PKI_BROKER_H
#define GRIDLET_PKI_BROKER_H

#include "gridlet/pki_ca.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKI_BROKER_PORT_DEFAULT 8883

typedef struct pki_broker_opts {
  const char *out_dir; /* required; made with mode 0750 if missing */
  const char *bind;    /* listener address; NULL: all interfaces */
  uint16_t port;       /* 0: 8883 */
  /* `user` line: the account mosquitto drops to when started as root
   * (Debian: "mosquitto"); NULL: no line (mosquitto's default applies). */
  const char *run_as_user;
  /* log_dest line, e.g. "stdout" or "syslog"; NULL: mosquitto's default. */
  const char *log_dest;
  /* Keep sessions and queued messages across restarts (in out_dir). */
  bool persistence;
  /* subjectAltName entries for the broker certificate. When none are
   * given, "localhost", 127.0.0.1 and ::1 are used. */
  const char *const *dns;
  size_t n_dns;
  const char *const *ips;
  size_t n_ips;
  pki_key_type key_type; /* broker key type; default Ed25519 */
  /* Issue a new broker certificate and key, revoking the current one
   * (superseded). Needed whenever the CA already has a valid broker
   * certificate (even if out_dir lacks the files): without it that case
   * is refused with GL_EEXIST, since a running broker may be using it. */
  bool renew_cert;
} pki_broker_opts;

/*
 * pki_broker_config - write the files above for `ca`'s community. Returns
 * 0, GL_EINVAL, GL_EIO, GL_ESTORE, GL_EEXIST (a broker certificate exists
 * elsewhere and renew_cert is not set) or an issuing error, with the
 * reason.
 */
int pki_broker_config(pki_ca *ca, const pki_broker_opts *opts, pki_why *why);

/*
 * pki_broker_refresh - rewrite crl.pem and acl in the broker directory
 * recorded by pki_broker_config (atomically; reload mosquitto afterwards).
 * `dir` (may be NULL, `size` bytes) gets that directory, "" when none is
 * recorded, in which case nothing is done. Returns 0, GL_EIO or GL_ESTORE.
 */
int pki_broker_refresh(pki_ca *ca, char *dir, size_t size, pki_why *why);

/*
 * pki_broker_acl_text - the ACL file for `community`, denying the `n`
 * identities in `denied`. *text is malloc'd, NUL-terminated (caller
 * frees); *len may be NULL. Returns 0, GL_EINVAL (a name breaks the naming
 * rules) or GL_ENOMEM. Pure; thread-safe.
 */
int pki_broker_acl_text(const char *community, const char *const *denied,
                        size_t n, char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_BROKER_H */
