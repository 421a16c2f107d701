#!/usr/bin/env bash
# Batch benchmark (docs/benchmarks.md): N demo declarations of 3 items each, generated with
# `aduana demo generate`, sent with `aduana batch submit` to a local server on SQLite and on
# PostgreSQL. Prints one JSON line per run: declarations/s end to end (the CLI's wall clock from
# the first byte to the completed batch), the server's peak RSS (VmHWM), and how long the
# declarations projection took to catch up after the batch completed.
#
#   scripts/bench-batch.sh [N...]            (default: 10000 100000)
#   ADMIN_URL=postgres://... BACKENDS="sqlite postgres" scripts/bench-batch.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
BACKENDS=${BACKENDS:-sqlite postgres}
SIZES=${*:-10000 100000}
PG="${ADMIN%/*}/aduana_bench_batch"
BIN=target/release/aduana
cargo build --release -q -p api
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # backend, declarations, then store flags
  local label=$1 n=$2; shift 2
  local dir port pid token summary hwm lagged start
  dir=$(mktemp -d -p "$work")
  port=$((18700 + RANDOM % 500))
  "$BIN" reference import --sample --data-dir "$dir" "$@" >/dev/null 2>&1
  "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" "$@" 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  token=$("$BIN" token issue --subject bench --role declarant --org DEMO --data-dir "$dir" "$@" 2>/dev/null | tail -n 1)
  summary=$("$BIN" batch submit "$work/batch-$n.ndjson" --server "http://127.0.0.1:$port" \
    --token "$token" --no-progress --batch-id "$(cat /proc/sys/kernel/random/uuid)" 2>/dev/null)
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  # Projection lag: until the declarations projection's checkpoint reaches the log's head.
  start=$(date +%s.%N)
  for _ in $(seq 1 3000); do
    if [ "$label" = sqlite ]; then
      lagged=$(python3 -c "import sqlite3; c=sqlite3.connect('$dir/aduana.db'); print(c.execute(\"select (select max(position) from events where category='declaration') - position from projection_generations where name='declarations' and state='serving'\").fetchone()[0])")
    else
      lagged=$(psql "$PG" -AtqX -c "select (select max(position) from events where category='declaration') - position from projection_generations where name='declarations' and state='serving'")
    fi
    [ "$lagged" -le 0 ] 2>/dev/null && break
    sleep 0.2
  done
  lagged=$(echo "$(date +%s.%N) - $start" | bc)
  echo "$summary" | python3 -c "
import json,sys
s=json.load(sys.stdin)
print(json.dumps({'backend':'$label','declarations':$n,'items_per_declaration':3,
  'status':s.get('status'),'accepted':s.get('accepted'),'rejected':s.get('rejected'),
  'seconds':round(s.get('elapsedSeconds',0),2),
  'declarations_per_s':round($n/max(s.get('elapsedSeconds',1),1e-9)),
  'server_peak_rss_mb':round($hwm/1024),'projection_behind_s':round(float('$lagged'),1)}))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for n in $SIZES; do
  "$BIN" demo generate --declarations "$n" --items 3 --seed 1 > "$work/batch-$n.ndjson"
  for backend in $BACKENDS; do
    case $backend in
      sqlite) run sqlite "$n" ;;
      postgres)
        psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_batch" -c "CREATE DATABASE aduana_bench_batch" 2>/dev/null
        run postgres "$n" --database "$PG"
        psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_batch" 2>/dev/null ;;
    esac
  done
done
