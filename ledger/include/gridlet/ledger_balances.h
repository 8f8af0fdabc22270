/* SPDX-License-Identifier: MIT */
/*
 * gridlet/ledger_balances.h - household balances and energy totals
 * recomputed from the ledger alone.
 *
 * Every settlement entry carries, per participant, the local energy bought
 * and sold, the energy imported from and exported to the grid, the fees
 * paid and the net money. Summing them over all settlement entries gives
 * each household's running balance and energy totals: the figures the
 * aggregator shows must equal these, and the auditor recomputes them.
 *
 * Sums are exact int64; an overflow (only possible with a forged ledger)
 * is reported as GL_ERANGE rather than wrapped. Balances are listed in
 * ascending meter id order (byte order), so output is deterministic.
 *
 * An lg_balances is owned by one thread.
 */
#ifndef GRIDLET_LEDGER_BALANCES_H
#define GRIDLET_LEDGER_BALANCES_H

#include "gridlet/ledger.h"
#include "gridlet/ledger_entry.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_balance {
  char meter_id[LG_METER_ID_MAX + 1];
  int64_t money; /* net micro-currency received (negative: paid) */
  int64_t fees;  /* micro-currency of local network fees paid */
  int64_t local_bought_wh;
  int64_t local_sold_wh;
  int64_t grid_import_wh;
  int64_t grid_export_wh;
  uint64_t intervals;        /* settlements the household appears in */
  uint64_t missing_readings; /* ... of which without a reading */
} lg_balance;

/* Community-wide sums over all settlements. */
typedef struct lg_balance_totals {
  uint64_t settlements;
  int64_t utility_money; /* net money the utility received */
  int64_t fee_money;     /* local network fees collected */
  int64_t local_wh;      /* energy traded locally */
  int64_t grid_import_wh;
  int64_t grid_export_wh;
} lg_balance_totals;

typedef struct lg_balances lg_balances;

/* lg_balances_new - an empty accumulator (owned), or NULL (out of memory). */
lg_balances *lg_balances_new(void);

/* lg_balances_free - release; NULL is a no-op. */
void lg_balances_free(lg_balances *b);

/*
 * lg_balances_add - add one settlement (borrowed), all or nothing.
 * Returns 0, GL_ERANGE (a sum would overflow) or GL_ENOMEM; on an error
 * nothing is added.
 */
int lg_balances_add(lg_balances *b, const lg_settlement *s);

/*
 * lg_balances_add_entry - decode entry bytes and add them when they are a
 * settlement (other types are ignored). Returns 0, a decoding error
 * (GL_EPARSE, GL_ENOTSUP, ...), GL_ERANGE or GL_ENOMEM.
 */
int lg_balances_add_entry(lg_balances *b, const void *data, size_t len);

/* lg_balances_count - the number of households seen. */
size_t lg_balances_count(const lg_balances *b);

/* lg_balances_at - the i-th household in ascending meter id order (valid
 * until the next add), or NULL when i is out of range or the sorted view
 * cannot be allocated (out of memory): callers must check. */
const lg_balance *lg_balances_at(lg_balances *b, size_t i);

/* lg_balances_find - a household's balance, or NULL when it never
 * appeared in a settlement. Valid until the next add. */
const lg_balance *lg_balances_find(const lg_balances *b, const char *meter_id);

/* lg_balances_totals - the community-wide sums. */
void lg_balances_totals(const lg_balances *b, lg_balance_totals *t);

/*
 * lg_ledger_balances - recompute the balances from the first `size`
 * entries of a ledger (0: all). Returns 0 with an owned accumulator, or
 * the first decoding/overflow/storage error.
 */
int lg_ledger_balances(lg_ledger *lg, uint64_t size, lg_balances **out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_LEDGER_BALANCES_H */
