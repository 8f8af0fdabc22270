/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for certificates: issuing (issue.c), parsing and naming
 * (cert.c) and the trust decision (trust.c): genuine, from another CA,
 * expired, not yet valid, revoked, wrong role, malformed, altered.
 */
#include "fixture.h"
#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_issue.h"
#include "gridlet/pki_trust.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct world {
  fx f;
  pki_key ca_key;
  pki_cert *ca;
  pki_trust *trust;
} world;

static void world_init(world *w, uint64_t seed, pki_key_type ca_type) {
  fx_init(&w->f, seed);
  fx_ca(&w->f, "test community CA", ca_type, &w->ca_key, &w->ca);
  pki_why why = {{0}};
  if (pki_trust_new(w->ca, &w->trust, &why))
    fail_msg("%s", why.text);
}

static void world_free(world *w) {
  pki_trust_free(w->trust);
  pki_cert_free(w->ca);
  fx_free(&w->f);
}

static pki_cert *meter(world *w, const char *id, pki_key_type type,
                       pki_key *key) {
  pki_cert *c;
  fx_leaf(&w->f, &w->ca_key, w->ca, id, PKI_EKU_CLIENT, type,
          w->f.now - 3600 * GL_NS_PER_SEC, w->f.now + 365 * FX_DAY, key, &c);
  return c;
}

/* Verify and check the refusal's code and reason (returned and logged). */
static void refused(world *w, const pki_cert *c, pki_role role, int rc,
                    const char *why_has) {
  pki_why why = {{0}};
  gt_log_capture_begin();
  int got = pki_trust_verify(w->trust, c, role, &w->f.clock, NULL, &why);
  if (got != rc || !strstr(why.text, why_has))
    fail_msg("got %s \"%s\", wanted %s with \"%s\"", gl_err_name(got), why.text,
             gl_err_name(rc), why_has);
  assert_true(gt_log_contains(why_has));
  gt_log_capture_end();
}

static void test_cert_issued_fields_parse_back(void **state) {
  (void)state;
  world w;
  world_init(&w, 20, PKI_KEY_ED25519);
  const pki_cert_info *ca = pki_cert_get_info(w.ca);
  assert_true(ca->is_ca);
  assert_string_equal(ca->subject_cn, "test community CA");
  assert_string_equal(ca->issuer_cn, "test community CA");
  assert_int_equal(ca->subject_attrs, 2); /* O and CN */
  assert_int_equal(strlen(ca->serial_hex), 32);

  static const char *const dns[] = {"mqtt.oak-street.example", "localhost"};
  static const char *const ips[] = {"192.0.2.7", "2001:db8::1"};
  uint8_t serial[] = {0x01, 0x02, 0x03};
  pki_issue_opts o = {.subject_cn = "broker",
                      .eku = PKI_EKU_SERVER,
                      .dns = dns,
                      .n_dns = 2,
                      .ips = ips,
                      .n_ips = 2,
                      .not_before = w.f.now,
                      .not_after = w.f.now + 30 * FX_DAY + 999,
                      .serial = serial,
                      .serial_len = sizeof serial};
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &w.f.rand, &k), 0);
  pki_cert *c;
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, NULL), 0);
  const pki_cert_info *in = pki_cert_get_info(c);
  assert_string_equal(in->serial_hex, "010203");
  assert_string_equal(in->subject_cn, "broker");
  assert_string_equal(in->issuer_cn, "test community CA");
  assert_false(in->is_ca);
  assert_int_equal(in->eku, PKI_EKU_SERVER);
  assert_true(in->not_before == w.f.now);
  assert_true(in->not_after == w.f.now + 30 * FX_DAY); /* whole seconds */
  assert_true(pki_pubkey_equal(&in->pub, &k.pub));
  assert_true(pki_cert_matches_key(c, &k));
  assert_false(pki_cert_matches_key(c, &w.ca_key));
  assert_int_equal(in->n_names, 4);
  assert_string_equal(pki_cert_names(c),
                      "DNS:mqtt.oak-street.example, DNS:localhost, "
                      "IP:192.0.2.7, IP:2001:db8::1");
  assert_int_equal(pki_cert_signed_by(c, w.ca, NULL), 0);

  char *pem;
  assert_int_equal(pki_cert_to_pem(c, &pem, NULL), 0);
  pki_cert *back;
  assert_int_equal(pki_cert_parse_pem(pem, strlen(pem), &back, NULL), 0);
  size_t a, b;
  const uint8_t *da = pki_cert_der(c, &a), *db = pki_cert_der(back, &b);
  assert_int_equal(a, b);
  assert_memory_equal(da, db, a);
  free(pem);
  pki_cert_free(back);
  pki_cert_free(c);
  world_free(&w);
}

static void test_cert_meter_id_and_raw_public_key(void **state) {
  (void)state;
  world w;
  world_init(&w, 21, PKI_KEY_ED25519);
  pki_key k;
  pki_cert *c = meter(&w, "meter-001", PKI_KEY_ED25519, &k);
  char id[PKI_METER_ID_MAX];
  assert_int_equal(pki_cert_meter_id(c, id, NULL), 0);
  assert_string_equal(id, "meter-001");
  uint8_t pub[32];
  assert_int_equal(pki_cert_ed25519_pub(c, pub, NULL), 0);
  assert_memory_equal(pub, k.pub.bytes, 32);
  pki_cert_free(c);

  c = meter(&w, "meter-p256", PKI_KEY_P256, &k);
  pki_why why = {{0}};
  assert_int_equal(pki_cert_ed25519_pub(c, pub, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "p256"));
  pki_cert_free(c);

  /* A CA certificate names no meter. */
  assert_int_equal(pki_cert_meter_id(w.ca, id, &why), GL_EPERM);
  assert_non_null(strstr(why.text, "CA certificate"));
  world_free(&w);
}

static void test_trust_accepts_an_enrolled_meter(void **state) {
  (void)state;
  world w;
  world_init(&w, 22, PKI_KEY_ED25519);
  pki_key k;
  pki_cert *c = meter(&w, "meter-042", PKI_KEY_ED25519, &k);
  pki_peer peer;
  assert_int_equal(
      pki_trust_verify(w.trust, c, PKI_ROLE_METER, &w.f.clock, &peer, NULL), 0);
  assert_string_equal(peer.name, "meter-042");
  assert_true(pki_pubkey_equal(&peer.pub, &k.pub));
  assert_string_equal(peer.serial_hex, pki_cert_get_info(c)->serial_hex);
  char *pem;
  assert_int_equal(pki_cert_to_pem(c, &pem, NULL), 0);
  assert_int_equal(pki_trust_verify_pem(w.trust, pem, strlen(pem), PKI_ROLE_ANY,
                                        &w.f.clock, NULL, NULL),
                   0);
  free(pem);
  pki_trust_stats st;
  pki_trust_get_stats(w.trust, &st);
  assert_int_equal(st.accepted, 2);
  pki_cert_free(c);
  world_free(&w);
}

static void test_trust_refuses_certificates_of_another_ca(void **state) {
  (void)state;
  world w, other;
  world_init(&w, 23, PKI_KEY_ED25519);
  /* The impostor CA even has the same name. */
  world_init(&other, 24, PKI_KEY_ED25519);
  pki_key k;
  pki_cert *c = meter(&other, "meter-001", PKI_KEY_ED25519, &k);
  refused(&w, c, PKI_ROLE_METER, GL_EVERIFY, "another CA");
  pki_cert_free(c);
  /* A CA with another name is caught by the issuer name. */
  pki_key ok;
  pki_cert *oca, *c2;
  fx_ca(&other.f, "elsewhere CA", PKI_KEY_ED25519, &ok, &oca);
  fx_leaf(&other.f, &ok, oca, "meter-001", PKI_EKU_CLIENT, PKI_KEY_ED25519,
          other.f.now - 1, other.f.now + FX_DAY, &k, &c2);
  refused(&w, c2, PKI_ROLE_METER, GL_EVERIFY, "not issued by this");
  pki_trust_stats st;
  pki_trust_get_stats(w.trust, &st);
  assert_int_equal(st.rejected_chain, 2);
  assert_int_equal(st.accepted, 0);
  pki_cert_free(c2);
  pki_cert_free(oca);
  world_free(&other);
  world_free(&w);
}

static void test_trust_refuses_expired_and_future_certificates(void **state) {
  (void)state;
  world w;
  world_init(&w, 25, PKI_KEY_ED25519);
  pki_key k;
  pki_cert *c = meter(&w, "meter-001", PKI_KEY_ED25519, &k);
  gl_manual_clock_set(w.f.mc, w.f.now + 366 * FX_DAY);
  refused(&w, c, PKI_ROLE_METER, GL_EEXPIRED, "expired");
  gl_manual_clock_set(w.f.mc, w.f.now - 2 * 3600 * GL_NS_PER_SEC);
  refused(&w, c, PKI_ROLE_METER, GL_EEXPIRED, "is not valid before");
  gl_manual_clock_set(w.f.mc, w.f.now);
  assert_int_equal(
      pki_trust_verify(w.trust, c, PKI_ROLE_METER, &w.f.clock, NULL, NULL), 0);
  pki_trust_stats st;
  pki_trust_get_stats(w.trust, &st);
  assert_int_equal(st.rejected_expired, 2);
  pki_cert_free(c);
  world_free(&w);
}

static void test_trust_refuses_revoked_certificates(void **state) {
  (void)state;
  world w;
  world_init(&w, 26, PKI_KEY_ED25519);
  pki_key k1, k2;
  pki_cert *bad = meter(&w, "meter-001", PKI_KEY_ED25519, &k1);
  pki_cert *good = meter(&w, "meter-002", PKI_KEY_ED25519, &k2);
  pki_crl_entry e = {.revoked_at = w.f.now,
                     .reason = PKI_REASON_KEY_COMPROMISE};
  size_t n;
  const uint8_t *s = pki__cert_serial(bad, &n);
  memcpy(e.serial, s, n);
  e.serial_len = n;
  char *pem;
  assert_int_equal(pki_crl_make(&w.ca_key, w.ca, 7, w.f.now, w.f.now + FX_DAY,
                                &e, 1, &pem, NULL),
                   0);
  pki_crl *crl;
  assert_int_equal(pki_crl_parse(pem, strlen(pem), &crl, NULL), 0);
  assert_int_equal(pki_trust_set_crl(w.trust, crl, &w.f.clock, NULL), 0);
  refused(&w, bad, PKI_ROLE_METER, GL_EREVOKED, "keyCompromise");
  assert_int_equal(
      pki_trust_verify(w.trust, good, PKI_ROLE_METER, &w.f.clock, NULL, NULL),
      0);
  /* Once the CRL is stale, nothing is accepted: a lapsed list cannot
   * vouch for anyone (the broker behaves the same). */
  gl_manual_clock_set(w.f.mc, w.f.now + 2 * FX_DAY);
  refused(&w, good, PKI_ROLE_METER, GL_EEXPIRED, "gridlet-ca crl");
  free(pem);
  pki_cert_free(bad);
  pki_cert_free(good);
  world_free(&w);
}

static void test_trust_refuses_certificates_in_the_wrong_role(void **state) {
  (void)state;
  world w;
  world_init(&w, 27, PKI_KEY_ED25519);
  pki_key k;
  int64_t nb = w.f.now - 1, na = w.f.now + FX_DAY;
  pki_cert *admin, *broker, *agg, *noeku, *m;
  fx_leaf(&w.f, &w.ca_key, w.ca, "admin", PKI_EKU_CLIENT, PKI_KEY_ED25519, nb,
          na, &k, &admin);
  fx_leaf(&w.f, &w.ca_key, w.ca, "broker", PKI_EKU_SERVER, PKI_KEY_ED25519, nb,
          na, &k, &broker);
  fx_leaf(&w.f, &w.ca_key, w.ca, "aggregator", PKI_EKU_SERVER | PKI_EKU_CLIENT,
          PKI_KEY_ED25519, nb, na, &k, &agg);
  fx_leaf(&w.f, &w.ca_key, w.ca, "meter-009", 0, PKI_KEY_ED25519, nb, na, &k,
          &noeku);
  m = meter(&w, "meter-001", PKI_KEY_ED25519, &k);
  refused(&w, w.ca, PKI_ROLE_ANY, GL_EPERM, "is a CA certificate");
  refused(&w, admin, PKI_ROLE_METER, GL_EPERM, "reserved");
  refused(&w, broker, PKI_ROLE_METER, GL_EPERM, "reserved");
  refused(&w, agg, PKI_ROLE_METER, GL_EPERM, "reserved");
  refused(&w, noeku, PKI_ROLE_METER, GL_EPERM, "clientAuth");
  refused(&w, m, PKI_ROLE_AGGREGATOR, GL_EPERM, "not the aggregator");
  refused(&w, m, PKI_ROLE_BROKER, GL_EPERM, "not the broker");
  refused(&w, agg, PKI_ROLE_BROKER, GL_EPERM, "not the broker");
  refused(&w, broker, PKI_ROLE_AGGREGATOR, GL_EPERM, "not the aggregator");
  const gl_clock *ck = &w.f.clock;
  assert_int_equal(
      pki_trust_verify(w.trust, agg, PKI_ROLE_AGGREGATOR, ck, NULL, NULL), 0);
  assert_int_equal(
      pki_trust_verify(w.trust, broker, PKI_ROLE_BROKER, ck, NULL, NULL), 0);
  pki_trust_stats st;
  pki_trust_get_stats(w.trust, &st);
  assert_int_equal(st.rejected_role, 9);
  pki_cert_free(admin);
  pki_cert_free(broker);
  pki_cert_free(agg);
  pki_cert_free(noeku);
  pki_cert_free(m);
  world_free(&w);
}

static void test_cert_refuses_malformed_and_altered_certificates(void **state) {
  (void)state;
  world w;
  world_init(&w, 28, PKI_KEY_ED25519);
  pki_key k;
  pki_cert *c = meter(&w, "meter-001", PKI_KEY_ED25519, &k);
  size_t len;
  const uint8_t *der = pki_cert_der(c, &len);
  uint8_t *copy = malloc(len);
  memcpy(copy, der, len);
  pki_cert *bad;
  pki_why why = {{0}};
  gt_log_capture_begin();
  assert_int_equal(pki_cert_parse_der(copy, len - 1, &bad, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "truncated"));
  assert_true(gt_log_contains("certificate refused"));
  gt_log_capture_end();
  assert_null(bad);
  assert_int_equal(pki_cert_parse_pem("junk", 4, &bad, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "CERTIFICATE"));
  /* Change the subject after signing: meter-001 -> meter-002. */
  for (size_t i = 0; i + 9 <= len; i++)
    if (memcmp(copy + i, "meter-001", 9) == 0)
      copy[i + 8] = '2';
  assert_int_equal(pki_cert_parse_der(copy, len, &bad, NULL), 0);
  assert_string_equal(pki_cert_get_info(bad)->subject_cn, "meter-002");
  refused(&w, bad, PKI_ROLE_METER, GL_EVERIFY, "signature does not verify");
  pki_cert_free(bad);
  free(copy);
  /* RSA is outside the profile. */
  char *rsa = fx_data("rsa-ca.pem", &len);
  assert_int_equal(pki_cert_parse_pem(rsa, len, &bad, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "not supported"));
  free(rsa);
  pki_cert_free(c);
  world_free(&w);
}

static void test_trust_works_with_p256_keys_everywhere(void **state) {
  (void)state;
  pki_key_type cas[] = {PKI_KEY_ED25519, PKI_KEY_P256};
  for (size_t i = 0; i < 2; i++) {
    world w;
    world_init(&w, 29 + i, cas[i]);
    pki_key k;
    pki_cert *pc = meter(&w, "meter-p", PKI_KEY_P256, &k);
    pki_cert *ec = meter(&w, "meter-e", PKI_KEY_ED25519, &k);
    assert_int_equal(
        pki_trust_verify(w.trust, pc, PKI_ROLE_METER, &w.f.clock, NULL, NULL),
        0);
    assert_int_equal(
        pki_trust_verify(w.trust, ec, PKI_ROLE_METER, &w.f.clock, NULL, NULL),
        0);
    pki_cert_free(pc);
    pki_cert_free(ec);
    world_free(&w);
  }
}

static void test_issue_refuses_bad_options(void **state) {
  (void)state;
  world w;
  world_init(&w, 31, PKI_KEY_ED25519);
  pki_key k, leafkey;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &w.f.rand, &k), 0);
  uint8_t neg[] = {0x80, 0x01}, ok[] = {0x11};
  static const char *const bad_dns[] = {"-bad.example"};
  static const char *const bad_ip[] = {"300.1.1.1"};
  pki_issue_opts base = {.subject_cn = "meter-1",
                         .eku = PKI_EKU_CLIENT,
                         .not_before = w.f.now,
                         .not_after = w.f.now + FX_DAY,
                         .serial = ok,
                         .serial_len = 1};
  pki_cert *c;
  pki_why why = {{0}};
  pki_issue_opts o = base;
  o.serial = neg;
  o.serial_len = 2;
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, &why), GL_EINVAL);
  o = base;
  o.not_after = o.not_before;
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, &why), GL_EINVAL);
  o = base;
  o.dns = bad_dns;
  o.n_dns = 1;
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, &why), GL_EINVAL);
  assert_non_null(strstr(why.text, "not a DNS name"));
  o = base;
  o.ips = bad_ip;
  o.n_ips = 1;
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, &why), GL_EINVAL);
  assert_non_null(strstr(why.text, "IPv4 or IPv6"));
  o = base;
  o.subject_cn = "";
  assert_int_equal(pki_issue(&w.ca_key, w.ca, &k.pub, &o, &c, &why), GL_EINVAL);
  /* The signing key must be the issuer's, and the issuer a CA. */
  assert_int_equal(pki_issue(&k, w.ca, &k.pub, &base, &c, &why), GL_EINVAL);
  pki_cert *leaf = meter(&w, "meter-2", PKI_KEY_ED25519, &leafkey);
  assert_int_equal(pki_issue(&leafkey, leaf, &k.pub, &base, &c, &why),
                   GL_EINVAL);
  assert_non_null(strstr(why.text, "not a CA"));
  pki_cert_free(leaf);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cert_issued_fields_parse_back),
      cmocka_unit_test(test_cert_meter_id_and_raw_public_key),
      cmocka_unit_test(test_trust_accepts_an_enrolled_meter),
      cmocka_unit_test(test_trust_refuses_certificates_of_another_ca),
      cmocka_unit_test(test_trust_refuses_expired_and_future_certificates),
      cmocka_unit_test(test_trust_refuses_revoked_certificates),
      cmocka_unit_test(test_trust_refuses_certificates_in_the_wrong_role),
      cmocka_unit_test(test_cert_refuses_malformed_and_altered_certificates),
      cmocka_unit_test(test_trust_works_with_p256_keys_everywhere),
      cmocka_unit_test(test_issue_refuses_bad_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
