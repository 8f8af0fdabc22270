/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_export.h - settlements as CSV, for billing.
 *
 * One row per (interval, meter) settled, oldest first, with a header
 * line:
 *   interval_start,interval_end,meter,flags,import_wh,export_wh,
 *   local_bought_wh,local_sold_wh,grid_import_wh,grid_export_wh,
 *   local_paid,local_received,grid_paid,grid_received,fee,net,balance
 * Times RFC 3339 UTC; energies in Wh; money in micro-currency as integers,
 * or, with `decimal`, in currency units with six decimals ("-1.250000").
 * `flags` is "missing", "estimated", both separated by '|', or empty. net
 * is positive when the household is credited; balance is its running
 * balance after the interval. RFC 4180 quoting is never needed: no field
 * can contain a comma, quote or newline.
 */
#ifndef GRIDLET_AGG_EXPORT_H
#define GRIDLET_AGG_EXPORT_H

#include "gridlet/agg_store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * agg_export_settlements - write the settlements with from <= interval <
 * to (INT64_MIN / INT64_MAX for no bound) of `meter` (NULL: all) to
 * `out`. *rows (may be NULL) gets the number of rows. Returns 0, a
 * storage error or GL_EIO (writing failed).
 */
int agg_export_settlements(agg_store *st, int64_t from, int64_t to,
                           const char *meter, bool decimal, FILE *out,
                           size_t *rows);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_EXPORT_H */
