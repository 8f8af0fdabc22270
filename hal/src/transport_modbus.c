/* SPDX-License-Identifier: MIT */
/*
 * transport_modbus.c - Modbus TCP and RTU transports on libmodbus, and the
 * endpoint syntax. This is the only file that includes <modbus.h>: every
 * libmodbus error (errno values, including its EMB* codes) is translated
 * into the GL_E* table here, with the detail kept for the log line.
 *
 * libmodbus is used with error recovery off: retries, reconnection and
 * pacing belong to hal_link, which knows the policy and the clock.
 */
#include "gridlet/hal_transport.h"

#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "hal_internal.h"

#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mb_transport {
  modbus_t *mb;
  hal_endpoint ep;
  bool connected;
  int64_t timeout_ns;
  char desc[HAL_HOST_MAX + 32];
  char err[128];
} mb_transport;

/* ---- Error translation ----------------------------------------------------
 */

static int translate(mb_transport *t, int e, uint8_t *exc) {
  if (exc)
    *exc = 0;
  snprintf(t->err, sizeof t->err, "%s", modbus_strerror(e));
  if (e > MODBUS_ENOBASE && e <= EMBXGTAR) {
    if (exc)
      *exc = (uint8_t)(e - MODBUS_ENOBASE);
    return GL_EDEVICE;
  }
  switch (e) {
  case ETIMEDOUT:
    return GL_ETIMEDOUT;
  case EMBBADCRC:
  case EMBBADDATA:
  case EMBBADEXC:
  case EMBUNKEXC:
  case EMBMDATA:
  case EMBBADSLAVE:
    return GL_EPROTO;
  case ECONNRESET:
  case ECONNREFUSED:
  case ECONNABORTED:
  case ENOTCONN:
  case EPIPE:
  case EBADF:
  case EHOSTUNREACH:
  case ENETUNREACH:
  case ENOENT:
  case EACCES:
  case ENXIO:
  case ENODEV:
    return GL_ECONN;
  case EINVAL:
    return GL_EINVAL;
  default:
    return GL_EIO;
  }
}

/* ---- Operations -----------------------------------------------------------
 */

static void apply_timeout(mb_transport *t) {
  int64_t us = t->timeout_ns / 1000;
  if (us < 1000)
    us = 1000;
  modbus_set_response_timeout(t->mb, (uint32_t)(us / 1000000),
                              (uint32_t)(us % 1000000));
  /* The gap allowed between bytes of one response: generous on TCP (a
   * segment may be split), tighter on serial where 3.5 character times mark
   * the end of a frame but USB adapters add latency. */
  int64_t byte_us = t->ep.kind == HAL_EP_TCP ? us : 200000;
  if (byte_us > us)
    byte_us = us;
  modbus_set_byte_timeout(t->mb, (uint32_t)(byte_us / 1000000),
                          (uint32_t)(byte_us % 1000000));
}

static void mb_close(void *ctx) {
  mb_transport *t = ctx;
  if (t->connected) {
    modbus_close(t->mb);
    t->connected = false;
  }
}

static int mb_open(void *ctx) {
  mb_transport *t = ctx;
  mb_close(t);
  apply_timeout(t);
  if (modbus_connect(t->mb) != 0) {
    int rc = translate(t, errno, NULL);
    /* A failed connect is a connection failure whatever errno says
     * (EINPROGRESS timeouts, ENOENT serial devices ...), except a timeout. */
    return rc == GL_ETIMEDOUT ? rc : GL_ECONN;
  }
  t->connected = true;
  t->err[0] = '\0';
  return 0;
}

static int prepare(mb_transport *t, uint8_t unit, uint8_t *exc) {
  if (exc)
    *exc = 0;
  if (!t->connected) {
    snprintf(t->err, sizeof t->err, "not connected");
    return GL_ECONN;
  }
  if (modbus_set_slave(t->mb, unit) != 0) {
    snprintf(t->err, sizeof t->err, "unit id %u not allowed", unit);
    return GL_EINVAL;
  }
  return 0;
}

static int after_failure(mb_transport *t, int rc) {
  /* libmodbus leaves a broken TCP socket open when recovery is off; close
   * it so the link sees a clean "disconnected" state. */
  if (rc == GL_ECONN)
    mb_close(t);
  return rc;
}

static int mb_read(void *ctx, uint8_t unit, hal_regtype table, uint16_t addr,
                   uint16_t n, uint16_t *dst, uint8_t *exc) {
  mb_transport *t = ctx;
  if (n == 0 || n > HAL_MAX_READ_REGS || (unsigned)addr + n > 65536u)
    return GL_EINVAL;
  int rc = prepare(t, unit, exc);
  if (rc != 0)
    return rc;
  int got = table == HAL_REG_INPUT
                ? modbus_read_input_registers(t->mb, addr, n, dst)
                : modbus_read_registers(t->mb, addr, n, dst);
  if (got < 0)
    return after_failure(t, translate(t, errno, exc));
  if (got != n) {
    snprintf(t->err, sizeof t->err, "%d registers instead of %u", got, n);
    return GL_EPROTO;
  }
  return 0;
}

static int mb_write(void *ctx, uint8_t unit, uint16_t addr, uint16_t n,
                    const uint16_t *src, uint8_t *exc) {
  mb_transport *t = ctx;
  if (n == 0 || n > HAL_MAX_WRITE_REGS || (unsigned)addr + n > 65536u)
    return GL_EINVAL;
  int rc = prepare(t, unit, exc);
  if (rc != 0)
    return rc;
  int put = modbus_write_registers(t->mb, addr, n, src);
  if (put < 0)
    return after_failure(t, translate(t, errno, exc));
  if (put != n) {
    snprintf(t->err, sizeof t->err, "%d registers written instead of %u", put,
             n);
    return GL_EPROTO;
  }
  return 0;
}

static void mb_set_timeout(void *ctx, int64_t ns) {
  mb_transport *t = ctx;
  t->timeout_ns = ns > 0 ? ns : GL_NS_PER_SEC;
  apply_timeout(t);
}

static int mb_recover(void *ctx) {
  mb_transport *t = ctx;
  if (t->ep.kind == HAL_EP_TCP)
    return mb_open(t);
  if (t->connected)
    modbus_flush(t->mb);
  return t->connected ? 0 : mb_open(t);
}

static const char *mb_describe(void *ctx) {
  return ((mb_transport *)ctx)->desc;
}

static const char *mb_last_error(void *ctx) {
  return ((mb_transport *)ctx)->err;
}

static void mb_destroy(void *ctx) {
  mb_transport *t = ctx;
  if (!t)
    return;
  mb_close(t);
  modbus_free(t->mb);
  free(t);
}

static const hal_transport_ops mb_ops = {
    .open = mb_open,
    .close = mb_close,
    .read = mb_read,
    .write = mb_write,
    .set_timeout = mb_set_timeout,
    .recover = mb_recover,
    .describe = mb_describe,
    .last_error = mb_last_error,
    .destroy = mb_destroy,
};

int hal_transport_modbus_new(const hal_endpoint *ep, hal_transport *out) {
  if (!ep || !out)
    return GL_EINVAL;
  mb_transport *t = calloc(1, sizeof *t);
  if (!t)
    return GL_ENOMEM;
  t->ep = *ep;
  if (ep->kind == HAL_EP_TCP) {
    if (!ep->host[0]) {
      free(t);
      return GL_EINVAL;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", ep->port ? ep->port : 502u);
    t->mb = modbus_new_tcp_pi(ep->host, port);
  } else if (ep->kind == HAL_EP_RTU) {
    char parity = ep->parity ? ep->parity : 'N';
    if (!ep->device[0] || (parity != 'N' && parity != 'E' && parity != 'O')) {
      free(t);
      return GL_EINVAL;
    }
    t->mb = modbus_new_rtu(ep->device, ep->baud ? (int)ep->baud : 9600, parity,
                           ep->data_bits ? ep->data_bits : 8,
                           ep->stop_bits ? ep->stop_bits : 1);
  } else {
    free(t);
    return GL_EINVAL;
  }
  if (!t->mb) {
    free(t);
    return errno == ENOMEM ? GL_ENOMEM : GL_EINVAL;
  }
  modbus_set_error_recovery(t->mb, MODBUS_ERROR_RECOVERY_NONE);
  t->timeout_ns = GL_NS_PER_SEC;
  hal_endpoint_format(ep, t->desc, sizeof t->desc);
  out->ops = &mb_ops;
  out->ctx = t;
  return 0;
}

void hal_transport_destroy(hal_transport *t) {
  if (t && t->ops) {
    t->ops->destroy(t->ctx);
    t->ops = NULL;
    t->ctx = NULL;
  }
}

/* ---- Endpoint syntax ------------------------------------------------------
 */

static int ep_fail(char *err, size_t errlen, const char *fmt, const char *arg) {
  if (err && errlen)
    snprintf(err, errlen, fmt, arg);
  return GL_EPARSE;
}

static bool parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out) {
  if (len == 0 || len > 10)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > max)
    return false;
  *out = (uint32_t)v;
  return true;
}

static int parse_tcp(const char *s, hal_endpoint *ep, char *err,
                     size_t errlen) {
  const char *host = s, *port = NULL;
  size_t hlen;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close)
      return ep_fail(err, errlen, "missing ']' in \"%s\"", s);
    host = s + 1;
    hlen = (size_t)(close - host);
    if (close[1] == ':')
      port = close + 2;
    else if (close[1] != '\0')
      return ep_fail(err, errlen, "unexpected text after ']' in \"%s\"", s);
  } else {
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':'))
      return ep_fail(err, errlen,
                     "write IPv6 addresses in brackets: tcp:[%.128s]:502", s);
    hlen = colon ? (size_t)(colon - s) : strlen(s);
    if (colon)
      port = colon + 1;
  }
  if (hlen == 0)
    return ep_fail(err, errlen, "missing host in \"%s\"", s);
  if (hlen >= sizeof ep->host)
    return ep_fail(err, errlen, "host name too long in \"%s\"", s);
  /* Host names and addresses only: letters, digits, '.', '-', '_', and inside
   * brackets ':' and '%' (IPv6 with a zone). Anything else ('[', '/', spaces)
   * is a typo that would not survive being written back out. */
  bool bracketed = host != s;
  for (size_t i = 0; i < hlen; i++) {
    unsigned char ch = (unsigned char)host[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' ||
              (bracketed && (ch == ':' || ch == '%'));
    if (!ok)
      return ep_fail(err, errlen, "bad character in host \"%s\"", s);
  }
  memcpy(ep->host, host, hlen);
  ep->host[hlen] = '\0';
  ep->port = 502;
  if (port) {
    uint32_t p;
    if (!parse_u32(port, strlen(port), 65535, &p) || p == 0)
      return ep_fail(err, errlen, "bad port \"%.128s\" (1..65535)", port);
    ep->port = (uint16_t)p;
  }
  return 0;
}

static int parse_rtu(const char *s, hal_endpoint *ep, char *err,
                     size_t errlen) {
  const char *c1 = strchr(s, ':');
  size_t dlen = c1 ? (size_t)(c1 - s) : strlen(s);
  if (dlen == 0)
    return ep_fail(err, errlen, "missing serial device in \"%s\"", s);
  if (dlen >= sizeof ep->device)
    return ep_fail(err, errlen, "serial device path too long in \"%s\"", s);
  memcpy(ep->device, s, dlen);
  ep->device[dlen] = '\0';
  ep->baud = 9600;
  ep->parity = 'N';
  ep->data_bits = 8;
  ep->stop_bits = 1;
  if (!c1)
    return 0;
  const char *b = c1 + 1, *c2 = strchr(b, ':');
  size_t blen = c2 ? (size_t)(c2 - b) : strlen(b);
  uint32_t baud;
  if (!parse_u32(b, blen, 4000000, &baud) || baud < 300)
    return ep_fail(err, errlen, "bad baud rate in \"%s\" (300..4000000)", s);
  ep->baud = baud;
  if (!c2)
    return 0;
  const char *f = c2 + 1;
  if (strlen(f) != 3 || (f[0] != '7' && f[0] != '8') || !strchr("NEO", f[1]) ||
      (f[2] != '1' && f[2] != '2'))
    return ep_fail(err, errlen,
                   "bad frame format \"%.128s\" (data bits 7/8, parity N/E/O, "
                   "stop bits 1/2, e.g. 8N1)",
                   f);
  ep->data_bits = (uint8_t)(f[0] - '0');
  ep->parity = f[1];
  ep->stop_bits = (uint8_t)(f[2] - '0');
  return 0;
}

int hal_endpoint_parse(const char *text, hal_endpoint *ep, char *err,
                       size_t errlen) {
  if (err && errlen)
    err[0] = '\0';
  if (!text || !ep)
    return GL_EINVAL;
  memset(ep, 0, sizeof *ep);
  if (strncmp(text, "tcp:", 4) == 0) {
    ep->kind = HAL_EP_TCP;
    return parse_tcp(text + 4, ep, err, errlen);
  }
  if (strncmp(text, "rtu:", 4) == 0) {
    ep->kind = HAL_EP_RTU;
    return parse_rtu(text + 4, ep, err, errlen);
  }
  return ep_fail(err, errlen,
                 "endpoint \"%s\" must start with tcp: or rtu: "
                 "(tcp:HOST[:PORT], rtu:DEVICE[:BAUD[:8N1]])",
                 text);
}

char *hal_endpoint_format(const hal_endpoint *ep, char *buf, size_t size) {
  if (ep->kind == HAL_EP_TCP) {
    bool v6 = strpbrk(ep->host, ":%") != NULL; /* as the parser wants it */
    snprintf(buf, size, v6 ? "tcp:[%s]:%u" : "tcp:%s:%u", ep->host,
             ep->port ? ep->port : 502u);
  } else if (ep->kind == HAL_EP_RTU) {
    snprintf(buf, size, "rtu:%s:%u:%u%c%u", ep->device,
             ep->baud ? ep->baud : 9600u, ep->data_bits ? ep->data_bits : 8u,
             ep->parity ? ep->parity : 'N', ep->stop_bits ? ep->stop_bits : 1u);
  } else {
    snprintf(buf, size, "(no endpoint)");
  }
  return buf;
}
