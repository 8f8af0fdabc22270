/* SPDX-License-Identifier: MIT */
/*
 * engine.c - a research run: input -> households -> market/'s interval
 * pipeline -> KPIs and outputs, for one or several mechanisms side by side
 * ("worlds"). See gridlet/sim_run.h for the steps of an interval.
 *
 * Memory is allocated once, at the start: per household and world (the
 * batteries, the accounts, the market handle sized for every household),
 * per time-of-day slot (forecasts). Nothing grows with the time span; the
 * per-interval loop allocates nothing.
 */
#include "gridlet/sim_run.h"

#include "research_int.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/market_cda.h"
#include "gridlet/market_interval.h"
#include "gridlet/mtr_trading.h"
#include "gridlet/rand.h"
#include "gridlet/sim_home.h"
#include "gridlet/sim_input.h"
#include "gridlet/sim_ledger.h"
#include "gridlet/sim_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef GRIDLET_VERSION
#define GRIDLET_VERSION "unknown"
#endif

#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)
#define ARRIVAL_STREAM UINT64_C(0x6172726976000003)
/* Order steps a meter may send per interval (proto's PR_MAX_STEPS). */
#define LEDGER_STEPS 16

const char *sim_version(void) {
  return GRIDLET_VERSION;
}

/* ---- State --------------------------------------------------------------- */

typedef struct world {
  sim_mechanism mech;
  mkt_interval *iv;
  mkt_auction *pre; /* exante: the clearing that tells the contracts */
  mkt_cda *cda;
  mkt_band cda_band;
  bool cda_open;
  gl_seeded_rand *arrival_sr;
  gl_rand arrival;
  sim_battery *batt;
  int64_t *ema; /* price forecast per slot */
  sim_kpi_home *kpi;
  sim_kpi_community com;
  /* Scratch for one interval. */
  mkt_standing *standing;
  mkt_meter *meters;
  mkt_order *orders;
  size_t n_orders, cap_orders;
  mkt_trade *trades;
  size_t n_trades, cap_trades;
  bool trade_overflow;
  int64_t *net, *contract;
  /* Who takes part in this world's interval: a present household, and in
   * a ledger replay under exante or continuous also a meter settled
   * without a reading (its trades were firm at gate closure). */
  uint8_t *part;
  sim_flows *flows;
  size_t *perm;
  /* The meters' own history for their orders: import and export measured
   * per slot of the last day and in the last interval (this world's). */
  int64_t *hist_imp, *hist_exp; /* [slot * n + i] */
  uint8_t *hist_ok;             /* [slot * n + i] */
  int64_t *prev_imp, *prev_exp;
  uint8_t *prev_ok;
  bool any_follow; /* some household follows its contracts */
  /* Outputs. */
  char dir[SIM_PATH_MAX];
  FILE *ts, *daily, *hh;
  int64_t day;     /* local day being accumulated, INT64_MIN none */
  sim_totals dsum; /* that day's sums */
  int64_t dstored_mwh;
  /* Verification. */
  uint64_t verified, mismatched, unverified;
  char first_mismatch[SIM_DIAG_LEN];
} world;

typedef struct engine {
  const sim_scenario *sc;
  const sim_run_options *opt;
  sim_diag *diag;
  sim_home *homes;
  size_t n;
  const char **ids;
  sim_source *src;
  sim_ledger_in *led;
  bool physical;
  int64_t start, end, L, slots, local_off;
  /* The interval's input. */
  int64_t *load, *pv;
  uint8_t *present;
  int64_t *buy_lim, *sell_lim; /* the households' standing limits */
  world *w;
  size_t nw;
  sim_ledger_out *lout;
  sim_run_info info;
  mtr_config mcfg; /* the meter agent's order rule reads this */
  int64_t scratch_n;
  int64_t *scratch;
} engine;

struct sim_results {
  sim_run_info info;
  size_t n;
  sim_world_result *worlds;
  sim_kpi_home **homes;
};

/* ---- Helpers ------------------------------------------------------------- */

static void *xcalloc(size_t n, size_t size, int *rc) {
  void *p = calloc(n ? n : 1, size);
  if (!p)
    *rc = GL_ENOMEM;
  return p;
}

static int64_t slot_of(const engine *e, int64_t t) {
  int64_t day = gl_floor_div(t, DAY_NS);
  return (t - day * DAY_NS) / e->L;
}

static int internal(engine *e, int64_t t, const char *what) {
  char tb[GL_TIME_STR_MAX];
  sim_diag_add(e->diag,
               "interval %s: %s (a conservation law failed; please report "
               "this with the scenario)",
               gl_time_format(t, tb), what);
  return GL_EINTERNAL;
}

static void cda_trade(void *ctx, const mkt_trade *t, mkt_side aggressor) {
  (void)aggressor;
  world *w = ctx;
  if (w->n_trades == w->cap_trades) {
    w->trade_overflow = true;
    return;
  }
  w->trades[w->n_trades++] = *t;
}

/* ---- Setup --------------------------------------------------------------- */

static int mkdir_p(const char *path) {
  char buf[SIM_PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf)
    return GL_EINVAL;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return GL_EIO;
    buf[i] = c;
  }
  return 0;
}

static FILE *open_out(engine *e, const char *dir, const char *name) {
  char path[SIM_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    sim_diag_add(e->diag, "%s: cannot create: %s", path, strerror(errno));
    return NULL;
  }
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  return f;
}

static int world_outputs(engine *e, world *w) {
  if (!e->opt->out_dir)
    return 0;
  if (e->nw > 1) {
    char name[SIM_MECH_NAME_MAX + 1];
    sim_mechanism_dirname(&w->mech, name, sizeof name);
    snprintf(w->dir, sizeof w->dir, "%s/%s", e->opt->out_dir, name);
  } else {
    snprintf(w->dir, sizeof w->dir, "%s", e->opt->out_dir);
  }
  if (mkdir_p(w->dir)) {
    sim_diag_add(e->diag, "%s: cannot create the directory", w->dir);
    return GL_EIO;
  }
  w->ts = open_out(e, w->dir, "timeseries.csv");
  w->daily = open_out(e, w->dir, "daily.csv");
  if (!w->ts || !w->daily)
    return GL_EIO;
  sim_report_series_header(w->ts, &e->info, &w->mech, e->physical);
  sim_report_daily_header(w->daily, &e->info, &w->mech, e->physical);
  if (e->opt->household_series) {
    w->hh = open_out(e, w->dir, "households.csv");
    if (!w->hh)
      return GL_EIO;
    sim_report_households_header(w->hh, &e->info, &w->mech, e->physical);
  }
  return 0;
}

static int world_init(engine *e, world *w, const sim_mechanism *m) {
  size_t n = e->n;
  int rc = 0;
  w->mech = *m;
  w->day = INT64_MIN;
  /* Orders: two steps per meter from the agent's rule; a ledger may hold
   * up to PR_MAX_STEPS. */
  size_t max_orders = e->physical ? 2 * n : n * LEDGER_STEPS;
  if ((rc = mkt_interval_new(n, max_orders, &w->iv)))
    return rc;
  for (size_t i = 0; e->physical && i < n; i++)
    if (e->homes[i].strategy == SIM_STRATEGY_FOLLOW_CONTRACT)
      w->any_follow = m->mode != MKT_MODE_EXPOST;
  if (m->mode == MKT_MODE_EXANTE && w->any_follow &&
      (rc = mkt_auction_new(max_orders, &w->pre)))
    return rc;
  w->arrival_sr = gl_seeded_rand_new(e->sc->seed ^ ARRIVAL_STREAM);
  if (!w->arrival_sr)
    return GL_ENOMEM;
  w->arrival = gl_seeded_rand_rand(w->arrival_sr);
  w->batt = xcalloc(n, sizeof *w->batt, &rc);
  w->ema = xcalloc((size_t)e->slots, sizeof *w->ema, &rc);
  w->kpi = xcalloc(n, sizeof *w->kpi, &rc);
  w->standing = xcalloc(n, sizeof *w->standing, &rc);
  w->meters = xcalloc(n, sizeof *w->meters, &rc);
  w->cap_orders = max_orders;
  w->orders = xcalloc(max_orders, sizeof *w->orders, &rc);
  w->cap_trades = max_orders + 1;
  w->trades = xcalloc(w->cap_trades, sizeof *w->trades, &rc);
  w->net = xcalloc(n, sizeof *w->net, &rc);
  w->contract = xcalloc(n, sizeof *w->contract, &rc);
  w->part = xcalloc(n, 1, &rc);
  w->flows = xcalloc(n, sizeof *w->flows, &rc);
  w->perm = xcalloc(n, sizeof *w->perm, &rc);
  if (m->mode != MKT_MODE_EXPOST && e->physical) {
    size_t cells = (size_t)e->slots * n;
    w->hist_imp = xcalloc(cells, sizeof *w->hist_imp, &rc);
    w->hist_exp = xcalloc(cells, sizeof *w->hist_exp, &rc);
    w->hist_ok = xcalloc(cells, 1, &rc);
    w->prev_imp = xcalloc(n, sizeof *w->prev_imp, &rc);
    w->prev_exp = xcalloc(n, sizeof *w->prev_exp, &rc);
    w->prev_ok = xcalloc(n, 1, &rc);
  }
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++) {
    if (e->physical)
      sim_battery_init(&w->batt[i], &e->homes[i], e->L);
    memcpy(w->kpi[i].id, e->ids[i], strlen(e->ids[i]) + 1);
  }
  int64_t mid = mkt_div_round(e->sc->band.feed_in + e->sc->band.retail, 2);
  for (int64_t s = 0; s < e->slots; s++)
    w->ema[s] = mid;
  w->com.physical = e->physical;
  return world_outputs(e, w);
}

static void world_free(world *w) {
  mkt_interval_free(w->iv);
  mkt_auction_free(w->pre);
  mkt_cda_free(w->cda);
  gl_seeded_rand_free(w->arrival_sr);
  free(w->batt);
  free(w->ema);
  free(w->standing);
  free(w->meters);
  free(w->orders);
  free(w->trades);
  free(w->net);
  free(w->contract);
  free(w->part);
  free(w->flows);
  free(w->perm);
  free(w->hist_imp);
  free(w->hist_exp);
  free(w->hist_ok);
  free(w->prev_imp);
  free(w->prev_exp);
  free(w->prev_ok);
  if (w->ts)
    fclose(w->ts);
  if (w->daily)
    fclose(w->daily);
  if (w->hh)
    fclose(w->hh);
  /* w->kpi is handed to the results. */
}

/* ---- One interval of one world ------------------------------------------- */

/* Shuffle the first k orders (Fisher-Yates) from the world's arrival
 * stream: households place orders in a random order. */
static void shuffle_orders(world *w, size_t k) {
  for (size_t i = k; i > 1; i--) {
    uint64_t j = 0;
    gl_rand_below(&w->arrival, i, &j);
    mkt_order tmp = w->orders[i - 1];
    w->orders[i - 1] = w->orders[j];
    w->orders[j] = tmp;
  }
}

/*
 * Physical households place their orders (exante, continuous) by the
 * meter agent's own rule, mtr_trading_order (gridlet/mtr_trading.h): the
 * import and export measured in the interval `forecast` names (yesterday's
 * by default, the agent's forecast_lag), the import reduced by what the
 * battery holds above its reserve, a buy step at the buy limit and a sell
 * step at the sell limit; no usable history, no order.
 */
static void place_orders(engine *e, world *w, int64_t t) {
  int64_t slot = slot_of(e, t);
  w->n_orders = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (!e->present[i])
      continue;
    const sim_home *h = &e->homes[i];
    size_t cell = (size_t)slot * e->n + i;
    pr_reading hist;
    memset(&hist, 0, sizeof hist);
    int64_t lag;
    switch (h->forecast) {
    case SIM_FORECAST_YESTERDAY:
      if (!w->hist_ok[cell])
        continue;
      hist.import_wh = w->hist_imp[cell];
      hist.export_wh = w->hist_exp[cell];
      lag = DAY_NS;
      break;
    case SIM_FORECAST_PREVIOUS:
      if (!w->prev_ok[i])
        continue;
      hist.import_wh = w->prev_imp[i];
      hist.export_wh = w->prev_exp[i];
      lag = e->L;
      break;
    default: { /* perfect: this interval's load and PV, no battery */
      int64_t d = e->load[i] - e->pv[i];
      hist.import_wh = d > 0 ? d : 0;
      hist.export_wh = d < 0 ? -d : 0;
      lag = e->L;
      break;
    }
    }
    hist.start = t - lag;
    hist.end = hist.start + e->L;
    mtr_config *mc = &e->mcfg;
    mc->battery_capacity_wh = h->battery_wh;
    mc->battery_reserve_pct = h->reserve_ppm / 10000;
    mc->battery_power_w = h->discharge_w;
    mc->buy_below = h->buy_limit;
    mc->sell_above = h->sell_limit;
    const sim_battery *b = &w->batt[i];
    bool has_soc = b->capacity_mwh > 0;
    int64_t soc_bp = has_soc ? b->stored_mwh * 10000 / b->capacity_mwh : 0;
    pr_order ord;
    /* One order per household and interval, made for it alone: no other
     * order counts on the battery (no plan). */
    if (mtr_trading_order(mc, t, t, &hist, has_soc, soc_bp, NULL, &ord))
      continue;
    for (size_t k = 0; k < ord.nsteps && w->n_orders < w->cap_orders; k++) {
      mkt_order *o = &w->orders[w->n_orders++];
      o->id = (uint64_t)i * PR_MAX_STEPS + k + 1;
      o->participant = (uint32_t)i;
      o->interval = t;
      o->side = ord.steps[k].side == PR_SIDE_BUY ? MKT_BUY : MKT_SELL;
      o->qty = ord.steps[k].wh;
      o->price = ord.steps[k].price;
    }
  }
  shuffle_orders(w, w->n_orders);
}

/* After the interval: what each meter measured, for later orders. */
static void remember(engine *e, world *w, int64_t t) {
  int64_t slot = slot_of(e, t);
  for (size_t i = 0; i < e->n; i++) {
    size_t cell = (size_t)slot * e->n + i;
    bool ok = e->present[i] != 0;
    int64_t net = w->net[i];
    w->hist_ok[cell] = w->prev_ok[i] = ok;
    w->hist_imp[cell] = w->prev_imp[i] = ok && net > 0 ? net : 0;
    w->hist_exp[cell] = w->prev_exp[i] = ok && net < 0 ? -net : 0;
  }
}

/* Run the continuous double auction on w->orders into w->trades. */
static int run_cda(engine *e, world *w, int64_t t, const mkt_band *band) {
  int rc;
  w->n_trades = 0;
  w->trade_overflow = false;
  if (w->cda && (w->cda_band.feed_in != band->feed_in ||
                 w->cda_band.retail != band->retail)) {
    mkt_cda_free(w->cda);
    w->cda = NULL;
  }
  if (!w->cda) {
    if (band->retail - band->feed_in + 1 > MKT_CDA_LEVELS_MAX) {
      sim_diag_add(e->diag,
                   "the band %" PRId64 "..%" PRId64
                   " µ/kWh has more price levels than the continuous "
                   "auction's book (%" PRId64 ")",
                   band->feed_in, band->retail, MKT_CDA_LEVELS_MAX);
      return GL_EINVAL;
    }
    mkt_cda_config cfg = {.capacity = w->cap_orders,
                          .price_min = band->feed_in,
                          .price_max = band->retail,
                          .tick = 1,
                          .clamp = true,
                          .allow_self_trade = w->mech.allow_self_trade,
                          .interval = t,
                          .sink = {.trade = cda_trade, .ctx = w}};
    if ((rc = mkt_cda_new(&cfg, &w->cda)))
      return rc;
    w->cda_band = *band;
  } else if ((rc = mkt_cda_reopen(w->cda, t))) {
    return rc;
  }
  for (size_t i = 0; i < w->n_orders; i++)
    if ((rc = mkt_cda_add(w->cda, &w->orders[i], NULL)))
      return rc;
  if ((rc = mkt_cda_close(w->cda, NULL)))
    return rc;
  return w->trade_overflow ? GL_EFULL : 0;
}

static void contracts(engine *e, world *w, const mkt_trade *tr, size_t nt) {
  memset(w->contract, 0, e->n * sizeof *w->contract);
  for (size_t k = 0; k < nt; k++) {
    w->contract[tr[k].buyer] += tr[k].qty;
    w->contract[tr[k].seller] -= tr[k].qty;
  }
}

/* Batteries act. With `follow` false: every battery by its strategy,
 * except (in exante and continuous mode, `contract_mode`) those that
 * follow their contracts, which wait; with `follow` true: just those,
 * meeting the contracts in w->contract. */
static void act(engine *e, world *w, int64_t price, bool contract_mode,
                bool follow) {
  for (size_t i = 0; i < e->n; i++) {
    if (!e->present[i])
      continue;
    const sim_home *h = &e->homes[i];
    bool follower =
        contract_mode && h->strategy == SIM_STRATEGY_FOLLOW_CONTRACT;
    if (follower != follow)
      continue;
    sim_battery *b = &w->batt[i];
    int64_t a = follow
                    ? sim_home_follow(b, e->load[i], e->pv[i], w->contract[i])
                    : sim_home_plan(h, b, e->load[i], e->pv[i], price);
    sim_home_apply(b, e->load[i], e->pv[i], a, &w->flows[i]);
    w->net[i] = w->flows[i].net;
  }
}

static size_t fill_meters(engine *e, world *w) {
  size_t k = 0;
  for (size_t i = 0; i < e->n; i++)
    if (w->part[i]) {
      w->meters[k].participant = (uint32_t)i;
      w->meters[k].net = w->net[i];
      k++;
    }
  return k;
}

/* Volume-weighted prices of the trades; SIM_NA when none. */
static void vwap(const mkt_trade *t, size_t n, int64_t *buy, int64_t *sell) {
  int64_t q = 0, b = 0, s = 0;
  for (size_t i = 0; i < n; i++) {
    q += t[i].qty;
    b += t[i].qty * t[i].buy_price;
    s += t[i].qty * t[i].sell_price;
  }
  *buy = q ? mkt_div_round(b, q) : SIM_NA;
  *sell = q ? mkt_div_round(s, q) : SIM_NA;
}

static int world_step(engine *e, world *w, int64_t t,
                      const sim_ledger_frame *lf) {
  size_t n = e->n;
  const mkt_band *band = lf && !e->sc->has_tariff ? &lf->band : &e->sc->band;
  mkt_interval_config cfg = {.mode = w->mech.mode,
                             .band = *band,
                             .rule = w->mech.rule,
                             .k_ppm = w->mech.k_ppm,
                             .rationing = w->mech.rationing,
                             .allow_self_trade = w->mech.allow_self_trade};
  int64_t slot = slot_of(e, t);
  int64_t price = w->ema[slot];
  mkt_interval_result res;
  int rc = 0;
  size_t nm;

  /* The aggregator's rule (gridlet/market_interval.h): in exante and
   * continuous mode trades are firm at gate closure, so every meter with
   * a settlement row takes part; one without a reading counts as having
   * metered nothing (net 0) and settles its contracted position with the
   * utility. In expost mode only measured meters take part. A household
   * run (no ledger) places no orders while absent, so there present is
   * all that counts. */
  bool firm = w->mech.mode != MKT_MODE_EXPOST;
  for (size_t i = 0; i < n; i++)
    w->part[i] = e->present[i] || (lf && firm && lf->rows[i].has_row);
  if (!e->physical)
    for (size_t i = 0; i < n; i++)
      w->net[i] = e->present[i] ? lf->net[i] : 0;

  switch (w->mech.mode) {
  case MKT_MODE_EXPOST: {
    if (e->physical)
      act(e, w, price, false, false);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      if (!w->part[i])
        continue;
      mkt_standing *s = &w->standing[k++];
      s->participant = (uint32_t)i;
      s->net = w->net[i];
      s->buy_limit = lf ? lf->buy_limit[i] : e->buy_lim[i];
      s->sell_limit = lf ? lf->sell_limit[i] : e->sell_lim[i];
    }
    rc = mkt_interval_expost(w->iv, &cfg, t, w->standing, k, 1, &res);
    break;
  }
  case MKT_MODE_EXANTE:
    if (e->physical) {
      place_orders(e, w, t);
      act(e, w, price, true, false);
    }
    if (e->physical && w->any_follow) {
      /* Learn the contracts with the same clearing the pipeline runs, for
       * the batteries that follow them. */
      mkt_auction_reset(w->pre, t);
      for (size_t i = 0; i < w->n_orders; i++)
        if ((rc = mkt_auction_add(w->pre, &w->orders[i])))
          break;
      mkt_auction_config ac = {.rule = cfg.rule,
                               .k_ppm = cfg.k_ppm,
                               .rationing = cfg.rationing,
                               .allow_self_trade = cfg.allow_self_trade,
                               .band = &cfg.band};
      mkt_clearing c;
      if (!rc && !(rc = mkt_auction_clear(w->pre, &ac, &c))) {
        size_t nt;
        const mkt_trade *tr = mkt_auction_trades(w->pre, &nt);
        contracts(e, w, tr, nt);
        act(e, w, price, true, true);
      }
    } else if (!e->physical) {
      if (lf->n_orders > w->cap_orders) {
        sim_diag_add(e->diag,
                     "interval at ledger entry %" PRIu64
                     ": more orders than %zu",
                     lf->settlement_index, w->cap_orders);
        return GL_EFULL;
      }
      memcpy(w->orders, lf->orders, lf->n_orders * sizeof *w->orders);
      w->n_orders = lf->n_orders;
    }
    if (rc)
      break;
    nm = fill_meters(e, w);
    rc = mkt_interval_exante(w->iv, &cfg, t, w->orders, w->n_orders, w->meters,
                             nm, &res);
    break;
  case MKT_MODE_CONTINUOUS:
    if (e->physical) {
      place_orders(e, w, t);
      act(e, w, price, true, false);
    } else if (lf->has_clearing && lf->mode == MKT_MODE_CONTINUOUS) {
      /* A continuous interval of the ledger: its trades are what the live
       * book made (with cancellations the ledger does not keep); settle
       * them as they are. */
      if (lf->n_trades > w->cap_trades)
        return GL_EFULL;
      memcpy(w->trades, lf->trades, lf->n_trades * sizeof *w->trades);
      w->n_trades = lf->n_trades;
      w->n_orders = 0;
      nm = fill_meters(e, w);
      rc = mkt_interval_continuous(w->iv, &cfg, t, w->trades, w->n_trades,
                                   w->meters, nm, &res);
      break;
    } else {
      if (lf->n_orders > w->cap_orders)
        return GL_EFULL;
      memcpy(w->orders, lf->orders, lf->n_orders * sizeof *w->orders);
      w->n_orders = lf->n_orders;
    }
    if ((rc = run_cda(e, w, t, band)))
      break;
    if (e->physical && w->any_follow) {
      contracts(e, w, w->trades, w->n_trades);
      act(e, w, price, true, true);
    }
    nm = fill_meters(e, w);
    rc = mkt_interval_continuous(w->iv, &cfg, t, w->trades, w->n_trades,
                                 w->meters, nm, &res);
    break;
  }
  if (rc) {
    char tb[GL_TIME_STR_MAX];
    sim_diag_add(e->diag, "interval %s, %s: the market refused: %s",
                 gl_time_format(t, tb), w->mech.name, gl_strerror(rc));
    return rc;
  }

  /* ---- Conservation and KPIs ---- */
  int64_t sum_net = 0, sum_bought = 0, sum_sold = 0, local = 0;
  int64_t measured = 0;
  size_t a = 0;
  sim_totals day;
  memset(&day, 0, sizeof day);
  for (size_t i = 0; i < n; i++) {
    sim_kpi_home *k = &w->kpi[i];
    if (!w->part[i]) {
      k->t.absent++;
      continue;
    }
    if (a >= res.n_accounts || res.accounts[a].participant != i)
      return internal(e, t, "an account is missing");
    const mkt_account *acc = &res.accounts[a++];
    int64_t net = w->net[i];
    if (acc->measured != net)
      return internal(e, t, "measured energy differs from the household's");
    sim_totals d;
    memset(&d, 0, sizeof d);
    /* A meter settled without a reading (firm trades) is absent: no
     * energy of its own, but its settlement counts. */
    d.intervals = e->present[i] ? 1 : 0;
    d.absent = e->present[i] ? 0 : 1;
    measured += d.intervals;
    if (e->physical) {
      const sim_flows *f = &w->flows[i];
      if (f->net != f->load - f->pv + f->charge - f->discharge)
        return internal(e, t, "a household's energy balance");
      const sim_battery *b = &w->batt[i];
      if (b->stored_mwh < 0 || b->stored_mwh > b->capacity_mwh)
        return internal(e, t, "a battery left its capacity");
      d.load = f->load;
      d.pv = f->pv;
      d.charge = f->charge;
      d.discharge = f->discharge;
      d.losses_mwh = (f->charge - f->discharge) * 1000 - f->stored_delta_mwh;
    }
    int64_t imp = net > 0 ? net : 0, exp = net < 0 ? -net : 0;
    d.import_wh = imp;
    d.export_wh = exp;
    d.bought = acc->bought;
    d.sold = acc->sold;
    d.grid_import = acc->grid_import;
    d.grid_export = acc->grid_export;
    d.utility_used = imp < acc->grid_import ? imp : acc->grid_import;
    d.local_paid = acc->local_paid;
    d.local_received = acc->local_received;
    d.fee_paid = acc->fee_paid;
    d.grid_paid = acc->grid_paid;
    d.grid_received = acc->grid_received;
    d.money = acc->net;
    int64_t paid = 0, got = 0;
    mkt_money(imp, band->retail, &paid);
    mkt_money(exp, band->feed_in, &got);
    d.baseline = got - paid;
    sim_totals_add(&k->t, &d);
    sim_totals_add(&day, &d);
    sum_net += net;
    sum_bought += acc->bought;
    sum_sold += acc->sold;
    if (w->hh)
      sim_report_households_row(w->hh, t, e->ids[i], &d,
                                e->physical ? w->batt[i].stored_mwh : SIM_NA,
                                e->physical);
  }
  const mkt_settle_totals *tot = &res.totals;
  local = tot->local;
  if (a != res.n_accounts)
    return internal(e, t, "an account of an absent household");
  if (sum_net != tot->measured || sum_bought != local || sum_sold != local)
    return internal(e, t, "energy is not conserved");
  if (tot->measured != tot->grid_import - tot->grid_export)
    return internal(e, t, "the utility's energy does not balance");
  if (tot->participants_net + tot->fees + tot->surplus + tot->utility_net != 0)
    return internal(e, t, "money is not conserved");

  sim_kpi_community *c = &w->com;
  c->intervals++;
  if (local > 0)
    c->intervals_traded++;
  int64_t tp = sum_net > 0 ? sum_net : 0, tm = sum_net < 0 ? -sum_net : 0;
  c->transformer_import += tp;
  c->transformer_export += tm;
  if (c->intervals == 1 || tp > c->peak_import) {
    c->peak_import = tp;
    c->peak_import_at = t;
  }
  if (c->intervals == 1 || tm > c->peak_export) {
    c->peak_export = tm;
    c->peak_export_at = t;
  }
  c->fees += tot->fees;
  c->surplus += tot->surplus;
  c->utility_net += tot->utility_net;

  /* The price signal for the forecast. */
  int64_t bp, sp;
  vwap(res.trades, res.n_trades, &bp, &sp);
  int64_t signal =
      bp != SIM_NA ? bp : (sum_net >= 0 ? band->retail : band->feed_in);
  w->ema[slot] += mkt_div_round(signal - w->ema[slot], 4);

  /* Verification against the ledger. */
  if (lf) {
    const sim_mechanism *m = &w->mech;
    bool auction = m->mode != MKT_MODE_CONTINUOUS;
    bool same =
        lf->has_clearing && !e->sc->has_tariff && lf->mode == m->mode &&
        (!auction || (!lf->rule_none && lf->rule == m->rule)) &&
        (!lf->has_k || !auction || m->rule != MKT_RULE_K ||
         lf->k_ppm == m->k_ppm) &&
        (!lf->has_rationing || !auction || lf->rationing == m->rationing) &&
        (!lf->has_self_trade || lf->allow_self_trade == m->allow_self_trade);
    if (!same) {
      w->unverified++;
    } else {
      char why[SIM_DIAG_LEN];
      if (sim_ledger_verify(lf, &res, e->ids, why, sizeof why)) {
        if (!w->mismatched)
          snprintf(w->first_mismatch, sizeof w->first_mismatch, "%s", why);
        w->mismatched++;
      } else {
        w->verified++;
      }
    }
  }

  /* Outputs. */
  int64_t stored = 0;
  if (e->physical)
    for (size_t i = 0; i < n; i++)
      stored += w->batt[i].stored_mwh;
  if (w->ts) {
    sim_series_row row = {.start = t,
                          .sums = &day,
                          .stored_mwh = e->physical ? stored : SIM_NA,
                          .local = local,
                          .buy_price = bp,
                          .sell_price = sp,
                          .transformer = sum_net,
                          .present = measured,
                          .absent = (int64_t)n - measured,
                          .fees = tot->fees,
                          .surplus = tot->surplus,
                          .utility = tot->utility_net};
    sim_report_series_row(w->ts, &row, e->physical);
    int64_t lday = gl_floor_div(t + e->local_off, DAY_NS);
    if (w->day != INT64_MIN && lday != w->day) {
      sim_report_daily_row(w->daily, w->day, &w->dsum, w->dstored_mwh,
                           e->physical);
      memset(&w->dsum, 0, sizeof w->dsum);
    }
    w->day = lday;
    sim_totals_add(&w->dsum, &day);
    w->dstored_mwh = e->physical ? stored : SIM_NA;
  }
  if (e->lout && w == &e->w[0]) {
    rc = sim_ledger_out_interval(
        e->lout, &w->mech, e->L, band, t, e->present, w->net, e->buy_lim,
        e->sell_lim, w->orders,
        w->mech.mode == MKT_MODE_EXPOST ? 0 : w->n_orders, &res);
    if (rc) {
      char tb[GL_TIME_STR_MAX];
      sim_diag_add(e->diag, "interval %s: cannot write the ledger: %s%s",
                   gl_time_format(t, tb), gl_strerror(rc),
                   rc == GL_ENOTSUP
                       ? " (ledger format 1 holds no negative prices)"
                       : "");
      return rc;
    }
  }
  return 0;
}

/* ---- The run ------------------------------------------------------------- */

static int open_input(engine *e) {
  const sim_scenario *sc = e->sc;
  int rc;
  const char *const *ids = NULL;
  size_t n_ids = 0;
  if (sc->source == SIM_SOURCE_LEDGER) {
    if ((rc = sim_ledger_open(sc, &e->led, e->diag)))
      return rc;
    sim_ledger_info li;
    sim_ledger_info_get(e->led, &li);
    e->n = li.n_meters;
    e->ids = malloc(e->n * sizeof *e->ids);
    if (!e->ids)
      return GL_ENOMEM;
    memcpy(e->ids, li.meters, e->n * sizeof *e->ids);
    e->start = sc->has_start ? sc->start : li.start;
    e->end = sc->has_end ? sc->end : li.end;
    memcpy(e->info.input_digest, li.root, sizeof li.root);
    e->info.input_rows = (int64_t)li.entries;
    e->physical = false;
    return 0;
  }
  if ((rc = sim_source_open(sc, &e->src, e->diag)))
    return rc;
  sim_source_info si;
  sim_source_info_get(e->src, &si);
  ids = si.ids;
  n_ids = si.n_ids;
  if ((rc = sim_scenario_homes(sc, ids, n_ids, &e->homes, &e->n, e->diag)))
    return rc;
  e->ids = malloc(e->n * sizeof *e->ids);
  if (!e->ids)
    return GL_ENOMEM;
  for (size_t i = 0; i < e->n; i++)
    e->ids[i] = e->homes[i].id;
  if (sc->source == SIM_SOURCE_SYNTHETIC) {
    e->start = sc->start;
    e->end = sc->end;
  } else {
    /* The data's span, inside whole intervals. */
    e->start = sc->has_start ? sc->start
                             : (gl_floor_div(si.start - 1, sc->interval) + 1) *
                                   sc->interval;
    e->end = sc->has_end ? sc->end
                         : gl_floor_div(si.end, sc->interval) * sc->interval;
  }
  memcpy(e->info.input_digest, si.digest, sizeof si.digest);
  e->info.input_rows = si.rows;
  e->physical = true;
  return 0;
}

static int setup(engine *e) {
  const sim_scenario *sc = e->sc;
  const sim_run_options *opt = e->opt;
  int rc = open_input(e);
  if (rc)
    return rc;
  if (e->end <= e->start) {
    sim_diag_add(e->diag, "%s: the run's time span is empty", sc->file);
    return GL_ECONFIG;
  }
  e->L = sc->interval;
  e->slots = DAY_NS / e->L;
  e->local_off =
      (int64_t)(sc->source == SIM_SOURCE_SYNTHETIC
                    ? sc->synth_utc_offset_s
                    : (sc->source == SIM_SOURCE_LEDGER ? 0
                                                       : sc->utc_offset_s)) *
      GL_NS_PER_SEC;
  /* Worlds. */
  sim_mechanism one = sc->market;
  const sim_mechanism *mechs = opt->mechanisms ? opt->mechanisms : &one;
  e->nw = opt->mechanisms ? opt->n_mechanisms : 1;
  if (e->nw < 1 || e->nw > SIM_MECHANISMS_MAX)
    return GL_EINVAL;
  if (opt->ledger_out && (e->nw != 1 || !e->physical)) {
    sim_diag_add(e->diag, "--ledger-out writes one mechanism's run of "
                          "household data (not a ledger replay) only");
    return GL_EINVAL;
  }
  size_t n = e->n;
  rc = 0;
  e->load = xcalloc(n, sizeof *e->load, &rc);
  e->pv = xcalloc(n, sizeof *e->pv, &rc);
  e->present = xcalloc(n, 1, &rc);
  e->buy_lim = xcalloc(n, sizeof *e->buy_lim, &rc);
  e->sell_lim = xcalloc(n, sizeof *e->sell_lim, &rc);
  e->scratch = xcalloc(n, sizeof *e->scratch, &rc);
  e->w = xcalloc(e->nw, sizeof *e->w, &rc);
  if (rc)
    return rc;
  for (size_t i = 0; i < n && e->homes; i++) {
    e->buy_lim[i] = e->homes[i].buy_limit;
    e->sell_lim[i] = e->homes[i].sell_limit;
  }
  /* The meter agent's configuration, as far as its order rule reads it
   * (the per-household fields are set per order). */
  e->mcfg.interval_ns = e->L;
  e->mcfg.forecast = MTR_FORECAST_PERSISTENCE;
  e->mcfg.has_buy_below = e->mcfg.has_sell_above = true;
  /* The run's description, before outputs are opened (they record it). */
  sim_run_info *in = &e->info;
  snprintf(in->version, sizeof in->version, "%s", GRIDLET_VERSION);
  if ((rc = sim_scenario_hash(sc, in->scenario_hash)))
    return rc;
  in->start = e->start;
  in->end = e->end;
  in->interval = e->L;
  in->intervals = (e->end - e->start) / e->L;
  in->n_homes = n;
  in->n_worlds = e->nw;
  in->physical = e->physical;
  in->has_band = sc->has_tariff;
  in->retail = sc->band.retail;
  in->feed_in = sc->band.feed_in;
  snprintf(in->currency, sizeof in->currency, "%s", sc->currency);
  in->local_offset_s = (int32_t)(e->local_off / GL_NS_PER_SEC);
  if (opt->check_only)
    return 0;
  if (opt->out_dir) {
    if (mkdir_p(opt->out_dir)) {
      sim_diag_add(e->diag, "%s: cannot create the directory", opt->out_dir);
      return GL_EIO;
    }
    if ((rc = sim_report_scenario(opt->out_dir, sc, e->diag)))
      return rc;
  }
  for (size_t k = 0; k < e->nw; k++)
    if ((rc = world_init(e, &e->w[k], &mechs[k])))
      return rc;
  if (opt->ledger_out) {
    rc = sim_ledger_out_new(opt->ledger_out, sc->name, e->ids, n, &e->w[0].mech,
                            e->start, &e->lout);
    if (rc) {
      sim_diag_add(e->diag, "%s: cannot create the ledger: %s", opt->ledger_out,
                   gl_strerror(rc));
      return rc;
    }
  }
  if (e->src)
    return sim_source_start(e->src, e->homes, n, e->start, e->end);
  return 0;
}

static int loop(engine *e) {
  int rc;
  int64_t done = 0, total = e->info.intervals;
  if (e->led) {
    /* A ledger drives the intervals: only settled ones exist. */
    const sim_ledger_frame *lf;
    while ((rc = sim_ledger_next(e->led, e->start, e->end, &lf, e->diag)) ==
           1) {
      for (size_t i = 0; i < e->n; i++)
        e->present[i] = lf->present[i];
      for (size_t k = 0; k < e->nw; k++)
        if ((rc = world_step(e, &e->w[k], lf->start, lf)))
          return rc;
      done = (lf->start - e->start) / e->L + 1;
      if (e->opt->progress)
        e->opt->progress(e->opt->progress_ctx, done, total);
    }
    if (rc < 0)
      return rc;
    e->info.late_readings = sim_ledger_late(e->led);
    return 0;
  }
  for (int64_t t = e->start; t < e->end; t += e->L) {
    if ((rc = sim_source_next(e->src, t, e->load, e->pv, e->present, e->diag)))
      return rc;
    for (size_t k = 0; k < e->nw; k++) {
      world *w = &e->w[k];
      if ((rc = world_step(e, w, t, NULL)))
        return rc;
      if (w->hist_ok)
        remember(e, w, t);
    }
    done++;
    if (e->opt->progress)
      e->opt->progress(e->opt->progress_ctx, done, total);
  }
  return 0;
}

static int finish(engine *e, sim_results **out) {
  sim_results *r = calloc(1, sizeof *r);
  if (!r)
    return GL_ENOMEM;
  r->info = e->info;
  r->n = e->nw;
  r->worlds = calloc(e->nw, sizeof *r->worlds);
  r->homes = calloc(e->nw, sizeof *r->homes);
  if (!r->worlds || !r->homes) {
    sim_results_free(r);
    return GL_ENOMEM;
  }
  int rc = 0;
  for (size_t k = 0; k < e->nw; k++) {
    world *w = &e->w[k];
    sim_kpi_community *c = &w->com;
    for (size_t i = 0; i < e->n; i++) {
      sim_kpi_home_finish(&w->kpi[i], e->physical);
      sim_totals_add(&c->t, &w->kpi[i].t);
    }
    /* Over the run, too: money and energy balance exactly. */
    if (c->t.money + c->fees + c->surplus + c->utility_net != 0 ||
        c->t.bought != c->t.sold ||
        c->t.import_wh - c->t.export_wh !=
            c->t.grid_import - c->t.grid_export + c->t.bought - c->t.sold) {
      rc = internal(e, e->end, "the run's totals do not balance");
      r->homes[k] = w->kpi;
      w->kpi = NULL;
      break;
    }
    sim_kpi_community_finish(c, w->kpi, e->n, e->scratch);
    sim_world_result *wr = &r->worlds[k];
    wr->mechanism = w->mech;
    wr->community = *c;
    wr->homes = w->kpi;
    wr->n_homes = e->n;
    wr->verified = w->verified;
    wr->mismatched = w->mismatched;
    wr->unverified = w->unverified;
    memcpy(wr->first_mismatch, w->first_mismatch, sizeof wr->first_mismatch);
    r->homes[k] = w->kpi;
    w->kpi = NULL;
    if (w->daily && w->day != INT64_MIN)
      sim_report_daily_row(w->daily, w->day, &w->dsum, w->dstored_mwh,
                           e->physical);
  }
  if (!rc && e->opt->out_dir)
    rc = sim_report_write(e->opt->out_dir, e->sc, &r->info, r->worlds, r->n,
                          e->diag);
  /* Flush the series before any plot reads them. */
  for (size_t k = 0; k < e->nw && !rc; k++) {
    world *w = &e->w[k];
    FILE *fs[3] = {w->ts, w->daily, w->hh};
    for (int i = 0; i < 3; i++)
      if (fs[i] && (fflush(fs[i]) != 0 || ferror(fs[i]))) {
        sim_diag_add(e->diag, "%s: write error", w->dir);
        rc = GL_EIO;
      }
  }
  if (!rc && e->opt->out_dir && e->opt->plots)
    rc = sim_plot_render(e->opt->out_dir, &r->info, r->worlds, r->n,
                         e->opt->gnuplot, e->diag);
  if (rc) {
    sim_results_free(r);
    return rc;
  }
  if (out)
    *out = r;
  else
    sim_results_free(r);
  return 0;
}

static void engine_free(engine *e) {
  for (size_t k = 0; e->w && k < e->nw; k++) {
    world_free(&e->w[k]);
    free(e->w[k].kpi);
  }
  free(e->w);
  sim_source_free(e->src);
  sim_ledger_close(e->led);
  sim_ledger_out_free(e->lout);
  free(e->homes);
  free(e->ids);
  free(e->load);
  free(e->pv);
  free(e->present);
  free(e->buy_lim);
  free(e->sell_lim);
  free(e->scratch);
}

int sim_run(const sim_scenario *sc, const sim_run_options *opt,
            sim_results **out, sim_diag *diag) {
  if (out)
    *out = NULL;
  sim_run_options defaults;
  memset(&defaults, 0, sizeof defaults);
  engine e;
  memset(&e, 0, sizeof e);
  e.sc = sc;
  e.opt = opt ? opt : &defaults;
  e.diag = diag;
  int rc = setup(&e);
  if (!rc && e.opt->check_only) {
    sim_results *r = calloc(1, sizeof *r);
    if (!r) {
      rc = GL_ENOMEM;
    } else {
      r->info = e.info;
      r->info.n_worlds = 0;
      if (out)
        *out = r;
      else
        sim_results_free(r);
    }
    engine_free(&e);
    return rc;
  }
  if (!rc)
    rc = loop(&e);
  if (!rc)
    rc = finish(&e, out);
  engine_free(&e);
  return rc;
}

const sim_run_info *sim_results_info(const sim_results *r) {
  return &r->info;
}

const sim_world_result *sim_results_world(const sim_results *r, size_t i) {
  return i < r->n ? &r->worlds[i] : NULL;
}

void sim_results_free(sim_results *r) {
  if (!r)
    return;
  for (size_t k = 0; r->homes && k < r->n; k++)
    free(r->homes[k]);
  free(r->homes);
  free(r->worlds);
  free(r);
}
