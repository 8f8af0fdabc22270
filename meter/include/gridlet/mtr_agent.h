/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_agent.h - the meter agent: everything gridlet-meter run does,
 * as a library.
 *
 * mtr_agent_new loads and checks what the configuration names (the
 * meter's certificate and key, the community CA, the aggregator's
 * certificate, the ledger's log key, the device profiles), opens the
 * store and builds the objects; mtr_agent_run runs the one event loop
 * until it is told to stop:
 *
 *   poll(2) on the MQTT client's event fd and a signalfd (or any fd the
 *   caller hands in), with a timeout to the next deadline of the
 *   injected clock:
 *     - every poll period (UTC-aligned, so one read falls on each
 *       interval boundary): read the devices, account, hand out finished
 *       intervals as signed readings (seq, signature, outbox, reading and
 *       counter state in one transaction);
 *     - every state_save: save the counter state;
 *     - trading: prefs once when they change (expost), one order per
 *       interval at order time (exante, continuous);
 *     - MQTT events: connection changes (status "online" retained on each
 *       connect, a freshly signed "offline" will for the next one),
 *       publish outcomes (mtr_pub), results / proof responses /
 *       checkpoints (verified with pr_open, then mtr_audit);
 *     - after every event: publish what can be published (mtr_pub_pump)
 *       and the proof requests that are due (mtr_audit).
 *   SIGTERM / SIGINT stop it cleanly: the counter state is saved, an
 *   "offline" status is published (retained) when connected, and the
 *   client disconnects. SIGHUP reloads the aggregator's certificate and
 *   the CRL.
 *
 * The aggregator's certificate (with the CA and the CRL) is needed only to
 * believe results: when it cannot be verified (expired, a CRL past its
 * next update, a clock before its validity, a missing file) the agent
 * still starts and keeps making and sending readings; it rejects what the
 * aggregator sends (counted: rejected_untrusted; `status` says why) and
 * tries the files again every ten minutes and on SIGHUP.
 *
 * The agent logs what a household wants to know at notice/info level:
 * each reading with its energies and flags, each settled interval, broker
 * and device outages and recoveries, alarms.
 */
#ifndef GRIDLET_MTR_AGENT_H
#define GRIDLET_MTR_AGENT_H

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/mtr_config.h"
#include "gridlet/rand.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtr_agent mtr_agent;

/*
 * mtr_agent_new - build an agent from a checked configuration (copied).
 * `clock` and `rand` are borrowed and must outlive the agent. Problems
 * with what the configuration names (the meter's key and certificate, the
 * log key, the profiles; not the aggregator's certificate, see above) are
 * described in `errs` (may be NULL: logged) and return GL_ECONFIG; the
 * store's errors GL_ECONFLICT (another meter's database, or another agent
 * runs on it) / GL_ESTORE; GL_ENOMEM. Nothing is published or polled yet.
 */
int mtr_agent_new(const mtr_config *cfg, gl_clock clock, gl_rand rand,
                  mtr_agent **out, gl_conf_errors *errs);

/* mtr_agent_free - release (call after run returned); NULL is a no-op. */
void mtr_agent_free(mtr_agent *a);

/*
 * mtr_agent_run - run the event loop until a stop. `sig_fd` is a signalfd
 * for SIGTERM, SIGINT and SIGHUP (or -1). Returns 0 after a clean stop, or
 * the error that stopped the agent (GL_ESTORE: the store failed; the
 * service manager should restart it).
 */
int mtr_agent_run(mtr_agent *a, int sig_fd);

/* mtr_agent_stop - make run() return soon (a clean stop: the "offline"
 * status is published). Safe from any thread and from a signal handler:
 * it only sets an atomic flag and writes to an eventfd. */
void mtr_agent_stop(mtr_agent *a);

/* mtr_agent_meter_id - this meter's id (its certificate's CN). */
const char *mtr_agent_meter_id(const mtr_agent *a);

/*
 * mtr_agent_check - what `gridlet-meter --check-config` checks beyond the
 * file itself: the key and certificate load and match, the aggregator's
 * certificate verifies against the CA (and CRL), the log key parses, the
 * profiles load and map the grid counters. Problems go to `errs`; an
 * aggregator certificate or CRL that is only not valid at this time goes
 * to `warnings` (may be NULL: then to `errs`), since the agent runs with
 * it. Returns 0 or GL_ECONFIG (errors only). Opens nothing for writing and
 * connects to nothing.
 */
int mtr_agent_check(const mtr_config *cfg, gl_clock clock, gl_conf_errors *errs,
                    gl_conf_errors *warnings);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_AGENT_H */
