/* SPDX-License-Identifier: MIT */
/*
 * Interoperability, the other direction from test_proto_cose: envelopes
 * sealed by our C (every message type, typical and largest) are checked by
 * the independent Python implementation in tests/data/proto/cose_vectors.py
 * (hand-written strict CBOR decoder, Ed25519 from `cryptography`), run as
 * a real python3 process.
 */
#include "gridlet/error.h"
#include "gridlet/proto.h"
#include "samples.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static void write_line(FILE *f, const pr_msg *m, const gl_ed25519_key *key) {
  static uint8_t cose[PR_SEAL_MAX];
  static char hex[2 * PR_SEAL_MAX + 1];
  size_t n;
  pr_diag d = {0};
  if (pr_seal(m, key, cose, sizeof cose, &n, &d) != 0)
    fail_msg("seal %s: %s", pr_type_name(m->type), d.msg);
  char pub[65];
  fprintf(f, "%s %s %s\n", m->sender, gl_hex_encode(key->pub, 32, pub),
          gl_hex_encode(cose, n, hex));
}

static void test_interop_python_verifies_every_sealed_type(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], file[GT_PATH_MAX], log[GT_PATH_MAX];
  gt_tmpdir("proto-interop", dir);
  gt_path(file, dir, "sealed.txt");
  gt_path(log, dir, "python.log");
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  gl_ed25519_key meter, agg, other;
  sample_meter_key(&meter);
  sample_aggregator_key(&agg);
  uint8_t seed[32];
  memset(seed, 0x42, sizeof seed);
  assert_int_equal(gl_ed25519_from_seed(seed, &other), 0);
  int lines = 0;
  for (int t = 1; t < PR_MSG_COUNT; t++) {
    pr_msg m;
    sample_msg((pr_type)t, &m);
    write_line(f, &m, strcmp(m.sender, PR_AGGREGATOR_ID) ? &meter : &agg);
    sample_max_msg((pr_type)t, &m);
    write_line(f, &m, &other);
    lines += 2;
  }
  assert_int_equal(fclose(f), 0);

  char script[GT_PATH_MAX];
  gt_source_path(script, "tests/data/proto/cose_vectors.py");
  char *argv[] = {"python3", script, "verify", file, NULL};
  pid_t pid = gt_proc_start(argv, log, NULL);
  int status = gt_proc_wait(pid, 60000);
  char *out = gt_read_file(log, NULL);
  assert_non_null(out);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("python verification failed:\n%s", out);
  char want[64];
  snprintf(want, sizeof want, "verified %d envelopes, 0 failed", lines);
  assert_non_null(strstr(out, want));
  free(out);

  /* And the checker is not a rubber stamp: one flipped signature bit. */
  char *text = gt_read_file(file, NULL);
  assert_non_null(text);
  char *nl = strchr(text, '\n');
  assert_non_null(nl);
  nl[-1] = nl[-1] == '0' ? '1' : '0';
  gt_write_file(file, text, (size_t)-1);
  free(text);
  pid = gt_proc_start(argv, log, NULL);
  status = gt_proc_wait(pid, 60000);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
  gt_rmtree(dir);
}

/* The committed vectors are exactly what the generator makes (Ed25519 is
 * deterministic), so nobody edited them by hand. */
static void test_interop_committed_vectors_are_regenerable(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], out[GT_PATH_MAX], log[GT_PATH_MAX];
  char script[GT_PATH_MAX], committed[GT_PATH_MAX];
  gt_tmpdir("proto-vectors", dir);
  gt_path(out, dir, "vectors.txt");
  gt_path(log, dir, "python.log");
  gt_source_path(script, "tests/data/proto/cose_vectors.py");
  gt_source_path(committed, "tests/data/proto/cose_vectors.txt");
  char *argv[] = {"python3", script, "generate", out, NULL};
  int status = gt_proc_wait(gt_proc_start(argv, log, NULL), 60000);
  assert_true(status != -1 && WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  size_t na, nb;
  char *a = gt_read_file(out, &na), *b = gt_read_file(committed, &nb);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
  gt_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interop_python_verifies_every_sealed_type),
      cmocka_unit_test(test_interop_committed_vectors_are_regenerable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
