/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_scenario.h - the research simulator's scenario file: one
 * INI-style text that says everything a run depends on (households,
 * batteries and strategies, tariffs, market mode and price rule, interval
 * length, time span, seed, inputs), so a run is reproduced from its
 * scenario alone. docs/research.md is the user's reference; this header is
 * the specification.
 *
 * ## Syntax
 * Lines are "[section]", "[household ID]" or "key = value"; whole-line
 * comments start with '#' or ';'; blank lines are ignored; CRLF is
 * accepted. Everything doubtful is an error naming file:line: unknown
 * sections and keys, a key given twice in a section, a section given
 * twice, values that do not parse or lie out of range, a line that is
 * none of the above, lines longer than 1024 bytes, NUL bytes. All errors
 * of a file are collected (sim_diag).
 *
 * Sections (keys and defaults in docs/research.md; "dec" means a decimal
 * with the stated number of fraction digits, stored as a scaled integer):
 *   [scenario]   name, seed, start, end | days, interval, currency
 *   [market]     mode, rule, k, rationing, self_trade, compare
 *   [tariff]     retail, feed_in, network_fee (currency per kWh, 6 dec)
 *   [input]      source, path, step, timestamps, unit, utc_offset,
 *                controlled_load, resample, missing, verify
 *   [synthetic]  latitude, longitude, utc_offset, cloudiness,
 *                performance_ratio, load_noise
 *   [defaults]   household keys applying to every household
 *   [household ID]  household keys for one household (ID is a meter id),
 *                plus `count = N` (synthetic input: N households
 *                ID-1 .. ID-N, numbered with leading zeros to a common
 *                width so that byte order is numeric order)
 * Household numeric keys accept a range "lo..hi": each household then
 * draws its own value uniformly from the range (on the key's decimal
 * grid), deterministically from the seed (sim_scenario_homes).
 *
 * ## Units after parsing
 * times ns since the epoch (UTC); durations ns; energy Wh; power W; prices
 * micro-currency per kWh (µ/kWh, as in gridlet/market.h); ratios in parts
 * per million (ppm); angles in micro-degrees.
 *
 * Thread-safety: a parsed scenario is immutable and may be shared.
 */
#ifndef GRIDLET_SIM_SCENARIO_H
#define GRIDLET_SIM_SCENARIO_H

#include "gridlet/market_auction.h"
#include "gridlet/market_settle.h"
#include "gridlet/sim_diag.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIM_ID_MAX 63        /* a household id is a meter id */
#define SIM_NAME_MAX 63      /* scenario name */
#define SIM_PATH_MAX 1024    /* input path */
#define SIM_HOMES_MAX 100000 /* households in one run */
#define SIM_MECHANISMS_MAX 8 /* mechanisms in one compare run */
#define SIM_MECH_NAME_MAX 31 /* "exante/k:0.125" */
#define SIM_PPM INT64_C(1000000)

/* Where the household energies come from. */
typedef enum sim_source_kind {
  SIM_SOURCE_SYNTHETIC = 0, /* the clear-sky/load-shape generator */
  SIM_SOURCE_CSV = 1,       /* long CSV timestamp,household,load,pv */
  SIM_SOURCE_AUSGRID = 2,   /* Ausgrid Solar Home wide half-hourly CSV */
  SIM_SOURCE_LEDGER = 3,    /* a gridlet ledger (export) */
} sim_source_kind;

/* How a household runs its battery (see gridlet/sim_home.h). */
typedef enum sim_strategy {
  SIM_STRATEGY_SELF_CONSUMPTION = 0,
  SIM_STRATEGY_PRICE_AWARE = 1,
  SIM_STRATEGY_FOLLOW_CONTRACT = 2, /* exante/continuous: meet contracts */
} sim_strategy;

/* Which past interval an exante/continuous household's orders persist. */
typedef enum sim_forecast {
  SIM_FORECAST_YESTERDAY = 0, /* the same interval yesterday (meter agent
                                 default, forecast_lag = 1 day) */
  SIM_FORECAST_PREVIOUS = 1,  /* the interval just before */
  SIM_FORECAST_PERFECT = 2,   /* this interval's load - PV (upper bound) */
} sim_forecast;

/*
 * One market mechanism: mode and price rule plus the call auction's
 * details. `name` is its canonical spec, "MODE[/RULE[:K]]" (continuous
 * has no rule): "expost/marginal", "exante/k:0.25", "continuous".
 */
typedef struct sim_mechanism {
  char name[SIM_MECH_NAME_MAX + 1];
  mkt_mode mode;
  mkt_rule rule;
  int32_t k_ppm; /* MKT_RULE_K */
  mkt_rationing rationing;
  bool allow_self_trade;
} sim_mechanism;

/*
 * sim_mechanism_parse - parse "MODE[/RULE[:K]]" (K a decimal in [0, 1]
 * with up to 6 fraction digits; the rule defaults to marginal, k to 0.5)
 * into *out, taking rationing and self-trade from `base` (may be NULL:
 * pro-rata, prevention on). Writes the canonical name. Returns 0 or
 * GL_EINVAL (with a reason in `why`, a static string, may be NULL).
 */
int sim_mechanism_parse(const char *spec, const sim_mechanism *base,
                        sim_mechanism *out, const char **why);

/* sim_mechanism_dirname - the mechanism's name as a directory name
 * ('/' and ':' become '-': "expost-k-0.5"). Returns out. */
char *sim_mechanism_dirname(const sim_mechanism *m, char *out, size_t cap);

/* Household keys, in canonical order (the order of draws and of output). */
typedef enum sim_hkey {
  SIM_HK_LOAD_KWH = 0,         /* annual consumption, synthetic [4000 kWh] */
  SIM_HK_PV_KWP,               /* PV peak power, synthetic [0] */
  SIM_HK_LOAD_SCALE,           /* multiplies the load [1] */
  SIM_HK_PV_SCALE,             /* multiplies the PV [1] */
  SIM_HK_BATTERY_KWH,          /* usable capacity [0] */
  SIM_HK_BATTERY_KW,           /* charge and discharge limit [capacity/2 h] */
  SIM_HK_BATTERY_CHARGE_KW,    /* charge limit [battery_kw] */
  SIM_HK_BATTERY_DISCHARGE_KW, /* discharge limit [battery_kw] */
  SIM_HK_BATTERY_EFFICIENCY,   /* round trip [0.90] */
  SIM_HK_BATTERY_RESERVE,      /* share never discharged [0.10] */
  SIM_HK_BATTERY_INITIAL,      /* state of charge at start [0.50] */
  SIM_HK_STRATEGY,             /* enum sim_strategy [self-consumption] */
  SIM_HK_FORECAST,             /* enum sim_forecast [yesterday] */
  SIM_HK_BUY_LIMIT,            /* standing buy limit [retail] */
  SIM_HK_SELL_LIMIT,           /* standing sell limit [feed-in] */
  SIM_HK_CHARGE_BELOW,         /* price-aware: charge at or below [mid] */
  SIM_HK_DISCHARGE_ABOVE,      /* price-aware: discharge at or above [mid] */
  SIM_HK_COUNT
} sim_hkey;

/* A value as written: fixed (lo == hi) or a range to draw from. */
typedef struct sim_range {
  int64_t lo, hi;
} sim_range;

/* A [defaults] or [household ID] section as written. */
typedef struct sim_home_spec {
  char id[SIM_ID_MAX + 1]; /* "" for [defaults] */
  int64_t count;           /* 0: one household named id */
  int line;                /* the section header's line */
  uint32_t set;            /* bit k: key k was given */
  sim_range v[SIM_HK_COUNT];
} sim_home_spec;

/* One household with every parameter resolved (sim_scenario_homes). */
typedef struct sim_home {
  char id[SIM_ID_MAX + 1];
  int64_t load_wh_year; /* synthetic annual consumption */
  int64_t pv_wp;        /* synthetic PV peak power */
  int64_t load_scale_ppm, pv_scale_ppm;
  int64_t battery_wh;     /* usable capacity, 0 = none */
  int64_t charge_w;       /* AC-side charge limit */
  int64_t discharge_w;    /* AC-side discharge limit */
  int64_t efficiency_ppm; /* round trip */
  int64_t reserve_ppm, initial_ppm;
  sim_strategy strategy;
  sim_forecast forecast;
  int64_t buy_limit, sell_limit;         /* µ/kWh */
  int64_t charge_below, discharge_above; /* µ/kWh */
} sim_home;

typedef struct sim_scenario {
  char file[SIM_PATH_MAX]; /* as given, for messages */
  char dir[SIM_PATH_MAX];  /* its directory: relative input paths */
  /* [scenario] */
  char name[SIM_NAME_MAX + 1];
  uint64_t seed;
  bool has_start, has_end;
  int64_t start, end; /* [start, end), ns UTC */
  int64_t interval;   /* ns, divides one day */
  char currency[8];
  /* [market] */
  sim_mechanism market;
  size_t n_compare;
  sim_mechanism compare[SIM_MECHANISMS_MAX];
  /* [tariff] */
  bool has_tariff;
  mkt_band band;
  /* [input] */
  sim_source_kind source;
  char input_path[SIM_PATH_MAX]; /* input.path as written */
  char input[SIM_PATH_MAX];      /* the same, resolved against dir */
  int64_t step;                  /* data resolution, ns (csv) */
  bool timestamps_end;           /* csv: timestamps mark interval ends */
  bool unit_kwh;                 /* csv: values in kWh instead of Wh */
  bool has_utc_offset;
  int32_t utc_offset_s; /* local time of the data (csv, ausgrid) */
  bool controlled_load; /* ausgrid: CL counts as load */
  bool resample_even;   /* split coarse data evenly (else refuse) */
  bool missing_absent;  /* gaps: household absent (else an error) */
  bool verify;          /* ledger: compare with recorded settlements */
  /* [synthetic] */
  int64_t latitude_udeg, longitude_udeg;
  int32_t synth_utc_offset_s;
  int64_t cloudiness_ppm, performance_ratio_ppm, load_noise_ppm;
  /* [defaults], [household ...] */
  sim_home_spec defaults;
  size_t n_specs;
  sim_home_spec *specs; /* in file order */
} sim_scenario;

/*
 * sim_scenario_parse - parse scenario text (`len` bytes; `file` names it
 * in messages and gives the directory for relative paths) and apply the
 * overrides `sets` ("section.key=value", n_sets of them, applied as if
 * they replaced or added that line; may be NULL). Returns 0 and an owned
 * scenario in *out, GL_ECONFIG (errors in `diag`), GL_ETOOBIG (above
 * 1 MiB) or GL_ENOMEM.
 */
int sim_scenario_parse(const char *file, const char *text, size_t len,
                       const char *const *sets, size_t n_sets,
                       sim_scenario **out, sim_diag *diag);

/* sim_scenario_load - read `path` and parse it as above; GL_ENOENT or
 * GL_EIO (in `diag`) when it cannot be read. */
int sim_scenario_load(const char *path, const char *const *sets, size_t n_sets,
                      sim_scenario **out, sim_diag *diag);

/* sim_scenario_free - release; NULL is a no-op. */
void sim_scenario_free(sim_scenario *sc);

/*
 * sim_scenario_format - the canonical text of the scenario: every setting
 * in a fixed order with canonical values (defaults written out, ranges as
 * "lo..hi", `days` as `end`; input.path as written, so the hash does not
 * depend on where the files lie: outputs record the input's own digest).
 * Parsing it gives the same scenario; it is what the scenario hash covers and
 * what a run saves next to its outputs. Returns 0 with an owned NUL-terminated
 * string in *out (free()) or GL_ENOMEM.
 */
int sim_scenario_format(const sim_scenario *sc, char **out);

/*
 * sim_scenario_hash - SHA-256 of sim_scenario_format's text, as 64 lower-
 * case hex digits plus NUL in `hex`. Returns 0, GL_ENOMEM or GL_ECRYPTO.
 */
int sim_scenario_hash(const sim_scenario *sc, char hex[65]);

/*
 * sim_scenario_homes - resolve the households: for synthetic input from
 * the [household] sections (expanding counts); otherwise from `ids` (the
 * data's household ids, n_ids of them, sorted ascending in byte order,
 * no duplicates), where a [household ID] section must name one of them and
 * may not have a count. Each household takes its own section's values,
 * else [defaults], else the built-in defaults; ranges are drawn here, one
 * draw per household and key in key order, households in ascending id
 * order, from a generator seeded by the scenario seed. Output sorted by id
 * (byte order), which is also the market participant order. Returns 0
 * with an owned array (free()) in *out and its length in *n, GL_ECONFIG
 * (diag: unknown ids, duplicates after expansion, no households, more than
 * SIM_HOMES_MAX) or GL_ENOMEM.
 */
int sim_scenario_homes(const sim_scenario *sc, const char *const *ids,
                       size_t n_ids, sim_home **out, size_t *n, sim_diag *diag);

/* Names of the enumerations, as written in scenario files. */
const char *sim_source_name(sim_source_kind k);
const char *sim_strategy_name(sim_strategy s);
const char *sim_forecast_name(sim_forecast f);

/* sim_id_valid - the meter id rule (^[a-z0-9][a-z0-9._-]{0,62}$, not a
 * reserved identity). */
bool sim_id_valid(const char *id, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_SCENARIO_H */
