/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_api.h - the read-only HTTP API (JSON) and /metrics
 * (Prometheus text), over libmicrohttpd.
 *
 * The server runs one internal polling thread with its own read-only
 * database and ledger handles (SQLite WAL lets it read while the event
 * loop writes), so a slow client never holds up settlement. It binds to
 * http.listen (127.0.0.1:8480 by default). Only GET and HEAD are served.
 * docs/operations/aggregator.md ("HTTP API", "Dashboard") is the reference
 * for every endpoint.
 *
 * It also serves the operator dashboard (gridlet/agg_web.h) at /, and runs
 * the background ledger audit the dashboard shows (gridlet/agg_audit.h).
 *
 * Remote access: with http.tls_cert/tls_key it speaks HTTPS only
 * (libmicrohttpd over GnuTLS, TLS 1.2 and 1.3); with http.token_file every
 * request but /healthz must carry the token (gridlet/agg_auth.h), else it
 * is answered 401. A listener beyond 127.0.0.0/8 requires both
 * (agg_config_check).
 *
 * Conventions: JSON objects, times as RFC 3339 UTC strings, energy in Wh,
 * prices in micro-currency per kWh, money in micro-currency (all
 * integers); lists take ?from=&to= (RFC 3339, to exclusive), ?limit=
 * (default 100, at most 10000) and ?order=asc|desc; errors are
 * {"error":{"status":N,"message":"..."}} with the HTTP status.
 *
 * agg_api_route is the pure URL parser (fuzzed).
 */
#ifndef GRIDLET_AGG_API_H
#define GRIDLET_AGG_API_H

#include "gridlet/agg_config.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/clock.h"
#include "gridlet/ledger_note.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agg_route_kind {
  AGG_API_NOT_FOUND = 0,
  AGG_API_HEALTH,            /* /healthz */
  AGG_API_METRICS,           /* /metrics */
  AGG_API_STATUS,            /* /v1/status */
  AGG_API_INTERVALS,         /* /v1/intervals */
  AGG_API_INTERVAL,          /* /v1/intervals/{start} */
  AGG_API_INTERVAL_TRADES,   /* /v1/intervals/{start}/trades */
  AGG_API_TRADES,            /* /v1/trades */
  AGG_API_BALANCES,          /* /v1/balances */
  AGG_API_BALANCE,           /* /v1/balances/{meter} */
  AGG_API_METERS,            /* /v1/meters */
  AGG_API_METER,             /* /v1/meters/{meter} */
  AGG_API_METER_SETTLEMENTS, /* /v1/meters/{meter}/settlements */
  AGG_API_CHECKPOINTS,       /* /v1/checkpoints */
  AGG_API_CHECKPOINT_LATEST, /* /v1/checkpoints/latest */
  AGG_API_CHECKPOINT,        /* /v1/checkpoints/{size} */
  AGG_API_ENTRY,             /* /v1/ledger/entries/{index} */
  AGG_API_PROOF_INCLUSION,   /* /v1/proofs/inclusion */
  AGG_API_PROOF_CONSISTENCY, /* /v1/proofs/consistency */
  AGG_API_INTERVAL_ORDERS,   /* /v1/intervals/{start}/orders */
  AGG_API_LEDGER,            /* /v1/ledger */
  AGG_API_WEB,               /* a dashboard file: /, /app.js, ... */
} agg_route_kind;

typedef struct agg_route {
  agg_route_kind kind;
  int64_t time;           /* {start} */
  int64_t num;            /* {size}, {index}; AGG_API_WEB: file index */
  char id[PR_ID_MAX + 1]; /* {meter} */
} agg_route;

/*
 * agg_api_route - parse a request path (no query string). Returns 0 with
 * *r, GL_ENOENT (no such resource: 404) or GL_EINVAL (a malformed time,
 * number or meter id in the path: 400, reason in `err`).
 */
int agg_api_route(const char *path, agg_route *r, char *err, size_t errlen);

typedef struct agg_api agg_api;

/* What the server reads; everything is borrowed and must outlive it. */
typedef struct agg_api_deps {
  const agg_config *cfg;
  agg_metrics *metrics;   /* read (and its HTTP counters written) */
  const gl_clock *clock;  /* the market's time ("now" in /v1/status) */
  const gl_clock *real;   /* wall clock: the audit's schedule, log limits */
  const lg_vkey *log_key; /* the ledger's verifier key; NULL: unknown
                             (the audit then uses the database's) */
} agg_api_deps;

/*
 * agg_api_start - open the database read-only, load the TLS certificate
 * and key and the access token when configured, start the ledger audit
 * (http.audit_every > 0) and serve on cfg->http_listen. Returns 0 and an
 * owned handle, GL_ECONFIG (bad address, unreadable or bad TLS files or
 * token), GL_ENOTSUP (TLS requested but libmicrohttpd lacks it), GL_EIO
 * (cannot listen), or an error opening the database. Each is logged.
 */
int agg_api_start(const agg_api_deps *deps, agg_api **out);

/* agg_api_port - the port actually bound (for ":0"). */
uint16_t agg_api_port(const agg_api *api);

/* agg_api_stop - stop serving and release; NULL is a no-op. */
void agg_api_stop(agg_api *api);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_API_H */
