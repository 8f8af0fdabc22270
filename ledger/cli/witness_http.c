/* SPDX-License-Identifier: MIT */
/*
 * witness_http.c - the C2SP tlog-witness HTTP interface of gridlet-witness
 * (POST /add-checkpoint) over libmicrohttpd.
 *
 * The daemon runs one internal polling thread and no thread per
 * connection, so the lg_witness handle is only ever used by that thread
 * (the library's one-owner rule); the main thread just waits for SIGTERM
 * or SIGINT. Request bodies are limited in size; statuses follow the
 * protocol: 200 with cosignature lines, 409 with the latest cosigned size
 * as text/x.tlog.size when the old size is wrong, 409 with a text/plain
 * reason for a fork at the same size (tlog-witness defines the size body
 * only for the old-size case), 400/403/404/422 with a one-line reason.
 */
#include "witness_http.h"

#include "cli_common.h"
#include "gridlet/error.h"
#include "gridlet/log.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "witness"
#define BODY_MAX (LG_NOTE_MAX + 8192)

typedef struct body {
  char *data;
  size_t len, cap;
  bool too_big;
} body;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, const char *text) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
  (void)version;
  lg_witness *w = cls;
  if (!*con_cls) {
    /* Headers only so far: refuse early what we will not process. */
    if (strcmp(url, "/add-checkpoint") != 0)
      return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
    if (strcmp(method, "POST") != 0)
      return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "use POST\n");
    body *b = calloc(1, sizeof *b);
    if (!b)
      return MHD_NO;
    *con_cls = b;
    return MHD_YES;
  }
  body *b = *con_cls;
  if (*upload_size) {
    if (b->len + *upload_size > BODY_MAX) {
      b->too_big = true;
    } else if (!b->too_big) {
      if (b->len + *upload_size + 1 > b->cap) {
        size_t cap = (b->len + *upload_size + 1) * 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
          return MHD_NO;
        b->data = nd;
        b->cap = cap;
      }
      memcpy(b->data + b->len, upload, *upload_size);
      b->len += *upload_size;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (b->too_big) {
    GL_WARN(COMPONENT, "request refused (413): body larger than %d bytes",
            BODY_MAX);
    return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
                 "request too large\n");
  }
  char *cosig = NULL;
  lg_witness_result res;
  int rc = lg_witness_add_checkpoint(w, b->data ? b->data : "", b->len, &cosig,
                                     &res);
  enum MHD_Result ok;
  if (rc == 0) {
    ok = reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", cosig);
  } else if (res.status == 409 && !strstr(res.why, "forked")) {
    char size[32];
    snprintf(size, sizeof size, "%" PRIu64 "\n", res.latest_size);
    ok = reply(c, MHD_HTTP_CONFLICT, "text/x.tlog.size", size);
  } else {
    char text[256];
    snprintf(text, sizeof text, "%s\n", res.why ? res.why : gl_strerror(rc));
    ok =
        reply(c, (unsigned)(res.status ? res.status : 500), "text/plain", text);
  }
  free(cosig);
  return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  body *b = *con_cls;
  if (b) {
    free(b->data);
    free(b);
    *con_cls = NULL;
  }
}

int witness_serve(lg_witness *w, const char *listen) {
  char host[64];
  const char *colon = strrchr(listen, ':');
  uint64_t port = 0;
  if (!colon || (size_t)(colon - listen) >= sizeof host ||
      !cli_u64(colon + 1, &port) || port == 0 || port > 65535)
    return cli_usage("--listen must be IPV4ADDRESS:PORT, e.g. 127.0.0.1:7380");
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
    return cli_usage("--listen: \"%s\" is not an IPv4 address", host);

  /* Block the stop signals in every thread (the daemon's inherits the
   * mask) and wait for them here. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      handle, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
      MHD_OPTION_END);
  if (!d)
    return cli_fail(CLI_ERROR, "cannot listen on %s", listen);
  GL_NOTICE(COMPONENT, "serving tlog-witness on http://%s/add-checkpoint",
            listen);
  printf("listening on %s\n", listen);
  fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  GL_NOTICE(COMPONENT, "stopping on signal %d", sig);
  MHD_stop_daemon(d);
  return CLI_OK;
}
