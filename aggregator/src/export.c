/* SPDX-License-Identifier: MIT */
/* export.c - settlements as CSV. See gridlet/agg_export.h. */
#include "gridlet/agg_export.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"

#include <inttypes.h>
#include <string.h>

typedef struct ctx {
  FILE *out;
  bool decimal;
  size_t rows;
  int64_t len; /* interval length of the current interval, ns */
  int64_t len_of;
  agg_store *st;
} ctx;

static void money(FILE *out, int64_t v, bool decimal) {
  if (!decimal) {
    fprintf(out, ",%" PRId64, v);
    return;
  }
  uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  fprintf(out, ",%s%" PRIu64 ".%06" PRIu64, v < 0 ? "-" : "", a / 1000000,
          a % 1000000);
}

static int row(void *c_, const agg_settle_rec *s) {
  ctx *c = c_;
  if (c->len_of != s->interval) {
    agg_interval_rec iv;
    c->len = agg_store_interval_get(c->st, s->interval, &iv) == 0
                 ? iv.len_s * GL_NS_PER_SEC
                 : 0;
    c->len_of = s->interval;
  }
  char a[GL_TIME_STR_MAX], b[GL_TIME_STR_MAX];
  const char *flags =
      (s->flags & PR_RESULT_MISSING) && (s->flags & PR_RESULT_ESTIMATED)
          ? "missing|estimated"
      : (s->flags & PR_RESULT_MISSING)   ? "missing"
      : (s->flags & PR_RESULT_ESTIMATED) ? "estimated"
                                         : "";
  fprintf(c->out,
          "%s,%s,%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
          ",%" PRId64,
          gl_time_format(s->interval, a),
          gl_time_format(s->interval + c->len, b), s->meter, flags,
          s->import_wh, s->export_wh, s->bought, s->sold, s->grid_import,
          s->grid_export);
  money(c->out, s->local_paid, c->decimal);
  money(c->out, s->local_received, c->decimal);
  money(c->out, s->grid_paid, c->decimal);
  money(c->out, s->grid_received, c->decimal);
  money(c->out, s->fee, c->decimal);
  money(c->out, s->net, c->decimal);
  money(c->out, s->balance, c->decimal);
  fputc('\n', c->out);
  c->rows++;
  return ferror(c->out) ? GL_EIO : 0;
}

int agg_export_settlements(agg_store *st, int64_t from, int64_t to,
                           const char *meter, bool decimal, FILE *out,
                           size_t *rows) {
  ctx c = {.out = out, .decimal = decimal, .st = st, .len_of = INT64_MIN};
  fputs("interval_start,interval_end,meter,flags,import_wh,export_wh,"
        "local_bought_wh,local_sold_wh,grid_import_wh,grid_export_wh,"
        "local_paid,local_received,grid_paid,grid_received,fee,net,balance\n",
        out);
  int rc = agg_store_settle_each(st, from, to, meter, false, 0, row, &c);
  if (rc == 0 && fflush(out) != 0)
    rc = GL_EIO;
  if (rows)
    *rows = c.rows;
  return rc;
}
