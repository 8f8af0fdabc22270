/* SPDX-License-Identifier: MIT */
/*
 * bench_pki - how long the PKI takes where it matters:
 *   - a whole development community of 100 meters (CA, broker config,
 *     aggregator, 100 keys + CSRs + CA checks + certificates, files and
 *     SQLite index), the figure the issue asks to be well under a second;
 *   - one enrolment through the CA (pki_ca_sign_csr, durable: fsync and
 *     synchronous=FULL), what an operator waits for;
 *   - the aggregator's per-certificate check (pki_trust_verify of a meter
 *     certificate against the CA and a CRL of 1000 revoked serials);
 *   - CRL issue with 1000 entries.
 * Each figure is a median over repeated runs (gb_report).
 */
#define _XOPEN_SOURCE 700
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/log.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pki_issue.h"
#include "gridlet/pki_trust.h"
#include "gridlet/rand.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNS 7

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rmtree(const char *dir) {
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmpdir(char *out, size_t size) {
  const char *base = getenv("TMPDIR");
  snprintf(out, size, "%s/gridlet-bench-pki-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
}

static void check(int rc, const pki_why *why, const char *what) {
  if (rc) {
    fprintf(stderr, "%s failed: %s\n", what, why ? why->text : "");
    exit(1);
  }
}

static void bench_dev_community(unsigned meters) {
  int64_t s[RUNS];
  gl_rand rand = gl_rand_system();
  gl_clock clock = gl_clock_real();
  for (int r = 0; r < RUNS; r++) {
    char dir[512], comm[600];
    tmpdir(dir, sizeof dir);
    snprintf(comm, sizeof comm, "%s/c", dir);
    pki_dev_opts o = {.meters = meters};
    pki_why why = {{0}};
    int64_t t0 = gb_now_ns();
    check(pki_dev_community(comm, &o, &rand, &clock, &why), &why, "dev");
    s[r] = gb_now_ns() - t0;
    rmtree(dir);
  }
  char name[64];
  snprintf(name, sizeof name, "dev community, %u meters", meters);
  gb_report(name, s, RUNS, 1, 1e6, "ms");
}

static void bench_enrolment(void) {
  gl_rand rand = gl_rand_system();
  gl_clock clock = gl_clock_real();
  char dir[512], ca_dir[600];
  tmpdir(dir, sizeof dir);
  snprintf(ca_dir, sizeof ca_dir, "%s/ca", dir);
  pki_ca_init_opts io = {.community = "bench"};
  pki_why why = {{0}};
  check(pki_ca_init(ca_dir, &io, &rand, &clock, &why), &why, "init");
  pki_ca *ca;
  check(pki_ca_open(ca_dir, NULL, &rand, &clock, &ca, &why), &why, "open");
  enum { N = 20 };
  int64_t s[RUNS];
  for (int r = 0; r < RUNS; r++) {
    char *csrs[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
      pki_key k;
      char id[32];
      snprintf(id, sizeof id, "meter-%d-%d", r, i);
      check(pki_key_generate(PKI_KEY_ED25519, &rand, &k), NULL, "key");
      check(pki_csr_create(&k, id, &csrs[i], &lens[i]), NULL, "csr");
    }
    int64_t t0 = gb_now_ns();
    for (int i = 0; i < N; i++) {
      pki_cert *c;
      check(pki_ca_sign_csr(ca, csrs[i], lens[i], NULL, &c, &why), &why,
            "sign");
      pki_cert_free(c);
    }
    s[r] = gb_now_ns() - t0;
    for (int i = 0; i < N; i++)
      free(csrs[i]);
  }
  gb_report("CA enrolment (sign CSR, durable)", s, RUNS, N, 1e6, "ms/csr");
  pki_ca_free(ca);
  rmtree(dir);
}

static void bench_verify(void) {
  gl_seeded_rand *sr = gl_seeded_rand_new(7);
  gl_rand rand = gl_seeded_rand_rand(sr);
  int64_t now = INT64_C(1795262400000000000);
  gl_manual_clock *mc = gl_manual_clock_new(now);
  gl_clock clock = gl_manual_clock_clock(mc);
  pki_key ca_key, k;
  pki_cert *ca, *leaf;
  uint8_t serial[PKI_SERIAL_RANDOM_LEN];
  int64_t day = INT64_C(86400) * GL_NS_PER_SEC;
  check(pki_key_generate(PKI_KEY_ED25519, &rand, &ca_key), NULL, "key");
  check(pki_serial_random(&rand, serial), NULL, "serial");
  pki_issue_opts co = {.subject_cn = "bench CA",
                       .is_ca = true,
                       .not_before = now - day,
                       .not_after = now + 3650 * day,
                       .serial = serial,
                       .serial_len = sizeof serial};
  check(pki_issue(&ca_key, NULL, &ca_key.pub, &co, &ca, NULL), NULL, "ca");
  check(pki_key_generate(PKI_KEY_ED25519, &rand, &k), NULL, "key");
  check(pki_serial_random(&rand, serial), NULL, "serial");
  pki_issue_opts lo = {.subject_cn = "meter-001",
                       .eku = PKI_EKU_CLIENT,
                       .not_before = now - day,
                       .not_after = now + 365 * day,
                       .serial = serial,
                       .serial_len = sizeof serial};
  check(pki_issue(&ca_key, ca, &k.pub, &lo, &leaf, NULL), NULL, "leaf");
  enum { NREV = 1000 };
  pki_crl_entry *e = calloc(NREV, sizeof *e);
  for (int i = 0; i < NREV; i++) {
    e[i].serial_len = PKI_SERIAL_RANDOM_LEN;
    check(pki_serial_random(&rand, e[i].serial), NULL, "serial");
    e[i].revoked_at = now - day;
    e[i].reason = PKI_REASON_KEY_COMPROMISE;
  }
  int64_t s[RUNS];
  char *pem = NULL;
  size_t len = 0;
  for (int r = 0; r < RUNS; r++) {
    free(pem);
    int64_t t0 = gb_now_ns();
    check(pki_crl_make(&ca_key, ca, (uint64_t)r + 1, now, now + 30 * day, e,
                       NREV, &pem, &len),
          NULL, "crl");
    s[r] = gb_now_ns() - t0;
  }
  gb_report("CRL issue, 1000 entries", s, RUNS, 1, 1e3, "us");
  pki_trust *t;
  pki_crl *crl;
  check(pki_trust_new(ca, &t, NULL), NULL, "trust");
  check(pki_crl_parse(pem, len, &crl, NULL), NULL, "parse");
  check(pki_trust_set_crl(t, crl, &clock, NULL), NULL, "set");
  enum { ITER = 2000 };
  for (int r = 0; r < RUNS; r++) {
    int64_t t0 = gb_now_ns();
    for (int i = 0; i < ITER; i++)
      check(pki_trust_verify(t, leaf, PKI_ROLE_METER, &clock, NULL, NULL), NULL,
            "verify");
    s[r] = gb_now_ns() - t0;
  }
  gb_report("trust verify of a meter certificate (CRL of 1000)", s, RUNS, ITER,
            1e3, "us");
  free(pem);
  free(e);
  pki_trust_free(t);
  pki_cert_free(leaf);
  pki_cert_free(ca);
  gl_manual_clock_free(mc);
  gl_seeded_rand_free(sr);
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  bench_dev_community(100);
  bench_dev_community(1000);
  bench_enrolment();
  bench_verify();
  printf("peak RSS: %ld KiB\n", gb_peak_rss_kib());
  return 0;
}
