/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h - timing and reporting helpers shared by the benchmarks.
 *
 * Benchmarks time a whole workload with one monotonic clock pair, repeat it,
 * and report the median and the range over the repetitions, so a figure
 * quoted in a note is never a single run. Benchmarks read the real clock
 * directly: measuring real time is their purpose.
 */
#ifndef GRIDLET_BENCHUTIL_H
#define GRIDLET_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

/* gb_now_ns - CLOCK_MONOTONIC in ns. */
int64_t gb_now_ns(void);

/* gb_cpu_ns - CPU time of this process (all threads) in ns. */
int64_t gb_cpu_ns(void);

/* gb_sort - sort n samples ascending in place. */
void gb_sort(int64_t *v, size_t n);

/* gb_median - the median of n samples (sorts them in place). */
int64_t gb_median(int64_t *v, size_t n);

/* gb_peak_rss_kib - the peak resident set size of this process in KiB. */
long gb_peak_rss_kib(void);

/*
 * gb_report - print "name: median X unit (min A, max B, n runs)" where each
 * sample is divided by `per` (e.g. the number of events, to report per
 * event) and `scale` converts ns to the unit (1 for ns, 1e3 for us, ...).
 * Sorts the samples.
 */
void gb_report(const char *name, int64_t *samples, size_t n, double per,
               double scale, const char *unit);

#endif
