/* SPDX-License-Identifier: MIT */
/*
 * gridlet/hal_transport.h - the Modbus transport seam.
 *
 * A transport moves one Modbus request and its response over one
 * connection: TCP (Modbus/TCP, MBAP framing) or RTU (RS-485 serial, CRC
 * framing), both implemented on libmodbus in transport_modbus.c, the only
 * file that talks to libmodbus. Like libmodbus's own backend table, a
 * transport is a table of function pointers plus a context, so tests and
 * the simulator can put something else behind the same API (hal_memdev.h is
 * an in-memory register map). Retries, pacing, reconnection and locking are
 * not the transport's business: hal_link.h wraps one transport with them.
 *
 * A transport is used by one thread at a time (hal_link serialises).
 *
 * Error mapping used by every backend:
 *   GL_ETIMEDOUT  no (complete) response within the timeout
 *   GL_ECONN      not connected, connection refused, reset or closed
 *   GL_EDEVICE    the device answered with a Modbus exception (*exc set)
 *   GL_EPROTO     a malformed response (bad CRC, length, transaction id,
 *                 unit id, function code)
 *   GL_EINVAL     an argument the protocol cannot carry (count 0 or > 125)
 *   GL_EIO        any other local I/O error
 */
#ifndef GRIDLET_HAL_TRANSPORT_H
#define GRIDLET_HAL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register tables (the Modbus function used to read them). */
typedef enum hal_regtype {
  HAL_REG_HOLDING = 3, /* function 0x03; SunSpec uses these */
  HAL_REG_INPUT = 4,   /* function 0x04; many energy meters use these */
} hal_regtype;

/* Modbus exception codes a device may answer with. */
enum {
  HAL_EXC_ILLEGAL_FUNCTION = 1,
  HAL_EXC_ILLEGAL_ADDRESS = 2,
  HAL_EXC_ILLEGAL_VALUE = 3,
  HAL_EXC_DEVICE_FAILURE = 4,
  HAL_EXC_ACKNOWLEDGE = 5,
  HAL_EXC_BUSY = 6,
  HAL_EXC_GATEWAY_PATH = 10,
  HAL_EXC_GATEWAY_TARGET = 11,
};

/* Protocol limits of one request. */
#define HAL_MAX_READ_REGS 125
#define HAL_MAX_WRITE_REGS 123

typedef struct hal_transport_ops {
  /* Open the connection. 0, GL_ECONN (refused, unreachable, no such
   * serial device), GL_ETIMEDOUT, GL_EIO. Opening an open transport
   * closes it first. */
  int (*open)(void *ctx);
  /* Close the connection; a no-op when closed. */
  void (*close)(void *ctx);
  /* Read `n` (1..125) registers at `addr` from `unit` into dst. On
   * GL_EDEVICE, *exc holds the exception code; otherwise it is set to 0. */
  int (*read)(void *ctx, uint8_t unit, hal_regtype table, uint16_t addr,
              uint16_t n, uint16_t *dst, uint8_t *exc);
  /* Write `n` (1..123) holding registers (function 0x10). */
  int (*write)(void *ctx, uint8_t unit, uint16_t addr, uint16_t n,
               const uint16_t *src, uint8_t *exc);
  /* Response timeout for later requests, in real nanoseconds (> 0). */
  void (*set_timeout)(void *ctx, int64_t ns);
  /* Put the line back in a known state after a timeout or a malformed
   * response, so a late answer is not taken for the next one: TCP
   * reconnects, RTU discards pending input. 0 or an open() error. */
  int (*recover)(void *ctx);
  /* Human-readable endpoint for logs ("tcp 192.168.1.10:502"). */
  const char *(*describe)(void *ctx);
  /* Detail of the last failure for logs ("Connection refused"), or "". */
  const char *(*last_error)(void *ctx);
  /* Release the context (closes first). */
  void (*destroy)(void *ctx);
} hal_transport_ops;

/* A transport is a value: the ops table is static, the context owned by
 * whoever destroys it (normally the hal_link it was given to). */
typedef struct hal_transport {
  const hal_transport_ops *ops;
  void *ctx;
} hal_transport;

/* ---- Endpoints ------------------------------------------------------------
 */

typedef enum hal_endpoint_kind {
  HAL_EP_TCP = 1,
  HAL_EP_RTU = 2
} hal_endpoint_kind;

#define HAL_HOST_MAX 256
#define HAL_DEVICE_MAX 256

/* Where a device is. Zero fields take the defaults named below. */
typedef struct hal_endpoint {
  int kind;                    /* hal_endpoint_kind */
  char host[HAL_HOST_MAX];     /* TCP: name or address (IPv6 without []) */
  uint16_t port;               /* TCP: 0 = 502 */
  char device[HAL_DEVICE_MAX]; /* RTU: "/dev/ttyUSB0" */
  uint32_t baud;               /* RTU: 0 = 9600 */
  char parity;                 /* RTU: 'N', 'E' or 'O'; 0 = 'N' */
  uint8_t data_bits;           /* RTU: 7 or 8; 0 = 8 */
  uint8_t stop_bits;           /* RTU: 1 or 2; 0 = 1 */
} hal_endpoint;

/*
 * hal_endpoint_parse - parse an endpoint written as
 *   tcp:HOST[:PORT]            tcp:192.168.1.10:502, tcp:[fe80::1]:1502
 *   rtu:DEVICE[:BAUD[:FRAME]]  rtu:/dev/ttyUSB0:9600:8N1  (FRAME is data
 *                              bits, parity N/E/O, stop bits)
 * into *ep. Returns 0, or GL_EPARSE with a reason in err (errlen bytes,
 * may be NULL/0). Pure; thread-safe.
 */
int hal_endpoint_parse(const char *text, hal_endpoint *ep, char *err,
                       size_t errlen);

/* hal_endpoint_format - the canonical text form of *ep into buf. */
char *hal_endpoint_format(const hal_endpoint *ep, char *buf, size_t size);

/*
 * hal_transport_modbus_new - a libmodbus transport for *ep (copied), not
 * yet connected. Returns 0 and sets *out (owned: pass it to hal_link_new or
 * hal_transport_destroy), GL_EINVAL for an incomplete endpoint, GL_ENOMEM.
 */
int hal_transport_modbus_new(const hal_endpoint *ep, hal_transport *out);

/* hal_transport_destroy - release a transport nobody owns yet (NULL ops:
 * no-op). */
void hal_transport_destroy(hal_transport *t);

#ifdef __cplusplus
}
#endif
#endif /* GRIDLET_HAL_TRANSPORT_H */
