/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the CA (ca.c, index.c) on a real SQLite index in a
 * temporary directory: enrolment policy, replacement, key reuse,
 * revocation and the CRL it produces.
 */
#include "fixture.h"
#include "index.h"
#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_trust.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

typedef struct cafx {
  fx f;
  char dir[GT_PATH_MAX];
  pki_ca *ca;
} cafx;

static void cafx_init(cafx *c, uint64_t seed, int64_t lifetime) {
  fx_init(&c->f, seed);
  char root[GT_PATH_MAX];
  gt_tmpdir("pki-ca", root);
  gt_path(c->dir, root, "ca");
  pki_ca_init_opts io = {.community = "oak-street", .lifetime = lifetime};
  pki_why why = {{0}};
  if (pki_ca_init(c->dir, &io, &c->f.rand, &c->f.clock, &why))
    fail_msg("init: %s", why.text);
  pki_ca_open_opts oo = {.no_sync = true};
  if (pki_ca_open(c->dir, &oo, &c->f.rand, &c->f.clock, &c->ca, &why))
    fail_msg("open: %s", why.text);
}

static void cafx_free(cafx *c) {
  pki_ca_free(c->ca);
  char root[GT_PATH_MAX];
  snprintf(root, sizeof root, "%s", c->dir);
  *strrchr(root, '/') = '\0';
  gt_rmtree(root);
  fx_free(&c->f);
}

static char *csr_for(cafx *c, const char *id, pki_key *key, size_t *len) {
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &c->f.rand, key), 0);
  char *pem;
  assert_int_equal(pki_csr_create(key, id, &pem, len), 0);
  return pem;
}

static pki_cert *enrol(cafx *c, const char *id, pki_key *key) {
  size_t len;
  char *csr = csr_for(c, id, key, &len);
  pki_cert *cert;
  pki_why why = {{0}};
  if (pki_ca_sign_csr(c->ca, csr, len, NULL, &cert, &why))
    fail_msg("sign %s: %s", id, why.text);
  free(csr);
  return cert;
}

static int count_cb(void *ctx, const pki_ca_record *r) {
  (void)r;
  (*(unsigned *)ctx)++;
  return 0;
}

static unsigned count(cafx *c, unsigned flags) {
  unsigned n = 0;
  assert_int_equal(pki_ca_list(c->ca, flags, count_cb, &n), 0);
  return n;
}

/* A trust loaded from the CA directory's own files. */
static pki_trust *trust_of(cafx *c) {
  char ca[GT_PATH_MAX], crl[GT_PATH_MAX];
  gt_path(ca, c->dir, "ca.pem");
  gt_path(crl, c->dir, "crl.pem");
  pki_trust *t;
  pki_why why = {{0}};
  if (pki_trust_load(ca, crl, &c->f.clock, &t, &why))
    fail_msg("%s", why.text);
  return t;
}

static void test_ca_init_makes_a_private_ca(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 50, 0);
  struct stat st;
  char p[GT_PATH_MAX];
  assert_int_equal(stat(c.dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(stat(gt_path(p, c.dir, "ca.key"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  const pki_cert_info *in = pki_cert_get_info(pki_ca_cert(c.ca));
  assert_true(in->is_ca);
  assert_string_equal(in->subject_cn, "oak-street community CA");
  assert_string_equal(pki_ca_community(c.ca), "oak-street");
  assert_true(in->not_after == c.f.now + PKI_CA_LIFETIME_DEFAULT);
  pki_trust *t = trust_of(&c); /* the initial CRL verifies */
  assert_int_equal(pki_crl_count(pki_trust_crl(t)), 0);
  pki_trust_free(t);
  assert_int_equal(count(&c, 0), 1);
  pki_why why = {{0}};
  pki_ca_init_opts io = {.community = "oak-street"};
  assert_int_equal(pki_ca_init(c.dir, &io, &c.f.rand, &c.f.clock, &why),
                   GL_EEXIST);
  assert_non_null(strstr(why.text, "already holds a CA"));
  io.community = "Oak Street";
  assert_int_equal(pki_ca_init(c.dir, &io, &c.f.rand, &c.f.clock, &why),
                   GL_EINVAL);
  pki_ca *none;
  assert_int_equal(pki_ca_open("/nonexistent/gridlet-ca", NULL, &c.f.rand,
                               &c.f.clock, &none, &why),
                   GL_ENOENT);
  assert_non_null(strstr(why.text, "gridlet-ca init"));
  cafx_free(&c);
}

static void test_ca_signs_a_meter_csr(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 51, 0);
  pki_key key;
  pki_cert *cert = enrol(&c, "meter-001", &key);
  const pki_cert_info *in = pki_cert_get_info(cert);
  assert_string_equal(in->subject_cn, "meter-001");
  assert_int_equal(in->subject_attrs, 1);
  assert_int_equal(in->eku, PKI_EKU_CLIENT);
  assert_true(in->not_before == c.f.now - PKI_BACKDATE);
  assert_true(in->not_after == c.f.now + PKI_METER_LIFETIME_DEFAULT);
  assert_int_equal(strlen(in->serial_hex), 32);
  pki_trust *t = trust_of(&c);
  pki_peer peer;
  assert_int_equal(
      pki_trust_verify(t, cert, PKI_ROLE_METER, &c.f.clock, &peer, NULL), 0);
  assert_true(pki_pubkey_equal(&peer.pub, &key.pub));
  pki_trust_free(t);
  /* The CA keeps a copy under certs/<id>.pem and a row in the index. */
  char p[GT_PATH_MAX];
  gt_path(p, c.dir, "certs/meter-001.pem");
  pki_cert *copy;
  assert_int_equal(pki_cert_load_file(p, &copy, NULL), 0);
  assert_string_equal(pki_cert_get_info(copy)->serial_hex, in->serial_hex);
  pki_ca_record r;
  assert_int_equal(pki_ca_find(c.ca, in->serial_hex, &r), 0);
  assert_string_equal(r.subject, "meter-001");
  assert_string_equal(r.kind, "meter");
  assert_false(r.revoked);
  assert_int_equal(count(&c, 0), 2);
  pki_cert_free(copy);
  pki_cert_free(cert);
  cafx_free(&c);
}

static void refused(cafx *c, const char *csr, size_t len, int rc,
                    const char *why_has) {
  pki_cert *cert;
  pki_why why = {{0}};
  gt_log_capture_begin();
  int got = pki_ca_sign_csr(c->ca, csr, len, NULL, &cert, &why);
  if (got != rc || !strstr(why.text, why_has))
    fail_msg("got %s \"%s\", wanted %s with \"%s\"", gl_err_name(got), why.text,
             gl_err_name(rc), why_has);
  assert_true(gt_log_contains(why_has));
  gt_log_capture_end();
  assert_null(cert);
}

static void test_ca_refuses_bad_csrs_with_a_reason(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 52, 0);
  pki_key k;
  size_t len;
  char *csr = csr_for(&c, "aggregator", &k, &len);
  refused(&c, csr, len, GL_EPERM, "reserved identity");
  free(csr);
  csr = csr_for(&c, "Meter 1", &k, &len);
  refused(&c, csr, len, GL_EPERM, "must start with a-z or 0-9");
  free(csr);
  csr = csr_for(&c, "meter/1", &k, &len);
  refused(&c, csr, len, GL_EPERM, "contains '/'");
  free(csr);
  char *two = fx_data("two-attrs.csr", &len);
  refused(&c, two, len, GL_EPERM, "exactly CN=<meter id>");
  free(two);
  char *ed448 = fx_data("ed448.csr", &len);
  refused(&c, ed448, len, GL_ENOTSUP, "not supported");
  free(ed448);
  refused(&c, "garbage", 7, GL_EPARSE, "CSR refused");
  /* Nothing was recorded. */
  assert_int_equal(count(&c, PKI_CA_LIST_ALL), 1);
  cafx_free(&c);
}

static void test_ca_one_certificate_per_meter_unless_replaced(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 53, 0);
  pki_key k1, k2;
  pki_cert *first = enrol(&c, "meter-001", &k1);
  size_t len;
  char *csr = csr_for(&c, "meter-001", &k2, &len);
  refused(&c, csr, len, GL_EEXIST, "already enrolled");
  gl_manual_clock_advance(c.f.mc, 60 * GL_NS_PER_SEC);
  pki_ca_sign_opts so = {.replace = true};
  pki_cert *second;
  assert_int_equal(pki_ca_sign_csr(c.ca, csr, len, &so, &second, NULL), 0);
  free(csr);
  pki_ca_record r;
  assert_int_equal(pki_ca_find(c.ca, pki_cert_get_info(first)->serial_hex, &r),
                   0);
  assert_true(r.revoked);
  assert_int_equal(r.reason, PKI_REASON_SUPERSEDED);
  /* The CRL already says so: the old key is out, the new one in. */
  pki_trust *t = trust_of(&c);
  pki_why why = {{0}};
  assert_int_equal(
      pki_trust_verify(t, first, PKI_ROLE_METER, &c.f.clock, NULL, &why),
      GL_EREVOKED);
  assert_non_null(strstr(why.text, "superseded"));
  assert_int_equal(
      pki_trust_verify(t, second, PKI_ROLE_METER, &c.f.clock, NULL, NULL), 0);
  pki_trust_free(t);
  assert_int_equal(count(&c, 0), 2);
  assert_int_equal(count(&c, PKI_CA_LIST_ALL), 3);
  pki_cert_free(first);
  pki_cert_free(second);
  cafx_free(&c);
}

static void test_ca_refuses_to_certify_a_key_twice(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 54, 0);
  pki_key k;
  pki_cert *cert = enrol(&c, "meter-001", &k);
  char *csr;
  size_t len;
  assert_int_equal(pki_csr_create(&k, "meter-002", &csr, &len), 0);
  refused(&c, csr, len, GL_ECONFLICT, "already certified for \"meter-001\"");
  free(csr);
  /* After a compromise the same key is never certified again, not even
   * for the same meter. */
  assert_int_equal(pki_ca_revoke(c.ca, "meter-001", NULL,
                                 PKI_REASON_KEY_COMPROMISE, NULL, NULL),
                   0);
  assert_int_equal(pki_csr_create(&k, "meter-001", &csr, &len), 0);
  refused(&c, csr, len, GL_ECONFLICT, "make a new key");
  free(csr);
  pki_cert_free(cert);
  cafx_free(&c);
}

/* A meter may renew with the same key again and again (each renewal
 * supersedes the last certificate); a revocation for any other reason
 * bars the key for good. */
static void test_ca_renewal_with_the_same_key_works_repeatedly(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 62, 0);
  pki_key k;
  pki_cert *cert = enrol(&c, "meter-001", &k);
  pki_cert_free(cert);
  char *csr;
  size_t len;
  assert_int_equal(pki_csr_create(&k, "meter-001", &csr, &len), 0);
  pki_ca_sign_opts so = {.replace = true};
  for (int i = 0; i < 3; i++) {
    gl_manual_clock_advance(c.f.mc, 60 * GL_NS_PER_SEC);
    pki_why why = {{0}};
    if (pki_ca_sign_csr(c.ca, csr, len, &so, &cert, &why))
      fail_msg("renewal %d with the same key: %s", i + 1, why.text);
    pki_cert_free(cert);
  }
  assert_int_equal(count(&c, 0), 2); /* the CA and the newest */
  assert_int_equal(count(&c, PKI_CA_LIST_ALL), 5);
  /* Retired for another reason: the key is out, even for this meter. */
  assert_int_equal(
      pki_ca_revoke(c.ca, "meter-001", NULL, PKI_REASON_CESSATION, NULL, NULL),
      0);
  refused(&c, csr, len, GL_ECONFLICT, "cessationOfOperation");
  free(csr);
  cafx_free(&c);
}

/* More than eight records of one key or one subject: every one is
 * considered (the walk used to keep the first eight and drop the rest
 * silently). */
static void test_ca_long_histories_are_read_in_full(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 63, 0);
  /* One key renewed nine times, then its certificate revoked for
   * compromise: the tenth record bars the key. */
  pki_key k;
  pki_cert *cert = enrol(&c, "meter-001", &k);
  pki_cert_free(cert);
  char *csr;
  size_t len;
  assert_int_equal(pki_csr_create(&k, "meter-001", &csr, &len), 0);
  pki_ca_sign_opts so = {.replace = true};
  for (int i = 0; i < 9; i++) {
    gl_manual_clock_advance(c.f.mc, GL_NS_PER_SEC);
    assert_int_equal(pki_ca_sign_csr(c.ca, csr, len, &so, &cert, NULL), 0);
    pki_cert_free(cert);
  }
  assert_int_equal(pki_ca_revoke(c.ca, "meter-001", NULL,
                                 PKI_REASON_KEY_COMPROMISE, NULL, NULL),
                   0);
  refused(&c, csr, len, GL_ECONFLICT, "keyCompromise");
  free(csr);
  /* Nine certificates of one subject that expired unrevoked: revoking
   * the identity revokes all nine. */
  so = (pki_ca_sign_opts){.lifetime = FX_DAY};
  for (int i = 0; i < 9; i++) {
    csr = csr_for(&c, "meter-002", &k, &len);
    assert_int_equal(pki_ca_sign_csr(c.ca, csr, len, &so, &cert, NULL), 0);
    pki_cert_free(cert);
    free(csr);
    gl_manual_clock_advance(c.f.mc, 2 * FX_DAY);
  }
  unsigned n = 0;
  assert_int_equal(
      pki_ca_revoke(c.ca, "meter-002", NULL, PKI_REASON_CESSATION, &n, NULL),
      0);
  assert_int_equal(n, 9);
  cafx_free(&c);
}

static int name_cb(void *ctx, const char *name) {
  char *buf = ctx;
  size_t n = strlen(buf);
  snprintf(buf + n, 256 - n, "%s;", name);
  return 0;
}

static void test_ca_revocation_updates_crl_and_denied_names(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 55, 0);
  pki_key k;
  pki_cert *a = enrol(&c, "meter-001", &k);
  pki_cert *b = enrol(&c, "meter-002", &k);
  const char *serial_b = pki_cert_get_info(b)->serial_hex;
  unsigned n = 0;
  assert_int_equal(
      pki_ca_revoke(c.ca, "meter-001", NULL, PKI_REASON_CESSATION, &n, NULL),
      0);
  assert_int_equal(n, 1);
  assert_int_equal(
      pki_ca_revoke(c.ca, NULL, serial_b, PKI_REASON_KEY_COMPROMISE, &n, NULL),
      0);
  pki_why why = {{0}};
  assert_int_equal(pki_ca_revoke(c.ca, "meter-001", NULL, 0, &n, &why),
                   GL_ENOENT);
  assert_non_null(strstr(why.text, "no unrevoked certificate"));
  assert_int_equal(pki_ca_revoke(c.ca, NULL, "abcdef", 0, &n, &why), GL_ENOENT);
  const char *ca_serial = pki_cert_get_info(pki_ca_cert(c.ca))->serial_hex;
  assert_int_equal(pki_ca_revoke(c.ca, NULL, ca_serial, 0, &n, &why), GL_EPERM);
  assert_int_equal(pki_ca_revoke(c.ca, "x", "y", 0, &n, &why), GL_EINVAL);

  pki_trust *t = trust_of(&c);
  const pki_crl *crl = pki_trust_crl(t);
  assert_int_equal(pki_crl_count(crl), 2);
  assert_true(pki_crl_number(crl) == 3); /* init, then two revocations */
  pki_crl_entry e;
  assert_true(pki_crl_find_hex(crl, serial_b, &e));
  assert_int_equal(e.reason, PKI_REASON_KEY_COMPROMISE);
  assert_int_equal(
      pki_trust_verify(t, a, PKI_ROLE_METER, &c.f.clock, NULL, &why),
      GL_EREVOKED);
  pki_trust_free(t);

  char names[256] = "";
  assert_int_equal(pki_ca_denied_names(c.ca, name_cb, names), 0);
  assert_string_equal(names, "meter-001;meter-002;");
  /* Re-enrolled with a new key: no longer denied outright. */
  pki_cert *again = enrol(&c, "meter-001", &k);
  names[0] = '\0';
  assert_int_equal(pki_ca_denied_names(c.ca, name_cb, names), 0);
  assert_string_equal(names, "meter-002;");
  pki_cert_free(again);
  pki_cert_free(a);
  pki_cert_free(b);
  cafx_free(&c);
}

static void test_ca_never_issues_beyond_its_own_lifetime(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 56, 30 * FX_DAY);
  pki_key k;
  pki_cert *cert = enrol(&c, "meter-001", &k);
  assert_true(pki_cert_get_info(cert)->not_after ==
              pki_cert_get_info(pki_ca_cert(c.ca))->not_after);
  pki_cert_free(cert);
  gl_manual_clock_advance(c.f.mc, 31 * FX_DAY);
  size_t len;
  char *csr = csr_for(&c, "meter-002", &k, &len);
  refused(&c, csr, len, GL_EEXPIRED, "CA certificate has expired");
  free(csr);
  cafx_free(&c);
}

static void test_ca_service_certificates(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 57, 0);
  static const char *const dns[] = {"mqtt.oak-street.example"};
  static const char *const ips[] = {"10.0.0.2"};
  pki_ca_service_opts so = {
      .name = "broker", .dns = dns, .n_dns = 1, .ips = ips, .n_ips = 1};
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &c.f.rand, &k), 0);
  pki_cert *b, *a;
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &b, NULL), 0);
  assert_string_equal(pki_cert_names(b),
                      "DNS:mqtt.oak-street.example, IP:10.0.0.2");
  assert_int_equal(pki_cert_get_info(b)->eku, PKI_EKU_SERVER);
  assert_true(pki_cert_get_info(b)->not_after ==
              c.f.now + PKI_SERVICE_LIFETIME_DEFAULT);
  so.name = "aggregator";
  assert_int_equal(pki_key_generate(PKI_KEY_P256, &c.f.rand, &k), 0);
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &a, NULL), 0);
  assert_int_equal(pki_cert_get_info(a)->eku, PKI_EKU_SERVER | PKI_EKU_CLIENT);
  pki_trust *t = trust_of(&c);
  assert_int_equal(
      pki_trust_verify(t, b, PKI_ROLE_BROKER, &c.f.clock, NULL, NULL), 0);
  assert_int_equal(
      pki_trust_verify(t, a, PKI_ROLE_AGGREGATOR, &c.f.clock, NULL, NULL), 0);
  pki_trust_free(t);
  so.name = "witness";
  pki_cert *w;
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &w, NULL),
                   GL_EINVAL);
  pki_cert_free(a);
  pki_cert_free(b);
  cafx_free(&c);
}

static char *crl_text(cafx *c) {
  char p[GT_PATH_MAX];
  char *t = gt_read_file(gt_path(p, c->dir, "crl.pem"), NULL);
  assert_non_null(t);
  return t;
}

static long long crl_number(cafx *c) {
  char buf[32];
  assert_int_equal(pki_ca_get_setting(c->ca, "crl_number", buf, sizeof buf), 0);
  return strtoll(buf, NULL, 10);
}

/* Files in the CA directory whose name contains ".tmp-". */
static unsigned leftovers(cafx *c) {
  unsigned n = 0;
  DIR *d = opendir(c->dir);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += strstr(e->d_name, ".tmp-") != NULL;
  closedir(d);
  return n;
}

/* A revocation whose commit fails publishes nothing: crl.pem keeps the
 * old list, and the number is not used for a list that is never
 * recorded (before, the new list was on disk before the commit, and the
 * next revocation reused its number for other contents). */
static void test_ca_failed_commit_publishes_no_revocation_list(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 58, 0);
  pki_key k;
  pki_cert *cert = enrol(&c, "meter-001", &k);
  char *before = crl_text(&c);
  long long number = crl_number(&c);
  /* Another process holds a read transaction on the index: the CA's
   * COMMIT cannot take the exclusive lock and fails. */
  char p[GT_PATH_MAX];
  sqlite3 *reader;
  assert_int_equal(sqlite3_open_v2(gt_path(p, c.dir, "index.sqlite"), &reader,
                                   SQLITE_OPEN_READONLY, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM cert;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  pki__index_set_busy_timeout(pki__ca_index(c.ca), 20);
  pki_why why = {{0}};
  assert_int_equal(pki_ca_revoke(c.ca, "meter-001", NULL,
                                 PKI_REASON_KEY_COMPROMISE, NULL, &why),
                   GL_ESTORE);
  assert_non_null(strstr(why.text, "commit"));
  char *after = crl_text(&c);
  assert_string_equal(after, before);
  free(after);
  assert_int_equal(leftovers(&c), 0);
  sqlite3_exec(reader, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(reader);
  pki__index_set_busy_timeout(pki__ca_index(c.ca), 5000);
  assert_int_equal(crl_number(&c), number);
  pki_ca_record r;
  assert_int_equal(pki_ca_find(c.ca, pki_cert_get_info(cert)->serial_hex, &r),
                   0);
  assert_false(r.revoked);
  /* Again, with nobody in the way: the next number, the revocation in. */
  assert_int_equal(pki_ca_revoke(c.ca, "meter-001", NULL,
                                 PKI_REASON_KEY_COMPROMISE, NULL, NULL),
                   0);
  pki_trust *t = trust_of(&c);
  assert_true(pki_crl_number(pki_trust_crl(t)) == (uint64_t)number + 1);
  assert_int_equal(pki_crl_count(pki_trust_crl(t)), 1);
  pki_trust_free(t);
  free(before);
  pki_cert_free(cert);
  cafx_free(&c);
}

/* A replacement's superseded revocation is recorded in whole seconds,
 * like every other revocation, so the index and the CRL agree. */
static void test_ca_superseded_revocation_time_is_whole_seconds(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 59, 0);
  pki_key k1, k2;
  pki_cert *first = enrol(&c, "meter-001", &k1);
  gl_manual_clock_advance(c.f.mc, 1500 * GL_NS_PER_MS);
  size_t len;
  char *csr = csr_for(&c, "meter-001", &k2, &len);
  pki_ca_sign_opts so = {.replace = true};
  pki_cert *second;
  assert_int_equal(pki_ca_sign_csr(c.ca, csr, len, &so, &second, NULL), 0);
  free(csr);
  pki_ca_record r;
  const char *serial = pki_cert_get_info(first)->serial_hex;
  assert_int_equal(pki_ca_find(c.ca, serial, &r), 0);
  assert_true(r.revoked);
  assert_true(r.revoked_at % GL_NS_PER_SEC == 0);
  assert_true(r.revoked_at == c.f.now + GL_NS_PER_SEC);
  pki_trust *t = trust_of(&c);
  pki_crl_entry e;
  assert_true(pki_crl_find_hex(pki_trust_crl(t), serial, &e));
  assert_true(e.revoked_at == r.revoked_at);
  pki_trust_free(t);
  pki_cert_free(first);
  pki_cert_free(second);
  cafx_free(&c);
}

typedef struct stage_probe {
  cafx *c;
  const char *crl_before; /* crl.pem must still read this when staging */
  unsigned calls;
  int rc;
} stage_probe;

static int probe_stage(void *ctx, const pki_cert *cert, pki_why *why) {
  stage_probe *s = ctx;
  s->calls++;
  assert_string_equal(pki_cert_get_info(cert)->subject_cn, "aggregator");
  /* Nothing is published while the caller writes its files. */
  char *now = crl_text(s->c);
  assert_string_equal(now, s->crl_before);
  free(now);
  if (s->rc)
    snprintf(why->text, sizeof why->text, "test: the key cannot be written");
  return s->rc;
}

/* Re-issuing a service identity needs `replace`; and a replacement whose
 * new key cannot be written revokes nothing. */
static void test_ca_service_replacement_is_explicit_and_staged(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 60, 0);
  pki_ca_service_opts so = {.name = "aggregator"};
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &c.f.rand, &k), 0);
  pki_cert *a, *b;
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &a, NULL), 0);
  const char *serial = pki_cert_get_info(a)->serial_hex;
  pki_why why = {{0}};
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &c.f.rand, &k), 0);
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &b, &why),
                   GL_EEXIST);
  assert_non_null(strstr(why.text, "already enrolled"));
  /* The stage fails: nothing recorded, nothing revoked, same CRL. */
  char *crl = crl_text(&c);
  long long number = crl_number(&c);
  unsigned all = count(&c, PKI_CA_LIST_ALL);
  stage_probe sp = {.c = &c, .crl_before = crl, .rc = GL_EIO};
  so.replace = true;
  so.stage = probe_stage;
  so.stage_ctx = &sp;
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &b, &why), GL_EIO);
  assert_int_equal(sp.calls, 1);
  pki_ca_record r;
  assert_int_equal(pki_ca_find(c.ca, serial, &r), 0);
  assert_false(r.revoked);
  assert_int_equal(count(&c, PKI_CA_LIST_ALL), all);
  assert_int_equal(crl_number(&c), number);
  char *same = crl_text(&c);
  assert_string_equal(same, crl);
  free(same);
  assert_int_equal(leftovers(&c), 0);
  /* The stage succeeds: now the old one is superseded and published. */
  sp.rc = 0;
  assert_int_equal(pki_ca_issue_service(c.ca, &so, &k.pub, &b, &why), 0);
  assert_int_equal(sp.calls, 2);
  assert_int_equal(pki_ca_find(c.ca, serial, &r), 0);
  assert_true(r.revoked);
  assert_int_equal(r.reason, PKI_REASON_SUPERSEDED);
  assert_int_equal(crl_number(&c), number + 1);
  pki_trust *t = trust_of(&c);
  assert_int_equal(
      pki_trust_verify(t, a, PKI_ROLE_AGGREGATOR, &c.f.clock, NULL, NULL),
      GL_EREVOKED);
  assert_int_equal(
      pki_trust_verify(t, b, PKI_ROLE_AGGREGATOR, &c.f.clock, NULL, NULL), 0);
  pki_trust_free(t);
  free(crl);
  pki_cert_free(a);
  pki_cert_free(b);
  cafx_free(&c);
}

/* The index is durable (synchronous=FULL) unless the CA is a throw-away
 * development one: a test that notices the setting being dropped. */
static void test_ca_index_writes_are_durable(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 64, 0); /* the fixture opens with no_sync */
  int v = -1;
  assert_int_equal(pki__index_pragma(pki__ca_index(c.ca), "synchronous", &v),
                   0);
  assert_int_equal(v, 0); /* OFF */
  pki_ca *durable = NULL;
  assert_int_equal(
      pki_ca_open(c.dir, NULL, &c.f.rand, &c.f.clock, &durable, NULL), 0);
  assert_int_equal(pki__index_pragma(pki__ca_index(durable), "synchronous", &v),
                   0);
  assert_int_equal(v, 2); /* FULL */
  pki_ca_free(durable);
  cafx_free(&c);
}

/* The CA refuses to open with a CA key others can read. */
static void test_ca_refuses_a_ca_key_readable_by_others(void **state) {
  (void)state;
  cafx c;
  cafx_init(&c, 61, 0);
  char key[GT_PATH_MAX];
  gt_path(key, c.dir, "ca.key");
  assert_int_equal(chmod(key, 0644), 0);
  pki_ca *again = NULL;
  pki_why why = {{0}};
  assert_int_equal(
      pki_ca_open(c.dir, NULL, &c.f.rand, &c.f.clock, &again, &why), GL_EPERM);
  assert_null(again);
  assert_non_null(strstr(why.text, "chmod 600"));
  assert_int_equal(chmod(key, 0600), 0);
  assert_int_equal(
      pki_ca_open(c.dir, NULL, &c.f.rand, &c.f.clock, &again, &why), 0);
  pki_ca_free(again);
  cafx_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_init_makes_a_private_ca),
      cmocka_unit_test(test_ca_signs_a_meter_csr),
      cmocka_unit_test(test_ca_refuses_bad_csrs_with_a_reason),
      cmocka_unit_test(test_ca_one_certificate_per_meter_unless_replaced),
      cmocka_unit_test(test_ca_refuses_to_certify_a_key_twice),
      cmocka_unit_test(test_ca_renewal_with_the_same_key_works_repeatedly),
      cmocka_unit_test(test_ca_long_histories_are_read_in_full),
      cmocka_unit_test(test_ca_revocation_updates_crl_and_denied_names),
      cmocka_unit_test(test_ca_never_issues_beyond_its_own_lifetime),
      cmocka_unit_test(test_ca_service_certificates),
      cmocka_unit_test(test_ca_failed_commit_publishes_no_revocation_list),
      cmocka_unit_test(test_ca_superseded_revocation_time_is_whole_seconds),
      cmocka_unit_test(test_ca_service_replacement_is_explicit_and_staged),
      cmocka_unit_test(test_ca_refuses_a_ca_key_readable_by_others),
      cmocka_unit_test(test_ca_index_writes_are_durable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
