/* SPDX-License-Identifier: MIT */
/* fuzz_world.c - see fuzz_world.h. */
#include "fuzz_world.h"

#include "gridlet/log.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_issue.h"
#include "gridlet/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fz_world world;
static gl_seeded_rand *sr;
static gl_manual_clock *mc;
static int built;

/* 2026-11-21T12:00:00Z */
#define NOW INT64_C(1795262400000000000)
#define DAY (INT64_C(86400) * 1000000000)

static void die(const char *what) {
  fprintf(stderr, "fuzz world: %s\n", what);
  abort();
}

static pki_cert *leaf(const char *cn, unsigned eku, pki_key *key,
                      uint8_t serial_byte) {
  gl_rand r = gl_seeded_rand_rand(sr);
  if (pki_key_generate(PKI_KEY_ED25519, &r, key))
    die("key");
  uint8_t serial[] = {0x10, serial_byte};
  pki_issue_opts o = {.subject_cn = cn,
                      .eku = eku,
                      .not_before = NOW - DAY,
                      .not_after = NOW + 365 * DAY,
                      .serial = serial,
                      .serial_len = sizeof serial};
  pki_cert *c;
  if (pki_issue(&world.ca_key, world.ca, &key->pub, &o, &c, NULL))
    die("leaf");
  return c;
}

fz_world *fz_get(void) {
  if (built)
    return &world;
  gl_log_set_level(GL_LOG_ERROR);
  sr = gl_seeded_rand_new(1);
  mc = gl_manual_clock_new(NOW);
  if (!sr || !mc)
    die("alloc");
  gl_rand r = gl_seeded_rand_rand(sr);
  world.clock = gl_manual_clock_clock(mc);
  world.now = NOW;
  if (pki_key_generate(PKI_KEY_ED25519, &r, &world.ca_key))
    die("ca key");
  uint8_t serial[] = {0x01};
  pki_issue_opts o = {.subject_cn = "fuzz community CA",
                      .subject_org = "fuzz",
                      .is_ca = true,
                      .not_before = NOW - DAY,
                      .not_after = NOW + 3650 * DAY,
                      .serial = serial,
                      .serial_len = 1};
  if (pki_issue(&world.ca_key, NULL, &world.ca_key.pub, &o, &world.ca, NULL))
    die("ca");
  if (pki_trust_new(world.ca, &world.trust, NULL))
    die("trust");
  /* Serial 1002 is revoked, so the revocation path is reachable. */
  pki_crl_entry e = {.serial = {0x10, 0x02},
                     .serial_len = 2,
                     .revoked_at = NOW - 60 * 1000000000LL,
                     .reason = PKI_REASON_KEY_COMPROMISE};
  char *pem;
  size_t len;
  pki_crl *crl;
  if (pki_crl_make(&world.ca_key, world.ca, 1, NOW - 3600 * 1000000000LL,
                   NOW + 30 * DAY, &e, 1, &pem, &len) ||
      pki_crl_parse(pem, len, &crl, NULL) ||
      pki_trust_set_crl(world.trust, crl, &world.clock, NULL))
    die("crl");
  free(pem);
  built = 1;
  return &world;
}

static void put(const char *dir, const char *name, const void *data,
                size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len)
    die(path);
  fclose(f);
}

/* PEM and DER of a certificate. */
static void put_cert(const char *dir, const char *name, const pki_cert *c) {
  char file[256], *pem;
  size_t len;
  const uint8_t *der = pki_cert_der(c, &len);
  snprintf(file, sizeof file, "%s.der", name);
  put(dir, file, der, len);
  if (pki_cert_to_pem(c, &pem, &len))
    die("pem");
  snprintf(file, sizeof file, "%s.pem", name);
  put(dir, file, pem, len);
  free(pem);
}

void fz_write_seeds(const char *kind) {
  const char *dir = getenv("GRIDLET_PKI_FUZZ_SEEDS");
  if (!dir)
    return;
  fz_get();
  pki_key k;
  char *pem;
  size_t len;
  if (strcmp(kind, "cert") == 0) {
    put_cert(dir, "ca", world.ca);
    pki_cert *m = leaf("meter-001", PKI_EKU_CLIENT, &k, 0x01);
    pki_cert *rv = leaf("meter-002", PKI_EKU_CLIENT, &k, 0x02);
    pki_cert *ag =
        leaf("aggregator", PKI_EKU_CLIENT | PKI_EKU_SERVER, &k, 0x03);
    put_cert(dir, "meter", m);
    put_cert(dir, "revoked", rv);
    put_cert(dir, "aggregator", ag);
    pki_cert_free(m);
    pki_cert_free(rv);
    pki_cert_free(ag);
  } else if (strcmp(kind, "csr") == 0) {
    gl_rand r = gl_seeded_rand_rand(sr);
    pki_key_type types[] = {PKI_KEY_ED25519, PKI_KEY_P256};
    const char *names[] = {"ed25519.csr", "p256.csr"};
    for (int i = 0; i < 2; i++) {
      if (pki_key_generate(types[i], &r, &k) ||
          pki_csr_create(&k, "meter-001", &pem, &len))
        die("csr");
      put(dir, names[i], pem, len);
      free(pem);
    }
  } else if (strcmp(kind, "crl") == 0) {
    pki_crl_entry e[2] = {{.serial = {0x10, 0x02},
                           .serial_len = 2,
                           .revoked_at = NOW - DAY,
                           .reason = PKI_REASON_KEY_COMPROMISE},
                          {.serial = {0x7f, 0x01, 0x02},
                           .serial_len = 3,
                           .revoked_at = NOW - DAY,
                           .reason = PKI_REASON_UNSPECIFIED}};
    if (pki_crl_make(&world.ca_key, world.ca, 2, NOW - DAY, NOW + 30 * DAY, e,
                     2, &pem, &len))
      die("crl");
    put(dir, "two.pem", pem, len);
    free(pem);
    if (pki_crl_make(&world.ca_key, world.ca, 3, NOW - DAY, NOW + 30 * DAY,
                     NULL, 0, &pem, &len))
      die("crl");
    put(dir, "empty.pem", pem, len);
    free(pem);
  } else if (strcmp(kind, "key") == 0) {
    gl_rand r = gl_seeded_rand_rand(sr);
    pki_key_type types[] = {PKI_KEY_ED25519, PKI_KEY_P256};
    const char *names[] = {"ed25519.key", "p256.key"};
    for (int i = 0; i < 2; i++) {
      if (pki_key_generate(types[i], &r, &k) || pki_key_to_pem(&k, &pem, &len))
        die("key");
      put(dir, names[i], pem, len);
      free(pem);
    }
  }
}
