/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - shared set-up for the certs/ unit tests: a manual clock at a
 * fixed instant, a seeded generator, throw-away CAs and leaf certificates
 * made with the real issuing code, and the OpenSSL-made fixture files in
 * tests/unit/certs/data (interoperability vectors).
 */
#ifndef GRIDLET_TEST_CERTS_FIXTURE_H
#define GRIDLET_TEST_CERTS_FIXTURE_H

#include "gridlet/clock.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_issue.h"
#include "gridlet/pki_key.h"
#include "gridlet/rand.h"

#include <stddef.h>
#include <stdint.h>

#define FX_DAY (INT64_C(86400) * GL_NS_PER_SEC)

typedef struct fx {
  gl_manual_clock *mc;
  gl_clock clock;
  gl_seeded_rand *sr;
  gl_rand rand;
  int64_t now; /* the clock's starting time: 2026-11-21T12:00:00Z */
} fx;

void fx_init(fx *f, uint64_t seed);
void fx_free(fx *f);

/* A self-signed CA valid from now - 1 day to now + 10 years. */
void fx_ca(fx *f, const char *cn, pki_key_type type, pki_key *key,
           pki_cert **cert);

/* A leaf for `cn` with `eku`, valid [nb, na), issued by (ca_key, ca). */
void fx_leaf(fx *f, const pki_key *ca_key, const pki_cert *ca, const char *cn,
             unsigned eku, pki_key_type type, int64_t nb, int64_t na,
             pki_key *key, pki_cert **cert);

/* The bytes of tests/unit/certs/data/<name>, NUL-terminated; free(). */
char *fx_data(const char *name, size_t *len);

/* Hex to bytes (aborts on bad input). */
void fx_unhex(const char *hex, uint8_t *out, size_t n);

#endif
