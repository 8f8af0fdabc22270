#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Checks CI runs before building: every C file is clang-formatted, no
# banned function is called (STYLE.md), every source file carries an SPDX
# line. Prints what is wrong; exits non-zero if anything is.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
mapfile -t files < <(git ls-files '*.c' '*.h')

if ! clang-format --dry-run -Werror "${files[@]}" 2>/dev/null; then
  echo "lint: not clang-formatted (run 'make format'):" >&2
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "  $f" >&2
  done
  fail=1
fi

banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok)[[:space:]]*\('
if hits=$(grep -nHE "$banned" "${files[@]}"); then
  echo "lint: banned functions (STYLE.md: use snprintf, strtol with range checks):" >&2
  echo "$hits" | sed 's/^/  /' >&2
  fail=1
fi

for f in "${files[@]}" $(git ls-files '*.sh' 'CMakeLists.txt' '*.cmake' '*.py'); do
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier' || { echo "lint: no SPDX line in $f" >&2; fail=1; }
done
exit $fail
