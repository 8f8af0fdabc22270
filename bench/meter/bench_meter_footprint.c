/* SPDX-License-Identifier: MIT */
/*
 * bench_meter_footprint - what gridlet-meter costs the household's board:
 * resident memory and average CPU of the real gridlet-meter process while
 * it polls three simulated devices (inverter, battery, grid meter of one
 * household of gridlet-sim devices, over Modbus TCP) every 5 s and keeps
 * its TLS 1.3 MQTT connection to a real mosquitto (a development
 * community made with certs/), on the real clock, for a real-time minute
 * or more per run; and the size of the stripped binary.
 *
 *   bench_meter_footprint [SECONDS [RUNS]]     defaults: 65 s, 3 runs
 *
 * Each run starts a fresh agent (fresh database), lets it settle for 5 s,
 * then measures CPU time (utime + stime from /proc) over the rest of the
 * run and reads VmRSS and VmHWM at the end. Reports medians over the runs
 * (gb_report). Targets: resident memory <= 8 MiB, CPU <= 1 % of one core.
 */
/* nftw() is XSI. */
#define _XOPEN_SOURCE 700
#include "benchutil.h"

#include "gridlet/clock.h"
#include "gridlet/log.h"
#include "gridlet/pki_dev.h"
#include "gridlet/rand.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static pid_t spawn(char *const argv[], const char *log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log,
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc ? -1 : pid;
}

static void stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return;
    usleep(50000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Wait until `needle` appears in the file; returns its text or NULL. */
static char *wait_for(const char *path, const char *needle, int ms) {
  for (int i = 0; i < ms / 20; i++) {
    char *t = slurp(path);
    if (t && strstr(t, needle))
      return t;
    usleep(20000);
  }
  return NULL;
}

static long status_kib(pid_t pid, const char *field) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  char *t = slurp(path);
  char *p = t ? strstr(t, field) : NULL;
  return p ? strtol(p + strlen(field), NULL, 10) : -1;
}

/* CPU time of a process, in ns: the sum of its threads' run time from
 * /proc/PID/task/TID/schedstat (nanoseconds, unlike the 10 ms ticks of
 * /proc/PID/stat, which an agent this idle barely moves). */
static int64_t cpu_ns(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int64_t sum = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char f[300];
    snprintf(f, sizeof f, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
    char *t = slurp(f);
    if (t)
      sum += strtoll(t, NULL, 10);
  }
  closedir(d);
  return sum;
}

/* Proportional and private memory from smaps_rollup, in KiB. */
static long rollup_kib(pid_t pid, const char *field) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  char *t = slurp(path);
  char *p = t ? strstr(t, field) : NULL;
  return p ? strtol(p + strlen(field), NULL, 10) : -1;
}

/* A loopback TCP port that was free a moment ago. */
static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s;
  (void)f;
  (void)w;
  return remove(p);
}

int main(int argc, char **argv) {
  long seconds = argc > 1 ? strtol(argv[1], NULL, 10) : 65;
  long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 3;
  if (seconds < 10 || runs < 1 || runs > 20) {
    fprintf(stderr, "usage: bench_meter_footprint [SECONDS>=10 [RUNS]]\n");
    return 2;
  }
  gl_log_set_level(GL_LOG_ERROR);
  char dir[] = "/tmp/gridlet-bench-meter-XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[1024], comm[600], log[600], simlog[600], brokerlog[600];
  snprintf(comm, sizeof comm, "%s/community", dir);
  snprintf(simlog, sizeof simlog, "%s/sim.log", dir);
  snprintf(brokerlog, sizeof brokerlog, "%s/broker.log", dir);

  /* A development community and its TLS broker on a free port. */
  uint16_t port = free_port();
  struct passwd *pw = getpwuid(geteuid());
  pki_dev_opts o = {.community = "demo",
                    .meters = 1,
                    .port = port,
                    .run_as_user = pw ? pw->pw_name : NULL};
  gl_rand rand = gl_rand_system();
  gl_clock real = gl_clock_real();
  pki_why why = {{0}};
  if (pki_dev_community(comm, &o, &rand, &real, &why)) {
    fprintf(stderr, "bench_meter_footprint: %s\n", why.text);
    return 1;
  }
  snprintf(path, sizeof path, "%s/broker/mosquitto.conf", comm);
  char *bargv[] = {"/usr/sbin/mosquitto", "-c", path, NULL};
  pid_t broker = spawn(bargv, brokerlog);
  char *sargv[] = {GRIDLET_SIM_PATH, "devices", "-n", "1", "--seed", "1",
                   "--log-level",    "warn",    NULL};
  pid_t sim = spawn(sargv, simlog);
  char *out = wait_for(simlog, "\nready\n", 10000);
  unsigned sport = 0;
  char *p = out ? strstr(out, "tcp=127.0.0.1:") : NULL;
  if (p)
    sport = (unsigned)strtoul(p + 14, NULL, 10);
  usleep(300000);
  if (broker < 0 || sim < 0 || !sport) {
    fprintf(stderr, "bench_meter_footprint: cannot start the broker or the "
                    "simulator\n");
    stop(sim);
    stop(broker);
    return 1;
  }

  if (!port) {
    fprintf(stderr, "bench_meter_footprint: no free port\n");
    return 1;
  }
  int64_t *rss = calloc((size_t)runs, sizeof *rss);
  int64_t *hwm = calloc((size_t)runs, sizeof *hwm);
  int64_t *cpu = calloc((size_t)runs, sizeof *cpu);
  int64_t *pss = calloc((size_t)runs, sizeof *pss);
  int64_t *uss = calloc((size_t)runs, sizeof *uss);
  int64_t *anon = calloc((size_t)runs, sizeof *anon);
  int ok = 0;
  for (int r = 0; r < runs; r++) {
    char conf[600], db[600];
    snprintf(conf, sizeof conf, "%s/meter%d.conf", dir, r);
    snprintf(db, sizeof db, "%s/meter%d.db", dir, r);
    snprintf(log, sizeof log, "%s/meter%d.log", dir, r);
    FILE *f = fopen(conf, "w");
    if (!f)
      break;
    const char *m = "meters/meter-001";
    fprintf(f,
            "[meter]\ncommunity = demo\npoll = 5s\ndatabase = %s\n"
            "log_level = notice\n"
            "[grid_meter]\nendpoint = tcp:127.0.0.1:%u\nunit = 3\n"
            "profile = %s/hal/profiles/sunspec-meter.profile\n"
            "[inverter]\nendpoint = tcp:127.0.0.1:%u\nunit = 1\n"
            "profile = %s/hal/profiles/sunspec-inverter.profile\n"
            "[battery]\nendpoint = tcp:127.0.0.1:%u\nunit = 2\n"
            "profile = %s/hal/profiles/sunspec-battery.profile\n"
            "[mqtt]\nuri = mqtts://127.0.0.1:%u\nca = %s/%s/ca.pem\n"
            "cert = %s/%s/meter.pem\nkey = %s/%s/meter.key\n"
            "[aggregator]\ncert = %s/aggregator/aggregator.pem\n",
            db, sport, GRIDLET_SOURCE_DIR, sport, GRIDLET_SOURCE_DIR, sport,
            GRIDLET_SOURCE_DIR, port, comm, m, comm, m, comm, m, comm);
    fclose(f);
    char *margv[] = {GRIDLET_METER_PATH, "run", "--config", conf, NULL};
    pid_t meter = spawn(margv, log);
    if (meter < 0 || !wait_for(log, "connected to the broker", 10000)) {
      fprintf(stderr,
              "bench_meter_footprint: the agent did not connect; its "
              "log:\n%s\n",
              slurp(log) ? slurp(log) : "");
      stop(meter);
      break;
    }
    sleep(5); /* settle: first discovery, TLS handshake, first polls */
    int64_t c0 = cpu_ns(meter), w0 = gb_now_ns();
    sleep((unsigned)(seconds - 5));
    int64_t c1 = cpu_ns(meter), w1 = gb_now_ns();
    rss[ok] = status_kib(meter, "VmRSS:");
    hwm[ok] = status_kib(meter, "VmHWM:");
    pss[ok] = rollup_kib(meter, "\nPss:");
    uss[ok] = rollup_kib(meter, "Private_Clean:") +
              rollup_kib(meter, "Private_Dirty:");
    anon[ok] = status_kib(meter, "RssAnon:");
    /* CPU as parts per million of one core. */
    cpu[ok] = (c1 - c0) * 1000000 / (w1 - w0);
    ok++;
    stop(meter);
  }
  stop(sim);
  stop(broker);

  /* The stripped binary. */
  struct stat st;
  long full = stat(GRIDLET_METER_PATH, &st) == 0 ? (long)st.st_size : -1;
  char stripped[700], cmd[1600];
  snprintf(stripped, sizeof stripped, "%s/gridlet-meter.stripped", dir);
  snprintf(cmd, sizeof cmd, "strip -o '%s' '%s'", stripped, GRIDLET_METER_PATH);
  long small =
      system(cmd) == 0 && stat(stripped, &st) == 0 ? (long)st.st_size : -1;
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);

  if (!ok) {
    fprintf(stderr, "bench_meter_footprint: no run completed\n");
    return 1;
  }
  printf("gridlet-meter polling 3 devices every 5 s over Modbus TCP, TLS 1.3 "
         "MQTT connected, real clock, %ld s per run:\n",
         seconds);
  gb_report("  resident memory (VmRSS at the end)", rss, (size_t)ok, 1, 1,
            "KiB");
  gb_report("  peak resident memory (VmHWM)", hwm, (size_t)ok, 1, 1, "KiB");
  gb_report("  of which anonymous (heap, stacks; RssAnon)", anon, (size_t)ok, 1,
            1, "KiB");
  gb_report("  private memory (USS: Private_Clean + Private_Dirty)", uss,
            (size_t)ok, 1, 1, "KiB");
  gb_report("  proportional set size (PSS)", pss, (size_t)ok, 1, 1, "KiB");
  gb_report("  CPU, share of one core", cpu, (size_t)ok, 1, 10000, "%");
  printf("  binary: %ld bytes, stripped %ld bytes (%s)\n", full, small,
         GRIDLET_METER_PATH);
  free(rss);
  free(hwm);
  free(cpu);
  free(pss);
  free(uss);
  free(anon);
  return 0;
}
