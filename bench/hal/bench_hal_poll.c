/* SPDX-License-Identifier: MIT */
/*
 * bench_hal_poll - what one poll of a household costs the meter agent: CPU
 * time of polling an inverter, a battery and a grid meter (the shipped
 * SunSpec profiles) through one shared Modbus TCP connection to the device
 * simulator on loopback. The simulator runs as a separate process
 * (gridlet-sim devices), so the CPU time measured is the poller's alone.
 *
 * Reports the median over many polls of: process CPU time per poll of the
 * three devices, wall time per poll, and Modbus requests per poll. Target:
 * < 1 ms CPU per poll of three devices.
 */
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLLS 2000
#define WARMUP 50

extern char **environ;

static pid_t start_sim(uint16_t *port) {
  int fds[2];
  if (pipe(fds) != 0)
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  char *argv[] = {GRIDLET_SIM_PATH, "devices", "-n", "1", "--seed", "1",
                  "--log-level",    "warn",    NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return -1;
  }
  FILE *out = fdopen(fds[0], "r");
  char line[256];
  unsigned p = 0;
  while (out && fgets(line, sizeof line, out)) {
    sscanf(line, "listen household=0 tcp=127.0.0.1:%u", &p);
    if (strcmp(line, "ready\n") == 0)
      break;
  }
  if (out)
    fclose(out);
  *port = (uint16_t)p;
  return p ? pid : -1;
}

static int load(const char *name, hal_profile *p) {
  char path[512];
  snprintf(path, sizeof path, "%s/hal/profiles/%s.profile", GRIDLET_SOURCE_DIR,
           name);
  gl_conf_errors e;
  return hal_profile_load(path, p, &e);
}

int main(void) {
  gl_log_set_level(GL_LOG_WARN);
  uint16_t port = 0;
  pid_t sim = start_sim(&port);
  if (sim < 0) {
    fprintf(stderr, "bench_hal_poll: cannot start %s\n", GRIDLET_SIM_PATH);
    return 1;
  }
  hal_endpoint ep = {.kind = HAL_EP_TCP, .port = port};
  snprintf(ep.host, sizeof ep.host, "127.0.0.1");
  hal_transport t;
  gl_rand rnd = gl_rand_system();
  hal_link_cfg lc = {0};
  if (hal_transport_modbus_new(&ep, &t) != 0)
    return 1;
  hal_link *link = hal_link_new(t, &lc, gl_clock_real(), rnd, "bench");
  hal_profile pi, pb, pm;
  if (load("sunspec-inverter", &pi) || load("sunspec-battery", &pb) ||
      load("sunspec-meter", &pm)) {
    fprintf(stderr, "bench_hal_poll: cannot load the profiles\n");
    return 1;
  }
  hal_device_cfg c1 = {.unit = 1}, c2 = {.unit = 2}, c3 = {.unit = 3};
  hal_device *d[3] = {hal_device_new(link, &pi, &c1),
                      hal_device_new(link, &pb, &c2),
                      hal_device_new(link, &pm, &c3)};
  static int64_t cpu[POLLS], wall[POLLS];
  hal_sample s;
  int failures = 0;
  for (int i = 0; i < WARMUP; i++)
    for (int k = 0; k < 3; k++)
      failures += hal_device_poll(d[k], &s) != 0;
  hal_link_stats before, after;
  hal_link_stats_get(link, &before);
  for (int i = 0; i < POLLS; i++) {
    int64_t c0 = gb_cpu_ns(), w0 = gb_now_ns();
    for (int k = 0; k < 3; k++)
      failures += hal_device_poll(d[k], &s) != 0;
    cpu[i] = gb_cpu_ns() - c0;
    wall[i] = gb_now_ns() - w0;
  }
  hal_link_stats_get(link, &after);
  printf("bench_hal_poll: inverter (1, 103, 160), battery (1, 701, 802, "
         "124), meter (1, 203) over one Modbus TCP connection on loopback\n");
  gb_report("hal_poll_3_devices_cpu", cpu, POLLS, 1, 1e3, "us");
  gb_report("hal_poll_3_devices_wall", wall, POLLS, 1, 1e3, "us");
  printf("hal_poll_3_devices_requests: %.2f Modbus requests per poll\n",
         (double)(after.requests - before.requests) / POLLS);
  printf("hal_poll_failures: %d\n", failures);
  for (int k = 0; k < 3; k++)
    hal_device_free(d[k]);
  hal_link_free(link);
  kill(sim, SIGTERM);
  waitpid(sim, NULL, 0);
  return failures ? 1 : 0;
}
