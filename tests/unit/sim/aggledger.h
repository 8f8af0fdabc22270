/* SPDX-License-Identifier: MIT */
/*
 * aggledger.h - a ledger the real aggregator wrote, for the simulator's
 * tests: the aggregator unit-test fixture (tests/unit/aggregator/
 * fixture.h: real SQLite database, really signed and verified messages,
 * the real market, a manual clock) with three meters m001..m003 in one
 * market mode; one of them never sends its reading. Exported with
 * lg_ledger_export, as `gridlet-ledger export` writes it.
 */
#ifndef GRIDLET_TEST_AGGLEDGER_H
#define GRIDLET_TEST_AGGLEDGER_H

#include <stddef.h>
#include <stdint.h>

/* What the aggregator settled, and for the meter without a reading. */
typedef struct agg_settled {
  int64_t intervals; /* intervals the aggregator settled */
  int64_t money;     /* the missing meter's settlement money, summed */
  int64_t bought, sold, grid_import, grid_export; /* its energies, Wh */
} agg_settled;

/*
 * agg_ledger - an aggregator in market `mode` (MKT_MODE_*): m001 offers
 * 300 Wh at 0.15, m002 bids for 300 Wh at 0.25 (exante, continuous: one
 * order each before gate closure), and the readings come (m001 exports
 * 300 Wh, m002 imports 300 Wh, m003 imports 20 Wh) except meter index
 * `missing`'s. Settles the interval after the fixture's first (exante and
 * continuous; the empty first one too) or the first (expost), audits
 * the ledger, and exports it to `db` in `dir`. cmocka assertions.
 */
agg_settled agg_ledger(const char *dir, int mode, size_t missing,
                       const char *db);

#endif
