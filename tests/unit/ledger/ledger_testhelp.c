/* SPDX-License-Identifier: MIT */
/* ledger_testhelp.c - see ledger_testhelp.h. */
#include "ledger_testhelp.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#define T0 INT64_C(1767225600000000000) /* 2026-01-01T00:00:00Z */

void th_order(uint64_t i, lg_entry *e) {
  memset(e, 0, sizeof *e);
  e->type = LG_ENTRY_ORDER;
  lg_order *o = &e->u.order;
  o->interval_start = T0 + (int64_t)(i / 100) * 900 * GL_NS_PER_SEC;
  snprintf(o->meter_id, sizeof o->meter_id, "m%04llu",
           (unsigned long long)(i % 1000));
  o->seq = i + 1;
  o->side = (uint8_t)(i % 2 ? LG_SIDE_SELL : LG_SIDE_BUY);
  o->quantity_wh = (int64_t)(i % 5000);
  o->limit_price = 100000 + (int64_t)(i % 97) * 1000;
  for (int k = 0; k < LG_DIGEST_LEN; k++)
    o->msg_digest[k] = (uint8_t)(i >> (8 * (k % 8)));
}

uint8_t *th_order_bytes(uint64_t i, size_t *len) {
  lg_entry e;
  th_order(i, &e);
  uint8_t *data = NULL;
  assert_int_equal(lg_entry_encode(&e, &data, len), 0);
  return data;
}

void th_settlement(int64_t start, size_t n, uint64_t seed, lg_entry *e) {
  memset(e, 0, sizeof *e);
  e->type = LG_ENTRY_SETTLEMENT;
  lg_settlement *s = &e->u.settlement;
  s->interval_start = start;
  s->interval_len_s = 900;
  s->retail_price = 300000;
  s->feedin_price = 80000;
  s->fee_price = 10000;
  s->n_rows = n;
  s->rows = calloc(n ? n : 1, sizeof *s->rows);
  assert_non_null(s->rows);
  /* Pairs: household 2k sells x Wh locally to 2k+1 at p; the buyer pays
   * p*x/1000 plus a fee, the seller receives p*x/1000; the last odd one
   * imports from the grid. */
  for (size_t i = 0; i < n; i++) {
    lg_settlement_row *r = &s->rows[i];
    snprintf(r->meter_id, sizeof r->meter_id, "h%03zu", i);
    int64_t x = (int64_t)((seed * 31 + i / 2 * 7) % 900) + 1;
    int64_t money = 200 * x; /* 200000 micro per kWh */
    int64_t fee = 10 * x;
    if (i % 2 == 0 && i + 1 < n) {
      r->local_sold_wh = x;
      r->money = money;
    } else if (i % 2 == 1) {
      r->local_bought_wh = x;
      r->fee = fee;
      r->money = -money - fee;
      s->fee_money += fee;
    } else {
      r->grid_import_wh = x;
      r->money = -300 * x;
      s->utility_money += 300 * x;
      r->flags = LG_SETTLE_NO_READING;
    }
  }
}

void th_settlement_free(lg_entry *e) {
  free(e->u.settlement.rows);
  e->u.settlement.rows = NULL;
}

void th_append_orders(lg_ledger *lg, uint64_t from, uint64_t to) {
  size_t n = (size_t)(to - from);
  gl_bytes *b = calloc(n ? n : 1, sizeof *b);
  assert_non_null(b);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    b[i].data = th_order_bytes(from + i, &len);
    b[i].len = len;
  }
  uint64_t first = 0;
  assert_int_equal(lg_ledger_append(lg, b, n, &first), 0);
  assert_int_equal(first, from);
  for (size_t i = 0; i < n; i++)
    free((void *)b[i].data);
  free(b);
}

void th_tree_add(th_tree *t, const void *data, size_t len) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->leaves = realloc(t->leaves, t->cap * sizeof *t->leaves);
    assert_non_null(t->leaves);
  }
  /* The leaf hash written out by hand, not through lg_leaf_hash. */
  uint8_t *buf = malloc(len + 1);
  assert_non_null(buf);
  buf[0] = 0x00;
  memcpy(buf + 1, data, len);
  assert_int_equal(gl_sha256(buf, len + 1, t->leaves[t->n].b), 0);
  free(buf);
  t->n++;
}

static void memo_drop(th_tree *t) {
  for (int h = 0; h < 64; h++) {
    free(t->memo[h]);
    free(t->have[h]);
    t->memo[h] = NULL;
    t->have[h] = NULL;
  }
  t->memo_n = 0;
}

void th_tree_free(th_tree *t) {
  memo_drop(t);
  free(t->leaves);
  memset(t, 0, sizeof *t);
}

void th_mth(const th_tree *t, uint64_t a, uint64_t b, uint8_t out[32]) {
  assert_true(b > a && b <= t->n);
  if (b - a == 1) {
    memcpy(out, t->leaves[a].b, 32);
    return;
  }
  uint64_t k = 1;
  while (k * 2 < b - a)
    k *= 2;
  uint8_t buf[65];
  buf[0] = 0x01;
  th_mth(t, a, a + k, buf + 1);
  th_mth(t, a + k, b, buf + 33);
  assert_int_equal(gl_sha256(buf, 65, out), 0);
}

static int tree_subtree(void *ctx, uint64_t start, unsigned height,
                        uint8_t out[32]) {
  th_tree *t = ctx;
  if (start + ((uint64_t)1 << height) > t->n)
    return GL_ERANGE;
  if (t->memo_n != t->n)
    memo_drop(t); /* leaves were added: start afresh */
  t->memo_n = t->n;
  size_t slots = (size_t)(t->n >> height);
  if (!t->memo[height]) {
    t->memo[height] = calloc(slots, sizeof(lg_hash));
    t->have[height] = calloc(slots, 1);
    assert_non_null(t->memo[height]);
    assert_non_null(t->have[height]);
  }
  size_t k = (size_t)(start >> height);
  if (!t->have[height][k]) {
    th_mth(t, start, start + ((uint64_t)1 << height), t->memo[height][k].b);
    t->have[height][k] = 1;
  }
  memcpy(out, t->memo[height][k].b, 32);
  return 0;
}

lg_hash_source th_tree_source(th_tree *t) {
  lg_hash_source s = {tree_subtree, t};
  return s;
}

void th_unhex(const char *hex, uint8_t *out, size_t n) {
  size_t got = 0;
  assert_int_equal(gl_hex_decode(hex, strlen(hex), out, n, &got), 0);
  assert_int_equal(got, n);
}

void th_sql(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK)
    fail_msg("sql \"%s\": %s", sql, err ? err : "?");
  sqlite3_close(db);
}

void th_flip_entry_byte(const char *path, uint64_t idx, size_t offset) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT data FROM lg_entries WHERE idx=?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)idx);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  size_t n = (size_t)sqlite3_column_bytes(st, 0);
  assert_true(offset < n);
  uint8_t *data = malloc(n);
  memcpy(data, sqlite3_column_blob(st, 0), n);
  sqlite3_finalize(st);
  data[offset] ^= 1;
  assert_int_equal(
      sqlite3_prepare_v2(db, "UPDATE lg_entries SET data=? WHERE idx=?", -1,
                         &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, data, (int)n, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  free(data);
  sqlite3_close(db);
}

struct gl_manual_clock *th_clock(void) {
  gl_manual_clock *mc = gl_manual_clock_new(T0);
  assert_non_null(mc);
  return mc;
}
