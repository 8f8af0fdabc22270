/* SPDX-License-Identifier: MIT */
/*
 * outbox.c - publishing the aggregator's messages. See gridlet/agg_outbox.h.
 *
 * Durable rows are loaded from the table in pages (id order) into a list;
 * transient messages have a list of their own that goes first. An item is
 * queued, in flight (with its pr_mqtt token) or acknowledged (waiting for
 * agg_outbox_flush to delete its row).
 */
#include "gridlet/agg_outbox.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG "publish"
#define PAGE 2000
#define RETRY_NS (5 * GL_NS_PER_SEC)
#define TRANSIENT_TRIES 3

typedef struct item {
  struct item *next;
  int64_t id; /* 0: transient */
  agg_pub kind;
  char topic[128];
  uint8_t *bytes;
  size_t len;
  bool retain;
  int64_t interval, hold;
  uint8_t *corr;
  size_t corr_len;
  bool inflight;
  uint64_t token;
  int fails;
  int64_t not_before;
} item;

typedef struct list {
  item *head, *tail;
  size_t n;
} list;

struct agg_outbox {
  agg_store *st;
  agg_metrics *metrics;
  list durable, transient;
  int64_t last_loaded; /* highest row id loaded */
  bool more;           /* the table may hold rows beyond last_loaded */
  int64_t cp_out;      /* acknowledged checkpoint size */
  int64_t now;         /* monotonic time of the last pump */
  bool cp_dirty;
  int64_t *acked; /* row ids to delete */
  size_t nacked, capacked;
  int64_t *touched; /* intervals with rows acknowledged */
  size_t ntouched, captouched;
};

static void push(list *l, item *it) {
  it->next = NULL;
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
  l->n++;
}

static void unlink_item(list *l, item *prev, item *it) {
  if (prev)
    prev->next = it->next;
  else
    l->head = it->next;
  if (l->tail == it)
    l->tail = prev;
  l->n--;
}

static void item_free(item *it) {
  if (!it)
    return;
  free(it->bytes);
  free(it->corr);
  free(it);
}

static void list_free(list *l) {
  item *it = l->head;
  while (it) {
    item *n = it->next;
    item_free(it);
    it = n;
  }
  memset(l, 0, sizeof *l);
}

int agg_outbox_new(agg_store *st, agg_metrics *metrics, agg_outbox **out) {
  *out = NULL;
  agg_outbox *ob = calloc(1, sizeof *ob);
  if (!ob)
    return GL_ENOMEM;
  ob->st = st;
  ob->metrics = metrics;
  ob->more = true;
  int rc = agg_store_meta_get(st, "checkpoint_out", &ob->cp_out);
  if (rc && rc != GL_ENOENT) {
    free(ob);
    return rc;
  }
  *out = ob;
  return 0;
}

void agg_outbox_free(agg_outbox *ob) {
  if (!ob)
    return;
  list_free(&ob->durable);
  list_free(&ob->transient);
  free(ob->acked);
  free(ob->touched);
  free(ob);
}

void agg_outbox_notify(agg_outbox *ob) {
  ob->more = true;
}

static void update_depth(agg_outbox *ob) {
  if (ob->metrics)
    agg_gauge(&ob->metrics->outbox, (int64_t)(ob->durable.n + ob->transient.n));
}

int agg_outbox_transient(agg_outbox *ob, agg_pub kind, const char *topic,
                         const uint8_t *bytes, size_t len,
                         const uint8_t *correlation, size_t corr_len) {
  item *it = calloc(1, sizeof *it);
  if (!it)
    return GL_ENOMEM;
  it->kind = kind;
  snprintf(it->topic, sizeof it->topic, "%s", topic);
  it->bytes = malloc(len ? len : 1);
  it->corr = corr_len ? malloc(corr_len) : NULL;
  if (!it->bytes || (corr_len && !it->corr)) {
    item_free(it);
    return GL_ENOMEM;
  }
  memcpy(it->bytes, bytes, len);
  it->len = len;
  if (corr_len)
    memcpy(it->corr, correlation, corr_len);
  it->corr_len = corr_len;
  push(&ob->transient, it);
  update_depth(ob);
  return 0;
}

static int load_row(void *ctx, const agg_outbox_rec *o) {
  agg_outbox *ob = ctx;
  item *it = calloc(1, sizeof *it);
  if (!it)
    return GL_ENOMEM;
  it->id = o->id;
  it->kind = (agg_pub)o->kind;
  snprintf(it->topic, sizeof it->topic, "%s", o->topic);
  it->bytes = malloc(o->len ? o->len : 1);
  if (!it->bytes) {
    free(it);
    return GL_ENOMEM;
  }
  memcpy(it->bytes, o->bytes, o->len);
  it->len = o->len;
  it->retain = o->retain;
  it->interval = o->interval;
  it->hold = o->hold;
  push(&ob->durable, it);
  ob->last_loaded = o->id;
  return 0;
}

static int refill(agg_outbox *ob) {
  if (!ob->more || ob->durable.n >= PAGE)
    return 0;
  size_t before = ob->durable.n;
  int rc =
      agg_store_outbox_each(ob->st, ob->last_loaded,
                            (int64_t)(PAGE * 2 - ob->durable.n), load_row, ob);
  if (rc)
    return rc;
  if (ob->durable.n - before < PAGE * 2 - before)
    ob->more = false;
  update_depth(ob);
  return 0;
}

/* A newer checkpoint waits behind this one: this one need not go out. */
static bool superseded(const item *cp) {
  for (const item *it = cp->next; it; it = it->next)
    if (it->kind == AGG_PUB_CHECKPOINT && it->hold > cp->hold)
      return true;
  return false;
}

/* Remember that the row of `it` is done with (acknowledged, or not needed);
 * `out` says the broker really has it. */
static void note_done(agg_outbox *ob, item *it, bool out) {
  if (ob->nacked == ob->capacked) {
    size_t cap = ob->capacked ? ob->capacked * 2 : 256;
    int64_t *v = realloc(ob->acked, cap * sizeof *v);
    if (!v) {
      GL_ERROR(LOG,
               "out of memory; outbox row %" PRId64 " will be published again",
               it->id);
      return;
    }
    ob->acked = v;
    ob->capacked = cap;
  }
  ob->acked[ob->nacked++] = it->id;
  if (out && it->kind == AGG_PUB_CHECKPOINT && it->hold > ob->cp_out) {
    ob->cp_out = it->hold;
    ob->cp_dirty = true;
  }
  if (it->interval && it->kind != AGG_PUB_CHECKPOINT) {
    if (ob->ntouched && ob->touched[ob->ntouched - 1] == it->interval)
      return;
    if (ob->ntouched == ob->captouched) {
      size_t cap = ob->captouched ? ob->captouched * 2 : 16;
      int64_t *v = realloc(ob->touched, cap * sizeof *v);
      if (!v)
        return;
      ob->touched = v;
      ob->captouched = cap;
    }
    ob->touched[ob->ntouched++] = it->interval;
  }
}

/* Try to publish `it`. Returns 1 sent, 0 window full / not connected. */
static int send_one(pr_mqtt *mqtt, item *it) {
  pr_mqtt_msg m = {.topic = it->topic,
                   .payload = it->bytes,
                   .payload_len = it->len,
                   .qos = 1,
                   .retain = it->retain,
                   .correlation = it->corr,
                   .correlation_len = it->corr_len};
  uint64_t tok = 0;
  int rc = pr_mqtt_publish(mqtt, &m, &tok);
  if (rc == GL_EAGAIN || rc == GL_ECONN)
    return 0;
  if (rc) {
    /* paho refused the message itself: it will never go; say so loudly. */
    GL_ERROR(LOG, "cannot publish %s on %s: %s", agg_pub_name(it->kind),
             it->topic, gl_strerror(rc));
    it->fails++;
    it->not_before = INT64_MAX;
    return 1;
  }
  it->inflight = true;
  it->token = tok;
  return 1;
}

static int pump_list(agg_outbox *ob, list *l, pr_mqtt *mqtt, int64_t now,
                     bool durable) {
  item *prev = NULL, *it = l->head;
  while (it) {
    item *next = it->next;
    if (!it->inflight && it->not_before <= now) {
      if (durable && it->kind != AGG_PUB_CHECKPOINT && it->hold > ob->cp_out) {
        /* Waits for its checkpoint to be out. */
      } else if (durable && it->kind == AGG_PUB_CHECKPOINT && superseded(it)) {
        /* Not published: what waits for it waits for the newer one. */
        note_done(ob, it, false);
        unlink_item(l, prev, it);
        item_free(it);
        it = next;
        continue;
      } else if (!send_one(mqtt, it)) {
        return 0; /* window full */
      }
    }
    prev = it;
    it = next;
  }
  return 1;
}

int agg_outbox_pump(agg_outbox *ob, pr_mqtt *mqtt, int64_t now) {
  ob->now = now;
  if (!mqtt || !pr_mqtt_connected(mqtt))
    return 0;
  if (!pump_list(ob, &ob->transient, mqtt, now, false))
    return 0;
  int rc = refill(ob);
  if (rc)
    return rc;
  pump_list(ob, &ob->durable, mqtt, now, true);
  return 0;
}

static bool settle_token(agg_outbox *ob, list *l, const pr_mqtt_event *ev,
                         bool durable) {
  item *prev = NULL;
  for (item *it = l->head; it; prev = it, it = it->next) {
    if (!it->inflight || it->token != ev->token)
      continue;
    it->inflight = false;
    if (ev->ok) {
      if (ob->metrics)
        agg_count(&ob->metrics->published_ok[it->kind], 1);
      if (durable)
        note_done(ob, it, true);
      unlink_item(l, prev, it);
      item_free(it);
    } else {
      if (ob->metrics)
        agg_count(&ob->metrics->published_failed[it->kind], 1);
      it->fails++;
      if (ev->reason >= 0x80) {
        /* The broker refused it (ACL?): retry later, say why. */
        if (it->fails == 1 || it->fails % 100 == 0)
          GL_ERROR(LOG, "broker refused %s on %s (reason 0x%02x%s%s)",
                   agg_pub_name(it->kind), it->topic, ev->reason,
                   ev->text ? ": " : "", ev->text ? ev->text : "");
        it->not_before = ob->now + RETRY_NS;
      }
      if (!durable && it->fails >= TRANSIENT_TRIES) {
        GL_WARN(LOG, "giving up on %s to %s after %d attempts",
                agg_pub_name(it->kind), it->topic, it->fails);
        unlink_item(l, prev, it);
        item_free(it);
      }
    }
    update_depth(ob);
    return true;
  }
  return false;
}

bool agg_outbox_published(agg_outbox *ob, const pr_mqtt_event *ev) {
  return settle_token(ob, &ob->transient, ev, false) ||
         settle_token(ob, &ob->durable, ev, true);
}

void agg_outbox_disconnected(agg_outbox *ob) {
  /* pr_mqtt reports every message in flight as failed: nothing to do here
   * but make sure nothing stays marked in flight if it did not. */
  for (item *it = ob->durable.head; it; it = it->next)
    it->inflight = false;
  for (item *it = ob->transient.head; it; it = it->next)
    it->inflight = false;
}

bool agg_outbox_dirty(const agg_outbox *ob) {
  return ob->nacked || ob->cp_dirty;
}

int agg_outbox_flush(agg_outbox *ob) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < ob->nacked; i++)
    rc = agg_store_outbox_del(ob->st, ob->acked[i]);
  if (rc == 0 && ob->cp_dirty)
    rc = agg_store_meta_set(ob->st, "checkpoint_out", ob->cp_out);
  for (size_t i = 0; rc == 0 && i < ob->ntouched; i++) {
    int64_t n = 0;
    rc = agg_store_outbox_count(ob->st, ob->touched[i], &n);
    if (rc == 0 && n == 0)
      rc = agg_store_interval_set_state(ob->st, ob->touched[i],
                                        AGG_IV_PUBLISHED, 0);
  }
  if (rc == 0) {
    ob->nacked = 0;
    ob->ntouched = 0;
    ob->cp_dirty = false;
  }
  return rc;
}

size_t agg_outbox_depth(const agg_outbox *ob) {
  return ob->durable.n + ob->transient.n;
}

int64_t agg_outbox_checkpoint_out(const agg_outbox *ob) {
  return ob->cp_out;
}
