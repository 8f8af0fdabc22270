/* SPDX-License-Identifier: MIT */
/* Unit tests for the shared crypto primitives: published vectors first. */
#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n;
  assert_int_equal(gl_hex_decode(hex, strlen(hex), out, cap, &n), 0);
  assert_int_equal(n, cap);
}

static void test_sha256_matches_fips_vectors(void **state) {
  (void)state;
  uint8_t h[32];
  char hex[65];
  assert_int_equal(gl_sha256("abc", 3, h), 0);
  assert_string_equal(
      gl_hex_encode(h, 32, hex),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_int_equal(gl_sha256("", 0, h), 0);
  assert_string_equal(
      gl_hex_encode(h, 32, hex),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  /* pieces hash like their concatenation */
  gl_bytes parts[] = {{"a", 1}, {"", 0}, {"bc", 2}};
  uint8_t h2[32];
  assert_int_equal(gl_sha256_parts(parts, 3, h2), 0);
  assert_int_equal(gl_sha256("abc", 3, h), 0);
  assert_memory_equal(h, h2, 32);
}

/* RFC 8032 section 7.1, tests 1 and 2. */
static void test_ed25519_matches_rfc8032(void **state) {
  (void)state;
  static const struct {
    const char *seed, *pub, *msg, *sig;
  } v[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb882"
       "1590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1"
       "e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
  };
  for (size_t i = 0; i < 2; i++) {
    uint8_t seed[32], pub[32], sig[64], msg[1];
    size_t mlen = 0;
    unhex(v[i].seed, seed, 32);
    unhex(v[i].pub, pub, 32);
    unhex(v[i].sig, sig, 64);
    assert_int_equal(gl_hex_decode(v[i].msg, strlen(v[i].msg), msg, 1, &mlen),
                     0);
    gl_ed25519_key key;
    assert_int_equal(gl_ed25519_from_seed(seed, &key), 0);
    assert_memory_equal(key.pub, pub, 32);
    uint8_t mine[64];
    assert_int_equal(gl_ed25519_sign(&key, msg, mlen, mine), 0);
    assert_memory_equal(mine, sig, 64);
    assert_int_equal(gl_ed25519_verify(pub, msg, mlen, sig), 0);
  }
}

static void test_ed25519_rejects_any_change(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(1);
  gl_rand r = gl_seeded_rand_rand(sr);
  gl_ed25519_key key, other;
  assert_int_equal(gl_ed25519_generate(&r, &key), 0);
  assert_int_equal(gl_ed25519_generate(&r, &other), 0);
  const char msg[] = "reading 42";
  uint8_t sig[64];
  assert_int_equal(gl_ed25519_sign(&key, msg, sizeof msg, sig), 0);
  assert_int_equal(gl_ed25519_verify(key.pub, msg, sizeof msg, sig), 0);
  assert_int_equal(gl_ed25519_verify(other.pub, msg, sizeof msg, sig),
                   GL_EVERIFY);
  assert_int_equal(gl_ed25519_verify(key.pub, msg, sizeof msg - 1, sig),
                   GL_EVERIFY);
  for (int bit = 0; bit < 512; bit += 7) {
    uint8_t bad[64];
    memcpy(bad, sig, 64);
    bad[bit / 8] ^= (uint8_t)(1 << (bit % 8));
    assert_int_equal(gl_ed25519_verify(key.pub, msg, sizeof msg, bad),
                     GL_EVERIFY);
  }
  uint8_t junkpub[32];
  memset(junkpub, 0xff, 32);
  assert_int_equal(gl_ed25519_verify(junkpub, msg, sizeof msg, sig),
                   GL_EVERIFY);
  gl_seeded_rand_free(sr);
}

static void test_hex_round_trip_and_errors(void **state) {
  (void)state;
  uint8_t b[4];
  size_t n;
  char s[9];
  assert_int_equal(gl_hex_decode("00Ff7a10", 8, b, 4, &n), 0);
  assert_string_equal(gl_hex_encode(b, n, s), "00ff7a10");
  assert_int_equal(gl_hex_decode("abc", 3, b, 4, &n), GL_EPARSE);
  assert_int_equal(gl_hex_decode("zz", 2, b, 4, &n), GL_EPARSE);
  assert_int_equal(gl_hex_decode("0011223344", 10, b, 4, &n), GL_ETOOBIG);
}

static void test_base64_rfc4648_vectors_and_strictness(void **state) {
  (void)state;
  static const char *const in[] = {"",     "f",     "fo",    "foo",
                                   "foob", "fooba", "foobar"};
  static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    char enc[16];
    uint8_t dec[16];
    size_t n;
    assert_int_equal(gl_base64_encode(in[i], strlen(in[i]), enc, sizeof enc),
                     0);
    assert_string_equal(enc, out[i]);
    assert_int_equal(gl_base64_decode(enc, strlen(enc), dec, sizeof dec, &n),
                     0);
    assert_int_equal(n, strlen(in[i]));
    assert_memory_equal(dec, in[i], n);
  }
  uint8_t dec[16];
  size_t n;
  const char *bad[] = {
      "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v!A==", "=Zg="};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(
        gl_base64_decode(bad[i], strlen(bad[i]), dec, sizeof dec, &n),
        GL_EPARSE);
  char small[4];
  assert_int_equal(gl_base64_encode("foo", 3, small, sizeof small), GL_ETOOBIG);
  assert_int_equal(gl_base64_decode("Zm9vYmFy", 8, dec, 5, &n), GL_ETOOBIG);
}

static void test_memeq_ct(void **state) {
  (void)state;
  assert_true(gl_memeq_ct("abc", "abc", 3));
  assert_false(gl_memeq_ct("abc", "abd", 3));
  assert_true(gl_memeq_ct("", "", 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256_matches_fips_vectors),
      cmocka_unit_test(test_ed25519_matches_rfc8032),
      cmocka_unit_test(test_ed25519_rejects_any_change),
      cmocka_unit_test(test_hex_round_trip_and_errors),
      cmocka_unit_test(test_base64_rfc4648_vectors_and_strictness),
      cmocka_unit_test(test_memeq_ct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
