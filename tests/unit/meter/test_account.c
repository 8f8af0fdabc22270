/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for interval accounting: exact intervals from counters, the
 * anomaly flags (reset, rollover, scale change, jumps), gaps and offline
 * devices, missing intervals, clock steps, and restarts from saved state
 * giving the same totals.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/mtr_account.h"
#include "gridlet/pr_msg.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEC GL_NS_PER_SEC
#define MIN (60 * SEC)
#define I15 (15 * MIN)
/* 2026-06-21T10:00:00Z, an interval boundary. */
#define T0 (INT64_C(1782036000) * SEC)
#define ALL_COUNTERS 0x1fu

/* A simulated household: counters advance at fixed rates (Wh per poll). */
typedef struct house {
  mtr_account *a;
  int64_t wall, mono;
  int64_t value[MTR_C_COUNT];
  int64_t rate[MTR_C_COUNT]; /* Wh per 5 s */
  int8_t exp;
  uint8_t bits;
  uint32_t identity;
  int64_t soc;
  mtr_interval out[64];
  int nout;
} house;

static mtr_account_cfg cfg_default(void) {
  mtr_account_cfg c = {.interval_ns = I15,
                       .poll_ns = 5 * SEC,
                       .close_wait_ns = 30 * SEC,
                       .step_ns = 2 * SEC,
                       .backfill_ns = 86400 * SEC,
                       .max_power_w = 50000,
                       .counters = ALL_COUNTERS};
  return c;
}

static void house_init(house *h, int64_t wall) {
  memset(h, 0, sizeof *h);
  mtr_account_cfg c = cfg_default();
  assert_int_equal(mtr_account_new(&c, &h->a), 0);
  h->wall = wall;
  h->mono = 1000 * SEC;
  int64_t start[MTR_C_COUNT] = {3377110, 1586987, 2259310, 851012, 791589};
  int64_t rate[MTR_C_COUNT] = {3, 1, 5, 2, 1};
  memcpy(h->value, start, sizeof start);
  memcpy(h->rate, rate, sizeof rate);
  h->bits = 32;
  h->identity = 0xabcd;
  h->soc = 5000;
}

/* Every interval handed out must make a valid reading message: the agent
 * signs it as it is. */
static void assert_signable(const mtr_interval *iv) {
  pr_msg m;
  assert_int_equal(pr_msg_init(&m, PR_MSG_READING, "m1", 1, iv->end), 0);
  pr_reading *r = &m.reading;
  r->start = iv->start;
  r->end = iv->end;
  r->import_wh = iv->wh[MTR_C_IMPORT];
  r->export_wh = iv->wh[MTR_C_EXPORT];
  r->pv_wh = iv->wh[MTR_C_PV];
  r->charge_wh = iv->wh[MTR_C_CHARGE];
  r->discharge_wh = iv->wh[MTR_C_DISCHARGE];
  r->has_soc_bp = iv->has_soc;
  r->soc_bp = iv->soc_bp;
  r->has_import_total_wh = iv->has_import_total;
  r->import_total_wh = iv->import_total_wh;
  r->has_export_total_wh = iv->has_export_total;
  r->export_total_wh = iv->export_total_wh;
  r->flags = iv->flags;
  pr_diag d = {0};
  if (pr_msg_validate(&m, &d))
    fail_msg("interval %lld cannot be signed: %s", (long long)iv->start, d.msg);
}

static int next_checked(mtr_account *a, int64_t now, mtr_interval *iv) {
  int rc = mtr_account_next(a, now, iv);
  if (rc == 0)
    assert_signable(iv);
  return rc;
}

static void drain(house *h, int64_t now) {
  mtr_interval iv;
  while (next_checked(h->a, now, &iv) == 0) {
    assert_true(h->nout < 64);
    h->out[h->nout++] = iv;
  }
}

/* The poll the devices give at the current time; `failed` makes every
 * device fail. */
static void make_poll(const house *h, bool failed, mtr_poll *out) {
  mtr_poll p;
  memset(&p, 0, sizeof p);
  p.wall = h->wall;
  p.mono = h->mono;
  p.failed = failed;
  for (int c = 0; c < MTR_C_COUNT && !failed; c++) {
    uint64_t span = h->bits < 64 ? (UINT64_C(1) << h->bits) : 0;
    int64_t mant =
        h->exp > 0 ? h->value[c] / (h->exp == 1 ? 10 : 100) : h->value[c];
    p.c[c].ok = true;
    p.c[c].raw = span ? (uint64_t)mant % span : (uint64_t)mant;
    p.c[c].value = (int64_t)p.c[c].raw * (h->exp == 1   ? 10
                                          : h->exp == 2 ? 100
                                                        : 1);
    p.c[c].bits = h->bits;
    p.c[c].exp = h->exp;
    p.c[c].identity = h->identity;
  }
  p.soc_ok = !failed;
  p.soc_bp = h->soc;
  *out = p;
}

/* One poll at the current time, accounted; then hand out what is due. */
static void poll_once(house *h, bool failed) {
  mtr_poll p;
  make_poll(h, failed, &p);
  mtr_account_feed(h->a, &p);
  drain(h, h->wall);
}

/* Advance `n` polls of 5 s, the devices answering (or not). */
static void run(house *h, int n, bool failed) {
  for (int i = 0; i < n; i++) {
    h->wall += 5 * SEC;
    h->mono += 5 * SEC;
    for (int c = 0; c < MTR_C_COUNT; c++)
      h->value[c] += h->rate[c];
    poll_once(h, failed);
  }
}

static void house_free(house *h) {
  mtr_account_free(h->a);
}

static void test_account_exact_interval_from_counter_differences(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false); /* read at the boundary: the baseline */
  run(&h, 180, false);  /* 15 minutes: the boundary read at T0+15m */
  assert_int_equal(h.nout, 1);
  mtr_interval *iv = &h.out[0];
  assert_int_equal(iv->start, T0);
  assert_int_equal(iv->end, T0 + I15);
  assert_int_equal(iv->wh[MTR_C_IMPORT], 540);
  assert_int_equal(iv->wh[MTR_C_EXPORT], 180);
  assert_int_equal(iv->wh[MTR_C_PV], 900);
  assert_int_equal(iv->wh[MTR_C_CHARGE], 360);
  assert_int_equal(iv->wh[MTR_C_DISCHARGE], 180);
  assert_int_equal(iv->flags, 0);
  assert_true(iv->has_import_total);
  assert_int_equal(iv->import_total_wh, 3377110 + 540);
  assert_int_equal(iv->export_total_wh, 1586987 + 180);
  assert_true(iv->has_soc);
  assert_int_equal(iv->soc_bp, 5000);
  house_free(&h);
}

static void test_account_start_mid_interval_is_estimated(void **st) {
  (void)st;
  house h;
  house_init(&h, T0 + 7 * MIN);
  poll_once(&h, false);
  run(&h, 96, false); /* to T0 + 15m */
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].start, T0);
  assert_int_equal(h.out[0].flags, PR_FLAG_ESTIMATED);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 96 * 3);
  run(&h, 180, false);
  assert_int_equal(h.nout, 2);
  assert_int_equal(h.out[1].flags, 0);
  assert_int_equal(h.out[1].wh[MTR_C_IMPORT], 540);
  house_free(&h);
}

static void test_account_restart_mid_interval_gives_same_totals(void **st) {
  (void)st;
  house a, b;
  house_init(&a, T0);
  house_init(&b, T0);
  poll_once(&a, false);
  poll_once(&b, false);
  run(&a, 180 + 40, false);
  run(&b, 180 + 40, false); /* into the second interval */
  /* b is saved, "crashes" 90 s later without saving, and restarts 4
   * minutes after the save. */
  uint8_t buf[MTR_ACCOUNT_STATE_MAX];
  size_t len;
  assert_int_equal(mtr_account_save(b.a, buf, sizeof buf, &len), 0);
  run(&b, 18, false);
  mtr_account_free(b.a);
  mtr_account_cfg c = cfg_default();
  assert_int_equal(mtr_account_new(&c, &b.a), 0);
  assert_int_equal(mtr_account_load(b.a, buf, len), 0);
  b.wall += 150 * SEC;
  b.mono = 5 * SEC; /* a new run: monotonic time starts afresh */
  for (int c2 = 0; c2 < MTR_C_COUNT; c2++)
    b.value[c2] += 30 * b.rate[c2];
  poll_once(&b, false);
  run(&a, 18 + 30, false);
  run(&b, 180 - 40 - 18 - 30, false);
  run(&a, 180 - 40 - 18 - 30, false);
  assert_int_equal(a.nout, 2);
  assert_int_equal(b.nout, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(a.out[i].start, b.out[i].start);
    assert_int_equal(a.out[i].flags, 0);
    assert_int_equal(b.out[i].flags, 0);
    for (int c2 = 0; c2 < MTR_C_COUNT; c2++)
      assert_int_equal(a.out[i].wh[c2], b.out[i].wh[c2]);
  }
  house_free(&a);
  house_free(&b);
}

static void test_account_counter_reset_counts_energy_since_reset(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false);
  h.value[MTR_C_IMPORT] = 0; /* a replaced meter starts from zero */
  run(&h, 120, false);
  assert_int_equal(h.nout, 1);
  assert_true(h.out[0].flags & PR_FLAG_COUNTER_RESET);
  /* 60 polls before, the reset poll itself counts its 3 Wh since the
   * reset, 119 after. */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 60 * 3 + 3 + 119 * 3);
  assert_int_equal(h.out[0].wh[MTR_C_EXPORT], 180);
  house_free(&h);
}

static void test_account_rollover_of_32_bit_counter(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  h.value[MTR_C_IMPORT] = (INT64_C(1) << 32) - 100;
  poll_once(&h, false);
  run(&h, 180, false);
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].flags, PR_FLAG_ROLLOVER);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 540);
  assert_int_equal(h.out[0].import_total_wh, 540 - 100);
  house_free(&h);
}

static void test_account_scale_change_is_flagged_and_continuous(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  h.rate[MTR_C_IMPORT] = 30;
  poll_once(&h, false);
  run(&h, 90, false);
  h.exp = 1; /* the device now counts in 10 Wh */
  run(&h, 90, false);
  assert_int_equal(h.nout, 1);
  assert_true(h.out[0].flags & PR_FLAG_SCALE_CHANGE);
  assert_false(h.out[0].flags & PR_FLAG_COUNTER_RESET);
  /* 3377110 + 5400 = 3382510 at the end, a multiple of 10. */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 5400);
  house_free(&h);
}

static void test_account_jump_is_treated_as_reset(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false);
  h.value[MTR_C_PV] += 100000000; /* 100 MWh in 5 s */
  run(&h, 120, false);
  assert_int_equal(h.nout, 1);
  assert_true(h.out[0].flags & PR_FLAG_COUNTER_RESET);
  assert_int_equal(h.out[0].wh[MTR_C_PV], 179 * 5);
  house_free(&h);
}

static void test_account_failed_polls_flag_device_offline(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 50, false);
  run(&h, 20, true); /* the devices do not answer for 100 s */
  run(&h, 110, false);
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].flags, PR_FLAG_DEVICE_OFFLINE);
  /* Nothing is lost: the first read after the gap covers it. */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 540);
  house_free(&h);
}

static void test_account_offline_across_boundary_splits_and_flags(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 170, false); /* to T0 + 14m10s */
  run(&h, 20, true);   /* offline until T0 + 15m50s: beyond close_wait */
  run(&h, 170, false); /* to the next boundary */
  assert_int_equal(h.nout, 2);
  mtr_interval *a = &h.out[0], *b = &h.out[1];
  assert_int_equal(a->flags, PR_FLAG_DEVICE_OFFLINE | PR_FLAG_ESTIMATED);
  assert_int_equal(b->flags, PR_FLAG_DEVICE_OFFLINE | PR_FLAG_ESTIMATED);
  /* The first interval was reported before the device came back: its
   * share of the gap is in no reading; the second has its share. */
  assert_int_equal(a->wh[MTR_C_IMPORT], 170 * 3);
  int64_t gap = 21 * 3; /* 105 s of counting across the gap */
  /* 55 of the 105 s fall after the boundary. */
  assert_int_equal(b->wh[MTR_C_IMPORT], gap - gap * 50 / 105 + 169 * 3);
  house_free(&h);
}

static void test_account_device_back_within_close_wait_is_exact(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 179, false);
  run(&h, 1, true);    /* the boundary read fails */
  run(&h, 180, false); /* 5 s later, within the tolerance: the boundary */
  assert_int_equal(h.nout, 2);
  assert_int_equal(h.out[0].flags, PR_FLAG_DEVICE_OFFLINE);
  /* The read 5 s after the boundary closes the interval: 5 s of the next
   * interval count in it, as at every boundary read. */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 543);
  assert_int_equal(h.out[1].wh[MTR_C_IMPORT], 537);
  house_free(&h);
}

static void test_account_agent_down_gives_missing_intervals(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 120, false); /* T0 + 10m */
  /* The agent is down for an hour; the counters keep counting. */
  h.wall += 3600 * SEC;
  for (int c = 0; c < MTR_C_COUNT; c++)
    h.value[c] += 720 * h.rate[c];
  h.mono += 3600 * SEC;
  poll_once(&h, false); /* T0 + 1h10m */
  /* Interval 10:00 (estimated), 10:15, 10:30, 10:45 missing; 11:00 open. */
  assert_int_equal(h.nout, 4);
  assert_int_equal(h.out[0].flags, PR_FLAG_ESTIMATED);
  int64_t d = 721 * 3; /* import over the 3605 s gap */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT],
                   120 * 3 + (int64_t)((double)d * 300 / 3605));
  for (int i = 1; i < 4; i++) {
    assert_int_equal(h.out[i].start, T0 + i * I15);
    assert_int_equal(h.out[i].flags, PR_FLAG_MISSING);
    assert_int_equal(h.out[i].wh[MTR_C_IMPORT], 0);
    assert_false(h.out[i].has_soc);
  }
  run(&h, 120, false);
  assert_int_equal(h.nout, 5);
  assert_int_equal(h.out[4].start, T0 + 4 * I15);
  assert_int_equal(h.out[4].flags, PR_FLAG_ESTIMATED);
  int64_t before_11 = (int64_t)((double)d * 3300 / 3605);
  assert_int_equal(h.out[4].wh[MTR_C_IMPORT], d - before_11 + 119 * 3);
  house_free(&h);
}

static void test_account_long_gap_split_is_exact(void **st) {
  (void)st;
  /* A 40-day outage: the split's products exceed 64 bits. One Wh per
   * second over the whole gap makes every share a whole number. */
  mtr_account_cfg c = cfg_default();
  c.backfill_ns = 0;
  mtr_account *a;
  assert_int_equal(mtr_account_new(&c, &a), 0);
  int64_t t_a = T0 + 5 * MIN, t_b = T0 + 40 * 86400 * SEC + 10 * MIN;
  int64_t d = (t_b - t_a) / SEC;
  mtr_poll p;
  memset(&p, 0, sizeof p);
  p.wall = t_a;
  p.mono = 0;
  p.c[MTR_C_IMPORT] = (mtr_obs){true, false, 1000, 1000, 64, 0, 1};
  p.c[MTR_C_EXPORT] = (mtr_obs){true, false, 0, 0, 64, 0, 1};
  mtr_account_feed(a, &p);
  p.wall = t_b;
  p.mono = t_b - t_a;
  p.c[MTR_C_IMPORT].value = 1000 + d;
  p.c[MTR_C_IMPORT].raw = (uint64_t)(1000 + d);
  mtr_account_feed(a, &p);
  mtr_interval iv;
  assert_int_equal(next_checked(a, t_b, &iv), 0);
  assert_int_equal(iv.start, T0);
  assert_int_equal(iv.wh[MTR_C_IMPORT], 600); /* its last 10 minutes */
  assert_true(iv.flags & PR_FLAG_ESTIMATED);
  /* backfill 0: the intervals of the gap are not reported; the open one
   * has its first 10 minutes. */
  p.wall = t_b + 5 * MIN;
  p.mono += 5 * MIN;
  p.c[MTR_C_IMPORT].value += 300;
  p.c[MTR_C_IMPORT].raw += 300;
  mtr_account_feed(a, &p);
  p.wall += 30 * SEC;
  p.mono += 30 * SEC;
  p.failed = true;
  p.c[MTR_C_IMPORT].ok = p.c[MTR_C_EXPORT].ok = false;
  mtr_account_feed(a, &p); /* the boundary read fails */
  assert_int_equal(next_checked(a, p.wall, &iv), 0);
  assert_int_equal(iv.start, T0 + 40 * 86400 * SEC);
  assert_int_equal(iv.wh[MTR_C_IMPORT], 600 + 300);
  mtr_account_free(a);
}

static void test_account_device_never_answering_gives_missing(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  run(&h, 200, true);
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].flags, PR_FLAG_MISSING | PR_FLAG_DEVICE_OFFLINE);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 0);
  house_free(&h);
}

static void test_account_forward_clock_step(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false);       /* T0 + 5m */
  h.wall += 2 * 3600 * SEC; /* the wall clock jumps two hours */
  run(&h, 1, false);
  assert_int_equal(h.nout, 8);
  assert_int_equal(h.out[0].flags, PR_FLAG_CLOCK_STEP | PR_FLAG_ESTIMATED);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 180);
  for (int i = 1; i < 8; i++)
    assert_int_equal(h.out[i].flags, PR_FLAG_MISSING | PR_FLAG_CLOCK_STEP);
  run(&h, 119, false); /* to the next boundary, T0 + 2h15m */
  assert_int_equal(h.nout, 9);
  assert_int_equal(h.out[8].start, T0 + 8 * I15);
  assert_int_equal(h.out[8].flags, PR_FLAG_CLOCK_STEP | PR_FLAG_ESTIMATED);
  /* The difference across the step counts after it: nothing is lost. */
  assert_int_equal(h.out[8].wh[MTR_C_IMPORT], 120 * 3);
  house_free(&h);
}

static void test_account_backward_clock_step_keeps_interval_open(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 180 + 60, false); /* T0 + 20m, the first interval reported */
  assert_int_equal(h.nout, 1);
  h.wall -= 10 * MIN; /* back to T0 + 10m */
  run(&h, 1, false);
  assert_int_equal(h.nout, 1);
  /* The open interval (T0+15m) stays open until the wall clock passes its
   * end (T0+30m) again: 20 more minutes of polls. */
  run(&h, 238, false);
  assert_int_equal(h.nout, 1);
  run(&h, 1, false);
  assert_int_equal(h.nout, 2);
  assert_int_equal(h.out[1].start, T0 + I15);
  assert_int_equal(h.out[1].flags, PR_FLAG_CLOCK_STEP);
  assert_int_equal(h.out[1].wh[MTR_C_IMPORT], (60 + 240) * 3);
  house_free(&h);
}

static void test_account_backward_step_across_restart(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 120, false);
  uint8_t buf[MTR_ACCOUNT_STATE_MAX];
  size_t len;
  assert_int_equal(mtr_account_save(h.a, buf, sizeof buf, &len), 0);
  mtr_account_free(h.a);
  mtr_account_cfg c = cfg_default();
  assert_int_equal(mtr_account_new(&c, &h.a), 0);
  assert_int_equal(mtr_account_load(h.a, buf, len), 0);
  h.wall -= 3600 * SEC; /* booted with a clock an hour behind */
  h.mono = 0;
  run(&h, 1, false);
  h.wall += 3600 * SEC; /* ... and NTP puts it right */
  run(&h, 60, false);
  assert_int_equal(h.nout, 1);
  assert_true(h.out[0].flags & PR_FLAG_CLOCK_STEP);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 180 * 3);
  house_free(&h);
}

/* A house whose accountant confirms steps beyond an hour for 10 minutes,
 * as the agent's defaults do. */
static void house_init_horizon(house *h, int64_t wall) {
  house_init(h, wall);
  mtr_account_free(h->a);
  mtr_account_cfg c = cfg_default();
  c.step_horizon_ns = 3600 * SEC;
  c.step_confirm_ns = 10 * MIN;
  assert_int_equal(mtr_account_new(&c, &h->a), 0);
}

static void test_account_year_long_glitch_is_not_believed(void **st) {
  (void)st;
  house h;
  house_init_horizon(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false); /* T0 + 5m */
  /* One read with the wall clock a year ahead, then NTP puts it right. */
  int64_t year = INT64_C(365) * 86400 * SEC;
  h.wall += year;
  run(&h, 1, false);
  h.wall -= year;
  assert_int_equal(h.nout, 0);
  run(&h, 119 + 2 * 180, false); /* to T0 + 45m */
  assert_int_equal(h.nout, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(h.out[i].start, T0 + i * I15);
    assert_false(h.out[i].flags & PR_FLAG_MISSING);
    assert_int_equal(h.out[i].wh[MTR_C_IMPORT], 540);
  }
  /* The glitch is recorded, nothing else. */
  assert_int_equal(h.out[0].flags, PR_FLAG_CLOCK_STEP);
  assert_int_equal(h.out[1].flags, 0);
  assert_int_equal(mtr_account_open_start(h.a), T0 + 3 * I15);
  house_free(&h);
}

static void test_account_large_forward_step_that_holds_is_accepted(void **st) {
  (void)st;
  house h;
  house_init_horizon(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false);       /* T0 + 5m */
  h.wall += 2 * 3600 * SEC; /* two hours ahead, and it stays */
  run(&h, 119, false);      /* 10 minutes less 5 s: not believed yet */
  assert_int_equal(h.nout, 0);
  run(&h, 1, false); /* the boundary of the old timeline, T0 + 15m */
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].start, T0);
  assert_int_equal(h.out[0].flags, PR_FLAG_CLOCK_STEP);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 540);
  run(&h, 1, false); /* 10 minutes held: accepted */
  /* The intervals it jumped over are missing, never invented. */
  assert_int_equal(h.nout, 8);
  for (int i = 1; i < 8; i++)
    assert_int_equal(h.out[i].flags, PR_FLAG_MISSING | PR_FLAG_CLOCK_STEP);
  run(&h, 180, false);
  assert_int_equal(h.nout, 10);
  assert_int_equal(h.out[8].flags, PR_FLAG_MISSING | PR_FLAG_CLOCK_STEP);
  assert_int_equal(h.out[9].start, T0 + 9 * I15);
  assert_int_equal(h.out[9].flags, PR_FLAG_CLOCK_STEP | PR_FLAG_ESTIMATED);
  /* What was measured across the step counts after it: the readings add
   * up to the register's change, nothing lost. */
  int64_t total = 0;
  for (int i = 0; i < 10; i++)
    total += h.out[i].wh[MTR_C_IMPORT];
  assert_int_equal(total, h.out[9].import_total_wh - 3377110);
  house_free(&h);
}

static void test_account_large_backward_step_that_holds_reanchors(void **st) {
  (void)st;
  house h;
  house_init_horizon(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false); /* T0 + 5m */
  /* Six hours ahead for half an hour: long enough to be believed. */
  int64_t day = 6 * 3600 * SEC;
  h.wall += day;
  run(&h, 360, false);
  int before = h.nout;
  assert_true(before > 0);
  /* NTP puts it right: a day back. Held for 10 minutes, then the
   * accounting follows the real time again, at once, not in a day. */
  h.wall -= day;
  run(&h, 120, false);
  int64_t now = h.wall;
  run(&h, 360, false); /* half an hour more */
  int64_t first = gl_floor_div(now, I15) * I15;
  int fresh = 0;
  for (int i = before; i < h.nout; i++)
    if (h.out[i].start >= first - I15 && h.out[i].start < h.wall)
      fresh++;
  assert_true(fresh >= 2);
  assert_true(mtr_account_open_start(h.a) <= h.wall);
  assert_true(mtr_account_open_start(h.a) > h.wall - I15);
  house_free(&h);
}

static void test_account_restart_with_clock_behind_counts_downtime(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 60, false); /* T0 + 5m */
  uint8_t buf[MTR_ACCOUNT_STATE_MAX];
  size_t len;
  assert_int_equal(mtr_account_save(h.a, buf, sizeof buf, &len), 0);
  mtr_account_free(h.a);
  /* Down for 10 minutes, during which 500 Wh were imported; the board
   * comes back with its clock a minute behind the saved state. */
  mtr_account_cfg c = cfg_default();
  assert_int_equal(mtr_account_new(&c, &h.a), 0);
  assert_int_equal(mtr_account_load(h.a, buf, len), 0);
  h.wall -= 60 * SEC;
  h.mono = 7 * SEC;
  h.value[MTR_C_IMPORT] += 500;
  poll_once(&h, false);
  run(&h, 180, false);
  assert_int_equal(h.nout, 1);
  assert_int_equal(h.out[0].start, T0);
  assert_true(h.out[0].flags & PR_FLAG_CLOCK_STEP);
  assert_false(h.out[0].flags & PR_FLAG_COUNTER_RESET);
  /* 60 reads before, the 500 Wh of the downtime, and the reads after it
   * until the clock, restarted at T0 + 4m, reaches the boundary: 132. */
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 60 * 3 + 500 + 132 * 3);
  house_free(&h);
}

static void test_account_saved_state_in_the_future_is_left_behind(void **st) {
  (void)st;
  /* A state saved while the clock was a year ahead; the board restarts
   * with the right time. Within the confirmation time the accounting
   * follows the real clock again: a restart does not keep it pinned. */
  house h;
  int64_t year = INT64_C(365) * 86400 * SEC;
  house_init_horizon(&h, T0 + year);
  poll_once(&h, false);
  run(&h, 60, false);
  uint8_t buf[MTR_ACCOUNT_STATE_MAX];
  size_t len;
  assert_int_equal(mtr_account_save(h.a, buf, sizeof buf, &len), 0);
  mtr_account_free(h.a);
  mtr_account_cfg c = cfg_default();
  c.step_horizon_ns = 3600 * SEC;
  c.step_confirm_ns = 10 * MIN;
  assert_int_equal(mtr_account_new(&c, &h.a), 0);
  assert_int_equal(mtr_account_load(h.a, buf, len), 0);
  h.wall = T0 + 2 * MIN;
  h.mono = 3 * SEC;
  h.nout = 0;
  poll_once(&h, false);
  run(&h, 120 + 360, false); /* 40 minutes */
  assert_true(h.nout >= 2);
  assert_int_equal(h.out[h.nout - 1].start, T0 + I15);
  assert_int_equal(mtr_account_open_start(h.a), T0 + 2 * I15);
  house_free(&h);
}

static void test_account_backfill_counts(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 180, false);
  assert_int_equal(h.nout, 1);
  h.nout = 0;
  h.wall += 3 * 86400 * SEC + 5 * SEC;
  h.mono += 3 * 86400 * SEC + 5 * SEC;
  mtr_poll p;
  memset(&p, 0, sizeof p);
  p.wall = h.wall;
  p.mono = h.mono;
  p.failed = true;
  mtr_account_feed(h.a, &p);
  int n = 0;
  mtr_interval iv, first = {0}, last = {0};
  while (next_checked(h.a, h.wall, &iv) == 0) {
    if (!n)
      first = iv;
    last = iv;
    n++;
  }
  /* The interval at T0+15m had only its start read: missing; then only the
   * last day's missing intervals, up to the one before the open interval,
   * which is not over until close_wait has passed. */
  assert_int_equal(n, 95);
  assert_int_equal(first.flags, PR_FLAG_MISSING);
  assert_int_equal(first.start, T0 + I15);
  assert_int_equal(last.end, gl_floor_div(h.wall, I15) * I15 - I15);
  /* Another failed poll, close_wait later. */
  p.wall += 30 * SEC;
  p.mono += 30 * SEC;
  mtr_account_feed(h.a, &p);
  assert_int_equal(next_checked(h.a, p.wall, &iv), 0);
  assert_int_equal(iv.end, gl_floor_div(h.wall, I15) * I15);
  house_free(&h);
}

static void test_account_absent_counter_is_not_a_gap(void **st) {
  (void)st;
  mtr_account_cfg c = cfg_default();
  mtr_account *a;
  assert_int_equal(mtr_account_new(&c, &a), 0);
  for (int i = 0; i <= 180; i++) {
    mtr_poll p;
    memset(&p, 0, sizeof p);
    p.wall = T0 + i * 5 * SEC;
    p.mono = i * 5 * SEC;
    p.c[MTR_C_IMPORT] =
        (mtr_obs){true, false, 1000 + i, (uint64_t)(1000 + i), 32, 0, 1};
    p.c[MTR_C_EXPORT] = (mtr_obs){true, false, 5, 5, 32, 0, 1};
    for (int k = MTR_C_PV; k < MTR_C_COUNT; k++)
      p.c[k].absent = true;
    mtr_account_feed(a, &p);
  }
  mtr_interval iv;
  assert_int_equal(next_checked(a, T0 + I15, &iv), 0);
  assert_int_equal(iv.flags, 0);
  assert_int_equal(iv.wh[MTR_C_IMPORT], 180);
  assert_int_equal(iv.wh[MTR_C_PV], 0);
  mtr_account_free(a);
}

static void test_account_impossible_counter_value_is_ignored(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  h.bits = 64;
  poll_once(&h, false);
  run(&h, 60, false);
  /* The grid meter reports garbage above 2^53 Wh for 20 reads. */
  h.value[MTR_C_IMPORT] += INT64_C(1) << 60;
  run(&h, 20, false);
  h.value[MTR_C_IMPORT] -= INT64_C(1) << 60;
  run(&h, 100, false);
  assert_int_equal(h.nout, 1);
  /* The garbage is a gap: the next good read covers it, nothing lost. */
  assert_int_equal(h.out[0].flags, PR_FLAG_DEVICE_OFFLINE);
  assert_int_equal(h.out[0].wh[MTR_C_IMPORT], 540);
  assert_int_equal(h.out[0].import_total_wh, 3377110 + 540);
  mtr_account_counts n;
  mtr_account_take_counts(h.a, &n);
  assert_int_equal(n.invalid_values, 20);
  assert_int_equal(n.capped, 0);
  mtr_account_take_counts(h.a, &n);
  assert_int_equal(n.invalid_values, 0);
  house_free(&h);
}

static void test_account_counter_always_impossible_gives_no_total(void **st) {
  (void)st;
  mtr_account_cfg c = cfg_default();
  c.counters = 0x3;
  mtr_account *a;
  assert_int_equal(mtr_account_new(&c, &a), 0);
  int n = 0;
  for (int i = 0; i <= 200; i++) {
    mtr_poll p;
    memset(&p, 0, sizeof p);
    p.wall = T0 + 100 * SEC + i * 5 * SEC;
    p.mono = i * 5 * SEC;
    int64_t v = (INT64_C(1) << 60) + i;
    p.c[MTR_C_IMPORT] = (mtr_obs){true, false, v, (uint64_t)v, 64, 0, 1};
    p.c[MTR_C_EXPORT] = (mtr_obs){true, false, 1000, 1000, 64, 0, 1};
    mtr_account_feed(a, &p);
    mtr_interval iv;
    while (next_checked(a, p.wall, &iv) == 0) {
      assert_false(iv.has_import_total);
      assert_true(iv.flags & PR_FLAG_DEVICE_OFFLINE);
      n++;
    }
  }
  assert_int_equal(n, 1);
  mtr_account_free(a);
}

static void test_account_energy_beyond_protocol_limit_is_capped(void **st) {
  (void)st;
  /* A register whose one step is worth 10^10 Wh (scale factor 10). */
  mtr_account_cfg c = cfg_default();
  c.counters = 0x3;
  mtr_account *a;
  assert_int_equal(mtr_account_new(&c, &a), 0);
  uint64_t raw = 1;
  int n = 0;
  for (int i = 0; i <= 181; i++) {
    if (i == 50)
      raw++;
    mtr_poll p;
    memset(&p, 0, sizeof p);
    p.wall = T0 + i * 5 * SEC;
    p.mono = i * 5 * SEC;
    int64_t v = (int64_t)raw * INT64_C(10000000000);
    p.c[MTR_C_IMPORT] = (mtr_obs){true, false, v, raw, 32, 10, 1};
    p.c[MTR_C_EXPORT] = (mtr_obs){true, false, 0, 0, 32, 10, 1};
    mtr_account_feed(a, &p);
    mtr_interval iv;
    while (next_checked(a, p.wall, &iv) == 0) {
      assert_int_equal(iv.wh[MTR_C_IMPORT], PR_ENERGY_MAX);
      assert_true(iv.flags & PR_FLAG_ESTIMATED);
      assert_int_equal(iv.import_total_wh, INT64_C(20000000000));
      n++;
    }
  }
  assert_int_equal(n, 1);
  mtr_account_counts k;
  mtr_account_take_counts(a, &k);
  assert_int_equal(k.capped, 1);
  mtr_account_free(a);
}

static void test_account_copy_restores_a_handed_out_interval(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 179, false);
  assert_int_equal(h.nout, 0);
  /* The boundary read; then: copy, hand out, copy back (the agent could
   * not commit it), hand out again: the same interval. */
  h.wall += 5 * SEC;
  h.mono += 5 * SEC;
  for (int k = 0; k < MTR_C_COUNT; k++)
    h.value[k] += h.rate[k];
  mtr_poll p;
  make_poll(&h, false, &p);
  mtr_account_feed(h.a, &p);
  mtr_account_cfg c = cfg_default();
  mtr_account *snap;
  assert_int_equal(mtr_account_new(&c, &snap), 0);
  mtr_account_copy(snap, h.a);
  mtr_interval iv, again;
  assert_int_equal(next_checked(h.a, h.wall, &iv), 0);
  assert_int_equal(iv.start, T0);
  assert_int_equal(iv.wh[MTR_C_IMPORT], 540);
  assert_int_equal(mtr_account_next(h.a, h.wall, &again), GL_EAGAIN);
  mtr_account_copy(h.a, snap);
  assert_int_equal(next_checked(h.a, h.wall, &again), 0);
  assert_memory_equal(&iv, &again, sizeof iv);
  mtr_account_free(snap);
  house_free(&h);
}

static void test_account_inverter_asleep_leaves_grid_readings_exact(void **st) {
  (void)st;
  /* Night: the inverter does not answer (its device fails every poll),
   * the grid meter does. */
  mtr_account_cfg c = cfg_default();
  c.counters = 0x7;
  mtr_account *a;
  assert_int_equal(mtr_account_new(&c, &a), 0);
  mtr_interval out[4];
  int n = 0;
  for (int i = 0; i <= 2 * 180 + 6; i++) { /* + close_wait */
    mtr_poll p;
    memset(&p, 0, sizeof p);
    p.wall = T0 + i * 5 * SEC;
    p.mono = i * 5 * SEC;
    p.failed = i > 0; /* awake only for the very first read */
    p.c[MTR_C_IMPORT] = (mtr_obs){
        true, false, 1000 + 2 * i, (uint64_t)(1000 + 2 * i), 32, 0, 1};
    p.c[MTR_C_EXPORT] = (mtr_obs){true, false, 50, 50, 32, 0, 1};
    p.c[MTR_C_PV] = (mtr_obs){i == 0, false, 7000, 7000, 32, 0, 2};
    mtr_account_feed(a, &p);
    while (n < 4 && next_checked(a, p.wall, &out[n]) == 0)
      n++;
  }
  assert_int_equal(n, 2);
  for (int k = 0; k < 2; k++) {
    /* The grid counters are exact; the inverter's absence is recorded,
     * but nothing is estimated. */
    assert_int_equal(out[k].flags, PR_FLAG_DEVICE_OFFLINE);
    assert_int_equal(out[k].wh[MTR_C_IMPORT], 360);
    assert_int_equal(out[k].wh[MTR_C_PV], 0);
  }
  mtr_account_free(a);
}

static void test_account_state_round_trip_and_rejects_garbage(void **st) {
  (void)st;
  house h;
  house_init(&h, T0);
  poll_once(&h, false);
  run(&h, 100, true);
  run(&h, 100, false);
  uint8_t buf[MTR_ACCOUNT_STATE_MAX], buf2[MTR_ACCOUNT_STATE_MAX];
  size_t len, len2;
  assert_int_equal(mtr_account_save(h.a, buf, sizeof buf, &len), 0);
  mtr_account_cfg c = cfg_default();
  mtr_account *b;
  assert_int_equal(mtr_account_new(&c, &b), 0);
  assert_int_equal(mtr_account_load(b, buf, len), 0);
  assert_int_equal(mtr_account_save(b, buf2, sizeof buf2, &len2), 0);
  assert_int_equal(len, len2);
  assert_memory_equal(buf, buf2, len);
  assert_int_equal(mtr_account_load(b, buf, len - 1), GL_EPARSE);
  buf[0] = 9;
  assert_int_equal(mtr_account_load(b, buf, len), GL_EPARSE);
  buf[0] = 1;
  mtr_account_cfg c30 = c;
  c30.interval_ns = 30 * MIN;
  mtr_account *d;
  assert_int_equal(mtr_account_new(&c30, &d), 0);
  assert_int_equal(mtr_account_load(d, buf, len), GL_ENOTSUP);
  assert_int_equal(mtr_account_save(h.a, buf, 10, &len), GL_ETOOBIG);
  mtr_account_free(b);
  mtr_account_free(d);
  house_free(&h);
}

static void test_account_rejects_bad_config(void **st) {
  (void)st;
  mtr_account_cfg c = cfg_default();
  mtr_account *a;
  c.interval_ns = 7 * MIN;
  assert_int_equal(mtr_account_new(&c, &a), GL_EINVAL);
  c = cfg_default();
  c.max_power_w = 0;
  assert_int_equal(mtr_account_new(&c, &a), GL_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_account_exact_interval_from_counter_differences),
      cmocka_unit_test(test_account_start_mid_interval_is_estimated),
      cmocka_unit_test(test_account_restart_mid_interval_gives_same_totals),
      cmocka_unit_test(test_account_counter_reset_counts_energy_since_reset),
      cmocka_unit_test(test_account_rollover_of_32_bit_counter),
      cmocka_unit_test(test_account_scale_change_is_flagged_and_continuous),
      cmocka_unit_test(test_account_jump_is_treated_as_reset),
      cmocka_unit_test(test_account_failed_polls_flag_device_offline),
      cmocka_unit_test(test_account_offline_across_boundary_splits_and_flags),
      cmocka_unit_test(test_account_device_back_within_close_wait_is_exact),
      cmocka_unit_test(test_account_agent_down_gives_missing_intervals),
      cmocka_unit_test(test_account_long_gap_split_is_exact),
      cmocka_unit_test(test_account_device_never_answering_gives_missing),
      cmocka_unit_test(test_account_forward_clock_step),
      cmocka_unit_test(test_account_backward_clock_step_keeps_interval_open),
      cmocka_unit_test(test_account_backward_step_across_restart),
      cmocka_unit_test(test_account_year_long_glitch_is_not_believed),
      cmocka_unit_test(test_account_large_forward_step_that_holds_is_accepted),
      cmocka_unit_test(test_account_large_backward_step_that_holds_reanchors),
      cmocka_unit_test(test_account_restart_with_clock_behind_counts_downtime),
      cmocka_unit_test(test_account_saved_state_in_the_future_is_left_behind),
      cmocka_unit_test(test_account_backfill_counts),
      cmocka_unit_test(test_account_absent_counter_is_not_a_gap),
      cmocka_unit_test(test_account_impossible_counter_value_is_ignored),
      cmocka_unit_test(test_account_counter_always_impossible_gives_no_total),
      cmocka_unit_test(test_account_energy_beyond_protocol_limit_is_capped),
      cmocka_unit_test(test_account_copy_restores_a_handed_out_interval),
      cmocka_unit_test(test_account_inverter_asleep_leaves_grid_readings_exact),
      cmocka_unit_test(test_account_state_round_trip_and_rejects_garbage),
      cmocka_unit_test(test_account_rejects_bad_config),
  };
  gl_log_set_level(GL_LOG_ERROR);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
