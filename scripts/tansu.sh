#!/usr/bin/env bash
# Tansu, a Kafka-compatible broker (crates.io `tansu`, in-memory storage), for real mode's
# integration tests and `hangsim real --broker tansu`.
#
#   scripts/tansu.sh install   build it once (about 7 min on 2 cores), cached in TANSU_HOME
#   scripts/tansu.sh start     install if needed, start it on 127.0.0.1:9092, wait until ready
#   scripts/tansu.sh stop      stop the broker this script started
#
# TANSU_HOME (default ~/.cache/hangsim/tansu-0.6.0) keeps the binary between runs; the
# build's target directory is temporary and removed (it takes about 1.4 GB). The version and
# features are those measured in the reference notes: 0.6.0, `dynostore` for `memory://`.
set -euo pipefail

version=0.6.0
home=${TANSU_HOME:-$HOME/.cache/hangsim/tansu-$version}
binary=$home/bin/tansu
address=${TANSU_ADDRESS:-127.0.0.1:9092}
state=${TANSU_STATE:-${TMPDIR:-/tmp}/hangsim-tansu}

install() {
  if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q "$version"; then
    return
  fi
  local build
  build=$(mktemp -d)
  echo "tansu.sh: building tansu $version (cached in $home)" >&2
  CARGO_TARGET_DIR=$build cargo install "tansu@$version" --locked --no-default-features \
    --features dynostore --root "$home" --quiet
  rm -rf "$build"
}

start() {
  install
  mkdir -p "$state"
  if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "tansu.sh: already running (pid $(cat "$state/pid"))" >&2
    return
  fi
  "$binary" broker --listener-url "tcp://$address" --advertised-listener-url "tcp://$address" \
    --storage-engine memory://tansu/ >"$state/log" 2>&1 &
  echo $! >"$state/pid"
  local host=${address%:*} port=${address##*:}
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      echo "tansu.sh: listening on $address (pid $(cat "$state/pid"))" >&2
      return
    fi
    sleep 0.1
  done
  echo "tansu.sh: tansu did not listen on $address within 10 s; its log:" >&2
  cat "$state/log" >&2
  stop
  exit 1
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/tansu.sh install|start|stop" >&2; exit 2 ;;
esac
