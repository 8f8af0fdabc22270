/* SPDX-License-Identifier: MIT */
/*
 * audit.c - receipts, ledger proofs and checkpoint consistency. See
 * gridlet/mtr_audit.h. Sections: alarms and helpers, checkpoints,
 * results, proof responses, requests.
 */
#include "gridlet/mtr_audit.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/ledger_merkle.h"
#include "gridlet/log.h"
#include "gridlet/pr_cose.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "meter"
/* The longest wait between two tries of one proof. */
#define WAIT_MAX (INT64_C(3600) * GL_NS_PER_SEC)

struct mtr_audit {
  mtr_audit_cfg cfg;
  char meter_id[PR_ID_MAX + 1];
  lg_vkey log_key;
  bool has_log_key;
  mtr_store *store;
  /* Scratch rows, kept here rather than on the stack (results are 12 KiB). */
  mtr_result_row res, res_old;
  mtr_reading_row rd;
  mtr_ckpt_row ck, ck2;
  pr_msg msg; /* a stored result, decoded again */
};

/* ---- Alarms and helpers ----------------------------------------------------
 */

int mtr_audit_alarm(mtr_store *store, int64_t now, const char *kind,
                    const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  GL_ERROR(COMP, "ALARM (%s): %s", kind, text);
  char counter[64];
  snprintf(counter, sizeof counter, "alarm_%s", kind);
  int rc = mtr_store_alarm_add(store, now, kind, text);
  if (!rc)
    rc = mtr_store_counter_add(store, "alarms", 1);
  if (!rc)
    rc = mtr_store_counter_add(store, counter, 1);
  return rc;
}

/* "1.2345" from micro-currency, trailing zeros dropped. */
static const char *money(int64_t micro, char buf[32]) {
  bool neg = micro < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
  char frac[8];
  snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(u % 1000000));
  size_t n = strlen(frac);
  while (n > 2 && frac[n - 1] == '0')
    frac[--n] = '\0';
  snprintf(buf, 32, "%s%llu.%s", neg ? "-" : "",
           (unsigned long long)(u / 1000000), frac);
  return buf;
}

static const char *hhmm(int64_t t, char buf[GL_TIME_STR_MAX]) {
  return gl_time_format(t, buf);
}

/* The wait before try `attempts` + 1: proof_timeout, doubling, at most an
 * hour. */
static int64_t backoff(const mtr_audit *a, int64_t attempts) {
  int64_t wait = a->cfg.proof_timeout_ns;
  for (int64_t i = 1; i < attempts && wait < WAIT_MAX; i++)
    wait *= 2;
  return wait < WAIT_MAX ? wait : WAIT_MAX;
}

int mtr_audit_new(const mtr_audit_cfg *cfg, mtr_store *store, mtr_audit **out) {
  *out = NULL;
  mtr_audit *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->cfg = *cfg;
  snprintf(a->meter_id, sizeof a->meter_id, "%s", cfg->meter_id);
  a->cfg.meter_id = a->meter_id;
  if (cfg->log_key) {
    a->log_key = *cfg->log_key;
    a->has_log_key = true;
  }
  a->cfg.log_key = NULL;
  a->store = store;
  *out = a;
  return 0;
}

void mtr_audit_free(mtr_audit *a) {
  free(a);
}

/* ---- Checkpoints -----------------------------------------------------------
 */

static int add_check(mtr_audit *a, int kind, int64_t x, int64_t size,
                     int64_t start, int64_t now) {
  mtr_check_row k = {.kind = kind,
                     .a = x,
                     .size = size,
                     .start = start,
                     .state = MTR_CS_PENDING,
                     .next_try = now};
  return mtr_store_check_add(a->store, &k);
}

/*
 * Verify a signed checkpoint note against the log key and keep it. On
 * success *size and root receive the checkpoint. Returns 0, GL_EVERIFY
 * (alarm raised), or a store error.
 */
static int take_checkpoint(mtr_audit *a, const char *note, int64_t now,
                           const char *where, int64_t *size, uint8_t root[32]) {
  lg_policy pol = {.log_key = &a->log_key};
  lg_checkpoint cp;
  const char *why = NULL;
  int rc = lg_policy_verify(&pol, note, strlen(note), &cp, NULL, &why);
  if (rc) {
    int e = mtr_audit_alarm(a->store, now, "checkpoint",
                            "a checkpoint from %s does not verify against the "
                            "configured log key (%s)",
                            where, why ? why : gl_strerror(rc));
    return e ? e : GL_EVERIFY;
  }
  *size = (int64_t)cp.size;
  memcpy(root, cp.root, 32);
  memset(&a->ck, 0, sizeof a->ck);
  a->ck.size = (int64_t)cp.size;
  memcpy(a->ck.root, cp.root, 32);
  a->ck.received = now;
  snprintf(a->ck.note, sizeof a->ck.note, "%s", note);
  rc = mtr_store_ckpt_put(a->store, &a->ck);
  if (rc == GL_ECONFLICT) {
    int e = mtr_audit_alarm(a->store, now, "split_view",
                            "two different checkpoints for ledger size %llu: "
                            "the aggregator shows different histories",
                            (unsigned long long)cp.size);
    return e ? e : GL_EVERIFY;
  }
  if (rc)
    return rc;
  /* Ask for consistency with the stored neighbours. */
  bool hp, hs;
  rc = mtr_store_ckpt_neighbours(a->store, a->ck.size, &a->ck, &hp, &a->ck2,
                                 &hs);
  if (rc)
    return rc;
  if (hp && a->ck.size > 0)
    rc = add_check(a, MTR_CHECK_CONSISTENCY, a->ck.size, (int64_t)cp.size, 0,
                   now);
  if (!rc && hs && cp.size > 0)
    rc = add_check(a, MTR_CHECK_CONSISTENCY, (int64_t)cp.size, a->ck2.size, 0,
                   now);
  return rc;
}

int mtr_audit_checkpoint(mtr_audit *a, const pr_msg *m, int64_t now) {
  if (!a->has_log_key) {
    GL_DEBUG(COMP, "checkpoint received; no log key configured to check it");
    return 0;
  }
  int64_t size;
  uint8_t root[32];
  int rc = take_checkpoint(a, m->checkpoint.note, now, "public/checkpoint",
                           &size, root);
  if (rc == GL_EVERIFY)
    return 0;
  if (!rc)
    GL_DEBUG(COMP, "ledger checkpoint of size %lld verified", (long long)size);
  return rc;
}

/* ---- Results ---------------------------------------------------------------
 */

static void log_result(const pr_result *r) {
  char t1[GL_TIME_STR_MAX], m1[32], m2[32], m3[32], m4[32];
  const pr_settlement *s = &r->settlement;
  if (r->flags & PR_RESULT_MISSING) {
    GL_NOTICE(COMP,
              "interval %s settled without our reading (settled with the "
              "utility): net %s, balance %s",
              hhmm(r->start, t1), money(s->net, m1), money(r->balance, m2));
    return;
  }
  GL_NOTICE(COMP,
            "interval %s settled: bought %lld Wh locally and %lld Wh from the "
            "grid, sold %lld Wh locally and %lld Wh to the grid%s%s%s; net %s "
            "(fees %s), balance %s",
            hhmm(r->start, t1), (long long)s->local_buy_wh,
            (long long)s->grid_buy_wh, (long long)s->local_sell_wh,
            (long long)s->grid_sell_wh, r->has_price ? " at " : "",
            r->has_price ? money(r->price, m4) : "",
            r->has_price ? " per kWh" : "", money(s->net, m1),
            money(s->fee, m3), money(r->balance, m2));
}

/*
 * The aggregator sent a result again, byte for byte: it does so when our
 * reading arrives again (a re-send). If checks of our reading could not be
 * made (the aggregator did not answer) or failed, ask again now.
 */
static int reopen(mtr_audit *a, const pr_result *r, int64_t now) {
  if (!a->cfg.check_ledger || !a->has_log_key || (r->flags & PR_RESULT_MISSING))
    return 0;
  int rc = mtr_store_reading_by_start(a->store, r->start, &a->rd);
  if (rc)
    return rc == GL_ENOENT ? 0 : rc;
  if (a->rd.state != MTR_RS_AWAITING && a->rd.state != MTR_RS_UNCONFIRMED)
    return 0;
  int64_t n = 0;
  rc = mtr_store_check_reopen_for(a->store, r->start, now, &n);
  if (rc || n == 0)
    return rc;
  char t1[GL_TIME_STR_MAX];
  GL_NOTICE(COMP,
            "the aggregator sent its result for %s again: checking our "
            "reading (seq %lld) in the ledger again (%lld proof%s)",
            hhmm(r->start, t1), (long long)a->rd.seq, (long long)n,
            n == 1 ? "" : "s");
  rc = mtr_store_reading_set_state(a->store, a->rd.seq, MTR_RS_RECEIPTED, 0,
                                   a->rd.resends);
  return rc ? rc : mtr_store_counter_add(a->store, "checks_reopened", n);
}

int mtr_audit_result(mtr_audit *a, const pr_msg *m, const uint8_t *bytes,
                     size_t len, int64_t now) {
  const pr_result *r = &m->result;
  char t1[GL_TIME_STR_MAX];
  if (len > sizeof a->res.bytes)
    return 0; /* cannot happen: pr_open bounds results below this */
  memset(&a->res, 0, offsetof(mtr_result_row, bytes));
  a->res.start = r->start;
  a->res.end = r->end;
  a->res.seq = m->seq;
  a->res.received = now;
  a->res.flags = r->flags;
  a->res.net = r->settlement.net;
  a->res.balance = r->balance;
  a->res.ledger_size = r->ledger.size;
  a->res.len = len;
  memcpy(a->res.bytes, bytes, len);
  int rc = mtr_store_result_put(a->store, &a->res);
  if (rc == GL_EEXIST) {
    rc = mtr_store_result_get(a->store, r->start, &a->res_old);
    if (rc)
      return rc;
    if (a->res_old.len == len && memcmp(a->res_old.bytes, bytes, len) == 0) {
      GL_DEBUG(COMP, "result for %s again (a repeat)", hhmm(r->start, t1));
      rc = mtr_store_counter_add(a->store, "results_repeated", 1);
      return rc ? rc : reopen(a, r, now);
    }
    return mtr_audit_alarm(a->store, now, "result",
                           "two different signed results for interval %s "
                           "(seq %lld and %lld)",
                           hhmm(r->start, t1), (long long)a->res_old.seq,
                           (long long)m->seq);
  }
  if (rc)
    return rc;
  log_result(r);
  rc = mtr_store_counter_add(a->store, "results", 1);
  if (rc)
    return rc;

  rc = mtr_store_reading_by_start(a->store, r->start, &a->rd);
  if (rc == GL_ENOENT) {
    GL_INFO(COMP, "result for %s, an interval we have no reading of",
            hhmm(r->start, t1));
    return 0;
  }
  if (rc)
    return rc;
  if (a->rd.state == MTR_RS_RECEIPTED || a->rd.state == MTR_RS_CONFIRMED ||
      a->rd.state == MTR_RS_LATE)
    return 0;
  if ((r->flags & PR_RESULT_MISSING) && !(a->rd.r.flags & PR_FLAG_MISSING)) {
    /* Settled without our reading. That proves nothing about delivery: a
     * reading never sent stays dropped, one the broker refused stays
     * refused, one given up stays unconfirmed. */
    if (a->rd.state == MTR_RS_DROPPED || a->rd.state == MTR_RS_UNCONFIRMED ||
        a->rd.state == MTR_RS_REFUSED) {
      GL_INFO(COMP,
              "interval %s was settled without our reading (seq %lld), "
              "which is %s",
              hhmm(r->start, t1), (long long)a->rd.seq,
              mtr_reading_state_name(a->rd.state));
      return 0;
    }
    if (a->rd.state == MTR_RS_QUEUED)
      GL_WARN(COMP,
              "interval %s was settled before our reading (seq %lld) could "
              "be sent; it goes to the aggregator as a late reading",
              hhmm(r->start, t1), (long long)a->rd.seq);
    else
      GL_WARN(COMP,
              "our reading for %s (seq %lld) did not reach the aggregator "
              "before the interval was settled; it is kept there as a late "
              "reading",
              hhmm(r->start, t1), (long long)a->rd.seq);
    rc = mtr_store_reading_set_state(a->store, a->rd.seq, MTR_RS_LATE, 0,
                                     a->rd.resends);
    return rc ? rc : mtr_store_counter_add(a->store, "readings_late", 1);
  }
  /* The result settles what we measured, or the aggregator used other
   * values than we signed. */
  const pr_settlement *st = &r->settlement;
  if (!(r->flags & PR_RESULT_MISSING) && (st->import_wh != a->rd.r.import_wh ||
                                          st->export_wh != a->rd.r.export_wh)) {
    rc = mtr_audit_alarm(a->store, now, "result",
                         "the result for %s settles %lld Wh imported and "
                         "%lld Wh exported, but our reading (seq %lld) says "
                         "%lld Wh and %lld Wh",
                         hhmm(r->start, t1), (long long)st->import_wh,
                         (long long)st->export_wh, (long long)a->rd.seq,
                         (long long)a->rd.r.import_wh,
                         (long long)a->rd.r.export_wh);
    if (rc)
      return rc;
  }
  rc = mtr_store_reading_set_state(a->store, a->rd.seq, MTR_RS_RECEIPTED, 0,
                                   a->rd.resends);
  if (!rc)
    rc = mtr_store_counter_add(a->store, "receipts", 1);
  if (rc || !a->cfg.check_ledger || !a->has_log_key)
    return rc;
  if (r->ledger.nentries == 0)
    return mtr_audit_alarm(a->store, now, "result",
                           "the result for %s names no ledger entries, so "
                           "our reading (seq %lld) cannot be checked",
                           hhmm(r->start, t1), (long long)a->rd.seq);
  for (size_t i = 0; i < r->ledger.nentries && !rc; i++)
    rc = add_check(a, MTR_CHECK_INCLUSION, r->ledger.entries[i], r->ledger.size,
                   r->start, now);
  return rc;
}

/* ---- Proof responses -------------------------------------------------------
 */

/* The stored result for `start`, decoded again (it was verified when it
 * arrived) into a->msg. GL_ENOENT when there is none. */
static int stored_result(mtr_audit *a, int64_t start) {
  int rc = mtr_store_result_get(a->store, start, &a->res_old);
  if (rc)
    return rc;
  pr_cose_view v;
  pr_diag d = {0};
  rc = pr_cose_parse(a->res_old.bytes, a->res_old.len, PR_PAYLOAD_MAX, &v, &d);
  if (!rc)
    rc = pr_msg_decode((const char *)v.payload, v.payload_len,
                       PR_TYPE_BIT(PR_MSG_RESULT), &a->msg, &d);
  if (rc) {
    GL_ERROR(COMP, "the stored result for %lld does not decode: %s",
             (long long)start, d.msg);
    return GL_ENOENT;
  }
  return 0;
}

/*
 * Our row of a settlement entry against the result the aggregator sent us
 * (every amount) and against our own reading (the energy we bought and
 * sold locally and from the grid adds up to what we measured).
 */
static int check_settlement(mtr_audit *a, const lg_settlement_row *row,
                            int64_t index, int64_t start, int64_t now) {
  char t1[GL_TIME_STR_MAX];
  int rc = stored_result(a, start);
  if (rc)
    return rc == GL_ENOENT ? 0 : rc;
  const pr_settlement *st = &a->msg.result.settlement;
  if (row->money != st->net || row->fee != st->fee ||
      row->local_bought_wh != st->local_buy_wh ||
      row->local_sold_wh != st->local_sell_wh ||
      row->grid_import_wh != st->grid_buy_wh ||
      row->grid_export_wh != st->grid_sell_wh)
    return mtr_audit_alarm(
        a->store, now, "entry",
        "ledger entry %lld settles us differently from the result for %s: "
        "money %lld/%lld, fee %lld/%lld, local %lld/%lld Wh bought and "
        "%lld/%lld Wh sold, grid %lld/%lld Wh bought and %lld/%lld Wh sold "
        "(ledger/result)",
        (long long)index, hhmm(start, t1), (long long)row->money,
        (long long)st->net, (long long)row->fee, (long long)st->fee,
        (long long)row->local_bought_wh, (long long)st->local_buy_wh,
        (long long)row->local_sold_wh, (long long)st->local_sell_wh,
        (long long)row->grid_import_wh, (long long)st->grid_buy_wh,
        (long long)row->grid_export_wh, (long long)st->grid_sell_wh);
  if (row->flags & LG_SETTLE_NO_READING)
    return 0;
  rc = mtr_store_reading_by_start(a->store, start, &a->rd);
  if (rc)
    return rc == GL_ENOENT ? 0 : rc;
  if (a->rd.r.flags & PR_FLAG_MISSING)
    return 0;
  int64_t settled = row->local_bought_wh - row->local_sold_wh +
                    row->grid_import_wh - row->grid_export_wh;
  int64_t measured = a->rd.r.import_wh - a->rd.r.export_wh;
  if (settled != measured)
    return mtr_audit_alarm(a->store, now, "entry",
                           "ledger entry %lld settles us for a net %lld Wh "
                           "in %s, but our reading (seq %lld) measured %lld "
                           "Wh",
                           (long long)index, (long long)settled,
                           hhmm(start, t1), (long long)a->rd.seq,
                           (long long)measured);
  return 0;
}

/* Check a decoded ledger entry against what this meter knows. */
static int check_entry(mtr_audit *a, const lg_entry *e, int64_t index,
                       int64_t start, int64_t now) {
  char t1[GL_TIME_STR_MAX];
  if (e->type == LG_ENTRY_READING) {
    const lg_reading *lr = &e->u.reading;
    if (strcmp(lr->meter_id, a->meter_id) != 0)
      return mtr_audit_alarm(a->store, now, "entry",
                             "ledger entry %lld, named in our result for %s, "
                             "is a reading of another meter (%s)",
                             (long long)index, hhmm(start, t1), lr->meter_id);
    int rc = mtr_store_reading_get(a->store, (int64_t)lr->seq, &a->rd);
    if (rc == GL_ENOENT)
      return mtr_audit_alarm(a->store, now, "entry",
                             "ledger entry %lld records a reading seq %llu we "
                             "never made",
                             (long long)index, (unsigned long long)lr->seq);
    if (rc)
      return rc;
    uint8_t digest[32];
    if (gl_sha256(a->rd.bytes, a->rd.len, digest))
      return GL_ECRYPTO;
    if (lr->interval_start != a->rd.r.start ||
        lr->import_wh != a->rd.r.import_wh ||
        lr->export_wh != a->rd.r.export_wh || lr->flags != a->rd.r.flags ||
        memcmp(lr->msg_digest, digest, 32) != 0)
      return mtr_audit_alarm(a->store, now, "entry",
                             "ledger entry %lld records our reading seq %llu "
                             "differently from what we signed",
                             (long long)index, (unsigned long long)lr->seq);
    if (a->rd.state != MTR_RS_CONFIRMED) {
      GL_INFO(COMP,
              "the ledger holds our reading for %s (seq %lld, entry %lld)",
              hhmm(a->rd.r.start, t1), (long long)a->rd.seq, (long long)index);
      rc = mtr_store_reading_set_state(a->store, a->rd.seq, MTR_RS_CONFIRMED, 0,
                                       a->rd.resends);
      if (!rc)
        rc = mtr_store_counter_add(a->store, "readings_confirmed", 1);
    }
    return rc;
  }
  if (e->type == LG_ENTRY_SETTLEMENT) {
    const lg_settlement *s = &e->u.settlement;
    for (size_t i = 0; i < s->n_rows; i++) {
      const lg_settlement_row *row = &s->rows[i];
      if (strcmp(row->meter_id, a->meter_id) != 0)
        continue;
      return check_settlement(a, row, index, start, now);
    }
    return mtr_audit_alarm(a->store, now, "entry",
                           "ledger entry %lld, a settlement named in our "
                           "result for %s, has no row for us",
                           (long long)index, hhmm(start, t1));
  }
  return 0;
}

/* After the last inclusion check of an interval: was our reading there? */
static int interval_checked(mtr_audit *a, int64_t start, int64_t now) {
  int64_t open;
  int rc = mtr_store_check_open_for(a->store, start, &open);
  if (rc || open)
    return rc;
  rc = mtr_store_reading_by_start(a->store, start, &a->rd);
  if (rc == GL_ENOENT)
    return 0;
  if (rc || a->rd.state != MTR_RS_RECEIPTED)
    return rc;
  char t1[GL_TIME_STR_MAX];
  int64_t failed = 0, given_up = 0;
  rc = mtr_store_check_failed_for(a->store, start, &failed);
  if (!rc)
    rc = mtr_store_check_given_up_for(a->store, start, &given_up);
  if (rc)
    return rc;
  if (!failed && given_up) {
    /* Not a sign of misbehaviour: the aggregator did not answer (it may
     * have been restarting). The re-send makes it publish its result
     * again, and that re-opens the checks. */
    GL_WARN(COMP,
            "our reading for %s (seq %lld) could not be checked in the "
            "ledger: the aggregator did not answer; sending it again to "
            "check again",
            hhmm(start, t1), (long long)a->rd.seq);
    rc = mtr_store_counter_add(a->store, "receipts_unchecked", 1);
  } else if (failed)
    rc = mtr_audit_alarm(a->store, now, "receipt",
                         "our reading for %s (seq %lld) could not be "
                         "confirmed in the ledger (a proof failed); sending "
                         "it again",
                         hhmm(start, t1), (long long)a->rd.seq);
  else
    rc = mtr_audit_alarm(a->store, now, "receipt",
                         "the ledger entries of the result for %s do not "
                         "include our reading (seq %lld); sending it again",
                         hhmm(start, t1), (long long)a->rd.seq);
  if (!rc)
    rc = mtr_store_reading_set_state(a->store, a->rd.seq, MTR_RS_AWAITING, now,
                                     a->rd.resends);
  return rc;
}

static int finish(mtr_audit *a, mtr_check_row *k, int state, int64_t now) {
  k->state = state;
  k->next_try = now; /* a finished check's next_try: when it finished */
  int rc = mtr_store_check_update(a->store, k);
  if (!rc && k->kind == MTR_CHECK_INCLUSION)
    rc = interval_checked(a, k->start, now);
  return rc;
}

/* Retry a check later (answer unusable for now). */
/*
 * No usable answer after MTR_AUDIT_ATTEMPTS tries. For an inclusion proof
 * that is about availability (the reading is sent again, see
 * interval_checked); a consistency proof the aggregator never gives could
 * hide a changed history, so that is an alarm.
 */
static int give_up(mtr_audit *a, mtr_check_row *k, int64_t now) {
  int rc = mtr_store_counter_add(a->store, "proofs_given_up", 1);
  if (rc)
    return rc;
  if (k->kind == MTR_CHECK_INCLUSION)
    GL_WARN(COMP,
            "no usable inclusion proof for ledger entry %lld (size %lld) "
            "after %lld tries; given up for now",
            (long long)k->a, (long long)k->size, (long long)k->attempts);
  else
    rc = mtr_audit_alarm(a->store, now, "consistency",
                         "no consistency proof between the ledger "
                         "checkpoints of sizes %lld and %lld after %lld "
                         "tries: a changed history could be hidden",
                         (long long)k->a, (long long)k->size,
                         (long long)k->attempts);
  return rc ? rc : finish(a, k, MTR_CS_GIVEN_UP, now);
}

static int later(mtr_audit *a, mtr_check_row *k, int64_t now) {
  if (k->attempts >= MTR_AUDIT_ATTEMPTS)
    return give_up(a, k, now);
  k->state = MTR_CS_PENDING;
  k->next_try = now + backoff(a, k->attempts);
  return mtr_store_check_update(a->store, k);
}

static int root_of(mtr_audit *a, const pr_proof_response *p, int64_t size,
                   int64_t now, uint8_t root[32]) {
  if (p->note[0] && p->size == size) {
    int64_t got;
    int rc = take_checkpoint(a, p->note, now, "a proof response", &got, root);
    if (rc)
      return rc;
    if (got == size)
      return 0;
    int e = mtr_audit_alarm(a->store, now, "proof",
                            "a proof response for size %lld carries the "
                            "checkpoint of size %lld",
                            (long long)size, (long long)got);
    return e ? e : GL_EVERIFY;
  }
  int rc = mtr_store_ckpt_get(a->store, size, &a->ck2);
  if (rc)
    return rc;
  memcpy(root, a->ck2.root, 32);
  return 0;
}

int mtr_audit_proof_response(mtr_audit *a, const pr_msg *m, int64_t now) {
  const pr_proof_response *p = &m->proof_response;
  mtr_check_row k;
  int rc = mtr_store_check_by_request(a->store, p->request_seq, &k);
  if (rc == GL_ENOENT) {
    GL_INFO(COMP, "proof response to request %lld, which is not pending",
            (long long)p->request_seq);
    return mtr_store_counter_add(a->store, "proofs_unsolicited", 1);
  }
  if (rc)
    return rc;
  if (k.state != MTR_CS_PENDING && k.state != MTR_CS_SENT)
    return 0;
  bool incl = k.kind == MTR_CHECK_INCLUSION;
  if (p->kind != (incl ? PR_PROOF_INCLUSION : PR_PROOF_CONSISTENCY) ||
      p->size != k.size || (incl ? p->index : p->old_size) != k.a) {
    rc = mtr_audit_alarm(a->store, now, "proof",
                         "the answer to proof request %lld is for something "
                         "else",
                         (long long)p->request_seq);
    return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
  }
  switch (p->status) {
  case PR_PROOF_OK:
    break;
  case PR_PROOF_UNAVAILABLE:
    return later(a, &k, now);
  case PR_PROOF_NOT_FOUND:
    rc = mtr_audit_alarm(
        a->store, now, "proof",
        "the aggregator cannot find %s %lld in a ledger of size %lld that it "
        "signed or named itself",
        incl ? "entry" : "the tree of size", (long long)k.a, (long long)k.size);
    return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
  default:
    if (!incl) {
      /* Refusing consistency proofs would hide a fork. */
      rc = mtr_audit_alarm(a->store, now, "consistency",
                           "the aggregator refused the consistency proof "
                           "between the ledger checkpoints of sizes %lld "
                           "and %lld (status %s)",
                           (long long)k.a, (long long)k.size,
                           pr_proof_status_name(p->status));
      return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
    }
    GL_WARN(COMP, "the aggregator refused proof request %lld as invalid",
            (long long)p->request_seq);
    return finish(a, &k, MTR_CS_FAILED, now);
  }

  uint8_t root[32];
  rc = root_of(a, p, k.size, now, root);
  if (rc == GL_ENOENT) {
    GL_INFO(COMP, "no checkpoint of size %lld yet to check a proof against",
            (long long)k.size);
    return later(a, &k, now);
  }
  if (rc == GL_EVERIFY)
    return finish(a, &k, MTR_CS_FAILED, now);
  if (rc)
    return rc;
  const lg_hash *path = (const lg_hash *)(const void *)p->path;
  const char *why = NULL;
  if (!incl) {
    rc = mtr_store_ckpt_get(a->store, k.a, &a->ck);
    if (rc == GL_ENOENT)
      return later(a, &k, now);
    if (rc)
      return rc;
    if (lg_verify_consistency((uint64_t)k.a, (uint64_t)k.size, a->ck.root, root,
                              path, p->npath, &why)) {
      rc = mtr_audit_alarm(a->store, now, "consistency",
                           "the ledger checkpoints of sizes %lld and %lld are "
                           "inconsistent (%s): history was rewritten",
                           (long long)k.a, (long long)k.size,
                           why ? why : "proof fails");
      return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
    }
    GL_DEBUG(COMP, "checkpoints %lld and %lld are consistent", (long long)k.a,
             (long long)k.size);
    return finish(a, &k, MTR_CS_DONE, now);
  }
  if (!p->entry_len) {
    GL_WARN(COMP, "inclusion proof for entry %lld came without the entry",
            (long long)k.a);
    return later(a, &k, now);
  }
  uint8_t leaf[LG_HASH_LEN];
  if (lg_leaf_hash(p->entry, p->entry_len, leaf))
    return GL_ECRYPTO;
  if (lg_verify_inclusion(leaf, (uint64_t)k.a, (uint64_t)k.size, path, p->npath,
                          root, &why)) {
    rc = mtr_audit_alarm(a->store, now, "inclusion",
                         "the inclusion proof of ledger entry %lld in the "
                         "tree of size %lld does not verify (%s)",
                         (long long)k.a, (long long)k.size,
                         why ? why : "proof fails");
    return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
  }
  lg_entry e;
  const char *ewhy = NULL;
  if (lg_entry_decode(p->entry, p->entry_len, &e, &ewhy)) {
    rc = mtr_audit_alarm(a->store, now, "entry",
                         "ledger entry %lld does not decode (%s)",
                         (long long)k.a, ewhy ? ewhy : "malformed");
    return rc ? rc : finish(a, &k, MTR_CS_FAILED, now);
  }
  rc = check_entry(a, &e, k.a, k.start, now);
  lg_entry_clear(&e);
  if (rc)
    return rc;
  return finish(a, &k, MTR_CS_DONE, now);
}

/* ---- Requests --------------------------------------------------------------
 */

int mtr_audit_next_request(mtr_audit *a, int64_t now, mtr_check_row *check,
                           pr_proof_request *req) {
  for (;;) {
    int rc = mtr_store_check_due(a->store, now, check);
    if (rc == GL_ENOENT)
      return GL_EAGAIN;
    if (rc)
      return rc;
    if (check->state == MTR_CS_SENT) {
      /* No answer in time. */
      rc = mtr_store_counter_add(a->store, "proof_timeouts", 1);
      if (!rc)
        rc = later(a, check, now);
      if (rc)
        return rc;
      if (check->state != MTR_CS_PENDING)
        continue; /* given up */
      check->next_try = now;
    }
    int64_t sent;
    rc = mtr_store_check_count(a->store, MTR_CS_SENT, &sent);
    if (rc)
      return rc;
    if (sent >= MTR_AUDIT_INFLIGHT)
      return GL_EAGAIN;
    memset(req, 0, sizeof *req);
    if (check->kind == MTR_CHECK_INCLUSION) {
      req->kind = PR_PROOF_INCLUSION;
      req->index = check->a;
    } else {
      req->kind = PR_PROOF_CONSISTENCY;
      req->old_size = check->a;
    }
    req->size = check->size;
    return 0;
  }
}

int mtr_audit_request_sent(mtr_audit *a, mtr_check_row *check, int64_t seq,
                           int64_t now) {
  check->attempts++;
  check->state = MTR_CS_SENT;
  check->request_seq = seq;
  check->next_try = now + backoff(a, check->attempts);
  return mtr_store_check_update(a->store, check);
}

int64_t mtr_audit_deadline(mtr_audit *a) {
  int64_t t = INT64_MAX;
  if (mtr_store_check_next_time(a->store, &t))
    return INT64_MAX;
  return t;
}
