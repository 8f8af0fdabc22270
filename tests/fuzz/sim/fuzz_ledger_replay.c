/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ledger_replay.c - the research simulator replaying arbitrary (but
 * well-formed) ledgers: the input is turned into a sequence of readings,
 * orders, parameters, clearings and settlements of a few meters and
 * intervals, appended to a real ledger file, and replayed under the
 * mechanism byte 0 picks. Whatever the entries say, the replay either
 * runs (and then conserves energy and money: GL_EINTERNAL would be a bug)
 * or refuses with a reason.
 */
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/log.h"
#include "gridlet/sim_run.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 (INT64_C(1780272000) * 1000000000)
#define L (INT64_C(900) * 1000000000)

typedef struct src {
  const uint8_t *p;
  size_t n;
} src;

static unsigned take(src *s) {
  if (!s->n)
    return 0;
  s->n--;
  return *s->p++;
}

static const char *const ids[4] = {"a", "b", "c", "d"};

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  if (size < 2 || size > 4096)
    return 0;
  if (!path[0])
    /* tmpfs when there is one: every append is an fsync. */
    snprintf(path, sizeof path, "%s/gridlet-fuzz-ledger-%d.db",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
  char wal[80], shm[80];
  snprintf(wal, sizeof wal, "%s-wal", path);
  snprintf(shm, sizeof shm, "%s-shm", path);
  unlink(path);
  unlink(wal);
  unlink(shm);
  src s = {data + 1, size - 1};
  lg_ledger_options lo = {.origin = "fuzz/replay", .create = true};
  lg_ledger *lg = NULL;
  if (lg_ledger_open(path, &lo, &lg))
    return 0;
  /* Entries the ledger would refuse (inconsistent) are left out; the rest
   * go in as one batch (one transaction). */
  static lg_entry batch[64];
  static lg_trade trades[64][4];
  static lg_settlement_row rows[64][4];
  size_t nb = 0;
  for (int k = 0; k < 64 && s.n; k++) {
    lg_entry e;
    memset(&e, 0, sizeof e);
    unsigned kind = take(&s) % 5;
    int64_t start = T0 + (int64_t)(take(&s) % 4) * L;
    const char *id = ids[take(&s) % 4];
    switch (kind) {
    case 0:
      e.type = LG_ENTRY_READING;
      e.u.reading.interval_start = start;
      snprintf(e.u.reading.meter_id, sizeof e.u.reading.meter_id, "%s", id);
      e.u.reading.seq = take(&s);
      e.u.reading.import_wh = (int64_t)take(&s) * 10;
      e.u.reading.export_wh = (int64_t)take(&s) * 10;
      break;
    case 1:
      e.type = LG_ENTRY_ORDER;
      e.u.order.interval_start = start;
      snprintf(e.u.order.meter_id, sizeof e.u.order.meter_id, "%s", id);
      e.u.order.seq = take(&s);
      e.u.order.side = take(&s) & 1 ? LG_SIDE_BUY : LG_SIDE_SELL;
      e.u.order.quantity_wh = take(&s) % 3 ? (int64_t)take(&s) * 5 : 0;
      e.u.order.limit_price = (int64_t)take(&s) * 2000;
      break;
    case 2: {
      static const char *const keys[3] = {"market.k_ppm", "market.rationing",
                                          "market.self_trade"};
      static const char *const vals[3][2] = {{"250000", "1000000"},
                                             {"pro-rata", "time"},
                                             {"allowed", "prevented"}};
      unsigned q = take(&s) % 3;
      e.type = LG_ENTRY_PARAM;
      e.u.param.effective_from = start;
      snprintf(e.u.param.key, sizeof e.u.param.key, "%s", keys[q]);
      snprintf(e.u.param.value, sizeof e.u.param.value, "%s",
               vals[q][take(&s) & 1]);
      break;
    }
    case 3: {
      size_t nt = take(&s) % 4;
      int64_t vol = 0;
      for (size_t i = 0; i < nt; i++) {
        unsigned b = take(&s) % 4, sl = (b + 1 + take(&s) % 3) % 4;
        lg_trade *t = &trades[nb][i];
        snprintf(t->buyer, sizeof t->buyer, "%s", ids[b]);
        snprintf(t->seller, sizeof t->seller, "%s", ids[sl]);
        t->energy_wh = 1 + take(&s);
        t->price = 100000 + (int64_t)take(&s) * 500;
        vol += t->energy_wh;
      }
      e.type = LG_ENTRY_CLEARING;
      e.u.clearing = (lg_clearing){.interval_start = start,
                                   .interval_len_s = 900,
                                   .mode = (uint8_t)(1 + take(&s) % 3),
                                   .rule = (uint8_t)(take(&s) % 5),
                                   .price = -1,
                                   .volume_wh = vol,
                                   .n_trades = nt,
                                   .trades = trades[nb]};
      break;
    }
    default: {
      size_t nr = 1 + take(&s) % 4;
      lg_settlement_row *rw = rows[nb];
      memset(rw, 0, sizeof rows[nb]);
      for (size_t i = 0; i < nr; i++) {
        snprintf(rw[i].meter_id, sizeof rw[i].meter_id, "%s", ids[i]);
        rw[i].flags = take(&s) & 1 ? LG_SETTLE_NO_READING : 0;
      }
      e.type = LG_ENTRY_SETTLEMENT;
      e.u.settlement = (lg_settlement){.interval_start = start,
                                       .interval_len_s = 900,
                                       .retail_price = 300000,
                                       .feedin_price = 100000,
                                       .fee_price = take(&s) * 100,
                                       .n_rows = nr,
                                       .rows = rw};
      break;
    }
    }
    uint8_t *enc = NULL;
    size_t len = 0;
    if (lg_entry_encode(&e, &enc, &len) == 0 && lg_entry_check(&e, NULL) == 0)
      batch[nb++] = e;
    free(enc);
  }
  if (nb && lg_ledger_append_entries(lg, batch, nb, NULL))
    __builtin_trap(); /* every entry was checked */
  lg_ledger_free(lg);

  static const char *const mech[6] = {"expost/marginal", "expost/mcafee",
                                      "exante/k:0.5",    "exante/pay-as-bid",
                                      "continuous",      "expost/k:0.25"};
  char text[256];
  snprintf(text, sizeof text,
           "[scenario]\nname = f\n[input]\nsource = ledger\npath = %s\n%s",
           path,
           data[0] & 0x80 ? "[tariff]\nretail = 0.4\nfeed_in = 0.05\n" : "");
  sim_scenario *sc = NULL;
  sim_diag d;
  memset(&d, 0, sizeof d);
  if (sim_scenario_parse("/fuzz.ini", text, strlen(text), NULL, 0, &sc, &d))
    __builtin_trap();
  sim_mechanism m[2];
  sim_mechanism_parse(mech[data[0] % 6], &sc->market, &m[0], NULL);
  sim_mechanism_parse(mech[(data[0] >> 3) % 6], &sc->market, &m[1], NULL);
  sim_run_options o = {.mechanisms = m, .n_mechanisms = 2};
  sim_results *r = NULL;
  memset(&d, 0, sizeof d);
  int rc = sim_run(sc, &o, &r, &d);
  if (rc == GL_EINTERNAL || (rc && rc != GL_ENOMEM && d.count == 0))
    __builtin_trap();
  sim_results_free(r);
  sim_scenario_free(sc);
  unlink(path);
  unlink(wal);
  unlink(shm);
  return 0;
}
