#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The neighbourhood demo (`make demo`; docs/quickstart.md): runs the
# gridlet-demo of the build tree BUILD with the given options
# (`make demo DEMO_ARGS="--households 20 --rule k"`).
#
#   scripts/demo.sh BUILD [options passed to gridlet-demo]
set -euo pipefail
build=${1:?usage: demo.sh BUILD [options]}
shift || true
demo="$build/demo/gridlet-demo"
if [[ ! -x "$demo" ]]; then
  echo "demo.sh: $demo is not built (run 'make build' first)" >&2
  exit 1
fi
exec "$demo" "$@"
