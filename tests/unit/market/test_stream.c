/* SPDX-License-Identifier: MIT */
/*
 * The order-stream format, generator and replay: the exact byte layout,
 * decoding errors, the generator's promises (dense ids, cancels of earlier
 * live adds of the same interval, prices on the grid, one side per
 * household and interval, determinism) and the replay's checksum, checked
 * against an independent computation that drives a CDA book directly.
 */
#include "gridlet/error.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_stream.h"
#include "gridlet/rand.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_stream_record_layout_is_little_endian(void **state) {
  (void)state;
  mkt_stream_rec r = {'A',
                      'S',
                      0x0102,
                      0x03040506,
                      0x0708090a,
                      0x0b0c0d0e,
                      UINT64_C(0x0f10111213141516)};
  uint8_t b[MKT_STREAM_REC_SIZE];
  mkt_stream_encode(&r, b);
  static const uint8_t want[MKT_STREAM_REC_SIZE] = {
      'A',  'S',  0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0a, 0x09, 0x08, 0x07,
      0x0e, 0x0d, 0x0c, 0x0b, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, 0x10, 0x0f};
  assert_memory_equal(b, want, sizeof want);
  /* 0x03040506 is within MKT_PRICE_MAX and 0x0708090a within MKT_QTY_MAX. */
  mkt_stream_rec back;
  assert_int_equal(mkt_stream_decode(b, &back), 0);
  assert_memory_equal(&back, &r, sizeof r);
}

static void test_stream_decode_rejects_malformed_records(void **state) {
  (void)state;
  mkt_stream_rec r = {'A', 'B', 1, 100, 10, 1, 0}, back;
  uint8_t b[MKT_STREAM_REC_SIZE];
  mkt_stream_encode(&r, b);
  assert_int_equal(mkt_stream_decode(b, &back), 0);
  b[0] = 'Z';
  assert_int_equal(mkt_stream_decode(b, &back), GL_EPARSE);
  b[0] = 'A';
  b[1] = 'x';
  assert_int_equal(mkt_stream_decode(b, &back), GL_EPARSE);
  r.qty = 0;
  mkt_stream_encode(&r, b);
  assert_int_equal(mkt_stream_decode(b, &back), GL_EPARSE);
  r.qty = 1;
  r.price = MKT_PRICE_MAX + 1;
  mkt_stream_encode(&r, b);
  assert_int_equal(mkt_stream_decode(b, &back), GL_EPARSE);
  /* Cancels and closes ignore the order fields. */
  r = (mkt_stream_rec){'X', 0, 1, 0xffffffffu, 0, 0, 7};
  mkt_stream_encode(&r, b);
  assert_int_equal(mkt_stream_decode(b, &back), 0);
  r.type = 'E';
  mkt_stream_encode(&r, b);
  assert_int_equal(mkt_stream_decode(b, &back), 0);

  uint8_t two[2 * MKT_STREAM_REC_SIZE + 5];
  mkt_stream_rec recs[2];
  size_t bad;
  memcpy(two, b, MKT_STREAM_REC_SIZE);
  memcpy(two + MKT_STREAM_REC_SIZE, b, MKT_STREAM_REC_SIZE);
  assert_int_equal(
      mkt_stream_decode_all(two, 2 * MKT_STREAM_REC_SIZE, recs, &bad), 0);
  assert_int_equal(mkt_stream_decode_all(two, sizeof two, recs, &bad),
                   GL_EPARSE);
  assert_int_equal(bad, 2);
  two[MKT_STREAM_REC_SIZE] = '?';
  assert_int_equal(
      mkt_stream_decode_all(two, 2 * MKT_STREAM_REC_SIZE, recs, &bad),
      GL_EPARSE);
  assert_int_equal(bad, 1);
}

/* Generate a whole stream into a malloc'd array. */
static mkt_stream_rec *generate(const mkt_gen_config *cfg, uint64_t seed,
                                size_t *n) {
  gl_seeded_rand *sr = gl_seeded_rand_new(seed);
  gl_rand r = gl_seeded_rand_rand(sr);
  mkt_gen *g;
  assert_int_equal(mkt_gen_new(cfg, &r, &g), 0);
  size_t cap = (size_t)mkt_gen_adds(g) * 3 + 64, k = 0;
  mkt_stream_rec *recs = malloc(cap * sizeof *recs);
  int rc;
  while ((rc = mkt_gen_next(g, &recs[k])) == 1)
    assert_true(++k < cap);
  assert_int_equal(rc, 0);
  assert_int_equal(mkt_gen_next(g, &recs[k]), 0); /* stays at the end */
  mkt_gen_free(g);
  gl_seeded_rand_free(sr);
  *n = k;
  return recs;
}

static void test_generator_keeps_its_promises(void **state) {
  (void)state;
  mkt_gen_config cfg = {.households = 50,
                        .intervals = 4,
                        .orders = 3,
                        .cancel_ppm = 300000,
                        .price_min = 1000,
                        .price_max = 2000,
                        .price_tick = 50,
                        .qty_min = 5,
                        .qty_max = 9,
                        .first_interval = 65534}; /* wraps to 0, 1 */
  size_t n;
  mkt_stream_rec *r = generate(&cfg, 3, &n);
  static bool cancelled[600], added[600];
  char side[4][50];
  memset(cancelled, 0, sizeof cancelled);
  memset(added, 0, sizeof added);
  memset(side, 0, sizeof side);
  uint64_t next_id = 0, iv_index = 0, cancels = 0;
  size_t adds_in_interval = 0;
  uint64_t first_id_of_interval = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t iv = (uint16_t)(65534 + iv_index);
    assert_int_equal(r[i].interval, iv);
    switch (r[i].type) {
    case 'A':
      assert_int_equal(r[i].id, next_id++); /* dense, in add order */
      assert_true(r[i].price >= 1000 && r[i].price <= 2000);
      assert_int_equal((r[i].price - 1000) % 50, 0);
      assert_true(r[i].qty >= 5 && r[i].qty <= 9);
      assert_true(r[i].participant < 50);
      if (side[iv_index][r[i].participant] == 0)
        side[iv_index][r[i].participant] = (char)r[i].side;
      assert_int_equal(side[iv_index][r[i].participant], r[i].side);
      added[r[i].id] = true;
      adds_in_interval++;
      break;
    case 'X':
      /* An earlier add of this interval, not cancelled before. */
      assert_true(r[i].id < next_id && r[i].id >= first_id_of_interval);
      assert_true(added[r[i].id] && !cancelled[r[i].id]);
      cancelled[r[i].id] = true;
      cancels++;
      break;
    case 'E':
      assert_int_equal(adds_in_interval, 150);
      adds_in_interval = 0;
      iv_index++;
      first_id_of_interval = next_id;
      break;
    default:
      fail();
    }
  }
  assert_int_equal(iv_index, 4);
  assert_int_equal(next_id, 600);
  assert_true(cancels > 120 && cancels < 240); /* about 30 % of 600 */
  free(r);
}

static void test_generator_is_deterministic(void **state) {
  (void)state;
  mkt_gen_config cfg = {
      .households = 100, .intervals = 3, .cancel_ppm = 100000};
  size_t n1, n2, n3;
  mkt_stream_rec *a = generate(&cfg, 7, &n1), *b = generate(&cfg, 7, &n2),
                 *c = generate(&cfg, 8, &n3);
  assert_int_equal(n1, n2);
  assert_memory_equal(a, b, n1 * sizeof *a);
  assert_true(n1 != n3 || memcmp(a, c, n1 * sizeof *a) != 0);
  /* Defaults: prices 80000..300000 on a 100 grid, 1..2000 Wh, 2 orders. */
  for (size_t i = 0; i < n1; i++)
    if (a[i].type == 'A') {
      assert_true(a[i].price >= 80000 && a[i].price <= 300000);
      assert_int_equal(a[i].price % 100, 0);
      assert_true(a[i].qty >= 1 && a[i].qty <= 2000);
    }
  free(a);
  free(b);
  free(c);
}

static void test_generator_rejects_bad_config(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(1);
  gl_rand r = gl_seeded_rand_rand(sr);
  mkt_gen *g;
  mkt_gen_config bad[] = {
      {.price_min = 10, .price_max = 5},
      {.qty_min = 9, .qty_max = 3},
      {.cancel_ppm = 1000001},
      {.price_min = 1, .price_max = 2000000000},
      {.households = 70000, .orders = 70000},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mkt_gen_new(&bad[i], &r, &g), GL_EINVAL);
  gl_seeded_rand_free(sr);
  mkt_gen_free(NULL);
}

/* ---- Replay against an independent computation ------------------------- */

typedef struct check {
  uint64_t trades, qty, cost, hash;
} check;

static void hash_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  check *c = ctx;
  uint64_t v[4] = {aggressor == MKT_BUY ? t->buy_id : t->sell_id,
                   aggressor == MKT_BUY ? t->sell_id : t->buy_id,
                   (uint64_t)t->qty, (uint64_t)t->buy_price};
  for (int i = 0; i < 4; i++) {
    c->hash ^= v[i];
    c->hash *= UINT64_C(1099511628211);
  }
  c->trades++;
  c->qty += (uint64_t)t->qty;
  c->cost += (uint64_t)t->qty * (uint64_t)t->buy_price;
}

static void test_replay_checksum_matches_direct_book(void **state) {
  (void)state;
  mkt_gen_config cfg = {
      .households = 300, .intervals = 5, .cancel_ppm = 150000};
  size_t n;
  mkt_stream_rec *r = generate(&cfg, 42, &n);
  mkt_stream_info info;
  assert_int_equal(mkt_stream_scan(r, n, &info), 0);
  assert_int_equal(info.adds, 3000);
  assert_int_equal(info.closes, 5);
  assert_int_equal(info.max_open, 1);
  assert_int_equal(info.max_adds_open, 600);
  assert_true(info.price_min >= 80000 && info.price_max <= 300000);

  /* The same stream through one book by hand. */
  check c = {0, 0, 0, UINT64_C(1469598103934665603)};
  mkt_cda_config bc = {.capacity = 600,
                       .price_min = 80000,
                       .price_max = 300000,
                       .allow_self_trade = true,
                       .sink = {.trade = hash_trade, .ctx = &c}};
  mkt_cda *b;
  assert_int_equal(mkt_cda_new(&bc, &b), 0);
  uint64_t resting = 0, cancels = 0, misses = 0;
  int64_t interval = r[0].interval;
  bc.interval = interval;
  assert_int_equal(mkt_cda_close(b, NULL), 0);
  assert_int_equal(mkt_cda_reopen(b, interval), 0);
  for (size_t i = 0; i < n; i++) {
    if (r[i].type == 'A') {
      mkt_order o = {r[i].id,
                     r[i].participant,
                     r[i].side == 'B' ? MKT_BUY : MKT_SELL,
                     r[i].interval,
                     r[i].qty,
                     r[i].price};
      assert_int_equal(mkt_cda_add(b, &o, NULL), 0);
    } else if (r[i].type == 'X') {
      if (mkt_cda_cancel(b, r[i].id, NULL) == 0)
        cancels++;
      else
        misses++;
    } else {
      size_t k;
      assert_int_equal(mkt_cda_close(b, &k), 0);
      resting += k;
      if (i + 1 < n)
        assert_int_equal(mkt_cda_reopen(b, r[i + 1].interval), 0);
    }
  }
  mkt_cda_free(b);

  mkt_replay *rp;
  assert_int_equal(mkt_replay_new(&info, false, &rp), 0);
  mkt_replay_stats st, again;
  assert_int_equal(mkt_replay_run(rp, r, n, &st), 0);
  assert_int_equal(st.events, n);
  assert_int_equal(st.adds, 3000);
  assert_int_equal(st.rejected, 0);
  assert_int_equal(st.closes, 5);
  assert_int_equal(st.cancels, cancels);
  assert_int_equal(st.cancel_misses, misses);
  assert_int_equal(st.trades, c.trades);
  assert_int_equal(st.qty, c.qty);
  assert_int_equal(st.cost, c.cost);
  assert_int_equal(st.hash, c.hash);
  assert_int_equal(st.resting_at_close, resting);
  assert_true(st.trades > 1000);
  /* A second run starts afresh and gives the same. */
  assert_int_equal(mkt_replay_run(rp, r, n, &again), 0);
  assert_memory_equal(&st, &again, sizeof st);
  char line[256];
  mkt_replay_checksum(&st, line, sizeof line);
  char want[256];
  snprintf(want, sizeof want,
           "checksum: trades=%llu qty=%llu cost=%llu resting_at_close=%llu "
           "hash=%016llx",
           (unsigned long long)c.trades, (unsigned long long)c.qty,
           (unsigned long long)c.cost, (unsigned long long)resting,
           (unsigned long long)c.hash);
  assert_string_equal(line, want);
  mkt_replay_free(rp);
  free(r);
}

/* Intervals open at once each get a book; a stream opening more than the
 * replay was sized for fails with GL_EFULL; books left open at the end are
 * closed and counted. */
static void test_replay_handles_overlapping_intervals(void **state) {
  (void)state;
  mkt_stream_rec r[] = {
      {'A', 'B', 1, 100, 10, 1, 0}, {'A', 'S', 2, 100, 10, 2, 1},
      {'A', 'S', 1, 90, 4, 3, 2},   {'X', 0, 2, 0, 0, 0, 1},
      {'X', 0, 3, 0, 0, 0, 1},      {'E', 0, 1, 0, 0, 0, 0},
      {'A', 'S', 2, 100, 5, 4, 3},
  };
  size_t n = sizeof r / sizeof r[0];
  mkt_stream_info info;
  assert_int_equal(mkt_stream_scan(r, n, &info), 0);
  assert_int_equal(info.max_open, 2);
  mkt_replay *rp;
  assert_int_equal(mkt_replay_new(&info, false, &rp), 0);
  mkt_replay_stats st;
  assert_int_equal(mkt_replay_run(rp, r, n, &st), 0);
  assert_int_equal(st.trades, 1);           /* 1 buys 4 from 3 in interval 1 */
  assert_int_equal(st.cancels, 1);          /* order 1 in interval 2 */
  assert_int_equal(st.cancel_misses, 1);    /* interval 3 never opened */
  assert_int_equal(st.resting_at_close, 2); /* order 0 at E, order 3 at end */
  mkt_replay_free(rp);

  info.max_open = 1;
  assert_int_equal(mkt_replay_new(&info, false, &rp), 0);
  assert_int_equal(mkt_replay_run(rp, r, n, &st), GL_EFULL);
  assert_int_equal(st.events, 2);
  mkt_replay_free(rp);

  info.price_max = MKT_PRICE_MAX + 1;
  assert_int_equal(mkt_replay_new(&info, false, &rp), GL_ERANGE);
  mkt_replay_free(NULL);
}

/* The same config and seed give the same stream and checksum on every
 * machine: these values were computed on x86-64 and the test also runs on
 * arm64 under qemu. A change here changes every published benchmark
 * checksum and simulator result; it must be deliberate. */
static void test_stream_and_checksum_are_pinned(void **state) {
  (void)state;
  mkt_gen_config cfg = {
      .households = 200, .intervals = 3, .cancel_ppm = 100000};
  size_t n;
  mkt_stream_rec *r = generate(&cfg, 1, &n);
  assert_int_equal(n, 1326);
  /* FNV-1a over the encoded bytes. */
  uint64_t h = UINT64_C(1469598103934665603);
  for (size_t i = 0; i < n; i++) {
    uint8_t b[MKT_STREAM_REC_SIZE];
    mkt_stream_encode(&r[i], b);
    for (size_t j = 0; j < sizeof b; j++)
      h = (h ^ b[j]) * UINT64_C(1099511628211);
  }
  mkt_stream_info info;
  mkt_replay *rp;
  mkt_replay_stats st;
  assert_int_equal(mkt_stream_scan(r, n, &info), 0);
  assert_int_equal(mkt_replay_new(&info, false, &rp), 0);
  assert_int_equal(mkt_replay_run(rp, r, n, &st), 0);
  char line[256];
  mkt_replay_checksum(&st, line, sizeof line);
  assert_string_equal(line, "checksum: trades=912 qty=461473 cost=80727884700 "
                            "resting_at_close=249 hash=4e18745de4803c71");
  assert_int_equal(h, UINT64_C(0x65bd8531a679d80c));
  mkt_replay_free(rp);
  free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_record_layout_is_little_endian),
      cmocka_unit_test(test_stream_decode_rejects_malformed_records),
      cmocka_unit_test(test_generator_keeps_its_promises),
      cmocka_unit_test(test_generator_is_deterministic),
      cmocka_unit_test(test_generator_rejects_bad_config),
      cmocka_unit_test(test_replay_checksum_matches_direct_book),
      cmocka_unit_test(test_replay_handles_overlapping_intervals),
      cmocka_unit_test(test_stream_and_checksum_are_pinned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
