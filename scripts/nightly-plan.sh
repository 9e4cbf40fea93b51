#!/usr/bin/env bash
# Plans a nightly search (.github/workflows/nightly.yml): checks the inputs and writes, as
# `name=value` lines to $GITHUB_OUTPUT (stdout when unset), what the matrix and the jobs need.
#
# Inputs, from the environment (empty means the default):
#   SEEDS            seed range A..B; default: tonight's window, SEEDS_PER_NIGHT seeds starting
#                    at (days since 1970-01-01) * SEEDS_PER_NIGHT, so each night searches seeds
#                    no night searched before
#   SEEDS_PER_NIGHT  default 1000000
#   SHARDS           shards per scenario and protocol, 1 to 64; default 4
#   TIME_BUDGET      wall-clock budget per shard: N followed by s, m or h, at most 5h; default 45m
#   SCENARIOS        space-separated scenario names; default "auth-crash chaos graceful-shutdown"
#   PROTOCOLS        space-separated protocol names; default the protocols believed safe or
#                    nearly so: "check-offer-drain offer-then-check daemon-race closed-queue"
#   STRATEGY         scheduling strategy; default pct:3
# Names and ranges are checked by hangsim itself in each job; this script checks only what the
# workflow needs to build its matrix.
set -euo pipefail

fail() {
  echo "error: $*" >&2
  exit 2
}

per_night=${SEEDS_PER_NIGHT:-1000000}
[[ $per_night =~ ^[1-9][0-9]{0,11}$ ]] || fail "SEEDS_PER_NIGHT must be a positive number, not '$per_night'"
seeds=${SEEDS:-}
if [ -z "$seeds" ]; then
  day=$(($(date -u +%s) / 86400))
  seeds="$((day * per_night))..$(((day + 1) * per_night))"
fi
[[ $seeds =~ ^[0-9]+\.\.[0-9]+$ ]] || fail "SEEDS must be a range A..B, not '$seeds'"

shards=${SHARDS:-4}
if ! [[ $shards =~ ^[0-9]+$ ]] || [ "$shards" -lt 1 ] || [ "$shards" -gt 64 ]; then
  fail "SHARDS must be a number from 1 to 64, not '$shards'"
fi

budget=${TIME_BUDGET:-45m}
[[ $budget =~ ^([0-9]+)([smh])$ ]] || fail "TIME_BUDGET must be a number followed by s, m or h, not '$budget'"
amount=${BASH_REMATCH[1]}
case ${BASH_REMATCH[2]} in
  s) budget_minutes=$(((amount + 59) / 60)) ;;
  m) budget_minutes=$amount ;;
  h) budget_minutes=$((amount * 60)) ;;
esac
if [ "$budget_minutes" -lt 1 ] || [ "$budget_minutes" -gt 300 ]; then
  fail "TIME_BUDGET must be more than zero and at most 5h, not '$budget'"
fi
# The job's own limit: the budget, plus the download of the binary, the last seeds in flight
# and the upload of the results. A job killed at its limit uploads nothing.
timeout_minutes=$((budget_minutes + 20))

read -r -a scenarios <<<"${SCENARIOS:-auth-crash chaos graceful-shutdown}"
read -r -a protocols <<<"${PROTOCOLS:-check-offer-drain offer-then-check daemon-race closed-queue}"
[ "${#scenarios[@]}" -ge 1 ] || fail "SCENARIOS names no scenario"
[ "${#protocols[@]}" -ge 1 ] || fail "PROTOCOLS names no protocol"
for name in "${scenarios[@]}" "${protocols[@]}"; do
  [[ $name =~ ^[a-z0-9-]+$ ]] || fail "'$name' is not a scenario or protocol name"
done
jobs=$((${#scenarios[@]} * ${#protocols[@]} * shards))
[ "$jobs" -le 256 ] || fail "$jobs jobs: a GitHub Actions matrix holds at most 256 (fewer scenarios, protocols or shards)"

strategy=${STRATEGY:-pct:3}
[[ $strategy =~ ^[a-z0-9.:]+$ ]] || fail "'$strategy' is not a strategy name"

json_list() {
  local out="" item
  for item in "$@"; do out+="${out:+,}\"$item\""; done
  echo "[$out]"
}

{
  echo "seeds=$seeds"
  echo "shard_count=$shards"
  echo "shards=[$(seq -s, 0 $((shards - 1)))]"
  echo "time_budget=$budget"
  echo "timeout_minutes=$timeout_minutes"
  echo "scenarios=$(json_list "${scenarios[@]}")"
  echo "protocols=$(json_list "${protocols[@]}")"
  echo "scenario_names=${scenarios[*]}"
  echo "protocol_names=${protocols[*]}"
  echo "strategy=$strategy"
  echo "date=$(date -u +%F)"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"
