/* SPDX-License-Identifier: MIT */
/*
 * dev.c - a whole development community in one call. See gridlet/pki_dev.h
 * for the layout. Every meter is enrolled through the production path
 * (key, CSR, pki_ca_sign_csr); only fsync is skipped.
 */
#include "gridlet/pki_dev.h"

#include "internal.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_broker.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_csr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_MAX 4096

int pki_dev_meter_id(const pki_dev_opts *opts, unsigned i, char *buf,
                     size_t size) {
  const char *prefix =
      opts && opts->meter_prefix ? opts->meter_prefix : "meter-";
  int n = snprintf(buf, size, "%s%03u", prefix, i);
  return n < 0 || (size_t)n >= size ? GL_ETOOBIG : 0;
}

/* A throw-away file: no fsync. */
static int put(const char *dir, const char *name, const char *data, size_t len,
               mode_t mode, pki_why *why) {
  char p[P_MAX];
  if (pki__path(p, sizeof p, dir, name))
    return pki__fail(why, GL_ETOOBIG, "path too long");
  return pki__write_file(p, data, len, mode, PKI__W_NOSYNC, why);
}

static int put_key(const char *dir, const char *name, const pki_key *key,
                   pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_key_to_pem(key, &pem, &n);
  if (rc)
    return rc;
  rc = put(dir, name, pem, n, 0600, why);
  gl_wipe(pem, n);
  free(pem);
  return rc;
}

static int put_cert(const char *dir, const char *name, const pki_cert *cert,
                    pki_why *why) {
  char *pem;
  size_t n;
  int rc = pki_cert_to_pem(cert, &pem, &n);
  if (rc)
    return rc;
  rc = put(dir, name, pem, n, 0644, why);
  free(pem);
  return rc;
}

static int copy_file(const char *src, const char *dir, const char *name,
                     pki_why *why) {
  char *data;
  size_t len;
  int rc = pki__read_file(src, 4 * 1024 * 1024, &data, &len, NULL, why);
  if (rc)
    return rc;
  rc = put(dir, name, data, len, 0644, why);
  free(data);
  return rc;
}

static int aggregator(pki_ca *ca, const char *dir, const pki_dev_opts *o,
                      const gl_rand *rand, const char *ca_pem,
                      size_t ca_pem_len, pki_why *why) {
  static const char *const dns[] = {"localhost"};
  static const char *const ips[] = {"127.0.0.1", "::1"};
  pki_ca_service_opts so = {.name = PKI_NAME_AGGREGATOR,
                            .dns = dns,
                            .n_dns = 1,
                            .ips = ips,
                            .n_ips = 2};
  pki_key key;
  pki_cert *cert = NULL;
  char crl[P_MAX];
  int rc = pki__mkdir(dir, 0755, why);
  if (rc == 0)
    rc = pki_key_generate(o->key_type, rand, &key);
  if (rc == 0)
    rc = pki_ca_issue_service(ca, &so, &key.pub, &cert, why);
  if (rc == 0)
    rc = put_key(dir, "aggregator.key", &key, why);
  if (rc == 0)
    rc = put_cert(dir, "aggregator.pem", cert, why);
  if (rc == 0)
    rc = put(dir, "ca.pem", ca_pem, ca_pem_len, 0644, why);
  if (rc == 0 &&
      (rc = pki__path(crl, sizeof crl, pki_ca_dir(ca), "crl.pem")) == 0)
    rc = copy_file(crl, dir, "crl.pem", why);
  pki_key_wipe(&key);
  pki_cert_free(cert);
  return rc;
}

/* One household: the key made "on the device", its CSR, the CA's check
 * and signature, the files the meter daemon reads. */
static int meter(pki_ca *ca, const char *meters_dir, const char *id,
                 const pki_dev_opts *o, const gl_rand *rand, const char *ca_pem,
                 size_t ca_pem_len, pki_why *why) {
  char dir[P_MAX];
  if (pki__path(dir, sizeof dir, meters_dir, id))
    return pki__fail(why, GL_ETOOBIG, "path too long");
  pki_key key;
  pki_cert *cert = NULL;
  char *csr = NULL;
  size_t csr_len = 0;
  int rc = pki__mkdir(dir, 0755, why);
  if (rc == 0)
    rc = pki_key_generate(o->key_type, rand, &key);
  if (rc == 0)
    rc = pki_csr_create(&key, id, &csr, &csr_len);
  if (rc == 0)
    rc = put_key(dir, "meter.key", &key, why);
  if (rc == 0)
    rc = put(dir, "meter.csr", csr, csr_len, 0644, why);
  if (rc == 0)
    rc = pki_ca_sign_csr(ca, csr, csr_len, NULL, &cert, why);
  if (rc == 0)
    rc = put_cert(dir, "meter.pem", cert, why);
  if (rc == 0)
    rc = put(dir, "ca.pem", ca_pem, ca_pem_len, 0644, why);
  pki_key_wipe(&key);
  pki_cert_free(cert);
  free(csr);
  return rc;
}

int pki_dev_community(const char *dir, const pki_dev_opts *opts,
                      const gl_rand *rand, const gl_clock *clock,
                      pki_why *why) {
  pki_dev_opts o = *opts;
  if (!o.community)
    o.community = "demo";
  if (!o.bind)
    o.bind = "127.0.0.1";
  if (!o.log_dest)
    o.log_dest = "stdout";
  if (o.meters > PKI_DEV_MAX_METERS)
    return pki__fail(why, GL_EINVAL, "at most %d meters", PKI_DEV_MAX_METERS);
  char ca_dir[P_MAX], broker_dir[P_MAX], agg_dir[P_MAX], meters_dir[P_MAX];
  if (pki__path(ca_dir, sizeof ca_dir, dir, "ca") ||
      pki__path(broker_dir, sizeof broker_dir, dir, "broker") ||
      pki__path(agg_dir, sizeof agg_dir, dir, "aggregator") ||
      pki__path(meters_dir, sizeof meters_dir, dir, "meters"))
    return pki__fail(why, GL_ETOOBIG, "path too long");
  int rc = pki__mkdir(dir, 0755, why);
  if (rc)
    return rc;
  pki_ca_init_opts io = {
      .community = o.community, .key_type = o.key_type, .no_sync = true};
  rc = pki_ca_init(ca_dir, &io, rand, clock, why);
  if (rc)
    return rc;
  pki_ca *ca;
  pki_ca_open_opts oo = {.no_sync = true};
  rc = pki_ca_open(ca_dir, &oo, rand, clock, &ca, why);
  if (rc)
    return rc;
  char *ca_pem = NULL;
  size_t ca_pem_len = 0;
  rc = pki_cert_to_pem(pki_ca_cert(ca), &ca_pem, &ca_pem_len);
  pki_broker_opts bo = {
      .out_dir = broker_dir,
      .bind = o.bind,
      .port = o.port,
      .run_as_user = o.run_as_user,
      .log_dest = o.log_dest,
      .key_type = o.key_type,
  };
  if (rc == 0)
    rc = pki_broker_config(ca, &bo, why);
  if (rc == 0)
    rc = aggregator(ca, agg_dir, &o, rand, ca_pem, ca_pem_len, why);
  if (rc == 0)
    rc = pki__mkdir(meters_dir, 0755, why);
  for (unsigned i = 1; rc == 0 && i <= o.meters; i++) {
    char id[PKI_METER_ID_MAX];
    rc = pki_dev_meter_id(&o, i, id, sizeof id);
    if (rc == 0)
      rc = meter(ca, meters_dir, id, &o, rand, ca_pem, ca_pem_len, why);
  }
  free(ca_pem);
  pki_ca_free(ca);
  if (rc == 0)
    GL_INFO(PKI__LOG, "development community \"%s\" with %u meters in %s",
            o.community, o.meters, dir);
  return rc;
}
