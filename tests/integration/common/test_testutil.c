/* SPDX-License-Identifier: MIT */
/*
 * The shared test helpers are what every integration test stands on, so
 * they are tested against the real things: a real mosquitto started and
 * stopped by PID, real child processes, real files.
 */
#include "testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void test_mosquitto_starts_on_free_port_and_stops_by_pid(void **state) {
  (void)state;
  char dir[GT_PATH_MAX];
  gt_tmpdir("tu", dir);
  uint16_t port = 0;
  pid_t pid = gt_mosquitto_start(dir, &port, NULL, false);
  assert_true(port > 0);
  assert_true(gt_proc_alive(pid));
  assert_true(gt_wait_port(port, 1000));
  int status = gt_proc_stop(pid, 5000);
  assert_true(WIFEXITED(status) || WIFSIGNALED(status));
  assert_false(gt_proc_alive(pid));
  assert_false(gt_wait_port(port, 100));
  assert_int_equal(gt_rmtree(dir), 0);
  assert_int_equal(access(dir, F_OK), -1);
}

static void test_process_output_goes_to_log_and_env_is_passed(void **state) {
  (void)state;
  char dir[GT_PATH_MAX], log[GT_PATH_MAX];
  gt_tmpdir("tu", dir);
  gt_path(log, dir, "out.log");
  char *argv[] = {"sh", "-c", "echo hello $GT_VALUE; echo err >&2; exit 3",
                  NULL};
  char *env[] = {"GT_VALUE=42", NULL};
  pid_t pid = gt_proc_start(argv, log, env);
  int status = gt_proc_wait(pid, 5000);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 3);
  char *out = gt_read_file(log, NULL);
  assert_string_equal(out, "hello 42\nerr\n");
  free(out);
  gt_rmtree(dir);
}

static void test_kill9_stops_a_process_ignoring_term(void **state) {
  (void)state;
  char *argv[] = {"sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
  pid_t pid = gt_proc_start(argv, NULL, NULL);
  gt_sleep_ms(100);
  assert_true(gt_proc_alive(pid));
  /* SIGTERM is ignored: gt_proc_stop escalates to SIGKILL after the wait. */
  int status = gt_proc_stop(pid, 300);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  assert_false(gt_proc_alive(pid));
}

static void test_free_port_is_free_and_bindable_on_loopback(void **state) {
  (void)state;
  uint16_t port = gt_free_port();
  assert_true(port > 0);
  assert_false(gt_wait_port(port, 0)); /* nothing listens there */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 1), 0);
  assert_true(gt_wait_port(port, 1000)); /* and gt_wait_port sees a listener */
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mosquitto_starts_on_free_port_and_stops_by_pid),
      cmocka_unit_test(test_process_output_goes_to_log_and_env_is_passed),
      cmocka_unit_test(test_kill9_stops_a_process_ignoring_term),
      cmocka_unit_test(test_free_port_is_free_and_bindable_on_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
