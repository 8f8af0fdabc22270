/* SPDX-License-Identifier: MIT */
/*
 * replay.h - recompute every settlement in a ledger from the ledger's
 * other entries alone, through market_interval.h (the pipeline the
 * simulator runs), and compare with the settlement and clearing entries
 * the aggregator wrote. This is the documented replay rule of
 * docs/operations/aggregator.md ("Reproducing settlements"):
 *   - rows of a settlement are the participants, by meter id; those
 *     flagged "no reading" take no part;
 *   - a measured meter's net energy is import - export of its on-time
 *     reading digest of the interval (late digests are ignored);
 *   - expost: standing limits from quantity-0 order entries, the highest
 *     seq with interval_start <= the interval (none: buy at any price,
 *     sell at any price in the band);
 *   - exante: the interval's order entries, in log order;
 *   - continuous: the clearing entry's trades;
 *   - rule, band and fee from the clearing and settlement entries; k,
 *     rationing and self-trade prevention from parameter entries.
 */
#ifndef GRIDLET_AGG_REPLAY_H
#define GRIDLET_AGG_REPLAY_H

#include "gridlet/ledger.h"

#include <stddef.h>

typedef struct replay_report {
  size_t intervals;  /* settlements recomputed */
  size_t rows;       /* settlement rows compared */
  size_t trades;     /* clearing trades compared */
  char problem[256]; /* "" when everything matched */
} replay_report;

/* replay_ledger - returns 0 when every settlement matched, -1 otherwise
 * (rep->problem says where). */
int replay_ledger(lg_ledger *lg, replay_report *rep);

#endif
