/* SPDX-License-Identifier: MIT */
/*
 * meters.c - the enrolled meters, their keyring and enrolment from the CA.
 * See gridlet/agg_meters.h.
 *
 * The registry keeps one heap object per meter (pointers stay valid when
 * the registry grows) and an open-addressing hash from id to meter. The
 * workers' keyring is a separate sorted snapshot of (id, key, state,
 * validity) swapped under a read-write lock, so a reload never blocks on
 * a verification in progress for longer than one lookup.
 */
#include "gridlet/agg_meters.h"

#include "gridlet/error.h"
#include "gridlet/log.h"
#include "gridlet/pki_ca.h"
#include "gridlet/rand.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "meters"

typedef struct key_entry {
  char id[AGG_ID_LEN];
  uint8_t pub[32];
  int state;
  int64_t not_after;
} key_entry;

typedef struct snapshot {
  key_entry *e;
  size_t n;
} snapshot;

struct agg_meters {
  const gl_clock *clock;
  agg_meter **v;
  size_t n, cap;
  uint32_t *slots; /* hash slots: index + 1, 0 = empty */
  size_t nslots;
  size_t active;
  pthread_rwlock_t lock;
  snapshot snap;
};

/* ---- Registry ------------------------------------------------------------ */

/* Copy a meter id (at most PR_ID_MAX characters, checked by the caller or
 * by the certificate's role check) into a buffer of AGG_ID_LEN. */
static void copy_id(char dst[AGG_ID_LEN], const char *src) {
  size_t n = strnlen(src, AGG_ID_LEN - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static uint64_t hash_id(const char *s) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * UINT64_C(1099511628211);
  return h;
}

static bool rehash(agg_meters *ms, size_t nslots) {
  uint32_t *slots = calloc(nslots, sizeof *slots);
  if (!slots)
    return false;
  for (size_t i = 0; i < ms->n; i++) {
    size_t h = (size_t)hash_id(ms->v[i]->id) & (nslots - 1);
    while (slots[h])
      h = (h + 1) & (nslots - 1);
    slots[h] = (uint32_t)(i + 1);
  }
  free(ms->slots);
  ms->slots = slots;
  ms->nslots = nslots;
  return true;
}

int agg_meters_new(const gl_clock *clock, agg_meters **out) {
  *out = NULL;
  agg_meters *ms = calloc(1, sizeof *ms);
  if (!ms)
    return GL_ENOMEM;
  ms->clock = clock;
  pthread_rwlock_init(&ms->lock, NULL);
  if (!rehash(ms, 64)) {
    agg_meters_free(ms);
    return GL_ENOMEM;
  }
  *out = ms;
  return 0;
}

void agg_meters_free(agg_meters *ms) {
  if (!ms)
    return;
  for (size_t i = 0; i < ms->n; i++)
    free(ms->v[i]);
  free(ms->v);
  free(ms->slots);
  free(ms->snap.e);
  pthread_rwlock_destroy(&ms->lock);
  free(ms);
}

agg_meter *agg_meters_find(agg_meters *ms, const char *id) {
  size_t h = (size_t)hash_id(id) & (ms->nslots - 1);
  while (ms->slots[h]) {
    agg_meter *m = ms->v[ms->slots[h] - 1];
    if (strcmp(m->id, id) == 0)
      return m;
    h = (h + 1) & (ms->nslots - 1);
  }
  return NULL;
}

size_t agg_meters_count(const agg_meters *ms) {
  return ms->n;
}

agg_meter *agg_meters_at(agg_meters *ms, size_t index) {
  return index < ms->n ? ms->v[index] : NULL;
}

size_t agg_meters_active(const agg_meters *ms) {
  return ms->active;
}

static agg_meter *append(agg_meters *ms, const char *id) {
  if (ms->n == ms->cap) {
    size_t cap = ms->cap ? ms->cap * 2 : 64;
    agg_meter **v = realloc(ms->v, cap * sizeof *v);
    if (!v)
      return NULL;
    ms->v = v;
    ms->cap = cap;
  }
  if ((ms->n + 1) * 2 > ms->nslots && !rehash(ms, ms->nslots * 2))
    return NULL;
  agg_meter *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  snprintf(m->id, sizeof m->id, "%s", id);
  m->index = (uint32_t)ms->n;
  ms->v[ms->n++] = m;
  size_t h = (size_t)hash_id(id) & (ms->nslots - 1);
  while (ms->slots[h])
    h = (h + 1) & (ms->nslots - 1);
  ms->slots[h] = (uint32_t)ms->n;
  return m;
}

/* ---- Keyring ------------------------------------------------------------- */

static int cmp_key(const void *a, const void *b) {
  return strcmp(((const key_entry *)a)->id, ((const key_entry *)b)->id);
}

static int publish(agg_meters *ms) {
  snapshot s = {calloc(ms->n ? ms->n : 1, sizeof(key_entry)), ms->n};
  if (!s.e)
    return GL_ENOMEM;
  ms->active = 0;
  for (size_t i = 0; i < ms->n; i++) {
    const agg_meter *m = ms->v[i];
    key_entry *k = &s.e[i];
    memcpy(k->id, m->id, sizeof k->id);
    memcpy(k->pub, m->pub, sizeof k->pub);
    k->state = m->state;
    k->not_after = m->not_after;
    if (m->state == AGG_METER_ACTIVE)
      ms->active++;
  }
  qsort(s.e, s.n, sizeof *s.e, cmp_key);
  pthread_rwlock_wrlock(&ms->lock);
  snapshot old = ms->snap;
  ms->snap = s;
  pthread_rwlock_unlock(&ms->lock);
  free(old.e);
  return 0;
}

static int lookup(void *ctx, const char *kid, uint8_t pub[GL_ED25519_PUB_LEN]) {
  agg_meters *ms = ctx;
  key_entry probe;
  snprintf(probe.id, sizeof probe.id, "%s", kid);
  int rc = GL_ENOENT;
  pthread_rwlock_rdlock(&ms->lock);
  const key_entry *k = ms->snap.n ? bsearch(&probe, ms->snap.e, ms->snap.n,
                                            sizeof *ms->snap.e, cmp_key)
                                  : NULL;
  if (k) {
    if (k->state != AGG_METER_ACTIVE)
      rc = GL_EREVOKED;
    else if (gl_clock_now(ms->clock) >= k->not_after)
      rc = GL_EEXPIRED;
    else {
      memcpy(pub, k->pub, GL_ED25519_PUB_LEN);
      rc = 0;
    }
  }
  pthread_rwlock_unlock(&ms->lock);
  return rc;
}

static const pr_keyring_ops keyring_ops = {lookup};

pr_keyring agg_meters_keyring(agg_meters *ms) {
  pr_keyring k = {&keyring_ops, ms};
  return k;
}

/* ---- Loading ------------------------------------------------------------- */

typedef struct load_ctx {
  agg_meters *ms;
  pki_trust *trust;
  agg_store *st;
  char (*revoke)[AGG_ID_LEN];
  size_t nrevoke, caprevoke;
  int err;
} load_ctx;

/* Is the stored certificate still good? Only revocation changes state. */
static bool revoked_now(load_ctx *c, const agg_meter_rec *r) {
  if (!c->trust || r->state != AGG_METER_ACTIVE || !r->cert_len)
    return false;
  pki_cert *cert = NULL;
  pki_why why = {{0}};
  if (pki_cert_parse_der(r->cert, r->cert_len, &cert, &why) != 0) {
    GL_WARN(LOG, "%s: stored certificate does not parse: %s", r->id, why.text);
    return false;
  }
  pki_peer peer;
  int rc = pki_trust_verify(c->trust, cert, PKI_ROLE_METER, c->ms->clock, &peer,
                            &why);
  pki_cert_free(cert);
  if (rc == GL_EREVOKED) {
    GL_NOTICE(LOG, "%s: certificate %s is revoked; refusing its messages",
              r->id, r->serial);
    return true;
  }
  if (rc)
    GL_WARN(LOG, "%s: certificate %s does not verify: %s", r->id, r->serial,
            why.text);
  return false;
}

static int load_one(void *ctx, const agg_meter_rec *r) {
  load_ctx *c = ctx;
  agg_meter *m = agg_meters_find(c->ms, r->id);
  if (!m) {
    m = append(c->ms, r->id);
    if (!m)
      return GL_ENOMEM;
    m->dyn.last_import_total = -1;
    m->dyn.last_export_total = -1;
    m->dyn.outbox = -1;
    snprintf(m->dyn.id, sizeof m->dyn.id, "%s", r->id);
  }
  memcpy(m->pub, r->pub, sizeof m->pub);
  snprintf(m->serial, sizeof m->serial, "%s", r->serial);
  m->state = r->state;
  m->not_after = r->not_after;
  m->enrolled_at = r->enrolled_at;
  m->revoked_at = r->revoked_at;
  m->rated_w = r->rated_w;
  m->logged = r->logged;
  if (revoked_now(c, r)) {
    if (c->nrevoke == c->caprevoke) {
      size_t cap = c->caprevoke ? c->caprevoke * 2 : 16;
      char(*v)[AGG_ID_LEN] = realloc(c->revoke, cap * sizeof *v);
      if (!v)
        return GL_ENOMEM;
      c->revoke = v;
      c->caprevoke = cap;
    }
    snprintf(c->revoke[c->nrevoke++], AGG_ID_LEN, "%s", r->id);
  }
  return 0;
}

static int load_dyn(void *ctx, const agg_meter_dyn *d) {
  load_ctx *c = ctx;
  agg_meter *m = agg_meters_find(c->ms, d->id);
  if (m && !m->dyn_dirty && m->dyn.max_seq <= d->max_seq)
    m->dyn = *d;
  return 0;
}

int agg_meters_load(agg_meters *ms, agg_store *st, pki_trust *trust,
                    size_t *revoked) {
  load_ctx c = {.ms = ms, .trust = trust, .st = st};
  if (revoked)
    *revoked = 0;
  size_t before = ms->n;
  int rc = agg_store_meters_each(st, load_one, &c);
  if (rc == 0 && before == 0)
    rc = agg_store_dyn_each(st, load_dyn, &c);
  else if (rc == 0) {
    for (size_t i = before; i < ms->n && rc == 0; i++) {
      agg_meter_dyn d;
      int g = agg_store_dyn_get(st, ms->v[i]->id, &d);
      if (g == 0)
        ms->v[i]->dyn = d;
      else if (g != GL_ENOENT)
        rc = g;
    }
  }
  if (rc == 0 && c.nrevoke) {
    int64_t now = gl_clock_now(ms->clock);
    rc = agg_store_begin(st);
    for (size_t i = 0; rc == 0 && i < c.nrevoke; i++) {
      agg_meter *m = agg_meters_find(ms, c.revoke[i]);
      rc = agg_store_meter_set_state(st, c.revoke[i], AGG_METER_REVOKED, now);
      if (rc == 0 && m) {
        m->state = AGG_METER_REVOKED;
        m->revoked_at = now;
      }
    }
    if (rc == 0)
      rc = agg_store_commit(st);
    else
      agg_store_rollback(st);
    if (rc == 0 && revoked)
      *revoked = c.nrevoke;
  }
  free(c.revoke);
  if (rc == 0)
    rc = publish(ms);
  return rc;
}

/* ---- Enrolment ----------------------------------------------------------- */

/* Record a verified meter certificate; updates *stats. */
static int enrol_cert(agg_store *st, const pki_cert *cert, const pki_peer *peer,
                      int64_t now, agg_sync_stats *stats) {
  uint8_t pub[32];
  pki_why why = {{0}};
  if (pki_cert_ed25519_pub(cert, pub, &why) != 0) {
    GL_WARN(LOG, "%s: %s (COSE signatures need an Ed25519 key)", peer->name,
            why.text);
    stats->refused++;
    return 0;
  }
  agg_meter_rec old;
  int g = agg_store_meter_get(st, peer->name, &old);
  if (g && g != GL_ENOENT)
    return g;
  if (g == 0 && strcmp(old.serial, peer->serial_hex) == 0) {
    stats->unchanged++;
    return 0;
  }
  size_t der_len = 0;
  const uint8_t *der = pki_cert_der(cert, &der_len);
  agg_meter_rec m;
  memset(&m, 0, sizeof m);
  copy_id(m.id, peer->name);
  snprintf(m.serial, sizeof m.serial, "%s", peer->serial_hex);
  memcpy(m.pub, pub, sizeof pub);
  m.cert = der;
  m.cert_len = der_len;
  m.not_after = peer->not_after;
  m.state = AGG_METER_ACTIVE;
  m.enrolled_at = now;
  m.rated_w = g == 0 ? old.rated_w : 0;
  m.logged = AGG_LOGGED_NONE; /* the new key goes into the ledger */
  int rc = agg_store_meter_put(st, &m);
  if (rc == 0) {
    if (g == 0) {
      stats->updated++;
      GL_NOTICE(LOG, "%s: new certificate %s (was %s)", m.id, m.serial,
                old.serial);
    } else {
      stats->added++;
      GL_NOTICE(LOG, "%s: enrolled (certificate %s)", m.id, m.serial);
    }
  }
  return rc;
}

typedef struct ca_rec {
  char subject[PKI_CN_MAX];
  char serial[PKI_SERIAL_HEX_MAX];
  bool revoked;
  int64_t revoked_at;
} ca_rec;

typedef struct ca_list {
  ca_rec *v;
  size_t n, cap;
} ca_list;

static int collect(void *ctx, const pki_ca_record *r) {
  ca_list *l = ctx;
  if (strcmp(r->kind, "meter") != 0)
    return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    ca_rec *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return GL_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  ca_rec *c = &l->v[l->n++];
  snprintf(c->subject, sizeof c->subject, "%s", r->subject);
  snprintf(c->serial, sizeof c->serial, "%s", r->serial_hex);
  c->revoked = r->revoked;
  c->revoked_at = r->revoked_at;
  return 0;
}

int agg_meters_sync_ca(agg_store *st, const char *ca_dir, const char *community,
                       const gl_clock *clock, agg_sync_stats *stats) {
  memset(stats, 0, sizeof *stats);
  gl_rand rand = gl_rand_system();
  pki_ca *ca = NULL;
  pki_why why = {{0}};
  int rc = pki_ca_open(ca_dir, NULL, &rand, clock, &ca, &why);
  if (rc) {
    GL_ERROR(LOG, "cannot open the CA in %s: %s", ca_dir, why.text);
    return rc;
  }
  if (community && strcmp(community, pki_ca_community(ca)) != 0) {
    GL_ERROR(LOG, "the CA in %s is for community \"%s\", not \"%s\"", ca_dir,
             pki_ca_community(ca), community);
    pki_ca_free(ca);
    return GL_ECONFLICT;
  }
  pki_trust *trust = NULL;
  rc = pki_trust_new(pki_ca_cert(ca), &trust, &why);
  char path[1024];
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/crl.pem", ca_dir);
    rc = pki_trust_load_crl_file(trust, path, clock, &why);
    if (rc)
      GL_ERROR(LOG, "the CA's revocation list %s: %s", path, why.text);
  }
  ca_list l = {0};
  if (rc == 0)
    rc = pki_ca_list(ca, PKI_CA_LIST_ALL, collect, &l);
  int64_t now = gl_clock_now(clock);
  if (rc == 0)
    rc = agg_store_begin(st);
  /* The index lists each subject's certificates by issue time: the last
   * one of a subject is its current state. */
  for (size_t i = 0; rc == 0 && i < l.n; i++) {
    if (i + 1 < l.n && strcmp(l.v[i].subject, l.v[i + 1].subject) == 0)
      continue;
    const ca_rec *r = &l.v[i];
    if (r->revoked) {
      agg_meter_rec m;
      int g = agg_store_meter_get(st, r->subject, &m);
      if (g == 0 && m.state == AGG_METER_ACTIVE) {
        rc = agg_store_meter_set_state(st, r->subject, AGG_METER_REVOKED,
                                       r->revoked_at ? r->revoked_at : now);
        if (rc == 0) {
          stats->revoked++;
          GL_NOTICE(LOG, "%s: revoked (certificate %s)", r->subject, r->serial);
        }
      } else if (g && g != GL_ENOENT) {
        rc = g;
      }
      continue;
    }
    snprintf(path, sizeof path, "%s/certs/%s.pem", ca_dir, r->subject);
    pki_cert *cert = NULL;
    if (pki_cert_load_file(path, &cert, &why) != 0) {
      GL_WARN(LOG, "%s: cannot read %s: %s", r->subject, path, why.text);
      stats->refused++;
      continue;
    }
    pki_peer peer;
    if (pki_trust_verify(trust, cert, PKI_ROLE_METER, clock, &peer, &why) !=
        0) {
      GL_WARN(LOG, "%s: %s refused: %s", r->subject, path, why.text);
      stats->refused++;
    } else {
      rc = enrol_cert(st, cert, &peer, now, stats);
    }
    pki_cert_free(cert);
  }
  if (rc == 0 && agg_store_in_tx(st)) {
    int64_t v = 0;
    agg_store_meta_get(st, "meters_version", &v);
    rc = agg_store_meta_set(st, "meters_version", v + 1);
  }
  if (agg_store_in_tx(st)) {
    if (rc == 0)
      rc = agg_store_commit(st);
    else
      agg_store_rollback(st);
  }
  free(l.v);
  pki_trust_free(trust);
  pki_ca_free(ca);
  return rc;
}

int agg_meters_add_cert(agg_store *st, pki_trust *trust, const char *path,
                        const gl_clock *clock, char *id) {
  pki_cert *cert = NULL;
  pki_why why = {{0}};
  int rc = pki_cert_load_file(path, &cert, &why);
  if (rc) {
    GL_ERROR(LOG, "%s: %s", path, why.text);
    return rc;
  }
  pki_peer peer;
  rc = pki_trust_verify(trust, cert, PKI_ROLE_METER, clock, &peer, &why);
  if (rc) {
    GL_ERROR(LOG, "%s refused: %s", path, why.text);
  } else {
    uint8_t pub[32];
    rc = pki_cert_ed25519_pub(cert, pub, &why);
    if (rc)
      GL_ERROR(LOG, "%s: %s (COSE signatures need an Ed25519 key)", path,
               why.text);
  }
  if (rc == 0)
    rc = agg_store_begin(st);
  if (rc == 0) {
    agg_sync_stats stats = {0};
    rc = enrol_cert(st, cert, &peer, gl_clock_now(clock), &stats);
    int64_t v = 0;
    agg_store_meta_get(st, "meters_version", &v);
    if (rc == 0)
      rc = agg_store_meta_set(st, "meters_version", v + 1);
    if (rc == 0)
      rc = agg_store_commit(st);
    else
      agg_store_rollback(st);
    if (rc == 0 && id)
      copy_id(id, peer.name);
  }
  pki_cert_free(cert);
  return rc;
}
