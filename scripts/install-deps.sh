#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs the Debian packages gridlet needs to build, test, cross-build and
# run its demo. Idempotent: when everything is present it only asks dpkg and
# returns within a second. Uses sudo when not run as root.
#
#   scripts/install-deps.sh            # everything make test / make demo need
#   scripts/install-deps.sh --print    # list the packages and exit
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config git file
  # libraries gridlet links against
  libmodbus-dev libpaho-mqtt-dev libwolfssl-dev libsqlite3-dev libjansson-dev libcjson-dev
  libcbor-dev libinih-dev libmicrohttpd-dev
  # tests: unit framework, real broker, real pty pair, independent Modbus peer,
  # independent COSE/Ed25519 implementation (tests/data/proto/cose_vectors.py)
  libcmocka-dev mosquitto mosquitto-clients sqlite3 socat python3-pymodbus
  python3-cryptography
  # tests: an independent TLS client to check the broker's handshake (certs/)
  openssl
  # pymodbus's server module imports pyserial-asyncio (only Recommended)
  python3-serial-asyncio
  # fuzzing, sanitizers and formatting (clang's libFuzzer runtime)
  clang llvm libclang-rt-14-dev clang-format
  # arm64 and armhf cross builds and emulation (make test-arm64, test-armhf)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  # plots in the research simulator
  gnuplot-nox
  # packages (make package): checks, and the package test's unit runner
  # (systemd-analyze, seccomp filters like systemd's)
  lintian systemd python3-seccomp
)

if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

# One dpkg-query for all packages keeps a prepared machine's run short.
declare -A installed=()
while read -r name status; do
  [[ "$status" == ii* ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  # Unattended (no terminal): fail at once rather than wait for a password.
  if [[ -t 0 ]]; then SUDO="sudo"; else SUDO="sudo -n"; fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day:
# a second run on a prepared machine must not touch the network.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mtime -1 2>/dev/null | head -n 1)" ]]; then
  $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
