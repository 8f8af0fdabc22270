/* SPDX-License-Identifier: MIT */
/*
 * The verification pool: jobs come back in submission order whatever the
 * workers' interleaving, verdicts are those of pr_open, and the parallel
 * helper covers every index once.
 */
#include "gridlet/agg_verify.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/pr_seal.h"
#include "gridlet/rand.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_jobs_finish_in_submission_order(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(7);
  gl_rand r = gl_seeded_rand_rand(sr);
  gl_ed25519_key key;
  assert_int_equal(gl_ed25519_generate(&r, &key), 0);
  pr_key_entry ke = {.kid = "m1"};
  memcpy(ke.pub, key.pub, 32);
  pr_key_table kt = {&ke, 1};
  pr_keyring kr = pr_key_table_keyring(&kt);
  gl_clock real = gl_clock_real();
  agg_verify *v = NULL;
  assert_int_equal(agg_verify_new(3, 16, "c1", &kr, &real, NULL, &v), 0);
  const int total = 200;
  int submitted = 0, done = 0;
  while (done < total) {
    agg_job *j;
    while (submitted < total && (j = agg_verify_slot(v)) != NULL) {
      pr_msg m;
      pr_msg_init(&m, PR_MSG_STATUS, "m1", submitted + 1,
                  INT64_C(1782036000000000000));
      m.status.state = PR_STATE_ONLINE;
      assert_int_equal(pr_seal(&m, &key, j->buf, sizeof j->buf, &j->len, NULL),
                       0);
      if (submitted % 7 == 3)
        j->buf[j->len - 1] ^= 1; /* a broken signature now and then */
      snprintf(j->topic, sizeof j->topic, "gridlet/c1/meter/m1/status");
      j->topic_len = strlen(j->topic);
      agg_verify_submit(v, j);
      submitted++;
    }
    struct pollfd p = {.fd = agg_verify_fd(v), .events = POLLIN};
    poll(&p, 1, 1000);
    while ((j = agg_verify_next(v)) != NULL) {
      assert_int_equal(j->msg.seq ? j->msg.seq : done + 1, done + 1);
      if (done % 7 == 3) {
        assert_int_equal(j->rc, GL_EVERIFY);
        assert_int_equal(j->diag.reason, PR_R_BAD_SIGNATURE);
      } else {
        assert_int_equal(j->rc, 0);
        assert_int_equal(j->msg.type, PR_MSG_STATUS);
      }
      agg_verify_release(v, j);
      done++;
    }
  }
  assert_int_equal(agg_verify_pending(v), 0);
  agg_verify_free(v);
  gl_seeded_rand_free(sr);
}

static atomic_int hits[1000];

static void mark(void *ctx, size_t i) {
  (void)ctx;
  atomic_fetch_add(&hits[i], 1);
}

static void test_parallel_for_covers_each_index_once(void **state) {
  (void)state;
  assert_int_equal(agg_parallel_for(4, 1000, mark, NULL), 0);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(atomic_load(&hits[i]), 1);
  assert_int_equal(agg_parallel_for(4, 0, mark, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jobs_finish_in_submission_order),
      cmocka_unit_test(test_parallel_for_covers_each_index_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
