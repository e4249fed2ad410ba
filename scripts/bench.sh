#!/usr/bin/env bash
# Benchmarks UDAM's HTTP API beside the seed's SQL on PostgreSQL, and rewrites the
# results section of docs/BENCHMARKS.md. One command:
#
#   scripts/bench.sh                 # the full run (about 5 minutes)
#   scripts/bench.sh --duration 3    # any udam-bench flag passes through
#   scripts/bench.sh --gateway       # the gateway beside nginx (installs Debian's nginx)
#
# Finds PostgreSQL (UDAM_TEST_PG_URL, or the local server on 5432) or starts a
# throwaway one, builds `udam` and `udam-bench` in release mode, and runs the
# bench, which creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

trap 'stop_started_services' EXIT
ensure_postgres

# The gateway scenario compares with Debian's nginx; install it when missing.
if [[ " $* " == *" --gateway "* ]] && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y --no-install-recommends nginx-light;
  else sudo apt-get install -y --no-install-recommends nginx-light; fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p udam -p udam-bench
"$CARGO_TARGET_DIR/release/udam-bench" --pg-url "$UDAM_TEST_PG_URL" "$@"
