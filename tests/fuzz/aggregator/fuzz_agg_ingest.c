/* SPDX-License-Identifier: MIT */
/*
 * Fuzz a meter's messages through the aggregator: verification, the
 * stateful checks, storage, and settlement of what gets accepted.
 *
 * Input: byte 0 picks the topic kind (low two bits: reading, order,
 * status, proof) and whether the rest is a raw COSE message (bit 2) or a
 * JSON payload that the harness signs with the enrolled meter's key (so
 * it reaches everything after the signature check); the low two bits of
 * byte 1 move the clock forward by 0, 5, 10 or 15 minutes first. Every 32
 * inputs the batch is committed and the market settles whatever is due, so
 * fuzzed readings, prefs and orders also go through clearing, settlement
 * and the ledger, whose invariants are asserted there.
 */
#include "gridlet/agg_config.h"
#include "gridlet/agg_ingest.h"
#include "gridlet/agg_market.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_store.h"
#include "gridlet/agg_verify.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/pr_cose.h"
#include "gridlet/pr_topic.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
  bool ready;
  agg_config cfg;
  gl_manual_clock *mc;
  gl_clock clock, real;
  agg_store *st;
  agg_meters *meters;
  agg_outbox *ob;
  agg_market *mk;
  agg_ingest *in;
  pr_keyring kr;
  lg_signer log_key;
  gl_ed25519_key agg_key, key;
  unsigned n;
} F;

static char dir[] = "/tmp/gridlet-fuzzagg-XXXXXX";

/* Remove the database at exit (the fuzzer exits through exit()). */
static void cleanup(void) {
  static const char *const files[] = {"agg.db", "agg.db-wal", "agg.db-shm"};
  char p[96];
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  rmdir(dir);
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_agg_ingest setup: %s\n", what);
  abort();
}

static void setup(void) {
  gl_log_set_level(GL_LOG_ERROR);
  if (!mkdtemp(dir))
    die("mkdtemp");
  atexit(cleanup);
  agg_config_defaults(&F.cfg);
  snprintf(F.cfg.community, sizeof F.cfg.community, "fz");
  snprintf(F.cfg.latitude, sizeof F.cfg.latitude, "47");
  snprintf(F.cfg.longitude, sizeof F.cfg.longitude, "8");
  snprintf(F.cfg.db_path, sizeof F.cfg.db_path, "%s/agg.db", dir);
  F.cfg.http_listen[0] = '\0';
  if (agg_config_check(&F.cfg, NULL) != 0)
    die("config");
  F.mc = gl_manual_clock_new(INT64_C(1782036000000000000));
  F.clock = gl_manual_clock_clock(F.mc);
  F.real = gl_clock_real();
  uint8_t seed[32] = {1};
  if (gl_ed25519_from_seed(seed, &F.key) != 0)
    die("key");
  seed[0] = 2;
  if (gl_ed25519_from_seed(seed, &F.agg_key) != 0)
    die("key");
  seed[0] = 3;
  if (lg_signer_from_seed(F.cfg.origin, LG_SIG_ED25519, seed, &F.log_key))
    die("log key");
  if (agg_store_open(F.cfg.db_path, true, false, &F.st) != 0)
    die("store");
  agg_meter_rec m = {.state = AGG_METER_ACTIVE,
                     .not_after = INT64_MAX,
                     .cert = (const uint8_t *)"\x30\x00",
                     .cert_len = 2};
  snprintf(m.id, sizeof m.id, "m1");
  snprintf(m.serial, sizeof m.serial, "01");
  memcpy(m.pub, F.key.pub, 32);
  if (agg_store_meter_put(F.st, &m) != 0 ||
      agg_meters_new(&F.clock, &F.meters) != 0 ||
      agg_meters_load(F.meters, F.st, NULL, NULL) != 0 ||
      agg_outbox_new(F.st, NULL, &F.ob) != 0)
    die("meters");
  F.kr = agg_meters_keyring(F.meters);
  agg_market_deps md = {.cfg = &F.cfg,
                        .st = F.st,
                        .meters = F.meters,
                        .outbox = F.ob,
                        .clock = &F.clock,
                        .real = &F.real,
                        .log_key = &F.log_key,
                        .agg_key = &F.agg_key,
                        .threads = 1};
  if (agg_market_new(&md, &F.mk) != 0 || agg_market_start(F.mk) != 0 ||
      agg_market_reserve_seqs(F.mk, 100000) != 0)
    die("market");
  agg_market_online(F.mk, 0);
  agg_ingest_deps id = {.cfg = &F.cfg,
                        .st = F.st,
                        .meters = F.meters,
                        .market = F.mk,
                        .outbox = F.ob,
                        .clock = &F.clock,
                        .real = &F.real};
  if (agg_ingest_new(&id, &F.in) != 0)
    die("ingest");
  F.ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!F.ready)
    setup();
  if (size < 2)
    return 0;
  static const pr_topic_kind kinds[] = {PR_TOPIC_READING, PR_TOPIC_ORDER,
                                        PR_TOPIC_STATUS,
                                        PR_TOPIC_PROOF_REQUEST};
  pr_topic_kind kind = kinds[data[0] & 3];
  bool raw = data[0] & 4;
  /* 0, 5, 10 or 15 minutes: a few intervals per settlement round, so the
   * fuzzer spends its time on messages, not on empty intervals. */
  gl_manual_clock_advance(F.mc,
                          (int64_t)(data[1] & 3) * 5 * 60 * GL_NS_PER_SEC);
  data += 2;
  size -= 2;
  agg_job *j = calloc(1, sizeof *j);
  if (!j)
    return 0;
  pr_topic_build(kind, "fz", "m1", j->topic, sizeof j->topic);
  j->topic_len = strlen(j->topic);
  if (raw) {
    if (size > sizeof j->buf)
      size = sizeof j->buf;
    memcpy(j->buf, data, size);
    j->len = size;
  } else if (pr_cose_sign(&F.key, "m1", 2, data, size, j->buf, sizeof j->buf,
                          &j->len) != 0) {
    free(j);
    return 0;
  }
  j->received = gl_clock_now(&F.clock);
  agg_verify_job(j, "fz", &F.kr, &F.real);
  agg_reason r;
  if (agg_ingest_process(F.in, j, &r, NULL) != 0)
    abort(); /* storage failed: never on valid or invalid input */
  free(j);
  if (++F.n % 32 == 0) {
    if (agg_ingest_flush(F.in) != 0)
      abort();
    if (agg_market_reserve_seqs(F.mk, 100000) != 0 ||
        agg_market_tick(F.mk, gl_clock_now(&F.clock), true, NULL) != 0)
      abort();
  }
  return 0;
}
