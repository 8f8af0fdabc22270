/* SPDX-License-Identifier: MIT */
/*
 * Integration test of the command-line tools as an operator and a
 * household use them: gridlet-ca (init, broker-config, service, sign,
 * list, verify, revoke, crl, show, dev-community) and gridlet-meter
 * (keygen, csr), run as real processes on a real CA directory. Checks exit
 * codes (0 done, 1 refused, 2 usage) and that refusals say why.
 */
#include "gridlet/clock.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_key.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char root[GT_PATH_MAX], ca_dir[GT_PATH_MAX];
static char ca_tool[GT_PATH_MAX], meter_tool[GT_PATH_MAX];
static char out[65536]; /* the last command's stdout and stderr */

/* Run argv (NULL-terminated); returns the exit code, output in `out`. */
static int run(char *const argv[]) {
  char log[GT_PATH_MAX];
  gt_path(log, root, "cmd.log");
  unlink(log);
  pid_t pid = gt_proc_start(argv, log, NULL);
  int st = gt_proc_wait(pid, 30000);
  assert_true(st != -1 && WIFEXITED(st));
  char *text = gt_read_file(log, NULL);
  snprintf(out, sizeof out, "%s", text ? text : "");
  free(text);
  return WEXITSTATUS(st);
}

static void expect(int code, const char *needle, char *const argv[]) {
  int got = run(argv);
  if (got != code || (needle && !strstr(out, needle)))
    fail_msg("%s %s: exit %d (wanted %d, with \"%s\"):\n%s", argv[0],
             argv[1] ? argv[1] : "", got, code, needle ? needle : "", out);
}

#define CA(...) ((char *const[]){ca_tool, "--dir", ca_dir, __VA_ARGS__, NULL})
#define METER(...) ((char *const[]){meter_tool, __VA_ARGS__, NULL})

static char *p(const char *name) {
  static char bufs[8][GT_PATH_MAX];
  static int i;
  char *b = bufs[i++ % 8];
  return gt_path(b, root, name);
}

static int setup(void **state) {
  (void)state;
  gt_tmpdir("pki-cli", root);
  gt_path(ca_dir, root, "ca");
  gt_build_path(ca_tool, "certs/gridlet-ca");
  gt_build_path(meter_tool, "meter/gridlet-meter");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(root);
  return 0;
}

static void test_cli_operator_and_household_workflow(void **state) {
  (void)state;
  expect(0, "created the CA of community \"elm\"",
         CA("init", "--community", "elm"));
  expect(1, "already holds a CA", CA("init", "--community", "elm"));
  expect(0, "broker.key",
         CA("broker-config", "--out", p("broker"), "--port", "18883", "--dns",
            "mqtt.elm.example", "--ip", "192.0.2.1"));
  expect(0, "issued aggregator",
         CA("service", "aggregator", "--out", p("agg"), "--dns",
            "agg.elm.example"));
  struct stat st;
  assert_int_equal(stat(p("agg/aggregator.key"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  /* The household. */
  expect(0, "give it to your community operator",
         METER("keygen", "--id", "meter-010", "--key", p("m.key"), "--csr",
               p("m.csr")));
  expect(1, "already has a key",
         METER("keygen", "--id", "meter-010", "--key", p("m.key"), "--csr",
               p("m.csr")));
  expect(0, "meter-010",
         METER("csr", "--id", "meter-010", "--key", p("m.key"), "--csr",
               p("m2.csr")));

  /* The operator. */
  expect(0, "subject   CN=meter-010", CA("show", p("m.csr")));
  expect(0, "issued meter-010", CA("sign", "--out", p("m.pem"), p("m.csr")));
  expect(1, "already enrolled", CA("sign", p("m2.csr")));
  expect(0, "issued meter-010", CA("sign", "--replace", p("m2.csr")));
  expect(0, "meter-010", CA("list"));
  assert_null(strstr(out, "revoked"));
  expect(0, "superseded", CA("list", "--all"));
  expect(1, "revoked", CA("verify", "--role", "meter", p("m.pem")));
  char cur[GT_PATH_MAX];
  gt_path(cur, ca_dir, "certs/meter-010.pem");
  expect(0, "OK: \"meter-010\"", CA("verify", "--role", "meter", cur));
  expect(1, "does not name a meter",
         CA("verify", "--role", "meter", p("broker/broker.pem")));
  expect(0, "OK: \"broker\"",
         CA("verify", "--role", "broker", p("broker/broker.pem")));

  /* Revocation reaches the broker directory. */
  expect(0, "reload mosquitto",
         CA("revoke", "meter-010", "--reason", "cessationOfOperation"));
  char *acl = gt_read_file(p("broker/acl"), NULL);
  assert_non_null(strstr(acl, "user meter-010\ntopic deny #"));
  free(acl);
  expect(1, "cessationOfOperation", CA("verify", "--role", "meter", cur));
  expect(1, "no unrevoked certificate", CA("revoke", "meter-010"));
  expect(0, "new revocation list", CA("crl", "--days", "30"));
  /* It says when the next list is due (30 days from now). */
  {
    char due[GL_TIME_STR_MAX];
    gl_clock real = gl_clock_real();
    gl_time_format(gl_clock_now(&real) + INT64_C(30) * 86400 * GL_NS_PER_SEC,
                   due);
    due[10] = '\0'; /* the date; the test may straddle a second */
    assert_non_null(strstr(out, "it expires "));
    assert_non_null(strstr(strstr(out, "it expires "), due));
    assert_non_null(strstr(out, "issue the next one before then"));
  }
  expect(0, "revoked     2", CA("show", p("broker/crl.pem")));
  expect(0, "OK: revocation list", CA("verify", p("broker/crl.pem")));
}

#define CA2(...)                                                               \
  ((char *const[]){ca_tool, "--dir", p("ca2"), __VA_ARGS__, NULL})

/* Re-issuing a service identity needs --replace, and a re-issue whose new
 * key cannot be put in place leaves the running service's certificate
 * valid (before, it was revoked first and the new key lost). */
static void test_cli_service_replacement_is_explicit_and_safe(void **state) {
  (void)state;
  expect(0, "created the CA", CA2("init", "--community", "ash"));
  expect(0, "issued aggregator",
         CA2("service", "aggregator", "--out", p("agg2")));
  /* Keep a copy of the working certificate to check it later. */
  char *pem = gt_read_file(p("agg2/aggregator.pem"), NULL);
  gt_write_file(p("agg-old.pem"), pem, (size_t)-1);
  free(pem);
  expect(1, "--replace", CA2("service", "aggregator", "--out", p("agg3")));
  expect(0, "OK: \"aggregator\"",
         CA2("verify", "--role", "aggregator", p("agg-old.pem")));
  /* --out names a regular file: refused before anything is issued. */
  gt_write_file(p("plain"), "x", 1);
  expect(1, "plain",
         CA2("service", "aggregator", "--replace", "--out", p("plain")));
  expect(0, "OK: \"aggregator\"",
         CA2("verify", "--role", "aggregator", p("agg-old.pem")));
  /* The key cannot go in place (a directory stands where it must). */
  assert_int_equal(mkdir(p("agg4"), 0755), 0);
  assert_int_equal(mkdir(p("agg4/aggregator.key"), 0755), 0);
  expect(1, "nothing was issued",
         CA2("service", "aggregator", "--replace", "--out", p("agg4")));
  expect(0, "OK: \"aggregator\"",
         CA2("verify", "--role", "aggregator", p("agg-old.pem")));
  assert_false(access(p("agg4/aggregator.key.new"), F_OK) == 0);
  assert_false(access(p("agg4/aggregator.pem.new"), F_OK) == 0);
  assert_false(access(p("agg4/aggregator.pem"), F_OK) == 0);
  /* With --replace into a usable directory: the old one is superseded. */
  expect(0, "issued aggregator",
         CA2("service", "aggregator", "--replace", "--out", p("agg2")));
  expect(0, "OK: \"aggregator\"",
         CA2("verify", "--role", "aggregator", p("agg2/aggregator.pem")));
  expect(1, "superseded",
         CA2("verify", "--role", "aggregator", p("agg-old.pem")));
  assert_false(access(p("agg2/aggregator.key.new"), F_OK) == 0);
  struct stat st;
  assert_int_equal(stat(p("agg2/aggregator.key"), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* A CA key others can read is refused, with the fix in the message. */
  char key[GT_PATH_MAX];
  gt_path(key, p("ca2"), "ca.key");
  assert_int_equal(chmod(key, 0640), 0);
  expect(1, "chmod 600", CA2("list"));
  assert_int_equal(chmod(key, 0600), 0);
  expect(0, "aggregator", CA2("list"));
}

static void test_cli_refuses_bad_input_with_reasons(void **state) {
  (void)state;
  /* gridlet-meter checks the id before making anything. */
  expect(1, "reserved identity",
         METER("keygen", "--id", "admin", "--key", p("x.key"), "--csr",
               p("x.csr")));
  assert_false(access(p("x.key"), F_OK) == 0);
  expect(2, "usage", METER("launch"));
  expect(2, "cannot read", METER("run", "--config", p("none.conf")));
  expect(2, "--id", METER("keygen"));

  /* A CSR made elsewhere for a reserved name is refused by the CA. */
  gl_rand rand = gl_rand_system();
  pki_key k;
  char *pem;
  size_t len;
  assert_int_equal(pki_key_generate(PKI_KEY_ED25519, &rand, &k), 0);
  assert_int_equal(pki_csr_create(&k, "broker", &pem, &len), 0);
  gt_write_file(p("evil.csr"), pem, len);
  free(pem);
  expect(1, "reserved identity", CA("sign", p("evil.csr")));
  gt_write_file(p("junk.csr"), "not a request\n", (size_t)-1);
  expect(1, "CSR refused", CA("sign", p("junk.csr")));
  expect(1, "cannot read", CA("sign", p("missing.csr")));
  expect(2, "unknown command", CA("frobnicate"));
  expect(2, "--reason", CA("revoke", "meter-1", "--reason", "boredom"));
  expect(1, "holds no CA",
         ((char *const[]){ca_tool, "--dir", p("nowhere"), "list", NULL}));
}

static void test_cli_dev_community(void **state) {
  (void)state;
  expect(0, "with 3 meters",
         ((char *const[]){ca_tool, "dev-community", p("dev"), "--meters", "3",
                          "--port", "18884", NULL}));
  char dev_ca[GT_PATH_MAX], cert[GT_PATH_MAX];
  gt_path(dev_ca, root, "dev/ca");
  gt_path(cert, root, "dev/meters/meter-003/meter.pem");
  expect(0, "OK: \"meter-003\"",
         ((char *const[]){ca_tool, "--dir", dev_ca, "verify", "--role", "meter",
                          cert, NULL}));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_operator_and_household_workflow),
      cmocka_unit_test(test_cli_refuses_bad_input_with_reasons),
      cmocka_unit_test(test_cli_service_replacement_is_explicit_and_safe),
      cmocka_unit_test(test_cli_dev_community),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
