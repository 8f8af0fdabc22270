/* SPDX-License-Identifier: MIT */
/*
 * cose.c - tagged COSE_Sign1 with EdDSA: signing, strict parsing,
 * verification (see gridlet/pr_cose.h for the wire format).
 *
 * Parsing walks the envelope item by item with libcbor's streaming
 * decoder, which hands byte strings over as pointers into the input, so a
 * parse allocates nothing. The expected shape is fixed, so the walk is a
 * straight line rather than a generic tree decoder: each step demands one
 * item of one major type, and every item's head must be the shortest
 * possible (deterministic encoding), which also rules out indefinite
 * lengths.
 */
#include "gridlet/pr_cose.h"

#include "gridlet/error.h"

#include <cbor.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t protected_eddsa[PR_COSE_PROTECTED_LEN] = {0xa1, 0x01,
                                                               0x27};

/* The constant prefix of Sig_structure: array(4), "Signature1",
 * bstr(a1 01 27), bstr(empty external_aad). */
static const uint8_t sig_structure_prefix[] = {0x84, 0x6a, 'S',  'i',  'g', 'n',
                                               'a',  't',  'u',  'r',  'e', '1',
                                               0x43, 0xa1, 0x01, 0x27, 0x40};

/* Bytes of the shortest CBOR head for an argument value. */
static size_t head_size(uint64_t v) {
  if (v < 24)
    return 1;
  if (v <= 0xff)
    return 2;
  if (v <= 0xffff)
    return 3;
  if (v <= 0xffffffffu)
    return 5;
  return 9;
}

size_t pr_cose_size(size_t kid_len, size_t payload_len) {
  return 1 /* tag 18 */ + 1 /* array(4) */ + 1 + PR_COSE_PROTECTED_LEN +
         1 /* map(1) */ + 1 /* label 4 */ + head_size(kid_len) + kid_len +
         head_size(payload_len) + payload_len + head_size(GL_ED25519_SIG_LEN) +
         GL_ED25519_SIG_LEN;
}

/* ---- Encoding ---------------------------------------------------------- */

/* Appends with libcbor's encoders; any shortfall makes `ok` false. */
typedef struct writer {
  uint8_t *buf;
  size_t cap, pos;
  bool ok;
} writer;

static void put(writer *w, size_t n) {
  if (n == 0)
    w->ok = false;
  w->pos += n;
}

static void put_bytes(writer *w, const void *data, size_t len) {
  if (!w->ok)
    return;
  put(w, cbor_encode_bytestring_start(len, w->buf + w->pos, w->cap - w->pos));
  if (!w->ok || w->cap - w->pos < len) {
    w->ok = false;
    return;
  }
  if (len > 0)
    memcpy(w->buf + w->pos, data, len);
  w->pos += len;
}

int pr_cose_assemble(const char *kid, size_t kid_len, const void *payload,
                     size_t payload_len, const uint8_t sig[GL_ED25519_SIG_LEN],
                     uint8_t *out, size_t cap, size_t *out_len) {
  if (kid == NULL || !pr_sender_valid(kid, kid_len) ||
      (payload == NULL && payload_len > 0) || payload_len > PR_PAYLOAD_MAX ||
      sig == NULL || out == NULL || out_len == NULL)
    return GL_EINVAL;
  if (cap < pr_cose_size(kid_len, payload_len))
    return GL_ETOOBIG;
  writer w = {out, cap, 0, true};
  put(&w, cbor_encode_tag(PR_COSE_TAG_SIGN1, out, cap));
  put(&w, cbor_encode_array_start(4, out + w.pos, cap - w.pos));
  put_bytes(&w, protected_eddsa, sizeof protected_eddsa);
  if (w.ok)
    put(&w, cbor_encode_map_start(1, out + w.pos, cap - w.pos));
  if (w.ok)
    put(&w, cbor_encode_uint(PR_COSE_HDR_KID, out + w.pos, cap - w.pos));
  put_bytes(&w, kid, kid_len);
  put_bytes(&w, payload, payload_len);
  put_bytes(&w, sig, GL_ED25519_SIG_LEN);
  if (!w.ok)
    return GL_EINTERNAL; /* cap was checked against the exact size */
  *out_len = w.pos;
  return 0;
}

/*
 * Sig_structure for a payload, in `stack` when it fits, else in a heap
 * buffer returned through *heap (caller frees). Returns the length or 0
 * when out of memory.
 */
static size_t sig_structure(const uint8_t *payload, size_t len, uint8_t *stack,
                            size_t stack_cap, uint8_t **heap,
                            const uint8_t **tbs) {
  size_t need = sizeof sig_structure_prefix + head_size(len) + len;
  uint8_t *buf = stack;
  *heap = NULL;
  if (need > stack_cap) {
    buf = malloc(need);
    if (buf == NULL)
      return 0;
    *heap = buf;
  }
  memcpy(buf, sig_structure_prefix, sizeof sig_structure_prefix);
  size_t pos = sizeof sig_structure_prefix;
  pos += cbor_encode_bytestring_start(len, buf + pos, need - pos);
  if (len > 0)
    memcpy(buf + pos, payload, len);
  *tbs = buf;
  return pos + len;
}

/* Messages up to this size build their Sig_structure on the stack. */
#define TBS_STACK 2048

int pr_cose_sign(const gl_ed25519_key *key, const char *kid, size_t kid_len,
                 const void *payload, size_t payload_len, uint8_t *out,
                 size_t cap, size_t *out_len) {
  if (key == NULL || kid == NULL || !pr_sender_valid(kid, kid_len) ||
      (payload == NULL && payload_len > 0) || payload_len > PR_PAYLOAD_MAX ||
      out == NULL || out_len == NULL)
    return GL_EINVAL;
  if (cap < pr_cose_size(kid_len, payload_len))
    return GL_ETOOBIG;
  uint8_t stack[TBS_STACK], *heap;
  const uint8_t *tbs;
  size_t n =
      sig_structure(payload, payload_len, stack, sizeof stack, &heap, &tbs);
  if (n == 0)
    return GL_ENOMEM;
  uint8_t sig[GL_ED25519_SIG_LEN];
  int rc = gl_ed25519_sign(key, tbs, n, sig);
  free(heap);
  if (rc != 0)
    return rc;
  return pr_cose_assemble(kid, kid_len, payload, payload_len, sig, out, cap,
                          out_len);
}

/* ---- Strict parsing ---------------------------------------------------- */

typedef enum ev_kind {
  EV_NONE,
  EV_UINT,
  EV_NEGINT,
  EV_BYTES,
  EV_TEXT,
  EV_ARRAY,
  EV_MAP,
  EV_TAG,
  EV_INDEFINITE,
  EV_OTHER
} ev_kind;

/* One decoded item, filled by the callbacks below. */
typedef struct event {
  ev_kind kind;
  uint64_t value; /* integer, tag, array/map count, string length */
  const uint8_t *data;
} event;

static void on_uint8(void *c, uint8_t v) {
  *(event *)c = (event){EV_UINT, v, NULL};
}
static void on_uint16(void *c, uint16_t v) {
  *(event *)c = (event){EV_UINT, v, NULL};
}
static void on_uint32(void *c, uint32_t v) {
  *(event *)c = (event){EV_UINT, v, NULL};
}
static void on_uint64(void *c, uint64_t v) {
  *(event *)c = (event){EV_UINT, v, NULL};
}
static void on_negint8(void *c, uint8_t v) {
  *(event *)c = (event){EV_NEGINT, v, NULL};
}
static void on_negint16(void *c, uint16_t v) {
  *(event *)c = (event){EV_NEGINT, v, NULL};
}
static void on_negint32(void *c, uint32_t v) {
  *(event *)c = (event){EV_NEGINT, v, NULL};
}
static void on_negint64(void *c, uint64_t v) {
  *(event *)c = (event){EV_NEGINT, v, NULL};
}
static void on_bytes(void *c, cbor_data data, size_t len) {
  *(event *)c = (event){EV_BYTES, len, data};
}
static void on_text(void *c, cbor_data data, size_t len) {
  *(event *)c = (event){EV_TEXT, len, data};
}
static void on_array(void *c, size_t n) {
  *(event *)c = (event){EV_ARRAY, n, NULL};
}
static void on_map(void *c, size_t n) {
  *(event *)c = (event){EV_MAP, n, NULL};
}
static void on_tag(void *c, uint64_t v) {
  *(event *)c = (event){EV_TAG, v, NULL};
}
static void on_indefinite(void *c) {
  *(event *)c = (event){EV_INDEFINITE, 0, NULL};
}
static void on_simple(void *c) {
  *(event *)c = (event){EV_OTHER, 0, NULL};
}
static void on_float(void *c, float v) {
  (void)v;
  *(event *)c = (event){EV_OTHER, 0, NULL};
}
static void on_double(void *c, double v) {
  (void)v;
  *(event *)c = (event){EV_OTHER, 0, NULL};
}
static void on_bool(void *c, bool v) {
  (void)v;
  *(event *)c = (event){EV_OTHER, 0, NULL};
}

static const struct cbor_callbacks callbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint8 = on_negint8,
    .negint16 = on_negint16,
    .negint32 = on_negint32,
    .negint64 = on_negint64,
    .byte_string_start = on_indefinite,
    .byte_string = on_bytes,
    .string = on_text,
    .string_start = on_indefinite,
    .indef_array_start = on_indefinite,
    .array_start = on_array,
    .indef_map_start = on_indefinite,
    .map_start = on_map,
    .tag = on_tag,
    .float2 = on_float,
    .float4 = on_float,
    .float8 = on_double,
    .undefined = on_simple,
    .null = on_simple,
    .boolean = on_bool,
    .indef_break = on_simple,
};

static const char *kind_name(ev_kind k) {
  switch (k) {
  case EV_UINT:
    return "an unsigned integer";
  case EV_NEGINT:
    return "a negative integer";
  case EV_BYTES:
    return "a byte string";
  case EV_TEXT:
    return "a text string";
  case EV_ARRAY:
    return "an array";
  case EV_MAP:
    return "a map";
  case EV_TAG:
    return "a tag";
  case EV_INDEFINITE:
    return "an indefinite-length item";
  default:
    return "a simple value or float";
  }
}

/* Parser state: input, position, diagnostics. */
typedef struct parser {
  const uint8_t *buf;
  size_t len, pos;
  pr_diag *d;
} parser;

/*
 * Decode the next item, which must be of kind `want`; `what` names it in
 * messages. Checks that its head is the shortest encoding.
 */
static int next(parser *p, ev_kind want, const char *what, event *ev) {
  if (p->pos >= p->len)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: truncated before %s", what);
  *ev = (event){EV_NONE, 0, NULL};
  struct cbor_decoder_result r =
      cbor_stream_decode(p->buf + p->pos, p->len - p->pos, &callbacks, ev);
  if (r.status == CBOR_DECODER_NEDATA)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: truncated in %s at byte %zu", what, p->pos);
  if (r.status != CBOR_DECODER_FINISHED || ev->kind == EV_NONE)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: invalid CBOR at byte %zu (%s)", p->pos, what);
  if (ev->kind != want)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: %s must be %s, got %s at byte %zu", what,
                       kind_name(want), kind_name(ev->kind), p->pos);
  size_t head = r.read;
  if (ev->kind == EV_BYTES || ev->kind == EV_TEXT)
    head -= (size_t)ev->value;
  if (head != head_size(ev->value))
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: %s at byte %zu is not in deterministic "
                       "encoding (non-minimal head)",
                       what, p->pos);
  p->pos += r.read;
  return 0;
}

/*
 * The tag head is read here rather than by libcbor: libcbor before 0.11
 * rejects tags 6 to 20 in the initial byte as "unassigned"
 * (PJK/libcbor#307), COSE_Sign1's tag 18 among them. Its only
 * deterministic encoding is the single byte 0xd2; anything else gets a
 * message saying what it is.
 */
static int read_tag(parser *p) {
  if (p->len == 0)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: truncated before the COSE_Sign1 tag");
  uint8_t b = p->buf[0];
  if (b == 0xc0 + PR_COSE_TAG_SIGN1) {
    p->pos = 1;
    return 0;
  }
  if ((b >> 5) == 4)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: untagged COSE_Sign1 (tag 18 is required)");
  if ((b >> 5) != 6)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: the COSE_Sign1 tag must be a tag, got major "
                       "type %d",
                       b >> 5);
  uint64_t value = b & 0x1fu;
  if (value >= 24 && value <= 27) {
    size_t width = (size_t)1 << (value - 24);
    if (p->len < 1 + width)
      return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                         "COSE: truncated in the COSE_Sign1 tag");
    value = 0;
    for (size_t i = 1; i <= width; i++)
      value = value << 8 | p->buf[i];
  } else if (value > 27) {
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: invalid CBOR at byte 0 (the COSE_Sign1 tag)");
  }
  if (value == PR_COSE_TAG_SIGN1)
    return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: the COSE_Sign1 tag at byte 0 is not in "
                       "deterministic encoding (non-minimal head)");
  return pr_diag_set(p->d, PR_R_MALFORMED, GL_EPARSE,
                     "COSE: tag %llu is not COSE_Sign1 (18)",
                     (unsigned long long)value);
}

int pr_cose_parse(const uint8_t *buf, size_t len, size_t max_payload,
                  pr_cose_view *view, pr_diag *d) {
  if (buf == NULL || view == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "COSE: no input");
  if (max_payload > PR_PAYLOAD_MAX)
    max_payload = PR_PAYLOAD_MAX;
  if (len > max_payload + PR_COSE_OVERHEAD_MAX)
    return pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "COSE: message of %zu bytes exceeds the limit of %zu",
                       len, max_payload + PR_COSE_OVERHEAD_MAX);
  parser p = {buf, len, 0, d};
  event ev;
  int rc;
  if ((rc = read_tag(&p)) != 0)
    return rc;
  if ((rc = next(&p, EV_ARRAY, "the COSE_Sign1 array", &ev)) != 0)
    return rc;
  if (ev.value != 4)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: COSE_Sign1 array has %llu elements, not 4",
                       (unsigned long long)ev.value);

  if ((rc = next(&p, EV_BYTES, "the protected header", &ev)) != 0)
    return rc;
  if (ev.value != PR_COSE_PROTECTED_LEN ||
      memcmp(ev.data, protected_eddsa, PR_COSE_PROTECTED_LEN) != 0) {
    char hex[2 * 16 + 1];
    size_t show = ev.value > 16 ? 16 : (size_t)ev.value;
    gl_hex_encode(ev.data, show, hex);
    return pr_diag_set(d, PR_R_UNSUPPORTED_ALG, GL_ENOTSUP,
                       "COSE: protected header must be exactly {1: -8} "
                       "(a10127, EdDSA), got h'%s%s'",
                       hex, ev.value > 16 ? "..." : "");
  }
  view->protected_hdr = ev.data;
  view->protected_len = PR_COSE_PROTECTED_LEN;

  if ((rc = next(&p, EV_MAP, "the unprotected header", &ev)) != 0)
    return rc;
  if (ev.value != 1)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: unprotected header has %llu entries; it must "
                       "be exactly {4: kid}",
                       (unsigned long long)ev.value);
  if ((rc = next(&p, EV_UINT, "the unprotected header label", &ev)) != 0)
    return rc;
  if (ev.value != PR_COSE_HDR_KID)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: unprotected header label %llu; only 4 (kid) "
                       "is allowed",
                       (unsigned long long)ev.value);
  if ((rc = next(&p, EV_BYTES, "the kid", &ev)) != 0)
    return rc;
  if (!pr_sender_valid((const char *)ev.data, (size_t)ev.value))
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: kid of %llu bytes is not a valid sender id",
                       (unsigned long long)ev.value);
  view->kid = ev.data;
  view->kid_len = (size_t)ev.value;

  if ((rc = next(&p, EV_BYTES, "the payload", &ev)) != 0)
    return rc;
  if (ev.value > max_payload)
    return pr_diag_set(d, PR_R_OVERSIZE, GL_ETOOBIG,
                       "COSE: payload of %llu bytes exceeds the limit of %zu",
                       (unsigned long long)ev.value, max_payload);
  view->payload = ev.data;
  view->payload_len = (size_t)ev.value;

  if ((rc = next(&p, EV_BYTES, "the signature", &ev)) != 0)
    return rc;
  if (ev.value != GL_ED25519_SIG_LEN)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: signature is %llu bytes, Ed25519 needs 64",
                       (unsigned long long)ev.value);
  view->sig = ev.data;
  if (p.pos != len)
    return pr_diag_set(d, PR_R_MALFORMED, GL_EPARSE,
                       "COSE: %zu trailing bytes after the COSE_Sign1",
                       len - p.pos);
  return 0;
}

/* ---- Verification ------------------------------------------------------ */

int pr_cose_verify(const pr_cose_view *view,
                   const uint8_t pub[GL_ED25519_PUB_LEN], pr_diag *d) {
  if (view == NULL || pub == NULL || view->sig == NULL)
    return pr_diag_set(d, PR_R_INTERNAL, GL_EINVAL, "COSE: nothing to verify");
  uint8_t stack[TBS_STACK], *heap;
  const uint8_t *tbs;
  size_t n = sig_structure(view->payload, view->payload_len, stack,
                           sizeof stack, &heap, &tbs);
  if (n == 0)
    return pr_diag_set(d, PR_R_INTERNAL, GL_ENOMEM, "COSE: out of memory");
  int rc = gl_ed25519_verify(pub, tbs, n, view->sig);
  free(heap);
  if (rc == GL_EVERIFY)
    return pr_diag_set(d, PR_R_BAD_SIGNATURE, rc,
                       "COSE: signature does not verify for kid \"%.*s\"",
                       (int)view->kid_len, (const char *)view->kid);
  if (rc != 0)
    return pr_diag_set(d, PR_R_INTERNAL, rc, "COSE: verification failed: %s",
                       gl_strerror(rc));
  return 0;
}
