/* SPDX-License-Identifier: MIT */
/*
 * gridlet/mtr_config.h - the meter agent's configuration: one INI file,
 * described once in a gl_conf table (gridlet/conf.h) with every setting's
 * section, name, type, default, range and one line of help.
 *
 * Loading is two steps. gl_conf checks each line on its own (unknown keys,
 * ranges, types; errors name file:line:key); mtr_config_check then applies
 * the rules that span settings (the poll period divides the interval, the
 * interval divides a day, names are valid protocol names, ex-ante trading
 * has prices, ...) and derives the values the agent uses (prices in
 * micro-currency per kWh, the log level, the receipt timeout). Neither step
 * touches any file the configuration names: mtr_agent_new opens them, and
 * `gridlet-meter --check-config` does both.
 *
 * docs/install/household.md lists every setting; `gridlet-meter
 * --print-default-config` prints the commented default file from this
 * table, so the two cannot drift apart.
 *
 * Thread-safety: all functions are reentrant; the table is constant.
 */
#ifndef GRIDLET_MTR_CONFIG_H
#define GRIDLET_MTR_CONFIG_H

#include "gridlet/conf.h"
#include "gridlet/pr_ident.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest path or text setting (config lines are limited to 198 bytes). */
#define MTR_TEXT_MAX 192

/* The devices a household may have, in the order quantities are looked
 * up: a quantity comes from the first configured device whose profile
 * maps it. */
typedef enum mtr_role {
  MTR_ROLE_GRID = 0, /* [grid_meter]: the meter at the grid connection */
  MTR_ROLE_INVERTER, /* [inverter]: PV inverter */
  MTR_ROLE_BATTERY,  /* [battery]: battery (storage inverter) */
  MTR_ROLE_COUNT
} mtr_role;

/* mtr_role_name - the config section of a role ("grid_meter", ...). */
const char *mtr_role_name(int role);

typedef struct mtr_device_conf {
  char endpoint[MTR_TEXT_MAX]; /* "" = no such device */
  int64_t unit;                /* Modbus unit id; 0 = the profile's */
  char profile[MTR_TEXT_MAX];  /* shipped profile name or file path */
} mtr_device_conf;

/* When the outbox is full (see docs/protocol.md "Delivery and receipts"). */
typedef enum mtr_full_policy {
  MTR_FULL_DROP_OLDEST = 0, /* drop the oldest queued reading */
  MTR_FULL_DROP_NEWEST = 1, /* keep the queue, drop the new reading */
} mtr_full_policy;

typedef enum mtr_trade_mode {
  MTR_TRADE_EXPOST = 0,     /* standing limits (prefs) only */
  MTR_TRADE_EXANTE = 1,     /* forecast orders before gate closure */
  MTR_TRADE_CONTINUOUS = 2, /* the same orders, for a continuous market */
} mtr_trade_mode;

typedef enum mtr_forecast {
  MTR_FORECAST_PERSISTENCE = 0, /* the same interval forecast_lag ago */
  MTR_FORECAST_NONE = 1,        /* no orders are made */
} mtr_forecast;

typedef struct mtr_config {
  /* [meter] */
  char id[PR_ID_MAX + 1];               /* "" = the certificate's CN */
  char community[PR_COMMUNITY_MAX + 1]; /* required */
  int64_t interval_ns;                  /* delivery interval */
  int64_t poll_ns;                      /* device poll period */
  int64_t close_wait_ns;                /* wait for late boundary polls */
  int64_t state_save_ns;                /* counter state saved this often */
  int64_t clock_step_ns;                /* wall/monotonic disagreement */
  int64_t clock_horizon_ns;             /* larger jumps must hold ... */
  int64_t clock_confirm_ns;             /* ... this long to be believed */
  int64_t backfill_ns;                  /* missing readings reported back */
  int64_t max_power_w;                  /* plausibility of counter jumps */
  char database[MTR_TEXT_MAX];          /* SQLite state file */
  int64_t retention_ns;                 /* results, checks, alarms kept */
  int log_level_choice;                 /* index into the level names */
  mtr_device_conf dev[MTR_ROLE_COUNT];  /* [grid_meter] [inverter] [battery] */
  /* [modbus] */
  int64_t modbus_timeout_ns;
  int64_t modbus_attempts;
  char profile_dir[MTR_TEXT_MAX];
  /* [mqtt] */
  char uri[MTR_TEXT_MAX];
  char ca[MTR_TEXT_MAX], cert[MTR_TEXT_MAX], key[MTR_TEXT_MAX];
  int64_t keepalive_ns, reconnect_min_ns, reconnect_max_ns, session_expiry_ns;
  /* [aggregator] */
  char aggregator_cert[MTR_TEXT_MAX];
  char crl[MTR_TEXT_MAX];     /* "" = none */
  char log_key[MTR_TEXT_MAX]; /* ledger verifier key; "" = no ledger checks */
  int64_t receipt_timeout_ns; /* 0 = 2 intervals + interval/5 */
  int64_t receipt_give_up_ns;
  int64_t proof_timeout_ns;
  bool check_ledger;
  /* [outbox] */
  int64_t outbox_max;
  int when_full; /* mtr_full_policy */
  int64_t inflight;
  /* [trading] */
  int mode;                                     /* mtr_trade_mode */
  char buy_below_text[32], sell_above_text[32]; /* "" = no limit */
  int forecast;                                 /* mtr_forecast */
  int64_t forecast_lag_ns;
  int64_t gate_closure_ns;
  int64_t order_margin_ns;
  int64_t battery_capacity_wh;
  int64_t battery_reserve_pct;
  int64_t battery_power_w; /* most it delivers; required with a capacity */
  /* [home_assistant]: the household's own broker (gridlet/mtr_ha.h) */
  bool ha_enabled;
  char ha_host[MTR_TEXT_MAX]; /* required when enabled */
  int64_t ha_port;            /* 0 = 1883, or 8883 with TLS */
  bool ha_tls;
  char ha_ca[MTR_TEXT_MAX]; /* "" = the system's trust store */
  char ha_username[MTR_TEXT_MAX], ha_password[MTR_TEXT_MAX];
  char ha_client_id[MTR_TEXT_MAX]; /* "" = "gridlet-<meter id>" */
  char ha_discovery_prefix[MTR_TEXT_MAX];
  char ha_topic_prefix[MTR_TEXT_MAX];
  char ha_name[MTR_TEXT_MAX]; /* "" = "gridlet <meter id>" */
  char ha_currency[8];
  char ha_retail_text[32], ha_feed_in_text[32]; /* "" = no savings */

  /* Derived by mtr_config_check (not in the file). */
  bool has_buy_below, has_sell_above;
  int64_t buy_below, sell_above; /* micro-currency per kWh */
  int log_level;                 /* GL_LOG_* */
  int64_t receipt_wait_ns;       /* receipt_timeout, default applied */
  bool ha_has_tariffs;           /* both tariffs set: savings are shown */
  int64_t ha_retail, ha_feed_in; /* micro-currency per kWh */
} mtr_config;

/* mtr_config_items - the table; *n receives its length. */
const gl_conf_item *mtr_config_items(size_t *n);

/*
 * mtr_config_defaults - every setting at its default (required ones
 * empty). Returns 0 (GL_ECONFIG only for a broken table, a bug).
 */
int mtr_config_defaults(mtr_config *cfg);

/*
 * mtr_config_check - the rules across settings, and the derived fields.
 * Each problem is appended to `errs` (may be NULL) as "NAME: section.key:
 * message", where NAME is the file name for messages. Returns 0 or
 * GL_ECONFIG.
 */
int mtr_config_check(mtr_config *cfg, const char *name, gl_conf_errors *errs);

/*
 * mtr_config_load_buffer - gl_conf_load_buffer with the meter's table,
 * then mtr_config_check. Returns 0, GL_ECONFIG (errors in *errs) or the
 * loader's other errors. On error *cfg must not be used.
 */
int mtr_config_load_buffer(mtr_config *cfg, const char *name, const char *text,
                           size_t len, gl_conf_errors *errs);

/* mtr_config_load - the same for the file at `path`; also GL_ENOENT,
 * GL_EIO, GL_ETOOBIG for the file itself. */
int mtr_config_load(mtr_config *cfg, const char *path, gl_conf_errors *errs);

/* mtr_config_write_defaults - the commented default file. 0 or GL_EIO. */
int mtr_config_write_defaults(FILE *out);

/*
 * mtr_config_profile_path - where the profile of device `role` is: the
 * setting itself when it contains a '/', else
 * "<profile_dir>/<name>.profile". Returns 0 or GL_ETOOBIG.
 */
int mtr_config_profile_path(const mtr_config *cfg, int role, char *buf,
                            size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_MTR_CONFIG_H */
