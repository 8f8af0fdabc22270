/* SPDX-License-Identifier: MIT */
/*
 * web.c - looking up the dashboard's files. See gridlet/agg_web.h; the
 * table itself is generated at build time (web_assets.c).
 */
#include "gridlet/agg_web.h"

#include "gridlet/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_FILE_MAX (4u << 20)

const agg_web_file *agg_web_find(const char *path) {
  if (!path)
    return NULL;
  /* "/index.html" is the same page as "/". */
  if (strcmp(path, "/index.html") == 0)
    path = "/";
  for (size_t i = 0; i < agg__web_nfiles; i++)
    if (strcmp(agg__web_files[i].path, path) == 0)
      return &agg__web_files[i];
  return NULL;
}

size_t agg_web_count(void) {
  return agg__web_nfiles;
}

const agg_web_file *agg_web_at(size_t i) {
  return i < agg__web_nfiles ? &agg__web_files[i] : NULL;
}

int agg_web_read(const char *dir, const agg_web_file *f, char **data,
                 size_t *len) {
  *data = NULL;
  *len = 0;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, f->name) >= (int)sizeof path)
    return GL_ENOENT;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? GL_ENOENT : GL_EIO;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return GL_EIO;
  }
  if ((uint64_t)sb.st_size > WEB_FILE_MAX) {
    close(fd);
    return GL_ETOOBIG;
  }
  size_t want = (size_t)sb.st_size;
  char *buf = malloc(want + 1);
  if (!buf) {
    close(fd);
    return GL_ENOMEM;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t n = read(fd, buf + got, want - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return 0;
}
