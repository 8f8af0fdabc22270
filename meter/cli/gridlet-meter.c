/* SPDX-License-Identifier: MIT */
/*
 * gridlet-meter - the household meter agent.
 *
 * So far only the enrolment commands, thin shells over certs/
 * (gridlet/pki_enrol.h): `keygen` makes the device key and a certificate
 * signing request naming the meter id, `csr` makes a new request for the
 * existing key. The key never leaves the board; the household hands the
 * CSR to the community operator (`gridlet-ca sign`). The daemon itself
 * arrives with issue 7.
 */
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_enrol.h"
#include "gridlet/pki_key.h"
#include "gridlet/rand.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_KEY "/etc/gridlet/meter.key"
#define DEFAULT_CSR "/etc/gridlet/meter.csr"

static const char *prog = "gridlet-meter";

static const char usage_text[] =
    "usage: gridlet-meter COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  keygen --id METER_ID [--key FILE] [--csr FILE] [--key-type T]\n"
    "      make this device's key (mode 0600; never overwritten) and a\n"
    "      certificate signing request for METER_ID\n"
    "  csr --id METER_ID [--key FILE] [--csr FILE]\n"
    "      a new request for the existing key\n"
    "\n"
    "defaults: --key " DEFAULT_KEY ", --csr " DEFAULT_CSR
    ", --key-type ed25519 (or p256)\n"
    "Give the .csr file to your community operator; install the certificate\n"
    "you get back next to the key.\n";

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "%s: %s\n\n", prog, msg);
  fputs(usage_text, stderr);
  return 2;
}

int main(int argc, char **argv) {
  gl_log_set_ident(prog);
  gl_log_set_level(GL_LOG_ERROR);
  if (argc < 2)
    return usage(NULL);
  const char *cmd = argv[1];
  bool keygen = strcmp(cmd, "keygen") == 0;
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (!keygen && strcmp(cmd, "csr") != 0)
    return usage("unknown command (only keygen and csr exist so far)");
  static const struct option lo[] = {{"id", 1, 0, 'i'},
                                     {"key", 1, 0, 'k'},
                                     {"csr", 1, 0, 'c'},
                                     {"key-type", 1, 0, 't'},
                                     {0, 0, 0, 0}};
  const char *id = NULL, *key = DEFAULT_KEY, *csr = DEFAULT_CSR;
  pki_key_type type = PKI_KEY_ED25519;
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'i':
      id = optarg;
      break;
    case 'k':
      key = optarg;
      break;
    case 'c':
      csr = optarg;
      break;
    case 't':
      if (!keygen || pki_key_type_parse(optarg, &type))
        return usage("--key-type (keygen only) is ed25519 or p256");
      break;
    default:
      return usage(NULL);
    }
  }
  if (!id || optind != argc)
    return usage("--id METER_ID is required");
  pki_why why = {{0}};
  gl_rand rand = gl_rand_system();
  int rc = keygen ? pki_enrol_keygen(id, type, key, csr, &rand, &why)
                  : pki_enrol_csr(id, key, csr, &why);
  if (rc) {
    fprintf(stderr, "%s: %s\n", prog, why.text[0] ? why.text : gl_strerror(rc));
    return 1;
  }
  if (keygen)
    printf("new %s key: %s (keep it on this device)\n", pki_key_type_name(type),
           key);
  printf("certificate request for \"%s\": %s\n"
         "give it to your community operator (gridlet-ca sign)\n",
         id, csr);
  return 0;
}
