#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds a sysroot of Debian's arm64 libraries for cross-compiling gridlet:
# downloads the -dev packages and their runtime libraries with
# `apt-get download` and unpacks them with `dpkg -x` into DIR. Nothing is
# installed for arm64 system-wide. Re-running with the same package list
# is a no-op (a stamp file records it).
#
#   scripts/arm64-sysroot.sh DIR
set -euo pipefail
dir=${1:?usage: arm64-sysroot.sh DIR}
arch=arm64

PACKAGES=(
  libmodbus-dev libmodbus5
  libpaho-mqtt-dev libpaho-mqtt1.3
  libwolfssl-dev libwolfssl35
  libsqlite3-dev libsqlite3-0
  libcjson-dev libcjson1
  libjansson-dev libjansson4
  libcbor-dev libcbor0.8
  libinih-dev libinih1
  libmicrohttpd-dev libmicrohttpd12
  libcmocka-dev libcmocka0
  # runtime libraries the above link against (paho -> OpenSSL,
  # libmicrohttpd -> GnuTLS), and the -dev packages pkg-config needs to
  # resolve libmicrohttpd.pc's Requires.private
  libssl3 libgnutls30 libgnutls28-dev nettle-dev libtasn1-6-dev libidn2-dev
  libp11-kit-dev libnettle8 libhogweed6 libtasn1-6 libidn2-0 libp11-kit0
  libunistring2 libgmp10 libffi8
)

stamp="$dir/.packages"
want=$(printf '%s\n' "${PACKAGES[@]}" | sort | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
# apt-get download needs the arm64 package lists (not an install).
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  echo "arm64-sysroot: enabling the $arch package lists (dpkg --add-architecture)"
  $SUDO dpkg --add-architecture "$arch"
  $SUDO apt-get update -q
elif ! apt-cache show "libmodbus-dev:$arch" >/dev/null 2>&1; then
  $SUDO apt-get update -q
fi

rm -rf "$dir"
mkdir -p "$dir/.debs"
(
  cd "$dir/.debs"
  apt-get download -q "${PACKAGES[@]/%/:$arch}" >/dev/null
)
for deb in "$dir"/.debs/*.deb; do
  dpkg -x "$deb" "$dir"
done
rm -rf "$dir/.debs"

# Debian's .so links are absolute in a few packages; make them relative so
# they resolve inside the sysroot.
find "$dir" -type l | while read -r link; do
  target=$(readlink "$link")
  if [[ "$target" == /* ]]; then
    ln -sf "$dir$target" "$link"
  fi
done
echo "$want" >"$stamp"
echo "arm64-sysroot: ready in $dir"
