#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Cross-builds gridlet for another ARM architecture against a sysroot of
# Debian's packages for it, shows that the results are binaries of that
# architecture, and runs the unit tests (and tests labelled with the
# architecture's name) under qemu-user.
#
#   scripts/test-cross.sh arm64|armhf
set -euo pipefail
arch=${1:?usage: test-cross.sh arm64|armhf}
case "$arch" in
arm64) toolchain=aarch64-linux-gnu; want="ARM aarch64" ;;
armhf) toolchain=arm-linux-gnueabihf; want="ARM, EABI5" ;;
*) echo "test-cross: unknown architecture $arch" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-$arch"
sysroot="$build/sysroot"
nproc=$(nproc 2>/dev/null || echo 2)

mkdir -p "$build"
"$root/scripts/cross-sysroot.sh" "$arch" "$sysroot"
# CMake keeps a toolchain's initial flags in its cache: start the build
# folder afresh whenever the toolchain files change.
stamp=$(cat "$root"/cmake/toolchains/debian-cross.cmake "$root/cmake/toolchains/$toolchain.cmake" | sha256sum | cut -c1-16)
if [[ -f "$build/obj/CMakeCache.txt" && "$(cat "$build/obj/.toolchain" 2>/dev/null)" != "$stamp" ]]; then
  rm -rf "$build/obj"
fi
mkdir -p "$build/obj"
echo "$stamp" >"$build/obj/.toolchain"
werror=OFF
[[ -n "${CI:-}" ]] && werror=ON
cmake -S "$root" -B "$build/obj" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$toolchain.cmake" \
  -DGRIDLET_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRIDLET_BUILD_BENCH=OFF -DGRIDLET_WERROR=$werror >/dev/null
cmake --build "$build/obj" -j "$nproc"

echo "== binaries =="
found=0
while read -r f; do
  desc=$(file -b "$f")
  echo "$(basename "$f"): $desc"
  [[ "$desc" == *"$want"* ]] || { echo "test-cross: $f is not a $arch binary" >&2; exit 1; }
  found=$((found + 1))
done < <(find "$build/obj" -type f -perm -u+x \( -name 'gridlet-*' -o -name 'test_*' \) | sort)
((found > 0)) || { echo "test-cross: no binaries built" >&2; exit 1; }

echo "== unit tests under qemu ($arch) =="
cd "$build/obj"
ctest --output-on-failure -j "$nproc" -L "unit|$arch"
