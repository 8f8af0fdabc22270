/* SPDX-License-Identifier: MIT */
/* Unit tests for key pairs: generation, PKCS#8 PEM, files (key.c). */
#include "fixture.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/pki_key.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static const char ossl_ed_pub[] =
    "c3dde709cf4c780c5092d3780160d85904af6a29943f71e2796fbda0a65b402e";
static const char ossl_p256_pub[] =
    "04ceff59ca23915540875888bf0274a94bef2165544f5c614aaf247ec4ad80e17165da42"
    "bd026e07528bc1fea3814299df315c83d1366062952ae01d3c3804f47c";

static void test_key_ed25519_is_the_common_crypto_key(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 1);
  pki_key k;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f.rand, &k), 0);
  assert_int_equal(k.pub.len, 32);
  gl_ed25519_key ed;
  assert_int_equal(pki_key_to_ed25519(&k, &ed), 0);
  uint8_t sig[64];
  assert_int_equal(gl_ed25519_sign(&ed, "m", 1, sig), 0);
  assert_int_equal(gl_ed25519_verify(k.pub.bytes, "m", 1, sig), 0);
  /* The same seed gives the same key. */
  gl_seeded_rand *again = gl_seeded_rand_new(1);
  gl_rand r = gl_seeded_rand_rand(again);
  pki_key k2;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &r, &k2), 0);
  assert_true(pki_pubkey_equal(&k.pub, &k2.pub));
  gl_seeded_rand_free(again);
  pki_key_wipe(&k);
  for (size_t i = 0; i < sizeof k; i++)
    assert_int_equal(((uint8_t *)&k)[i], 0);
  fx_free(&f);
}

static void round_trip(pki_key_type type) {
  fx f;
  fx_init(&f, 2);
  pki_key k, back;
  assert_int_equal(pki_key_generate(type, &f.rand, &k), 0);
  char *pem;
  size_t len;
  assert_int_equal(pki_key_to_pem(&k, &pem, &len), 0);
  assert_int_equal(strlen(pem), len);
  assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
  assert_int_equal(pki_key_from_pem(pem, len, &back, NULL), 0);
  assert_int_equal(back.pub.type, type);
  assert_true(pki_pubkey_equal(&k.pub, &back.pub));
  assert_memory_equal(k.priv, back.priv, PKI_PRIV_LEN);
  free(pem);
  fx_free(&f);
}

static void test_key_pem_round_trip_ed25519_and_p256(void **state) {
  (void)state;
  round_trip(PKI_KEY_ED25519);
  round_trip(PKI_KEY_P256);
}

static void test_key_reads_openssl_keys(void **state) {
  (void)state;
  uint8_t want[65];
  size_t len;
  pki_key k;
  char *ed = fx_data("openssl-ed25519.key", &len);
  assert_int_equal(pki_key_from_pem(ed, len, &k, NULL), 0);
  fx_unhex(ossl_ed_pub, want, 32);
  assert_int_equal(k.pub.type, PKI_KEY_ED25519);
  assert_memory_equal(k.pub.bytes, want, 32);
  /* Our PKCS#8 encoding is byte for byte what OpenSSL writes. */
  char *pem;
  assert_int_equal(pki_key_to_pem(&k, &pem, NULL), 0);
  assert_string_equal(pem, ed);
  free(pem);
  free(ed);

  fx_unhex(ossl_p256_pub, want, 65);
  const char *p256[] = {"openssl-p256.key", "openssl-p256-sec1.key"};
  for (size_t i = 0; i < 2; i++) {
    char *text = fx_data(p256[i], &len);
    pki_why why = {{0}};
    assert_int_equal(pki_key_from_pem(text, len, &k, &why), 0);
    assert_int_equal(k.pub.type, PKI_KEY_P256);
    assert_memory_equal(k.pub.bytes, want, 65);
    free(text);
  }
}

static void test_key_refuses_encrypted_foreign_and_broken_keys(void **state) {
  (void)state;
  size_t len;
  pki_key k;
  pki_why why = {{0}};
  char *enc = fx_data("openssl-encrypted.key", &len);
  assert_int_equal(pki_key_from_pem(enc, len, &k, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "encrypted"));
  free(enc);
  char *p384 = fx_data("openssl-p384.key", &len);
  assert_int_equal(pki_key_from_pem(p384, len, &k, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "P-256"));
  free(p384);
  assert_int_equal(pki_key_from_pem("hello", 5, &k, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "PRIVATE KEY"));
  /* Truncated body: a PEM block whose base64 is cut short. */
  char *ed = fx_data("openssl-ed25519.key", &len);
  char *cut = strstr(ed, "\n-----END");
  assert_non_null(cut);
  memmove(cut - 8, cut, strlen(cut) + 1);
  assert_int_equal(pki_key_from_pem(ed, strlen(ed), &k, &why), GL_EPARSE);
  free(ed);
  /* An unterminated block. */
  static const char open[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n";
  assert_int_equal(pki_key_from_pem(open, strlen(open), &k, &why), GL_EPARSE);
  assert_non_null(strstr(why.text, "not terminated"));
}

static void test_key_file_is_private_and_never_clobbered(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 3);
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("pki-key", dir);
  gt_path(path, dir, "device.key");
  pki_key k, other, back;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f.rand, &k), 0);
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f.rand, &other), 0);
  assert_int_equal(pki_key_write_file(&k, path, false, NULL), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  pki_why why = {{0}};
  assert_int_equal(pki_key_write_file(&other, path, false, &why), GL_EEXIST);
  assert_non_null(strstr(why.text, "already exists"));
  assert_int_equal(pki_key_load_file(path, &back, NULL), 0);
  assert_true(pki_pubkey_equal(&k.pub, &back.pub));
  gl_ed25519_key ed;
  assert_int_equal(pki_key_load_ed25519(path, &ed, NULL), 0);
  assert_memory_equal(ed.pub, k.pub.bytes, 32);
  /* P-256 keys cannot be used where an Ed25519 key is needed. */
  pki_key p;
  assert_int_equal(pki_key_generate(PKI_KEY_P256, &f.rand, &p), 0);
  assert_int_equal(pki_key_write_file(&p, path, true, NULL), 0);
  assert_int_equal(pki_key_load_ed25519(path, &ed, &why), GL_ENOTSUP);
  assert_non_null(strstr(why.text, "p256"));
  gt_path(path, dir, "missing.key");
  assert_int_equal(pki_key_load_file(path, &back, &why), GL_ENOENT);
  gt_rmtree(dir);
  fx_free(&f);
}

/* A private key others can read is refused, whatever the key is for,
 * with a reason that says how to fix it. */
static void test_key_file_readable_by_others_is_refused(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 4);
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("pki-key", dir);
  gt_path(path, dir, "service.key");
  pki_key k, back;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &f.rand, &k), 0);
  assert_int_equal(pki_key_write_file(&k, path, false, NULL), 0);
  static const mode_t loose[] = {0640, 0604, 0660, 0644, 0602, 0610};
  for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
    assert_int_equal(chmod(path, loose[i]), 0);
    pki_why why = {{0}};
    assert_int_equal(pki_key_load_file(path, &back, &why), GL_EPERM);
    assert_non_null(strstr(why.text, "chmod 600"));
    assert_non_null(strstr(why.text, path));
    gl_ed25519_key ed;
    assert_int_equal(pki_key_load_ed25519(path, &ed, NULL), GL_EPERM);
  }
  /* Owner-only modes are fine, read-only too. */
  assert_int_equal(chmod(path, 0400), 0);
  assert_int_equal(pki_key_load_file(path, &back, NULL), 0);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(pki_key_load_file(path, &back, NULL), 0);
  assert_true(pki_pubkey_equal(&k.pub, &back.pub));
  gt_rmtree(dir);
  fx_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_ed25519_is_the_common_crypto_key),
      cmocka_unit_test(test_key_pem_round_trip_ed25519_and_p256),
      cmocka_unit_test(test_key_reads_openssl_keys),
      cmocka_unit_test(test_key_refuses_encrypted_foreign_and_broken_keys),
      cmocka_unit_test(test_key_file_is_private_and_never_clobbered),
      cmocka_unit_test(test_key_file_readable_by_others_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
