/* SPDX-License-Identifier: MIT */
/*
 * link.c - shared connection with retries, pacing and reconnection. See
 * gridlet/hal_link.h for the policy; this file is the mechanism.
 *
 * Two kinds of waiting happen here and they are deliberately different:
 * retry backoff and inter-request pauses block the caller (they are short
 * and bounded by attempts x backoff_max), while reconnection never blocks:
 * a link that is down remembers when it may next try to connect, and
 * requests before then fail at once with GL_ECONN. A meter agent polling
 * every few seconds therefore keeps its rhythm through an outage of weeks,
 * and the device sees at most one connection attempt per reconnect delay.
 */
#include "gridlet/hal_link.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "hal_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hal_link {
  pthread_mutex_t lock;
  hal_transport t;
  hal_link_cfg cfg;
  gl_clock clock;
  gl_rand rand;
  char name[48];

  bool connected;
  uint32_t generation;
  /* Reconnection schedule (monotonic ns). */
  int64_t next_connect_ns;
  int64_t reconnect_delay_ns;
  /* Outage bookkeeping for the log. */
  bool down;
  int64_t down_since_ns;
  uint64_t down_attempts;
  hal_ratelimit rl_conn;
  hal_ratelimit rl_write;

  /* Pacing. */
  int64_t last_end_ns;
  int last_unit;
  bool any_request;

  hal_link_stats stats;
};

/* ---- Helpers ---------------------------------------------------------- */

static int64_t now_mono(const hal_link *l) {
  return gl_clock_monotonic(&l->clock);
}

static const char *dur(int64_t ns, char *buf, size_t size) {
  /* Whole seconds read best in a log line; sub-second values keep ms. */
  if (ns >= GL_NS_PER_SEC)
    ns -= ns % GL_NS_PER_SEC;
  else
    ns -= ns % GL_NS_PER_MS;
  return gl_duration_format(ns, buf, size);
}

/* A delay in [d/2, d]: spreads reconnects of many agents after a shared
 * outage (a router reboot) instead of having them all knock at once. */
static int64_t jitter(hal_link *l, int64_t d) {
  if (d <= 1)
    return d;
  uint64_t r = 0;
  if (gl_rand_below(&l->rand, (uint64_t)(d / 2) + 1, &r) != 0)
    r = (uint64_t)(d / 4);
  return d / 2 + (int64_t)r;
}

static void apply_defaults(hal_link_cfg *c) {
  if (c->timeout_ns <= 0)
    c->timeout_ns = GL_NS_PER_SEC;
  if (c->attempts <= 0)
    c->attempts = 3;
  if (c->backoff_ns <= 0)
    c->backoff_ns = 100 * GL_NS_PER_MS;
  if (c->backoff_max_ns <= 0)
    c->backoff_max_ns = 2 * GL_NS_PER_SEC;
  if (c->backoff_max_ns < c->backoff_ns)
    c->backoff_max_ns = c->backoff_ns;
  if (c->pause_ns < 0)
    c->pause_ns = 0;
  if (c->unit_pause_ns < 0)
    c->unit_pause_ns = 0;
  if (c->reconnect_min_ns <= 0)
    c->reconnect_min_ns = GL_NS_PER_SEC;
  if (c->reconnect_max_ns <= 0)
    c->reconnect_max_ns = 300 * GL_NS_PER_SEC;
  if (c->reconnect_max_ns < c->reconnect_min_ns)
    c->reconnect_max_ns = c->reconnect_min_ns;
}

/* ---- Lifecycle ---------------------------------------------------------- */

hal_link *hal_link_new(hal_transport transport, const hal_link_cfg *cfg,
                       gl_clock clock, gl_rand rand, const char *name) {
  hal_link *l = calloc(1, sizeof *l);
  if (!l) {
    hal_transport_destroy(&transport);
    return NULL;
  }
  pthread_mutex_init(&l->lock, NULL);
  l->t = transport;
  if (cfg)
    l->cfg = *cfg;
  apply_defaults(&l->cfg);
  l->clock = clock;
  l->rand = rand;
  snprintf(l->name, sizeof l->name, "%s", name ? name : "");
  l->last_unit = -1;
  l->t.ops->set_timeout(l->t.ctx, l->cfg.timeout_ns);
  return l;
}

void hal_link_free(hal_link *l) {
  if (!l)
    return;
  hal_transport_destroy(&l->t);
  pthread_mutex_destroy(&l->lock);
  free(l);
}

/* ---- Connection ------------------------------------------------------------
 */

static const char *label(const hal_link *l) {
  return l->name[0] ? l->name : "device";
}

static int ensure_connected(hal_link *l) {
  if (l->connected)
    return 0;
  int64_t now = now_mono(l);
  if (now < l->next_connect_ns) {
    l->stats.fast_fails++;
    return GL_ECONN;
  }
  int rc = l->t.ops->open(l->t.ctx);
  char b1[32], b2[32];
  if (rc == 0) {
    l->connected = true;
    l->generation++;
    l->stats.connects++;
    l->reconnect_delay_ns = 0;
    if (l->down) {
      uint64_t missed = hal__rl_reset(&l->rl_conn);
      (void)missed;
      GL_NOTICE(HAL_LOG,
                "%s: connected to %s again after %s (%llu failed attempts)",
                label(l), l->t.ops->describe(l->t.ctx),
                dur(now - l->down_since_ns, b1, sizeof b1),
                (unsigned long long)l->down_attempts);
      l->down = false;
    } else {
      GL_INFO(HAL_LOG, "%s: connected to %s", label(l),
              l->t.ops->describe(l->t.ctx));
    }
    return 0;
  }
  l->stats.conn_failures++;
  l->stats.last_error = rc;
  if (!l->down) {
    l->down = true;
    l->down_since_ns = now;
    l->down_attempts = 0;
  }
  l->down_attempts++;
  int64_t d = l->reconnect_delay_ns ? l->reconnect_delay_ns * 2
                                    : l->cfg.reconnect_min_ns;
  if (d > l->cfg.reconnect_max_ns)
    d = l->cfg.reconnect_max_ns;
  l->reconnect_delay_ns = d;
  int64_t wait = jitter(l, d);
  l->next_connect_ns = now + wait;
  uint64_t suppressed = 0;
  if (hal__rl_allow(&l->rl_conn, now, &suppressed)) {
    if (l->down_attempts == 1)
      GL_WARN(HAL_LOG,
              "%s: cannot connect to %s: %s (%s); retrying in %s, and "
              "forever at growing intervals up to %s",
              label(l), l->t.ops->describe(l->t.ctx), gl_strerror(rc),
              l->t.ops->last_error(l->t.ctx), dur(wait, b1, sizeof b1),
              dur(l->cfg.reconnect_max_ns, b2, sizeof b2));
    else
      GL_WARN(HAL_LOG,
              "%s: still cannot connect to %s after %llu attempts over %s: "
              "%s (%s)",
              label(l), l->t.ops->describe(l->t.ctx),
              (unsigned long long)l->down_attempts,
              dur(now - l->down_since_ns, b1, sizeof b1), gl_strerror(rc),
              l->t.ops->last_error(l->t.ctx));
  }
  return rc == GL_ETIMEDOUT ? GL_ECONN : rc;
}

/* The connection broke under a request: allow an immediate reconnect (the
 * device was there a moment ago), the schedule applies if that fails. */
static void lost(hal_link *l) {
  if (l->connected) {
    l->t.ops->close(l->t.ctx);
    l->connected = false;
    GL_INFO(HAL_LOG, "%s: connection to %s lost (%s)", label(l),
            l->t.ops->describe(l->t.ctx), l->t.ops->last_error(l->t.ctx));
  }
  l->next_connect_ns = 0;
}

/* ---- Requests -------------------------------------------------------------
 */

static void pace(hal_link *l, uint8_t unit) {
  if (!l->any_request)
    return;
  int64_t gap = l->cfg.pause_ns;
  if (l->last_unit >= 0 && l->last_unit != unit)
    gap += l->cfg.unit_pause_ns;
  if (gap <= 0)
    return;
  int64_t wait = l->last_end_ns + gap - now_mono(l);
  if (wait > 0)
    gl_clock_sleep(&l->clock, wait);
}

static void finished(hal_link *l, uint8_t unit) {
  l->last_end_ns = now_mono(l);
  l->last_unit = unit;
  l->any_request = true;
}

static bool retryable(int rc, uint8_t exc) {
  switch (rc) {
  case GL_ETIMEDOUT:
  case GL_EPROTO:
  case GL_ECONN:
  case GL_EIO:
    return true;
  case GL_EDEVICE:
    return exc == HAL_EXC_BUSY || exc == HAL_EXC_ACKNOWLEDGE;
  default:
    return false;
  }
}

static void count_failure(hal_link *l, int rc, uint8_t exc) {
  l->stats.last_error = rc;
  switch (rc) {
  case GL_ETIMEDOUT:
    l->stats.timeouts++;
    break;
  case GL_EPROTO:
    l->stats.proto_errors++;
    break;
  case GL_EDEVICE:
    l->stats.exceptions++;
    l->stats.last_exception = exc;
    break;
  default:
    break;
  }
}

int hal_link_read(hal_link *l, uint8_t unit, hal_regtype table, uint16_t addr,
                  uint16_t n, uint16_t *dst, uint8_t *exc) {
  uint8_t e = 0;
  if (n == 0 || n > HAL_MAX_READ_REGS || (unsigned)addr + n > 65536u) {
    if (exc)
      *exc = 0;
    return GL_EINVAL;
  }
  pthread_mutex_lock(&l->lock);
  l->stats.requests++;
  int rc = 0;
  for (int attempt = 0;; attempt++) {
    e = 0;
    rc = ensure_connected(l);
    if (rc != 0)
      break;
    pace(l, unit);
    l->stats.attempts++;
    rc = l->t.ops->read(l->t.ctx, unit, table, addr, n, dst, &e);
    finished(l, unit);
    if (rc == 0) {
      l->stats.ok++;
      break;
    }
    count_failure(l, rc, e);
    if (rc == GL_ECONN)
      lost(l);
    if (!retryable(rc, e) || attempt + 1 >= l->cfg.attempts)
      break;
    l->stats.retries++;
    int64_t b = l->cfg.backoff_ns;
    for (int i = 0; i < attempt && b < l->cfg.backoff_max_ns; i++)
      b *= 2;
    if (b > l->cfg.backoff_max_ns)
      b = l->cfg.backoff_max_ns;
    gl_clock_sleep(&l->clock, jitter(l, b));
    /* A late answer to the failed attempt must not be taken for the
     * answer to the retry. */
    if (l->connected && (rc == GL_ETIMEDOUT || rc == GL_EPROTO) &&
        l->t.ops->recover(l->t.ctx) != 0)
      lost(l);
  }
  pthread_mutex_unlock(&l->lock);
  if (exc)
    *exc = e;
  return rc;
}

int hal_link_write(hal_link *l, uint8_t unit, uint16_t addr, uint16_t n,
                   const uint16_t *src, uint8_t *exc) {
  uint8_t e = 0;
  if (exc)
    *exc = 0;
  if (n == 0 || n > HAL_MAX_WRITE_REGS || (unsigned)addr + n > 65536u)
    return GL_EINVAL;
  pthread_mutex_lock(&l->lock);
  l->stats.requests++;
  if (!l->cfg.allow_write) {
    l->stats.writes_refused++;
    uint64_t suppressed = 0;
    if (hal__rl_allow(&l->rl_write, now_mono(l), &suppressed))
      GL_WARN(HAL_LOG,
              "%s: refused to write %u register(s) at %u of unit %u: "
              "writing is disabled (read-only link)%s",
              label(l), n, addr, unit,
              suppressed ? " (repeated refusals not logged)" : "");
    pthread_mutex_unlock(&l->lock);
    return GL_EPERM;
  }
  int rc = ensure_connected(l);
  if (rc == 0) {
    pace(l, unit);
    l->stats.attempts++;
    l->stats.writes++;
    rc = l->t.ops->write(l->t.ctx, unit, addr, n, src, &e);
    finished(l, unit);
    if (rc == 0) {
      l->stats.ok++;
    } else {
      count_failure(l, rc, e);
      if (rc == GL_ECONN)
        lost(l);
      else if (rc == GL_ETIMEDOUT || rc == GL_EPROTO)
        if (l->t.ops->recover(l->t.ctx) != 0)
          lost(l);
    }
  }
  pthread_mutex_unlock(&l->lock);
  if (exc)
    *exc = e;
  return rc;
}

/* ---- Introspection ---------------------------------------------------- */

bool hal_link_connected(hal_link *l) {
  pthread_mutex_lock(&l->lock);
  bool c = l->connected;
  pthread_mutex_unlock(&l->lock);
  return c;
}

uint32_t hal_link_generation(hal_link *l) {
  pthread_mutex_lock(&l->lock);
  uint32_t g = l->generation;
  pthread_mutex_unlock(&l->lock);
  return g;
}

const char *hal_link_name(const hal_link *l) {
  return l->name;
}

const char *hal_link_describe(hal_link *l) {
  return l->t.ops->describe(l->t.ctx);
}

void hal_link_stats_get(hal_link *l, hal_link_stats *out) {
  pthread_mutex_lock(&l->lock);
  *out = l->stats;
  pthread_mutex_unlock(&l->lock);
}

void hal_link_close(hal_link *l) {
  pthread_mutex_lock(&l->lock);
  if (l->connected) {
    l->t.ops->close(l->t.ctx);
    l->connected = false;
  }
  l->next_connect_ns = 0;
  pthread_mutex_unlock(&l->lock);
}

gl_clock hal__link_clock(hal_link *l) {
  return l->clock;
}

bool hal__link_write_allowed(hal_link *l) {
  return l->cfg.allow_write;
}
