#!/usr/bin/env bash
# Runs every test, on SQLite and on PostgreSQL (each behaviour is a `sqlite::` and a
# `postgres::` test). Finds PostgreSQL and Redis, or starts throwaway ones, and makes
# sure headless Chromium is installed for the browser test.
# The `failpoints` feature compiles in the crash points the crash tests arm
# (`src/failpoint.rs`); without a `FAILPOINTS` variable they do nothing.
# ensure_nginx installs nginx for the bench's smoke test (bench/tests/smoke.rs).
# ensure_sdk_tools installs the pinned SDK generators (npm, PyPI) for tests/api/sdk.rs.
# Extra arguments go to the test runner, e.g. `scripts/test.sh accounts`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

run_id="udam_t_$(date +%s)_$$_"
trap 'drop_test_databases "$run_id"; stop_started_services' EXIT
ensure_postgres
ensure_redis
ensure_schemathesis
ensure_webhook_verifier
ensure_chromium
ensure_nginx
ensure_sdk_tools
export UDAM_TEST_DB_PREFIX="$run_id"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-targets --features udam/failpoints --no-fail-fast "$@"
else
  cargo test --workspace --all-targets --features udam/failpoints --no-fail-fast -- "$@"
fi
