/* SPDX-License-Identifier: MIT */
/*
 * rand.c - system and seeded generators. See gridlet/rand.h.
 */
#include "gridlet/rand.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int gl_rand_u64(const gl_rand *r, uint64_t *out) {
  unsigned char b[8];
  int rc = gl_rand_fill(r, b, sizeof b);
  if (rc)
    return rc;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  *out = v;
  return 0;
}

int gl_rand_below(const gl_rand *r, uint64_t bound, uint64_t *out) {
  if (bound == 0)
    return GL_EINVAL;
  /* Rejection sampling: discard the top partial block of 2^64 values. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  for (;;) {
    uint64_t v;
    int rc = gl_rand_u64(r, &v);
    if (rc)
      return rc;
    if (v < limit) {
      *out = v % bound;
      return 0;
    }
  }
}

/* ---- System generator -------------------------------------------------- */

static int system_fill(void *ctx, void *buf, size_t n) {
  (void)ctx;
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      GL_ERROR("rand", "getrandom failed: %s", strerror(errno));
      return GL_EIO;
    }
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static const gl_rand_ops system_ops = {system_fill};

gl_rand gl_rand_system(void) {
  return (gl_rand){&system_ops, NULL};
}

/* ---- Seeded generator: xoshiro256** (Blackman & Vigna) ----------------- */

struct gl_seeded_rand {
  pthread_mutex_t lock;
  uint64_t s[4];
};

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4]) {
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int seeded_fill(void *ctx, void *buf, size_t n) {
  gl_seeded_rand *sr = ctx;
  unsigned char *p = buf;
  pthread_mutex_lock(&sr->lock);
  while (n > 0) {
    uint64_t v = xoshiro_next(sr->s);
    /* Bytes leave most significant first so gl_rand_u64 returns the raw
     * generator output, which makes sequences easy to reason about. */
    for (int i = 7; i >= 0 && n > 0; i--, n--)
      *p++ = (unsigned char)(v >> (8 * i));
  }
  pthread_mutex_unlock(&sr->lock);
  return 0;
}

static const gl_rand_ops seeded_ops = {seeded_fill};

gl_seeded_rand *gl_seeded_rand_new(uint64_t seed) {
  gl_seeded_rand *sr = calloc(1, sizeof *sr);
  if (!sr)
    return NULL;
  pthread_mutex_init(&sr->lock, NULL);
  for (int i = 0; i < 4; i++)
    sr->s[i] = splitmix64(&seed);
  return sr;
}

void gl_seeded_rand_free(gl_seeded_rand *sr) {
  if (!sr)
    return;
  pthread_mutex_destroy(&sr->lock);
  free(sr);
}

gl_rand gl_seeded_rand_rand(gl_seeded_rand *sr) {
  return (gl_rand){&seeded_ops, sr};
}
