/* SPDX-License-Identifier: MIT */
/*
 * Integration test: the community PKI against a real mosquitto started from
 * the configuration gridlet-ca generates, with real MQTT 5 clients (paho,
 * OpenSSL, TLS 1.3, Ed25519 client certificates).
 *
 * One development community is built (pki_dev_community), one more meter
 * is enrolled through the real command-line tools (gridlet-meter keygen,
 * gridlet-ca sign), and mosquitto is started by PID on a free port. Then:
 *   - an enrolled meter publishes on its own topic and the aggregator
 *     receives it;
 *   - a meter publishing under another meter's id, or publishing results,
 *     is refused (PUBACK "not authorized") and nothing reaches the
 *     aggregator;
 *   - a meter cannot read another meter's results;
 *   - a certificate from another CA (even one with the same name), no
 *     certificate, or the broker's server certificate cannot connect;
 *   - the listener speaks TLS 1.3 only, with Ed25519 certificates
 *     (checked with openssl s_client);
 *   - a meter revoked with gridlet-ca (and the broker reloaded) cannot
 *     connect, its open session loses all access, and the aggregator-side
 *     library check refuses its certificate.
 * Negative checks avoid sleeping where the broker's ordering allows: a
 * refused message published before an accepted one on the same connection
 * would have been delivered first.
 */
#include "mqttc.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pki_trust.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define ACCEPTED(rc) ((rc) >= 0 && (rc) < 0x80)
#define NOT_AUTHORIZED 0x87

static char root[GT_PATH_MAX], comm[GT_PATH_MAX], other[GT_PATH_MAX];
static char ca_dir[GT_PATH_MAX], mlog[GT_PATH_MAX], blog[GT_PATH_MAX];
static uint16_t port;
static pid_t broker;

/* Paths of one identity's files. */
typedef struct ident {
  char cert[GT_PATH_MAX], key[GT_PATH_MAX], ca[GT_PATH_MAX];
  mqttc_tls tls;
} ident;

static void meter_ident(const char *base, const char *id, ident *m) {
  char rel[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "meters/%s/meter.pem", id);
  gt_path(m->cert, base, rel);
  snprintf(rel, sizeof rel, "meters/%s/meter.key", id);
  gt_path(m->key, base, rel);
  snprintf(rel, sizeof rel, "meters/%s/ca.pem", id);
  gt_path(m->ca, base, rel);
  m->tls = (mqttc_tls){.ca = m->ca, .cert = m->cert, .key = m->key};
}

static void agg_ident(ident *a) {
  gt_path(a->cert, comm, "aggregator/aggregator.pem");
  gt_path(a->key, comm, "aggregator/aggregator.key");
  gt_path(a->ca, comm, "aggregator/ca.pem");
  a->tls = (mqttc_tls){.ca = a->ca, .cert = a->cert, .key = a->key};
}

static mqttc *connect_as(const ident *who, const char *client_id) {
  char why[200];
  mqttc *c = mqttc_connect(port, client_id, &who->tls, why, sizeof why);
  if (!c)
    fail_msg("%s could not connect: %s", client_id, why);
  return c;
}

static void run_ok(char *const argv[], char *const env[]) {
  char log[GT_PATH_MAX];
  gt_path(log, root, "tools.log");
  pid_t pid = gt_proc_start(argv, log, env);
  int st = gt_proc_wait(pid, 20000);
  if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
    char *out = gt_read_file(log, NULL);
    fail_msg("%s failed (status %d):\n%s", argv[0], st, out ? out : "");
  }
}

static int reloads(void) {
  char *log = gt_read_file(blog, NULL);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, "Reloading config")); p++)
    n++;
  free(log);
  return n;
}

static int group_setup(void **state) {
  (void)state;
  gt_tmpdir("pki-mosquitto", root);
  gt_path(comm, root, "community");
  gt_path(other, root, "other");
  gt_path(ca_dir, comm, "ca");
  gt_path(mlog, root, "mosquitto.out");
  /* mosquitto flushes its file log line by line (not its stdout). */
  gt_path(blog, root, "mosquitto.log");
  char log_dest[GT_PATH_MAX + 8];
  snprintf(log_dest, sizeof log_dest, "file %s", blog);
  port = gt_free_port();
  /* mosquitto started as root drops to the `user` of its configuration;
   * run it as whoever runs the test so it can read the key files. */
  struct passwd *pw = getpwuid(geteuid());
  gl_rand rand = gl_rand_system();
  gl_clock clock = gl_clock_real();
  pki_dev_opts o = {.meters = 3,
                    .port = port,
                    .run_as_user = pw->pw_name,
                    .log_dest = log_dest};
  pki_why why = {{0}};
  if (pki_dev_community(comm, &o, &rand, &clock, &why))
    fail_msg("dev community: %s", why.text);
  /* A second community with its own CA of the very same name. */
  pki_dev_opts o2 = {.meters = 1, .port = port};
  if (pki_dev_community(other, &o2, &rand, &clock, &why))
    fail_msg("other community: %s", why.text);

  /* One more household enrolled through the real tools. */
  char tool[GT_PATH_MAX], key[GT_PATH_MAX], csr[GT_PATH_MAX], cert[GT_PATH_MAX];
  gt_path(key, root, "meter-cli.key");
  gt_path(csr, root, "meter-cli.csr");
  gt_path(cert, root, "meter-cli.pem");
  gt_build_path(tool, "meter/gridlet-meter");
  char *keygen[] = {tool, "keygen", "--id", "meter-cli", "--key",
                    key,  "--csr",  csr,    NULL};
  run_ok(keygen, NULL);
  char ca_tool[GT_PATH_MAX];
  gt_build_path(ca_tool, "certs/gridlet-ca");
  char *sign[] = {ca_tool, "--dir", ca_dir, "sign", "--out", cert, csr, NULL};
  run_ok(sign, NULL);

  char conf[GT_PATH_MAX];
  gt_path(conf, comm, "broker/mosquitto.conf");
  const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0
                        ? "/usr/sbin/mosquitto"
                        : "mosquitto";
  char *argv[] = {(char *)bin, "-c", conf, NULL};
  broker = gt_proc_start(argv, mlog, NULL);
  if (!gt_wait_port(port, 10000)) {
    char *log = gt_read_file(blog, NULL);
    fail_msg("mosquitto did not start:\n%s", log ? log : "");
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gt_proc_stop(broker, 5000);
  gt_rmtree(root);
  return 0;
}

static void test_pki_enrolled_meter_publishes_on_its_own_topic(void **state) {
  (void)state;
  ident a, m;
  agg_ident(&a);
  gt_path(m.cert, root, "meter-cli.pem");
  gt_path(m.key, root, "meter-cli.key");
  gt_path(m.ca, ca_dir, "ca.pem");
  m.tls = (mqttc_tls){.ca = m.ca, .cert = m.cert, .key = m.key};
  mqttc *agg = connect_as(&a, "aggregator");
  assert_true(ACCEPTED(mqttc_subscribe(agg, "gridlet/demo/meter/#")));
  mqttc *meter = connect_as(&m, "meter-cli");
  int rc = mqttc_publish(meter, "gridlet/demo/meter/meter-cli/reading", "r1");
  assert_true(ACCEPTED(rc));
  assert_true(
      mqttc_wait_message(agg, "gridlet/demo/meter/meter-cli/reading", 5000));
  mqttc_free(meter);
  mqttc_free(agg);
}

static void test_pki_meter_cannot_publish_as_another_meter(void **state) {
  (void)state;
  ident a, m1, m2;
  agg_ident(&a);
  meter_ident(comm, "meter-001", &m1);
  meter_ident(comm, "meter-002", &m2);
  mqttc *agg = connect_as(&a, "aggregator");
  assert_true(ACCEPTED(mqttc_subscribe(agg, "gridlet/demo/#")));
  /* The aggregator only writes public/#: another meter watches it. */
  mqttc *watcher = connect_as(&m2, "meter-002");
  assert_true(ACCEPTED(mqttc_subscribe(watcher, "gridlet/demo/public/#")));
  mqttc *m = connect_as(&m1, "meter-001");
  assert_int_equal(
      mqttc_publish(m, "gridlet/demo/meter/meter-002/reading", "forged"),
      NOT_AUTHORIZED);
  assert_int_equal(
      mqttc_publish(m, "gridlet/demo/result/meter-001/interval", "forged"),
      NOT_AUTHORIZED);
  assert_int_equal(mqttc_publish(m, "gridlet/demo/public/summary", "forged"),
                   NOT_AUTHORIZED);
  assert_true(ACCEPTED(
      mqttc_publish(m, "gridlet/demo/meter/meter-001/reading", "genuine")));
  /* The genuine message was published last on the same connection: had
   * any forged one been let through, it would have arrived before. */
  assert_true(
      mqttc_wait_message(agg, "gridlet/demo/meter/meter-001/reading", 5000));
  assert_false(mqttc_received(agg, "gridlet/demo/meter/meter-002/reading"));
  assert_false(mqttc_received(agg, "gridlet/demo/result/meter-001/interval"));
  /* The forged summary was refused (PUBACK 0x87) before the aggregator
   * publishes this one, so had it been routed it would arrive first. */
  assert_true(ACCEPTED(mqttc_publish(agg, "gridlet/demo/public/sync", "s")));
  assert_true(mqttc_wait_message(watcher, "gridlet/demo/public/sync", 5000));
  assert_false(mqttc_received(watcher, "gridlet/demo/public/summary"));
  mqttc_free(m);
  mqttc_free(watcher);
  mqttc_free(agg);
}

static void test_pki_meter_cannot_read_another_meters_results(void **state) {
  (void)state;
  ident a, i1, i2;
  agg_ident(&a);
  meter_ident(comm, "meter-001", &i1);
  meter_ident(comm, "meter-002", &i2);
  mqttc *agg = connect_as(&a, "aggregator");
  mqttc *m1 = connect_as(&i1, "meter-001");
  mqttc *m2 = connect_as(&i2, "meter-002");
  /* mosquitto 2.0 grants these subscriptions and applies the read ACL to
   * every message it would deliver; what matters is what arrives. */
  assert_true(mqttc_subscribe(m1, "gridlet/demo/result/meter-002/#") >= 0);
  assert_true(mqttc_subscribe(m1, "gridlet/demo/result/+/interval") >= 0);
  assert_true(mqttc_subscribe(m1, "gridlet/demo/#") >= 0);
  assert_true(ACCEPTED(mqttc_subscribe(m1, "gridlet/demo/result/meter-001/#")));
  assert_true(ACCEPTED(mqttc_subscribe(m2, "gridlet/demo/result/meter-002/#")));
  assert_true(ACCEPTED(
      mqttc_publish(agg, "gridlet/demo/result/meter-002/interval", "for 2")));
  assert_true(ACCEPTED(
      mqttc_publish(agg, "gridlet/demo/result/meter-001/interval", "for 1")));
  assert_true(
      mqttc_wait_message(m2, "gridlet/demo/result/meter-002/interval", 5000));
  /* meter-001's own result was published after meter-002's. */
  assert_true(
      mqttc_wait_message(m1, "gridlet/demo/result/meter-001/interval", 5000));
  assert_false(mqttc_received(m1, "gridlet/demo/result/meter-002/interval"));
  assert_false(mqttc_received(m2, "gridlet/demo/result/meter-001/interval"));
  mqttc_free(m1);
  mqttc_free(m2);
  mqttc_free(agg);
}

static void refused(const mqttc_tls *tls, const char *client_id,
                    const char *what) {
  char why[200];
  mqttc *c = mqttc_connect(port, client_id, tls, why, sizeof why);
  if (c) {
    mqttc_free(c);
    fail_msg("%s was allowed to connect", what);
  }
}

static void
test_pki_foreign_and_missing_certificates_cannot_connect(void **state) {
  (void)state;
  ident foreign, own, a;
  /* The other community's meter-001, signed by a CA also called "demo
   * community CA"; it trusts our broker's CA so the handshake gets as far
   * as the broker's check of the client certificate. */
  meter_ident(other, "meter-001", &foreign);
  meter_ident(comm, "meter-001", &own);
  agg_ident(&a);
  mqttc_tls t = foreign.tls;
  t.ca = own.ca;
  refused(&t, "meter-001", "a meter of another CA");
  t = (mqttc_tls){.ca = own.ca};
  refused(&t, "anonymous", "a client without a certificate");
  char bcert[GT_PATH_MAX], bkey[GT_PATH_MAX];
  t = (mqttc_tls){.ca = own.ca,
                  .cert = gt_path(bcert, comm, "broker/broker.pem"),
                  .key = gt_path(bkey, comm, "broker/broker.key")};
  refused(&t, "broker", "the broker's server certificate as a client");
  /* The genuine meter still gets in. */
  mqttc_free(connect_as(&own, "meter-001"));
}

/* openssl s_client against the listener; returns its exit status and
 * leaves its output in root/s_client.out. */
static int s_client(const ident *who, const char *version) {
  char out[GT_PATH_MAX], cmd[8 * GT_PATH_MAX];
  gt_path(out, root, "s_client.out");
  snprintf(cmd, sizeof cmd,
           "openssl s_client -connect 127.0.0.1:%u %s -brief -CAfile %s "
           "-cert %s -key %s -verify_return_error </dev/null >%s 2>&1",
           port, version, who->ca, who->cert, who->key, out);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  pid_t pid = gt_proc_start(argv, NULL, NULL);
  int st = gt_proc_wait(pid, 20000);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_pki_listener_is_tls13_with_ed25519(void **state) {
  (void)state;
  ident m;
  meter_ident(comm, "meter-001", &m);
  char out[GT_PATH_MAX];
  gt_path(out, root, "s_client.out");
  assert_int_equal(s_client(&m, "-tls1_3"), 0);
  char *text = gt_read_file(out, NULL);
  /* TLS 1.3, the broker signed with Ed25519, and it asked for a client
   * certificate. */
  if (!strstr(text, "Protocol version: TLSv1.3") ||
      !strstr(text, "Signature type: ed25519") ||
      !strstr(text, "Requested Signature Algorithms"))
    fail_msg("unexpected handshake:\n%s", text);
  free(text);
  assert_true(s_client(&m, "-tls1_2") != 0);
  text = gt_read_file(out, NULL);
  if (!strstr(text, "alert protocol version") &&
      !strstr(text, "unsupported protocol"))
    fail_msg("TLS 1.2 was not refused for its version:\n%s", text);
  free(text);
}

static void test_pki_revoked_meter_is_shut_out(void **state) {
  (void)state;
  ident a, i1, i3;
  agg_ident(&a);
  meter_ident(comm, "meter-001", &i1);
  meter_ident(comm, "meter-003", &i3);
  mqttc *agg = connect_as(&a, "aggregator");
  mqttc *m1 = connect_as(&i1, "meter-001");
  mqttc *m3 = connect_as(&i3, "meter-003");
  assert_true(ACCEPTED(mqttc_subscribe(m1, "gridlet/demo/public/#")));
  assert_true(ACCEPTED(mqttc_subscribe(m3, "gridlet/demo/public/#")));
  assert_true(ACCEPTED(mqttc_publish(agg, "gridlet/demo/public/one", "1")));
  assert_true(mqttc_wait_message(m3, "gridlet/demo/public/one", 5000));

  /* The operator revokes meter-003 and reloads the broker. */
  char ca_tool[GT_PATH_MAX];
  gt_build_path(ca_tool, "certs/gridlet-ca");
  char *revoke[] = {ca_tool,     "--dir",    ca_dir,          "revoke",
                    "meter-003", "--reason", "keyCompromise", NULL};
  run_ok(revoke, NULL);
  int before = reloads();
  assert_int_equal(kill(broker, SIGHUP), 0);
  for (int i = 0; i < 100 && reloads() == before; i++)
    gt_sleep_ms(50);
  assert_true(reloads() > before);

  /* New connections with the revoked certificate fail the handshake. */
  refused(&i3.tls, "meter-003", "a revoked meter");
  /* The session opened before the revocation has lost all access. */
  assert_int_equal(
      mqttc_publish(m3, "gridlet/demo/meter/meter-003/reading", "x"),
      NOT_AUTHORIZED);
  assert_true(ACCEPTED(mqttc_publish(agg, "gridlet/demo/public/two", "2")));
  assert_true(mqttc_wait_message(m1, "gridlet/demo/public/two", 5000));
  /* Every subscriber's copy leaves in the same broker step; give a
   * delivered copy ample time to show up. */
  gt_sleep_ms(300);
  assert_false(mqttc_received(m3, "gridlet/demo/public/two"));
  /* Other meters are unaffected. */
  assert_true(ACCEPTED(
      mqttc_publish(m1, "gridlet/demo/meter/meter-001/reading", "ok")));
  mqttc_free(m1);
  mqttc_free(m3);
  mqttc_free(agg);

  /* The aggregator, checking signed messages against enrolled
   * certificates, refuses meter-003 through the library with the same
   * CRL file the broker uses. */
  char crl[GT_PATH_MAX];
  gt_path(crl, comm, "broker/crl.pem");
  gl_clock clock = gl_clock_real();
  pki_trust *trust;
  pki_why why = {{0}};
  if (pki_trust_load(a.ca, crl, &clock, &trust, &why))
    fail_msg("%s", why.text);
  char *pem = gt_read_file(i3.cert, NULL);
  assert_int_equal(pki_trust_verify_pem(trust, pem, strlen(pem), PKI_ROLE_METER,
                                        &clock, NULL, &why),
                   GL_EREVOKED);
  assert_non_null(strstr(why.text, "keyCompromise"));
  free(pem);
  pem = gt_read_file(i1.cert, NULL);
  assert_int_equal(pki_trust_verify_pem(trust, pem, strlen(pem), PKI_ROLE_METER,
                                        &clock, NULL, NULL),
                   0);
  free(pem);
  pki_trust_free(trust);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pki_enrolled_meter_publishes_on_its_own_topic),
      cmocka_unit_test(test_pki_meter_cannot_publish_as_another_meter),
      cmocka_unit_test(test_pki_meter_cannot_read_another_meters_results),
      cmocka_unit_test(
          test_pki_foreign_and_missing_certificates_cannot_connect),
      cmocka_unit_test(test_pki_listener_is_tls13_with_ed25519),
      cmocka_unit_test(test_pki_revoked_meter_is_shut_out),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
