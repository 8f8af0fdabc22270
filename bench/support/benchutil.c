/* SPDX-License-Identifier: MIT */
/* benchutil.c - see benchutil.h. */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

int64_t gb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gb_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void gb_sort(int64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp64);
}

int64_t gb_median(int64_t *v, size_t n) {
  if (n == 0)
    return 0;
  gb_sort(v, n);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long gb_peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

void gb_report(const char *name, int64_t *samples, size_t n, double per,
               double scale, const char *unit) {
  int64_t med = gb_median(samples, n);
  printf("%s: median %.3f %s (min %.3f, max %.3f, %zu runs)\n", name,
         (double)med / per / scale, unit, (double)samples[0] / per / scale,
         (double)samples[n - 1] / per / scale, n);
}
