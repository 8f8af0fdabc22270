/* SPDX-License-Identifier: MIT */
/* testcommunity.c - see testcommunity.h. */
#include "testcommunity.h"

#include "gridlet/clock.h"
#include "gridlet/pki_dev.h"
#include "gridlet/rand.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *detail) {
  fprintf(stderr, "testcommunity: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  abort();
}

void gt_community_start(gt_community *c, const char *tag, unsigned meters) {
  memset(c, 0, sizeof *c);
  gt_tmpdir(tag, c->root);
  gt_path(c->dir, c->root, "community");
  gt_path(c->broker_log, c->root, "mosquitto.log");
  snprintf(c->community, sizeof c->community, "demo");
  c->meters = meters;
  c->port = gt_free_port();
  snprintf(c->uri, sizeof c->uri, "mqtts://127.0.0.1:%u", c->port);
  char log_dest[GT_PATH_MAX + 8];
  snprintf(log_dest, sizeof log_dest, "file %s", c->broker_log);
  /* Started as root, mosquitto drops to the configured user: make that
   * whoever runs the test, so it can read the key files. */
  struct passwd *pw = getpwuid(geteuid());
  pki_dev_opts o = {.community = c->community,
                    .meters = meters,
                    .port = c->port,
                    .run_as_user = pw ? pw->pw_name : NULL,
                    .log_dest = log_dest};
  gl_rand rand = gl_rand_system();
  gl_clock clock = gl_clock_real();
  pki_why why = {{0}};
  if (pki_dev_community(c->dir, &o, &rand, &clock, &why))
    die("cannot build the development community", why.text);
  gt_community_broker_start(c);
}

static void identity(const gt_community *c, const char *sub, const char *id,
                     const char *file, gt_identity *out) {
  char d[GT_PATH_MAX], name[GT_PATH_MAX];
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", id);
  gt_path(d, c->dir, sub);
  snprintf(name, sizeof name, "%s.pem", file);
  gt_path(out->cert, d, name);
  snprintf(name, sizeof name, "%s.key", file);
  gt_path(out->key, d, name);
  gt_path(out->ca, d, "ca.pem");
}

void gt_community_meter(const gt_community *c, unsigned i, gt_identity *out) {
  char id[64], sub[128];
  if (pki_dev_meter_id(NULL, i, id, sizeof id))
    die("bad meter index", NULL);
  snprintf(sub, sizeof sub, "meters/%s", id);
  identity(c, sub, id, "meter", out);
}

void gt_community_aggregator(const gt_community *c, gt_identity *out) {
  identity(c, "aggregator", "aggregator", "aggregator", out);
}

void gt_community_broker_start(gt_community *c) {
  char conf[GT_PATH_MAX], out[GT_PATH_MAX];
  gt_path(conf, c->dir, "broker/mosquitto.conf");
  gt_path(out, c->root, "mosquitto.out");
  const char *bin = access("/usr/sbin/mosquitto", X_OK) == 0
                        ? "/usr/sbin/mosquitto"
                        : "mosquitto";
  char *argv[] = {(char *)bin, "-c", conf, NULL};
  c->broker = gt_proc_start(argv, out, NULL);
  if (!gt_wait_port(c->port, 10000)) {
    char *log = gt_read_file(c->broker_log, NULL);
    die("mosquitto did not start; its log", log);
  }
}

void gt_community_broker_stop(gt_community *c) {
  if (c->broker > 0)
    gt_proc_stop(c->broker, 5000);
  c->broker = 0;
}

void gt_community_broker_kill9(gt_community *c) {
  if (c->broker > 0)
    gt_proc_kill9(c->broker);
  c->broker = 0;
}

void gt_community_stop(gt_community *c) {
  gt_community_broker_stop(c);
  gt_rmtree(c->root);
}
