/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_outbox.h - getting the aggregator's signed messages to the
 * broker, exactly as stored, after any crash.
 *
 * Durable messages (results, summaries, checkpoints) are committed to the
 * agg_outbox table, with the sequence numbers they carry, before anything
 * is published; this module publishes them in table order at QoS 1 and
 * deletes each row once the broker acknowledged it (PUBACK). After a
 * restart it simply starts again from the table, so a message may reach a
 * meter twice (byte-identical: a harmless duplicate) but is never lost and
 * never signed twice under one number.
 *
 * Ordering rule (docs/protocol.md, "result"): a row carries `hold`, the
 * ledger size its content cites; it is published only after a checkpoint
 * of at least that size has been acknowledged on public/checkpoint. Of
 * several checkpoint rows waiting, only the newest is published (it is
 * retained; the older ones are dropped).
 *
 * Transient messages (proof responses, results re-sent as receipts) are
 * kept in memory only and go before durable ones; if the process dies
 * they are gone, and the meter asks again.
 *
 * The broker's receive window bounds the messages in flight
 * (pr_mqtt_publish returns GL_EAGAIN): the module keeps the rest queued
 * and continues on each PR_MQTT_PUBLISHED event. Row deletions and the
 * acknowledged checkpoint size are written by agg_outbox_flush inside the
 * caller's transaction, so acknowledgements cost no commit of their own.
 *
 * Thread-safety: the event loop's.
 */
#ifndef GRIDLET_AGG_OUTBOX_H
#define GRIDLET_AGG_OUTBOX_H

#include "gridlet/agg_metrics.h"
#include "gridlet/agg_store.h"
#include "gridlet/pr_mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agg_outbox agg_outbox;

/*
 * agg_outbox_new - a publisher over `st` (borrowed). `metrics` may be
 * NULL. Reads the acknowledged checkpoint size from the database.
 * Returns 0 and an owned handle, GL_ENOMEM or a storage error.
 */
int agg_outbox_new(agg_store *st, agg_metrics *metrics, agg_outbox **out);

/* agg_outbox_free - release (unsent transient messages are dropped). */
void agg_outbox_free(agg_outbox *ob);

/* agg_outbox_notify - rows were added to the table: look again. */
void agg_outbox_notify(agg_outbox *ob);

/*
 * agg_outbox_transient - queue a message that is not stored (copied).
 * `response_topic`/`correlation` may be NULL/0. Returns 0 or GL_ENOMEM.
 */
int agg_outbox_transient(agg_outbox *ob, agg_pub kind, const char *topic,
                         const uint8_t *bytes, size_t len,
                         const uint8_t *correlation, size_t corr_len);

/*
 * agg_outbox_pump - publish what may go now, until the broker's window is
 * full. `mqtt` may be NULL or disconnected (then nothing happens).
 * `now` is a monotonic time in ns (a refused message waits a few seconds
 * before its next attempt). Returns 0 or a storage error (reading the
 * table).
 */
int agg_outbox_pump(agg_outbox *ob, pr_mqtt *mqtt, int64_t now);

/*
 * agg_outbox_published - a PR_MQTT_PUBLISHED event; returns true when the
 * token was one of ours. Failures are re-queued (a refused message is
 * retried after a pause and logged).
 */
bool agg_outbox_published(agg_outbox *ob, const pr_mqtt_event *ev);

/* agg_outbox_disconnected - the connection dropped; nothing is in flight
 * any more from the broker's point of view (pr_mqtt reports each lost
 * message as a failed PUBLISHED event as well). */
void agg_outbox_disconnected(agg_outbox *ob);

/*
 * agg_outbox_flush - inside the caller's transaction: delete acknowledged
 * rows, record the acknowledged checkpoint size, and mark intervals whose
 * results have all gone out as published. Returns 0 or a storage error.
 */
int agg_outbox_flush(agg_outbox *ob);

/* agg_outbox_dirty - acknowledgements wait for agg_outbox_flush. */
bool agg_outbox_dirty(const agg_outbox *ob);

/* agg_outbox_depth - messages queued or in flight (durable + transient). */
size_t agg_outbox_depth(const agg_outbox *ob);

/* agg_outbox_checkpoint_out - the size of the newest checkpoint the broker
 * acknowledged (0 = none). */
int64_t agg_outbox_checkpoint_out(const agg_outbox *ob);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_OUTBOX_H */
