# SPDX-License-Identifier: MIT
# Every dependency comes from a Debian package and is found through
# pkg-config; nothing is downloaded. Each becomes an imported target
# gridlet::dep::<name> so components say exactly what they use.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

function(gridlet_pkg name module)
  pkg_check_modules(GLDEP_${name} REQUIRED IMPORTED_TARGET GLOBAL ${module})
  add_library(gridlet::dep::${name} ALIAS PkgConfig::GLDEP_${name})
endfunction()

gridlet_pkg(inih inih)
gridlet_pkg(sqlite sqlite3)
gridlet_pkg(wolfssl wolfssl)
gridlet_pkg(modbus libmodbus)
gridlet_pkg(cjson libcjson)
gridlet_pkg(jansson jansson)
gridlet_pkg(cbor libcbor)
gridlet_pkg(microhttpd libmicrohttpd)
if(GRIDLET_BUILD_TESTS)
  gridlet_pkg(cmocka cmocka)
endif()

# paho.mqtt.c ships no pkg-config file in Debian; find the async TLS library
# (MQTT 5 capable) and its header directly.
find_path(PAHO_INCLUDE_DIR MQTTAsync.h REQUIRED)
find_library(PAHO_LIBRARY paho-mqtt3as REQUIRED)
add_library(gridlet::dep::paho UNKNOWN IMPORTED GLOBAL)
set_target_properties(gridlet::dep::paho PROPERTIES
  IMPORTED_LOCATION "${PAHO_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${PAHO_INCLUDE_DIR}")
