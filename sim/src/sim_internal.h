/* SPDX-License-Identifier: MIT */
/*
 * sim_internal.h - declarations shared by sim's source files only: the
 * simulated devices of one household (device_models.c), the Modbus PDU
 * codec (modbus_pdu.c) used by the server loop (devices.c).
 */
#ifndef GRIDLET_SIM_INTERNAL_H
#define GRIDLET_SIM_INTERNAL_H

#include "gridlet/sim_devices.h"
#include "gridlet/sim_household.h"
#include "gridlet/sim_image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_LOG "sim"

/* ---- One simulated device ------------------------------------------------ */

typedef struct sim_dev {
  int kind;       /* sim_dev_kind */
  uint16_t model; /* main model, or SIM_MODEL_* */
  sim_image *img; /* may be shared with the other devices (chain layout) */
  bool own_img;
  /* Model indices in img (-1: none). */
  int m_common, m_main, m_160, m_701, m_802, m_124;
  int power_sf, energy_sf;
  int64_t off_wh[2]; /* counter offsets (see device_models.c) */
  bool len65;
  uint8_t unit_tcp, unit_rtu;
  /* Request faults; *_all: until cleared. */
  uint32_t delay_ms, delay_left;
  bool delay_all;
  uint32_t drop_left;
  bool drop_all;
  uint8_t exc_code;
  uint32_t exc_left;
  bool exc_all;
} sim_dev;

typedef struct sim_hh {
  int index;
  uint64_t seed;
  sim_household *phys;
  sim_dev dev[SIM_DEV_COUNT];
  bool chain_layout;
  uint32_t base; /* SunSpec base address */
  int64_t refreshed_ns;
  bool dirty;
  /* Network side, owned by devices.c. */
  int listen_fd;
  uint16_t port;
  bool offline;
  int64_t offline_until_ms; /* real ms; 0: until "online" */
  sim_devices_stats stats;
} sim_hh;

/* Build the devices and images of a household (models already chosen in
 * hh->dev[k].model). Returns 0 or a GL_E* code. */
int sim__hh_build(sim_hh *hh, int64_t start_ns, const sim_household_cfg *tmpl);

/* Release what sim__hh_build made. */
void sim__hh_destroy(sim_hh *hh);

/* Advance the physics to now and write it into the images. */
void sim__hh_refresh(sim_hh *hh, int64_t now_ns);

/* A write reached device dev: apply battery controls (model 124). */
void sim__hh_after_write(sim_hh *hh, int dev);

/* Describe what the devices show (after sim__hh_refresh). */
void sim__hh_view(const sim_hh *hh, sim_devices_state *out);

/* State-changing faults on device dev; GL_ENOTSUP when the device has
 * nothing the fault applies to. */
int sim__dev_set_sf(sim_hh *hh, int dev, int power_sf, int energy_sf);
int sim__dev_reset(sim_hh *hh, int dev);
int sim__dev_rollover(sim_hh *hh, int dev, uint64_t margin_wh);
int sim__dev_len65(sim_hh *hh, int dev, bool on);

/* ---- Modbus PDUs ------------------------------------------------------------
 */

typedef struct sim_mb_req {
  uint8_t unit;
  uint8_t fc;
  uint16_t addr;
  uint16_t n;
  uint16_t regs[125]; /* write data in, read data out */
} sim_mb_req;

/* Modbus CRC-16 (polynomial 0xA001, initial 0xFFFF) of n bytes. */
uint16_t sim__crc16(const uint8_t *p, size_t n);

/*
 * sim__pdu_parse - a request PDU (function code first, `len` bytes) into
 * *req. Returns 0, or a Modbus exception code (1 illegal function, 3
 * illegal value) for a request to be answered with an exception.
 */
int sim__pdu_parse(const uint8_t *pdu, size_t len, sim_mb_req *req);

/* sim__pdu_reply - the response PDU for req (exception when exc != 0)
 * into out (>= 253 bytes). Returns its length. */
size_t sim__pdu_reply(const sim_mb_req *req, uint8_t exc, uint8_t *out);

/* sim__rtu_request_len - total length of the RTU request frame starting at
 * buf (have bytes available): the frame length, 0 when more bytes are
 * needed to know, -1 for a function code whose length is unknown. */
int sim__rtu_request_len(const uint8_t *buf, size_t have);

#endif /* GRIDLET_SIM_INTERNAL_H */
