/* SPDX-License-Identifier: MIT */
/*
 * pub.c - outbox admission, ordered publishing, receipts' re-sends. See
 * gridlet/mtr_pub.h for the rules.
 */
#include "gridlet/mtr_pub.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_audit.h"
#include "gridlet/mtr_config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define COMP "meter"
#define MAX_FLIGHTS 96
#define REFUSE_MIN (INT64_C(60) * GL_NS_PER_SEC)
#define REFUSE_MAX (INT64_C(3600) * GL_NS_PER_SEC)
/* A message the broker refuses this often while it takes others is set
 * aside, so the messages behind it flow. */
#define REFUSALS_MAX 5
/* A message the client cannot publish at all (too big, invalid) this
 * often is set aside too. */
#define FAILURES_MAX 3

enum { F_OUTBOX = 1, F_RESEND, F_DIRECT };

typedef struct flight {
  uint64_t token;
  int64_t seq;
  int what;
  int kind; /* F_OUTBOX: the row's mtr_msg_kind */
} flight;

struct mtr_pub {
  mtr_pub_cfg cfg;
  mtr_store *store;
  pr_mqtt *mqtt;
  bool connected;
  flight fl[MAX_FLIGHTS];
  int nfl;
  int n_outbox; /* outbox rows in flight */
  int64_t cursor;
  bool rewind;
  int64_t refused_until;
  int64_t refuse_wait;
  /* The outbox row at the head that the broker refuses, or the client
   * cannot publish: how often, and whether others went through since. */
  int64_t head_seq;
  int head_refusals;
  bool others_ok;
  int64_t fail_seq;
  int fail_count;
  /* Publishes the broker takes at once (its Receive Maximum), learned
   * from the first "window full" answer of this connection. */
  int window;
  /* scratch rows */
  mtr_outbox_row row, victim;
  mtr_reading_row rd;
};

int mtr_pub_new(const mtr_pub_cfg *cfg, mtr_store *store, pr_mqtt *mqtt,
                mtr_pub **out) {
  *out = NULL;
  if (cfg->inflight < 1 || cfg->inflight > 64 || cfg->outbox_max < 1)
    return GL_EINVAL;
  mtr_pub *p = calloc(1, sizeof *p);
  if (!p)
    return GL_ENOMEM;
  p->cfg = *cfg;
  p->store = store;
  p->mqtt = mqtt;
  p->refuse_wait = REFUSE_MIN;
  p->window = INT_MAX;
  *out = p;
  return 0;
}

void mtr_pub_free(mtr_pub *p) {
  free(p);
}

static const char *kind_name(int kind) {
  return kind == MTR_MSG_READING ? "reading"
         : kind == MTR_MSG_ORDER ? "order"
                                 : "prefs";
}

/* ---- Admission -----------------------------------------------------------
 */

/* Drop an outbox row that will never be sent; readings are kept as
 * DROPPED so the gap shows. */
static int drop(mtr_pub *p, const mtr_outbox_row *r, const char *why) {
  char t[GL_TIME_STR_MAX];
  int rc = mtr_store_outbox_delete(p->store, r->seq);
  if (rc)
    return rc;
  if (r->kind == MTR_MSG_READING) {
    GL_ERROR(COMP, "outbox full: reading for %s (seq %lld) dropped, %s",
             gl_time_format(r->start, t), (long long)r->seq, why);
    rc = mtr_store_reading_get(p->store, r->seq, &p->rd);
    if (!rc)
      rc = mtr_store_reading_set_state(p->store, r->seq, MTR_RS_DROPPED, 0,
                                       p->rd.resends);
    if (rc && rc != GL_ENOENT)
      return rc;
    return mtr_store_counter_add(p->store, "outbox_dropped", 1);
  }
  GL_WARN(COMP, "%s for %s (seq %lld) dropped from the outbox: %s",
          kind_name(r->kind), gl_time_format(r->start, t), (long long)r->seq,
          why);
  return mtr_store_counter_add(p->store, "outbox_dropped_orders", 1);
}

int mtr_pub_admit(mtr_pub *p, const mtr_outbox_row *row, int64_t now,
                  bool *admitted) {
  if (admitted)
    *admitted = false;
  int64_t n;
  int rc = mtr_store_outbox_count(p->store, &n);
  while (!rc && n >= p->cfg.outbox_max) {
    rc = mtr_store_outbox_expired(p->store, now, &p->victim);
    if (rc == 0) {
      rc = drop(p, &p->victim, "its gate closure has passed");
      n--;
      continue;
    }
    if (rc != GL_ENOENT)
      return rc;
    rc = mtr_store_outbox_oldest(p->store, MTR_MSG_ORDER, &p->victim);
    if (rc == GL_ENOENT)
      rc = mtr_store_outbox_oldest(p->store, MTR_MSG_PREFS, &p->victim);
    if (rc == 0) {
      rc = drop(p, &p->victim, "to make room for a reading");
      n--;
      continue;
    }
    if (rc != GL_ENOENT)
      return rc;
    if (p->cfg.when_full == MTR_FULL_DROP_NEWEST ||
        row->kind != MTR_MSG_READING) {
      char t[GL_TIME_STR_MAX];
      if (row->kind == MTR_MSG_READING)
        GL_ERROR(COMP,
                 "outbox full (%lld messages): the new reading for %s (seq "
                 "%lld) is dropped (policy drop-newest)",
                 (long long)n, gl_time_format(row->start, t),
                 (long long)row->seq);
      else
        GL_WARN(COMP, "outbox full of readings: %s for %s not queued",
                kind_name(row->kind), gl_time_format(row->start, t));
      return mtr_store_counter_add(p->store,
                                   row->kind == MTR_MSG_READING
                                       ? "outbox_dropped"
                                       : "outbox_dropped_orders",
                                   1);
    }
    rc = mtr_store_outbox_oldest(p->store, MTR_MSG_READING, &p->victim);
    if (rc)
      return rc == GL_ENOENT ? GL_EINTERNAL : rc;
    rc = drop(p, &p->victim, "the oldest one (policy drop-oldest)");
    n--;
  }
  if (rc)
    return rc;
  rc = mtr_store_outbox_add(p->store, row);
  if (!rc && admitted)
    *admitted = true;
  return rc;
}

/* ---- Connection ----------------------------------------------------------
 */

void mtr_pub_connected(mtr_pub *p) {
  p->connected = true;
  p->rewind = true;
  p->refused_until = 0;
  p->window = INT_MAX;
}

void mtr_pub_disconnected(mtr_pub *p) {
  p->connected = false;
  p->rewind = true;
}

bool mtr_pub_idle(const mtr_pub *p) {
  return p->nfl == 0;
}

bool mtr_pub_ready(const mtr_pub *p) {
  return p->mqtt && p->connected && p->nfl < MAX_FLIGHTS && p->nfl < p->window;
}

/* A publish answered "window full": remember how many the broker takes. */
static void window_full(mtr_pub *p) {
  if (p->nfl > 0 && p->nfl < p->window)
    p->window = p->nfl;
}

static void track(mtr_pub *p, uint64_t token, int64_t seq, int what, int kind) {
  if (p->nfl < MAX_FLIGHTS) {
    p->fl[p->nfl++] = (flight){token, seq, what, kind};
    if (what == F_OUTBOX)
      p->n_outbox++;
  }
}

static int publish(mtr_pub *p, const char *topic, const uint8_t *bytes,
                   size_t len, uint64_t *token) {
  pr_mqtt_msg m = {
      .topic = topic, .payload = bytes, .payload_len = len, .qos = 1};
  return pr_mqtt_publish(p->mqtt, &m, token);
}

int mtr_pub_direct(mtr_pub *p, const pr_mqtt_msg *msg) {
  if (!p->mqtt || !p->connected)
    return GL_ECONN;
  if (p->nfl >= MAX_FLIGHTS)
    return GL_EAGAIN;
  uint64_t token;
  int rc = pr_mqtt_publish(p->mqtt, msg, &token);
  if (!rc)
    track(p, token, 0, F_DIRECT, 0);
  else if (rc == GL_EAGAIN)
    window_full(p);
  return rc;
}

/*
 * Move outbox row `seq` aside: out of the outbox, so the messages behind
 * it flow; a reading stays in the readings table (state REFUSED, its
 * bytes kept), and an alarm says what happened.
 */
static int set_aside(mtr_pub *p, int64_t seq, const char *why, int64_t now) {
  char t[GL_TIME_STR_MAX];
  int rc = mtr_store_outbox_next(p->store, seq - 1, &p->victim);
  if (rc == GL_ENOENT || (rc == 0 && p->victim.seq != seq))
    return 0; /* gone already */
  if (rc)
    return rc;
  rc = mtr_store_begin(p->store);
  if (rc)
    return rc;
  rc = mtr_store_outbox_delete(p->store, seq);
  if (!rc && p->victim.kind == MTR_MSG_READING) {
    int g = mtr_store_reading_get(p->store, seq, &p->rd);
    if (g == 0)
      rc = mtr_store_reading_set_state(p->store, seq, MTR_RS_REFUSED, 0,
                                       p->rd.resends);
    else if (g != GL_ENOENT)
      rc = g;
  }
  if (!rc)
    rc = mtr_audit_alarm(p->store, now, "refused",
                         "our %s for %s (seq %lld) %s; it is set aside so "
                         "that the messages behind it are sent",
                         kind_name(p->victim.kind),
                         gl_time_format(p->victim.start, t), (long long)seq,
                         why);
  if (!rc)
    rc = mtr_store_counter_add(p->store, "outbox_refused", 1);
  if (rc) {
    mtr_store_rollback(p->store);
    return rc;
  }
  rc = mtr_store_commit(p->store);
  if (rc)
    return rc;
  p->head_seq = p->fail_seq = 0;
  p->head_refusals = p->fail_count = 0;
  p->refused_until = 0;
  p->refuse_wait = REFUSE_MIN;
  return 0;
}

/* Publishing pauses for the refusal backoff: a minute, doubling up to an
 * hour. */
static void pause_publishing(mtr_pub *p, int64_t now) {
  p->refused_until = now + p->refuse_wait;
  p->refuse_wait =
      p->refuse_wait * 2 > REFUSE_MAX ? REFUSE_MAX : p->refuse_wait * 2;
}

/* ---- Publishing ----------------------------------------------------------
 */

static int give_up_stale(mtr_pub *p, int64_t now) {
  for (int i = 0; i < 16; i++) {
    int rc = mtr_store_reading_stale(p->store, now - p->cfg.give_up_ns, &p->rd);
    if (rc == GL_ENOENT)
      return 0;
    if (rc)
      return rc;
    char t[GL_TIME_STR_MAX];
    GL_WARN(COMP,
            "no receipt for our reading for %s (seq %lld) after %lld "
            "re-sends; giving up on it",
            gl_time_format(p->rd.r.start, t), (long long)p->rd.seq,
            (long long)p->rd.resends);
    rc = mtr_store_reading_set_state(p->store, p->rd.seq, MTR_RS_UNCONFIRMED, 0,
                                     p->rd.resends);
    if (!rc)
      rc = mtr_store_counter_add(p->store, "readings_unconfirmed", 1);
    if (rc)
      return rc;
  }
  return 0;
}

int mtr_pub_pump(mtr_pub *p, int64_t now) {
  int rc = give_up_stale(p, now);
  if (rc || !p->connected || !p->mqtt)
    return rc;
  if (p->rewind && p->n_outbox == 0) {
    p->cursor = 0;
    p->rewind = false;
    /* The head was refused again and again and nothing else has been
     * tried since (one message in flight at a time): try the row behind
     * it. If the broker takes that one, the head is the problem and is set
     * aside; if not, our permission is, and the outbox waits in order. */
    if (p->head_seq && p->head_refusals >= REFUSALS_MAX && !p->others_ok)
      p->cursor = p->head_seq;
  }
  if (now < p->refused_until || p->rewind)
    return 0;
  bool outbox_done = false;
  while (p->nfl < p->cfg.inflight) {
    rc = mtr_store_outbox_next(p->store, p->cursor, &p->row);
    if (rc == GL_ENOENT) {
      outbox_done = true;
      break;
    }
    if (rc)
      return rc;
    if (p->row.expires < now) {
      rc = drop(p, &p->row, "its gate closure passed before it could be sent");
      if (rc)
        return rc;
      p->cursor = p->row.seq;
      continue;
    }
    uint64_t token;
    int e = publish(p, p->row.topic, p->row.bytes, p->row.len, &token);
    if (e == GL_EAGAIN)
      window_full(p);
    if (e == GL_EAGAIN || e == GL_ECONN)
      return 0;
    if (e) {
      /* The client will not publish it: logged once, paced by the
       * refusal backoff, and set aside when it is the message itself. */
      if (p->row.seq != p->fail_seq) {
        p->fail_seq = p->row.seq;
        p->fail_count = 0;
        GL_ERROR(COMP, "cannot publish %s seq %lld: %s", kind_name(p->row.kind),
                 (long long)p->row.seq, gl_strerror(e));
      }
      p->fail_count++;
      if ((e == GL_ETOOBIG || e == GL_EINVAL) &&
          p->fail_count >= FAILURES_MAX) {
        char why[96];
        snprintf(why, sizeof why, "cannot be published (%s)", gl_strerror(e));
        return set_aside(p, p->row.seq, why, now);
      }
      pause_publishing(p, now);
      return 0;
    }
    track(p, token, p->row.seq, F_OUTBOX, p->row.kind);
    p->cursor = p->row.seq;
  }
  if (!outbox_done || p->n_outbox > 0)
    return 0;
  /* The outbox is empty: re-send readings that got no receipt in time. */
  while (p->nfl < p->cfg.inflight) {
    rc = mtr_store_reading_due(p->store, now, &p->rd);
    if (rc == GL_ENOENT)
      return 0;
    if (rc)
      return rc;
    uint64_t token;
    int e = publish(p, p->rd.topic, p->rd.bytes, p->rd.len, &token);
    if (e == GL_EAGAIN)
      window_full(p);
    if (e)
      return 0;
    char t[GL_TIME_STR_MAX];
    GL_NOTICE(COMP,
              "no receipt yet for our reading for %s (seq %lld): sending the "
              "same message again",
              gl_time_format(p->rd.r.start, t), (long long)p->rd.seq);
    /* The next re-send waits twice as long each time (up to 64 times the
     * first wait): an aggregator that is down for a day is not flooded. */
    int64_t wait = p->cfg.receipt_wait_ns;
    for (int64_t k = 0; k < p->rd.resends && k < 6; k++)
      wait *= 2;
    rc = mtr_store_reading_set_state(p->store, p->rd.seq, MTR_RS_AWAITING,
                                     now + wait, p->rd.resends + 1);
    if (rc)
      return rc;
    track(p, token, p->rd.seq, F_RESEND, MTR_MSG_READING);
  }
  return 0;
}

int mtr_pub_published(mtr_pub *p, uint64_t token, bool ok, int reason,
                      int64_t now) {
  int i = 0;
  while (i < p->nfl && p->fl[i].token != token)
    i++;
  if (i == p->nfl)
    return 0;
  flight f = p->fl[i];
  p->fl[i] = p->fl[--p->nfl];
  if (f.what == F_DIRECT)
    return 0;
  if (f.what == F_RESEND) {
    if (ok)
      return mtr_store_counter_add(p->store, "readings_resent", 1);
    int rc = mtr_store_reading_get(p->store, f.seq, &p->rd);
    if (rc)
      return rc == GL_ENOENT ? 0 : rc;
    if (p->rd.state != MTR_RS_AWAITING)
      return 0;
    return mtr_store_reading_set_state(p->store, f.seq, MTR_RS_AWAITING, now,
                                       p->rd.resends);
  }
  p->n_outbox--;
  if (!ok) {
    p->rewind = true;
    if (p->connected && reason >= 0x80) {
      if (f.seq != p->head_seq) {
        p->head_seq = f.seq;
        p->head_refusals = 0;
        p->others_ok = false;
      }
      p->head_refusals++;
      int rc = mtr_store_counter_add(p->store, "publish_refused", 1);
      if (rc)
        return rc;
      /* Refused while the broker takes other messages, or for what the
       * message is (too large, malformed, a topic it cannot have): the
       * message itself is the problem, not our permission to publish. */
      bool itself =
          p->others_ok || reason == 0x90 || reason == 0x95 || reason == 0x99;
      if (itself && p->head_refusals >= REFUSALS_MAX) {
        char why[96];
        snprintf(why, sizeof why,
                 "was refused by the broker %d times (reason 0x%02x)",
                 p->head_refusals, reason);
        return set_aside(p, f.seq, why, now);
      }
      GL_ERROR(COMP,
               "the broker refused message seq %lld (reason 0x%02x); "
               "publishing pauses and is tried again in %lld s",
               (long long)f.seq, reason,
               (long long)(p->refuse_wait / GL_NS_PER_SEC));
      pause_publishing(p, now);
    }
    return 0;
  }
  if (p->head_seq == f.seq) {
    p->head_seq = 0;
  } else if (p->head_seq) {
    p->others_ok = true;
    if (p->head_refusals >= REFUSALS_MAX) {
      char why[96];
      snprintf(why, sizeof why,
               "was refused by the broker %d times while it takes others",
               p->head_refusals);
      int rc = set_aside(p, p->head_seq, why, now);
      if (rc)
        return rc;
    }
  }
  p->refuse_wait = REFUSE_MIN;
  int rc = mtr_store_begin(p->store);
  if (rc)
    return rc;
  rc = mtr_store_outbox_delete(p->store, f.seq);
  if (!rc)
    rc = mtr_store_put_int(p->store, MTR_KEY_LAST_ACK, now);
  if (!rc) {
    int g = mtr_store_reading_get(p->store, f.seq, &p->rd);
    if (g == 0 &&
        (p->rd.state == MTR_RS_QUEUED || p->rd.state == MTR_RS_DROPPED)) {
      int64_t due = p->rd.r.end + p->cfg.receipt_wait_ns;
      if (due < now + p->cfg.interval_ns)
        due = now + p->cfg.interval_ns;
      rc = mtr_store_reading_set_state(p->store, f.seq, MTR_RS_AWAITING, due,
                                       p->rd.resends);
      if (!rc)
        rc = mtr_store_reading_acked(p->store, f.seq, now);
    } else if (g && g != GL_ENOENT) {
      rc = g;
    }
  }
  if (!rc && p->cfg.on_acked)
    rc = p->cfg.on_acked(p->cfg.ctx, f.kind, f.seq);
  if (rc) {
    mtr_store_rollback(p->store);
    return rc;
  }
  return mtr_store_commit(p->store);
}
