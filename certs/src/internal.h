/* SPDX-License-Identifier: MIT */
/*
 * internal.h - functions shared between the certs/ modules (pki__ prefix),
 * not part of the public API.
 *
 * Sections: reasons (why.c), DER reading and writing and X.509 times
 * (der.c), PEM (pem.c), files (file.c), the wolfSSL layer (wolf.c, the
 * only file that includes wolfSSL headers or sees its error codes), the
 * parsed-certificate internals (cert.c) and the index (index.c, the only
 * file that talks to SQLite).
 */
#ifndef GRIDLET_CERTS_INTERNAL_H
#define GRIDLET_CERTS_INTERNAL_H

#include "gridlet/pki_cert.h"
#include "gridlet/pki_issue.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PKI__LOG "pki"

/* ---- Reasons (why.c) ---------------------------------------------------- */

/*
 * pki__fail - record a refusal: format the reason into `why` (if any), log
 * it at warn level, return `err`. For bad outside input.
 */
int pki__fail(pki_why *why, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pki__fail_quiet - the same without the log line (for inner helpers
 * whose caller adds context and logs once). */
int pki__fail_quiet(pki_why *why, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pki__why_prefix - prepend "prefix: " to the reason in `why`. */
void pki__why_prefix(pki_why *why, const char *prefix);

/* ---- CRL time check (crl.c) --------------------------------------------- */

struct pki_crl;
/* pki__crl_check_time - the validity-period part of pki_crl_verify, for a
 * CRL whose signature was verified when it was loaded. */
int pki__crl_check_time(const struct pki_crl *crl, int64_t now, pki_why *why);

/* ---- DER reading (der.c) ------------------------------------------------ */

/* A cursor over DER bytes. */
typedef struct pki__der {
  const uint8_t *p;
  size_t len;
} pki__der;

/* ASN.1 tags used here. */
enum {
  PKI__T_BOOLEAN = 0x01,
  PKI__T_INTEGER = 0x02,
  PKI__T_BITSTR = 0x03,
  PKI__T_OCTSTR = 0x04,
  PKI__T_NULL = 0x05,
  PKI__T_OID = 0x06,
  PKI__T_ENUM = 0x0a,
  PKI__T_UTF8 = 0x0c,
  PKI__T_PRINTABLE = 0x13,
  PKI__T_IA5 = 0x16,
  PKI__T_UTCTIME = 0x17,
  PKI__T_GENTIME = 0x18,
  PKI__T_SEQ = 0x30,
  PKI__T_SET = 0x31,
  PKI__T_CTX0 = 0xa0, /* [0] constructed */
};

/*
 * pki__der_read - read one element at the cursor: its tag, its content and
 * (optionally) the whole element's bytes; advance past it. Strict DER:
 * low tag numbers only, definite minimal lengths. Returns 0 or GL_EPARSE.
 */
int pki__der_read(pki__der *cur, uint8_t *tag, pki__der *content,
                  pki__der *whole);

/* pki__der_expect - pki__der_read requiring `tag`. GL_EPARSE otherwise. */
int pki__der_expect(pki__der *cur, uint8_t tag, pki__der *content,
                    pki__der *whole);

/* pki__der_peek - the tag at the cursor, or -1 at the end. */
int pki__der_peek(const pki__der *cur);

/* pki__der_oid_is - true when OID content bytes equal `oid` (`n` bytes). */
bool pki__der_oid_is(const pki__der *oid, const uint8_t *der, size_t n);

/* pki__der_uint - a non-negative INTEGER's content as an unsigned value of
 * up to 8 bytes (minimal encoding required). GL_EPARSE / GL_ERANGE. */
int pki__der_uint(const pki__der *content, uint64_t *v);

/*
 * pki__der_serial - a serial number INTEGER's content as its minimal
 * big-endian magnitude (leading 00 removed; negative or over 20 bytes
 * refused). GL_EPARSE.
 */
int pki__der_serial(const pki__der *content, uint8_t out[PKI_SERIAL_MAX],
                    size_t *n);

/*
 * pki__der_time - UTCTime or GeneralizedTime content ("YYMMDDHHMMSSZ" /
 * "YYYYMMDDHHMMSSZ", as RFC 5280 requires) to UTC ns, saturated to the
 * int64 range. GL_EPARSE.
 */
int pki__der_time(uint8_t tag, const pki__der *content, int64_t *ns);

/* Common names of a Name: the first CN value, counts of attributes and CNs.
 * The CN must be a UTF8String, PrintableString or IA5String of printable
 * ASCII up to 64 bytes. GL_EPARSE. */
typedef struct pki__name_info {
  char cn[PKI_CN_MAX];
  unsigned attrs, cns;
} pki__name_info;
int pki__der_name(const uint8_t *name, size_t len, pki__name_info *info,
                  pki_why *why);

/* ---- DER writing (der.c) ------------------------------------------------ */

/* A growable output buffer; an allocation failure is sticky in `err`. */
typedef struct pki__dbuf {
  uint8_t *data;
  size_t len, cap;
  int err;
} pki__dbuf;

void pki__dbuf_put(pki__dbuf *b, const void *p, size_t n);
/* Start a constructed element; returns the position to pass to close. */
size_t pki__dbuf_open(pki__dbuf *b, uint8_t tag);
/* Finish the element started at `pos`, inserting its length. */
void pki__dbuf_close(pki__dbuf *b, size_t pos);
/* A primitive element with the given content. */
void pki__dbuf_tlv(pki__dbuf *b, uint8_t tag, const void *p, size_t n);
/* A non-negative INTEGER from big-endian magnitude bytes. */
void pki__dbuf_uint_bytes(pki__dbuf *b, uint8_t tag, const uint8_t *p,
                          size_t n);
void pki__dbuf_uint(pki__dbuf *b, uint8_t tag, uint64_t v);
/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5);
 * whole seconds. */
void pki__dbuf_time(pki__dbuf *b, int64_t ns);
void pki__dbuf_free(pki__dbuf *b);

/* ---- Civil time (der.c) ------------------------------------------------- */

int64_t pki__days_from_civil(int64_t y, unsigned m, unsigned d);
void pki__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- PEM (pem.c) -------------------------------------------------------- */

/*
 * pki__pem_encode - "-----BEGIN <label>-----", base64 in 64-column lines,
 * "-----END <label>-----\n". *out malloc'd, NUL-terminated. GL_ENOMEM.
 */
int pki__pem_encode(const char *label, const uint8_t *der, size_t len,
                    char **out, size_t *outlen);

/*
 * pki__pem_decode - the DER of the first block labelled `label` in `text`
 * (a second accepted label may be given in `alt`, else NULL). Whitespace
 * (space, tab, CR, LF) inside the body is ignored; RFC 1421 headers
 * ("Proc-Type:") are refused. *der is malloc'd. Returns 0, GL_ENOENT (no
 * such block), GL_EPARSE (unterminated block, bad base64), GL_ETOOBIG or
 * GL_ENOMEM, with the reason (not logged).
 */
int pki__pem_decode(const char *text, size_t len, const char *label,
                    const char *alt, uint8_t **der, size_t *derlen,
                    pki_why *why);

/* pki__pem_has - true when `text` contains "-----BEGIN <label>-----". */
bool pki__pem_has(const char *text, size_t len, const char *label);

/* ---- Files (file.c) ----------------------------------------------------- */

#define PKI__W_EXCL 0x1u /* fail with GL_EEXIST if the file exists */
/* Skip fsync, and write in place rather than through a renamed temporary
 * file (development communities, where nothing is worth a crash-safe
 * write). */
#define PKI__W_NOSYNC 0x2u

/*
 * pki__write_file - write `len` bytes to `path` atomically: a temporary
 * file in the same directory with `mode`, fsync, rename over `path`, fsync
 * of the directory. Returns 0, GL_EEXIST or GL_EIO, with the reason.
 */
int pki__write_file(const char *path, const void *data, size_t len, mode_t mode,
                    unsigned flags, pki_why *why);

/*
 * Staged files: written and fsync'd under a temporary name next to the
 * target by pki__stage_file, moved into place by pki__install_file (rename
 * and directory fsync) once whatever they depend on has committed, or
 * removed by pki__discard_file. A staged file is always written under its
 * temporary name (PKI__W_NOSYNC only skips the fsyncs).
 */
typedef struct pki__staged {
  char path[4096], tmp[4096 + 32];
  bool sync, active;
} pki__staged;
int pki__stage_file(pki__staged *s, const char *path, const void *data,
                    size_t len, mode_t mode, unsigned flags, pki_why *why);
/* The temporary name of a staged file (to chown it before it goes live). */
const char *pki__staged_path(const pki__staged *s);
/* 0 (also when nothing is staged) or GL_EIO with the reason. */
int pki__install_file(pki__staged *s, pki_why *why);
void pki__discard_file(pki__staged *s);

/*
 * pki__lock_file - open (creating, mode 0600) `path` and take an exclusive
 * flock on it, waiting for other holders; pki__unlock_file releases it.
 * Returns 0 or GL_EIO with the reason.
 */
int pki__lock_file(const char *path, int *fd, pki_why *why);
void pki__unlock_file(int fd);

/*
 * pki__read_file - the whole file, malloc'd with a NUL after it; files
 * over `max` bytes are refused. *mode_out (may be NULL) gets st_mode.
 * Returns 0, GL_ENOENT, GL_ETOOBIG, GL_EIO or GL_ENOMEM, with the reason.
 */
int pki__read_file(const char *path, size_t max, char **data, size_t *len,
                   mode_t *mode_out, pki_why *why);

/* pki__mkdir - create `path` with `mode` unless it is already a
 * directory. GL_EIO. */
int pki__mkdir(const char *path, mode_t mode, pki_why *why);

/* pki__path - join dir and name; GL_ETOOBIG if it does not fit. */
int pki__path(char *out, size_t size, const char *dir, const char *name);

/* pki__exists - true when `path` exists. */
bool pki__exists(const char *path);

/* ---- wolfSSL layer (wolf.c) --------------------------------------------- */

/* Signature algorithms in gridlet's profile. */
typedef enum pki__sigalg {
  PKI__SIG_ED25519 = 1,
  PKI__SIG_ECDSA_SHA256 = 2,
} pki__sigalg;

/* The signature algorithm a key of `type` signs with. */
pki__sigalg pki__sigalg_for(pki_key_type type);

/* pki__p256_pub - the public point of P-256 scalar `priv`; GL_ERANGE when
 * the scalar is 0 or not below the group order, GL_ECRYPTO. */
int pki__p256_pub(const uint8_t priv[PKI_PRIV_LEN], uint8_t pub[PKI_PUB_MAX]);

/*
 * pki__sign - sign `msg` with `key`: Ed25519 (64 bytes) or ECDSA P-256
 * over SHA-256 (DER Ecdsa-Sig-Value, at most 72 bytes). `sig` holds
 * PKI__SIG_MAX. Returns 0 or GL_ECRYPTO.
 */
#define PKI__SIG_MAX 80
int pki__sign(const pki_key *key, const uint8_t *msg, size_t len, uint8_t *sig,
              size_t *siglen);

/*
 * pki__verify - 0 when `sig` is a valid `alg` signature of `msg` by `pub`
 * (the algorithm must fit the key type); GL_EVERIFY otherwise.
 */
int pki__verify(const pki_pubkey *pub, pki__sigalg alg, const uint8_t *msg,
                size_t len, const uint8_t *sig, size_t siglen);

/* pki__key_to_pkcs8 - unencrypted PKCS#8 DER of the key into `der` (cap
 * bytes). GL_ETOOBIG / GL_ECRYPTO. */
int pki__key_to_pkcs8(const pki_key *key, uint8_t *der, size_t cap,
                      size_t *len);

/* pki__key_from_der - a PKCS#8 (Ed25519 or P-256) or SEC1 (P-256)
 * private key. GL_EPARSE / GL_ENOTSUP / GL_ECRYPTO with the reason. */
int pki__key_from_der(const uint8_t *der, size_t len, bool sec1, pki_key *key,
                      pki_why *why);

/* Fields of a parsed certificate or CSR, as offsets into its DER. */
typedef struct pki__x509 {
  size_t tbs_off, tbs_len; /* the signed part */
  size_t sig_off, sig_len; /* signature value bytes */
  pki__sigalg sigalg;
  size_t subj_off, subj_len; /* subject Name element */
  size_t iss_off, iss_len;   /* issuer Name element (certificates) */
  size_t nb_off, nb_len;     /* notBefore element (tag, length, value) */
  size_t na_off, na_len;     /* notAfter element */
  uint8_t serial[PKI_SERIAL_MAX];
  size_t serial_len;
  pki_pubkey pub;
  bool is_ca;
  unsigned eku;
  bool has_skid, has_akid;
  uint8_t skid[20], akid[20];
  char *names; /* "DNS:x, IP:y", malloc'd */
  unsigned n_names;
} pki__x509;

/*
 * pki__x509_parse - parse a certificate (csr false) or PKCS#10 request
 * (csr true) with wolfSSL, without verifying anything. The input must be
 * exactly one DER element. Returns 0 (free x->names later), GL_EPARSE,
 * GL_ENOTSUP (key or signature algorithm) or GL_ENOMEM, with the reason
 * (not logged).
 */
int pki__x509_parse(const uint8_t *der, size_t len, bool csr, pki__x509 *x,
                    pki_why *why);

/*
 * pki__make_csr - DER of a PKCS#10 request for `key` with subject
 * CN=`cn`. *der malloc'd. GL_ENOMEM / GL_ECRYPTO.
 */
int pki__make_csr(const pki_key *key, const char *cn, uint8_t **der,
                  size_t *len);

/*
 * pki__make_cert - DER of a certificate (see pki_issue), `altnames` the
 * DER GeneralNames SEQUENCE or NULL, `issuer_der` the issuer certificate
 * or NULL when self-signed. *der malloc'd. GL_ENOMEM / GL_ECRYPTO /
 * GL_EINVAL, with the reason.
 */
int pki__make_cert(const pki_key *issuer_key, const uint8_t *issuer_der,
                   size_t issuer_len, const pki_pubkey *subject,
                   const pki_issue_opts *opts, const uint8_t *altnames,
                   size_t altnames_len, uint8_t **der, size_t *len,
                   pki_why *why);

/* ---- Certificate internals (cert.c) ------------------------------------- */

/* The issuer/subject Name element bytes and key identifier of `cert`. */
const uint8_t *pki__cert_subject(const pki_cert *cert, size_t *len);
const uint8_t *pki__cert_skid(const pki_cert *cert);
const uint8_t *pki__cert_serial(const pki_cert *cert, size_t *len);

/* ---- CRL files (crl.c) ------------------------------------------------- */

struct pki_crl;
/* pki__crl_load_file - read and parse a CRL file (size-limited). */
int pki__crl_load_file(const char *path, struct pki_crl **out, pki_why *why);

/* Lower-case hex of a serial; `out` holds PKI_SERIAL_HEX_MAX. */
void pki__serial_hex(const uint8_t *serial, size_t n, char *out);

/* Parse hex serial (either case, optional "0x"); GL_EINVAL. */
int pki__serial_from_hex(const char *hex, uint8_t out[PKI_SERIAL_MAX],
                         size_t *n);

/* ---- CA internals (ca.c) ----------------------------------------------- */

struct pki_ca;
/* pki__ca_wflags - the pki__write_file flags the CA writes with. */
unsigned pki__ca_wflags(const struct pki_ca *ca);
/* pki__ca_rand - the generator the CA was opened with. */
const gl_rand *pki__ca_rand(const struct pki_ca *ca);
/* pki__ca_index - the CA's index (white-box tests). */
struct pki__index *pki__ca_index(const struct pki_ca *ca);

#endif /* GRIDLET_CERTS_INTERNAL_H */
