# SPDX-License-Identifier: MIT
#
# Cross build for 64-bit ARM (Raspberry Pi 3/4/5 running arm64 Debian or
# Raspberry Pi OS) with Debian's gcc-aarch64-linux-gnu; tests run under
# qemu-aarch64. See debian-cross.cmake.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(GRIDLET_TRIPLET aarch64-linux-gnu)
set(GRIDLET_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
