/* SPDX-License-Identifier: MIT */
/*
 * gridlet-market, the real binary, on real files: clearing order books by
 * every rule, rejecting malformed lines with file:line and reason, usage
 * errors, and generating and replaying an order stream (deterministically).
 */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static char dir[GT_PATH_MAX];

/* Run gridlet-market with the NULL-terminated args; returns its exit status and
 * its output (stdout and stderr, malloc'd) in *out. */
static int run(char **out, ...) {
  static int seq;
  char bin[GT_PATH_MAX], log[GT_PATH_MAX], name[32];
  gt_build_path(bin, "market/gridlet-market");
  snprintf(name, sizeof name, "run%d.log", seq++);
  gt_path(log, dir, name);
  char *argv[16] = {bin};
  va_list ap;
  va_start(ap, out);
  for (int i = 1; i < 15 && (argv[i] = va_arg(ap, char *)) != NULL; i++)
    ;
  va_end(ap);
  pid_t pid = gt_proc_start(argv, log, NULL);
  int status = gt_proc_wait(pid, 60000);
  assert_true(status != -1 && WIFEXITED(status));
  *out = gt_read_file(log, NULL);
  assert_non_null(*out);
  return WEXITSTATUS(status);
}

static const char *write_book(const char *name, const char *text) {
  static char path[GT_PATH_MAX];
  gt_path(path, dir, name);
  gt_write_file(path, text, (size_t)-1);
  return path;
}

static const char textbook[] = "side,participant,qty_wh,price\n"
                               "# bids 30, 25, 20 and offers 15, 22, 28\n"
                               "buy,1,100,30\n"
                               "buy,2,100,25\n"
                               "buy,3,100,20\n"
                               "sell,4,100,15\n"
                               "sell,5,100,22\n"
                               "sell,6,100,28\n";

static void test_cli_clears_by_each_rule(void **state) {
  (void)state;
  const char *book = write_book("book.csv", textbook);
  char *out;
  assert_int_equal(run(&out, "clear", "--rule", "marginal", book, NULL), 0);
  assert_string_equal(out, "price=24 volume=200\n"
                           "trade buy_line=3 sell_line=6 buyer=1 seller=4 "
                           "qty=100 price=24\n"
                           "trade buy_line=4 sell_line=7 buyer=2 seller=5 "
                           "qty=100 price=24\n");
  free(out);
  assert_int_equal(run(&out, "clear", "--rule", "k", "--k", "0.25", book, NULL),
                   0);
  assert_true(strncmp(out, "price=23 volume=200\n", 20) == 0);
  free(out);
  assert_int_equal(run(&out, "clear", "--rule", "pay-as-bid", book, NULL), 0);
  assert_string_equal(out, "price=28 volume=200\n"
                           "trade buy_line=3 sell_line=6 buyer=1 seller=4 "
                           "qty=100 price=30\n"
                           "trade buy_line=4 sell_line=7 buyer=2 seller=5 "
                           "qty=100 price=25\n");
  free(out);
  /* McAfee with trade reduction: buyers and sellers see different prices. */
  const char *units = write_book("units.csv", "buy,1,1,100000\n"
                                              "buy,2,1,90000\n"
                                              "buy,3,1,80000\n"
                                              "buy,4,1,10000\n"
                                              "sell,5,1,10000\n"
                                              "sell,6,1,20000\n"
                                              "sell,7,1,70000\n"
                                              "sell,8,1,200000\n");
  assert_int_equal(run(&out, "clear", "--rule", "mcafee", units, NULL), 0);
  assert_string_equal(out,
                      "price=75000 volume=2 buy_price=80000 sell_price=70000\n"
                      "trade buy_line=1 sell_line=5 buyer=1 seller=5 qty=1 "
                      "buy_price=80000 sell_price=70000\n"
                      "trade buy_line=2 sell_line=6 buyer=2 seller=6 qty=1 "
                      "buy_price=80000 sell_price=70000\n");
  free(out);
}

static void test_cli_applies_band_and_fee(void **state) {
  (void)state;
  const char *book =
      write_book("band.csv", "buy,1,1500,400000\nsell,2,1500,50000\n");
  char *out;
  assert_int_equal(run(&out, "clear", "--band", "80000,300000", "--fee",
                       "10000", book, NULL),
                   0);
  /* Clamped to 300000 and 80000, midpoint 190000; fee 1500 * 10000 / 1000. */
  assert_string_equal(out, "price=190000 volume=1500\n"
                           "trade buy_line=1 sell_line=2 buyer=1 seller=2 "
                           "qty=1500 price=190000 fee=15000\n");
  free(out);
}

static void test_cli_empty_book_prints_no_price(void **state) {
  (void)state;
  const char *book = write_book("empty.csv", "# nothing to trade\n");
  char *out;
  assert_int_equal(run(&out, "clear", book, NULL), 0);
  assert_string_equal(out, "price=none volume=0\n");
  free(out);
}

static void test_cli_rejects_malformed_lines_with_file_and_line(void **state) {
  (void)state;
  const char *book = write_book("bad.csv", "buy,1,100,30\n"
                                           "hold,1,100,30\n"
                                           "sell,2,-5,20\n");
  char *out;
  assert_int_equal(run(&out, "clear", book, NULL), 1);
  char want[GT_PATH_MAX + 128];
  snprintf(want, sizeof want, "%s:2: side must be buy or sell, got 'hold'",
           book);
  assert_non_null(strstr(out, want));
  snprintf(want, sizeof want, "%s:3: qty_wh must be an integer", book);
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "2 malformed lines"));
  assert_null(strstr(out, "price=")); /* nothing cleared */
  free(out);
  char missing[GT_PATH_MAX];
  gt_path(missing, dir, "no-such.csv");
  assert_int_equal(run(&out, "clear", missing, NULL), 1);
  assert_non_null(strstr(out, "cannot open"));
  free(out);
}

static void test_cli_usage_errors_exit_2(void **state) {
  (void)state;
  char *out;
  assert_int_equal(run(&out, "clear", "--rule", "vickrey", "x", NULL), 2);
  assert_non_null(strstr(out, "unknown rule 'vickrey'"));
  free(out);
  assert_int_equal(run(&out, "clear", "--k", "1.5", "x", NULL), 2);
  assert_non_null(strstr(out, "--k must be a number in [0, 1]"));
  free(out);
  assert_int_equal(run(&out, "clear", "--band", "300,100", "x", NULL), 2);
  free(out);
  assert_int_equal(run(&out, "frobnicate", NULL), 2);
  free(out);
  assert_int_equal(run(&out, "--help", NULL), 0);
  assert_non_null(strstr(out, "usage:"));
  free(out);
}

static void
test_cli_generates_and_replays_streams_deterministically(void **state) {
  (void)state;
  char s1[GT_PATH_MAX], s2[GT_PATH_MAX];
  gt_path(s1, dir, "a.bin");
  gt_path(s2, dir, "b.bin");
  char *out;
  assert_int_equal(run(&out, "gen", "--households", "200", "--intervals", "3",
                       "-o", s1, NULL),
                   0);
  free(out);
  assert_int_equal(run(&out, "gen", "--households", "200", "--intervals", "3",
                       "-o", s2, NULL),
                   0);
  free(out);
  size_t l1, l2;
  char *b1 = gt_read_file(s1, &l1), *b2 = gt_read_file(s2, &l2);
  assert_int_equal(l1, l2);
  assert_int_equal(l1 % 24, 0);
  assert_memory_equal(b1, b2, l1);
  free(b1);
  free(b2);
  /* The same stream as the pinned one in test_market_stream. */
  assert_int_equal(run(&out, "replay", s1, NULL), 0);
  assert_non_null(strstr(out, "checksum: trades=912 qty=461473 "
                              "cost=80727884700 resting_at_close=249 "
                              "hash=4e18745de4803c71\n"));
  free(out);
  /* A truncated stream is refused. */
  size_t len;
  char *bytes = gt_read_file(s1, &len);
  gt_write_file(s2, bytes, len - 5);
  free(bytes);
  assert_int_equal(run(&out, "replay", s2, NULL), 1);
  assert_non_null(strstr(out, "not a whole number of 24-byte records"));
  free(out);
}

static int setup(void **state) {
  (void)state;
  gt_tmpdir("market-cli", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_clears_by_each_rule),
      cmocka_unit_test(test_cli_applies_band_and_fee),
      cmocka_unit_test(test_cli_empty_book_prints_no_price),
      cmocka_unit_test(test_cli_rejects_malformed_lines_with_file_and_line),
      cmocka_unit_test(test_cli_usage_errors_exit_2),
      cmocka_unit_test(
          test_cli_generates_and_replays_streams_deterministically),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
