/* SPDX-License-Identifier: MIT */
/* browser.c - see browser.h. */
#include "browser.h"

#include "gridlet/crypto.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

struct browser {
  pid_t pid;
  int wfd, rfd; /* our ends: commands out, answers and events in */
  long id;
  char *buf; /* bytes read, not yet split into messages */
  size_t len, cap;
  char session[128];
  long loads; /* Page.loadEventFired events seen */
  char log[GT_PATH_MAX];
};

/* A browser left running by a failed assertion is killed at exit. */
static pid_t running_group;

static void kill_leftover(void) {
  if (running_group > 0) {
    kill(-running_group, SIGKILL);
    waitpid(running_group, NULL, 0);
    running_group = 0;
  }
}

const char *browser_find(void) {
  const char *env = getenv("GRIDLET_CHROMIUM");
  if (env && *env)
    return access(env, X_OK) == 0 ? env : NULL;
  /* Debian's /usr/bin/chromium is a shell wrapper around this binary;
   * starting the binary itself keeps the wrapper's noise out. */
  if (access("/usr/lib/chromium/chromium", X_OK) == 0)
    return "/usr/lib/chromium/chromium";
  static char found[GT_PATH_MAX];
  const char *path = getenv("PATH");
  for (const char *p = path ? path : "/usr/bin"; p && *p;) {
    size_t n = strcspn(p, ":");
    snprintf(found, sizeof found, "%.*s/chromium", (int)n, p);
    if (n && access(found, X_OK) == 0)
      return found;
    p += n + (p[n] == ':');
  }
  return NULL;
}

/* An fd >= 10 with FD_CLOEXEC: the child gets only what dup2 gives it. */
static int high(int fd) {
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  assert_true(h >= 10);
  close(fd);
  return h;
}

static void send_msg(browser *b, json_t *msg) {
  char *text = json_dumps(msg, JSON_COMPACT);
  assert_non_null(text);
  size_t n = strlen(text) + 1; /* with the NUL terminator */
  for (size_t off = 0; off < n;) {
    ssize_t w = write(b->wfd, text + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      fail_msg("cannot write to Chromium: %s (see %s)", strerror(errno),
               b->log);
    off += (size_t)w;
  }
  free(text);
}

/* The next message, waiting up to `timeout_ms`; NULL on timeout. */
static json_t *next_msg(browser *b, int timeout_ms) {
  for (int waited = 0;;) {
    char *nul = b->len ? memchr(b->buf, '\0', b->len) : NULL;
    if (nul) {
      size_t n = (size_t)(nul - b->buf);
      json_error_t e;
      json_t *j = json_loadb(b->buf, n, 0, &e);
      memmove(b->buf, nul + 1, b->len - n - 1);
      b->len -= n + 1;
      if (!j)
        fail_msg("Chromium sent something that is not JSON: %s", e.text);
      return j;
    }
    if (waited >= timeout_ms)
      return NULL;
    struct pollfd p = {.fd = b->rfd, .events = POLLIN};
    int r = poll(&p, 1, 50);
    waited += 50;
    if (r <= 0)
      continue;
    if (b->cap - b->len < 65536) {
      b->cap = b->cap ? b->cap * 2 : 1 << 20;
      b->buf = realloc(b->buf, b->cap);
      assert_non_null(b->buf);
    }
    ssize_t n = read(b->rfd, b->buf + b->len, b->cap - b->len);
    if (n == 0) {
      char *log = gt_read_file(b->log, NULL);
      fail_msg("Chromium closed its pipe; its log:\n%s", log ? log : "");
    }
    if (n > 0)
      b->len += (size_t)n;
  }
}

static void note_event(browser *b, json_t *m) {
  const char *method = json_string_value(json_object_get(m, "method"));
  if (method && strcmp(method, "Page.loadEventFired") == 0)
    b->loads++;
}

/* Send a command (params are taken) and return its result (owned). */
static json_t *cmd(browser *b, const char *method, json_t *params, bool in_page,
                   int timeout_ms) {
  json_t *m = json_object();
  long id = ++b->id;
  json_object_set_new(m, "id", json_integer(id));
  json_object_set_new(m, "method", json_string(method));
  json_object_set_new(m, "params", params ? params : json_object());
  if (in_page)
    json_object_set_new(m, "sessionId", json_string(b->session));
  send_msg(b, m);
  json_decref(m);
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    json_t *r = next_msg(b, 50);
    if (!r)
      continue;
    if (json_integer_value(json_object_get(r, "id")) != id) {
      note_event(b, r);
      json_decref(r);
      continue;
    }
    json_t *err = json_object_get(r, "error");
    if (err)
      fail_msg("CDP %s failed: %s", method,
               json_string_value(json_object_get(err, "message")));
    json_t *res = json_incref(json_object_get(r, "result"));
    json_decref(r);
    return res ? res : json_object();
  }
  fail_msg("CDP %s: no answer within %d ms", method, timeout_ms);
  return NULL;
}

browser *browser_start(const char *bin, const char *dir, int width, int height,
                       const char *extra) {
  signal(SIGPIPE, SIG_IGN);
  browser *b = calloc(1, sizeof *b);
  assert_non_null(b);
  char profile[GT_PATH_MAX], arg_profile[GT_PATH_MAX + 32], size[64];
  gt_path(profile, dir, "chromium-profile");
  gt_path(b->log, dir, "chromium.log");
  snprintf(arg_profile, sizeof arg_profile, "--user-data-dir=%s", profile);
  snprintf(size, sizeof size, "--window-size=%d,%d", width, height);
  int to[2], from[2];
  assert_int_equal(pipe(to), 0);
  assert_int_equal(pipe(from), 0);
  to[0] = high(to[0]);
  to[1] = high(to[1]);
  from[0] = high(from[0]);
  from[1] = high(from[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, b->log,
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&fa, to[0], 3);
  posix_spawn_file_actions_adddup2(&fa, from[1], 4);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  /* Its own process group: the renderer and helper processes go with it
   * when the test stops it by that id. */
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  char *argv[] = {(char *)bin,
                  "--headless=new",
                  "--no-sandbox",
                  "--disable-gpu",
                  "--disable-dev-shm-usage",
                  "--disable-background-networking",
                  "--disable-component-update",
                  "--disable-sync",
                  "--disable-extensions",
                  "--disable-default-apps",
                  "--no-first-run",
                  "--no-default-browser-check",
                  "--metrics-recording-only",
                  "--mute-audio",
                  "--hide-scrollbars",
                  "--lang=en-US",
                  "--remote-debugging-pipe",
                  arg_profile,
                  size,
                  (char *)extra,
                  NULL};
  /* en-US figures whatever the machine's locale: the test compares
   * formatted numbers. */
  static char *ours[] = {"LANG=en_US.UTF-8", "LANGUAGE=en_US",
                         "LC_ALL=", "TZ=UTC"};
  size_t ne = 0;
  while (environ[ne])
    ne++;
  char **env = calloc(ne + 5, sizeof *env);
  assert_non_null(env);
  size_t k = 0;
  for (size_t i = 0; i < ne; i++)
    if (strncmp(environ[i], "LANG", 4) != 0 &&
        strncmp(environ[i], "LC_", 3) != 0 && strncmp(environ[i], "TZ=", 3))
      env[k++] = environ[i];
  for (size_t i = 0; i < 4; i++)
    env[k++] = ours[i];
  int rc = posix_spawn(&b->pid, bin, &fa, &at, argv, env);
  free(env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(to[0]);
  close(from[1]);
  if (rc != 0)
    fail_msg("cannot start %s: %s", bin, strerror(rc));
  running_group = b->pid;
  static bool registered;
  if (!registered) {
    atexit(kill_leftover);
    registered = true;
  }
  b->wfd = to[1];
  b->rfd = from[0];
  json_t *r = cmd(b, "Target.createTarget",
                  json_pack("{s:s}", "url", "about:blank"), false, 60000);
  const char *target = json_string_value(json_object_get(r, "targetId"));
  assert_non_null(target);
  json_t *a = cmd(b, "Target.attachToTarget",
                  json_pack("{s:s,s:b}", "targetId", target, "flatten", 1),
                  false, 10000);
  snprintf(b->session, sizeof b->session, "%s",
           json_string_value(json_object_get(a, "sessionId")));
  json_decref(a);
  json_decref(r);
  json_decref(cmd(b, "Page.enable", NULL, true, 10000));
  json_decref(cmd(b, "Emulation.setDeviceMetricsOverride",
                  json_pack("{s:i,s:i,s:i,s:b}", "width", width, "height",
                            height, "deviceScaleFactor", 1, "mobile", 0),
                  true, 10000));
  return b;
}

void browser_stop(browser *b) {
  if (!b)
    return;
  json_t *m = json_pack("{s:i,s:s,s:{}}", "id", (int)++b->id, "method",
                        "Browser.close", "params");
  send_msg(b, m);
  json_decref(m);
  int st = gt_proc_wait(b->pid, 10000);
  if (st < 0) {
    kill(-b->pid, SIGKILL);
    waitpid(b->pid, NULL, 0);
  } else {
    /* Helpers outliving the browser process would be a leak: end them. */
    kill(-b->pid, SIGKILL);
  }
  running_group = 0;
  close(b->wfd);
  close(b->rfd);
  free(b->buf);
  free(b);
}

void browser_navigate(browser *b, const char *url, int timeout_ms) {
  long before = b->loads;
  json_t *r =
      cmd(b, "Page.navigate", json_pack("{s:s}", "url", url), true, timeout_ms);
  const char *err = json_string_value(json_object_get(r, "errorText"));
  if (err)
    fail_msg("Chromium cannot load %s: %s", url, err);
  json_decref(r);
  for (int waited = 0; b->loads == before; waited += 50) {
    if (waited > timeout_ms)
      fail_msg("%s did not finish loading within %d ms", url, timeout_ms);
    json_t *e = next_msg(b, 50);
    if (e) {
      note_event(b, e);
      json_decref(e);
    }
  }
}

json_t *browser_eval(browser *b, const char *expr, int timeout_ms) {
  json_t *r = cmd(b, "Runtime.evaluate",
                  json_pack("{s:s,s:b,s:b}", "expression", expr,
                            "returnByValue", 1, "awaitPromise", 1),
                  true, timeout_ms);
  json_t *ex = json_object_get(r, "exceptionDetails");
  if (ex) {
    char *t = json_dumps(ex, JSON_COMPACT);
    fail_msg("JavaScript threw in `%.200s`: %s", expr, t);
  }
  json_t *v = json_object_get(json_object_get(r, "result"), "value");
  json_t *out = v ? json_incref(v) : json_null();
  json_decref(r);
  return out;
}

char *browser_eval_str(browser *b, const char *expr) {
  json_t *v = browser_eval(b, expr, 10000);
  char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
  json_decref(v);
  return s;
}

long long browser_eval_int(browser *b, const char *expr) {
  json_t *v = browser_eval(b, expr, 10000);
  long long n = json_is_number(v) ? (long long)json_number_value(v) : -1;
  json_decref(v);
  return n;
}

bool browser_wait_true(browser *b, const char *expr, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 100) {
    json_t *v = browser_eval(b, expr, 10000);
    bool ok = json_is_true(v);
    json_decref(v);
    if (ok)
      return true;
    gt_sleep_ms(100);
  }
  return false;
}

void browser_screenshot(browser *b, const char *path) {
  json_t *lm = cmd(b, "Page.getLayoutMetrics", NULL, true, 10000);
  json_t *cs = json_object_get(lm, "cssContentSize");
  int w = (int)json_number_value(json_object_get(cs, "width"));
  int h = (int)json_number_value(json_object_get(cs, "height"));
  json_decref(lm);
  assert_true(w > 0 && h > 0);
  json_t *r = cmd(b, "Page.captureScreenshot",
                  json_pack("{s:s,s:b,s:{s:i,s:i,s:i,s:i,s:i}}", "format",
                            "png", "captureBeyondViewport", 1, "clip", "x", 0,
                            "y", 0, "width", w, "height", h, "scale", 1),
                  true, 60000);
  const char *data = json_string_value(json_object_get(r, "data"));
  assert_non_null(data);
  size_t n = strlen(data), len = 0;
  uint8_t *png = malloc(n);
  assert_non_null(png);
  assert_int_equal(gl_base64_decode(data, n, png, n, &len), 0);
  assert_true(len > 8 && memcmp(png, "\x89PNG", 4) == 0);
  gt_write_file(path, (const char *)png, len);
  free(png);
  json_decref(r);
}
