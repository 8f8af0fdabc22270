/* SPDX-License-Identifier: MIT */
/*
 * gridlet/error.h - the project-wide error table.
 *
 * Every gridlet function that can fail returns an int: 0 on success or one
 * of the negative GL_E* codes below (the libuv convention). Results travel
 * through pointer parameters. Errors of a dependency (errno, SQLITE_*,
 * MQTTASYNC_*, wolfSSL codes, libmodbus) are translated into this table in
 * the one file that talks to that dependency, and the details go to the log.
 *
 * The table is one X-macro list so that the code, its name and its message
 * can never drift apart. Codes are stable once released: append new ones
 * at the end of the list, never renumber.
 */
#ifndef GRIDLET_ERROR_H
#define GRIDLET_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, number, "message") */
#define GL_ERRNO_MAP(XX)                                                       \
  XX(EINVAL, 1, "invalid argument")                                            \
  XX(ENOMEM, 2, "out of memory")                                               \
  XX(ERANGE, 3, "value out of range")                                          \
  XX(EPARSE, 4, "malformed input")                                             \
  XX(EIO, 5, "input/output error")                                             \
  XX(ENOENT, 6, "not found")                                                   \
  XX(EEXIST, 7, "already exists")                                              \
  XX(ETIMEDOUT, 8, "timed out")                                                \
  XX(EAGAIN, 9, "temporarily unavailable, try again")                          \
  XX(ECONN, 10, "connection failed or lost")                                   \
  XX(EPROTO, 11, "protocol error")                                             \
  XX(ECRYPTO, 12, "cryptographic operation failed")                            \
  XX(EVERIFY, 13, "verification failed")                                       \
  XX(ESTORE, 14, "storage error")                                              \
  XX(ECONFIG, 15, "configuration error")                                       \
  XX(EFULL, 16, "capacity exhausted")                                          \
  XX(ESTATE, 17, "operation not valid in the current state")                   \
  XX(EDEVICE, 18, "device reported an error")                                  \
  XX(ENOTSUP, 19, "not supported")                                             \
  XX(ETOOBIG, 20, "input too large")                                           \
  XX(EREPLAY, 21, "duplicate or replayed message")                             \
  XX(ECONFLICT, 22, "conflicts with recorded state")                           \
  XX(EPERM, 23, "not permitted")                                               \
  XX(EREVOKED, 24, "identity revoked")                                         \
  XX(EEXPIRED, 25, "expired or not yet valid")                                 \
  XX(ECLOSED, 26, "closed")                                                    \
  XX(EINTERNAL, 27, "internal error")

/* The codes themselves: GL_EINVAL == -1, ... */
enum gl_errno {
  GL_OK = 0,
#define GL_ERRNO_ENUM_(name, num, msg) GL_##name = -(num),
  GL_ERRNO_MAP(GL_ERRNO_ENUM_)
#undef GL_ERRNO_ENUM_
};

/*
 * gl_strerror - the human-readable message for an error code.
 * Returns a static string; unknown codes give "unknown error".
 * Thread-safe.
 */
const char *gl_strerror(int err);

/*
 * gl_err_name - the symbolic name of an error code, e.g. "GL_EPARSE".
 * Returns a static string; unknown codes give "GL_UNKNOWN". Thread-safe.
 */
const char *gl_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_ERROR_H */
