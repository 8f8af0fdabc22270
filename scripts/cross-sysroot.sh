#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds a sysroot of Debian's libraries for another architecture (arm64,
# armhf) for cross-compiling gridlet: downloads the -dev packages and their
# runtime libraries with `apt-get download` and unpacks them with `dpkg -x`
# into DIR. Nothing is installed for the foreign architecture system-wide.
# Re-running with the same package list is a no-op (a stamp file records
# it).
#
#   scripts/cross-sysroot.sh ARCH DIR
set -euo pipefail
arch=${1:?usage: cross-sysroot.sh ARCH DIR}
dir=${2:?usage: cross-sysroot.sh ARCH DIR}

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
want=$( (echo "$arch"; printf '%s\n' "${PACKAGES[@]}") | sort | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "cross-sysroot: need root or sudo to enable the $arch package lists" >&2; exit 1; }
  if [[ -t 0 ]]; then SUDO="sudo"; else SUDO="sudo -n"; fi
fi
# A mirror in the middle of a sync can fail one index (seen with the
# security archive): try again once, then go on with what arrived; the
# download below says clearly if a package is really missing.
update_lists() {
  $SUDO apt-get update -q || {
    echo "cross-sysroot: apt-get update failed, retrying in 5 s" >&2
    sleep 5
    $SUDO apt-get update -q || echo "cross-sysroot: some package lists could not be refreshed; continuing" >&2
  }
}
# apt-get download needs the package lists of that architecture (not an install).
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  echo "cross-sysroot: enabling the $arch package lists (dpkg --add-architecture)"
  $SUDO dpkg --add-architecture "$arch"
  update_lists
elif ! apt-cache show "libmodbus-dev:$arch" >/dev/null 2>&1; then
  update_lists
fi

rm -rf "$dir"
mkdir -p "$dir/.debs"
(
  cd "$dir/.debs"
  apt-get download -q "${PACKAGES[@]/%/:$arch}" >/dev/null || {
    echo "cross-sysroot: cannot download the $arch packages; check 'apt-get update' and the network" >&2
    exit 1
  }
)
for deb in "$dir"/.debs/*.deb; do
  dpkg -x "$deb" "$dir"
done
rm -rf "$dir/.debs"

# A few packages ship absolute .so links (to /lib/...); point them inside
# the sysroot with relative links, so the build folder can be moved.
find "$dir" -type l | while read -r link; do
  target=$(readlink "$link")
  if [[ "$target" == /* ]]; then
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$dir$target")" "$link"
  fi
done
echo "$want" >"$stamp"
echo "cross-sysroot: ready in $dir"
