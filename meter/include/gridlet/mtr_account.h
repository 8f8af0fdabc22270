/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_account.h - interval accounting: from the devices' cumulative
 * counters to one reading per UTC-aligned interval.
 *
 * The agent polls its devices every poll period and feeds each poll here
 * (mtr_account_feed); at each interval boundary mtr_account_next hands out
 * the finished interval. Energies come from counter differences, never
 * from integrating power, so a missed poll loses nothing: the next good
 * poll's difference covers it. The rules, which docs/protocol.md
 * ("Interval accounting") repeats for the aggregator's operators:
 *
 * Attribution. The energy between two good reads of a counter (times t_a <
 * t_b, differing by d Wh) belongs to the interval containing both. Reads
 * are scheduled on every boundary, so normally t_b is the boundary read,
 * taken just after the boundary (within one poll period): then all of d
 * belongs to the interval that just ended. When the reads lie further
 * apart across a boundary (a device or the agent was down), d is split
 * over the intervals in proportion to time (floor, the remainder to the
 * latest one); each interval that receives such a share is flagged
 * `estimated`. Shares that fall on intervals already reported, or on
 * intervals with no read at all, are reported in no interval (a log line
 * says how much; the counters' totals in later readings still include it):
 * an interval with no data is reported `missing`, never invented.
 *
 * Counter anomalies, per difference (each logged once):
 *   - the device identity changed (hal: another device answers): the
 *     difference is unknown: 0 Wh, `counter_reset`;
 *   - the power-of-ten exponent changed: `scale_change`; the difference is
 *     taken in Wh; a decrease smaller than the coarser resolution is 0;
 *   - the counter went down: if it is a 16/32-bit register and the
 *     wrapped difference (2^bits * 10^exp - before + after) is plausible,
 *     `rollover` with that difference; otherwise `counter_reset`, and the
 *     new value counts as the energy since the reset when it is plausible
 *     (else 0);
 *   - the counter rose faster than max_power allows over the elapsed time
 *     (plus one unit of resolution): a jump, `counter_reset`, 0 Wh.
 *
 * Impossible values. A read above 2^53-1 Wh (PR_INT_MAX, the protocol's
 * integer limit; no real counter gets near it) is device garbage: it is
 * ignored like a failed read (a gap for that counter), the interval is
 * flagged `device_offline` and the read is counted (invalid_values). An
 * interval energy above PR_ENERGY_MAX (10^9 Wh; only a register whose one
 * step is worth that much gets there) is reported as PR_ENERGY_MAX,
 * flagged `estimated`, and counted (capped). So every interval handed out
 * passes pr_msg_validate.
 *
 * Coverage. An interval is exact when each grid counter (import, export:
 * what is settled) has a read at its start (the previous boundary read)
 * and at its end. Otherwise (the agent started mid-interval, the grid
 * meter missed the boundary, a gap was split) the reading is flagged
 * `estimated`: it holds what was measured. PV and battery energies are
 * information: their gaps are split and counted the same way but do not
 * make a reading `estimated` (an inverter asleep at night would otherwise
 * flag every exact night reading). If neither
 * grid counter (import, export) has any data in the interval it is
 * `missing`: all energies 0, no state of charge. Any failed poll during an
 * interval flags it `device_offline`.
 *
 * Closing. An interval is handed out at the first poll at or after its end
 * in which every device answered, or close_wait after its end, whichever
 * comes first. Intervals with no data between two handed-out intervals are
 * handed out as `missing`, at most backfill back (older ones are only
 * logged).
 *
 * Clock steps. Between two polls the wall clock should advance as the
 * monotonic clock does; a disagreement larger than step_ns is a step. The
 * difference across the step counts in the interval after the step, and
 * the intervals on both sides are flagged `clock_step`; intervals a
 * forward step jumped over are `missing` + `clock_step`. Time never runs
 * backwards for the accounting: after a backward step the open interval stays
 * open until the wall clock passes its end again (everything measured meanwhile
 * counts in it). Across a restart only a backward step can be seen (the
 * first read is earlier than the last saved one); the time the agent was
 * down is then unknown, so the jump rule is not applied to the first
 * difference after it (the downtime's energy counts, flagged clock_step).
 *
 * Large steps. A step larger than step_horizon (either way; also a clock
 * found behind the saved state by more than that at a restart) is not
 * believed at once: a GPS or NTP glitch of a year must not pin the
 * accounting in the future. Until the wall clock has kept the new offset
 * for step_confirm of monotonic time, polls count at the time the
 * accountant expects (the last read plus the monotonic time since), and
 * their intervals are flagged `clock_step`; a clock that comes back ends
 * it. A step that held is accepted: forward as above; backward by
 * re-anchoring, instead of keeping an interval open for as long as the
 * step: the open intervals of the old time are never reported, what they
 * measured counts in the interval of the new time (flagged clock_step and
 * estimated), and intervals are reported from there on (the agent never
 * makes a second reading for an interval it reported before the step).
 * step_horizon 0 accepts every step at once.
 *
 * State. mtr_account_save writes the whole state (a versioned byte
 * format), mtr_account_load restores it. The agent saves at every handed
 * out interval (in the same transaction as the reading) and every
 * state_save period; a restart mid-interval then gives exactly the same
 * totals, because the first difference after the restart covers the time
 * the agent was down.
 *
 * No allocation after mtr_account_new; no I/O; logs anomalies under the
 * component "account". One thread at a time.
 */
#ifndef GRIDLET_MTR_ACCOUNT_H
#define GRIDLET_MTR_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The counters of a reading, in the reading's field order. */
typedef enum mtr_counter {
  MTR_C_IMPORT = 0, /* grid import */
  MTR_C_EXPORT,     /* grid export */
  MTR_C_PV,         /* PV production */
  MTR_C_CHARGE,     /* into the battery */
  MTR_C_DISCHARGE,  /* out of the battery */
  MTR_C_COUNT
} mtr_counter;

/* mtr_counter_name - "grid import", ... for log lines. */
const char *mtr_counter_name(int c);

/* One counter as read in one poll (from a hal_reading). */
typedef struct mtr_obs {
  bool ok;           /* read in this poll */
  bool absent;       /* the device answered but lacks this counter (not
                        mapped, not implemented): not a gap */
  int64_t value;     /* Wh */
  uint64_t raw;      /* register value */
  uint8_t bits;      /* 16, 32 or 64 for integer registers, 0 for floats */
  int8_t exp;        /* value = raw * 10^exp */
  uint32_t identity; /* the device's identity (hal_sample.identity) */
} mtr_obs;

/* One poll of all devices. */
typedef struct mtr_poll {
  int64_t wall; /* wall-clock time of the poll, ns */
  int64_t mono; /* monotonic time of the poll, ns (same run only) */
  mtr_obs c[MTR_C_COUNT];
  bool soc_ok;
  int64_t soc_bp; /* battery state of charge, 0..10000 */
  bool failed;    /* a configured device could not be read */
} mtr_poll;

/* A finished interval. */
typedef struct mtr_interval {
  int64_t start, end;
  int64_t wh[MTR_C_COUNT]; /* >= 0 */
  bool has_soc;
  int64_t soc_bp;
  bool has_import_total, has_export_total;
  int64_t import_total_wh, export_total_wh; /* registers at the end */
  uint32_t flags;                           /* PR_FLAG_* */
} mtr_interval;

typedef struct mtr_account_cfg {
  int64_t interval_ns;     /* > 0, divides a day */
  int64_t poll_ns;         /* > 0; also the boundary read tolerance */
  int64_t close_wait_ns;   /* >= 0 */
  int64_t step_ns;         /* clock step threshold, > 0 */
  int64_t step_horizon_ns; /* larger steps need confirming; 0 = none */
  int64_t step_confirm_ns; /* how long a large step must hold, >= 0 */
  int64_t backfill_ns;     /* >= 0 */
  int64_t max_power_w;     /* > 0 */
  /* Bit (1 << c) for each counter some device provides; the others are
   * always 0 Wh without a flag (a household without PV or battery). */
  uint32_t counters;
} mtr_account_cfg;

typedef struct mtr_account mtr_account;

/*
 * mtr_account_new - an accountant with no state (the first poll is a
 * baseline). Copies `cfg`. Returns 0 and an owned handle, GL_EINVAL for a
 * bad configuration, GL_ENOMEM.
 */
int mtr_account_new(const mtr_account_cfg *cfg, mtr_account **out);

/* mtr_account_free - release; NULL is a no-op. */
void mtr_account_free(mtr_account *a);

/*
 * mtr_account_copy - make `dst` an exact copy of `src` (both from
 * mtr_account_new with the same configuration). The agent copies the
 * state before mtr_account_next and copies it back when it cannot commit
 * the interval, so the interval is handed out again, never lost.
 */
void mtr_account_copy(mtr_account *dst, const mtr_account *src);

/* Events counted by the accountant (see "Impossible values"). */
typedef struct mtr_account_counts {
  int64_t invalid_values; /* reads above PR_INT_MAX Wh, ignored */
  int64_t capped;         /* interval energies capped at PR_ENERGY_MAX */
} mtr_account_counts;

/* mtr_account_take_counts - the counts since the last call; resets them. */
void mtr_account_take_counts(mtr_account *a, mtr_account_counts *out);

/*
 * mtr_account_feed - account one poll. Reads with ok false are gaps. Never
 * fails; anomalies are flagged and logged.
 */
void mtr_account_feed(mtr_account *a, const mtr_poll *p);

/*
 * mtr_account_next - the next finished interval at wall time `now`, in
 * order (missing ones included). Returns 0 with *out filled, or GL_EAGAIN
 * when none is due. Call it until GL_EAGAIN after each feed. `now` counts
 * at most one poll period past the last poll's time: only polls judge the
 * wall clock (feed polls that failed too, so close_wait expires).
 */
int mtr_account_next(mtr_account *a, int64_t now, mtr_interval *out);

/*
 * mtr_account_deadline - the wall time at which mtr_account_next may hand
 * out an interval without another poll (close_wait expiring), or INT64_MAX.
 */
int64_t mtr_account_deadline(const mtr_account *a);

/* mtr_account_open_start - start of the open interval, or INT64_MIN when
 * no poll has been accounted yet. */
int64_t mtr_account_open_start(const mtr_account *a);

/* Room for any saved state. */
#define MTR_ACCOUNT_STATE_MAX 1024

/*
 * mtr_account_save - the state as bytes into `buf` (`cap` bytes;
 * MTR_ACCOUNT_STATE_MAX suffices). Returns 0 or GL_ETOOBIG.
 */
int mtr_account_save(const mtr_account *a, uint8_t *buf, size_t cap,
                     size_t *len);

/*
 * mtr_account_load - replace the state with saved bytes. Returns 0;
 * GL_EPARSE for bytes that are not a state this version wrote (the state
 * is then reset, as if new, and the caller should log that the counters
 * start from a new baseline); GL_ENOTSUP for a state of another interval
 * length (also reset).
 */
int mtr_account_load(mtr_account *a, const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_ACCOUNT_H */
