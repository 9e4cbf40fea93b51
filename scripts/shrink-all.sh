#!/usr/bin/env bash
# Shrinks every committed hang fixture (tests/fixtures/*.toml whose expected verdict is hang)
# with `hangsim shrink` and prints a markdown table: each size before → after, the candidate
# runs made and the wall-clock time. The shrunk fixtures go to OUT_DIR (default: a new
# temporary directory, named on stderr). MAX_RUNS (default 1000) is passed as --max-runs.
#
#   scripts/shrink-all.sh > /tmp/shrink-table.md
set -euo pipefail
cd "$(dirname "$0")/.."
max_runs=${MAX_RUNS:-1000}
out_dir=${OUT_DIR:-$(mktemp -d /tmp/shrink-all.XXXXXX)}
mkdir -p "$out_dir"
echo "shrunk fixtures go to $out_dir" >&2
# HANGSIM=path uses that binary instead of building a release one.
bin=${HANGSIM:-target/release/hangsim}
[ -n "${HANGSIM:-}" ] || cargo build --release --quiet --bin hangsim

echo "| fixture | events | faults | records | fibers | non-default decisions | decisions | trace length | runs | time |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for fixture in tests/fixtures/*.toml; do
    grep -q '^verdict = "hang"' "$fixture" || continue
    name=$(basename "$fixture" .toml)
    if ! log=$("$bin" shrink "$fixture" -o "$out_dir/$name.toml" --max-runs "$max_runs" 2>&1); then
        echo "| $name | refused: ${log//|/\\|} |||||||||"
        continue
    fi
    echo "$log" | awk -v name="$name" '
        / → / {
            after = $NF; before = $(NF - 2)
            sub(/[ ]+[0-9]+ → +[0-9]+$/, "")
            size[$0] = before " → " after
        }
        /candidate runs in/ { runs = $1 }
        /^took / { took = $2 " s" }
        END {
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
                size["events"], size["faults"], size["records"], size["fibers"],
                size["non-default decisions"], size["decisions"], size["trace length"], runs, took
        }'
done
