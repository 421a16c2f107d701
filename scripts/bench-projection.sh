#!/usr/bin/env bash
# Projection catch-up benchmark (docs/benchmarks.md): N demo declarations of 3 items each are
# filed through a batch on a local server (SQLite and PostgreSQL); the server is stopped, then
# `aduana bench projection` empties the declarations read model and times its rebuild from
# position 0. Prints one JSON line per backend (events/s of the projection's own events).
#
#   scripts/bench-projection.sh [N]           (default: 20000)
#   ADMIN_URL=postgres://... BACKENDS="postgres" scripts/bench-projection.sh 100000
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
BACKENDS=${BACKENDS:-sqlite postgres}
N=${1:-20000}
PG="${ADMIN%/*}/aduana_bench_projection"
BIN=${BIN:-target/release/aduana}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p api
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" demo generate --declarations "$N" --items 3 --seed 1 > "$work/batch.ndjson"

run() { # then store flags
  local dir port pid token
  dir=$(mktemp -d -p "$work")
  port=$((18700 + RANDOM % 500))
  "$BIN" reference import --sample --data-dir "$dir" "$@" >/dev/null 2>&1
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" "$@" 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  token=$("$BIN" token issue --subject bench --role declarant --org DEMO --data-dir "$dir" "$@" 2>/dev/null | tail -n 1)
  "$BIN" batch submit "$work/batch.ndjson" --server "http://127.0.0.1:$port" --token "$token" \
    --no-progress --batch-id "$(cat /proc/sys/kernel/random/uuid)" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  "$BIN" bench projection --projection declarations --data-dir "$dir" "$@" 2>/dev/null
}

for backend in $BACKENDS; do
  case $backend in
    sqlite) run ;;
    postgres)
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_projection" -c "CREATE DATABASE aduana_bench_projection" 2>/dev/null
      run --database "$PG"
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_projection" 2>/dev/null ;;
  esac
done
