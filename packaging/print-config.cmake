# SPDX-License-Identifier: MIT
# The conffile of a package: the daemon's own --print-default-config, run
# under the cross build's emulator when there is one. Inputs: EMU (may be
# empty), BIN, OUT.
cmake_minimum_required(VERSION 3.22)
execute_process(COMMAND ${EMU} "${BIN}" --print-default-config
  OUTPUT_FILE "${OUT}.tmp" ERROR_VARIABLE err RESULT_VARIABLE rc)
file(SIZE "${OUT}.tmp" size)
if(NOT rc EQUAL 0 OR size EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "${BIN} --print-default-config failed (${rc}): ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
