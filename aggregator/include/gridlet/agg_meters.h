/* SPDX-License-Identifier: MIT */
/*
 * gridlet/agg_meters.h - the enrolled meters: who may send, with which key,
 * and what the aggregator remembers about each of them.
 *
 * Enrolment state lives in the database (agg_meters table). It gets there
 * from the community CA: `gridlet-aggregator meters sync --ca DIR` reads
 * the CA's index (gridlet/pki_ca.h) and its certs/ directory, verifies
 * every meter certificate against the CA and its CRL (pki_trust_verify,
 * role meter) and records the meter's id, certificate, serial and
 * Ed25519 key; revoked meters are marked revoked. `meters add CERT`
 * enrols from certificate files when the CA lives elsewhere.
 *
 * The daemon loads the table into an agg_meters registry, re-verifies each
 * certificate against its trust anchor and CRL (at start and after every
 * CRL reload: a meter revoked since is marked revoked in the database),
 * and publishes an immutable keyring snapshot that the verification
 * workers read through pr_keyring (unknown -> GL_ENOENT, revoked ->
 * GL_EREVOKED, certificate outside its validity -> GL_EEXPIRED). Meters
 * keep their registry index for the life of the process (new ones are
 * appended), so it can serve as a stable participant number.
 *
 * Thread-safety: the registry belongs to the event loop; only the keyring
 * (agg_meters_keyring) may be used from other threads, concurrently with
 * agg_meters_publish.
 */
#ifndef GRIDLET_AGG_METERS_H
#define GRIDLET_AGG_METERS_H

#include "gridlet/agg_store.h"
#include "gridlet/clock.h"
#include "gridlet/pki_trust.h"
#include "gridlet/pr_seal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One meter as the event loop sees it. */
typedef struct agg_meter {
  char id[AGG_ID_LEN];
  uint32_t index; /* stable for the process's life */
  int state;      /* AGG_METER_ACTIVE / AGG_METER_REVOKED */
  uint8_t pub[32];
  char serial[48];
  int64_t not_after;
  int64_t enrolled_at, revoked_at;
  int64_t rated_w; /* 0: the configured default */
  int logged;      /* AGG_LOGGED_*: what the ledger records */
  agg_meter_dyn dyn;
  bool dyn_dirty; /* dyn changed since it was last stored */
  /* Proof request rate limit (a fixed window of one minute). */
  int64_t proof_window;
  int64_t proof_count;
} agg_meter;

typedef struct agg_meters agg_meters;

/*
 * agg_meters_new - an empty registry. `clock` (borrowed) gives the time
 * for validity checks in keyring lookups and certificate verification:
 * pass the real clock (certificates live in real time even when the
 * market runs on an accelerated one). Returns 0 and an owned handle,
 * or GL_ENOMEM.
 */
int agg_meters_new(const gl_clock *clock, agg_meters **out);

/* agg_meters_free - release; NULL is a no-op. */
void agg_meters_free(agg_meters *ms);

/*
 * agg_meters_load - bring the registry up to date with the database:
 * meters not seen before are appended, known ones updated (key, state),
 * dynamic state read for new ones. When `trust` is not NULL every active
 * meter's stored certificate is verified with it; one that is revoked is
 * marked revoked (in the registry and the database, which must not be in
 * a transaction), one that fails otherwise is logged and keeps its state
 * (the keyring then refuses it if it is outside its validity). Publishes
 * a new keyring snapshot. *revoked (may be NULL) gets the number of
 * meters newly found revoked. Returns 0 or a storage error.
 */
int agg_meters_load(agg_meters *ms, agg_store *st, pki_trust *trust,
                    size_t *revoked);

/* agg_meters_find - the meter `id`, or NULL. */
agg_meter *agg_meters_find(agg_meters *ms, const char *id);

/* agg_meters_count - meters in the registry; agg_meters_at by index. */
size_t agg_meters_count(const agg_meters *ms);
agg_meter *agg_meters_at(agg_meters *ms, size_t index);

/* agg_meters_active - the number of meters in state active. */
size_t agg_meters_active(const agg_meters *ms);

/*
 * agg_meters_keyring - the keyring the verification workers use. Its
 * lookups are thread-safe and see the snapshot of the last load.
 */
pr_keyring agg_meters_keyring(agg_meters *ms);

/* ---- Enrolment (tools) --------------------------------------------------- */

typedef struct agg_sync_stats {
  unsigned added;   /* meters new to the aggregator */
  unsigned updated; /* a new certificate for a known meter */
  unsigned revoked; /* newly revoked */
  unsigned unchanged;
  unsigned refused; /* certificates that failed verification (logged) */
} agg_sync_stats;

/*
 * agg_meters_sync_ca - enrol from the CA directory `ca_dir`: every meter
 * subject of the CA's index, its current certificate from certs/, checked
 * against the CA certificate and crl.pem there. Needs read access to the
 * CA (pki_ca_open). `community` (may be NULL) must match the CA's. Writes
 * the database in one transaction. Returns 0 with *stats, GL_ECONFLICT
 * (another community), or an error opening the CA or storing.
 */
int agg_meters_sync_ca(agg_store *st, const char *ca_dir, const char *community,
                       const gl_clock *clock, agg_sync_stats *stats);

/*
 * agg_meters_add_cert - enrol the meter certificate in the PEM file
 * `path` after checking it with `trust`. `id` (AGG_ID_LEN bytes, may be
 * NULL) gets the meter id. Returns 0, a verification error (GL_EVERIFY,
 * GL_EEXPIRED, GL_EREVOKED, GL_EPERM, GL_ENOTSUP for a non-Ed25519 key),
 * a file error, or a storage error.
 */
int agg_meters_add_cert(agg_store *st, pki_trust *trust, const char *path,
                        const gl_clock *clock, char *id);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_AGG_METERS_H */
