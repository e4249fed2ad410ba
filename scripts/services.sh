#!/usr/bin/env bash
# Finds or starts the services the tests need. Sourced by scripts/test.sh and .ci/run.
#   ensure_postgres: exports UDAM_TEST_PG_URL, starting a throwaway cluster from the
#                    installed binaries when no server answers. Fails loudly otherwise.
#   ensure_redis:    exports UDAM_TEST_REDIS_URL, starting redis-server when none answers.
#   ensure_chromium: makes sure headless Chromium and chromedriver (the browser test)
#                    are installed, installing Debian's packages with apt when root.
# Whatever this starts is stopped by stop_started_services (call it from an EXIT trap).

UDAM_STARTED_PG_DIR=""
UDAM_STARTED_REDIS_PID=""

pg_answers() {
  psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

pg_bindir() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  echo "$dir"
}

ensure_postgres() {
  local url="${UDAM_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if pg_answers "$url"; then
    export UDAM_TEST_PG_URL="$url"
    echo "PostgreSQL: using the server at ${url%%\?*}"
    return 0
  fi
  local bindir
  bindir=$(pg_bindir)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "error: no PostgreSQL answers at $url and no PostgreSQL binaries are installed" >&2
    echo "       (install the 'postgresql' package, or set UDAM_TEST_PG_URL)" >&2
    return 1
  fi
  local dir port
  # A free port, so that several runs (or a leftover server) never collide.
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/udam-pg.XXXXXX)
  local as=()
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    chown postgres "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -N -U postgres >/dev/null
  # Without fsync (-F) for tests, which need no durability; UDAM_PG_FSYNC=on (the
  # bench) keeps it, so that figures measured on the cluster are durable ones.
  local no_fsync="-F"
  [ "${UDAM_PG_FSYNC:-off}" = on ] && no_fsync=""
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $no_fsync -c max_connections=300" start >/dev/null
  UDAM_STARTED_PG_DIR="$dir"
  export UDAM_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  pg_answers "$UDAM_TEST_PG_URL" || { echo "error: the throwaway PostgreSQL did not start; see $dir/log" >&2; return 1; }
  echo "PostgreSQL: started a throwaway server on port $port (fsync ${UDAM_PG_FSYNC:-off})"
}

ensure_redis() {
  local url="${UDAM_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  export UDAM_TEST_REDIS_URL="$url"
  if command -v redis-cli >/dev/null && redis-cli -u "$url" ping >/dev/null 2>&1; then
    echo "Redis: using the server at $url"
    return 0
  fi
  if ! command -v redis-server >/dev/null; then
    echo "error: no Redis answers at $url and redis-server is not installed" >&2
    return 1
  fi
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
  UDAM_STARTED_REDIS_PID=$!
  export UDAM_TEST_REDIS_URL="redis://127.0.0.1:$port"
  for _ in $(seq 100); do
    redis-cli -u "$UDAM_TEST_REDIS_URL" ping >/dev/null 2>&1 && { echo "Redis: started on port $port"; return 0; }
    sleep 0.1
  done
  echo "error: redis-server did not start" >&2
  return 1
}

# Installs schemathesis (the API fuzzer, from PyPI) into target/fuzz-venv once and
# exports UDAM_SCHEMATHESIS with its path.
# Pinned: anyio 4.15 brought a lazy importer that compiles its own source at first
# import, and two schemathesis workers importing it at once failed a run with
# CPython's "SystemError: AST constructor recursion depth mismatch". A venv made
# for other pins is brought to these.
ensure_schemathesis() {
  local venv=target/fuzz-venv
  local wants="schemathesis==4.32.5 anyio<4.15"
  if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/udam-pins" 2>/dev/null)" != "$wants" ]; then
    # $wants is split into its requirements on purpose.
    # shellcheck disable=SC2086
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check $wants &&
      echo "$wants" >"$venv/udam-pins" ||
      { echo "error: could not install schemathesis from PyPI" >&2; return 1; }
  fi
  export UDAM_SCHEMATHESIS="$PWD/$venv/bin/schemathesis"
  echo "schemathesis: $("$UDAM_SCHEMATHESIS" --version)"
}

# Installs the official Standard Webhooks verifier (PyPI `standardwebhooks`) into
# target/webhook-venv once and exports UDAM_WEBHOOK_VERIFIER with its python, which the
# outbound-webhook tests use to check every signature they receive.
ensure_webhook_verifier() {
  local venv=target/webhook-venv
  if ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check 'standardwebhooks>=1.0.1,<2' ||
      { echo "error: could not install standardwebhooks from PyPI" >&2; return 1; }
  fi
  export UDAM_WEBHOOK_VERIFIER="$PWD/$venv/bin/python"
  echo "standardwebhooks: $("$venv/bin/pip" show standardwebhooks 2>/dev/null | sed -n 's/^Version: //p')"
}

ensure_chromium() {
  local chromium chromedriver
  chromium=$(command -v chromium || command -v chromium-browser || true)
  chromedriver=$(command -v chromedriver || true)
  if [ -n "$chromium" ] && [ -n "$chromedriver" ]; then
    echo "Chromium: $("$chromedriver" --version 2>/dev/null | head -n 1)"
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Chromium: installing chromium and chromium-driver (the browser test needs them)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    command -v chromedriver >/dev/null && return 0
  fi
  echo "error: the browser test needs headless Chromium and chromedriver; install them with" >&2
  echo "       sudo apt-get update && sudo apt-get install -y chromium chromium-driver" >&2
  return 1
}

# Makes sure nginx is installed: the bench's smoke test (bench/tests/smoke.rs) serves
# the browse page's bytes with it, beside UDAM. Installed, not started: the bench
# starts its own nginx on a free port.
ensure_nginx() {
  if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
    echo "nginx: $( (command -v nginx || echo /usr/sbin/nginx) | head -n 1)"
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "nginx: installing nginx-light (the bench's smoke test needs it)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
    [ -x /usr/sbin/nginx ] && return 0
  fi
  echo "error: the bench's smoke test needs nginx; install it with" >&2
  echo "       sudo apt-get update && sudo apt-get install -y nginx-light" >&2
  return 1
}

# Drops the databases this run created (named with the run's prefix).
drop_test_databases() {
  local prefix="$1"
  [ -n "${UDAM_TEST_PG_URL:-}" ] || return 0
  psql "$UDAM_TEST_PG_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'" 2>/dev/null |
    while read -r db; do
      psql "$UDAM_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

stop_started_services() {
  if [ -n "$UDAM_STARTED_PG_DIR" ]; then
    local as=()
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$(pg_bindir)/pg_ctl" -D "$UDAM_STARTED_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$UDAM_STARTED_PG_DIR"
  fi
  if [ -n "$UDAM_STARTED_REDIS_PID" ]; then
    kill "$UDAM_STARTED_REDIS_PID" 2>/dev/null || true
  fi
}

# The SDK generators and runtimes (clients/), pinned: the TypeScript package's
# dependencies by `npm ci` from clients/typescript/package-lock.json, and a venv at
# target/sdk-venv from clients/python/requirements-tools.txt (openapi-python-client, ruff,
# httpx, attrs, standardwebhooks). Reinstalls only when a lock file changed. Exports
# UDAM_SDK_PYTHON (the venv's python). Used by scripts/gen-sdks.sh.
ensure_sdk_generators() {
  local ts=clients/typescript venv=target/sdk-venv req=clients/python/requirements-tools.txt
  if ! cmp -s "$ts/package-lock.json" "$ts/node_modules/.udam-installed-lock"; then
    (cd "$ts" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) &&
      cp "$ts/package-lock.json" "$ts/node_modules/.udam-installed-lock" ||
      { echo "error: npm ci failed in $ts (needs Node 20+ and the npm registry)" >&2; return 1; }
  fi
  if ! cmp -s "$req" "$venv/.udam-installed-requirements"; then
    rm -rf "$venv"
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" &&
      cp "$req" "$venv/.udam-installed-requirements" ||
      { echo "error: could not install $req from PyPI into $venv" >&2; return 1; }
  fi
  export UDAM_SDK_PYTHON="$PWD/$venv/bin/python"
}

# ensure_sdk_generators, then compiles the TypeScript SDK with its example and end-to-end
# script (tsc type-checks them against the generated types) into clients/typescript/dist,
# which the SDK tests (tests/api/sdk.rs) run.
ensure_sdk_tools() {
  local started=$SECONDS
  ensure_sdk_generators || return 1
  (cd clients/typescript && node node_modules/typescript/bin/tsc -p .) ||
    { echo "error: the TypeScript SDK does not compile (clients/typescript)" >&2; return 1; }
  echo "SDK tools: ready in $((SECONDS - started)) s (node $(node --version), $("$UDAM_SDK_PYTHON" --version))"
}
