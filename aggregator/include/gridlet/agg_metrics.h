/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_metrics.h - the aggregator's counters, gauges and histograms,
 * and their Prometheus text exposition (format 0.0.4) for GET /metrics.
 *
 * Every field is an atomic updated with relaxed ordering: the event loop
 * and the verification workers write, the HTTP thread reads. A scrape is
 * therefore not a consistent snapshot across fields (Prometheus never
 * assumes one), but each value is exact.
 *
 * Metric names are prefixed gridlet_aggregator_; docs/operations/
 * aggregator.md lists them all. Rejections are labelled with the stable
 * reasons of gridlet/agg_reason.h; every reason is exported from the start
 * (as 0), so alerts can use rate() without waiting for a first occurrence.
 */
#ifndef GRIDLET_AGG_METRICS_H
#define GRIDLET_AGG_METRICS_H

#include "gridlet/agg_reason.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Message kinds counted on ingest (the meter topics). */
typedef enum agg_kind {
  AGG_KIND_READING = 0,
  AGG_KIND_ORDER, /* order and prefs messages (meter/<id>/order) */
  AGG_KIND_STATUS,
  AGG_KIND_PROOF,
  AGG_KIND_OTHER, /* not a meter topic */
  AGG_KIND_COUNT
} agg_kind;

/* What the aggregator publishes. */
typedef enum agg_pub {
  AGG_PUB_RESULT = 0,
  AGG_PUB_SUMMARY,
  AGG_PUB_CHECKPOINT,
  AGG_PUB_PROOF,
  AGG_PUB_RECEIPT, /* a stored result re-sent for a duplicate reading */
  AGG_PUB_COUNT
} agg_pub;

#define AGG_HIST_MAX 16

/* A histogram with fixed upper bounds in ns (the last is +Inf). */
typedef struct agg_hist {
  size_t n;                       /* finite buckets */
  int64_t bound_ns[AGG_HIST_MAX]; /* ascending */
  atomic_uint_fast64_t count[AGG_HIST_MAX + 1];
  atomic_uint_fast64_t total;
  atomic_uint_fast64_t sum_ns;
} agg_hist;

typedef struct agg_metrics {
  atomic_uint_fast64_t received[AGG_KIND_COUNT];
  atomic_uint_fast64_t accepted[AGG_KIND_COUNT];
  atomic_uint_fast64_t rejected[AGG_R_COUNT];
  atomic_uint_fast64_t duplicates;
  atomic_uint_fast64_t late;
  atomic_uint_fast64_t receipts_resent;
  atomic_uint_fast64_t evidence; /* seq_reuse messages kept */
  atomic_uint_fast64_t published_ok[AGG_PUB_COUNT];
  atomic_uint_fast64_t published_failed[AGG_PUB_COUNT];
  atomic_uint_fast64_t proofs_mqtt, proofs_http, proofs_failed;
  atomic_uint_fast64_t http_unauthorized; /* requests without the token */
  atomic_uint_fast64_t intervals_settled;
  atomic_uint_fast64_t db_commits;
  atomic_uint_fast64_t mqtt_connects, mqtt_disconnects, mqtt_dropped;
  /* Gauges. */
  atomic_int_fast64_t last_settled;   /* interval start, ns; 0 = none */
  atomic_int_fast64_t verify_queue;   /* messages in verification */
  atomic_int_fast64_t mqtt_queue;     /* received, not yet taken */
  atomic_int_fast64_t outbox;         /* our messages awaiting PUBACK */
  atomic_int_fast64_t batch_pending;  /* verified, not yet committed */
  atomic_int_fast64_t mqtt_connected; /* 1: connected and subscribed */
  atomic_int_fast64_t ledger_size;
  atomic_int_fast64_t checkpoint_size; /* latest signed */
  atomic_int_fast64_t meters_active, meters_revoked;
  atomic_int_fast64_t meters_online;
  atomic_int_fast64_t meters_outbox; /* sum of the meters' reported outbox */
  atomic_int_fast64_t start_time;    /* wall ns when the daemon started */
  agg_hist verify;                   /* signature verification, per message */
  agg_hist clearing; /* clearing + settlement + ledger append, per interval */
  agg_hist commit;   /* storage transaction commit */
} agg_metrics;

/* agg_metrics_init - zero everything and set the histogram buckets. */
void agg_metrics_init(agg_metrics *m);

/* agg_hist_observe - record one duration (ns). Thread-safe. */
void agg_hist_observe(agg_hist *h, int64_t ns);

/* Shortcuts (relaxed atomics). */
static inline void agg_count(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}
static inline void agg_gauge(atomic_int_fast64_t *g, int64_t v) {
  atomic_store_explicit(g, v, memory_order_relaxed);
}

/* A growable text buffer for the exposition. */
typedef struct agg_text {
  char *s;
  size_t len, cap;
  bool oom;
} agg_text;

/* agg_text_add - append printf-style; on allocation failure sets oom. */
void agg_text_add(agg_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* agg_text_free - release the buffer. */
void agg_text_free(agg_text *t);

/* agg_kind_name / agg_pub_name - label values. Static strings. */
const char *agg_kind_name(agg_kind k);
const char *agg_pub_name(agg_pub p);

/*
 * agg_metrics_render - append the exposition of every metric to `t`.
 * Callers append series of their own afterwards (per-meter outbox depths
 * come from the database). Thread-safe against concurrent updates.
 */
void agg_metrics_render(const agg_metrics *m, agg_text *t);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_METRICS_H */
