/* SPDX-License-Identifier: MIT */
/*
 * trust.c - verifying peer certificates against the community CA and its
 * revocation list, at the injected clock's time. See gridlet/pki_trust.h.
 */
#include "gridlet/pki_trust.h"

#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <stdlib.h>
#include <string.h>

struct pki_trust {
  pki_cert *ca;
  pki_crl *crl;
  pki_trust_stats st;
};

int pki_trust_new(const pki_cert *ca, pki_trust **out, pki_why *why) {
  *out = NULL;
  const pki_cert_info *ci = pki_cert_get_info(ca);
  if (!ci->is_ca)
    return pki__fail(why, GL_EINVAL,
                     "\"%s\" is not a CA certificate and cannot be a trust "
                     "anchor",
                     ci->subject_cn);
  pki_why inner = {{0}};
  if (pki_cert_signed_by(ca, ca, &inner) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "the CA certificate \"%s\" is not validly self-signed",
                     ci->subject_cn);
  pki_trust *t = calloc(1, sizeof *t);
  if (!t)
    return GL_ENOMEM;
  t->ca = pki_cert_dup(ca);
  if (!t->ca) {
    free(t);
    return GL_ENOMEM;
  }
  *out = t;
  return 0;
}

int pki_trust_load(const char *ca_path, const char *crl_path,
                   const gl_clock *clock, pki_trust **out, pki_why *why) {
  *out = NULL;
  pki_cert *ca;
  int rc = pki_cert_load_file(ca_path, &ca, why);
  if (rc)
    return rc;
  pki_trust *t;
  rc = pki_trust_new(ca, &t, why);
  pki_cert_free(ca);
  if (rc)
    return rc;
  if (crl_path) {
    rc = pki_trust_load_crl_file(t, crl_path, clock, why);
    if (rc) {
      pki_trust_free(t);
      return rc;
    }
  }
  *out = t;
  return 0;
}

void pki_trust_free(pki_trust *trust) {
  if (!trust)
    return;
  pki_cert_free(trust->ca);
  pki_crl_free(trust->crl);
  free(trust);
}

const pki_cert *pki_trust_ca(const pki_trust *trust) {
  return trust->ca;
}

const pki_crl *pki_trust_crl(const pki_trust *trust) {
  return trust->crl;
}

int pki_trust_set_crl(pki_trust *trust, pki_crl *crl, const gl_clock *clock,
                      pki_why *why) {
  int rc = pki_crl_verify(crl, trust->ca, gl_clock_now(clock), why);
  if (rc == 0 && trust->crl && pki_crl_number(crl) < pki_crl_number(trust->crl))
    rc = pki__fail(why, GL_ECONFLICT,
                   "revocation list %llu is older than the one in force "
                   "(%llu); refusing to roll back",
                   (unsigned long long)pki_crl_number(crl),
                   (unsigned long long)pki_crl_number(trust->crl));
  if (rc) {
    pki_crl_free(crl);
    return rc;
  }
  pki_crl_free(trust->crl);
  trust->crl = crl;
  trust->st.crl_loads++;
  GL_INFO(PKI__LOG, "revocation list %llu in force: %zu revoked",
          (unsigned long long)pki_crl_number(crl), pki_crl_count(crl));
  return 0;
}

int pki_trust_load_crl_file(pki_trust *trust, const char *path,
                            const gl_clock *clock, pki_why *why) {
  pki_crl *crl;
  int rc = pki__crl_load_file(path, &crl, why);
  if (rc)
    return rc;
  return pki_trust_set_crl(trust, crl, clock, why);
}

static bool role_ok(const pki_cert *cert, pki_role role, pki_why *why) {
  const pki_cert_info *in = pki_cert_get_info(cert);
  if (in->is_ca) {
    pki__fail(why, GL_EPERM,
              "certificate %s (%s) is a CA certificate, not a peer's",
              in->serial_hex, in->subject_cn);
    return false;
  }
  switch (role) {
  case PKI_ROLE_ANY:
    return true;
  case PKI_ROLE_METER: {
    char id[PKI_METER_ID_MAX];
    if (pki_cert_meter_id(cert, id, why) != 0)
      return false;
    if (!(in->eku & PKI_EKU_CLIENT)) {
      pki__fail(why, GL_EPERM,
                "certificate %s (%s) is not a device certificate (no "
                "clientAuth)",
                in->serial_hex, in->subject_cn);
      return false;
    }
    return true;
  }
  case PKI_ROLE_AGGREGATOR:
  case PKI_ROLE_BROKER: {
    bool agg = role == PKI_ROLE_AGGREGATOR;
    const char *want = agg ? PKI_NAME_AGGREGATOR : PKI_NAME_BROKER;
    unsigned eku = agg ? PKI_EKU_CLIENT : PKI_EKU_SERVER;
    if (strcmp(in->subject_cn, want) != 0 || in->subject_cns != 1) {
      pki__fail(why, GL_EPERM, "certificate %s names \"%s\", not the %s",
                in->serial_hex, in->subject_cn, want);
      return false;
    }
    if (!(in->eku & eku)) {
      pki__fail(
          why, GL_EPERM, "certificate %s (%s) lacks the %s extended key usage",
          in->serial_hex, in->subject_cn, agg ? "clientAuth" : "serverAuth");
      return false;
    }
    return true;
  }
  }
  pki__fail(why, GL_EPERM, "unknown role");
  return false;
}

int pki_trust_verify(pki_trust *trust, const pki_cert *cert, pki_role role,
                     const gl_clock *clock, pki_peer *peer, pki_why *why) {
  const pki_cert_info *in = pki_cert_get_info(cert);
  const pki_cert_info *ca = pki_cert_get_info(trust->ca);
  int64_t now = gl_clock_now(clock);
  char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX];
  if (pki_cert_signed_by(cert, trust->ca, why) != 0) {
    trust->st.rejected_chain++;
    return GL_EVERIFY;
  }
  if (now < in->not_before || now >= in->not_after) {
    trust->st.rejected_expired++;
    bool early = now < in->not_before;
    return pki__fail(why, GL_EEXPIRED, "certificate %s (%s) %s %s (now %s)",
                     in->serial_hex, in->subject_cn,
                     early ? "is not valid before" : "expired",
                     gl_time_format(early ? in->not_before : in->not_after, t1),
                     gl_time_format(now, t2));
  }
  if (now >= ca->not_after) {
    trust->st.rejected_expired++;
    return pki__fail(why, GL_EEXPIRED,
                     "the community CA certificate expired %s",
                     gl_time_format(ca->not_after, t1));
  }
  if (trust->crl) {
    /* The signature was checked when the list was set; only its period
     * can have run out since. */
    if (pki__crl_check_time(trust->crl, now, why) != 0) {
      trust->st.rejected_expired++;
      return GL_EEXPIRED;
    }
    size_t n;
    const uint8_t *serial = pki__cert_serial(cert, &n);
    pki_crl_entry e;
    if (pki_crl_find(trust->crl, serial, n, &e)) {
      trust->st.rejected_revoked++;
      return pki__fail(
          why, GL_EREVOKED, "certificate %s (%s) was revoked %s (%s)",
          in->serial_hex, in->subject_cn, gl_time_format(e.revoked_at, t1),
          e.reason >= 0 ? pki_reason_name(e.reason) : "no reason given");
    }
  }
  if (!role_ok(cert, role, why)) {
    trust->st.rejected_role++;
    return GL_EPERM;
  }
  trust->st.accepted++;
  if (peer) {
    memset(peer, 0, sizeof *peer);
    memcpy(peer->name, in->subject_cn, sizeof peer->name);
    peer->pub = in->pub;
    memcpy(peer->serial_hex, in->serial_hex, sizeof peer->serial_hex);
    peer->not_after = in->not_after;
  }
  return 0;
}

int pki_trust_verify_pem(pki_trust *trust, const char *text, size_t len,
                         pki_role role, const gl_clock *clock, pki_peer *peer,
                         pki_why *why) {
  pki_cert *cert;
  int rc = pki_cert_parse_pem(text, len, &cert, why);
  if (rc) {
    trust->st.rejected_parse++;
    return rc;
  }
  rc = pki_trust_verify(trust, cert, role, clock, peer, why);
  pki_cert_free(cert);
  return rc;
}

void pki_trust_get_stats(const pki_trust *trust, pki_trust_stats *stats) {
  *stats = trust->st;
}
