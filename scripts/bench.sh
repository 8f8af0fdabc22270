#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs every benchmark program of an optimised build (bench_* executables
# under BUILD/bench) one after another, so they do not compete for the
# cores, and prints their reports. Benchmarks are measurements, not tests:
# nothing here passes or fails on speed.
#
#   scripts/bench.sh BUILD [NAME...]
set -euo pipefail
build=${1:?usage: bench.sh BUILD [NAME...]}
shift
# Absolute, because each benchmark runs from its own directory below.
build=$(cd "$build" && pwd)
mapfile -t benches < <(find "$build/bench" -type f -perm -u+x -name 'bench_*' | sort)
if (($# > 0)); then
  mapfile -t benches < <(printf '%s\n' "${benches[@]}" | grep -F -f <(printf '%s\n' "$@"))
fi
if ((${#benches[@]} == 0)); then
  echo "bench: no benchmarks built yet"
  exit 0
fi
echo "bench: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for b in "${benches[@]}"; do
  echo
  echo "== $(basename "$b") =="
  (cd "$(dirname "$b")" && "$b")
done
