#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Checks that each package's Depends names exactly the runtime libraries
# its programs need (packaging/CMakeLists.txt lists them by hand, because a
# cross build cannot run dpkg-shlibdeps against its unpacked sysroot):
#
#   - a package of this machine's architecture: dpkg-shlibdeps on its
#     programs must produce exactly the library part of its Depends;
#   - a package of another architecture: its programs must need the same
#     shared libraries (ELF NEEDED) as the same programs in the package of
#     this machine's architecture next to it (same Debian release, same
#     library package names), and its Depends must be the same.
#
#   scripts/check-package-deps.sh DEB...
set -euo pipefail
(($#)) || { echo "usage: check-package-deps.sh DEB..." >&2; exit 2; }
native=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# The library part of a Depends line, one entry per line, sorted.
libs_of() {
  tr ',' '\n' <<<"$1" | sed 's/^ *//; s/ *$//' | grep -v '^adduser$' |
    grep -v '^$' | sort
}

programs_in() {
  find "$1/usr/bin" -type f -perm -u+x 2>/dev/null | sort
}

# The dynamic loader (ld-linux-*.so) is part of libc6 everywhere, but only
# some architectures' binaries name it.
needed() {
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -v '^ld-linux' | sort
}

for deb in "$@"; do
  name=$(dpkg-deb -f "$deb" Package)
  arch=$(dpkg-deb -f "$deb" Architecture)
  depends=$(dpkg-deb -f "$deb" Depends)
  dir="$work/$name-$arch"
  mkdir -p "$dir/root/debian"
  dpkg-deb -x "$deb" "$dir/root"
  mapfile -t progs < <(programs_in "$dir/root")
  if ((${#progs[@]} == 0)); then
    echo "check-package-deps: $name ($arch) has no programs" >&2
    fail=1
    continue
  fi
  if [[ "$arch" == "$native" ]]; then
    : >"$dir/root/debian/control"
    args=()
    for p in "${progs[@]}"; do args+=(-e "$p"); done
    want=$(cd "$dir/root" && dpkg-shlibdeps -O "${args[@]}" 2>/dev/null |
      sed -n 's/^shlibs:Depends=//p')
    if [[ "$(libs_of "$depends")" != "$(libs_of "$want")" ]]; then
      echo "check-package-deps: $name ($arch): Depends has" >&2
      libs_of "$depends" | sed 's/^/    /' >&2
      echo "  but dpkg-shlibdeps says the programs need" >&2
      libs_of "$want" | sed 's/^/    /' >&2
      echo "  set GL_DEPENDS_${name#gridlet-} in packaging/CMakeLists.txt to:" >&2
      echo "  \"$want\"" >&2
      fail=1
    else
      echo "check-package-deps: $name ($arch): Depends agrees with dpkg-shlibdeps"
    fi
  else
    ref=$(ls "$(dirname "$deb")/${name}_"*"_$native.deb" 2>/dev/null | head -n 1)
    if [[ -z "$ref" ]]; then
      echo "check-package-deps: $name ($arch): no $native package next to it to compare with; skipped"
      continue
    fi
    rdir="$work/$name-$native-ref"
    mkdir -p "$rdir"
    dpkg-deb -x "$ref" "$rdir"
    if [[ "$depends" != "$(dpkg-deb -f "$ref" Depends)" ]]; then
      echo "check-package-deps: $name: $arch and $native Depends differ" >&2
      fail=1
    fi
    for p in "${progs[@]}"; do
      base=${p#"$dir/root"}
      if [[ ! -f "$rdir$base" ]]; then
        echo "check-package-deps: $name: $base is in the $arch package only" >&2
        fail=1
        continue
      fi
      if [[ "$(needed "$p")" != "$(needed "$rdir$base")" ]]; then
        echo "check-package-deps: $name: $base needs other libraries on $arch:" >&2
        diff <(needed "$rdir$base") <(needed "$p") | sed 's/^/    /' >&2 || true
        fail=1
      fi
    done
    ((fail)) || echo "check-package-deps: $name ($arch): needs the same libraries as on $native"
  fi
done
exit $fail
