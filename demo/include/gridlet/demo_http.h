/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_http.h - the smallest HTTP client that reads the
 * aggregator's API on loopback: one GET per connection, HTTP/1.0, the whole
 * body into memory. The demo and the system tests read intervals,
 * balances, proofs and metrics with it, exactly as an operator's
 * dashboard would.
 *
 * Not a general HTTP client: no TLS, no redirects, no chunked encoding
 * (the aggregator answers HTTP/1.0 requests with a body ended by the
 * connection's close). Thread-safe (no shared state).
 */
#ifndef GRIDLET_DEMO_HTTP_H
#define GRIDLET_DEMO_HTTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest response accepted (the biggest API answers are lists of 10,000
 * rows). */
#define DEMO_HTTP_MAX (64u << 20)

/*
 * demo_http_get - GET `path` ("/v1/status") from 127.0.0.1:port, waiting at
 * most timeout_ms (real time) in all. Returns 0 with the HTTP status in
 * *status and the body in *body (owned, NUL-terminated, free(); may be
 * NULL when not wanted) of *len bytes (may be NULL); GL_ECONN (refused,
 * reset), GL_ETIMEDOUT, GL_EPROTO (not an HTTP response), GL_ETOOBIG
 * (beyond DEMO_HTTP_MAX), GL_ENOMEM, GL_EINVAL (a path with spaces or
 * control characters).
 */
int demo_http_get(uint16_t port, const char *path, int timeout_ms, int *status,
                  char **body, size_t *len);

/*
 * demo_metric_value - the value of one series in a Prometheus text
 * exposition, e.g. "gridlet_aggregator_readings_late_total" or
 * "gridlet_aggregator_messages_rejected_total{reason=\"bad_signature\"}"
 * (the name with its labels exactly as exposed). Returns 0 and *value, or
 * GL_ENOENT.
 */
int demo_metric_value(const char *text, const char *series, int64_t *value);

/*
 * demo_metric_sum - the sum of every series of metric `name` (all label
 * sets). Returns 0 and *sum (0 when absent).
 */
int demo_metric_sum(const char *text, const char *name, int64_t *sum);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_HTTP_H */
