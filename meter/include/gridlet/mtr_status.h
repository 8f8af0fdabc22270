/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_status.h - `gridlet-meter status`: a report a household can
 * read, from the agent's database opened read-only (the agent may be
 * running; WAL lets both work at once).
 *
 * It says whether the agent runs, whether it is connected to the broker
 * and since when, how many messages wait in the outbox, the last reading
 * and its delivery state, the receipts (awaiting, receipted, confirmed in
 * the ledger, late, dropped, unconfirmed), the last result and balance,
 * the ledger checkpoints seen, the alarms, and the counters.
 *
 * Thread-safety: reentrant.
 */
#ifndef GRIDLET_MTR_STATUS_H
#define GRIDLET_MTR_STATUS_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mtr_status_report - write the report for the database at `path` to
 * `out`; `now` is the real wall time (ns). Returns 0 when all is well; 1
 * when something needs attention (the report's last line, "attention",
 * says what): the agent is not running (it holds a lock on "<path>.lock"
 * while it runs), it made no reading for more than two intervals (on its
 * own clock, estimated from its heartbeat MTR_KEY_ALIVE/_REAL and `now`:
 * an agent on an accelerated clock is judged by that clock, a hung one
 * by the real time since its last heartbeat), the aggregator's certificate is
 * not trusted, there are alarms not acknowledged, or readings were lost
 * (dropped, unconfirmed, refused by the broker); a negative GL_E* when the
 * database cannot be read (GL_ENOENT: no such file).
 */
int mtr_status_report(const char *path, int64_t now, FILE *out);

/*
 * mtr_alarms_report - every alarm kept (see meter.retention), newest
 * first, each marked when acknowledged. Returns 0 when none is
 * unacknowledged, 1 when some are, or a negative GL_E* as above.
 */
int mtr_alarms_report(const char *path, FILE *out);

/*
 * mtr_alarms_ack - acknowledge every alarm there is now: they stay listed
 * (marked), but `status` no longer needs attention for them; a later alarm
 * does again. Opens the database for writing (the agent may be running:
 * WAL). *n receives how many were newly acknowledged. Returns 0,
 * GL_ENOENT, GL_ECONFLICT, GL_ESTORE.
 */
int mtr_alarms_ack(const char *path, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_STATUS_H */
