#!/usr/bin/env bash
# Benchmarks UDAM's HTTP API beside the seed's SQL and nginx, on PostgreSQL and SQLite,
# and rewrites the results section of docs/BENCHMARKS.md. One command:
#
#   scripts/bench.sh                 # the full run (about 20 minutes)
#   scripts/bench.sh --rounds 1 --duration 2   # any udam-bench flag passes through
#   scripts/bench.sh --gateway       # the gateway beside nginx
#
# Finds PostgreSQL (UDAM_TEST_PG_URL, or the local server on 5432) or starts a
# throwaway one with fsync on (the bench refuses a server with fsync or
# synchronous_commit off: its figures would not be durable ones), installs Debian's
# nginx when missing (scenario (c) and the gateway compare with it), builds `udam` and
# `udam-bench` in release mode, and runs the bench, which creates and drops its own
# database. A run with any error or failed check exits non-zero and writes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

trap 'stop_started_services' EXIT
# A throwaway cluster for the bench commits durably (the test suite's runs without fsync).
export UDAM_PG_FSYNC=on
ensure_postgres

if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]] && [[ " $* " != *" --no-nginx "* ]]; then
  as_root=()
  [[ $(id -u) -eq 0 ]] || as_root=(sudo)
  "${as_root[@]}" apt-get install -y --no-install-recommends nginx-light ||
    "${as_root[@]}" apt-get install -y --no-install-recommends nginx
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p udam -p udam-bench
"$CARGO_TARGET_DIR/release/udam-bench" --pg-url "$UDAM_TEST_PG_URL" "$@"
