/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for signed notes, key formats and cosignatures. The first
 * test is the public signed-note vector (C2SP signed-note / Go's
 * golang.org/x/mod/sumdb/note example key "example.com/foo").
 */
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "ledger_testhelp.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

/* Append src to the string in dst (cap bytes); aborts on truncation. */
static void cat(char *dst, size_t cap, const char *src) {
  size_t n = strlen(dst);
  int w = snprintf(dst + n, cap - n, "%s", src);
  assert_true(w >= 0 && (size_t)w < cap - n);
}

static const char vector_vkey[] =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
static const char vector_note[] =
    "This is an example message.\n"
    "\n"
    "\xe2\x80\x94 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmR"
    "KuwHjG1Yu72IneyaQM=\n";

static void test_note_public_vector_verifies(void **state) {
  (void)state;
  lg_vkey key;
  assert_int_equal(lg_vkey_parse(vector_vkey, strlen(vector_vkey), &key), 0);
  assert_string_equal(key.name, "example.com/foo");
  assert_int_equal(key.id, 0x530d903a);
  assert_int_equal(key.type, LG_SIG_ED25519);
  uint32_t id;
  assert_int_equal(lg_key_id(key.name, key.type, key.pub, &id), 0);
  assert_int_equal(id, 0x530d903a);
  char text[LG_KEY_TEXT_MAX];
  assert_int_equal(lg_vkey_format(&key, text, sizeof text), 0);
  assert_string_equal(text, vector_vkey);

  lg_note n;
  assert_int_equal(lg_note_parse(vector_note, strlen(vector_note), &n), 0);
  assert_int_equal(n.text_len, strlen("This is an example message.\n"));
  assert_int_equal(n.nsigs, 1);
  bool ok = false;
  assert_int_equal(lg_note_verify(&n, &key, 1, &ok, NULL, NULL), 0);
  assert_true(ok);

  /* Any change of the text breaks the signature. */
  char *m = strdup(vector_note);
  m[5] = 'I';
  assert_int_equal(lg_note_parse(m, strlen(m), &n), 0);
  assert_int_equal(lg_note_verify(&n, &key, 1, NULL, NULL, NULL), GL_EVERIFY);
  free(m);
}

static void
test_note_ignores_unknown_keys_and_rejects_without_trusted_one(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(7);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer a, b, same_name;
  assert_int_equal(lg_signer_generate("a.example/log", LG_SIG_ED25519, &r, &a),
                   0);
  assert_int_equal(lg_signer_generate("b.example/log", LG_SIG_ED25519, &r, &b),
                   0);
  /* Same name as a, different key: a different key ID. */
  assert_int_equal(
      lg_signer_generate("a.example/log", LG_SIG_ED25519, &r, &same_name), 0);
  const char text[] = "hello\n";
  char msg[2048], line[LG_SIGLINE_MAX];
  snprintf(msg, sizeof msg, "%s\n", text);
  assert_int_equal(lg_note_sign_line(&b, text, 6, 0, line, sizeof line), 0);
  cat(msg, sizeof msg, line);
  assert_int_equal(lg_note_sign_line(&same_name, text, 6, 0, line, sizeof line),
                   0);
  cat(msg, sizeof msg, line);
  lg_note n;
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  assert_int_equal(n.nsigs, 2);
  const char *why = NULL;
  /* Only a is trusted: both lines are from unknown keys (one shares a's
   * name but not its ID) and must be ignored, so the note is rejected. */
  assert_int_equal(lg_note_verify(&n, &a.vkey, 1, NULL, NULL, &why),
                   GL_EVERIFY);
  assert_string_equal(why, "no signature from a trusted key");
  /* With a's signature added it verifies, the others still ignored. */
  assert_int_equal(lg_note_sign_line(&a, text, 6, 0, line, sizeof line), 0);
  cat(msg, sizeof msg, line);
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  assert_int_equal(lg_note_verify(&n, &a.vkey, 1, NULL, NULL, NULL), 0);
  /* A trusted key signing twice is refused. */
  cat(msg, sizeof msg, line);
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  assert_int_equal(lg_note_verify(&n, &a.vkey, 1, NULL, NULL, &why),
                   GL_EVERIFY);
  /* A trusted key whose signature fails rejects the whole note, even when
   * another trusted key signed correctly. */
  lg_vkey keys[2] = {a.vkey, b.vkey};
  snprintf(msg, sizeof msg, "%s\n", text);
  assert_int_equal(lg_note_sign_line(&a, text, 6, 0, line, sizeof line), 0);
  cat(msg, sizeof msg, line);
  assert_int_equal(lg_note_sign_line(&b, "other\n", 6, 0, line, sizeof line),
                   0);
  cat(msg, sizeof msg, line);
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  assert_int_equal(lg_note_verify(&n, keys, 2, NULL, NULL, &why), GL_EVERIFY);
  gl_seeded_rand_free(sr);
}

static void test_note_parser_rejects_malformed_notes(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "\n",
      "text\n",
      "text\n\n",
      /* no trailing newline */
      "text\n\n\xe2\x80\x94 k AAAAAAAA",
      /* signature line without the em dash */
      "text\n\n- k AAAAAAAA\n",
      /* em dash without the space */
      "text\n\n\xe2\x80\x94k AAAAAAAA\n",
      /* name with a plus sign */
      "text\n\n\xe2\x80\x94 a+b AAAAAAAA\n",
      /* empty name */
      "text\n\n\xe2\x80\x94  AAAAAAAA\n",
      /* not base64 */
      "text\n\n\xe2\x80\x94 k AA!AAAAA\n",
      /* unpadded base64 */
      "text\n\n\xe2\x80\x94 k AAAAAAA\n",
      /* fewer than 5 bytes */
      "text\n\n\xe2\x80\x94 k AAAA\n",
      /* control character */
      "te\txt\n\n\xe2\x80\x94 k AAAAAAAA\n",
      /* invalid UTF-8 */
      "te\xff\n\n\xe2\x80\x94 k AAAAAAAA\n",
      /* overlong encoding of '/' */
      "te\xc0\xaf\n\n\xe2\x80\x94 k AAAAAAAA\n",
      /* a non-breaking space inside the key name */
      "text\n\n\xe2\x80\x94 a\xc2\xa0"
      "b AAAAAAAA\n",
      /* a blank line among the signatures makes them text */
      "text\n\n\xe2\x80\x94 k AAAAAAAA\n\n",
  };
  lg_note n;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_not_equal(lg_note_parse(bad[i], strlen(bad[i]), &n), 0);
  const char ok[] = "text\n\n\xe2\x80\x94 k AAAAAAAA\n";
  assert_int_equal(lg_note_parse(ok, strlen(ok), &n), 0);
  /* The text may contain blank lines; the last one separates. */
  const char blank[] = "a\n\nb\n\n\xe2\x80\x94 k AAAAAAAA\n";
  assert_int_equal(lg_note_parse(blank, strlen(blank), &n), 0);
  assert_int_equal(n.text_len, 5);
  /* Too many signatures. */
  size_t cap = 16 + (LG_NOTE_SIGS_MAX + 1) * 20;
  char *many = malloc(cap);
  snprintf(many, cap, "text\n\n");
  for (int i = 0; i <= LG_NOTE_SIGS_MAX; i++)
    cat(many, cap, "\xe2\x80\x94 k AAAAAAAA\n");
  assert_int_equal(lg_note_parse(many, strlen(many), &n), GL_ETOOBIG);
  free(many);
}

static void test_note_key_formats_round_trip_and_are_strict(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(9);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer s, t;
  assert_int_equal(
      lg_signer_generate("gridlet/oakfield", LG_SIG_ED25519, &r, &s), 0);
  char text[LG_KEY_TEXT_MAX];
  assert_int_equal(lg_signer_format(&s, text, sizeof text), 0);
  assert_true(strncmp(text, "PRIVATE+KEY+gridlet/oakfield+", 29) == 0);
  assert_int_equal(lg_signer_parse(text, strlen(text), &t), 0);
  assert_memory_equal(&s.vkey, &t.vkey, sizeof s.vkey);
  assert_memory_equal(s.key.seed, t.key.seed, 32);

  char vk[LG_KEY_TEXT_MAX];
  assert_int_equal(lg_vkey_format(&s.vkey, vk, sizeof vk), 0);
  lg_vkey v;
  assert_int_equal(lg_vkey_parse(vk, strlen(vk), &v), 0);
  assert_memory_equal(&v, &s.vkey, sizeof v);

  /* A wrong key ID, upper-case hex, a short ID, an unknown type. */
  char bad[LG_KEY_TEXT_MAX];
  snprintf(bad, sizeof bad, "%s", vk);
  char *plus = strchr(strchr(bad, '+') + 1, '+');
  plus[-1] = plus[-1] == '0' ? '1' : '0';
  assert_int_equal(lg_vkey_parse(bad, strlen(bad), &v), GL_EPARSE);
  snprintf(bad, sizeof bad, "%s", vector_vkey);
  bad[16] = 'D'; /* 530d903a -> 530D903a */
  assert_int_equal(lg_vkey_parse(bad, strlen(bad), &v), GL_EPARSE);
  const char short_id[] =
      "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2"
      "LKaANYcrnKv3U2k";
  assert_int_equal(lg_vkey_parse(short_id, strlen(short_id), &v), GL_EPARSE);
  /* Type 0x02 (ECDSA) is not supported: AgAA... is base64 of 0x02 || 0*32. */
  const char ecdsa[] =
      "x+00000000+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  assert_int_equal(lg_vkey_parse(ecdsa, strlen(ecdsa), &v), GL_ENOTSUP);
  /* Names with a space or a plus cannot make keys. */
  assert_int_equal(lg_signer_generate("a b", LG_SIG_ED25519, &r, &t),
                   GL_EINVAL);
  assert_int_equal(lg_signer_generate("a+b", LG_SIG_ED25519, &r, &t),
                   GL_EINVAL);
  /* The signer prefix is required. */
  assert_int_equal(lg_signer_parse(vk, strlen(vk), &t), GL_EPARSE);
  lg_signer_wipe(&s);
  lg_signer_wipe(&t);
  gl_seeded_rand_free(sr);
}

static void
test_note_key_file_is_private_and_refused_when_readable(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("ledger-key", dir);
  gt_path(path, dir, "log.key");
  gl_seeded_rand *sr = gl_seeded_rand_new(11);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer s, t;
  assert_int_equal(lg_signer_generate("gridlet/x", LG_SIG_ED25519, &r, &s), 0);
  assert_int_equal(lg_signer_write_file(path, &s), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(lg_signer_read_file(path, &t), 0);
  assert_memory_equal(&s.vkey, &t.vkey, sizeof s.vkey);
  /* Never overwrite an existing key. */
  assert_int_equal(lg_signer_write_file(path, &s), GL_EEXIST);
  /* Refuse a key that others can read. */
  assert_int_equal(chmod(path, 0644), 0);
  gt_log_capture_begin();
  assert_int_equal(lg_signer_read_file(path, &t), GL_EPERM);
  assert_true(gt_log_contains("chmod 600"));
  gt_log_capture_end();
  char missing[GT_PATH_MAX];
  gt_path(missing, dir, "none.key");
  gt_log_capture_begin();
  assert_int_equal(lg_signer_read_file(missing, &t), GL_ENOENT);
  gt_log_capture_end();
  gl_seeded_rand_free(sr);
  gt_rmtree(dir);
}

static void test_note_cosignature_carries_a_signed_timestamp(void **state) {
  (void)state;
  gl_seeded_rand *sr = gl_seeded_rand_new(13);
  gl_rand r = gl_seeded_rand_rand(sr);
  lg_signer w;
  assert_int_equal(
      lg_signer_generate("witness.example/w1", LG_SIG_COSIG_V1, &r, &w), 0);
  /* Type 0x04 keys get a different key ID than type 0x01 for the same
   * name and key. */
  uint32_t id1;
  assert_int_equal(lg_key_id(w.vkey.name, LG_SIG_ED25519, w.vkey.pub, &id1), 0);
  assert_int_not_equal(id1, w.vkey.id);
  const char text[] =
      "gridlet/x\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  char line[LG_SIGLINE_MAX], msg[1024];
  assert_int_equal(
      lg_note_sign_line(&w, text, strlen(text), 1767225600, line, sizeof line),
      0);
  snprintf(msg, sizeof msg, "%s\n%s", text, line);
  lg_note n;
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  uint64_t ts = 0;
  bool ok = false;
  assert_int_equal(lg_note_verify(&n, &w.vkey, 1, &ok, &ts, NULL), 0);
  assert_true(ok);
  assert_int_equal(ts, 1767225600);
  /* Change the timestamp inside the signature: it no longer verifies.
   * Re-encode the line with timestamp + 1. */
  uint8_t raw[80];
  size_t rl;
  const char *b64 = strchr(line + 4, ' ') + 1;
  assert_int_equal(gl_base64_decode(b64, strlen(b64) - 1, raw, sizeof raw, &rl),
                   0);
  assert_int_equal(rl, 76);
  raw[11] ^= 1;
  char b[128];
  assert_int_equal(gl_base64_encode(raw, rl, b, sizeof b), 0);
  snprintf(msg, sizeof msg, "%s\n\xe2\x80\x94 witness.example/w1 %s\n", text,
           b);
  assert_int_equal(lg_note_parse(msg, strlen(msg), &n), 0);
  assert_int_equal(lg_note_verify(&n, &w.vkey, 1, NULL, NULL, NULL),
                   GL_EVERIFY);
  gl_seeded_rand_free(sr);
}

/* The example of c2sp.org/tlog-cosignature: a checkpoint with the log's
 * signature and one timestamped witness cosignature. Without the keys it
 * cannot verify, but it must parse, with the key IDs and the layout
 * (4-byte ID, 8-byte timestamp, 64-byte signature) of the spec. */
static void test_note_parses_the_cosignature_spec_example(void **state) {
  (void)state;
  const char ex[] =
      "example.com/behind-the-sofa\n20852163\n"
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
      "\xe2\x80\x94 example.com/behind-the-sofa "
      "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9"
      "nTo+zyWE+xeMcTOAYQ8=\n"
      "\xe2\x80\x94 witness.example.com/w1 "
      "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin"
      "1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
  lg_note n;
  assert_int_equal(lg_note_parse(ex, strlen(ex), &n), 0);
  assert_int_equal(n.nsigs, 2);
  assert_int_equal(n.sigs[0].id, 0x033de0ae);
  assert_int_equal(n.sigs[1].id, 0x8d66cf3f);
  uint8_t raw[80];
  size_t rl;
  assert_int_equal(
      gl_base64_decode(n.sigs[1].b64, n.sigs[1].b64_len, raw, sizeof raw, &rl),
      0);
  assert_int_equal(rl, 4 + 8 + 64);
  uint64_t ts = 0;
  for (int i = 0; i < 8; i++)
    ts = ts << 8 | raw[4 + i];
  assert_int_equal(ts, 1679315147); /* "time 1679315147" in the spec */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_note_public_vector_verifies),
      cmocka_unit_test(
          test_note_ignores_unknown_keys_and_rejects_without_trusted_one),
      cmocka_unit_test(test_note_parser_rejects_malformed_notes),
      cmocka_unit_test(test_note_key_formats_round_trip_and_are_strict),
      cmocka_unit_test(test_note_key_file_is_private_and_refused_when_readable),
      cmocka_unit_test(test_note_cosignature_carries_a_signed_timestamp),
      cmocka_unit_test(test_note_parses_the_cosignature_spec_example),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
