/* SPDX-License-Identifier: MIT */
/*
 * devices.c - the simulator's network side: TCP listeners (one per
 * household), an RTU bus on a pseudo-terminal, the control port, and one
 * poll(2) loop serving them all. See gridlet/sim_devices.h.
 *
 * One thread serves everything. A delayed response is a timer, not a
 * sleep: while one connection waits for its answer, the others are served
 * (a connection's later requests wait behind its delayed one, as on a real
 * device). Faults that change the network (a household going offline) are
 * recorded by the API under the lock and carried out by the loop, which
 * owns every file descriptor.
 */
/* posix_openpt(), grantpt() and ptsname_r() are XSI/GNU interfaces. */
#define _GNU_SOURCE
#include "gridlet/sim_devices.h"

#include "gridlet/conf.h"
#include "gridlet/error.h"
#include "gridlet/log.h"
#include "sim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define MAX_CONNS 128
#define RTU_SILENCE_MS 50

static const uint16_t inverter_models[] = {103, 101, 102, 111, 112, 113, 701};
static const uint16_t meter_models[] = {203, 201, 202, 204, 211, 212, 213};

typedef struct conn {
  int fd;
  int hh; /* household, or -1 for a control connection */
  bool control;
  uint8_t in[1024];
  size_t inlen;
  uint8_t out[300];
  size_t outlen;
  bool pending;
  int64_t due_ms;
} conn;

struct sim_devices {
  pthread_mutex_t lock;
  sim_devices_cfg cfg;
  char host[128];
  gl_clock clock, io;
  int n;
  sim_hh hh[SIM_MAX_HOUSEHOLDS];
  int wake[2];
  atomic_bool stop;
  pthread_t thread;
  bool thread_started;
  bool bound;
  conn conns[MAX_CONNS];
  /* RTU bus */
  int pty_master, pty_keep;
  char pty_path[128];
  uint8_t rtu_in[512];
  size_t rtu_len;
  int64_t rtu_last_ms;
  uint8_t rtu_out[300];
  size_t rtu_outlen;
  bool rtu_pending;
  int64_t rtu_due_ms;
  /* control */
  int ctl_fd;
  uint16_t ctl_port;
};

/* ---- Construction ------------------------------------------------------ */

static bool valid_inverter(uint16_t m) {
  for (size_t i = 0; i < sizeof inverter_models / sizeof inverter_models[0];
       i++)
    if (inverter_models[i] == m)
      return true;
  return m == SIM_MODEL_SMA;
}

static bool valid_meter(uint16_t m) {
  for (size_t i = 0; i < sizeof meter_models / sizeof meter_models[0]; i++)
    if (meter_models[i] == m)
      return true;
  return m == SIM_MODEL_SDM630;
}

static int64_t now_ms(const sim_devices *sd) {
  return gl_clock_monotonic(&sd->io) / GL_NS_PER_MS;
}

int sim_devices_new(const sim_devices_cfg *cfg, gl_clock clock, gl_clock io,
                    gl_rand rand, sim_devices **out) {
  *out = NULL;
  sim_devices_cfg c = cfg ? *cfg : (sim_devices_cfg){0};
  if (!c.households)
    c.households = 1;
  if (c.households < 1 || c.households > SIM_MAX_HOUSEHOLDS) {
    GL_ERROR(SIM_LOG, "households must be 1..%d", SIM_MAX_HOUSEHOLDS);
    return GL_EINVAL;
  }
  if (!c.inverter_model)
    c.inverter_model = 103;
  if (!c.meter_model)
    c.meter_model = 203;
  if (!valid_inverter(c.inverter_model) || !valid_meter(c.meter_model)) {
    GL_ERROR(SIM_LOG, "unsupported device model (inverter %u, meter %u)",
             c.inverter_model, c.meter_model);
    return GL_EINVAL;
  }
  if (!c.sunspec_base)
    c.sunspec_base = 40000;
  if (c.sunspec_base != 40000 && c.sunspec_base != 50000 &&
      c.sunspec_base != SIM_SUNSPEC_BASE_0) {
    GL_ERROR(SIM_LOG, "SunSpec base must be 40000, 50000 or 0");
    return GL_EINVAL;
  }
  static const uint8_t def_units[SIM_DEV_COUNT] = {1, 2, 3};
  for (int k = 0; k < SIM_DEV_COUNT; k++) {
    if (!c.unit[k])
      c.unit[k] = def_units[k];
    if (c.unit[k] > 247) {
      GL_ERROR(SIM_LOG, "unit ids must be 1..247");
      return GL_EINVAL;
    }
  }
  if (c.unit[0] == c.unit[1] || c.unit[1] == c.unit[2] ||
      c.unit[0] == c.unit[2]) {
    GL_ERROR(SIM_LOG, "the three unit ids must differ");
    return GL_EINVAL;
  }
  if (c.max_clients <= 0)
    c.max_clients = 4;
  if (c.base_port && (uint32_t)c.base_port + (uint32_t)c.households > 65536u) {
    GL_ERROR(SIM_LOG, "ports %u.. do not fit", c.base_port);
    return GL_EINVAL;
  }
  sim_devices *sd = calloc(1, sizeof *sd);
  if (!sd)
    return GL_ENOMEM;
  pthread_mutex_init(&sd->lock, NULL);
  snprintf(sd->host, sizeof sd->host, "%s",
           c.bind_host && *c.bind_host ? c.bind_host : "127.0.0.1");
  c.bind_host = sd->host;
  sd->cfg = c;
  sd->cfg.each = NULL; /* borrowed for the build below only */
  sd->clock = clock;
  sd->io = io;
  sd->n = c.households;
  sd->wake[0] = sd->wake[1] = -1;
  sd->pty_master = sd->pty_keep = sd->ctl_fd = -1;
  for (int i = 0; i < MAX_CONNS; i++)
    sd->conns[i].fd = -1;
  int64_t start = c.start_ns ? c.start_ns : gl_clock_now(&clock);
  int rc = 0;
  for (int i = 0; i < sd->n && rc == 0; i++) {
    sim_hh *hh = &sd->hh[i];
    hh->index = i;
    hh->listen_fd = -1;
    hh->chain_layout = c.chain_layout;
    hh->base = c.sunspec_base;
    if (gl_rand_u64(&rand, &hh->seed) != 0)
      hh->seed = (uint64_t)i * 0x9e3779b97f4a7c15u;
    size_t ni = sizeof inverter_models / sizeof inverter_models[0];
    size_t nm = sizeof meter_models / sizeof meter_models[0];
    hh->dev[SIM_DEV_INVERTER].model =
        c.variety ? inverter_models[(size_t)i % ni] : c.inverter_model;
    hh->dev[SIM_DEV_BATTERY].model = 802;
    hh->dev[SIM_DEV_METER].model =
        c.variety ? meter_models[(size_t)i % nm] : c.meter_model;
    for (int k = 0; k < SIM_DEV_COUNT; k++) {
      hh->dev[k].unit_tcp = c.chain_layout ? c.unit[0] : c.unit[k];
      hh->dev[k].unit_rtu = (uint8_t)(10 * i + (c.chain_layout ? 1 : k + 1));
    }
    rc = sim__hh_build(hh, start, c.each ? &c.each[i] : &c.household);
    if (rc != 0)
      GL_ERROR(SIM_LOG, "household %d: cannot build its devices: %s", i,
               gl_strerror(rc));
  }
  if (rc == 0 && pipe(sd->wake) != 0)
    rc = GL_EIO;
  if (rc != 0) {
    sim_devices_free(sd);
    return rc;
  }
  fcntl(sd->wake[0], F_SETFL, O_NONBLOCK);
  fcntl(sd->wake[1], F_SETFL, O_NONBLOCK);
  *out = sd;
  return 0;
}

static void close_conn(conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

void sim_devices_free(sim_devices *sd) {
  if (!sd)
    return;
  if (sd->thread_started) {
    sim_devices_stop(sd);
    sim_devices_join(sd);
  }
  for (int i = 0; i < MAX_CONNS; i++)
    if (sd->conns[i].fd >= 0)
      close_conn(&sd->conns[i]);
  for (int i = 0; i < sd->n; i++) {
    if (sd->hh[i].listen_fd >= 0)
      close(sd->hh[i].listen_fd);
    sim__hh_destroy(&sd->hh[i]);
  }
  if (sd->pty_master >= 0)
    close(sd->pty_master);
  if (sd->pty_keep >= 0)
    close(sd->pty_keep);
  if (sd->ctl_fd >= 0)
    close(sd->ctl_fd);
  if (sd->wake[0] >= 0)
    close(sd->wake[0]);
  if (sd->wake[1] >= 0)
    close(sd->wake[1]);
  pthread_mutex_destroy(&sd->lock);
  free(sd);
}

/* ---- Binding --------------------------------------------------------------
 */

static int listen_on(const char *host, uint16_t port, uint16_t *bound) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char ps[8];
  snprintf(ps, sizeof ps, "%u", port);
  if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
    return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(ai);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    freeaddrinfo(ai);
    errno = e;
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET)
      *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else
      *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

static int open_pty(sim_devices *sd) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 ||
      ptsname_r(m, sd->pty_path, sizeof sd->pty_path) != 0) {
    if (m >= 0)
      close(m);
    return GL_EIO;
  }
  /* Keep the slave side open ourselves: without it the master reports a
   * hang-up whenever no client has the port open. */
  int s = open(sd->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    close(m);
    return GL_EIO;
  }
  struct termios t;
  if (tcgetattr(s, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
  }
  fcntl(m, F_SETFL, O_NONBLOCK);
  sd->pty_master = m;
  sd->pty_keep = s;
  return 0;
}

int sim_devices_bind(sim_devices *sd) {
  pthread_mutex_lock(&sd->lock);
  int rc = 0;
  for (int i = 0; i < sd->n && !sd->cfg.tcp_off; i++) {
    uint16_t want = sd->cfg.base_port ? (uint16_t)(sd->cfg.base_port + i) : 0;
    sd->hh[i].listen_fd = listen_on(sd->host, want, &sd->hh[i].port);
    if (sd->hh[i].listen_fd < 0) {
      GL_ERROR(SIM_LOG, "household %d: cannot listen on %s:%u: %s", i, sd->host,
               want, strerror(errno));
      rc = GL_EIO;
      break;
    }
  }
  if (rc == 0 && sd->cfg.rtu && open_pty(sd) != 0) {
    GL_ERROR(SIM_LOG, "cannot open a pseudo-terminal: %s", strerror(errno));
    rc = GL_EIO;
  }
  if (rc == 0 && sd->cfg.control) {
    sd->ctl_fd = listen_on(sd->host, sd->cfg.control_port, &sd->ctl_port);
    if (sd->ctl_fd < 0) {
      GL_ERROR(SIM_LOG, "cannot open the control port %s:%u: %s", sd->host,
               sd->cfg.control_port, strerror(errno));
      rc = GL_EIO;
    }
  }
  sd->bound = rc == 0;
  pthread_mutex_unlock(&sd->lock);
  return rc;
}

uint16_t sim_devices_port(sim_devices *sd, int h) {
  return h >= 0 && h < sd->n ? sd->hh[h].port : 0;
}

const char *sim_devices_rtu_path(sim_devices *sd) {
  return sd->pty_master >= 0 ? sd->pty_path : NULL;
}

uint16_t sim_devices_control_port(sim_devices *sd) {
  return sd->ctl_port;
}

uint8_t sim_devices_unit(sim_devices *sd, int h, int dev, bool rtu) {
  if (h < 0 || h >= sd->n || dev < 0 || dev >= SIM_DEV_COUNT)
    return 0;
  return rtu ? sd->hh[h].dev[dev].unit_rtu : sd->hh[h].dev[dev].unit_tcp;
}

static const char *model_name(uint16_t m, char *buf, size_t n) {
  if (m == SIM_MODEL_SMA)
    return "sma";
  if (m == SIM_MODEL_SDM630)
    return "sdm630";
  snprintf(buf, n, "%u", m);
  return buf;
}

void sim_devices_print(sim_devices *sd, FILE *out) {
  pthread_mutex_lock(&sd->lock);
  char b1[16], b2[16];
  for (int i = 0; i < sd->n; i++) {
    const sim_hh *hh = &sd->hh[i];
    if (hh->listen_fd >= 0 || hh->port)
      fprintf(out,
              "listen household=%d tcp=%s:%u inverter=%u battery=%u "
              "meter=%u inverter_model=%s meter_model=%s\n",
              i, sd->host, hh->port, hh->dev[0].unit_tcp, hh->dev[1].unit_tcp,
              hh->dev[2].unit_tcp, model_name(hh->dev[0].model, b1, sizeof b1),
              model_name(hh->dev[2].model, b2, sizeof b2));
  }
  if (sd->pty_master >= 0)
    for (int i = 0; i < sd->n; i++)
      fprintf(out,
              "listen household=%d rtu=%s inverter=%u battery=%u "
              "meter=%u\n",
              i, sd->pty_path, sd->hh[i].dev[0].unit_rtu,
              sd->hh[i].dev[1].unit_rtu, sd->hh[i].dev[2].unit_rtu);
  if (sd->ctl_fd >= 0)
    fprintf(out, "listen control=%s:%u\n", sd->host, sd->ctl_port);
  fprintf(out, "ready\n");
  fflush(out);
  pthread_mutex_unlock(&sd->lock);
}

/* ---- Requests -------------------------------------------------------------
 */

enum { ACT_REPLY, ACT_DROP, ACT_IGNORE };

static bool take(uint32_t *left, bool all) {
  if (all)
    return true;
  if (*left > 0) {
    (*left)--;
    return true;
  }
  return false;
}

/* Serve one request PDU for unit `unit` on household `h` (TCP) or on the
 * RTU bus (h < 0). Called with the lock held. */
static int handle(sim_devices *sd, int h, uint8_t unit, const uint8_t *pdu,
                  size_t plen, uint8_t *resp, size_t *rlen,
                  uint32_t *delay_ms) {
  sim_hh *hh = NULL;
  int dev = -1;
  *delay_ms = 0;
  if (h >= 0) {
    hh = &sd->hh[h];
    for (int k = 0; k < SIM_DEV_COUNT; k++)
      if (hh->dev[k].unit_tcp == unit) {
        dev = k;
        break;
      }
  } else {
    for (int i = 0; i < sd->n && dev < 0; i++)
      for (int k = 0; k < SIM_DEV_COUNT; k++)
        if (sd->hh[i].dev[k].unit_rtu == unit && !sd->hh[i].offline) {
          hh = &sd->hh[i];
          dev = k;
          break;
        }
  }
  sim_mb_req req;
  memset(&req, 0, sizeof req);
  req.unit = unit;
  req.fc = plen ? pdu[0] : 0;
  if (dev < 0) {
    if (h < 0)
      return ACT_IGNORE; /* nobody on the bus answers to that unit id */
    /* A TCP endpoint with several units behaves like a gateway. */
    hh->stats.requests++;
    hh->stats.exceptions++;
    *rlen = sim__pdu_reply(&req, HAL_EXC_GATEWAY_TARGET, resp);
    return ACT_REPLY;
  }
  sim_dev *d = &hh->dev[dev];
  hh->stats.requests++;
  int exc = sim__pdu_parse(pdu, plen, &req);
  bool is_write = req.fc == 0x06 || req.fc == 0x10;
  if (is_write)
    hh->stats.writes++;
  else if (req.fc == 0x03 || req.fc == 0x04)
    hh->stats.reads++;
  if (take(&d->drop_left, d->drop_all)) {
    hh->stats.dropped++;
    return ACT_DROP;
  }
  if (take(&d->exc_left, d->exc_all))
    exc = d->exc_code;
  if (take(&d->delay_left, d->delay_all)) {
    *delay_ms = d->delay_ms;
    hh->stats.delayed++;
  }
  if (!exc) {
    sim__hh_refresh(hh, gl_clock_now(&sd->clock));
    if (req.fc == 0x03 || req.fc == 0x04) {
      exc = sim_image_read(d->img,
                           req.fc == 0x04 ? HAL_REG_INPUT : HAL_REG_HOLDING,
                           req.addr, req.n, req.regs);
    } else {
      exc = sim_image_write(d->img, req.addr, req.n, req.regs);
      if (!exc) {
        hh->stats.writes_applied++;
        sim__hh_after_write(hh, dev);
      }
    }
  }
  if (exc)
    hh->stats.exceptions++;
  *rlen = sim__pdu_reply(&req, (uint8_t)exc, resp);
  return ACT_REPLY;
}

/* Write everything; sockets with MSG_NOSIGNAL, so a client that hung up
 * (say, after timing out on a delayed answer) cannot kill the process
 * with SIGPIPE. */
static void send_all(int fd, const uint8_t *p, size_t n, bool *failed) {
  bool sock = true;
  while (n > 0) {
    ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0 && errno == ENOTSOCK) {
      sock = false;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      *failed = true;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void process_tcp(sim_devices *sd, conn *c) {
  while (!c->pending && c->inlen >= 7) {
    uint16_t pid = (uint16_t)(c->in[2] << 8 | c->in[3]);
    uint16_t len = (uint16_t)(c->in[4] << 8 | c->in[5]);
    if (pid != 0 || len < 2 || len > 254) {
      /* Not Modbus/TCP: a real device would drop the connection. */
      close_conn(c);
      return;
    }
    if (c->inlen < 6u + len)
      return;
    uint8_t resp[260];
    size_t rlen = 0;
    uint32_t delay = 0;
    pthread_mutex_lock(&sd->lock);
    int act =
        handle(sd, c->hh, c->in[6], c->in + 7, len - 1u, resp, &rlen, &delay);
    pthread_mutex_unlock(&sd->lock);
    if (act == ACT_REPLY) {
      c->out[0] = c->in[0];
      c->out[1] = c->in[1];
      c->out[2] = 0;
      c->out[3] = 0;
      c->out[4] = (uint8_t)((rlen + 1) >> 8);
      c->out[5] = (uint8_t)(rlen + 1);
      c->out[6] = c->in[6];
      memcpy(c->out + 7, resp, rlen);
      c->outlen = 7 + rlen;
      if (delay) {
        c->pending = true;
        c->due_ms = now_ms(sd) + delay;
      } else {
        bool failed = false;
        send_all(c->fd, c->out, c->outlen, &failed);
        if (failed) {
          close_conn(c);
          return;
        }
      }
    }
    memmove(c->in, c->in + 6 + len, c->inlen - 6u - len);
    c->inlen -= 6u + len;
  }
}

static void process_rtu(sim_devices *sd) {
  int64_t now = now_ms(sd);
  while (!sd->rtu_pending && sd->rtu_len > 0) {
    int need = sim__rtu_request_len(sd->rtu_in, sd->rtu_len);
    if (need == 0 || (need > 0 && (size_t)need > sd->rtu_len)) {
      if (now - sd->rtu_last_ms > RTU_SILENCE_MS)
        sd->rtu_len = 0; /* a fragment followed by silence: discard */
      return;
    }
    if (need < 0 || (size_t)need > sizeof sd->rtu_in) {
      /* Unknown function: its length is unknown; resynchronise on the
       * silence that ends every RTU frame. */
      if (now - sd->rtu_last_ms > RTU_SILENCE_MS)
        sd->rtu_len = 0;
      return;
    }
    size_t L = (size_t)need;
    uint16_t crc = sim__crc16(sd->rtu_in, L - 2);
    bool ok =
        sd->rtu_in[L - 2] == (crc & 0xFF) && sd->rtu_in[L - 1] == (crc >> 8);
    if (!ok) {
      sd->rtu_len = 0; /* devices ignore frames with a bad CRC */
      return;
    }
    uint8_t resp[260];
    size_t rlen = 0;
    uint32_t delay = 0;
    uint8_t unit = sd->rtu_in[0];
    int act = ACT_IGNORE;
    if (unit != 0) { /* broadcasts get no answer */
      pthread_mutex_lock(&sd->lock);
      act = handle(sd, -1, unit, sd->rtu_in + 1, L - 3, resp, &rlen, &delay);
      pthread_mutex_unlock(&sd->lock);
    }
    memmove(sd->rtu_in, sd->rtu_in + L, sd->rtu_len - L);
    sd->rtu_len -= L;
    if (act != ACT_REPLY)
      continue;
    sd->rtu_out[0] = unit;
    memcpy(sd->rtu_out + 1, resp, rlen);
    uint16_t c2 = sim__crc16(sd->rtu_out, rlen + 1);
    sd->rtu_out[rlen + 1] = (uint8_t)(c2 & 0xFF);
    sd->rtu_out[rlen + 2] = (uint8_t)(c2 >> 8);
    sd->rtu_outlen = rlen + 3;
    if (delay) {
      sd->rtu_pending = true;
      sd->rtu_due_ms = now + delay;
    } else {
      bool failed = false;
      send_all(sd->pty_master, sd->rtu_out, sd->rtu_outlen, &failed);
    }
  }
}

/* ---- Control port -----------------------------------------------------------
 */

static void reply(conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reply(conn *c, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  bool failed = false;
  send_all(c->fd, (const uint8_t *)line, (size_t)n, &failed);
}

static void control_line(sim_devices *sd, conn *c, char *line) {
  char *cmd = line;
  while (*cmd == ' ' || *cmd == '\t')
    cmd++;
  char *arg = strpbrk(cmd, " \t");
  if (arg)
    *arg++ = '\0';
  else
    arg = cmd + strlen(cmd);
  if (!*cmd)
    return;
  if (strcmp(cmd, "fault") == 0) {
    sim_fault f;
    char err[160];
    if (sim_fault_parse(arg, &f, err, sizeof err) != 0) {
      reply(c, "error: %s", err);
      return;
    }
    int rc = sim_devices_fault(sd, &f);
    if (rc != 0)
      reply(c, "error: %s", gl_strerror(rc));
    else
      reply(c, "ok");
    return;
  }
  if (strcmp(cmd, "state") == 0 || strcmp(cmd, "stats") == 0) {
    int64_t h = -1;
    if (gl_conf_parse_int(arg, &h) != 0 || h < 0 || h >= sd->n) {
      reply(c, "error: household must be 0..%d", sd->n - 1);
      return;
    }
    if (cmd[4] == 'e') {
      sim_devices_state s;
      sim_devices_state_get(sd, (int)h, &s);
      reply(c,
            "ok pv_w=%d grid_w=%d battery_w=%d soc=%d pv_wh=%lld "
            "import_wh=%lld export_wh=%lld charge_wh=%lld discharge_wh=%lld",
            s.pv_w, s.grid_w, s.battery_w, s.soc, (long long)s.pv_wh,
            (long long)s.import_wh, (long long)s.export_wh,
            (long long)s.charge_wh, (long long)s.discharge_wh);
    } else {
      sim_devices_stats st;
      sim_devices_stats_get(sd, (int)h, &st);
      reply(c,
            "ok requests=%llu reads=%llu writes=%llu writes_applied=%llu "
            "exceptions=%llu dropped=%llu delayed=%llu connections=%llu "
            "refused=%llu",
            (unsigned long long)st.requests, (unsigned long long)st.reads,
            (unsigned long long)st.writes,
            (unsigned long long)st.writes_applied,
            (unsigned long long)st.exceptions, (unsigned long long)st.dropped,
            (unsigned long long)st.delayed, (unsigned long long)st.connections,
            (unsigned long long)st.refused);
    }
    return;
  }
  if (strcmp(cmd, "help") == 0) {
    reply(c, "ok commands: fault KIND [key=value...] | state H | stats H | "
             "quit");
    return;
  }
  if (strcmp(cmd, "quit") == 0) {
    close_conn(c);
    return;
  }
  reply(c, "error: unknown command \"%.32s\" (try help)", cmd);
}

static void process_control(sim_devices *sd, conn *c) {
  for (;;) {
    uint8_t *nl = memchr(c->in, '\n', c->inlen);
    if (!nl) {
      if (c->inlen == sizeof c->in) {
        reply(c, "error: line too long");
        close_conn(c);
      }
      return;
    }
    *nl = '\0';
    size_t used = (size_t)(nl - c->in) + 1;
    char line[sizeof c->in];
    memcpy(line, c->in, used);
    size_t ll = strlen(line);
    if (ll > 0 && line[ll - 1] == '\r')
      line[ll - 1] = '\0';
    memmove(c->in, c->in + used, c->inlen - used);
    c->inlen -= used;
    control_line(sd, c, line);
    if (c->fd < 0)
      return;
  }
}

/* ---- The loop
 * ---------------------------------------------------------------- */

static conn *new_conn(sim_devices *sd, int fd, int h, bool control) {
  for (int i = 0; i < MAX_CONNS; i++) {
    conn *c = &sd->conns[i];
    if (c->fd < 0) {
      memset(c, 0, sizeof *c);
      c->fd = fd;
      c->hh = h;
      c->control = control;
      fcntl(fd, F_SETFL, O_NONBLOCK);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return c;
    }
  }
  return NULL;
}

static int conns_of(const sim_devices *sd, int h) {
  int n = 0;
  for (int i = 0; i < MAX_CONNS; i++)
    if (sd->conns[i].fd >= 0 && !sd->conns[i].control && sd->conns[i].hh == h)
      n++;
  return n;
}

/* Carry out offline/online changes recorded by the API. Returns the
 * earliest end of an offline period (or INT64_MAX). */
static int64_t sync_network(sim_devices *sd, int64_t now) {
  int64_t next = INT64_MAX;
  pthread_mutex_lock(&sd->lock);
  for (int i = 0; i < sd->n; i++) {
    sim_hh *hh = &sd->hh[i];
    if (hh->offline && hh->offline_until_ms && now >= hh->offline_until_ms) {
      hh->offline = false;
      hh->offline_until_ms = 0;
    }
    if (hh->offline && hh->listen_fd >= 0) {
      close(hh->listen_fd);
      hh->listen_fd = -1;
      for (int k = 0; k < MAX_CONNS; k++)
        if (sd->conns[k].fd >= 0 && !sd->conns[k].control &&
            sd->conns[k].hh == i)
          close_conn(&sd->conns[k]);
      GL_INFO(SIM_LOG, "household %d offline", i);
    } else if (!hh->offline && hh->listen_fd < 0 && hh->port &&
               !sd->cfg.tcp_off) {
      uint16_t p = hh->port;
      hh->listen_fd = listen_on(sd->host, p, &hh->port);
      if (hh->listen_fd < 0)
        GL_WARN(SIM_LOG, "household %d: cannot listen again on %u: %s", i, p,
                strerror(errno));
      else
        GL_INFO(SIM_LOG, "household %d online", i);
    }
    if (hh->offline && hh->offline_until_ms && hh->offline_until_ms < next)
      next = hh->offline_until_ms;
  }
  pthread_mutex_unlock(&sd->lock);
  return next;
}

int sim_devices_run(sim_devices *sd) {
  struct pollfd pf[1 + SIM_MAX_HOUSEHOLDS + 2 + MAX_CONNS];
  int owner[1 + SIM_MAX_HOUSEHOLDS + 2 + MAX_CONNS];
  enum { O_WAKE = -1, O_CTL = -2, O_PTY = -3 };
  while (!atomic_load(&sd->stop)) {
    int64_t now = now_ms(sd);
    int64_t next = sync_network(sd, now);
    if (next > now + 1000)
      next = now + 1000;
    int n = 0;
    pf[n] = (struct pollfd){sd->wake[0], POLLIN, 0};
    owner[n++] = O_WAKE;
    for (int i = 0; i < sd->n; i++) {
      if (sd->hh[i].listen_fd >= 0) {
        pf[n] = (struct pollfd){sd->hh[i].listen_fd, POLLIN, 0};
        owner[n++] = 1000 + i;
      }
    }
    if (sd->ctl_fd >= 0) {
      pf[n] = (struct pollfd){sd->ctl_fd, POLLIN, 0};
      owner[n++] = O_CTL;
    }
    if (sd->pty_master >= 0) {
      if (!sd->rtu_pending) {
        pf[n] = (struct pollfd){sd->pty_master, POLLIN, 0};
        owner[n++] = O_PTY;
      } else if (sd->rtu_due_ms < next) {
        next = sd->rtu_due_ms;
      }
      if (sd->rtu_len > 0 && sd->rtu_last_ms + RTU_SILENCE_MS + 1 < next)
        next = sd->rtu_last_ms + RTU_SILENCE_MS + 1;
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &sd->conns[i];
      if (c->fd < 0)
        continue;
      if (c->pending) {
        if (c->due_ms < next)
          next = c->due_ms;
        continue;
      }
      pf[n] = (struct pollfd){c->fd, POLLIN, 0};
      owner[n++] = i;
    }
    int timeout = next > now ? (int)(next - now) : 0;
    int pr = poll(pf, (nfds_t)n, timeout);
    if (pr < 0 && errno != EINTR) {
      GL_ERROR(SIM_LOG, "poll: %s", strerror(errno));
      return GL_EIO;
    }
    now = now_ms(sd);
    /* Responses whose delay is over. */
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &sd->conns[i];
      if (c->fd >= 0 && c->pending && now >= c->due_ms) {
        bool failed = false;
        send_all(c->fd, c->out, c->outlen, &failed);
        c->pending = false;
        if (failed)
          close_conn(c);
        else
          process_tcp(sd, c);
      }
    }
    if (sd->rtu_pending && now >= sd->rtu_due_ms) {
      bool failed = false;
      send_all(sd->pty_master, sd->rtu_out, sd->rtu_outlen, &failed);
      sd->rtu_pending = false;
      process_rtu(sd);
    }
    if (sd->pty_master >= 0 && sd->rtu_len > 0 && !sd->rtu_pending)
      process_rtu(sd); /* silence after a fragment */
    for (int k = 0; k < n && pr > 0; k++) {
      if (!pf[k].revents)
        continue;
      int o = owner[k];
      if (o == O_WAKE) {
        char b[64];
        while (read(sd->wake[0], b, sizeof b) > 0) {
        }
      } else if (o >= 1000) {
        int h = o - 1000;
        int fd = accept(pf[k].fd, NULL, NULL);
        if (fd < 0)
          continue;
        pthread_mutex_lock(&sd->lock);
        bool full = conns_of(sd, h) >= sd->cfg.max_clients;
        if (full)
          sd->hh[h].stats.refused++;
        else
          sd->hh[h].stats.connections++;
        pthread_mutex_unlock(&sd->lock);
        if (full || !new_conn(sd, fd, h, false))
          close(fd);
      } else if (o == O_CTL) {
        int fd = accept(pf[k].fd, NULL, NULL);
        if (fd >= 0 && !new_conn(sd, fd, -1, true))
          close(fd);
      } else if (o == O_PTY) {
        ssize_t r = read(sd->pty_master, sd->rtu_in + sd->rtu_len,
                         sizeof sd->rtu_in - sd->rtu_len);
        if (r > 0) {
          sd->rtu_len += (size_t)r;
          sd->rtu_last_ms = now;
          if (sd->rtu_len == sizeof sd->rtu_in)
            sd->rtu_len = 0; /* garbage flood: resynchronise */
          process_rtu(sd);
        }
      } else {
        conn *c = &sd->conns[o];
        if (c->fd < 0)
          continue;
        ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          close_conn(c);
          continue;
        }
        if (r < 0)
          continue;
        c->inlen += (size_t)r;
        if (c->control)
          process_control(sd, c);
        else
          process_tcp(sd, c);
      }
    }
  }
  return 0;
}

void sim_devices_stop(sim_devices *sd) {
  atomic_store(&sd->stop, true);
  if (sd->wake[1] >= 0) {
    ssize_t w = write(sd->wake[1], "x", 1);
    (void)w;
  }
}

static void *thread_main(void *arg) {
  sim_devices_run(arg);
  return NULL;
}

int sim_devices_start(sim_devices *sd) {
  atomic_store(&sd->stop, false);
  if (pthread_create(&sd->thread, NULL, thread_main, sd) != 0)
    return GL_EIO;
  sd->thread_started = true;
  return 0;
}

void sim_devices_join(sim_devices *sd) {
  if (sd->thread_started) {
    pthread_join(sd->thread, NULL);
    sd->thread_started = false;
  }
}

/* ---- Faults and introspection ---------------------------------------------
 */

int sim_devices_fault(sim_devices *sd, const sim_fault *f) {
  if (!f || f->household >= sd->n || f->device >= SIM_DEV_COUNT)
    return GL_EINVAL;
  pthread_mutex_lock(&sd->lock);
  int applied = 0, rc = 0;
  int64_t now = gl_clock_now(&sd->clock);
  for (int i = 0; i < sd->n; i++) {
    if (f->household >= 0 && f->household != i)
      continue;
    sim_hh *hh = &sd->hh[i];
    if (f->kind == SIM_FAULT_OFFLINE) {
      hh->offline = true;
      hh->offline_until_ms = f->ms ? now_ms(sd) + f->ms : 0;
      applied++;
      continue;
    }
    if (f->kind == SIM_FAULT_ONLINE) {
      hh->offline = false;
      hh->offline_until_ms = 0;
      applied++;
      continue;
    }
    sim__hh_refresh(hh, now);
    for (int k = 0; k < SIM_DEV_COUNT; k++) {
      if (f->device >= 0 && f->device != k)
        continue;
      sim_dev *d = &hh->dev[k];
      int r = 0;
      switch (f->kind) {
      case SIM_FAULT_DELAY:
        d->delay_ms = f->ms;
        d->delay_left = f->count;
        d->delay_all = f->count == 0;
        break;
      case SIM_FAULT_DROP:
        d->drop_left = f->count;
        d->drop_all = f->count == 0;
        break;
      case SIM_FAULT_EXCEPTION:
        d->exc_code = f->code;
        d->exc_left = f->count;
        d->exc_all = f->count == 0;
        break;
      case SIM_FAULT_CLEAR:
        d->delay_left = d->drop_left = d->exc_left = 0;
        d->delay_all = d->drop_all = d->exc_all = false;
        break;
      case SIM_FAULT_SF:
        r = sim__dev_set_sf(hh, k, f->sf, f->energy_sf);
        break;
      case SIM_FAULT_RESET:
        r = sim__dev_reset(hh, k);
        break;
      case SIM_FAULT_ROLLOVER:
        r = sim__dev_rollover(hh, k, f->margin);
        break;
      case SIM_FAULT_LEN65:
        r = sim__dev_len65(hh, k, f->value != 0);
        break;
      default:
        r = GL_EINVAL;
        break;
      }
      if (r == 0)
        applied++;
      else if (r != GL_ENOTSUP)
        rc = r;
    }
    sim__hh_refresh(hh, now);
  }
  pthread_mutex_unlock(&sd->lock);
  if ((f->kind == SIM_FAULT_OFFLINE || f->kind == SIM_FAULT_ONLINE) &&
      sd->wake[1] >= 0) {
    /* The loop owns the sockets: wake it to close or reopen them. */
    ssize_t w = write(sd->wake[1], "w", 1);
    (void)w;
  }
  if (rc != 0)
    return rc;
  return applied ? 0 : GL_ENOTSUP;
}

int sim_devices_state_get(sim_devices *sd, int h, sim_devices_state *out) {
  if (h < 0 || h >= sd->n)
    return GL_EINVAL;
  pthread_mutex_lock(&sd->lock);
  sim__hh_refresh(&sd->hh[h], gl_clock_now(&sd->clock));
  sim__hh_view(&sd->hh[h], out);
  pthread_mutex_unlock(&sd->lock);
  return 0;
}

int sim_devices_point(sim_devices *sd, int h, int dev, uint16_t model,
                      unsigned nth, int grp, const char *point,
                      sim_point_value *out) {
  if (h < 0 || h >= sd->n || dev < 0 || dev >= SIM_DEV_COUNT)
    return GL_EINVAL;
  pthread_mutex_lock(&sd->lock);
  sim_hh *hh = &sd->hh[h];
  sim__hh_refresh(hh, gl_clock_now(&sd->clock));
  int m = sim_image_model(hh->dev[dev].img, model, nth);
  int rc =
      m < 0 ? GL_ENOENT : sim_image_point(hh->dev[dev].img, m, grp, point, out);
  pthread_mutex_unlock(&sd->lock);
  return rc;
}

size_t sim_devices_chain(sim_devices *sd, int h, int dev, uint16_t *ids,
                         size_t max) {
  if (h < 0 || h >= sd->n || dev < 0 || dev >= SIM_DEV_COUNT)
    return 0;
  pthread_mutex_lock(&sd->lock);
  const sim_image *img = sd->hh[h].dev[dev].img;
  size_t n = sim_image_model_count(img);
  for (size_t i = 0; i < n && i < max; i++)
    ids[i] = sim_image_model_id(img, (int)i);
  pthread_mutex_unlock(&sd->lock);
  return n;
}

int sim_devices_stats_get(sim_devices *sd, int h, sim_devices_stats *out) {
  if (h >= sd->n)
    return GL_EINVAL;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&sd->lock);
  for (int i = 0; i < sd->n; i++) {
    if (h >= 0 && i != h)
      continue;
    const sim_devices_stats *s = &sd->hh[i].stats;
    out->requests += s->requests;
    out->reads += s->reads;
    out->writes += s->writes;
    out->writes_applied += s->writes_applied;
    out->exceptions += s->exceptions;
    out->dropped += s->dropped;
    out->delayed += s->delayed;
    out->connections += s->connections;
    out->refused += s->refused;
  }
  pthread_mutex_unlock(&sd->lock);
  return 0;
}
