#!/usr/bin/env bash
# Event store benchmarks (docs/benchmarks.md). Each PostgreSQL figure is measured next to its
# raw limit (../shared/tools/pg-limit.py: pgbench inserting rows of the same shape), both on a
# freshly created database, alternating, so machine noise hits both alike. Prints JSON lines.
#
#   scripts/bench-store.sh [ADMIN_URL] [ROUNDS]
#
# ADMIN_URL names a PostgreSQL database the script can create the scratch database
# `aduana_bench` from (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${1:-postgres://postgres@127.0.0.1:5432/test}
ROUNDS=${2:-2}
PG="${ADMIN%/*}/aduana_bench"
LIMIT=../shared/tools/pg-limit.py
BIN=target/release/aduana
cargo build --release -q -p api

fresh_pg() { psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench" -c "CREATE DATABASE aduana_bench" 2>/dev/null; }
fresh_sqlite() { rm -rf /tmp/aduana-bench && mkdir -p /tmp/aduana-bench; }
run() { "$BIN" "$@" 2>/dev/null; }

for round in $(seq 1 "$ROUNDS"); do
  echo "# round $round"
  fresh_pg; python3 "$LIMIT" --url "$PG" --rows 1 --clients 16 2>/dev/null
  fresh_pg; run bench append --database "$PG" --writers 16 --events 5000 --batch 1
  fresh_pg; python3 "$LIMIT" --url "$PG" --rows 100 --clients 16 2>/dev/null
  fresh_pg; run bench append --database "$PG" --writers 16 --events 20000 --batch 100
  run bench read --database "$PG"
  fresh_pg; run bench stream-growth --database "$PG" --events 1000

  fresh_sqlite; run bench append --data-dir /tmp/aduana-bench --writers 1 --events 2000 --batch 1
  fresh_sqlite; run bench append --data-dir /tmp/aduana-bench --writers 16 --events 2000 --batch 1
  fresh_sqlite; run bench append --data-dir /tmp/aduana-bench --writers 16 --events 20000 --batch 100
  run bench read --data-dir /tmp/aduana-bench
  fresh_sqlite; run bench stream-growth --data-dir /tmp/aduana-bench --events 1000
done
psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench" 2>/dev/null
