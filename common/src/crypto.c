/* SPDX-License-Identifier: MIT */
/*
 * crypto.c - SHA-256 and Ed25519 through wolfCrypt; hex and base64.
 * wolfCrypt's return codes are translated here and nowhere else.
 */
#include "gridlet/crypto.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <string.h>

/* wolfSSL's build options must come before any of its headers. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* ---- SHA-256 ----------------------------------------------------------- */

int gl_sha256_parts(const gl_bytes *parts, size_t n,
                    uint8_t out[GL_SHA256_LEN]) {
  wc_Sha256 sha;
  if (wc_InitSha256(&sha) != 0)
    return GL_ECRYPTO;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const uint8_t *p = parts[i].data;
    size_t left = parts[i].len;
    /* wolfCrypt takes 32-bit lengths; feed larger inputs in pieces. */
    while (left > 0 && rc == 0) {
      word32 chunk = left > 0x40000000u ? 0x40000000u : (word32)left;
      rc = wc_Sha256Update(&sha, p, chunk);
      p += chunk;
      left -= chunk;
    }
  }
  if (rc == 0)
    rc = wc_Sha256Final(&sha, out);
  wc_Sha256Free(&sha);
  return rc == 0 ? 0 : GL_ECRYPTO;
}

int gl_sha256(const void *data, size_t len, uint8_t out[GL_SHA256_LEN]) {
  gl_bytes part = {data, len};
  return gl_sha256_parts(&part, 1, out);
}

/* ---- Ed25519 ----------------------------------------------------------- */

int gl_ed25519_from_seed(const uint8_t seed[GL_ED25519_SEED_LEN],
                         gl_ed25519_key *key) {
  ed25519_key k;
  if (wc_ed25519_init(&k) != 0)
    return GL_ECRYPTO;
  int rc = wc_ed25519_import_private_only(seed, GL_ED25519_SEED_LEN, &k);
  if (rc == 0)
    rc = wc_ed25519_make_public(&k, key->pub, GL_ED25519_PUB_LEN);
  wc_ed25519_free(&k);
  if (rc != 0) {
    GL_ERROR("crypto", "ed25519 key derivation failed (wolfCrypt %d)", rc);
    return GL_ECRYPTO;
  }
  if (key->seed != seed)
    memcpy(key->seed, seed, GL_ED25519_SEED_LEN);
  return 0;
}

int gl_ed25519_generate(const gl_rand *rand, gl_ed25519_key *key) {
  uint8_t seed[GL_ED25519_SEED_LEN];
  int rc = gl_rand_fill(rand, seed, sizeof seed);
  if (rc == 0)
    rc = gl_ed25519_from_seed(seed, key);
  gl_wipe(seed, sizeof seed);
  return rc;
}

int gl_ed25519_sign(const gl_ed25519_key *key, const void *msg, size_t len,
                    uint8_t sig[GL_ED25519_SIG_LEN]) {
  if (len > 0xffffffffu)
    return GL_ETOOBIG;
  ed25519_key k;
  if (wc_ed25519_init(&k) != 0)
    return GL_ECRYPTO;
  /* trusted=1: the public half was derived from this seed by us, so
   * wolfCrypt need not recompute it (which would double the cost). */
  int rc = wc_ed25519_import_private_key_ex(
      key->seed, GL_ED25519_SEED_LEN, key->pub, GL_ED25519_PUB_LEN, &k, 1);
  word32 siglen = GL_ED25519_SIG_LEN;
  if (rc == 0)
    rc = wc_ed25519_sign_msg(msg, (word32)len, sig, &siglen, &k);
  wc_ed25519_free(&k);
  if (rc != 0 || siglen != GL_ED25519_SIG_LEN) {
    GL_ERROR("crypto", "ed25519 signing failed (wolfCrypt %d)", rc);
    return GL_ECRYPTO;
  }
  return 0;
}

int gl_ed25519_verify(const uint8_t pub[GL_ED25519_PUB_LEN], const void *msg,
                      size_t len, const uint8_t sig[GL_ED25519_SIG_LEN]) {
  if (len > 0xffffffffu)
    return GL_ETOOBIG;
  ed25519_key k;
  if (wc_ed25519_init(&k) != 0)
    return GL_ECRYPTO;
  int result = GL_EVERIFY;
  if (wc_ed25519_import_public(pub, GL_ED25519_PUB_LEN, &k) == 0) {
    int ok = 0;
    int rc = wc_ed25519_verify_msg(sig, GL_ED25519_SIG_LEN, msg, (word32)len,
                                   &ok, &k);
    /* A malformed signature (e.g. S >= L) is reported as an error code by
     * wolfCrypt, not as ok == 0: both mean "does not verify". */
    result = (rc == 0 && ok == 1) ? 0 : GL_EVERIFY;
  }
  wc_ed25519_free(&k);
  return result;
}

/* ---- Helpers ----------------------------------------------------------- */

bool gl_memeq_ct(const void *a, const void *b, size_t n) {
  const volatile uint8_t *x = a, *y = b;
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (uint8_t)(x[i] ^ y[i]);
  return d == 0;
}

void gl_wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--)
    *v++ = 0;
}

char *gl_hex_encode(const void *data, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * len] = '\0';
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int gl_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t cap,
                  size_t *outlen) {
  if (hexlen % 2)
    return GL_EPARSE;
  if (hexlen / 2 > cap)
    return GL_ETOOBIG;
  for (size_t i = 0; i < hexlen; i += 2) {
    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return GL_EPARSE;
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  *outlen = hexlen / 2;
  return 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int gl_base64_encode(const void *data, size_t len, char *out, size_t cap) {
  if (gl_base64_len(len) + 1 > cap)
    return GL_ETOOBIG;
  const uint8_t *p = data;
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64chars[v >> 18];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = b64chars[(v >> 6) & 63];
    out[o++] = b64chars[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)p[i + 1] << 8;
    out[o++] = b64chars[v >> 18];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return 0;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int gl_base64_decode(const char *b64, size_t b64len, uint8_t *out, size_t cap,
                     size_t *outlen) {
  if (b64len % 4)
    return GL_EPARSE;
  size_t pad = 0;
  if (b64len >= 1 && b64[b64len - 1] == '=')
    pad++;
  if (b64len >= 2 && b64[b64len - 2] == '=')
    pad++;
  size_t n = b64len / 4 * 3 - pad;
  if (n > cap)
    return GL_ETOOBIG;
  size_t o = 0;
  for (size_t i = 0; i < b64len; i += 4) {
    bool last = i + 4 == b64len;
    int v[4];
    for (int k = 0; k < 4; k++) {
      char c = b64[i + (size_t)k];
      if (c == '=' && last && k >= 4 - (int)pad) {
        v[k] = 0;
        continue;
      }
      v[k] = b64val(c);
      if (v[k] < 0)
        return GL_EPARSE;
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                 (uint32_t)v[2] << 6 | (uint32_t)v[3];
    /* Canonical form only: the bits padding throws away must be zero. */
    if (last && pad == 1 && (w & 0xff))
      return GL_EPARSE;
    if (last && pad == 2 && (w & 0xffff))
      return GL_EPARSE;
    out[o++] = (uint8_t)(w >> 16);
    if (!(last && pad == 2))
      out[o++] = (uint8_t)(w >> 8);
    if (!(last && pad >= 1))
      out[o++] = (uint8_t)w;
  }
  *outlen = o;
  return 0;
}
