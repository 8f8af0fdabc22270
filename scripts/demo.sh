#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The neighbourhood demo (`make demo`). Runs the end-to-end demo when this
# build has it; until then, the most complete slice that exists, saying so:
# one interval's order book of a small street cleared by the real market
# engine under each price rule.
#
#   scripts/demo.sh BUILD [options passed to the demo]
set -euo pipefail
build=${1:?usage: demo.sh BUILD [options]}
shift || true

if [[ -x "$build/demo/gridlet-demo" ]]; then
  exec "$build/demo/gridlet-demo" "$@"
fi

echo "gridlet demo: the end-to-end neighbourhood demo is not assembled in this build yet."
echo "Showing the most complete slice that exists: the market engine clearing one"
echo "15-minute interval of a street of six households, under each price rule."
echo
book=$(mktemp)
trap 'rm -f "$book"' EXIT
cat >"$book" <<'BOOK'
side,participant,qty_wh,price
# Prices in micro-currency per kWh: 120000 = 0.12 per kWh.
# Households short of energy bid for it ...
buy,1,400,250000
buy,2,250,180000
buy,3,300,120000
# ... and households with surplus solar offer it.
sell,4,350,90000
sell,5,300,140000
sell,6,200,200000
BOOK
for rule in marginal k mcafee pay-as-bid; do
  echo "== rule $rule (band: feed-in 0.08, retail 0.30 per kWh; fee 0.01) =="
  "$build/market/gridlet-market" clear --rule "$rule" --band 80000,300000 --fee 10000 "$book"
  echo
done
