/* SPDX-License-Identifier: MIT */
/*
 * sim_tool.h - the subcommands of the gridlet-sim executable. Each takes
 * its own argv (argv[0] is the command name) and returns the exit status.
 */
#ifndef GRIDLET_SIM_TOOL_H
#define GRIDLET_SIM_TOOL_H

/* gridlet-sim devices: see cmd_devices.c and docs/devices.md. */
int sim_cmd_devices(int argc, char **argv);

/* gridlet-sim run / compare: see cmd_run.c and docs/research.md. */
int sim_cmd_run(int argc, char **argv);
int sim_cmd_compare(int argc, char **argv);

#endif
