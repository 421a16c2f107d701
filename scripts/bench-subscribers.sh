#!/usr/bin/env bash
# WebSocket subscribers benchmark (docs/benchmarks.md, issue 6): a release server on SQLite and
# one on a fresh PostgreSQL database; against each, `aduana bench subscribers` opens N
# graphql-transport-ws connections subscribed to `events` after the log's head while it files
# declarations at RATE events/s for SECONDS, then reports the delivery lag percentiles, the
# exactly-once check of every subscriber, and the server's RSS and CPU. One JSON line per backend.
#
#   scripts/bench-subscribers.sh [N] [RATE] [SECONDS]     (default: 1000 1000 30)
#   ADMIN_URL=postgres://... BACKENDS="postgres" scripts/bench-subscribers.sh 1000 1000 30
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
BACKENDS=${BACKENDS:-sqlite postgres}
N=${1:-1000}
RATE=${2:-1000}
DURATION=${3:-30}
PG="${ADMIN%/*}/aduana_bench_subscribers"
BIN=target/release/aduana
# A subscriber is a socket in the bench and one in the server; both inherit this limit.
want=$((N + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want"
fi
cargo build --release -q -p api
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # then store flags
  local dir port pid token
  dir=$(mktemp -d -p "$work")
  port=$((18700 + RANDOM % 500))
  "$BIN" reference import --sample --data-dir "$dir" "$@" >/dev/null 2>&1
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" "$@" 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  # An admin reads every category (the role grants of integrators do not apply) and files for
  # any declarant.
  token=$("$BIN" token issue --subject bench --role admin --data-dir "$dir" "$@" 2>/dev/null | tail -n 1)
  "$BIN" bench subscribers --server "http://127.0.0.1:$port" --token "$token" --server-pid "$pid" \
    --subscribers "$N" --rate "$RATE" --seconds "$DURATION" 2>"$dir/bench.log" \
    || { echo "bench failed:" >&2; tail -n 5 "$dir/bench.log" >&2; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for backend in $BACKENDS; do
  case $backend in
    sqlite) run ;;
    postgres)
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_subscribers" -c "CREATE DATABASE aduana_bench_subscribers" 2>/dev/null
      run --database "$PG"
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_subscribers" 2>/dev/null ;;
  esac
done
