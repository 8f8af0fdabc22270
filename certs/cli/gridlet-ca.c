/* SPDX-License-Identifier: MIT */
/*
 * gridlet-ca - the community certificate authority tool.
 *
 * A thin shell over certs/: it parses the command line, opens the CA with
 * the real clock and the system random generator, calls one library
 * function and prints the outcome. Refusals print the library's reason on
 * stderr and exit 1; usage errors exit 2. See docs/operations/pki.md.
 */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_broker.h"
#include "gridlet/pki_ca.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_crl.h"
#include "gridlet/pki_csr.h"
#include "gridlet/pki_dev.h"
#include "gridlet/pki_key.h"
#include "gridlet/pki_trust.h"
#include "gridlet/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DIR "/var/lib/gridlet/ca"
#define MAX_NAMES 16
#define DAY_NS (INT64_C(86400) * GL_NS_PER_SEC)

static const char *prog = "gridlet-ca";

static const char usage_text[] =
    "usage: gridlet-ca [--dir DIR] [-v] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "The CA lives in DIR (default $GRIDLET_CA_DIR, else " DEFAULT_DIR ").\n"
    "\n"
    "commands:\n"
    "  init --community NAME [--key-type ed25519|p256] [--days N]\n"
    "       [--crl-days N]             create the community CA\n"
    "  sign [--replace] [--days N] [--out FILE] CSR...\n"
    "                                  check meter CSRs, issue certificates\n"
    "  service NAME --out DIR [--dns HOST]... [--ip ADDR]... [--days N]\n"
    "       [--key-type T] [--replace] key and certificate for \"broker\" or\n"
    "                                  \"aggregator\" (--replace: re-issue,\n"
    "                                  revoking the current one)\n"
    "  list [--all]                    certificates valid now (--all: every\n"
    "                                  one issued)\n"
    "  revoke (ID | --serial HEX) [--reason REASON]\n"
    "                                  revoke; REASON is keyCompromise,\n"
    "                                  superseded, cessationOfOperation,\n"
    "                                  affiliationChanged or unspecified\n"
    "  crl [--days N]                  issue a fresh revocation list\n"
    "  broker-config --out DIR [--port P] [--bind ADDR] [--user USER]\n"
    "       [--log-dest DEST] [--persistence] [--dns HOST]... [--ip ADDR]...\n"
    "       [--renew-cert]             write mosquitto.conf, acl and certs\n"
    "  verify [--role meter|aggregator|broker|any] FILE\n"
    "                                  check a certificate (or CRL) against\n"
    "                                  the CA and its revocation list\n"
    "  show FILE                       describe a certificate, CSR or CRL\n"
    "  dev-community OUT [--meters N] [--community NAME] [--port P]\n"
    "       [--user USER] [--key-type T]\n"
    "                                  a whole throw-away community\n";

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "%s: %s\n\n", prog, msg);
  fputs(usage_text, stderr);
  return 2;
}

static int fail(int rc, const pki_why *why, const char *what) {
  if (why && why->text[0])
    fprintf(stderr, "%s: %s\n", prog, why->text);
  else
    fprintf(stderr, "%s: %s: %s\n", prog, what, gl_strerror(rc));
  return 1;
}

static bool parse_uint(const char *s, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > max)
    return false;
  *out = v;
  return true;
}

static bool parse_days(const char *s, int64_t *ns) {
  long d;
  if (!parse_uint(s, 36500, &d) || d == 0)
    return false;
  *ns = d * DAY_NS;
  return true;
}

/* The whole file, NUL-terminated (callers use string functions on it),
 * at most 4 MiB; NULL with errno set on failure. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
    if (n == cap - 1) {
      char *b = cap < 4 * 1024 * 1024 ? realloc(buf, cap * 2) : NULL;
      if (!b) {
        free(buf);
        buf = NULL;
        errno = EFBIG;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

static const char *fmt_time(int64_t ns, char buf[GL_TIME_STR_MAX]) {
  return gl_time_format(ns, buf);
}

/* Shared state of one invocation. */
typedef struct env {
  const char *dir;
  gl_clock clock;
  gl_rand rand;
} env;

static int open_ca(const env *e, pki_ca **ca) {
  pki_why why = {{0}};
  int rc = pki_ca_open(e->dir, NULL, &e->rand, &e->clock, ca, &why);
  return rc ? fail(rc, &why, "cannot open the CA") : 0;
}

/* After anything that changes the CRL or the set of valid identities. */
static int refresh_broker(pki_ca *ca, bool crl_changed) {
  char dir[4096];
  pki_why why = {{0}};
  int rc = pki_broker_refresh(ca, dir, sizeof dir, &why);
  if (rc)
    return fail(rc, &why, "cannot update the broker files");
  if (dir[0])
    printf("updated %s/crl.pem and %s/acl; reload mosquitto now "
           "(systemctl reload mosquitto)\n",
           dir, dir);
  else if (crl_changed)
    printf("copy %s/crl.pem to the broker and the aggregator and reload "
           "them\n",
           pki_ca_dir(ca));
  return 0;
}

/* ---- init --------------------------------------------------------------- */

static int cmd_init(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"community", 1, 0, 'c'},
                                     {"key-type", 1, 0, 'k'},
                                     {"days", 1, 0, 'd'},
                                     {"crl-days", 1, 0, 'r'},
                                     {0, 0, 0, 0}};
  pki_ca_init_opts o = {0};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'c':
      o.community = optarg;
      break;
    case 'k':
      if (pki_key_type_parse(optarg, &o.key_type))
        return usage("--key-type is ed25519 or p256");
      break;
    case 'd':
      if (!parse_days(optarg, &o.lifetime))
        return usage("--days needs a number of days");
      break;
    case 'r':
      if (!parse_days(optarg, &o.crl_lifetime))
        return usage("--crl-days needs a number of days");
      break;
    default:
      return usage(NULL);
    }
  }
  if (!o.community || optind != argc)
    return usage("init needs --community NAME and nothing else");
  pki_why why = {{0}};
  int rc = pki_ca_init(e->dir, &o, &e->rand, &e->clock, &why);
  if (rc)
    return fail(rc, &why, "init");
  printf("created the CA of community \"%s\" in %s\n"
         "  %s/ca.key is the CA's private key: keep it (and backups) safe\n"
         "  %s/ca.pem goes to every meter, the broker and the aggregator\n",
         o.community, e->dir, e->dir, e->dir);
  return 0;
}

/* ---- sign --------------------------------------------------------------- */

static int cmd_sign(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"replace", 0, 0, 'R'},
                                     {"days", 1, 0, 'd'},
                                     {"out", 1, 0, 'o'},
                                     {0, 0, 0, 0}};
  pki_ca_sign_opts so = {0};
  const char *out = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'R':
      so.replace = true;
      break;
    case 'd':
      if (!parse_days(optarg, &so.lifetime))
        return usage("--days needs a number of days");
      break;
    case 'o':
      out = optarg;
      break;
    default:
      return usage(NULL);
    }
  }
  if (optind >= argc)
    return usage("sign needs at least one CSR file");
  if (out && argc - optind > 1)
    return usage("--out works with one CSR only");
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  int status = 0;
  unsigned issued = 0;
  for (int i = optind; i < argc; i++) {
    size_t len;
    char *text = slurp(argv[i], &len);
    if (!text) {
      fprintf(stderr, "%s: cannot read %s: %s\n", prog, argv[i],
              strerror(errno));
      status = 1;
      continue;
    }
    pki_cert *cert;
    pki_why why = {{0}};
    rc = pki_ca_sign_csr(ca, text, len, &so, &cert, &why);
    free(text);
    if (rc) {
      fprintf(stderr, "%s: %s: %s\n", prog, argv[i],
              why.text[0] ? why.text : gl_strerror(rc));
      status = 1;
      continue;
    }
    const pki_cert_info *in = pki_cert_get_info(cert);
    char t[GL_TIME_STR_MAX], path[4096];
    if (out) {
      rc = pki_cert_write_file(cert, out, &why);
      snprintf(path, sizeof path, "%s", out);
    } else {
      snprintf(path, sizeof path, "%s/certs/%s.pem", pki_ca_dir(ca),
               in->subject_cn);
    }
    if (rc) {
      fail(rc, &why, "write");
      status = 1;
    } else {
      issued++;
      printf("issued %s (serial %s, %s key, valid until %s): %s\n",
             in->subject_cn, in->serial_hex, pki_key_type_name(in->pub.type),
             fmt_time(in->not_after, t), path);
    }
    pki_cert_free(cert);
  }
  /* A replacement revoked the old certificate, and an identity that was
   * denied outright may be back: refresh the broker's CRL and ACL. */
  if (issued && refresh_broker(ca, so.replace))
    status = 1;
  pki_ca_free(ca);
  return status;
}

/* ---- service ------------------------------------------------------------ */

/* The new key and certificate of a service, written under temporary names
 * before the CA commits the issue (and, with --replace, revokes the old
 * certificate), moved into place after. */
typedef struct service_files {
  const pki_key *key;
  char kp[4096], cp[4096];         /* final names */
  char kp_new[4200], cp_new[4200]; /* staged names */
  bool staged;
} service_files;

/* True when `path` is absent or a regular file, which rename() can
 * replace; anything else must be found before the issue commits. */
static bool replaceable(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return errno == ENOENT;
  return S_ISREG(st.st_mode);
}

static int stage_service(void *ctx, const pki_cert *cert, pki_why *why) {
  service_files *f = ctx;
  const char *bad = !replaceable(f->kp)   ? f->kp
                    : !replaceable(f->cp) ? f->cp
                                          : NULL;
  if (bad) {
    if (why)
      snprintf(why->text, sizeof why->text,
               "%.150s is not a regular file that can be replaced; nothing was "
               "issued",
               bad);
    return GL_EIO;
  }
  int rc = pki_key_write_file(f->key, f->kp_new, true, why);
  if (rc == 0)
    rc = pki_cert_write_file(cert, f->cp_new, why);
  if (rc)
    unlink(f->kp_new);
  f->staged = rc == 0;
  return rc;
}

static void sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

static int cmd_service(env *e, int argc, char **argv) {
  static const struct option lo[] = {
      {"out", 1, 0, 'o'},  {"dns", 1, 0, 'n'},      {"ip", 1, 0, 'i'},
      {"days", 1, 0, 'd'}, {"key-type", 1, 0, 'k'}, {"replace", 0, 0, 'R'},
      {0, 0, 0, 0}};
  const char *dns[MAX_NAMES], *ips[MAX_NAMES], *out = NULL;
  pki_ca_service_opts so = {.dns = dns, .ips = ips};
  pki_key_type kt = PKI_KEY_ED25519;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'o':
      out = optarg;
      break;
    case 'n':
      if (so.n_dns == MAX_NAMES)
        return usage("too many --dns");
      dns[so.n_dns++] = optarg;
      break;
    case 'i':
      if (so.n_ips == MAX_NAMES)
        return usage("too many --ip");
      ips[so.n_ips++] = optarg;
      break;
    case 'd':
      if (!parse_days(optarg, &so.lifetime))
        return usage("--days needs a number of days");
      break;
    case 'k':
      if (pki_key_type_parse(optarg, &kt))
        return usage("--key-type is ed25519 or p256");
      break;
    case 'R':
      so.replace = true;
      break;
    default:
      return usage(NULL);
    }
  }
  if (optind + 1 != argc || !out)
    return usage("service needs NAME and --out DIR");
  so.name = argv[optind];
  struct stat st;
  if (mkdir(out, 0755) != 0 &&
      (errno != EEXIST || stat(out, &st) != 0 || !S_ISDIR(st.st_mode))) {
    fprintf(stderr, "%s: cannot create the directory %s: %s\n", prog, out,
            strerror(errno == EEXIST ? ENOTDIR : errno));
    return 1;
  }
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  pki_key key;
  pki_cert *cert = NULL;
  pki_why why = {{0}};
  service_files f = {.key = &key};
  char ap[4096];
  snprintf(f.kp, sizeof f.kp, "%s/%s.key", out, so.name);
  snprintf(f.cp, sizeof f.cp, "%s/%s.pem", out, so.name);
  snprintf(f.kp_new, sizeof f.kp_new, "%s.new", f.kp);
  snprintf(f.cp_new, sizeof f.cp_new, "%s.new", f.cp);
  snprintf(ap, sizeof ap, "%s/ca.pem", out);
  so.stage = stage_service;
  so.stage_ctx = &f;
  rc = pki_key_generate(kt, &e->rand, &key);
  /* The CA certificate first: it changes nothing if the issue fails. */
  if (rc == 0)
    rc = pki_cert_write_file(pki_ca_cert(ca), ap, &why);
  if (rc == 0)
    rc = pki_ca_issue_service(ca, &so, &key.pub, &cert, &why);
  pki_key_wipe(&key);
  if (rc) {
    if (f.staged) {
      unlink(f.kp_new);
      unlink(f.cp_new);
    }
    pki_ca_free(ca);
    return fail(rc, &why, "service");
  }
  /* Issued (and any old certificate revoked): put the new files in place,
   * the key first, since a certificate without its key is useless. */
  if (rename(f.kp_new, f.kp) != 0 || rename(f.cp_new, f.cp) != 0) {
    fprintf(stderr,
            "%s: %s is issued, but its files could not be moved into place "
            "(%s): move %s to %s and %s to %s by hand\n",
            prog, so.name, strerror(errno), f.kp_new, f.kp, f.cp_new, f.cp);
    pki_cert_free(cert);
    pki_ca_free(ca);
    return 1;
  }
  sync_dir(out);
  char t[GL_TIME_STR_MAX];
  const pki_cert_info *in = pki_cert_get_info(cert);
  printf("issued %s (serial %s, valid until %s, names: %s)\n  key  %s\n"
         "  cert %s\n  ca   %s\n",
         so.name, in->serial_hex, fmt_time(in->not_after, t),
         pki_cert_names(cert)[0] ? pki_cert_names(cert) : "none", f.kp, f.cp,
         ap);
  pki_cert_free(cert);
  rc = refresh_broker(ca, so.replace);
  pki_ca_free(ca);
  return rc;
}

/* ---- list --------------------------------------------------------------- */

/* Warn this long before the CRL's nextUpdate. */
#define CRL_WARN_NS (30 * DAY_NS)

/* The CA's current crl.pem, parsed (signature not checked: it is the CA's
 * own file), or NULL. */
static pki_crl *load_crl(const pki_ca *ca) {
  char path[4096];
  snprintf(path, sizeof path, "%s/crl.pem", pki_ca_dir(ca));
  size_t len;
  char *text = slurp(path, &len);
  pki_crl *crl = NULL;
  if (text && pki_crl_parse(text, len, &crl, NULL) != 0)
    crl = NULL;
  free(text);
  return crl;
}

typedef struct list_ctx {
  int64_t now;
  unsigned n;
} list_ctx;

static int list_cb(void *ctx, const pki_ca_record *r) {
  list_ctx *l = ctx;
  char t[GL_TIME_STR_MAX];
  const char *status = r->revoked               ? "revoked"
                       : r->not_after <= l->now ? "expired"
                                                : "valid";
  printf("%-32s  %-24s  %-7s  %-7s  %-20s  %s", r->serial_hex, r->subject,
         r->kind, pki_key_type_name(r->key_type), fmt_time(r->not_after, t),
         status);
  if (r->revoked)
    printf(" %s (%s)", fmt_time(r->revoked_at, t), pki_reason_name(r->reason));
  printf("\n");
  l->n++;
  return 0;
}

static int cmd_list(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"all", 0, 0, 'a'}, {0, 0, 0, 0}};
  unsigned flags = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'a')
      return usage(NULL);
    flags |= PKI_CA_LIST_ALL;
  }
  if (optind != argc)
    return usage("list takes no arguments");
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  list_ctx l = {.now = gl_clock_now(&e->clock)};
  printf("%-32s  %-24s  %-7s  %-7s  %-20s  %s\n", "SERIAL", "SUBJECT", "KIND",
         "KEY", "NOT AFTER", "STATUS");
  rc = pki_ca_list(ca, flags, list_cb, &l);
  if (rc == 0) {
    /* Remind the operator before the CRL lapses: an expired CRL locks
     * every client out of the broker. */
    pki_crl *crl = load_crl(ca);
    if (crl) {
      char t[GL_TIME_STR_MAX];
      int64_t left = pki_crl_next_update(crl) - l.now;
      printf("\n%u certificate(s); revocation list %llu lists %zu, next "
             "update due %s%s\n",
             l.n, (unsigned long long)pki_crl_number(crl), pki_crl_count(crl),
             fmt_time(pki_crl_next_update(crl), t),
             left < CRL_WARN_NS ? "  <- run `gridlet-ca crl` soon" : "");
    }
    pki_crl_free(crl);
  }
  pki_ca_free(ca);
  return rc ? fail(rc, NULL, "list") : 0;
}

/* ---- revoke and crl ----------------------------------------------------- */

static int cmd_revoke(env *e, int argc, char **argv) {
  static const struct option lo[] = {
      {"serial", 1, 0, 's'}, {"reason", 1, 0, 'r'}, {0, 0, 0, 0}};
  const char *serial = NULL;
  int reason = PKI_REASON_UNSPECIFIED;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 's':
      serial = optarg;
      break;
    case 'r':
      if (pki_reason_parse(optarg, &reason) || reason == 2)
        return usage("unknown --reason");
      break;
    default:
      return usage(NULL);
    }
  }
  const char *subject = NULL;
  if (serial ? optind != argc : optind + 1 != argc)
    return usage("revoke needs one ID, or --serial HEX");
  if (!serial)
    subject = argv[optind];
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  unsigned n = 0;
  pki_why why = {{0}};
  rc = pki_ca_revoke(ca, subject, serial, reason, &n, &why);
  if (rc) {
    pki_ca_free(ca);
    return fail(rc, &why, "revoke");
  }
  printf("revoked %u certificate(s) of %s (%s); new revocation list in "
         "%s/crl.pem\n",
         n, subject ? subject : serial, pki_reason_name(reason),
         pki_ca_dir(ca));
  rc = refresh_broker(ca, true);
  pki_ca_free(ca);
  return rc;
}

static int cmd_crl(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"days", 1, 0, 'd'}, {0, 0, 0, 0}};
  int64_t lifetime = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'd' || !parse_days(optarg, &lifetime))
      return usage("crl takes --days N");
  }
  if (optind != argc)
    return usage("crl takes no arguments");
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  pki_why why = {{0}};
  rc = pki_ca_write_crl(ca, lifetime, &why);
  if (rc) {
    pki_ca_free(ca);
    return fail(rc, &why, "crl");
  }
  printf("issued a new revocation list: %s/crl.pem\n", pki_ca_dir(ca));
  /* When it lapses every client is locked out: say when the next one is
   * due, and how to make sure it is issued in time. */
  pki_crl *crl = load_crl(ca);
  if (crl) {
    char t[GL_TIME_STR_MAX], w[GL_TIME_STR_MAX];
    int64_t next = pki_crl_next_update(crl);
    printf("  list %llu, %zu revoked; it expires %s: issue the next one "
           "before then\n  (`gridlet-ca list` warns from %s;\n  the "
           "systemd timer gridlet-ca-crl.timer issues one monthly, see\n  "
           "docs/operations/pki.md)\n",
           (unsigned long long)pki_crl_number(crl), pki_crl_count(crl),
           fmt_time(next, t), fmt_time(next - CRL_WARN_NS, w));
    pki_crl_free(crl);
  }
  rc = refresh_broker(ca, true);
  pki_ca_free(ca);
  return rc;
}

/* ---- broker-config ------------------------------------------------------ */

static int cmd_broker(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"out", 1, 0, 'o'},
                                     {"port", 1, 0, 'p'},
                                     {"bind", 1, 0, 'b'},
                                     {"user", 1, 0, 'u'},
                                     {"log-dest", 1, 0, 'l'},
                                     {"persistence", 0, 0, 'P'},
                                     {"dns", 1, 0, 'n'},
                                     {"ip", 1, 0, 'i'},
                                     {"renew-cert", 0, 0, 'R'},
                                     {"key-type", 1, 0, 'k'},
                                     {0, 0, 0, 0}};
  const char *dns[MAX_NAMES], *ips[MAX_NAMES];
  pki_broker_opts o = {.dns = dns, .ips = ips};
  int c;
  long v;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'o':
      o.out_dir = optarg;
      break;
    case 'p':
      if (!parse_uint(optarg, 65535, &v) || v == 0)
        return usage("--port needs 1..65535");
      o.port = (uint16_t)v;
      break;
    case 'b':
      o.bind = optarg;
      break;
    case 'u':
      o.run_as_user = optarg;
      break;
    case 'l':
      o.log_dest = optarg;
      break;
    case 'P':
      o.persistence = true;
      break;
    case 'n':
      if (o.n_dns == MAX_NAMES)
        return usage("too many --dns");
      dns[o.n_dns++] = optarg;
      break;
    case 'i':
      if (o.n_ips == MAX_NAMES)
        return usage("too many --ip");
      ips[o.n_ips++] = optarg;
      break;
    case 'R':
      o.renew_cert = true;
      break;
    case 'k':
      if (pki_key_type_parse(optarg, &o.key_type))
        return usage("--key-type is ed25519 or p256");
      break;
    default:
      return usage(NULL);
    }
  }
  if (!o.out_dir || optind != argc)
    return usage("broker-config needs --out DIR");
  pki_ca *ca;
  int rc = open_ca(e, &ca);
  if (rc)
    return rc;
  pki_why why = {{0}};
  rc = pki_broker_config(ca, &o, &why);
  pki_ca_free(ca);
  if (rc)
    return fail(rc, &why, "broker-config");
  printf("wrote mosquitto.conf, acl, ca.pem, crl.pem, broker.pem and "
         "broker.key to %s\n  run: mosquitto -c %s/mosquitto.conf\n",
         o.out_dir, o.out_dir);
  return 0;
}

/* ---- verify and show ---------------------------------------------------- */

static int cmd_verify(env *e, int argc, char **argv) {
  static const struct option lo[] = {{"role", 1, 0, 'r'}, {0, 0, 0, 0}};
  pki_role role = PKI_ROLE_ANY;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'r')
      return usage(NULL);
    if (strcmp(optarg, "meter") == 0)
      role = PKI_ROLE_METER;
    else if (strcmp(optarg, "aggregator") == 0)
      role = PKI_ROLE_AGGREGATOR;
    else if (strcmp(optarg, "broker") == 0)
      role = PKI_ROLE_BROKER;
    else if (strcmp(optarg, "any") == 0)
      role = PKI_ROLE_ANY;
    else
      return usage("--role is meter, aggregator, broker or any");
  }
  if (optind + 1 != argc)
    return usage("verify needs one certificate file");
  char ca_path[4096], crl_path[4096];
  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", e->dir);
  snprintf(crl_path, sizeof crl_path, "%s/crl.pem", e->dir);
  pki_trust *trust;
  pki_why why = {{0}};
  int rc = pki_trust_load(ca_path, crl_path, &e->clock, &trust, &why);
  if (rc)
    return fail(rc, &why, "verify");
  /* A revocation list: is it the CA's, and current? */
  size_t len;
  char *text = slurp(argv[optind], &len);
  if (text && strstr(text, "X509 CRL")) {
    pki_crl *crl = NULL;
    rc = pki_crl_parse(text, len, &crl, &why);
    if (rc == 0)
      rc = pki_crl_verify(crl, pki_trust_ca(trust), gl_clock_now(&e->clock),
                          &why);
    if (rc == 0)
      printf("%s: OK: revocation list %llu of this CA, %zu revoked\n",
             argv[optind], (unsigned long long)pki_crl_number(crl),
             pki_crl_count(crl));
    pki_crl_free(crl);
    free(text);
    pki_trust_free(trust);
    return rc ? fail(rc, &why, "verify") : 0;
  }
  free(text);
  pki_cert *cert;
  rc = pki_cert_load_file(argv[optind], &cert, &why);
  if (rc == 0) {
    pki_peer peer;
    rc = pki_trust_verify(trust, cert, role, &e->clock, &peer, &why);
    if (rc == 0) {
      char t[GL_TIME_STR_MAX];
      printf("%s: OK: \"%s\", serial %s, %s key, valid until %s\n",
             argv[optind], peer.name, peer.serial_hex,
             pki_key_type_name(peer.pub.type), fmt_time(peer.not_after, t));
    }
    pki_cert_free(cert);
  }
  pki_trust_free(trust);
  return rc ? fail(rc, &why, "verify") : 0;
}

static int cmd_show(env *e, int argc, char **argv) {
  (void)e;
  if (argc != 2)
    return usage("show needs one file");
  size_t len;
  char *text = slurp(argv[1], &len);
  if (!text) {
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, argv[1], strerror(errno));
    return 1;
  }
  pki_why why = {{0}};
  char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX];
  int rc;
  if (strstr(text, "CERTIFICATE REQUEST")) {
    pki_csr_info info;
    rc = pki_csr_parse(text, len, &info, &why);
    if (rc == 0)
      printf("certificate request (signature verified)\n  subject   CN=%s\n"
             "  key       %s\n",
             info.subject_cn, pki_key_type_name(info.pub.type));
  } else if (strstr(text, "X509 CRL")) {
    pki_crl *crl;
    rc = pki_crl_parse(text, len, &crl, &why);
    if (rc == 0) {
      printf("revocation list %llu (signature not checked: use verify)\n"
             "  this update %s\n  next update %s\n  revoked     %zu\n",
             (unsigned long long)pki_crl_number(crl),
             fmt_time(pki_crl_this_update(crl), t1),
             fmt_time(pki_crl_next_update(crl), t2), pki_crl_count(crl));
      for (size_t i = 0; i < pki_crl_count(crl); i++) {
        const pki_crl_entry *en = pki_crl_entry_at(crl, i);
        char hex[PKI_SERIAL_HEX_MAX];
        printf("    %s  %s  %s\n",
               gl_hex_encode(en->serial, en->serial_len, hex),
               fmt_time(en->revoked_at, t1),
               en->reason >= 0 ? pki_reason_name(en->reason) : "-");
      }
      pki_crl_free(crl);
    }
  } else {
    pki_cert *cert;
    rc = pki_cert_parse_pem(text, len, &cert, &why);
    if (rc == 0) {
      const pki_cert_info *in = pki_cert_get_info(cert);
      printf("certificate (signature not checked: use verify)\n"
             "  subject   CN=%s\n  issuer    CN=%s\n  serial    %s\n"
             "  key       %s\n  valid     %s .. %s\n  CA        %s\n"
             "  usage     %s%s\n  names     %s\n",
             in->subject_cn, in->issuer_cn, in->serial_hex,
             pki_key_type_name(in->pub.type), fmt_time(in->not_before, t1),
             fmt_time(in->not_after, t2), in->is_ca ? "yes" : "no",
             in->eku & PKI_EKU_SERVER ? "serverAuth " : "",
             in->eku & PKI_EKU_CLIENT ? "clientAuth" : "",
             pki_cert_names(cert)[0] ? pki_cert_names(cert) : "-");
      pki_cert_free(cert);
    }
  }
  free(text);
  return rc ? fail(rc, &why, "show") : 0;
}

/* ---- dev-community ------------------------------------------------------ */

static int cmd_dev(env *e, int argc, char **argv) {
  static const struct option lo[] = {
      {"meters", 1, 0, 'm'}, {"community", 1, 0, 'c'}, {"port", 1, 0, 'p'},
      {"user", 1, 0, 'u'},   {"key-type", 1, 0, 'k'},  {0, 0, 0, 0}};
  pki_dev_opts o = {.meters = 3};
  long v;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'm':
      if (!parse_uint(optarg, PKI_DEV_MAX_METERS, &v))
        return usage("--meters needs a count");
      o.meters = (unsigned)v;
      break;
    case 'c':
      o.community = optarg;
      break;
    case 'p':
      if (!parse_uint(optarg, 65535, &v) || v == 0)
        return usage("--port needs 1..65535");
      o.port = (uint16_t)v;
      break;
    case 'u':
      o.run_as_user = optarg;
      break;
    case 'k':
      if (pki_key_type_parse(optarg, &o.key_type))
        return usage("--key-type is ed25519 or p256");
      break;
    default:
      return usage(NULL);
    }
  }
  if (optind + 1 != argc)
    return usage("dev-community needs an output directory");
  const char *out = argv[optind];
  pki_why why = {{0}};
  int rc = pki_dev_community(out, &o, &e->rand, &e->clock, &why);
  if (rc)
    return fail(rc, &why, "dev-community");
  printf("development community \"%s\" with %u meters in %s\n"
         "  broker:     mosquitto -c %s/broker/mosquitto.conf\n"
         "  aggregator: %s/aggregator/\n  meters:     %s/meters/<id>/\n",
         o.community ? o.community : "demo", o.meters, out, out, out, out);
  return 0;
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv) {
  static const struct option lo[] = {{"dir", 1, 0, 'D'},
                                     {"verbose", 0, 0, 'v'},
                                     {"help", 0, 0, 'h'},
                                     {0, 0, 0, 0}};
  env e = {.dir = getenv("GRIDLET_CA_DIR"),
           .clock = gl_clock_real(),
           .rand = gl_rand_system()};
  if (!e.dir || !*e.dir)
    e.dir = DEFAULT_DIR;
  gl_log_set_ident(prog);
  /* The library logs each refusal at warn level; this tool prints the
   * reason itself, so only errors reach stderr unless -v. */
  gl_log_set_level(GL_LOG_ERROR);
  int c;
  while ((c = getopt_long(argc, argv, "+vh", lo, NULL)) != -1) {
    switch (c) {
    case 'D':
      e.dir = optarg;
      break;
    case 'v':
      gl_log_set_level(GL_LOG_DEBUG);
      break;
    case 'h':
      fputs(usage_text, stdout);
      return 0;
    default:
      return usage(NULL);
    }
  }
  if (optind >= argc)
    return usage("no command given");
  const char *cmd = argv[optind];
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  optind = 0; /* restart getopt (GNU) for the command's options */
  static const struct {
    const char *name;
    int (*fn)(env *, int, char **);
  } cmds[] = {{"init", cmd_init},
              {"sign", cmd_sign},
              {"service", cmd_service},
              {"list", cmd_list},
              {"revoke", cmd_revoke},
              {"crl", cmd_crl},
              {"broker-config", cmd_broker},
              {"verify", cmd_verify},
              {"show", cmd_show},
              {"dev-community", cmd_dev}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(cmd, cmds[i].name) == 0)
      return cmds[i].fn(&e, sub_argc, sub_argv);
  return usage("unknown command");
}
