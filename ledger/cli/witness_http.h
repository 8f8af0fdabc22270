/* SPDX-License-Identifier: MIT */
/*
 * witness_http.h - serve a witness over HTTP (C2SP tlog-witness).
 */
#ifndef GRIDLET_LEDGER_WITNESS_HTTP_H
#define GRIDLET_LEDGER_WITNESS_HTTP_H

#include "gridlet/ledger_witness.h"

/*
 * witness_serve - answer POST /add-checkpoint on `listen` ("ADDR:PORT",
 * IPv4) until SIGTERM or SIGINT. `w` is used only by the server's one
 * thread. Returns a CLI exit code.
 */
int witness_serve(lg_witness *w, const char *listen);

#endif
