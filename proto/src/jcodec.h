/* SPDX-License-Identifier: MIT */
/*
 * jcodec.h - proto-internal: a descriptor-driven JSON codec (the approach
 * of nanopb and protobuf-c). Each message body is described once by a
 * table of fields (name, kind, offset into the C struct, presence, range),
 * and one engine encodes, decodes and validates every message from those
 * tables, so the encoder, the decoder and docs/protocol.md cannot drift
 * apart field by field.
 *
 * Presence: a J_REQ field is always on the wire; a J_OPT field is absent
 * when its C value says so (has_x false for numbers, times and objects,
 * found at has_off; an empty string; zero flags; zero-length bytes or
 * arrays). A field with a condition (cond_value != 0) exists only while
 * the enum at cond_off has that value: it must then follow its presence
 * rule, and must be absent otherwise. Every table entry leaves unused
 * members zero, so enums used in conditions start at 1.
 */
#ifndef GRIDLET_PROTO_JCODEC_H
#define GRIDLET_PROTO_JCODEC_H

#include "gridlet/pr_diag.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum jkind {
  JK_INT,     /* int64_t in [min, max] */
  JK_TIME,    /* int64_t ns, whole seconds; "YYYY-MM-DDTHH:MM:SSZ" */
  JK_SENDER,  /* char[PR_ID_MAX + 1]: a meter id or "aggregator" */
  JK_METER,   /* char[PR_ID_MAX + 1]: a meter id */
  JK_TOKEN,   /* char[max + 1]: [A-Za-z0-9._+-]{1,max} */
  JK_NOTE,    /* char[max + 1]: signed-note text */
  JK_ENUM,    /* an enum (int-sized); wire names names[1..nnames-1] */
  JK_FLAGS,   /* uint32_t; array of the names of the set bits */
  JK_BYTES,   /* uint8_t[max], length in size_t at count_off; base64 */
  JK_HASHES,  /* uint8_t[max][32], count at count_off; base64 strings */
  JK_INTS,    /* int64_t[max] in [min, max_elem]... see imin/imax */
  JK_OBJECT,  /* nested struct described by `sub` */
  JK_OBJECTS, /* array of structs `sub` of elem_size, count at count_off */
} jkind;

enum { J_REQ = 0, J_OPT = 1 };

typedef struct jschema jschema;

typedef struct jfield {
  const char *name;
  jkind kind;
  int presence;             /* J_REQ or J_OPT */
  size_t off;               /* of the value */
  size_t has_off;           /* J_OPT numbers, times, objects: bool has_x */
  int64_t min, max;         /* JK_INT/JK_INTS value range; strings, bytes,
                               arrays: max is the capacity */
  int64_t imin, imax;       /* JK_INTS element range */
  const char *const *names; /* JK_ENUM (index = value), JK_FLAGS (bit) */
  size_t nnames;
  const jschema *sub; /* JK_OBJECT, JK_OBJECTS */
  size_t elem_size;   /* JK_OBJECTS */
  size_t count_off;   /* JK_BYTES/JK_HASHES/JK_INTS/JK_OBJECTS count */
  size_t cond_off;    /* offset of the enum a condition tests */
  int cond_value;     /* 0: unconditional */
} jfield;

struct jschema {
  const char *name;
  const jfield *fields;
  size_t nfields;
  /* Rules across fields, after every field passed its own checks.
   * Returns 0 or pr_diag_set(d, PR_R_INVALID, GL_ERANGE, ...); `path` is
   * the object's path prefix for messages ("" at the top). */
  int (*check)(const void *base, const char *path, pr_diag *d);
};

/*
 * pr__jdecode_object - decode JSON object `obj` into the struct at `base`
 * by `s`. Keys listed in `skip` (NULL-terminated, may be NULL) are ignored
 * (the caller handled them). Type and shape errors only; call
 * pr__jvalidate next for ranges and cross-field rules.
 */
int pr__jdecode_object(const jschema *s, const json_t *obj, void *base,
                       const char *path, const char *const *skip, pr_diag *d);

/* pr__jvalidate - check ranges, formats and `check` rules, recursively. */
int pr__jvalidate(const jschema *s, const void *base, const char *path,
                  pr_diag *d);

/*
 * pr__jencode_object - append the fields of the struct at `base` to the
 * JSON object `obj` in table order (the struct must be valid). Returns 0
 * or GL_ENOMEM.
 */
int pr__jencode_object(const jschema *s, const void *base, json_t *obj);

/*
 * pr__jsafe - a printable, truncated copy of outside text for messages:
 * non-printable bytes become '?', more than 32 characters end in "...".
 */
const char *pr__jsafe(const char *text, char out[40]);

#endif /* GRIDLET_PROTO_JCODEC_H */
