/* SPDX-License-Identifier: MIT */
/*
 * gridlet-witness - a transparency-log witness for gridlet ledgers.
 *
 * A thin shell over lg_witness: it keeps the last cosigned size and root
 * per log in its own SQLite file and answers C2SP tlog-witness
 * add-checkpoint requests (read from a file or stdin) with a cosignature
 * line, refusing any checkpoint that does not extend what it cosigned
 * before. Exit codes: 0 cosigned/ok, 1 refused, 2 usage error, 3
 * operational error. See docs/ledger.md.
 */
#include "cli_common.h"
#include "witness_http.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/ledger_witness.h"
#include "gridlet/rand.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int open_witness(const char *db, const char *keypath, lg_witness **w) {
  lg_signer key;
  int rc = lg_signer_read_file(keypath, &key);
  if (rc != 0)
    return cli_fail(rc == GL_EPERM ? CLI_INVALID : CLI_ERROR,
                    "cannot use key file %s: %s", keypath, gl_strerror(rc));
  if (key.vkey.type != LG_SIG_COSIG_V1) {
    lg_signer_wipe(&key);
    return cli_fail(CLI_USAGE, "%s is not a witness (cosignature) key",
                    keypath);
  }
  rc = lg_witness_open(db, &key, &wall, w);
  lg_signer_wipe(&key);
  if (rc != 0)
    return cli_fail(CLI_ERROR, "cannot open witness state %s: %s", db,
                    gl_strerror(rc));
  return 0;
}

static const cli_opt init_opts[] = {
    {"db", true, false}, {"name", true, false}, {"key", true, false}};

static int cmd_init(int argc, char **argv) {
  PARSE(init_opts);
  const char *db = cli_need(&a, "db"), *name = cli_need(&a, "name");
  const char *kp = cli_need(&a, "key");
  if (!db || !name || !kp)
    return CLI_USAGE;
  lg_signer key;
  if (access(kp, F_OK) == 0) {
    int rc = lg_signer_read_file(kp, &key);
    if (rc != 0)
      return cli_fail(CLI_ERROR, "cannot use key file %s: %s", kp,
                      gl_strerror(rc));
    if (key.vkey.type != LG_SIG_COSIG_V1 || strcmp(key.vkey.name, name)) {
      lg_signer_wipe(&key);
      return cli_fail(CLI_USAGE, "%s is not a witness key named \"%s\"", kp,
                      name);
    }
  } else {
    gl_rand r = gl_rand_system();
    int rc = lg_signer_generate(name, LG_SIG_COSIG_V1, &r, &key);
    if (rc == GL_EINVAL)
      return cli_usage("--name must be non-empty, without spaces or '+'");
    if (rc == 0)
      rc = lg_signer_write_file(kp, &key);
    if (rc != 0)
      return cli_fail(CLI_ERROR, "cannot create key %s: %s", kp,
                      gl_strerror(rc));
  }
  lg_witness *w;
  int rc = lg_witness_open(db, &key, &wall, &w);
  char text[LG_KEY_TEXT_MAX];
  if (rc == 0 && lg_vkey_format(&key.vkey, text, sizeof text) == 0)
    printf("%s\n", text);
  lg_signer_wipe(&key);
  lg_witness_free(w);
  return rc ? cli_fail(CLI_ERROR, "cannot create %s: %s", db, gl_strerror(rc))
            : CLI_OK;
}

static const cli_opt vkey_opts[] = {{"key", true, false}};

static int cmd_vkey(int argc, char **argv) {
  PARSE(vkey_opts);
  const char *kp = cli_need(&a, "key");
  if (!kp)
    return CLI_USAGE;
  lg_signer key;
  int rc = lg_signer_read_file(kp, &key);
  if (rc != 0)
    return cli_fail(CLI_ERROR, "cannot use key file %s: %s", kp,
                    gl_strerror(rc));
  char text[LG_KEY_TEXT_MAX];
  if (lg_vkey_format(&key.vkey, text, sizeof text) == 0)
    printf("%s\n", text);
  lg_signer_wipe(&key);
  return CLI_OK;
}

static const cli_opt addlog_opts[] = {
    {"db", true, false}, {"key", true, false}, {"vkey", true, false}};

static int cmd_add_log(int argc, char **argv) {
  PARSE(addlog_opts);
  const char *db = cli_need(&a, "db"), *kp = cli_need(&a, "key");
  const char *vk = cli_need(&a, "vkey");
  if (!db || !kp || !vk)
    return CLI_USAGE;
  lg_vkey k;
  int code = cli_vkey(vk, LG_SIG_ED25519, &k);
  if (code)
    return code;
  char text[LG_KEY_TEXT_MAX];
  lg_vkey_format(&k, text, sizeof text);
  lg_witness *w;
  code = open_witness(db, kp, &w);
  if (code)
    return code;
  int rc = lg_witness_add_log(w, text);
  lg_witness_free(w);
  if (rc != 0)
    return cli_fail(CLI_ERROR, "cannot add log: %s", gl_strerror(rc));
  printf("witnessing %s\n", k.name);
  return CLI_OK;
}

static const cli_opt add_opts[] = {{"db", true, false}, {"key", true, false}};

static int cmd_add_checkpoint(int argc, char **argv) {
  PARSE(add_opts);
  const char *db = cli_need(&a, "db"), *kp = cli_need(&a, "key");
  if (!db || !kp)
    return CLI_USAGE;
  if (a.npos > 1)
    return cli_usage("add-checkpoint --db FILE --key KEYFILE [REQUEST|-]");
  size_t len;
  char *req = cli_read(a.npos ? a.pos[0] : "-", LG_NOTE_MAX + 8192, &len);
  if (!req)
    return CLI_ERROR;
  lg_witness *w;
  int code = open_witness(db, kp, &w);
  if (code) {
    free(req);
    return code;
  }
  char *cosig = NULL;
  lg_witness_result res;
  int rc = lg_witness_add_checkpoint(w, req, len, &cosig, &res);
  lg_witness_free(w);
  free(req);
  if (rc == 0) {
    fputs(cosig, stdout);
    free(cosig);
    return CLI_OK;
  }
  if (res.status == 500)
    return cli_fail(CLI_ERROR, "error (%d): %s: %s", res.status, res.why,
                    gl_strerror(rc));
  if (res.status == 409 && rc == GL_ECONFLICT &&
      strstr(res.why, "forked") == NULL)
    return cli_fail(CLI_INVALID,
                    "refused (409): %s; latest cosigned size %" PRIu64, res.why,
                    res.latest_size);
  return cli_fail(CLI_INVALID, "refused (%d): %s", res.status, res.why);
}

static const cli_opt status_opts[] = {
    {"db", true, false}, {"key", true, false}, {"origin", true, false}};

static int cmd_status(int argc, char **argv) {
  PARSE(status_opts);
  const char *db = cli_need(&a, "db"), *kp = cli_need(&a, "key");
  const char *origin = cli_need(&a, "origin");
  if (!db || !kp || !origin)
    return CLI_USAGE;
  lg_witness *w;
  int code = open_witness(db, kp, &w);
  if (code)
    return code;
  uint64_t size = 0, evidence = 0;
  uint8_t root[32];
  int rc = lg_witness_state(w, origin, &size, root);
  int rc2 = lg_witness_evidence(w, origin, &evidence);
  lg_witness_free(w);
  if (rc == GL_ENOENT) {
    printf("origin %s\nsize none\nevidence %" PRIu64 "\n", origin, evidence);
    return CLI_OK;
  }
  if (rc != 0 || rc2 != 0)
    return cli_fail(CLI_ERROR, "%s", gl_strerror(rc ? rc : rc2));
  char hex[65];
  printf("origin %s\nsize %" PRIu64 "\nroot %s\nevidence %" PRIu64 "\n", origin,
         size, gl_hex_encode(root, 32, hex), evidence);
  return CLI_OK;
}

static const cli_opt serve_opts[] = {
    {"db", true, false}, {"key", true, false}, {"listen", true, false}};

static int cmd_serve(int argc, char **argv) {
  PARSE(serve_opts);
  const char *db = cli_need(&a, "db"), *kp = cli_need(&a, "key");
  if (!db || !kp)
    return CLI_USAGE;
  const char *listen = cli_get(&a, "listen");
  lg_witness *w;
  int code = open_witness(db, kp, &w);
  if (code)
    return code;
  code = witness_serve(w, listen ? listen : "127.0.0.1:7380");
  lg_witness_free(w);
  return code;
}

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"init", cmd_init,
     "--db FILE --name NAME --key KEYFILE\n"
     "      create the state file (and the key when KEYFILE does not exist)"},
    {"vkey", cmd_vkey, "--key KEYFILE\n      print the witness's verifier key"},
    {"add-log", cmd_add_log,
     "--db FILE --key KEYFILE --vkey LOG-VKEY\n      witness a log"},
    {"add-checkpoint", cmd_add_checkpoint,
     "--db FILE --key KEYFILE [REQUEST|-]\n"
     "      answer a tlog-witness add-checkpoint request: prints the "
     "cosignature"},
    {"serve", cmd_serve,
     "--db FILE --key KEYFILE [--listen ADDR:PORT]\n"
     "      serve POST /add-checkpoint (C2SP tlog-witness) until SIGTERM; "
     "default\n      127.0.0.1:7380"},
    {"status", cmd_status,
     "--db FILE --key KEYFILE --origin ORIGIN\n"
     "      the last cosigned size and root, and evidence kept"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: gridlet-witness COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < COUNT(commands); i++)
    fprintf(out, "  %s %s\n", commands[i].name, commands[i].help);
  fprintf(out, "\nExit status: 0 ok/cosigned, 1 refused, 2 usage error, 3 "
               "operational error.\nSee docs/ledger.md.\n");
}

int main(int argc, char **argv) {
  bool verbose = false;
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    verbose = true;
    first = 2;
  }
  cli_log_setup("gridlet-witness", verbose);
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
  fprintf(stderr, "gridlet-witness: usage: unknown command \"%s\"\n", name);
  usage(stderr);
  return CLI_USAGE;
}
