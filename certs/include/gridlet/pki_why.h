/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_why.h - the reason a PKI operation refused its input.
 *
 * Every certs/ function that judges outside data (a CSR from a household,
 * a certificate presented by a peer, a key or CRL file) returns a GL_E*
 * code and, when the caller passes a pki_why, a one-line human-readable
 * reason naming exactly what was wrong ("CSR subject CN \"admin\" is a
 * reserved name"). The same reason is logged at warn level under the
 * component "pki", so a daemon gets a log line without doing anything and
 * a command-line tool can print the reason on its own. Passing NULL is
 * always allowed.
 */
#ifndef GRIDLET_PKI_WHY_H
#define GRIDLET_PKI_WHY_H

#ifdef __cplusplus
extern "C" {
#endif

#define PKI_WHY_MAX 256

/* A reason, NUL-terminated; empty when nothing was refused. */
typedef struct pki_why {
  char text[PKI_WHY_MAX];
} pki_why;

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_WHY_H */
