/* SPDX-License-Identifier: MIT */
/*
 * gridlet-sim - gridlet's simulator, one executable with subcommands:
 *
 *   gridlet-sim devices [options]   simulated households' inverters,
 *                                   batteries and meters on real Modbus
 *   gridlet-sim run SCENARIO        replay a community through the market
 *   gridlet-sim compare SCENARIO    the same under several mechanisms
 *
 * Each subcommand is a function in its own file (cmd_*.c) registered in
 * the table below; the work itself lives in the sim library.
 */
#include "sim_tool.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"devices", sim_cmd_devices,
     "serve simulated SunSpec devices of N households over Modbus TCP/RTU"},
    {"run", sim_cmd_run,
     "replay a community (synthetic, CSV, Ausgrid, ledger) through the "
     "market"},
    {"compare", sim_cmd_compare,
     "run one scenario under several mechanisms, one table side by side"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: gridlet-sim COMMAND [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'gridlet-sim COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "gridlet-sim: unknown command \"%s\"\n\n", argv[1]);
  usage(stderr);
  return 2;
}
