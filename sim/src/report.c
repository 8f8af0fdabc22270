/* SPDX-License-Identifier: MIT */
/*
 * report.c - KPI tables, CSV files and time series of a research run.
 * See gridlet/sim_report.h. Every number is formatted from integers.
 */
#include "gridlet/sim_report.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/market.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)

/* ---- Numbers ------------------------------------------------------------- */

/* |v| / 10^digits with `digits` decimals, from an integer. */
static char *fixed(int64_t v, int digits, char *buf, size_t cap) {
  uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint64_t p = 1;
  for (int i = 0; i < digits; i++)
    p *= 10;
  snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", a / p,
           digits, a % p);
  return buf;
}

char *sim_fmt_kwh(int64_t wh, char *buf, size_t cap) {
  if (wh == SIM_NA) {
    snprintf(buf, cap, "n/a");
    return buf;
  }
  return fixed(wh, 3, buf, cap);
}

char *sim_fmt_money(int64_t micro, char *buf, size_t cap) {
  if (micro == SIM_NA) {
    snprintf(buf, cap, "n/a");
    return buf;
  }
  return fixed(mkt_div_round(micro, 10000), 2, buf, cap);
}

char *sim_fmt_price(int64_t p, char *buf, size_t cap) {
  if (p == SIM_NA) {
    snprintf(buf, cap, "n/a");
    return buf;
  }
  return fixed(mkt_div_round(p, 100), 4, buf, cap);
}

char *sim_fmt_pct(int64_t ppm, char *buf, size_t cap) {
  if (ppm == SIM_NA) {
    snprintf(buf, cap, "n/a");
    return buf;
  }
  return fixed(mkt_div_round(ppm, 100), 2, buf, cap);
}

/* CSV fields: base units, empty when not available. */
static void csv_i64(FILE *f, int64_t v, bool last) {
  if (v != SIM_NA)
    fprintf(f, "%" PRId64, v);
  fputc(last ? '\n' : ',', f);
}

static void csv_ratio(FILE *f, int64_t ppm, bool last) {
  char b[40];
  if (ppm != SIM_NA)
    fputs(fixed(ppm, 6, b, sizeof b), f);
  fputc(last ? '\n' : ',', f);
}

/* ---- Headers ------------------------------------------------------------- */

static void comment_header(FILE *f, const sim_run_info *info,
                           const sim_mechanism *m) {
  fprintf(f, "# gridlet-sim %s\n# scenario sha256 %s\n", info->version,
          info->scenario_hash);
  if (info->input_digest[0])
    fprintf(f, "# input digest %s\n", info->input_digest);
  if (m)
    fprintf(f, "# mechanism %s\n", m->name);
}

/* ---- Series -------------------------------------------------------------- */

void sim_report_series_header(FILE *f, const sim_run_info *info,
                              const sim_mechanism *m, bool physical) {
  (void)physical;
  comment_header(f, info, m);
  fputs("start,load_wh,pv_wh,import_wh,export_wh,charge_wh,discharge_wh,"
        "stored_wh,local_wh,buy_price,sell_price,grid_import_wh,"
        "grid_export_wh,transformer_wh,present,absent,fees,surplus,"
        "utility\n",
        f);
}

static int64_t na_unless(bool ok, int64_t v) {
  return ok ? v : SIM_NA;
}

void sim_report_series_row(FILE *f, const sim_series_row *r, bool physical) {
  char tb[GL_TIME_STR_MAX];
  const sim_totals *t = r->sums;
  fprintf(f, "%s,", gl_time_format(r->start, tb));
  csv_i64(f, na_unless(physical, t->load), false);
  csv_i64(f, na_unless(physical, t->pv), false);
  csv_i64(f, t->import_wh, false);
  csv_i64(f, t->export_wh, false);
  csv_i64(f, na_unless(physical, t->charge), false);
  csv_i64(f, na_unless(physical, t->discharge), false);
  csv_i64(f,
          r->stored_mwh == SIM_NA ? SIM_NA : mkt_div_round(r->stored_mwh, 1000),
          false);
  csv_i64(f, r->local, false);
  csv_i64(f, r->buy_price, false);
  csv_i64(f, r->sell_price, false);
  csv_i64(f, t->grid_import, false);
  csv_i64(f, t->grid_export, false);
  csv_i64(f, r->transformer, false);
  csv_i64(f, r->present, false);
  csv_i64(f, r->absent, false);
  csv_i64(f, r->fees, false);
  csv_i64(f, r->surplus, false);
  csv_i64(f, r->utility, true);
}

static const char *date_text(int64_t day, char *buf, size_t cap) {
  char t[GL_TIME_STR_MAX];
  gl_time_format(day * DAY_NS, t);
  snprintf(buf, cap, "%.10s", t);
  return buf;
}

void sim_report_daily_header(FILE *f, const sim_run_info *info,
                             const sim_mechanism *m, bool physical) {
  (void)physical;
  comment_header(f, info, m);
  fputs("date,load_wh,pv_wh,import_wh,export_wh,charge_wh,discharge_wh,"
        "stored_wh,local_wh,buy_price,grid_import_wh,grid_export_wh,bills,"
        "baseline_bills,savings\n",
        f);
}

void sim_report_daily_row(FILE *f, int64_t day, const sim_totals *t,
                          int64_t stored_mwh, bool physical) {
  char db[16];
  fprintf(f, "%s,", date_text(day, db, sizeof db));
  csv_i64(f, na_unless(physical, t->load), false);
  csv_i64(f, na_unless(physical, t->pv), false);
  csv_i64(f, t->import_wh, false);
  csv_i64(f, t->export_wh, false);
  csv_i64(f, na_unless(physical, t->charge), false);
  csv_i64(f, na_unless(physical, t->discharge), false);
  csv_i64(f,
          physical && stored_mwh != SIM_NA ? mkt_div_round(stored_mwh, 1000)
                                           : SIM_NA,
          false);
  csv_i64(f, t->bought, false);
  csv_i64(f,
          t->bought > 0 ? mkt_div_round(t->local_paid * 1000, t->bought)
                        : SIM_NA,
          false);
  csv_i64(f, t->grid_import, false);
  csv_i64(f, t->grid_export, false);
  csv_i64(f, -t->money, false);
  csv_i64(f, -t->baseline, false);
  csv_i64(f, t->money - t->baseline, true);
}

void sim_report_households_header(FILE *f, const sim_run_info *info,
                                  const sim_mechanism *m, bool physical) {
  (void)physical;
  comment_header(f, info, m);
  fputs("start,household,load_wh,pv_wh,charge_wh,discharge_wh,stored_wh,"
        "net_wh,bought_wh,sold_wh,grid_import_wh,grid_export_wh,money,"
        "baseline_money\n",
        f);
}

void sim_report_households_row(FILE *f, int64_t start, const char *id,
                               const sim_totals *t, int64_t stored_mwh,
                               bool physical) {
  char tb[GL_TIME_STR_MAX];
  fprintf(f, "%s,%s,", gl_time_format(start, tb), id);
  csv_i64(f, na_unless(physical, t->load), false);
  csv_i64(f, na_unless(physical, t->pv), false);
  csv_i64(f, na_unless(physical, t->charge), false);
  csv_i64(f, na_unless(physical, t->discharge), false);
  csv_i64(f,
          physical && stored_mwh != SIM_NA ? mkt_div_round(stored_mwh, 1000)
                                           : SIM_NA,
          false);
  csv_i64(f, t->import_wh - t->export_wh, false);
  csv_i64(f, t->bought, false);
  csv_i64(f, t->sold, false);
  csv_i64(f, t->grid_import, false);
  csv_i64(f, t->grid_export, false);
  csv_i64(f, t->money, false);
  csv_i64(f, t->baseline, true);
}

/* ---- Summary ------------------------------------------------------------- */

static void run_lines(FILE *f, const sim_scenario *sc,
                      const sim_run_info *info) {
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX], d[32];
  fprintf(f, "# gridlet-sim %s\n", info->version);
  fprintf(f, "# scenario %s sha256 %s\n", sc->name, info->scenario_hash);
  fprintf(f, "# input %s%s%s\n", sim_source_name(sc->source),
          info->input_digest[0] ? " digest " : "", info->input_digest);
  fprintf(f,
          "run        %s .. %s, %" PRId64 " intervals of %s, %zu households\n",
          gl_time_format(info->start, a), gl_time_format(info->end, b),
          info->intervals, gl_duration_format(info->interval, d, sizeof d),
          info->n_homes);
  if (sc->source == SIM_SOURCE_LEDGER)
    fprintf(f,
            "input      %s (%" PRId64 " entries, %" PRIu64
            " late readings not used)\n",
            sc->input_path, info->input_rows, info->late_readings);
  else if (sc->source != SIM_SOURCE_SYNTHETIC)
    fprintf(f, "input      %s (%" PRId64 " rows)\n", sc->input_path,
            info->input_rows);
  else
    fprintf(f, "input      synthetic, seed %" PRIu64 "\n", sc->seed);
  if (sc->has_tariff) {
    char r[32], fi[32], fee[32];
    fprintf(f, "tariff     retail %s, feed-in %s, network fee %s %s/kWh\n",
            sim_fmt_price(sc->band.retail, r, sizeof r),
            sim_fmt_price(sc->band.feed_in, fi, sizeof fi),
            sim_fmt_price(sc->band.fee, fee, sizeof fee), sc->currency);
  } else {
    fprintf(f, "tariff     as recorded in the ledger, per interval\n");
  }
}

static void mech_line(FILE *f, const sim_mechanism *m) {
  fprintf(f, "mechanism  %s (rationing %s, self-trade %s)\n", m->name,
          mkt_rationing_name(m->rationing),
          m->allow_self_trade ? "allowed" : "prevented");
}

void sim_report_summary(FILE *f, const sim_scenario *sc,
                        const sim_run_info *info, const sim_world_result *w) {
  const sim_kpi_community *c = &w->community;
  const sim_totals *t = &c->t;
  const char *cur = sc->currency;
  char a[48], b[48], x[48], y[48], z[48];
  run_lines(f, sc, info);
  mech_line(f, &w->mechanism);
  fprintf(f, "\nCommunity\n");
  if (c->physical) {
    fprintf(f, "  %-34s %s kWh\n", "load", sim_fmt_kwh(t->load, a, sizeof a));
    fprintf(f, "  %-34s %s kWh\n", "pv", sim_fmt_kwh(t->pv, a, sizeof a));
    fprintf(f, "  %-34s %s / %s / %s kWh\n",
            "battery charge / discharge / loss",
            sim_fmt_kwh(t->charge, a, sizeof a),
            sim_fmt_kwh(t->discharge, b, sizeof b),
            sim_fmt_kwh(mkt_div_round(t->losses_mwh, 1000), x, sizeof x));
  }
  fprintf(f, "  %-34s %s / %s kWh\n", "household import / export",
          sim_fmt_kwh(t->import_wh, a, sizeof a),
          sim_fmt_kwh(t->export_wh, b, sizeof b));
  fprintf(f, "  %-34s %s %%\n", "self-sufficiency",
          sim_fmt_pct(c->self_sufficiency_ppm, a, sizeof a));
  fprintf(f, "  %-34s %s %%\n", "self-consumption",
          sim_fmt_pct(c->self_consumption_ppm, a, sizeof a));
  fprintf(f, "  %-34s %s %%\n", "demand met locally",
          sim_fmt_pct(c->met_locally_ppm, a, sizeof a));
  fprintf(f, "  %-34s %s kWh (%s %% of load)\n", "p2p volume",
          sim_fmt_kwh(t->bought, a, sizeof a),
          sim_fmt_pct(c->p2p_share_ppm, b, sizeof b));
  fprintf(f, "  %-34s %s %s/kWh (sellers %s)\n", "average local price",
          sim_fmt_price(c->avg_buy_price, a, sizeof a), cur,
          sim_fmt_price(c->avg_sell_price, b, sizeof b));
  fprintf(f, "  %-34s %" PRId64 " of %" PRId64 "\n",
          "intervals with local trades", c->intervals_traded, c->intervals);
  fprintf(f, "  %-34s %s %s (baseline without trading %s)\n", "bills",
          sim_fmt_money(c->bill, a, sizeof a), cur,
          sim_fmt_money(c->baseline_bill, b, sizeof b));
  fprintf(f, "  %-34s %s %s (%s %% of the baseline)\n", "savings",
          sim_fmt_money(c->savings, a, sizeof a), cur,
          sim_fmt_pct(c->savings_ppm, b, sizeof b));
  const sim_distribution *d = &c->dist;
  fprintf(f, "  %-34s min %s, p10 %s, median %s,\n", "savings per household",
          sim_fmt_money(d->min, a, sizeof a),
          sim_fmt_money(d->p10, b, sizeof b),
          sim_fmt_money(d->p50, x, sizeof x));
  fprintf(f, "  %-34s p90 %s, max %s, mean %s %s\n", "",
          sim_fmt_money(d->p90, a, sizeof a),
          sim_fmt_money(d->max, b, sizeof b),
          sim_fmt_money(d->mean, x, sizeof x), cur);
  fprintf(f, "  %-34s %zu gained, %zu lost, %zu unchanged\n", "households",
          d->gained, d->lost, d->n - d->gained - d->lost);
  int64_t secs = info->interval / GL_NS_PER_SEC;
  char ta[GL_TIME_STR_MAX];
  fprintf(f, "  %-34s %s kWh per interval (%s kW) at %s\n",
          "peak transformer import", sim_fmt_kwh(c->peak_import, a, sizeof a),
          sim_fmt_kwh(mkt_div_round(c->peak_import * 3600, secs), b, sizeof b),
          gl_time_format(c->peak_import_at, ta));
  fprintf(f, "  %-34s %s kWh per interval (%s kW) at %s\n",
          "peak transformer export", sim_fmt_kwh(c->peak_export, a, sizeof a),
          sim_fmt_kwh(mkt_div_round(c->peak_export * 3600, secs), b, sizeof b),
          gl_time_format(c->peak_export_at, ta));
  fprintf(f, "  %-34s %s / %s / %s %s\n", "network fees / surplus / utility",
          sim_fmt_money(c->fees, a, sizeof a),
          sim_fmt_money(c->surplus, b, sizeof b),
          sim_fmt_money(c->utility_net, x, sizeof x), cur);
  fprintf(f,
          "  %-34s energy and money balance exactly in all %" PRId64
          " intervals\n",
          "conservation", c->intervals);
  if (sc->source == SIM_SOURCE_LEDGER)
    fprintf(f,
            "  %-34s %" PRIu64 " match, %" PRIu64 " differ, %" PRIu64
            " not comparable%s%s\n",
            "recorded settlements", w->verified, w->mismatched, w->unverified,
            w->mismatched ? "; first: " : "", w->first_mismatch);

  fprintf(f, "\nHouseholds (energy in kWh, money in %s, shares in %%)\n", cur);
  fprintf(f, "%-16s %11s %11s %7s %7s %7s %10s %10s %8s %8s %10s %10s %9s\n",
          "household", "load", "pv", "self-s", "self-c", "local", "bought",
          "sold", "buy", "sell", "bill", "baseline", "savings");
  for (size_t i = 0; i < w->n_homes; i++) {
    const sim_kpi_home *h = &w->homes[i];
    char l[SIM_FMT_MAX], p[SIM_FMT_MAX], s1[SIM_FMT_MAX], s2[SIM_FMT_MAX],
        s3[SIM_FMT_MAX], bo[SIM_FMT_MAX], so[SIM_FMT_MAX], bp[SIM_FMT_MAX],
        sp[SIM_FMT_MAX], bi[SIM_FMT_MAX], ba[SIM_FMT_MAX], sa[SIM_FMT_MAX];
    fprintf(f, "%-16s %11s %11s %7s %7s %7s %10s %10s %8s %8s %10s %10s %9s\n",
            h->id, c->physical ? sim_fmt_kwh(h->t.load, l, sizeof l) : "n/a",
            c->physical ? sim_fmt_kwh(h->t.pv, p, sizeof p) : "n/a",
            sim_fmt_pct(h->self_sufficiency_ppm, s1, sizeof s1),
            sim_fmt_pct(h->self_consumption_ppm, s2, sizeof s2),
            sim_fmt_pct(h->met_locally_ppm, s3, sizeof s3),
            sim_fmt_kwh(h->t.bought, bo, sizeof bo),
            sim_fmt_kwh(h->t.sold, so, sizeof so),
            sim_fmt_price(h->avg_buy_price, bp, sizeof bp),
            sim_fmt_price(h->avg_sell_price, sp, sizeof sp),
            sim_fmt_money(h->bill, bi, sizeof bi),
            sim_fmt_money(h->baseline_bill, ba, sizeof ba),
            sim_fmt_money(h->savings, sa, sizeof sa));
  }
  (void)y;
  (void)z;
}

static void kpi_row(FILE *f, const char *id, const sim_totals *t, int64_t ss,
                    int64_t sc, int64_t ml, int64_t abp, int64_t asp,
                    int64_t bill, int64_t base, int64_t sav) {
  fprintf(f, "%s,", id);
  const int64_t v[] = {t->intervals,
                       t->absent,
                       t->load,
                       t->pv,
                       t->import_wh,
                       t->export_wh,
                       t->charge,
                       t->discharge,
                       t->losses_mwh,
                       t->bought,
                       t->sold,
                       t->grid_import,
                       t->grid_export,
                       t->utility_used,
                       t->local_paid,
                       t->local_received,
                       t->fee_paid,
                       t->grid_paid,
                       t->grid_received,
                       bill,
                       base,
                       sav};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    csv_i64(f, v[i], false);
  csv_ratio(f, ss, false);
  csv_ratio(f, sc, false);
  csv_ratio(f, ml, false);
  csv_i64(f, abp, false);
  csv_i64(f, asp, true);
}

void sim_report_kpi_csv(FILE *f, const sim_run_info *info,
                        const sim_world_result *w) {
  comment_header(f, info, &w->mechanism);
  fputs("household,intervals,absent,load_wh,pv_wh,import_wh,export_wh,"
        "charge_wh,discharge_wh,losses_mwh,bought_wh,sold_wh,grid_import_wh,"
        "grid_export_wh,utility_used_wh,local_paid,local_received,fee_paid,"
        "grid_paid,grid_received,bill,baseline_bill,savings,self_sufficiency,"
        "self_consumption,met_locally,avg_buy_price,avg_sell_price\n",
        f);
  bool phys = w->community.physical;
  for (size_t i = 0; i < w->n_homes; i++) {
    const sim_kpi_home *h = &w->homes[i];
    sim_totals t = h->t;
    if (!phys)
      t.load = t.pv = t.charge = t.discharge = t.losses_mwh = SIM_NA;
    kpi_row(f, h->id, &t, h->self_sufficiency_ppm, h->self_consumption_ppm,
            h->met_locally_ppm, h->avg_buy_price, h->avg_sell_price, h->bill,
            h->baseline_bill, h->savings);
  }
  const sim_kpi_community *c = &w->community;
  sim_totals t = c->t;
  if (!phys)
    t.load = t.pv = t.charge = t.discharge = t.losses_mwh = SIM_NA;
  kpi_row(f, "community", &t, c->self_sufficiency_ppm, c->self_consumption_ppm,
          c->met_locally_ppm, c->avg_buy_price, c->avg_sell_price, c->bill,
          c->baseline_bill, c->savings);
}

/* ---- Comparison ---------------------------------------------------------- */

enum cell { C_PCT, C_KWH, C_MONEY, C_PRICE, C_COUNT };

typedef struct row_def {
  const char *label, *csv;
  enum cell kind;
  int64_t (*get)(const sim_world_result *w);
} row_def;

#define GETTER(name, expr)                                                     \
  static int64_t name(const sim_world_result *w) {                             \
    const sim_kpi_community *c = &w->community;                                \
    (void)c;                                                                   \
    return (expr);                                                             \
  }

GETTER(g_ss, c->self_sufficiency_ppm)
GETTER(g_sc, c->self_consumption_ppm)
GETTER(g_ml, c->met_locally_ppm)
GETTER(g_p2p, c->t.bought)
GETTER(g_p2ps, c->p2p_share_ppm)
GETTER(g_abp, c->avg_buy_price)
GETTER(g_asp, c->avg_sell_price)
GETTER(g_itr, c->intervals_traded)
GETTER(g_bill, c->bill)
GETTER(g_base, c->baseline_bill)
GETTER(g_sav, c->savings)
GETTER(g_savp, c->savings_ppm)
GETTER(g_min, c->dist.min)
GETTER(g_p10, c->dist.p10)
GETTER(g_p50, c->dist.p50)
GETTER(g_p90, c->dist.p90)
GETTER(g_max, c->dist.max)
GETTER(g_mean, c->dist.mean)
GETTER(g_gain, (int64_t)c->dist.gained)
GETTER(g_lost, (int64_t)c->dist.lost)
GETTER(g_pki, c->peak_import)
GETTER(g_pke, c->peak_export)
GETTER(g_gi, c->t.grid_import)
GETTER(g_ge, c->t.grid_export)
GETTER(g_fee, c->fees)
GETTER(g_sur, c->surplus)
GETTER(g_util, c->utility_net)
GETTER(g_ver, (int64_t)w->verified)
GETTER(g_mis, (int64_t)w->mismatched)

static const row_def rows[] = {
    {"self-sufficiency %", "self_sufficiency", C_PCT, g_ss},
    {"self-consumption %", "self_consumption", C_PCT, g_sc},
    {"demand met locally %", "met_locally", C_PCT, g_ml},
    {"p2p volume kWh", "p2p_wh", C_KWH, g_p2p},
    {"p2p share of load %", "p2p_share", C_PCT, g_p2ps},
    {"average local price", "avg_buy_price", C_PRICE, g_abp},
    {"average sellers' price", "avg_sell_price", C_PRICE, g_asp},
    {"intervals with trades", "intervals_traded", C_COUNT, g_itr},
    {"bills", "bills", C_MONEY, g_bill},
    {"baseline bills", "baseline_bills", C_MONEY, g_base},
    {"savings", "savings", C_MONEY, g_sav},
    {"savings % of baseline", "savings_share", C_PCT, g_savp},
    {"savings min", "savings_min", C_MONEY, g_min},
    {"savings p10", "savings_p10", C_MONEY, g_p10},
    {"savings median", "savings_p50", C_MONEY, g_p50},
    {"savings p90", "savings_p90", C_MONEY, g_p90},
    {"savings max", "savings_max", C_MONEY, g_max},
    {"savings mean", "savings_mean", C_MONEY, g_mean},
    {"households gained", "gained", C_COUNT, g_gain},
    {"households lost", "lost", C_COUNT, g_lost},
    {"peak import kWh/interval", "peak_import_wh", C_KWH, g_pki},
    {"peak export kWh/interval", "peak_export_wh", C_KWH, g_pke},
    {"from the utility kWh", "grid_import_wh", C_KWH, g_gi},
    {"to the utility kWh", "grid_export_wh", C_KWH, g_ge},
    {"network fees", "fees", C_MONEY, g_fee},
    {"mechanism surplus", "surplus", C_MONEY, g_sur},
    {"utility net", "utility_net", C_MONEY, g_util},
};

static const row_def ledger_rows[] = {
    {"settlements matching ledger", "verified", C_COUNT, g_ver},
    {"settlements differing", "mismatched", C_COUNT, g_mis},
};

static char *cell_text(enum cell k, int64_t v, char *b, size_t cap) {
  switch (k) {
  case C_PCT:
    return sim_fmt_pct(v, b, cap);
  case C_KWH:
    return sim_fmt_kwh(v, b, cap);
  case C_MONEY:
    return sim_fmt_money(v, b, cap);
  case C_PRICE:
    return sim_fmt_price(v, b, cap);
  case C_COUNT:
    snprintf(b, cap, "%" PRId64, v);
    return b;
  }
  return b;
}

void sim_report_compare(FILE *f, const sim_scenario *sc,
                        const sim_run_info *info, const sim_world_result *w,
                        size_t n) {
  run_lines(f, sc, info);
  fprintf(f, "mechanisms %zu (rationing %s, self-trade %s); money in %s\n\n", n,
          mkt_rationing_name(sc->market.rationing),
          sc->market.allow_self_trade ? "allowed" : "prevented", sc->currency);
  int width[SIM_MECHANISMS_MAX];
  fprintf(f, "%-28s", "");
  for (size_t k = 0; k < n; k++) {
    size_t len = strlen(w[k].mechanism.name);
    width[k] = (int)(len + 2 > 16 ? len + 2 : 16);
    fprintf(f, "%*s", width[k], w[k].mechanism.name);
  }
  fputc('\n', f);
  size_t nr = sizeof rows / sizeof rows[0];
  size_t nl = sc->source == SIM_SOURCE_LEDGER ? 2 : 0;
  for (size_t r = 0; r < nr + nl; r++) {
    const row_def *d = r < nr ? &rows[r] : &ledger_rows[r - nr];
    fprintf(f, "%-28s", d->label);
    for (size_t k = 0; k < n; k++) {
      char b[48];
      fprintf(f, "%*s", width[k],
              cell_text(d->kind, d->get(&w[k]), b, sizeof b));
    }
    fputc('\n', f);
  }
}

void sim_report_compare_csv(FILE *f, const sim_run_info *info,
                            const sim_world_result *w, size_t n) {
  comment_header(f, info, NULL);
  fputs("kpi", f);
  for (size_t k = 0; k < n; k++)
    fprintf(f, ",%s", w[k].mechanism.name);
  fputc('\n', f);
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    fputs(rows[r].csv, f);
    for (size_t k = 0; k < n; k++) {
      fputc(',', f);
      int64_t v = rows[r].get(&w[k]);
      char b[40];
      if (v == SIM_NA)
        continue;
      if (rows[r].kind == C_PCT)
        fputs(fixed(v, 6, b, sizeof b), f);
      else
        fprintf(f, "%" PRId64, v);
    }
    fputc('\n', f);
  }
}

/* ---- Files --------------------------------------------------------------- */

static FILE *create(const char *dir, const char *sub, const char *name,
                    sim_diag *diag, char *path, size_t cap) {
  if (sub)
    snprintf(path, cap, "%s/%s/%s", dir, sub, name);
  else
    snprintf(path, cap, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f)
    sim_diag_add(diag, "%s: cannot create: %s", path, strerror(errno));
  return f;
}

static int done(FILE *f, const char *path, sim_diag *diag) {
  bool bad = ferror(f) != 0;
  if (fclose(f) != 0)
    bad = true;
  if (bad) {
    sim_diag_add(diag, "%s: write error", path);
    return GL_EIO;
  }
  return 0;
}

int sim_report_scenario(const char *dir, const sim_scenario *sc,
                        sim_diag *diag) {
  char *text;
  int rc = sim_scenario_format(sc, &text);
  if (rc)
    return rc;
  char path[SIM_PATH_MAX + 32];
  FILE *f = create(dir, NULL, "scenario.ini", diag, path, sizeof path);
  if (!f) {
    free(text);
    return GL_EIO;
  }
  fputs(text, f);
  free(text);
  return done(f, path, diag);
}

int sim_report_write(const char *dir, const sim_scenario *sc,
                     const sim_run_info *info, const sim_world_result *w,
                     size_t n, sim_diag *diag) {
  char path[SIM_PATH_MAX + 64];
  int rc;
  for (size_t k = 0; k < n; k++) {
    char sub[SIM_MECH_NAME_MAX + 1];
    sim_mechanism_dirname(&w[k].mechanism, sub, sizeof sub);
    const char *s = n > 1 ? sub : NULL;
    FILE *f = create(dir, s, "summary.txt", diag, path, sizeof path);
    if (!f)
      return GL_EIO;
    sim_report_summary(f, sc, info, &w[k]);
    if ((rc = done(f, path, diag)))
      return rc;
    if (!(f = create(dir, s, "kpi.csv", diag, path, sizeof path)))
      return GL_EIO;
    sim_report_kpi_csv(f, info, &w[k]);
    if ((rc = done(f, path, diag)))
      return rc;
  }
  if (n > 1) {
    FILE *f = create(dir, NULL, "compare.txt", diag, path, sizeof path);
    if (!f)
      return GL_EIO;
    sim_report_compare(f, sc, info, w, n);
    if ((rc = done(f, path, diag)))
      return rc;
    if (!(f = create(dir, NULL, "compare.csv", diag, path, sizeof path)))
      return GL_EIO;
    sim_report_compare_csv(f, info, w, n);
    if ((rc = done(f, path, diag)))
      return rc;
  }
  return 0;
}
