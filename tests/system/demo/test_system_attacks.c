/* SPDX-License-Identifier: MIT */
/*
 * test_system_attacks.c - a running community under attack. Three honest
 * households trade through real meter agents while an attacker, holding
 * identities of the same community, tries:
 *
 *   - publishing on another meter's topic        refused by the broker (ACL,
 *                                                PUBACK 0x87)
 *   - signing as another meter on its own topic  sender_mismatch
 *   - a forged signature                         bad_signature
 *   - replaying an honest meter's reading        sender_mismatch (it can
 *                                                only publish it on its own
 *                                                topic)
 *   - replaying its own reading                  a harmless duplicate:
 *                                                the ledger holds it once
 *   - other bytes under a used seq               seq_reuse (kept as
 *                                                evidence)
 *   - a certificate of the CA never enrolled at
 *     the aggregator                             unknown_key
 *   - a certificate of another CA                the TLS handshake fails
 *   - a revoked meter                            revoked (aggregator, on
 *                                                its CRL reload); after the
 *                                                broker's reload the
 *                                                handshake fails
 *   - a flood of oversize messages               oversize, each counted
 *
 * Each refusal is checked where the design puts it (docs/protocol.md,
 * "Verification order and rejection reasons"), with its counter and its
 * log line; then the honest households go on trading and st_finish checks
 * that nothing they sent was lost and every interval was settled once.
 */
#include "systest.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pr_seal.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HOMES 3
#define MALLORY HOMES          /* spare, enrolled at the aggregator */
#define REVOKEE (HOMES + 1)    /* spare, enrolled; revoked mid-test */
#define UNENROLLED (HOMES + 2) /* spare, only the CA knows it */
#define FLOOD 200

/* Wait for the rejection counter of `reason` to reach `want` and for its
 * log line. */
static void expect_rejected(st *s, const char *reason, int64_t want) {
  char series[128], line[96];
  snprintf(series, sizeof series,
           "gridlet_aggregator_messages_rejected_total{reason=\"%s\"}", reason);
  int64_t got = st_wait_metric(s, series, want, 10000);
  if (got != want)
    fail_msg("rejections for %s: %lld, want %lld", reason, (long long)got,
             (long long)want);
  snprintf(line, sizeof line, "rejected (%s)", reason);
  char *log = gt_read_file(s->in->agg_log, NULL);
  bool logged = log && strstr(log, line);
  free(log);
  if (!logged)
    fail_msg("no \"%s\" in %s", line, s->in->agg_log);
}

/* The last interval that has ended. */
static int64_t last_ended(st *s) {
  return st_next_interval(s) - 2 * s->L;
}

static void test_attacks(void **state) {
  (void)state;
  st s;
  st_opts o = {.households = HOMES, .spare = 3, .spare_synced = 2};
  st_up(&s, "sys-attacks", &o);
  st_run_intervals(&s, 2);
  int64_t honest_before = st_metric(
      &s, "gridlet_aggregator_messages_accepted_total{kind=\"reading\"}");

  st_client m;
  assert_int_equal(st_client_open(&s, MALLORY, &m), 0);
  const demo_meter_info *victim = demo_fleet_meter(s.f, 0);
  char topic[PR_TOPIC_MAX], own[PR_TOPIC_MAX];
  st_topic(&s, PR_TOPIC_READING, m.id, own);
  uint8_t buf[PR_SEAL_MAX];
  size_t len;

  /* 1. On another meter's topic: the broker's ACL refuses it, so the
   * aggregator never sees it. */
  pr_msg msg = st_reading_msg(&s, &m, last_ended(&s));
  len = st_seal(&m, &msg, NULL, buf);
  assert_int_equal(st_publish(&m,
                              st_topic(&s, PR_TOPIC_READING, victim->id, topic),
                              buf, len),
                   0x87);

  /* 2. Signed as the victim (kid and sender), on its own topic. */
  msg = st_reading_msg(&s, &m, last_ended(&s));
  snprintf(msg.sender, sizeof msg.sender, "%s", victim->id);
  len = st_seal(&m, &msg, NULL, buf);
  assert_int_equal(st_publish(&m, own, buf, len), 0);
  expect_rejected(&s, "sender_mismatch", 1);

  /* 3. A forged signature: its own name, a key that is not its own. */
  gl_ed25519_key forged;
  uint8_t seed[32];
  memset(seed, 0x5a, sizeof seed);
  assert_int_equal(gl_ed25519_from_seed(seed, &forged), 0);
  msg = st_reading_msg(&s, &m, last_ended(&s));
  len = st_seal(&m, &msg, &forged, buf);
  assert_int_equal(st_publish(&m, own, buf, len), 0);
  expect_rejected(&s, "bad_signature", 1);

  /* 4. Replaying the victim's first reading, byte for byte (all it can
   * reach is its own topic). */
  {
    mtr_store *ms = NULL;
    mtr_store_opts so = {.read_only = true};
    mtr_reading_row *row = malloc(sizeof *row);
    assert_non_null(row);
    assert_int_equal(mtr_store_open(victim->db, &so, &ms), 0);
    /* Its first reading (seqs start at the wall clock in ms). */
    assert_int_equal(mtr_store_reading_next(ms, 0, row), 0);
    assert_int_equal(st_publish(&m, own, row->bytes, row->len), 0);
    mtr_store_free(ms);
    free(row);
    expect_rejected(&s, "sender_mismatch", 2);
  }

  /* 5. Its own reading, then the same bytes again: a duplicate, logged
   * once; then other bytes under the same seq: evidence. */
  int64_t dup0 = st_metric(&s, "gridlet_aggregator_messages_duplicate_total");
  msg = st_reading_msg(&s, &m, last_ended(&s));
  len = st_seal(&m, &msg, NULL, buf);
  assert_int_equal(st_publish(&m, own, buf, len), 0);
  assert_int_equal(st_publish(&m, own, buf, len), 0);
  assert_int_equal(st_wait_metric(&s,
                                  "gridlet_aggregator_messages_duplicate_total",
                                  dup0 + 1, 10000),
                   dup0 + 1);
  msg.reading.import_wh += 1;
  len = st_seal(&m, &msg, NULL, buf);
  assert_int_equal(st_publish(&m, own, buf, len), 0);
  expect_rejected(&s, "seq_reuse", 1);

  /* 6. A flood of messages over the reading's size limit (under the
   * broker's packet limit, so each reaches the aggregator). */
  uint8_t *big = malloc(8192);
  assert_non_null(big);
  memset(big, 0xa5, 8192);
  for (int i = 0; i < FLOOD; i++)
    assert_int_equal(st_publish(&m, own, big, 8192), 0);
  free(big);
  expect_rejected(&s, "oversize", FLOOD);
  st_client_close(&m);

  /* 7. A certificate of the community's CA the aggregator never
   * enrolled: the broker lets it in, the aggregator knows no key. */
  st_client u;
  assert_int_equal(st_client_open(&s, UNENROLLED, &u), 0);
  msg = st_reading_msg(&s, &u, last_ended(&s));
  len = st_seal(&u, &msg, NULL, buf);
  assert_int_equal(
      st_publish(&u, st_topic(&s, PR_TOPIC_READING, u.id, topic), buf, len), 0);
  expect_rejected(&s, "unknown_key", 1);
  st_client_close(&u);

  /* 8. A certificate of another CA, even with an honest meter's name:
   * the TLS handshake fails. */
  {
    char foreign[DEMO_PATH_MAX], ca[DEMO_PATH_MAX + 32],
        cert[DEMO_PATH_MAX + 32], key[DEMO_PATH_MAX + 32];
    demo_fleet_path(s.f, "foreign", foreign);
    pki_dev_opts po = {.community = s.in->community, .meters = 1};
    gl_rand rnd = gl_rand_system();
    gl_clock clk = gl_clock_real();
    pki_why why = {{0}};
    if (pki_dev_community(foreign, &po, &rnd, &clk, &why) != 0)
      fail_msg("foreign community: %s", why.text);
    snprintf(ca, sizeof ca, "%s/meters/meter-001/ca.pem", foreign);
    snprintf(cert, sizeof cert, "%s/meters/meter-001/meter.pem", foreign);
    snprintf(key, sizeof key, "%s/meters/meter-001/meter.key", foreign);
    /* It trusts the real broker (our CA), so only its own certificate is
     * foreign. */
    snprintf(ca, sizeof ca, "%s", demo_fleet_meter(s.f, 0)->ca);
    st_client x;
    assert_int_equal(st_client_open_files(&s, "meter-001", ca, cert, key, &x),
                     -1);
  }

  /* 9. A revoked meter. Connected before the revocation: the aggregator,
   * once it has re-read the CRL, refuses what it signs; after the
   * broker's reload it cannot connect at all. */
  st_client r;
  assert_int_equal(st_client_open(&s, REVOKEE, &r), 0);
  {
    char out[DEMO_PATH_MAX];
    demo_fleet_path(s.f, "revoke.log", out);
    char *args[] = {"--dir",    (char *)s.in->ca_dir,
                    "revoke",   (char *)demo_fleet_meter(s.f, REVOKEE)->id,
                    "--reason", "keyCompromise",
                    NULL};
    int code = -1;
    assert_int_equal(demo_fleet_tool(s.f, "ca", args, out, &code), 0);
    assert_int_equal(code, 0);
  }
  assert_int_equal(demo_fleet_aggregator_reload(s.f), 0);
  assert_int_equal(
      st_wait_metric(&s, "gridlet_aggregator_meters{state=\"revoked\"}", 1,
                     10000),
      1);
  msg = st_reading_msg(&s, &r, last_ended(&s));
  len = st_seal(&r, &msg, NULL, buf);
  assert_int_equal(
      st_publish(&r, st_topic(&s, PR_TOPIC_READING, r.id, topic), buf, len), 0);
  expect_rejected(&s, "revoked", 1);
  st_client_close(&r);
  assert_int_equal(demo_fleet_broker_reload(s.f), 0);
  gt_sleep_ms(500);
  assert_int_equal(st_client_open(&s, REVOKEE, &r), -1);

  /* The honest households went on trading through it all, and go on. */
  st_run_intervals(&s, 3);
  int64_t honest_after = st_metric(
      &s, "gridlet_aggregator_messages_accepted_total{kind=\"reading\"}");
  print_message("readings accepted during and after the attacks: %lld\n",
                (long long)(honest_after - honest_before));
  assert_true(honest_after - honest_before >= 3 * HOMES);
  int64_t until = st_next_interval(&s) - s.L;
  st_result res;
  st_finish(&s, until, &res);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attacks),
  };
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
