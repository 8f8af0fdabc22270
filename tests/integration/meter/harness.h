/* SPDX-License-Identifier: MIT */
/*
 * harness.h - what the meter's integration tests share: the device
 * simulator and gridlet-meter as real processes (by PID), one shared
 * accelerated clock, and an MQTT client with the aggregator's identity
 * that collects and verifies everything meters publish (and can publish
 * as the aggregator). Everything is real: the TLS broker of a development
 * community (testcommunity.h), Modbus over TCP, SQLite files.
 */
#ifndef GRIDLET_METER_HARNESS_H
#define GRIDLET_METER_HARNESS_H

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_seal.h"
#include "testcommunity.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MH_SEC GL_NS_PER_SEC
#define MH_MIN (60 * GL_NS_PER_SEC)

/* ---- Clock ------------------------------------------------------------- */

/* A shared accelerated clock: virtual time starts at the last interval
 * boundary (of `interval`) before real now + `offset`, anchored at real
 * now. `spec` receives the --clock text; *clock (may be NULL) the same
 * clock for the test itself (free *owned with gl_accel_clock_free). */
void mh_clock(uint32_t speed, int64_t interval, int64_t offset,
              char spec[GL_CLOCK_SPEC_MAX], gl_clock *clock,
              gl_accel_clock **owned);

/* ---- Device simulator ---------------------------------------------------- */

typedef struct mh_sim {
  pid_t pid;
  uint16_t port[4]; /* household i's Modbus TCP port */
  uint16_t control;
  char log[GT_PATH_MAX];
} mh_sim;

/* Start `gridlet-sim devices -n households --control --clock spec` with a
 * fixed seed and `extra` (one more argument, e.g. "--no-battery", or
 * NULL); waits for "ready". */
void mh_sim_start(mh_sim *s, const char *dir, const char *clock_spec,
                  int households, const char *extra);
/* One control-port line ("fault reset household=0 device=meter"); returns
 * the reply line in a static buffer. */
const char *mh_sim_cmd(const mh_sim *s, const char *line);
void mh_sim_stop(mh_sim *s);

/* ---- gridlet-meter ---------------------------------------------------------
 */

typedef struct mh_meter {
  pid_t pid;
  gt_identity id;
  char dir[GT_PATH_MAX], conf[GT_PATH_MAX], db[GT_PATH_MAX], log[GT_PATH_MAX];
} mh_meter;

/*
 * mh_meter_config - write a configuration for meter `index` (1-based) of
 * the community reading household `household` of the simulator, with
 * `extra` appended (INI text: later sections override nothing, so give
 * only keys the base does not set: see harness.c). `uri` NULL: the
 * community's broker.
 */
void mh_meter_config(mh_meter *m, const gt_community *c, unsigned index,
                     const mh_sim *sim, int household, const char *uri,
                     const char *meter_extra, const char *extra);
void mh_meter_start(mh_meter *m, const char *clock_spec);
/* SIGTERM; asserts a clean exit (status 0). */
void mh_meter_stop(mh_meter *m);
void mh_meter_kill9(mh_meter *m);

/* ---- The aggregator's side -------------------------------------------------
 */

/* One message a meter published, verified. */
typedef struct mh_rec {
  char topic[PR_TOPIC_MAX];
  pr_topic t;
  pr_msg *m; /* owned */
  uint8_t *bytes;
  size_t len;
  bool retained;
  char response_topic[PR_TOPIC_MAX];
  uint8_t corr[16];
  size_t corr_len;
} mh_rec;

typedef struct mh_agg {
  pr_mqtt *mqtt;
  gl_ed25519_key key; /* the aggregator's signing key */
  pr_key_entry keys[8];
  char kids[8][64];
  pr_key_table table;
  pr_keyring ring;
  mh_rec *recs;
  size_t n, cap;
  size_t rejected;
  bool connected;
  int64_t seq;
} mh_agg;

/* Connect as the aggregator and subscribe to every meter topic; knows
 * the keys of meters 1..nmeters. */
void mh_agg_start(mh_agg *a, const gt_community *c, unsigned nmeters);
/* Handle events for up to `ms` real milliseconds. Messages that fail
 * pr_open are counted in a->rejected (and fail the test unless
 * `tolerate_rejects`). */
void mh_agg_pump(mh_agg *a, int ms);
/* Wait until subscribed after a (re)connect. */
void mh_agg_wait_subscribed(mh_agg *a, int timeout_ms);
/* Publish `m` signed by the aggregator on `topic`. */
void mh_agg_publish(mh_agg *a, const char *topic, pr_msg *m, bool retain,
                    const void *corr, size_t corr_len);
void mh_agg_free(mh_agg *a);

/* Count readings of `sender` and check: seq never reused with different
 * bytes across everything received (all types). */
void mh_check_seq_unique(const mh_agg *a);

/*
 * mh_readings - the readings of `sender`, deduplicated by seq (identical
 * bytes), sorted by interval start; asserts there is at most one reading
 * per interval. Returns the count; *out (owned, free()) the readings.
 */
size_t mh_readings(const mh_agg *a, const char *sender, pr_msg ***out);

/* Wall-time helpers for waiting in virtual time. */
void mh_wait_virtual(const gl_clock *clock, int64_t until);

#endif
