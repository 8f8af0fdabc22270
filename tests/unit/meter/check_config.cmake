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
# The example as a household installs it, with /etc/gridlet and
# /var/lib/gridlet-meter moved into the work directory, and the shipped
# profiles from the source tree.
set(etc "${WORK}/etc")
file(MAKE_DIRECTORY "${etc}")
file(COPY_FILE "${WORK}/comm/meters/meter-001/meter.pem" "${etc}/meter.pem")
file(COPY_FILE "${WORK}/comm/meters/meter-001/meter.key" "${etc}/meter.key")
file(COPY_FILE "${WORK}/comm/meters/meter-001/ca.pem" "${etc}/ca.pem")
file(COPY_FILE "${WORK}/comm/aggregator/aggregator.pem" "${etc}/aggregator.pem")
file(READ "${SRC}/meter/conf/example.conf" text)
string(REPLACE "[meter]\n" "[meter]\ndatabase = ${WORK}/meter.db\n" text "${text}")
string(REPLACE "[mqtt]\n" "[mqtt]\nca = ${etc}/ca.pem\ncert = ${etc}/meter.pem\nkey = ${etc}/meter.key\n" text "${text}")
string(REPLACE "[aggregator]\n" "[aggregator]\ncert = ${etc}/aggregator.pem\n" text "${text}")
string(APPEND text "[modbus]\nprofile_dir = ${SRC}/hal/profiles\n")
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
