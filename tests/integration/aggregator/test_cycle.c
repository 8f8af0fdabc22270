/* SPDX-License-Identifier: MIT */
/*
 * Several intervals through the real gridlet-aggregator and a real TLS
 * broker, with meters speaking the protocol: every interval clears and
 * settles, every meter gets a signed result whose ledger references hold
 * its reading, balances equal the ledger's (checked with the real
 * gridlet-ledger auditor), energy and money are conserved in every
 * interval, proofs verify over MQTT (response topic + correlation data)
 * and over HTTP, and the billing export has a row per settlement.
 */
#include "aggtest.h"

#include "gridlet/error.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/ledger_merkle.h"
#include "gridlet/pr_seal.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define METERS 4
#define INTERVALS 5

static agt t;
static agt_meter m[METERS];
static int64_t first;
static pr_keyring agg_keys;
static pr_key_entry agg_entry;
static pr_key_table agg_table;
/* The latest result each meter got for each interval. */
static pr_msg results[METERS][INTERVALS];
static char vkey[LG_KEY_TEXT_MAX];

static int64_t imp_of(int i, int k) {
  return (i % 2 == 0) ? 200 + 37 * k + 11 * i : 0;
}
static int64_t exp_of(int i, int k) {
  return (i % 2 == 1) ? 150 + 23 * k + 7 * i : 0;
}

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = METERS,
                .speed = 60,
                .vstart = "2026-06-21T10:00:10Z",
                .extra = "fee = 0.01"};
  agt_setup(&t, "aggcyc", &o);
  agt_start(&t, NULL);
  for (int i = 0; i < METERS; i++) {
    agt_meter_open(&t, (unsigned)i + 1, &m[i]);
    agt_subscribe(&t, &m[i]);
  }
  agg_entry.kid = "aggregator";
  memcpy(agg_entry.pub, t.agg_pub_key.pub, 32);
  agg_table.entries = &agg_entry;
  agg_table.n = 1;
  agg_keys = pr_key_table_keyring(&agg_table);
  assert_int_equal(lg_vkey_format(&t.log_key.vkey, vkey, sizeof vkey), 0);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int i = 0; i < METERS; i++)
    agt_meter_close(&m[i]);
  agt_teardown(&t);
  return 0;
}

/* Take every message waiting for meter i; keep results. */
static void collect(int i, int timeout_ms) {
  char topic[PR_TOPIC_MAX];
  uint8_t buf[PR_SEAL_MAX];
  int n;
  while ((n = agt_next_message(&m[i], topic, sizeof topic, buf, sizeof buf,
                               timeout_ms)) >= 0) {
    pr_topic tp;
    assert_int_equal(pr_topic_parse(topic, strlen(topic), "demo", &tp, NULL),
                     0);
    pr_msg msg;
    pr_diag d = {0};
    if (pr_open(buf, (size_t)n, &tp, &agg_keys, &msg, NULL, &d) != 0)
      fail_msg("%s: a message that does not verify: %s", topic, d.msg);
    if (getenv("AGT_DEBUG")) {
      char a[GL_TIME_STR_MAX];
      fprintf(stderr, "%s: %s %s\n", m[i].id.id, topic,
              msg.type == PR_MSG_RESULT ? gl_time_format(msg.result.start, a)
                                        : pr_type_name(msg.type));
    }
    if (msg.type == PR_MSG_RESULT) {
      int64_t k = gl_floor_div(msg.result.start - first, t.interval);
      if (k < 0 || k >= INTERVALS)
        continue; /* intervals around the test's (settled empty) */
      assert_string_equal(msg.result.meter, m[i].id.id);
      results[i][k] = msg;
    }
    timeout_ms = 50;
  }
}

static int64_t entry_field(json_t *e, const char *k) {
  return json_integer_value(json_object_get(json_object_get(e, "entry"), k));
}

static void test_intervals_settle_with_signed_results(void **state) {
  (void)state;
  /* From the interval in progress on (earlier ones settled empty while
   * the meters connected). */
  first = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  for (int k = 0; k < INTERVALS; k++) {
    int64_t s = first + k * t.interval;
    agt_sleep_until(&t, s + t.interval + GL_NS_PER_SEC);
    for (int i = 0; i < METERS; i++)
      agt_reading(&t, &m[i], s, imp_of(i, k), exp_of(i, k));
    agt_wait_settled(&t, s, 15000);
  }
  for (int i = 0; i < METERS; i++)
    collect(i, 5000);
  for (int i = 0; i < METERS; i++) {
    int64_t balance = 0;
    for (int k = 0; k < INTERVALS; k++) {
      const pr_result *r = &results[i][k].result;
      if (results[i][k].type != PR_MSG_RESULT)
        fail_msg("%s got no result for interval %d", m[i].id.id, k);
      assert_false(r->flags & PR_RESULT_MISSING);
      assert_int_equal(r->settlement.import_wh, imp_of(i, k));
      assert_int_equal(r->settlement.export_wh, exp_of(i, k));
      balance += r->settlement.net;
      assert_int_equal(r->balance, balance);
      /* The receipt: one of the ledger references is this reading. */
      bool found = false;
      for (size_t e = 0; e < r->ledger.nentries; e++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/ledger/entries/%" PRId64,
                 r->ledger.entries[e]);
        json_t *j = agt_json(&t, path);
        const char *type = json_string_value(json_object_get(j, "type"));
        if (strcmp(type, "reading") == 0) {
          json_t *en = json_object_get(j, "entry");
          assert_string_equal(json_string_value(json_object_get(en, "meter")),
                              m[i].id.id);
          assert_int_equal(entry_field(j, "import_wh"), imp_of(i, k));
          found = true;
        }
        json_decref(j);
      }
      assert_true(found);
    }
  }
}

static void test_energy_and_money_are_conserved_every_interval(void **state) {
  (void)state;
  for (int k = 0; k < INTERVALS; k++) {
    char path[96], ts[GL_TIME_STR_MAX];
    snprintf(path, sizeof path, "/v1/intervals/%s",
             gl_time_format(first + k * t.interval, ts));
    json_t *iv = agt_json(&t, path);
    json_t *rows = json_object_get(iv, "settlements");
    int64_t money = json_integer_value(json_object_get(iv, "utility_net")) +
                    json_integer_value(json_object_get(iv, "surplus")) +
                    json_integer_value(json_object_get(iv, "fees"));
    int64_t bought = 0, sold = 0, net_energy = 0, grid = 0;
    for (size_t r = 0; r < json_array_size(rows); r++) {
      json_t *x = json_array_get(rows, r);
#define F(name) json_integer_value(json_object_get(x, name))
      money += F("net");
      bought += F("local_bought_wh");
      sold += F("local_sold_wh");
      net_energy += F("import_wh") - F("export_wh");
      grid += F("grid_import_wh") - F("grid_export_wh");
#undef F
    }
    assert_int_equal(json_array_size(rows), METERS);
    assert_int_equal(money, 0);
    assert_int_equal(bought, sold);
    assert_int_equal(net_energy, grid);
    assert_true(bought > 0);
    json_decref(iv);
  }
}

static void test_ledger_auditor_agrees_with_the_balances(void **state) {
  (void)state;
  char bin[GT_PATH_MAX], out[GT_PATH_MAX];
  agt_bin(bin, "ledger/cli/gridlet-ledger");
  gt_path(out, t.comm.root, "audit.txt");
  char *argv[] = {bin,      "audit", "--db",       t.db,
                  "--vkey", vkey,    "--balances", NULL};
  assert_int_equal(agt_run_cli(argv, out), 0);
  char *text = gt_read_file(out, NULL);
  assert_non_null(strstr(text, "audit OK"));
  json_t *bal = agt_json(&t, "/v1/balances");
  json_t *arr = json_object_get(bal, "balances");
  assert_int_equal(json_array_size(arr), METERS);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *b = json_array_get(arr, i);
    char line[256];
#define G(k) ((int64_t)json_integer_value(json_object_get(b, k)))
    snprintf(line, sizeof line,
             "%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
             " %" PRId64 " %" PRId64 " %" PRId64 "\n",
             json_string_value(json_object_get(b, "meter")), G("money"),
             G("fees"), G("local_bought_wh"), G("local_sold_wh"),
             G("grid_import_wh"), G("grid_export_wh"), G("intervals"),
             G("missing_readings"));
#undef G
    if (!strstr(text, line))
      fail_msg("the auditor's balances lack \"%s\":\n%s", line, text);
    /* Each household's balance is the sum of its settlements. */
    const char *id = json_string_value(json_object_get(b, "meter"));
    int i_m = id[strlen(id) - 1] - '1';
    assert_int_equal(json_integer_value(json_object_get(b, "money")),
                     results[i_m][INTERVALS - 1].result.balance);
  }
  json_decref(bal);
  free(text);
}

/* Verify an inclusion proof end to end against the signed checkpoint. */
static void verify_inclusion(const uint8_t *entry, size_t len, int64_t index,
                             int64_t size, const uint8_t (*path)[32],
                             size_t npath, const char *note) {
  lg_policy pol = {.log_key = &t.log_key.vkey};
  lg_checkpoint cp;
  const char *why = NULL;
  if (lg_policy_verify(&pol, note, strlen(note), &cp, NULL, &why) != 0)
    fail_msg("checkpoint: %s", why);
  assert_int_equal(cp.size, (uint64_t)size);
  uint8_t leaf[LG_HASH_LEN];
  assert_int_equal(lg_leaf_hash(entry, len, leaf), 0);
  lg_hash p[LG_PROOF_MAX];
  for (size_t i = 0; i < npath; i++)
    memcpy(p[i].b, path[i], 32);
  if (lg_verify_inclusion(leaf, (uint64_t)index, (uint64_t)size, p, npath,
                          cp.root, &why) != 0)
    fail_msg("inclusion: %s", why);
}

static void test_proofs_over_mqtt_and_http(void **state) {
  (void)state;
  const pr_result *r = &results[0][INTERVALS - 1].result;
  int64_t index = r->ledger.entries[0], size = r->ledger.size;
  /* MQTT 5 request/response. */
  pr_msg req;
  assert_int_equal(
      pr_msg_init(&req, PR_MSG_PROOF_REQUEST, m[0].id.id, ++m[0].seq,
                  gl_floor_div(agt_now(&t), GL_NS_PER_SEC) * GL_NS_PER_SEC),
      0);
  req.proof_request.kind = PR_PROOF_INCLUSION;
  req.proof_request.index = index;
  req.proof_request.size = size;
  uint8_t buf[PR_SEAL_MAX];
  size_t len = agt_seal(&m[0], &req, NULL, buf);
  char reqt[PR_TOPIC_MAX], respt[PR_TOPIC_MAX];
  pr_topic_build(PR_TOPIC_PROOF_REQUEST, "demo", m[0].id.id, reqt, sizeof reqt);
  pr_topic_build(PR_TOPIC_PROOF_RESPONSE, "demo", m[0].id.id, respt,
                 sizeof respt);
  pr_mqtt_msg pm = {.topic = reqt,
                    .payload = buf,
                    .payload_len = len,
                    .qos = 1,
                    .response_topic = respt,
                    .correlation = "corr-42",
                    .correlation_len = 7};
  assert_int_equal(pr_mqtt_publish(m[0].mqtt, &pm, NULL), 0);
  pr_msg *resp = malloc(sizeof *resp);
  bool got = false;
  for (int tries = 0; tries < 200 && !got; tries++) {
    char topic[PR_TOPIC_MAX];
    uint8_t rb[PR_SEAL_MAX], corr[64];
    size_t corr_len = 0;
    int n = agt_next_message_corr(&m[0], topic, sizeof topic, rb, sizeof rb,
                                  corr, &corr_len, 10000);
    assert_true(n >= 0);
    if (strcmp(topic, respt) != 0)
      continue;
    assert_int_equal(corr_len, 7);
    assert_memory_equal(corr, "corr-42", 7);
    pr_topic tp;
    pr_topic_parse(topic, strlen(topic), "demo", &tp, NULL);
    pr_diag d = {0};
    if (pr_open(rb, (size_t)n, &tp, &agg_keys, resp, NULL, &d) != 0)
      fail_msg("proof response: %s", d.msg);
    got = true;
  }
  assert_true(got);
  const pr_proof_response *p = &resp->proof_response;
  assert_int_equal(p->request_seq, req.seq);
  assert_int_equal(p->status, PR_PROOF_OK);
  assert_true(p->entry_len > 0);
  assert_true(p->note[0] != '\0');
  verify_inclusion(p->entry, p->entry_len, index, size,
                   (const uint8_t(*)[32])p->path, p->npath, p->note);
  free(resp);
  /* The same over HTTP. */
  char path[128];
  snprintf(path, sizeof path,
           "/v1/proofs/inclusion?index=%" PRId64 "&size=%" PRId64, index, size);
  json_t *j = agt_json(&t, path);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
  json_t *hashes = json_object_get(j, "path");
  uint8_t hp[LG_PROOF_MAX][32];
  size_t np = json_array_size(hashes);
  for (size_t i = 0; i < np; i++) {
    const char *b = json_string_value(json_array_get(hashes, i));
    size_t n = 0;
    assert_int_equal(gl_base64_decode(b, strlen(b), hp[i], 32, &n), 0);
  }
  const char *eb = json_string_value(json_object_get(j, "entry"));
  uint8_t entry[PR_ENTRY_MAX];
  size_t elen = 0;
  assert_int_equal(gl_base64_decode(eb, strlen(eb), entry, sizeof entry, &elen),
                   0);
  verify_inclusion(entry, elen, index, size, (const uint8_t(*)[32])hp, np,
                   json_string_value(json_object_get(j, "checkpoint")));
  json_decref(j);
  /* Consistency between the first interval's checkpoint and the last. */
  int64_t old = results[0][0].result.ledger.size;
  snprintf(path, sizeof path,
           "/v1/proofs/consistency?old=%" PRId64 "&size=%" PRId64, old, size);
  j = agt_json(&t, path);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
  json_decref(j);
  /* A size beyond the ledger is 404 with status not_found. */
  char *body = NULL;
  assert_int_equal(
      agt_http(&t, "/v1/proofs/inclusion?index=0&size=999999999", &body), 404);
  assert_non_null(strstr(body, "not_found"));
  free(body);
}

static void test_billing_export_has_a_row_per_settlement(void **state) {
  (void)state;
  char bin[GT_PATH_MAX], out[GT_PATH_MAX], csv[GT_PATH_MAX];
  agt_bin(bin, "aggregator/gridlet-aggregator");
  gt_path(out, t.comm.root, "export.log");
  gt_path(csv, t.comm.root, "settlements.csv");
  char *argv[] = {bin,     "export", "settlements", "-c", t.conf,
                  "--out", csv,      "--decimal",   NULL};
  assert_int_equal(agt_run_cli(argv, out), 0);
  char *text = gt_read_file(csv, NULL);
  int lines = 0, mine = 0;
  for (char *p = text; *p; p++)
    if (*p == '\n')
      lines++;
  for (char *p = strstr(text, "meter-001"); p; p = strstr(p + 1, "meter-001"))
    mine++;
  /* The header, then every meter in every settled interval (including the
   * ones around the test's intervals). */
  assert_true(lines - 1 >= METERS * INTERVALS);
  assert_true(mine >= INTERVALS);
  assert_non_null(strstr(text, "interval_start,interval_end,meter,flags"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intervals_settle_with_signed_results),
      cmocka_unit_test(test_energy_and_money_are_conserved_every_interval),
      cmocka_unit_test(test_ledger_auditor_agrees_with_the_balances),
      cmocka_unit_test(test_proofs_over_mqtt_and_http),
      cmocka_unit_test(test_billing_export_has_a_row_per_settlement),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
