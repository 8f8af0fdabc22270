/* SPDX-License-Identifier: MIT */
/*
 * systest.h - the system tests' common steps: a whole community as real
 * processes (the demo's fleet, gridlet/demo_fleet.h: real TLS mosquitto,
 * gridlet-aggregator, gridlet-sim devices, gridlet-meter agents, every one
 * on its own free loopback port, started and stopped by PID, all on one
 * accelerated clock), a client that speaks the protocol with one of the
 * community's spare identities (the attacker), and the checks every test
 * ends with:
 *
 *   - `gridlet-ledger audit` of the aggregator's database passes, and
 *     every balance it recomputes equals the sum of that meter's
 *     settlement entries;
 *   - every interval of the run is settled exactly once, energy and money
 *     conserved in each, every reading digest once, late readings by the
 *     documented rule (demo_ledger_verify);
 *   - every reading each household's meter signed for a settled interval
 *     is in the ledger exactly once, byte for byte
 *     (demo_ledger_check_meter), none left undelivered.
 *
 * Helpers fail the running cmocka test on any error. Single-threaded.
 */
#ifndef GRIDLET_SYSTEST_H
#define GRIDLET_SYSTEST_H

#include "gridlet/crypto.h"
#include "gridlet/demo_check.h"
#include "gridlet/demo_fleet.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_topic.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The virtual day every system test starts at: mid-morning, so the
 * households with PV have surplus and trade. */
#define ST_VSTART_UTC "2026-04-20T09:00:00Z"
/* 15-minute intervals of 2 s each. */
#define ST_SPEED 450

typedef struct st_opts {
  unsigned households; /* [4] */
  unsigned spare, spare_synced;
  uint32_t speed;    /* [ST_SPEED] */
  const char *grace; /* ["5m"] */
} st_opts;

typedef struct st {
  demo_fleet *f;
  const demo_fleet_info *in;
  int64_t L;     /* interval, ns */
  int64_t first; /* the first interval the meters run through */
} st;

/* st_up - build and start the fleet in a fresh directory tagged `tag`. */
void st_up(st *s, const char *tag, const st_opts *o);

/* st_next_interval - the start of the interval after the current one. */
int64_t st_next_interval(st *s);

/* st_wait_settled - wait (real time, at most 20 intervals) until the
 * interval starting at `start` is settled and its results published. */
void st_wait_settled(st *s, int64_t start);

/* st_run_intervals - let `n` more intervals pass and settle. */
void st_run_intervals(st *s, unsigned n);

/* st_metric - a metric of the aggregator (0 when absent). */
int64_t st_metric(st *s, const char *series);
/* st_rejected - the aggregator's rejection counter for `reason`. */
int64_t st_rejected(st *s, const char *reason);
/* st_wait_metric - wait until `series` >= want (real ms); its value. */
int64_t st_wait_metric(st *s, const char *series, int64_t want, int timeout_ms);

/* The result of st_finish. */
typedef struct st_result {
  demo_ledger_stats stats;
  int64_t readings; /* the households' readings in the ledger */
  int64_t late;     /* of which late */
  int64_t missing;  /* settlement rows without a reading (households) */
} st_result;

/*
 * st_finish - stop every process (meters first, the broker last), audit
 * the ledger, check every cross-entry rule and every household's readings
 * against the ledger, and that the settled intervals cover
 * [s->first, until) without a gap. Fails the test on any violation; on
 * success removes the directory.
 */
void st_finish(st *s, int64_t until, st_result *r);

/* ---- A client speaking the protocol with a spare identity ------------- */

typedef struct st_client {
  pr_mqtt *mqtt;
  char id[64];
  gl_ed25519_key key;
  int64_t seq;
} st_client;

/* st_client_open - connect as meter `i` of the fleet (its certificate and
 * key). Returns 0, or -1 when the broker refused or dropped the connection
 * (the client is then closed). */
int st_client_open(st *s, unsigned i, st_client *c);
/* st_client_open_files - the same with explicit files (a foreign CA). */
int st_client_open_files(st *s, const char *id, const char *ca,
                         const char *cert, const char *key, st_client *c);
void st_client_close(st_client *c);

/* st_publish - publish `len` bytes on `topic` at QoS 1 and wait for the
 * outcome: 0 acknowledged, or the MQTT 5 reason code of a refusal
 * (e.g. 0x87) / -1 when the connection was lost. */
int st_publish(st_client *c, const char *topic, const uint8_t *buf, size_t len);

/* st_topic - meter `id`'s topic of `kind` into buf (PR_TOPIC_MAX). */
char *st_topic(st *s, pr_topic_kind kind, const char *id, char *buf);

/* st_reading_msg - a plausible reading for the interval starting at
 * `start` from client `c` (next seq, sender = c->id). */
pr_msg st_reading_msg(st *s, st_client *c, int64_t start);

/* st_seal - seal `m` with `key` (NULL: the client's own) into buf
 * (PR_SEAL_MAX); its length. */
size_t st_seal(st_client *c, const pr_msg *m, const gl_ed25519_key *key,
               uint8_t *buf);

#endif /* GRIDLET_SYSTEST_H */
