/* SPDX-License-Identifier: MIT */
/*
 * file.c - whole-file reads and atomic, durable writes for keys,
 * certificates, CRLs and broker configuration.
 *
 * A key or CRL that is half written is worse than none (the broker would
 * refuse to start, or a device would lose its identity), so every write
 * goes to a temporary file in the same directory, is fsync'd, renamed over
 * the target and the directory fsync'd: readers see the old or the new
 * file, never a mix. errno is translated here.
 */
#include "internal.h"

#include "gridlet/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int pki__path(char *out, size_t size, const char *dir, const char *name) {
  int n = snprintf(out, size, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= size)
    return GL_ETOOBIG;
  return 0;
}

bool pki__exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int pki__mkdir(const char *path, mode_t mode, pki_why *why) {
  if (mkdir(path, mode) == 0)
    return 0;
  int e = errno;
  struct stat st;
  if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  return pki__fail(why, GL_EIO, "cannot create directory %s: %s", path,
                   strerror(e));
}

static int dir_of(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return snprintf(out, size, ".") < (int)size ? 0 : GL_ETOOBIG;
  size_t n = (size_t)(slash - path);
  if (n == 0)
    n = 1; /* "/file" */
  if (n >= size)
    return GL_ETOOBIG;
  memcpy(out, path, n);
  out[n] = '\0';
  return 0;
}

/* Create `path` with exactly `mode`, write `data` and (unless `nosync`)
 * fsync it. Returns 0 or an errno; a partial file is left for the caller
 * to remove. */
static int write_new(const char *path, const void *data, size_t len,
                     mode_t mode, bool nosync) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return errno;
  /* open() applies the umask; the mode of a key file must be exact. */
  int rc = fchmod(fd, mode) == 0 ? 0 : errno;
  const uint8_t *p = data;
  size_t left = len;
  while (rc == 0 && left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      rc = errno;
      break;
    }
    p += w;
    left -= (size_t)w;
  }
  if (rc == 0 && !nosync && fsync(fd) != 0)
    rc = errno;
  if (close(fd) != 0 && rc == 0)
    rc = errno;
  return rc;
}

static void sync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
}

int pki__stage_file(pki__staged *s, const char *path, const void *data,
                    size_t len, mode_t mode, unsigned flags, pki_why *why) {
  memset(s, 0, sizeof *s);
  s->sync = !(flags & PKI__W_NOSYNC);
  int n = snprintf(s->path, sizeof s->path, "%s", path);
  int m = snprintf(s->tmp, sizeof s->tmp, "%s.tmp-%ld", path, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof s->path || m < 0 ||
      (size_t)m >= sizeof s->tmp)
    return pki__fail(why, GL_EIO, "path too long: %s", path);
  int rc = write_new(s->tmp, data, len, mode, !s->sync);
  if (rc != 0) {
    unlink(s->tmp);
    return pki__fail(why, GL_EIO, "cannot write %s: %s", s->tmp, strerror(rc));
  }
  s->active = true;
  return 0;
}

const char *pki__staged_path(const pki__staged *s) {
  return s->tmp;
}

int pki__install_file(pki__staged *s, pki_why *why) {
  if (!s->active)
    return 0;
  char dir[sizeof s->path];
  if (dir_of(s->path, dir, sizeof dir))
    return pki__fail(why, GL_EIO, "path too long: %s", s->path);
  if (rename(s->tmp, s->path) != 0) {
    int e = errno;
    return pki__fail(why, GL_EIO, "cannot move %s to %s: %s", s->tmp, s->path,
                     strerror(e));
  }
  s->active = false;
  if (s->sync)
    sync_dir(dir);
  return 0;
}

void pki__discard_file(pki__staged *s) {
  if (s->active)
    unlink(s->tmp);
  s->active = false;
}

int pki__lock_file(const char *path, int *fd_out, pki_why *why) {
  *fd_out = -1;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return pki__fail(why, GL_EIO, "cannot open the lock file %s: %s", path,
                     strerror(errno));
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR)
      continue;
    int e = errno;
    close(fd);
    return pki__fail(why, GL_EIO, "cannot lock %s: %s", path, strerror(e));
  }
  *fd_out = fd;
  return 0;
}

void pki__unlock_file(int fd) {
  if (fd >= 0)
    close(fd); /* releases the flock */
}

int pki__write_file(const char *path, const void *data, size_t len, mode_t mode,
                    unsigned flags, pki_why *why) {
  if ((flags & PKI__W_EXCL) && pki__exists(path))
    return pki__fail(why, GL_EEXIST, "%s already exists; not replacing it",
                     path);
  char tmp[4096], dir[4096];
  /* Throw-away files (development communities) are written in place:
   * half the metadata operations of the rename dance, which is what a
   * loaded ext4 charges for. */
  bool direct = (flags & PKI__W_NOSYNC) && !(flags & PKI__W_EXCL);
  int n = direct
              ? snprintf(tmp, sizeof tmp, "%s", path)
              : snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof tmp || dir_of(path, dir, sizeof dir))
    return pki__fail(why, GL_EIO, "path too long: %s", path);
  int rc = write_new(tmp, data, len, mode, (flags & PKI__W_NOSYNC) != 0);
  if (direct) {
    if (rc != 0)
      unlink(path);
  } else if (rc == 0 && (flags & PKI__W_EXCL)) {
    /* link() fails if the target appeared meanwhile: never clobber a key. */
    if (link(tmp, path) != 0)
      rc = errno;
    unlink(tmp);
  } else if (rc == 0 && rename(tmp, path) != 0) {
    rc = errno;
  }
  if (rc != 0) {
    if (!direct)
      unlink(tmp);
    if (rc == EEXIST)
      return pki__fail(why, GL_EEXIST, "%s already exists; not replacing it",
                       path);
    return pki__fail(why, GL_EIO, "cannot write %s: %s", path, strerror(rc));
  }
  if (!(flags & PKI__W_NOSYNC))
    sync_dir(dir);
  return 0;
}

int pki__read_file(const char *path, size_t max, char **data, size_t *len,
                   mode_t *mode_out, pki_why *why) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      return pki__fail_quiet(why, GL_ENOENT, "%s does not exist", path);
    return pki__fail_quiet(why, GL_EIO, "cannot open %s: %s", path,
                           strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return pki__fail_quiet(why, GL_EIO, "%s is not a regular file", path);
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return pki__fail_quiet(why, GL_ETOOBIG,
                           "%s is %lld bytes, more than the %zu allowed", path,
                           (long long)st.st_size, max);
  }
  size_t cap = (size_t)st.st_size;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    return GL_ENOMEM;
  }
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *data = buf;
  *len = n;
  if (mode_out)
    *mode_out = st.st_mode;
  return 0;
}
