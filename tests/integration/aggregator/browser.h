/* SPDX-License-Identifier: MIT */
/*
 * browser.h - a real headless Chromium driven over the Chrome DevTools
 * Protocol for the dashboard tests.
 *
 * Chromium is started with --remote-debugging-pipe: CDP messages are JSON
 * texts terminated by a NUL byte, written to its fd 3 and read from its
 * fd 4. No port, no WebSocket, no ChromeDriver: one process group that the
 * test starts and stops by its id. The helpers open one page (a target
 * with a flat session) and offer what the tests need: navigate, evaluate a
 * JavaScript expression (its JSON value), and capture a PNG screenshot.
 *
 * Every helper fails the test (cmocka) when the browser misbehaves; the
 * browser's own output goes to a log file next to its profile directory.
 */
#ifndef GRIDLET_BROWSER_H
#define GRIDLET_BROWSER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct browser browser;

/* browser_find - the Chromium binary: $GRIDLET_CHROMIUM, else Debian's
 * /usr/lib/chromium/chromium, else `chromium` in PATH. NULL: none. The
 * string is static. */
const char *browser_find(void);

/* browser_start - start `bin` headless with a fresh profile in `dir`
 * (its log is dir/chromium.log) and open a blank page of width x height.
 * `extra` is one more command-line flag or NULL. */
browser *browser_start(const char *bin, const char *dir, int width, int height,
                       const char *extra);

/* browser_stop - close it (Browser.close, then SIGKILL of its process
 * group if it lingers). NULL is a no-op. */
void browser_stop(browser *b);

/* browser_navigate - load `url` in the page and wait for its load event. */
void browser_navigate(browser *b, const char *url, int timeout_ms);

/* browser_eval - evaluate `expr` (promises are awaited) and return its
 * value as JSON (owned; json_null() for undefined). A JavaScript
 * exception fails the test. */
json_t *browser_eval(browser *b, const char *expr, int timeout_ms);

/* browser_eval_str / browser_eval_int - the same, as an owned string
 * (strdup'd, "" for non-strings) or an integer (-1 for non-numbers). */
char *browser_eval_str(browser *b, const char *expr);
long long browser_eval_int(browser *b, const char *expr);

/* browser_wait_true - evaluate `expr` every 100 ms until it is true;
 * returns false after timeout_ms. */
bool browser_wait_true(browser *b, const char *expr, int timeout_ms);

/* browser_screenshot - the whole page (beyond the viewport) as a PNG
 * file at `path`. */
void browser_screenshot(browser *b, const char *path);

#endif
