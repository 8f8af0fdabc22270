/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_mqtt.h - an MQTT 5 client for gridlet's daemons, over paho's
 * asynchronous C library (MQTTAsync), with TLS through paho's OpenSSL.
 *
 * Threads: paho runs its own network threads and calls back on them. Those
 * callbacks only copy what arrived into a bounded queue and wake the owner
 * through a file descriptor (an eventfd); the owner's event loop polls
 * pr_mqtt_fd() and drains events with pr_mqtt_next(). Every other call is
 * made from that one owner thread. Nothing of paho leaks through this
 * header, and paho's return codes are translated in mqtt.c only.
 *
 * Connection: pr_mqtt_connect() starts connecting and never gives up: a
 * failed connect or a lost connection is retried with exponential backoff
 * and jitter (between reconnect_min and reconnect_max) by a small internal
 * thread, for as long as the handle lives. The backoff starts over only
 * after a connection has held for 30 s, so a broker that accepts and at
 * once drops the client (a duplicate client id) does not cause a reconnect
 * storm. Subscriptions are remembered and renewed after every reconnect
 * (retained messages are then delivered again: receivers must be
 * idempotent). Repeated failures are logged once, then again only when the
 * cause changes or the connection comes back.
 *
 * Delivery: publish() returns a token; when the broker acknowledges a QoS 1
 * message (PUBACK) a PR_MQTT_PUBLISHED event with that token and ok=true
 * follows; a refusal (an MQTT 5 reason code >= 0x80, e.g. "not authorized")
 * or a connection lost before the acknowledgement gives ok=false. Callers
 * that must not lose messages keep them until ok=true (the meter's outbox).
 * Incoming messages: paho acknowledges a QoS 1 message to the broker as
 * soon as it arrives, before the application has it, so refusing a message
 * cannot push back on the broker. The queue therefore takes everything up
 * to queue_max events; beyond that a message is dropped with an error log
 * and counted (stats.dropped). gridlet's protocol does not rely on the
 * broker-to-aggregator hop: senders repeat what the receiver has not
 * confirmed end to end (see docs/protocol.md). Paho calls back holding a
 * process-wide mutex, so no callback here ever waits.
 */
#ifndef GRIDLET_PR_MQTT_H
#define GRIDLET_PR_MQTT_H

#include "gridlet/rand.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pr_mqtt pr_mqtt;

/* Connection settings. Strings are copied by pr_mqtt_new. Zero = default. */
typedef struct pr_mqtt_config {
  /* "mqtts://host:port" or "ssl://host:port" for TLS, "mqtt://" or "tcp://"
   * for plain TCP (tests and a household's own Home Assistant broker). */
  const char *uri;
  const char *client_id; /* required */
  /* TLS: the CA that signed the broker, our certificate and key (PEM). The
   * broker's name is checked against its certificate. */
  const char *ca_file;
  const char *cert_file;
  const char *key_file;
  /* Optional username/password (brokers without client certificates). */
  const char *username;
  const char *password;
  int keepalive_s;           /* default 30 */
  bool clean_start;          /* default false: keep the session */
  uint32_t session_expiry_s; /* broker keeps the session this long; 0 = ends at
                                disconnect */
  /* Last will: published by the broker if we vanish (retained status). */
  const char *will_topic;
  const void *will_payload;
  size_t will_len;
  bool will_retain;
  int will_qos;
  /* Largest incoming payload accepted; announced to the broker as the MQTT 5
   * Maximum Packet Size. Default 65536. */
  size_t max_packet_bytes;
  size_t queue_max_bytes; /* payload bytes pending; default 64 MiB */
  int reconnect_min_ms;   /* default 500 */
  int reconnect_max_ms;   /* default 60000 */
  size_t queue_max;       /* pending events; default 1000000 */
  /* Jitter for the backoff; NULL = the system generator. Borrowed. */
  const gl_rand *rand;
} pr_mqtt_config;

typedef enum pr_mqtt_event_type {
  PR_MQTT_CONNECTED = 1, /* (re)connected; session_present says if the broker
                            kept our session */
  PR_MQTT_DISCONNECTED,  /* connection lost or a connect attempt failed */
  PR_MQTT_MESSAGE,       /* a message arrived */
  PR_MQTT_PUBLISHED,     /* the outcome of a publish: token, ok, reason */
  PR_MQTT_SUBSCRIBED,    /* a subscription was granted (ok) or refused */
} pr_mqtt_event_type;

/* An event; its pointers stay valid until the next pr_mqtt_next() or
 * pr_mqtt_free() (the handle owns them). */
typedef struct pr_mqtt_event {
  pr_mqtt_event_type type;
  bool ok;
  int reason;           /* MQTT 5 reason code, 0 if none */
  bool session_present; /* CONNECTED */
  uint64_t token;       /* PUBLISHED */
  const char *text;     /* DISCONNECTED / refusals: why, human-readable */
  /* MESSAGE */
  const char *topic;
  const uint8_t *payload;
  size_t payload_len;
  int qos;
  bool retained;
  const char *response_topic; /* MQTT 5 request/response, or NULL */
  const uint8_t *correlation; /* MQTT 5 correlation data, or NULL */
  size_t correlation_len;
} pr_mqtt_event;

/* A message to publish. Everything is borrowed for the duration of the call. */
typedef struct pr_mqtt_msg {
  const char *topic;
  const void *payload;
  size_t payload_len;
  int qos; /* 0 or 1 (gridlet does not use 2) */
  bool retain;
  const char *response_topic; /* optional MQTT 5 properties */
  const void *correlation;
  size_t correlation_len;
  uint32_t expiry_s; /* message expiry interval; 0 = none */
} pr_mqtt_msg;

/*
 * pr_mqtt_new - create a client (not yet connected). Returns 0 and an owned
 * handle in *out; GL_EINVAL for a missing uri/client id or a bad scheme;
 * GL_ENOMEM; GL_EPROTO if paho refuses the options.
 */
int pr_mqtt_new(const pr_mqtt_config *cfg, pr_mqtt **out);

/*
 * pr_mqtt_free - disconnect (the broker then does not publish the will),
 * stop the retry thread and release everything. NULL is a no-op. Blocks up
 * to about a second for an orderly disconnect.
 */
void pr_mqtt_free(pr_mqtt *m);

/*
 * pr_mqtt_disconnect - stop reconnecting and close the connection in
 * order (waiting up to a few seconds for a connect under way, then about a
 * second for the disconnect), but keep the handle and its queue: events
 * that arrived before the disconnect stay readable with pr_mqtt_next, and
 * no message arrives after it returns. A receiver that must not lose what
 * paho already acknowledged to the broker calls this at shutdown, then
 * drains the queue, then pr_mqtt_free. Publishing afterwards fails with
 * GL_ECONN. Idempotent; NULL is a no-op. Owner thread.
 */
void pr_mqtt_disconnect(pr_mqtt *m);

/*
 * pr_mqtt_connect - start connecting; retries forever in the background.
 * Returns 0, or GL_ESTATE if already started.
 */
int pr_mqtt_connect(pr_mqtt *m);

/* pr_mqtt_fd - a descriptor that polls readable while events are pending. */
int pr_mqtt_fd(const pr_mqtt *m);

/*
 * pr_mqtt_next - take the next event. Returns 0 and fills *ev, or
 * GL_EAGAIN when none is pending. Releases the previous event's memory.
 */
int pr_mqtt_next(pr_mqtt *m, pr_mqtt_event *ev);

/*
 * pr_mqtt_wait - block up to timeout_ms (real time) for an event to be
 * pending. Returns true if one is. For simple loops and tests; daemons
 * poll pr_mqtt_fd() together with their other descriptors.
 */
bool pr_mqtt_wait(pr_mqtt *m, int timeout_ms);

/*
 * pr_mqtt_set_will - replace the last will used from the next connection
 * attempt on (a meter signs a fresh "offline" status for each). Copies
 * everything. Thread-safe. Returns 0, GL_EINVAL (empty or wildcard topic,
 * qos not 0/1, payload over 64 KiB) or GL_ENOMEM.
 */
int pr_mqtt_set_will(pr_mqtt *m, const char *topic, const void *payload,
                     size_t len, bool retain, int qos);

/* pr_mqtt_connected - whether the client is connected right now. */
bool pr_mqtt_connected(const pr_mqtt *m);

/*
 * pr_mqtt_subscribe - subscribe now if connected, and after every
 * reconnect. The outcome arrives as PR_MQTT_SUBSCRIBED. Returns 0,
 * GL_EINVAL (empty filter, qos not 0/1), GL_EFULL (too many filters).
 */
int pr_mqtt_subscribe(pr_mqtt *m, const char *filter, int qos);

/*
 * pr_mqtt_publish - send a message. Returns 0 and a token (>= 1, unique
 * for this handle) whose outcome arrives as PR_MQTT_PUBLISHED exactly once (for
 * QoS 0 too, once written to the socket); GL_ECONN when not connected (keep the
 * message and retry after PR_MQTT_CONNECTED); GL_EAGAIN when as many
 * messages as the broker allows (its MQTT 5 Receive Maximum; mosquitto's
 * default is 20) await acknowledgement: retry after the next
 * PR_MQTT_PUBLISHED event; GL_EINVAL (also for a topic containing a
 * wildcard); GL_EPROTO if paho refuses it. A call that returns an error
 * produces no event.
 */
int pr_mqtt_publish(pr_mqtt *m, const pr_mqtt_msg *msg, uint64_t *token);

/* Counters for status pages and metrics (read from the owner thread). */
typedef struct pr_mqtt_stats {
  uint64_t connects;    /* successful connections */
  uint64_t disconnects; /* lost connections and failed attempts */
  uint64_t published_ok;
  uint64_t published_failed;
  uint64_t received;
  uint64_t queue_depth; /* events pending now */
  uint64_t dropped;     /* messages dropped: queue full or oversize */
} pr_mqtt_stats;

/* pr_mqtt_get_stats - a snapshot of the counters. */
void pr_mqtt_get_stats(pr_mqtt *m, pr_mqtt_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_MQTT_H */
