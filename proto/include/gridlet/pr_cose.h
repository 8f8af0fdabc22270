/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_cose.h - COSE_Sign1 (RFC 9052) envelopes with EdDSA (Ed25519).
 *
 * Every protocol message travels as one tagged COSE_Sign1 structure in its
 * deterministic CBOR encoding (RFC 8949 section 4.2.1: definite lengths,
 * shortest heads):
 *
 *   18([                      ; tag 18 = COSE_Sign1        d2
 *     h'a10127',              ; protected: {1: -8} (alg: EdDSA)  43 a1 01 27
 *     {4: h'<kid>'},          ; unprotected: kid = sender id bytes  a1 04 4x..
 *     h'<payload>',           ; the JSON payload, exact bytes
 *     h'<64-byte signature>'  ; Ed25519 over the Sig_structure below
 *   ])
 *
 *   Sig_structure = ["Signature1", h'a10127', h'', h'<payload>']
 *
 * The signature covers the exact payload bytes (never a re-serialisation)
 * and the protected header; the kid is unprotected, which is safe because
 * the payload's own "sender" field is signed and must equal the kid.
 *
 * Decoding is strict: exactly the structure above, nothing more (no other
 * header parameters, no detached payload, no untagged form), the one
 * deterministic encoding only (a non-minimal length or an indefinite-length
 * item is rejected), no trailing bytes, sizes within the caller's limit. So
 * every accepted message has exactly one byte representation, and two
 * messages that differ in bytes differ in content.
 *
 * CBOR is read with libcbor's streaming decoder (no allocation; the view
 * points into the caller's buffer) and written with libcbor's encoders.
 * All functions are thread-safe; none logs.
 */
#ifndef GRIDLET_PR_COSE_H
#define GRIDLET_PR_COSE_H

#include "gridlet/crypto.h"
#include "gridlet/pr_diag.h"
#include "gridlet/pr_ident.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PR_COSE_TAG_SIGN1 18
#define PR_COSE_ALG_EDDSA (-8)
#define PR_COSE_HDR_ALG 1
#define PR_COSE_HDR_KID 4

/* The only accepted protected header: the bstr contents a1 01 27. */
#define PR_COSE_PROTECTED_LEN 3

/*
 * Largest envelope overhead around a payload of up to 65535 bytes with a
 * kid of up to PR_ID_MAX bytes: tag 1 + array 1 + protected 4 + map 1 +
 * label 1 + kid head 2 + kid 63 + payload head 3 + signature head 2 + 64.
 */
#define PR_COSE_OVERHEAD_MAX (1 + 1 + 4 + 1 + 1 + 2 + PR_ID_MAX + 3 + 2 + 64)

/* Largest payload any message type may carry (see gridlet/pr_msg.h). */
#define PR_PAYLOAD_MAX 24576

/* Largest envelope the library produces or accepts. */
#define PR_COSE_MAX (PR_PAYLOAD_MAX + PR_COSE_OVERHEAD_MAX)

/*
 * A parsed envelope. Every pointer borrows from the buffer given to
 * pr_cose_parse and is valid as long as that buffer is.
 */
typedef struct pr_cose_view {
  const uint8_t *protected_hdr; /* the bstr contents, always a1 01 27 */
  size_t protected_len;
  const uint8_t *kid; /* sender id bytes, a valid pr_sender_valid name */
  size_t kid_len;
  const uint8_t *payload;
  size_t payload_len;
  const uint8_t *sig; /* GL_ED25519_SIG_LEN bytes */
} pr_cose_view;

/*
 * pr_cose_size - the exact encoded size of an envelope with a kid of
 * `kid_len` bytes and a payload of `payload_len` bytes.
 */
size_t pr_cose_size(size_t kid_len, size_t payload_len);

/*
 * pr_cose_sign - sign `payload` with `key` and write the tagged COSE_Sign1
 * envelope to `out` (`cap` bytes; pr_cose_size() tells how many are
 * needed). The kid is the `kid_len` bytes at `kid`, which must be a valid
 * sender id (pr_sender_valid). Borrows everything; *out_len gets the size.
 * Returns 0, GL_EINVAL (bad kid, payload over PR_PAYLOAD_MAX), GL_ETOOBIG
 * (`out` too small), GL_ENOMEM or GL_ECRYPTO.
 */
int pr_cose_sign(const gl_ed25519_key *key, const char *kid, size_t kid_len,
                 const void *payload, size_t payload_len, uint8_t *out,
                 size_t cap, size_t *out_len);

/*
 * pr_cose_assemble - write an envelope around a signature that was made
 * elsewhere (tests that forge messages, tools that re-wrap stored parts).
 * Same rules and returns as pr_cose_sign; nothing is signed or checked
 * cryptographically.
 */
int pr_cose_assemble(const char *kid, size_t kid_len, const void *payload,
                     size_t payload_len, const uint8_t sig[GL_ED25519_SIG_LEN],
                     uint8_t *out, size_t cap, size_t *out_len);

/*
 * pr_cose_parse - strict structural decoding of `len` bytes at `buf` into
 * `view` (no cryptography). `max_payload` bounds the payload (pass
 * PR_PAYLOAD_MAX or a per-type limit); the whole envelope is bounded by
 * max_payload + PR_COSE_OVERHEAD_MAX. Returns 0, or with `d` filled:
 * GL_ETOOBIG (PR_R_OVERSIZE), GL_EPARSE (PR_R_MALFORMED: bad CBOR, wrong
 * structure, non-deterministic encoding, trailing bytes, kid not a valid
 * sender id) or GL_ENOTSUP (PR_R_UNSUPPORTED_ALG). `d` may be NULL.
 */
int pr_cose_parse(const uint8_t *buf, size_t len, size_t max_payload,
                  pr_cose_view *view, pr_diag *d);

/*
 * pr_cose_verify - check the signature of a parsed envelope against the
 * Ed25519 public key `pub`. Returns 0, GL_EVERIFY (PR_R_BAD_SIGNATURE),
 * GL_ENOMEM or GL_ECRYPTO (PR_R_INTERNAL). `d` may be NULL.
 */
int pr_cose_verify(const pr_cose_view *view,
                   const uint8_t pub[GL_ED25519_PUB_LEN], pr_diag *d);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_COSE_H */
