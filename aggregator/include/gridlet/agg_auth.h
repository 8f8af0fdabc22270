/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_auth.h - the access token of the HTTP server (API,
 * dashboard, metrics).
 *
 * When http.token_file is set, every request but /healthz must carry the
 * token, in any one of three places:
 *   Authorization: Bearer <token>   (curl, Prometheus, scripts)
 *   Cookie: gridlet_token=<token>   (the dashboard, after its first load)
 *   ?token=<token>                  (the first load of the dashboard, a link)
 * A token is 16 to 128 characters of A-Z a-z 0-9 . _ ~ - (URL-safe without
 * escaping and valid as a cookie value; `openssl rand -hex 32` makes one).
 *
 * Only the token's SHA-256 is kept; a presented token is hashed and the
 * digests compared in constant time (gl_memeq_ct), so neither the
 * comparison's duration nor an early exit tells how much of a guess was
 * right, and the presented length does not matter either.
 *
 * The header parsers are pure and read outside data: they are fuzzed
 * (tests/fuzz/aggregator/fuzz_agg_auth.c). Thread-safety: an agg_auth is
 * an immutable value once set; check from any thread.
 */
#ifndef GRIDLET_AGG_AUTH_H
#define GRIDLET_AGG_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGG_TOKEN_MIN 16
#define AGG_TOKEN_MAX 128
#define AGG_TOKEN_COOKIE "gridlet_token"

typedef struct agg_auth {
  bool enabled; /* false: every request is allowed */
  uint8_t digest[32];
} agg_auth;

/* agg_auth_token_valid - whether `len` bytes at `tok` are a well-formed
 * token (length and alphabet as above). */
bool agg_auth_token_valid(const char *tok, size_t len);

/*
 * agg_auth_set - enable `a` with the token in `text` (`len` bytes: a token
 * file's contents, one trailing "\n" or "\r\n" allowed). Returns 0, or
 * GL_EINVAL with the reason in `err` (the token itself is never quoted).
 */
int agg_auth_set(agg_auth *a, const char *text, size_t len, char *err,
                 size_t errlen);

/*
 * agg_auth_load_file - agg_auth_set from the file at `path`. Refuses a file
 * others may read (GL_EPERM: chmod 0640 or 0600). Returns 0, GL_ENOENT,
 * GL_EIO, GL_EPERM or GL_EINVAL, with a message in `err`.
 */
int agg_auth_load_file(agg_auth *a, const char *path, char *err, size_t errlen);

/*
 * agg_auth_bearer - the token of an Authorization header value ("Bearer
 * <token>", scheme case-insensitive, spaces around allowed). Returns true
 * with *tok and *len pointing into `header`, false if it is not a bearer
 * credential. NULL header: false.
 */
bool agg_auth_bearer(const char *header, const char **tok, size_t *len);

/*
 * agg_auth_cookie - the value of the gridlet_token cookie in a Cookie
 * header value ("a=1; gridlet_token=...; b=2"). Returns true with
 * *val and *len pointing into `header`; false when absent. NULL: false.
 */
bool agg_auth_cookie(const char *header, const char **val, size_t *len);

/*
 * agg_auth_check - whether a request may proceed: true when `a` is not
 * enabled, or when the bearer token of `authorization`, the cookie of
 * `cookie` or `query` (the token= argument) equals the token. Any of the
 * three may be NULL. Digest comparison in constant time.
 */
bool agg_auth_check(const agg_auth *a, const char *authorization,
                    const char *cookie, const char *query);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_AUTH_H */
