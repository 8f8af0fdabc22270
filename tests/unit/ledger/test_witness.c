/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the witness: it cosigns a growing log, answers each bad
 * request with the tlog-witness status, and refuses a forked history (the
 * same log key signing two different trees), keeping it as evidence.
 */
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/ledger_witness.h"
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

#define ORIGIN "gridlet/oakfield"

typedef struct env {
  char dir[GT_PATH_MAX];
  gl_seeded_rand *sr;
  gl_manual_clock *mc;
  gl_clock clock;
  lg_signer logkey, wkey;
  lg_ledger *honest, *fork;
  lg_witness *w;
} env;

static lg_ledger *open_log(env *e, const char *name) {
  char path[GT_PATH_MAX];
  gt_path(path, e->dir, name);
  lg_ledger *lg;
  lg_ledger_options o = {.origin = ORIGIN, .create = true, .clock = &e->clock};
  assert_int_equal(lg_ledger_open(path, &o, &lg), 0);
  return lg;
}

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  gt_tmpdir("witness", e->dir);
  e->sr = gl_seeded_rand_new(3);
  gl_rand r = gl_seeded_rand_rand(e->sr);
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &e->logkey),
                   0);
  assert_int_equal(
      lg_signer_generate("dso.example/witness", LG_SIG_COSIG_V1, &r, &e->wkey),
      0);
  e->mc = th_clock();
  e->clock = gl_manual_clock_clock(e->mc);
  e->honest = open_log(e, "honest.db");
  e->fork = open_log(e, "fork.db");
  char path[GT_PATH_MAX], vk[LG_KEY_TEXT_MAX];
  gt_path(path, e->dir, "witness.db");
  assert_int_equal(lg_witness_open(path, &e->wkey, &e->clock, &e->w), 0);
  assert_int_equal(lg_vkey_format(&e->logkey.vkey, vk, sizeof vk), 0);
  assert_int_equal(lg_witness_add_log(e->w, vk), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  lg_witness_free(e->w);
  lg_ledger_free(e->honest);
  lg_ledger_free(e->fork);
  gl_seeded_rand_free(e->sr);
  gl_manual_clock_free(e->mc);
  gt_rmtree(e->dir);
  free(e);
  return 0;
}

/* Sign the log's current size and ask the witness, proving from `old`. */
static int submit(env *e, lg_ledger *lg, uint64_t old, lg_witness_result *res,
                  char **cosig) {
  char *note, *req;
  assert_int_equal(lg_ledger_checkpoint(lg, &e->logkey, &note), 0);
  free(note);
  assert_int_equal(lg_ledger_witness_request(lg, old, &req), 0);
  int rc = lg_witness_add_checkpoint(e->w, req, strlen(req), cosig, res);
  free(req);
  return rc;
}

static void test_witness_cosigns_a_growing_log(void **state) {
  env *e = *state;
  lg_witness_result res;
  char *cosig;
  th_append_orders(e->honest, 0, 10);
  assert_int_equal(submit(e, e->honest, 0, &res, &cosig), 0);
  assert_int_equal(res.status, 200);
  /* The cosignature verifies over the checkpoint, with the clock's time. */
  char *note;
  assert_int_equal(lg_ledger_latest_checkpoint(e->honest, &note, NULL), 0);
  size_t len = strlen(note) + strlen(cosig) + 1;
  char *full = malloc(len);
  snprintf(full, len, "%s%s", note, cosig);
  lg_policy pol = {&e->logkey.vkey, &e->wkey.vkey, 1, 1};
  lg_checkpoint cp;
  lg_policy_result pr;
  assert_int_equal(lg_policy_verify(&pol, full, strlen(full), &cp, &pr, NULL),
                   0);
  assert_int_equal(pr.newest_cosig_time, 1767225600);
  free(full);
  free(note);
  free(cosig);
  uint64_t size;
  uint8_t root[32];
  assert_int_equal(lg_witness_state(e->w, ORIGIN, &size, root), 0);
  assert_int_equal(size, 10);

  for (uint64_t n = 10; n < 100; n += 17) {
    th_append_orders(e->honest, n, n + 17);
    gl_manual_clock_advance(e->mc, 900 * GL_NS_PER_SEC);
    assert_int_equal(submit(e, e->honest, size, &res, &cosig), 0);
    free(cosig);
    assert_int_equal(lg_witness_state(e->w, ORIGIN, &size, root), 0);
    assert_int_equal(size, n + 17);
  }
  /* The same checkpoint again is cosigned again (idempotent retry). */
  assert_int_equal(submit(e, e->honest, size, &res, &cosig), 0);
  free(cosig);
  uint64_t evidence = 99;
  assert_int_equal(lg_witness_evidence(e->w, ORIGIN, &evidence), 0);
  assert_int_equal(evidence, 0);
}

static void test_witness_refuses_a_forked_history(void **state) {
  env *e = *state;
  lg_witness_result res;
  char *cosig = NULL;
  /* Both logs share the first 20 entries, then diverge. */
  th_append_orders(e->honest, 0, 20);
  th_append_orders(e->fork, 0, 20);
  assert_int_equal(submit(e, e->honest, 0, &res, &cosig), 0);
  free(cosig);
  th_append_orders(e->honest, 20, 30);
  assert_int_equal(submit(e, e->honest, 20, &res, &cosig), 0);
  free(cosig);
  /* The fork: different entries 20..29, signed by the same log key. */
  lg_entry x;
  th_settlement(1767225600000000000, 3, 7, &x);
  assert_int_equal(lg_ledger_append_entries(e->fork, &x, 1, NULL), 0);
  th_settlement_free(&x);
  th_append_orders(e->fork, 21, 30);

  /* Same size, different root. */
  gt_log_capture_begin();
  assert_int_equal(submit(e, e->fork, 30, &res, &cosig), GL_ECONFLICT);
  assert_int_equal(res.status, 409);
  assert_non_null(strstr(res.why, "forked"));
  assert_null(cosig);
  assert_true(gt_log_contains("kept as evidence"));
  gt_log_capture_end();

  /* Larger, with a consistency proof from the fork's own tree at 30: the
   * proof does not lead to the root the witness cosigned. */
  th_append_orders(e->fork, 30, 45);
  gt_log_capture_begin();
  assert_int_equal(submit(e, e->fork, 30, &res, &cosig), GL_EVERIFY);
  assert_int_equal(res.status, 422);
  gt_log_capture_end();
  assert_null(cosig);
  uint64_t size, evidence;
  uint8_t root[32], honest_root[32];
  assert_int_equal(lg_witness_state(e->w, ORIGIN, &size, root), 0);
  assert_int_equal(size, 30);
  assert_int_equal(lg_ledger_root(e->honest, 30, honest_root), 0);
  assert_memory_equal(root, honest_root, 32);
  assert_int_equal(lg_witness_evidence(e->w, ORIGIN, &evidence), 0);
  assert_int_equal(evidence, 2);
  lg_witness_stats ws;
  lg_witness_stats_get(e->w, &ws);
  assert_int_equal(ws.cosigned, 2);
  assert_int_equal(ws.conflict, 1);
  assert_int_equal(ws.inconsistent, 1);
  assert_int_equal(ws.evidence, 2);
  /* The honest log still gets cosigned. */
  th_append_orders(e->honest, 30, 40);
  assert_int_equal(submit(e, e->honest, 30, &res, &cosig), 0);
  free(cosig);
}

static void test_witness_answers_bad_requests_with_their_status(void **state) {
  env *e = *state;
  lg_witness_result res;
  char *cosig = NULL, *req, *note;
  th_append_orders(e->honest, 0, 12);
  assert_int_equal(submit(e, e->honest, 0, &res, &cosig), 0);
  free(cosig);
  th_append_orders(e->honest, 12, 20);
  assert_int_equal(lg_ledger_checkpoint(e->honest, &e->logkey, &note), 0);
  free(note);

  /* Stale old size: 409 with the latest cosigned size. */
  assert_int_equal(lg_ledger_witness_request(e->honest, 5, &req), 0);
  assert_int_equal(
      lg_witness_add_checkpoint(e->w, req, strlen(req), &cosig, &res),
      GL_ECONFLICT);
  assert_int_equal(res.status, 409);
  assert_int_equal(res.latest_size, 12);
  free(req);

  /* Old size above the checkpoint: 400. */
  assert_int_equal(lg_ledger_witness_request(e->honest, 12, &req), 0);
  char *p = strchr(req, '\n');
  size_t len = strlen(p) + 16;
  char *big = malloc(len);
  snprintf(big, len, "old 21%s", p);
  assert_int_equal(
      lg_witness_add_checkpoint(e->w, big, strlen(big), &cosig, &res),
      GL_EINVAL);
  assert_int_equal(res.status, 400);
  free(big);

  /* A signature from another key under the log's name: 403. */
  gl_rand r = gl_seeded_rand_rand(e->sr);
  lg_signer impostor;
  assert_int_equal(lg_signer_generate(ORIGIN, LG_SIG_ED25519, &r, &impostor),
                   0);
  lg_ledger *other = open_log(e, "impostor.db");
  th_append_orders(other, 0, 20);
  char *bad;
  assert_int_equal(lg_ledger_checkpoint(other, &impostor, &note), 0);
  free(note);
  assert_int_equal(lg_ledger_witness_request(other, 12, &bad), 0);
  assert_int_equal(
      lg_witness_add_checkpoint(e->w, bad, strlen(bad), &cosig, &res),
      GL_EPERM);
  assert_int_equal(res.status, 403);
  free(bad);
  lg_ledger_free(other);

  /* An unknown origin: 404. */
  lg_signer stranger;
  assert_int_equal(
      lg_signer_generate("gridlet/elsewhere", LG_SIG_ED25519, &r, &stranger),
      0);
  char path[GT_PATH_MAX];
  gt_path(path, e->dir, "elsewhere.db");
  lg_ledger_options o = {.origin = "gridlet/elsewhere", .create = true};
  assert_int_equal(lg_ledger_open(path, &o, &other), 0);
  th_append_orders(other, 0, 3);
  assert_int_equal(lg_ledger_checkpoint(other, &stranger, &note), 0);
  free(note);
  assert_int_equal(lg_ledger_witness_request(other, 0, &bad), 0);
  assert_int_equal(
      lg_witness_add_checkpoint(e->w, bad, strlen(bad), &cosig, &res),
      GL_ENOENT);
  assert_int_equal(res.status, 404);
  free(bad);
  lg_ledger_free(other);

  /* Malformed: 400. */
  static const char *const junk[] = {"", "old 1\n", "old x\n\nabc\n",
                                     "old 01\n\n", "old 12\nAAAA\n\n"};
  for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
    assert_int_equal(
        lg_witness_add_checkpoint(e->w, junk[i], strlen(junk[i]), &cosig, &res),
        GL_EPARSE);
    assert_int_equal(res.status, 400);
  }
  /* A damaged consistency proof: 422. */
  size_t rl = strlen(req);
  char *nl = strchr(req, '\n');
  nl[3] = nl[3] == 'A' ? 'B' : 'A'; /* inside the first proof hash */
  gt_log_capture_begin();
  assert_int_equal(lg_witness_add_checkpoint(e->w, req, rl, &cosig, &res),
                   GL_EVERIFY);
  gt_log_capture_end();
  assert_int_equal(res.status, 422);
  free(req);
  /* Nothing above changed the state. */
  uint64_t size;
  uint8_t root[32];
  assert_int_equal(lg_witness_state(e->w, ORIGIN, &size, root), 0);
  assert_int_equal(size, 12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_witness_cosigns_a_growing_log, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_witness_refuses_a_forked_history,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_witness_answers_bad_requests_with_their_status, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
