/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_proof.h - answering Merkle proof requests (RFC 9162
 * inclusion and consistency) from the ledger, for meters over MQTT and
 * for anyone over HTTP.
 *
 * An answer carries the proof path and, when they exist and fit the
 * protocol's limits, the entry itself (inclusion) and the signed
 * checkpoint note of the requested size, so the requester can verify it
 * end to end against a checkpoint it trusts. Sizes beyond the ledger are
 * "not_found"; a storage problem is "unavailable" (ask again).
 *
 * Thread-safety: as the ledger and store handles passed in (the loop's
 * for MQTT, the HTTP thread's own read-only handles for HTTP).
 */
#ifndef GRIDLET_AGG_PROOF_H
#define GRIDLET_AGG_PROOF_H

#include "gridlet/agg_store.h"
#include "gridlet/ledger.h"
#include "gridlet/pr_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * agg_proof_answer - fill `out` for `req`: kind, numbers, status, path,
 * entry, note. `out->meter` and `out->request_seq` are left to the caller.
 * Never fails: problems are expressed by the status.
 */
void agg_proof_answer(lg_ledger *lg, agg_store *st, const pr_proof_request *req,
                      pr_proof_response *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_PROOF_H */
