/* SPDX-License-Identifier: MIT */
/* The aggregator's configuration: defaults, cross-setting rules, errors. */
#include "gridlet/agg_config.h"
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int load(const char *text, agg_config *cfg, gl_conf_errors *errs) {
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("aggconf", dir);
  gt_path(path, dir, "aggregator.conf");
  gt_write_file(path, text, (size_t)-1);
  memset(errs, 0, sizeof *errs);
  int rc = agg_config_load(path, cfg, errs);
  gt_rmtree(dir);
  return rc;
}

static bool has_error(const gl_conf_errors *e, const char *needle) {
  for (int i = 0; i < e->count && i < GL_CONF_MAX_ERRORS; i++)
    if (strstr(e->msg[i], needle))
      return true;
  return false;
}

static void test_minimal_file_takes_documented_defaults(void **state) {
  (void)state;
  agg_config c;
  gl_conf_errors e;
  assert_int_equal(load("[community]\nname = oak-street\n", &c, &e), 0);
  assert_string_equal(c.community, "oak-street");
  assert_int_equal(c.mode, MKT_MODE_EXPOST);
  assert_int_equal(c.rule, MKT_RULE_MARGINAL);
  assert_int_equal(c.interval, 15 * 60 * GL_NS_PER_SEC);
  assert_int_equal(c.grace_eff, 3 * 60 * GL_NS_PER_SEC); /* a fifth */
  assert_int_equal(c.retail, 300000);
  assert_int_equal(c.feed_in, 80000);
  assert_string_equal(c.origin, "gridlet/oak-street");
  assert_string_equal(c.http_listen, "127.0.0.1:8480");
  assert_false(c.has_location);
}

static void test_community_name_is_required(void **state) {
  (void)state;
  agg_config c;
  gl_conf_errors e;
  assert_int_equal(load("[market]\nmode = exante\n", &c, &e), GL_ECONFIG);
  assert_true(has_error(&e, "community.name"));
}

static void test_cross_setting_rules_name_the_settings(void **state) {
  (void)state;
  agg_config c;
  gl_conf_errors e;
  assert_int_equal(load("[community]\nname = c1\nlatitude = 47.4\n"
                        "[market]\nfeed_in = 0.40\ninterval = 7m\n",
                        &c, &e),
                   GL_ECONFIG);
  assert_true(has_error(&e, "market.feed_in"));
  assert_true(has_error(&e, "market.interval"));
  assert_true(has_error(&e, "latitude and community.longitude"));
  assert_int_equal(load("[community]\nname = c1\n[market]\nmode = continuous\n"
                        "tick = 0.003\n",
                        &c, &e),
                   GL_ECONFIG);
  assert_true(has_error(&e, "market.tick"));
  assert_int_equal(load("[community]\nname = c1\nlatitude = 95\nlongitude = 8"
                        "\n",
                        &c, &e),
                   GL_ECONFIG);
  assert_true(has_error(&e, "community.latitude"));
}

static void test_location_and_market_settings_parse(void **state) {
  (void)state;
  agg_config c;
  gl_conf_errors e;
  assert_int_equal(
      load("[community]\nname = c1\nlatitude = 47.3769\nlongitude = -8.54\n"
           "[market]\nmode = continuous\nrule = mcafee\nretail = 0.31\n"
           "feed_in = 0.07\ntick = 0.001\ngrace = 90s\ninterval = 5m\n",
           &c, &e),
      0);
  assert_true(c.has_location);
  assert_int_equal(c.lat_udeg, 47376900);
  assert_int_equal(c.lon_udeg, -8540000);
  assert_int_equal(c.mode, MKT_MODE_CONTINUOUS);
  assert_int_equal(c.rule, MKT_RULE_MCAFEE);
  assert_int_equal(c.grace_eff, 90 * GL_NS_PER_SEC);
  mkt_interval_config m;
  agg_config_market(&c, &m);
  assert_int_equal(m.band.retail, 310000);
  assert_int_equal(m.band.feed_in, 70000);
}

static void test_default_file_round_trips(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("aggconf", dir);
  gt_path(path, dir, "default.conf");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(agg_config_write_defaults(f), 0);
  fclose(f);
  /* The written file only lacks the community name. */
  size_t len = 0;
  char *text = gt_read_file(path, &len);
  char *p = strstr(text, "name = \n");
  assert_non_null(p);
  char *fixed = malloc(len + 16);
  size_t head = (size_t)(p - text);
  memcpy(fixed, text, head);
  int n = snprintf(fixed + head, 16, "name = demo\n");
  memcpy(fixed + head + n, p + 8, len - head - 8 + 1);
  gt_write_file(path, fixed, (size_t)-1);
  agg_config c;
  gl_conf_errors e = {0};
  assert_int_equal(agg_config_load(path, &c, &e), 0);
  free(text);
  free(fixed);
  gt_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minimal_file_takes_documented_defaults),
      cmocka_unit_test(test_community_name_is_required),
      cmocka_unit_test(test_cross_setting_rules_name_the_settings),
      cmocka_unit_test(test_location_and_market_settings_parse),
      cmocka_unit_test(test_default_file_round_trips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
