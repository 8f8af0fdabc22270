/* SPDX-License-Identifier: MIT */
/*
 * error.c - messages and names for the project-wide error table.
 */
#include "gridlet/error.h"

const char *gl_strerror(int err) {
  switch (err) {
  case GL_OK:
    return "success";
#define GL_STRERROR_(name, num, msg)                                           \
  case GL_##name:                                                              \
    return msg;
    GL_ERRNO_MAP(GL_STRERROR_)
#undef GL_STRERROR_
  default:
    return "unknown error";
  }
}

const char *gl_err_name(int err) {
  switch (err) {
  case GL_OK:
    return "GL_OK";
#define GL_ERRNAME_(name, num, msg)                                            \
  case GL_##name:                                                              \
    return "GL_" #name;
    GL_ERRNO_MAP(GL_ERRNAME_)
#undef GL_ERRNAME_
  default:
    return "GL_UNKNOWN";
  }
}
