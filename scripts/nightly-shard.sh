#!/usr/bin/env bash
# Searches one shard of a nightly search into OUT_DIR: found.ndjson, its progress file and
# fixtures/. Resumes what OUT_DIR already holds (a retried job, a rescheduled pod), stops
# taking seeds when the time budget is spent, and succeeds whether or not runs failed (that is
# for the merge to judge); it fails only when hangsim does (bad input, a file it cannot write).
#
# Usage: scripts/nightly-shard.sh OUT_DIR
# Environment: HANGSIM (default: hangsim on PATH), SCENARIO, PROTOCOL, STRATEGY, SEEDS,
# SHARD (K/N), TIME_BUDGET, DATE (the fixtures' provenance date; default today, UTC),
# JOBS (default: the cores there are).
set -euo pipefail

out=${1:?usage: nightly-shard.sh OUT_DIR}
hangsim=${HANGSIM:-hangsim}
mkdir -p "$out"
# Resume only what is there, so that a first run's log holds no note about it.
resume=()
if [ -e "$out/found.ndjson.progress" ]; then
  resume=(--resume)
fi
status=0
"$hangsim" search \
  --scenario "${SCENARIO:?}" \
  --protocol "${PROTOCOL:?}" \
  --strategy "${STRATEGY:?}" \
  --seeds "${SEEDS:?}" \
  --shard "${SHARD:?}" \
  --jobs "${JOBS:-$(nproc)}" \
  --time-budget "${TIME_BUDGET:?}" \
  --date "${DATE:-$(date -u +%F)}" \
  --out "$out/found.ndjson" \
  --fixtures "$out/fixtures" \
  "${resume[@]}" || status=$?
# 0: no run failed; 1: some did (found.ndjson lists them). Anything else is hangsim's error.
if [ "$status" -gt 1 ]; then
  echo "hangsim search failed with status $status" >&2
  exit "$status"
fi
