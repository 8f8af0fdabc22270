/* SPDX-License-Identifier: MIT */
/*
 * agent.c - the meter agent's objects and its one event loop. See
 * gridlet/mtr_agent.h. Sections: keys and certificates, building,
 * signing helpers, readings, status, trading, messages from the broker,
 * proof requests, the loop.
 */
#include "gridlet/mtr_agent.h"

#include "gridlet/crypto.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/mtr_account.h"
#include "gridlet/mtr_audit.h"
#include "gridlet/mtr_devices.h"
#include "gridlet/mtr_ha.h"
#include "gridlet/mtr_pub.h"
#include "gridlet/mtr_store.h"
#include "gridlet/mtr_trading.h"
#include "gridlet/pki_cert.h"
#include "gridlet/pki_identity.h"
#include "gridlet/pki_trust.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_seal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifndef MTR_VERSION
#define MTR_VERSION "0.1.0"
#endif

#define COMP "meter"
#define SEC GL_NS_PER_SEC
#define DAY (INT64_C(86400) * SEC)
/* Longest real sleep of the loop, so a stepped clock is noticed soon. */
#define MAX_WAIT_MS 5000
/* Room for why a message could not be signed (a pr_diag message). */
#define WHY_MAX 256

struct mtr_agent {
  mtr_config cfg;
  gl_clock clock;
  gl_rand rand;
  char id[PR_ID_MAX + 1];
  gl_ed25519_key key;
  pr_key_entry keys[1];
  pr_key_table table;
  pr_keyring ring;
  lg_vkey log_key;
  bool has_log_key;
  mtr_store *store;
  mtr_devices *dev;
  mtr_account *acc;
  mtr_account *acc_snap; /* the accountant before mtr_account_next */
  int lock_fd;           /* flock on "<database>.lock" while we run */
  mtr_audit *audit;
  mtr_pub *pub;
  pr_mqtt *mqtt;
  mtr_ha *ha; /* NULL unless [home_assistant] enabled */
  char t_reading[PR_TOPIC_MAX], t_order[PR_TOPIC_MAX], t_status[PR_TOPIC_MAX],
      t_proof[PR_TOPIC_MAX], t_proof_resp[PR_TOPIC_MAX], f_inbox[PR_TOPIC_MAX],
      f_public[PR_TOPIC_MAX];
  int stop_efd;
  atomic_int stopping; /* set by mtr_agent_stop from any thread */
  bool connected;
  /* Whether the aggregator's certificate (and the CA, CRL) could be
   * loaded and verified: without it results are rejected. */
  bool trusted, untrusted_logged;
  int64_t next_trust; /* monotonic: when to try again while untrusted */
  /* Monotonic times: a wall clock that jumps must not stop the reads. */
  int64_t next_poll, next_save, next_prune;
  int64_t order_next; /* wall time: the next interval to order for */
  bool has_soc;
  int64_t soc;
  int64_t soc_mono;      /* monotonic time of the last good SoC read */
  mtr_battery_plan plan; /* what orders count on from the battery */
  int64_t will_mono;     /* monotonic time the current will was signed */
  bool prefs_done;       /* the broker has our current prefs */
  int64_t next_prefs;    /* monotonic: when to try queueing them again */
  /* A signed proof request that could not be published yet. */
  bool req_pending;
  mtr_check_row req_check;
  int64_t req_seq;
  size_t req_len;
  uint8_t req_buf[MTR_MSG_MAX];
  /* scratch */
  pr_msg msg;
  uint8_t buf[PR_SEAL_MAX];
  mtr_outbox_row orow;
  mtr_reading_row rrow;
};

/* ---- Keys and certificates -------------------------------------------------
 */

__attribute__((format(printf, 2, 3))) static void
add_error(gl_conf_errors *errs, const char *fmt, ...) {
  char msg[GL_CONF_ERROR_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (errs) {
    if (errs->count < GL_CONF_MAX_ERRORS)
      snprintf(errs->msg[errs->count], GL_CONF_ERROR_LEN, "%s", msg);
    errs->count++;
  } else {
    GL_ERROR(COMP, "%s", msg);
  }
}

/* The aggregator's key, from its certificate checked against the CA (and
 * CRL). Certificates are about real time, whatever clock runs the
 * intervals. Returns 0 or the pki error (GL_EEXPIRED: a certificate or the
 * CRL is not valid at this time). */
static int load_aggregator(const mtr_config *cfg, uint8_t pub[32],
                           gl_conf_errors *errs) {
  gl_clock real = gl_clock_real();
  pki_why why = {{0}};
  pki_trust *trust = NULL;
  pki_cert *cert = NULL;
  int rc = pki_trust_load(cfg->ca, cfg->crl[0] ? cfg->crl : NULL, &real, &trust,
                          &why);
  if (rc) {
    add_error(errs, "mqtt.ca / aggregator.crl: %s",
              why.text[0] ? why.text : gl_strerror(rc));
    return rc;
  }
  rc = pki_cert_load_file(cfg->aggregator_cert, &cert, &why);
  if (!rc)
    rc = pki_trust_verify(trust, cert, PKI_ROLE_AGGREGATOR, &real, NULL, &why);
  if (!rc)
    rc = pki_cert_ed25519_pub(cert, pub, &why);
  if (rc)
    add_error(errs, "aggregator.cert: %s: %s", cfg->aggregator_cert,
              why.text[0] ? why.text : gl_strerror(rc));
  pki_cert_free(cert);
  pki_trust_free(trust);
  return rc;
}

/* The meter's own identity and key, and the ledger's log key: without
 * these the agent cannot work (GL_ECONFIG). */
static int load_keys(const mtr_config *cfg, char id[PR_ID_MAX + 1],
                     gl_ed25519_key *key, lg_vkey *log_key, bool *has_log_key,
                     gl_conf_errors *errs) {
  bool bad = false;
  pki_why why = {{0}};
  pki_identity *ident = NULL;
  int rc = pki_identity_load(cfg->cert, cfg->key, &ident, &why);
  if (rc) {
    add_error(errs, "mqtt.cert / mqtt.key: %s",
              why.text[0] ? why.text : gl_strerror(rc));
    bad = true;
  } else {
    const char *name = pki_identity_name(ident);
    if (!pr_meter_id_valid(name, strlen(name))) {
      add_error(errs,
                "mqtt.cert: the certificate's name \"%s\" is not a "
                "meter id",
                name);
      bad = true;
    } else if (cfg->id[0] && strcmp(cfg->id, name) != 0) {
      add_error(errs,
                "meter.id: \"%s\" but the certificate is for \"%s\" (leave "
                "meter.id empty to use the certificate's)",
                cfg->id, name);
      bad = true;
    } else {
      snprintf(id, PR_ID_MAX + 1, "%s", name);
    }
    if (pki_identity_ed25519(ident, key)) {
      add_error(errs, "mqtt.key: the meter's key must be Ed25519 to sign "
                      "readings (make one with gridlet-meter keygen)");
      bad = true;
    }
    pki_identity_free(ident);
  }
  *has_log_key = false;
  if (cfg->log_key[0]) {
    if (lg_vkey_parse(cfg->log_key, strlen(cfg->log_key), log_key) ||
        log_key->type != LG_SIG_ED25519) {
      add_error(errs,
                "aggregator.log_key: \"%s\" is not a ledger verifier "
                "key (name+hexid+base64, Ed25519)",
                cfg->log_key);
      bad = true;
    } else {
      *has_log_key = true;
    }
  }
  return bad ? GL_ECONFIG : 0;
}

int mtr_agent_check(const mtr_config *cfg, gl_clock clock, gl_conf_errors *errs,
                    gl_conf_errors *warnings) {
  char id[PR_ID_MAX + 1];
  gl_ed25519_key key;
  uint8_t pub[32];
  lg_vkey lk;
  bool has_lk;
  int rc = load_keys(cfg, id, &key, &lk, &has_lk, errs);
  gl_wipe(&key, sizeof key);
  /* A certificate or CRL that is not valid at this time is fixed by time
   * or by the operator, and the agent runs meanwhile (rejecting results):
   * a warning. A wrong or missing file is an error. */
  gl_conf_errors ae = {0};
  int ra = load_aggregator(cfg, pub, &ae);
  gl_conf_errors *to = ra == GL_EEXPIRED && warnings ? warnings : errs;
  for (int i = 0; i < ae.count && i < GL_CONF_MAX_ERRORS; i++)
    add_error(to, "%s", ae.msg[i]);
  if (ra && to == errs)
    rc = GL_ECONFIG;
  mtr_devices *d = NULL;
  int rd = mtr_devices_new(cfg, clock, gl_rand_system(), &d, errs);
  mtr_devices_free(d);
  int rh = 0;
  if (cfg->ha_enabled && cfg->ha_tls && cfg->ha_ca[0] &&
      access(cfg->ha_ca, R_OK) != 0) {
    add_error(errs, "home_assistant.ca: cannot read %s: %s", cfg->ha_ca,
              strerror(errno));
    rh = GL_ECONFIG;
  }
  return rc || rd || rh ? GL_ECONFIG : 0;
}

/* ---- Signing helpers -------------------------------------------------------
 */

static int64_t whole_second(int64_t t) {
  return gl_floor_div(t, SEC) * SEC;
}

/* Sign a->msg into a->buf. A message that cannot be signed (a value out
 * of the protocol's range) is an error for this message only: the caller
 * raises an alarm and carries on; `why` (may be NULL) says what was
 * wrong. */
static int seal_msg(mtr_agent *a, size_t *len, char *why, size_t cap) {
  pr_diag d = {0};
  int rc = pr_seal(&a->msg, &a->key, a->buf, sizeof a->buf, len, &d);
  if (rc) {
    GL_ERROR(COMP, "cannot sign a %s message: %s", pr_type_name(a->msg.type),
             d.msg[0] ? d.msg : gl_strerror(rc));
    if (why)
      snprintf(why, cap, "%s", d.msg[0] ? d.msg : gl_strerror(rc));
  }
  return rc;
}

/* A message of ours could not be signed: an alarm, never a stop. */
static int seal_alarm(mtr_agent *a, int64_t now, const char *what,
                      const char *why) {
  int rc =
      mtr_audit_alarm(a->store, now, "seal",
                      "%s cannot be signed (%s); it is not sent", what, why);
  return rc ? rc : mtr_store_counter_add(a->store, "seal_failed", 1);
}

/* The next sequence number, never below the wall clock in milliseconds:
 * a database restored from a backup then cannot reuse a number the
 * aggregator has seen (docs/protocol.md, "Sequence numbers"). Inside the
 * caller's transaction. */
static int next_seq(mtr_agent *a, int64_t *seq) {
  int64_t floor = gl_floor_div(gl_clock_now(&a->clock), GL_NS_PER_MS);
  return mtr_store_next_seq(a->store, floor, seq);
}

/* A sequence number committed on its own (messages that are not queued). */
static int own_seq(mtr_agent *a, int64_t *seq) {
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = next_seq(a, seq);
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  return mtr_store_commit(a->store);
}

/* ---- Status
 * ------------------------------------------------------------------
 */

static int build_status(mtr_agent *a, pr_state state, size_t *len) {
  int64_t seq;
  int rc = own_seq(a, &seq);
  if (rc)
    return rc;
  int64_t now = gl_clock_now(&a->clock);
  pr_msg_init(&a->msg, PR_MSG_STATUS, a->id, seq, whole_second(now));
  a->msg.status.state = state;
  if (state == PR_STATE_ONLINE) {
    int64_t n = 0;
    if (!mtr_store_outbox_count(a->store, &n)) {
      a->msg.status.has_outbox = true;
      a->msg.status.outbox = n;
    }
  }
  if (mtr_store_reading_last(a->store, &a->rrow) == 0) {
    a->msg.status.has_last_reading = true;
    a->msg.status.last_reading.seq = a->rrow.seq;
    a->msg.status.last_reading.start = a->rrow.r.start;
    a->msg.status.last_reading.end = a->rrow.r.end;
  }
  snprintf(a->msg.status.version, sizeof a->msg.status.version, "%s",
           MTR_VERSION);
  return seal_msg(a, len, NULL, 0);
}

static int publish_status(mtr_agent *a, pr_state state) {
  size_t len;
  int rc = build_status(a, state, &len);
  if (rc)
    return rc == GL_ESTORE ? rc : 0;
  pr_mqtt_msg m = {.topic = a->t_status,
                   .payload = a->buf,
                   .payload_len = len,
                   .qos = 1,
                   .retain = true};
  rc = mtr_pub_direct(a->pub, &m);
  if (rc && rc != GL_ECONN && rc != GL_EAGAIN)
    GL_WARN(COMP, "cannot publish our status: %s", gl_strerror(rc));
  return 0;
}

/* Sign a fresh "offline" status for the broker to hold as our will. */
/*
 * Sign a fresh "offline" status for the broker to hold as our will.
 * pr_mqtt_set_will (thread-safe) hands it to the next connection attempt;
 * the connection in progress keeps the will it was opened with (MQTT
 * cannot change it). It is renewed:
 *   - right after each successful connection, so a fresh one is ready for
 *     the next even if paho reconnects on its own thread before this loop
 *     sees the loss (it may be in a long Modbus poll);
 *   - when the loss is seen, and while reconnecting at most every
 *     WILL_REFRESH, so after an outage the will is at most that old;
 *   - every WILL_MAX_AGE while connected, for the same reason.
 */
#define WILL_REFRESH (INT64_C(600) * SEC)
#define WILL_MAX_AGE (INT64_C(3600) * SEC)

static int renew_will(mtr_agent *a, bool initial, size_t *len) {
  int rc = build_status(a, PR_STATE_OFFLINE, len);
  if (rc)
    return rc;
  a->will_mono = gl_clock_monotonic(&a->clock);
  if (initial)
    return 0;
  return pr_mqtt_set_will(a->mqtt, a->t_status, a->buf, *len, true, 1);
}

/* Renew the will when it is older than `age`. */
static int renew_will_older(mtr_agent *a, int64_t age) {
  if (gl_clock_monotonic(&a->clock) - a->will_mono <= age)
    return 0;
  size_t len;
  int rc = renew_will(a, false, &len);
  return rc == GL_ESTORE ? rc : 0;
}

/* ---- Trust in the aggregator
 * ----------------------------------------------------------------
 *
 * The meter's job, making and sending readings, does not depend on the
 * aggregator's certificate. An expired aggregator.pem, a CRL past its next
 * update or a clock before a certificate's validity only stop the meter
 * from believing results: it keeps metering, rejects what the aggregator
 * sends (logged, counted: rejected_untrusted; status shows why) and loads
 * the files again every TRUST_RETRY and on SIGHUP.
 */

#define TRUST_RETRY (INT64_C(600) * SEC)

enum { TRUST_START, TRUST_SIGHUP, TRUST_RETRY_TICK };

static int refresh_trust(mtr_agent *a, int when) {
  uint8_t pub[32];
  gl_conf_errors errs = {0};
  int rc = load_aggregator(&a->cfg, pub, &errs);
  a->next_trust = gl_clock_monotonic(&a->clock) + TRUST_RETRY;
  if (!rc) {
    memcpy(a->keys[0].pub, pub, sizeof pub);
    if (when == TRUST_SIGHUP)
      GL_NOTICE(COMP, "SIGHUP: aggregator certificate and CRL reloaded");
    else if (!a->trusted && when != TRUST_START)
      GL_NOTICE(COMP, "the aggregator's certificate is valid now: results "
                      "are accepted again");
    a->trusted = true;
    a->untrusted_logged = false;
    return mtr_store_put_blob(a->store, MTR_KEY_TRUST, "", 0);
  }
  if (a->trusted && when == TRUST_SIGHUP) {
    gl_conf_log_errors(&errs, COMP);
    GL_ERROR(COMP, "SIGHUP: keeping the aggregator certificate loaded before");
    return 0;
  }
  if (when != TRUST_RETRY_TICK) {
    gl_conf_log_errors(&errs, COMP);
    GL_ERROR(COMP,
             "the aggregator's certificate cannot be trusted: readings are "
             "made and sent as always, but results are rejected until it is "
             "fixed (tried again every %lld minutes and on SIGHUP)",
             (long long)(TRUST_RETRY / (60 * SEC)));
  }
  a->trusted = false;
  const char *why = errs.count ? errs.msg[0] : gl_strerror(rc);
  return mtr_store_put_blob(a->store, MTR_KEY_TRUST, why, strlen(why));
}

/* ---- Building
 * ----------------------------------------------------------------
 */

static int topics(mtr_agent *a) {
  const char *c = a->cfg.community, *id = a->id;
  int rc = pr_topic_build(PR_TOPIC_READING, c, id, a->t_reading, PR_TOPIC_MAX);
  if (!rc)
    rc = pr_topic_build(PR_TOPIC_ORDER, c, id, a->t_order, PR_TOPIC_MAX);
  if (!rc)
    rc = pr_topic_build(PR_TOPIC_STATUS, c, id, a->t_status, PR_TOPIC_MAX);
  if (!rc)
    rc =
        pr_topic_build(PR_TOPIC_PROOF_REQUEST, c, id, a->t_proof, PR_TOPIC_MAX);
  if (!rc)
    rc = pr_topic_build(PR_TOPIC_PROOF_RESPONSE, c, id, a->t_proof_resp,
                        PR_TOPIC_MAX);
  if (!rc)
    rc = pr_topic_filter_inbox(c, id, a->f_inbox, PR_TOPIC_MAX);
  if (!rc)
    rc = pr_topic_filter_public(c, a->f_public, PR_TOPIC_MAX);
  return rc;
}

static int make_mqtt(mtr_agent *a) {
  size_t len;
  int rc = renew_will(a, true, &len);
  if (rc)
    return rc;
  const mtr_config *c = &a->cfg;
  pr_mqtt_config mc = {
      .uri = c->uri,
      .client_id = a->id,
      .ca_file = c->ca,
      .cert_file = c->cert,
      .key_file = c->key,
      .keepalive_s = (int)(c->keepalive_ns / SEC),
      .clean_start = false,
      .session_expiry_s = (uint32_t)(c->session_expiry_ns / SEC),
      .will_topic = a->t_status,
      .will_payload = a->buf,
      .will_len = len,
      .will_retain = true,
      .will_qos = 1,
      .reconnect_min_ms = (int)(c->reconnect_min_ns / GL_NS_PER_MS),
      .reconnect_max_ms = (int)(c->reconnect_max_ns / GL_NS_PER_MS),
      .rand = &a->rand,
  };
  rc = pr_mqtt_new(&mc, &a->mqtt);
  if (rc) {
    GL_ERROR(COMP, "cannot create the MQTT client for %s: %s", c->uri,
             gl_strerror(rc));
    return rc;
  }
  rc = pr_mqtt_subscribe(a->mqtt, a->f_inbox, 1);
  if (!rc)
    rc = pr_mqtt_subscribe(a->mqtt, a->f_public, 1);
  return rc;
}

static int on_acked(void *ctx, int kind, int64_t seq);

int mtr_agent_new(const mtr_config *cfg, gl_clock clock, gl_rand rand,
                  mtr_agent **out, gl_conf_errors *errs) {
  *out = NULL;
  mtr_agent *a = calloc(1, sizeof *a);
  if (!a)
    return GL_ENOMEM;
  a->cfg = *cfg;
  a->clock = clock;
  a->rand = rand;
  a->stop_efd = -1;
  a->lock_fd = -1;
  atomic_init(&a->stopping, 0);
  int rc = load_keys(cfg, a->id, &a->key, &a->log_key, &a->has_log_key, errs);
  if (rc)
    goto fail;
  a->keys[0].kid = PR_AGGREGATOR_ID;
  a->table = (pr_key_table){a->keys, 1};
  a->ring = pr_key_table_keyring(&a->table);
  if (!a->has_log_key)
    GL_NOTICE(COMP, "no ledger log key configured (aggregator.log_key): "
                    "results are checked, the ledger is not");
  rc = topics(a);
  if (rc) {
    add_error(errs, "meter.community: cannot build topics");
    goto fail;
  }
  /* One agent per database: a second one (started by hand next to the
   * service) would hand out the same intervals with other seqs. */
  rc = mtr_store_agent_lock(cfg->database, &a->lock_fd);
  if (rc == GL_EEXIST) {
    add_error(errs,
              "meter.database: %s is in use by another gridlet-meter agent "
              "(see gridlet-meter status)",
              cfg->database);
    rc = GL_ECONFLICT;
    goto fail;
  }
  if (rc) {
    add_error(errs, "meter.database: cannot lock %s: %s", cfg->database,
              gl_strerror(rc));
    goto fail;
  }
  mtr_store_opts so = {
      .create = true, .meter_id = a->id, .community = cfg->community};
  rc = mtr_store_open(cfg->database, &so, &a->store);
  if (rc) {
    add_error(errs, "meter.database: cannot use %s: %s", cfg->database,
              gl_strerror(rc));
    goto fail;
  }
  rc = refresh_trust(a, TRUST_START);
  if (rc)
    goto fail;
  rc = mtr_devices_new(cfg, clock, rand, &a->dev, errs);
  if (rc)
    goto fail;
  mtr_account_cfg ac = {.interval_ns = cfg->interval_ns,
                        .poll_ns = cfg->poll_ns,
                        .close_wait_ns = cfg->close_wait_ns,
                        .step_ns = cfg->clock_step_ns,
                        .step_horizon_ns = cfg->clock_horizon_ns,
                        .step_confirm_ns = cfg->clock_confirm_ns,
                        .backfill_ns = cfg->backfill_ns,
                        .max_power_w = cfg->max_power_w,
                        .counters = mtr_devices_counters(a->dev)};
  rc = mtr_account_new(&ac, &a->acc);
  if (!rc)
    rc = mtr_account_new(&ac, &a->acc_snap);
  if (rc)
    goto fail;
  uint8_t state[MTR_ACCOUNT_STATE_MAX];
  size_t slen;
  int g =
      mtr_store_get_blob(a->store, MTR_KEY_ACCOUNT, state, sizeof state, &slen);
  if (g == 0) {
    int l = mtr_account_load(a->acc, state, slen);
    if (l == GL_ENOTSUP)
      GL_WARN(COMP, "the saved counter state is for another interval length; "
                    "starting from a new baseline");
    else if (l)
      GL_WARN(COMP, "the saved counter state is unreadable; starting from a "
                    "new baseline");
  } else if (g != GL_ENOENT) {
    rc = g;
    goto fail;
  }
  mtr_audit_cfg auc = {.meter_id = a->id,
                       .log_key = a->has_log_key ? &a->log_key : NULL,
                       .check_ledger = cfg->check_ledger,
                       .proof_timeout_ns = cfg->proof_timeout_ns};
  rc = mtr_audit_new(&auc, a->store, &a->audit);
  if (rc)
    goto fail;
  rc = make_mqtt(a);
  if (rc)
    goto fail;
  mtr_pub_cfg pc = {.outbox_max = cfg->outbox_max,
                    .when_full = cfg->when_full,
                    .inflight = (int)cfg->inflight,
                    .interval_ns = cfg->interval_ns,
                    .receipt_wait_ns = cfg->receipt_wait_ns,
                    .give_up_ns = cfg->receipt_give_up_ns,
                    .on_acked = on_acked,
                    .ctx = a};
  rc = mtr_pub_new(&pc, a->store, a->mqtt, &a->pub);
  if (rc)
    goto fail;
  if (cfg->ha_enabled) {
    uint32_t have = mtr_devices_counters(a->dev);
    mtr_ha_opts ho = {.meter_id = a->id,
                      .version = MTR_VERSION,
                      .has_pv = (have & (1u << MTR_C_PV)) != 0,
                      .has_battery = (have & ((1u << MTR_C_CHARGE) |
                                              (1u << MTR_C_DISCHARGE))) != 0,
                      .has_soc = mtr_devices_has_soc(a->dev)};
    rc = mtr_ha_new(&a->cfg, &ho, a->store, clock, &a->ha);
    if (rc) {
      add_error(errs, "home_assistant: cannot set up the connection to %s: %s",
                cfg->ha_host, gl_strerror(rc));
      goto fail;
    }
  }
  a->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (a->stop_efd < 0) {
    rc = GL_EIO;
    goto fail;
  }
  *out = a;
  return 0;
fail:
  mtr_agent_free(a);
  return rc == GL_ENOMEM || rc == GL_ESTORE || rc == GL_ECONFLICT ? rc
                                                                  : GL_ECONFIG;
}

void mtr_agent_free(mtr_agent *a) {
  if (!a)
    return;
  mtr_ha_free(a->ha);
  pr_mqtt_free(a->mqtt);
  mtr_pub_free(a->pub);
  mtr_audit_free(a->audit);
  mtr_account_free(a->acc);
  mtr_account_free(a->acc_snap);
  mtr_devices_free(a->dev);
  mtr_store_free(a->store);
  if (a->stop_efd >= 0)
    close(a->stop_efd);
  if (a->lock_fd >= 0)
    close(a->lock_fd);
  gl_wipe(&a->key, sizeof a->key);
  free(a);
}

const char *mtr_agent_meter_id(const mtr_agent *a) {
  return a->id;
}

void mtr_agent_stop(mtr_agent *a) {
  atomic_store(&a->stopping, 1);
  uint64_t one = 1;
  if (write(a->stop_efd, &one, sizeof one) < 0) {
    /* The flag alone stops the loop within MAX_WAIT_MS. */
  }
}

/* ---- Readings
 * ----------------------------------------------------------------
 */

/* The Home Assistant totals staged in a transaction follow its outcome. */
static void ha_commit(mtr_agent *a, bool ok) {
  if (a->ha)
    mtr_ha_commit(a->ha, ok);
}

static int save_account(mtr_agent *a) {
  uint8_t state[MTR_ACCOUNT_STATE_MAX];
  size_t len;
  int rc = mtr_account_save(a->acc, state, sizeof state, &len);
  if (!rc)
    rc = mtr_store_put_blob(a->store, MTR_KEY_ACCOUNT, state, len);
  return rc;
}

/* The real clock's time now (the heartbeat's second half; certificates
 * are checked against it too). */
static int64_t real_now(void) {
  gl_clock real = gl_clock_real();
  return gl_clock_now(&real);
}

/*
 * The periodic save: the counter state and the heartbeat (the agent's
 * clock and the real clock now) in one commit. `status` estimates the
 * agent's time from the pair, so it judges an agent on an accelerated
 * clock by that clock, and sees a hung agent by the real one.
 */
static int save_periodic(mtr_agent *a, int64_t now) {
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = save_account(a);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE, now);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE_REAL, real_now());
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  return mtr_store_commit(a->store);
}

static void log_reading(const pr_reading *r, int64_t seq, bool queued) {
  char t[GL_TIME_STR_MAX], flags[160] = "", soc[64] = "";
  size_t o = 0;
  for (uint32_t bit = 1; bit <= PR_FLAG_MISSING; bit <<= 1)
    if (r->flags & bit)
      o += (size_t)snprintf(flags + o, sizeof flags - o, "%s%s",
                            o ? ", " : " [", pr_flag_name(bit));
  if (o)
    snprintf(flags + o, sizeof flags - o, "]");
  if (r->has_soc_bp)
    snprintf(soc, sizeof soc, ", battery at %lld.%lld %%",
             (long long)(r->soc_bp / 100), (long long)(r->soc_bp % 100 / 10));
  if (r->flags & PR_FLAG_MISSING) {
    GL_WARN(COMP,
            "reading for %s: no data from the grid meter, reported as "
            "missing%s (seq %lld)",
            gl_time_format(r->start, t), flags, (long long)seq);
    return;
  }
  gl_log(queued ? GL_LOG_INFO : GL_LOG_ERROR, COMP,
         "reading for %s: imported %lld Wh, exported %lld Wh, PV %lld Wh, "
         "battery charged %lld Wh and discharged %lld Wh%s%s (seq %lld)%s",
         gl_time_format(r->start, t), (long long)r->import_wh,
         (long long)r->export_wh, (long long)r->pv_wh, (long long)r->charge_wh,
         (long long)r->discharge_wh, soc, flags, (long long)seq,
         queued ? "" : ": NOT QUEUED, the outbox is full");
}

/* The reading message of `iv` in a->msg. */
static void make_reading(mtr_agent *a, const mtr_interval *iv, int64_t seq,
                         int64_t now) {
  pr_msg *m = &a->msg;
  pr_msg_init(m, PR_MSG_READING, a->id, seq, whole_second(now));
  pr_reading *r = &m->reading;
  r->start = iv->start;
  r->end = iv->end;
  r->import_wh = iv->wh[MTR_C_IMPORT];
  r->export_wh = iv->wh[MTR_C_EXPORT];
  r->pv_wh = iv->wh[MTR_C_PV];
  r->charge_wh = iv->wh[MTR_C_CHARGE];
  r->discharge_wh = iv->wh[MTR_C_DISCHARGE];
  r->has_soc_bp = iv->has_soc;
  r->soc_bp = iv->soc_bp;
  r->has_import_total_wh = iv->has_import_total;
  r->import_total_wh = iv->import_total_wh;
  r->has_export_total_wh = iv->has_export_total;
  r->export_total_wh = iv->export_total_wh;
  r->flags = iv->flags;
}

/* The accountant's counts into the store's counters. */
static int store_account_counts(mtr_agent *a) {
  mtr_account_counts k;
  mtr_account_take_counts(a->acc, &k);
  int rc = 0;
  if (k.invalid_values)
    rc = mtr_store_counter_add(a->store, "counter_invalid", k.invalid_values);
  if (!rc && k.capped)
    rc = mtr_store_counter_add(a->store, "energy_capped", k.capped);
  return rc;
}

/*
 * Sign the reading of `iv`, queue it and record it, with the accountant's
 * state, in one transaction. Returns 0 once committed (also when the
 * interval is deliberately not sent), or the store's error: then nothing
 * was committed and the caller gives the interval back to the accountant.
 */
static int emit_reading(mtr_agent *a, const mtr_interval *iv, int64_t now) {
  int rc = mtr_store_begin(a->store);
  if (rc)
    return rc;
  int64_t seq = 0;
  size_t len = 0;
  bool admitted = false, made = false;
  char t[GL_TIME_STR_MAX], why[WHY_MAX];
  rc = store_account_counts(a);
  if (rc)
    goto out;
  /* One reading per interval, ever: a wall clock that went back across
   * what was reported must not make a second, different one. */
  rc = mtr_store_reading_by_start(a->store, iv->start, &a->rrow);
  if (rc == 0) {
    GL_WARN(COMP,
            "the interval %s was reported already (seq %lld): the new "
            "reading for it is not sent (the wall clock went back)",
            gl_time_format(iv->start, t), (long long)a->rrow.seq);
    rc = mtr_store_counter_add(a->store, "readings_duplicate", 1);
    goto save;
  }
  if (rc != GL_ENOENT)
    goto out;
  rc = next_seq(a, &seq);
  if (rc)
    goto out;
  make_reading(a, iv, seq, now);
  if (seal_msg(a, &len, why, sizeof why)) {
    /* Never stop the agent for one message: report the interval as
     * missing (what the aggregator would assume anyway), with the reason
     * in an alarm. */
    char what[96];
    snprintf(what, sizeof what, "the reading for %s",
             gl_time_format(iv->start, t));
    rc = mtr_audit_alarm(a->store, now, "seal",
                         "%s cannot be signed (%s); it is reported as "
                         "missing",
                         what, why);
    if (!rc)
      rc = mtr_store_counter_add(a->store, "seal_failed", 1);
    if (rc)
      goto out;
    mtr_interval gap = {
        .start = iv->start,
        .end = iv->end,
        .flags = PR_FLAG_MISSING |
                 (iv->flags & (PR_FLAG_CLOCK_STEP | PR_FLAG_DEVICE_OFFLINE))};
    make_reading(a, &gap, seq, now);
    if (seal_msg(a, &len, why, sizeof why))
      goto save; /* cannot happen: a missing reading has no values */
  }
  mtr_outbox_row *o = &a->orow;
  memset(o, 0, offsetof(mtr_outbox_row, bytes));
  o->seq = seq;
  o->kind = MTR_MSG_READING;
  snprintf(o->topic, sizeof o->topic, "%s", a->t_reading);
  o->start = iv->start;
  o->expires = INT64_MAX;
  o->created = now;
  o->len = len;
  memcpy(o->bytes, a->buf, len);
  rc = mtr_pub_admit(a->pub, o, now, &admitted);
  if (rc)
    goto out;
  mtr_reading_row *rr = &a->rrow;
  memset(rr, 0, offsetof(mtr_reading_row, bytes));
  rr->seq = seq;
  rr->r = a->msg.reading;
  rr->state = admitted ? MTR_RS_QUEUED : MTR_RS_DROPPED;
  rr->created = now;
  snprintf(rr->topic, sizeof rr->topic, "%s", a->t_reading);
  rr->len = len;
  memcpy(rr->bytes, a->buf, len);
  rc = mtr_store_reading_add(a->store, rr);
  if (rc)
    goto out;
  made = true;
  if (a->ha && (rc = mtr_ha_reading(a->ha, &rr->r)))
    goto out;
  {
    /* Keep a little more history than the forecast looks back. */
    int64_t keep = a->cfg.forecast_lag_ns + 2 * DAY;
    if (keep < 8 * DAY)
      keep = 8 * DAY;
    rc = mtr_store_reading_prune(a->store, now - keep);
  }
save:
  if (!rc)
    rc = save_account(a);
out:
  if (rc) {
    mtr_store_rollback(a->store);
    ha_commit(a, false);
    return rc;
  }
  rc = mtr_store_commit(a->store);
  ha_commit(a, rc == 0);
  if (rc)
    return rc;
  if (made)
    log_reading(&a->rrow.r, seq, admitted);
  return 0;
}

/*
 * Hand out every interval that is due. The accountant forgets an interval
 * when it hands it out, so its state is copied first and copied back when
 * the reading cannot be committed: the interval is then handed out again
 * (after a restart, from the state saved at shutdown), never lost.
 */
static int account_due(mtr_agent *a, int64_t now) {
  mtr_interval iv;
  int rc = 0, n = 0;
  for (;;) {
    mtr_account_copy(a->acc_snap, a->acc);
    if (mtr_account_next(a->acc, now, &iv) != 0)
      break;
    rc = emit_reading(a, &iv, now);
    if (rc) {
      mtr_account_copy(a->acc, a->acc_snap);
      break;
    }
    n++;
  }
  if (n && a->connected) {
    int e = publish_status(a, PR_STATE_ONLINE);
    if (!rc)
      rc = e;
  }
  return rc;
}

static int do_poll(mtr_agent *a) {
  mtr_poll p;
  mtr_devices_poll(a->dev, &p);
  mtr_account_feed(a->acc, &p);
  if (p.soc_ok) {
    a->has_soc = true;
    a->soc = p.soc_bp;
    a->soc_mono = p.mono;
  }
  return account_due(a, gl_clock_now(&a->clock));
}

/* ---- Trading
 * -----------------------------------------------------------------
 */

/* Sign a->msg and admit it to the outbox. A message that cannot be signed
 * is not queued (*admitted false) and raises an alarm. */
static int queue_message(mtr_agent *a, int kind, int64_t start, int64_t expires,
                         int64_t now, bool *admitted) {
  size_t len;
  char why[WHY_MAX];
  *admitted = false;
  if (seal_msg(a, &len, why, sizeof why)) {
    char what[64];
    snprintf(what, sizeof what, "our %s message (seq %lld)",
             pr_type_name(a->msg.type), (long long)a->msg.seq);
    return seal_alarm(a, now, what, why);
  }
  mtr_outbox_row *o = &a->orow;
  memset(o, 0, offsetof(mtr_outbox_row, bytes));
  o->seq = a->msg.seq;
  o->kind = kind;
  snprintf(o->topic, sizeof o->topic, "%s", a->t_order);
  o->start = start;
  o->expires = expires;
  o->created = now;
  o->len = len;
  memcpy(o->bytes, a->buf, len);
  return mtr_pub_admit(a->pub, o, now, admitted);
}

/*
 * The broker acknowledged an outbox row (inside mtr_pub's transaction):
 * prefs count as sent only now. Until then a prefs message that was
 * dropped from a full outbox or refused is queued again (at start and at
 * every connection).
 */
static int on_acked(void *ctx, int kind, int64_t seq) {
  mtr_agent *a = ctx;
  if (kind != MTR_MSG_PREFS)
    return 0;
  int64_t pseq = 0, fp = 0;
  int rc = mtr_store_get_int(a->store, MTR_KEY_PREFS_SEQ, &pseq);
  if (rc)
    return rc == GL_ENOENT ? 0 : rc;
  if (pseq != seq)
    return 0; /* an older one */
  rc = mtr_store_get_int(a->store, MTR_KEY_PREFS_PENDING, &fp);
  if (rc)
    return rc == GL_ENOENT ? 0 : rc;
  GL_INFO(COMP, "the broker has our trading preferences (seq %lld)",
          (long long)seq);
  a->prefs_done = fp == mtr_trading_prefs_fingerprint(&a->cfg);
  return mtr_store_put_int(a->store, MTR_KEY_PREFS_SENT, fp);
}

/* Queue the prefs unless the broker has them or they wait in the outbox.
 * Tried at start, at every connection and every minute until the broker
 * acknowledged them (a full outbox may have refused or dropped them). */
static int send_prefs_if_changed(mtr_agent *a) {
  a->prefs_done = true;
  if (a->cfg.mode != MTR_TRADE_EXPOST)
    return 0;
  a->next_prefs = gl_clock_monotonic(&a->clock) + 60 * SEC;
  int64_t want = mtr_trading_prefs_fingerprint(&a->cfg), have = 0;
  int rc = mtr_store_get_int(a->store, MTR_KEY_PREFS_SENT, &have);
  if (rc == 0 && have == want)
    return 0;
  if (rc && rc != GL_ENOENT)
    return rc;
  a->prefs_done = false;
  /* Queued already and still waiting in the outbox? */
  int64_t pending = 0, pseq = 0;
  if (mtr_store_get_int(a->store, MTR_KEY_PREFS_PENDING, &pending) == 0 &&
      pending == want &&
      mtr_store_get_int(a->store, MTR_KEY_PREFS_SEQ, &pseq) == 0 &&
      mtr_store_outbox_next(a->store, pseq - 1, &a->orow) == 0 &&
      a->orow.seq == pseq)
    return 0;
  int64_t now = gl_clock_now(&a->clock), I = a->cfg.interval_ns;
  int64_t seq;
  bool admitted;
  rc = mtr_store_begin(a->store);
  if (!rc)
    rc = next_seq(a, &seq);
  if (!rc) {
    pr_msg_init(&a->msg, PR_MSG_PREFS, a->id, seq, whole_second(now));
    mtr_trading_prefs(&a->cfg, (gl_floor_div(now, I) + 1) * I, &a->msg.prefs);
    rc = queue_message(a, MTR_MSG_PREFS, 0, INT64_MAX, now, &admitted);
  }
  if (!rc && admitted)
    rc = mtr_store_put_int(a->store, MTR_KEY_PREFS_PENDING, want);
  if (!rc && admitted)
    rc = mtr_store_put_int(a->store, MTR_KEY_PREFS_SEQ, seq);
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  rc = mtr_store_commit(a->store);
  if (!rc && admitted)
    GL_NOTICE(COMP,
              "trading preferences queued: buy locally at or below %s, sell "
              "at or above %s",
              a->cfg.has_buy_below ? a->cfg.buy_below_text : "any price",
              a->cfg.has_sell_above ? a->cfg.sell_above_text : "any price");
  return rc;
}

/* "buy 300 Wh at or below 300000/kWh, sell ..." (micro-currency), for the
 * log. */
static void describe_order(const pr_order *o, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < o->nsteps && n < cap; i++) {
    const pr_step *st = &o->steps[i];
    int w = snprintf(
        buf + n, cap - n, "%s%s %lld Wh at or %s %lld/kWh", i ? ", " : "",
        st->side == PR_SIDE_BUY ? "buy" : "sell", (long long)st->wh,
        st->side == PR_SIDE_BUY ? "below" : "above", (long long)st->price);
    if (w < 0)
      break;
    n += (size_t)w;
  }
}

/* The battery plan, with the order's transaction: n, then start and Wh
 * of each entry, as int64 (this board's byte order: the file stays on
 * it). */
static int save_plan(mtr_agent *a) {
  int64_t v[1 + 2 * MTR_BATTERY_PLAN_MAX];
  size_t n =
      a->plan.n < MTR_BATTERY_PLAN_MAX ? a->plan.n : MTR_BATTERY_PLAN_MAX;
  v[0] = (int64_t)n;
  for (size_t i = 0; i < n; i++) {
    v[1 + 2 * i] = a->plan.start[i];
    v[2 + 2 * i] = a->plan.wh[i];
  }
  return mtr_store_put_blob(a->store, MTR_KEY_BATTERY_PLAN, v,
                            (1 + 2 * n) * sizeof v[0]);
}

static void load_plan(mtr_agent *a) {
  int64_t v[1 + 2 * MTR_BATTERY_PLAN_MAX];
  size_t len = 0;
  memset(&a->plan, 0, sizeof a->plan);
  if (mtr_store_get_blob(a->store, MTR_KEY_BATTERY_PLAN, (uint8_t *)v, sizeof v,
                         &len) != 0 ||
      len < sizeof v[0] || v[0] < 0 || v[0] > MTR_BATTERY_PLAN_MAX ||
      len != (size_t)(1 + 2 * v[0]) * sizeof v[0])
    return;
  a->plan.n = (size_t)v[0];
  for (size_t i = 0; i < a->plan.n; i++) {
    a->plan.start[i] = v[1 + 2 * i];
    a->plan.wh[i] = v[2 + 2 * i];
  }
}

static int trading_tick(mtr_agent *a, int64_t now) {
  if (a->cfg.mode == MTR_TRADE_EXPOST)
    return 0;
  const mtr_config *c = &a->cfg;
  /* Normally the next order is at most one interval beyond the first one
   * still open. Far beyond it, it was set while the wall clock was ahead
   * (or saved so): start again from now rather than wait for that time. */
  int64_t open = mtr_trading_first_open(c, now);
  if (a->order_next > open + c->interval_ns + c->clock_horizon_ns) {
    char t1[GL_TIME_STR_MAX], t2[GL_TIME_STR_MAX], t3[GL_TIME_STR_MAX];
    GL_WARN(COMP,
            "the next order was due for %s, far beyond the clock's %s: "
            "ordering from %s on",
            gl_time_format(a->order_next, t1), gl_time_format(now, t2),
            gl_time_format(open, t3));
    a->order_next = open;
  }
  while (mtr_trading_order_time(c, a->order_next) <= now) {
    int64_t start = a->order_next;
    char t[GL_TIME_STR_MAX];
    int rc = mtr_store_begin(a->store);
    if (rc)
      return rc;
    if (now > mtr_trading_gate(c, start)) {
      a->order_next = mtr_trading_first_open(c, now);
      rc = mtr_store_put_int(a->store, MTR_KEY_ORDER_NEXT, a->order_next);
      goto commit;
    }
    const pr_reading *hist = NULL;
    if (mtr_store_reading_by_start(a->store, start - c->forecast_lag_ns,
                                   &a->rrow) == 0)
      hist = &a->rrow.r;
    pr_order order;
    /* A battery that stopped answering is not counted on. */
    bool soc =
        a->has_soc &&
        mtr_trading_soc_usable(c, gl_clock_monotonic(&a->clock) - a->soc_mono);
    int f =
        mtr_trading_order(c, start, now, hist, soc, a->soc, &a->plan, &order);
    if (!rc)
      rc = save_plan(a);
    if (f == GL_ENOENT)
      GL_INFO(COMP,
              "no forecast for %s (no usable reading from the same "
              "interval before): no order",
              gl_time_format(start, t));
    else if (order.nsteps == 0)
      GL_INFO(COMP, "nothing to trade for %s", gl_time_format(start, t));
    else {
      int64_t seq;
      bool admitted;
      rc = next_seq(a, &seq);
      if (!rc) {
        pr_msg_init(&a->msg, PR_MSG_ORDER, a->id, seq, whole_second(now));
        a->msg.order = order;
        rc = queue_message(a, MTR_MSG_ORDER, start, mtr_trading_gate(c, start),
                           now, &admitted);
      }
      if (!rc && admitted) {
        char what[200];
        describe_order(&order, what, sizeof what);
        GL_INFO(COMP, "order for %s: %s (micro-currency; seq %lld)",
                gl_time_format(start, t), what, (long long)seq);
      }
    }
    a->order_next = start + c->interval_ns;
    if (!rc)
      rc = mtr_store_put_int(a->store, MTR_KEY_ORDER_NEXT, a->order_next);
  commit:
    if (rc) {
      mtr_store_rollback(a->store);
      return rc;
    }
    rc = mtr_store_commit(a->store);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- Messages from the broker
 * ------------------------------------------------
 */

static int on_message(mtr_agent *a, const pr_mqtt_event *ev, int64_t now) {
  pr_topic t;
  pr_diag d = {0};
  char counter[48];
  int rc =
      pr_topic_parse(ev->topic, strlen(ev->topic), a->cfg.community, &t, &d);
  if (!rc && t.id[0] && strcmp(t.id, a->id) != 0)
    rc = pr_diag_set(&d, PR_R_BAD_TOPIC, GL_EPARSE, "not our inbox");
  if (!rc && !a->trusted) {
    /* Everything the meter receives comes from the aggregator. */
    if (!a->untrusted_logged)
      GL_WARN(COMP,
              "rejected a message on %s: the aggregator's certificate is "
              "not trusted (see the log at start or SIGHUP; counted as "
              "rejected_untrusted)",
              ev->topic);
    a->untrusted_logged = true;
    return mtr_store_counter_add(a->store, "rejected_untrusted", 1);
  }
  if (!rc) {
    pr_cose_view view;
    rc =
        pr_open(ev->payload, ev->payload_len, &t, &a->ring, &a->msg, &view, &d);
  }
  if (rc) {
    GL_WARN(COMP, "rejected a message on %s (%s): %s", ev->topic,
            pr_reason_name(d.reason), d.msg);
    snprintf(counter, sizeof counter, "rejected_%s", pr_reason_name(d.reason));
    return mtr_store_counter_add(a->store, counter, 1);
  }
  if (t.kind == PR_TOPIC_SUMMARY) {
    char ts[GL_TIME_STR_MAX];
    GL_DEBUG(COMP, "community summary for %s: %lld Wh traded locally",
             gl_time_format(a->msg.summary.start, ts),
             (long long)a->msg.summary.traded_wh);
    return 0;
  }
  rc = mtr_store_begin(a->store);
  if (rc)
    return rc;
  switch (t.kind) {
  case PR_TOPIC_RESULT:
    rc = mtr_audit_result(a->audit, &a->msg, ev->payload, ev->payload_len, now);
    if (!rc && a->ha)
      rc = mtr_ha_result(a->ha, &a->msg.result, now);
    break;
  case PR_TOPIC_PROOF_RESPONSE:
    rc = mtr_audit_proof_response(a->audit, &a->msg, now);
    break;
  case PR_TOPIC_CHECKPOINT:
    rc = mtr_audit_checkpoint(a->audit, &a->msg, now);
    break;
  default:
    break;
  }
  if (rc) {
    mtr_store_rollback(a->store);
    ha_commit(a, false);
    return rc;
  }
  rc = mtr_store_commit(a->store);
  ha_commit(a, rc == 0);
  return rc;
}

static int set_broker_state(mtr_agent *a, bool up, int64_t now) {
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_BROKER, up);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_BROKER_SINCE, now);
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  return mtr_store_commit(a->store);
}

static int on_event(mtr_agent *a, const pr_mqtt_event *ev) {
  int64_t now = gl_clock_now(&a->clock);
  switch (ev->type) {
  case PR_MQTT_CONNECTED: {
    int64_t n = 0;
    mtr_store_outbox_count(a->store, &n);
    GL_NOTICE(COMP, "connected to the broker at %s (%lld message%s waiting)",
              a->cfg.uri, (long long)n, n == 1 ? "" : "s");
    a->connected = true;
    mtr_pub_connected(a->pub);
    int rc = set_broker_state(a, true, now);
    if (!rc)
      rc = publish_status(a, PR_STATE_ONLINE);
    /* The will for the next connection, signed now: paho may reconnect on
     * its own thread before this loop sees a disconnection (it may be in
     * a long Modbus poll), and would then register the old one. Renewed
     * again when the loss is seen. */
    size_t len;
    if (!rc)
      rc = renew_will(a, false, &len);
    if (!rc)
      rc = send_prefs_if_changed(a);
    return rc == GL_ESTORE ? rc : 0;
  }
  case PR_MQTT_DISCONNECTED: {
    bool was = a->connected;
    a->connected = false;
    mtr_pub_disconnected(a->pub);
    if (!was) /* a reconnection attempt failed */
      return renew_will_older(a, WILL_REFRESH);
    GL_WARN(COMP, "lost the connection to the broker; readings wait in the "
                  "outbox until it is back");
    size_t len;
    int rc = set_broker_state(a, false, now);
    if (!rc)
      rc = renew_will(a, false, &len);
    return rc == GL_ESTORE ? rc : 0;
  }
  case PR_MQTT_PUBLISHED:
    return mtr_pub_published(a->pub, ev->token, ev->ok, ev->reason, now);
  case PR_MQTT_MESSAGE:
    return on_message(a, ev, now);
  case PR_MQTT_SUBSCRIBED:
    if (!ev->ok)
      GL_ERROR(COMP, "the broker refused a subscription: results cannot "
                     "reach this meter (check the broker's ACL)");
    return 0;
  }
  return 0;
}

/* ---- Proof requests
 * ----------------------------------------------------------
 */

/*
 * Ask for the proofs that are due. A sequence number is spent only when
 * the request can go out now (mtr_pub_ready); if publishing still says
 * "window full", the signed request is kept and the same bytes (same seq)
 * go out later.
 */
static int send_proof_requests(mtr_agent *a, int64_t now) {
  if (!a->connected)
    return 0;
  for (int i = 0; i < MTR_AUDIT_INFLIGHT; i++) {
    int rc;
    if (!a->req_pending) {
      if (!mtr_pub_ready(a->pub))
        return 0;
      pr_proof_request req;
      rc = mtr_store_begin(a->store);
      if (rc)
        return rc;
      rc = mtr_audit_next_request(a->audit, now, &a->req_check, &req);
      int64_t seq = 0;
      if (!rc)
        rc = next_seq(a, &seq);
      if (rc) {
        mtr_store_rollback(a->store);
        return rc == GL_EAGAIN ? 0 : rc;
      }
      rc = mtr_store_commit(a->store);
      if (rc)
        return rc;
      pr_msg_init(&a->msg, PR_MSG_PROOF_REQUEST, a->id, seq, whole_second(now));
      a->msg.proof_request = req;
      size_t len;
      char why[WHY_MAX];
      if (seal_msg(a, &len, why, sizeof why)) {
        /* Recorded as sent, so it times out and is given up like an
         * unanswered request instead of being signed again at once. */
        rc = mtr_store_begin(a->store);
        if (!rc)
          rc = seal_alarm(a, now, "a proof request", why);
        if (!rc)
          rc = mtr_audit_request_sent(a->audit, &a->req_check, seq, now);
        if (rc) {
          mtr_store_rollback(a->store);
          return rc;
        }
        rc = mtr_store_commit(a->store);
        if (rc)
          return rc;
        continue;
      }
      if (len > sizeof a->req_buf)
        return GL_EINTERNAL; /* a proof request is a few hundred bytes */
      a->req_seq = seq;
      a->req_len = len;
      memcpy(a->req_buf, a->buf, len);
      a->req_pending = true;
    }
    uint8_t corr[8];
    for (int b = 0; b < 8; b++)
      corr[b] = (uint8_t)((uint64_t)a->req_seq >> (56 - 8 * b));
    pr_mqtt_msg m = {.topic = a->t_proof,
                     .payload = a->req_buf,
                     .payload_len = a->req_len,
                     .qos = 1,
                     .response_topic = a->t_proof_resp,
                     .correlation = corr,
                     .correlation_len = sizeof corr};
    if (mtr_pub_direct(a->pub, &m))
      return 0; /* kept: tried again with the same bytes */
    a->req_pending = false;
    rc = mtr_store_begin(a->store);
    if (!rc)
      rc = mtr_audit_request_sent(a->audit, &a->req_check, a->req_seq, now);
    if (rc) {
      mtr_store_rollback(a->store);
      return rc;
    }
    rc = mtr_store_commit(a->store);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- The loop
 * ----------------------------------------------------------------
 */

/*
 * Forget what is older than meter.retention (once a day). Counted back
 * from the end of the latest result when that is earlier than `now`: a
 * wall clock set far ahead by mistake must not wipe the history.
 */
static int prune(mtr_agent *a, int64_t now) {
  int64_t n = 0, ref = now;
  mtr_result_row *last = malloc(sizeof *last); /* too big for the stack */
  if (!last)
    return GL_ENOMEM;
  if (mtr_store_result_last(a->store, last) == 0 && last->end < ref)
    ref = last->end;
  free(last);
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = mtr_store_prune(a->store, ref - a->cfg.retention_ns, &n);
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  rc = mtr_store_commit(a->store);
  if (!rc && n)
    GL_INFO(COMP,
            "forgot %lld results, proof checks, checkpoints and alarms "
            "older than meter.retention",
            (long long)n);
  return rc;
}

static int64_t next_aligned(int64_t now, int64_t period) {
  return (gl_floor_div(now, period) + 1) * period;
}

static int reload(mtr_agent *a) {
  return refresh_trust(a, TRUST_SIGHUP);
}

/*
 * Save the counter state; after a requested stop (`clean`) also when the
 * agent stopped, with a last heartbeat, so `status` can tell a restart or
 * an upgrade from an agent that died. One commit.
 */
static int save_at_stop(mtr_agent *a, bool clean) {
  int64_t now = gl_clock_now(&a->clock);
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = save_account(a);
  if (!rc && clean)
    rc = mtr_store_put_int(a->store, MTR_KEY_AGENT_STOP, now);
  if (!rc && clean)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE, now);
  if (!rc && clean)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE_REAL, real_now());
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  return mtr_store_commit(a->store);
}

static void shutdown_cleanly(mtr_agent *a, bool clean) {
  if (save_at_stop(a, clean))
    GL_ERROR(COMP, "could not save the counter state at shutdown");
  if (a->connected) {
    publish_status(a, PR_STATE_OFFLINE);
    /* Wait a little for the broker to take it (and any other in-flight
     * message), in real time. */
    for (int i = 0; i < 40 && !mtr_pub_idle(a->pub); i++) {
      if (pr_mqtt_wait(a->mqtt, 50)) {
        pr_mqtt_event ev;
        while (pr_mqtt_next(a->mqtt, &ev) == 0)
          if (ev.type == PR_MQTT_PUBLISHED)
            mtr_pub_published(a->pub, ev.token, ev.ok, ev.reason,
                              gl_clock_now(&a->clock));
      }
    }
  }
  /* Then the household's broker (after the community's: it never delays
   * trading), waiting for it at most MTR_HA_STOP_WAIT_MS. */
  if (a->ha)
    mtr_ha_stop(a->ha);
  set_broker_state(a, false, gl_clock_now(&a->clock));
}

int mtr_agent_run(mtr_agent *a, int sig_fd) {
  int64_t now = gl_clock_now(&a->clock);
  int rc = mtr_store_begin(a->store);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_AGENT_PID, (int64_t)getpid());
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_AGENT_START, now);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_AGENT_STOP, 0);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE, now);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_ALIVE_REAL, real_now());
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_INTERVAL, a->cfg.interval_ns);
  if (!rc)
    rc = mtr_store_put_int(a->store, MTR_KEY_BROKER, 0);
  if (rc) {
    mtr_store_rollback(a->store);
    return rc;
  }
  if ((rc = mtr_store_commit(a->store)))
    return rc;
  int64_t stored = 0;
  if (mtr_store_get_int(a->store, MTR_KEY_ORDER_NEXT, &stored) != 0)
    stored = 0;
  a->order_next = mtr_trading_first_open(&a->cfg, now);
  if (stored > a->order_next)
    a->order_next = stored;
  load_plan(a);
  if ((rc = send_prefs_if_changed(a)))
    return rc;
  GL_NOTICE(COMP,
            "gridlet-meter %s started as %s in community %s (interval %llds, "
            "reads every %llds)",
            MTR_VERSION, a->id, a->cfg.community,
            (long long)(a->cfg.interval_ns / SEC),
            (long long)(a->cfg.poll_ns / SEC));
  pr_mqtt_connect(a->mqtt);
  if (a->ha)
    mtr_ha_start(a->ha);
  int64_t mono = gl_clock_monotonic(&a->clock);
  a->next_poll = mono;
  a->next_save = mono + a->cfg.state_save_ns;
  a->next_prune = mono;
  while (!atomic_load(&a->stopping)) {
    now = gl_clock_now(&a->clock);
    mono = gl_clock_monotonic(&a->clock);
    if (mono >= a->next_poll) {
      if ((rc = do_poll(a)))
        break;
      now = gl_clock_now(&a->clock);
      mono = gl_clock_monotonic(&a->clock);
      /* The next read falls on the wall clock's next multiple of the poll
       * period (one read on every interval boundary), but is timed on the
       * monotonic clock: at most one poll period away, whatever the wall
       * clock did. */
      a->next_poll = mono + (next_aligned(now, a->cfg.poll_ns) - now);
    }
    if ((rc = account_due(a, now)))
      break;
    if (mono >= a->next_save) {
      if ((rc = save_periodic(a, now)))
        break;
      a->next_save = mono + a->cfg.state_save_ns;
    }
    if (!a->trusted && mono >= a->next_trust &&
        (rc = refresh_trust(a, TRUST_RETRY_TICK)))
      break;
    if (a->connected && (rc = renew_will_older(a, WILL_MAX_AGE)))
      break;
    if (mono >= a->next_prune) {
      if ((rc = prune(a, now)))
        break;
      a->next_prune = mono + DAY;
    }
    if (!a->prefs_done && mono >= a->next_prefs &&
        (rc = send_prefs_if_changed(a)))
      break;
    if ((rc = trading_tick(a, now)) || (rc = mtr_pub_pump(a->pub, now)) ||
        (rc = send_proof_requests(a, now)))
      break;

    /* How long until something is due, in this clock's time. */
    int64_t wait = a->next_poll - mono;
    if (a->next_save - mono < wait)
      wait = a->next_save - mono;
    int64_t d2 = mtr_account_deadline(a->acc);
    if (d2 - now < wait)
      wait = d2 - now;
    if (a->cfg.mode != MTR_TRADE_EXPOST) {
      int64_t d3 = mtr_trading_order_time(&a->cfg, a->order_next);
      if (d3 - now < wait)
        wait = d3 - now;
    }
    if (a->ha && mtr_ha_deadline(a->ha) - now < wait)
      wait = mtr_ha_deadline(a->ha) - now;
    int64_t wait_ns = gl_clock_real_duration(&a->clock, wait);
    int64_t wait_ms = (wait_ns + GL_NS_PER_MS - 1) / GL_NS_PER_MS;
    if (wait_ms > MAX_WAIT_MS)
      wait_ms = MAX_WAIT_MS;
    if (wait_ms < 0)
      wait_ms = 0;
    /* The Home Assistant client's fd is polled too; -1 (no such client)
     * is ignored by poll(2). */
    struct pollfd fds[4] = {{pr_mqtt_fd(a->mqtt), POLLIN, 0},
                            {a->stop_efd, POLLIN, 0},
                            {a->ha ? mtr_ha_fd(a->ha) : -1, POLLIN, 0},
                            {sig_fd, POLLIN, 0}};
    int n = poll(fds, 4, (int)wait_ms);
    if (n < 0 && errno != EINTR) {
      GL_ERROR(COMP, "poll: %s", strerror(errno));
      rc = GL_EIO;
      break;
    }
    if (sig_fd >= 0 && n > 0 && (fds[3].revents & POLLIN)) {
      struct signalfd_siginfo si;
      if (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          if ((rc = reload(a)))
            break;
        } else {
          GL_NOTICE(COMP, "stopping (signal %u)", si.ssi_signo);
          break;
        }
      }
    }
    pr_mqtt_event ev;
    while (!rc && pr_mqtt_next(a->mqtt, &ev) == 0)
      rc = on_event(a, &ev);
    if (rc)
      break;
    /* After the community's events, so a result counted there is
     * published at once. Never fails: the household broker cannot stop
     * the agent. */
    if (a->ha)
      mtr_ha_handle(a->ha, gl_clock_now(&a->clock));
  }
  if (rc)
    GL_ERROR(COMP, "stopping on an error: %s", gl_strerror(rc));
  shutdown_cleanly(a, rc == 0);
  return rc;
}
