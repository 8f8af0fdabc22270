/* SPDX-License-Identifier: MIT */
/*
 * gridlet/rand.h - the randomness seam.
 *
 * Libraries that need random bytes (key generation, certificate serials,
 * jitter in reconnect backoff, simulated clouds) take a gl_rand. Daemons
 * pass the system generator (getrandom(2)); tests and the simulator pass a
 * seeded deterministic generator so that runs repeat bit for bit.
 * The seeded generator (xoshiro256**) is NOT suitable for keys.
 */
#ifndef GRIDLET_RAND_H
#define GRIDLET_RAND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gl_rand_ops {
  /* Fill buf with n random bytes. Returns 0 or a GL_E* code. */
  int (*fill)(void *ctx, void *buf, size_t n);
} gl_rand_ops;

/* A generator is a value: copy it freely. The context is borrowed. */
typedef struct gl_rand {
  const gl_rand_ops *ops;
  void *ctx;
} gl_rand;

static inline int gl_rand_fill(const gl_rand *r, void *buf, size_t n) {
  return r->ops->fill(r->ctx, buf, n);
}

/*
 * gl_rand_u64 - one uniformly random 64-bit value from `r`. Returns 0 and
 * sets *out, or the generator's error.
 */
int gl_rand_u64(const gl_rand *r, uint64_t *out);

/*
 * gl_rand_below - a uniform value in [0, bound) without modulo bias
 * (bound >= 1). Returns 0 or the generator's error.
 */
int gl_rand_below(const gl_rand *r, uint64_t bound, uint64_t *out);

/* gl_rand_system - the kernel's CSPRNG (getrandom(2)); thread-safe. */
gl_rand gl_rand_system(void);

typedef struct gl_seeded_rand gl_seeded_rand;

/*
 * gl_seeded_rand_new - a deterministic generator (xoshiro256**, state
 * expanded from `seed` with splitmix64). Owned handle or NULL (out of
 * memory). Thread-safe: calls are serialised by a mutex, so the sequence
 * depends on call order only.
 */
gl_seeded_rand *gl_seeded_rand_new(uint64_t seed);

/* gl_seeded_rand_free - release; NULL is a no-op. */
void gl_seeded_rand_free(gl_seeded_rand *sr);

/* gl_seeded_rand_rand - the gl_rand view; valid while `sr` lives. */
gl_rand gl_seeded_rand_rand(gl_seeded_rand *sr);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_RAND_H */
