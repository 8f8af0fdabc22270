/* SPDX-License-Identifier: MIT */
/*
 * issue.c - checking issuance options, encoding subjectAltName, and
 * signing certificates through the wolfSSL layer. See gridlet/pki_issue.h.
 */
#include "gridlet/pki_issue.h"

#include "internal.h"

#include "gridlet/error.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int pki_serial_random(const gl_rand *rand,
                      uint8_t serial[PKI_SERIAL_RANDOM_LEN]) {
  int rc = gl_rand_fill(rand, serial, PKI_SERIAL_RANDOM_LEN);
  if (rc)
    return rc;
  /* Positive and exactly 16 bytes long in DER: top bit clear, first byte
   * not zero. */
  serial[0] &= 0x7f;
  if (serial[0] == 0)
    serial[0] = 1;
  return 0;
}

/* RFC 1035 preferred name syntax (letters, digits, hyphens; labels of 1-63;
 * 253 in all), plus a leading "*." wildcard label. */
static bool valid_dns(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  if (s[0] == '*' && s[1] == '.')
    s += 2;
  size_t label = 0;
  for (const char *p = s;; p++) {
    char c = *p;
    if (c == '.' || c == '\0') {
      if (label == 0 || p[-1] == '-')
        return false;
      if (c == '\0')
        return true;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c == '-' && label > 0);
    if (!ok || ++label > 63)
      return false;
  }
}

/* GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2] IA5String,
 * iPAddress [7] OCTET STRING (4 or 16 bytes). */
static int altnames(const pki_issue_opts *o, pki__dbuf *b, pki_why *why) {
  if (o->n_dns + o->n_ips > PKI_ISSUE_MAX_NAMES)
    return pki__fail_quiet(why, GL_EINVAL,
                           "%zu subjectAltName entries (at most %d)",
                           o->n_dns + o->n_ips, PKI_ISSUE_MAX_NAMES);
  size_t pos = pki__dbuf_open(b, PKI__T_SEQ);
  for (size_t i = 0; i < o->n_dns; i++) {
    if (!valid_dns(o->dns[i]))
      return pki__fail_quiet(why, GL_EINVAL, "\"%.253s\" is not a DNS name",
                             o->dns[i]);
    pki__dbuf_tlv(b, 0x82, o->dns[i], strlen(o->dns[i]));
  }
  for (size_t i = 0; i < o->n_ips; i++) {
    uint8_t addr[16];
    if (inet_pton(AF_INET, o->ips[i], addr) == 1)
      pki__dbuf_tlv(b, 0x87, addr, 4);
    else if (inet_pton(AF_INET6, o->ips[i], addr) == 1)
      pki__dbuf_tlv(b, 0x87, addr, 16);
    else
      return pki__fail_quiet(why, GL_EINVAL,
                             "\"%.64s\" is not an IPv4 or IPv6 address",
                             o->ips[i]);
  }
  pki__dbuf_close(b, pos);
  return b->err;
}

static bool printable(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return false;
  return true;
}

static int check_opts(const pki_key *issuer_key, const pki_cert *issuer,
                      const pki_pubkey *subject, const pki_issue_opts *o,
                      pki_why *why) {
  if (!o->subject_cn || !printable(o->subject_cn, PKI_CN_MAX - 1))
    return pki__fail_quiet(why, GL_EINVAL,
                           "subject CN must be 1 to 64 printable characters");
  if (o->subject_org && !printable(o->subject_org, PKI_CN_MAX - 1))
    return pki__fail_quiet(why, GL_EINVAL,
                           "subject O must be 1 to 64 printable characters");
  if (!o->serial || o->serial_len == 0 || o->serial_len > PKI_SERIAL_MAX ||
      o->serial[0] == 0 || (o->serial[0] & 0x80))
    return pki__fail_quiet(why, GL_EINVAL,
                           "serial must be 1 to 20 bytes, first in 01..7f");
  if (o->not_after <= o->not_before)
    return pki__fail_quiet(why, GL_EINVAL, "validity must end after it begins");
  if (subject->type != PKI_KEY_ED25519 && subject->type != PKI_KEY_P256)
    return pki__fail_quiet(why, GL_EINVAL, "unknown subject key type");
  if (!issuer && !pki_pubkey_equal(subject, &issuer_key->pub))
    return pki__fail_quiet(why, GL_EINVAL,
                           "a self-signed certificate must certify the "
                           "signing key itself");
  if (issuer) {
    const pki_cert_info *ci = pki_cert_get_info(issuer);
    if (!ci->is_ca)
      return pki__fail_quiet(why, GL_EINVAL,
                             "the issuer certificate is not a CA");
    if (!pki_cert_matches_key(issuer, issuer_key))
      return pki__fail_quiet(why, GL_EINVAL,
                             "the issuer key does not belong to the issuer "
                             "certificate");
  }
  return 0;
}

int pki_issue(const pki_key *issuer_key, const pki_cert *issuer,
              const pki_pubkey *subject, const pki_issue_opts *opts,
              pki_cert **out, pki_why *why) {
  *out = NULL;
  int rc = check_opts(issuer_key, issuer, subject, opts, why);
  if (rc)
    return rc;
  pki__dbuf names = {0};
  if (opts->n_dns + opts->n_ips > 0) {
    rc = altnames(opts, &names, why);
    if (rc) {
      pki__dbuf_free(&names);
      return rc;
    }
  }
  const uint8_t *idder = NULL;
  size_t idlen = 0;
  if (issuer)
    idder = pki_cert_der(issuer, &idlen);
  uint8_t *der;
  size_t n;
  rc = pki__make_cert(issuer_key, idder, idlen, subject, opts, names.data,
                      names.len, &der, &n, why);
  pki__dbuf_free(&names);
  if (rc)
    return rc;
  rc = pki_cert_parse_der(der, n, out, why);
  free(der);
  return rc;
}
