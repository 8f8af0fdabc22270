#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lintian over gridlet's packages: fails on any error or warning that the
# package does not explain in its lintian overrides (packaging/lintian/,
# shipped in /usr/share/lintian/overrides/). The overridden tags are
# printed with their explanations, so they stay visible.
#
#   scripts/lint-packages.sh DEB...
set -euo pipefail
(($#)) || { echo "usage: lint-packages.sh DEB..." >&2; exit 2; }
command -v lintian >/dev/null || {
  echo "lint-packages: lintian is not installed (scripts/install-deps.sh)" >&2
  exit 1
}
echo "== lintian $(lintian --version | awk '{print $2}')"
# As root (CI), lintian wants to be told that this is intended: it only
# reads the packages here.
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-root)
# The verdict: errors and warnings not explained by an override. (With
# --show-overrides lintian 2.116 exits 2 even when every tag is
# overridden, hence two runs.)
lintian "${root[@]}" --fail-on error,warning --tag-display-limit 0 "$@"
echo "lintian: no unexplained errors or warnings; explained ones:"
lintian "${root[@]}" --show-overrides --tag-display-limit 0 "$@" |
  grep -E '^(O|N):' || true
