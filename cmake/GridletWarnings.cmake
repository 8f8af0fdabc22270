# SPDX-License-Identifier: MIT
# Compiler warnings (see STYLE.md) and sanitizer flags, applied to every
# gridlet target through the gridlet_flags interface library.
add_library(gridlet_flags INTERFACE)
target_compile_options(gridlet_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wstrict-prototypes
  -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral)
# _DEFAULT_SOURCE gives POSIX and the few BSD/GNU calls we use (getrandom,
# mkdtemp, timegm) while the language stays strict C11.
target_compile_definitions(gridlet_flags INTERFACE _DEFAULT_SOURCE _FILE_OFFSET_BITS=64)
if(GRIDLET_WERROR)
  target_compile_options(gridlet_flags INTERFACE -Werror)
endif()
if(GRIDLET_SANITIZE)
  target_compile_options(gridlet_flags INTERFACE
    -fsanitize=${GRIDLET_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(gridlet_flags INTERFACE -fsanitize=${GRIDLET_SANITIZE})
  # Assertions stay on in sanitizer builds whatever the build type.
  target_compile_options(gridlet_flags INTERFACE -UNDEBUG)
endif()
if(GRIDLET_FUZZ)
  # Every object is instrumented for coverage; only fuzz executables link
  # libFuzzer's main (see gl_add_fuzz_target).
  target_compile_options(gridlet_flags INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -UNDEBUG)
  target_link_options(gridlet_flags INTERFACE -fsanitize=address,undefined)
endif()
# Internal invariants are checked with assert(); keep them in release-ish
# builds too, the checks are cheap and a broken invariant must stop the
# process rather than corrupt money or the ledger.
string(REPLACE "-DNDEBUG" "" CMAKE_C_FLAGS_RELWITHDEBINFO "${CMAKE_C_FLAGS_RELWITHDEBINFO}")
string(REPLACE "-DNDEBUG" "" CMAKE_C_FLAGS_RELEASE "${CMAKE_C_FLAGS_RELEASE}")
