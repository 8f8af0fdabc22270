/* SPDX-License-Identifier: MIT */
/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include "gridlet/log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "testutil: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

void gt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- Files ------------------------------------------------------------- */

void gt_tmpdir(const char *tag, char out[GT_PATH_MAX]) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  int n = snprintf(out, GT_PATH_MAX, "%s/gridlet-%s-XXXXXX", base, tag);
  if (n < 0 || n >= GT_PATH_MAX || !mkdtemp(out))
    die("cannot create temp dir under %s: %s", base, strerror(errno));
}

int gt_rmtree(const char *path) {
  /* GT_KEEP_TMP=1 keeps a failing test's files for a post-mortem. */
  if (getenv("GT_KEEP_TMP")) {
    fprintf(stderr, "testutil: keeping %s\n", path);
    return 0;
  }
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode))
    return unlink(path);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char child[GT_PATH_MAX];
    if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >=
        GT_PATH_MAX) {
      rc = -1;
      continue;
    }
    if (gt_rmtree(child))
      rc = -1;
  }
  closedir(d);
  return rmdir(path) ? -1 : rc;
}

char *gt_path(char out[GT_PATH_MAX], const char *dir, const char *name) {
  int n = snprintf(out, GT_PATH_MAX, "%s/%s", dir, name);
  if (n < 0 || n >= GT_PATH_MAX)
    die("path too long: %s/%s", dir, name);
  return out;
}

void gt_write_file(const char *path, const char *data, size_t len) {
  if (len == (size_t)-1)
    len = strlen(data);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
    die("cannot write %s: %s", path, strerror(errno));
}

char *gt_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

static char *env_path(char out[GT_PATH_MAX], const char *var, const char *rel) {
  const char *root = getenv(var);
  if (!root)
    die("%s is not set (run the test through ctest)", var);
  return gt_path(out, root, rel);
}

char *gt_source_path(char out[GT_PATH_MAX], const char *rel) {
  return env_path(out, "GRIDLET_SOURCE_DIR", rel);
}

char *gt_build_path(char out[GT_PATH_MAX], const char *rel) {
  return env_path(out, "GRIDLET_BUILD_DIR", rel);
}

/* ---- Ports ------------------------------------------------------------- */

uint16_t gt_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("socket: %s", strerror(errno));
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
    die("bind/getsockname: %s", strerror(errno));
  close(fd);
  return ntohs(a.sin_port);
}

bool gt_wait_port(uint16_t port, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    if (ok)
      return true;
    gt_sleep_ms(20);
  }
  return false;
}

/* ---- Processes --------------------------------------------------------- */

#define MAX_TRACKED 4096
static pid_t tracked[MAX_TRACKED];
static int ntracked;
static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static bool atexit_installed;

static void kill_leftovers(void) {
  pthread_mutex_lock(&tracked_lock);
  for (int i = 0; i < ntracked; i++) {
    if (tracked[i] > 0) {
      kill(tracked[i], SIGKILL);
      waitpid(tracked[i], NULL, 0);
      tracked[i] = 0;
    }
  }
  pthread_mutex_unlock(&tracked_lock);
}

static void track(pid_t pid) {
  pthread_mutex_lock(&tracked_lock);
  if (!atexit_installed) {
    atexit(kill_leftovers);
    atexit_installed = true;
  }
  int slot = -1;
  for (int i = 0; i < ntracked; i++)
    if (tracked[i] == 0) {
      slot = i;
      break;
    }
  if (slot < 0 && ntracked < MAX_TRACKED)
    slot = ntracked++;
  if (slot >= 0)
    tracked[slot] = pid;
  pthread_mutex_unlock(&tracked_lock);
}

static void untrack(pid_t pid) {
  pthread_mutex_lock(&tracked_lock);
  for (int i = 0; i < ntracked; i++)
    if (tracked[i] == pid)
      tracked[i] = 0;
  pthread_mutex_unlock(&tracked_lock);
}

pid_t gt_proc_start(char *const argv[], const char *log_path,
                    char *const env[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (log_path) {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  }
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  /* environment: ours plus the extras (extras win) */
  size_t nenv = 0, nextra = 0;
  while (environ[nenv])
    nenv++;
  while (env && env[nextra])
    nextra++;
  char **envp = calloc(nenv + nextra + 1, sizeof *envp);
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++) {
    bool overridden = false;
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    for (size_t j = 0; j < nextra; j++)
      if (strncmp(env[j], environ[i], nl) == 0 && env[j][nl] == '=')
        overridden = true;
    if (!overridden)
      envp[k++] = environ[i];
  }
  for (size_t j = 0; j < nextra; j++)
    envp[k++] = env[j];
  envp[k] = NULL;

  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  free(envp);
  if (rc != 0)
    die("cannot start %s: %s", argv[0], strerror(rc));
  track(pid);
  return pid;
}

bool gt_proc_alive(pid_t pid) {
  int status;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0)
    return true;
  if (r == pid)
    untrack(pid);
  return false;
}

int gt_proc_wait(pid_t pid, int timeout_ms) {
  for (int waited = 0;; waited += 10) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      untrack(pid);
      return status;
    }
    if (r < 0) {
      untrack(pid);
      return -1;
    }
    if (waited >= timeout_ms)
      return -1;
    gt_sleep_ms(10);
  }
}

int gt_proc_stop(pid_t pid, int timeout_ms) {
  if (pid <= 0)
    return -1;
  kill(pid, SIGTERM);
  int status = gt_proc_wait(pid, timeout_ms);
  if (status == -1 && gt_proc_alive(pid)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    untrack(pid);
  }
  return status;
}

void gt_proc_kill9(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  untrack(pid);
}

/* ---- mosquitto --------------------------------------------------------- */

pid_t gt_mosquitto_start(const char *dir, uint16_t *port,
                         const char *extra_conf, bool full_conf) {
  if (*port == 0)
    *port = gt_free_port();
  char conf_path[GT_PATH_MAX], log_path[GT_PATH_MAX];
  gt_path(conf_path, dir, "mosquitto.conf");
  gt_path(log_path, dir, "mosquitto.log");
  /* Started as root, mosquitto switches to the "mosquitto" user and then
   * cannot read the test's private temp dir; keep it as who we are. */
  const char *stay = geteuid() == 0 ? "user root\n" : "";
  char conf[16384];
  if (full_conf)
    snprintf(conf, sizeof conf, "%s\n%s", extra_conf ? extra_conf : "", stay);
  else
    snprintf(conf, sizeof conf,
             "listener %u 127.0.0.1\nallow_anonymous true\npersistence false\n"
             "log_dest stdout\n%s%s\n",
             *port, stay, extra_conf ? extra_conf : "");
  gt_write_file(conf_path, conf, (size_t)-1);
  /* Debian installs the broker in /usr/sbin, which is not always on a
   * non-root PATH. */
  const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0
                        ? "/usr/sbin/mosquitto"
                        : "mosquitto";
  char *argv[] = {(char *)bin, "-c", conf_path, NULL};
  pid_t pid = gt_proc_start(argv, log_path, NULL);
  if (!gt_wait_port(*port, 10000)) {
    gt_proc_kill9(pid);
    char *log = gt_read_file(log_path, NULL);
    die("mosquitto did not listen on port %u; its log:\n%s", *port,
        log ? log : "(none)");
  }
  return pid;
}

/* ---- Log capture ------------------------------------------------------- */

#define CAP_LINES 4096
static char *cap_lines[CAP_LINES];
static int cap_n;
static int cap_prev_level;
static pthread_mutex_t cap_lock = PTHREAD_MUTEX_INITIALIZER;

static void cap_sink(void *ctx, int level, const char *component,
                     const char *message) {
  (void)ctx;
  char line[GL_LOG_LINE_MAX + 64];
  snprintf(line, sizeof line, "%s %s: %s", gl_log_level_name(level), component,
           message);
  pthread_mutex_lock(&cap_lock);
  if (cap_n < CAP_LINES)
    cap_lines[cap_n++] = strdup(line);
  pthread_mutex_unlock(&cap_lock);
  if (getenv("GT_LOG_ECHO"))
    fprintf(stderr, "[log] %s\n", line);
}

void gt_log_clear(void) {
  pthread_mutex_lock(&cap_lock);
  for (int i = 0; i < cap_n; i++)
    free(cap_lines[i]);
  cap_n = 0;
  pthread_mutex_unlock(&cap_lock);
}

void gt_log_capture_begin(void) {
  gt_log_clear();
  cap_prev_level = gl_log_get_level();
  gl_log_set_level(GL_LOG_DEBUG);
  gl_log_set_sink(cap_sink, NULL);
}

void gt_log_capture_end(void) {
  gl_log_set_sink(NULL, NULL);
  gl_log_set_level(cap_prev_level);
  gt_log_clear();
}

int gt_log_count(const char *needle) {
  int c = 0;
  pthread_mutex_lock(&cap_lock);
  for (int i = 0; i < cap_n; i++)
    if (strstr(cap_lines[i], needle))
      c++;
  pthread_mutex_unlock(&cap_lock);
  return c;
}

bool gt_log_contains(const char *needle) {
  return gt_log_count(needle) > 0;
}
