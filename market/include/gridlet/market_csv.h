/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_csv.h - the CSV order-book format read by
 * `gridlet-market clear` (and by anyone who wants to hand a book to the
 * market by hand).
 *
 * Format, one order per line:
 *
 *   # a comment; '#' starts a comment anywhere on a line
 *   side,participant,qty_wh,price        <- optional header, first line only
 *   buy,17,1500,250000
 *   sell, 4, 800, 120000                 <- spaces around fields are fine
 *
 *   side         "buy" or "sell" (any case)
 *   participant  integer 0..4294967295
 *   qty_wh       integer Wh, 1..10^9
 *   price        integer µ/kWh (micro-currency per kWh), -10^9..10^9
 *
 * Blank lines and comments are skipped; lines end in LF or CRLF. Each
 * order's id is its 1-based line number, so trades can be traced back to
 * the file. Lines longer than MKT_CSV_LINE_MAX bytes, lines holding a NUL
 * byte and any other deviation are errors naming the line and the reason.
 *
 * The parser only reads the caller's buffer: no I/O, no allocation.
 * Thread-safe (no shared state).
 */
#ifndef GRIDLET_MARKET_CSV_H
#define GRIDLET_MARKET_CSV_H

#include "gridlet/market.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MKT_CSV_LINE_MAX 1024

/* One rejected line. */
typedef struct mkt_csv_error {
  size_t line; /* 1-based */
  char
      reason[160]; /* e.g. "qty_wh must be an integer 1..1000000000, got 'x'" */
} mkt_csv_error;

/*
 * Called for every order, in file order. Return 0 to go on, or a negative
 * GL_E* code to stop parsing (mkt_csv_parse then returns that code), e.g.
 * GL_EFULL from mkt_auction_add.
 */
typedef int (*mkt_csv_order_fn)(void *ctx, const mkt_order *o);

/* Called for every rejected line, in file order; parsing goes on. */
typedef void (*mkt_csv_error_fn)(void *ctx, const mkt_csv_error *e);

/*
 * mkt_csv_parse - parse `len` bytes of `buf` (need not be NUL-terminated).
 * Each order is passed to on_order with interval `interval`; each bad line
 * to on_error (may be NULL). *n_errors (may be NULL) receives the number of
 * bad lines. Returns 0 when every line was good, GL_EPARSE when some were
 * bad (all good lines were still delivered), or the first non-zero code
 * returned by on_order.
 */
int mkt_csv_parse(const char *buf, size_t len, int64_t interval,
                  mkt_csv_order_fn on_order, mkt_csv_error_fn on_error,
                  void *ctx, size_t *n_errors);

/*
 * mkt_csv_count_lines - an upper bound on the orders in buf: its number of
 * lines. Lets a caller size an auction before parsing.
 */
size_t mkt_csv_count_lines(const char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_CSV_H */
