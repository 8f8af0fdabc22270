/* SPDX-License-Identifier: MIT */
/*
 * The CSV order-book parser: what it accepts (header, comments, spaces,
 * CRLF, any case), what it rejects and how it says so (line number and
 * reason), and that a callback can stop it.
 */
#include "gridlet/error.h"
#include "gridlet/market_csv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct seen {
  mkt_order o[16];
  size_t n;
  mkt_csv_error e[16];
  size_t ne;
  int stop_after; /* return GL_EFULL after this many orders (0: never) */
} seen;

static int on_order(void *ctx, const mkt_order *o) {
  seen *s = ctx;
  if (s->stop_after && (int)s->n == s->stop_after)
    return GL_EFULL;
  s->o[s->n++] = *o;
  return 0;
}

static void on_error(void *ctx, const mkt_csv_error *e) {
  seen *s = ctx;
  s->e[s->ne++] = *e;
}

static int parse(const char *text, seen *s) {
  memset(s, 0, sizeof *s);
  size_t nerr;
  int rc = mkt_csv_parse(text, strlen(text), 5, on_order, on_error, s, &nerr);
  assert_int_equal(nerr, s->ne);
  return rc;
}

static void test_csv_reads_orders_with_header_and_comments(void **state) {
  (void)state;
  seen s;
  const char *text = "# a book\n"
                     "\n"
                     "Side, Participant, qty_wh, PRICE\r\n"
                     "buy,17,1500,250000\n"
                     "  sell , 4 , 800 , 120000   # cheap PV\r\n"
                     "BUY,4294967295,1,-1000000000\n"
                     "sell,0,1000000000,1000000000";
  assert_int_equal(parse(text, &s), 0);
  assert_int_equal(s.n, 4);
  assert_int_equal(s.o[0].side, MKT_BUY);
  assert_int_equal(s.o[0].participant, 17);
  assert_int_equal(s.o[0].qty, 1500);
  assert_int_equal(s.o[0].price, 250000);
  assert_int_equal(s.o[0].id, 4); /* its line number */
  assert_int_equal(s.o[0].interval, 5);
  assert_int_equal(s.o[1].side, MKT_SELL);
  assert_int_equal(s.o[1].participant, 4);
  assert_int_equal(s.o[1].id, 5);
  assert_int_equal(s.o[2].participant, UINT32_MAX);
  assert_int_equal(s.o[2].price, -MKT_PRICE_MAX);
  assert_int_equal(s.o[3].qty, MKT_QTY_MAX);
  assert_int_equal(s.o[3].id, 7);
}

static void test_csv_reports_each_bad_line_with_reason(void **state) {
  (void)state;
  seen s;
  const char *text = "buy,1,100,25\n"                  /* 1 good */
                     "hold,1,100,25\n"                 /* 2 side */
                     "buy,1,100\n"                     /* 3 fields */
                     "buy,-1,100,25\n"                 /* 4 participant */
                     "buy,1,0,25\n"                    /* 5 qty */
                     "buy,1,1e3,25\n"                  /* 6 qty */
                     "sell,1,10,25.5\n"                /* 7 price */
                     "sell,1,10,2000000000\n"          /* 8 price */
                     "side,participant,qty_wh,price\n" /* 9 late header */
                     "buy,1,100,25,7\n"                /* 10 fields */
                     "sell,2,50,20\n";                 /* 11 good */
  assert_int_equal(parse(text, &s), GL_EPARSE);
  assert_int_equal(s.n, 2); /* good lines are still delivered */
  assert_int_equal(s.o[1].id, 11);
  static const struct {
    size_t line;
    const char *needle;
  } want[] = {{2, "side must be buy or sell, got 'hold'"},
              {3, "expected 4 fields"},
              {4, "participant must be an integer"},
              {5, "qty_wh must be an integer 1..1000000000 Wh, got '0'"},
              {6, "got '1e3'"},
              {7, "price must be an integer"},
              {8, "got '2000000000'"},
              {9, "header is only allowed on the first line"},
              {10, "got 5"}};
  assert_int_equal(s.ne, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < s.ne; i++) {
    assert_int_equal(s.e[i].line, want[i].line);
    if (!strstr(s.e[i].reason, want[i].needle))
      fail_msg("line %zu: '%s' lacks '%s'", s.e[i].line, s.e[i].reason,
               want[i].needle);
  }
}

static void test_csv_rejects_bad_header_and_odd_bytes(void **state) {
  (void)state;
  seen s;
  assert_int_equal(parse("side,who,qty,price\nbuy,1,1,1\n", &s), GL_EPARSE);
  assert_int_equal(s.ne, 1);
  assert_true(strstr(s.e[0].reason, "bad header") != NULL);
  assert_int_equal(s.n, 1);

  /* NUL inside a line, and unprintable bytes shown escaped. */
  memset(&s, 0, sizeof s);
  const char nul[] = "buy,1,1,1\nbuy,1\0,1,1\nbu\x01y,1,1,1\n";
  size_t nerr;
  assert_int_equal(
      mkt_csv_parse(nul, sizeof nul - 1, 0, on_order, on_error, &s, &nerr),
      GL_EPARSE);
  assert_int_equal(nerr, 2);
  assert_int_equal(s.e[0].line, 2);
  assert_true(strstr(s.e[0].reason, "NUL") != NULL);
  assert_int_equal(s.e[1].line, 3);
  assert_true(strstr(s.e[1].reason, "'bu\\x01y'") != NULL);

  /* An over-long line. */
  static char big[MKT_CSV_LINE_MAX + 64];
  memset(big, ' ', sizeof big - 1);
  memcpy(big, "buy,1,1,1", 9);
  big[sizeof big - 1] = '\0';
  assert_int_equal(parse(big, &s), GL_EPARSE);
  assert_true(strstr(s.e[0].reason, "longer than 1024") != NULL);

  /* A long field is shortened in the message. */
  assert_int_equal(parse("buy,1,1,123456789012345678901234567890123\n", &s),
                   GL_EPARSE);
  assert_true(strstr(s.e[0].reason, "...") != NULL);
}

static void test_csv_empty_and_comment_only_inputs_are_fine(void **state) {
  (void)state;
  seen s;
  assert_int_equal(parse("", &s), 0);
  assert_int_equal(parse("# nothing\n\n   \n", &s), 0);
  assert_int_equal(parse("side,participant,qty_wh,price\n", &s), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(mkt_csv_count_lines("", 0), 0);
  assert_int_equal(mkt_csv_count_lines("a\nb", 3), 2);
  assert_int_equal(mkt_csv_count_lines("a\nb\n", 4), 2);
}

static void test_csv_callback_can_stop_parsing(void **state) {
  (void)state;
  seen s;
  memset(&s, 0, sizeof s);
  s.stop_after = 2;
  const char *text = "buy,1,1,1\nbuy,1,1,1\nbuy,1,1,1\nbad\n";
  assert_int_equal(
      mkt_csv_parse(text, strlen(text), 0, on_order, NULL, &s, NULL), GL_EFULL);
  assert_int_equal(s.n, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_reads_orders_with_header_and_comments),
      cmocka_unit_test(test_csv_reports_each_bad_line_with_reason),
      cmocka_unit_test(test_csv_rejects_bad_header_and_odd_bytes),
      cmocka_unit_test(test_csv_empty_and_comment_only_inputs_are_fine),
      cmocka_unit_test(test_csv_callback_can_stop_parsing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
