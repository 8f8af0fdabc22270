/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_dev.h - a whole throw-away community in one call, for tests,
 * benchmarks and the demo.
 *
 * pki_dev_community builds, under `dir`:
 *   ca/                    a CA (gridlet/pki_ca.h layout)
 *   broker/                mosquitto.conf, acl, ca.pem, crl.pem,
 *                          broker.pem, broker.key (gridlet/pki_broker.h)
 *   aggregator/            aggregator.pem, aggregator.key, ca.pem, crl.pem
 *   meters/<id>/           meter.key, meter.csr, meter.pem, ca.pem
 * Meter ids are <prefix><NNN> from 001. Every meter goes through the real
 * enrolment path (key made "on the device", CSR, CA checks and signs), so
 * the development community exercises the production code. It differs from
 * production only in skipping fsync (pki_ca_open_opts.no_sync): nothing in
 * it is worth keeping after a crash.
 */
#ifndef GRIDLET_PKI_DEV_H
#define GRIDLET_PKI_DEV_H

#include "gridlet/clock.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_why.h"
#include "gridlet/rand.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PKI_DEV_MAX_METERS 100000

typedef struct pki_dev_opts {
  const char *community;    /* NULL: "demo" */
  unsigned meters;          /* 0..PKI_DEV_MAX_METERS */
  const char *meter_prefix; /* NULL: "meter-" */
  uint16_t port;            /* broker port; 0: 8883 */
  const char *bind;         /* NULL: "127.0.0.1" */
  const char *run_as_user;  /* see pki_broker_opts */
  const char *log_dest;     /* see pki_broker_opts; NULL: "stdout" */
  pki_key_type key_type;    /* for every key; default Ed25519 */
} pki_dev_opts;

/*
 * pki_dev_community - build the community above in `dir` (created if
 * missing; must not already hold a CA). Keys come from `rand` (a seeded
 * generator makes the same keys every run), times from `clock`. Returns 0
 * or the first error, with the reason.
 */
int pki_dev_community(const char *dir, const pki_dev_opts *opts,
                      const gl_rand *rand, const gl_clock *clock, pki_why *why);

/*
 * pki_dev_meter_id - the id of meter `i` (1-based) under `opts` (may be
 * NULL) into `buf` of `size` bytes. Returns 0 or GL_ETOOBIG.
 */
int pki_dev_meter_id(const pki_dev_opts *opts, unsigned i, char *buf,
                     size_t size);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_DEV_H */
