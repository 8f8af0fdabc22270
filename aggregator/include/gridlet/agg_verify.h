/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_verify.h - signature verification on every core.
 *
 * The event loop copies each message it receives from the broker into a
 * job slot of a fixed ring and submits it; worker threads take submitted
 * jobs in order, parse the topic, verify and decode the message
 * (pr_topic_parse + pr_open against the meters' keyring) and hash it. The
 * loop takes finished jobs back strictly in submission order, so the
 * stateful checks that follow (sequence numbers, one reading per
 * interval, order replacement) see every meter's messages in the order
 * the broker delivered them, however the workers interleave. A finished
 * job wakes the loop through an eventfd.
 *
 * The ring is allocated once (slots x about 5 KiB); nothing is allocated
 * per message. When the ring is full the loop leaves further messages in
 * the MQTT client's queue until a slot frees up.
 *
 * agg_verify_job is the pure per-message function the workers run; the
 * unit tests and the fuzz target call it directly.
 *
 * Thread-safety: every function except agg_verify_job and
 * agg_parallel_for is for the loop thread only.
 */
#ifndef GRIDLET_AGG_VERIFY_H
#define GRIDLET_AGG_VERIFY_H

#include "gridlet/agg_metrics.h"
#include "gridlet/clock.h"
#include "gridlet/pr_cose.h"
#include "gridlet/pr_msg.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest message on any meter topic: an order payload and the
 * envelope around it. Anything longer is oversize before it is copied. */
#define AGG_JOB_BUF (4096 + PR_COSE_OVERHEAD_MAX)
/* Correlation data kept for a proof response. */
#define AGG_CORR_MAX 128

/* A verified meter message: the header and the body of a meter type. */
typedef struct agg_rx {
  pr_type type;
  char sender[PR_ID_MAX + 1];
  int64_t seq;
  int64_t ts;
  union {
    pr_reading reading;
    pr_order order;
    pr_prefs prefs;
    pr_status status;
    pr_proof_request proof_request;
  };
} agg_rx;

typedef struct agg_job {
  /* Filled by the loop. */
  char topic[PR_TOPIC_MAX];
  size_t topic_len;
  uint8_t buf[AGG_JOB_BUF];
  size_t len;
  char response_topic[PR_TOPIC_MAX]; /* "" = none */
  uint8_t corr[AGG_CORR_MAX];
  size_t corr_len;
  int64_t received; /* wall time, the daemon's clock */
  /* Filled by the worker. */
  int rc;          /* 0: authentic and well-formed */
  pr_diag diag;    /* why not */
  pr_topic parsed; /* the topic (valid when rc == 0) */
  agg_rx msg;
  uint8_t digest[32]; /* SHA-256 of buf[0..len) */
  int64_t verify_ns;  /* real time spent in verification */
} agg_job;

/*
 * agg_verify_job - verify one job in place: the topic must be a meter
 * topic of `community`, then pr_open with `keys`. `real` times it.
 */
void agg_verify_job(agg_job *job, const char *community, const pr_keyring *keys,
                    const gl_clock *real);

typedef struct agg_verify agg_verify;

/*
 * agg_verify_new - start `workers` threads (>= 1) over a ring of `slots`
 * jobs. `community` is copied; `keys`, `real` and `metrics` (may be NULL)
 * are borrowed and must outlive the pool; keys->ops->lookup must be
 * thread-safe. Returns 0 and an owned handle, GL_EINVAL, GL_ENOMEM or
 * GL_EIO (no eventfd or thread).
 */
int agg_verify_new(size_t workers, size_t slots, const char *community,
                   const pr_keyring *keys, const gl_clock *real,
                   agg_metrics *metrics, agg_verify **out);

/* agg_verify_free - stop and join the workers, release; NULL is a no-op.
 * Jobs still in the ring are discarded. */
void agg_verify_free(agg_verify *v);

/* agg_verify_fd - readable while finished jobs wait (poll it). */
int agg_verify_fd(const agg_verify *v);

/* agg_verify_slot - a free slot to fill, or NULL when the ring is full.
 * The slot's input fields are zeroed. */
agg_job *agg_verify_slot(agg_verify *v);

/* agg_verify_submit - hand the slot just filled to the workers. */
void agg_verify_submit(agg_verify *v, agg_job *job);

/*
 * agg_verify_next - the oldest submitted job if it is finished, else NULL
 * (also drains the eventfd). Hand it back with agg_verify_release before
 * asking for the next.
 */
agg_job *agg_verify_next(agg_verify *v);

/* agg_verify_release - the job returned by agg_verify_next is done with. */
void agg_verify_release(agg_verify *v, agg_job *job);

/* agg_verify_pending - jobs submitted and not yet released. */
size_t agg_verify_pending(const agg_verify *v);

/*
 * agg_parallel_for - run fn(ctx, i) for i in [0, n) on `threads` threads
 * (the caller's included) and wait for all. Returns 0, or GL_EIO when no
 * thread could be started (everything then ran on the caller's thread).
 */
int agg_parallel_for(size_t threads, size_t n, void (*fn)(void *ctx, size_t i),
                     void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_VERIFY_H */
