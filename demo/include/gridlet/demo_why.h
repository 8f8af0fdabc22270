/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_why.h - a sentence saying what went wrong, filled in by the
 * demo library's functions that can fail for an outside reason (a process
 * that did not start, a check that found a problem), for the caller to
 * print.
 */
#ifndef GRIDLET_DEMO_WHY_H
#define GRIDLET_DEMO_WHY_H

#define DEMO_WHY_MAX 512

typedef struct demo_why {
  char text[DEMO_WHY_MAX];
} demo_why;

#endif /* GRIDLET_DEMO_WHY_H */
