#!/usr/bin/env bash
# The real-mode cross-check (issue 12): every protocol on the scenarios whose faults a real
# client can see, RUNS real runs each against librdkafka's mock cluster, beside the
# simulator's search of seeds 0..1000; prints a Markdown table (BENCHMARKS.md, "Real mode
# cross-check").
#
#   scripts/real-crosscheck.sh OUT_DIR [RUNS] [JOBS]
#
# HANGSIM (default target/debug/hangsim) is the binary; QUIET (default 5) the quiet window in
# seconds; SCENARIOS and PROTOCOLS narrow the table; TABLE_ONLY=1 only prints the table of an
# OUT_DIR already filled. Real runs mostly wait on timers, so JOBS of them run side by side
# (default 4); the simulator's searches run one at a time.
set -euo pipefail

out=${1:?usage: real-crosscheck.sh OUT_DIR [RUNS] [JOBS]}
runs=${2:-20}
jobs=${3:-4}
hangsim=${HANGSIM:-target/debug/hangsim}
quiet=${QUIET:-5}
scenarios=${SCENARIOS:-"auth-crash auth-crash-idle-streams graceful-shutdown rebalance-during-shutdown"}
protocols=${PROTOCOLS:-"master check-then-race race-only check-offer-drain offer-then-check daemon-race closed-queue"}
mkdir -p "$out"

pairs=()
for scenario in $scenarios; do
  for protocol in $protocols; do
    pairs+=("$scenario $protocol")
  done
done

if [ -z "${TABLE_ONLY:-}" ]; then
  # The real runs, JOBS combinations at a time; each writes OUT/real-SCENARIO-PROTOCOL.txt.
  export hangsim quiet runs out
  # shellcheck disable=SC2016 # the inner shell expands them
  printf '%s\n' "${pairs[@]}" | xargs -P "$jobs" -L 1 sh -c \
    '"$hangsim" real --scenario "$0" --protocol "$1" --runs "$runs" --quiet-window-s "$quiet" \
       >"$out/real-$0-$1.txt" 2>&1 || true'

  # The simulator's view of the same pairs.
  for pair in "${pairs[@]}"; do
    read -r scenario protocol <<<"$pair"
    "$hangsim" search --scenario "$scenario" --protocol "$protocol" --seeds 0..1000 \
      >"$out/sim-$scenario-$protocol.txt" 2>&1 || true
  done
fi

# One row per pair: the tallies and the failure signatures (runs each) of each side.
signatures() {
  # shellcheck disable=SC2016 # the backticks are Markdown
  sed -n 's/^  seed [0-9]*: \([0-9]*\) runs: hang:\(.*\)$/\1x `\2`/p' "$1" | sort -rn \
    | paste -sd ';' - | sed 's/;/; /g'
}
echo "| scenario | protocol | simulator (1000 seeds): failing | simulator: hangs | real ($runs runs): failing | real: hangs |"
echo "|---|---|---|---|---|---|"
for pair in "${pairs[@]}"; do
  read -r scenario protocol <<<"$pair"
  sim="$out/sim-$scenario-$protocol.txt"
  real="$out/real-$scenario-$protocol.txt"
  [ -f "$sim" ] || sim=/dev/null
  [ -f "$real" ] || real=/dev/null
  sim_failing=$(sed -n 's/^searched [0-9]* seeds: \([0-9]*\) failing.*/\1/p' "$sim")
  real_failing=$(sed -n 's/^ran [0-9]* real runs .*: \([0-9]*\) failing (\(.*\)) in.*/\1 (\2)/p' "$real")
  echo "| $scenario | $protocol | ${sim_failing:-?} | $(signatures "$sim") | ${real_failing:-? (see $real)} | $(signatures "$real") |"
done
