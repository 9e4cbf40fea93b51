#!/usr/bin/env bash
# Shrinks each new fixture of a nightly search into SHRUNK_DIR, when this hangsim can shrink
# (`hangsim shrink FIXTURE -o OUT`, issue 13); when it cannot, says so and succeeds, and the
# fixtures are attached as they were found.
#
# Usage: scripts/nightly-shrink.sh NEW_FIXTURES_DIR SHRUNK_DIR
# Environment: HANGSIM (default: hangsim on PATH), MAX_RUNS (default 2000).
set -euo pipefail

new=${1:?usage: nightly-shrink.sh NEW_FIXTURES_DIR SHRUNK_DIR}
shrunk=${2:?usage: nightly-shrink.sh NEW_FIXTURES_DIR SHRUNK_DIR}
hangsim=${HANGSIM:-hangsim}

if ! "$hangsim" shrink --help >/dev/null 2>&1; then
  echo "this hangsim has no shrink command: the new fixtures are attached as found"
  exit 0
fi
mkdir -p "$shrunk"
for fixture in "$new"/*.toml; do
  [ -e "$fixture" ] || continue
  if ! "$hangsim" shrink "$fixture" -o "$shrunk/$(basename "$fixture")" --max-runs "${MAX_RUNS:-2000}"; then
    echo "::warning::could not shrink $(basename "$fixture"); it is attached as found"
  fi
done
