/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the real gridlet-ledger and gridlet-witness
 * binaries on real database files: exit codes of the verifiers (0 valid,
 * 1 invalid, 2 usage), an audit naming a flipped byte, export/import of a
 * mirror, and a witness refusing a forked history, all through the CLIs.
 */
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_checkpoint.h"
#include "ledger_testhelp.h"
#include "testutil.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct env {
  char dir[GT_PATH_MAX];
  char ledger[GT_PATH_MAX], witness[GT_PATH_MAX];
  char db[GT_PATH_MAX], key[GT_PATH_MAX];
  char out[GT_PATH_MAX], err[GT_PATH_MAX];
  char vkey[LG_KEY_TEXT_MAX];
  char *stdout_text, *stderr_text;
} env;

/* Run a tool with `in` (a file, or NULL for /dev/null) on stdin; keep its
 * stdout and stderr in e->stdout_text / e->stderr_text; return its exit
 * code. */
static int run(env *e, const char *in, char *const argv[]) {
  free(e->stdout_text);
  free(e->stderr_text);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int i = open(in ? in : "/dev/null", O_RDONLY);
    int o = open(e->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int r = open(e->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (i < 0 || o < 0 || r < 0)
      _exit(127);
    dup2(i, 0);
    dup2(o, 1);
    dup2(r, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  e->stdout_text = gt_read_file(e->out, NULL);
  e->stderr_text = gt_read_file(e->err, NULL);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

#define L(...) run(e, NULL, (char *const[]){e->ledger, __VA_ARGS__, NULL})
#define LIN(in, ...) run(e, in, (char *const[]){e->ledger, __VA_ARGS__, NULL})
#define W(in, ...) run(e, in, (char *const[]){e->witness, __VA_ARGS__, NULL})

static void write_entries(env *e, const char *name, uint64_t from,
                          uint64_t to) {
  char path[GT_PATH_MAX];
  gt_path(path, e->dir, name);
  size_t cap = (size_t)(to - from) * 300 + 16, n = 0;
  char *text = malloc(cap);
  text[0] = '\0';
  n += (size_t)snprintf(text, cap, "# orders %llu..%llu\n",
                        (unsigned long long)from, (unsigned long long)to);
  for (uint64_t i = from; i < to; i++) {
    size_t len;
    uint8_t *b = th_order_bytes(i, &len);
    gl_hex_encode(b, len, text + n);
    n += 2 * len;
    text[n++] = '\n';
    text[n] = '\0';
    free(b);
  }
  gt_write_file(path, text, n);
  free(text);
}

static int setup(void **state) {
  env *e = calloc(1, sizeof *e);
  gt_tmpdir("ledger-cli", e->dir);
  gt_build_path(e->ledger, "ledger/cli/gridlet-ledger");
  gt_build_path(e->witness, "ledger/cli/gridlet-witness");
  gt_path(e->db, e->dir, "log.db");
  gt_path(e->key, e->dir, "log.key");
  gt_path(e->out, e->dir, "stdout.txt");
  gt_path(e->err, e->dir, "stderr.txt");
  assert_int_equal(
      L("init", "--db", e->db, "--community", "oakfield", "--key", e->key), 0);
  snprintf(e->vkey, sizeof e->vkey, "%s", e->stdout_text);
  e->vkey[strcspn(e->vkey, "\n")] = '\0';
  assert_true(strncmp(e->vkey, "gridlet/oakfield+", 17) == 0);
  write_entries(e, "e1.hex", 0, 40);
  char path[GT_PATH_MAX];
  gt_path(path, e->dir, "e1.hex");
  assert_int_equal(L("append", "--db", e->db, path), 0);
  assert_non_null(strstr(e->stdout_text, "appended 40 entries at index 0"));
  assert_int_equal(L("checkpoint", "--db", e->db, "--key", e->key), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  free(e->stdout_text);
  free(e->stderr_text);
  gt_rmtree(e->dir);
  free(e);
  return 0;
}

/* The value of "key value" line `key` (n-th occurrence) in stdout. */
static const char *field(env *e, const char *key, int nth, char *buf,
                         size_t cap) {
  const char *p = e->stdout_text;
  size_t kl = strlen(key);
  for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    if (strncmp(p, key, kl) == 0 && p[kl] == ' ' && nth-- == 0) {
      size_t n = strcspn(p + kl + 1, "\n");
      assert_true(n < cap);
      memcpy(buf, p + kl + 1, n);
      buf[n] = '\0';
      return buf;
    }
  }
  fail_msg("no \"%s\" in output:\n%s", key, e->stdout_text);
  return NULL;
}

static void test_cli_verify_inclusion_exit_codes(void **state) {
  env *e = *state;
  assert_int_equal(L("prove", "--db", e->db, "--index", "13", "--size", "40"),
                   0);
  char leaf[80], root[80], p[6][80];
  field(e, "leaf_hash", 0, leaf, sizeof leaf);
  field(e, "root", 0, root, sizeof root);
  for (int i = 0; i < 6; i++)
    field(e, "proof", i, p[i], sizeof p[i]);
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", "--root", root, p[0], p[1], p[2], p[3],
                     p[4], p[5]),
                   0);
  assert_non_null(strstr(e->stdout_text, "valid"));
  /* One changed hex digit of one proof hash. */
  char bad[80];
  snprintf(bad, sizeof bad, "%s", p[2]);
  bad[10] = bad[10] == '0' ? '1' : '0';
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", "--root", root, p[0], p[1], bad, p[3],
                     p[4], p[5]),
                   1);
  assert_true(strncmp(e->stdout_text, "invalid: ", 9) == 0);
  assert_int_equal(strchr(e->stdout_text, '\n') - e->stdout_text + 1,
                   (long)strlen(e->stdout_text)); /* one line */
  /* A hash missing, a hash too many, hashes reordered. */
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", "--root", root, p[0], p[1], p[2], p[3],
                     p[4]),
                   1);
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", "--root", root, p[0], p[1], p[2], p[3],
                     p[4], p[5], p[5]),
                   1);
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", "--root", root, p[1], p[0], p[2], p[3],
                     p[4], p[5]),
                   1);
  /* Wrong index, index past the size. */
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "12",
                     "--size", "40", "--root", root, p[0], p[1], p[2], p[3],
                     p[4], p[5]),
                   1);
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "40",
                     "--size", "40", "--root", root, p[0], p[1], p[2], p[3],
                     p[4], p[5]),
                   1);
  assert_non_null(strstr(e->stdout_text, "at or past"));
  /* Usage errors: a missing option, a short hash, not a number. */
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "13",
                     "--size", "40", p[0]),
                   2);
  assert_non_null(strstr(e->stderr_text, "--root is required"));
  assert_int_equal(L("verify-inclusion", "--leaf-hash", "abcd", "--index", "13",
                     "--size", "40", "--root", root),
                   2);
  assert_int_equal(L("verify-inclusion", "--leaf-hash", leaf, "--index", "x",
                     "--size", "40", "--root", root),
                   2);
  assert_int_equal(L("verify-inclusion", "--bogus", "1"), 2);
}

static void test_cli_verify_consistency_exit_codes(void **state) {
  env *e = *state;
  assert_int_equal(L("prove", "--db", e->db, "--size1", "11", "--size2", "40"),
                   0);
  char r1[80], r2[80], p[8][80];
  field(e, "root1", 0, r1, sizeof r1);
  field(e, "root2", 0, r2, sizeof r2);
  int n = 0;
  for (const char *s = e->stdout_text; (s = strstr(s, "\nproof ")); s++)
    n++;
  assert_true(n >= 2 && n <= 8);
  for (int i = 0; i < n; i++)
    field(e, "proof", i, p[i], sizeof p[i]);
  char *argv[32] = {e->ledger, "verify-consistency",
                    "--size1", "11",
                    "--size2", "40",
                    "--root1", r1,
                    "--root2", r2};
  for (int i = 0; i < n; i++)
    argv[10 + i] = p[i];
  argv[10 + n] = NULL;
  assert_int_equal(run(e, NULL, argv), 0);
  argv[3] = "12";
  assert_int_equal(run(e, NULL, argv), 1);
  argv[3] = "0";
  assert_int_equal(run(e, NULL, argv), 1);
  assert_non_null(strstr(e->stdout_text, "size 0"));
  argv[3] = "41";
  assert_int_equal(run(e, NULL, argv), 1);
  argv[3] = "11";
  argv[9 + n] = NULL; /* drop the last hash */
  assert_int_equal(run(e, NULL, argv), 1);
  assert_int_equal(L("verify-consistency", "--size1", "40", "--size2", "40",
                     "--root1", r2, "--root2", r2),
                   0);
  assert_int_equal(L("verify-consistency", "--size1", "40", "--size2", "40",
                     "--root1", r2, "--root2", r1),
                   1);
  assert_int_equal(
      L("verify-consistency", "--size1", "11", "--root1", r1, "--root2", r2),
      2);
}

static void test_cli_bundle_names_what_is_missing(void **state) {
  env *e = *state;
  /* The log has a checkpoint of size 40 only. */
  assert_int_equal(L("bundle", "--db", e->db, "--index", "0", "--size", "5"),
                   1);
  assert_non_null(strstr(e->stderr_text, "no checkpoint of size 5"));
  assert_int_equal(L("bundle", "--db", e->db, "--index", "45", "--size", "40"),
                   1);
  assert_non_null(
      strstr(e->stderr_text, "entry 45 is not in the tree of size 40"));
  assert_int_equal(L("bundle", "--db", e->db, "--index", "45"), 1);
  assert_non_null(
      strstr(e->stderr_text, "no signed checkpoint covers entry 45 yet"));
  assert_int_equal(L("bundle", "--db", e->db, "--index", "3", "--size", "40"),
                   0);
}

static void test_cli_audit_names_a_flipped_byte(void **state) {
  env *e = *state;
  assert_int_equal(L("audit", "--db", e->db, "--vkey", e->vkey), 0);
  assert_non_null(strstr(e->stdout_text, "audit OK: 40 entries"));
  th_flip_entry_byte(e->db, 23, 17);
  assert_int_equal(L("audit", "--db", e->db, "--vkey", e->vkey), 1);
  assert_non_null(strstr(e->stdout_text, "first bad entry 23"));
  /* An operational error is not an audit verdict. */
  char missing[GT_PATH_MAX];
  gt_path(missing, e->dir, "missing.db");
  assert_int_equal(L("audit", "--db", missing), 3);
}

static void test_cli_export_import_mirror(void **state) {
  env *e = *state;
  char exp[GT_PATH_MAX], mirror[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_path(exp, e->dir, "export.db");
  gt_path(mirror, e->dir, "mirror.db");
  assert_int_equal(L("export", "--db", e->db, "--out", exp), 0);
  assert_int_equal(L("audit", "--db", exp, "--vkey", e->vkey), 0);
  assert_int_equal(
      L("import", "--db", mirror, "--from", exp, "--vkey", e->vkey), 0);
  assert_non_null(strstr(e->stdout_text, "now has 40 entries"));
  write_entries(e, "e2.hex", 40, 55);
  gt_path(path, e->dir, "e2.hex");
  assert_int_equal(L("append", "--db", e->db, path), 0);
  assert_int_equal(L("checkpoint", "--db", e->db, "--key", e->key), 0);
  gt_rmtree(exp);
  assert_int_equal(L("export", "--db", e->db, "--out", exp), 0);
  /* A copy with one entry altered is refused; the mirror is unchanged. */
  char bad[GT_PATH_MAX];
  gt_path(bad, e->dir, "bad.db");
  assert_int_equal(L("export", "--db", e->db, "--out", bad), 0);
  th_flip_entry_byte(bad, 50, 20);
  assert_int_equal(
      L("import", "--db", mirror, "--from", bad, "--vkey", e->vkey), 1);
  assert_non_null(strstr(e->stderr_text, "the mirror is unchanged"));
  /* Into a new mirror: refused, and no mirror file is left behind. */
  char fresh[GT_PATH_MAX];
  gt_path(fresh, e->dir, "fresh-mirror.db");
  assert_int_equal(L("import", "--db", fresh, "--from", bad, "--vkey", e->vkey),
                   1);
  assert_non_null(strstr(e->stderr_text, "no mirror was created"));
  assert_false(access(fresh, F_OK) == 0);
  char missing[GT_PATH_MAX];
  gt_path(missing, e->dir, "no-such-export.db");
  assert_int_equal(
      L("import", "--db", fresh, "--from", missing, "--vkey", e->vkey), 3);
  assert_false(access(fresh, F_OK) == 0);
  assert_int_equal(L("info", "--db", mirror), 0);
  assert_non_null(strstr(e->stdout_text, "size 40\n"));
  assert_int_equal(
      L("import", "--db", mirror, "--from", exp, "--vkey", e->vkey), 0);
  assert_non_null(strstr(e->stdout_text, "now has 55 entries"));
  assert_int_equal(L("audit", "--db", mirror, "--vkey", e->vkey), 0);
}

static void test_cli_witness_cosigns_and_refuses_a_fork(void **state) {
  env *e = *state;
  char wdb[GT_PATH_MAX], wkey[GT_PATH_MAX], req[GT_PATH_MAX],
      cosig[GT_PATH_MAX], bundle[GT_PATH_MAX], wv[LG_KEY_TEXT_MAX];
  gt_path(wdb, e->dir, "witness.db");
  gt_path(wkey, e->dir, "witness.key");
  gt_path(req, e->dir, "request.txt");
  gt_path(cosig, e->dir, "cosig.txt");
  gt_path(bundle, e->dir, "bundle.txt");
  assert_int_equal(
      W(NULL, "init", "--db", wdb, "--name", "dso.example/w1", "--key", wkey),
      0);
  snprintf(wv, sizeof wv, "%s", e->stdout_text);
  wv[strcspn(wv, "\n")] = '\0';
  assert_int_equal(
      W(NULL, "add-log", "--db", wdb, "--key", wkey, "--vkey", e->vkey), 0);
  /* Round 1: a new witness, old size 0. */
  assert_int_equal(L("witness-request", "--db", e->db), 0);
  gt_write_file(req, e->stdout_text, (size_t)-1);
  assert_int_equal(W(req, "add-checkpoint", "--db", wdb, "--key", wkey), 0);
  gt_write_file(cosig, e->stdout_text, (size_t)-1);
  assert_int_equal(LIN(cosig, "add-cosignatures", "--db", e->db, "--size", "40",
                       "--witness", wv),
                   0);
  assert_non_null(strstr(e->stdout_text, "kept 1"));
  /* An offline bundle verifies with "log key + 1 of 1 witness". */
  assert_int_equal(L("bundle", "--db", e->db, "--index", "7"), 0);
  gt_write_file(bundle, e->stdout_text, (size_t)-1);
  assert_int_equal(L("verify-bundle", "--vkey", e->vkey, "--witness", wv,
                     "--quorum", "1", bundle),
                   0);
  assert_non_null(strstr(e->stdout_text, "valid: entry 7"));
  /* One witness given twice cannot meet a quorum of 2 (k distinct
   * witnesses): a usage error, not "valid". */
  assert_int_equal(L("verify-bundle", "--vkey", e->vkey, "--witness", wv,
                     "--witness", wv, "--quorum", "2", bundle),
                   2);
  assert_non_null(
      strstr(e->stderr_text, "the same witness key is given twice"));
  assert_null(strstr(e->stdout_text, "valid"));
  char cpfile[GT_PATH_MAX];
  gt_path(cpfile, e->dir, "checkpoint.txt");
  {
    /* The bundle's checkpoint note: from its first line to the blank line
     * after the signatures (tlog-proof: index, leaf, proof, then the
     * checkpoint). verify-checkpoint takes that note. */
    const char *b = gt_read_file(bundle, NULL);
    const char *cp = strstr(b, "gridlet/oakfield\n");
    assert_non_null(cp);
    gt_write_file(cpfile, cp, (size_t)-1);
    free((void *)b);
  }
  assert_int_equal(L("verify-checkpoint", "--vkey", e->vkey, "--witness", wv,
                     "--quorum", "1", cpfile),
                   0);
  assert_non_null(strstr(e->stdout_text, "(1 witness cosignatures)"));
  assert_int_equal(L("verify-checkpoint", "--vkey", e->vkey, "--witness", wv,
                     "--witness", wv, "--quorum", "2", cpfile),
                   2);
  assert_non_null(
      strstr(e->stderr_text, "the same witness key is given twice"));

  /* A fork: another database signed with the same log key, holding
   * different entries, grown to 45. */
  char fork[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_path(fork, e->dir, "fork.db");
  assert_int_equal(L("init", "--db", fork, "--community", "oakfield"), 0);
  write_entries(e, "f.hex", 100, 145);
  gt_path(path, e->dir, "f.hex");
  assert_int_equal(L("append", "--db", fork, path), 0);
  assert_int_equal(L("checkpoint", "--db", fork, "--key", e->key), 0);
  assert_int_equal(L("witness-request", "--db", fork, "--old", "40"), 0);
  gt_write_file(req, e->stdout_text, (size_t)-1);
  assert_int_equal(W(req, "add-checkpoint", "--db", wdb, "--key", wkey), 1);
  assert_non_null(strstr(e->stderr_text, "refused (422)"));
  assert_int_equal(W(NULL, "status", "--db", wdb, "--key", wkey, "--origin",
                     "gridlet/oakfield"),
                   0);
  assert_non_null(strstr(e->stdout_text, "size 40\n"));
  assert_non_null(strstr(e->stdout_text, "evidence 1\n"));
  /* A stale old size gets 409 with the size to use. */
  assert_int_equal(L("witness-request", "--db", e->db, "--old", "0"), 0);
  gt_write_file(req, e->stdout_text, (size_t)-1);
  assert_int_equal(W(req, "add-checkpoint", "--db", wdb, "--key", wkey), 1);
  assert_non_null(strstr(e->stderr_text, "latest cosigned size 40"));
}

/* One HTTP/1.1 exchange with a server on 127.0.0.1:port; returns the
 * whole response (owned). */
static char *http(uint16_t port, const char *method, const char *path,
                  const char *body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  size_t blen = body ? strlen(body) : 0;
  size_t cap = blen + 256;
  char *req = malloc(cap);
  int n = snprintf(req, cap,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                   "%zu\r\nConnection: close\r\n\r\n%s",
                   method, path, blen, body ? body : "");
  assert_int_equal(write(fd, req, (size_t)n), n);
  free(req);
  size_t len = 0, rcap = 4096;
  char *resp = malloc(rcap);
  for (;;) {
    if (len + 1 == rcap)
      resp = realloc(resp, rcap *= 2);
    ssize_t r = read(fd, resp + len, rcap - len - 1);
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  resp[len] = '\0';
  close(fd);
  return resp;
}

static void test_cli_witness_serves_tlog_witness_over_http(void **state) {
  env *e = *state;
  char wdb[GT_PATH_MAX], wkey[GT_PATH_MAX], wlog[GT_PATH_MAX];
  gt_path(wdb, e->dir, "witness.db");
  gt_path(wkey, e->dir, "witness.key");
  gt_path(wlog, e->dir, "witness.log");
  assert_int_equal(
      W(NULL, "init", "--db", wdb, "--name", "dso.example/w1", "--key", wkey),
      0);
  assert_int_equal(
      W(NULL, "add-log", "--db", wdb, "--key", wkey, "--vkey", e->vkey), 0);
  uint16_t port = gt_free_port();
  char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
  char *argv[] = {e->witness, "serve",    "--db", wdb, "--key",
                  wkey,       "--listen", listen, NULL};
  pid_t pid = gt_proc_start(argv, wlog, NULL);
  assert_true(gt_wait_port(port, 10000));

  assert_int_equal(L("witness-request", "--db", e->db), 0);
  char *resp = http(port, "POST", "/add-checkpoint", e->stdout_text);
  assert_true(strncmp(resp, "HTTP/1.1 200", 12) == 0);
  assert_non_null(strstr(resp, "\r\n\r\n\xe2\x80\x94 dso.example/w1 "));
  free(resp);
  /* The same request again: the witness is now at 40, not 0. */
  resp = http(port, "POST", "/add-checkpoint", e->stdout_text);
  assert_true(strncmp(resp, "HTTP/1.1 409", 12) == 0);
  assert_non_null(strstr(resp, "text/x.tlog.size"));
  assert_non_null(strstr(resp, "\r\n\r\n40\n"));
  free(resp);
  /* A fork at the same size (the old size is right, the root is not):
   * tlog-witness says 409; the body is a reason, not a size, so it is not
   * labelled text/x.tlog.size (a client would resubmit with it). */
  char fork[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_path(fork, e->dir, "fork.db");
  assert_int_equal(L("init", "--db", fork, "--community", "oakfield"), 0);
  write_entries(e, "f.hex", 100, 140);
  gt_path(path, e->dir, "f.hex");
  assert_int_equal(L("append", "--db", fork, path), 0);
  assert_int_equal(L("checkpoint", "--db", fork, "--key", e->key), 0);
  assert_int_equal(L("witness-request", "--db", fork, "--old", "40"), 0);
  resp = http(port, "POST", "/add-checkpoint", e->stdout_text);
  assert_true(strncmp(resp, "HTTP/1.1 409", 12) == 0);
  assert_null(strstr(resp, "text/x.tlog.size"));
  assert_non_null(strstr(resp, "text/plain"));
  assert_non_null(strstr(resp, "forked"));
  free(resp);
  /* A size-0 checkpoint must carry the empty tree's root: one signed by
   * the log with another root is malformed (400), not a size question. */
  lg_signer k;
  assert_int_equal(lg_signer_read_file(e->key, &k), 0);
  lg_checkpoint zero = {.size = 0};
  snprintf(zero.origin, sizeof zero.origin, "gridlet/oakfield");
  memset(zero.root, 0, sizeof zero.root);
  char body[1024] = "old 0\n\n";
  assert_int_equal(
      lg_checkpoint_sign(&zero, &k, body + 7, sizeof body - 7, NULL), 0);
  lg_signer_wipe(&k);
  resp = http(port, "POST", "/add-checkpoint", body);
  assert_true(strncmp(resp, "HTTP/1.1 400", 12) == 0);
  free(resp);
  resp = http(port, "POST", "/add-checkpoint", "old 0\n\nnonsense\n");
  assert_true(strncmp(resp, "HTTP/1.1 400", 12) == 0);
  free(resp);
  resp = http(port, "GET", "/add-checkpoint", NULL);
  assert_true(strncmp(resp, "HTTP/1.1 405", 12) == 0);
  free(resp);
  resp = http(port, "POST", "/elsewhere", "x");
  assert_true(strncmp(resp, "HTTP/1.1 404", 12) == 0);
  free(resp);
  int status = gt_proc_stop(pid, 5000);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cli_verify_inclusion_exit_codes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_verify_consistency_exit_codes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_bundle_names_what_is_missing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_audit_names_a_flipped_byte,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_export_import_mirror, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_cli_witness_cosigns_and_refuses_a_fork, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_cli_witness_serves_tlog_witness_over_http, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
