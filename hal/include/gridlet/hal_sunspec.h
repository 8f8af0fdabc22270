/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_sunspec.h - SunSpec model tables, discovery and decoding.
 *
 * SunSpec devices expose a chain of "models" in their Modbus holding
 * registers: the marker "SunS" (0x5375 0x6e53) at a base address (40000,
 * 0 or 50000), then for each model its ID register, its length L (registers
 * after the length register) and L registers of points, until a model ID of
 * 0xFFFF ends the chain. A second common model (ID 1) in the chain starts
 * a sub-device (a meter or battery behind an inverter, for example).
 *
 * The point tables (hal_ss_model, hal_ss_point) are generated from the
 * SunSpec JSON model definitions in hal/sunspec/json by
 * hal/sunspec/gen_tables.py; the generated file is committed and a test
 * checks that it matches the generator's output. Supported models: 1,
 * 101-103, 111-113, 124, 160, 201-204, 211-213, 701 and 802.
 *
 * Decoding rules (from the SunSpec specification and field experience):
 *   - multi-register values are big-endian, high word first;
 *   - value = raw * 10^sf, where sf is a "sunssf" point of the same model.
 *     Scale factors must come from the same read as their values and are
 *     never cached: some inverters change them at run time;
 *   - "not implemented" sentinels: 0x8000 for int16 and sunssf, 0xFFFF for
 *     uint16/enum16/bitfield16, 0x80000000 / 0xFFFFFFFF for 32-bit signed /
 *     unsigned, the 64-bit equivalents, NaN for floats, 0 for accumulators
 *     (acc16/acc32/acc64), an all-zero string;
 *   - the device's reported length wins over the definition: points beyond
 *     it are reported as not implemented (many devices report 65 for model 1
 *     instead of 66).
 *
 * Everything here is pure and thread-safe except hal_ss_discover(), which
 * does I/O on a link (see hal_link.h for its locking).
 */
#ifndef GRIDLET_HAL_SUNSPEC_H
#define GRIDLET_HAL_SUNSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Point and model definitions (generated tables) -------------------- */

typedef enum hal_ss_type {
  HAL_SS_INT16,
  HAL_SS_UINT16,
  HAL_SS_INT32,
  HAL_SS_UINT32,
  HAL_SS_INT64,
  HAL_SS_UINT64,
  HAL_SS_ACC16,
  HAL_SS_ACC32,
  HAL_SS_ACC64,
  HAL_SS_BITFIELD16,
  HAL_SS_BITFIELD32,
  HAL_SS_BITFIELD64,
  HAL_SS_ENUM16,
  HAL_SS_ENUM32,
  HAL_SS_FLOAT32,
  HAL_SS_FLOAT64,
  HAL_SS_STRING,
  HAL_SS_PAD,
  HAL_SS_SUNSSF,
  HAL_SS_COUNT,
  HAL_SS_RAW16,
  HAL_SS_IPADDR,
  HAL_SS_IPV6ADDR,
  HAL_SS_EUI48,
  HAL_SS_TYPE_MAX
} hal_ss_type;

/* Point flags. */
#define HAL_SS_MANDATORY 0x01u /* "mandatory": "M" */
#define HAL_SS_WRITABLE 0x02u  /* "access": "RW" */
#define HAL_SS_SF_FIXED 0x04u  /* scale factor is the constant sf_fixed */
#define HAL_SS_SF_POINT 0x08u  /* scale factor is the point sf_index */

typedef struct hal_ss_point {
  const char *name;  /* "TotWhImp" */
  const char *label; /* "Total Watt-hours Imported" ("" if none) */
  const char *units; /* "Wh" ("" if none) */
  uint16_t offset;   /* registers from the model's ID register (or from the
                        start of one repeating-group instance) */
  uint16_t size;     /* registers */
  uint8_t type;      /* hal_ss_type */
  uint8_t flags;     /* HAL_SS_* */
  int16_t sf_index;  /* HAL_SS_SF_POINT: index into the model's points[] */
  int8_t sf_fixed;   /* HAL_SS_SF_FIXED: the constant exponent */
} hal_ss_point;

typedef struct hal_ss_model {
  uint16_t id;
  const char *name;  /* "ac_meter_abcn" */
  const char *label; /* "wye-connect three phase (abcn) meter" */
  /* Length the definition gives, counted like the L register (registers
   * after L) for the fixed block without repeating groups. */
  uint16_t length;
  const hal_ss_point *points; /* fixed block, ID and L included */
  uint16_t n_points;
  /* Repeating group (model 160's "module"), or NULL: instances follow the
   * fixed block back to back; their count follows from the reported L. */
  const char *group_name;
  const hal_ss_point *group_points;
  uint16_t n_group_points;
  uint16_t group_length; /* registers per instance */
} hal_ss_model;

/* hal_ss_model_find - the definition of model `id`, or NULL if gridlet does
 * not know it. Thread-safe; the result is static. */
const hal_ss_model *hal_ss_model_find(uint16_t id);

/* hal_ss_model_count / hal_ss_model_at - iterate over the known models in
 * ascending ID order (i < hal_ss_model_count()). */
size_t hal_ss_model_count(void);
const hal_ss_model *hal_ss_model_at(size_t i);

/* hal_ss_point_find - the point called `name` in the model's fixed block,
 * or NULL. */
const hal_ss_point *hal_ss_point_find(const hal_ss_model *m, const char *name);

/* hal_ss_group_point_find - the point called `name` in the model's
 * repeating group, or NULL (also when the model has no group). */
const hal_ss_point *hal_ss_group_point_find(const hal_ss_model *m,
                                            const char *name);

/* hal_ss_type_name - "int16", "acc32", ...; "?" for unknown values. */
const char *hal_ss_type_name(int type);

/* hal_ss_type_parse - the hal_ss_type for a name, or -1. */
int hal_ss_type_parse(const char *name);

/* ---- Decoding ------------------------------------------------------------ */

typedef struct hal_ss_value {
  uint8_t type;     /* hal_ss_type of the point */
  bool implemented; /* false: sentinel, or beyond the reported length */
  /* Integer types: the raw bits zero-extended (u) and, when the type is
   * signed, sign-extended (i); for unsigned types i == (int64_t)u, which
   * is only meaningful when u <= INT64_MAX. Floats: f. */
  uint64_t u;
  int64_t i;
  double f;
  /* Scale factor: has_sf when the point has one; sf_status is 0 when sf is
   * usable, GL_ENOTSUP when the scale factor register holds the
   * not-implemented sentinel (or lies beyond the reported length), and
   * GL_ERANGE when it is outside -10..10. */
  bool has_sf;
  int sf_status;
  int16_t sf;
} hal_ss_value;

/*
 * hal_ss_decode - decode point `p` of model `m` from `regs`, the `nregs`
 * registers of one model instance starting at its ID register (so regs[1]
 * is the reported length; nregs is normally L + 2). For a repeating-group
 * point pass the group instance's registers as `group_regs` (NULL for
 * fixed-block points); scale factors are always looked up in the fixed
 * block `regs`. Returns 0 (see v->implemented), GL_EINVAL for a NULL
 * argument or a point that does not belong to `m`. Pure; thread-safe.
 */
int hal_ss_decode(const hal_ss_model *m, const hal_ss_point *p,
                  const uint16_t *regs, size_t nregs,
                  const uint16_t *group_regs, size_t group_nregs,
                  hal_ss_value *v);

/*
 * hal_ss_decode_string - copy a string point into `buf` (`size` >= 1
 * bytes): the bytes up to the first NUL, trailing spaces removed, bytes
 * outside printable ASCII replaced by '?'. An unimplemented or truncated
 * point gives "". Returns the length written (truncated to size - 1).
 */
size_t hal_ss_decode_string(const hal_ss_point *p, const uint16_t *regs,
                            size_t nregs, char *buf, size_t size);

/* ---- Scaling --------------------------------------------------------------
 */

typedef enum hal_round {
  HAL_ROUND_NEAREST, /* half away from zero: instantaneous values */
  HAL_ROUND_FLOOR,   /* towards -infinity: counters stay monotonic */
} hal_round;

/*
 * hal_scale_int - raw * 10^exp as an integer, rounded by `mode` when exp
 * is negative. exp must be within -30..30. Returns 0, or GL_ERANGE when
 * the result does not fit in int64_t (out untouched).
 */
int hal_scale_int(int64_t raw, int exp, hal_round mode, int64_t *out);

/*
 * hal_scale_uint - as hal_scale_int for an unsigned raw value (64-bit
 * accumulators may exceed INT64_MAX).
 */
int hal_scale_uint(uint64_t raw, int exp, hal_round mode, int64_t *out);

/*
 * hal_scale_double - round f * 10^exp to an integer. Returns 0, GL_ENOTSUP
 * for NaN, GL_ERANGE for infinities or results outside int64_t.
 */
int hal_scale_double(double f, int exp, hal_round mode, int64_t *out);

/* ---- Discovery ------------------------------------------------------------
 */

#define HAL_SS_MARKER_HI 0x5375u /* "Su" */
#define HAL_SS_MARKER_LO 0x6e53u /* "nS" */
#define HAL_SS_END_ID 0xFFFFu
#define HAL_SS_MAX_MODELS 48

typedef struct hal_ss_model_ref {
  uint16_t id;
  uint16_t length;         /* L as the device reports it */
  uint16_t addr;           /* address of the model's ID register */
  uint8_t device;          /* sub-device index: 0 for the first model 1, ... */
  const hal_ss_model *def; /* NULL when gridlet does not know the model */
} hal_ss_model_ref;

typedef struct hal_ss_map {
  uint16_t base; /* address of the "SunS" marker */
  uint16_t n;    /* models found (end marker not counted) */
  uint8_t n_devices;
  bool truncated; /* more than HAL_SS_MAX_MODELS models: the rest ignored */
  hal_ss_model_ref models[HAL_SS_MAX_MODELS];
} hal_ss_map;

struct hal_link;

/*
 * hal_ss_discover - find the SunSpec marker of `unit` on `link` (trying
 * 40000, 0 and 50000 in that order) and walk the model chain to the end
 * marker using the lengths the device reports. Fills *map (a value struct:
 * no allocation). Returns 0; GL_ENOENT when no base holds the marker;
 * GL_EPROTO when the chain is malformed (runs past address 65535, or ends
 * without the end marker); a link error (GL_ETIMEDOUT, GL_ECONN,
 * GL_EDEVICE ...) when the device could not be read. Logs what it finds at
 * debug level and problems at warn level. Thread-safe with respect to other
 * users of the link.
 */
int hal_ss_discover(struct hal_link *link, uint8_t unit, hal_ss_map *map);

/*
 * hal_ss_map_find - the n-th (0-based) occurrence of model `id` within
 * sub-device `device` (device < 0: any sub-device), or NULL.
 */
const hal_ss_model_ref *hal_ss_map_find(const hal_ss_map *map, uint16_t id,
                                        int device, unsigned nth);

/*
 * hal_ss_map_parse - discovery on a register image already in memory (the
 * fuzz target and tests use it): `regs` holds `n` registers starting at
 * address `start`; registers outside it read as ILLEGAL DATA ADDRESS.
 * Same results as hal_ss_discover.
 */
int hal_ss_map_parse(const uint16_t *regs, size_t n, uint16_t start,
                     hal_ss_map *map);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_SUNSPEC_H */
