# SPDX-License-Identifier: MIT
# packaging/systemd/gridlet-aggregator.service must be a unit systemd
# accepts: a copy pointing at the built binary is checked with
# systemd-analyze verify (skipped, with a note, where it is missing).
# Inputs: SRC, AGG, WORK.
cmake_minimum_required(VERSION 3.22)
find_program(ANALYZE systemd-analyze)
if(NOT ANALYZE)
  message(STATUS "systemd-analyze not found: unit not verified")
  return()
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(READ "${SRC}/packaging/systemd/gridlet-aggregator.service" unit)
string(REPLACE "/usr/bin/gridlet-aggregator" "${AGG}" unit "${unit}")
file(WRITE "${WORK}/gridlet-aggregator.service" "${unit}")
execute_process(COMMAND "${ANALYZE}" verify "${WORK}/gridlet-aggregator.service"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
# Only complaints about this unit count (the host's own units may have
# theirs).
string(REGEX MATCHALL "gridlet-aggregator.service:[^\n]*" problems "${out}${err}")
if(problems OR NOT rc EQUAL 0)
  message(FATAL_ERROR "systemd-analyze verify (${rc}):\n${out}\n${err}")
endif()
file(REMOVE_RECURSE "${WORK}")
