# SPDX-License-Identifier: MIT
#
# Cross build for 32-bit ARM with hardware floating point (Raspberry Pi OS
# 32-bit, older boards) with Debian's gcc-arm-linux-gnueabihf; tests run
# under qemu-arm. See debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(GRIDLET_TRIPLET arm-linux-gnueabihf)
set(GRIDLET_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)

# Debian bookworm's armhf ABI has a 32-bit time_t, which ends in 2038 - well
# within a meter agent's service life. gridlet's own code is built with a
# 64-bit time_t. This is safe because no time_t or struct timespec crosses
# into a dependency's API: the libraries we link take times as integers or
# strings (checked for paho, SQLite, libmodbus, jansson, libcbor, inih,
# wolfSSL's functions we call, libmicrohttpd's daemon API).
string(APPEND CMAKE_C_FLAGS_INIT " -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64")
