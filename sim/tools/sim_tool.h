/* SPDX-License-Identifier: MIT */
/*
 * sim_tool.h - the subcommands of the gridlet-sim executable. Each takes
 * its own argv (argv[0] is the command name) and returns the exit status.
 */
#ifndef GRIDLET_SIM_TOOL_H
#define GRIDLET_SIM_TOOL_H

/* gridlet-sim devices: see cmd_devices.c and docs/devices.md. */
int sim_cmd_devices(int argc, char **argv);

#endif
