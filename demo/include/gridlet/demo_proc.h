/* SPDX-License-Identifier: MIT */
/*
 * gridlet/demo_proc.h - the processes of a demo or a system test, by PID.
 *
 * The fleet (demo_fleet.h) runs every part of gridlet as the real program
 * it is: mosquitto, gridlet-aggregator, gridlet-sim, gridlet-meter. This
 * module starts them and stops them, always by the PID it got from
 * fork(), never by name.
 *
 * A started process:
 *   - gets its own process group, so a Ctrl-C in the terminal reaches the
 *     demo alone, which then stops its processes in order (meters before
 *     the aggregator, the broker last) instead of all of them at once;
 *   - is sent SIGTERM by the kernel if the process that started it dies
 *     (PR_SET_PDEATHSIG), so a demo killed with SIGKILL leaves nothing
 *     behind either;
 *   - starts with default signal dispositions and an empty signal mask,
 *     stdin from /dev/null, stdout and stderr appended to a log file, and
 *     no other inherited descriptor.
 *
 * Functions return 0 or a negative GL_E* code. Call them from the thread
 * that started the processes (PR_SET_PDEATHSIG is tied to that thread).
 */
#ifndef GRIDLET_DEMO_PROC_H
#define GRIDLET_DEMO_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * demo_proc_spawn - start argv[0] (a path, or a name looked up in PATH when
 * it has no '/') with `argv` (NULL-terminated; borrowed). Its stdout and
 * stderr are appended to `log` (created 0644; NULL: discarded). `env`
 * (NULL-terminated "NAME=value" strings, may be NULL) is added to the
 * environment. Returns 0 and the PID in *pid; GL_ENOENT (no such program),
 * GL_EIO (cannot open the log), GL_EINTERNAL (fork failed). A program that
 * cannot be executed is reported as GL_ENOENT without leaving a process.
 */
int demo_proc_spawn(char *const argv[], const char *log, char *const env[],
                    pid_t *pid);

/*
 * demo_proc_alive - whether `pid` (a child of ours) is still running. A
 * child that has exited is reaped by this call (its status is lost: use
 * demo_proc_wait for that).
 */
bool demo_proc_alive(pid_t pid);

/*
 * demo_proc_wait - wait up to timeout_ms (real time; < 0: forever) for
 * `pid` to exit and reap it. Returns 0 with its wait status in *status
 * (may be NULL), or GL_ETIMEDOUT while it still runs, or GL_ENOENT if it is
 * not a child of ours (already reaped).
 */
int demo_proc_wait(pid_t pid, int timeout_ms, int *status);

/*
 * demo_proc_stop - SIGTERM, wait up to timeout_ms, then SIGKILL; reaps.
 * Returns 0 with the wait status in *status (may be NULL), or GL_ENOENT.
 */
int demo_proc_stop(pid_t pid, int timeout_ms, int *status);

/*
 * demo_proc_stop_all - demo_proc_stop for `n` processes at once: SIGTERM
 * to every one, then wait for all of them (together at most timeout_ms),
 * then SIGKILL to the rest. pids[i] <= 0 are skipped; every stopped entry
 * is set to 0. `status` (may be NULL) receives each wait status (-1 for a
 * skipped or unknown one).
 */
void demo_proc_stop_all(pid_t *pids, int *status, unsigned n, int timeout_ms);

/* demo_proc_kill9 - SIGKILL and reap (a crash, for fault tests). */
int demo_proc_kill9(pid_t pid);

/*
 * demo_proc_run - run a program to completion (demo_proc_spawn, then wait
 * up to timeout_ms; on timeout it is killed and GL_ETIMEDOUT returned).
 * Returns 0 with its exit code in *code (128 + signal when killed by one),
 * or an error of demo_proc_spawn.
 */
int demo_proc_run(char *const argv[], const char *log, int timeout_ms,
                  int *code);

/* demo_sleep_ms - sleep `ms` of real time (resumed after signals unless
 * *cancel becomes non-zero; cancel may be NULL). Returns false if
 * cancelled. */
bool demo_sleep_ms(int ms, const volatile sig_atomic_t *cancel);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_DEMO_PROC_H */
