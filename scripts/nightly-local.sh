#!/usr/bin/env bash
# The nightly search of .github/workflows/nightly.yml, on this machine: plans it with the same
# inputs (SEEDS, SHARDS, TIME_BUDGET, SCENARIOS, PROTOCOLS, STRATEGY; see nightly-plan.sh),
# searches every shard one after the other into WORK_DIR/shards/, merges them into
# WORK_DIR/merged/ and writes the summary to WORK_DIR/summary.md. Exits 1 when a new failure
# signature appears or a merge fails, as the workflow's last job does. `.ci/run` runs a small
# one, so that the scripts the workflow calls are exercised on every submission.
#
# Usage: scripts/nightly-local.sh WORK_DIR
# Environment: HANGSIM (default: target/release/hangsim), JOBS, BASELINE, and the plan's inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

work=${1:?usage: nightly-local.sh WORK_DIR}
export HANGSIM=${HANGSIM:-target/release/hangsim}
mkdir -p "$work/shards"
GITHUB_OUTPUT="$work/plan.env" scripts/nightly-plan.sh
declare -A plan
while IFS='=' read -r name value; do
  plan[$name]=$value
done <"$work/plan.env"
read -r -a scenarios <<<"${plan[scenario_names]}"
read -r -a protocols <<<"${plan[protocol_names]}"
export STRATEGY=${plan[strategy]} SEEDS=${plan[seeds]} TIME_BUDGET=${plan[time_budget]} DATE=${plan[date]}
for scenario in "${scenarios[@]}"; do
  for protocol in "${protocols[@]}"; do
    for ((index = 0; index < plan[shard_count]; index++)); do
      SCENARIO=$scenario PROTOCOL=$protocol SHARD="$index/${plan[shard_count]}" \
        scripts/nightly-shard.sh "$work/shards/nightly__${scenario}__${protocol}__$index" >/dev/null
    done
  done
done
SCENARIOS="${plan[scenario_names]}" PROTOCOLS="${plan[protocol_names]}" SUMMARY="$work/summary.md" \
  GITHUB_OUTPUT='' scripts/nightly-merge.sh "$work/shards" "$work/merged"
