/* SPDX-License-Identifier: MIT */
/*
 * audit.c - the dashboard's background ledger audit. See
 * gridlet/agg_audit.h.
 *
 * Sections: one audit (pure over a store handle), the thread.
 */
#include "gridlet/agg_audit.h"

#include "gridlet/error.h"
#include "gridlet/ledger_balances.h"
#include "gridlet/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG "audit"

/* ---- One audit ----------------------------------------------------------- */

typedef struct cmp_walk {
  lg_balances *lb;
  agg_audit_report *rep;
  uint64_t seen;
} cmp_walk;

static int cmp_balance(void *ctx, const agg_balance_rec *b) {
  cmp_walk *w = ctx;
  w->seen++;
  const lg_balance *l = lg_balances_find(w->lb, b->meter);
  if (!l) {
    snprintf(w->rep->problem, sizeof w->rep->problem,
             "the aggregator shows a balance for %s, which no settlement "
             "in the ledger names",
             b->meter);
    return 1;
  }
  if (l->money != b->money || l->fees != b->fees ||
      l->local_bought_wh != b->bought || l->local_sold_wh != b->sold ||
      l->grid_import_wh != b->grid_import ||
      l->grid_export_wh != b->grid_export ||
      (int64_t)l->intervals != b->intervals ||
      (int64_t)l->missing_readings != b->missing) {
    snprintf(w->rep->problem, sizeof w->rep->problem,
             "the balance of %s differs from the ledger's: money %" PRId64
             " here, %" PRId64 " in the ledger; intervals %" PRId64
             " here, %" PRIu64 " in the ledger",
             b->meter, b->money, l->money, b->intervals, l->intervals);
    return 1;
  }
  return 0;
}

int agg_audit_once(agg_store *st, lg_ledger *lg, const lg_audit_options *opt,
                   agg_audit_report *rep) {
  rep->state = AGG_AUDIT_ERROR;
  rep->problem[0] = '\0';
  rep->bad_entry = -1;
  rep->entries = rep->checkpoints = rep->cosignatures = rep->balances = 0;
  /* One read transaction: the ledger and the balances from one snapshot,
   * so a settlement committed meanwhile cannot look like a mismatch. */
  int rc = agg_store_begin_read(st);
  if (rc)
    return rc;
  lg_audit_report ar;
  memset(&ar, 0, sizeof ar);
  rc = lg_audit_run(lg, opt, &ar);
  if (rc == 0) {
    rep->entries = ar.entries;
    rep->checkpoints = ar.checkpoints;
    rep->cosignatures = ar.cosignatures;
    rep->key_from_db = ar.key_from_db;
    rep->bad_entry = ar.bad_entry;
    if (!ar.ok) {
      rep->state = AGG_AUDIT_FAILED;
      snprintf(rep->problem, sizeof rep->problem, "%s", ar.problem);
    } else {
      cmp_walk w = {.lb = ar.balances, .rep = rep};
      int c = agg_store_balances_each(st, cmp_balance, &w);
      if (c < 0) {
        rc = c;
      } else if (c > 0) {
        rep->state = AGG_AUDIT_FAILED;
      } else if (w.seen != lg_balances_count(ar.balances)) {
        rep->state = AGG_AUDIT_FAILED;
        snprintf(rep->problem, sizeof rep->problem,
                 "the ledger settles %zu households, the aggregator shows "
                 "balances for %" PRIu64,
                 lg_balances_count(ar.balances), w.seen);
      } else {
        rep->state = AGG_AUDIT_OK;
      }
      rep->balances = w.seen;
    }
  }
  lg_audit_report_clear(&ar);
  agg_store_commit(st);
  return rc;
}

/* ---- The thread ---------------------------------------------------------- */

struct agg_audit {
  char *db_path, *origin;
  bool has_key;
  lg_vkey log_key;
  lg_vkey *witnesses;
  size_t n_witnesses;
  int64_t every;
  const gl_clock *real;
  int wake[2]; /* a byte on wake[1] stops the thread */
  pthread_t thread;
  bool started;
  pthread_mutex_t mu;
  agg_audit_report rep; /* under mu */
};

static void run_one(agg_audit *a) {
  agg_audit_report r;
  memset(&r, 0, sizeof r);
  int64_t t0 = gl_clock_monotonic(a->real);
  int64_t wall = gl_clock_now(a->real);
  agg_store *st = NULL;
  lg_ledger *lg = NULL;
  int rc = agg_store_open(a->db_path, false, true, &st);
  if (rc == 0) {
    lg_ledger_options o = {.origin = a->origin, .read_only = true};
    rc = lg_ledger_open_db(agg_store_db(st), &o, &lg);
  }
  if (rc == 0) {
    lg_audit_options opt = {.log_key = a->has_key ? &a->log_key : NULL,
                            .witnesses = a->witnesses,
                            .n_witnesses = a->n_witnesses};
    rc = agg_audit_once(st, lg, &opt, &r);
  }
  if (rc) {
    r.state = AGG_AUDIT_ERROR;
    snprintf(r.problem, sizeof r.problem, "the audit could not run: %s",
             gl_strerror(rc));
  }
  lg_ledger_free(lg);
  agg_store_free(st);
  r.started = wall;
  r.duration_ns = gl_clock_monotonic(a->real) - t0;
  if (r.state == AGG_AUDIT_OK)
    GL_INFO(LOG,
            "ledger audit OK: %" PRIu64 " entries, %" PRIu64
            " checkpoints, %" PRIu64 " cosignatures, %" PRIu64
            " balances equal the ledger's (%.1f s)",
            r.entries, r.checkpoints, r.cosignatures, r.balances,
            (double)r.duration_ns / 1e9);
  else
    GL_ERROR(LOG, "ledger audit %s: %s",
             r.state == AGG_AUDIT_FAILED ? "FAILED" : "did not run", r.problem);
  pthread_mutex_lock(&a->mu);
  r.runs = a->rep.runs + 1;
  r.next = wall + a->every;
  a->rep = r;
  pthread_mutex_unlock(&a->mu);
}

static void *thread_main(void *arg) {
  agg_audit *a = arg;
  for (;;) {
    pthread_mutex_lock(&a->mu);
    a->rep.running = true;
    pthread_mutex_unlock(&a->mu);
    run_one(a);
    /* Sleep until the next one is due or we are told to stop. poll()'s
     * timeout is bounded to a minute so that a long period is measured
     * against the clock, not the scheduler. */
    int64_t due = gl_clock_monotonic(a->real) + a->every;
    for (;;) {
      int64_t left = due - gl_clock_monotonic(a->real);
      if (left <= 0)
        break;
      int ms =
          left > 60 * GL_NS_PER_SEC ? 60000 : (int)(left / GL_NS_PER_MS) + 1;
      struct pollfd p = {.fd = a->wake[0], .events = POLLIN};
      int n = poll(&p, 1, ms);
      if (n > 0)
        return NULL;
      if (n < 0 && errno != EINTR)
        return NULL;
    }
  }
}

int agg_audit_start(const agg_audit_config *cfg, agg_audit **out) {
  *out = NULL;
  agg_audit *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->wake[0] = a->wake[1] = -1;
  a->db_path = strdup(cfg->db_path);
  a->origin = strdup(cfg->origin);
  a->every = cfg->every;
  a->real = cfg->real;
  a->has_key = cfg->log_key != NULL;
  if (cfg->log_key)
    a->log_key = *cfg->log_key;
  if (cfg->n_witnesses) {
    a->witnesses = calloc(cfg->n_witnesses, sizeof *a->witnesses);
    if (a->witnesses) {
      memcpy(a->witnesses, cfg->witnesses,
             cfg->n_witnesses * sizeof *a->witnesses);
      a->n_witnesses = cfg->n_witnesses;
    }
  }
  pthread_mutex_init(&a->mu, NULL);
  a->rep.running = true;
  a->rep.bad_entry = -1;
  if (!a->db_path || !a->origin || (cfg->n_witnesses && !a->witnesses) ||
      pipe(a->wake) != 0) {
    agg_audit_stop(a);
    return GL_ENOMEM;
  }
  fcntl(a->wake[0], F_SETFD, FD_CLOEXEC);
  fcntl(a->wake[1], F_SETFD, FD_CLOEXEC);
  if (pthread_create(&a->thread, NULL, thread_main, a) != 0) {
    agg_audit_stop(a);
    return GL_EIO;
  }
  a->started = true;
  *out = a;
  return 0;
}

void agg_audit_get(agg_audit *a, agg_audit_report *out) {
  pthread_mutex_lock(&a->mu);
  *out = a->rep;
  pthread_mutex_unlock(&a->mu);
}

void agg_audit_stop(agg_audit *a) {
  if (!a)
    return;
  if (a->started) {
    char b = 1;
    ssize_t n = write(a->wake[1], &b, 1);
    (void)n; /* a full pipe already says "stop" */
    pthread_join(a->thread, NULL);
  }
  if (a->wake[0] >= 0)
    close(a->wake[0]);
  if (a->wake[1] >= 0)
    close(a->wake[1]);
  pthread_mutex_destroy(&a->mu);
  free(a->witnesses);
  free(a->db_path);
  free(a->origin);
  free(a);
}
