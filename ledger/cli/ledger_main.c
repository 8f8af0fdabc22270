/* SPDX-License-Identifier: MIT */
/*
 * gridlet-ledger - the ledger tool for operators, auditors and mirrors.
 *
 * A thin shell over the ledger library: each command parses its options,
 * calls the library and prints the result. See docs/ledger.md for the user
 * guide; `gridlet-ledger help` lists the commands. Exit codes: 0 success
 * or valid, 1 invalid/refused/problem found, 2 usage error, 3 operational
 * error.
 */
#include "cli_common.h"

#include "gridlet/clock.h"
#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger.h"
#include "gridlet/ledger_audit.h"
#include "gridlet/ledger_balances.h"
#include "gridlet/ledger_bundle.h"
#include "gridlet/ledger_checkpoint.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof *(a))
#define PARSE(spec)                                                            \
  cli_args a;                                                                  \
  do {                                                                         \
    int prc_ = cli_parse(argc, argv, spec, COUNT(spec), &a);                   \
    if (prc_ != 0)                                                             \
      return prc_;                                                             \
  } while (0)

static gl_clock wall;

/* ---- Helpers ------------------------------------------------------------- */

static int open_log(const char *path, bool write, lg_ledger **lg) {
  lg_ledger_options o = {.read_only = !write, .clock = &wall};
  int rc = lg_ledger_open(path, &o, lg);
  if (rc != 0)
    return cli_fail(rc == GL_ENOENT ? CLI_ERROR : cli_code(rc),
                    "cannot open ledger %s: %s", path, gl_strerror(rc));
  return 0;
}

static int load_key(const char *path, lg_signer *key) {
  int rc = lg_signer_read_file(path, key);
  if (rc != 0)
    return cli_fail(rc == GL_EPERM ? CLI_INVALID : CLI_ERROR,
                    "cannot use key file %s: %s", path, gl_strerror(rc));
  return 0;
}

static void print_vkey(const lg_vkey *k) {
  char text[LG_KEY_TEXT_MAX];
  if (lg_vkey_format(k, text, sizeof text) == 0)
    printf("%s\n", text);
}

static void print_hash(const char *label, const uint8_t h[LG_HASH_LEN]) {
  char hex[2 * LG_HASH_LEN + 1];
  printf("%s %s\n", label, gl_hex_encode(h, LG_HASH_LEN, hex));
}

/* Witness keys from repeated --witness options. */
static int witness_keys(const cli_args *a, lg_vkey *keys, size_t *n) {
  const char *const *v;
  *n = cli_getv(a, "witness", &v);
  for (size_t i = 0; i < *n; i++) {
    int rc = cli_vkey(v[i], LG_SIG_COSIG_V1, &keys[i]);
    if (rc != 0)
      return rc;
    /* A witness given twice would count twice towards --quorum: a k-of-n
     * policy must mean k distinct witnesses (compared by public key). */
    for (size_t j = 0; j < i; j++)
      if (memcmp(keys[i].pub, keys[j].pub, sizeof keys[i].pub) == 0)
        return cli_usage("--witness %s: the same witness key is given twice",
                         keys[i].name);
  }
  return 0;
}

static bool community_valid(const char *c) {
  size_t n = strlen(c);
  if (n == 0 || n > 32)
    return false;
  for (size_t i = 0; i < n; i++) {
    bool alnum = (c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9');
    if (!alnum && (i == 0 || c[i] != '-'))
      return false;
  }
  return true;
}

/* ---- Log operator ---------------------------------------------------------
 */

static const cli_opt keygen_opts[] = {
    {"name", true, false}, {"out", true, false}, {"witness", false, false}};

static int cmd_keygen(int argc, char **argv) {
  PARSE(keygen_opts);
  const char *name = cli_need(&a, "name"), *out = cli_need(&a, "out");
  if (!name || !out)
    return CLI_USAGE;
  uint8_t type = cli_has(&a, "witness") ? LG_SIG_COSIG_V1 : LG_SIG_ED25519;
  gl_rand r = gl_rand_system();
  lg_signer key;
  int rc = lg_signer_generate(name, type, &r, &key);
  if (rc == GL_EINVAL)
    return cli_usage("--name must be non-empty, without spaces or '+'");
  if (rc == 0)
    rc = lg_signer_write_file(out, &key);
  if (rc != 0) {
    lg_signer_wipe(&key);
    return cli_fail(cli_code(rc) == CLI_USAGE ? CLI_ERROR : cli_code(rc),
                    "cannot create %s: %s", out, gl_strerror(rc));
  }
  print_vkey(&key.vkey);
  lg_signer_wipe(&key);
  return CLI_OK;
}

static const cli_opt vkey_opts[] = {{"key", true, false}};

static int cmd_vkey(int argc, char **argv) {
  PARSE(vkey_opts);
  const char *path = cli_need(&a, "key");
  if (!path)
    return CLI_USAGE;
  lg_signer key;
  int rc = load_key(path, &key);
  if (rc != 0)
    return rc;
  print_vkey(&key.vkey);
  lg_signer_wipe(&key);
  return CLI_OK;
}

static const cli_opt init_opts[] = {{"db", true, false},
                                    {"origin", true, false},
                                    {"community", true, false},
                                    {"key", true, false}};

static int cmd_init(int argc, char **argv) {
  PARSE(init_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  const char *origin = cli_get(&a, "origin");
  const char *community = cli_get(&a, "community");
  char buf[LG_ORIGIN_MAX + 1];
  if (!origin == !community)
    return cli_usage("give exactly one of --origin ORIGIN or --community "
                     "NAME (origin gridlet/NAME)");
  if (community) {
    if (!community_valid(community))
      return cli_usage("community must match ^[a-z0-9][a-z0-9-]{0,31}$");
    snprintf(buf, sizeof buf, "gridlet/%s", community);
    origin = buf;
  }
  if (!lg_key_name_valid(origin, strlen(origin)))
    return cli_usage("origin must be non-empty, without spaces or '+'");
  if (access(db, F_OK) == 0)
    return cli_fail(CLI_USAGE, "%s already exists", db);
  lg_signer key;
  const char *keypath = cli_get(&a, "key");
  if (keypath) {
    if (access(keypath, F_OK) == 0) {
      int rc = load_key(keypath, &key);
      if (rc != 0)
        return rc;
      if (strcmp(key.vkey.name, origin) != 0 ||
          key.vkey.type != LG_SIG_ED25519) {
        lg_signer_wipe(&key);
        return cli_fail(CLI_USAGE, "%s is not an Ed25519 log key named \"%s\"",
                        keypath, origin);
      }
    } else {
      gl_rand r = gl_rand_system();
      int rc = lg_signer_generate(origin, LG_SIG_ED25519, &r, &key);
      if (rc == 0)
        rc = lg_signer_write_file(keypath, &key);
      if (rc != 0)
        return cli_fail(CLI_ERROR, "cannot create key %s: %s", keypath,
                        gl_strerror(rc));
    }
  }
  lg_ledger *lg;
  lg_ledger_options o = {.origin = origin, .create = true, .clock = &wall};
  int rc = lg_ledger_open(db, &o, &lg);
  if (rc != 0) {
    if (keypath)
      lg_signer_wipe(&key);
    return cli_fail(CLI_ERROR, "cannot create ledger %s: %s", db,
                    gl_strerror(rc));
  }
  lg_ledger_free(lg);
  if (keypath) {
    print_vkey(&key.vkey);
    lg_signer_wipe(&key);
  }
  return CLI_OK;
}

static const cli_opt append_opts[] = {{"db", true, false}};

/* Entries as hex, one per line; blank lines and '#' comments skipped. */
static int cmd_append(int argc, char **argv) {
  PARSE(append_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  if (a.npos > 1)
    return cli_usage("append --db FILE [ENTRIES-FILE|-]");
  const char *path = a.npos ? a.pos[0] : "-";
  size_t len;
  char *text = cli_read(path, 1u << 30, &len);
  if (!text)
    return CLI_ERROR;
  size_t cap = 64, n = 0;
  gl_bytes *entries = malloc(cap * sizeof *entries);
  int code = CLI_OK;
  size_t lineno = 0;
  for (char *line = text, *next; line && *line && entries; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    lineno++;
    size_t l = strcspn(line, "\r");
    line[l] = '\0';
    if (l == 0 || line[0] == '#')
      continue;
    if (n == cap) {
      gl_bytes *ne = realloc(entries, 2 * cap * sizeof *ne);
      if (!ne)
        break;
      entries = ne;
      cap *= 2;
    }
    uint8_t *data = malloc(l / 2 + 1);
    size_t dl;
    if (!data || gl_hex_decode(line, l, data, l / 2 + 1, &dl) != 0) {
      free(data);
      code = cli_usage("%s:%zu: not a hex-encoded entry", path, lineno);
      break;
    }
    entries[n].data = data;
    entries[n].len = dl;
    n++;
  }
  if (!entries)
    code = cli_fail(CLI_ERROR, "out of memory");
  lg_ledger *lg = NULL;
  if (code == CLI_OK)
    code = open_log(db, true, &lg);
  if (code == CLI_OK) {
    uint64_t first;
    int rc = lg_ledger_append(lg, entries, n, &first);
    if (rc != 0)
      code = cli_fail(cli_code(rc) == CLI_USAGE ? CLI_INVALID : cli_code(rc),
                      "append refused: %s (nothing was appended)",
                      gl_strerror(rc));
    else
      printf("appended %zu entries at index %" PRIu64 "\n", n, first);
  }
  lg_ledger_free(lg);
  for (size_t i = 0; entries && i < n; i++)
    free((void *)entries[i].data);
  free(entries);
  free(text);
  return code;
}

static const cli_opt checkpoint_opts[] = {{"db", true, false},
                                          {"key", true, false}};

static int cmd_checkpoint(int argc, char **argv) {
  PARSE(checkpoint_opts);
  const char *db = cli_need(&a, "db"), *kp = cli_need(&a, "key");
  if (!db || !kp)
    return CLI_USAGE;
  lg_signer key;
  int code = load_key(kp, &key);
  if (code != 0)
    return code;
  lg_ledger *lg;
  code = open_log(db, true, &lg);
  if (code == 0) {
    char *note;
    int rc = lg_ledger_checkpoint(lg, &key, &note);
    if (rc != 0) {
      code = cli_fail(cli_code(rc) == CLI_USAGE ? CLI_INVALID : cli_code(rc),
                      "checkpoint refused: %s", gl_strerror(rc));
    } else {
      fputs(note, stdout);
      free(note);
    }
    lg_ledger_free(lg);
  }
  lg_signer_wipe(&key);
  return code;
}

static const cli_opt info_opts[] = {{"db", true, false}};

static int cmd_info(int argc, char **argv) {
  PARSE(info_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  lg_ledger *lg;
  int code = open_log(db, false, &lg);
  if (code != 0)
    return code;
  uint64_t size;
  uint8_t root[LG_HASH_LEN];
  int rc = lg_ledger_size(lg, &size);
  if (rc == 0)
    rc = lg_ledger_root(lg, size, root);
  if (rc == 0) {
    printf("origin %s\nsize %" PRIu64 "\n", lg_ledger_origin(lg), size);
    print_hash("root", root);
    lg_checkpoint cp;
    int r2 = lg_ledger_latest_checkpoint(lg, NULL, &cp);
    if (r2 == 0)
      printf("checkpoint %" PRIu64 "\n", cp.size);
    else
      printf("checkpoint none\n");
  }
  lg_ledger_free(lg);
  return rc ? cli_fail(cli_code(rc), "%s", gl_strerror(rc)) : CLI_OK;
}

/* ---- Proofs ---------------------------------------------------------------
 */

static const cli_opt prove_opts[] = {{"db", true, false},
                                     {"index", true, false},
                                     {"size", true, false},
                                     {"size1", true, false},
                                     {"size2", true, false}};

static int cmd_prove(int argc, char **argv) {
  PARSE(prove_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  bool incl = cli_has(&a, "index"), cons = cli_has(&a, "size1");
  if (incl == cons)
    return cli_usage("prove --db FILE (--index N [--size N] | --size1 N "
                     "[--size2 N])");
  uint64_t index = 0, size = 0, size1 = 0, size2 = 0;
  int code = cli_opt_u64(&a, "index", false, &index);
  if (!code)
    code = cli_opt_u64(&a, "size", false, &size);
  if (!code)
    code = cli_opt_u64(&a, "size1", false, &size1);
  if (!code)
    code = cli_opt_u64(&a, "size2", false, &size2);
  if (code)
    return code;
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  uint64_t cur;
  lg_hash proof[LG_PROOF_MAX];
  size_t n = 0;
  uint8_t h1[LG_HASH_LEN], h2[LG_HASH_LEN];
  int rc = lg_ledger_size(lg, &cur);
  if (incl) {
    if (!cli_has(&a, "size"))
      size = cur;
    if (rc == 0)
      rc = lg_ledger_inclusion_proof(lg, index, size, proof, LG_PROOF_MAX, &n);
    if (rc == 0)
      rc = lg_ledger_leaf_hash(lg, index, h1);
    if (rc == 0)
      rc = lg_ledger_root(lg, size, h2);
    if (rc == 0) {
      printf("index %" PRIu64 "\nsize %" PRIu64 "\n", index, size);
      print_hash("leaf_hash", h1);
      print_hash("root", h2);
    }
  } else {
    if (!cli_has(&a, "size2"))
      size2 = cur;
    if (rc == 0)
      rc = lg_ledger_consistency_proof(lg, size1, size2, proof, LG_PROOF_MAX,
                                       &n);
    if (rc == 0)
      rc = lg_ledger_root(lg, size1, h1);
    if (rc == 0)
      rc = lg_ledger_root(lg, size2, h2);
    if (rc == 0) {
      printf("size1 %" PRIu64 "\nsize2 %" PRIu64 "\n", size1, size2);
      print_hash("root1", h1);
      print_hash("root2", h2);
    }
  }
  for (size_t i = 0; rc == 0 && i < n; i++)
    print_hash("proof", proof[i].b);
  lg_ledger_free(lg);
  if (rc == GL_ERANGE)
    return cli_fail(CLI_USAGE,
                    "no such index or size in a log of %" PRIu64 " entries",
                    cur);
  return rc ? cli_fail(cli_code(rc), "%s", gl_strerror(rc)) : CLI_OK;
}

/* Positional proof hashes in hex. */
static int proof_args(const cli_args *a, lg_hash *proof, size_t *n) {
  if (a->npos > LG_PROOF_MAX)
    return cli_usage("at most %d proof hashes", LG_PROOF_MAX);
  for (size_t i = 0; i < a->npos; i++) {
    char what[32];
    snprintf(what, sizeof what, "proof hash %zu", i + 1);
    int rc = cli_hash(what, a->pos[i], proof[i].b);
    if (rc != 0)
      return rc;
  }
  *n = a->npos;
  return 0;
}

static const cli_opt vincl_opts[] = {{"leaf-hash", true, false},
                                     {"index", true, false},
                                     {"size", true, false},
                                     {"root", true, false}};

static int cmd_verify_inclusion(int argc, char **argv) {
  PARSE(vincl_opts);
  uint8_t leaf[LG_HASH_LEN], root[LG_HASH_LEN];
  uint64_t index = 0, size = 0;
  lg_hash proof[LG_PROOF_MAX];
  size_t n = 0;
  const char *lh = cli_need(&a, "leaf-hash");
  if (!lh)
    return CLI_USAGE;
  const char *rh = cli_need(&a, "root");
  if (!rh)
    return CLI_USAGE;
  int code = cli_hash("--leaf-hash", lh, leaf);
  if (!code)
    code = cli_hash("--root", rh, root);
  if (!code)
    code = cli_opt_u64(&a, "index", true, &index);
  if (!code)
    code = cli_opt_u64(&a, "size", true, &size);
  if (!code)
    code = proof_args(&a, proof, &n);
  if (code)
    return code;
  const char *why = NULL;
  int rc = lg_verify_inclusion(leaf, index, size, proof, n, root, &why);
  if (rc != 0) {
    printf("invalid: %s\n", why ? why : gl_strerror(rc));
    return CLI_INVALID;
  }
  printf("valid: leaf %" PRIu64 " is in the tree of %" PRIu64 " leaves\n",
         index, size);
  return CLI_OK;
}

static const cli_opt vcons_opts[] = {{"size1", true, false},
                                     {"size2", true, false},
                                     {"root1", true, false},
                                     {"root2", true, false}};

static int cmd_verify_consistency(int argc, char **argv) {
  PARSE(vcons_opts);
  uint8_t r1[LG_HASH_LEN], r2[LG_HASH_LEN];
  uint64_t s1 = 0, s2 = 0;
  lg_hash proof[LG_PROOF_MAX];
  size_t n = 0;
  const char *h1 = cli_need(&a, "root1");
  if (!h1)
    return CLI_USAGE;
  const char *h2 = cli_need(&a, "root2");
  if (!h2)
    return CLI_USAGE;
  int code = cli_hash("--root1", h1, r1);
  if (!code)
    code = cli_hash("--root2", h2, r2);
  if (!code)
    code = cli_opt_u64(&a, "size1", true, &s1);
  if (!code)
    code = cli_opt_u64(&a, "size2", true, &s2);
  if (!code)
    code = proof_args(&a, proof, &n);
  if (code)
    return code;
  const char *why = NULL;
  int rc = lg_verify_consistency(s1, s2, r1, r2, proof, n, &why);
  if (rc != 0) {
    printf("invalid: %s\n", why ? why : gl_strerror(rc));
    return CLI_INVALID;
  }
  printf("valid: the tree of %" PRIu64 " leaves extends the tree of %" PRIu64
         "\n",
         s2, s1);
  return CLI_OK;
}

static const cli_opt bundle_opts[] = {{"db", true, false},
                                      {"index", true, false},
                                      {"size", true, false},
                                      {"no-entry", false, false}};

static int cmd_bundle(int argc, char **argv) {
  PARSE(bundle_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  uint64_t index = 0, size = 0;
  int code = cli_opt_u64(&a, "index", true, &index);
  if (!code)
    code = cli_opt_u64(&a, "size", false, &size);
  if (code)
    return code;
  /* With --size the checkpoint is named: an entry beyond it, or a size
   * that was never signed, each get their own message. */
  if (size && index >= size)
    return cli_fail(CLI_INVALID,
                    "entry %" PRIu64 " is not in the tree of size %" PRIu64,
                    index, size);
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  char *text;
  int rc = lg_ledger_bundle(lg, index, size, !cli_has(&a, "no-entry"), &text);
  lg_ledger_free(lg);
  if (rc == GL_ENOENT && size)
    return cli_fail(CLI_INVALID,
                    "no checkpoint of size %" PRIu64
                    " (`info` shows the latest; omit --size for it)",
                    size);
  if (rc == GL_ENOENT)
    return cli_fail(CLI_INVALID,
                    "no signed checkpoint covers entry %" PRIu64 " yet", index);
  if (rc != 0)
    return cli_fail(cli_code(rc), "%s", gl_strerror(rc));
  fputs(text, stdout);
  free(text);
  return CLI_OK;
}

static const cli_opt vbundle_opts[] = {{"vkey", true, false},
                                       {"witness", true, true},
                                       {"quorum", true, false},
                                       {"leaf-hash", true, false}};

static int policy_from(const cli_args *a, lg_vkey *logkey, lg_vkey *wkeys,
                       lg_policy *pol) {
  const char *vk = cli_need(a, "vkey");
  if (!vk)
    return CLI_USAGE;
  int code = cli_vkey(vk, LG_SIG_ED25519, logkey);
  size_t nw = 0;
  if (!code)
    code = witness_keys(a, wkeys, &nw);
  uint64_t quorum = nw;
  if (!code)
    code = cli_opt_u64(a, "quorum", false, &quorum);
  if (code)
    return code;
  if (quorum > nw)
    return cli_usage("--quorum %" PRIu64 " is more than the %zu --witness "
                     "keys given",
                     quorum, nw);
  pol->log_key = logkey;
  pol->witnesses = wkeys;
  pol->n_witnesses = nw;
  pol->quorum = (size_t)quorum;
  return 0;
}

static int cmd_verify_bundle(int argc, char **argv) {
  PARSE(vbundle_opts);
  lg_vkey logkey, wkeys[CLI_MAX_MULTI];
  lg_policy pol;
  int code = policy_from(&a, &logkey, wkeys, &pol);
  if (code)
    return code;
  uint8_t leaf[LG_HASH_LEN];
  const char *lh = cli_get(&a, "leaf-hash");
  if (lh && (code = cli_hash("--leaf-hash", lh, leaf)) != 0)
    return code;
  if (a.npos > 1)
    return cli_usage("verify-bundle ... [BUNDLE-FILE|-]");
  size_t len;
  char *text = cli_read(a.npos ? a.pos[0] : "-", LG_BUNDLE_MAX, &len);
  if (!text)
    return CLI_ERROR;
  lg_bundle *b = malloc(sizeof *b);
  if (!b) {
    free(text);
    return cli_fail(CLI_ERROR, "out of memory");
  }
  const char *why = "malformed bundle";
  lg_checkpoint cp;
  int rc = lg_bundle_parse(text, len, b);
  if (rc == 0)
    rc = lg_bundle_verify(b, &pol, lh ? leaf : NULL, &cp, &why);
  if (rc != 0) {
    printf("invalid: %s\n", why);
    code = rc == GL_EINVAL ? CLI_USAGE : CLI_INVALID;
  } else {
    printf("valid: entry %" PRIu64 " is in %s at size %" PRIu64, b->index,
           cp.origin, cp.size);
    if (b->extra) {
      printf(": ");
      cli_describe(stdout, b->extra, b->extra_len);
    }
    printf("\n");
  }
  lg_bundle_clear(b);
  free(b);
  free(text);
  return code;
}

static const cli_opt vcp_opts[] = {
    {"vkey", true, false}, {"witness", true, true}, {"quorum", true, false}};

static int cmd_verify_checkpoint(int argc, char **argv) {
  PARSE(vcp_opts);
  lg_vkey logkey, wkeys[CLI_MAX_MULTI];
  lg_policy pol;
  int code = policy_from(&a, &logkey, wkeys, &pol);
  if (code)
    return code;
  if (a.npos > 1)
    return cli_usage("verify-checkpoint ... [CHECKPOINT-FILE|-]");
  size_t len;
  char *text = cli_read(a.npos ? a.pos[0] : "-", LG_NOTE_MAX, &len);
  if (!text)
    return CLI_ERROR;
  lg_checkpoint cp;
  lg_policy_result res;
  const char *why = NULL;
  int rc = lg_policy_verify(&pol, text, len, &cp, &res, &why);
  free(text);
  if (rc != 0) {
    printf("invalid: %s\n", why ? why : gl_strerror(rc));
    return CLI_INVALID;
  }
  char hex[65];
  printf("valid: %s size %" PRIu64 " root %s (%zu witness cosignatures)\n",
         cp.origin, cp.size, gl_hex_encode(cp.root, 32, hex), res.witnesses_ok);
  return CLI_OK;
}

/* ---- Witnesses ------------------------------------------------------------
 */

static const cli_opt wreq_opts[] = {{"db", true, false}, {"old", true, false}};

static int cmd_witness_request(int argc, char **argv) {
  PARSE(wreq_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  uint64_t old = 0;
  int code = cli_opt_u64(&a, "old", false, &old);
  if (code)
    return code;
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  char *body;
  int rc = lg_ledger_witness_request(lg, old, &body);
  lg_ledger_free(lg);
  if (rc == GL_ENOENT)
    return cli_fail(CLI_INVALID, "the log has no checkpoint yet");
  if (rc != 0)
    return cli_fail(cli_code(rc), "%s", gl_strerror(rc));
  fputs(body, stdout);
  free(body);
  return CLI_OK;
}

static const cli_opt addcs_opts[] = {
    {"db", true, false}, {"size", true, false}, {"witness", true, true}};

static int cmd_add_cosignatures(int argc, char **argv) {
  PARSE(addcs_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  uint64_t size = 0;
  lg_vkey wkeys[CLI_MAX_MULTI];
  size_t nw = 0;
  int code = cli_opt_u64(&a, "size", true, &size);
  if (!code)
    code = witness_keys(&a, wkeys, &nw);
  if (code)
    return code;
  if (nw == 0)
    return cli_usage("give the --witness keys whose cosignatures to keep");
  size_t len;
  char *lines = cli_read(a.npos ? a.pos[0] : "-", LG_NOTE_MAX, &len);
  if (!lines)
    return CLI_ERROR;
  lg_ledger *lg;
  code = open_log(db, true, &lg);
  if (code == 0) {
    size_t added = 0;
    int rc =
        lg_ledger_add_cosignatures(lg, size, lines, len, wkeys, nw, &added);
    if (rc != 0)
      code = cli_fail(cli_code(rc) == CLI_USAGE ? CLI_INVALID : cli_code(rc),
                      "cosignatures not added: %s", gl_strerror(rc));
    else
      printf("kept %zu cosignatures for size %" PRIu64 "\n", added, size);
    lg_ledger_free(lg);
  }
  free(lines);
  return code;
}

/* ---- Audit, balances, mirrors ----------------------------------------------
 */

static int print_balances(lg_balances *b) {
  printf("# meter money_micro fees_micro local_bought_wh local_sold_wh "
         "grid_import_wh grid_export_wh intervals missing_readings\n");
  for (size_t i = 0; i < lg_balances_count(b); i++) {
    const lg_balance *x = lg_balances_at(b, i);
    if (!x)
      return cli_fail(CLI_ERROR, "out of memory listing the balances");
    printf("%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
           " %" PRId64 " %" PRIu64 " %" PRIu64 "\n",
           x->meter_id, x->money, x->fees, x->local_bought_wh, x->local_sold_wh,
           x->grid_import_wh, x->grid_export_wh, x->intervals,
           x->missing_readings);
  }
  lg_balance_totals t;
  lg_balances_totals(b, &t);
  printf("# totals settlements=%" PRIu64 " utility_money=%" PRId64
         " fee_money=%" PRId64 " local_wh=%" PRId64 " grid_import_wh=%" PRId64
         " grid_export_wh=%" PRId64 "\n",
         t.settlements, t.utility_money, t.fee_money, t.local_wh,
         t.grid_import_wh, t.grid_export_wh);
  return CLI_OK;
}

static const cli_opt audit_opts[] = {{"db", true, false},
                                     {"vkey", true, false},
                                     {"witness", true, true},
                                     {"balances", false, false}};

static int cmd_audit(int argc, char **argv) {
  PARSE(audit_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  lg_vkey logkey, wkeys[CLI_MAX_MULTI];
  size_t nw = 0;
  const char *vk = cli_get(&a, "vkey");
  int code = vk ? cli_vkey(vk, LG_SIG_ED25519, &logkey) : 0;
  if (!code)
    code = witness_keys(&a, wkeys, &nw);
  if (code)
    return code;
  lg_audit_options o = {vk ? &logkey : NULL, wkeys, nw};
  lg_audit_report rep;
  int rc = lg_audit_file(db, &o, &rep);
  if (rc != 0)
    return cli_fail(CLI_ERROR, "cannot audit %s: %s", db, gl_strerror(rc));
  if (!rep.ok) {
    if (rep.bad_entry >= 0)
      printf("audit FAILED: first bad entry %" PRId64 ": %s\n", rep.bad_entry,
             rep.problem);
    else
      printf("audit FAILED: %s\n", rep.problem);
    lg_audit_report_clear(&rep);
    return CLI_INVALID;
  }
  char hex[65];
  printf("audit OK: %" PRIu64 " entries (%" PRIu64 " orders, %" PRIu64
         " readings, %" PRIu64 " clearings, %" PRIu64 " settlements, %" PRIu64
         " parameters, %" PRIu64 " enrolments), %" PRIu64
         " checkpoints, %" PRIu64 " cosignatures, root %s%s\n",
         rep.entries, rep.by_type[1], rep.by_type[2], rep.by_type[3],
         rep.by_type[4], rep.by_type[5], rep.by_type[6], rep.checkpoints,
         rep.cosignatures, gl_hex_encode(rep.root, 32, hex),
         rep.key_from_db ? " (checkpoints checked with the key recorded in "
                           "the database; pass --vkey to check against an "
                           "independent copy)"
                         : "");
  code = cli_has(&a, "balances") ? print_balances(rep.balances) : CLI_OK;
  lg_audit_report_clear(&rep);
  return code;
}

static const cli_opt balances_opts[] = {{"db", true, false},
                                        {"size", true, false}};

static int cmd_balances(int argc, char **argv) {
  PARSE(balances_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  uint64_t size = 0;
  int code = cli_opt_u64(&a, "size", false, &size);
  if (code)
    return code;
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  lg_balances *b;
  int rc = lg_ledger_balances(lg, size, &b);
  lg_ledger_free(lg);
  if (rc != 0)
    return cli_fail(CLI_INVALID, "cannot recompute balances: %s (run audit)",
                    gl_strerror(rc));
  code = print_balances(b);
  lg_balances_free(b);
  return code;
}

static int show_one(void *ctx, uint64_t index, const uint8_t *data,
                    size_t len) {
  (void)ctx;
  printf("%" PRIu64 " ", index);
  cli_describe(stdout, data, len);
  printf("\n");
  return 0;
}

static const cli_opt show_opts[] = {{"db", true, false},
                                    {"from", true, false},
                                    {"to", true, false},
                                    {"index", true, false},
                                    {"hex", false, false}};

static int cmd_show(int argc, char **argv) {
  PARSE(show_opts);
  const char *db = cli_need(&a, "db");
  if (!db)
    return CLI_USAGE;
  uint64_t from = 0, to = LG_MAX_SIZE, index = 0;
  int code = cli_opt_u64(&a, "from", false, &from);
  if (!code)
    code = cli_opt_u64(&a, "to", false, &to);
  if (!code)
    code = cli_opt_u64(&a, "index", false, &index);
  if (code)
    return code;
  if (cli_has(&a, "index")) {
    from = index;
    to = index + 1;
  }
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  int rc = 0;
  if (cli_has(&a, "hex")) {
    for (uint64_t i = from; i < to && rc == 0; i++) {
      uint8_t *d;
      size_t len;
      rc = lg_ledger_entry(lg, i, &d, &len);
      if (rc == GL_ENOENT && !cli_has(&a, "index")) {
        rc = 0;
        break;
      }
      if (rc == 0) {
        char *hex = malloc(2 * len + 1);
        if (hex)
          printf("%s\n", gl_hex_encode(d, len, hex));
        free(hex);
        free(d);
      }
    }
  } else {
    rc = lg_ledger_scan(lg, from, to, show_one, NULL);
  }
  lg_ledger_free(lg);
  return rc ? cli_fail(cli_code(rc), "%s", gl_strerror(rc)) : CLI_OK;
}

static const cli_opt export_opts[] = {
    {"db", true, false}, {"out", true, false}, {"size", true, false}};

static int cmd_export(int argc, char **argv) {
  PARSE(export_opts);
  const char *db = cli_need(&a, "db"), *out = cli_need(&a, "out");
  if (!db || !out)
    return CLI_USAGE;
  uint64_t size = 0;
  int code = cli_opt_u64(&a, "size", false, &size);
  if (code)
    return code;
  lg_ledger *lg;
  code = open_log(db, false, &lg);
  if (code)
    return code;
  int rc = lg_ledger_export(lg, out, size);
  lg_ledger_free(lg);
  if (rc != 0)
    return cli_fail(rc == GL_EVERIFY ? CLI_INVALID : cli_code(rc),
                    "export failed: %s", gl_strerror(rc));
  printf("exported to %s\n", out);
  return CLI_OK;
}

static const cli_opt import_opts[] = {{"db", true, false},
                                      {"from", true, false},
                                      {"vkey", true, false},
                                      {"witness", true, true}};

static int cmd_import(int argc, char **argv) {
  PARSE(import_opts);
  const char *db = cli_need(&a, "db"), *from = cli_need(&a, "from");
  const char *vk = cli_need(&a, "vkey");
  if (!db || !from || !vk)
    return CLI_USAGE;
  lg_vkey logkey, wkeys[CLI_MAX_MULTI];
  size_t nw = 0;
  int code = cli_vkey(vk, LG_SIG_ED25519, &logkey);
  if (!code)
    code = witness_keys(&a, wkeys, &nw);
  if (code)
    return code;
  /* A new mirror takes the origin the log key names. It is created here;
   * if the import then fails, the empty file is removed again, so a
   * refused copy leaves nothing behind. */
  struct stat st;
  bool fresh = stat(db, &st) != 0;
  lg_ledger *lg;
  lg_ledger_options o = {.origin = logkey.name, .create = true, .clock = &wall};
  int rc = lg_ledger_open(db, &o, &lg);
  if (rc != 0)
    return cli_fail(cli_code(rc) == CLI_USAGE ? CLI_ERROR : cli_code(rc),
                    "cannot open mirror %s: %s", db, gl_strerror(rc));
  lg_import_options io = {&logkey, wkeys, nw};
  uint64_t size = 0;
  rc = lg_ledger_import(lg, from, &io, &size);
  lg_ledger_free(lg);
  if (rc != 0) {
    if (fresh) {
      static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
      for (size_t i = 0; i < COUNT(suffix); i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", db, suffix[i]);
        (void)unlink(p);
      }
    }
    return cli_fail(
        rc == GL_EVERIFY || rc == GL_ECONFLICT ? CLI_INVALID : CLI_ERROR,
        "import refused: %s (%s)", gl_strerror(rc),
        fresh ? "no mirror was created" : "the mirror is unchanged");
  }
  printf("mirror %s now has %" PRIu64 " entries\n", db, size);
  return CLI_OK;
}

/* ---- Dispatch -------------------------------------------------------------
 */

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"init", cmd_init,
     "--db FILE (--community NAME | --origin ORIGIN) [--key KEYFILE]\n"
     "      create a log (and its signing key when KEYFILE does not exist)"},
    {"keygen", cmd_keygen,
     "--name NAME --out KEYFILE [--witness]\n"
     "      create a signer key (mode 0600); prints its verifier key"},
    {"vkey", cmd_vkey,
     "--key KEYFILE\n      print a signer key's verifier key"},
    {"append", cmd_append,
     "--db FILE [ENTRIES|-]\n"
     "      append hex-encoded entries (one per line) in one transaction"},
    {"checkpoint", cmd_checkpoint,
     "--db FILE --key KEYFILE\n"
     "      sign (or print again) the checkpoint of the current size"},
    {"info", cmd_info, "--db FILE\n      origin, size, root, last checkpoint"},
    {"show", cmd_show,
     "--db FILE [--index N | --from N --to N] [--hex]\n"
     "      entries, decoded one per line (or as hex)"},
    {"prove", cmd_prove,
     "--db FILE (--index N [--size N] | --size1 N [--size2 N])\n"
     "      an inclusion or consistency proof, as hex"},
    {"bundle", cmd_bundle,
     "--db FILE --index N [--size N] [--no-entry]\n"
     "      an offline proof bundle (C2SP tlog-proof)"},
    {"verify-inclusion", cmd_verify_inclusion,
     "--leaf-hash HEX --index N --size N --root HEX [PROOFHEX...]"},
    {"verify-consistency", cmd_verify_consistency,
     "--size1 N --size2 N --root1 HEX --root2 HEX [PROOFHEX...]"},
    {"verify-bundle", cmd_verify_bundle,
     "--vkey VKEY [--witness VKEY]... [--quorum K] [--leaf-hash HEX] "
     "[BUNDLE|-]"},
    {"verify-checkpoint", cmd_verify_checkpoint,
     "--vkey VKEY [--witness VKEY]... [--quorum K] [CHECKPOINT|-]"},
    {"witness-request", cmd_witness_request,
     "--db FILE [--old N]\n"
     "      a tlog-witness add-checkpoint request for the last checkpoint"},
    {"add-cosignatures", cmd_add_cosignatures,
     "--db FILE --size N --witness VKEY... [LINES|-]\n"
     "      keep verified witness cosignatures with a checkpoint"},
    {"audit", cmd_audit,
     "--db FILE [--vkey VKEY] [--witness VKEY]... [--balances]\n"
     "      replay and check everything; names the first bad entry"},
    {"balances", cmd_balances,
     "--db FILE [--size N]\n"
     "      household balances and energy totals from the settlements"},
    {"export", cmd_export,
     "--db FILE --out FILE [--size N]\n"
     "      a self-contained copy up to the last checkpoint"},
    {"import", cmd_import,
     "--db MIRROR --from FILE --vkey VKEY [--witness VKEY]...\n"
     "      verify a copy and bring a mirror up to date"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: gridlet-ledger COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < COUNT(commands); i++)
    fprintf(out, "  %s %s\n", commands[i].name, commands[i].help);
  fprintf(out,
          "\nOptions may be given as --name VALUE or --name=VALUE; -v before "
          "the command\nlogs more. Exit status: 0 ok/valid, 1 "
          "invalid/refused/problem found,\n2 usage error, 3 operational "
          "error. See docs/ledger.md.\n");
}

int main(int argc, char **argv) {
  bool verbose = false;
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    verbose = true;
    first = 2;
  }
  cli_log_setup("gridlet-ledger", verbose);
  wall = gl_clock_real();
  if (argc <= first) {
    usage(stderr);
    return CLI_USAGE;
  }
  const char *name = argv[first];
  if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0) {
    usage(stdout);
    return CLI_OK;
  }
  for (size_t i = 0; i < COUNT(commands); i++)
    if (strcmp(commands[i].name, name) == 0)
      return commands[i].fn(argc - first - 1, argv + first + 1);
  fprintf(stderr, "gridlet-ledger: usage: unknown command \"%s\"\n", name);
  usage(stderr);
  return CLI_USAGE;
}
