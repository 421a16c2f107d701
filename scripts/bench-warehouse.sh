#!/usr/bin/env bash
# Customs Data Warehouse benchmark (docs/benchmarks.md, issue 7), on a fresh SQLite database and
# a fresh PostgreSQL database: `aduana bench warehouse` fills the warehouse with N synthetic
# facts, times the cube queries (roll-up month × HS chapter and drill-down of chapter 84 into
# headings by month, each also read from the facts for comparison; top 10 origins by year), then
# appends D demo declarations as events and times the warehouse's rebuild from position 0.
# One JSON line per backend; the bench's log goes to $work/<backend>.log (shown on failure).
#
#   scripts/bench-warehouse.sh [N] [D] [RUNS]       (default: 1000000 50000 5)
#   ADMIN_URL=postgres://... BACKENDS="postgres" scripts/bench-warehouse.sh 1000000 50000
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
BACKENDS=${BACKENDS:-sqlite postgres}
N=${1:-1000000}
D=${2:-50000}
RUNS=${3:-5}
PG="${ADMIN%/*}/aduana_bench_warehouse"
BIN=${CARGO_TARGET_DIR:-target}/release/aduana
cargo build --release -q -p api
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # backend, then store flags
  local backend=$1
  shift
  "$BIN" bench warehouse --facts "$N" --declarations "$D" --runs "$RUNS" "$@" 2>"$work/$backend.log" \
    || { echo "bench failed on $backend:" >&2; tail -n 5 "$work/$backend.log" >&2; }
}

for backend in $BACKENDS; do
  case $backend in
    sqlite)
      mkdir -p "$work/sqlite"
      run sqlite --data-dir "$work/sqlite" ;;
    postgres)
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_warehouse" -c "CREATE DATABASE aduana_bench_warehouse" 2>/dev/null
      run postgres --database "$PG"
      psql "$ADMIN" -qX -c "DROP DATABASE IF EXISTS aduana_bench_warehouse" 2>/dev/null ;;
  esac
done
