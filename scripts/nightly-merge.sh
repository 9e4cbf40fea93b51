#!/usr/bin/env bash
# Merges the shards of every search of a nightly run and writes the job summary.
#
# Usage: scripts/nightly-merge.sh SHARDS_DIR OUT_DIR
#   SHARDS_DIR holds one directory per shard, named nightly__<scenario>__<protocol>__<K> (as
#   the workflow's artifacts download), each holding a shard's results.
#   OUT_DIR gets, per search, <scenario>.<protocol>/found.ndjson and fixtures/, and the new
#   signatures' fixtures of all searches in new-fixtures/.
# Environment: HANGSIM (default: hangsim on PATH), SCENARIOS and PROTOCOLS (space-separated:
# the searches planned, so that a search with no shard at all is named too), BASELINE
# (default tests/fixtures), SUMMARY (the Markdown summary; default $GITHUB_STEP_SUMMARY, or
# OUT_DIR/summary.md), and SEEDS, STRATEGY, TIME_BUDGET for its heading.
#
# Shards that ran out of time or failed are merged for what they searched (`--partial`) and
# named in the summary. Writes `new=true|false` and `errors=true|false` to $GITHUB_OUTPUT
# (when set) and exits 0, so that later steps can shrink and attach the new fixtures before
# the job fails; without $GITHUB_OUTPUT it exits 1 when something is new or a merge failed.
set -euo pipefail

shards=${1:?usage: nightly-merge.sh SHARDS_DIR OUT_DIR}
out=${2:?usage: nightly-merge.sh SHARDS_DIR OUT_DIR}
hangsim=${HANGSIM:-hangsim}
baseline=${BASELINE:-tests/fixtures}
mkdir -p "$out"
summary=${SUMMARY:-${GITHUB_STEP_SUMMARY:-$out/summary.md}}
read -r -a scenarios <<<"${SCENARIOS:?}"
read -r -a protocols <<<"${PROTOCOLS:?}"

{
  echo "## Nightly search"
  echo
  echo "Seeds ${SEEDS:-?} per scenario and protocol, strategy \`${STRATEGY:-?}\`, time budget ${TIME_BUDGET:-?} per shard; new failure signatures are judged against \`$baseline\`."
  echo
} >>"$summary"

new=false
errors=false
for scenario in "${scenarios[@]}"; do
  for protocol in "${protocols[@]}"; do
    inputs=()
    for directory in "$shards/nightly__${scenario}__${protocol}__"*; do
      [ -d "$directory" ] && inputs+=("$directory")
    done
    # The backticks in these formats are Markdown's, not the shell's.
    # shellcheck disable=SC2016
    if [ "${#inputs[@]}" -eq 0 ]; then
      printf '### `%s` under `%s`\n\nNo shard left results: every job of this search failed before uploading.\n\n' \
        "$scenario" "$protocol" >>"$summary"
      echo "::error::$scenario under $protocol: no shard left results"
      errors=true
      continue
    fi
    status=0
    "$hangsim" merge "${inputs[@]}" \
      --partial \
      --out "$out/$scenario.$protocol/found.ndjson" \
      --fixtures "$out/$scenario.$protocol/fixtures" \
      --new-fixtures "$out/new-fixtures" \
      --against "$baseline" \
      --summary-markdown "$summary" \
      >"$out/$scenario.$protocol.txt" 2>"$out/$scenario.$protocol.err" || status=$?
    cat "$out/$scenario.$protocol.txt"
    case $status in
      0) ;;
      1)
        new=true
        echo "::error::$scenario under $protocol: new failure signatures (see the job summary)"
        ;;
      *)
        errors=true
        message=$(head -n 1 "$out/$scenario.$protocol.err")
        # shellcheck disable=SC2016
        printf '### `%s` under `%s`\n\nThe merge failed: %s\n\n' "$scenario" "$protocol" "$message" >>"$summary"
        echo "::error::$scenario under $protocol: $message"
        ;;
    esac
    if grep -q '^not searched:' "$out/$scenario.$protocol.txt"; then
      echo "::warning::$scenario under $protocol: some shards did not search all their seeds (see the job summary)"
    fi
  done
done

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "new=$new" >>"$GITHUB_OUTPUT"
  echo "errors=$errors" >>"$GITHUB_OUTPUT"
  exit 0
fi
[ "$new" = false ] && [ "$errors" = false ]
