/* SPDX-License-Identifier: MIT */
/*
 * market_interval.c - one interval through auction and settlement. See
 * gridlet/market_interval.h.
 */
#include "gridlet/market_interval.h"

#include "gridlet/error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct mkt_interval {
  size_t max_participants, max_orders;
  mkt_auction *auction;
  mkt_order *orders; /* expost: the generated orders */
  mkt_trade *trades; /* continuous: a copy of the trades */
  mkt_meter *meters; /* expost: measurements taken from standing */
  mkt_account *accounts;
};

int mkt_interval_new(size_t max_participants, size_t max_orders,
                     mkt_interval **out) {
  *out = NULL;
  if (max_participants < 1 || max_orders < 1)
    return GL_EINVAL;
  mkt_interval *iv = calloc(1, sizeof *iv);
  if (!iv)
    return GL_ENOMEM;
  iv->max_participants = max_participants;
  iv->max_orders = max_orders;
  iv->orders = calloc(max_participants, sizeof *iv->orders);
  iv->trades = calloc(max_orders, sizeof *iv->trades);
  iv->meters = calloc(max_participants, sizeof *iv->meters);
  iv->accounts = calloc(max_participants, sizeof *iv->accounts);
  /* An expost book holds at most one order per participant. */
  size_t cap = max_orders > max_participants ? max_orders : max_participants;
  int rc = (!iv->orders || !iv->trades || !iv->meters || !iv->accounts)
               ? GL_ENOMEM
               : mkt_auction_new(cap, &iv->auction);
  if (rc) {
    mkt_interval_free(iv);
    return rc;
  }
  *out = iv;
  return 0;
}

void mkt_interval_free(mkt_interval *iv) {
  if (!iv)
    return;
  mkt_auction_free(iv->auction);
  free(iv->orders);
  free(iv->trades);
  free(iv->meters);
  free(iv->accounts);
  free(iv);
}

static mkt_auction_config auction_config(const mkt_interval_config *cfg) {
  mkt_auction_config ac = {.rule = cfg->rule,
                           .k_ppm = cfg->k_ppm,
                           .rationing = cfg->rationing,
                           .allow_self_trade = cfg->allow_self_trade,
                           .band = &cfg->band};
  return ac;
}

/* Settle `trades` against `meters` into the handle's accounts. */
static int settle(mkt_interval *iv, const mkt_interval_config *cfg,
                  const mkt_trade *trades, size_t n_trades,
                  const mkt_meter *meters, size_t n_meters,
                  mkt_interval_result *res) {
  int rc = mkt_settle(cfg->mode, &cfg->band, trades, n_trades, meters, n_meters,
                      iv->accounts, &res->totals);
  if (rc)
    return rc;
  res->trades = trades;
  res->n_trades = n_trades;
  res->accounts = iv->accounts;
  res->n_accounts = n_meters;
  /* The laws of market_settle.h, once more at the level callers see: a
   * broken one must stop the process before anything is recorded. */
  const mkt_settle_totals *t = &res->totals;
  assert(t->measured == t->grid_import - t->grid_export);
  assert(t->local_paid == t->local_received + t->surplus);
  assert(t->participants_net + t->fees + t->surplus + t->utility_net == 0);
  return 0;
}

/* Auction the orders already in the book, then settle. */
static int clear_and_settle(mkt_interval *iv, const mkt_interval_config *cfg,
                            const mkt_meter *meters, size_t n_meters,
                            mkt_interval_result *res) {
  mkt_auction_config ac = auction_config(cfg);
  int rc = mkt_auction_clear(iv->auction, &ac, &res->clearing);
  if (rc)
    return rc;
  size_t nt = 0;
  const mkt_trade *trades = mkt_auction_trades(iv->auction, &nt);
  return settle(iv, cfg, trades, nt, meters, n_meters, res);
}

static int check_config(const mkt_interval_config *cfg, mkt_mode want) {
  if (!cfg || cfg->mode != want)
    return GL_EINVAL;
  return 0;
}

int mkt_interval_expost(mkt_interval *iv, const mkt_interval_config *cfg,
                        int64_t interval, const mkt_standing *standing,
                        size_t n, uint64_t first_id, mkt_interval_result *res) {
  memset(res, 0, sizeof *res);
  res->interval = interval;
  if (check_config(cfg, MKT_MODE_EXPOST))
    return GL_EINVAL;
  if (n > iv->max_participants)
    return GL_EFULL;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && standing[i].participant <= standing[i - 1].participant)
      return GL_EINVAL;
    iv->meters[i].participant = standing[i].participant;
    iv->meters[i].net = standing[i].net;
  }
  size_t norders = 0;
  int rc =
      mkt_expost_orders(standing, n, interval, first_id, iv->orders, &norders);
  if (rc)
    return rc;
  mkt_auction_reset(iv->auction, interval);
  for (size_t i = 0; i < norders; i++)
    if ((rc = mkt_auction_add(iv->auction, &iv->orders[i])))
      return rc;
  res->orders = iv->orders;
  res->n_orders = norders;
  return clear_and_settle(iv, cfg, iv->meters, n, res);
}

/* Every order's participant must have a measurement (binary search). */
static bool has_meter(const mkt_meter *meters, size_t n, uint32_t who) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (meters[mid].participant == who)
      return true;
    if (meters[mid].participant < who)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

static int check_meters(const mkt_interval *iv, const mkt_meter *meters,
                        size_t n) {
  if (n > iv->max_participants)
    return GL_EFULL;
  for (size_t i = 1; i < n; i++)
    if (meters[i].participant <= meters[i - 1].participant)
      return GL_EINVAL;
  return 0;
}

int mkt_interval_exante(mkt_interval *iv, const mkt_interval_config *cfg,
                        int64_t interval, const mkt_order *orders,
                        size_t n_orders, const mkt_meter *meters,
                        size_t n_meters, mkt_interval_result *res) {
  memset(res, 0, sizeof *res);
  res->interval = interval;
  if (check_config(cfg, MKT_MODE_EXANTE))
    return GL_EINVAL;
  int rc = check_meters(iv, meters, n_meters);
  if (rc)
    return rc;
  if (n_orders > iv->max_orders)
    return GL_EFULL;
  mkt_auction_reset(iv->auction, interval);
  for (size_t i = 0; i < n_orders; i++) {
    if (!has_meter(meters, n_meters, orders[i].participant))
      return GL_ENOENT;
    if ((rc = mkt_auction_add(iv->auction, &orders[i])))
      return rc;
  }
  res->orders = orders;
  res->n_orders = n_orders;
  return clear_and_settle(iv, cfg, meters, n_meters, res);
}

int mkt_interval_continuous(mkt_interval *iv, const mkt_interval_config *cfg,
                            int64_t interval, const mkt_trade *trades,
                            size_t n_trades, const mkt_meter *meters,
                            size_t n_meters, mkt_interval_result *res) {
  memset(res, 0, sizeof *res);
  res->interval = interval;
  if (check_config(cfg, MKT_MODE_CONTINUOUS))
    return GL_EINVAL;
  int rc = check_meters(iv, meters, n_meters);
  if (rc)
    return rc;
  if (n_trades > iv->max_orders)
    return GL_EFULL;
  /* Keep a copy: the result must not depend on the caller's buffer (the
   * CDA's trade log is reused for the next interval). */
  memcpy(iv->trades, trades, n_trades * sizeof *trades);
  return settle(iv, cfg, iv->trades, n_trades, meters, n_meters, res);
}
