/* SPDX-License-Identifier: MIT */
/* Unit tests for table-driven configuration: every error names file:line:key.
 */
#include "gridlet/clock.h"
#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct cfg {
  char community[32];
  char host[64];
  int64_t port;
  bool tls;
  int64_t poll;
  int64_t feed_in;
  int mode;
  char id[16];
} cfg;

static const char *const modes[] = {"expost", "exante", "continuous", NULL};

static const gl_conf_item items[] = {
    GL_CONF_STR("", "community", cfg, community, "demo", "community name"),
    GL_CONF_STR("mqtt", "host", cfg, host, "localhost", "broker host"),
    GL_CONF_INTEGER("mqtt", "port", cfg, port, "8883", 1, 65535, "broker port"),
    GL_CONF_BOOLEAN("mqtt", "tls", cfg, tls, "yes", "use TLS"),
    GL_CONF_DUR("meter", "poll", cfg, poll, "5s", GL_NS_PER_SEC,
                3600 * GL_NS_PER_SEC, "poll period"),
    GL_CONF_DEC("market", "feed_in", cfg, feed_in, "0.08", 6, 0, 10000000,
                "feed-in tariff per kWh"),
    GL_CONF_CHOICE("market", "mode", cfg, mode, "expost", modes, "market mode"),
    {"meter", "id", GL_CONF_STRING, offsetof(cfg, id), sizeof(((cfg *)0)->id),
     NULL, 1, 15, true, 0, NULL, "meter id"},
};
#define NITEMS (sizeof items / sizeof items[0])

static int load(const char *text, cfg *c, gl_conf_errors *e) {
  memset(c, 0x5a, sizeof *c);
  return gl_conf_load_buffer(items, NITEMS, c, "meter.conf", text, strlen(text),
                             e);
}

/* Assert that exactly one error was reported and that it is `want`. */
static void expect_one_error(const char *text, const char *want) {
  cfg c;
  gl_conf_errors e;
  assert_int_equal(load(text, &c, &e), GL_ECONFIG);
  if (e.count != 1 || strcmp(e.msg[0], want) != 0) {
    for (int i = 0; i < e.count && i < GL_CONF_MAX_ERRORS; i++)
      print_error("got: %s\n", e.msg[i]);
    print_error("want: %s\n", want);
    fail();
  }
}

static void test_defaults_apply_when_keys_absent(void **state) {
  (void)state;
  cfg c;
  gl_conf_errors e;
  assert_int_equal(load("[meter]\nid = m1\n", &c, &e), 0);
  assert_int_equal(e.count, 0);
  assert_string_equal(c.community, "demo");
  assert_string_equal(c.host, "localhost");
  assert_int_equal(c.port, 8883);
  assert_true(c.tls);
  assert_int_equal(c.poll, 5 * GL_NS_PER_SEC);
  assert_int_equal(c.feed_in, 80000);
  assert_int_equal(c.mode, 0);
  assert_string_equal(c.id, "m1");
}

static void test_every_type_parses(void **state) {
  (void)state;
  cfg c;
  gl_conf_errors e;
  const char *text = "\xEF\xBB\xBF; a comment\n"
                     "# another\n"
                     "community = \"oak street\"\r\n"
                     "\n"
                     "[mqtt]\n"
                     "host: broker.example\n"
                     "port = 1883 ; inline comment\n"
                     "tls = off\n"
                     "[meter]\n"
                     "poll = 1m30s\n"
                     "id = meter-7\n"
                     "[market]\n"
                     "feed_in = 0.075\n"
                     "mode = continuous\n";
  int rc = load(text, &c, &e);
  for (int i = 0; i < e.count; i++)
    print_error("%s\n", e.msg[i]);
  assert_int_equal(rc, 0);
  assert_string_equal(c.community, "oak street");
  assert_string_equal(c.host, "broker.example");
  assert_int_equal(c.port, 1883);
  assert_false(c.tls);
  assert_int_equal(c.poll, 90 * GL_NS_PER_SEC);
  assert_int_equal(c.feed_in, 75000);
  assert_int_equal(c.mode, 2);
  assert_string_equal(c.id, "meter-7");
}

static void test_unknown_key_names_file_line_key(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\n[mqtt]\nhots = x\n",
                   "meter.conf:4: mqtt.hots: unknown key");
}

static void test_unknown_section_is_an_error(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\n[mqqt]\nhost = x\n",
                   "meter.conf:3: unknown section [mqqt]");
  /* even with no keys under it */
  expect_one_error("[meter]\nid = m1\n[mqqt]\n",
                   "meter.conf:3: unknown section [mqqt]");
}

static void test_bad_number_names_file_line_key(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\n[mqtt]\nport = 18x3\n",
                   "meter.conf:4: mqtt.port: \"18x3\" is not an integer");
  expect_one_error("[meter]\nid = m1\n[mqtt]\nport = \n",
                   "meter.conf:4: mqtt.port: \"\" is not an integer");
  expect_one_error(
      "[meter]\nid = m1\n[mqtt]\nport = 99999999999999999999\n",
      "meter.conf:4: mqtt.port: \"99999999999999999999\" is out of range");
  expect_one_error(
      "[meter]\nid = m1\n[market]\nfeed_in = 0.0000001\n",
      "meter.conf:4: market.feed_in: \"0.0000001\" is too large or has "
      "more than 6 digits after the point");
  expect_one_error(
      "[meter]\nid = m1\n[market]\nfeed_in = 1,5\n",
      "meter.conf:4: market.feed_in: \"1,5\" is not a decimal number");
  expect_one_error(
      "[meter]\nid = m1\npoll = 5 seconds\n",
      "meter.conf:3: meter.poll: \"5 seconds\" is not a duration (a "
      "number and a unit: 500ms, 5s, 15m, 1h)");
  expect_one_error(
      "[meter]\nid = m1\n[mqtt]\ntls = maybe\n",
      "meter.conf:4: mqtt.tls: \"maybe\" is not a boolean (true/false, "
      "yes/no, on/off, 1/0)");
  expect_one_error(
      "[meter]\nid = m1\n[market]\nmode = auction\n",
      "meter.conf:4: market.mode: \"auction\" is not one of: expost "
      "exante continuous");
}

static void test_out_of_range_names_bounds(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\n[mqtt]\nport = 70000\n",
                   "meter.conf:4: mqtt.port: 70000 is out of range 1..65535");
  expect_one_error("[meter]\nid = m1\n[mqtt]\nport = 0\n",
                   "meter.conf:4: mqtt.port: 0 is out of range 1..65535");
  expect_one_error("[meter]\nid = m1\npoll = 2h\n",
                   "meter.conf:3: meter.poll: 2h is out of range 1s..1h");
  expect_one_error("[meter]\nid = m1\n[market]\nfeed_in = 11\n",
                   "meter.conf:4: market.feed_in: 11 is out of range "
                   "0.000000..10.000000");
  expect_one_error("[meter]\nid = \n",
                   "meter.conf:2: meter.id: required setting is empty");
  expect_one_error(
      "[meter]\nid = this-id-is-too-long\n",
      "meter.conf:2: meter.id: value is 19 characters long, at most "
      "15 allowed");
  expect_one_error(
      "[meter]\nid = m1\n[mqtt]\nhost = "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
      "meter.conf:4: mqtt.host: value is 69 characters long, at most 63 "
      "allowed");
}

static void test_broken_lines_are_rejected(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\njust some words\n",
                   "meter.conf:3: expected \"key = value\" or \"[section]\"");
  expect_one_error("[meter]\nid = m1\n[mqtt\n",
                   "meter.conf:3: section header without closing ']'");
  expect_one_error("[meter]\nid = m1\n= 5\n",
                   "meter.conf:3: missing key name before '='");
  expect_one_error(
      "[meter]\nid = m1\n  continued\n",
      "meter.conf:3: line starts with whitespace (continuation lines "
      "are not supported; write the value on one line)");
  expect_one_error("[meter]\nid = m1\n[mqtt] junk\n",
                   "meter.conf:3: text after section header");
  char text[600];
  int off = snprintf(text, sizeof text, "[meter]\nid = m1\n[mqtt]\nhost = ");
  memset(text + off, 'h', 300);
  snprintf(text + off + 300, sizeof text - (size_t)off - 300, "\n");
  expect_one_error(text,
                   "meter.conf:4: line is 307 bytes long, at most 198 allowed");
}

/* A table item without a minimum length: "required" alone must refuse an
 * empty value, and the generated conffile's "key = " placeholder with it. */
typedef struct req_cfg {
  char name[16];
} req_cfg;
static const gl_conf_item req_items[] = {
    {"", "name", GL_CONF_STRING, offsetof(req_cfg, name),
     sizeof(((req_cfg *)0)->name), NULL, 0, 0, true, 0, NULL,
     "a required name"},
};

static void test_required_setting_may_not_be_empty(void **state) {
  (void)state;
  req_cfg rc;
  gl_conf_errors e;
  const char *texts[] = {"name =\n", "name =    \n", "name = \"\"\n"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(gl_conf_load_buffer(req_items, 1, &rc, "r.conf", texts[i],
                                         strlen(texts[i]), &e),
                     GL_ECONFIG);
    assert_string_equal(e.msg[0], "r.conf:1: name: required setting is empty");
  }
  char err[128];
  assert_int_equal(gl_conf_set(req_items, 1, &rc, "name=", err, sizeof err),
                   GL_ECONFIG);
  assert_string_equal(err, "name: required setting is empty");
  assert_int_equal(
      gl_conf_load_buffer(req_items, 1, &rc, "r.conf", "name = x\n", 9, &e), 0);
}

static void
test_hash_after_value_and_control_characters_are_refused(void **state) {
  (void)state;
  expect_one_error(
      "[meter]\nid = m1\n[mqtt]\nhost = broker.example # backup\n",
      "meter.conf:4: mqtt.host: '#' after a value is not a comment "
      "(inline comments start with \" ;\"; '#' only at the start of a "
      "line)");
  expect_one_error(
      "[meter]\nid = m1\n[mqtt]\nhost = bro\x01ker\n",
      "meter.conf:4: mqtt.host: control character (0x01) in the value");
  /* a '#' inside a word stays part of the value */
  cfg c;
  gl_conf_errors e;
  assert_int_equal(load("[meter]\nid = m#1\n", &c, &e), 0);
  assert_string_equal(c.id, "m#1");
}

static void test_duplicate_key_names_first_line(void **state) {
  (void)state;
  expect_one_error("[meter]\nid = m1\n[mqtt]\nport = 1\n\nport = 2\n",
                   "meter.conf:6: mqtt.port: set twice (first on line 4)");
}

static void test_missing_required_key_is_named(void **state) {
  (void)state;
  expect_one_error("[mqtt]\nport = 1883\n",
                   "meter.conf: meter.id: required setting is missing");
}

static void test_all_errors_of_a_file_are_reported(void **state) {
  (void)state;
  cfg c;
  gl_conf_errors e;
  const char *text = "[mqtt]\nport = x\ntls = 2\nfoo = 1\n[meter]\nbroken\n";
  assert_int_equal(load(text, &c, &e), GL_ECONFIG);
  assert_int_equal(e.count, 5);
  assert_string_equal(e.msg[0],
                      "meter.conf:2: mqtt.port: \"x\" is not an integer");
  assert_non_null(strstr(e.msg[1], "meter.conf:3: mqtt.tls:"));
  assert_string_equal(e.msg[2], "meter.conf:4: mqtt.foo: unknown key");
  assert_non_null(strstr(e.msg[3], "meter.conf:6: expected"));
  assert_string_equal(e.msg[4],
                      "meter.conf: meter.id: required setting is missing");
}

static void test_error_list_is_bounded(void **state) {
  (void)state;
  char text[4096];
  size_t off = (size_t)snprintf(text, sizeof text, "[meter]\nid = m\n");
  for (int i = 0; i < 40; i++)
    off += (size_t)snprintf(text + off, sizeof text - off, "nope = 1\n");
  cfg c;
  gl_conf_errors e;
  assert_int_equal(load(text, &c, &e), GL_ECONFIG);
  assert_int_equal(e.count, 40);
  assert_string_equal(e.msg[GL_CONF_MAX_ERRORS - 1],
                      "meter.conf:18: meter.nope: unknown key");
}

static void test_load_file_reads_and_reports_path(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("conf", dir);
  gt_path(path, dir, "meter.conf");
  gt_write_file(path, "[meter]\nid = m9\n[mqtt]\nport = 99999\n", (size_t)-1);
  cfg c;
  gl_conf_errors e;
  assert_int_equal(gl_conf_load_file(items, NITEMS, &c, path, &e), GL_ECONFIG);
  assert_int_equal(e.count, 1);
  char want[GT_PATH_MAX + 64];
  snprintf(want, sizeof want, "%s:4: mqtt.port: 99999 is out of range 1..65535",
           path);
  assert_string_equal(e.msg[0], want);

  gt_write_file(path, "[meter]\nid = m9\n", (size_t)-1);
  assert_int_equal(gl_conf_load_file(items, NITEMS, &c, path, &e), 0);
  assert_string_equal(c.id, "m9");

  gt_path(path, dir, "absent.conf");
  assert_int_equal(gl_conf_load_file(items, NITEMS, &c, path, &e), GL_ENOENT);
  gt_rmtree(dir);
}

static void test_set_overrides_one_key(void **state) {
  (void)state;
  cfg c;
  gl_conf_errors e;
  char err[256];
  assert_int_equal(load("[meter]\nid = m1\n", &c, &e), 0);
  assert_int_equal(
      gl_conf_set(items, NITEMS, &c, "mqtt.port=1884", err, sizeof err), 0);
  assert_int_equal(c.port, 1884);
  assert_int_equal(
      gl_conf_set(items, NITEMS, &c, "community=x", err, sizeof err), 0);
  assert_string_equal(c.community, "x");
  assert_int_equal(
      gl_conf_set(items, NITEMS, &c, "mqtt.port=0", err, sizeof err),
      GL_ECONFIG);
  assert_string_equal(err, "mqtt.port: 0 is out of range 1..65535");
  assert_int_equal(
      gl_conf_set(items, NITEMS, &c, "mqtt.nope=1", err, sizeof err),
      GL_ECONFIG);
  assert_string_equal(err, "mqtt.nope: unknown key");
  assert_int_equal(gl_conf_set(items, NITEMS, &c, "port", err, sizeof err),
                   GL_ECONFIG);
}

static void test_written_defaults_load_back(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_int_equal(gl_conf_write_defaults(items, NITEMS, f), 0);
  fclose(f);
  assert_non_null(
      strstr(buf, "; broker port\n; range: 1..65535\n;port = 8883\n"));
  assert_non_null(strstr(buf, "; one of: expost exante continuous\n"));
  /* A file with every line commented out loads, except for the required
   * key, which the generated file leaves for the user to fill in. */
  cfg c;
  gl_conf_errors e;
  assert_int_equal(load(buf, &c, &e), GL_ECONFIG);
  assert_int_equal(e.count, 1);
  assert_non_null(strstr(e.msg[0], "meter.id:"));
  free(buf);
}

static void test_parse_helpers(void **state) {
  (void)state;
  int64_t v;
  assert_int_equal(gl_conf_parse_int("-9223372036854775808", &v), 0);
  assert_true(v == INT64_MIN);
  assert_int_equal(gl_conf_parse_int("9223372036854775808", &v), GL_ERANGE);
  assert_int_equal(gl_conf_parse_int(" 1", &v), GL_EPARSE);
  assert_int_equal(gl_conf_parse_int("1 ", &v), GL_EPARSE);
  assert_int_equal(gl_conf_parse_int("0x10", &v), GL_EPARSE);
  assert_int_equal(gl_conf_parse_decimal("-1.5", 2, &v), 0);
  assert_int_equal(v, -150);
  assert_int_equal(gl_conf_parse_decimal(".5", 1, &v), 0);
  assert_int_equal(v, 5);
  assert_int_equal(gl_conf_parse_decimal("3", 0, &v), 0);
  assert_int_equal(v, 3);
  assert_int_equal(gl_conf_parse_decimal("3.", 2, &v), GL_EPARSE);
  assert_int_equal(gl_conf_parse_decimal("1e3", 2, &v), GL_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_apply_when_keys_absent),
      cmocka_unit_test(test_every_type_parses),
      cmocka_unit_test(test_unknown_key_names_file_line_key),
      cmocka_unit_test(test_unknown_section_is_an_error),
      cmocka_unit_test(test_bad_number_names_file_line_key),
      cmocka_unit_test(test_out_of_range_names_bounds),
      cmocka_unit_test(test_broken_lines_are_rejected),
      cmocka_unit_test(test_required_setting_may_not_be_empty),
      cmocka_unit_test(
          test_hash_after_value_and_control_characters_are_refused),
      cmocka_unit_test(test_duplicate_key_names_first_line),
      cmocka_unit_test(test_missing_required_key_is_named),
      cmocka_unit_test(test_all_errors_of_a_file_are_reported),
      cmocka_unit_test(test_error_list_is_bounded),
      cmocka_unit_test(test_load_file_reads_and_reports_path),
      cmocka_unit_test(test_set_overrides_one_key),
      cmocka_unit_test(test_written_defaults_load_back),
      cmocka_unit_test(test_parse_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
