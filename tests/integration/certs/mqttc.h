/* SPDX-License-Identifier: MIT */
/*
 * mqttc.h - a blocking MQTT 5 client over paho MQTTAsync with TLS client
 * certificates, for integration tests: connect, publish (returning the
 * broker's PUBACK reason code), subscribe, and a log of received messages.
 * paho's callbacks run on its thread; they only record under a mutex.
 *
 * paho.mqtt.c 1.3.12 takes about 2 s to connect a second client in the
 * same process (eclipse-paho/paho.mqtt.c#1430, fixed upstream later); the
 * daemons use one client each, so only these tests feel it.
 */
#ifndef GRIDLET_TEST_MQTTC_H
#define GRIDLET_TEST_MQTTC_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mqttc mqttc;

typedef struct mqttc_tls {
  const char *ca;   /* CA certificate file (server verification) */
  const char *cert; /* client certificate, NULL for none */
  const char *key;  /* client private key */
} mqttc_tls;

/*
 * mqttc_connect - connect to ssl://127.0.0.1:port as `client_id`. Returns
 * a client when the broker accepted the connection within 5 s, else NULL
 * (handshake refused, CONNACK refused, timeout); *why gets a short
 * description of the failure when not NULL.
 */
mqttc *mqttc_connect(uint16_t port, const char *client_id, const mqttc_tls *tls,
                     char *why, int why_size);

/* mqttc_free - disconnect and destroy; NULL is a no-op. */
void mqttc_free(mqttc *c);

/*
 * mqttc_publish - QoS 1 publish; waits for PUBACK. Returns the PUBACK
 * reason code (0 success, 0x10 no matching subscribers, >= 0x80 refused),
 * or -1 on a client failure or timeout.
 */
int mqttc_publish(mqttc *c, const char *topic, const char *payload);

/* mqttc_subscribe - QoS 1; returns the SUBACK reason code or -1. */
int mqttc_subscribe(mqttc *c, const char *topic);

/* mqttc_wait_message - true when a message on `topic` has arrived (now or
 * within timeout_ms). */
bool mqttc_wait_message(mqttc *c, const char *topic, int timeout_ms);

/* mqttc_received - true when a message on `topic` has arrived already. */
bool mqttc_received(mqttc *c, const char *topic);

/* mqttc_lost - true when paho reported the connection lost. */
bool mqttc_lost(mqttc *c);

#endif
