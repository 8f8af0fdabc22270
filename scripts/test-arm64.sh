#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Cross-builds gridlet for aarch64 against a sysroot of Debian's arm64
# packages, shows that the results are ARM binaries, and runs the unit
# tests (and any test labelled arm64) under qemu-aarch64.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-arm64"
sysroot="$build/sysroot"
nproc=$(nproc 2>/dev/null || echo 2)

mkdir -p "$build"
"$root/scripts/arm64-sysroot.sh" "$sysroot"
cmake -S "$root" -B "$build/obj" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DGRIDLET_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRIDLET_BUILD_BENCH=OFF >/dev/null
cmake --build "$build/obj" -j "$nproc"

echo "== binaries =="
found=0
while read -r f; do
  desc=$(file -b "$f")
  echo "$(basename "$f"): $desc"
  [[ "$desc" == *"ARM aarch64"* ]] || { echo "test-arm64: $f is not an aarch64 binary" >&2; exit 1; }
  found=$((found + 1))
done < <(find "$build/obj" -type f -perm -u+x -name 'gridlet-*' -o -type f -perm -u+x -name 'test_*' | sort)
((found > 0)) || { echo "test-arm64: no binaries built" >&2; exit 1; }

echo "== unit tests under qemu-aarch64 =="
cd "$build/obj"
ctest --output-on-failure -j "$nproc" -L 'unit|arm64'
