/* SPDX-License-Identifier: MIT */
/* Unit tests for the mosquitto configuration and ACL (broker.c). The
 * behaviour of the files in a real mosquitto is the integration test's. */
#include "fixture.h"

#include "gridlet/error.h"
#include "gridlet/pki_broker.h"
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_broker_acl_follows_the_protocol_map(void **state) {
  (void)state;
  char *acl;
  assert_int_equal(pki_broker_acl_text("oak", NULL, 0, &acl, NULL), 0);
  const char *must[] = {"pattern write gridlet/oak/meter/%u/#\n",
                        "pattern read gridlet/oak/result/%u/#\n",
                        "pattern read gridlet/oak/public/#\n",
                        "user aggregator\n"
                        "topic read gridlet/oak/meter/#\n"
                        "topic write gridlet/oak/result/#\n"
                        "topic write gridlet/oak/public/#\n"};
  for (size_t i = 0; i < 4; i++)
    if (!strstr(acl, must[i]))
      fail_msg("ACL lacks \"%s\":\n%s", must[i], acl);
  /* Nothing grants more than the protocol map: no readwrite at all (the
   * aggregator publishes public/# and result/#, it need not read them),
   * no "#" grants. */
  assert_null(strstr(acl, "readwrite"));
  assert_null(strstr(acl, "topic write gridlet/oak/meter"));
  assert_null(strstr(acl, "deny"));
  free(acl);
  const char *denied[] = {"meter-007", "aggregator"};
  assert_int_equal(pki_broker_acl_text("oak", denied, 2, &acl, NULL), 0);
  assert_non_null(strstr(acl, "user meter-007\ntopic deny #\n"));
  assert_non_null(strstr(acl, "user aggregator\ntopic deny #\n"));
  free(acl);
  const char *evil[] = {"meter-1\ntopic readwrite #"};
  assert_int_equal(pki_broker_acl_text("oak", evil, 1, &acl, NULL), GL_EINVAL);
  assert_int_equal(pki_broker_acl_text("oak/x", NULL, 0, &acl, NULL),
                   GL_EINVAL);
}

typedef struct bfx {
  fx f;
  char root[GT_PATH_MAX], ca_dir[GT_PATH_MAX], out[GT_PATH_MAX];
  pki_ca *ca;
} bfx;

static void bfx_init(bfx *b, uint64_t seed) {
  fx_init(&b->f, seed);
  gt_tmpdir("pki-broker", b->root);
  gt_path(b->ca_dir, b->root, "ca");
  gt_path(b->out, b->root, "broker");
  pki_ca_init_opts io = {.community = "oak", .no_sync = true};
  assert_int_equal(pki_ca_init(b->ca_dir, &io, &b->f.rand, &b->f.clock, NULL),
                   0);
  pki_ca_open_opts oo = {.no_sync = true};
  assert_int_equal(
      pki_ca_open(b->ca_dir, &oo, &b->f.rand, &b->f.clock, &b->ca, NULL), 0);
}

static void bfx_free(bfx *b) {
  pki_ca_free(b->ca);
  gt_rmtree(b->root);
  fx_free(&b->f);
}

static char *read_out(bfx *b, const char *name) {
  char p[GT_PATH_MAX];
  char *s = gt_read_file(gt_path(p, b->out, name), NULL);
  if (!s)
    fail_msg("missing %s", p);
  return s;
}

static pki_cert *broker_cert(bfx *b) {
  char p[GT_PATH_MAX];
  pki_cert *c;
  assert_int_equal(
      pki_cert_load_file(gt_path(p, b->out, "broker.pem"), &c, NULL), 0);
  return c;
}

static void test_broker_config_writes_a_locked_down_listener(void **state) {
  (void)state;
  bfx b;
  bfx_init(&b, 60);
  pki_broker_opts o = {.out_dir = b.out, .port = 18883, .run_as_user = "root"};
  pki_why why = {{0}};
  if (pki_broker_config(b.ca, &o, &why))
    fail_msg("%s", why.text);
  char *conf = read_out(&b, "mosquitto.conf");
  char line[GT_PATH_MAX + 32];
  const char *must[] = {"per_listener_settings false\n",
                        "allow_anonymous false\n",
                        "listener 18883\n",
                        "tls_version tlsv1.3\n",
                        "require_certificate true\n",
                        "use_identity_as_username true\n",
                        "use_username_as_clientid true\n",
                        "user root\n",
                        "persistence false\n",
                        "max_packet_size 131072\n"};
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
    if (!strstr(conf, must[i]))
      fail_msg("mosquitto.conf lacks \"%s\":\n%s", must[i], conf);
  snprintf(line, sizeof line, "crlfile %s/crl.pem\n", b.out);
  assert_non_null(strstr(conf, line));
  snprintf(line, sizeof line, "acl_file %s/acl\n", b.out);
  assert_non_null(strstr(conf, line));
  free(conf);
  char *acl = read_out(&b, "acl");
  assert_non_null(strstr(acl, "pattern write gridlet/oak/meter/%u/#"));
  free(acl);
  struct stat st;
  char p[GT_PATH_MAX];
  assert_int_equal(stat(gt_path(p, b.out, "broker.key"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* The broker certificate is the CA's, for "broker", with the default
   * loopback names. */
  char ca[GT_PATH_MAX], crl[GT_PATH_MAX];
  pki_trust *t;
  assert_int_equal(pki_trust_load(gt_path(ca, b.out, "ca.pem"),
                                  gt_path(crl, b.out, "crl.pem"), &b.f.clock,
                                  &t, NULL),
                   0);
  pki_cert *c = broker_cert(&b);
  assert_int_equal(
      pki_trust_verify(t, c, PKI_ROLE_BROKER, &b.f.clock, NULL, NULL), 0);
  assert_string_equal(pki_cert_names(c), "DNS:localhost, IP:127.0.0.1, IP:::1");
  char serial[PKI_SERIAL_HEX_MAX];
  snprintf(serial, sizeof serial, "%s", pki_cert_get_info(c)->serial_hex);
  pki_cert_free(c);
  pki_trust_free(t);
  /* Writing again keeps the working certificate; renewing replaces it. */
  assert_int_equal(pki_broker_config(b.ca, &o, NULL), 0);
  c = broker_cert(&b);
  assert_string_equal(pki_cert_get_info(c)->serial_hex, serial);
  pki_cert_free(c);
  o.renew_cert = true;
  assert_int_equal(pki_broker_config(b.ca, &o, NULL), 0);
  c = broker_cert(&b);
  assert_string_not_equal(pki_cert_get_info(c)->serial_hex, serial);
  pki_cert_free(c);
  pki_ca_record r;
  assert_int_equal(pki_ca_find(b.ca, serial, &r), 0);
  assert_true(r.revoked);
  /* A line break in an option would inject configuration. */
  o.bind = "127.0.0.1\nallow_anonymous true";
  assert_int_equal(pki_broker_config(b.ca, &o, &why), GL_EINVAL);
  bfx_free(&b);
}

static void test_broker_refresh_follows_revocations(void **state) {
  (void)state;
  bfx b;
  bfx_init(&b, 61);
  pki_broker_opts o = {.out_dir = b.out};
  assert_int_equal(pki_broker_config(b.ca, &o, NULL), 0);
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &b.f.rand, &k), 0);
  char *csr;
  size_t len;
  assert_int_equal(pki_csr_create(&k, "meter-007", &csr, &len), 0);
  pki_cert *cert;
  assert_int_equal(pki_ca_sign_csr(b.ca, csr, len, NULL, &cert, NULL), 0);
  free(csr);
  assert_int_equal(pki_ca_revoke(b.ca, "meter-007", NULL,
                                 PKI_REASON_KEY_COMPROMISE, NULL, NULL),
                   0);
  char dir[GT_PATH_MAX];
  assert_int_equal(pki_broker_refresh(b.ca, dir, sizeof dir, NULL), 0);
  assert_string_equal(dir, b.out);
  char *acl = read_out(&b, "acl");
  assert_non_null(strstr(acl, "user meter-007\ntopic deny #\n"));
  free(acl);
  /* The broker's CRL is the CA's, byte for byte. */
  char p[GT_PATH_MAX];
  char *ours = read_out(&b, "crl.pem");
  char *cas = gt_read_file(gt_path(p, b.ca_dir, "crl.pem"), NULL);
  assert_string_equal(ours, cas);
  free(ours);
  free(cas);
  pki_cert_free(cert);
  bfx_free(&b);
}

static void test_broker_refuses_a_directory_of_another_ca(void **state) {
  (void)state;
  bfx a, b;
  bfx_init(&a, 62);
  bfx_init(&b, 63);
  pki_broker_opts o = {.out_dir = a.out};
  assert_int_equal(pki_broker_config(a.ca, &o, NULL), 0);
  pki_why why = {{0}};
  assert_int_equal(pki_broker_config(b.ca, &o, &why), GL_ECONFIG);
  assert_non_null(strstr(why.text, "renew"));
  bfx_free(&a);
  bfx_free(&b);
}

/* A broker certificate is replaced only on request (renew_cert), and a
 * renewal whose new files cannot be put in place revokes nothing. */
static void test_broker_renewal_is_explicit_and_staged(void **state) {
  (void)state;
  bfx b;
  bfx_init(&b, 64);
  pki_broker_opts o = {.out_dir = b.out};
  assert_int_equal(pki_broker_config(b.ca, &o, NULL), 0);
  pki_cert *c = broker_cert(&b);
  char serial[PKI_SERIAL_HEX_MAX];
  snprintf(serial, sizeof serial, "%s", pki_cert_get_info(c)->serial_hex);
  pki_cert_free(c);
  /* Another directory without the files: the running broker's
   * certificate must not be revoked behind its back. */
  char other[GT_PATH_MAX];
  gt_path(other, b.root, "broker2");
  pki_broker_opts o2 = {.out_dir = other};
  pki_why why = {{0}};
  assert_int_equal(pki_broker_config(b.ca, &o2, &why), GL_EEXIST);
  assert_non_null(strstr(why.text, "renew"));
  pki_ca_record r;
  assert_int_equal(pki_ca_find(b.ca, serial, &r), 0);
  assert_false(r.revoked);
  /* A renewal that cannot put broker.pem in place (a directory stands
   * there) issues nothing and revokes nothing. */
  char pem[GT_PATH_MAX], saved[GT_PATH_MAX], crl[GT_PATH_MAX];
  gt_path(pem, b.out, "broker.pem");
  gt_path(saved, b.root, "broker.pem.saved");
  char *crl_before = gt_read_file(gt_path(crl, b.ca_dir, "crl.pem"), NULL);
  assert_int_equal(rename(pem, saved), 0);
  assert_int_equal(mkdir(pem, 0755), 0);
  o.renew_cert = true;
  assert_int_equal(pki_broker_config(b.ca, &o, &why), GL_EIO);
  assert_non_null(strstr(why.text, "nothing was issued"));
  assert_int_equal(pki_ca_find(b.ca, serial, &r), 0);
  assert_false(r.revoked);
  char *crl_after = gt_read_file(crl, NULL);
  assert_string_equal(crl_after, crl_before);
  free(crl_after);
  char key_tmp[GT_PATH_MAX + 32];
  snprintf(key_tmp, sizeof key_tmp, "%s/broker.key.tmp-%ld", b.out,
           (long)getpid());
  assert_false(access(key_tmp, F_OK) == 0);
  assert_int_equal(rmdir(pem), 0);
  assert_int_equal(rename(saved, pem), 0);
  /* Now it can: the old certificate is superseded. */
  assert_int_equal(pki_broker_config(b.ca, &o, NULL), 0);
  assert_int_equal(pki_ca_find(b.ca, serial, &r), 0);
  assert_true(r.revoked);
  c = broker_cert(&b);
  assert_string_not_equal(pki_cert_get_info(c)->serial_hex, serial);
  pki_cert_free(c);
  free(crl_before);
  bfx_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broker_acl_follows_the_protocol_map),
      cmocka_unit_test(test_broker_config_writes_a_locked_down_listener),
      cmocka_unit_test(test_broker_refresh_follows_revocations),
      cmocka_unit_test(test_broker_refuses_a_directory_of_another_ca),
      cmocka_unit_test(test_broker_renewal_is_explicit_and_staged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
