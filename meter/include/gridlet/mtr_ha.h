/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_ha.h - Home Assistant: the meter agent publishes what it
 * measures and trades to the household's OWN MQTT broker, with Home
 * Assistant's MQTT discovery, so a household sees gridlet in the Energy
 * dashboard it already uses. Optional ([home_assistant] enabled = yes).
 *
 * A separate connection (pr_mqtt, plain TCP or TLS, optional user name
 * and password) to a broker that has nothing to do with the community's:
 * nothing published there is signed, and nothing received there is
 * trusted beyond "Home Assistant came online". Whatever that broker does
 * (down, refusing, slow, flooding) never reaches trading: publishing is
 * fire-and-forget (state is retained and re-sent on every connect), no
 * function here returns a broker error to the agent, the client's queues
 * are small and bounded, and shutdown waits for the broker at most
 * MTR_HA_STOP_WAIT_MS.
 *
 * Topics (node = the meter id with '_' written "__" and '.' "_d", so that
 * it fits Home Assistant's [a-zA-Z0-9_-] and stays unique):
 *   <discovery_prefix>/sensor/<node>/<key>/config   one per sensor,
 *       retained; an empty retained payload removes a sensor that does
 *       not apply to this household (no PV, no battery, no tariffs)
 *   <topic_prefix>/<node>/state         one JSON object with every
 *       sensor's value (null while unknown), retained
 *   <topic_prefix>/<node>/availability  "online" / "offline", retained;
 *       "offline" is also the connection's last will
 *   <discovery_prefix>/status           subscribed: when Home Assistant
 *       announces "online" the discovery and state are published again
 *
 * Sensors (MTR_HA_SENSORS below; unique_id "gridlet_<node>_<key>", stable
 * across restarts): lifetime energy totals (import, export, PV, battery
 * charge and discharge; device_class energy, state_class
 * total_increasing, kWh), the battery's state of charge, today's local
 * trades (bought and sold, kWh, total_increasing: a reset at local
 * midnight is a new cycle), today's savings (device_class monetary,
 * state_class total, last_reset = local midnight) and the community
 * balance (monetary, total).
 *
 * Where the values come from:
 *   - energy totals: the sum of the energies of every reading the agent
 *     made since Home Assistant was enabled (the same interval energies
 *     the community settles; flagged readings count as measured, missing
 *     ones count 0);
 *   - today's trades: local_buy_wh / local_sell_wh of each verified
 *     result whose interval starts today (local time of the machine);
 *   - savings (only with both tariffs configured): for each such result
 *     not flagged missing, what the household received net (`net`) minus
 *     what the same import and export would have netted with the utility
 *     alone:  net - (money(export, feed_in) - money(import, retail)),
 *     money() rounding half to even as the market does (mkt_money);
 *   - balance: the running balance of the newest result.
 * Each result counts once (a per-minute bitmap of the day's intervals),
 * however often it is delivered.
 *
 * Durability: the totals live in the agent's store (key "ha") and are
 * written in the caller's transaction together with the reading or result
 * they come from (mtr_ha_reading / mtr_ha_result inside the transaction,
 * mtr_ha_commit after it), so a crash neither loses nor double-counts.
 *
 * Thread-safety: one thread (the agent's loop), like the agent.
 */
#ifndef GRIDLET_MTR_HA_H
#define GRIDLET_MTR_HA_H

#include "gridlet/clock.h"
#include "gridlet/mtr_config.h"
#include "gridlet/mtr_store.h"
#include "gridlet/pr_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest wait for the broker to take "offline" at shutdown (real ms). */
#define MTR_HA_STOP_WAIT_MS 2000
/* Discovery is re-sent on Home Assistant's "online" at most this often. */
#define MTR_HA_REDISCOVER_NS (10 * GL_NS_PER_SEC)

/* What a sensor needs to apply to a household. */
#define MTR_HA_NEEDS_PV (1u << 0)
#define MTR_HA_NEEDS_BATTERY (1u << 1)
#define MTR_HA_NEEDS_SOC (1u << 2)
#define MTR_HA_NEEDS_TARIFFS (1u << 3)

/* One sensor of the device, as described to Home Assistant. */
typedef struct mtr_ha_sensor {
  const char *key;          /* object id and state JSON key */
  const char *name;         /* entity name, shown after the device's */
  const char *device_class; /* "energy", "monetary", "battery" */
  const char *state_class;  /* "total_increasing", "total", "measurement" */
  const char *unit;         /* "kWh", "%", NULL = the currency */
  int precision;            /* suggested_display_precision */
  bool daily;               /* resets at local midnight (last_reset) */
  uint32_t needs;           /* MTR_HA_NEEDS_* */
} mtr_ha_sensor;

/* mtr_ha_sensors - the table; *n receives its length. */
const mtr_ha_sensor *mtr_ha_sensors(size_t *n);

/* What this household has, for choosing the sensors. */
typedef struct mtr_ha_opts {
  const char *meter_id; /* borrowed; required */
  const char *version;  /* sw_version; borrowed; required */
  bool has_pv, has_battery, has_soc;
} mtr_ha_opts;

typedef struct mtr_ha mtr_ha;

/*
 * mtr_ha_new - build the publisher from a checked configuration with
 * ha_enabled (borrowed for the handle's life), over the agent's `store`
 * (borrowed) and `clock` (borrowed; local days follow it). Loads the
 * saved totals (a missing or unreadable record starts from zero, logged).
 * Creates the MQTT client but does not connect. Returns 0 and an owned
 * handle; GL_EINVAL (a name that does not fit a topic), GL_ENOMEM,
 * GL_EPROTO (the MQTT library refused the options), GL_ESTORE.
 */
int mtr_ha_new(const mtr_config *cfg, const mtr_ha_opts *opts, mtr_store *store,
               gl_clock clock, mtr_ha **out);

/* mtr_ha_free - disconnect (no "offline": see mtr_ha_stop) and release;
 * NULL is a no-op. */
void mtr_ha_free(mtr_ha *h);

/* mtr_ha_start - start connecting (retried in the background forever). */
void mtr_ha_start(mtr_ha *h);

/* mtr_ha_fd - a descriptor that polls readable when mtr_ha_handle has
 * something to do. */
int mtr_ha_fd(const mtr_ha *h);

/*
 * mtr_ha_handle - take the client's events, roll the day over at local
 * midnight and publish what is due. Call after the fd polled readable and
 * at mtr_ha_deadline. Never fails: problems are logged and counted.
 */
void mtr_ha_handle(mtr_ha *h, int64_t now);

/* mtr_ha_deadline - when mtr_ha_handle must run without an event (the
 * next local midnight). */
int64_t mtr_ha_deadline(const mtr_ha *h);

/*
 * mtr_ha_reading - add a reading's energies to the totals, inside the
 * caller's store transaction (the record is written there). Returns 0 or
 * GL_ESTORE. Takes effect with mtr_ha_commit(h, true).
 */
int mtr_ha_reading(mtr_ha *h, const pr_reading *r);

/*
 * mtr_ha_result - count a verified result (today's trades, savings,
 * balance), inside the caller's store transaction. A result counted
 * before, or for an interval that did not start today (at `now`), leaves
 * the day's totals alone. Returns 0 or GL_ESTORE.
 */
int mtr_ha_result(mtr_ha *h, const pr_result *r, int64_t now);

/* mtr_ha_commit - the caller's transaction committed (ok) or was rolled
 * back: keep or drop what mtr_ha_reading / mtr_ha_result staged. */
void mtr_ha_commit(mtr_ha *h, bool ok);

/*
 * mtr_ha_stop - publish "offline" (retained) when connected and wait up
 * to MTR_HA_STOP_WAIT_MS (real time) for the broker to take it. Call
 * before mtr_ha_free when the agent stops.
 */
void mtr_ha_stop(mtr_ha *h);

/* ---- The messages, for tests and docs ------------------------------------
 */

/* mtr_ha_node - the node id for `meter_id` (see above). Returns 0 or
 * GL_ETOOBIG. */
int mtr_ha_node(const char *meter_id, char *buf, size_t cap);

/*
 * mtr_ha_discovery - sensor `i`'s discovery topic and payload (a JSON
 * object; empty when the sensor does not apply: removal). `payload` is
 * owned by the caller (free()). Returns 0, GL_EINVAL (no such sensor),
 * GL_ETOOBIG, GL_ENOMEM.
 */
int mtr_ha_discovery(const mtr_ha *h, size_t i, char *topic, size_t tcap,
                     char **payload);

/* mtr_ha_state - the state JSON (NUL-terminated) into `buf`. Returns 0 or
 * GL_ETOOBIG. */
int mtr_ha_state(const mtr_ha *h, char *buf, size_t cap);

/* The topics this publisher uses (NUL-terminated, owned by the handle). */
const char *mtr_ha_state_topic(const mtr_ha *h);
const char *mtr_ha_availability_topic(const mtr_ha *h);

/*
 * mtr_ha_day - the local calendar day (the machine's time zone, TZ)
 * containing wall time `t`: its start and the next day's start, in ns.
 * Days of 23 or 25 hours (daylight saving changes) come out as such.
 * Returns 0 or GL_ERANGE.
 */
int mtr_ha_day(int64_t t, int64_t *start, int64_t *next);

/* Room for the saved record (store key "ha"). */
#define MTR_HA_RECORD_MAX 320

/*
 * mtr_ha_record_check - whether `len` bytes are a saved record this version
 * reads (the store file is data from disk: a damaged record is refused and
 * the totals start from zero, logged). An accepted record is written back
 * into `out` (*out_len bytes), which gives the same bytes. Returns 0 or
 * GL_EPARSE. Pure; for the fuzz target and tools.
 */
int mtr_ha_record_check(const uint8_t *rec, size_t len,
                        uint8_t out[MTR_HA_RECORD_MAX], size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_HA_H */
