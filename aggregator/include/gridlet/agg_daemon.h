/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_daemon.h - the aggregator daemon: builds every object from
 * the configuration and runs the one event loop.
 *
 * The loop polls the MQTT client's event descriptor, the verification
 * pool's, and a signalfd (SIGTERM/SIGINT: stop; SIGHUP: reload the CRL and
 * the enrolled meters), with a timeout to the next thing due by the
 * clock: a batch to commit, an interval to settle, a gate to close, a
 * periodic task (meter table changes, retention, gauges). Everything the
 * loop does is in the library modules; this file only wires them.
 *
 * Start-up order: identity and keys, trust (CA + CRL), database, meters,
 * publisher, market (recovery), workers, ingest, HTTP, MQTT. Shutdown in
 * reverse, after committing the open batch.
 */
#ifndef GRIDLET_AGG_DAEMON_H
#define GRIDLET_AGG_DAEMON_H

#include "gridlet/agg_config.h"
#include "gridlet/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * agg_daemon_run - run until SIGTERM or SIGINT. `clock` is the market's
 * time (real, or an accelerated clock shared by a demo's processes),
 * `real` the system clock for measuring durations and timeouts. Blocks
 * SIGTERM, SIGINT and SIGHUP in the calling thread (call it before
 * starting any thread). The environment variable GRIDLET_AGG_CRASHPOINT
 * ("name" or "name@n", used by the crash tests) kills the process with
 * SIGKILL the n-th time the cycle passes that point. Returns 0 after a
 * clean stop, or the error that stopped it.
 */
int agg_daemon_run(const agg_config *cfg, const gl_clock *clock,
                   const gl_clock *real);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_DAEMON_H */
