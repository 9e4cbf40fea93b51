#!/usr/bin/env bash
# Prints the interleaving coverage table (markdown) of `hangsim search --coverage`: for each
# scenario and protocol, per ordering class, the runs that reached it and the first seed, per
# strategy. Usage: scripts/coverage-table.sh [SEEDS] [JOBS]   (default 0..10000, 2 jobs)
# Env: HANGSIM (default target/release/hangsim), SCENARIOS, PROTOCOLS, STRATEGIES.
set -euo pipefail
seeds=${1:-0..10000}
jobs=${2:-2}
hangsim=${HANGSIM:-target/release/hangsim}
scenarios=${SCENARIOS:-auth-crash chaos}
protocols=${PROTOCOLS:-check-offer-drain offer-then-check}
strategies=${STRATEGIES:-yields random pct:3}
classes=$("$hangsim" list | sed -n '/^ordering classes/,$p' | tail -n +2 | awk '{print $1}')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for scenario in $scenarios; do
  for protocol in $protocols; do
    echo "### $scenario under $protocol, seeds $seeds"
    echo
    header="| class |"; rule="|---|"
    for strategy in $strategies; do
      file="$work/$scenario.$protocol.${strategy//:/-}"
      start=$(date +%s.%N)
      # A search exits 1 when it finds failures; that is a result, not an error.
      "$hangsim" search --scenario "$scenario" --protocol "$protocol" --strategy "$strategy" \
        --seeds "$seeds" --jobs "$jobs" --coverage 2>/dev/null > "$file" || [ $? -eq 1 ]
      end=$(date +%s.%N)
      hangs=$(grep -o '[0-9]* hang,' "$file" | tail -1 | cut -d' ' -f1)
      header="$header $strategy ($hangs hangs, $(printf '%.0f' "$(echo "$end - $start" | bc)") s) |"
      rule="$rule---|"
    done
    echo "$header"; echo "$rule"
    for class in $classes; do
      row="| $class |"
      for strategy in $strategies; do
        file="$work/$scenario.$protocol.${strategy//:/-}"
        cell=$(awk -v class="$class" '$1 == class && $3 == "runs," { print $2 " (seed " $6 ")" }' "$file")
        row="$row ${cell:-never} |"
      done
      echo "$row"
    done
    echo
  done
done
