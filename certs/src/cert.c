/* SPDX-License-Identifier: MIT */
/*
 * cert.c - parsed certificates, the naming checks on them and the issuer
 * signature check. See gridlet/pki_cert.h.
 */
#include "gridlet/pki_cert.h"

#include "internal.h"

#include "gridlet/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Certificate files hold one certificate, perhaps with comments. */
#define CERT_FILE_MAX (4 * PKI_DER_MAX)

struct pki_cert {
  uint8_t *der;
  size_t der_len;
  pki_cert_info info;
  pki__x509 x; /* offsets into der, extensions, names */
};

/* ---- Serials ------------------------------------------------------------ */

void pki__serial_hex(const uint8_t *serial, size_t n, char *out) {
  while (n > 1 && serial[0] == 0) {
    serial++;
    n--;
  }
  gl_hex_encode(serial, n, out);
}

int pki__serial_from_hex(const char *hex, uint8_t out[PKI_SERIAL_MAX],
                         size_t *n) {
  if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
    hex += 2;
  size_t len = strlen(hex);
  char buf[2 * PKI_SERIAL_MAX + 2];
  if (len == 0 || len > 2 * PKI_SERIAL_MAX)
    return GL_EINVAL;
  /* An odd number of digits means a leading zero nibble. */
  size_t off = len % 2;
  buf[0] = '0';
  memcpy(buf + off, hex, len);
  size_t got;
  if (gl_hex_decode(buf, len + off, out, PKI_SERIAL_MAX, &got) != 0)
    return GL_EINVAL;
  size_t i = 0;
  while (i + 1 < got && out[i] == 0)
    i++;
  memmove(out, out + i, got - i);
  *n = got - i;
  return 0;
}

/* ---- Parsing ------------------------------------------------------------ */

/* Parse without logging; the reason goes to `inner`. */
static int parse_der(const uint8_t *der, size_t len, pki_cert **out,
                     pki_why *inner) {
  *out = NULL;
  if (len > PKI_DER_MAX)
    return pki__fail_quiet(inner, GL_ETOOBIG,
                           "%zu bytes, more than the %d allowed", len,
                           PKI_DER_MAX);
  pki_cert *c = calloc(1, sizeof *c);
  if (!c)
    return GL_ENOMEM;
  c->der = malloc(len ? len : 1);
  if (!c->der) {
    free(c);
    return GL_ENOMEM;
  }
  memcpy(c->der, der, len);
  c->der_len = len;
  int rc = pki__x509_parse(c->der, len, false, &c->x, inner);
  if (rc) {
    free(c->der);
    free(c);
    return rc;
  }
  pki_cert_info *in = &c->info;
  pki__serial_hex(c->x.serial, c->x.serial_len, in->serial_hex);
  pki__name_info subj, iss;
  pki__der nb = {c->der + c->x.nb_off, c->x.nb_len};
  pki__der na = {c->der + c->x.na_off, c->x.na_len};
  uint8_t nb_tag, na_tag;
  pki__der nb_c, na_c;
  if (pki__der_name(c->der + c->x.subj_off, c->x.subj_len, &subj, inner) ||
      pki__der_name(c->der + c->x.iss_off, c->x.iss_len, &iss, inner)) {
    rc = GL_EPARSE;
  } else if (pki__der_read(&nb, &nb_tag, &nb_c, NULL) ||
             pki__der_read(&na, &na_tag, &na_c, NULL) ||
             pki__der_time(nb_tag, &nb_c, &in->not_before) ||
             pki__der_time(na_tag, &na_c, &in->not_after)) {
    rc = pki__fail_quiet(inner, GL_EPARSE, "malformed validity time");
  }
  if (rc) {
    pki_cert_free(c);
    return rc;
  }
  memcpy(in->subject_cn, subj.cn, sizeof in->subject_cn);
  memcpy(in->issuer_cn, iss.cn, sizeof in->issuer_cn);
  in->subject_attrs = subj.attrs;
  in->subject_cns = subj.cns;
  in->pub = c->x.pub;
  in->is_ca = c->x.is_ca;
  in->eku = c->x.eku;
  in->n_names = c->x.n_names;
  *out = c;
  return 0;
}

static int parse_pem(const char *text, size_t len, pki_cert **out,
                     pki_why *inner) {
  *out = NULL;
  uint8_t *der;
  size_t n;
  int rc = pki__pem_decode(text, len, "CERTIFICATE", NULL, &der, &n, inner);
  if (rc)
    return rc == GL_ENOENT ? GL_EPARSE : rc;
  rc = parse_der(der, n, out, inner);
  free(der);
  return rc;
}

int pki_cert_parse_der(const uint8_t *der, size_t len, pki_cert **out,
                       pki_why *why) {
  pki_why inner = {{0}};
  int rc = parse_der(der, len, out, &inner);
  if (rc && rc != GL_ENOMEM)
    return pki__fail(why, rc, "certificate refused: %s", inner.text);
  return rc;
}

int pki_cert_parse_pem(const char *text, size_t len, pki_cert **out,
                       pki_why *why) {
  pki_why inner = {{0}};
  int rc = parse_pem(text, len, out, &inner);
  if (rc && rc != GL_ENOMEM)
    return pki__fail(why, rc, "certificate refused: %s", inner.text);
  return rc;
}

int pki_cert_load_file(const char *path, pki_cert **out, pki_why *why) {
  *out = NULL;
  char *text;
  size_t n;
  pki_why inner = {{0}};
  int rc = pki__read_file(path, CERT_FILE_MAX, &text, &n, NULL, &inner);
  if (rc)
    return pki__fail(why, rc, "certificate: %s", inner.text);
  rc = parse_pem(text, n, out, &inner);
  free(text);
  if (rc && rc != GL_ENOMEM)
    return pki__fail(why, rc, "certificate %s refused: %s", path, inner.text);
  return rc;
}

void pki_cert_free(pki_cert *cert) {
  if (!cert)
    return;
  free(cert->x.names);
  free(cert->der);
  free(cert);
}

pki_cert *pki_cert_dup(const pki_cert *cert) {
  pki_cert *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  *c = *cert;
  c->der = malloc(cert->der_len ? cert->der_len : 1);
  c->x.names = cert->x.names ? strdup(cert->x.names) : NULL;
  if (!c->der || (cert->x.names && !c->x.names)) {
    free(c->der);
    free(c->x.names);
    free(c);
    return NULL;
  }
  memcpy(c->der, cert->der, cert->der_len);
  return c;
}

/* ---- Accessors ---------------------------------------------------------- */

const pki_cert_info *pki_cert_get_info(const pki_cert *cert) {
  return &cert->info;
}

const uint8_t *pki_cert_der(const pki_cert *cert, size_t *len) {
  *len = cert->der_len;
  return cert->der;
}

const char *pki_cert_names(const pki_cert *cert) {
  return cert->x.names ? cert->x.names : "";
}

const uint8_t *pki__cert_subject(const pki_cert *cert, size_t *len) {
  *len = cert->x.subj_len;
  return cert->der + cert->x.subj_off;
}

const uint8_t *pki__cert_skid(const pki_cert *cert) {
  return cert->x.has_skid ? cert->x.skid : NULL;
}

const uint8_t *pki__cert_serial(const pki_cert *cert, size_t *len) {
  *len = cert->x.serial_len;
  return cert->x.serial;
}

int pki_cert_to_pem(const pki_cert *cert, char **pem, size_t *len) {
  return pki__pem_encode("CERTIFICATE", cert->der, cert->der_len, pem, len);
}

int pki_cert_write_file(const pki_cert *cert, const char *path, pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_cert_to_pem(cert, &pem, &n);
  if (rc)
    return rc;
  rc = pki__write_file(path, pem, n, 0644, 0, why);
  free(pem);
  return rc;
}

/* ---- Checks ------------------------------------------------------------- */

int pki_cert_meter_id(const pki_cert *cert, char id[PKI_METER_ID_MAX],
                      pki_why *why) {
  const pki_cert_info *in = &cert->info;
  if (in->is_ca)
    return pki__fail(why, GL_EPERM,
                     "certificate %s is a CA certificate, not a meter's",
                     in->serial_hex);
  if (in->subject_cns != 1 || in->subject_attrs != 1)
    return pki__fail(why, GL_EPERM,
                     "certificate %s subject must be exactly one CN (it has "
                     "%u attributes, %u CNs)",
                     in->serial_hex, in->subject_attrs, in->subject_cns);
  pki_why inner = {{0}};
  if (pki_name_check_meter_id(in->subject_cn, &inner))
    return pki__fail(why, GL_EPERM, "certificate %s does not name a meter: %s",
                     in->serial_hex, inner.text);
  /* The name check bounds the length to PKI_METER_ID_MAX - 1. */
  snprintf(id, PKI_METER_ID_MAX, "%.*s", PKI_METER_ID_MAX - 1, in->subject_cn);
  return 0;
}

int pki_cert_ed25519_pub(const pki_cert *cert, uint8_t pub[GL_ED25519_PUB_LEN],
                         pki_why *why) {
  if (cert->info.pub.type != PKI_KEY_ED25519)
    return pki__fail(why, GL_ENOTSUP,
                     "certificate %s (%s) holds a %s key, not Ed25519",
                     cert->info.serial_hex, cert->info.subject_cn,
                     pki_key_type_name(cert->info.pub.type));
  memcpy(pub, cert->info.pub.bytes, GL_ED25519_PUB_LEN);
  return 0;
}

bool pki_cert_matches_key(const pki_cert *cert, const pki_key *key) {
  return pki_pubkey_equal(&cert->info.pub, &key->pub);
}

int pki_cert_signed_by(const pki_cert *cert, const pki_cert *issuer,
                       pki_why *why) {
  const pki_cert_info *in = &cert->info;
  if (cert->x.iss_len != issuer->x.subj_len ||
      memcmp(cert->der + cert->x.iss_off, issuer->der + issuer->x.subj_off,
             issuer->x.subj_len) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "certificate %s (%s) was not issued by this community's "
                     "CA: issuer \"%s\" is not \"%s\"",
                     in->serial_hex, in->subject_cn, in->issuer_cn,
                     issuer->info.subject_cn);
  if (cert->x.has_akid && issuer->x.has_skid &&
      memcmp(cert->x.akid, issuer->x.skid, sizeof cert->x.akid) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "certificate %s (%s) was issued by another CA with the "
                     "same name \"%s\" (authority key identifier differs)",
                     in->serial_hex, in->subject_cn, in->issuer_cn);
  if (pki__verify(&issuer->info.pub, cert->x.sigalg,
                  cert->der + cert->x.tbs_off, cert->x.tbs_len,
                  cert->der + cert->x.sig_off, cert->x.sig_len) != 0)
    return pki__fail(why, GL_EVERIFY,
                     "certificate %s (%s): the signature does not verify "
                     "with the key of \"%s\" (forged, altered, or from "
                     "another CA)",
                     in->serial_hex, in->subject_cn, issuer->info.subject_cn);
  return 0;
}
