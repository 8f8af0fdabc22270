/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_image.h - the register image of one simulated Modbus device.
 *
 * An image is a set of register blocks (holding or input) with a writable
 * flag per register. A SunSpec device is one holding block: the "SunS"
 * marker, a chain of models laid out from the hal tables (hal_sunspec.h),
 * the end marker. Every point starts out "not implemented" (its SunSpec
 * sentinel) and the simulator fills in what its device has. Vendor
 * (non-SunSpec) devices are plain blocks at the addresses their vendors
 * document.
 *
 * The encoder here is written independently of hal's decoder (it only
 * shares the tables, which are the specification): the simulator records
 * the logical value it meant for each SunSpec point (sim_point_value), so a
 * test can compare what hal decodes over the wire with what was meant.
 *
 * Images are not thread-safe: the simulator guards them with its lock.
 */
#ifndef GRIDLET_SIM_IMAGE_H
#define GRIDLET_SIM_IMAGE_H

#include "gridlet/hal_sunspec.h"
#include "gridlet/hal_transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sim_image sim_image;

/* sim_image_new - an empty image. Owned handle or NULL. */
sim_image *sim_image_new(void);

/* sim_image_free - release; NULL is a no-op. */
void sim_image_free(sim_image *img);

/* sim_image_reset - remove every block and model. */
void sim_image_reset(sim_image *img);

/* One model of a SunSpec chain to lay out. */
typedef struct sim_model_spec {
  uint16_t id;
  uint16_t length;  /* L to report; 0: the definition's (+ repeats) */
  uint16_t repeats; /* repeating-group instances (model 160 modules) */
} sim_model_spec;

/*
 * sim_image_sunspec - lay out a SunSpec chain at `base`: marker, the
 * models in order (each must be known to hal's tables), end marker. A
 * reported length shorter than the definition drops the points beyond it
 * (a model 1 of length 65 has no Pad); longer pads with zeros. Points
 * with "access": "RW" are writable. Returns 0, GL_ENOENT for an unknown
 * model, GL_ERANGE if the chain does not fit below 65536, GL_ENOMEM.
 */
int sim_image_sunspec(sim_image *img, uint16_t base,
                      const sim_model_spec *models, size_t n);

/*
 * sim_image_block - add a plain block of `n` registers at `addr` in
 * `table`, all zero, writable or not. Returns 0, GL_EEXIST when it
 * overlaps a block of the same table, GL_ERANGE, GL_ENOMEM.
 */
int sim_image_block(sim_image *img, hal_regtype table, uint16_t addr,
                    uint16_t n, bool writable);

/* sim_image_model - index of the nth (0-based) instance of model `id` in
 * the chain, or -1. */
int sim_image_model(const sim_image *img, uint16_t id, unsigned nth);

/* sim_image_model_count - models in the chain. */
size_t sim_image_model_count(const sim_image *img);

/* sim_image_model_id - id of model index `m` (0 if out of range). */
uint16_t sim_image_model_id(const sim_image *img, int m);

/* sim_image_model_addr - address of the ID register of model index m. */
uint16_t sim_image_model_addr(const sim_image *img, int m);

/* ---- Setting SunSpec points ------------------------------------------- */

/*
 * Setters address a point by model index `m`, repeating-group instance
 * `grp` (-1 for the fixed block) and name. They return 0, GL_ENOENT for an
 * unknown point, GL_ERANGE when the value does not fit the point's type or
 * hits its not-implemented sentinel, GL_ENOTSUP when the point lies beyond
 * the reported length (it then stays absent), GL_EINVAL for a type
 * mismatch.
 */

/* An integer point (any int/uint/acc/enum/bitfield/count/sunssf type):
 * the mantissa as stored; its scale factor is whatever the sf point holds. */
int sim_image_set_int(sim_image *img, int m, int grp, const char *point,
                      int64_t v);
/* Unsigned 64-bit values above INT64_MAX. */
int sim_image_set_u64(sim_image *img, int m, int grp, const char *point,
                      uint64_t v);
/* A float32/float64 point. */
int sim_image_set_float(sim_image *img, int m, int grp, const char *point,
                        double v);
/* A string point (truncated to its size, NUL-padded). */
int sim_image_set_string(sim_image *img, int m, int grp, const char *point,
                         const char *s);
/*
 * sim_image_set_scaled - a physical value `v` (in the point's units) into
 * an integer point as round(v / 10^sf) using the scale factor currently
 * in its sf register, or into a float point as is. For counters prefer
 * sim_image_set_int with an exact mantissa.
 */
int sim_image_set_scaled(sim_image *img, int m, int grp, const char *point,
                         double v);
/* sim_image_set_absent - put the not-implemented sentinel back. */
int sim_image_set_absent(sim_image *img, int m, int grp, const char *point);

/* What the simulator meant a point to hold. */
typedef struct sim_point_value {
  bool implemented;
  bool is_float;
  bool is_string;
  int64_t i;  /* integer points: the mantissa (signed types sign-extended) */
  uint64_t u; /* integer points: the raw bits */
  double f;   /* float points */
  char s[72]; /* string points */
} sim_point_value;

/* sim_image_point - the value recorded for a point. GL_ENOENT if unknown. */
int sim_image_point(const sim_image *img, int m, int grp, const char *point,
                    sim_point_value *out);

/* ---- Raw access (serving and vendor blocks) ----------------------------- */

/*
 * sim_image_read - copy `n` registers from `table` at `addr`. Returns 0, or
 * HAL_EXC_ILLEGAL_ADDRESS (a positive exception code) when any of them is
 * outside a block (a read may not span two blocks).
 */
int sim_image_read(const sim_image *img, hal_regtype table, uint16_t addr,
                   uint16_t n, uint16_t *dst);

/*
 * sim_image_write - a Modbus write of holding registers: 0, or
 * HAL_EXC_ILLEGAL_ADDRESS when any register is outside a block or not
 * writable (nothing is written then).
 */
int sim_image_write(sim_image *img, uint16_t addr, uint16_t n,
                    const uint16_t *src);

/* sim_image_poke - set registers directly (vendor blocks, tests); writable
 * flags are ignored. Returns 0 or GL_ERANGE. */
int sim_image_poke(sim_image *img, hal_regtype table, uint16_t addr,
                   const uint16_t *src, uint16_t n);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_IMAGE_H */
