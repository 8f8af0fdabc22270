/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the auditor and the balance recomputation: a clean log
 * passes and its balances equal the sums of its settlements; each kind of
 * tampering with the stored database is found and located.
 */
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_balances.h"
#include "ledger_testhelp.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ORIGIN "gridlet/audited"
#define T0 INT64_C(1767225600000000000)
#define IV (900 * GL_NS_PER_SEC)

typedef struct env {
  char dir[GT_PATH_MAX];
  char db[GT_PATH_MAX];
  gl_seeded_rand *sr;
  lg_signer key;
  lg_ledger *lg;
  int64_t money[8]; /* expected balance per household h000..h007 */
} env;

/* Five intervals: orders, then a settlement among 8 households; a
 * checkpoint after each interval. 5 x (20 + 1) = 105 entries. */
static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  gt_tmpdir("audit", e->dir);
  gt_path(e->db, e->dir, "log.db");
  e->sr = gl_seeded_rand_new(17);
  gl_rand r = gl_seeded_rand_rand(e->sr);
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &e->key), 0);
  lg_ledger_options o = {.origin = ORIGIN, .create = true};
  assert_int_equal(lg_ledger_open(e->db, &o, &e->lg), 0);
  for (int i = 0; i < 5; i++) {
    th_append_orders(e->lg, (uint64_t)i * 21, (uint64_t)i * 21 + 20);
    lg_entry s;
    th_settlement(T0 + i * IV, 8, (uint64_t)i, &s);
    for (int k = 0; k < 8; k++)
      e->money[k] += s.u.settlement.rows[k].money;
    assert_int_equal(lg_ledger_append_entries(e->lg, &s, 1, NULL), 0);
    th_settlement_free(&s);
    char *note;
    assert_int_equal(lg_ledger_checkpoint(e->lg, &e->key, &note), 0);
    free(note);
  }
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  lg_ledger_free(e->lg);
  gl_seeded_rand_free(e->sr);
  gt_rmtree(e->dir);
  free(e);
  return 0;
}

static void audit(env *e, lg_audit_report *rep) {
  lg_audit_options o = {&e->key.vkey, NULL, 0};
  gt_log_capture_begin();
  assert_int_equal(lg_audit_file(e->db, &o, rep), 0);
  gt_log_capture_end();
}

static void
test_audit_passes_a_clean_log_and_recomputes_balances(void **state) {
  env *e = *state;
  lg_audit_report rep;
  audit(e, &rep);
  assert_true(rep.ok);
  assert_string_equal(rep.problem, "");
  assert_int_equal(rep.entries, 105);
  assert_int_equal(rep.by_type[LG_ENTRY_ORDER], 100);
  assert_int_equal(rep.by_type[LG_ENTRY_SETTLEMENT], 5);
  assert_int_equal(rep.checkpoints, 5);
  assert_false(rep.key_from_db);
  uint8_t root[32];
  assert_int_equal(lg_ledger_root(e->lg, 105, root), 0);
  assert_memory_equal(rep.root, root, 32);
  assert_int_equal(lg_balances_count(rep.balances), 8);
  int64_t sum = 0;
  for (size_t k = 0; k < 8; k++) {
    const lg_balance *b = lg_balances_at(rep.balances, k);
    char id[8];
    snprintf(id, sizeof id, "h%03zu", k);
    assert_string_equal(b->meter_id, id);
    assert_int_equal(b->money, e->money[k]);
    assert_int_equal(b->intervals, 5);
    sum += b->money;
  }
  lg_balance_totals t;
  lg_balances_totals(rep.balances, &t);
  assert_int_equal(t.settlements, 5);
  /* Money is conserved over the whole log as well. */
  assert_int_equal(sum + t.utility_money + t.fee_money, 0);
  lg_audit_report_clear(&rep);

  /* The library's own recomputation agrees; without a key the audit uses
   * the recorded one and says so. */
  lg_balances *b;
  assert_int_equal(lg_ledger_balances(e->lg, 0, &b), 0);
  assert_int_equal(lg_balances_find(b, "h003")->money, e->money[3]);
  assert_null(lg_balances_find(b, "h999"));
  lg_balances_free(b);
  assert_int_equal(lg_audit_file(e->db, NULL, &rep), 0);
  assert_true(rep.ok);
  assert_true(rep.key_from_db);
  lg_audit_report_clear(&rep);
}

static void test_audit_names_an_entry_with_one_flipped_byte(void **state) {
  env *e = *state;
  /* Flip one byte in the middle of entry 47 (an order's limit price). */
  th_flip_entry_byte(e->db, 47, 30);
  lg_audit_report rep;
  audit(e, &rep);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_entry, 47);
  assert_non_null(strstr(rep.problem, "entry 47"));
  assert_null(rep.balances);
  lg_audit_report_clear(&rep);
}

static void test_audit_locates_a_changed_subtree_hash(void **state) {
  env *e = *state;
  /* Change one stored hash of level 1 (a 16-leaf subtree). */
  th_sql(e->db, "UPDATE lg_tiles SET hashes = zeroblob(32) || "
                "substr(hashes, 33) WHERE id = (1 << 56)");
  lg_audit_report rep;
  audit(e, &rep);
  assert_false(rep.ok);
  assert_non_null(strstr(rep.problem, "subtree of entries [0, 16)"));
  lg_audit_report_clear(&rep);
}

static void test_audit_finds_consistently_rewritten_history(void **state) {
  env *e = *state;
  /* Swap two orders and rebuild every stored hash so that only the signed
   * checkpoints can tell: the audit points at the first checkpoint whose
   * range contains the change. */
  th_sql(e->db, "UPDATE lg_entries SET idx = -1 WHERE idx = 30;"
                "UPDATE lg_entries SET idx = 30 WHERE idx = 31;"
                "UPDATE lg_entries SET idx = 31 WHERE idx = -1;"
                "DELETE FROM lg_tiles;");
  char scratch[GT_PATH_MAX];
  gt_path(scratch, e->dir, "rebuilt.db");
  lg_ledger *s;
  lg_ledger_options so = {.origin = ORIGIN, .create = true};
  assert_int_equal(lg_ledger_open(scratch, &so, &s), 0);
  for (uint64_t i = 0; i < 105; i++) {
    uint8_t *d;
    size_t len;
    assert_int_equal(lg_ledger_entry(e->lg, i, &d, &len), 0);
    gl_bytes b = {d, len};
    assert_int_equal(lg_ledger_append(s, &b, 1, NULL), 0);
    free(d);
  }
  lg_ledger_free(s);
  char sql[GT_PATH_MAX + 100];
  snprintf(sql, sizeof sql,
           "ATTACH '%s' AS s; INSERT INTO lg_tiles SELECT * FROM s.lg_tiles",
           scratch);
  th_sql(e->db, sql);
  lg_audit_report rep;
  audit(e, &rep);
  assert_false(rep.ok);
  assert_non_null(strstr(rep.problem, "checkpoint of size 42"));
  assert_non_null(strstr(rep.problem, "[21, 42)"));
  lg_audit_report_clear(&rep);
}

static void test_audit_checks_signatures_and_settled_once(void **state) {
  env *e = *state;
  lg_audit_report rep;
  /* A checkpoint whose signature was altered. */
  th_sql(e->db, "UPDATE lg_checkpoints SET note = note || 'x' "
                "WHERE size = 63");
  audit(e, &rep);
  assert_false(rep.ok);
  assert_non_null(strstr(rep.problem, "checkpoint of size 63"));
  lg_audit_report_clear(&rep);
  th_sql(e->db, "UPDATE lg_checkpoints SET note = substr(note, 1, "
                "length(note) - 1) WHERE size = 63");
  audit(e, &rep);
  assert_true(rep.ok);
  lg_audit_report_clear(&rep);

  /* Another key than the one the checkpoints were signed with. */
  gl_rand r = gl_seeded_rand_rand(e->sr);
  lg_signer other;
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &other), 0);
  lg_audit_options o = {&other.vkey, NULL, 0};
  gt_log_capture_begin();
  assert_int_equal(lg_audit_file(e->db, &o, &rep), 0);
  gt_log_capture_end();
  assert_false(rep.ok);
  lg_audit_report_clear(&rep);

  /* The same interval settled twice. */
  lg_entry s;
  th_settlement(T0 + 2 * IV, 4, 9, &s);
  assert_int_equal(lg_ledger_append_entries(e->lg, &s, 1, NULL), 0);
  th_settlement_free(&s);
  audit(e, &rep);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_entry, 105);
  assert_non_null(strstr(rep.problem, "a second time"));
  assert_non_null(strstr(rep.problem, "entry 62"));
  lg_audit_report_clear(&rep);
}

static void test_audit_finds_a_missing_entry_and_a_lost_tail(void **state) {
  env *e = *state;
  lg_audit_report rep;
  th_sql(e->db, "DELETE FROM lg_entries WHERE idx = 10");
  audit(e, &rep);
  assert_false(rep.ok);
  assert_int_equal(rep.bad_entry, 10);
  assert_non_null(strstr(rep.problem, "entry 10 is missing"));
  lg_audit_report_clear(&rep);
  th_sql(e->db, "DELETE FROM lg_entries WHERE idx >= 10");
  audit(e, &rep);
  assert_false(rep.ok);
  assert_non_null(strstr(rep.problem, "only 10 entries"));
  lg_audit_report_clear(&rep);
}

static void
test_balances_refuse_overflow_without_partial_updates(void **state) {
  (void)state;
  lg_balances *b = lg_balances_new();
  lg_entry s;
  th_settlement(T0, 2, 1, &s);
  /* Push one household near the limit. */
  s.u.settlement.rows[0].money = INT64_MAX - 5;
  s.u.settlement.rows[1].money = -(INT64_MAX - 5);
  assert_int_equal(lg_balances_add(b, &s.u.settlement), 0);
  s.u.settlement.rows[0].money = 10;
  s.u.settlement.rows[1].money = -10;
  assert_int_equal(lg_balances_add(b, &s.u.settlement), GL_ERANGE);
  const lg_balance *x = lg_balances_find(b, "h000");
  assert_int_equal(x->money, INT64_MAX - 5);
  assert_int_equal(x->intervals, 1);
  assert_int_equal(lg_balances_find(b, "h001")->money, -(INT64_MAX - 5));
  th_settlement_free(&s);
  lg_balances_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_audit_passes_a_clean_log_and_recomputes_balances, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_names_an_entry_with_one_flipped_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_audit_locates_a_changed_subtree_hash,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_finds_consistently_rewritten_history, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_checks_signatures_and_settled_once, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_audit_finds_a_missing_entry_and_a_lost_tail, setup, teardown),
      cmocka_unit_test(test_balances_refuse_overflow_without_partial_updates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
