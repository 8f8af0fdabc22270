/* SPDX-License-Identifier: MIT */
/*
 * modbus_pdu.c - the server side of the Modbus application protocol, for
 * the simulator. Written from the Modbus Application Protocol
 * Specification V1.1b3 rather than on libmodbus, so that the client side
 * (hal, on libmodbus) is tested against an independent implementation, and
 * so that faults can be injected at any point of a response.
 *
 * Supported functions: 0x03 read holding registers, 0x04 read input
 * registers, 0x06 write single register, 0x10 write multiple registers.
 * Anything else is answered with exception 1 (illegal function).
 */
#include "sim_internal.h"

#include "gridlet/hal_transport.h"

#include <string.h>

uint16_t sim__crc16(const uint8_t *p, size_t n) {
  uint16_t crc = 0xFFFF;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int b = 0; b < 8; b++)
      crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
  }
  return crc;
}

static uint16_t be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

int sim__pdu_parse(const uint8_t *pdu, size_t len, sim_mb_req *req) {
  if (len < 1)
    return HAL_EXC_ILLEGAL_FUNCTION;
  req->fc = pdu[0];
  switch (req->fc) {
  case 0x03:
  case 0x04:
    if (len != 5)
      return HAL_EXC_ILLEGAL_VALUE;
    req->addr = be16(pdu + 1);
    req->n = be16(pdu + 3);
    if (req->n < 1 || req->n > 125)
      return HAL_EXC_ILLEGAL_VALUE;
    if ((uint32_t)req->addr + req->n > 65536u)
      return HAL_EXC_ILLEGAL_ADDRESS;
    return 0;
  case 0x06:
    if (len != 5)
      return HAL_EXC_ILLEGAL_VALUE;
    req->addr = be16(pdu + 1);
    req->n = 1;
    req->regs[0] = be16(pdu + 3);
    return 0;
  case 0x10: {
    if (len < 6)
      return HAL_EXC_ILLEGAL_VALUE;
    req->addr = be16(pdu + 1);
    req->n = be16(pdu + 3);
    uint8_t bc = pdu[5];
    if (req->n < 1 || req->n > 123 || bc != 2 * req->n || len != 6u + bc)
      return HAL_EXC_ILLEGAL_VALUE;
    if ((uint32_t)req->addr + req->n > 65536u)
      return HAL_EXC_ILLEGAL_ADDRESS;
    for (uint16_t i = 0; i < req->n; i++)
      req->regs[i] = be16(pdu + 6 + 2 * i);
    return 0;
  }
  default:
    return HAL_EXC_ILLEGAL_FUNCTION;
  }
}

size_t sim__pdu_reply(const sim_mb_req *req, uint8_t exc, uint8_t *out) {
  if (exc) {
    out[0] = (uint8_t)(req->fc | 0x80);
    out[1] = exc;
    return 2;
  }
  out[0] = req->fc;
  switch (req->fc) {
  case 0x03:
  case 0x04:
    out[1] = (uint8_t)(2 * req->n);
    for (uint16_t i = 0; i < req->n; i++) {
      out[2 + 2 * i] = (uint8_t)(req->regs[i] >> 8);
      out[3 + 2 * i] = (uint8_t)(req->regs[i] & 0xFF);
    }
    return 2u + 2u * req->n;
  case 0x06:
    out[1] = (uint8_t)(req->addr >> 8);
    out[2] = (uint8_t)req->addr;
    out[3] = (uint8_t)(req->regs[0] >> 8);
    out[4] = (uint8_t)req->regs[0];
    return 5;
  case 0x10:
  default:
    out[1] = (uint8_t)(req->addr >> 8);
    out[2] = (uint8_t)req->addr;
    out[3] = (uint8_t)(req->n >> 8);
    out[4] = (uint8_t)req->n;
    return 5;
  }
}

int sim__rtu_request_len(const uint8_t *buf, size_t have) {
  if (have < 2)
    return 0;
  switch (buf[1]) {
  case 0x03:
  case 0x04:
  case 0x06:
    return 8; /* unit, fc, 4 bytes, crc */
  case 0x10:
    if (have < 7)
      return 0;
    return 9 + buf[6]; /* unit fc addr(2) n(2) bc data crc(2) */
  default:
    return -1;
  }
}
