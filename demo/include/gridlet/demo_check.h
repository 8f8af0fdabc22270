/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_check.h - what must hold after any run of a community,
 * checked from the ledger alone and from each meter's own database.
 *
 * The aggregator's ledger is read entry by entry (read-only; the daemon may
 * still run) and every entry decoded strictly. demo_ledger_verify then
 * checks, across entries, the rules the delivery contract promises
 * (docs/protocol.md, "Delivery and receipts"):
 *
 *   - every interval is settled exactly once: settlement entries follow
 *     each other one interval apart, none twice, none skipped;
 *   - each settlement has its clearing, and the clearing's trades add up
 *     to every participant's local energy bought and sold;
 *   - energy and money are conserved in every interval: local energy
 *     bought equals sold; the households' money, the utility's and the
 *     fees sum to zero; a row without a reading is all zeros;
 *   - every reading reaches the ledger exactly once: one reading digest
 *     per (meter, interval) and per (meter, seq);
 *   - late readings follow the rule: a digest logged after its interval's
 *     settlement carries the late flag (bit 31), and that settlement
 *     settled the meter as having no reading; a digest logged before it
 *     is not flagged late, and the meter's row was settled on exactly that
 *     reading's energy (bought + grid import - sold - grid export =
 *     import - export), or as no reading when the reading itself says
 *     `missing`;
 *   - nobody is settled on a reading the ledger does not hold.
 *
 * demo_ledger_check_meter compares one meter's database with the ledger:
 * every reading the meter signed for a settled interval is in the ledger
 * once, under its seq and interval, with the SHA-256 of the exact bytes
 * the meter signed.
 *
 * These checks complement `gridlet-ledger audit` (signatures, hashes,
 * checkpoints, within-entry rules), which the demo and the tests also run.
 * Not thread-safe per handle; distinct handles are independent.
 */
#ifndef GRIDLET_DEMO_CHECK_H
#define GRIDLET_DEMO_CHECK_H

#include "gridlet/demo_why.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct demo_ledger demo_ledger;

/* Counts over the whole ledger. */
typedef struct demo_ledger_stats {
  uint64_t entries;
  int64_t intervals;    /* settlement entries */
  int64_t first, last;  /* first and last settled interval (starts) */
  int64_t readings;     /* reading digests */
  int64_t late;         /* of which flagged late */
  int64_t settled_rows; /* settlement rows with a reading */
  int64_t no_reading;   /* settlement rows without one */
  int64_t trades;       /* trades in clearings */
  int64_t traded_wh;    /* energy traded locally */
  int64_t orders;       /* order entries (limits and orders) */
} demo_ledger_stats;

/* One household's totals from its settlement rows (the same figures as
 * `gridlet-ledger balances`). */
typedef struct demo_balance {
  int64_t money, fees;
  int64_t local_bought_wh, local_sold_wh;
  int64_t grid_import_wh, grid_export_wh;
  int64_t intervals, missing;
} demo_balance;

/* One meter's readings compared with the ledger. */
typedef struct demo_meter_check {
  int64_t readings;    /* in the meter's database, intervals up to `last` */
  int64_t in_ledger;   /* of which found exactly once with the same digest */
  int64_t late;        /* of which the ledger holds as late */
  int64_t pending;     /* readings of intervals after the last settled one */
  int64_t undelivered; /* readings of settled intervals the meter still
                          re-sends (queued or awaiting a receipt), not yet
                          in the ledger */
  int64_t lost; /* readings of settled intervals the meter no longer sends
                   (e.g. it holds them as late) that the ledger does not
                   hold: each one is a reading lost */
} demo_meter_check;

/*
 * demo_ledger_load - read and decode the whole ledger in the SQLite file
 * `db` (interval length `interval_ns`). Returns 0 and an owned handle;
 * GL_ENOENT, GL_ESTORE, GL_EPARSE (an entry that does not decode or breaks
 * a within-entry rule: `why` names its index), GL_ENOMEM.
 */
int demo_ledger_load(const char *db, int64_t interval_ns, demo_ledger **out,
                     demo_why *why);

/* demo_ledger_free - release; NULL is a no-op. */
void demo_ledger_free(demo_ledger *l);

void demo_ledger_get_stats(const demo_ledger *l, demo_ledger_stats *out);

/* demo_ledger_verify - the cross-entry rules above. Returns 0, or
 * GL_EVERIFY with the first violation in `why`. */
int demo_ledger_verify(const demo_ledger *l, demo_why *why);

/* demo_ledger_balance - meter `id`'s totals. Returns 0 or GL_ENOENT (never
 * in a settlement). */
int demo_ledger_balance(const demo_ledger *l, const char *id,
                        demo_balance *out);

/* demo_ledger_meter_count / _meter_id - the meters of the settlements,
 * in byte order. */
size_t demo_ledger_meter_count(const demo_ledger *l);
const char *demo_ledger_meter_id(const demo_ledger *l, size_t i);

/* demo_ledger_reading_index - the ledger index of meter `id`'s reading
 * digest for the interval starting at `start`. Returns 0 or GL_ENOENT. */
int demo_ledger_reading_index(const demo_ledger *l, const char *id,
                              int64_t start, uint64_t *index);

/*
 * demo_ledger_check_meter - meter `id`'s database `meter_db` (opened
 * read-only) against the ledger, see above. Returns 0 with *out (out->lost
 * > 0: readings lost, the first named in `why`), GL_EVERIFY with the first
 * reading the ledger holds differently from what the meter signed, or one
 * the meter gave up (in `why`), or the error opening the database.
 */
int demo_ledger_check_meter(const demo_ledger *l, const char *id,
                            const char *meter_db, demo_meter_check *out,
                            demo_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_CHECK_H */
