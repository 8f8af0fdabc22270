/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_pub.h - the delivery side of the meter: the durable outbox,
 * publishing it over MQTT in order, and re-sending readings that got no
 * receipt. docs/protocol.md "Delivery and receipts" is the contract this
 * implements; in short:
 *
 *  1. A message is admitted to the outbox (mtr_pub_admit) inside the
 *     caller's transaction that also allocated its seq and signed it.
 *  2. While connected, the outbox is published in seq order at QoS 1, at
 *     most `inflight` messages awaiting PUBACK. A row leaves the outbox
 *     only on PUBACK (ok); a reading then waits for its receipt (state
 *     AWAITING, due at max(interval end + receipt_wait, now + interval);
 *     the time of that first PUBACK is recorded).
 *     After any failed publish (connection lost, refusal) publishing
 *     restarts from the oldest row once nothing is in flight, so the
 *     broker sees the outbox in order. A refusal by the broker (a reason
 *     code >= 0x80, e.g. 0x87 not authorised) pauses publishing for a
 *     minute, doubling up to an hour, with an error in the log each time.
 *     A row refused REFUSALS_MAX (5) times while the broker takes other
 *     messages (or refused for what it is: 0x90 topic name invalid, 0x95
 *     packet too large, 0x99 payload format invalid) is set aside so that
 *     the rows behind it flow: it leaves the outbox, a reading keeps its
 *     bytes in the readings table as REFUSED, and an alarm (`refused`) is
 *     raised and counted (outbox_refused). When the broker refuses
 *     everything (our permission is wrong), nothing is set aside: the
 *     outbox waits, in order (with one message in flight at a time, the
 *     row behind a head refused REFUSALS_MAX times is tried once to tell
 *     the two apart). A row the client cannot publish at all is
 *     logged once, retried at the same pace, and set aside after
 *     FAILURES_MAX (3) tries when the message itself is at fault (too big,
 *     invalid).
 *  3. When the outbox has nothing left to send, AWAITING readings whose
 *     due time has passed are published again, the same bytes (same seq),
 *     and due again after receipt_wait, doubling with each re-send (at
 *     most 64 x receipt_wait). After receipt_give_up past their first
 *     PUBACK (not their interval: a reading that waited out a long broker
 *     outage gets its full time) they are given up (state UNCONFIRMED,
 *     logged, counted).
 *  4. Orders whose gate closure passed are dropped unsent (logged).
 *
 * Full outbox (max_messages rows): first orders whose gate closed are
 * dropped, then the oldest queued order or prefs message (a reading is
 * worth more than an order), then readings by the configured policy:
 * drop-oldest drops the oldest queued reading, drop-newest refuses the new
 * one. A dropped reading is logged as an error, counted (outbox_dropped)
 * and kept in the readings table as DROPPED, so the gap is visible in
 * `gridlet-meter status`; its seq is never reused.
 *
 * Everything else the meter publishes (status, proof requests) goes out
 * directly through mtr_pub_direct and is not retried here.
 *
 * One thread (the agent's event loop). Functions return 0 or a store
 * error (GL_ESTORE), which stops the agent.
 */
#ifndef GRIDLET_MTR_PUB_H
#define GRIDLET_MTR_PUB_H

#include "gridlet/mtr_store.h"
#include "gridlet/pr_mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtr_pub_cfg {
  int64_t outbox_max;      /* rows */
  int when_full;           /* mtr_full_policy */
  int inflight;            /* 1..64 */
  int64_t interval_ns;     /* the delivery interval */
  int64_t receipt_wait_ns; /* re-send after this past the interval end */
  int64_t give_up_ns;      /* stop re-sending after this past the end */
  /* Optional: called when the broker acknowledged outbox row `seq` of
   * `kind` (mtr_msg_kind), inside the transaction that deletes it; a
   * non-zero return (a store error) rolls it back and is returned. */
  int (*on_acked)(void *ctx, int kind, int64_t seq);
  void *ctx;
} mtr_pub_cfg;

typedef struct mtr_pub mtr_pub;

/* mtr_pub_new - over `store` and `mqtt` (both borrowed; mqtt may be NULL
 * for admission only). Returns 0 or GL_ENOMEM / GL_EINVAL. */
int mtr_pub_new(const mtr_pub_cfg *cfg, mtr_store *store, pr_mqtt *mqtt,
                mtr_pub **out);

/* mtr_pub_free - release; NULL is a no-op. */
void mtr_pub_free(mtr_pub *p);

/*
 * mtr_pub_admit - apply the full-outbox policy and insert `row`, inside
 * the caller's transaction. *admitted (may be NULL) tells whether the row
 * went in (false: drop-newest refused it; the caller marks the reading
 * DROPPED).
 */
int mtr_pub_admit(mtr_pub *p, const mtr_outbox_row *row, int64_t now,
                  bool *admitted);

/* mtr_pub_connected / mtr_pub_disconnected - the broker connection's
 * state changed. */
void mtr_pub_connected(mtr_pub *p);
void mtr_pub_disconnected(mtr_pub *p);

/*
 * mtr_pub_pump - publish what can be published now (outbox, then due
 * re-sends) and give up stale readings. Call after every event.
 */
int mtr_pub_pump(mtr_pub *p, int64_t now);

/* mtr_pub_published - the outcome of a publish (a PR_MQTT_PUBLISHED
 * event). Tokens of mtr_pub_direct are ignored. */
int mtr_pub_published(mtr_pub *p, uint64_t token, bool ok, int reason,
                      int64_t now);

/*
 * mtr_pub_direct - publish a message that is not queued (status, proof
 * requests). Returns 0 or pr_mqtt_publish's error (GL_ECONN, GL_EAGAIN,
 * ...); the message is then simply not sent.
 */
int mtr_pub_direct(mtr_pub *p, const pr_mqtt_msg *msg);

/* mtr_pub_idle - nothing in flight (for an orderly shutdown). */
bool mtr_pub_idle(const mtr_pub *p);

/*
 * mtr_pub_ready - whether mtr_pub_direct can publish now: connected, and
 * fewer messages in flight than the broker took at once when it last said
 * its window was full. Check it before spending a sequence number on a
 * message that is not queued.
 */
bool mtr_pub_ready(const mtr_pub *p);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_PUB_H */
