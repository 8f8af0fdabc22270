/* SPDX-License-Identifier: MIT */
/*
 * status.c - the household's status report. See gridlet/mtr_status.h.
 */
#include "gridlet/mtr_status.h"

#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_msg.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static const char *when(int64_t t, char buf[GL_TIME_STR_MAX]) {
  return t ? gl_time_format(t / GL_NS_PER_SEC * GL_NS_PER_SEC, buf) : "never";
}

/* Money in currency units, as the household reads it: "-1.25". */
static void money(FILE *out, int64_t micro) {
  bool neg = micro < 0;
  uint64_t u = neg ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
  char frac[8];
  snprintf(frac, sizeof frac, "%06llu", (unsigned long long)(u % 1000000));
  size_t n = strlen(frac);
  while (n > 2 && frac[n - 1] == '0')
    frac[--n] = '\0';
  fprintf(out, "%s%llu.%s", neg ? "-" : "", (unsigned long long)(u / 1000000),
          frac);
}

/* Where print_alarm writes, and up to which id alarms are acknowledged. */
typedef struct alarm_out {
  FILE *out;
  int64_t acked;
} alarm_out;

static void print_alarm(void *ctx, int64_t time, const char *kind,
                        const char *text, int64_t id) {
  const alarm_out *ao = ctx;
  char t[GL_TIME_STR_MAX];
  fprintf(ao->out, "  %s  %s: %s%s\n", when(time, t), kind, text,
          id <= ao->acked ? " (acknowledged)" : "");
}

static void print_counter(void *ctx, const char *name, int64_t v) {
  fprintf(ctx, "  %-24s %lld\n", name, (long long)v);
}

/* Why status exits 1, collected while printing. */
typedef struct attention {
  char text[256];
  size_t len;
} attention;

static void attend(attention *a, const char *why) {
  int n = snprintf(a->text + a->len, sizeof a->text - a->len, "%s%s",
                   a->len ? "; " : "", why);
  if (n > 0 && a->len + (size_t)n < sizeof a->text)
    a->len += (size_t)n;
}

int mtr_alarms_report(const char *path, FILE *out) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s = NULL;
  int rc = mtr_store_open(path, &o, &s);
  if (rc)
    return rc;
  int64_t nal = 0, fresh = 0;
  alarm_out ao = {out, 0};
  mtr_store_get_int(s, MTR_KEY_ALARMS_ACKED, &ao.acked);
  rc = mtr_store_alarm_count(s, &nal);
  if (!rc)
    rc = mtr_store_alarm_count_after(s, ao.acked, &fresh);
  if (!rc) {
    fprintf(out, "%lld alarm%s, %lld not acknowledged%s\n", (long long)nal,
            nal == 1 ? "" : "s", (long long)fresh,
            nal ? ", newest first:" : "");
    rc = mtr_store_alarm_list(s, INT32_MAX, print_alarm, &ao);
  }
  mtr_store_free(s);
  return rc ? rc : fresh > 0;
}

int mtr_alarms_ack(const char *path, int64_t *n) {
  mtr_store_opts o = {0};
  mtr_store *s = NULL;
  *n = 0;
  int rc = mtr_store_open(path, &o, &s);
  if (rc)
    return rc;
  int64_t acked = 0, last = 0;
  rc = mtr_store_begin(s);
  if (!rc) {
    int g = mtr_store_get_int(s, MTR_KEY_ALARMS_ACKED, &acked);
    rc = g == GL_ENOENT ? 0 : g;
  }
  if (!rc)
    rc = mtr_store_alarm_last_id(s, &last);
  if (!rc)
    rc = mtr_store_alarm_count_after(s, acked, n);
  if (!rc && last > acked)
    rc = mtr_store_put_int(s, MTR_KEY_ALARMS_ACKED, last);
  if (rc)
    mtr_store_rollback(s);
  else
    rc = mtr_store_commit(s);
  mtr_store_free(s);
  return rc;
}

int mtr_status_report(const char *path, int64_t now, FILE *out) {
  mtr_store_opts o = {.read_only = true};
  mtr_store *s = NULL;
  int rc = mtr_store_open(path, &o, &s);
  if (rc)
    return rc;
  /* The rows hold whole messages: too big for a small stack. */
  struct rows {
    mtr_outbox_row orow;
    mtr_reading_row rd;
    mtr_result_row res;
  } *rows = malloc(sizeof *rows);
  if (!rows) {
    mtr_store_free(s);
    return GL_ENOMEM;
  }
  attention att = {{0}, 0};
  char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX], text[128];
  int64_t v = 0, since = 0;

  fprintf(out, "gridlet-meter status (%s)\n\n", path);
  char meter[128] = "?", community[128] = "?";
  mtr_store_get_text(s, MTR_KEY_METER, meter, sizeof meter);
  mtr_store_get_text(s, MTR_KEY_COMMUNITY, community, sizeof community);
  fprintf(out, "meter          %s in community %s\n", meter, community);

  int64_t pid = 0, start = 0, interval = 0;
  mtr_store_get_int(s, MTR_KEY_AGENT_PID, &pid);
  mtr_store_get_int(s, MTR_KEY_AGENT_START, &start);
  mtr_store_get_int(s, MTR_KEY_INTERVAL, &interval);
  /* The agent holds a lock while it runs; a PID alone could belong to
   * another process by now. Without permission to look at the lock, fall
   * back to the PID (a process we may signal). */
  bool alive = false;
  if (mtr_store_agent_running(path, &alive) != 0)
    alive = pid > 0 && kill((pid_t)pid, 0) == 0;
  /* The agent's time now: its last heartbeat plus the real time since (an
   * accelerated clock runs faster, so this errs on the lenient side); a
   * database without a heartbeat (an older agent's) is judged on the real
   * clock. */
  int64_t hb = 0, hb_real = 0, agent_now = now, stopped = 0;
  if (mtr_store_get_int(s, MTR_KEY_ALIVE, &hb) == 0 &&
      mtr_store_get_int(s, MTR_KEY_ALIVE_REAL, &hb_real) == 0)
    agent_now = hb + (now > hb_real ? now - hb_real : 0);
  mtr_store_get_int(s, MTR_KEY_AGENT_STOP, &stopped);
  if (alive) {
    fprintf(out, "agent          running (pid %lld, started %s)\n",
            (long long)pid, when(start, t1));
  } else if (stopped > 0 && interval > 0 &&
             agent_now - stopped <= 2 * interval) {
    /* Stopped on request a moment ago: a restart or an upgrade. */
    fprintf(out,
            "agent          stopped on request at %s (fine for a restart "
            "or an upgrade; not for more than two intervals)\n",
            when(stopped, t1));
  } else {
    fprintf(out, "agent          not running (last started %s%s%s)\n",
            when(start, t1), stopped > 0 ? ", stopped on request at " : "",
            stopped > 0 ? when(stopped, t2) : "");
    attend(&att, "the agent is not running");
  }

  int64_t up = 0, ack = 0;
  mtr_store_get_int(s, MTR_KEY_BROKER, &up);
  mtr_store_get_int(s, MTR_KEY_BROKER_SINCE, &since);
  mtr_store_get_int(s, MTR_KEY_LAST_ACK, &ack);
  fprintf(out, "broker         %s since %s; last message acknowledged %s\n",
          alive && up ? "connected" : "not connected", when(since, t1),
          when(ack, t2));

  char trust[GL_CONF_ERROR_LEN] = "";
  if (mtr_store_get_text(s, MTR_KEY_TRUST, trust, sizeof trust) == 0 &&
      trust[0]) {
    fprintf(out,
            "aggregator     certificate not trusted: %s; its results are "
            "rejected until this is fixed\n",
            trust);
    attend(&att, "the aggregator's certificate is not trusted");
  }

  int64_t depth = 0;
  mtr_store_outbox_count(s, &depth);
  if (depth && mtr_store_outbox_oldest(s, 0, &rows->orow) == 0)
    fprintf(out, "outbox         %lld message%s waiting, the oldest from %s\n",
            (long long)depth, depth == 1 ? "" : "s",
            when(rows->orow.created, t1));
  else
    fprintf(out, "outbox         empty\n");

  const mtr_reading_row *rd = &rows->rd;
  bool have_last = mtr_store_reading_last(s, &rows->rd) == 0;
  if (have_last) {
    const pr_reading *r = &rd->r;
    fprintf(out, "last reading   %s: ", when(r->start, t1));
    if (r->flags & PR_FLAG_MISSING)
      fprintf(out, "missing (no data from the grid meter)");
    else
      fprintf(out,
              "import %lld Wh, export %lld Wh, PV %lld Wh, battery +%lld/-%lld "
              "Wh",
              (long long)r->import_wh, (long long)r->export_wh,
              (long long)r->pv_wh, (long long)r->charge_wh,
              (long long)r->discharge_wh);
    if (r->has_soc_bp)
      fprintf(out, ", %lld.%02lld %%", (long long)(r->soc_bp / 100),
              (long long)(r->soc_bp % 100));
    for (uint32_t bit = 1; bit <= PR_FLAG_MISSING; bit <<= 1)
      if ((r->flags & bit) && bit != PR_FLAG_MISSING)
        fprintf(out, " [%s]", pr_flag_name(bit));
    fprintf(out, "\n               seq %lld, %s\n", (long long)rd->seq,
            mtr_reading_state_name(rd->state));
  } else {
    fprintf(out, "last reading   none yet\n");
  }
  /* A running agent makes a reading every interval; none for two means it
   * is stuck (devices, clock, database). Judged on the agent's clock. */
  int64_t last_made = have_last ? rd->created : start;
  if (alive && interval > 0 && last_made > 0 &&
      agent_now - last_made > 2 * interval)
    attend(&att, "no reading for more than two intervals");

  fprintf(out, "readings       ");
  bool first = true;
  for (int st = 0; st < MTR_RS_COUNT; st++) {
    if (mtr_store_reading_count(s, st, &v) || !v)
      continue;
    fprintf(out, "%s%lld %s", first ? "" : ", ", (long long)v,
            mtr_reading_state_name(st));
    first = false;
    if (st == MTR_RS_DROPPED)
      attend(&att, "readings were dropped");
    else if (st == MTR_RS_UNCONFIRMED)
      attend(&att, "readings are unconfirmed");
    else if (st == MTR_RS_REFUSED)
      attend(&att, "the broker refused readings");
  }
  fprintf(out, "%s\n", first ? "none" : "");

  const mtr_result_row *res = &rows->res;
  if (mtr_store_result_last(s, &rows->res) == 0) {
    fprintf(out, "last result    %s: net ", when(res->start, t1));
    money(out, res->net);
    fprintf(out, ", balance ");
    money(out, res->balance);
    fprintf(out, "%s\n",
            res->flags & PR_RESULT_MISSING ? " (settled without our reading)"
                                           : "");
  } else {
    fprintf(out, "last result    none yet\n");
  }

  mtr_ckpt_row ck;
  int64_t nck = 0, ndone = 0, nopen = 0, nfail = 0;
  mtr_store_ckpt_count(s, &nck);
  mtr_store_check_count(s, MTR_CS_DONE, &ndone);
  mtr_store_check_count(s, MTR_CS_FAILED, &nfail);
  mtr_store_check_count(s, MTR_CS_GIVEN_UP, &v);
  nfail += v;
  mtr_store_check_count(s, MTR_CS_PENDING, &nopen);
  mtr_store_check_count(s, MTR_CS_SENT, &v);
  nopen += v;
  if (mtr_store_ckpt_latest(s, &ck) == 0)
    snprintf(text, sizeof text, "latest checkpoint size %lld (of %lld seen)",
             (long long)ck.size, (long long)nck);
  else
    snprintf(text, sizeof text, "no checkpoint seen yet");
  fprintf(out,
          "ledger         %s; proofs: %lld verified, %lld open, %lld "
          "failed or given up\n",
          text, (long long)ndone, (long long)nopen, (long long)nfail);

  int64_t nal = 0, fresh = 0;
  alarm_out ao = {out, 0};
  mtr_store_get_int(s, MTR_KEY_ALARMS_ACKED, &ao.acked);
  mtr_store_alarm_count(s, &nal);
  mtr_store_alarm_count_after(s, ao.acked, &fresh);
  if (nal) {
    if (fresh)
      attend(&att, "there are alarms (gridlet-meter alarms --ack once "
                   "dealt with)");
    fprintf(out, "alarms         %lld, %lld not acknowledged, newest first:\n",
            (long long)nal, (long long)fresh);
    mtr_store_alarm_list(s, 10, print_alarm, &ao);
  } else {
    fprintf(out, "alarms         none\n");
  }
  fprintf(out, "counters\n");
  mtr_store_counter_list(s, print_counter, out);
  if (att.len)
    fprintf(out, "\nattention      %s\n", att.text);
  free(rows);
  mtr_store_free(s);
  return att.len ? 1 : 0;
}
