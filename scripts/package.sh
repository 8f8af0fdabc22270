#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds gridlet's Debian packages (docs/operations/packages.md): one
# package build per architecture in build-pkg/<arch>/ (prefix /usr,
# Debian's hardening flags from dpkg-buildflags, tests and benchmarks off),
# the cross builds against the same sysroots as scripts/test-cross.sh, then
# CPack; the .deb files are collected in OUT, checked with lintian
# (packaging/lintian/ explains the tags we accept) and listed with their
# sizes.
#
#   scripts/package.sh [--out DIR] [--no-lintian] [ARCH...]
#
# ARCH: amd64 (this machine), arm64, armhf; default all three. The meter is
# built for all of them, the aggregator and the tools for amd64 and arm64
# (packaging/CMakeLists.txt). A package whose program is not in the tree
# (the aggregator before it is merged) is skipped with a message.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build-pkg/debs"
lint=1
arches=()
while (($#)); do
  case "$1" in
  --out) out=$(realpath -m "$2"); shift 2 ;;
  --no-lintian) lint=0; shift ;;
  -h | --help) sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "package: unknown option $1" >&2; exit 2 ;;
  *) arches+=("$1"); shift ;;
  esac
done
((${#arches[@]})) || arches=(amd64 arm64 armhf)
native=$(dpkg --print-architecture)
nproc=$(nproc 2>/dev/null || echo 2)
# Never -Werror here, CI or not: warnings are CI's gate in the normal
# builds (make build, test-arm64, test-armhf), and a package build, like a
# Debian one, should not fail on a warning of a newer compiler.
werror=OFF
mkdir -p "$out"
# dpkg-buildflags maps the working directory out of the debug info.
cd "$root"

build_arch() {
  local arch=$1 build="$root/build-pkg/$1" triplet="" toolchain=() cc=gcc
  case "$arch" in
  "$native") ;;
  arm64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  *) echo "package: unknown architecture $arch" >&2; exit 2 ;;
  esac
  if [[ -n "$triplet" ]]; then
    # The sysroot test-cross.sh uses (built once, shared).
    "$root/scripts/cross-sysroot.sh" "$arch" "$root/build-$arch/sysroot"
    toolchain=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$triplet.cmake"
      -DGRIDLET_SYSROOT="$root/build-$arch/sysroot")
    cc=$triplet-gcc
  fi
  # Debian's own build flags for that architecture (hardening: stack
  # protector, fortify, relro, bindnow, PIE), as a Debian package gets them.
  local flags=(env DEB_HOST_ARCH="$arch" CC="$cc"
    DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get)
  local cflags cppflags ldflags
  cflags="$("${flags[@]}" CFLAGS 2>/dev/null)"
  cppflags="$("${flags[@]}" CPPFLAGS 2>/dev/null)"
  ldflags="$("${flags[@]}" LDFLAGS 2>/dev/null)"
  echo "== $arch: configure and build in ${build#"$root"/}"
  cmake -S "$root" -B "$build" "${toolchain[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DGRIDLET_PACKAGE=ON -DGRIDLET_BUILD_TESTS=OFF -DGRIDLET_BUILD_BENCH=OFF \
    -DGRIDLET_WERROR=$werror \
    -DCMAKE_C_FLAGS="$cflags $cppflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    exit 1
  }
  grep '^-- packaging:' "$build.configure.log" || true
  cmake --build "$build" -j "$nproc" >"$build.build.log" 2>&1 || {
    tail -n 50 "$build.build.log" >&2
    exit 1
  }
  echo "== $arch: cpack"
  rm -rf "$build/packages"
  (cd "$build" && cpack -G DEB >"$build.cpack.log" 2>&1) || {
    cat "$build.cpack.log" >&2
    exit 1
  }
  local n=0
  for deb in "$build"/packages/*.deb; do
    [[ -e "$deb" ]] || continue
    cp "$deb" "$out/"
    n=$((n + 1))
  done
  ((n > 0)) || { echo "package: no package built for $arch" >&2; exit 1; }
}

for arch in "${arches[@]}"; do
  build_arch "$arch"
done

debs=()
for arch in "${arches[@]}"; do
  for deb in "$out"/gridlet-*_"$arch".deb; do
    [[ -e "$deb" ]] && debs+=("$deb")
  done
done

echo "== dependencies"
"$root/scripts/check-package-deps.sh" "${debs[@]}"
if ((lint)); then
  "$root/scripts/lint-packages.sh" "${debs[@]}"
fi

echo "== packages in ${out#"$root"/}"
printf '%-44s %10s %14s\n' "package" "size" "installed"
for deb in "${debs[@]}"; do
  size=$(stat -c %s "$deb")
  inst=$(dpkg-deb -f "$deb" Installed-Size)
  printf '%-44s %8s KiB %10s KiB\n' "$(basename "$deb")" "$(((size + 1023) / 1024))" "$inst"
done
