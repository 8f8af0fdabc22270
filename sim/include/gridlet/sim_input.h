/* SPDX-License-Identifier: MIT */
/*
 * gridlet/sim_input.h - where a run's household energies come from: the
 * synthetic generator, a generic long CSV, or the Ausgrid Solar Home
 * Electricity dataset's wide half-hourly CSV, converted to the scenario's
 * interval. (A gridlet ledger is read by gridlet/sim_ledger.h.)
 *
 * ## Long CSV (source = csv)
 *     timestamp,household,load_wh,pv_wh
 *     2026-01-01T00:00:00Z,h01,120,0
 * The header is required, exactly these names (load_kwh,pv_kwh with
 * unit = kwh). `timestamp` is RFC 3339 with a zone ("Z" or "+10:00");
 * without a zone it is local time at the scenario's input.utc_offset
 * (an error when none is set). It marks the start of the data step (input
 * .step, default the interval), or its end with timestamps = end, and must
 * lie on the step grid (UTC). `household` is a meter id. Values are
 * non-negative decimals: Wh (or kWh) over the step; digits below 1 Wh are
 * rounded half to even. Fields may be wrapped in double quotes (no quotes
 * or commas inside). Blank lines and lines starting with '#' are ignored;
 * a UTF-8 byte-order mark before the header is accepted.
 * Row order: either by time (any household order within one timestamp) or
 * grouped by household (each household's rows together, in time order).
 *
 * ## Ausgrid Solar Home Electricity (source = ausgrid)
 * A title line, then the header
 *     Customer,Generator Capacity,Postcode,Consumption Category,date,
 *     0:30,1:00,...,23:30,0:00[,Row Quality]
 * then one row per customer, day and channel: GC general consumption, CL
 * controlled load (off-peak hot water), GG gross generation. Values are
 * kWh per half hour (converted exactly to Wh); the 48 column labels mark
 * interval ENDS, so "0:30" is 00:00-00:30 of that date and "0:00" is
 * 23:30-24:00 of that date. Dates are d/m/yyyy in local time at
 * input.utc_offset (default +10:00, AEST without daylight saving, as the
 * dataset is published). load = GC + CL (CL left out with controlled_load
 * = exclude), pv = GG. The household id is the customer number. Each
 * customer's rows must be together, each channel's days in order; GC and
 * GG are required on every day, CL on every day or never. A Row Quality
 * column, when present, is read but not interpreted.
 *
 * ## Conversion to the interval (both data formats)
 * Data steps (d) and the interval (L) both divide a day. L = d: one step
 * per interval. L a multiple of d: the steps are summed (5-minute data into
 * 15-minute intervals). L a divisor of d: with resample = even (default)
 * each step of v Wh is split into m = d / L parts of floor(v / m) Wh, and
 * the first v mod m parts get one Wh more (half-hourly data into 15-minute
 * intervals: 7 Wh becomes 4 + 3); resample = refuse makes that an error.
 * Anything else is an error.
 *
 * ## Gaps and errors
 * Every malformed row is an error "file:line: what". Duplicates,
 * out-of-order rows and gaps (a household without a value for a step in
 * the run) are errors too, unless missing = absent: then the household is
 * absent in any interval that misses data, settled like a meter whose
 * reading was missing (no local trades). All of a file's problems are
 * found by sim_source_open, before a run starts.
 *
 * Thread-safety: a source is used by one thread at a time.
 */
#ifndef GRIDLET_SIM_INPUT_H
#define GRIDLET_SIM_INPUT_H

#include "gridlet/sim_diag.h"
#include "gridlet/sim_scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Long CSV rows ------------------------------------------------------- */

typedef struct sim_csv_format {
  bool unit_kwh;       /* values in kWh */
  bool timestamps_end; /* timestamps mark step ends */
  int64_t step;        /* ns */
  bool has_utc_offset; /* naive timestamps allowed, at this offset */
  int32_t utc_offset_s;
} sim_csv_format;

typedef struct sim_csv_row {
  int64_t start;         /* step start, UTC ns */
  const char *household; /* into the line: not NUL-terminated */
  size_t household_len;
  int64_t load_wh, pv_wh;
} sim_csv_row;

/*
 * sim_csv_header - check the header line. Returns 0 or GL_EPARSE with the
 * reason in why[cap].
 */
int sim_csv_header(const char *line, size_t len, const sim_csv_format *f,
                   char *why, size_t cap);

/*
 * sim_csv_row_parse - parse one data line. Returns 0, or GL_EPARSE with
 * the reason (naming the field) in why[cap].
 */
int sim_csv_row_parse(const char *line, size_t len, const sim_csv_format *f,
                      sim_csv_row *row, char *why, size_t cap);

/* ---- Ausgrid rows -------------------------------------------------------- */

typedef enum sim_ausgrid_channel {
  SIM_AUSGRID_GC = 0,
  SIM_AUSGRID_CL = 1,
  SIM_AUSGRID_GG = 2,
} sim_ausgrid_channel;

#define SIM_AUSGRID_SLOTS 48

typedef struct sim_ausgrid_row {
  const char *customer; /* into the line */
  size_t customer_len;
  int64_t capacity_w; /* Generator Capacity, kWp -> W */
  sim_ausgrid_channel channel;
  int64_t day;                   /* local civil date, days since 1970-01-01 */
  int64_t wh[SIM_AUSGRID_SLOTS]; /* slot i = [i*30min, (i+1)*30min) local */
} sim_ausgrid_row;

/*
 * sim_ausgrid_header - check a header line; *n_fields receives its number
 * of columns (53, or 54 with Row Quality). Returns 0 or GL_EPARSE.
 */
int sim_ausgrid_header(const char *line, size_t len, int *n_fields, char *why,
                       size_t cap);

/*
 * sim_ausgrid_row_parse - parse one data row of a file whose header had
 * n_fields columns. Returns 0 or GL_EPARSE with the reason in why[cap].
 */
int sim_ausgrid_row_parse(const char *line, size_t len, int n_fields,
                          sim_ausgrid_row *row, char *why, size_t cap);

/* ---- Sources ------------------------------------------------------------- */

typedef struct sim_source sim_source;

/* What a source learned when it was opened. */
typedef struct sim_source_info {
  sim_source_kind kind;
  size_t n_ids;           /* households in the data (0: synthetic) */
  const char *const *ids; /* sorted by byte order; borrowed */
  bool has_span;
  int64_t start, end; /* the data's span [start, end), UTC ns */
  int64_t step;       /* data resolution, ns */
  int64_t rows;       /* data rows read */
  char digest[65];    /* input file digest (research_int.h), "" if none */
} sim_source_info;

/*
 * sim_source_open - open the scenario's input (not ledger) and read it
 * through once, checking every row, the order, duplicates and gaps within
 * the scenario's time span (the data's own span when it gives none).
 * `sc` is borrowed and must outlive the source. Returns 0 and an owned
 * source, GL_EPARSE (errors in `diag`), GL_ENOENT / GL_EIO (cannot read),
 * GL_EINVAL (interval and step do not convert), GL_ENOMEM.
 */
int sim_source_open(const sim_scenario *sc, sim_source **out, sim_diag *diag);

/* sim_source_info_get - what the source found. */
void sim_source_info_get(const sim_source *s, sim_source_info *out);

/*
 * sim_source_start - prepare to deliver the households `homes` (n, as
 * resolved for this source's ids; borrowed) for the intervals of
 * [start, end). Returns 0, GL_EINVAL or GL_ENOMEM.
 */
int sim_source_start(sim_source *s, const sim_home *homes, size_t n,
                     int64_t start, int64_t end);

/*
 * sim_source_next - the interval starting at `t` (the first one, then
 * each following one in turn): load[n], pv[n] in Wh and present[n] (1
 * when the household has data for the whole interval). Returns 0,
 * GL_ESTATE (out of order), GL_EPARSE (the file changed since it was
 * checked; in `diag`) or GL_EIO.
 */
int sim_source_next(sim_source *s, int64_t t, int64_t *load, int64_t *pv,
                    uint8_t *present, sim_diag *diag);

/* sim_source_free - close; NULL is a no-op. */
void sim_source_free(sim_source *s);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_SIM_INPUT_H */
