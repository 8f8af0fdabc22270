/* SPDX-License-Identifier: MIT */
/* The gridlet-sim executable and gridlet-probe, as a script or an
 * installer would use them: start `gridlet-sim devices` by PID, find its
 * ports in what it prints, read households over TCP and RTU, inject faults
 * through the control port, probe a device, and stop it with SIGTERM. */
#include "gridlet/clock.h"
#include "gridlet/error.h"
#include "gridlet/hal_device.h"
#include "gridlet/hal_link.h"
#include "gridlet/log.h"
#include "gridlet/rand.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fx {
  char dir[GT_PATH_MAX];
  char log[GT_PATH_MAX];
  pid_t pid;
  uint16_t port[3];
  uint16_t control;
  char rtu[128];
  gl_seeded_rand *sr;
} fx;

static char *wait_ready(const char *log) {
  for (int i = 0; i < 500; i++) {
    char *text = gt_read_file(log, NULL);
    if (text && strstr(text, "\nready\n"))
      return text;
    free(text);
    gt_sleep_ms(20);
  }
  char *text = gt_read_file(log, NULL);
  fail_msg("gridlet-sim did not get ready; output:\n%s", text ? text : "");
  return NULL;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  gt_tmpdir("simcli", f->dir);
  gt_path(f->log, f->dir, "sim.log");
  char bin[GT_PATH_MAX];
  gt_build_path(bin, "sim/gridlet-sim");
  char *argv[] = {bin,      "devices", "-n",  "3",       "--control",
                  "--rtu",  "--speed", "300", "--start", "2026-06-21T06:00:00Z",
                  "--seed", "1",       NULL};
  f->pid = gt_proc_start(argv, f->log, NULL);
  char *out = wait_ready(f->log);
  char *save = NULL;
  for (char *line = strtok_r(out, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    int h;
    unsigned p;
    char path[128];
    if (sscanf(line, "listen household=%d tcp=127.0.0.1:%u", &h, &p) == 2 &&
        h >= 0 && h < 3)
      f->port[h] = (uint16_t)p;
    else if (sscanf(line, "listen household=0 rtu=%127s", path) == 1)
      snprintf(f->rtu, sizeof f->rtu, "%s", path);
    else if (sscanf(line, "listen control=127.0.0.1:%u", &p) == 1)
      f->control = (uint16_t)p;
  }
  free(out);
  for (int h = 0; h < 3; h++)
    assert_true(f->port[h] > 0);
  assert_true(f->control > 0);
  assert_true(f->rtu[0] == '/');
  f->sr = gl_seeded_rand_new(8);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  if (f->pid > 0)
    gt_proc_kill9(f->pid);
  gl_seeded_rand_free(f->sr);
  gt_rmtree(f->dir);
  free(f);
  return 0;
}

static hal_link *link_to(fx *f, const char *endpoint) {
  hal_endpoint ep;
  char err[200];
  assert_int_equal(hal_endpoint_parse(endpoint, &ep, err, sizeof err), 0);
  hal_transport t;
  assert_int_equal(hal_transport_modbus_new(&ep, &t), 0);
  hal_link_cfg lc = {.timeout_ns = GL_NS_PER_SEC,
                     .attempts = 2,
                     .backoff_ns = 10 * GL_NS_PER_MS};
  return hal_link_new(t, &lc, gl_clock_real(), gl_seeded_rand_rand(f->sr),
                      "cli");
}

static hal_profile profile(const char *name) {
  char rel[128], path[GT_PATH_MAX];
  snprintf(rel, sizeof rel, "hal/profiles/%s.profile", name);
  hal_profile p;
  gl_conf_errors e;
  assert_int_equal(hal_profile_load(gt_source_path(path, rel), &p, &e), 0);
  return p;
}

/* Send one control line, return the reply line (static buffer). */
static const char *control(fx *f, const char *line) {
  static char reply[512];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(f->control),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_true(write(fd, line, strlen(line)) == (ssize_t)strlen(line));
  size_t n = 0;
  while (n < sizeof reply - 1) {
    ssize_t r = read(fd, reply + n, sizeof reply - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
    if (memchr(reply, '\n', n))
      break;
  }
  reply[n] = '\0';
  close(fd);
  return reply;
}

static void test_sim_cli_serves_accelerated_households(void **state) {
  fx *f = *state;
  char ep[64];
  snprintf(ep, sizeof ep, "tcp:127.0.0.1:%u", f->port[2]);
  hal_link *l = link_to(f, ep);
  hal_profile pm = profile("sunspec-meter"), pi = profile("sunspec-inverter");
  hal_device_cfg c = {.unit = 3};
  hal_device *met = hal_device_new(l, &pm, &c);
  c.unit = 1;
  hal_device *inv = hal_device_new(l, &pi, &c);
  hal_sample a, b, pa, pb;
  assert_int_equal(hal_device_poll(met, &a), 0);
  assert_int_equal(hal_device_poll(inv, &pa), 0);
  gt_sleep_ms(1500); /* 7.5 simulated minutes of a June morning */
  assert_int_equal(hal_device_poll(met, &b), 0);
  assert_int_equal(hal_device_poll(inv, &pb), 0);
  assert_true(b.r[HAL_Q_GRID_IMPORT_WH].value >=
              a.r[HAL_Q_GRID_IMPORT_WH].value);
  assert_true(b.r[HAL_Q_GRID_EXPORT_WH].value >=
              a.r[HAL_Q_GRID_EXPORT_WH].value);
  /* Something flowed: at 06:00 in June the sun is up. */
  assert_true(pb.r[HAL_Q_PV_ENERGY_WH].value > pa.r[HAL_Q_PV_ENERGY_WH].value);
  hal_device_free(met);
  hal_device_free(inv);
  hal_link_free(l);
}

static void test_sim_cli_rtu_bus(void **state) {
  fx *f = *state;
  char ep[200];
  snprintf(ep, sizeof ep, "rtu:%s:9600:8N1", f->rtu);
  hal_link *l = link_to(f, ep);
  hal_ss_map map;
  /* Household 1's meter is unit 13 on the bus. */
  assert_int_equal(hal_ss_discover(l, 13, &map), 0);
  assert_int_equal(map.n, 2);
  assert_int_equal(map.models[1].id, 203);
  hal_link_free(l);
}

static void test_sim_cli_control_port_injects_faults(void **state) {
  fx *f = *state;
  assert_string_equal(control(f, "fault drop household=1 device=meter "
                                 "count=1\n"),
                      "ok\n");
  assert_non_null(
      strstr(control(f, "fault explode\n"), "error: unknown fault"));
  assert_non_null(strstr(control(f, "bogus\n"), "error: unknown command"));
  char ep[64];
  snprintf(ep, sizeof ep, "tcp:127.0.0.1:%u", f->port[1]);
  hal_link *l = link_to(f, ep);
  hal_profile pm = profile("sunspec-meter");
  hal_device_cfg c = {.unit = 3};
  hal_device *met = hal_device_new(l, &pm, &c);
  hal_sample s;
  assert_int_equal(hal_device_poll(met, &s), 0); /* retried */
  hal_link_stats ls;
  hal_link_stats_get(l, &ls);
  assert_int_equal(ls.timeouts, 1);
  const char *st = control(f, "stats 1\n");
  assert_non_null(strstr(st, "dropped=1"));
  assert_non_null(strstr(st, "writes=0"));
  assert_non_null(strstr(control(f, "state 1\n"), "ok pv_w="));
  hal_device_free(met);
  hal_link_free(l);
}

static int run(char *const argv[], const char *out, char **text) {
  pid_t pid = gt_proc_start(argv, out, NULL);
  int st = gt_proc_wait(pid, 30000);
  if (text)
    *text = gt_read_file(out, NULL);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_sim_cli_probe(void **state) {
  fx *f = *state;
  char bin[GT_PATH_MAX], prof[GT_PATH_MAX], out[GT_PATH_MAX], ep[64];
  gt_build_path(bin, "hal/gridlet-probe");
  gt_source_path(prof, "hal/profiles/sunspec-meter.profile");
  gt_path(out, f->dir, "probe1.txt");
  snprintf(ep, sizeof ep, "tcp:127.0.0.1:%u", f->port[0]);
  char *a1[] = {bin, "-u", "3", "-p", prof, ep, NULL};
  char *text = NULL;
  assert_int_equal(run(a1, out, &text), 0);
  assert_non_null(strstr(text, "model 203"));
  assert_non_null(strstr(text, "TotWhImp"));
  assert_non_null(strstr(text, "grid_import_energy"));
  assert_non_null(strstr(text, "\"gridlet\""));
  free(text);
  /* Nobody listening: exit 1 with hints. */
  gt_path(out, f->dir, "probe2.txt");
  char ep2[64];
  snprintf(ep2, sizeof ep2, "tcp:127.0.0.1:%u", gt_free_port());
  char *a2[] = {bin, "-t", "300ms", ep2, NULL};
  assert_int_equal(run(a2, out, &text), 1);
  assert_non_null(strstr(text, "hints"));
  free(text);
  /* A registers profile whose value runs past register 65535 is refused
   * before anything is asked (it used to plan nothing and report the
   * device online without any I/O). */
  char bad[GT_PATH_MAX];
  gt_path(bad, f->dir, "edge.profile");
  static const char edge[] = "[profile]\nname = edge\nkind = registers\n"
                             "source = test\n[grid_power]\n"
                             "register = input 65535\ntype = int32\n";
  gt_write_file(bad, edge, sizeof edge - 1);
  gt_path(out, f->dir, "probe4.txt");
  char *a4[] = {bin, "-t", "300ms", "-p", bad, ep2, NULL};
  assert_int_equal(run(a4, out, &text), 2);
  assert_non_null(strstr(text, "runs past 65535"));
  free(text);
  gt_path(out, f->dir, "probe3.txt");
  char *a3[] = {bin, "udp:x", NULL};
  assert_int_equal(run(a3, out, &text), 2);
  assert_non_null(strstr(text, "must start with tcp: or rtu:"));
  free(text);
}

static void test_sim_cli_stops_on_sigterm(void **state) {
  fx *f = *state;
  int st = gt_proc_stop(f->pid, 5000);
  f->pid = 0;
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  char *text = gt_read_file(f->log, NULL);
  assert_non_null(strstr(text, "stopped"));
  free(text);
  /* Bad command lines exit with status 2 and say why. */
  char bin[GT_PATH_MAX], out[GT_PATH_MAX];
  gt_build_path(bin, "sim/gridlet-sim");
  gt_path(out, f->dir, "bad.txt");
  char *a1[] = {bin, "devices", "-n", "99", NULL};
  assert_int_equal(run(a1, out, &text), 2);
  assert_non_null(strstr(text, "households must be 1..24"));
  free(text);
  char *a2[] = {bin, "bogus", NULL};
  assert_int_equal(run(a2, out, &text), 2);
  free(text);
  char *a3[] = {bin, "devices", "--fault", "drop device=toaster", NULL};
  assert_int_equal(run(a3, out, &text), 2);
  free(text);
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sim_cli_serves_accelerated_households),
      cmocka_unit_test(test_sim_cli_rtu_bus),
      cmocka_unit_test(test_sim_cli_control_port_injects_faults),
      cmocka_unit_test(test_sim_cli_probe),
      cmocka_unit_test(test_sim_cli_stops_on_sigterm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
