/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_config.h - the aggregator's configuration: one INI file
 * (/etc/gridlet/aggregator.conf), described once in a gl_conf table
 * (gridlet/conf.h) that also writes the commented default file
 * (`gridlet-aggregator --print-default-config`).
 *
 * Loading checks every line against the table (unknown keys, bad values,
 * ranges) and then the rules that span settings (agg_config_check): price
 * band order, interval alignment, gate closure before the horizon, the
 * continuous market's tick grid, a complete location for the PV-at-night
 * check. Every error names the file, line and key, or the settings that
 * disagree.
 *
 * Units in the struct: durations in ns, prices in micro-currency per kWh
 * (the file says "0.30" for 0.30 currency units per kWh), power in W,
 * angles in micro-degrees.
 *
 * Thread-safety: a loaded config is an immutable value; read it anywhere.
 */
#ifndef GRIDLET_AGG_CONFIG_H
#define GRIDLET_AGG_CONFIG_H

#include "gridlet/conf.h"
#include "gridlet/market_interval.h"
#include "gridlet/pr_ident.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGG_PATH_MAX 256
#define AGG_CONFIG_DEFAULT_PATH "/etc/gridlet/aggregator.conf"

typedef struct agg_config {
  /* [community] */
  char community[PR_COMMUNITY_MAX + 1];
  char latitude[24]; /* decimal degrees, "" = unknown */
  char longitude[24];
  /* [mqtt] */
  char mqtt_uri[AGG_PATH_MAX];
  char mqtt_ca[AGG_PATH_MAX];
  char mqtt_cert[AGG_PATH_MAX];
  char mqtt_key[AGG_PATH_MAX];
  int64_t mqtt_keepalive;      /* ns */
  int64_t mqtt_session_expiry; /* ns */
  int64_t mqtt_queue_max;      /* events */
  int64_t mqtt_queue_bytes;    /* payload bytes */
  /* [pki] */
  char pki_ca[AGG_PATH_MAX];  /* trust anchor for meter certificates */
  char pki_crl[AGG_PATH_MAX]; /* "" = none */
  char pki_ca_dir[AGG_PATH_MAX];
  /* [ledger] */
  char ledger_key[AGG_PATH_MAX]; /* the log's signer key file */
  char ledger_origin[256];       /* "" = gridlet/<community> */
  /* [storage] */
  char db_path[AGG_PATH_MAX];
  int64_t retention; /* ns; raw messages older than this are pruned */
  /* [market] */
  int mode;      /* mkt_mode */
  int rule;      /* mkt_rule */
  int rationing; /* mkt_rationing */
  int64_t k_ppm; /* k of the k-double auction, millionths */
  int64_t interval;
  int64_t grace;        /* 0: a fifth of the interval */
  int64_t gate_closure; /* exante/continuous: orders close this long before
                           delivery starts */
  int64_t horizon;      /* orders at most this far ahead */
  int64_t tick;         /* continuous: price step, µ/kWh */
  int64_t retail, feed_in, fee; /* µ/kWh */
  bool allow_self_trade;
  /* [ingest] */
  int64_t workers;     /* verification threads; 0 = one per core */
  int64_t queue;       /* messages in verification at once */
  int64_t batch_max;   /* messages per storage transaction */
  int64_t batch_delay; /* ns a batch may wait before it is committed */
  int64_t max_future;  /* ns a timestamp may lie ahead of our clock */
  int64_t max_age;     /* ns a timestamp may lie behind it */
  int64_t proof_rate;  /* proof requests per meter per minute */
  /* [plausibility] */
  int64_t rated_power;     /* W, default for every meter */
  bool pv_night;           /* reject PV production at night */
  int64_t night_elev_mdeg; /* "night" below this sun elevation, milli-deg */
  int64_t night_tolerance; /* Wh of PV allowed at night (sensor noise) */
  /* [http] */
  char http_listen[64]; /* "127.0.0.1:8480"; "" = no HTTP API */
  /* [log] */
  int log_level; /* 0 error .. 4 debug: gl_log level GL_LOG_ERROR + this */

  /* Derived by agg_config_check (not in the file). */
  int64_t grace_eff; /* ns */
  bool has_location;
  int64_t lat_udeg, lon_udeg; /* micro-degrees */
  char origin[256];           /* the ledger origin in force */
} agg_config;

/* The table behind the file; `n` receives its length. */
const gl_conf_item *agg_config_items(size_t *n);

/* agg_config_defaults - every setting at its default (community empty). */
void agg_config_defaults(agg_config *cfg);

/*
 * agg_config_load - defaults, then the file at `path`, then
 * agg_config_check. Returns 0, GL_ECONFIG (errors in *errs, which may be
 * NULL; cross-setting errors are added to it), GL_ENOENT or GL_EIO.
 */
int agg_config_load(const char *path, agg_config *cfg, gl_conf_errors *errs);

/*
 * agg_config_check - the rules spanning settings, and the derived fields.
 * Each problem is appended to *errs (may be NULL). Returns 0 or
 * GL_ECONFIG.
 */
int agg_config_check(agg_config *cfg, gl_conf_errors *errs);

/* agg_config_write_defaults - the commented default file. 0 or GL_EIO. */
int agg_config_write_defaults(FILE *out);

/* agg_config_market - the market pipeline settings the config describes. */
void agg_config_market(const agg_config *cfg, mkt_interval_config *out);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_CONFIG_H */
