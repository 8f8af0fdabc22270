/* SPDX-License-Identifier: MIT */
/*
 * samples.c - example messages and keys for the proto tests (see
 * samples.h).
 */
#include "samples.h"

#include "gridlet/clock.h"

#include <stdlib.h>
#include <string.h>

int64_t sample_time(const char *text) {
  int64_t ns;
  if (gl_time_parse(text, &ns) != 0)
    abort();
  return ns;
}

static void seeded_key(uint8_t first, gl_ed25519_key *key) {
  uint8_t seed[32];
  for (int i = 0; i < 32; i++)
    seed[i] = (uint8_t)(first + i);
  if (gl_ed25519_from_seed(seed, key) != 0)
    abort();
}

void sample_meter_key(gl_ed25519_key *key) {
  seeded_key(0x00, key);
}
void sample_aggregator_key(gl_ed25519_key *key) {
  seeded_key(0x20, key);
}

static pr_key_entry entries[2];
static pr_key_table table = {entries, 2};

pr_keyring sample_keyring(void) {
  /* Filling the table is idempotent and yields the same bytes each time,
   * so concurrent first calls are harmless in practice; tests call this
   * before starting threads anyway. */
  gl_ed25519_key k;
  sample_meter_key(&k);
  entries[0].kid = "meter-17";
  memcpy(entries[0].pub, k.pub, sizeof k.pub);
  sample_aggregator_key(&k);
  entries[1].kid = PR_AGGREGATOR_ID;
  memcpy(entries[1].pub, k.pub, sizeof k.pub);
  return pr_key_table_keyring(&table);
}

static const char *const note =
    "gridlet.example/c1\n"
    "1234\n"
    "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "\n"
    "\xe2\x80\x94 gridlet.example/c1 AAAAAW7rY2f1c1LhIcgs1h0CbxUcQm8a8ZpT7LG4"
    "NQ9h3Xk5Ac2GkV0xqvR8HwY1mUNpDx8bIwW7J8z8ex0G5P8z0wE=\n";

void sample_msg(pr_type type, pr_msg *m) {
  bool agg = type == PR_MSG_RESULT || type == PR_MSG_PROOF_RESPONSE ||
             type == PR_MSG_CHECKPOINT || type == PR_MSG_SUMMARY;
  if (pr_msg_init(m, type, agg ? PR_AGGREGATOR_ID : "meter-17", agg ? 9001 : 42,
                  sample_time("2026-11-21T10:15:04Z")) != 0)
    abort();
  int64_t start = sample_time("2026-11-21T10:00:00Z");
  int64_t end = sample_time("2026-11-21T10:15:00Z");
  switch (type) {
  case PR_MSG_READING: {
    pr_reading *r = &m->reading;
    r->start = start;
    r->end = end;
    r->import_wh = 120;
    r->export_wh = 0;
    r->pv_wh = 310;
    r->charge_wh = 50;
    r->discharge_wh = 0;
    r->has_soc_bp = true;
    r->soc_bp = 6400;
    r->has_import_total_wh = true;
    r->import_total_wh = 1234567;
    r->has_export_total_wh = true;
    r->export_total_wh = 765432;
    r->flags = PR_FLAG_ESTIMATED;
    break;
  }
  case PR_MSG_ORDER: {
    pr_order *o = &m->order;
    m->ts = sample_time("2026-11-21T09:50:00Z");
    o->start = end;
    o->end = sample_time("2026-11-21T10:30:00Z");
    o->nsteps = 2;
    o->steps[0] = (pr_step){PR_SIDE_BUY, 800, 260000};
    o->steps[1] = (pr_step){PR_SIDE_SELL, 300, 120000};
    break;
  }
  case PR_MSG_PREFS:
    m->prefs.effective = sample_time("2026-11-22T00:00:00Z");
    m->prefs.has_buy_below = true;
    m->prefs.buy_below = 280000;
    m->prefs.has_sell_above = true;
    m->prefs.sell_above = 90000;
    break;
  case PR_MSG_STATUS:
    m->status.state = PR_STATE_ONLINE;
    m->status.has_outbox = true;
    m->status.outbox = 3;
    m->status.has_last_reading = true;
    m->status.last_reading = (pr_last_reading){41, start, end};
    memcpy(m->status.version, "0.1.0", 6);
    break;
  case PR_MSG_PROOF_REQUEST:
    m->proof_request.kind = PR_PROOF_INCLUSION;
    m->proof_request.index = 1201;
    m->proof_request.size = 1234;
    break;
  case PR_MSG_RESULT: {
    pr_result *r = &m->result;
    memcpy(r->meter, "meter-17", 9);
    r->start = start;
    r->end = end;
    r->mode = PR_MODE_EXPOST;
    r->has_price = true;
    r->price = 215000;
    r->ntrades = 1;
    r->trades[0] = (pr_trade){PR_SIDE_SELL, 300, 215000, 64500};
    r->settlement = (pr_settlement){
        .import_wh = 0,
        .export_wh = 300,
        .local_sell_wh = 300,
        .local_revenue = 64500,
        .fee = 3000,
        .net = 61500,
    };
    r->balance = -1250000;
    r->ledger.size = 1234;
    r->ledger.nentries = 2;
    r->ledger.entries[0] = 1201;
    r->ledger.entries[1] = 1230;
    break;
  }
  case PR_MSG_PROOF_RESPONSE: {
    pr_proof_response *p = &m->proof_response;
    memcpy(p->meter, "meter-17", 9);
    p->request_seq = 42;
    p->kind = PR_PROOF_INCLUSION;
    p->status = PR_PROOF_OK;
    p->index = 1201;
    p->size = 1234;
    p->npath = 3;
    for (size_t i = 0; i < p->npath; i++)
      for (size_t k = 0; k < PR_HASH_LEN; k++)
        p->path[i][k] = (uint8_t)(i * 32 + k);
    p->entry_len = 5;
    memcpy(p->entry, "\x01\x02\x03\x04\x05", 5);
    break;
  }
  case PR_MSG_CHECKPOINT:
    memcpy(m->checkpoint.note, note, strlen(note) + 1);
    break;
  case PR_MSG_SUMMARY: {
    pr_summary *s = &m->summary;
    s->start = start;
    s->end = end;
    s->mode = PR_MODE_EXPOST;
    memcpy(s->rule, "marginal", 9);
    s->has_price = true;
    s->price = 215000;
    s->traded_wh = 5200;
    s->import_wh = 9100;
    s->export_wh = 7400;
    s->grid_buy_wh = 3900;
    s->grid_sell_wh = 2200;
    s->meters = 37;
    s->missing = 1;
    s->ledger_size = 1234;
    break;
  }
  default:
    abort();
  }
}

#define BIG INT64_C(-9007199254740991)

static void fill_id(char *dst, char c) {
  dst[0] = 'm';
  memset(dst + 1, c, PR_ID_MAX - 1);
  dst[PR_ID_MAX] = '\0';
}

void sample_max_msg(pr_type type, pr_msg *m) {
  sample_msg(type, m);
  if (strcmp(m->sender, PR_AGGREGATOR_ID) != 0)
    fill_id(m->sender, 'z');
  m->seq = PR_INT_MAX;
  switch (type) {
  case PR_MSG_READING:
    m->reading.import_wh = m->reading.export_wh = m->reading.pv_wh =
        m->reading.charge_wh = m->reading.discharge_wh = PR_ENERGY_MAX;
    m->reading.soc_bp = PR_SOC_MAX;
    m->reading.import_total_wh = m->reading.export_total_wh = PR_INT_MAX;
    m->reading.flags = PR_FLAGS_ALL & ~PR_FLAG_MISSING;
    break;
  case PR_MSG_ORDER:
    m->order.nsteps = PR_MAX_STEPS;
    for (size_t i = 0; i < PR_MAX_STEPS; i++)
      m->order.steps[i] = (pr_step){PR_SIDE_SELL, PR_ENERGY_MAX, -PR_PRICE_MAX};
    break;
  case PR_MSG_PREFS:
    m->prefs.buy_below = m->prefs.sell_above = -PR_PRICE_MAX;
    break;
  case PR_MSG_STATUS:
    m->status.state = PR_STATE_OFFLINE;
    m->status.outbox = PR_INT_MAX;
    m->status.last_reading.seq = PR_INT_MAX;
    memset(m->status.version, '9', PR_TOKEN_MAX);
    m->status.version[PR_TOKEN_MAX] = '\0';
    break;
  case PR_MSG_PROOF_REQUEST:
    m->proof_request.kind = PR_PROOF_CONSISTENCY;
    m->proof_request.index = 0;
    m->proof_request.old_size = PR_INT_MAX;
    m->proof_request.size = PR_INT_MAX;
    break;
  case PR_MSG_RESULT: {
    pr_result *r = &m->result;
    fill_id(r->meter, '_');
    r->mode = PR_MODE_CONTINUOUS;
    r->price = -PR_PRICE_MAX;
    r->ntrades = PR_MAX_TRADES;
    for (size_t i = 0; i < PR_MAX_TRADES; i++)
      r->trades[i] =
          (pr_trade){PR_SIDE_SELL, PR_ENERGY_MAX, -PR_PRICE_MAX, PR_MONEY_MAX};
    r->settlement = (pr_settlement){PR_ENERGY_MAX, PR_ENERGY_MAX,
                                    PR_ENERGY_MAX, PR_ENERGY_MAX,
                                    PR_ENERGY_MAX, PR_ENERGY_MAX,
                                    PR_MONEY_MAX,  0,
                                    PR_MONEY_MAX,  0,
                                    PR_MONEY_MAX,  -3 * PR_MONEY_MAX};
    r->balance = BIG;
    r->flags = PR_RESULT_FLAGS_ALL;
    r->ledger.size = PR_INT_MAX;
    r->ledger.nentries = PR_MAX_LEDGER_ENTRIES;
    for (size_t i = 0; i < PR_MAX_LEDGER_ENTRIES; i++)
      r->ledger.entries[i] =
          PR_INT_MAX - 1 - (int64_t)(PR_MAX_LEDGER_ENTRIES - i);
    break;
  }
  case PR_MSG_PROOF_RESPONSE: {
    pr_proof_response *p = &m->proof_response;
    fill_id(p->meter, '-');
    p->request_seq = PR_INT_MAX;
    p->index = PR_INT_MAX - 1;
    p->size = PR_INT_MAX;
    p->npath = PR_MAX_PROOF_HASHES;
    p->entry_len = PR_ENTRY_MAX;
    memset(p->entry, 0xff, PR_ENTRY_MAX);
    /* Quotes and backslashes each take two bytes in JSON. */
    memset(p->note, '"', PR_NOTE_MAX);
    p->note[0] = 'x';
    p->note[PR_NOTE_MAX - 3] = '\n';
    p->note[PR_NOTE_MAX - 2] = '\n';
    p->note[PR_NOTE_MAX - 1] = '\n';
    p->note[PR_NOTE_MAX] = '\0';
    break;
  }
  case PR_MSG_CHECKPOINT:
    memset(m->checkpoint.note, '\\', PR_NOTE_MAX);
    m->checkpoint.note[0] = 'x';
    m->checkpoint.note[PR_NOTE_MAX - 2] = '\n';
    m->checkpoint.note[PR_NOTE_MAX - 3] = '\n';
    m->checkpoint.note[PR_NOTE_MAX - 1] = '\n';
    m->checkpoint.note[PR_NOTE_MAX] = '\0';
    break;
  case PR_MSG_SUMMARY: {
    pr_summary *s = &m->summary;
    s->mode = PR_MODE_CONTINUOUS;
    memset(s->rule, 'z', PR_TOKEN_MAX);
    s->rule[PR_TOKEN_MAX] = '\0';
    s->price = -PR_PRICE_MAX;
    s->traded_wh = s->import_wh = s->export_wh = s->grid_buy_wh =
        s->grid_sell_wh = s->meters = s->missing = s->ledger_size = PR_INT_MAX;
    break;
  }
  default:
    abort();
  }
}
