/* SPDX-License-Identifier: MIT */
/*
 * aggtest.h - running the real gridlet-aggregator against a real TLS
 * mosquitto in integration tests, and speaking the protocol to it as
 * meters do: a development community (testcommunity.h), a ledger key, a
 * configuration file, `meters sync` through the real CLI, the daemon
 * started by PID on a shared accelerated clock, its HTTP API and metrics,
 * and "meters" that publish really signed messages with their enrolled
 * identities through the broker.
 */
#ifndef GRIDLET_AGGTEST_H
#define GRIDLET_AGGTEST_H

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/ledger_note.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_topic.h"
#include "testcommunity.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct agt_opts {
  unsigned meters;      /* enrolled at the CA */
  unsigned sync_upto;   /* meters synced to the aggregator (0: all) */
  uint32_t speed;       /* accelerated clock (>= 1) */
  const char *vstart;   /* virtual start, RFC 3339 */
  const char *mode;     /* "expost" (default), "exante", "continuous" */
  const char *interval; /* "1m" by default */
  const char *grace;    /* "0": the default */
  const char *extra;    /* more lines for the [market] section */
} agt_opts;

typedef struct agt {
  gt_community comm;
  agt_opts o;
  char conf[GT_PATH_MAX], db[GT_PATH_MAX], log[GT_PATH_MAX];
  char key[GT_PATH_MAX], cadir[GT_PATH_MAX];
  lg_signer log_key;
  char spec[GL_CLOCK_SPEC_MAX];
  gl_accel_clock *accel;
  gl_clock clock;
  uint16_t http;
  pid_t agg;
  int64_t interval;           /* ns */
  gl_ed25519_key agg_pub_key; /* only .pub is meaningful */
} agt;

/* agt_setup - community, keys, config, meters sync; the daemon is not
 * started yet. */
void agt_setup(agt *t, const char *tag, const agt_opts *o);
void agt_teardown(agt *t);

/* agt_start / agt_stop / agt_kill9 - the daemon, by PID. agt_start waits
 * until its HTTP API answers. `env` (may be NULL) adds environment. */
void agt_start(agt *t, char *const env[]);
int agt_stop(agt *t);
void agt_kill9(agt *t);
/* agt_wait_exit - wait for the daemon to exit by itself (crash points);
 * returns its wait status or -1. */
int agt_wait_exit(agt *t, int timeout_ms);

/* agt_sighup - reload the CRL and the meters. */
void agt_sighup(agt *t);

/* agt_now - the shared virtual time. */
int64_t agt_now(agt *t);
/* agt_sleep_until - sleep (real time) until the virtual time `v`. */
void agt_sleep_until(agt *t, int64_t v);

/* agt_http - GET `path` from the API; returns the status, *body (may be
 * NULL) gets the malloc'd body. */
int agt_http(agt *t, const char *path, char **body);
/* agt_json - GET and parse; asserts status 200. */
json_t *agt_json(agt *t, const char *path);
/* agt_metric - the value of the series `name{labels}` in /metrics (-1 if
 * absent). */
int64_t agt_metric(agt *t, const char *series);
/* agt_wait_metric - wait (up to timeout_ms real) until the series reaches
 * at least `want`; returns its last value. */
int64_t agt_wait_metric(agt *t, const char *series, int64_t want,
                        int timeout_ms);
/* agt_wait_settled - wait until the interval starting at `start` is
 * settled with results signed (state signed or published). */
void agt_wait_settled(agt *t, int64_t start, int timeout_ms);

/* A message a meter received (copied out of the MQTT client). */
typedef struct agt_rx {
  struct agt_rx *next;
  char topic[PR_TOPIC_MAX];
  uint8_t *payload;
  size_t len;
  uint8_t corr[64];
  size_t corr_len;
} agt_rx;

/* A meter speaking the protocol with its enrolled identity. Messages that
 * arrive while a helper waits for something else are kept in order. */
typedef struct agt_meter {
  gt_identity id;
  gl_ed25519_key key;
  pr_mqtt *mqtt;
  int64_t seq;
  agt_rx *head, *tail;
} agt_meter;

void agt_meter_open(agt *t, unsigned i, agt_meter *m);
void agt_meter_close(agt_meter *m);
/* agt_seal - seal `msg` with `key` (NULL: the meter's own). Returns the
 * length; `buf` must hold PR_SEAL_MAX. */
size_t agt_seal(agt_meter *m, const pr_msg *msg, const gl_ed25519_key *key,
                uint8_t *buf);
/* agt_publish - publish bytes on the meter's topic of `kind` (or on
 * `topic` when not NULL) and wait for the broker's PUBACK (asserts ok). */
void agt_publish(agt *t, agt_meter *m, pr_topic_kind kind, const char *topic,
                 const uint8_t *buf, size_t len);
/* agt_reading - a reading of [start, start + interval) with the next seq,
 * ts = now; sealed and published. Returns the seq. */
int64_t agt_reading(agt *t, agt_meter *m, int64_t start, int64_t imp,
                    int64_t exp);
/* agt_subscribe - subscribe the meter to its inbox and the public topics. */
void agt_subscribe(agt *t, agt_meter *m);
/* agt_next_message - the next message received (topic and payload into
 * the given buffers), waiting up to timeout_ms. Returns its length or -1.
 * `corr`/`corr_len` (may be NULL) get its correlation data. */
int agt_next_message(agt_meter *m, char *topic, size_t tcap, uint8_t *buf,
                     size_t cap, int timeout_ms);
int agt_next_message_corr(agt_meter *m, char *topic, size_t tcap, uint8_t *buf,
                          size_t cap, uint8_t *corr, size_t *corr_len,
                          int timeout_ms);

/* ---- Real meters and the device simulator -------------------------------- */

/* `gridlet-sim devices` serving `households` households on the shared
 * clock; `extra` is one more argument (e.g. "--no-battery") or NULL. */
typedef struct agt_sim {
  pid_t pid;
  uint16_t port[16];
  char log[GT_PATH_MAX];
} agt_sim;

void agt_sim_start(agt *t, agt_sim *s, int households, const char *extra);
void agt_sim_stop(agt_sim *s);

/* A real gridlet-meter reading household `household` of the simulator. */
typedef struct agt_proc_meter {
  pid_t pid;
  gt_identity id;
  char conf[GT_PATH_MAX], db[GT_PATH_MAX], log[GT_PATH_MAX];
} agt_proc_meter;

/* Write its configuration (interval, clock-friendly timings, the ledger's
 * verifier key so it checks its receipts with proofs); `trading` is extra
 * [trading] lines (may be NULL). */
void agt_meter_proc_config(agt *t, agt_proc_meter *m, unsigned index,
                           const agt_sim *sim, int household,
                           const char *trading);
void agt_meter_proc_start(agt *t, agt_proc_meter *m);
/* SIGTERM; returns the wait status. */
int agt_meter_proc_stop(agt_proc_meter *m);
/* `gridlet-meter status` for it: exit status, report in *report (owned). */
int agt_meter_proc_status(agt_proc_meter *m, char **report);

/* agt_run_cli - run a program with arguments (NULL-terminated), its output
 * to `out` (may be NULL: the daemon log dir); returns its exit status. */
int agt_run_cli(char *const argv[], const char *out);

/* agt_bin - the path of a built program ("aggregator/gridlet-aggregator"). */
char *agt_bin(char out[GT_PATH_MAX], const char *rel);

#endif
