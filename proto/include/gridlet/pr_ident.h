/* SPDX-License-Identifier: MIT */
/*
 * gridlet/pr_ident.h - the names of communities and identities.
 *
 * Fixed by the shared protocol map and used everywhere a name crosses a
 * boundary: MQTT topics, COSE key ids, payload sender fields, certificate
 * subject CNs (certs/ validates CNs with these functions), broker ACLs.
 *
 *   community  ^[a-z0-9][a-z0-9-]{0,31}$
 *   meter id   ^[a-z0-9][a-z0-9._-]{0,62}$, and not a reserved identity
 *   reserved   aggregator, broker, witness, admin, ca
 *
 * The character sets contain no MQTT wildcard ('+', '#'), no topic
 * separator ('/') and no upper case, so a name is also a safe topic level,
 * file name and SQL literal. All functions are pure and thread-safe.
 */
#ifndef GRIDLET_PR_IDENT_H
#define GRIDLET_PR_IDENT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PR_COMMUNITY_MAX 32 /* characters, without the NUL */
#define PR_ID_MAX 63        /* characters, without the NUL */

/* The aggregator's identity: its certificate CN and its COSE kid. */
#define PR_AGGREGATOR_ID "aggregator"

/*
 * pr_community_valid - true when `s` (NUL-terminated) is a community name.
 */
bool pr_community_valid(const char *s);

/*
 * pr_meter_id_valid - true when the `len` bytes at `s` form a meter id:
 * the pattern above and not a reserved identity. `s` need not be
 * NUL-terminated (COSE key ids are byte strings).
 */
bool pr_meter_id_valid(const char *s, size_t len);

/*
 * pr_id_reserved - true when the `len` bytes at `s` are one of the reserved
 * identities (aggregator, broker, witness, admin, ca).
 */
bool pr_id_reserved(const char *s, size_t len);

/*
 * pr_sender_valid - true when the `len` bytes at `s` may sign protocol
 * messages: a meter id or PR_AGGREGATOR_ID.
 */
bool pr_sender_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_PR_IDENT_H */
