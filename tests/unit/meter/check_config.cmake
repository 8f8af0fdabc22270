# SPDX-License-Identifier: MIT
# The shipped example configuration, checked by the (possibly cross-built)
# gridlet-meter --check-config, with certificates made by the (possibly
# cross-built) gridlet-ca: under qemu in `make test-arm64`, natively
# otherwise. Inputs: EMU (the emulator command, may be empty), CA, METER,
# WORK, SRC.
cmake_minimum_required(VERSION 3.22)
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
execute_process(COMMAND ${EMU} "${CA}" dev-community "${WORK}/comm" --meters 1
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gridlet-ca dev-community failed (${rc}):\n${out}\n${err}")
endif()
file(READ "${SRC}/meter/conf/example.conf" text)
string(REPLACE "@WORK@" "${WORK}" text "${text}")
string(REPLACE "@PROFILES@" "${SRC}/hal/profiles" text "${text}")
file(WRITE "${WORK}/meter.conf" "${text}")
execute_process(COMMAND ${EMU} "${METER}" --check-config --config
  "${WORK}/meter.conf" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "configuration OK")
  message(FATAL_ERROR "gridlet-meter --check-config failed (${rc}):\n${out}\n${err}")
endif()
# A broken copy must be refused with the file, line and key named.
file(APPEND "${WORK}/meter.conf" "[outbox]\nmax_messages = 1\n")
execute_process(COMMAND ${EMU} "${METER}" --check-config --config
  "${WORK}/meter.conf" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "meter.conf:[0-9]+: outbox.max_messages: 1 is out of range")
  message(FATAL_ERROR "a bad configuration was not refused (${rc}):\n${out}\n${err}")
endif()
message(STATUS "${out}")
file(REMOVE_RECURSE "${WORK}")
