/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_profile.h - device profiles: what to read from a device
 * family, declared in a small file.
 *
 * The meter agent needs the same nine quantities from every household
 * (hal_qty below). A profile says where a device family keeps them: as
 * SunSpec points ("203.TotWhImp": model 203, point TotWhImp, found by
 * discovery) or as vendor registers (table, address, type, word order,
 * scale) for devices that do not speak SunSpec. Profiles ship in
 * hal/profiles/ and are documented in docs/devices.md. Example:
 *
 *   [profile]
 *   name = sunspec-meter
 *   kind = sunspec
 *
 *   [grid_import_energy]
 *   point = 203.TotWhImp 204.TotWhImp 201.TotWhImp
 *
 *   [grid_power]
 *   point = 203.W 204.W 201.W
 *   sign = -1
 *
 * Syntax: "[section]" headers and "key = value" lines; whole-line comments
 * start with '#' or ';'; an inline comment starts with " #" or " ;". The
 * parser is strict, because a profile that silently reads the wrong
 * register produces wrong bills: unknown sections or keys, a key given
 * twice, unknown SunSpec models or points, values out of range, lines over
 * 512 bytes, control characters and a missing [profile] section are all
 * errors naming file:line.
 *
 * Sections and keys:
 *   [profile]     name (required), description, source (where the register
 *                 list comes from; required for kind = registers), kind =
 *                 sunspec | registers (required), unit (default Modbus unit
 *                 id, 1..247), merge_gap (registers kind: unread registers
 *                 allowed between two reads merged into one, 0..64, default
 *                 0)
 *   [<quantity>]  one per hal_qty name. sunspec kind: point = up to 8
 *                 alternatives MODEL.POINT, the first model present on the
 *                 device wins; subdevice = N (1-based; default: the first
 *                 sub-device that has the model). registers kind: register
 *                 = holding|input ADDRESS (0-based protocol address, decimal
 *                 or 0x hex), type = int16|uint16|int32|uint32|int64|uint64|
 *                 float32|float64, word_order = big|little (default big),
 *                 not_implemented = VALUE (raw value meaning "no value").
 *                 Both kinds: scale = N (value = raw * 10^N in Wh, W or %;
 *                 -10..10, default 0; added to a SunSpec scale factor),
 *                 sign = 1 | -1 (default 1; not allowed for counters).
 *   [control]     battery = 124: the device accepts battery charge and
 *                 discharge limits through SunSpec model 124. Absent: no
 *                 control, and hal never writes to the device.
 *
 * Parsing is pure and allocation-free (a hal_profile is a value struct);
 * thread-safe.
 */
#ifndef GRIDLET_HAL_PROFILE_H
#define GRIDLET_HAL_PROFILE_H

#include "gridlet/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The quantities. Units and signs are gridlet's, whatever the device uses:
 * energies are cumulative counters in Wh; power in W with grid power > 0
 * when importing and battery power > 0 when charging; state of charge in
 * hundredths of a percent (0..10000).
 */
typedef enum hal_qty {
  HAL_Q_GRID_IMPORT_WH,
  HAL_Q_GRID_EXPORT_WH,
  HAL_Q_GRID_POWER_W,
  HAL_Q_PV_POWER_W,
  HAL_Q_PV_ENERGY_WH,
  HAL_Q_BATTERY_POWER_W,
  HAL_Q_BATTERY_CHARGE_WH,
  HAL_Q_BATTERY_DISCHARGE_WH,
  HAL_Q_BATTERY_SOC,
  HAL_Q_COUNT
} hal_qty;

/* hal_qty_name - the profile section name ("grid_import_energy"), or "?". */
const char *hal_qty_name(int q);
/* hal_qty_unit - "Wh", "W" or "0.01%". */
const char *hal_qty_unit(int q);
/* hal_qty_is_counter - true for the cumulative energy counters. */
bool hal_qty_is_counter(int q);
/* hal_qty_parse - the hal_qty for a section name, or -1. */
int hal_qty_parse(const char *name);

typedef enum hal_profile_kind {
  HAL_PROFILE_SUNSPEC = 1,
  HAL_PROFILE_REGISTERS = 2,
} hal_profile_kind;

#define HAL_PROFILE_ALTS 8
#define HAL_POINT_NAME_MAX 24

typedef struct hal_point_ref {
  uint16_t model;
  char point[HAL_POINT_NAME_MAX];
} hal_point_ref;

typedef struct hal_qty_map {
  bool mapped;
  int8_t sign;  /* +1 or -1 */
  int8_t scale; /* extra power of ten, -10..10 */
  int line;     /* line of the section header, for messages */
  /* kind = sunspec */
  uint8_t n_alts;
  uint8_t subdevice; /* 0: any; else 1-based */
  hal_point_ref alts[HAL_PROFILE_ALTS];
  /* kind = registers */
  uint8_t table; /* hal_regtype */
  uint16_t addr;
  uint8_t type; /* hal_ss_type: INT16 UINT16 INT32 UINT32 INT64 UINT64
                   FLOAT32 FLOAT64 */
  bool word_little;
  bool has_nan;
  uint64_t nan; /* raw value meaning "not implemented" */
} hal_qty_map;

#define HAL_PROFILE_NAME_MAX 64
#define HAL_PROFILE_TEXT_MAX 200

typedef struct hal_profile {
  char name[HAL_PROFILE_NAME_MAX];
  char description[HAL_PROFILE_TEXT_MAX];
  char source[HAL_PROFILE_TEXT_MAX];
  int kind;               /* hal_profile_kind */
  uint8_t unit;           /* default unit id, 0 = none given */
  uint8_t merge_gap;      /* registers kind */
  uint16_t control_model; /* 124, or 0: no control, never write */
  hal_qty_map q[HAL_Q_COUNT];
} hal_profile;

/*
 * hal_profile_parse - parse `len` bytes of profile text; `name` is the file
 * name used in messages. Returns 0; GL_ECONFIG with every error found
 * described in *errs (may be NULL; the first GL_CONF_MAX_ERRORS are kept,
 * each "file:line: message"); GL_EINVAL for NULL arguments. On error *out
 * is unspecified. Borrows everything; no allocation.
 */
int hal_profile_parse(const char *name, const char *text, size_t len,
                      hal_profile *out, gl_conf_errors *errs);

/*
 * hal_profile_load - read and parse the file at `path` (at most 64 KiB).
 * Returns as hal_profile_parse, or GL_ENOENT / GL_EIO / GL_ETOOBIG for the
 * file itself (also described in *errs).
 */
int hal_profile_load(const char *path, hal_profile *out, gl_conf_errors *errs);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_PROFILE_H */
