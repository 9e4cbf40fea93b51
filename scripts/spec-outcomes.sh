#!/usr/bin/env bash
# The protocol x ported-test x outcome table: runs the ported zio-kafka specs with
# HANGSIM_SPEC_OUTCOMES set (tests/common notes how each spec run ended) and prints a markdown
# table, one row per test, one column per protocol. A cell is the outcome of the test's runs
# under that protocol ("completed", "hang", "timeout", "panic"), with counts when its variants
# (rebalance protocol, settings) ended differently. The tests assert these outcomes; the table
# only shows them.
# Usage: scripts/spec-outcomes.sh [CARGO_TEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUSTFLAGS
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
HANGSIM_SPEC_OUTCOMES="$lines" cargo test -q --test consumer_spec --test consumer_group_spec \
  --test runloop_spec --test partition_stream_control_spec --test consumer_core "$@" >/dev/null
python3 - "$lines" <<'PY'
import collections, sys
protocols = ["master", "check-then-race", "race-only", "check-offer-drain",
             "offer-then-check", "daemon-race", "closed-queue"]
cells = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    binary, test, protocol, outcome = line.rstrip("\n").split("\t")
    cells[(binary, test, protocol)][outcome] += 1
tests = sorted({(b, t) for (b, t, _) in cells})
print("| spec | test | " + " | ".join(protocols) + " |")
print("|---|---|" + "---|" * len(protocols))
for binary, test in tests:
    row = []
    for protocol in protocols:
        counts = cells.get((binary, test, protocol))
        if not counts:
            row.append("")
        elif len(counts) == 1:
            row.append(next(iter(counts)))
        else:
            row.append(", ".join(f"{o} {n}" for o, n in sorted(counts.items())))
    print(f"| {binary} | {test} | " + " | ".join(row) + " |")
PY
