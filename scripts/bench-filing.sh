#!/usr/bin/env bash
# Filing benchmark (docs/benchmarks.md): declarations of 5 items filed through GraphQL over HTTP
# on loopback at a fixed rate (open loop), against a server on SQLite and one on PostgreSQL.
# Each answer carries the lane and the assessed duties. Prints one JSON line per backend.
#
#   scripts/bench-filing.sh [ADMIN_URL] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${1:-postgres://postgres@127.0.0.1:5432/test}
RATE=${2:-200}
DURATION=${3:-30}
PG="${ADMIN%/*}/aduana_bench"
BIN=target/release/aduana
cargo build --release -q -p api

run() { # label, then store flags
  local label=$1; shift
  local dir port pid token
  dir=$(mktemp -d)
  port=$((18200 + RANDOM % 500))
  "$BIN" reference import --sample --data-dir "$dir" "$@" >/dev/null 2>&1
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" "$@" 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  token=$("$BIN" token issue --subject bench --role declarant --org BENCH --data-dir "$dir" 2>/dev/null | tail -n 1)
  "$BIN" bench file --server "http://127.0.0.1:$port" --token "$token" --declarant BENCH \
    --rate "$RATE" --seconds "$DURATION" --items 5 2>/dev/null | sed "s/^{/{\"backend\":\"$label\",/"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

run sqlite
psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench" -c "CREATE DATABASE aduana_bench" 2>/dev/null
run postgres --database "$PG"
psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench" 2>/dev/null
