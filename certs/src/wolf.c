/* SPDX-License-Identifier: MIT */
/*
 * wolf.c - the only file in certs/ that talks to wolfSSL.
 *
 * What wolfSSL does for gridlet: P-256 point arithmetic and ECDSA, building
 * and signing certificates and PKCS#10 requests (wc_MakeCert_ex,
 * wc_MakeCertReq_ex, wc_SignCert_ex), and a second, independent parse of
 * every certificate and CSR (wc_ParseCert) from which we take the subject
 * public key and the extensions. Ed25519 signatures go through common/'s
 * crypto.h, which already wraps wolfCrypt for them.
 *
 * The framing that signatures and names depend on (the signed TBS bytes,
 * the signature algorithm and value, the exact issuer and subject name
 * bytes, the validity times) is read by our own strict DER reader, so a
 * certificate must satisfy both parsers. wolfSSL's return codes are
 * translated to GL_E* here and its error strings logged.
 */
#include "internal.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* wolfSSL's build options must come before any of its headers. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

/* ---- Errors ------------------------------------------------------------- */

static int wolf_err(int rc, const char *what) {
  if (rc == MEMORY_E)
    return GL_ENOMEM;
  GL_ERROR(PKI__LOG, "wolfSSL: %s failed: %s (%d)", what, wc_GetErrorString(rc),
           rc);
  return GL_ECRYPTO;
}

/* ---- OIDs (content bytes) ------------------------------------------------ */

static const uint8_t oid_ed25519[] = {0x2b, 0x65, 0x70};
static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce,
                                            0x3d, 0x02, 0x01};
static const uint8_t oid_prime256v1[] = {0x2a, 0x86, 0x48, 0xce,
                                         0x3d, 0x03, 0x01, 0x07};

/* The order n of the P-256 group (FIPS 186-4 D.1.2.3). */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
    0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

pki__sigalg pki__sigalg_for(pki_key_type type) {
  return type == PKI_KEY_P256 ? PKI__SIG_ECDSA_SHA256 : PKI__SIG_ED25519;
}

/* ---- wolfSSL key objects ------------------------------------------------ */

typedef struct wkey {
  int type; /* ED25519_TYPE or ECC_TYPE */
  union {
    ed25519_key ed;
    ecc_key ecc;
  } u;
} wkey;

static void wkey_free(wkey *w) {
  if (w->type == ED25519_TYPE)
    wc_ed25519_free(&w->u.ed);
  else if (w->type == ECC_TYPE)
    wc_ecc_free(&w->u.ecc);
  w->type = 0;
}

/* A wolfSSL key from a public key, or from a key pair when `priv` is set. */
static int wkey_make(const pki_pubkey *pub, const uint8_t *priv, wkey *w) {
  int rc;
  w->type = 0;
  if (pub->type == PKI_KEY_ED25519) {
    if (pub->len != 32 || (rc = wc_ed25519_init(&w->u.ed)) != 0)
      return GL_ECRYPTO;
    w->type = ED25519_TYPE;
    rc = priv
             ? wc_ed25519_import_private_key(priv, 32, pub->bytes, 32, &w->u.ed)
             : wc_ed25519_import_public(pub->bytes, 32, &w->u.ed);
  } else if (pub->type == PKI_KEY_P256) {
    if (pub->len != 65 || (rc = wc_ecc_init(&w->u.ecc)) != 0)
      return GL_ECRYPTO;
    w->type = ECC_TYPE;
    rc = priv ? wc_ecc_import_private_key_ex(priv, 32, pub->bytes, 65,
                                             &w->u.ecc, ECC_SECP256R1)
              : wc_ecc_import_x963_ex(pub->bytes, 65, &w->u.ecc, ECC_SECP256R1);
  } else {
    return GL_EINVAL;
  }
  if (rc != 0) {
    wkey_free(w);
    return wolf_err(rc, "key import");
  }
  return 0;
}

/* ---- P-256 -------------------------------------------------------------- */

int pki__p256_pub(const uint8_t priv[PKI_PRIV_LEN], uint8_t pub[PKI_PUB_MAX]) {
  /* A scalar must be in [1, n-1]; wolfSSL would reduce it silently. */
  static const uint8_t zero[32] = {0};
  if (memcmp(priv, zero, 32) == 0 || memcmp(priv, p256_order, 32) >= 0)
    return GL_ERANGE;
  ecc_key k;
  if (wc_ecc_init(&k) != 0)
    return GL_ECRYPTO;
  int rc = wc_ecc_import_private_key_ex(priv, 32, NULL, 0, &k, ECC_SECP256R1);
  if (rc == 0)
    rc = wc_ecc_make_pub(&k, NULL);
  word32 n = PKI_PUB_MAX;
  if (rc == 0)
    rc = wc_ecc_export_x963(&k, pub, &n);
  wc_ecc_free(&k);
  if (rc != 0 || n != 65)
    return wolf_err(rc, "P-256 public key derivation");
  return 0;
}

/* ---- Signing and verifying ---------------------------------------------- */

int pki__sign(const pki_key *key, const uint8_t *msg, size_t len, uint8_t *sig,
              size_t *siglen) {
  if (key->pub.type == PKI_KEY_ED25519) {
    gl_ed25519_key ed;
    memcpy(ed.seed, key->priv, 32);
    memcpy(ed.pub, key->pub.bytes, 32);
    int rc = gl_ed25519_sign(&ed, msg, len, sig);
    gl_wipe(&ed, sizeof ed);
    if (rc == 0)
      *siglen = GL_ED25519_SIG_LEN;
    return rc;
  }
  uint8_t hash[GL_SHA256_LEN];
  int rc = gl_sha256(msg, len, hash);
  if (rc)
    return rc;
  wkey w;
  rc = wkey_make(&key->pub, key->priv, &w);
  if (rc)
    return rc;
  WC_RNG rng;
  rc = wc_InitRng(&rng);
  if (rc != 0) {
    wkey_free(&w);
    return wolf_err(rc, "RNG initialisation");
  }
  word32 n = PKI__SIG_MAX;
  rc = wc_ecc_sign_hash(hash, sizeof hash, sig, &n, &rng, &w.u.ecc);
  wc_FreeRng(&rng);
  wkey_free(&w);
  if (rc != 0)
    return wolf_err(rc, "ECDSA signing");
  *siglen = n;
  return 0;
}

int pki__verify(const pki_pubkey *pub, pki__sigalg alg, const uint8_t *msg,
                size_t len, const uint8_t *sig, size_t siglen) {
  if (pub->type == PKI_KEY_ED25519) {
    if (alg != PKI__SIG_ED25519 || siglen != GL_ED25519_SIG_LEN ||
        pub->len != 32)
      return GL_EVERIFY;
    return gl_ed25519_verify(pub->bytes, msg, len, sig) == 0 ? 0 : GL_EVERIFY;
  }
  if (pub->type != PKI_KEY_P256 || alg != PKI__SIG_ECDSA_SHA256 ||
      siglen > PKI__SIG_MAX)
    return GL_EVERIFY;
  uint8_t hash[GL_SHA256_LEN];
  if (gl_sha256(msg, len, hash) != 0)
    return GL_ECRYPTO;
  wkey w;
  if (wkey_make(pub, NULL, &w) != 0)
    return GL_EVERIFY;
  int ok = 0;
  int rc =
      wc_ecc_verify_hash(sig, (word32)siglen, hash, sizeof hash, &ok, &w.u.ecc);
  wkey_free(&w);
  /* A malformed signature is an error code, not ok == 0: both mean no. */
  return rc == 0 && ok == 1 ? 0 : GL_EVERIFY;
}

/* ---- Private key encodings ---------------------------------------------- */

int pki__key_to_pkcs8(const pki_key *key, uint8_t *der, size_t cap,
                      size_t *len) {
  if (key->pub.type == PKI_KEY_ED25519) {
    /* RFC 8410 section 7: OneAsymmetricKey v1 with the seed wrapped in a
     * CurvePrivateKey OCTET STRING - the exact form OpenSSL writes. */
    static const uint8_t prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30,
                                       0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                       0x04, 0x22, 0x04, 0x20};
    if (cap < sizeof prefix + 32)
      return GL_ETOOBIG;
    memcpy(der, prefix, sizeof prefix);
    memcpy(der + sizeof prefix, key->priv, 32);
    *len = sizeof prefix + 32;
    return 0;
  }
  wkey w;
  int rc = wkey_make(&key->pub, key->priv, &w);
  if (rc)
    return rc;
  word32 n = (word32)cap;
  rc = wc_EccPrivateKeyToPKCS8(&w.u.ecc, der, &n);
  wkey_free(&w);
  if (rc < 0)
    return wolf_err(rc, "PKCS#8 encoding");
  *len = n;
  return 0;
}

/* SEC1 ECPrivateKey (RFC 5915): version 1, the scalar, optional curve and
 * public key. We recompute the public key from the scalar and check it
 * against the stored one, so a corrupted file cannot pair a scalar with
 * someone else's public key. */
static int parse_sec1(pki__der in, bool need_curve, pki_key *key,
                      pki_why *why) {
  pki__der seq, ver, priv;
  uint64_t v;
  if (pki__der_expect(&in, PKI__T_SEQ, &seq, NULL) || in.len != 0 ||
      pki__der_expect(&seq, PKI__T_INTEGER, &ver, NULL) ||
      pki__der_uint(&ver, &v) || v != 1 ||
      pki__der_expect(&seq, PKI__T_OCTSTR, &priv, NULL) || priv.len == 0 ||
      priv.len > 32)
    return pki__fail_quiet(why, GL_EPARSE, "malformed EC private key");
  bool have_curve = false;
  uint8_t stored[PKI_PUB_MAX];
  size_t stored_len = 0;
  while (seq.len) {
    uint8_t tag;
    pki__der c;
    if (pki__der_read(&seq, &tag, &c, NULL))
      return pki__fail_quiet(why, GL_EPARSE, "malformed EC private key");
    if (tag == 0xa0) {
      pki__der oid;
      if (pki__der_expect(&c, PKI__T_OID, &oid, NULL) || c.len != 0)
        return pki__fail_quiet(why, GL_EPARSE, "malformed EC parameters");
      if (!pki__der_oid_is(&oid, oid_prime256v1, sizeof oid_prime256v1))
        return pki__fail_quiet(why, GL_ENOTSUP,
                               "EC key is not on the P-256 curve (only "
                               "Ed25519 and P-256 are supported)");
      have_curve = true;
    } else if (tag == 0xa1) {
      pki__der bits;
      if (pki__der_expect(&c, PKI__T_BITSTR, &bits, NULL) || bits.len != 66 ||
          bits.p[0] != 0)
        return pki__fail_quiet(why, GL_EPARSE, "malformed EC public key");
      memcpy(stored, bits.p + 1, 65);
      stored_len = 65;
    }
  }
  if (need_curve && !have_curve)
    return pki__fail_quiet(why, GL_EPARSE,
                           "EC private key does not name its curve");
  memset(key, 0, sizeof *key);
  key->pub.type = PKI_KEY_P256;
  memcpy(key->priv + 32 - priv.len, priv.p, priv.len);
  int rc = pki__p256_pub(key->priv, key->pub.bytes);
  if (rc) {
    gl_wipe(key, sizeof *key);
    return pki__fail_quiet(why, rc == GL_ERANGE ? GL_EPARSE : rc,
                           "EC private key scalar is out of range");
  }
  key->pub.len = 65;
  if (stored_len && memcmp(stored, key->pub.bytes, 65) != 0) {
    gl_wipe(key, sizeof *key);
    return pki__fail_quiet(why, GL_EPARSE,
                           "EC private key's public key does not match it");
  }
  return 0;
}

int pki__key_from_der(const uint8_t *der, size_t len, bool sec1, pki_key *key,
                      pki_why *why) {
  pki__der in = {der, len};
  if (sec1)
    return parse_sec1(in, true, key, why);
  /* PrivateKeyInfo / OneAsymmetricKey (RFC 5958). */
  pki__der seq, ver, alg, oid, priv;
  uint64_t v;
  if (pki__der_expect(&in, PKI__T_SEQ, &seq, NULL) || in.len != 0 ||
      pki__der_expect(&seq, PKI__T_INTEGER, &ver, NULL) ||
      pki__der_uint(&ver, &v) || v > 1 ||
      pki__der_expect(&seq, PKI__T_SEQ, &alg, NULL) ||
      pki__der_expect(&alg, PKI__T_OID, &oid, NULL) ||
      pki__der_expect(&seq, PKI__T_OCTSTR, &priv, NULL))
    return pki__fail_quiet(why, GL_EPARSE, "malformed PKCS#8 private key");
  if (pki__der_oid_is(&oid, oid_ed25519, sizeof oid_ed25519)) {
    pki__der inner = priv, seed;
    if (alg.len != 0 || pki__der_expect(&inner, PKI__T_OCTSTR, &seed, NULL) ||
        inner.len != 0 || seed.len != 32)
      return pki__fail_quiet(why, GL_EPARSE, "malformed Ed25519 private key");
    gl_ed25519_key ed;
    if (gl_ed25519_from_seed(seed.p, &ed) != 0)
      return GL_ECRYPTO;
    /* OneAsymmetricKey v2 may carry the public key ([1]); it must be the
     * one the seed gives. Attributes ([0]) are ignored. */
    while (seq.len) {
      uint8_t tag;
      pki__der c;
      if (pki__der_read(&seq, &tag, &c, NULL)) {
        gl_wipe(&ed, sizeof ed);
        return pki__fail_quiet(why, GL_EPARSE, "malformed PKCS#8 private key");
      }
      if (tag == 0x81 &&
          (c.len != 33 || c.p[0] != 0 || memcmp(c.p + 1, ed.pub, 32) != 0)) {
        gl_wipe(&ed, sizeof ed);
        return pki__fail_quiet(why, GL_EPARSE,
                               "Ed25519 private key's public key does not "
                               "match it");
      }
    }
    pki_key_from_ed25519(&ed, key);
    gl_wipe(&ed, sizeof ed);
    return 0;
  }
  if (pki__der_oid_is(&oid, oid_ec_public_key, sizeof oid_ec_public_key)) {
    pki__der curve;
    if (pki__der_expect(&alg, PKI__T_OID, &curve, NULL) || alg.len != 0)
      return pki__fail_quiet(why, GL_EPARSE, "malformed EC key parameters");
    if (!pki__der_oid_is(&curve, oid_prime256v1, sizeof oid_prime256v1))
      return pki__fail_quiet(why, GL_ENOTSUP,
                             "EC key is not on the P-256 curve (only Ed25519 "
                             "and P-256 are supported)");
    return parse_sec1(priv, false, key, why);
  }
  return pki__fail_quiet(why, GL_ENOTSUP,
                         "private key algorithm is not supported (only "
                         "Ed25519 and P-256)");
}

/* ---- Parsing certificates and requests ---------------------------------- */

static int sigalg_from(const pki__der *algid, pki__sigalg *alg) {
  pki__der a = *algid, oid;
  if (pki__der_expect(&a, PKI__T_OID, &oid, NULL))
    return GL_EPARSE;
  if (pki__der_oid_is(&oid, oid_ed25519, sizeof oid_ed25519))
    *alg = PKI__SIG_ED25519;
  else if (pki__der_oid_is(&oid, oid_ecdsa_sha256, sizeof oid_ecdsa_sha256))
    *alg = PKI__SIG_ECDSA_SHA256;
  else
    return GL_ENOTSUP;
  /* RFC 8410 and RFC 5758: both algorithms have absent parameters. */
  return a.len == 0 ? 0 : GL_EPARSE;
}

/* Our own reading of the outer structure and the TBS fields we rely on. */
static int frame(const uint8_t *der, size_t len, bool csr, pki__x509 *x,
                 pki_why *why) {
  pki__der in = {der, len}, outer, tbs, tbs_whole, algid, algid_whole, sig;
  if (pki__der_expect(&in, PKI__T_SEQ, &outer, NULL) || in.len != 0)
    return pki__fail_quiet(why, GL_EPARSE,
                           "not a single DER structure (truncated, or "
                           "trailing bytes)");
  if (pki__der_expect(&outer, PKI__T_SEQ, &tbs, &tbs_whole) ||
      pki__der_expect(&outer, PKI__T_SEQ, &algid, &algid_whole) ||
      pki__der_expect(&outer, PKI__T_BITSTR, &sig, NULL) || outer.len != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed outer structure");
  int rc = sigalg_from(&algid, &x->sigalg);
  if (rc == GL_ENOTSUP)
    return pki__fail_quiet(why, rc,
                           "signature algorithm is not supported (only "
                           "Ed25519 and ECDSA with SHA-256)");
  if (rc)
    return pki__fail_quiet(why, rc, "malformed signature algorithm");
  if (sig.len < 2 || sig.p[0] != 0)
    return pki__fail_quiet(why, GL_EPARSE, "malformed signature value");
  x->tbs_off = (size_t)(tbs_whole.p - der);
  x->tbs_len = tbs_whole.len;
  x->sig_off = (size_t)(sig.p + 1 - der);
  x->sig_len = sig.len - 1;

  pki__der t = tbs, elem, subj, iss, validity, nb, na;
  uint8_t tag;
  if (csr) {
    /* CertificationRequestInfo: version 0, subject, SPKI, [0] attrs. */
    uint64_t v;
    if (pki__der_expect(&t, PKI__T_INTEGER, &elem, NULL) ||
        pki__der_uint(&elem, &v) || v != 0)
      return pki__fail_quiet(why, GL_EPARSE, "CSR version is not 1");
    if (pki__der_expect(&t, PKI__T_SEQ, NULL, &subj))
      return pki__fail_quiet(why, GL_EPARSE, "malformed CSR subject");
    x->subj_off = (size_t)(subj.p - der);
    x->subj_len = subj.len;
    return 0;
  }
  /* TBSCertificate: [0] version, serial, signature, issuer, validity,
   * subject, ... */
  if (pki__der_peek(&t) == PKI__T_CTX0) {
    pki__der ver;
    uint64_t v;
    if (pki__der_read(&t, NULL, &ver, NULL) ||
        pki__der_expect(&ver, PKI__T_INTEGER, &elem, NULL) ||
        pki__der_uint(&elem, &v) || v > 2)
      return pki__fail_quiet(why, GL_EPARSE, "malformed certificate version");
  }
  pki__der inner_alg;
  if (pki__der_expect(&t, PKI__T_INTEGER, &elem, NULL) ||
      pki__der_serial(&elem, x->serial, &x->serial_len))
    return pki__fail_quiet(why, GL_EPARSE,
                           "malformed serial number (negative, or over 20 "
                           "bytes)");
  if (pki__der_expect(&t, PKI__T_SEQ, NULL, &inner_alg) ||
      inner_alg.len != algid_whole.len ||
      memcmp(inner_alg.p, algid_whole.p, algid_whole.len) != 0)
    return pki__fail_quiet(why, GL_EPARSE,
                           "inner and outer signature algorithms differ");
  if (pki__der_expect(&t, PKI__T_SEQ, NULL, &iss) ||
      pki__der_expect(&t, PKI__T_SEQ, &validity, NULL) ||
      pki__der_read(&validity, &tag, NULL, &nb) ||
      pki__der_read(&validity, &tag, NULL, &na) || validity.len != 0 ||
      pki__der_expect(&t, PKI__T_SEQ, NULL, &subj))
    return pki__fail_quiet(why, GL_EPARSE, "malformed certificate fields");
  x->iss_off = (size_t)(iss.p - der);
  x->iss_len = iss.len;
  x->subj_off = (size_t)(subj.p - der);
  x->subj_len = subj.len;
  x->nb_off = (size_t)(nb.p - der);
  x->nb_len = nb.len;
  x->na_off = (size_t)(na.p - der);
  x->na_len = na.len;
  return 0;
}

static int append_name(pki__x509 *x, const char *s) {
  size_t old = x->names ? strlen(x->names) : 0, add = strlen(s);
  char *n = realloc(x->names, old + add + 3);
  if (!n)
    return GL_ENOMEM;
  if (old) {
    memcpy(n + old, ", ", 2);
    old += 2;
  }
  memcpy(n + old, s, add + 1);
  x->names = n;
  x->n_names++;
  return 0;
}

static int collect_names(DecodedCert *dc, pki__x509 *x) {
  for (DNS_entry *e = dc->altNames; e; e = e->next) {
    char buf[300];
    if (e->type == ASN_DNS_TYPE && e->len > 0 && e->len < 256) {
      snprintf(buf, sizeof buf, "DNS:%.*s", e->len, e->name);
    } else if (e->type == ASN_IP_TYPE && (e->len == 4 || e->len == 16)) {
      char ip[INET6_ADDRSTRLEN];
      if (!inet_ntop(e->len == 4 ? AF_INET : AF_INET6, e->name, ip, sizeof ip))
        continue;
      snprintf(buf, sizeof buf, "IP:%s", ip);
    } else {
      snprintf(buf, sizeof buf, "other:%d", e->type);
    }
    if (append_name(x, buf))
      return GL_ENOMEM;
  }
  return 0;
}

int pki__x509_parse(const uint8_t *der, size_t len, bool csr, pki__x509 *x,
                    pki_why *why) {
  memset(x, 0, sizeof *x);
  if (len > PKI_DER_MAX)
    return pki__fail_quiet(why, GL_ETOOBIG, "%zu bytes is too large", len);
  int rc = frame(der, len, csr, x, why);
  if (rc)
    return rc;

  DecodedCert dc;
  wc_InitDecodedCert(&dc, der, (word32)len, NULL);
  rc = wc_ParseCert(&dc, csr ? CERTREQ_TYPE : CERT_TYPE, NO_VERIFY, NULL);
  if (rc != 0) {
    wc_FreeDecodedCert(&dc);
    if (rc == MEMORY_E)
      return GL_ENOMEM;
    return pki__fail_quiet(why, GL_EPARSE, "rejected by the X.509 parser: %s",
                           wc_GetErrorString(rc));
  }
  rc = 0;
  if (dc.keyOID == ED25519k && dc.pubKeySize == 32) {
    x->pub.type = PKI_KEY_ED25519;
    memcpy(x->pub.bytes, dc.publicKey, 32);
    x->pub.len = 32;
  } else if (dc.keyOID == ECDSAk && dc.pkCurveOID == ECC_SECP256R1_OID) {
    ecc_key k;
    word32 idx = 0, n = PKI_PUB_MAX;
    if (wc_ecc_init(&k) != 0) {
      rc = GL_ECRYPTO;
    } else {
      if (wc_EccPublicKeyDecode(dc.publicKey, &idx, &k, dc.pubKeySize) != 0 ||
          wc_ecc_export_x963(&k, x->pub.bytes, &n) != 0 || n != 65)
        rc = pki__fail_quiet(why, GL_EPARSE, "malformed P-256 public key");
      wc_ecc_free(&k);
    }
    x->pub.type = PKI_KEY_P256;
    x->pub.len = 65;
  } else {
    rc = pki__fail_quiet(why, GL_ENOTSUP,
                         "public key type is not supported (only Ed25519 and "
                         "P-256)");
  }
  if (rc == 0 && !csr) {
    x->is_ca = dc.extBasicConstSet && dc.isCA;
    if (dc.extExtKeyUsageSet) {
      if (dc.extExtKeyUsage & EXTKEYUSE_SERVER_AUTH)
        x->eku |= PKI_EKU_SERVER;
      if (dc.extExtKeyUsage & EXTKEYUSE_CLIENT_AUTH)
        x->eku |= PKI_EKU_CLIENT;
    }
    if (dc.extSubjKeyIdSet) {
      x->has_skid = true;
      memcpy(x->skid, dc.extSubjKeyId, sizeof x->skid);
    }
    if (dc.extAuthKeyIdSet) {
      x->has_akid = true;
      memcpy(x->akid, dc.extAuthKeyId, sizeof x->akid);
    }
    rc = collect_names(&dc, x);
  }
  wc_FreeDecodedCert(&dc);
  if (rc) {
    free(x->names);
    x->names = NULL;
  }
  return rc;
}

/* ---- Building certificates and requests ---------------------------------- */

static int sig_type(pki_key_type t) {
  return t == PKI_KEY_P256 ? CTC_SHA256wECDSA : CTC_ED25519;
}

/* Sign the body wolfSSL made in `buf` and hand out a right-sized copy. */
static int sign_and_copy(Cert *c, const pki_key *signer, uint8_t *buf,
                         size_t cap, uint8_t **der, size_t *len) {
  wkey w;
  int rc = wkey_make(&signer->pub, signer->priv, &w);
  if (rc)
    return rc;
  WC_RNG rng;
  rc = wc_InitRng(&rng);
  if (rc != 0) {
    wkey_free(&w);
    return wolf_err(rc, "RNG initialisation");
  }
  void *kobj = w.type == ED25519_TYPE ? (void *)&w.u.ed : (void *)&w.u.ecc;
  rc = wc_SignCert_ex(c->bodySz, c->sigType, buf, (word32)cap, w.type, kobj,
                      &rng);
  wc_FreeRng(&rng);
  wkey_free(&w);
  if (rc < 0)
    return wolf_err(rc, "signing");
  uint8_t *out = malloc((size_t)rc);
  if (!out)
    return GL_ENOMEM;
  memcpy(out, buf, (size_t)rc);
  *der = out;
  *len = (size_t)rc;
  return 0;
}

#define BUILD_CAP 8192

int pki__make_csr(const pki_key *key, const char *cn, uint8_t **der,
                  size_t *len) {
  /* Cert holds a 16 KiB altNames array: keep it off the stack. */
  Cert *c = malloc(sizeof *c);
  uint8_t *buf = malloc(BUILD_CAP);
  wkey w = {0};
  int rc = GL_ENOMEM;
  if (!c || !buf)
    goto out;
  rc = wc_InitCert(c);
  if (rc != 0) {
    rc = wolf_err(rc, "certificate initialisation");
    goto out;
  }
  c->version = 0; /* PKCS#10 v1 */
  c->sigType = sig_type(key->pub.type);
  snprintf(c->subject.commonName, CTC_NAME_SIZE, "%s", cn);
  c->subject.commonNameEnc = CTC_UTF8;
  rc = wkey_make(&key->pub, NULL, &w);
  if (rc)
    goto out;
  void *kobj = w.type == ED25519_TYPE ? (void *)&w.u.ed : (void *)&w.u.ecc;
  int made = wc_MakeCertReq_ex(c, buf, BUILD_CAP, w.type, kobj);
  if (made < 0) {
    rc = wolf_err(made, "CSR encoding");
    goto out;
  }
  rc = sign_and_copy(c, key, buf, BUILD_CAP, der, len);
out:
  if (w.type)
    wkey_free(&w);
  free(buf);
  free(c);
  return rc;
}

/* The DER time element wolfSSL copies into the certificate as is. */
static int set_date(uint8_t *dst, int *dstlen, int64_t ns) {
  pki__dbuf b = {0};
  pki__dbuf_time(&b, ns);
  int rc = b.err;
  if (rc == 0 && b.len > CTC_DATE_SIZE)
    rc = GL_ERANGE;
  if (rc == 0) {
    memcpy(dst, b.data, b.len);
    *dstlen = (int)b.len;
  }
  pki__dbuf_free(&b);
  return rc;
}

int pki__make_cert(const pki_key *issuer_key, const uint8_t *issuer_der,
                   size_t issuer_len, const pki_pubkey *subject,
                   const pki_issue_opts *o, const uint8_t *altnames,
                   size_t altnames_len, uint8_t **der, size_t *len,
                   pki_why *why) {
  Cert *c = malloc(sizeof *c);
  uint8_t *buf = malloc(BUILD_CAP);
  wkey w = {0};
  int rc = GL_ENOMEM;
  if (!c || !buf)
    goto out;
  rc = wc_InitCert(c);
  if (rc != 0) {
    rc = wolf_err(rc, "certificate initialisation");
    goto out;
  }
  c->sigType = sig_type(issuer_key->pub.type);
  memcpy(c->serial, o->serial, o->serial_len);
  c->serialSz = (int)o->serial_len;
  snprintf(c->subject.commonName, CTC_NAME_SIZE, "%s", o->subject_cn);
  c->subject.commonNameEnc = CTC_UTF8;
  if (o->subject_org) {
    snprintf(c->subject.org, CTC_NAME_SIZE, "%s", o->subject_org);
    c->subject.orgEnc = CTC_UTF8;
  }
  if (set_date(c->beforeDate, &c->beforeDateSz, o->not_before) ||
      set_date(c->afterDate, &c->afterDateSz, o->not_after)) {
    rc = pki__fail_quiet(why, GL_EINVAL, "validity dates cannot be encoded");
    goto out;
  }
  if (altnames_len > sizeof c->altNames) {
    rc = pki__fail_quiet(why, GL_EINVAL, "too many subjectAltName entries");
    goto out;
  }
  if (altnames_len) {
    memcpy(c->altNames, altnames, altnames_len);
    c->altNamesSz = (int)altnames_len;
  }
  rc = wkey_make(subject, NULL, &w);
  if (rc)
    goto out;
  void *kobj = w.type == ED25519_TYPE ? (void *)&w.u.ed : (void *)&w.u.ecc;
  const char *what = "certificate extensions";
  int wr = wc_SetSubjectKeyIdFromPublicKey_ex(c, w.type, kobj);
  if (o->is_ca) {
    c->isCA = 1;
    if (wr == 0)
      wr = wc_SetKeyUsage(c, "keyCertSign,cRLSign,digitalSignature");
  } else {
    if (wr == 0)
      wr = wc_SetKeyUsage(c, "digitalSignature");
    const char *eku = (o->eku & PKI_EKU_SERVER) && (o->eku & PKI_EKU_CLIENT)
                          ? "serverAuth,clientAuth"
                      : (o->eku & PKI_EKU_SERVER) ? "serverAuth"
                      : (o->eku & PKI_EKU_CLIENT) ? "clientAuth"
                                                  : NULL;
    if (wr == 0 && eku)
      wr = wc_SetExtKeyUsage(c, eku);
  }
  if (issuer_der) {
    c->selfSigned = 0;
    if (wr == 0) {
      what = "issuer name";
      wr = wc_SetIssuerRaw(c, issuer_der, (int)issuer_len);
    }
    if (wr == 0) {
      what = "authority key identifier";
      wr = wc_SetAuthKeyIdFromCert(c, issuer_der, (int)issuer_len);
    }
  }
  if (wr != 0) {
    rc = wolf_err(wr, what);
    goto out;
  }
  /* wolfSSL wants a generator even though the serial is ours. */
  WC_RNG rng;
  int made = wc_InitRng(&rng);
  if (made == 0) {
    made = wc_MakeCert_ex(c, buf, BUILD_CAP, w.type, kobj, &rng);
    wc_FreeRng(&rng);
  }
  if (made < 0) {
    rc = wolf_err(made, "certificate encoding");
    goto out;
  }
  rc = sign_and_copy(c, issuer_key, buf, BUILD_CAP, der, len);
out:
  if (w.type)
    wkey_free(&w);
  free(buf);
  free(c);
  return rc;
}
