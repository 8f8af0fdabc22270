/* SPDX-License-Identifier: MIT */
/*
 * verify.c - the verification workers and their ordered ring. See
 * gridlet/agg_verify.h.
 *
 * Indices grow without bound (uint64) and map to slots modulo the ring
 * size. `tail` is the next slot the loop fills, `claim` the next the
 * workers take, `head` the oldest the loop has not released; head <=
 * claim <= tail and tail - head <= slots. Each slot's state is an atomic:
 * FREE -> (loop fills, submits) QUEUED -> (a worker finishes) DONE ->
 * (loop releases) FREE. The worker's writes to the job happen before its
 * release-store of DONE, and the loop reads the job only after an
 * acquire-load sees DONE.
 */
#include "gridlet/agg_verify.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOG "verify"

enum { SLOT_FREE = 0, SLOT_QUEUED = 1, SLOT_DONE = 2 };

typedef struct slot {
  agg_job job;
  atomic_int state;
} slot;

struct agg_verify {
  slot *ring;
  size_t nslots;
  _Atomic uint64_t head; /* written by the loop, read by workers */
  uint64_t tail;         /* loop only */
  uint64_t claim;        /* under lock */
  bool stop;             /* under lock */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t *threads;
  size_t nthreads;
  int efd;
  char community[PR_COMMUNITY_MAX + 1];
  const pr_keyring *keys;
  const gl_clock *real;
  agg_metrics *metrics;
};

void agg_verify_job(agg_job *j, const char *community, const pr_keyring *keys,
                    const gl_clock *real) {
  int64_t t0 = gl_clock_monotonic(real);
  pr_diag d = {0};
  memset(&j->msg, 0, sizeof j->msg);
  int rc = pr_topic_parse(j->topic, j->topic_len, community, &j->parsed, &d);
  if (rc == 0 && !pr_topic_from_meter(j->parsed.kind))
    rc = pr_diag_set(&d, PR_R_BAD_TOPIC, GL_EPARSE,
                     "%.*s is not a meter topic (the aggregator only reads "
                     "meter/<id>/...)",
                     (int)j->topic_len, j->topic);
  if (rc == 0) {
    /* pr_msg holds the largest body of any type (about 14 KiB): fine on a
     * worker's stack, copied to the compact agg_rx below. */
    pr_msg m;
    rc = pr_open(j->buf, j->len, &j->parsed, keys, &m, NULL, &d);
    if (rc == 0) {
      j->msg.type = m.type;
      memcpy(j->msg.sender, m.sender, sizeof j->msg.sender);
      j->msg.seq = m.seq;
      j->msg.ts = m.ts;
      switch (m.type) {
      case PR_MSG_READING:
        j->msg.reading = m.reading;
        break;
      case PR_MSG_ORDER:
        j->msg.order = m.order;
        break;
      case PR_MSG_PREFS:
        j->msg.prefs = m.prefs;
        break;
      case PR_MSG_STATUS:
        j->msg.status = m.status;
        break;
      case PR_MSG_PROOF_REQUEST:
        j->msg.proof_request = m.proof_request;
        break;
      default:
        /* pr_open only lets meter types through on meter topics. */
        rc =
            pr_diag_set(&d, PR_R_WRONG_TYPE, GL_EPROTO,
                        "type %s is not a meter message", pr_type_name(m.type));
        break;
      }
    }
    if (rc == 0)
      rc = gl_sha256(j->buf, j->len, j->digest);
  }
  j->rc = rc;
  j->diag = d;
  j->verify_ns = gl_clock_monotonic(real) - t0;
}

static void *worker(void *arg) {
  agg_verify *v = arg;
  for (;;) {
    pthread_mutex_lock(&v->lock);
    while (!v->stop && v->claim == v->tail)
      pthread_cond_wait(&v->wake, &v->lock);
    if (v->stop) {
      pthread_mutex_unlock(&v->lock);
      return NULL;
    }
    uint64_t idx = v->claim++;
    pthread_mutex_unlock(&v->lock);
    slot *s = &v->ring[idx % v->nslots];
    agg_verify_job(&s->job, v->community, v->keys, v->real);
    if (v->metrics)
      agg_hist_observe(&v->metrics->verify, s->job.verify_ns);
    atomic_store_explicit(&s->state, SLOT_DONE, memory_order_seq_cst);
    /* The loop only ever waits for the oldest job, so only its worker
     * needs to wake it: jobs behind it are picked up in the same pass.
     * (The loop checks the oldest job's state after reading `head`; this
     * worker reads `head` after publishing DONE: one of the two sees the
     * other, so no wake-up is lost.) */
    if (atomic_load_explicit(&v->head, memory_order_seq_cst) == idx) {
      uint64_t one = 1;
      ssize_t w = write(v->efd, &one, sizeof one);
      (void)w; /* a full counter still leaves the fd readable */
    }
  }
}

int agg_verify_new(size_t workers, size_t slots, const char *community,
                   const pr_keyring *keys, const gl_clock *real,
                   agg_metrics *metrics, agg_verify **out) {
  *out = NULL;
  if (workers < 1 || slots < 1 || !pr_community_valid(community))
    return GL_EINVAL;
  agg_verify *v = calloc(1, sizeof *v);
  if (!v)
    return GL_ENOMEM;
  v->efd = -1;
  v->ring = calloc(slots, sizeof *v->ring);
  v->threads = calloc(workers, sizeof *v->threads);
  if (!v->ring || !v->threads) {
    free(v->ring);
    free(v->threads);
    free(v);
    return GL_ENOMEM;
  }
  v->nslots = slots;
  snprintf(v->community, sizeof v->community, "%s", community);
  v->keys = keys;
  v->real = real;
  v->metrics = metrics;
  pthread_mutex_init(&v->lock, NULL);
  pthread_cond_init(&v->wake, NULL);
  v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (v->efd < 0) {
    GL_ERROR(LOG, "eventfd: %s", strerror(errno));
    agg_verify_free(v);
    return GL_EIO;
  }
  for (size_t i = 0; i < workers; i++) {
    if (pthread_create(&v->threads[i], NULL, worker, v) != 0) {
      GL_ERROR(LOG, "cannot start verification thread %zu", i);
      agg_verify_free(v);
      return GL_EIO;
    }
    v->nthreads++;
  }
  *out = v;
  return 0;
}

void agg_verify_free(agg_verify *v) {
  if (!v)
    return;
  pthread_mutex_lock(&v->lock);
  v->stop = true;
  pthread_cond_broadcast(&v->wake);
  pthread_mutex_unlock(&v->lock);
  for (size_t i = 0; i < v->nthreads; i++)
    pthread_join(v->threads[i], NULL);
  if (v->efd >= 0)
    close(v->efd);
  pthread_mutex_destroy(&v->lock);
  pthread_cond_destroy(&v->wake);
  free(v->threads);
  free(v->ring);
  free(v);
}

int agg_verify_fd(const agg_verify *v) {
  return v->efd;
}

agg_job *agg_verify_slot(agg_verify *v) {
  if (v->tail - atomic_load_explicit(&v->head, memory_order_relaxed) >=
      v->nslots)
    return NULL;
  agg_job *j = &v->ring[v->tail % v->nslots].job;
  j->topic_len = 0;
  j->len = 0;
  j->response_topic[0] = '\0';
  j->corr_len = 0;
  j->received = 0;
  return j;
}

void agg_verify_submit(agg_verify *v, agg_job *job) {
  slot *s = &v->ring[v->tail % v->nslots];
  (void)job; /* always the slot agg_verify_slot handed out */
  atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
  pthread_mutex_lock(&v->lock);
  v->tail++;
  pthread_cond_signal(&v->wake);
  pthread_mutex_unlock(&v->lock);
  if (v->metrics)
    agg_gauge(&v->metrics->verify_queue,
              (int64_t)(v->tail - atomic_load(&v->head)));
}

agg_job *agg_verify_next(agg_verify *v) {
  uint64_t head = atomic_load_explicit(&v->head, memory_order_relaxed);
  if (head == v->tail)
    return NULL;
  slot *s = &v->ring[head % v->nslots];
  if (atomic_load_explicit(&s->state, memory_order_seq_cst) != SLOT_DONE) {
    /* About to wait for this job: reset the wake-up counter, then look
     * once more in case it finished in between. */
    uint64_t cnt;
    ssize_t r = read(v->efd, &cnt, sizeof cnt);
    (void)r; /* EAGAIN when nothing was signalled */
    if (atomic_load_explicit(&s->state, memory_order_seq_cst) != SLOT_DONE)
      return NULL;
  }
  return &s->job;
}

void agg_verify_release(agg_verify *v, agg_job *job) {
  slot *s = &v->ring[atomic_load(&v->head) % v->nslots];
  (void)job;
  atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
  uint64_t head = atomic_fetch_add_explicit(&v->head, 1, memory_order_seq_cst);
  if (v->metrics)
    agg_gauge(&v->metrics->verify_queue, (int64_t)(v->tail - head - 1));
}

size_t agg_verify_pending(const agg_verify *v) {
  return (size_t)(v->tail - atomic_load(&v->head));
}

/* ---- Parallel for -------------------------------------------------------- */

typedef struct pfor {
  void (*fn)(void *ctx, size_t i);
  void *ctx;
  size_t n;
  atomic_size_t next;
} pfor;

static void *pfor_run(void *arg) {
  pfor *p = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n)
      return NULL;
    p->fn(p->ctx, i);
  }
}

int agg_parallel_for(size_t threads, size_t n, void (*fn)(void *ctx, size_t i),
                     void *ctx) {
  pfor p = {.fn = fn, .ctx = ctx, .n = n};
  atomic_init(&p.next, 0);
  if (threads > 64)
    threads = 64;
  if (threads > n)
    threads = n;
  pthread_t th[64];
  size_t started = 0;
  for (size_t i = 1; i < threads; i++)
    if (pthread_create(&th[started], NULL, pfor_run, &p) == 0)
      started++;
  pfor_run(&p);
  for (size_t i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  return threads > 1 && started == 0 ? GL_EIO : 0;
}
