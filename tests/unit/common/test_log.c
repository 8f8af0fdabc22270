/* SPDX-License-Identifier: MIT */
/* Unit tests for logging: levels, sinks, stderr format, journald prefix. */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "testutil.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_level_filters_messages(void **state) {
  (void)state;
  gt_log_capture_begin();
  gl_log_set_level(GL_LOG_WARN);
  GL_INFO("x", "hidden %d", 1);
  GL_WARN("x", "shown %d", 2);
  GL_ERROR("x", "shown %d", 3);
  assert_false(gt_log_contains("hidden"));
  assert_int_equal(gt_log_count("shown"), 2);
  assert_true(gt_log_contains("warn x: shown 2"));
  gt_log_capture_end();
}

static void test_level_names_round_trip(void **state) {
  (void)state;
  for (int l = GL_LOG_ERROR; l <= GL_LOG_DEBUG; l++) {
    int back = -1;
    assert_int_equal(gl_log_level_parse(gl_log_level_name(l), &back), 0);
    assert_int_equal(back, l);
  }
  int x = 42;
  assert_int_equal(gl_log_level_parse("loud", &x), GL_EINVAL);
  assert_int_equal(x, 42);
  assert_string_equal(gl_log_level_name(99), "?");
}

static void test_long_message_is_truncated_with_ellipsis(void **state) {
  (void)state;
  gt_log_capture_begin();
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  GL_ERROR("x", "%s", big);
  assert_true(gt_log_contains("aaa..."));
  gt_log_capture_end();
}

/* Run gl_log in a child whose stderr is a file, with or without a
 * JOURNAL_STREAM naming that file, and return what it wrote. */
static char *log_in_child(bool journal) {
  char dir[GT_PATH_MAX], path[GT_PATH_MAX];
  gt_tmpdir("log", dir);
  gt_path(path, dir, "stderr");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    struct stat st;
    fstat(STDERR_FILENO, &st);
    char js[64];
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    if (journal)
      setenv("JOURNAL_STREAM", js, 1);
    else
      unsetenv("JOURNAL_STREAM");
    gl_log_set_ident("gridlet-test");
    GL_WARN("hal", "timeout reading unit %d", 7);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  char *out = gt_read_file(path, NULL);
  gt_rmtree(dir);
  return out;
}

static void test_stderr_line_has_utc_timestamp_ident_level(void **state) {
  (void)state;
  char *out = log_in_child(false);
  assert_non_null(out);
  /* 2026-11-21T10:15:00.123Z gridlet-test[812] warn hal: timeout ... */
  assert_int_equal(out[4], '-');
  assert_int_equal(out[10], 'T');
  assert_int_equal(out[23], 'Z');
  assert_non_null(strstr(out, " gridlet-test["));
  assert_non_null(strstr(out, "] warn hal: timeout reading unit 7\n"));
  free(out);
}

static void test_journald_stream_gets_priority_prefix(void **state) {
  (void)state;
  char *out = log_in_child(true);
  assert_non_null(out);
  assert_string_equal(out, "<4>hal: timeout reading unit 7\n");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_level_filters_messages),
      cmocka_unit_test(test_level_names_round_trip),
      cmocka_unit_test(test_long_message_is_truncated_with_ellipsis),
      cmocka_unit_test(test_stderr_line_has_utc_timestamp_ident_level),
      cmocka_unit_test(test_journald_stream_gets_priority_prefix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
