/* SPDX-License-Identifier: MIT */
/*
 * cli_common.c - option parsing, input reading and printing shared by the
 * ledger tools (see cli_common.h).
 */
#include "cli_common.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *cli_prog = "gridlet-ledger";

int cli_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: usage: ", cli_prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return CLI_USAGE;
}

int cli_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", cli_prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

int cli_code(int err) {
  switch (err) {
  case 0:
    return CLI_OK;
  case GL_EVERIFY:
  case GL_ECONFLICT:
  case GL_EPERM:
  case GL_ESTATE:
  case GL_ENOENT:
    return CLI_INVALID;
  case GL_EINVAL:
  case GL_EPARSE:
  case GL_ERANGE:
  case GL_ENOTSUP:
  case GL_EEXIST:
    return CLI_USAGE;
  default:
    return CLI_ERROR;
  }
}

static int find_opt(const cli_opt *spec, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(spec[i].name, name) == 0)
      return (int)i;
  return -1;
}

int cli_parse(int argc, char **argv, const cli_opt *spec, size_t nspec,
              cli_args *a) {
  memset(a, 0, sizeof *a);
  a->spec = spec;
  a->nspec = nspec;
  bool only_pos = false;
  for (int i = 0; i < argc; i++) {
    char *arg = argv[i];
    if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (a->npos == CLI_MAX_POS)
        return cli_usage("too many arguments");
      a->pos[a->npos++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_pos = true;
      continue;
    }
    if (arg[1] != '-')
      return cli_usage("unknown option %s", arg);
    char *name = arg + 2;
    char *eq = strchr(name, '=');
    const char *value = NULL;
    char buf[64];
    if (eq) {
      size_t n = (size_t)(eq - name);
      if (n >= sizeof buf)
        return cli_usage("unknown option %s", arg);
      memcpy(buf, name, n);
      buf[n] = '\0';
      name = buf;
      value = eq + 1;
    }
    int k = find_opt(spec, nspec, name);
    if (k < 0)
      return cli_usage("unknown option --%s", name);
    if (spec[k].has_arg && !value) {
      if (i + 1 >= argc)
        return cli_usage("--%s needs a value", name);
      value = argv[++i];
    } else if (!spec[k].has_arg && value) {
      return cli_usage("--%s takes no value", name);
    }
    if (spec[k].multi) {
      if (a->nmulti[k] == CLI_MAX_MULTI)
        return cli_usage("too many --%s", name);
      a->multi[k][a->nmulti[k]++] = value;
    } else {
      if (a->set[k])
        return cli_usage("--%s given twice", name);
      a->val[k] = value;
    }
    a->set[k] = true;
  }
  return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
  int k = find_opt(a->spec, a->nspec, name);
  return k >= 0 && a->set[k] && !a->spec[k].multi ? a->val[k] : NULL;
}

bool cli_has(const cli_args *a, const char *name) {
  int k = find_opt(a->spec, a->nspec, name);
  return k >= 0 && a->set[k];
}

size_t cli_getv(const cli_args *a, const char *name, const char *const **v) {
  int k = find_opt(a->spec, a->nspec, name);
  if (k < 0) {
    *v = NULL;
    return 0;
  }
  *v = a->multi[k];
  return a->nmulti[k];
}

const char *cli_need(const cli_args *a, const char *name) {
  const char *v = cli_get(a, name);
  if (!v)
    cli_usage("--%s is required", name);
  return v;
}

bool cli_u64(const char *s, uint64_t *out) {
  size_t len = strlen(s);
  if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > (uint64_t)INT64_MAX)
    return false;
  *out = v;
  return true;
}

int cli_opt_u64(const cli_args *a, const char *name, bool required,
                uint64_t *out) {
  const char *v = required ? cli_need(a, name) : cli_get(a, name);
  if (!v)
    return required ? CLI_USAGE : 0;
  if (!cli_u64(v, out))
    return cli_usage("--%s must be a decimal number from 0 to 2^63-1, not "
                     "\"%s\"",
                     name, v);
  return 0;
}

int cli_hash(const char *what, const char *hex, uint8_t out[LG_HASH_LEN]) {
  size_t n = 0, len = strlen(hex);
  if (len != 2 * LG_HASH_LEN ||
      gl_hex_decode(hex, len, out, LG_HASH_LEN, &n) != 0 || n != LG_HASH_LEN)
    return cli_usage("%s must be exactly 64 hex digits (a 32-byte hash), "
                     "not \"%.80s\"",
                     what, hex);
  return 0;
}

char *cli_read(const char *path, size_t max, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    cli_fail(CLI_ERROR, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  bool ok = buf != NULL;
  while (ok) {
    if (n > max) {
      cli_fail(CLI_USAGE, "%s is larger than %zu bytes", path, max);
      ok = false;
      break;
    }
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        ok = false;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
  }
  if (ok && ferror(f)) {
    cli_fail(CLI_ERROR, "cannot read %s", path);
    ok = false;
  }
  if (f != stdin)
    fclose(f);
  if (!ok) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

int cli_vkey(const char *arg, uint8_t type, lg_vkey *out) {
  char text[LG_KEY_TEXT_MAX + 2];
  struct stat st;
  const char *src = arg;
  if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
    /* A file holding the key (first line). */
    FILE *f = fopen(arg, "r");
    if (!f || !fgets(text, sizeof text, f)) {
      if (f)
        fclose(f);
      return cli_usage("cannot read a verifier key from %s", arg);
    }
    fclose(f);
    text[strcspn(text, "\r\n")] = '\0';
    src = text;
  }
  int rc = lg_vkey_parse(src, strlen(src), out);
  if (rc != 0)
    return cli_usage("\"%.100s\" is not a verifier key "
                     "(name+hexid+base64, or a file holding one)",
                     arg);
  if (type && out->type != type)
    return cli_usage(
        "%s is a %s key; a %s key is needed here", out->name,
        out->type == LG_SIG_ED25519 ? "log (Ed25519)" : "witness (cosignature)",
        type == LG_SIG_ED25519 ? "log (Ed25519)" : "witness (cosignature)");
  return 0;
}

/* ---- Entries ---------------------------------------------------------- */

static const char *side_name(uint8_t s) {
  return s == LG_SIDE_BUY ? "buy" : "sell";
}

static const char *mode_name(uint8_t m) {
  static const char *const n[] = {"?", "expost", "exante", "continuous"};
  return m <= 3 ? n[m] : "?";
}

static const char *rule_name(uint8_t r) {
  static const char *const n[] = {"none", "marginal", "k", "mcafee",
                                  "pay-as-bid"};
  return r <= 4 ? n[r] : "?";
}

void cli_describe(FILE *out, const uint8_t *data, size_t len) {
  lg_entry e;
  const char *why = NULL;
  if (lg_entry_decode(data, len, &e, &why) != 0) {
    fprintf(out, "undecodable (%s)", why ? why : "?");
    return;
  }
  char t[GL_TIME_STR_MAX];
  switch (e.type) {
  case LG_ENTRY_ORDER: {
    const lg_order *o = &e.u.order;
    fprintf(out,
            "order interval=%s meter=%s seq=%" PRIu64 " side=%s "
            "quantity_wh=%" PRId64 " limit_price=%" PRId64,
            gl_time_format(o->interval_start, t), o->meter_id, o->seq,
            side_name(o->side), o->quantity_wh, o->limit_price);
    break;
  }
  case LG_ENTRY_READING: {
    const lg_reading *r = &e.u.reading;
    fprintf(out,
            "reading interval=%s meter=%s seq=%" PRIu64 " import_wh=%" PRId64
            " export_wh=%" PRId64 " flags=0x%" PRIx32,
            gl_time_format(r->interval_start, t), r->meter_id, r->seq,
            r->import_wh, r->export_wh, r->flags);
    break;
  }
  case LG_ENTRY_CLEARING: {
    const lg_clearing *c = &e.u.clearing;
    fprintf(out,
            "clearing interval=%s len_s=%" PRIu32 " mode=%s rule=%s "
            "price=%" PRId64 " volume_wh=%" PRId64 " trades=%zu",
            gl_time_format(c->interval_start, t), c->interval_len_s,
            mode_name(c->mode), rule_name(c->rule), c->price, c->volume_wh,
            c->n_trades);
    break;
  }
  case LG_ENTRY_SETTLEMENT: {
    const lg_settlement *s = &e.u.settlement;
    fprintf(out,
            "settlement interval=%s len_s=%" PRIu32 " participants=%zu "
            "utility_money=%" PRId64 " fee_money=%" PRId64,
            gl_time_format(s->interval_start, t), s->interval_len_s, s->n_rows,
            s->utility_money, s->fee_money);
    break;
  }
  case LG_ENTRY_PARAM:
    fprintf(out, "parameter effective=%s key=%s value=\"%s\"",
            gl_time_format(e.u.param.effective_from, t), e.u.param.key,
            e.u.param.value);
    break;
  case LG_ENTRY_ENROLMENT: {
    const lg_enrolment *n = &e.u.enrolment;
    char pk[65];
    fprintf(out, "enrolment time=%s action=%s meter=%s pubkey=%s",
            gl_time_format(n->time, t),
            n->action == LG_ENROL ? "enrol" : "revoke", n->meter_id,
            gl_hex_encode(n->pubkey, 32, pk));
    break;
  }
  }
  lg_entry_clear(&e);
}

void cli_log_setup(const char *prog, bool verbose) {
  cli_prog = prog;
  gl_log_set_ident(prog);
  gl_log_set_level(verbose ? GL_LOG_INFO : GL_LOG_WARN);
}
