#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `make demo`, briefly, as a system test.
#   test_demo.sh run GRIDLET_DEMO        a few intervals: every check the demo
#                                        prints passes (audit, inclusion proof,
#                                        every interval settled once, every
#                                        reading in the ledger once), one line
#                                        per interval, the balance table and
#                                        the final checkpoint are printed, and
#                                        no process of the demo is left.
#   test_demo.sh interrupt GRIDLET_DEMO  SIGINT while it runs: it stops every
#                                        process it started and exits 130.
set -euo pipefail
mode=${1:?usage: test_demo.sh run|interrupt GRIDLET_DEMO}
demo=${2:?usage: test_demo.sh run|interrupt GRIDLET_DEMO}
work=$(mktemp -d "${TMPDIR:-/tmp}/gridlet-sysdemo-XXXXXX")
dir="$work/demo"
out="$work/out.txt"
fail() {
  echo "FAIL: $*" >&2
  echo "---- demo output ----" >&2
  cat "$out" >&2 || true
  exit 1
}
# Processes whose command line names the work directory (every daemon the
# demo starts is given a file in it). Looked up, never killed by name.
leftovers() {
  pgrep -f -- "$dir/" || true
}

case "$mode" in
run)
  rc=0
  "$demo" --intervals 4 --speed 600 --households 6 --dir "$dir" >"$out" 2>&1 || rc=$?
  [[ $rc -eq 0 ]] || fail "gridlet-demo exited $rc"
  ! grep -F '[FAIL]' "$out" || fail "a check failed"
  for want in \
    'independent audit (gridlet-ledger audit): audit OK' \
    'signed by the ledger'"'"'s key (gridlet-ledger verify-checkpoint)' \
    'inclusion proof of' \
    'the entry holds the SHA-256 of the very bytes' \
    'every interval settled exactly once' \
    'Household balances for the day' \
    'The final signed checkpoint' \
    'Where everything is'; do
    grep -qF -- "$want" "$out" || fail "no \"$want\" in the output"
  done
  # One line per interval, 05:00 to 05:45, each once.
  for t in 05:00 05:15 05:30 05:45; do
    n=$(grep -cE "^ $t +" "$out" || true)
    [[ $n -eq 1 ]] || fail "interval $t printed $n times"
  done
  [[ -f "$dir/aggregator.db" && -f "$dir/audit.txt" ]] || fail "no database or audit in $dir"
  ;;
interrupt)
  "$demo" --speed 600 --households 4 --dir "$dir" >"$out" 2>&1 &
  pid=$!
  # Wait until the intervals are being printed, then Ctrl-C.
  for _ in $(seq 1 300); do
    grep -q 'Intervals as the aggregator settles them' "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq 130 ]] || fail "exit status $rc after SIGINT, want 130"
  grep -q 'interrupted; stopping every process it started' "$out" || fail "no interruption message"
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac
left=$(leftovers)
[[ -z "$left" ]] || fail "processes left running: $(ps -o pid=,args= -p ${left//$'\n'/,})"
rm -rf "$work"
echo "ok"
