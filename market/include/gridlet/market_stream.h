/* SPDX-License-Identifier: MIT */
/*
 * gridlet/market_stream.h - the binary order-stream format, a deterministic
 * generator of synthetic streams, and a replay of a stream through the
 * continuous double auction that prints a checksum other engines can be
 * compared against (bench/market, `gridlet-market gen|replay`).
 *
 * ## Format
 * A stream is a sequence of 24-byte little-endian records, no header:
 *
 *   offset size field
 *   0      1    type         'A' add, 'X' cancel, 'E' interval close
 *   1      1    side         'B' buy, 'S' sell (adds; ignored otherwise)
 *   2      2    interval     u16
 *   4      4    price        u32, µ/kWh (adds)
 *   8      4    qty          u32, Wh (adds)
 *   12     4    participant  u32 (adds)
 *   16     8    order id     u64 (adds and cancels)
 *
 * Order ids are dense from 0 in add order; a cancel names an earlier add of
 * the same interval; 'E' closes the interval's book (gate closure). The
 * generator writes, for cancels, the named add's side, price, qty and
 * participant, and zeros for the fields a close does not use.
 *
 * ## Replay (the comparison mode)
 * One CDA book per open interval, price-time priority, trades at the
 * resting order's price, no self-trade prevention, and the book discarded
 * at each close. A cancel of an order that already left the book (filled)
 * is counted as a miss, not an error. Books still open at the end of the
 * stream are closed then. The checksum line is
 *
 *   checksum: trades=N qty=N cost=N resting_at_close=N hash=%016x
 *
 * with trades the number of fills, qty their summed Wh, cost the sum of
 * qty * price (mod 2^64), resting_at_close the number of orders resting at
 * the closes, and hash an FNV-1a-style fold: starting at
 * 1469598103934665603, for each fill in fill order, for each of (incoming
 * id, resting id, qty, price) as u64: h ^= v; h *= 1099511628211.
 *
 * Thread-safety: handles are used by one thread at a time; the codec
 * functions are pure.
 */
#ifndef GRIDLET_MARKET_STREAM_H
#define GRIDLET_MARKET_STREAM_H

#include "gridlet/market.h"
#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MKT_STREAM_REC_SIZE 24

/* One decoded record. */
typedef struct mkt_stream_rec {
  uint8_t type; /* 'A', 'X' or 'E' */
  uint8_t side; /* 'B' or 'S' */
  uint16_t interval;
  uint32_t price;
  uint32_t qty;
  uint32_t participant;
  uint64_t id;
} mkt_stream_rec;

/* mkt_stream_encode - write r as 24 little-endian bytes to out. */
void mkt_stream_encode(const mkt_stream_rec *r,
                       uint8_t out[MKT_STREAM_REC_SIZE]);

/*
 * mkt_stream_decode - read one record. Returns 0, or GL_EPARSE for an
 * unknown type, or an add with a side other than 'B'/'S', qty 0 or above
 * MKT_QTY_MAX, or price above MKT_PRICE_MAX.
 */
int mkt_stream_decode(const uint8_t in[MKT_STREAM_REC_SIZE], mkt_stream_rec *r);

/*
 * mkt_stream_decode_all - decode len bytes (a multiple of 24) into recs[]
 * (room for len / 24). Returns 0, or GL_EPARSE with *bad the index of the
 * first bad record (len not a multiple of 24: *bad = len / 24).
 */
int mkt_stream_decode_all(const uint8_t *buf, size_t len, mkt_stream_rec *recs,
                          size_t *bad);

/* What a replay needs to know about a stream to size its books. */
typedef struct mkt_stream_info {
  size_t adds, cancels, closes;
  uint32_t price_min, price_max; /* over adds; 0, 0 without adds */
  uint32_t price_tick;  /* the largest step on which every add's price lies
                           counting from price_min (1 if all are equal) */
  size_t max_adds_open; /* most adds to one interval between its closes */
  size_t max_open;      /* most intervals open at once */
} mkt_stream_info;

/*
 * mkt_stream_scan - summarise a decoded stream. O(n) with one temporary
 * table of 2^16 counters. Returns 0 or GL_ENOMEM.
 */
int mkt_stream_scan(const mkt_stream_rec *recs, size_t n,
                    mkt_stream_info *info);

/* ---- Generator ------------------------------------------------------------
 *
 * Per interval, every household places `orders` orders (its side, buy or
 * sell, drawn once per household and interval; each order's price uniform
 * on the tick grid of [price_min, price_max] and qty uniform in [qty_min,
 * qty_max]); the adds of all households are shuffled together. After each
 * add, with probability cancel_ppm / 10^6, a cancel of a uniformly chosen
 * earlier, not yet cancelled add of the interval follows. Then 'E'.
 * Participants are household numbers 0..households-1; intervals count from
 * first_interval (mod 2^16). The stream depends only on the config and the
 * generator's random sequence: with gl_seeded_rand it is the same, byte for
 * byte, on every machine.
 */
typedef struct mkt_gen_config {
  uint32_t households; /* 0: 10000 */
  uint32_t intervals;  /* 0: 96 */
  uint32_t orders;     /* per household and interval; 0: 2 */
  uint32_t cancel_ppm; /* 0: none; 100000 is a 10 % cancel share */
  uint32_t price_min;  /* 0 and price_max 0: 80000..300000 µ/kWh */
  uint32_t price_max;
  uint32_t price_tick; /* 0: 100 µ/kWh */
  uint32_t qty_min;    /* 0 and qty_max 0: 1..2000 Wh */
  uint32_t qty_max;
  uint16_t first_interval;
} mkt_gen_config;

typedef struct mkt_gen mkt_gen;

/*
 * mkt_gen_new - a generator. `rand` is borrowed and must outlive it.
 * Returns 0 and an owned handle, GL_EINVAL (price_min > price_max, qty_min >
 * qty_max or 0, prices or qty beyond the market's limits, households *
 * orders above 2^31) or GL_ENOMEM.
 */
int mkt_gen_new(const mkt_gen_config *cfg, const gl_rand *rand, mkt_gen **out);

/* mkt_gen_free - release; NULL is a no-op. */
void mkt_gen_free(mkt_gen *g);

/*
 * mkt_gen_next - the next record into *out. Returns 1, 0 at the end of the
 * stream, or a negative GL_E* code from the random generator.
 */
int mkt_gen_next(mkt_gen *g, mkt_stream_rec *out);

/* mkt_gen_adds - the number of adds the generator will produce. */
uint64_t mkt_gen_adds(const mkt_gen *g);

/* ---- Replay -------------------------------------------------------------- */

typedef struct mkt_replay_stats {
  uint64_t events;        /* records applied */
  uint64_t adds;          /* adds accepted */
  uint64_t rejected;      /* adds the book refused (e.g. duplicate live id) */
  uint64_t cancels;       /* cancels that removed an order */
  uint64_t cancel_misses; /* cancels of orders no longer resting */
  uint64_t closes;
  uint64_t trades;
  uint64_t qty;
  uint64_t cost;
  uint64_t resting_at_close;
  uint64_t hash;
} mkt_replay_stats;

typedef struct mkt_replay mkt_replay;

/*
 * mkt_replay_new - books sized for a stream described by `info` (from
 * mkt_stream_scan): max_open books of max_adds_open orders over the price
 * range [price_min, price_max] with tick price_tick. With
 * `self_trade_prevention` the books prevent self-trades (not the comparison
 * mode). Returns 0 and an owned handle, GL_ERANGE (more than MKT_CDA_LEVELS_MAX
 * ticks in the price range, or prices beyond MKT_PRICE_MAX), or GL_ENOMEM.
 */
int mkt_replay_new(const mkt_stream_info *info, bool self_trade_prevention,
                   mkt_replay **out);

/* mkt_replay_free - release; NULL is a no-op. */
void mkt_replay_free(mkt_replay *r);

/*
 * mkt_replay_run - apply recs[0..n) from empty books and fill *st. May be
 * called again (each run starts afresh; the same records give the same
 * stats). Returns 0, or GL_EFULL if the stream opens more intervals at
 * once, or adds more to one, than the replay was sized for (*st then
 * counts up to the failing record).
 */
int mkt_replay_run(mkt_replay *r, const mkt_stream_rec *recs, size_t n,
                   mkt_replay_stats *st);

/*
 * mkt_replay_checksum - the checksum line (without newline) into buf.
 * Returns what snprintf returns.
 */
int mkt_replay_checksum(const mkt_replay_stats *st, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MARKET_STREAM_H */
