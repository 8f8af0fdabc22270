/* SPDX-License-Identifier: MIT */
/*
 * fuzz_market_stream - any bytes as an order stream: decoded, scanned and
 * replayed through the CDA (twice: the runs must agree), and applied to one
 * clamping book directly, which must never be left crossed after an add and
 * must account for every Wh: added == 2 * traded + netted + cancelled +
 * resting (a trade and a prevented self-trade each consume their quantity
 * from two orders).
 */
#include "gridlet/error.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_stream.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS 4096

typedef struct totals {
  int64_t traded, netted;
} totals;

static void on_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  (void)aggressor;
  totals *s = ctx;
  if (t->qty <= 0 || t->buy_price != t->sell_price)
    __builtin_trap();
  s->traded += t->qty;
}

static void on_self(void *ctx, const mkt_self_trade *st) {
  totals *s = ctx;
  s->netted += st->qty;
}

static void direct(const mkt_stream_rec *r, size_t n) {
  totals s = {0, 0};
  mkt_cda_config cfg = {.capacity = n ? n : 1,
                        .price_min = 1000,
                        .price_max = 5000,
                        .clamp = true,
                        .sink = {on_trade, on_self, NULL, &s}};
  mkt_cda *b;
  if (mkt_cda_new(&cfg, &b) != 0)
    __builtin_trap();
  int64_t added = 0, cancelled = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].type == 'A') {
      mkt_order o = {r[i].id,
                     r[i].participant & 3,
                     r[i].side == 'B' ? MKT_BUY : MKT_SELL,
                     0,
                     r[i].qty,
                     r[i].price};
      mkt_cda_result res;
      int rc = mkt_cda_add(b, &o, &res);
      if (rc == 0) {
        added += o.qty;
        mkt_cda_level bid, ask;
        size_t nb, na;
        mkt_cda_depth(b, MKT_BUY, &bid, 1, &nb);
        mkt_cda_depth(b, MKT_SELL, &ask, 1, &na);
        if (nb && na && bid.price >= ask.price)
          __builtin_trap();
      } else if (rc != GL_EEXIST) {
        __builtin_trap();
      }
    } else if (r[i].type == 'X') {
      int64_t left;
      if (mkt_cda_cancel(b, r[i].id, &left) == 0)
        cancelled += left;
    }
  }
  mkt_cda_level lv[64];
  int64_t resting = 0;
  for (int side = MKT_BUY; side <= MKT_SELL; side++) {
    size_t k;
    mkt_cda_depth(b, (mkt_side)side, lv, 64, &k);
    for (size_t i = 0; i < k; i++)
      resting += lv[i].qty;
    if (k == 64) { /* deeper than we looked: skip the balance check */
      mkt_cda_free(b);
      return;
    }
  }
  if (added != 2 * s.traded + 2 * s.netted + cancelled + resting)
    __builtin_trap();
  mkt_cda_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n = size / MKT_STREAM_REC_SIZE;
  if (n > MAX_RECS)
    n = MAX_RECS;
  mkt_stream_rec *r = malloc((n ? n : 1) * sizeof *r);
  size_t bad;
  if (mkt_stream_decode_all(data, n * MKT_STREAM_REC_SIZE, r, &bad) != 0) {
    if (bad >= n)
      __builtin_trap();
    free(r);
    return 0;
  }
  mkt_stream_info info;
  mkt_replay *rp = NULL;
  /* The replay sizes one book of (price range) levels per interval open at
   * once, as a stream asks; keep what a fuzzed stream asks for modest. */
  if (mkt_stream_scan(r, n, &info) == 0 &&
      (uint64_t)(info.price_max - info.price_min + 1) * info.max_open <=
          (1u << 16) &&
      mkt_replay_new(&info, (size & 1) != 0, &rp) == 0) {
    mkt_replay_stats a, b;
    int ra = mkt_replay_run(rp, r, n, &a), rb = mkt_replay_run(rp, r, n, &b);
    if (ra != 0 || rb != 0 || memcmp(&a, &b, sizeof a) != 0)
      __builtin_trap(); /* sized from the scan: cannot run out */
    if (a.adds + a.rejected != info.adds ||
        a.cancels + a.cancel_misses != info.cancels)
      __builtin_trap();
  }
  mkt_replay_free(rp);
  direct(r, n);
  free(r);
  return 0;
}
