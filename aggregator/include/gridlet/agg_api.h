/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_api.h - the read-only HTTP API (JSON) and /metrics
 * (Prometheus text), over libmicrohttpd.
 *
 * The server runs one internal polling thread with its own read-only
 * database and ledger handles (SQLite WAL lets it read while the event
 * loop writes), so a slow client never holds up settlement. It binds to
 * http.listen (127.0.0.1:8480 by default): put a reverse proxy with TLS
 * and authentication in front before exposing it. Only GET and HEAD are
 * served. docs/operations/aggregator.md ("HTTP API") is the reference for
 * every endpoint; the operator dashboard (issue 11) is built on it.
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
} agg_route_kind;

typedef struct agg_route {
  agg_route_kind kind;
  int64_t time;           /* {start} */
  int64_t num;            /* {size}, {index} */
  char id[PR_ID_MAX + 1]; /* {meter} */
} agg_route;

/*
 * agg_api_route - parse a request path (no query string). Returns 0 with
 * *r, GL_ENOENT (no such resource: 404) or GL_EINVAL (a malformed time,
 * number or meter id in the path: 400, reason in `err`).
 */
int agg_api_route(const char *path, agg_route *r, char *err, size_t errlen);

typedef struct agg_api agg_api;

/*
 * agg_api_start - open the database read-only and serve on
 * cfg->http_listen. `metrics` is borrowed (read by the server thread).
 * Returns 0 and an owned handle, GL_ECONFIG (bad address), GL_EIO (cannot
 * listen), or an error opening the database.
 */
int agg_api_start(const agg_config *cfg, agg_metrics *metrics,
                  const gl_clock *clock, agg_api **out);

/* agg_api_port - the port actually bound (for ":0"). */
uint16_t agg_api_port(const agg_api *api);

/* agg_api_stop - stop serving and release; NULL is a no-op. */
void agg_api_stop(agg_api *api);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_API_H */
