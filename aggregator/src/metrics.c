/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - counters and the Prometheus text exposition. See
 * gridlet/agg_metrics.h.
 */
#include "gridlet/agg_metrics.h"

#include "gridlet/clock.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void hist_init(agg_hist *h, const int64_t *bounds, size_t n) {
  h->n = n;
  for (size_t i = 0; i < n; i++)
    h->bound_ns[i] = bounds[i];
}

void agg_metrics_init(agg_metrics *m) {
  memset(m, 0, sizeof *m);
  static const int64_t verify[] = {50 * GL_NS_PER_US,  100 * GL_NS_PER_US,
                                   200 * GL_NS_PER_US, 500 * GL_NS_PER_US,
                                   GL_NS_PER_MS,       2 * GL_NS_PER_MS,
                                   5 * GL_NS_PER_MS,   10 * GL_NS_PER_MS,
                                   50 * GL_NS_PER_MS,  250 * GL_NS_PER_MS};
  static const int64_t clearing[] = {
      GL_NS_PER_MS,       5 * GL_NS_PER_MS,   10 * GL_NS_PER_MS,
      50 * GL_NS_PER_MS,  100 * GL_NS_PER_MS, 250 * GL_NS_PER_MS,
      500 * GL_NS_PER_MS, GL_NS_PER_SEC,      2 * GL_NS_PER_SEC,
      5 * GL_NS_PER_SEC,  10 * GL_NS_PER_SEC, 30 * GL_NS_PER_SEC};
  static const int64_t commit[] = {
      100 * GL_NS_PER_US, 500 * GL_NS_PER_US, GL_NS_PER_MS,
      5 * GL_NS_PER_MS,   10 * GL_NS_PER_MS,  50 * GL_NS_PER_MS,
      100 * GL_NS_PER_MS, 500 * GL_NS_PER_MS, GL_NS_PER_SEC};
  hist_init(&m->verify, verify, sizeof verify / sizeof *verify);
  hist_init(&m->clearing, clearing, sizeof clearing / sizeof *clearing);
  hist_init(&m->commit, commit, sizeof commit / sizeof *commit);
}

void agg_hist_observe(agg_hist *h, int64_t ns) {
  if (ns < 0)
    ns = 0;
  size_t i = 0;
  while (i < h->n && ns > h->bound_ns[i])
    i++;
  atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

void agg_text_add(agg_text *t, const char *fmt, ...) {
  if (t->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->cap - t->len;
    int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->oom = true;
      return;
    }
    if (t->s && (size_t)n < room) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + (size_t)n + 1)
      cap *= 2;
    char *ns = realloc(t->s, cap);
    if (!ns) {
      t->oom = true;
      return;
    }
    t->s = ns;
    t->cap = cap;
  }
}

void agg_text_free(agg_text *t) {
  free(t->s);
  memset(t, 0, sizeof *t);
}

const char *agg_kind_name(agg_kind k) {
  static const char *const n[AGG_KIND_COUNT] = {"reading", "order", "status",
                                                "proof", "other"};
  return (unsigned)k < AGG_KIND_COUNT ? n[k] : "other";
}

const char *agg_pub_name(agg_pub p) {
  static const char *const n[AGG_PUB_COUNT] = {
      "result", "summary", "checkpoint", "proof", "receipt"};
  return (unsigned)p < AGG_PUB_COUNT ? n[p] : "other";
}

#define P "gridlet_aggregator_"

static void head(agg_text *t, const char *name, const char *type,
                 const char *help) {
  agg_text_add(t, "# HELP " P "%s %s\n# TYPE " P "%s %s\n", name, help, name,
               type);
}

static void counter(agg_text *t, const char *name, const char *help,
                    uint64_t v) {
  head(t, name, "counter", help);
  agg_text_add(t, P "%s %" PRIu64 "\n", name, v);
}

static void gauge(agg_text *t, const char *name, const char *help, int64_t v) {
  head(t, name, "gauge", help);
  agg_text_add(t, P "%s %" PRId64 "\n", name, v);
}

static void hist(agg_text *t, const char *name, const char *help,
                 const agg_hist *h) {
  head(t, name, "histogram", help);
  uint64_t cum = 0;
  for (size_t i = 0; i < h->n; i++) {
    cum += LD(h->count[i]);
    agg_text_add(t, P "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                 (double)h->bound_ns[i] / 1e9, cum);
  }
  cum += LD(h->count[h->n]);
  agg_text_add(t, P "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
  agg_text_add(t, P "%s_sum %.9f\n", name, (double)LD(h->sum_ns) / 1e9);
  agg_text_add(t, P "%s_count %" PRIu64 "\n", name, cum);
}

void agg_metrics_render(const agg_metrics *m, agg_text *t) {
  head(t, "messages_received_total", "counter",
       "signed messages received from the broker, by topic kind");
  for (int k = 0; k < AGG_KIND_COUNT; k++)
    agg_text_add(t, P "messages_received_total{kind=\"%s\"} %" PRIu64 "\n",
                 agg_kind_name((agg_kind)k), LD(m->received[k]));
  head(t, "messages_accepted_total", "counter",
       "messages verified, checked and stored, by topic kind");
  for (int k = 0; k < AGG_KIND_COUNT; k++)
    agg_text_add(t, P "messages_accepted_total{kind=\"%s\"} %" PRIu64 "\n",
                 agg_kind_name((agg_kind)k), LD(m->accepted[k]));
  head(t, "messages_rejected_total", "counter",
       "messages refused, by reason (docs/operations/aggregator.md)");
  for (int r = 1; r < AGG_R_COUNT; r++)
    agg_text_add(t, P "messages_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                 agg_reason_name((agg_reason)r), LD(m->rejected[r]));
  counter(t, "messages_duplicate_total",
          "byte-identical redeliveries, acknowledged and ignored",
          LD(m->duplicates));
  counter(t, "readings_late_total",
          "readings for an interval already settled (logged, not settled)",
          LD(m->late));
  counter(t, "receipts_resent_total",
          "stored results re-sent because a meter repeated its reading",
          LD(m->receipts_resent));
  counter(t, "evidence_total",
          "messages kept as evidence (a sequence number signed twice)",
          LD(m->evidence));
  head(t, "published_total", "counter",
       "messages we published, by kind and outcome (PUBACK or refusal)");
  for (int p = 0; p < AGG_PUB_COUNT; p++) {
    agg_text_add(t,
                 P "published_total{kind=\"%s\",outcome=\"ok\"} %" PRIu64 "\n",
                 agg_pub_name((agg_pub)p), LD(m->published_ok[p]));
    agg_text_add(
        t, P "published_total{kind=\"%s\",outcome=\"failed\"} %" PRIu64 "\n",
        agg_pub_name((agg_pub)p), LD(m->published_failed[p]));
  }
  head(t, "proof_requests_total", "counter",
       "proof requests answered, by channel; failed: not answerable");
  agg_text_add(t, P "proof_requests_total{channel=\"mqtt\"} %" PRIu64 "\n",
               LD(m->proofs_mqtt));
  agg_text_add(t, P "proof_requests_total{channel=\"http\"} %" PRIu64 "\n",
               LD(m->proofs_http));
  agg_text_add(t, P "proof_requests_total{channel=\"failed\"} %" PRIu64 "\n",
               LD(m->proofs_failed));
  counter(t, "http_unauthorized_total",
          "HTTP requests refused for want of a valid access token",
          LD(m->http_unauthorized));
  counter(t, "intervals_settled_total", "intervals cleared and settled",
          LD(m->intervals_settled));
  counter(t, "db_commits_total", "storage transactions committed",
          LD(m->db_commits));
  counter(t, "mqtt_connects_total", "connections to the broker",
          LD(m->mqtt_connects));
  counter(t, "mqtt_disconnects_total",
          "lost connections and failed connection attempts",
          LD(m->mqtt_disconnects));
  counter(t, "mqtt_dropped_total",
          "received messages dropped because the receive queue was full",
          LD(m->mqtt_dropped));
  gauge(t, "last_settled_interval_seconds",
        "start of the newest settled interval (Unix time)",
        LD(m->last_settled) / GL_NS_PER_SEC);
  gauge(t, "verify_queue_depth", "messages waiting for or in verification",
        LD(m->verify_queue));
  gauge(t, "mqtt_queue_depth", "received messages not yet taken",
        LD(m->mqtt_queue));
  gauge(t, "batch_pending", "verified messages waiting for their commit",
        LD(m->batch_pending));
  gauge(t, "outbox_depth",
        "our signed messages (results, summaries, checkpoints) not yet "
        "acknowledged by the broker",
        LD(m->outbox));
  gauge(t, "mqtt_connected",
        "1 while connected and subscribed to the meters' topics",
        LD(m->mqtt_connected));
  gauge(t, "ledger_size", "entries in the ledger", LD(m->ledger_size));
  gauge(t, "checkpoint_size", "size of the newest signed checkpoint",
        LD(m->checkpoint_size));
  head(t, "meters", "gauge", "enrolled meters by state");
  agg_text_add(t, P "meters{state=\"active\"} %" PRId64 "\n",
               LD(m->meters_active));
  agg_text_add(t, P "meters{state=\"revoked\"} %" PRId64 "\n",
               LD(m->meters_revoked));
  gauge(t, "meters_online", "meters whose latest status says online",
        LD(m->meters_online));
  gauge(t, "meters_outbox_messages",
        "sum of the outbox depths the meters reported in their status",
        LD(m->meters_outbox));
  gauge(t, "start_time_seconds", "when the daemon started (Unix time)",
        LD(m->start_time) / GL_NS_PER_SEC);
  hist(t, "verify_seconds", "time to verify and decode one message",
       &m->verify);
  hist(t, "clearing_seconds",
       "clearing, settlement and the ledger transaction of one interval",
       &m->clearing);
  hist(t, "commit_seconds", "storage transaction commit (fsync)", &m->commit);
}
