/* SPDX-License-Identifier: MIT */
/* Unit tests for the device side of enrolment (enrol.c), own identities
 * (identity.c) and development communities (dev.c). */
#include "fixture.h"

#include "gridlet/error.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pki_enrol.h"
#include "gridlet/pki_identity.h"
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

static void test_enrol_keygen_makes_key_and_request(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 70);
  char dir[GT_PATH_MAX], key[GT_PATH_MAX], csr[GT_PATH_MAX];
  gt_tmpdir("pki-enrol", dir);
  gt_path(key, dir, "meter.key");
  gt_path(csr, dir, "meter.csr");
  pki_why why = {{0}};
  assert_int_equal(
      pki_enrol_keygen("Meter 7", PKI_KEY_ED25519, key, csr, &f.rand, &why),
      GL_EINVAL);
  assert_non_null(strstr(why.text, "meter id"));
  assert_false(access(key, F_OK) == 0);
  assert_int_equal(
      pki_enrol_keygen("meter-007", PKI_KEY_ED25519, key, csr, &f.rand, &why),
      0);
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  size_t len;
  char *text = gt_read_file(csr, &len);
  pki_csr_info info;
  assert_int_equal(pki_csr_parse(text, len, &info, NULL), 0);
  assert_string_equal(info.subject_cn, "meter-007");
  pki_key k;
  assert_int_equal(pki_key_load_file(key, &k, NULL), 0);
  assert_true(pki_pubkey_equal(&k.pub, &info.pub));
  free(text);
  /* Never a second key; a new request for the same key is fine. */
  assert_int_equal(
      pki_enrol_keygen("meter-007", PKI_KEY_ED25519, key, csr, &f.rand, &why),
      GL_EEXIST);
  assert_non_null(strstr(why.text, "already has a key"));
  assert_int_equal(pki_enrol_csr("meter-007", key, csr, NULL), 0);
  text = gt_read_file(csr, &len);
  assert_int_equal(pki_csr_parse(text, len, &info, NULL), 0);
  assert_true(pki_pubkey_equal(&k.pub, &info.pub));
  free(text);
  gt_rmtree(dir);
  fx_free(&f);
}

static void test_identity_loads_and_checks_the_pair(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 71);
  char dir[GT_PATH_MAX];
  gt_tmpdir("pki-dev", dir);
  pki_dev_opts o = {.meters = 2, .community = "oak"};
  pki_why why = {{0}};
  if (pki_dev_community(dir, &o, &f.rand, &f.clock, &why))
    fail_msg("%s", why.text);
  char cert1[GT_PATH_MAX], key1[GT_PATH_MAX], key2[GT_PATH_MAX];
  gt_path(cert1, dir, "meters/meter-001/meter.pem");
  gt_path(key1, dir, "meters/meter-001/meter.key");
  gt_path(key2, dir, "meters/meter-002/meter.key");
  pki_identity *id;
  assert_int_equal(pki_identity_load(cert1, key1, &id, NULL), 0);
  assert_string_equal(pki_identity_name(id), "meter-001");
  gl_ed25519_key ed;
  assert_int_equal(pki_identity_ed25519(id, &ed), 0);
  uint8_t pub[32];
  assert_int_equal(pki_cert_ed25519_pub(pki_identity_cert(id), pub, NULL), 0);
  assert_memory_equal(ed.pub, pub, 32);
  pki_identity_free(id);
  assert_int_equal(pki_identity_load(cert1, key2, &id, &why), GL_ECONFIG);
  assert_non_null(strstr(why.text, "does not belong"));
  gt_rmtree(dir);
  fx_free(&f);
}

static void test_dev_community_is_complete_and_valid(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 72);
  char dir[GT_PATH_MAX];
  gt_tmpdir("pki-dev", dir);
  pki_dev_opts o = {.meters = 5, .port = 18999};
  pki_why why = {{0}};
  if (pki_dev_community(dir, &o, &f.rand, &f.clock, &why))
    fail_msg("%s", why.text);
  char p[GT_PATH_MAX], q[GT_PATH_MAX];
  pki_trust *t;
  assert_int_equal(pki_trust_load(gt_path(p, dir, "aggregator/ca.pem"),
                                  gt_path(q, dir, "aggregator/crl.pem"),
                                  &f.clock, &t, NULL),
                   0);
  for (unsigned i = 1; i <= 5; i++) {
    char id[PKI_METER_ID_MAX], rel[GT_PATH_MAX];
    assert_int_equal(pki_dev_meter_id(&o, i, id, sizeof id), 0);
    snprintf(rel, sizeof rel, "meters/%s/meter.pem", id);
    pki_cert *c;
    assert_int_equal(pki_cert_load_file(gt_path(p, dir, rel), &c, NULL), 0);
    pki_peer peer;
    assert_int_equal(
        pki_trust_verify(t, c, PKI_ROLE_METER, &f.clock, &peer, NULL), 0);
    assert_string_equal(peer.name, id);
    pki_cert_free(c);
  }
  pki_identity *agg;
  assert_int_equal(
      pki_identity_load(gt_path(p, dir, "aggregator/aggregator.pem"),
                        gt_path(q, dir, "aggregator/aggregator.key"), &agg,
                        NULL),
      0);
  assert_int_equal(pki_trust_verify(t, pki_identity_cert(agg),
                                    PKI_ROLE_AGGREGATOR, &f.clock, NULL, NULL),
                   0);
  pki_identity_free(agg);
  char *conf = gt_read_file(gt_path(p, dir, "broker/mosquitto.conf"), NULL);
  assert_non_null(strstr(conf, "listener 18999 127.0.0.1\n"));
  assert_non_null(strstr(conf, "log_dest stdout\n"));
  free(conf);
  pki_trust_free(t);
  /* Once is enough: a second run into the same place is refused. */
  assert_int_equal(pki_dev_community(dir, &o, &f.rand, &f.clock, &why),
                   GL_EEXIST);
  gt_rmtree(dir);
  fx_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enrol_keygen_makes_key_and_request),
      cmocka_unit_test(test_identity_loads_and_checks_the_pair),
      cmocka_unit_test(test_dev_community_is_complete_and_valid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
