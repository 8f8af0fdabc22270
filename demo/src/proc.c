/* SPDX-License-Identifier: MIT */
/*
 * proc.c - starting and stopping the demo's processes by PID. See
 * gridlet/demo_proc.h.
 *
 * Everything the child does between fork() and exec() is async-signal-safe
 * (the demo may have threads: paho's, for one): the program's path, the
 * environment and the log file are prepared in the parent; the child only
 * moves descriptors, resets signals and calls execve(). An exec failure is
 * reported back through a close-on-exec pipe, so the caller learns "no
 * such program" at once instead of finding a dead process later.
 */
/* pipe2 and closefrom. */
#define _GNU_SOURCE
#include "gridlet/demo_proc.h"

#include "gridlet/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PATH_CAP 1024
#define ENV_MAX 512

/* ---- Time ----------------------------------------------------------------
 */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool demo_sleep_ms(int ms, const volatile sig_atomic_t *cancel) {
  int64_t end = mono_ms() + ms;
  for (;;) {
    if (cancel && *cancel)
      return false;
    int64_t left = end - mono_ms();
    if (left <= 0)
      return true;
    /* Short slices, so that a cancel flag set by a signal handler is seen
     * promptly even if the signal arrived on another thread. */
    int64_t slice = left < 50 ? left : 50;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(slice * 1000000)};
    nanosleep(&ts, NULL);
  }
}

/* ---- Spawning ------------------------------------------------------------
 */

/* The program's path: as given when it has a '/', else the first
 * executable match in PATH. */
static int resolve(const char *name, char out[PATH_CAP]) {
  if (strchr(name, '/')) {
    if (snprintf(out, PATH_CAP, "%s", name) >= PATH_CAP)
      return GL_ETOOBIG;
    return access(out, X_OK) == 0 ? 0 : GL_ENOENT;
  }
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    int n =
        snprintf(out, PATH_CAP, "%.*s/%s", (int)len, len ? path : ".", name);
    if (n > 0 && n < PATH_CAP && access(out, X_OK) == 0)
      return 0;
    if (!colon)
      break;
    path = colon + 1;
  }
  return GL_ENOENT;
}

int demo_proc_spawn(char *const argv[], const char *log, char *const env[],
                    pid_t *pid) {
  if (!argv || !argv[0] || !pid)
    return GL_EINVAL;
  char prog[PATH_CAP];
  int rc = resolve(argv[0], prog);
  if (rc)
    return rc;
  /* The child's environment: ours plus `env`. */
  char *envp[ENV_MAX];
  size_t ne = 0;
  for (char **e = environ; e && *e && ne < ENV_MAX - 1; e++)
    envp[ne++] = *e;
  for (size_t i = 0; env && env[i] && ne < ENV_MAX - 1; i++)
    envp[ne++] = env[i];
  envp[ne] = NULL;
  int out = open(log ? log : "/dev/null",
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0)
    return GL_EIO;
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err[2];
  if (in < 0 || pipe2(err, O_CLOEXEC) != 0) {
    close(out);
    if (in >= 0)
      close(in);
    return GL_EIO;
  }
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    close(out);
    close(in);
    close(err[0]);
    close(err[1]);
    return GL_EINTERNAL;
  }
  if (child == 0) {
    /* Only async-signal-safe calls from here to execve. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(127); /* the parent died before prctl took effect */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP)
        signal(s, SIG_DFL);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    if (err[1] != 3) {
      dup2(err[1], 3);
      fcntl(3, F_SETFD, FD_CLOEXEC);
    }
    closefrom(4);
    execve(prog, argv, envp);
    int e = errno;
    ssize_t w = write(3, &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(out);
  close(in);
  close(err[1]);
  int e = 0;
  ssize_t r;
  do
    r = read(err[0], &e, sizeof e);
  while (r < 0 && errno == EINTR);
  close(err[0]);
  if (r == (ssize_t)sizeof e) {
    waitpid(child, NULL, 0);
    return GL_ENOENT;
  }
  *pid = child;
  return 0;
}

/* ---- Waiting and stopping ------------------------------------------------
 */

bool demo_proc_alive(pid_t pid) {
  if (pid <= 0)
    return false;
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  return r == 0;
}

int demo_proc_wait(pid_t pid, int timeout_ms, int *status) {
  if (pid <= 0)
    return GL_ENOENT;
  int64_t end = mono_ms() + timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (status)
        *status = st;
      return 0;
    }
    if (r < 0 && errno != EINTR)
      return GL_ENOENT;
    if (timeout_ms >= 0 && mono_ms() >= end)
      return GL_ETIMEDOUT;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int demo_proc_stop(pid_t pid, int timeout_ms, int *status) {
  pid_t one = pid;
  int st = -1;
  demo_proc_stop_all(&one, &st, 1, timeout_ms);
  if (status)
    *status = st;
  return st == -1 ? GL_ENOENT : 0;
}

void demo_proc_stop_all(pid_t *pids, int *status, unsigned n, int timeout_ms) {
  for (unsigned i = 0; i < n; i++) {
    if (status)
      status[i] = -1;
    if (pids[i] > 0)
      kill(pids[i], SIGTERM);
  }
  int64_t end = mono_ms() + timeout_ms;
  for (unsigned i = 0; i < n; i++) {
    if (pids[i] <= 0)
      continue;
    int left = (int)(end - mono_ms());
    int st = -1;
    int rc = demo_proc_wait(pids[i], left > 0 ? left : 0, &st);
    if (rc == GL_ETIMEDOUT) {
      kill(pids[i], SIGKILL);
      rc = demo_proc_wait(pids[i], -1, &st);
    }
    if (status && rc == 0)
      status[i] = st;
    pids[i] = 0;
  }
}

int demo_proc_kill9(pid_t pid) {
  if (pid <= 0 || kill(pid, SIGKILL) != 0)
    return GL_ENOENT;
  return demo_proc_wait(pid, -1, NULL);
}

int demo_proc_run(char *const argv[], const char *log, int timeout_ms,
                  int *code) {
  pid_t pid;
  int rc = demo_proc_spawn(argv, log, NULL, &pid);
  if (rc)
    return rc;
  int st = 0;
  rc = demo_proc_wait(pid, timeout_ms, &st);
  if (rc == GL_ETIMEDOUT) {
    demo_proc_kill9(pid);
    return GL_ETIMEDOUT;
  }
  if (rc)
    return rc;
  if (code)
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return 0;
}
