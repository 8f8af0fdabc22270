/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c - what the device simulator reads from the outside: its
 * control lines and fault descriptions, and Modbus requests from the
 * network (PDUs and RTU frames). Byte 0 picks which; the rest is input.
 */
#include "gridlet/log.h"
#include "gridlet/sim_devices.h"
#include "sim_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  if (size < 1)
    return 0;
  const uint8_t *in = data + 1;
  size_t n = size - 1;
  switch (data[0] % 3) {
  case 0: { /* fault text */
    char text[300];
    size_t k = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, in, k);
    text[k] = '\0';
    sim_fault f;
    char err[160];
    if (sim_fault_parse(text, &f, err, sizeof err) == 0) {
      if (f.household < -1 || f.household >= SIM_MAX_HOUSEHOLDS ||
          f.device < -1 || f.device >= SIM_DEV_COUNT || f.sf < -3 || f.sf > 3 ||
          f.kind < SIM_FAULT_DELAY || f.kind > SIM_FAULT_CLEAR)
        __builtin_trap();
    } else if (!err[0]) {
      __builtin_trap();
    }
    break;
  }
  case 1: { /* a request PDU and its reply */
    sim_mb_req req;
    memset(&req, 0, sizeof req);
    int exc = sim__pdu_parse(in, n, &req);
    if (exc == 0 && (req.n < 1 || req.n > 125))
      __builtin_trap();
    uint8_t out[260];
    size_t r = sim__pdu_reply(&req, (uint8_t)exc, out);
    if (r > 253)
      __builtin_trap();
    break;
  }
  default: { /* RTU framing */
    int len = sim__rtu_request_len(in, n);
    if (len > 0 && len < 8)
      __builtin_trap();
    if (len > 0 && (size_t)len <= n)
      (void)sim__crc16(in, (size_t)len - 2);
    break;
  }
  }
  return 0;
}
