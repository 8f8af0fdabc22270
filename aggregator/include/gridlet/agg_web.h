/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_web.h - the operator dashboard's files (aggregator/web/:
 * plain HTML, CSS and JavaScript, no build step, nothing fetched from
 * elsewhere), served by the HTTP server at / next to the JSON API it reads.
 *
 * The files are built into the program: aggregator/web/embed.cmake turns
 * each into a byte array at build time. A page and the API it reads thus
 * always come from the same build (no version skew after an upgrade, no
 * files to install or to lose), and the hardened service needs no extra
 * read-only path. http.web_dir serves the same names from a directory
 * instead (to try changes without rebuilding); only the names below are
 * ever served, so a request cannot reach any other file.
 *
 * Thread-safety: the table is constant; agg_web_read is reentrant.
 */
#ifndef GRIDLET_AGG_WEB_H
#define GRIDLET_AGG_WEB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agg_web_file {
  const char *path;          /* URL path: "/" for index.html, else "/<name>" */
  const char *name;          /* file name in aggregator/web/ */
  const char *type;          /* media type for Content-Type */
  const unsigned char *data; /* built-in copy (NUL-terminated) */
  size_t len;
  const char *etag; /* quoted entity tag of the built-in copy */
} agg_web_file;

/* agg_web_find - the file served at URL `path`, or NULL. */
const agg_web_file *agg_web_find(const char *path);

/* agg_web_count / agg_web_at - every file, in build order. */
size_t agg_web_count(void);
const agg_web_file *agg_web_at(size_t i);

/*
 * agg_web_read - the contents of `f` from directory `dir` (http.web_dir):
 * an owned buffer (free()) in *data, its length in *len. Returns 0,
 * GL_ENOENT, GL_ETOOBIG (over 4 MiB) or GL_EIO.
 */
int agg_web_read(const char *dir, const agg_web_file *f, char **data,
                 size_t *len);

/* The generated table (web_assets.c). */
extern const agg_web_file agg__web_files[];
extern const size_t agg__web_nfiles;

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_WEB_H */
