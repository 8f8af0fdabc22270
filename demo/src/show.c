/* SPDX-License-Identifier: MIT */
/* show.c - see gridlet/demo_show.h. */
#include "gridlet/demo_show.h"

#include "gridlet/clock.h"

#include <inttypes.h>
#include <string.h>

/* ---- Numbers --------------------------------------------------------------
 */

char *demo_fmt_fixed(int64_t v, int64_t per_unit, int decimals, bool plus,
                     char buf[DEMO_NUM_MAX]) {
  if (per_unit <= 0 || decimals < 0 || decimals > 6) {
    snprintf(buf, DEMO_NUM_MAX, "?");
    return buf;
  }
  uint64_t pow10 = 1;
  for (int i = 0; i < decimals; i++)
    pow10 *= 10;
  /* Work on the magnitude so that rounding is symmetric. */
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint64_t pu = (uint64_t)per_unit;
  uint64_t whole = m / pu, rest = m % pu;
  /* rest < per_unit <= 2^63, times 10^6 could overflow for huge units;
   * gridlet's units are 10^3 and 10^6, far below that. */
  uint64_t frac = (rest * pow10 + pu / 2) / pu;
  if (frac >= pow10) {
    whole++;
    frac -= pow10;
  }
  /* A value that rounds to zero is shown without a sign either way. */
  bool nonzero = whole || frac;
  const char *sign =
      v < 0 && nonzero ? "-" : (plus && v > 0 && nonzero ? "+" : "");
  if (decimals)
    snprintf(buf, DEMO_NUM_MAX, "%s%" PRIu64 ".%0*" PRIu64, sign, whole,
             decimals, frac);
  else
    snprintf(buf, DEMO_NUM_MAX, "%s%" PRIu64, sign, whole);
  return buf;
}

char *demo_fmt_kwh(int64_t wh, char buf[DEMO_NUM_MAX]) {
  return demo_fmt_fixed(wh, 1000, 2, false, buf);
}

char *demo_fmt_money(int64_t micro, char buf[DEMO_NUM_MAX]) {
  return demo_fmt_fixed(micro, 1000000, 2, true, buf);
}

char *demo_fmt_price(int64_t micro_per_kwh, char buf[DEMO_NUM_MAX]) {
  return demo_fmt_fixed(micro_per_kwh, 1000000, 3, false, buf);
}

int64_t demo_money_at(int64_t wh, int64_t price) {
  /* |wh| < 10^12 and price < 10^7 in any community: the product fits. */
  int64_t p = wh * price;
  return p >= 0 ? (p + 500) / 1000 : -((-p + 500) / 1000);
}

int64_t demo_baseline(const demo_balance *b, int64_t retail, int64_t feed_in) {
  int64_t took = b->local_bought_wh + b->grid_import_wh;
  int64_t gave = b->local_sold_wh + b->grid_export_wh;
  return demo_money_at(gave, feed_in) - demo_money_at(took, retail);
}

int demo_share_pct(int64_t part, int64_t whole) {
  if (whole <= 0)
    return 0;
  return (int)((part * 100 + whole / 2) / whole);
}

/* ---- The interval table ---------------------------------------------------
 */

void demo_show_interval_header(FILE *out, const char *currency) {
  fprintf(out,
          "  UTC     price   traded   from     to      met locally         "
          "readings  refused\n"
          " start  %3.3s/kWh   kWh    grid kWh grid kWh                    "
          " on time\n",
          currency);
}

void demo_show_interval(FILE *out, const demo_interval_view *v) {
  char price[DEMO_NUM_MAX], traded[DEMO_NUM_MAX], gin[DEMO_NUM_MAX],
      gout[DEMO_NUM_MAX], tbuf[GL_TIME_STR_MAX];
  gl_time_format(v->start, tbuf);
  /* "2026-04-20T12:15:00Z": the hour and minute. */
  char hm[6] = "--:--";
  if (strlen(tbuf) >= 16)
    memcpy(hm, tbuf + 11, 5);
  if (v->has_price)
    demo_fmt_price(v->price, price);
  else if (v->traded_wh > 0)
    /* Trades without one clearing price: a continuous market, where each
     * trade has its own (the ledger's clearing entry lists them). */
    snprintf(price, sizeof price, "each");
  else
    snprintf(price, sizeof price, "-");
  /* Demand met by neighbours: energy bought locally of all bought. */
  int share = demo_share_pct(v->traded_wh, v->traded_wh + v->grid_import_wh);
  char bar[11];
  int fill = (share + 5) / 10;
  for (int i = 0; i < 10; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[10] = '\0';
  char readings[24];
  snprintf(readings, sizeof readings, "%" PRId64 "/%" PRId64,
           v->meters - v->missing, v->meters);
  fprintf(out, " %s  %7s %8s %8s %8s   %3d %% %s  %7s  %7" PRId64 "%s\n", hm,
          price, demo_fmt_kwh(v->traded_wh, traded),
          demo_fmt_kwh(v->grid_import_wh, gin),
          demo_fmt_kwh(v->grid_export_wh, gout), share, bar, readings,
          v->refused, v->late ? "  (late readings logged)" : "");
}

/* ---- The balance table ----------------------------------------------------
 */

char *demo_describe_home(const demo_household *h, char *buf, size_t cap) {
  char pv[DEMO_NUM_MAX], bat[DEMO_NUM_MAX];
  if (!h) {
    snprintf(buf, cap, "-");
    return buf;
  }
  demo_fmt_fixed(h->pv_w, 1000, h->pv_w % 1000 ? 1 : 0, false, pv);
  demo_fmt_fixed(h->battery_wh, 1000, h->battery_wh % 1000 ? 1 : 0, false, bat);
  if (h->pv_w && h->battery_wh)
    snprintf(buf, cap, "%s kWp PV, %s kWh battery", pv, bat);
  else if (h->pv_w)
    snprintf(buf, cap, "%s kWp PV", pv);
  else if (h->battery_wh)
    snprintf(buf, cap, "%s kWh battery", bat);
  else
    snprintf(buf, cap, "no PV, no battery");
  return buf;
}

void demo_show_balances(FILE *out, const demo_household_view *rows, size_t n,
                        const char *currency) {
  fprintf(out,
          " household  installation                  took    gave   bought   "
          "sold    with     without    gain\n"
          "                                          kWh     kWh   locally "
          "locally  trading  trading     %s\n",
          currency);
  demo_balance tot = {0};
  int64_t base_tot = 0;
  for (size_t i = 0; i < n; i++) {
    const demo_household_view *r = &rows[i];
    const demo_balance *b = &r->bal;
    char home[48], took[DEMO_NUM_MAX], gave[DEMO_NUM_MAX], bought[DEMO_NUM_MAX],
        sold[DEMO_NUM_MAX], with[DEMO_NUM_MAX], without[DEMO_NUM_MAX],
        gain[DEMO_NUM_MAX];
    demo_describe_home(r->home, home, sizeof home);
    fprintf(out, " %-10s %-28s %7s %7s %7s %7s %8s %8s %8s\n", r->id, home,
            demo_fmt_fixed(b->local_bought_wh + b->grid_import_wh, 1000, 1,
                           false, took),
            demo_fmt_fixed(b->local_sold_wh + b->grid_export_wh, 1000, 1, false,
                           gave),
            demo_fmt_fixed(b->local_bought_wh, 1000, 1, false, bought),
            demo_fmt_fixed(b->local_sold_wh, 1000, 1, false, sold),
            demo_fmt_money(b->money, with),
            demo_fmt_money(r->baseline, without),
            demo_fmt_money(b->money - r->baseline, gain));
    tot.local_bought_wh += b->local_bought_wh;
    tot.local_sold_wh += b->local_sold_wh;
    tot.grid_import_wh += b->grid_import_wh;
    tot.grid_export_wh += b->grid_export_wh;
    tot.money += b->money;
    tot.fees += b->fees;
    base_tot += r->baseline;
  }
  char took[DEMO_NUM_MAX], gave[DEMO_NUM_MAX], bought[DEMO_NUM_MAX],
      sold[DEMO_NUM_MAX], with[DEMO_NUM_MAX], without[DEMO_NUM_MAX],
      gain[DEMO_NUM_MAX];
  fprintf(out, " %-10s %-28s %7s %7s %7s %7s %8s %8s %8s\n", "all", "",
          demo_fmt_fixed(tot.local_bought_wh + tot.grid_import_wh, 1000, 1,
                         false, took),
          demo_fmt_fixed(tot.local_sold_wh + tot.grid_export_wh, 1000, 1, false,
                         gave),
          demo_fmt_fixed(tot.local_bought_wh, 1000, 1, false, bought),
          demo_fmt_fixed(tot.local_sold_wh, 1000, 1, false, sold),
          demo_fmt_money(tot.money, with), demo_fmt_money(base_tot, without),
          demo_fmt_money(tot.money - base_tot, gain));
}
