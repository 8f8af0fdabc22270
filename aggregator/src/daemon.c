/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - the aggregator's event loop. See gridlet/agg_daemon.h.
 */
#include "gridlet/agg_daemon.h"

#include "gridlet/agg_api.h"
#include "gridlet/agg_ingest.h"
#include "gridlet/agg_market.h"
#include "gridlet/agg_meters.h"
#include "gridlet/agg_metrics.h"
#include "gridlet/agg_outbox.h"
#include "gridlet/agg_proof.h"
#include "gridlet/agg_store.h"
#include "gridlet/agg_verify.h"
#include "gridlet/error.h"
#include "gridlet/ledger_note.h"
#include "gridlet/log.h"
#include "gridlet/pki_identity.h"
#include "gridlet/pki_trust.h"
#include "gridlet/pr_mqtt.h"
#include "gridlet/pr_seal.h"
#include "gridlet/pr_topic.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define LOG "aggregator"
#define MQTT_DRAIN_MAX 4096
#define METERS_CHECK_NS (10 * GL_NS_PER_SEC)
#define PRUNE_NS (60 * GL_NS_PER_SEC)
/* How long the retained checkpoint may take after our subscription to it
 * was granted, if the meters' SUBACK does not tell first that none is
 * retained (see build()). */
#define CP_WAIT_NS (3 * GL_NS_PER_SEC)

/* The start-up check of the database against the published checkpoint. */
enum { CP_SUBSCRIBING = 0, CP_WAITING, CP_DONE };

typedef struct daemon {
  const agg_config *cfg;
  const gl_clock *clock, *real;
  agg_metrics metrics;
  pki_identity *id;
  gl_ed25519_key agg_key;
  lg_signer log_key;
  pki_trust *trust;
  agg_store *st;
  agg_meters *meters;
  agg_outbox *outbox;
  agg_market *market;
  agg_verify *verify;
  agg_ingest *ingest;
  agg_api *api;
  pr_mqtt *mqtt;
  pr_keyring keys;
  int sfd;
  bool online;           /* subscribed at the broker */
  bool connected_before; /* a CONNECTED event came earlier in this run */
  /* Settling and publishing wait until the database was compared with the
   * checkpoint the broker retains (agg_market_check_published). */
  int cp_state;
  int64_t cp_deadline; /* real monotonic */
  char cp_topic[PR_TOPIC_MAX];
  pr_key_entry own_entry;
  pr_key_table own_table;
  pr_keyring own_keys; /* our own result key, for our checkpoint messages */
  bool stop;
  int64_t batch_since; /* real time the open batch started, 0 = none */
  int64_t last_meters_check, last_prune, last_gauges;
  int64_t meters_version;
  /* Crash points (tests). */
  char crash_name[64];
  long crash_n;
  long crash_seen;
} daemon_t;

/* ---- Crash points -------------------------------------------------------- */

static void crashpoint(void *ctx, const char *name) {
  daemon_t *d = ctx;
  if (!d->crash_name[0] || strcmp(d->crash_name, name) != 0)
    return;
  if (++d->crash_seen < d->crash_n)
    return;
  GL_NOTICE(LOG, "crash point %s reached (%ld): SIGKILL", name, d->crash_seen);
  raise(SIGKILL);
}

static void crash_setup(daemon_t *d) {
  const char *e = getenv("GRIDLET_AGG_CRASHPOINT");
  if (!e || !*e)
    return;
  const char *at = strchr(e, '@');
  size_t n = at ? (size_t)(at - e) : strlen(e);
  if (n >= sizeof d->crash_name)
    return;
  memcpy(d->crash_name, e, n);
  d->crash_name[n] = '\0';
  d->crash_n = 1;
  if (at) {
    int64_t v;
    if (gl_conf_parse_int(at + 1, &v) == 0 && v >= 1)
      d->crash_n = (long)v;
  }
  GL_NOTICE(LOG, "test crash point armed: %s, pass %ld", d->crash_name,
            d->crash_n);
}

/* ---- Proof requests ------------------------------------------------------ */

static void on_proof(void *ctx, const agg_job *j) {
  daemon_t *d = ctx;
  const char *meter = j->msg.sender;
  pr_msg *msg = malloc(sizeof *msg);
  if (!msg)
    return;
  int64_t ts =
      gl_floor_div(gl_clock_now(d->clock), GL_NS_PER_SEC) * GL_NS_PER_SEC;
  int rc = pr_msg_init(msg, PR_MSG_PROOF_RESPONSE, PR_AGGREGATOR_ID,
                       agg_market_next_seq(d->market), ts);
  if (rc == 0) {
    agg_proof_answer(agg_market_ledger(d->market), d->st, &j->msg.proof_request,
                     &msg->proof_response);
    snprintf(msg->proof_response.meter, sizeof msg->proof_response.meter, "%s",
             meter);
    msg->proof_response.request_seq = j->msg.seq;
  }
  uint8_t *buf = malloc(PR_SEAL_MAX);
  size_t len = 0;
  pr_diag diag = {0};
  if (rc == 0 && buf)
    rc = pr_seal(msg, &d->agg_key, buf, PR_SEAL_MAX, &len, &diag);
  else if (!buf)
    rc = GL_ENOMEM;
  char topic[PR_TOPIC_MAX];
  if (rc == 0)
    rc = pr_topic_build(PR_TOPIC_PROOF_RESPONSE, d->cfg->community, meter,
                        topic, sizeof topic);
  if (rc == 0 && j->response_topic[0]) {
    /* Only the requesting meter's own inbox is honoured. */
    pr_topic t;
    if (pr_topic_parse(j->response_topic, strlen(j->response_topic),
                       d->cfg->community, &t, NULL) == 0 &&
        t.kind == PR_TOPIC_PROOF_RESPONSE && strcmp(t.id, meter) == 0)
      snprintf(topic, sizeof topic, "%s", j->response_topic);
    else
      GL_WARN(LOG, "%s asked for its proof on %s; answering on %s", meter,
              j->response_topic, topic);
  }
  if (rc == 0)
    rc = agg_outbox_transient(d->outbox, AGG_PUB_PROOF, topic, buf, len,
                              j->corr, j->corr_len);
  if (rc)
    GL_ERROR(LOG, "cannot answer %s's proof request: %s", meter,
             diag.msg[0] ? diag.msg : gl_strerror(rc));
  agg_count(&d->metrics.proofs_mqtt, 1);
  if (rc || msg->proof_response.status != PR_PROOF_OK)
    agg_count(&d->metrics.proofs_failed, 1);
  free(buf);
  free(msg);
}

/* ---- Building and tearing down ------------------------------------------- */

static int load_keys(daemon_t *d) {
  const agg_config *cfg = d->cfg;
  pki_why why = {{0}};
  int rc = pki_identity_load(cfg->mqtt_cert, cfg->mqtt_key, &d->id, &why);
  if (rc) {
    GL_ERROR(LOG, "cannot load the aggregator's identity (%s, %s): %s",
             cfg->mqtt_cert, cfg->mqtt_key, why.text);
    return rc;
  }
  if (strcmp(pki_identity_name(d->id), PR_AGGREGATOR_ID) != 0) {
    GL_ERROR(LOG, "%s is the certificate of \"%s\", not of \"%s\"",
             cfg->mqtt_cert, pki_identity_name(d->id), PR_AGGREGATOR_ID);
    return GL_ECONFIG;
  }
  rc = pki_identity_ed25519(d->id, &d->agg_key);
  if (rc) {
    GL_ERROR(LOG, "the aggregator's key must be Ed25519 (COSE signatures)");
    return rc;
  }
  rc = lg_signer_read_file(cfg->ledger_key, &d->log_key);
  if (rc) {
    GL_ERROR(LOG, "cannot read the ledger's log key %s: %s", cfg->ledger_key,
             gl_strerror(rc));
    return rc;
  }
  if (strcmp(d->log_key.vkey.name, cfg->origin) != 0) {
    GL_ERROR(LOG,
             "the log key %s is named \"%s\" but the ledger's origin is "
             "\"%s\" (ledger.origin)",
             cfg->ledger_key, d->log_key.vkey.name, cfg->origin);
    return GL_ECONFIG;
  }
  /* Certificates and revocation lists live in real time, whatever clock
   * the market runs on (a demo's accelerated day is not the CA's). */
  rc = pki_trust_load(cfg->pki_ca, cfg->pki_crl[0] ? cfg->pki_crl : NULL,
                      d->real, &d->trust, &why);
  if (rc)
    GL_ERROR(LOG, "cannot load the community trust (%s%s%s): %s", cfg->pki_ca,
             cfg->pki_crl[0] ? ", " : "", cfg->pki_crl, why.text);
  return rc;
}

static int build(daemon_t *d) {
  const agg_config *cfg = d->cfg;
  int rc = load_keys(d);
  if (rc == 0)
    rc = agg_store_open(cfg->db_path, true, false, &d->st);
  if (rc == 0)
    rc = agg_meters_new(d->real, &d->meters);
  size_t revoked = 0;
  if (rc == 0)
    rc = agg_meters_load(d->meters, d->st, d->trust, &revoked);
  if (rc == 0)
    agg_store_meta_get(d->st, "meters_version", &d->meters_version);
  if (rc == 0)
    rc = agg_outbox_new(d->st, &d->metrics, &d->outbox);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  size_t workers =
      cfg->workers > 0 ? (size_t)cfg->workers : (size_t)(cores > 0 ? cores : 1);
  agg_market_deps md = {.cfg = cfg,
                        .st = d->st,
                        .meters = d->meters,
                        .outbox = d->outbox,
                        .metrics = &d->metrics,
                        .clock = d->clock,
                        .real = d->real,
                        .log_key = &d->log_key,
                        .agg_key = &d->agg_key,
                        .threads = workers,
                        .crashpoint = crashpoint,
                        .crash_ctx = d};
  if (rc == 0)
    rc = agg_market_new(&md, &d->market);
  if (rc == 0)
    rc = agg_market_start(d->market);
  if (rc == 0)
    rc = agg_market_reserve_seqs(d->market, cfg->queue + 1000);
  d->keys = d->meters ? agg_meters_keyring(d->meters) : (pr_keyring){0};
  if (rc == 0)
    rc = agg_verify_new(workers, (size_t)cfg->queue, cfg->community, &d->keys,
                        d->real, &d->metrics, &d->verify);
  agg_ingest_deps id = {.cfg = cfg,
                        .st = d->st,
                        .meters = d->meters,
                        .market = d->market,
                        .outbox = d->outbox,
                        .metrics = &d->metrics,
                        .clock = d->clock,
                        .real = d->real,
                        .proof = on_proof,
                        .proof_ctx = d};
  if (rc == 0)
    rc = agg_ingest_new(&id, &d->ingest);
  if (rc == 0 && cfg->http_listen[0]) {
    agg_api_deps ad = {.cfg = cfg,
                       .metrics = &d->metrics,
                       .clock = d->clock,
                       .real = d->real,
                       .log_key = &d->log_key.vkey};
    rc = agg_api_start(&ad, &d->api);
  }
  pr_mqtt_config mc = {
      .uri = cfg->mqtt_uri,
      .client_id = PR_AGGREGATOR_ID,
      .ca_file = cfg->mqtt_ca,
      .cert_file = cfg->mqtt_cert,
      .key_file = cfg->mqtt_key,
      .keepalive_s = (int)(cfg->mqtt_keepalive / GL_NS_PER_SEC),
      .clean_start = false,
      .session_expiry_s = (uint32_t)(cfg->mqtt_session_expiry / GL_NS_PER_SEC),
      .reconnect_min_ms = 200,
      .reconnect_max_ms = 30000,
      .queue_max = (size_t)cfg->mqtt_queue_max,
      .queue_max_bytes = (size_t)cfg->mqtt_queue_bytes};
  if (rc == 0 && strncmp(cfg->mqtt_uri, "mqtt", 4) == 0 &&
      strncmp(cfg->mqtt_uri, "mqtts", 5) != 0) {
    /* Plain TCP (a test broker): no TLS files. */
    mc.ca_file = mc.cert_file = mc.key_file = NULL;
  }
  if (rc == 0)
    rc = pr_mqtt_new(&mc, &d->mqtt);
  char filter[PR_TOPIC_MAX];
  if (rc == 0)
    rc = pr_topic_filter_ingest(cfg->community, filter, sizeof filter);
  /* The retained checkpoint: what was published last, to compare the
   * database with before anything is settled or published. Subscribed
   * first: the broker sends a retained message right after its SUBACK and
   * handles our next SUBSCRIBE after that, so when the meters' SUBACK
   * comes and no checkpoint came before it, none is retained. */
  if (rc == 0)
    rc = pr_topic_build(PR_TOPIC_CHECKPOINT, cfg->community, NULL, d->cp_topic,
                        sizeof d->cp_topic);
  if (rc == 0)
    rc = pr_mqtt_subscribe(d->mqtt, d->cp_topic, 1);
  if (rc == 0)
    rc = pr_mqtt_subscribe(d->mqtt, filter, 1);
  d->own_entry.kid = PR_AGGREGATOR_ID;
  memcpy(d->own_entry.pub, d->agg_key.pub, sizeof d->own_entry.pub);
  d->own_table.entries = &d->own_entry;
  d->own_table.n = 1;
  d->own_keys = pr_key_table_keyring(&d->own_table);
  if (rc == 0)
    rc = pr_mqtt_connect(d->mqtt);
  if (rc == 0)
    agg_ingest_recount(d->ingest);
  return rc;
}

static void teardown(daemon_t *d) {
  if (d->ingest && agg_ingest_pending(d->ingest))
    agg_ingest_flush(d->ingest);
  agg_api_stop(d->api);
  pr_mqtt_free(d->mqtt);
  agg_verify_free(d->verify);
  agg_ingest_free(d->ingest);
  agg_market_free(d->market);
  agg_outbox_free(d->outbox);
  agg_meters_free(d->meters);
  agg_store_free(d->st);
  pki_trust_free(d->trust);
  pki_identity_free(d->id);
  gl_wipe(&d->agg_key, sizeof d->agg_key);
  lg_signer_wipe(&d->log_key);
}

/* ---- The loop ------------------------------------------------------------ */

static int flush(daemon_t *d) {
  if (!agg_ingest_pending(d->ingest)) {
    /* Nothing to commit (e.g. only duplicates of readings came): the
     * batch timer must not stay armed, or poll() would spin on it. */
    d->batch_since = 0;
    return 0;
  }
  crashpoint(d, "ingest:before-commit");
  int rc = agg_ingest_flush(d->ingest);
  d->batch_since = 0;
  if (rc == 0)
    crashpoint(d, "ingest:after-commit");
  return rc;
}

static int reload(daemon_t *d, bool crl) {
  int rc = flush(d);
  if (rc)
    return rc;
  if (crl && d->cfg->pki_crl[0]) {
    pki_why why = {{0}};
    int c = pki_trust_load_crl_file(d->trust, d->cfg->pki_crl, d->real, &why);
    if (c)
      GL_ERROR(LOG, "CRL %s not reloaded (the previous list stays): %s",
               d->cfg->pki_crl, why.text);
    else
      GL_NOTICE(LOG, "revocation list %s reloaded", d->cfg->pki_crl);
  }
  size_t before = agg_meters_count(d->meters), revoked = 0;
  rc = agg_meters_load(d->meters, d->st, d->trust, &revoked);
  if (rc == 0)
    rc = agg_market_log_enrolments(d->market);
  if (rc == 0)
    rc = agg_market_recount(d->market);
  if (rc == 0) {
    agg_ingest_recount(d->ingest);
    agg_store_meta_get(d->st, "meters_version", &d->meters_version);
    GL_NOTICE(LOG,
              "meters reloaded: %zu enrolled (%zu new), %zu active, %zu "
              "newly revoked",
              agg_meters_count(d->meters), agg_meters_count(d->meters) - before,
              agg_meters_active(d->meters), revoked);
  }
  return rc;
}

static int on_signals(daemon_t *d) {
  struct signalfd_siginfo si;
  while (read(d->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGHUP) {
      GL_NOTICE(LOG, "SIGHUP: reloading the CRL and the meters");
      int rc = reload(d, true);
      if (rc)
        return rc;
    } else {
      GL_NOTICE(LOG, "signal %u: stopping", si.ssi_signo);
      d->stop = true;
    }
  }
  return 0;
}

static void take_message(daemon_t *d, agg_job *j, const pr_mqtt_event *ev) {
  size_t tl = strlen(ev->topic);
  if (ev->payload_len > AGG_JOB_BUF) {
    char msg[96];
    snprintf(msg, sizeof msg, "%zu bytes, more than any meter message (%d)",
             ev->payload_len, AGG_JOB_BUF);
    agg_ingest_reject(d->ingest, ev->topic, AGG_R_OVERSIZE, msg);
    return;
  }
  if (tl >= PR_TOPIC_MAX) {
    agg_ingest_reject(d->ingest, "(long topic)", AGG_R_BAD_TOPIC,
                      "topic longer than any of the tree");
    return;
  }
  if (!agg_ingest_admit(d->ingest, ev->topic, tl))
    return; /* the slot stays free */
  memcpy(j->topic, ev->topic, tl + 1);
  j->topic_len = tl;
  memcpy(j->buf, ev->payload, ev->payload_len);
  j->len = ev->payload_len;
  if (ev->response_topic && strlen(ev->response_topic) < PR_TOPIC_MAX)
    snprintf(j->response_topic, sizeof j->response_topic, "%s",
             ev->response_topic);
  if (ev->correlation && ev->correlation_len <= AGG_CORR_MAX) {
    memcpy(j->corr, ev->correlation, ev->correlation_len);
    j->corr_len = ev->correlation_len;
  }
  j->received = gl_clock_now(d->clock);
  agg_verify_submit(d->verify, j);
}

/* The checkpoint the broker retains (or our own publication of one coming
 * back): compared with the database once, at start. */
static int on_checkpoint(daemon_t *d, const pr_mqtt_event *ev) {
  if (d->cp_state == CP_DONE)
    return 0;
  d->cp_state = CP_DONE;
  pr_topic t;
  pr_msg *msg = malloc(sizeof *msg);
  if (!msg)
    return GL_ENOMEM;
  pr_diag diag = {0};
  int rc = pr_topic_parse(ev->topic, strlen(ev->topic), d->cfg->community, &t,
                          &diag);
  if (rc == 0)
    rc = pr_open(ev->payload, ev->payload_len, &t, &d->own_keys, msg, NULL,
                 &diag);
  if (rc == 0 && msg->type != PR_MSG_CHECKPOINT)
    rc = GL_EPROTO;
  if (rc) {
    GL_WARN(LOG,
            "the retained message on %s is not a checkpoint signed with our "
            "key (%s): the database is not checked against it",
            ev->topic, diag.msg[0] ? diag.msg : gl_strerror(rc));
    free(msg);
    return 0;
  }
  rc = agg_market_check_published(d->market, msg->checkpoint.note);
  free(msg);
  return rc;
}

static int drain_mqtt(daemon_t *d) {
  for (int i = 0; i < MQTT_DRAIN_MAX; i++) {
    /* Take an event only when a job slot is free for it: a message that
     * was taken cannot be put back. */
    agg_job *j = agg_verify_slot(d->verify);
    if (!j)
      return 0;
    pr_mqtt_event ev;
    if (pr_mqtt_next(d->mqtt, &ev) != 0)
      return 0;
    switch (ev.type) {
    case PR_MQTT_CONNECTED:
      agg_count(&d->metrics.mqtt_connects, 1);
      GL_NOTICE(LOG, "connected to %s (session %s)", d->cfg->mqtt_uri,
                ev.session_present ? "resumed" : "new");
      /* What the broker acknowledged to meters but never delivered to us
       * (a broker crash, a session it forgot) comes back only as the
       * meters' re-sends: wait for them before settling anything as
       * missing. A first connection that resumed our session lost nothing. */
      if (d->connected_before || !ev.session_present)
        agg_market_session_gap(d->market, gl_clock_now(d->clock));
      d->connected_before = true;
      break;
    case PR_MQTT_DISCONNECTED:
      if (d->online || atomic_load(&d->metrics.mqtt_connected))
        GL_WARN(LOG, "broker connection lost: %s",
                ev.text ? ev.text : "unknown reason");
      agg_count(&d->metrics.mqtt_disconnects, 1);
      agg_gauge(&d->metrics.mqtt_connected, 0);
      d->online = false;
      agg_outbox_disconnected(d->outbox);
      break;
    case PR_MQTT_SUBSCRIBED:
      if (ev.topic && strcmp(ev.topic, d->cp_topic) == 0) {
        if (!ev.ok) {
          GL_WARN(LOG,
                  "cannot read %s (reason 0x%02x): the database is not "
                  "checked against the published checkpoint",
                  d->cp_topic, ev.reason);
          d->cp_state = CP_DONE;
        } else if (d->cp_state == CP_SUBSCRIBING) {
          d->cp_state = CP_WAITING;
          d->cp_deadline = gl_clock_monotonic(d->real) + CP_WAIT_NS;
        }
        break;
      }
      if (ev.ok && d->cp_state == CP_WAITING) {
        GL_INFO(LOG, "no checkpoint retained on %s yet (a new ledger)",
                d->cp_topic);
        d->cp_state = CP_DONE;
      }
      if (ev.ok) {
        d->online = true;
        agg_gauge(&d->metrics.mqtt_connected, 1);
        agg_market_online(d->market, gl_clock_now(d->clock));
        GL_INFO(LOG, "subscribed to the meters' topics");
      } else {
        GL_ERROR(LOG,
                 "the broker refused our subscription (reason 0x%02x): "
                 "check the ACL for user aggregator",
                 ev.reason);
      }
      break;
    case PR_MQTT_PUBLISHED:
      if (agg_outbox_published(d->outbox, &ev) && ev.ok)
        crashpoint(d, "publish:acked");
      break;
    case PR_MQTT_MESSAGE:
      if (strcmp(ev.topic, d->cp_topic) == 0) {
        int rc = on_checkpoint(d, &ev);
        if (rc)
          return rc;
        break;
      }
      take_message(d, j, &ev);
      break;
    }
  }
  return 0;
}

static int drain_verified(daemon_t *d) {
  agg_job *j;
  while ((j = agg_verify_next(d->verify)) != NULL) {
    if (!d->batch_since && !agg_ingest_batch(d->ingest))
      d->batch_since = gl_clock_monotonic(d->real);
    int rc = agg_ingest_process(d->ingest, j, NULL, NULL);
    agg_verify_release(d->verify, j);
    if (rc)
      return rc;
    if (agg_ingest_batch(d->ingest))
      crashpoint(d, "ingest:in-batch"); /* acknowledged, not committed */
    if (agg_ingest_batch(d->ingest) >= (size_t)d->cfg->batch_max) {
      rc = flush(d);
      if (rc)
        return rc;
    }
  }
  return 0;
}

static void gauges(daemon_t *d) {
  pr_mqtt_stats s;
  pr_mqtt_get_stats(d->mqtt, &s);
  agg_gauge(&d->metrics.mqtt_queue, (int64_t)s.queue_depth);
  atomic_store(&d->metrics.mqtt_dropped, s.dropped);
  /* "Connected" means receiving: connected and subscribed. */
  agg_gauge(&d->metrics.mqtt_connected,
            d->online && pr_mqtt_connected(d->mqtt) ? 1 : 0);
}

static int periodic(daemon_t *d, int64_t mono) {
  if (mono - d->last_gauges >= GL_NS_PER_SEC) {
    d->last_gauges = mono;
    gauges(d);
  }
  if (mono - d->last_meters_check >= METERS_CHECK_NS) {
    d->last_meters_check = mono;
    int64_t v = 0;
    if (agg_store_meta_get(d->st, "meters_version", &v) == 0 &&
        v != d->meters_version) {
      int rc = reload(d, false);
      if (rc)
        return rc;
    }
  }
  if (mono - d->last_prune >= PRUNE_NS) {
    d->last_prune = mono;
    int rc = flush(d);
    int n = 0;
    if (rc == 0)
      rc = agg_ingest_prune(d->ingest, 5000, &n);
    if (rc)
      return rc;
    if (n)
      GL_INFO(LOG, "pruned %d message(s) older than storage.retention", n);
  }
  return 0;
}

static int timeout_ms(daemon_t *d, int64_t now, int64_t mono) {
  int64_t t = GL_NS_PER_SEC; /* periodic work */
  if (d->batch_since) {
    int64_t left = d->batch_since + d->cfg->batch_delay - mono;
    if (left < t)
      t = left;
  }
  if (d->cp_state == CP_WAITING && d->cp_deadline - mono < t)
    t = d->cp_deadline - mono;
  int64_t due =
      d->cp_state == CP_DONE ? agg_market_next(d->market, now) : INT64_MAX;
  if (due != INT64_MAX && d->online) {
    int64_t left = due > now ? gl_clock_real_duration(d->clock, due - now) : 0;
    if (left < t)
      t = left;
  }
  if (d->cp_state == CP_DONE && agg_outbox_depth(d->outbox) &&
      pr_mqtt_connected(d->mqtt) && t > 200 * GL_NS_PER_MS)
    t = 200 * GL_NS_PER_MS; /* refused messages retry */
  if (t < 0)
    t = 0;
  return (int)((t + GL_NS_PER_MS - 1) / GL_NS_PER_MS);
}

static int loop(daemon_t *d) {
  struct pollfd fds[3] = {{.fd = pr_mqtt_fd(d->mqtt), .events = POLLIN},
                          {.fd = agg_verify_fd(d->verify), .events = POLLIN},
                          {.fd = d->sfd, .events = POLLIN}};
  int rc = 0;
  while (!d->stop && rc == 0) {
    int64_t now = gl_clock_now(d->clock);
    int64_t mono = gl_clock_monotonic(d->real);
    /* With every verification slot taken, drain_mqtt leaves the broker's
     * messages queued: the MQTT fd would stay readable and poll() would
     * spin until a worker finished. Wait for the verify fd instead. */
    fds[0].events =
        agg_verify_pending(d->verify) < (size_t)d->cfg->queue ? POLLIN : 0;
    int n = poll(fds, 3, timeout_ms(d, now, mono));
    if (n < 0 && errno != EINTR) {
      GL_ERROR(LOG, "poll: %s", strerror(errno));
      return GL_EIO;
    }
    if (fds[2].revents & POLLIN)
      rc = on_signals(d);
    if (rc == 0)
      rc = drain_mqtt(d);
    if (rc == 0)
      rc = drain_verified(d);
    mono = gl_clock_monotonic(d->real);
    now = gl_clock_now(d->clock);
    if (rc == 0 && d->batch_since &&
        mono - d->batch_since >= d->cfg->batch_delay)
      rc = flush(d);
    if (d->cp_state == CP_WAITING && mono >= d->cp_deadline) {
      GL_INFO(LOG, "no checkpoint retained on %s yet (a new ledger)",
              d->cp_topic);
      d->cp_state = CP_DONE;
    }
    if (rc == 0 && d->cp_state == CP_DONE &&
        agg_market_next(d->market, now) <= now) {
      rc = flush(d);
      if (rc == 0)
        rc = agg_market_tick(d->market, now, d->online, NULL);
    }
    if (rc == 0 && !agg_ingest_pending(d->ingest))
      rc = agg_market_reserve_seqs(d->market, d->cfg->queue + 1000);
    if (rc == 0 && d->cp_state == CP_DONE)
      rc = agg_outbox_pump(d->outbox, d->mqtt, mono);
    if (rc == 0)
      rc = periodic(d, mono);
  }
  if (rc)
    GL_ERROR(LOG, "stopping after an error: %s", gl_strerror(rc));
  return rc;
}

/*
 * A clean stop loses nothing paho acknowledged: first close the broker
 * connection (nothing more arrives, nothing more is acknowledged), then
 * verify and store everything already received (the MQTT queue and the
 * verification ring), commit, and only then mark the stop clean. What the
 * broker has not delivered yet stays in our persistent session.
 */
static int drain_and_stop(daemon_t *d) {
  GL_NOTICE(LOG, "stopping: closing the broker connection, then storing "
                 "every message already received");
  pr_mqtt_disconnect(d->mqtt);
  d->online = false;
  struct pollfd fd = {.fd = agg_verify_fd(d->verify), .events = POLLIN};
  for (;;) {
    int rc = drain_mqtt(d);
    if (rc == 0)
      rc = drain_verified(d);
    if (rc)
      return rc;
    pr_mqtt_stats s;
    pr_mqtt_get_stats(d->mqtt, &s);
    if (s.queue_depth == 0 && agg_verify_pending(d->verify) == 0)
      break;
    if (poll(&fd, 1, 100) < 0 && errno != EINTR) {
      GL_ERROR(LOG, "poll: %s", strerror(errno));
      return GL_EIO;
    }
  }
  int rc = flush(d);
  if (rc == 0)
    rc = agg_market_stopped_cleanly(d->market);
  if (rc == 0)
    GL_NOTICE(LOG, "every message received is stored; stopped cleanly");
  return rc;
}

int agg_daemon_run(const agg_config *cfg, const gl_clock *clock,
                   const gl_clock *real) {
  daemon_t *d = calloc(1, sizeof *d);
  if (!d)
    return GL_ENOMEM;
  d->cfg = cfg;
  d->clock = clock;
  d->real = real;
  d->sfd = -1;
  agg_metrics_init(&d->metrics);
  agg_gauge(&d->metrics.start_time, gl_clock_now(real));
  crash_setup(d);
  /* Block the signals before any thread starts, so that every thread
   * inherits the mask and only the signalfd sees them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  d->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  int rc = d->sfd < 0 ? GL_EIO : build(d);
  if (rc == 0) {
    GL_NOTICE(LOG,
              "community %s: %zu meters enrolled (%zu active), market %s, "
              "ledger %s",
              cfg->community, agg_meters_count(d->meters),
              agg_meters_active(d->meters), mkt_mode_name((mkt_mode)cfg->mode),
              cfg->origin);
    rc = loop(d);
    if (rc == 0)
      rc = drain_and_stop(d);
  }
  teardown(d);
  if (d->sfd >= 0)
    close(d->sfd);
  free(d);
  return rc;
}
