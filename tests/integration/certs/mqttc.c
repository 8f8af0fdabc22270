/* SPDX-License-Identifier: MIT */
/* mqttc.c - see mqttc.h. */
#include "mqttc.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MSGS 256
#define WAIT_MS 5000

struct mqttc {
  MQTTAsync h;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state; /* 0 pending, 1 done, -1 failed */
  int code;  /* reason code or paho code of the last operation */
  char err[160];
  bool lost;
  char *topics[MAX_MSGS];
  int n;
};

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static void finish(mqttc *c, int state, int code, const char *msg) {
  pthread_mutex_lock(&c->mu);
  c->state = state;
  c->code = code;
  if (msg)
    snprintf(c->err, sizeof c->err, "%s", msg);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void on_ok(void *ctx, MQTTAsync_successData5 *r) {
  finish(ctx, 1, r ? (int)r->reasonCode : 0, NULL);
}

static void on_fail(void *ctx, MQTTAsync_failureData5 *r) {
  int code = r ? (r->reasonCode ? (int)r->reasonCode : r->code) : -1;
  finish(ctx, -1, code, r && r->message ? r->message : "failed");
}

static void on_lost(void *ctx, char *cause) {
  mqttc *c = ctx;
  (void)cause;
  pthread_mutex_lock(&c->mu);
  c->lost = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static int on_message(void *ctx, char *topic, int len, MQTTAsync_message *m) {
  mqttc *c = ctx;
  (void)len;
  pthread_mutex_lock(&c->mu);
  if (c->n < MAX_MSGS)
    c->topics[c->n++] = strdup(topic);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

/* Wait for the pending operation; returns its state (1, -1, or 0 on
 * timeout). */
static int wait_op(mqttc *c) {
  struct timespec ts;
  deadline_in(&ts, WAIT_MS);
  pthread_mutex_lock(&c->mu);
  while (c->state == 0 && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
    ;
  int s = c->state;
  pthread_mutex_unlock(&c->mu);
  return s;
}

static void start_op(mqttc *c) {
  pthread_mutex_lock(&c->mu);
  c->state = 0;
  c->code = 0;
  c->err[0] = '\0';
  pthread_mutex_unlock(&c->mu);
}

mqttc *mqttc_connect(uint16_t port, const char *client_id, const mqttc_tls *tls,
                     char *why, int why_size) {
  mqttc *c = calloc(1, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  char uri[64];
  snprintf(uri, sizeof uri, "ssl://127.0.0.1:%u", port);
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
  if (MQTTAsync_createWithOptions(&c->h, uri, client_id,
                                  MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                  &co) != MQTTASYNC_SUCCESS) {
    free(c);
    return NULL;
  }
  MQTTAsync_setCallbacks(c->h, c, on_lost, on_message, NULL);
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  ssl.trustStore = tls->ca;
  ssl.keyStore = tls->cert;
  ssl.privateKey = tls->key;
  ssl.enableServerCertAuth = 1;
  ssl.verify = 1; /* the broker's name must match its certificate */
  ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT;
  MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
  o.keepAliveInterval = 30;
  o.cleanstart = 1;
  o.connectTimeout = 5;
  o.ssl = &ssl;
  o.onSuccess5 = on_ok;
  o.onFailure5 = on_fail;
  o.context = c;
  start_op(c);
  int rc = MQTTAsync_connect(c->h, &o);
  int s = rc == MQTTASYNC_SUCCESS ? wait_op(c) : -1;
  if (s != 1) {
    if (why)
      snprintf(why, (size_t)why_size, "%s (code %d)",
               s == 0 ? "timed out" : c->err, c->code);
    MQTTAsync_destroy(&c->h);
    free(c);
    return NULL;
  }
  return c;
}

void mqttc_free(mqttc *c) {
  if (!c)
    return;
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
  d.timeout = 1000;
  if (MQTTAsync_isConnected(c->h))
    MQTTAsync_disconnect(c->h, &d);
  MQTTAsync_destroy(&c->h);
  for (int i = 0; i < c->n; i++)
    free(c->topics[i]);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

int mqttc_publish(mqttc *c, const char *topic, const char *payload) {
  MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
  r.onSuccess5 = on_ok;
  r.onFailure5 = on_fail;
  r.context = c;
  MQTTAsync_message m = MQTTAsync_message_initializer;
  m.payload = (void *)payload;
  m.payloadlen = (int)strlen(payload);
  m.qos = 1;
  start_op(c);
  if (MQTTAsync_sendMessage(c->h, topic, &m, &r) != MQTTASYNC_SUCCESS)
    return -1;
  int s = wait_op(c);
  if (s == 0)
    return -1;
  /* A refused PUBACK (>= 0x80) arrives through onFailure5 with its reason
   * code; anything below 0x80 is acceptance. */
  if (s == -1 && c->code < 0x80)
    return -1;
  return c->code;
}

int mqttc_subscribe(mqttc *c, const char *topic) {
  MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
  r.onSuccess5 = on_ok;
  r.onFailure5 = on_fail;
  r.context = c;
  start_op(c);
  if (MQTTAsync_subscribe(c->h, topic, 1, &r) != MQTTASYNC_SUCCESS)
    return -1;
  int s = wait_op(c);
  if (s == 0 || (s == -1 && c->code < 0x80))
    return -1;
  return c->code;
}

static bool have(mqttc *c, const char *topic) {
  for (int i = 0; i < c->n; i++)
    if (strcmp(c->topics[i], topic) == 0)
      return true;
  return false;
}

bool mqttc_wait_message(mqttc *c, const char *topic, int timeout_ms) {
  struct timespec ts;
  deadline_in(&ts, timeout_ms);
  pthread_mutex_lock(&c->mu);
  while (!have(c, topic) && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
    ;
  bool got = have(c, topic);
  pthread_mutex_unlock(&c->mu);
  return got;
}

bool mqttc_received(mqttc *c, const char *topic) {
  pthread_mutex_lock(&c->mu);
  bool got = have(c, topic);
  pthread_mutex_unlock(&c->mu);
  return got;
}

bool mqttc_lost(mqttc *c) {
  pthread_mutex_lock(&c->mu);
  bool lost = c->lost;
  pthread_mutex_unlock(&c->mu);
  return lost;
}
