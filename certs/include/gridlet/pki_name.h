/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pki_name.h - the naming rules of a gridlet community.
 *
 * Names appear in certificate subjects, MQTT usernames (the broker uses the
 * certificate CN as the username) and topic paths, so they are restricted
 * to characters that are safe in all three (shared protocol map):
 *   community  ^[a-z0-9][a-z0-9-]{0,31}$
 *   meter id   ^[a-z0-9][a-z0-9._-]{0,62}$
 * The identities "aggregator", "broker", "witness", "admin" and "ca" are
 * reserved: they can never be meter ids. All functions are pure and
 * thread-safe.
 */
#ifndef GRIDLET_PKI_NAME_H
#define GRIDLET_PKI_NAME_H

#include "gridlet/pki_why.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Buffer sizes including the NUL. */
#define PKI_METER_ID_MAX 64
#define PKI_COMMUNITY_MAX 33

/* The reserved service identities (certificate CNs). */
#define PKI_NAME_AGGREGATOR "aggregator"
#define PKI_NAME_BROKER "broker"

/* pki_name_is_reserved - true for the five reserved identities. */
bool pki_name_is_reserved(const char *name);

/*
 * pki_name_check_meter_id - 0 when `id` is a valid, non-reserved meter id;
 * otherwise GL_EINVAL with the reason in `why` (may be NULL). Nothing is
 * logged: callers decide whether a bad name is worth a log line.
 */
int pki_name_check_meter_id(const char *id, pki_why *why);

/* pki_name_check_community - the same for a community name. */
int pki_name_check_community(const char *name, pki_why *why);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PKI_NAME_H */
