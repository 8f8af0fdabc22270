/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by gridlet's tests.
 *
 * Temporary directories, free loopback ports, starting and stopping
 * processes by PID (never by name), a real mosquitto broker on a free port,
 * and capturing log lines. Every process started here is remembered and
 * killed by PID at exit if the test forgot (or crashed an assertion), so a
 * failing test never leaves servers behind.
 *
 * These helpers abort the test (via cmocka's fail_msg or abort) when the
 * machine cannot do what they promise; they are for tests only.
 */
#ifndef GRIDLET_TESTUTIL_H
#define GRIDLET_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GT_PATH_MAX 512

/* gt_tmpdir - create a fresh directory under $TMPDIR (or /tmp) named
 * gridlet-<tag>-XXXXXX and write its path to `out`. Aborts on failure. */
void gt_tmpdir(const char *tag, char out[GT_PATH_MAX]);

/* gt_rmtree - remove a directory tree (no symlinks followed). Returns 0 or -1.
 */
int gt_rmtree(const char *path);

/* gt_path - join dir and name into out (aborts on truncation); returns out. */
char *gt_path(char out[GT_PATH_MAX], const char *dir, const char *name);

/* gt_write_file - write `len` bytes (len == (size_t)-1: strlen) to path. */
void gt_write_file(const char *path, const char *data, size_t len);

/* gt_read_file - read a whole file; returns malloc'd NUL-terminated bytes
 * (caller frees) and its length in *len (may be NULL), or NULL. */
char *gt_read_file(const char *path, size_t *len);

/* gt_source_path - a path inside the source tree (GRIDLET_SOURCE_DIR set by
 * CTest), e.g. gt_source_path(buf, "tests/data/x.csv"). */
char *gt_source_path(char out[GT_PATH_MAX], const char *rel);

/* gt_build_path - a path inside the build tree (GRIDLET_BUILD_DIR). */
char *gt_build_path(char out[GT_PATH_MAX], const char *rel);

/* gt_free_port - a TCP port on 127.0.0.1 that was free a moment ago. */
uint16_t gt_free_port(void);

/* gt_wait_port - wait until something accepts TCP connections on
 * 127.0.0.1:port; true if it did within timeout_ms. */
bool gt_wait_port(uint16_t port, int timeout_ms);

/*
 * gt_proc_start - start argv[0] (searched in PATH) with argv, stdout and
 * stderr appended to `log_path` (NULL: inherit). Extra environment
 * variables may be given as "NAME=value" strings in `env` (NULL-terminated,
 * may be NULL). Returns the PID; aborts on failure.
 */
pid_t gt_proc_start(char *const argv[], const char *log_path,
                    char *const env[]);

/* gt_proc_alive - true if pid is still running (not reaped). */
bool gt_proc_alive(pid_t pid);

/*
 * gt_proc_stop - SIGTERM, wait up to timeout_ms, then SIGKILL; reaps the
 * process. Returns its exit status as from waitpid (or -1 if unknown).
 */
int gt_proc_stop(pid_t pid, int timeout_ms);

/* gt_proc_kill9 - SIGKILL and reap. */
void gt_proc_kill9(pid_t pid);

/* gt_proc_wait - wait up to timeout_ms for pid to exit; returns its wait
 * status, or -1 if it is still running. */
int gt_proc_wait(pid_t pid, int timeout_ms);

/*
 * gt_mosquitto_start - run a real mosquitto on 127.0.0.1:*port (0: pick a
 * free one and store it in *port) with `extra_conf` appended to a minimal
 * config (plain listener, anonymous allowed, no persistence) unless
 * `full_conf` is true, in which case extra_conf is the whole config and
 * must contain the listener line for *port. Files go to dir. Returns the
 * PID once the port accepts connections; aborts otherwise.
 */
pid_t gt_mosquitto_start(const char *dir, uint16_t *port,
                         const char *extra_conf, bool full_conf);

/* gt_sleep_ms - sleep for real milliseconds. */
void gt_sleep_ms(int ms);

/* ---- Log capture --------------------------------------------------------- */

/* gt_log_capture_begin - route gridlet logs (all levels) into a buffer. */
void gt_log_capture_begin(void);

/* gt_log_capture_end - restore stderr logging and the previous level. */
void gt_log_capture_end(void);

/* gt_log_contains - true if a captured line contains `needle`. */
bool gt_log_contains(const char *needle);

/* gt_log_count - number of captured lines containing `needle`. */
int gt_log_count(const char *needle);

/* gt_log_clear - forget captured lines. */
void gt_log_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_TESTUTIL_H */
