/* SPDX-License-Identifier: MIT */
/* `gridlet-sim run` on the export of a ledger the real aggregator market
 * wrote (tests/unit/sim/aggledger.h) in exante and continuous mode, with
 * a meter whose reading never came: its firm trades are settled with the
 * utility, and the replay reports every settlement matching, none
 * differing (exit status 0; 3 would mean a difference). The simulator is
 * started by PID. */
#include "aggledger.h"

#include "gridlet/log.h"
#include "gridlet/market_settle.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static char dir[GT_PATH_MAX], bin[GT_PATH_MAX];

static int setup(void **state) {
  (void)state;
  gt_tmpdir("simaggcli", dir);
  gt_build_path(bin, "sim/gridlet-sim");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  gt_rmtree(dir);
  return 0;
}

/* gridlet-sim run <scenario> -o <out> --no-plots; the output in *text
 * (malloc'd). Returns the exit status. */
static int sim_run_cli(const char *scenario, const char *out, char **text) {
  char lp[GT_PATH_MAX];
  gt_path(lp, dir, "sim.log");
  remove(lp);
  char *argv[] = {bin,          "run", (char *)scenario, "-o", (char *)out,
                  "--no-plots", NULL};
  pid_t pid = gt_proc_start(argv, lp, NULL);
  int st = gt_proc_wait(pid, 120000);
  if (st < 0) {
    gt_proc_kill9(pid);
    fail_msg("gridlet-sim did not finish");
  }
  *text = gt_read_file(lp, NULL);
  if (!*text)
    *text = calloc(1, 1);
  if (!WIFEXITED(st))
    fail_msg("gridlet-sim died (wait status %d); output:\n%s", st, *text);
  return WEXITSTATUS(st);
}

static void replay_cli(const char *mode, const char *db) {
  char scen[GT_PATH_MAX], out[GT_PATH_MAX], text[512], name[64];
  snprintf(text, sizeof text,
           "[scenario]\nname = agg-%s\ninterval = 15m\n"
           "[market]\nmode = %s\nrule = marginal\n"
           "[input]\nsource = ledger\npath = %s\n",
           mode, mode, db);
  snprintf(name, sizeof name, "%s.ini", mode);
  gt_write_file(gt_path(scen, dir, name), text, (size_t)-1);
  snprintf(name, sizeof name, "out-%s", mode);
  gt_path(out, dir, name);
  char *log = NULL;
  int st = sim_run_cli(scen, out, &log);
  if (st != 0 || !strstr(log, "recorded settlements               2 match, "
                              "0 differ, 0 not comparable"))
    fail_msg("gridlet-sim run exited with %d:\n%s", st, log);
  free(log);
}

static void
test_cli_replays_agg_exante_ledger_with_missing_meter(void **state) {
  (void)state;
  agg_ledger(dir, MKT_MODE_EXANTE, 0, "exante.db");
  replay_cli("exante", "exante.db");
}

static void
test_cli_replays_agg_continuous_ledger_with_missing_meter(void **state) {
  (void)state;
  agg_ledger(dir, MKT_MODE_CONTINUOUS, 1, "cont.db");
  replay_cli("continuous", "cont.db");
}

int main(void) {
  gl_log_set_level(GL_LOG_ERROR - 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_cli_replays_agg_exante_ledger_with_missing_meter, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_cli_replays_agg_continuous_ledger_with_missing_meter, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
