/* SPDX-License-Identifier: MIT */
/*
 * memdev.c - the in-memory register device. See gridlet/hal_memdev.h.
 *
 * Registers are kept per (unit, table) in a lazily allocated 64 Ki-entry
 * page with a "defined" and a "writable" bit per register, so any address
 * pattern a fuzzer invents costs the same.
 */
#include "gridlet/hal_memdev.h"

#include "gridlet/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NREGS 65536u
#define FAILQ 64

typedef struct page {
  uint16_t val[NREGS];
  uint8_t defined[NREGS / 8];
  uint8_t writable[NREGS / 8];
  size_t count; /* defined registers */
} page;

typedef struct fail_entry {
  int err;
  uint8_t exc;
  unsigned count;
} fail_entry;

struct hal_memdev {
  pthread_mutex_t lock;
  page *pages[256][2]; /* [unit][table: 0 holding, 1 input] */
  fail_entry failq[FAILQ];
  size_t nfail;
  bool offline;
  bool connected;
  hal_memdev_stats stats;
  char err[64];
};

static int tindex(hal_regtype t) {
  return t == HAL_REG_INPUT ? 1 : 0;
}

static bool bit(const uint8_t *m, unsigned i) {
  return ((unsigned)m[i / 8] >> (i % 8)) & 1u;
}

static void set_bit(uint8_t *m, unsigned i, bool on) {
  if (on)
    m[i / 8] = (uint8_t)(m[i / 8] | (1u << (i % 8)));
  else
    m[i / 8] = (uint8_t)(m[i / 8] & ~(1u << (i % 8)));
}

hal_memdev *hal_memdev_new(void) {
  hal_memdev *md = calloc(1, sizeof *md);
  if (!md)
    return NULL;
  pthread_mutex_init(&md->lock, NULL);
  return md;
}

void hal_memdev_free(hal_memdev *md) {
  if (!md)
    return;
  for (int u = 0; u < 256; u++)
    for (int t = 0; t < 2; t++)
      free(md->pages[u][t]);
  pthread_mutex_destroy(&md->lock);
  free(md);
}

int hal_memdev_set(hal_memdev *md, uint8_t unit, hal_regtype table,
                   uint16_t addr, const uint16_t *vals, size_t n,
                   bool writable) {
  if ((size_t)addr + n > NREGS)
    return GL_ERANGE;
  pthread_mutex_lock(&md->lock);
  page **pp = &md->pages[unit][tindex(table)];
  if (!*pp && !(*pp = calloc(1, sizeof **pp))) {
    pthread_mutex_unlock(&md->lock);
    return GL_ENOMEM;
  }
  page *p = *pp;
  for (size_t i = 0; i < n; i++) {
    unsigned a = (unsigned)(addr + i);
    if (!bit(p->defined, a))
      p->count++;
    set_bit(p->defined, a, true);
    set_bit(p->writable, a, writable);
    p->val[a] = vals[i];
  }
  pthread_mutex_unlock(&md->lock);
  return 0;
}

int hal_memdev_get(hal_memdev *md, uint8_t unit, hal_regtype table,
                   uint16_t addr, uint16_t *vals, size_t n) {
  if ((size_t)addr + n > NREGS)
    return GL_ERANGE;
  int rc = 0;
  pthread_mutex_lock(&md->lock);
  page *p = md->pages[unit][tindex(table)];
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (!p || !bit(p->defined, (unsigned)(addr + i)))
      rc = GL_ENOENT;
    else
      vals[i] = p->val[addr + i];
  }
  pthread_mutex_unlock(&md->lock);
  return rc;
}

void hal_memdev_clear(hal_memdev *md, uint8_t unit) {
  pthread_mutex_lock(&md->lock);
  for (int t = 0; t < 2; t++) {
    free(md->pages[unit][t]);
    md->pages[unit][t] = NULL;
  }
  pthread_mutex_unlock(&md->lock);
}

void hal_memdev_fail(hal_memdev *md, int err, uint8_t exc, unsigned count) {
  pthread_mutex_lock(&md->lock);
  if (md->nfail < FAILQ && count > 0)
    md->failq[md->nfail++] = (fail_entry){err, exc, count};
  pthread_mutex_unlock(&md->lock);
}

void hal_memdev_set_offline(hal_memdev *md, bool offline) {
  pthread_mutex_lock(&md->lock);
  md->offline = offline;
  if (offline)
    md->connected = false;
  pthread_mutex_unlock(&md->lock);
}

void hal_memdev_stats_get(hal_memdev *md, hal_memdev_stats *out) {
  pthread_mutex_lock(&md->lock);
  *out = md->stats;
  pthread_mutex_unlock(&md->lock);
}

/* ---- Transport view ---------------------------------------------------- */

static int md_open(void *ctx) {
  hal_memdev *md = ctx;
  pthread_mutex_lock(&md->lock);
  int rc = md->offline ? GL_ECONN : 0;
  md->connected = !md->offline;
  if (rc == 0)
    md->stats.opens++;
  snprintf(md->err, sizeof md->err, "%s", rc ? "device offline" : "");
  pthread_mutex_unlock(&md->lock);
  return rc;
}

static void md_close(void *ctx) {
  hal_memdev *md = ctx;
  pthread_mutex_lock(&md->lock);
  md->connected = false;
  pthread_mutex_unlock(&md->lock);
}

/* Common checks of a request, under the lock: scripted failures first (the
 * request reached the device), then connection state. */
static int md_begin(hal_memdev *md, uint8_t *exc) {
  *exc = 0;
  if (!md->connected || md->offline) {
    md->connected = false;
    snprintf(md->err, sizeof md->err, "not connected");
    return GL_ECONN;
  }
  if (md->nfail > 0) {
    fail_entry *f = &md->failq[0];
    int err = f->err;
    *exc = err == GL_EDEVICE ? f->exc : 0;
    if (--f->count == 0) {
      memmove(&md->failq[0], &md->failq[1],
              (md->nfail - 1) * sizeof md->failq[0]);
      md->nfail--;
    }
    if (err == GL_ECONN)
      md->connected = false;
    snprintf(md->err, sizeof md->err, "scripted failure");
    return err;
  }
  return 0;
}

static int md_read(void *ctx, uint8_t unit, hal_regtype table, uint16_t addr,
                   uint16_t n, uint16_t *dst, uint8_t *exc) {
  hal_memdev *md = ctx;
  if (n == 0 || n > HAL_MAX_READ_REGS || (unsigned)addr + n > NREGS)
    return GL_EINVAL;
  pthread_mutex_lock(&md->lock);
  md->stats.reads++;
  int rc = md_begin(md, exc);
  if (rc == 0) {
    page *p = md->pages[unit][tindex(table)];
    const page *other = md->pages[unit][1 - tindex(table)];
    if (!p && !other) {
      rc = GL_ETIMEDOUT; /* nobody at this unit id */
    } else {
      for (unsigned i = 0; i < n; i++) {
        if (!p || !bit(p->defined, addr + i)) {
          rc = GL_EDEVICE;
          *exc = HAL_EXC_ILLEGAL_ADDRESS;
          break;
        }
        dst[i] = p->val[addr + i];
      }
      if (rc == 0)
        md->stats.registers_read += n;
    }
  }
  pthread_mutex_unlock(&md->lock);
  return rc;
}

static int md_write(void *ctx, uint8_t unit, uint16_t addr, uint16_t n,
                    const uint16_t *src, uint8_t *exc) {
  hal_memdev *md = ctx;
  if (n == 0 || n > HAL_MAX_WRITE_REGS || (unsigned)addr + n > NREGS)
    return GL_EINVAL;
  pthread_mutex_lock(&md->lock);
  md->stats.writes++;
  int rc = md_begin(md, exc);
  if (rc == 0) {
    page *p = md->pages[unit][0];
    if (!p && !md->pages[unit][1]) {
      rc = GL_ETIMEDOUT;
    } else {
      for (unsigned i = 0; i < n; i++) {
        if (!p || !bit(p->defined, addr + i) || !bit(p->writable, addr + i)) {
          rc = GL_EDEVICE;
          *exc = HAL_EXC_ILLEGAL_ADDRESS;
          break;
        }
      }
      for (unsigned i = 0; rc == 0 && i < n; i++)
        p->val[addr + i] = src[i];
    }
  }
  pthread_mutex_unlock(&md->lock);
  return rc;
}

static void md_set_timeout(void *ctx, int64_t ns) {
  (void)ctx;
  (void)ns;
}

static int md_recover(void *ctx) {
  hal_memdev *md = ctx;
  pthread_mutex_lock(&md->lock);
  bool up = md->connected;
  pthread_mutex_unlock(&md->lock);
  return up ? 0 : md_open(md);
}

static const char *md_describe(void *ctx) {
  (void)ctx;
  return "memdev";
}

static const char *md_last_error(void *ctx) {
  /* Read without the lock: a log line may show a slightly stale text. */
  return ((hal_memdev *)ctx)->err;
}

static void md_destroy(void *ctx) {
  md_close(ctx);
}

static const hal_transport_ops md_ops = {
    .open = md_open,
    .close = md_close,
    .read = md_read,
    .write = md_write,
    .set_timeout = md_set_timeout,
    .recover = md_recover,
    .describe = md_describe,
    .last_error = md_last_error,
    .destroy = md_destroy,
};

hal_transport hal_memdev_transport(hal_memdev *md) {
  return (hal_transport){&md_ops, md};
}
