/* SPDX-License-Identifier: MIT */
/* proof.c - Merkle proofs from the ledger. See gridlet/agg_proof.h. */
#include "gridlet/agg_proof.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <stdlib.h>
#include <string.h>

void agg_proof_answer(lg_ledger *lg, agg_store *st, const pr_proof_request *req,
                      pr_proof_response *out) {
  memset(out, 0, sizeof *out);
  out->kind = req->kind;
  out->index = req->index;
  out->old_size = req->old_size;
  out->size = req->size;
  uint64_t cur = 0;
  if (lg_ledger_size(lg, &cur) != 0) {
    out->status = PR_PROOF_UNAVAILABLE;
    return;
  }
  bool incl = req->kind == PR_PROOF_INCLUSION;
  if ((!incl && req->kind != PR_PROOF_CONSISTENCY) || req->size < 1 ||
      (incl && (req->index < 0 || req->index >= req->size)) ||
      (!incl && (req->old_size < 1 || req->old_size > req->size))) {
    out->status = PR_PROOF_BAD_REQUEST;
    return;
  }
  if ((uint64_t)req->size > cur) {
    out->status = PR_PROOF_NOT_FOUND;
    return;
  }
  lg_hash path[LG_PROOF_MAX];
  size_t n = 0;
  int rc = incl ? lg_ledger_inclusion_proof(lg, (uint64_t)req->index,
                                            (uint64_t)req->size, path,
                                            LG_PROOF_MAX, &n)
                : lg_ledger_consistency_proof(lg, (uint64_t)req->old_size,
                                              (uint64_t)req->size, path,
                                              LG_PROOF_MAX, &n);
  if (rc || n > PR_MAX_PROOF_HASHES) {
    out->status = rc == GL_ERANGE ? PR_PROOF_NOT_FOUND : PR_PROOF_UNAVAILABLE;
    return;
  }
  out->status = PR_PROOF_OK;
  out->npath = n;
  for (size_t i = 0; i < n; i++)
    memcpy(out->path[i], path[i].b, PR_HASH_LEN);
  if (incl) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (lg_ledger_entry(lg, (uint64_t)req->index, &data, &len) == 0 &&
        len <= PR_ENTRY_MAX) {
      memcpy(out->entry, data, len);
      out->entry_len = len;
    }
    free(data);
  }
  char *note = NULL;
  if (st && agg_store_checkpoint_get(st, req->size, &note, NULL, NULL) == 0 &&
      strlen(note) <= PR_NOTE_MAX)
    memcpy(out->note, note, strlen(note) + 1);
  free(note);
}
