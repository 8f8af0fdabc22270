/* SPDX-License-Identifier: MIT */
/* Steady-state polling allocates nothing.
 *
 * This executable defines malloc, calloc, realloc, free and the aligned
 * allocators itself, forwarding to glibc's __libc_* entry points, so every
 * allocation in the process goes through them - including those inside
 * shared libraries such as libmodbus, which a link-time --wrap would miss.
 * Only allocations made by the polling thread while `counting` is set are
 * counted; the simulator serving the polls runs on its own thread.
 *
 * Under AddressSanitizer (which owns malloc) the interposers are left out
 * and the test skips. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "gridlet/sim_devices.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

#ifndef NO_INTERPOSE
static _Thread_local int counting;
static _Thread_local long allocations;

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);
void *__libc_memalign(size_t align, size_t n);

void *malloc(size_t n) {
  if (counting)
    allocations++;
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
  if (counting)
    allocations++;
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  if (counting)
    allocations++;
  return __libc_realloc(p, n);
}

void free(void *p) {
  __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n) {
  if (counting)
    allocations++;
  void *p = __libc_memalign(align, n);
  if (!p)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}

void *aligned_alloc(size_t align, size_t n) {
  if (counting)
    allocations++;
  return __libc_memalign(align, n);
}
#endif

#define NOON INT64_C(1782039600000000000)

#ifndef NO_INTERPOSE
static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}
#endif

static void test_alloc_counter_sees_allocations(void **state) {
  (void)state;
#ifdef NO_INTERPOSE
  skip();
#else
  counting = 1;
  allocations = 0;
  void *volatile p = malloc(16);
  free(p);
  counting = 0;
  /* Otherwise the next test could not fail. */
  assert_int_equal(allocations, 1);
#endif
}

static void test_alloc_steady_state_polling_allocates_nothing(void **state) {
  (void)state;
#ifdef NO_INTERPOSE
  print_message("SKIP: AddressSanitizer replaces malloc; run the normal "
                "build\n");
  skip();
#else
  gl_manual_clock *mc = gl_manual_clock_new(NOON);
  gl_seeded_rand *sr = gl_seeded_rand_new(4);
  sim_devices_cfg cfg = {.households = 1};
  sim_devices *sd = NULL;
  assert_int_equal(sim_devices_new(&cfg, gl_manual_clock_clock(mc),
                                   gl_clock_real(), gl_seeded_rand_rand(sr),
                                   &sd),
                   0);
  assert_int_equal(sim_devices_bind(sd), 0);
  assert_int_equal(sim_devices_start(sd), 0);
  hal_endpoint ep = {.kind = HAL_EP_TCP, .port = sim_devices_port(sd, 0)};
  snprintf(ep.host, sizeof ep.host, "127.0.0.1");
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  hal_link_cfg lc = {.timeout_ns = 2 * GL_NS_PER_SEC};
  hal_link *link = hal_link_new(t, &lc, gl_manual_clock_clock(mc),
                                gl_seeded_rand_rand(sr), "alloc");
  hal_profile pi = profile("sunspec-inverter"), pb = profile("sunspec-battery"),
              pm = profile("sunspec-meter");
  hal_device_cfg c1 = {.unit = 1}, c2 = {.unit = 2}, c3 = {.unit = 3};
  hal_device *d[3] = {hal_device_new(link, &pi, &c1),
                      hal_device_new(link, &pb, &c2),
                      hal_device_new(link, &pm, &c3)};
  hal_sample s;
  /* Warm-up: connect, discover, plan. */
  for (int k = 0; k < 3; k++)
    assert_int_equal(hal_device_poll(d[k], &s), 0);

  counting = 1;
  allocations = 0;
  for (int i = 0; i < 500; i++) {
    gl_manual_clock_advance(mc, 5 * GL_NS_PER_SEC);
    for (int k = 0; k < 3; k++)
      if (hal_device_poll(d[k], &s) != 0)
        allocations += 1000000; /* a failed poll is a failed test */
  }
  counting = 0;
  print_message("alloc: %ld allocations in 1500 polls\n", allocations);
  assert_int_equal(allocations, 0);

  for (int k = 0; k < 3; k++)
    hal_device_free(d[k]);
  hal_link_free(link);
  sim_devices_free(sd);
  gl_seeded_rand_free(sr);
  gl_manual_clock_free(mc);
#endif
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc_counter_sees_allocations),
      cmocka_unit_test(test_alloc_steady_state_polling_allocates_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
