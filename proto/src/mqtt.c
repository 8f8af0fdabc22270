/* SPDX-License-Identifier: MIT */
/*
 * mqtt.c - MQTT 5 client over paho's MQTTAsync. See gridlet/pr_mqtt.h.
 *
 * The one file that talks to paho: its return codes and callbacks end here.
 *
 * Structure:
 *   - an event queue (mutex, condition, eventfd) filled by paho's threads
 *     and drained by the owner;
 *   - a retry thread that (re)connects with backoff whenever we are neither
 *     connected nor connecting (paho's own automatic reconnect does not
 *     retry a first connection that failed, so we do all of it ourselves);
 *   - a list of outstanding publishes, so that every publish gets exactly
 *     one outcome even when the connection drops before its PUBACK. Each
 *     entry is shared by the owner (inside pr_mqtt_publish: `sending`) and
 *     paho (until it calls back: `with_paho`); whoever lets go of it last
 *     frees it, so neither can touch freed memory.
 */
#include "gridlet/pr_mqtt.h"

#include "gridlet/error.h"
#include "gridlet/log.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBS 32
#define DEFAULT_QUEUE_MAX 1000000
#define DEFAULT_QUEUE_MAX_BYTES (64u * 1024 * 1024)
#define DEFAULT_MAX_PACKET 65536
/* A connection must last this long before it counts as recovered: a broker
 * that accepts and at once drops us (a duplicate client id, an ACL reload)
 * must not make us reconnect at the minimum backoff forever. */
#define STABLE_MS 30000

/* An event in the queue, with the memory it owns. */
typedef struct node {
  pr_mqtt_event ev;
  char *topic, *text, *response_topic;
  uint8_t *payload, *correlation;
} node;

typedef struct sub {
  pr_mqtt *m;
  char *filter;
  int qos;
} sub;

/* An outstanding publish, the context of paho's callbacks for it. */
typedef struct pending {
  pr_mqtt *m;
  uint64_t token;
  bool done;      /* outcome already reported */
  bool sending;   /* the owner is inside MQTTAsync_sendMessage with it */
  bool with_paho; /* paho may still call back with it as context */
  struct pending *prev, *next;
} pending;

struct pr_mqtt {
  MQTTAsync client;
  /* copies of the configuration */
  char *uri, *client_id, *ca_file, *cert_file, *key_file, *username, *password,
      *will_topic;
  uint8_t *will_payload;
  size_t will_len;
  bool will_retain;
  int will_qos;
  bool tls;
  int keepalive_s;
  size_t max_packet;
  bool clean_start;
  uint32_t session_expiry_s;
  int reconnect_min_ms, reconnect_max_ms;
  gl_rand rand;

  pthread_mutex_t lock;
  pthread_cond_t wake; /* retry thread: something changed */
  node *queue;
  size_t qcap, qhead, qlen, qmax;
  size_t qbytes, qmax_bytes; /* payload bytes of queued messages */
  node current;
  int efd;

  atomic_bool connected;
  bool started, stopping, connecting;
  bool joined;       /* the retry thread was joined (pr_mqtt_disconnect) */
  bool disconnected; /* pr_mqtt_disconnect ran */
  pthread_t retry_thread;
  int64_t next_attempt_ms; /* CLOCK_MONOTONIC */
  int64_t connected_at_ms;
  bool flapping; /* connections keep dropping soon after being made */
  int backoff_ms;
  unsigned failed_attempts;
  char last_failure[160];

  sub subs[MAX_SUBS];
  int nsubs;
  pending *pending_head;
  int inflight;    /* publishes handed to paho without an outcome yet */
  int receive_max; /* the broker's MQTT 5 Receive Maximum (CONNACK) */
  uint64_t next_token;
  pr_mqtt_stats stats;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static void *dup_bytes(const void *p, size_t n) {
  if (!p || n == 0)
    return NULL;
  void *d = malloc(n + 1); /* +1: payloads are NUL-terminated for convenience */
  if (d) {
    memcpy(d, p, n);
    ((uint8_t *)d)[n] = 0;
  }
  return d;
}

static void node_free(node *n) {
  free(n->topic);
  free(n->text);
  free(n->response_topic);
  free(n->payload);
  free(n->correlation);
  memset(n, 0, sizeof *n);
}

/* ---- The event queue (lock held by callers of push) -------------------- */

static bool queue_grow(pr_mqtt *m) {
  size_t ncap = m->qcap ? m->qcap * 2 : 64;
  node *q = calloc(ncap, sizeof *q);
  if (!q)
    return false;
  for (size_t i = 0; i < m->qlen; i++)
    q[i] = m->queue[(m->qhead + i) % m->qcap];
  free(m->queue);
  m->queue = q;
  m->qcap = ncap;
  m->qhead = 0;
  return true;
}

/* Append an event; takes ownership of n's memory. Never blocks: callers
 * that must respect the bound (message delivery) wait before calling. */
static void push_locked(pr_mqtt *m, node *n) {
  if (m->qlen == m->qcap && !queue_grow(m)) {
    GL_ERROR("mqtt", "out of memory queueing an event; event dropped");
    node_free(n);
    return;
  }
  m->queue[(m->qhead + m->qlen) % m->qcap] = *n;
  m->qlen++;
  if (n->ev.type == PR_MQTT_MESSAGE)
    m->qbytes += n->ev.payload_len;
  uint64_t one = 1;
  ssize_t w = write(m->efd, &one, sizeof one);
  (void)w; /* an eventfd write only fails when the counter would overflow */
}

/* ---- Backoff and logging of connection failures ------------------------ */

/* Schedule the next attempt (lock held): exponential backoff with +-25%
 * jitter so that a hundred meters do not reconnect in lockstep after a
 * broker restart. */
static void schedule_retry_locked(pr_mqtt *m) {
  int base = m->backoff_ms;
  uint64_t r = 0;
  int jitter = 0;
  if (base >= 4 && gl_rand_below(&m->rand, (uint64_t)(base / 2), &r) == 0)
    jitter = (int)r - base / 4;
  m->next_attempt_ms = mono_ms() + base + jitter;
  m->backoff_ms =
      base >= m->reconnect_max_ms / 2 ? m->reconnect_max_ms : base * 2;
  pthread_cond_signal(&m->wake);
}

/* Log a failure once per distinct cause, so a broker that is down for a
 * week does not fill the disk; the reconnect log line says how many
 * attempts failed in between. */
static void note_failure_locked(pr_mqtt *m, const char *what) {
  m->failed_attempts++;
  if (strcmp(m->last_failure, what) != 0) {
    GL_WARN("mqtt", "%s: %s (retrying with backoff)", m->uri, what);
    snprintf(m->last_failure, sizeof m->last_failure, "%s", what);
  } else {
    GL_DEBUG("mqtt", "%s: %s (attempt %u)", m->uri, what, m->failed_attempts);
  }
}

/* ---- Paho callbacks (paho's threads) ------------------------------------ */

static int send_subscribe(pr_mqtt *m, sub *s);

static void on_connect_ok(void *ctx, MQTTAsync_successData5 *r) {
  pr_mqtt *m = ctx;
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->connected, true);
  m->connecting = false;
  m->connected_at_ms = mono_ms();
  /* The backoff and the failure count are reset only once the connection
   * has proved stable (see on_connection_lost). */
  if (m->flapping)
    GL_DEBUG("mqtt", "connected to %s again (attempt %u)", m->uri,
             m->failed_attempts);
  else if (m->failed_attempts)
    GL_NOTICE("mqtt", "connected to %s after %u failed attempts", m->uri,
              m->failed_attempts);
  else
    GL_INFO("mqtt", "connected to %s", m->uri);
  m->stats.connects++;
  /* Never hand paho more unacknowledged publishes than the broker accepts:
   * paho would park the excess until its send thread's timer fires, which
   * throttles a busy publisher to a few dozen messages a second. */
  m->receive_max = 65535;
  MQTTProperty *rm = r ? MQTTProperties_getProperty(
                             &r->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM)
                       : NULL;
  if (rm && rm->value.integer2 > 0)
    m->receive_max = rm->value.integer2;
  node n = {0};
  n.ev.type = PR_MQTT_CONNECTED;
  n.ev.ok = true;
  n.ev.session_present = r && r->alt.connect.sessionPresent;
  push_locked(m, &n);
  /* Renew the subscriptions outside our lock: paho takes its own locks,
   * and we never hold ours while calling into paho. Entries are only ever
   * appended, so the ones counted here stay valid. */
  int nsubs = m->nsubs;
  pthread_mutex_unlock(&m->lock);
  for (int i = 0; i < nsubs; i++)
    send_subscribe(m, &m->subs[i]);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r) {
  pr_mqtt *m = ctx;
  char why[160];
  if (r && r->reasonCode)
    snprintf(why, sizeof why, "connect refused: %s (reason %d)",
             MQTTReasonCode_toString(r->reasonCode), (int)r->reasonCode);
  else
    snprintf(why, sizeof why, "connect failed: %s (code %d)",
             r && r->message ? r->message : "no detail", r ? r->code : 0);
  pthread_mutex_lock(&m->lock);
  m->connecting = false;
  m->stats.disconnects++;
  note_failure_locked(m, why);
  schedule_retry_locked(m);
  node n = {0};
  n.ev.type = PR_MQTT_DISCONNECTED;
  n.ev.reason = r ? (int)r->reasonCode : 0;
  n.text = strdup(why);
  push_locked(m, &n);
  pthread_mutex_unlock(&m->lock);
}

/* Every publish still waiting for its PUBACK fails now: the caller keeps
 * the message and sends it again after the reconnect. The broker may still
 * have it (the PUBACK was lost, not the message); receivers deduplicate. */
static void fail_pending_locked(pr_mqtt *m, const char *why) {
  for (pending *p = m->pending_head; p; p = p->next) {
    /* An entry inside MQTTAsync_sendMessage gets its outcome there. */
    if (p->done || p->sending)
      continue;
    p->done = true;
    m->inflight--;
    m->stats.published_failed++;
    node n = {0};
    n.ev.type = PR_MQTT_PUBLISHED;
    n.ev.ok = false;
    n.ev.token = p->token;
    n.text = strdup(why);
    push_locked(m, &n);
  }
}

static void on_connection_lost(void *ctx, char *cause) {
  pr_mqtt *m = ctx;
  char why[160];
  snprintf(why, sizeof why, "connection lost: %s",
           cause && *cause ? cause : "closed by peer or network");
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->connected, false);
  m->stats.disconnects++;
  if (mono_ms() - m->connected_at_ms >= STABLE_MS) {
    /* A connection that held: report the loss and start over quickly. */
    m->flapping = false;
    m->failed_attempts = 0;
    m->backoff_ms = m->reconnect_min_ms;
    GL_WARN("mqtt", "%s: %s", m->uri, why);
    snprintf(m->last_failure, sizeof m->last_failure, "%s", why);
  } else {
    /* Dropped right after connecting: keep backing off, log once. */
    m->flapping = true;
    note_failure_locked(m, why);
  }
  fail_pending_locked(m, why);
  schedule_retry_locked(m);
  node n = {0};
  n.ev.type = PR_MQTT_DISCONNECTED;
  n.text = strdup(why);
  push_locked(m, &n);
  pthread_mutex_unlock(&m->lock);
}

static int on_message(void *ctx, char *topic, int topic_len,
                      MQTTAsync_message *msg) {
  pr_mqtt *m = ctx;
  pthread_mutex_lock(&m->lock);
  size_t plen0 = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  if (plen0 > m->max_packet) {
    /* We announce our maximum packet size at connect, so a conforming
     * broker never sends this; if one does, it is refused, not stored. */
    m->stats.dropped++;
    GL_ERROR("mqtt",
             "dropped a %zu-byte message on %s: above the %zu-byte "
             "limit",
             plen0, topic, m->max_packet);
    pthread_mutex_unlock(&m->lock);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
  }
  if (m->qlen >= m->qmax || m->qbytes + plen0 > m->qmax_bytes) {
    /* The owner is far behind. paho has already acknowledged this QoS 1
     * message to the broker (it sends PUBACK on receipt), so refusing it
     * (returning 0) would not make the broker keep it, and it stalls
     * paho's delivery. Drop it, loudly: gridlet's end-to-end receipts make
     * the sender publish it again. */
    m->stats.dropped++;
    if (m->stats.dropped == 1 || m->stats.dropped % 1000 == 0)
      GL_ERROR("mqtt",
               "incoming queue full (%zu events, %zu bytes): "
               "dropped %llu message(s) so far; the sender will repeat them",
               m->qlen, m->qbytes, (unsigned long long)m->stats.dropped);
    pthread_mutex_unlock(&m->lock);
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
  }
  node n = {0};
  n.ev.type = PR_MQTT_MESSAGE;
  n.ev.ok = true;
  size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
  n.topic = dup_bytes(topic, tlen ? tlen : 1);
  if (n.topic)
    n.topic[tlen] = '\0';
  size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  n.payload = plen ? dup_bytes(msg->payload, plen) : NULL;
  n.ev.payload_len = plen;
  n.ev.qos = msg->qos;
  n.ev.retained = msg->retained != 0;
  MQTTProperty *rt = MQTTProperties_getProperty(
      &msg->properties, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
  if (rt && rt->value.data.len > 0) {
    n.response_topic =
        dup_bytes(rt->value.data.data, (size_t)rt->value.data.len);
  }
  MQTTProperty *cd = MQTTProperties_getProperty(
      &msg->properties, MQTTPROPERTY_CODE_CORRELATION_DATA);
  if (cd && cd->value.data.len > 0) {
    n.correlation = dup_bytes(cd->value.data.data, (size_t)cd->value.data.len);
    n.ev.correlation_len = (size_t)cd->value.data.len;
  }
  if (!n.topic || (plen && !n.payload)) {
    node_free(&n);
    pthread_mutex_unlock(&m->lock);
    return 0; /* out of memory: let paho offer it again */
  }
  m->stats.received++;
  push_locked(m, &n);
  pthread_mutex_unlock(&m->lock);
  MQTTAsync_freeMessage(&msg);
  MQTTAsync_free(topic);
  return 1;
}

static void unlink_pending_locked(pr_mqtt *m, pending *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    m->pending_head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

static void publish_outcome(pending *p, bool ok, int reason, const char *why) {
  pr_mqtt *m = p->m;
  pthread_mutex_lock(&m->lock);
  if (!p->done) {
    p->done = true;
    m->inflight--;
    if (ok)
      m->stats.published_ok++;
    else
      m->stats.published_failed++;
    node n = {0};
    n.ev.type = PR_MQTT_PUBLISHED;
    n.ev.ok = ok;
    n.ev.reason = reason;
    n.ev.token = p->token;
    n.text = dup_or_null(why);
    push_locked(m, &n);
  }
  /* paho will not call back for this publish again. Free it, unless the
   * owner is still inside MQTTAsync_sendMessage with it (a fast PUBACK can
   * beat the return): then pr_mqtt_publish frees it. */
  p->with_paho = false;
  bool free_now = !p->sending;
  if (free_now)
    unlink_pending_locked(m, p);
  pthread_mutex_unlock(&m->lock);
  if (free_now)
    free(p);
}

static void on_publish_ok(void *ctx, MQTTAsync_successData5 *r) {
  int reason = r ? (int)r->reasonCode : 0;
  /* MQTT 5 PUBACK reason codes >= 0x80 are refusals, even when paho
   * reports them through the success path. */
  if (reason >= 0x80)
    publish_outcome(ctx, false, reason,
                    MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
  else
    publish_outcome(ctx, true, reason, NULL);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData5 *r) {
  char why[160];
  if (r && r->reasonCode)
    snprintf(why, sizeof why, "refused by broker: %s",
             MQTTReasonCode_toString(r->reasonCode));
  else
    snprintf(why, sizeof why, "not delivered: %s",
             r && r->message ? r->message : "connection problem");
  publish_outcome(ctx, false, r ? (int)r->reasonCode : 0, why);
}

static void on_subscribe_ok(void *ctx, MQTTAsync_successData5 *r) {
  sub *s = ctx;
  /* We subscribe one filter at a time, and for a single filter paho puts
   * the granted QoS or refusal in reasonCode (alt.sub is only filled in
   * for multi-filter subscriptions). */
  int reason = r ? (int)r->reasonCode : 0;
  bool ok = reason < 0x80;
  if (!ok)
    GL_WARN("mqtt", "subscription to %s refused: %s", s->filter,
            MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
  node n = {0};
  n.ev.type = PR_MQTT_SUBSCRIBED;
  n.ev.ok = ok;
  n.ev.reason = reason;
  n.topic = strdup(s->filter);
  pthread_mutex_lock(&s->m->lock);
  push_locked(s->m, &n);
  pthread_mutex_unlock(&s->m->lock);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData5 *r) {
  sub *s = ctx;
  GL_WARN("mqtt", "subscription to %s failed: %s", s->filter,
          r && r->reasonCode ? MQTTReasonCode_toString(r->reasonCode)
                             : "connection problem");
  node n = {0};
  n.ev.type = PR_MQTT_SUBSCRIBED;
  n.ev.ok = false;
  n.ev.reason = r ? (int)r->reasonCode : 0;
  n.topic = strdup(s->filter);
  pthread_mutex_lock(&s->m->lock);
  push_locked(s->m, &n);
  pthread_mutex_unlock(&s->m->lock);
}

static int send_subscribe(pr_mqtt *m, sub *s) {
  MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
  opts.onSuccess5 = on_subscribe_ok;
  opts.onFailure5 = on_subscribe_fail;
  opts.context = s;
  int rc = MQTTAsync_subscribe(m->client, s->filter, s->qos, &opts);
  if (rc != MQTTASYNC_SUCCESS)
    GL_WARN("mqtt", "cannot subscribe to %s (paho %d)", s->filter, rc);
  return rc;
}

/* ---- Connecting --------------------------------------------------------- */

static int start_connect(pr_mqtt *m) {
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer5;
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
  MQTTProperties props = MQTTProperties_initializer;
  co.keepAliveInterval = m->keepalive_s;
  co.cleanstart = m->clean_start;
  co.automaticReconnect = 0;
  co.connectTimeout = 10;
  co.onSuccess5 = on_connect_ok;
  co.onFailure5 = on_connect_fail;
  co.context = m;
  co.username = m->username;
  co.password = m->password;
  /* MQTT 5 Maximum Packet Size: the broker must not send us more. */
  MQTTProperty mp = {.identifier = MQTTPROPERTY_CODE_MAXIMUM_PACKET_SIZE};
  mp.value.integer4 = (unsigned int)m->max_packet + 1024; /* + headers */
  MQTTProperties_add(&props, &mp);
  co.connectProperties = &props;
  if (m->session_expiry_s) {
    MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    p.value.integer4 = m->session_expiry_s;
    MQTTProperties_add(&props, &p);
  }
  /* The will may be replaced at any time (pr_mqtt_set_will: a meter signs
   * a fresh "offline" status for every connection), so take a copy. */
  pthread_mutex_lock(&m->lock);
  char *will_topic = dup_or_null(m->will_topic);
  void *will_payload = dup_bytes(m->will_payload, m->will_len);
  size_t will_len = will_payload ? m->will_len : 0;
  bool will_retain = m->will_retain;
  int will_qos = m->will_qos;
  pthread_mutex_unlock(&m->lock);
  if (will_topic) {
    will.topicName = will_topic;
    will.message = NULL;
    will.payload.data = will_payload;
    will.payload.len = (int)will_len;
    will.retained = will_retain;
    will.qos = will_qos;
    co.will = &will;
  }
  if (m->tls) {
    ssl.trustStore = m->ca_file;
    ssl.keyStore = m->cert_file;
    ssl.privateKey = m->key_file;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1; /* check the broker's name against its certificate */
    ssl.disableDefaultTrustStore = m->ca_file != NULL;
    co.ssl = &ssl;
  }
  /* paho copies what it keeps of the options before returning. */
  int rc = MQTTAsync_connect(m->client, &co);
  MQTTProperties_free(&props);
  free(will_topic);
  free(will_payload);
  return rc;
}

static void *retry_main(void *arg) {
  pr_mqtt *m = arg;
  pthread_mutex_lock(&m->lock);
  while (!m->stopping) {
    int64_t now = mono_ms();
    if (!atomic_load(&m->connected) && !m->connecting &&
        now >= m->next_attempt_ms) {
      m->connecting = true;
      pthread_mutex_unlock(&m->lock);
      int rc = start_connect(m);
      pthread_mutex_lock(&m->lock);
      if (rc != MQTTASYNC_SUCCESS) {
        m->connecting = false;
        char why[96];
        snprintf(why, sizeof why, "cannot start connecting (paho %d)", rc);
        note_failure_locked(m, why);
        schedule_retry_locked(m);
      }
      continue;
    }
    /* Sleep until the next attempt is due, or a change wakes us (the
     * condition uses CLOCK_MONOTONIC: wall-clock steps do not matter). */
    int64_t wait_ms = 1000;
    if (!atomic_load(&m->connected) && !m->connecting)
      wait_ms = m->next_attempt_ms - now;
    if (wait_ms > 1000)
      wait_ms = 1000;
    if (wait_ms < 1)
      wait_ms = 1;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(wait_ms / 1000);
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&m->wake, &m->lock, &until);
  }
  pthread_mutex_unlock(&m->lock);
  return NULL;
}

/* ---- Public API --------------------------------------------------------- */

static pthread_once_t paho_once = PTHREAD_ONCE_INIT;
static void paho_global_init(void) {
  MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
  io.do_openssl_init = 1;
  MQTTAsync_global_init(&io);
}

/* paho spells TLS "ssl://"; accept the registered URI schemes too. */
static char *paho_uri(const char *uri, bool *tls) {
  static const struct {
    const char *ours, *paho;
    bool tls;
  } map[] = {{"mqtts://", "ssl://", true},
             {"ssl://", "ssl://", true},
             {"mqtt://", "tcp://", false},
             {"tcp://", "tcp://", false}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    size_t n = strlen(map[i].ours);
    if (strncmp(uri, map[i].ours, n) == 0 && uri[n]) {
      size_t len = strlen(map[i].paho) + strlen(uri + n) + 1;
      char *out = malloc(len);
      if (out)
        snprintf(out, len, "%s%s", map[i].paho, uri + n);
      *tls = map[i].tls;
      return out;
    }
  }
  return NULL;
}

int pr_mqtt_new(const pr_mqtt_config *cfg, pr_mqtt **out) {
  *out = NULL;
  if (!cfg || !cfg->uri || !cfg->client_id || !*cfg->client_id)
    return GL_EINVAL;
  pthread_once(&paho_once, paho_global_init);
  pr_mqtt *m = calloc(1, sizeof *m);
  if (!m)
    return GL_ENOMEM;
  m->efd = -1;
  m->uri = paho_uri(cfg->uri, &m->tls);
  if (!m->uri) {
    GL_ERROR("mqtt",
             "unsupported broker address \"%s\" (use mqtts://host:port)",
             cfg->uri);
    free(m);
    return GL_EINVAL;
  }
  m->client_id = strdup(cfg->client_id);
  m->ca_file = dup_or_null(cfg->ca_file);
  m->cert_file = dup_or_null(cfg->cert_file);
  m->key_file = dup_or_null(cfg->key_file);
  m->username = dup_or_null(cfg->username);
  m->password = dup_or_null(cfg->password);
  m->will_topic = dup_or_null(cfg->will_topic);
  m->will_payload = dup_bytes(cfg->will_payload, cfg->will_len);
  m->will_len = cfg->will_payload ? cfg->will_len : 0;
  m->will_retain = cfg->will_retain;
  m->will_qos = cfg->will_qos;
  m->keepalive_s = cfg->keepalive_s > 0 ? cfg->keepalive_s : 30;
  m->clean_start = cfg->clean_start;
  m->session_expiry_s = cfg->session_expiry_s;
  m->reconnect_min_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 500;
  m->reconnect_max_ms =
      cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 60000;
  if (m->reconnect_max_ms < m->reconnect_min_ms)
    m->reconnect_max_ms = m->reconnect_min_ms;
  m->backoff_ms = m->reconnect_min_ms;
  m->rand = cfg->rand ? *cfg->rand : gl_rand_system();
  m->qmax = cfg->queue_max ? cfg->queue_max : DEFAULT_QUEUE_MAX;
  m->qmax_bytes =
      cfg->queue_max_bytes ? cfg->queue_max_bytes : DEFAULT_QUEUE_MAX_BYTES;
  m->max_packet =
      cfg->max_packet_bytes ? cfg->max_packet_bytes : DEFAULT_MAX_PACKET;
  m->next_token = 1;
  m->receive_max = 65535;
  pthread_mutex_init(&m->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->wake, &ca);
  pthread_condattr_destroy(&ca);
  m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

  int rc = GL_OK;
  /* A copy that failed must not silently change behaviour (a NULL CA file
   * would fall back to the system's trust store). */
  bool copies_ok =
      m->client_id && (!cfg->ca_file || m->ca_file) &&
      (!cfg->cert_file || m->cert_file) && (!cfg->key_file || m->key_file) &&
      (!cfg->username || m->username) && (!cfg->password || m->password) &&
      (!cfg->will_topic || m->will_topic) &&
      (!cfg->will_payload || !cfg->will_len || m->will_payload);
  if (!copies_ok || m->efd < 0 || !queue_grow(m)) {
    rc = GL_ENOMEM;
  } else {
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    co.sendWhileDisconnected = 0;
    /* Publishes waiting inside paho for the broker's receive window. */
    co.maxBufferedMessages = 1000;
    int prc =
        MQTTAsync_createWithOptions(&m->client, m->uri, m->client_id,
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (prc == MQTTASYNC_SUCCESS)
      prc = MQTTAsync_setCallbacks(m->client, m, on_connection_lost, on_message,
                                   NULL);
    if (prc != MQTTASYNC_SUCCESS) {
      GL_ERROR("mqtt", "paho refused the client options for %s (%d)", m->uri,
               prc);
      rc = GL_EPROTO;
    }
  }
  if (rc) {
    pr_mqtt_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int pr_mqtt_connect(pr_mqtt *m) {
  pthread_mutex_lock(&m->lock);
  if (m->started) {
    pthread_mutex_unlock(&m->lock);
    return GL_ESTATE;
  }
  m->started = true;
  m->next_attempt_ms = 0;
  int rc = pthread_create(&m->retry_thread, NULL, retry_main, m);
  if (rc != 0)
    m->started = false;
  pthread_mutex_unlock(&m->lock);
  return rc ? GL_ENOMEM : 0;
}

/* Stop reconnecting and close the connection in order; the queue stays
 * readable. Idempotent. Owner thread. */
static void disconnect(pr_mqtt *m) {
  if (m->disconnected)
    return;
  m->disconnected = true;
  pthread_mutex_lock(&m->lock);
  bool started = m->started;
  m->stopping = true;
  pthread_cond_broadcast(&m->wake);
  pthread_mutex_unlock(&m->lock);
  if (started && !m->joined)
    pthread_join(m->retry_thread, NULL);
  m->joined = true;
  if (!m->client)
    return;
  /* A connect the retry thread started may still be under way: let it
   * finish (a few seconds at most), so that it cannot open a session
   * after the disconnect below. */
  for (int i = 0; i < 300; i++) {
    pthread_mutex_lock(&m->lock);
    bool busy = m->connecting;
    pthread_mutex_unlock(&m->lock);
    if (!busy)
      break;
    usleep(10000);
  }
  if (MQTTAsync_isConnected(m->client)) {
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = 1000;
    if (MQTTAsync_disconnect(m->client, &d) == MQTTASYNC_SUCCESS) {
      for (int i = 0; i < 100 && MQTTAsync_isConnected(m->client); i++)
        usleep(10000);
    }
  }
  /* paho reports no connection loss for a disconnect we asked for. */
  atomic_store(&m->connected, false);
}

void pr_mqtt_disconnect(pr_mqtt *m) {
  if (m)
    disconnect(m);
}

void pr_mqtt_free(pr_mqtt *m) {
  if (!m)
    return;
  disconnect(m);
  if (m->client) {
    /* MQTTAsync_destroy may still call failure callbacks for commands it
     * discards (lock and queue are valid until below); after it returns
     * paho calls nothing back, so what is pending is ours to free. */
    MQTTAsync_destroy(&m->client);
  }
  for (pending *p = m->pending_head, *n; p; p = n) {
    n = p->next;
    free(p);
  }
  for (size_t i = 0; i < m->qlen; i++)
    node_free(&m->queue[(m->qhead + i) % m->qcap]);
  node_free(&m->current);
  free(m->queue);
  for (int i = 0; i < m->nsubs; i++)
    free(m->subs[i].filter);
  if (m->efd >= 0)
    close(m->efd);
  pthread_mutex_destroy(&m->lock);
  pthread_cond_destroy(&m->wake);
  free(m->uri);
  free(m->client_id);
  free(m->ca_file);
  free(m->cert_file);
  free(m->key_file);
  free(m->username);
  if (m->password)
    memset(m->password, 0, strlen(m->password));
  free(m->password);
  free(m->will_topic);
  free(m->will_payload);
  free(m);
}

int pr_mqtt_fd(const pr_mqtt *m) {
  return m->efd;
}

bool pr_mqtt_connected(const pr_mqtt *m) {
  return atomic_load(&m->connected);
}

int pr_mqtt_next(pr_mqtt *m, pr_mqtt_event *ev) {
  pthread_mutex_lock(&m->lock);
  node_free(&m->current);
  if (m->qlen == 0) {
    uint64_t v;
    ssize_t r = read(m->efd, &v, sizeof v); /* reset the counter */
    (void)r;
    pthread_mutex_unlock(&m->lock);
    return GL_EAGAIN;
  }
  m->current = m->queue[m->qhead];
  memset(&m->queue[m->qhead], 0, sizeof(node));
  if (m->current.ev.type == PR_MQTT_MESSAGE)
    m->qbytes -= m->current.ev.payload_len;
  m->qhead = (m->qhead + 1) % m->qcap;
  m->qlen--;
  if (m->qlen == 0) {
    uint64_t v;
    ssize_t r = read(m->efd, &v, sizeof v);
    (void)r;
  }
  pthread_mutex_unlock(&m->lock);

  node *c = &m->current;
  *ev = c->ev;
  ev->topic = c->topic;
  ev->text = c->text;
  ev->payload = c->payload;
  ev->response_topic = c->response_topic;
  ev->correlation = c->correlation;
  return 0;
}

bool pr_mqtt_wait(pr_mqtt *m, int timeout_ms) {
  pthread_mutex_lock(&m->lock);
  bool any = m->qlen > 0;
  pthread_mutex_unlock(&m->lock);
  if (any)
    return true;
  struct pollfd p = {.fd = m->efd, .events = POLLIN};
  int rc;
  do
    rc = poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

int pr_mqtt_subscribe(pr_mqtt *m, const char *filter, int qos) {
  if (!filter || !*filter || qos < 0 || qos > 1)
    return GL_EINVAL;
  pthread_mutex_lock(&m->lock);
  if (m->nsubs == MAX_SUBS) {
    pthread_mutex_unlock(&m->lock);
    return GL_EFULL;
  }
  sub *s = &m->subs[m->nsubs];
  s->m = m;
  s->qos = qos;
  s->filter = strdup(filter);
  if (!s->filter) {
    pthread_mutex_unlock(&m->lock);
    return GL_ENOMEM;
  }
  m->nsubs++;
  pthread_mutex_unlock(&m->lock);
  /* If a connect completes between here and there, the filter may be
   * subscribed twice; the broker treats that as one subscription. */
  if (atomic_load(&m->connected))
    send_subscribe(m, s);
  return 0;
}

int pr_mqtt_publish(pr_mqtt *m, const pr_mqtt_msg *msg, uint64_t *token) {
  if (!msg || !msg->topic || !*msg->topic || msg->qos < 0 || msg->qos > 1 ||
      msg->payload_len > 256u * 1024 * 1024 || msg->correlation_len > 65535 ||
      strpbrk(msg->topic, "+#"))
    return GL_EINVAL; /* wildcards are for filters, never a topic name */
  if (!atomic_load(&m->connected))
    return GL_ECONN;
  pending *p = calloc(1, sizeof *p);
  if (!p)
    return GL_ENOMEM;
  p->m = m;

  MQTTAsync_message pm = MQTTAsync_message_initializer;
  pm.payload = (void *)msg->payload;
  pm.payloadlen = (int)msg->payload_len;
  pm.qos = msg->qos;
  pm.retained = msg->retain;
  if (msg->response_topic) {
    MQTTProperty prop = {.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC};
    prop.value.data.data = (char *)msg->response_topic;
    prop.value.data.len = (int)strlen(msg->response_topic);
    MQTTProperties_add(&pm.properties, &prop);
  }
  if (msg->correlation && msg->correlation_len) {
    MQTTProperty prop = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
    prop.value.data.data = (char *)msg->correlation;
    prop.value.data.len = (int)msg->correlation_len;
    MQTTProperties_add(&pm.properties, &prop);
  }
  if (msg->expiry_s) {
    MQTTProperty prop = {.identifier =
                             MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL};
    prop.value.integer4 = msg->expiry_s;
    MQTTProperties_add(&pm.properties, &prop);
  }
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess5 = on_publish_ok;
  ro.onFailure5 = on_publish_fail;
  ro.context = p;

  /* Link before sending: paho may call back before sendMessage returns. */
  pthread_mutex_lock(&m->lock);
  if (m->inflight >= m->receive_max) {
    pthread_mutex_unlock(&m->lock);
    MQTTProperties_free(&pm.properties);
    free(p);
    return GL_EAGAIN;
  }
  m->inflight++;
  p->token = m->next_token++;
  p->sending = true;
  p->with_paho = true;
  p->next = m->pending_head;
  if (p->next)
    p->next->prev = p;
  m->pending_head = p;
  uint64_t tok = p->token;
  pthread_mutex_unlock(&m->lock);

  int rc = MQTTAsync_sendMessage(m->client, msg->topic, &pm, &ro);
  MQTTProperties_free(&pm.properties);
  pthread_mutex_lock(&m->lock);
  p->sending = false;
  if (rc != MQTTASYNC_SUCCESS) {
    /* Refused: no outcome event, paho never saw it. */
    m->inflight--;
    unlink_pending_locked(m, p);
    pthread_mutex_unlock(&m->lock);
    free(p);
    if (rc == MQTTASYNC_DISCONNECTED)
      return GL_ECONN;
    /* The broker's MQTT 5 Receive Maximum (mosquitto: 20) bounds the
     * messages awaiting PUBACK, and paho queues the rest up to
     * maxBufferedMessages: either way the caller retries after an outcome. */
    if (rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT ||
        rc == MQTTASYNC_MAX_BUFFERED_MESSAGES)
      return GL_EAGAIN;
    GL_WARN("mqtt", "publish to %s refused by paho (%d)", msg->topic, rc);
    return rc == MQTTASYNC_BAD_UTF8_STRING || rc == MQTTASYNC_BAD_QOS
               ? GL_EINVAL
               : GL_EPROTO;
  }
  if (!p->done && !atomic_load(&m->connected)) {
    /* The connection dropped while we were handing the message over (the
     * loss skipped it): it fails now, like every other publish in flight. */
    p->done = true;
    m->inflight--;
    m->stats.published_failed++;
    node n = {0};
    n.ev.type = PR_MQTT_PUBLISHED;
    n.ev.token = p->token;
    n.text = strdup("connection lost before the broker acknowledged it");
    push_locked(m, &n);
  }
  if (!p->with_paho) {
    /* paho already called back (a fast PUBACK) and left it to us. */
    unlink_pending_locked(m, p);
    free(p);
  }
  pthread_mutex_unlock(&m->lock);
  if (token)
    *token = tok;
  return 0;
}

int pr_mqtt_set_will(pr_mqtt *m, const char *topic, const void *payload,
                     size_t len, bool retain, int qos) {
  if (!topic || !*topic || strpbrk(topic, "+#") || qos < 0 || qos > 1 ||
      len > 65535)
    return GL_EINVAL;
  char *t = strdup(topic);
  uint8_t *b = len ? dup_bytes(payload, len) : NULL;
  if (!t || (len && !b)) {
    free(t);
    free(b);
    return GL_ENOMEM;
  }
  pthread_mutex_lock(&m->lock);
  free(m->will_topic);
  free(m->will_payload);
  m->will_topic = t;
  m->will_payload = b;
  m->will_len = len;
  m->will_retain = retain;
  m->will_qos = qos;
  pthread_mutex_unlock(&m->lock);
  return 0;
}

void pr_mqtt_get_stats(pr_mqtt *m, pr_mqtt_stats *st) {
  pthread_mutex_lock(&m->lock);
  *st = m->stats;
  st->queue_depth = m->qlen;
  pthread_mutex_unlock(&m->lock);
}
