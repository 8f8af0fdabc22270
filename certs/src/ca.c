/* SPDX-License-Identifier: MIT */
/*
 * ca.c - the community CA: initialisation, enrolment by CSR, service
 * certificates, revocation and CRL issue. See gridlet/pki_ca.h for the
 * directory layout and the policy.
 */
#include "gridlet/pki_ca.h"

#include "index.h"
#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_issue.h"
#include "gridlet/pki_name.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_MAX 3072
#define PATH_MAX_ 4096
/* A CSR is a few hundred bytes; this leaves room for comments. */
#define CSR_TEXT_MAX (4 * PKI_DER_MAX)

struct pki_ca {
  char dir[DIR_MAX];
  pki__index *ix;
  pki_cert *cert;
  pki_key key;
  char community[PKI_COMMUNITY_MAX];
  const gl_rand *rand;
  const gl_clock *clock;
  unsigned wflags; /* pki__write_file flags */
  int64_t crl_lifetime;
};

/* ---- Helpers ------------------------------------------------------------ */

static int ca_path(const pki_ca *ca, const char *name, char *out, size_t size) {
  return pki__path(out, size, ca->dir, name);
}

static int get_i64(pki__index *ix, const char *name, int64_t *v) {
  char buf[32];
  int rc = pki__index_get(ix, name, buf, sizeof buf);
  if (rc)
    return rc;
  char *end;
  long long x = strtoll(buf, &end, 10);
  if (end == buf || *end)
    return GL_ESTORE;
  *v = x;
  return 0;
}

static int set_i64(pki__index *ix, const char *name, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return pki__index_set(ix, name, buf);
}

static void pub_hex(const pki_pubkey *pub, char out[2 * PKI_PUB_MAX + 1]) {
  gl_hex_encode(pub->bytes, pub->len, out);
}

static int write_cert(const pki_ca *ca, const pki_cert *cert, const char *path,
                      pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_cert_to_pem(cert, &pem, &n);
  if (rc == 0)
    rc = pki__write_file(path, pem, n, 0644, ca->wflags, why);
  free(pem);
  return rc;
}

/* Every change that publishes a CRL holds this lock from BEGIN IMMEDIATE
 * until crl.pem is in place. The CRL is moved into place only after its
 * number and revocations have committed (so a failed commit can never
 * leave a published list whose number is used again), which is after
 * SQLite's lock is released; the file lock keeps two CA processes from
 * putting their lists in place out of order. */
static int ca_lock(const pki_ca *ca, int *fd, pki_why *why) {
  char p[PATH_MAX_];
  int rc = ca_path(ca, "ca.lock", p, sizeof p);
  if (rc)
    return pki__fail(why, rc, "directory path too long");
  return pki__lock_file(p, fd, why);
}

/* ---- Opening and creating ----------------------------------------------- */

static int load(pki_ca *ca, pki_why *why) {
  char p[PATH_MAX_];
  int rc = ca_path(ca, "ca.pem", p, sizeof p);
  if (rc == 0)
    rc = pki_cert_load_file(p, &ca->cert, why);
  if (rc == 0)
    rc = ca_path(ca, "ca.key", p, sizeof p);
  if (rc == 0)
    rc = pki_key_load_file(p, &ca->key, why);
  if (rc)
    return rc;
  if (!pki_cert_matches_key(ca->cert, &ca->key))
    return pki__fail(why, GL_ECONFIG, "%s/ca.key does not belong to %s/ca.pem",
                     ca->dir, ca->dir);
  rc = pki__index_get(ca->ix, "community", ca->community, sizeof ca->community);
  if (rc == 0)
    rc = get_i64(ca->ix, "crl_lifetime_s", &ca->crl_lifetime);
  if (rc)
    return pki__fail(why, GL_ESTORE, "%s/index.sqlite has no settings",
                     ca->dir);
  ca->crl_lifetime *= GL_NS_PER_SEC;
  return 0;
}

int pki_ca_open(const char *dir, const pki_ca_open_opts *opts,
                const gl_rand *rand, const gl_clock *clock, pki_ca **out,
                pki_why *why) {
  *out = NULL;
  pki_ca *ca = calloc(1, sizeof *ca);
  if (!ca)
    return GL_ENOMEM;
  ca->rand = rand;
  ca->clock = clock;
  bool no_sync = opts && opts->no_sync;
  ca->wflags = no_sync ? PKI__W_NOSYNC : 0;
  int n = snprintf(ca->dir, sizeof ca->dir, "%s", dir);
  char p[PATH_MAX_];
  int rc = n < 0 || (size_t)n >= sizeof ca->dir ? GL_ETOOBIG : 0;
  if (rc == 0)
    rc = ca_path(ca, "index.sqlite", p, sizeof p);
  if (rc == 0)
    rc = pki__index_open(p, false, no_sync, &ca->ix, why);
  if (rc == GL_ENOENT)
    rc = pki__fail(why, GL_ENOENT,
                   "%s holds no CA (no index.sqlite); run `gridlet-ca init`",
                   dir);
  if (rc == 0)
    rc = load(ca, why);
  if (rc) {
    pki_ca_free(ca);
    return rc;
  }
  *out = ca;
  return 0;
}

void pki_ca_free(pki_ca *ca) {
  if (!ca)
    return;
  pki__index_close(ca->ix);
  pki_cert_free(ca->cert);
  pki_key_wipe(&ca->key);
  free(ca);
}

const pki_cert *pki_ca_cert(const pki_ca *ca) {
  return ca->cert;
}

const char *pki_ca_community(const pki_ca *ca) {
  return ca->community;
}

const char *pki_ca_dir(const pki_ca *ca) {
  return ca->dir;
}

static void record_of(const pki_cert *cert, const char *kind, int64_t now,
                      pki_ca_record *r) {
  const pki_cert_info *in = pki_cert_get_info(cert);
  memset(r, 0, sizeof *r);
  memcpy(r->serial_hex, in->serial_hex, sizeof r->serial_hex);
  memcpy(r->subject, in->subject_cn, sizeof r->subject);
  snprintf(r->kind, sizeof r->kind, "%s", kind);
  r->key_type = in->pub.type;
  r->issued_at = now;
  r->not_before = in->not_before;
  r->not_after = in->not_after;
}

static int insert(pki_ca *ca, const pki_cert *cert, const char *kind,
                  int64_t now) {
  pki_ca_record r;
  record_of(cert, kind, now, &r);
  char hex[2 * PKI_PUB_MAX + 1];
  pub_hex(&pki_cert_get_info(cert)->pub, hex);
  size_t len;
  const uint8_t *der = pki_cert_der(cert, &len);
  return pki__index_insert(ca->ix, &r, hex, der, len);
}

int pki_ca_init(const char *dir, const pki_ca_init_opts *opts,
                const gl_rand *rand, const gl_clock *clock, pki_why *why) {
  pki_why inner = {{0}};
  if (pki_name_check_community(opts->community, &inner))
    return pki__fail(why, GL_EINVAL, "%s", inner.text);
  int64_t lifetime = opts->lifetime ? opts->lifetime : PKI_CA_LIFETIME_DEFAULT;
  int64_t crl_lifetime =
      opts->crl_lifetime ? opts->crl_lifetime : PKI_CRL_LIFETIME_DEFAULT;
  if (lifetime < 0 || crl_lifetime < GL_NS_PER_SEC)
    return pki__fail(why, GL_EINVAL, "lifetimes must be positive");
  char p[PATH_MAX_], idx[PATH_MAX_];
  if (pki__path(p, sizeof p, dir, "ca.key") ||
      pki__path(idx, sizeof idx, dir, "index.sqlite"))
    return pki__fail(why, GL_ETOOBIG, "directory path too long");
  int rc = pki__mkdir(dir, 0700, why);
  if (rc)
    return rc;
  if (pki__exists(p) || pki__exists(idx))
    return pki__fail(why, GL_EEXIST,
                     "%s already holds a CA; refusing to overwrite it", dir);

  pki_ca *ca = calloc(1, sizeof *ca);
  if (!ca)
    return GL_ENOMEM;
  snprintf(ca->dir, sizeof ca->dir, "%s", dir);
  ca->rand = rand;
  ca->clock = clock;
  snprintf(ca->community, sizeof ca->community, "%s", opts->community);
  ca->crl_lifetime = crl_lifetime;
  ca->wflags = opts->no_sync ? PKI__W_NOSYNC : 0;
  int64_t now = gl_clock_now(clock);

  rc = pki_key_generate(opts->key_type, rand, &ca->key);
  uint8_t serial[PKI_SERIAL_RANDOM_LEN];
  if (rc == 0)
    rc = pki_serial_random(rand, serial);
  char cn[PKI_CN_MAX];
  snprintf(cn, sizeof cn, "%s community CA", opts->community);
  if (rc == 0) {
    pki_issue_opts io = {
        .subject_cn = cn,
        .subject_org = opts->community,
        .is_ca = true,
        .not_before = now - PKI_BACKDATE,
        .not_after = now + lifetime,
        .serial = serial,
        .serial_len = sizeof serial,
    };
    rc = pki_issue(&ca->key, NULL, &ca->key.pub, &io, &ca->cert, why);
  }
  if (rc == 0) {
    char *pem;
    size_t n;
    rc = pki_key_to_pem(&ca->key, &pem, &n);
    if (rc == 0) {
      rc = pki__write_file(p, pem, n, 0600, PKI__W_EXCL | ca->wflags, why);
      gl_wipe(pem, n);
      free(pem);
    }
  }
  if (rc == 0 && (rc = ca_path(ca, "ca.pem", p, sizeof p)) == 0)
    rc = write_cert(ca, ca->cert, p, why);
  if (rc == 0 && (rc = ca_path(ca, "certs", p, sizeof p)) == 0)
    rc = pki__mkdir(p, 0755, why);
  if (rc == 0)
    rc = pki__index_open(idx, true, opts->no_sync, &ca->ix, why);
  if (rc == 0)
    rc = pki__index_begin(ca->ix);
  if (rc == 0) {
    rc = insert(ca, ca->cert, "ca", now);
    if (rc == 0)
      rc = pki__index_set(ca->ix, "community", opts->community);
    if (rc == 0)
      rc = set_i64(ca->ix, "crl_number", 0);
    if (rc == 0)
      rc = set_i64(ca->ix, "crl_lifetime_s", crl_lifetime / GL_NS_PER_SEC);
    if (rc == 0)
      rc = pki__index_commit(ca->ix);
    else
      pki__index_rollback(ca->ix);
  }
  if (rc == 0)
    rc = pki_ca_write_crl(ca, 0, why);
  if (rc == 0)
    GL_NOTICE(PKI__LOG, "created CA \"%s\" (%s key, serial %s) in %s", cn,
              pki_key_type_name(opts->key_type),
              pki_cert_get_info(ca->cert)->serial_hex, dir);
  pki_ca_free(ca);
  return rc;
}

/* ---- Issuing ------------------------------------------------------------ */

/* Records collected from an index walk. Every one counts (a key's history
 * or a subject's certificates can be long), so the array grows. */
typedef struct current_ctx {
  pki_ca_record *recs;
  size_t n, cap;
  int err;
} current_ctx;

static int collect_cb(void *ctx, const pki_ca_record *r) {
  current_ctx *c = ctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 8;
    pki_ca_record *recs = realloc(c->recs, cap * sizeof *recs);
    if (!recs) {
      c->err = GL_ENOMEM;
      return 1; /* stops the walk */
    }
    c->recs = recs;
    c->cap = cap;
  }
  c->recs[c->n++] = *r;
  return 0;
}

/* The result of a walk that fed collect_cb: its stop code is the error. */
static int collected(int rc, const current_ctx *c) {
  return rc == 1 ? c->err : rc;
}

static void current_free(current_ctx *c) {
  free(c->recs);
  memset(c, 0, sizeof *c);
}

/* The rules about keys: one subject per key, and never a key that was in
 * a certificate revoked for any reason but "superseded" (its holder may
 * not be the only one who has it). A certificate superseded by a renewal
 * says nothing against its key, so the same meter may renew with the
 * same key as often as it likes. */
static int check_key(pki_ca *ca, const char *subject, const pki_pubkey *pub,
                     pki_why *why) {
  char hex[2 * PKI_PUB_MAX + 1];
  pub_hex(pub, hex);
  current_ctx c = {0};
  int rc = collected(pki__index_by_pub(ca->ix, hex, collect_cb, &c), &c);
  for (size_t i = 0; i < c.n && rc == 0; i++) {
    if (strcmp(c.recs[i].subject, subject) != 0)
      rc = pki__fail(why, GL_ECONFLICT,
                     "this public key is already certified for \"%s\" "
                     "(serial %s); every device needs its own key",
                     c.recs[i].subject, c.recs[i].serial_hex);
    else if (c.recs[i].revoked && c.recs[i].reason != PKI_REASON_SUPERSEDED)
      rc = pki__fail(why, GL_ECONFLICT,
                     "this public key was in certificate %s, revoked "
                     "(%s); make a new key on the device",
                     c.recs[i].serial_hex, pki_reason_name(c.recs[i].reason));
  }
  current_free(&c);
  return rc;
}

typedef struct issue_req {
  const char *cn;
  const char *kind; /* "meter" or "service" */
  unsigned eku;
  const char *const *dns;
  size_t n_dns;
  const char *const *ips;
  size_t n_ips;
  int64_t lifetime;
  bool replace;
  int (*stage)(void *ctx, const pki_cert *cert, pki_why *why);
  void *stage_ctx;
} issue_req;

/* A CRL signed and written under a temporary name, put in place after
 * the transaction that numbered it commits. */
typedef struct crl_job {
  pki__staged file;
  int64_t number, next;
  size_t count;
} crl_job;

static int crl_stage_locked(pki_ca *ca, int64_t lifetime, crl_job *j,
                            pki_why *why);
static int crl_install(crl_job *j, pki_why *why);

/* Checks, issue and record under the index's write lock (BEGIN IMMEDIATE),
 * so two operators signing for the same meter at once cannot both pass
 * the one-certificate check. */
static int issue_locked(pki_ca *ca, const issue_req *q, const pki_pubkey *pub,
                        int64_t now, current_ctx *cur, pki_cert **out,
                        pki_why *why) {
  const pki_cert_info *cai = pki_cert_get_info(ca->cert);
  int rc =
      collected(pki__index_current(ca->ix, q->cn, now, collect_cb, cur), cur);
  if (rc)
    return rc;
  if (cur->n && !q->replace) {
    char t[GL_TIME_STR_MAX];
    return pki__fail(why, GL_EEXIST,
                     "\"%s\" is already enrolled (certificate %s, valid until "
                     "%s); to re-enrol, replace it (gridlet-ca: --replace), "
                     "which revokes the old certificate as superseded",
                     q->cn, cur->recs[0].serial_hex,
                     gl_time_format(cur->recs[0].not_after, t));
  }
  rc = check_key(ca, q->cn, pub, why);
  if (rc)
    return rc;

  /* Never beyond the CA itself: a chain is only as valid as its root. */
  int64_t not_after = cai->not_after;
  if (q->lifetime > 0 && q->lifetime < cai->not_after - now)
    not_after = now + q->lifetime;
  pki_issue_opts io = {
      .subject_cn = q->cn,
      .eku = q->eku,
      .dns = q->dns,
      .n_dns = q->n_dns,
      .ips = q->ips,
      .n_ips = q->n_ips,
      .not_before = now - PKI_BACKDATE,
      .not_after = not_after,
  };
  pki_cert *cert = NULL;
  /* Serials are random; a collision with an earlier one is astronomically
   * unlikely but caught by the index's primary key and retried. */
  for (int attempt = 0; attempt < 4 && !cert; attempt++) {
    uint8_t serial[PKI_SERIAL_RANDOM_LEN];
    rc = pki_serial_random(ca->rand, serial);
    if (rc)
      return rc;
    io.serial = serial;
    io.serial_len = sizeof serial;
    rc = pki_issue(&ca->key, ca->cert, pub, &io, &cert, why);
    if (rc)
      return rc;
    rc = insert(ca, cert, q->kind, now);
    if (rc == GL_EEXIST) {
      GL_WARN(PKI__LOG, "serial collision, drawing a new serial");
      pki_cert_free(cert);
      cert = NULL;
    } else if (rc) {
      pki_cert_free(cert);
      return pki__fail(why, rc, "cannot record the certificate in the index");
    }
  }
  if (!cert)
    return pki__fail(why, GL_ESTORE, "could not find an unused serial");
  /* Whole seconds, as pki_ca_revoke records them: the time the CRL
   * states, so the index and the list agree. */
  int64_t revoked_at = gl_floor_div(now, GL_NS_PER_SEC) * GL_NS_PER_SEC;
  for (size_t i = 0; i < cur->n && rc == 0; i++) {
    bool changed;
    rc = pki__index_revoke(ca->ix, cur->recs[i].serial_hex, revoked_at,
                           PKI_REASON_SUPERSEDED, &changed);
  }
  if (rc) {
    pki_cert_free(cert);
    return rc;
  }
  *out = cert;
  return 0;
}

static int issue_and_record(pki_ca *ca, const issue_req *q,
                            const pki_pubkey *pub, pki_cert **out,
                            pki_why *why) {
  *out = NULL;
  int64_t now = gl_clock_now(ca->clock);
  if (now >= pki_cert_get_info(ca->cert)->not_after)
    return pki__fail(why, GL_EEXPIRED,
                     "the CA certificate has expired; a new CA is needed");
  int lock;
  int rc = ca_lock(ca, &lock, why);
  if (rc)
    return rc;
  rc = pki__index_begin(ca->ix);
  if (rc) {
    pki__unlock_file(lock);
    return pki__fail(why, rc, "the CA index is busy or unwritable");
  }
  current_ctx cur = {0};
  pki_cert *cert = NULL;
  crl_job crl;
  memset(&crl, 0, sizeof crl);
  rc = issue_locked(ca, q, pub, now, &cur, &cert, why);
  /* A replacement revoked the previous certificate: its CRL is signed
   * now, from this transaction's view, and goes live after the commit. */
  if (rc == 0 && cur.n)
    rc = crl_stage_locked(ca, 0, &crl, why);
  /* The caller's files (a service's new key) are written before anything
   * commits: if that fails, nothing was issued and nothing revoked. */
  if (rc == 0 && q->stage)
    rc = q->stage(q->stage_ctx, cert, why);
  if (rc == 0) {
    rc = pki__index_commit(ca->ix);
    if (rc)
      pki__fail(why, rc, "cannot commit to the CA index");
  }
  if (rc) {
    pki__index_rollback(ca->ix);
    pki__discard_file(&crl.file);
    pki__unlock_file(lock);
    pki_cert_free(cert);
    current_free(&cur);
    return rc;
  }
  /* Committed: the certificate is issued. What follows cannot undo that,
   * so a failure is reported loudly but the certificate is returned (the
   * caller's staged key must still be put in place). */
  pki_why late = {{0}};
  if (crl_install(&crl, &late))
    GL_ERROR(PKI__LOG,
             "the previous certificate of \"%s\" is revoked in the index "
             "but the new revocation list is not in place (%s); run "
             "`gridlet-ca crl`",
             q->cn, late.text);
  pki__unlock_file(lock);
  const pki_cert_info *in = pki_cert_get_info(cert);
  char name[PKI_CN_MAX + 8], p[PATH_MAX_];
  snprintf(name, sizeof name, "certs/%s.pem", q->cn);
  if (ca_path(ca, name, p, sizeof p) || write_cert(ca, cert, p, &late))
    GL_ERROR(PKI__LOG,
             "certificate %s of \"%s\" is issued but %s could not be "
             "written (%s); it is kept in index.sqlite",
             in->serial_hex, q->cn, name, late.text);
  char t[GL_TIME_STR_MAX];
  GL_NOTICE(PKI__LOG,
            "issued %s certificate %s for \"%s\" (%s), valid until %s%s",
            q->kind, in->serial_hex, q->cn, pki_key_type_name(pub->type),
            gl_time_format(in->not_after, t),
            cur.n ? ", replacing the previous one" : "");
  current_free(&cur);
  *out = cert;
  return 0;
}

int pki_ca_sign_csr(pki_ca *ca, const char *csr, size_t len,
                    const pki_ca_sign_opts *opts, pki_cert **out,
                    pki_why *why) {
  *out = NULL;
  if (len > CSR_TEXT_MAX)
    return pki__fail(why, GL_ETOOBIG, "CSR refused: %zu bytes is too large",
                     len);
  pki_csr_info info;
  int rc = pki_csr_parse(csr, len, &info, why);
  if (rc)
    return rc;
  pki_why inner = {{0}};
  if (pki_name_check_meter_id(info.subject_cn, &inner))
    return pki__fail(why, GL_EPERM, "CSR refused: subject CN: %s", inner.text);
  issue_req q = {
      .cn = info.subject_cn,
      .kind = "meter",
      .eku = PKI_EKU_CLIENT,
      .lifetime =
          opts && opts->lifetime ? opts->lifetime : PKI_METER_LIFETIME_DEFAULT,
      .replace = opts && opts->replace,
  };
  return issue_and_record(ca, &q, &info.pub, out, why);
}

int pki_ca_issue_service(pki_ca *ca, const pki_ca_service_opts *opts,
                         const pki_pubkey *pub, pki_cert **out, pki_why *why) {
  *out = NULL;
  bool broker = opts->name && strcmp(opts->name, PKI_NAME_BROKER) == 0;
  bool agg = opts->name && strcmp(opts->name, PKI_NAME_AGGREGATOR) == 0;
  if (!broker && !agg)
    return pki__fail(why, GL_EINVAL,
                     "service name must be \"broker\" or \"aggregator\"");
  issue_req q = {
      .cn = opts->name,
      .kind = "service",
      .eku = broker ? PKI_EKU_SERVER : PKI_EKU_SERVER | PKI_EKU_CLIENT,
      .dns = opts->dns,
      .n_dns = opts->n_dns,
      .ips = opts->ips,
      .n_ips = opts->n_ips,
      .lifetime =
          opts->lifetime ? opts->lifetime : PKI_SERVICE_LIFETIME_DEFAULT,
      .replace = opts->replace,
      .stage = opts->stage,
      .stage_ctx = opts->stage_ctx,
  };
  return issue_and_record(ca, &q, pub, out, why);
}

/* ---- Listing and revoking ----------------------------------------------- */

int pki_ca_list(pki_ca *ca, unsigned flags,
                int (*cb)(void *ctx, const pki_ca_record *rec), void *ctx) {
  return pki__index_list(ca->ix, flags & PKI_CA_LIST_ALL,
                         gl_clock_now(ca->clock), cb, ctx);
}

int pki_ca_find(pki_ca *ca, const char *serial_hex, pki_ca_record *rec) {
  uint8_t s[PKI_SERIAL_MAX];
  size_t n;
  char hex[PKI_SERIAL_HEX_MAX];
  if (pki__serial_from_hex(serial_hex, s, &n))
    return GL_ENOENT;
  pki__serial_hex(s, n, hex);
  return pki__index_find(ca->ix, hex, rec);
}

int pki_ca_revoke(pki_ca *ca, const char *subject, const char *serial_hex,
                  int reason, unsigned *n_out, pki_why *why) {
  if (n_out)
    *n_out = 0;
  if ((subject == NULL) == (serial_hex == NULL))
    return pki__fail(why, GL_EINVAL,
                     "name either a subject or a serial number to revoke");
  if (reason < 0 || reason > PKI_REASON_CESSATION ||
      reason == PKI_REASON_CA_COMPROMISE)
    return pki__fail(why, GL_EINVAL, "unsupported revocation reason %d",
                     reason);
  /* Whole seconds: the time the CRL will state. */
  int64_t now =
      gl_floor_div(gl_clock_now(ca->clock), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  int lock;
  int rc = ca_lock(ca, &lock, why);
  if (rc)
    return rc;
  rc = pki__index_begin(ca->ix);
  if (rc) {
    pki__unlock_file(lock);
    return pki__fail(why, rc, "the CA index is busy or unwritable");
  }
  current_ctx targets = {0};
  if (serial_hex) {
    pki_ca_record r;
    rc = pki_ca_find(ca, serial_hex, &r);
    if (rc == GL_ENOENT)
      rc = pki__fail(why, rc, "no certificate with serial %s", serial_hex);
    else if (rc == 0 && r.revoked)
      rc = pki__fail(why, GL_ENOENT, "certificate %s is already revoked",
                     r.serial_hex);
    else if (rc == 0 && collect_cb(&targets, &r) != 0)
      rc = targets.err;
  } else {
    /* Every unrevoked certificate of the subject, expired ones included:
     * revoking is about the identity. */
    rc = collected(
        pki__index_current(ca->ix, subject, INT64_MIN, collect_cb, &targets),
        &targets);
    if (rc == 0 && targets.n == 0)
      rc = pki__fail(why, GL_ENOENT, "\"%s\" has no unrevoked certificate",
                     subject);
  }
  for (size_t i = 0; rc == 0 && i < targets.n; i++)
    if (strcmp(targets.recs[i].kind, "ca") == 0)
      rc = pki__fail(why, GL_EPERM,
                     "the CA's own certificate cannot be revoked; retire "
                     "the CA instead");
  unsigned count = 0;
  for (size_t i = 0; i < targets.n && rc == 0; i++) {
    bool changed = false;
    rc = pki__index_revoke(ca->ix, targets.recs[i].serial_hex, now, reason,
                           &changed);
    count += changed;
  }
  crl_job crl;
  memset(&crl, 0, sizeof crl);
  if (rc == 0)
    rc = crl_stage_locked(ca, 0, &crl, why);
  if (rc == 0 && (rc = pki__index_commit(ca->ix)) != 0)
    pki__fail(why, rc, "cannot commit to the CA index");
  if (rc) {
    pki__index_rollback(ca->ix);
    pki__discard_file(&crl.file);
    pki__unlock_file(lock);
    current_free(&targets);
    return rc;
  }
  /* Recorded; now publish. A failure here leaves the revocation in the
   * index but not in crl.pem: say so, the next CRL will carry it. */
  rc = crl_install(&crl, why);
  pki__unlock_file(lock);
  for (size_t i = 0; i < targets.n; i++)
    GL_NOTICE(PKI__LOG, "revoked certificate %s of \"%s\" (%s)",
              targets.recs[i].serial_hex, targets.recs[i].subject,
              pki_reason_name(reason));
  current_free(&targets);
  if (rc) {
    pki__why_prefix(why, "the revocation is recorded, but run `gridlet-ca "
                         "crl` to publish it");
    return rc;
  }
  if (n_out)
    *n_out = count;
  return 0;
}

/* ---- CRL ---------------------------------------------------------------- */

typedef struct crl_ctx {
  pki_crl_entry *e;
  size_t n, cap;
  int err;
} crl_ctx;

static int crl_cb(void *ctx, const pki_ca_record *r) {
  crl_ctx *c = ctx;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    pki_crl_entry *e = realloc(c->e, cap * sizeof *e);
    if (!e) {
      c->err = GL_ENOMEM;
      return 1;
    }
    c->e = e;
    c->cap = cap;
  }
  pki_crl_entry *e = &c->e[c->n];
  memset(e, 0, sizeof *e);
  if (pki__serial_from_hex(r->serial_hex, e->serial, &e->serial_len)) {
    c->err = GL_ESTORE;
    return 1;
  }
  e->revoked_at = r->revoked_at;
  e->reason = r->reason;
  c->n++;
  return 0;
}

int pki_ca_write_crl(pki_ca *ca, int64_t lifetime, pki_why *why) {
  int lock;
  int rc = ca_lock(ca, &lock, why);
  if (rc)
    return rc;
  rc = pki__index_begin(ca->ix);
  if (rc) {
    pki__unlock_file(lock);
    return pki__fail(why, rc, "the CA index is busy or unwritable");
  }
  crl_job crl;
  memset(&crl, 0, sizeof crl);
  rc = crl_stage_locked(ca, lifetime, &crl, why);
  if (rc == 0 && (rc = pki__index_commit(ca->ix)) != 0)
    pki__fail(why, rc, "cannot commit to the CA index");
  if (rc) {
    pki__index_rollback(ca->ix);
    pki__discard_file(&crl.file);
  } else {
    rc = crl_install(&crl, why);
  }
  pki__unlock_file(lock);
  return rc;
}

/* Take the next CRL number and sign the list of every revocation visible
 * to this transaction; write it under a temporary name. The caller holds
 * the CA lock and the index's write lock, commits, then calls
 * crl_install. */
static int crl_stage_locked(pki_ca *ca, int64_t lifetime, crl_job *j,
                            pki_why *why) {
  /* Whole seconds, as the CRL states them. */
  int64_t now =
      gl_floor_div(gl_clock_now(ca->clock), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  if (lifetime <= 0)
    lifetime = ca->crl_lifetime;
  crl_ctx c = {0};
  int rc = pki__index_revoked(ca->ix, now, crl_cb, &c);
  if (rc == 1)
    rc = c.err;
  int64_t number = 0;
  if (rc == 0)
    rc = get_i64(ca->ix, "crl_number", &number);
  /* The number commits with the change it publishes, and the list is put
   * in place only after that commit: a list on disk always has a
   * committed number, so no number is ever used for two lists. */
  if (rc == 0)
    rc = set_i64(ca->ix, "crl_number", ++number);
  char *pem = NULL;
  size_t len = 0;
  int64_t next = now + lifetime;
  const pki_cert_info *cai = pki_cert_get_info(ca->cert);
  if (next > cai->not_after)
    next = cai->not_after;
  if (rc == 0)
    rc = pki_crl_make(&ca->key, ca->cert, (uint64_t)number, now, next, c.e, c.n,
                      &pem, &len);
  free(c.e);
  char p[PATH_MAX_];
  if (rc == 0 && (rc = ca_path(ca, "crl.pem", p, sizeof p)) == 0)
    rc = pki__stage_file(&j->file, p, pem, len, 0644, ca->wflags, why);
  free(pem);
  if (rc) {
    GL_ERROR(PKI__LOG, "cannot issue the revocation list: %s", gl_strerror(rc));
    return rc;
  }
  j->number = number;
  j->next = next;
  j->count = c.n;
  return 0;
}

static int crl_install(crl_job *j, pki_why *why) {
  if (!j->file.active)
    return 0;
  int rc = pki__install_file(&j->file, why);
  if (rc) {
    pki__discard_file(&j->file);
    GL_ERROR(PKI__LOG, "cannot put revocation list %" PRId64 " in place: %s",
             j->number, gl_strerror(rc));
    return rc;
  }
  char t[GL_TIME_STR_MAX];
  GL_INFO(PKI__LOG,
          "revocation list %" PRId64 " issued: %zu revoked, next "
          "update due %s",
          j->number, j->count, gl_time_format(j->next, t));
  return 0;
}

int pki_ca_denied_names(pki_ca *ca, int (*cb)(void *ctx, const char *name),
                        void *ctx) {
  return pki__index_denied(ca->ix, gl_clock_now(ca->clock), cb, ctx);
}

int pki_ca_get_setting(pki_ca *ca, const char *name, char *buf, size_t size) {
  return pki__index_get(ca->ix, name, buf, size);
}

int pki_ca_set_setting(pki_ca *ca, const char *name, const char *value) {
  return pki__index_set(ca->ix, name, value);
}

unsigned pki__ca_wflags(const pki_ca *ca) {
  return ca->wflags;
}

const gl_rand *pki__ca_rand(const pki_ca *ca) {
  return ca->rand;
}

struct pki__index *pki__ca_index(const pki_ca *ca) {
  return ca->ix;
}
