# SPDX-License-Identifier: MIT
#
# Cross build for 64-bit ARM (Raspberry Pi 3/4/5 running arm64 Debian or
# Raspberry Pi OS) with Debian's gcc-aarch64-linux-gnu. The libraries come
# from Debian's arm64 -dev packages unpacked into GRIDLET_SYSROOT by
# scripts/arm64-sysroot.sh (apt-get download + dpkg -x), so nothing is
# installed system-wide for the foreign architecture.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(GRIDLET_TRIPLET aarch64-linux-gnu)

if(NOT GRIDLET_SYSROOT)
  set(GRIDLET_SYSROOT "$ENV{GRIDLET_SYSROOT}")
endif()
if(NOT GRIDLET_SYSROOT)
  message(FATAL_ERROR "set GRIDLET_SYSROOT to the folder made by scripts/arm64-sysroot.sh")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GRIDLET_SYSROOT)

# The C library and start files come from the cross compiler's own
# /usr/aarch64-linux-gnu; everything else from the unpacked packages.
set(CMAKE_FIND_ROOT_PATH "${GRIDLET_SYSROOT}" /usr/${GRIDLET_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE ${GRIDLET_TRIPLET})

# -isystem, not -I: the packages' headers are system headers, exempt from
# our warnings exactly as /usr/include is in a native build (libcbor's
# headers, for one, declare functions without prototypes).
set(CMAKE_C_FLAGS_INIT "-isystem ${GRIDLET_SYSROOT}/usr/include -isystem ${GRIDLET_SYSROOT}/usr/include/${GRIDLET_TRIPLET}")
set(_libdir "${GRIDLET_SYSROOT}/usr/lib/${GRIDLET_TRIPLET}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${_libdir} -Wl,-rpath-link,${_libdir} -Wl,-rpath-link,${GRIDLET_SYSROOT}/lib/${GRIDLET_TRIPLET}")

# pkg-config must read the arm64 .pc files and prefix their paths.
set(ENV{PKG_CONFIG_LIBDIR} "${_libdir}/pkgconfig:${GRIDLET_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${GRIDLET_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

# Tests run under qemu-user with the arm64 libraries found in the sysroot.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${GRIDLET_TRIPLET}
    -E LD_LIBRARY_PATH=${_libdir}:${GRIDLET_SYSROOT}/lib/${GRIDLET_TRIPLET})
