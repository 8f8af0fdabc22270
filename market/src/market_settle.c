/* SPDX-License-Identifier: MIT */
/*
 * market_settle.c - expost orders and interval settlement. See
 * gridlet/market_settle.h for the arithmetic and the conservation laws,
 * which are asserted at the end of every settlement: they hold by
 * construction (every amount has exactly one payer and one payee), and the
 * assertions make sure a future change cannot quietly break that.
 */
#include "gridlet/market_settle.h"

#include "market_int.h"

#include "gridlet/error.h"

#include <assert.h>
#include <string.h>

static const char *const mode_names[] = {"expost", "exante", "continuous"};

const char *mkt_mode_name(mkt_mode mode) {
  return (unsigned)mode < 3 ? mode_names[mode] : "?";
}

int mkt_mode_parse(const char *name, mkt_mode *out) {
  int i = mkt__name_index(mode_names, 3, name);
  if (i < 0)
    return GL_EINVAL;
  *out = (mkt_mode)i;
  return 0;
}

int mkt_expost_orders(const mkt_standing *in, size_t n, int64_t interval,
                      uint64_t first_id, mkt_order *out, size_t *nout) {
  size_t k = 0;
  *nout = 0;
  for (size_t i = 0; i < n; i++) {
    const mkt_standing *s = &in[i];
    if (s->net < -MKT_QTY_MAX || s->net > MKT_QTY_MAX ||
        s->buy_limit < -MKT_PRICE_MAX || s->buy_limit > MKT_PRICE_MAX ||
        s->sell_limit < -MKT_PRICE_MAX || s->sell_limit > MKT_PRICE_MAX)
      return GL_ERANGE;
    if (s->net == 0)
      continue;
    mkt_order *o = &out[k];
    o->id = first_id + k;
    o->participant = s->participant;
    o->interval = interval;
    if (s->net > 0) {
      o->side = MKT_BUY;
      o->qty = s->net;
      o->price = s->buy_limit;
    } else {
      o->side = MKT_SELL;
      o->qty = -s->net;
      o->price = s->sell_limit;
    }
    *nout = ++k;
  }
  return 0;
}

/* Index of `participant` in the sorted meters, or -1. */
static ptrdiff_t find_meter(const mkt_meter *m, size_t n,
                            uint32_t participant) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m[mid].participant < participant)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && m[lo].participant == participant ? (ptrdiff_t)lo : -1;
}

/* a += b, reporting overflow. */
static inline bool add_ok(int64_t *a, int64_t b) {
  return !__builtin_add_overflow(*a, b, a);
}

int mkt_settle(mkt_mode mode, const mkt_band *band, const mkt_trade *trades,
               size_t n_trades, const mkt_meter *meters, size_t n_meters,
               mkt_account *accounts, mkt_settle_totals *totals) {
  if ((unsigned)mode > MKT_MODE_CONTINUOUS || !band || mkt_band_check(band))
    return GL_EINVAL;
  for (size_t i = 0; i < n_meters; i++) {
    if (i > 0 && meters[i].participant <= meters[i - 1].participant)
      return GL_EINVAL;
    mkt_account *a = &accounts[i];
    memset(a, 0, sizeof *a);
    a->participant = meters[i].participant;
    a->measured = meters[i].net;
  }
  mkt_settle_totals t;
  memset(&t, 0, sizeof t);

  /* Local trades: every amount is computed once per trade and booked to
   * both sides, so buyers' payments and sellers' receipts cannot drift. */
  for (size_t k = 0; k < n_trades; k++) {
    const mkt_trade *tr = &trades[k];
    if (tr->qty <= 0)
      return GL_EINVAL;
    mkt_money_split m;
    if (mkt_trade_money(tr, band->fee, &m))
      return GL_EINVAL;
    ptrdiff_t bi = find_meter(meters, n_meters, tr->buyer);
    ptrdiff_t si = find_meter(meters, n_meters, tr->seller);
    if (bi < 0 || si < 0)
      return GL_ENOENT;
    mkt_account *b = &accounts[bi], *s = &accounts[si];
    if (!add_ok(&b->bought, tr->qty) || !add_ok(&s->sold, tr->qty) ||
        !add_ok(&b->local_paid, m.buyer_pays - m.fee) ||
        !add_ok(&b->fee_paid, m.fee) ||
        !add_ok(&s->local_received, m.seller_gets) ||
        !add_ok(&t.local, tr->qty) || !add_ok(&t.fees, m.fee) ||
        !add_ok(&t.surplus, m.surplus))
      return GL_ERANGE;
  }

  /* Each participant's imbalance goes to the utility at the band's tariffs.
   */
  for (size_t i = 0; i < n_meters; i++) {
    mkt_account *a = &accounts[i];
    if (mode == MKT_MODE_EXPOST) {
      /* Expost orders are the measurements, so a participant trades on one
       * side only and never more than it measured. */
      int64_t imported = a->measured > 0 ? a->measured : 0;
      int64_t exported = a->measured < 0 ? -a->measured : 0;
      if (a->bought > imported || a->sold > exported ||
          (a->bought > 0 && a->sold > 0))
        return GL_ECONFLICT;
    }
    int64_t contracted, imbalance;
    if (__builtin_sub_overflow(a->bought, a->sold, &contracted) ||
        __builtin_sub_overflow(a->measured, contracted, &imbalance) ||
        imbalance == INT64_MIN)
      return GL_ERANGE;
    a->grid_import = imbalance > 0 ? imbalance : 0;
    a->grid_export = imbalance < 0 ? -imbalance : 0;
    if (mkt_money(a->grid_import, band->retail, &a->grid_paid) ||
        mkt_money(a->grid_export, band->feed_in, &a->grid_received))
      return GL_ERANGE;
    int64_t net = a->local_received;
    if (!add_ok(&net, a->grid_received) || !add_ok(&net, -a->local_paid) ||
        !add_ok(&net, -a->fee_paid) || !add_ok(&net, -a->grid_paid))
      return GL_ERANGE;
    a->net = net;
    if (!add_ok(&t.measured, a->measured) ||
        !add_ok(&t.grid_import, a->grid_import) ||
        !add_ok(&t.grid_export, a->grid_export) ||
        !add_ok(&t.local_paid, a->local_paid) ||
        !add_ok(&t.local_received, a->local_received) ||
        !add_ok(&t.utility_net, a->grid_paid) ||
        !add_ok(&t.utility_net, -a->grid_received) ||
        !add_ok(&t.participants_net, a->net))
      return GL_ERANGE;
  }

  /* Conservation of energy and money, exactly. */
  int64_t sum_bought = 0, sum_sold = 0;
  for (size_t i = 0; i < n_meters; i++) {
    sum_bought += accounts[i].bought;
    sum_sold += accounts[i].sold;
  }
  /* Compared modulo 2^64 so the check itself cannot overflow. */
  assert(sum_bought == t.local && sum_sold == t.local);
  assert((uint64_t)t.measured ==
         (uint64_t)t.grid_import - (uint64_t)t.grid_export);
  assert((uint64_t)t.local_paid ==
         (uint64_t)t.local_received + (uint64_t)t.surplus);
  assert((uint64_t)t.participants_net + (uint64_t)t.fees + (uint64_t)t.surplus +
             (uint64_t)t.utility_net ==
         0);
  if (totals)
    *totals = t;
  return 0;
}
