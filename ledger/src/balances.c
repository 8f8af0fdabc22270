/* SPDX-License-Identifier: MIT */
/*
 * balances.c - per-household sums over settlement entries.
 *
 * Households are kept in an array (insertion order) indexed by an
 * open-addressing hash table on the meter id; a sorted view is built on
 * demand for listing.
 */
#include "gridlet/ledger_balances.h"

#include "gridlet/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lg_balances {
  lg_balance *items;
  size_t n, cap;
  size_t *table; /* slots hold index + 1; 0 = empty */
  size_t table_cap;
  const lg_balance **sorted; /* meter id order, valid when !dirty */
  bool dirty;
  lg_balance_totals totals;
};

lg_balances *lg_balances_new(void) {
  lg_balances *b = calloc(1, sizeof *b);
  return b;
}

void lg_balances_free(lg_balances *b) {
  if (!b)
    return;
  free(b->items);
  free(b->table);
  free((void *)b->sorted);
  free(b);
}

/* FNV-1a: small, deterministic, good enough for meter ids. */
static size_t hash_id(const char *id) {
  uint64_t h = 1469598103934665603ull;
  for (; *id; id++)
    h = (h ^ (uint8_t)*id) * 1099511628211ull;
  return (size_t)h;
}

static size_t *slot_for(const lg_balances *b, const char *id) {
  size_t mask = b->table_cap - 1;
  for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    size_t *s = &b->table[i];
    if (*s == 0 || strcmp(b->items[*s - 1].meter_id, id) == 0)
      return s;
  }
}

static int grow_table(lg_balances *b) {
  size_t cap = b->table_cap ? b->table_cap * 2 : 64;
  size_t *t = calloc(cap, sizeof *t);
  if (!t)
    return GL_ENOMEM;
  free(b->table);
  b->table = t;
  b->table_cap = cap;
  for (size_t i = 0; i < b->n; i++)
    *slot_for(b, b->items[i].meter_id) = i + 1;
  return 0;
}

/* Room for `extra` more households, in the array and the table, so that
 * lookup() can then create them without allocating. */
static int reserve(lg_balances *b, size_t extra) {
  if (extra > SIZE_MAX / 4 - b->n)
    return GL_ENOMEM;
  size_t need = b->n + extra;
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < need)
      cap *= 2;
    lg_balance *items = realloc(b->items, cap * sizeof *items);
    if (!items)
      return GL_ENOMEM;
    b->items = items;
    b->cap = cap;
  }
  while ((need + 1) * 2 > b->table_cap) {
    int rc = grow_table(b);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The household's record, created when absent. */
static int lookup(lg_balances *b, const char *id, lg_balance **out) {
  if ((b->n + 1) * 2 > b->table_cap) {
    int rc = grow_table(b);
    if (rc != 0)
      return rc;
  }
  size_t *s = slot_for(b, id);
  if (*s == 0) {
    if (b->n == b->cap) {
      size_t cap = b->cap ? b->cap * 2 : 32;
      lg_balance *items = realloc(b->items, cap * sizeof *items);
      if (!items)
        return GL_ENOMEM;
      b->items = items;
      b->cap = cap;
    }
    lg_balance *x = &b->items[b->n];
    memset(x, 0, sizeof *x);
    memcpy(x->meter_id, id, strlen(id) + 1);
    *s = ++b->n;
    b->dirty = true;
  }
  *out = &b->items[*s - 1];
  return 0;
}

static bool add(int64_t *acc, int64_t v) {
  return !__builtin_add_overflow(*acc, v, acc);
}

int lg_balances_add(lg_balances *b, const lg_settlement *s) {
  /* Check every sum first so that a failure adds nothing. */
  lg_balance_totals t = b->totals;
  bool ok = add(&t.utility_money, s->utility_money) &&
            add(&t.fee_money, s->fee_money);
  for (size_t i = 0; ok && i < s->n_rows; i++) {
    const lg_settlement_row *r = &s->rows[i];
    ok = add(&t.local_wh, r->local_bought_wh) &&
         add(&t.grid_import_wh, r->grid_import_wh) &&
         add(&t.grid_export_wh, r->grid_export_wh);
    const lg_balance *have = lg_balances_find(b, r->meter_id);
    lg_balance x = have ? *have : (lg_balance){0};
    ok = ok && add(&x.money, r->money) && add(&x.fees, r->fee) &&
         add(&x.local_bought_wh, r->local_bought_wh) &&
         add(&x.local_sold_wh, r->local_sold_wh) &&
         add(&x.grid_import_wh, r->grid_import_wh) &&
         add(&x.grid_export_wh, r->grid_export_wh);
  }
  if (!ok)
    return GL_ERANGE;
  /* Allocate for every household that is new before changing anything:
   * lookup() below then cannot fail half way through the rows. */
  size_t fresh = 0;
  for (size_t i = 0; i < s->n_rows; i++)
    fresh += lg_balances_find(b, s->rows[i].meter_id) == NULL;
  int rc = reserve(b, fresh);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < s->n_rows; i++) {
    const lg_settlement_row *r = &s->rows[i];
    lg_balance *x;
    rc = lookup(b, r->meter_id, &x);
    /* Cannot fail after reserve(); a failure here is a bug. */
    if (rc != 0)
      return GL_EINTERNAL;
    x->money += r->money;
    x->fees += r->fee;
    x->local_bought_wh += r->local_bought_wh;
    x->local_sold_wh += r->local_sold_wh;
    x->grid_import_wh += r->grid_import_wh;
    x->grid_export_wh += r->grid_export_wh;
    x->intervals++;
    if (r->flags & LG_SETTLE_NO_READING)
      x->missing_readings++;
  }
  t.settlements++;
  b->totals = t;
  return 0;
}

int lg_balances_add_entry(lg_balances *b, const void *data, size_t len) {
  uint8_t type, version;
  if (lg_entry_peek(data, len, &type, &version) != 0)
    return GL_EPARSE;
  if (type != LG_ENTRY_SETTLEMENT)
    return 0;
  lg_entry e;
  int rc = lg_entry_decode(data, len, &e, NULL);
  if (rc != 0)
    return rc;
  rc = lg_balances_add(b, &e.u.settlement);
  lg_entry_clear(&e);
  return rc;
}

size_t lg_balances_count(const lg_balances *b) {
  return b->n;
}

static int by_id(const void *a, const void *b) {
  const lg_balance *const *x = a, *const *y = b;
  return strcmp((*x)->meter_id, (*y)->meter_id);
}

const lg_balance *lg_balances_at(lg_balances *b, size_t i) {
  if (i >= b->n)
    return NULL;
  if (b->dirty || !b->sorted) {
    /* Pointers into items stay valid until a new household is added,
     * which marks the view dirty. */
    const lg_balance **s = realloc(b->sorted, b->n * sizeof *s);
    if (!s)
      return NULL;
    b->sorted = s;
    for (size_t k = 0; k < b->n; k++)
      s[k] = &b->items[k];
    qsort(s, b->n, sizeof *s, by_id);
    b->dirty = false;
  }
  return b->sorted[i];
}

const lg_balance *lg_balances_find(const lg_balances *b, const char *meter_id) {
  if (b->table_cap == 0)
    return NULL;
  size_t *s = slot_for(b, meter_id);
  return *s ? &b->items[*s - 1] : NULL;
}

void lg_balances_totals(const lg_balances *b, lg_balance_totals *t) {
  *t = b->totals;
}

static int add_visit(void *ctx, uint64_t index, const uint8_t *data,
                     size_t len) {
  (void)index;
  return lg_balances_add_entry(ctx, data, len);
}

int lg_ledger_balances(lg_ledger *lg, uint64_t size, lg_balances **out) {
  lg_balances *b = lg_balances_new();
  if (!b)
    return GL_ENOMEM;
  int rc = lg_ledger_scan(lg, 0, size ? size : LG_MAX_SIZE, add_visit, b);
  if (rc != 0) {
    lg_balances_free(b);
    return rc;
  }
  *out = b;
  return 0;
}
