/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_ledger.h - a community's ledger (gridlet/ledger.h, entry
 * formats in gridlet/ledger_entry.h) as the simulator's input, and a run
 * written out as the ledger an aggregator would have kept.
 *
 * ## Reading (source = ledger)
 * The simulator reads any gridlet ledger database: the aggregator's own
 * file, a mirror, or a `gridlet-ledger export` copy; nothing in it is
 * changed. Entries are read in index order. Each settlement entry closes
 * its interval; the reading-digest, order and clearing entries of that
 * interval that precede it make the interval's frame:
 *   participants   every meter id that appears anywhere in the ledger,
 *                  numbered in ascending byte order of the id (the
 *                  settlement rows' order). The aggregator numbers market
 *                  participants the same way, so both add orders to the
 *                  auction in the same order.
 *   present        a meter with a settlement row without the "no reading"
 *                  flag. Who takes part in the market is the aggregator's
 *                  rule (gridlet/market_interval.h): in expost mode the
 *                  present meters; in exante and continuous mode, whose
 *                  trades are firm at gate closure, every meter with a
 *                  settlement row, one flagged "no reading" with net 0 (it
 *                  settles its contracted position with the utility). A
 *                  meter without a row never takes part.
 *   net            import_wh - export_wh of the meter's reading digest for
 *                  the interval (the one with the highest seq); 0 for a
 *                  meter that is not present. Readings that appear after
 *                  their interval's settlement are late: counted, never
 *                  used (the aggregator's rule).
 *   limits         order entries with quantity 0 are standing expost
 *                  limits (buy: the highest price it pays, sell: the lowest
 *                  it accepts); the newest (highest seq) of each side
 *                  counts and stays in force for later intervals until
 *                  replaced; without one the limit is the band edge
 *                  (retail for buying, feed-in for selling: "any price").
 *   orders         order entries with quantity > 0 are exante or
 *                  continuous order steps of meters with a settlement row
 *                  (present or not: trades are firm); per meter and
 *                  interval only the steps of its highest seq count (a
 *                  later order replaces an earlier one), in ledger order
 *                  (their time priority).
 *   band           the settlement entry's retail, feed-in and fee prices,
 *                  unless the scenario has a [tariff] section (a what-if).
 *   recorded       the clearing's mode, rule and trades, the settlement
 *                  rows, and the market parameters in force (parameter
 *                  entries with keys market.k_ppm, market.rationing and
 *                  market.self_trade, as gridlet-aggregator logs them,
 *                  effective from their effective_from), for verification.
 *   trades         a continuous interval's trades come from the recorded
 *                  clearing: the live book saw cancellations and
 *                  replacements the ledger does not keep, so its trades
 *                  are replayed, not rematched (other mechanisms run on
 *                  the orders).
 * Settlements must appear in increasing interval order, one per interval,
 * all with the scenario's interval length. McAfee's mechanism surplus has
 * no field in a settlement entry: like the aggregator, the simulator books
 * it to the utility (utility_money = what the utility nets + the surplus),
 * so the entry's money still sums to zero.
 *
 * ## Verification
 * When a replayed interval runs under the mechanism and band the ledger
 * recorded, its clearing and settlement must equal the recorded ones: the
 * trades (buyer, seller, energy, price, in order), per settlement row
 * local bought and sold, grid import and export, fee and money (all zero
 * for a row that took no part), the utility's money and the fees.
 * sim_ledger_verify compares them; a mismatch names the interval, the
 * meter and the field. The k of the k rule, the rationing
 * and the self-trade setting are compared with the recorded parameters
 * when the ledger has them; otherwise the scenario's are assumed.
 *
 * ## Writing (gridlet-sim run --ledger-out FILE)
 * Per interval, appended atomically: for each present household a reading
 * digest (import and export from its net; seq counting up per meter per
 * message; flags 0; msg_digest = SHA-256 of "gridlet-sim reading " and the
 * meter id, interval start and both energies as text, since no signed
 * message exists); its orders (expost: two quantity-0 entries with its
 * standing buy and sell limits; exante and continuous: one entry per
 * order placed, msg_digest likewise of "gridlet-sim order ..."); the
 * clearing (trades with the buyer's price; the clearing price, or -1 for
 * continuous and pay-as-bid and when nothing traded); and the settlement
 * (every household, absent ones flagged "no reading" with zeros, McAfee's
 * surplus booked to the utility as above). Before the first interval,
 * parameter entries record the mechanism (market.mode, market.rule,
 * market.k_ppm, market.rationing, market.self_trade). The file has no
 * checkpoint: the simulator holds no log key. Ledger format 1 cannot
 * record negative prices, so such intervals are refused with GL_ENOTSUP.
 *
 * Thread-safety: a handle is used by one thread at a time.
 */
#ifndef GRIDLET_SIM_LEDGER_H
#define GRIDLET_SIM_LEDGER_H

#include "gridlet/market_interval.h"
#include "gridlet/sim_diag.h"
#include "gridlet/sim_scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A recorded settlement row, by participant. */
typedef struct sim_recorded_row {
  bool has_row; /* the settlement lists the meter */
  bool no_reading;
  int64_t bought, sold, grid_import, grid_export, fee, money;
} sim_recorded_row;

/* One interval as the ledger recorded it. Arrays have n_meters entries,
 * indexed by participant; all are borrowed from the reader until its next
 * call. */
typedef struct sim_ledger_frame {
  int64_t start;
  uint64_t settlement_index; /* ledger index of the settlement entry */
  size_t n_meters;           /* entries of the per-participant arrays */
  mkt_band band;
  bool has_clearing;
  mkt_mode mode; /* recorded mode and rule (when has_clearing) */
  mkt_rule rule;
  bool rule_none;          /* continuous: no call-auction rule */
  const mkt_trade *trades; /* the clearing's trades, participants as above,
                              buy_price = sell_price = the recorded price */
  size_t n_trades;
  /* Market parameters in force (parameter entries), when recorded. */
  bool has_k, has_rationing, has_self_trade;
  int32_t k_ppm;
  mkt_rationing rationing;
  bool allow_self_trade;
  const uint8_t *present;
  const int64_t *net;
  const int64_t *buy_limit, *sell_limit;
  const mkt_order *orders; /* qty > 0, meters with a row, ledger order */
  size_t n_orders;
  const sim_recorded_row *rows;
  int64_t utility_money, fee_money;
} sim_ledger_frame;

/* What the reader found when it opened the ledger. */
typedef struct sim_ledger_info {
  size_t n_meters;
  const char *const *meters; /* sorted; borrowed */
  uint64_t entries;          /* ledger size */
  uint64_t settlements;      /* intervals */
  int64_t start, end;        /* first settled interval .. last + length */
  int64_t interval;          /* ns */
  char root[65];             /* Merkle root (hex) at `entries` */
} sim_ledger_info;

typedef struct sim_ledger_in sim_ledger_in;

/*
 * sim_ledger_open - open the ledger database `sc->input` read-only and
 * read it through once: every entry must decode; settlements in order,
 * one per interval, of the scenario's interval length. Returns 0 and an
 * owned reader, GL_EPARSE (problems in `diag`, naming the entry index),
 * GL_ENOENT, GL_ESTORE or GL_ENOMEM.
 */
int sim_ledger_open(const sim_scenario *sc, sim_ledger_in **out,
                    sim_diag *diag);

/* sim_ledger_info_get - what the reader found. */
void sim_ledger_info_get(const sim_ledger_in *l, sim_ledger_info *out);

/*
 * sim_ledger_next - the next settled interval starting at or after
 * `from` (earlier ones are skipped) and before `to`. Returns 1 with
 * *frame (borrowed until the next call), 0 when there is none, or an
 * error (in `diag`).
 */
int sim_ledger_next(sim_ledger_in *l, int64_t from, int64_t to,
                    const sim_ledger_frame **frame, sim_diag *diag);

/* sim_ledger_late - readings seen so far that came after their interval's
 * settlement (and so were not used). */
uint64_t sim_ledger_late(const sim_ledger_in *l);

/* sim_ledger_close - release; NULL is a no-op. */
void sim_ledger_close(sim_ledger_in *l);

/*
 * sim_ledger_verify - compare a replayed interval `res` (accounts of the
 * participants, ascending) with the recorded frame `f`: trades, every
 * settlement row, utility money and fees (see "Verification"). Returns 0
 * when equal, or GL_ECONFLICT with the first difference described in
 * why[cap] (meter ids from `meters`).
 */
int sim_ledger_verify(const sim_ledger_frame *f, const mkt_interval_result *res,
                      const char *const *meters, char *why, size_t cap);

/* ---- Writing ------------------------------------------------------------- */

typedef struct sim_ledger_out sim_ledger_out;

/*
 * sim_ledger_out_new - create a new ledger database at `path` (which must
 * not exist) with origin "gridlet-sim/<scenario name>", for the meters
 * `ids` (n, sorted, borrowed: must outlive the writer), and record
 * mechanism `m` as parameter entries effective from `first_interval`.
 * Returns 0 and an owned writer, GL_EEXIST, GL_ESTORE or GL_ENOMEM.
 */
int sim_ledger_out_new(const char *path, const char *name,
                       const char *const *ids, size_t n, const sim_mechanism *m,
                       int64_t first_interval, sim_ledger_out **out);

/*
 * sim_ledger_out_interval - append one interval: `present` and `net` per
 * participant, standing limits (expost) or the orders placed (exante,
 * continuous), the mechanism, the band and the result. Returns 0,
 * GL_ENOTSUP (see above), or a ledger error.
 */
int sim_ledger_out_interval(sim_ledger_out *w, const sim_mechanism *m,
                            int64_t interval_ns, const mkt_band *band,
                            int64_t start, const uint8_t *present,
                            const int64_t *net, const int64_t *buy_limit,
                            const int64_t *sell_limit, const mkt_order *orders,
                            size_t n_orders, const mkt_interval_result *res);

/* sim_ledger_out_free - close; NULL is a no-op. */
void sim_ledger_out_free(sim_ledger_out *w);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_LEDGER_H */
