/* SPDX-License-Identifier: MIT */
/*
 * fuzz_world.h - a fixed little PKI shared by the certs/ fuzz targets: a
 * deterministic Ed25519 CA (seeded generator, fixed clock) and a trust in
 * it, so fuzzed certificates and CRLs that stay close to the seeds reach
 * the signature, validity, revocation and role checks, not just parsing.
 *
 * With GRIDLET_PKI_FUZZ_SEEDS=<dir> in the environment, fz_write_seeds
 * writes valid inputs of this world (what the committed corpora hold) so
 * they can be regenerated.
 */
#ifndef GRIDLET_FUZZ_WORLD_H
#define GRIDLET_FUZZ_WORLD_H

#include "gridlet/clock.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_trust.h"

typedef struct fz_world {
  pki_key ca_key;
  pki_cert *ca;
  pki_trust *trust;
  gl_clock clock;
  int64_t now;
} fz_world;

/* The world, built on first use; also silences warn-level logging (every
 * refusal is logged, which would drown the fuzzer's output). */
fz_world *fz_get(void);

/* Write seeds of `kind` ("cert", "csr", "crl", "key") into the directory
 * named by GRIDLET_PKI_FUZZ_SEEDS, if set. */
void fz_write_seeds(const char *kind);

#endif
