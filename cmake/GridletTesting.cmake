# SPDX-License-Identifier: MIT
# Helpers to declare components, tests, fuzz targets and benchmarks the same
# way everywhere.

# gl_add_library(<component> SOURCES ... [DEPS ...])
#   A static library gridlet_<component> with public headers in
#   <component>/include and the project warnings.
function(gl_add_library component)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(gridlet_${component} STATIC ${A_SOURCES})
  add_library(gridlet::${component} ALIAS gridlet_${component})
  target_include_directories(gridlet_${component} PUBLIC
    "${CMAKE_CURRENT_SOURCE_DIR}/include")
  target_link_libraries(gridlet_${component} PUBLIC ${A_DEPS} PRIVATE gridlet_flags)
endfunction()

# gl_add_unit_test(<name> SOURCES ... LIBS ...)
#   A cmocka test executable registered with CTest under the label "unit".
function(gl_add_unit_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(GRIDLET_FUZZ)
    return()
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_LIBS} gridlet_testutil gridlet::dep::cmocka gridlet_flags)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "unit;${A_LABELS}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "GRIDLET_SOURCE_DIR=${PROJECT_SOURCE_DIR};GRIDLET_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# gl_add_integration_test(<name> SOURCES ... LIBS ... [LABELS ...])
#   Like a unit test but labelled "integration": it may start real servers
#   (mosquitto, the device simulator, our daemons) on free loopback ports.
function(gl_add_integration_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(GRIDLET_FUZZ OR CMAKE_CROSSCOMPILING)
    return()
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_LIBS} gridlet_testutil gridlet::dep::cmocka gridlet_flags)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "integration;${A_LABELS}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "GRIDLET_SOURCE_DIR=${PROJECT_SOURCE_DIR};GRIDLET_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# gl_add_fuzz_target(<name> SOURCES ... LIBS ... CORPUS <dir>)
#   With GRIDLET_FUZZ (clang): a libFuzzer binary, and a CTest "fuzz" test
#   that runs it for GRIDLET_FUZZ_SECONDS from the seed corpus.
#   Otherwise: the same entry point linked with a replay driver that runs
#   every seed file plus deterministic mutations of them, so every build
#   (including the sanitizer build) exercises the parser on its corpus.
function(gl_add_fuzz_target name)
  cmake_parse_arguments(A "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  if(CMAKE_CROSSCOMPILING)
    return()
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_LIBS} gridlet_flags)
  if(GRIDLET_FUZZ)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    set(work "${CMAKE_CURRENT_BINARY_DIR}/${name}.corpus")
    file(MAKE_DIRECTORY "${work}")
    add_test(NAME ${name} COMMAND ${name} -max_total_time=${GRIDLET_FUZZ_SECONDS}
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${work}" "${A_CORPUS}")
    set_tests_properties(${name} PROPERTIES LABELS "fuzz"
      TIMEOUT 600)
  else()
    target_sources(${name} PRIVATE "${PROJECT_SOURCE_DIR}/tests/support/fuzz_replay.c")
    add_test(NAME ${name} COMMAND ${name} "${A_CORPUS}")
    set_tests_properties(${name} PROPERTIES LABELS "fuzz;replay" TIMEOUT 300)
  endif()
endfunction()

# gl_add_bench(<name> SOURCES ... LIBS ...)
#   A benchmark program; `make bench` runs them. Never a CTest test: speed
#   is measured, not asserted.
function(gl_add_bench name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_LIBS} gridlet_flags)
  set_property(GLOBAL APPEND PROPERTY GRIDLET_BENCHES ${name})
endfunction()
