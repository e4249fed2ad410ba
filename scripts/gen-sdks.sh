#!/usr/bin/env bash
# Regenerates the SDKs in clients/ from the OpenAPI document the server serves.
#   scripts/gen-sdks.sh
#       builds and starts `udam serve` (debug) on a throwaway SQLite database, fetches
#       /api/openapi.json, and rewrites clients/typescript/src/schema.ts and
#       clients/python/udam_client/. Commit the result. UDAM_BIN=PATH uses that udam
#       binary instead of building one.
#   scripts/gen-sdks.sh --from FILE --into DIR
#       generates from the document FILE into DIR (DIR/typescript/src/schema.ts,
#       DIR/python/udam_client/); the staleness test (tests/api/sdk.rs) diffs that
#       against the committed SDKs.
# The generators are pinned (clients/typescript/package-lock.json,
# clients/python/requirements-tools.txt) and installed by ensure_sdk_generators.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/services.sh

from="" into=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from=$(realpath "$2"); shift 2 ;;
    --into) mkdir -p "$2"; into=$(realpath "$2"); shift 2 ;;
    *) echo "usage: $0 [--from OPENAPI_JSON --into DIR]" >&2; exit 2 ;;
  esac
done

ensure_sdk_generators

# Writes the TypeScript types and the Python package generated from $1 under $2.
generate() {
  local doc="$1" out="$2" work
  mkdir -p "$out/typescript/src" "$out/python"
  node clients/typescript/node_modules/openapi-typescript/bin/cli.js "$doc" \
    --output "$out/typescript/src/schema.ts" >/dev/null 2>&1 ||
    { echo "error: openapi-typescript failed on $doc" >&2; return 1; }
  # openapi-python-client writes into the working directory and formats with ruff (from
  # the venv); PYTHONHASHSEED pins the order of literal enum values, which it collects
  # in sets, so the output is the same on every run.
  work=$(mktemp -d)
  (cd "$work" && PYTHONHASHSEED=0 PATH="$(dirname "$UDAM_SDK_PYTHON"):$PATH" \
    openapi-python-client generate --path "$doc" --meta none \
    --config "$root/clients/python/openapi-python-client.yaml" >/dev/null) ||
    { rm -rf "$work"; echo "error: openapi-python-client failed on $doc" >&2; return 1; }
  rm -rf "$work/udam_client/.ruff_cache" "$out/python/udam_client"
  mv "$work/udam_client" "$out/python/udam_client"
  rmdir "$work"
}

if [ -n "$from" ] || [ -n "$into" ]; then
  [ -n "$from" ] && [ -n "$into" ] || { echo "error: --from and --into go together" >&2; exit 2; }
  generate "$from" "$into"
  exit 0
fi

udam=${UDAM_BIN:-}
if [ -z "$udam" ]; then
  cargo build --quiet --bin udam
  udam=target/debug/udam
fi
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
# A throwaway server: its own database, ports and (public, test-only) master key.
UDAM_METRICS_BIND=127.0.0.1:0 UDAM_GATEWAY_BIND=127.0.0.1:0 "$udam" \
  --bind 127.0.0.1:0 --database-url "sqlite://$work/udam.db?mode=rwc" \
  --master-keys "gen:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" serve \
  >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
base=""
for _ in $(seq 300); do
  base=$(sed -n 's/^udam listening on //p' "$work/stdout" | head -n 1)
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "error: udam did not start; see its log:" >&2; cat "$work/stderr" >&2; exit 1; }
curl -fsS "$base/api/openapi.json" -o "$work/openapi.json"
generate "$work/openapi.json" "$work/out"
cp "$work/out/typescript/src/schema.ts" clients/typescript/src/schema.ts
rm -rf clients/python/udam_client
mv "$work/out/python/udam_client" clients/python/udam_client
echo "regenerated clients/typescript/src/schema.ts and clients/python/udam_client from $base/api/openapi.json"
