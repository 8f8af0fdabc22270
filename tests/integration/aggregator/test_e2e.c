/* SPDX-License-Identifier: MIT */
/*
 * The whole community, every part real: the device simulator serving four
 * households over Modbus TCP, four gridlet-meter agents reading them and
 * publishing signed readings and standing limits through the TLS broker,
 * gridlet-aggregator settling every interval — all on one accelerated
 * clock (a 1-minute interval per real second).
 *
 *   1. Several intervals clear and settle with every meter's reading;
 *      every household's balance equals the sum of its ledger entries (the
 *      real gridlet-ledger auditor recomputes them); energy and money are
 *      conserved in every interval; the ledger alone reproduces every
 *      settlement; the meters confirmed their readings in the ledger with
 *      proofs and raised no alarm.
 *   2. kill -9 of the aggregator at random moments while the meters keep
 *      running: afterwards every interval is settled exactly once, the
 *      ledger is consistent with every checkpoint published, the books
 *      still balance, and the meters (which re-send what got no receipt)
 *      still raise no alarm.
 *   3. The research simulator, given an export of this ledger
 *      (`gridlet-ledger export`, then `gridlet-sim run` with a ledger
 *      input), reproduces every settlement the aggregator made: the two
 *      run the same market_interval pipeline. (Built when gridlet-sim has
 *      its `run` command, sim/include/gridlet/sim_run.h.)
 */
#include "aggtest.h"
#include "replay.h"

#include "gridlet/agg_store.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_balances.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_entry.h"
#include "gridlet/pr_seal.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define METERS 4
#define MAX_NOTES 512

static agt t;
static agt_sim sim;
static agt_proc_meter pm[METERS];
static agt_meter watch; /* a fifth identity observing public/ */
static pr_key_entry agg_entry;
static pr_key_table agg_table;
static pr_keyring agg_keys;
static char *notes[MAX_NOTES];
static size_t nnotes;

static const char *const trading[METERS] = {
    "buy_below = 0.26\n", "sell_above = 0.10\n", NULL,
    "buy_below = 0.29\nsell_above = 0.09\n"};

static int group_setup(void **state) {
  (void)state;
  agt_opts o = {.meters = METERS + 1,
                .sync_upto = METERS,
                .speed = 60,
                /* Early morning without batteries: some households
                 * import while others export, so there is local trade. */
                .vstart = "2026-06-21T06:56:30Z",
                .extra = "fee = 0.01"};
  agt_setup(&t, "agge2e", &o);
  agt_start(&t, NULL);
  agt_sim_start(&t, &sim, METERS, "--no-battery");
  for (int i = 0; i < METERS; i++) {
    agt_meter_proc_config(&t, &pm[i], (unsigned)i + 1, &sim, i, trading[i]);
    agt_meter_proc_start(&t, &pm[i]);
  }
  agt_meter_open(&t, METERS + 1, &watch);
  agt_subscribe(&t, &watch);
  agg_entry.kid = "aggregator";
  memcpy(agg_entry.pub, t.agg_pub_key.pub, 32);
  agg_table.entries = &agg_entry;
  agg_table.n = 1;
  agg_keys = pr_key_table_keyring(&agg_table);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int i = 0; i < METERS; i++)
    if (pm[i].pid > 0)
      agt_meter_proc_stop(&pm[i]);
  agt_sim_stop(&sim);
  agt_meter_close(&watch);
  for (size_t i = 0; i < nnotes; i++)
    free(notes[i]);
  if (getenv("AGT_SHOW_LOG"))
    for (int i = 0; i < METERS; i++) {
      char *log = gt_read_file(pm[i].log, NULL);
      fprintf(stderr, "---- %s ----\n%s", pm[i].id.id, log ? log : "");
      free(log);
    }
  agt_teardown(&t);
  return 0;
}

/* Keep every checkpoint published on public/checkpoint. */
static void collect_checkpoints(void) {
  char topic[PR_TOPIC_MAX];
  uint8_t buf[PR_SEAL_MAX];
  int n;
  while ((n = agt_next_message(&watch, topic, sizeof topic, buf, sizeof buf,
                               0)) >= 0) {
    pr_topic tp;
    assert_int_equal(pr_topic_parse(topic, strlen(topic), "demo", &tp, NULL),
                     0);
    pr_msg *m = malloc(sizeof *m);
    pr_diag d = {0};
    if (pr_open(buf, (size_t)n, &tp, &agg_keys, m, NULL, &d) != 0)
      fail_msg("%s: %s", topic, d.msg);
    if (m->type == PR_MSG_CHECKPOINT && nnotes < MAX_NOTES)
      notes[nnotes++] = strdup(m->checkpoint.note);
    free(m);
  }
}

/* Intervals settled with every meter's reading in. */
static int complete_intervals(int64_t from) {
  char path[128], ts[GL_TIME_STR_MAX];
  snprintf(path, sizeof path, "/v1/intervals?limit=10000&order=asc&from=%s",
           gl_time_format(from, ts));
  json_t *j = agt_json(&t, path);
  json_t *a = json_object_get(j, "intervals");
  int n = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *iv = json_array_get(a, i);
    if (json_integer_value(json_object_get(iv, "missing")) == 0 &&
        json_integer_value(json_object_get(iv, "meters")) == METERS)
      n++;
  }
  json_decref(j);
  return n;
}

/* Energy and money conserved in every settled interval; returns how many
 * were checked. */
static int check_conservation(void) {
  json_t *j = agt_json(&t, "/v1/intervals?limit=10000&order=asc");
  json_t *a = json_object_get(j, "intervals");
  int checked = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *start =
        json_string_value(json_object_get(json_array_get(a, i), "start"));
    char path[128];
    snprintf(path, sizeof path, "/v1/intervals/%s", start);
    json_t *iv = agt_json(&t, path);
    json_t *rows = json_object_get(iv, "settlements");
    int64_t money = json_integer_value(json_object_get(iv, "utility_net")) +
                    json_integer_value(json_object_get(iv, "surplus")) +
                    json_integer_value(json_object_get(iv, "fees"));
    int64_t bought = 0, sold = 0, net = 0, grid = 0;
    for (size_t r = 0; r < json_array_size(rows); r++) {
      json_t *x = json_array_get(rows, r);
#define F(k) ((int64_t)json_integer_value(json_object_get(x, k)))
      money += F("net");
      bought += F("local_bought_wh");
      sold += F("local_sold_wh");
      net += F("import_wh") - F("export_wh");
      grid += F("grid_import_wh") - F("grid_export_wh");
#undef F
    }
    if (money != 0 || bought != sold || net != grid)
      fail_msg("%s: money %" PRId64 ", local %" PRId64 "/%" PRId64
               ", measured %" PRId64 " vs grid %" PRId64,
               start, money, bought, sold, net, grid);
    json_decref(iv);
    checked++;
  }
  json_decref(j);
  return checked;
}

/* The auditor's balances equal the API's, line by line. */
static void check_balances_with_auditor(void) {
  char bin[GT_PATH_MAX], out[GT_PATH_MAX], vkey[LG_KEY_TEXT_MAX];
  agt_bin(bin, "ledger/cli/gridlet-ledger");
  gt_path(out, t.comm.root, "audit.txt");
  assert_int_equal(lg_vkey_format(&t.log_key.vkey, vkey, sizeof vkey), 0);
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
#define G(k) ((int64_t)json_integer_value(json_object_get(b, k)))
    char line[256];
    snprintf(line, sizeof line,
             "%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
             " %" PRId64 " %" PRId64 " %" PRId64 "\n",
             json_string_value(json_object_get(b, "meter")), G("money"),
             G("fees"), G("local_bought_wh"), G("local_sold_wh"),
             G("grid_import_wh"), G("grid_export_wh"), G("intervals"),
             G("missing_readings"));
    if (!strstr(text, line))
      fail_msg("the auditor does not agree on \"%s\":\n%s", line, text);
    /* And it is the sum of the household's settlements. */
    char path[160];
    snprintf(path, sizeof path,
             "/v1/meters/%s/settlements?limit=10000&order=asc",
             json_string_value(json_object_get(b, "meter")));
    json_t *s = agt_json(&t, path);
    json_t *rows = json_object_get(s, "settlements");
    int64_t sum = 0;
    for (size_t r = 0; r < json_array_size(rows); r++)
      sum +=
          json_integer_value(json_object_get(json_array_get(rows, r), "net"));
    assert_int_equal(sum, G("money"));
#undef G
    json_decref(s);
  }
  json_decref(bal);
  free(text);
}

static void check_ledger_alone(bool exactly_once) {
  lg_ledger *lg = NULL;
  lg_ledger_options lo = {.read_only = true};
  assert_int_equal(lg_ledger_open(t.db, &lo, &lg), 0);
  replay_report rep;
  if (replay_ledger(lg, &rep) != 0)
    fail_msg("replay: %s", rep.problem);
  assert_true(rep.intervals >= 5);
  if (exactly_once) {
    lg_audit_report ar;
    lg_audit_options ao = {.log_key = &t.log_key.vkey};
    assert_int_equal(lg_audit_run(lg, &ao, &ar), 0);
    if (!ar.ok)
      fail_msg("audit: %s", ar.problem);
    lg_audit_report_clear(&ar);
    /* Every published checkpoint is a prefix of this ledger. */
    lg_policy pol = {.log_key = &t.log_key.vkey};
    for (size_t i = 0; i < nnotes; i++) {
      lg_checkpoint cp;
      const char *why = NULL;
      if (lg_policy_verify(&pol, notes[i], strlen(notes[i]), &cp, NULL, &why))
        fail_msg("published checkpoint %zu: %s", i, why);
      uint8_t root[LG_HASH_LEN];
      assert_int_equal(lg_ledger_root(lg, cp.size, root), 0);
      assert_memory_equal(root, cp.root, LG_HASH_LEN);
    }
  }
  lg_ledger_free(lg);
}

static void test_real_meters_settle_and_balance(void **state) {
  (void)state;
  int64_t from = gl_floor_div(agt_now(&t), t.interval) * t.interval;
  int n = 0;
  for (int w = 0; w < 300 && n < 5; w++) {
    gt_sleep_ms(100);
    collect_checkpoints();
    if (w % 5 == 0)
      n = complete_intervals(from);
  }
  if (n < 5) {
    char *log = gt_read_file(t.log, NULL);
    fail_msg("only %d complete intervals; aggregator log:\n%s", n,
             log ? log : "");
  }
  assert_true(check_conservation() >= 5);
  check_balances_with_auditor();
  check_ledger_alone(true);
  /* Local trade happened (the households export at midday). */
  json_t *j = agt_json(&t, "/v1/trades?limit=1");
  assert_true(json_array_size(json_object_get(j, "trades")) == 1);
  json_decref(j);
  /* The meters have their receipts, checked in the ledger by proofs. */
  for (int i = 0; i < METERS; i++) {
    char *report = NULL;
    int st = agt_meter_proc_status(&pm[i], &report);
    if (st != 0 || !strstr(report, "confirmed in the ledger"))
      fail_msg("%s: status %d:\n%s", pm[i].id.id, st, report);
    assert_non_null(strstr(report, "alarms         none"));
    free(report);
  }
}

static void test_kill9_with_real_meters_running(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(77);
  gl_rand r = gl_seeded_rand_rand(sr);
  for (int k = 0; k < 6; k++) {
    uint64_t ms = 0;
    gl_rand_below(&r, 1800, &ms);
    for (int w = 0; w < (int)ms / 50; w++) {
      gt_sleep_ms(50);
      collect_checkpoints();
    }
    agt_kill9(&t);
    /* Down for a moment: readings queue at the broker, meters wait for
     * receipts. */
    gl_rand_below(&r, 700, &ms);
    gt_sleep_ms((int)ms);
    agt_start(&t, NULL);
  }
  gl_seeded_rand_free(sr);
  /* Let it run: meters re-send what had no receipt, intervals settle. */
  int64_t now = agt_now(&t);
  int64_t last = gl_floor_div(now, t.interval) * t.interval;
  for (int w = 0; w < 100; w++) {
    gt_sleep_ms(100);
    collect_checkpoints();
  }
  agt_wait_settled(&t, last, 20000);
  for (int i = 0; i < METERS; i++) {
    int st = agt_meter_proc_stop(&pm[i]);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  gt_sleep_ms(300);
  collect_checkpoints();
  assert_int_equal(agt_stop(&t) & 0x7f, 0);
  collect_checkpoints();
  /* Exactly once: the audit refuses an interval settled twice; the
   * settlements are contiguous from the first interval. */
  agg_store *st = NULL;
  assert_int_equal(agg_store_open(t.db, false, true, &st), 0);
  int64_t first = 0;
  assert_int_equal(agg_store_meta_get(st, "first_interval", &first), 0);
  agg_interval_rec lastiv;
  assert_int_equal(agg_store_interval_last(st, &lastiv), 0);
  for (int64_t s = first; s <= lastiv.start; s += t.interval) {
    agg_interval_rec iv;
    if (agg_store_interval_get(st, s, &iv) != 0)
      fail_msg("interval %" PRId64 " was never settled",
               (s - first) / t.interval);
  }
  agg_store_free(st);
  assert_true(nnotes >= 10);
  check_ledger_alone(true);
  for (int i = 0; i < METERS; i++) {
    char *report = NULL;
    int s2 = agt_meter_proc_status(&pm[i], &report);
    if (s2 != 0)
      fail_msg("%s: status %d:\n%s", pm[i].id.id, s2, report);
    free(report);
  }
}

static void test_simulator_reproduces_the_settlements(void **state) {
  (void)state;
#ifndef AGG_HAVE_SIM_RUN
  skip(); /* gridlet-sim has no `run` command in this tree yet */
#else
  char bin[GT_PATH_MAX], out[GT_PATH_MAX], copy[GT_PATH_MAX];
  char ini[GT_PATH_MAX], outdir[GT_PATH_MAX];
  agt_bin(bin, "ledger/cli/gridlet-ledger");
  gt_path(out, t.comm.root, "sim-replay.txt");
  gt_path(copy, t.comm.root, "ledger-export.db");
  char *ex[] = {bin, "export", "--db", t.db, "--out", copy, NULL};
  assert_int_equal(agt_run_cli(ex, out), 0);
  gt_path(ini, t.comm.root, "replay.ini");
  gt_path(outdir, t.comm.root, "replay-out");
  char text[512];
  snprintf(text, sizeof text,
           "[scenario]\nname = e2e-replay\ninterval = %s\n"
           "[market]\nmode = %s\nrule = marginal\n"
           "[input]\nsource = ledger\npath = ledger-export.db\n"
           "verify = true\n",
           t.o.interval, t.o.mode);
  gt_write_file(ini, text, (size_t)-1);
  agt_bin(bin, "sim/gridlet-sim");
  char *run[] = {bin, "run", ini, "--out", outdir, "--no-plots", NULL};
  int st = agt_run_cli(run, out);
  char *report = gt_read_file(out, NULL);
  /* Exit 3 would be a settlement the replay does not reproduce. */
  if (st != 0 || !strstr(report, " 0 differ"))
    fail_msg("gridlet-sim run exited %d:\n%s", st, report ? report : "");
  assert_null(strstr(report, " 0 match"));
  free(report);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_meters_settle_and_balance),
      cmocka_unit_test(test_kill9_with_real_meters_running),
      cmocka_unit_test(test_simulator_reproduces_the_settlements),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
