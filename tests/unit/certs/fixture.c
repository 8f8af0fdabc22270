/* SPDX-License-Identifier: MIT */
/* fixture.c - see fixture.h. */
#include "fixture.h"

#include "gridlet/crypto.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void fx_init(fx *f, uint64_t seed) {
  int64_t now;
  assert_int_equal(gl_time_parse("2026-11-21T12:00:00Z", &now), 0);
  f->now = now;
  f->mc = gl_manual_clock_new(now);
  assert_non_null(f->mc);
  f->clock = gl_manual_clock_clock(f->mc);
  f->sr = gl_seeded_rand_new(seed);
  assert_non_null(f->sr);
  f->rand = gl_seeded_rand_rand(f->sr);
}

void fx_free(fx *f) {
  gl_manual_clock_free(f->mc);
  gl_seeded_rand_free(f->sr);
}

void fx_ca(fx *f, const char *cn, pki_key_type type, pki_key *key,
           pki_cert **cert) {
  assert_int_equal(pki_key_generate(type, &f->rand, key), 0);
  uint8_t serial[PKI_SERIAL_RANDOM_LEN];
  assert_int_equal(pki_serial_random(&f->rand, serial), 0);
  pki_issue_opts o = {.subject_cn = cn,
                      .subject_org = "test",
                      .is_ca = true,
                      .not_before = f->now - FX_DAY,
                      .not_after = f->now + 3650 * FX_DAY,
                      .serial = serial,
                      .serial_len = sizeof serial};
  pki_why why = {{0}};
  int rc = pki_issue(key, NULL, &key->pub, &o, cert, &why);
  if (rc)
    fail_msg("fx_ca: %s", why.text);
}

void fx_leaf(fx *f, const pki_key *ca_key, const pki_cert *ca, const char *cn,
             unsigned eku, pki_key_type type, int64_t nb, int64_t na,
             pki_key *key, pki_cert **cert) {
  assert_int_equal(pki_key_generate(type, &f->rand, key), 0);
  uint8_t serial[PKI_SERIAL_RANDOM_LEN];
  assert_int_equal(pki_serial_random(&f->rand, serial), 0);
  pki_issue_opts o = {.subject_cn = cn,
                      .eku = eku,
                      .not_before = nb,
                      .not_after = na,
                      .serial = serial,
                      .serial_len = sizeof serial};
  pki_why why = {{0}};
  int rc = pki_issue(ca_key, ca, &key->pub, &o, cert, &why);
  if (rc)
    fail_msg("fx_leaf: %s", why.text);
}

char *fx_data(const char *name, size_t *len) {
  char rel[GT_PATH_MAX], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "tests/unit/certs/data/%s", name);
  gt_source_path(path, rel);
  char *d = gt_read_file(path, len);
  if (!d)
    fail_msg("cannot read fixture %s", path);
  return d;
}

void fx_unhex(const char *hex, uint8_t *out, size_t n) {
  size_t got;
  assert_int_equal(gl_hex_decode(hex, strlen(hex), out, n, &got), 0);
  assert_int_equal(got, n);
}
