# SPDX-License-Identifier: MIT
#
# The shared part of gridlet's cross toolchains (included by the per-arch
# files, which set GRIDLET_TRIPLET, CMAKE_SYSTEM_PROCESSOR and
# GRIDLET_QEMU). The compiler is Debian's <triplet>-gcc; the libraries come
# from Debian's -dev packages for that architecture unpacked into
# GRIDLET_SYSROOT by scripts/cross-sysroot.sh (apt-get download + dpkg -x),
# so nothing is installed for the foreign architecture system-wide.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${GRIDLET_TRIPLET}-gcc)

if(NOT GRIDLET_SYSROOT)
  set(GRIDLET_SYSROOT "$ENV{GRIDLET_SYSROOT}")
endif()
if(NOT GRIDLET_SYSROOT)
  message(FATAL_ERROR "set GRIDLET_SYSROOT to the folder made by scripts/cross-sysroot.sh")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES GRIDLET_SYSROOT)

# The C library and start files come from the cross compiler's own
# /usr/<triplet>; everything else from the unpacked packages.
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

# pkg-config must read the foreign .pc files and prefix their paths.
set(ENV{PKG_CONFIG_LIBDIR} "${_libdir}/pkgconfig:${GRIDLET_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${GRIDLET_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

# Tests run under qemu-user with the foreign libraries found in the sysroot.
set(CMAKE_CROSSCOMPILING_EMULATOR ${GRIDLET_QEMU} -L /usr/${GRIDLET_TRIPLET}
    -E LD_LIBRARY_PATH=${_libdir}:${GRIDLET_SYSROOT}/lib/${GRIDLET_TRIPLET})
