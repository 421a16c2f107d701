#!/usr/bin/env bash
# Batch recovery soak test (not in CI; docs/batch-recovery.md). For each backend, on a fresh
# database holding the sample reference data, cycle after cycle until --cycles of them were
# killed mid-batch (at most twice that many cycles):
#   1. starts `aduana serve` (release binary) and sends a batch of N valid declarations with a
#      fresh Idempotency-Key, throttled (curl --limit-rate);
#   2. kills the server with SIGKILL once a random share (0-80 %) of the items is recorded;
#   3. starts it again on the same database and sends the whole batch again with the same key;
#   4. waits for the declarations projection, stops the server (SIGTERM) and counts, in the
#      event log, the cycle's declarations: lost = LRNs without a filing event, duplicated =
#      DeclarationFiled events beyond one per LRN; and read-model rows that do not match their
#      stream's version.
# A cycle whose batch completed before the kill is checked all the same but not counted as a
# kill mid-batch. Prints one line per cycle and a total per backend; exits 1 when anything was
# lost, duplicated, rejected or left unfinished, when too few cycles were killed mid-batch, or
# when `aduana verify` finds a broken chain.
#
#   scripts/batch-soak.sh [--cycles 20] [--declarations 5000] [--backend both|sqlite|postgres]
#                         [--rate 2M] [--batch-concurrency N] [--keep]
#
# PostgreSQL: a database `aduana_soak_<random>` is created on the server named by
# ADUANA_SOAK_DATABASE_URL, else ADUANA_TEST_DATABASE_URL, else
# postgres://postgres@127.0.0.1:5432/postgres, and dropped at the end (kept with --keep).
# Declarations come from `aduana demo generate` when the binary has it, else from a small
# generator below (two laptop lines from the US, CIF in dollars). Needs curl, python3, sqlite3
# and psql.
set -euo pipefail
cd "$(dirname "$0")/.."

CYCLES=20
DECLARATIONS=5000
BACKENDS="sqlite postgres"
RATE=2M
CONCURRENCY=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cycles) CYCLES=$2; shift 2 ;;
    --declarations) DECLARATIONS=$2; shift 2 ;;
    --backend) case "$2" in both) BACKENDS="sqlite postgres" ;; *) BACKENDS=$2 ;; esac; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --batch-concurrency) CONCURRENCY=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ADMIN_URL=${ADUANA_SOAK_DATABASE_URL:-${ADUANA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
BIN=${ADUANA_BIN:-target/release/aduana}
if [ -z "${ADUANA_BIN:-}" ]; then
  cargo build --release -q -p api --bin aduana
fi
ORG=SOAK
WORK=$(mktemp -d)
SERVER_PID=""
PG_DB=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ] && [ "$KEEP" = 0 ]; then
    psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; else echo "kept $WORK ${PG_DB:+and database $PG_DB}"; fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# SQL on the current backend's database; rows as `a|b|c`.
sql() {
  case "$BACKEND" in
    sqlite) sqlite3 -batch -noheader "$DB_FILE" "$1" ;;
    postgres) psql "$DB_URL" -XAtq -c "$1" ;;
  esac
}

# JSON field of a file written by curl (empty when absent or not JSON).
field() {
  python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))
except Exception: print("")' "$1" "$2"
}

start_server() { # log file
  local log=$1 addr=""
  "$BIN" serve --listen 127.0.0.1:0 --log-format json "${STORE[@]}" ${CONCURRENCY:+--batch-concurrency "$CONCURRENCY"} \
    >/dev/null 2>"$log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    addr=$(grep -o '"message":"listening","addr":"[^"]*"' "$log" | head -n 1 | sed 's/.*"addr":"\([^"]*\)"/\1/' || true)
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "aduana serve exited:" >&2; tail -n 20 "$log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "aduana serve did not listen:" >&2; tail -n 20 "$log" >&2; exit 1; }
  BASE="http://$addr"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ready")" = 200 ] && return 0
    sleep 0.1
  done
  echo "aduana serve not ready:" >&2; tail -n 20 "$log" >&2; exit 1
}

stop_server() { # signal
  kill "-$1" "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Writes N declarations to a file; prints the LRN prefix they share.
generate() { # seed, file
  if [ "$HAVE_DEMO" = 1 ]; then
    "$BIN" demo generate --declarations "$DECLARATIONS" --seed "$1" --declarant "$ORG" >"$2"
    echo "DEMO-$1-"
  else
    python3 - "$DECLARATIONS" "$1" "$ORG" >"$2" <<'PY'
import json, sys
n, seed, org = int(sys.argv[1]), sys.argv[2], sys.argv[3]
item = lambda v: {"hsCode": "8471300000", "description": "Portable computers",
                  "originCountry": "US", "quantity": "10", "unit": "H87", "netMass": "25.5",
                  "grossMass": "30", "invoiceValue": v}
for i in range(1, n + 1):
    print(json.dumps({"header": {"declarationType": "import", "lrn": f"SOAK-{seed}-{i:06}",
        "declarant": org, "importer": "IMP42", "customsOffice": "30", "transportMode": "40",
        "dispatchCountry": "US", "incoterm": "CIF", "invoiceCurrency": "USD",
        "invoiceAmount": "1500.00"}, "items": [item("1000.00"), item("500.00")]}))
PY
    echo "SOAK-$1-"
  fi
}

post() { # file, key, output, extra curl options...
  local file=$1 key=$2 out=$3; shift 3
  curl -s -o "$out" -w '%{http_code}' "$@" -X POST "$BASE/api/v1/batches" \
    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/x-ndjson" \
    -H "Idempotency-Key: $key" --data-binary @"$file" || true
}

# The batch's last event and its recorded item count, read from the database.
batch_progress() { # key
  local items
  case "$BACKEND" in
    sqlite) items="json_extract(payload, '\$.totals.items')" ;;
    postgres) items="(payload->'totals'->>'items')::bigint" ;;
  esac
  sql "SELECT event_type, COALESCE($items, 0) FROM events WHERE stream_id = 'batch-$1' ORDER BY stream_version DESC LIMIT 1" | tr '|' ' '
}

status_items() { # key
  curl -s -m 5 -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/batches/$1" -o "$WORK/status.json" || true
  echo "$(field "$WORK/status.json" status) $(field "$WORK/status.json" items)"
}

if "$BIN" demo generate --help >/dev/null 2>&1; then HAVE_DEMO=1; else HAVE_DEMO=0; fi
FAILED=0
SUMMARY=()

for BACKEND in $BACKENDS; do
  DIR="$WORK/$BACKEND"
  mkdir -p "$DIR"
  case "$BACKEND" in
    sqlite)
      DB_FILE="$DIR/aduana.db"
      DB_URL="sqlite://$DB_FILE"
      ;;
    postgres)
      PG_DB="aduana_soak_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
      psql "$ADMIN_URL" -qX -c "CREATE DATABASE $PG_DB" >/dev/null
      DB_URL="${ADMIN_URL%%\?*}"
      DB_URL="${DB_URL%/*}/$PG_DB"
      ;;
    *) echo "unknown backend $BACKEND" >&2; exit 2 ;;
  esac
  STORE=(--database "$DB_URL" --data-dir "$DIR")
  "$BIN" reference import --sample "${STORE[@]}" >/dev/null 2>"$DIR/import.log"
  TOKEN=$("$BIN" token issue --subject soak --role declarant --org "$ORG" --ttl 1d "${STORE[@]}" 2>/dev/null | tail -n 1)
  echo "== $BACKEND: $CYCLES kills mid-batch, batches of $DECLARATIONS declarations, upload at $RATE/s, generator: $([ "$HAVE_DEMO" = 1 ] && echo 'aduana demo generate' || echo inline)${CONCURRENCY:+, batch concurrency $CONCURRENCY}"
  T_LOST=0; T_DUP=0; T_REJ=0; T_MISMATCH=0; T_FAIL=0; T_MID=0; T_DECL=0

  cycle=0
  while [ "$T_MID" -lt "$CYCLES" ] && [ "$cycle" -lt $((2 * CYCLES)) ]; do
    cycle=$((cycle + 1))
    file="$DIR/batch.ndjson"
    prefix=$(generate "$cycle" "$file")
    key=$(cat /proc/sys/kernel/random/uuid)
    start_pos=$(sql "SELECT COALESCE(MAX(position), 0) FROM events")
    # The kill lands once a random share (0-80 %) of the items is recorded, 0-0.3 s later.
    target=$((RANDOM * DECLARATIONS * 8 / 10 / 32768))
    jitter_ms=$((RANDOM % 300))
    started=$(now_ms)

    start_server "$DIR/serve-$cycle-a.log"
    post "$file" "$key" "$DIR/first.json" --limit-rate "$RATE" >/dev/null &
    curl_pid=$!
    for _ in $(seq 1 1200); do
      read -r seen_event seen_items <<<"$(batch_progress "$key")"
      [ "$seen_event" = BatchCompleted ] && break
      [ -n "$seen_items" ] && [ "$seen_items" -ge "$target" ] && break
      sleep 0.05
    done
    sleep "0.$(printf '%03d' "$jitter_ms")"
    kill_ms=$(($(now_ms) - started))
    stop_server 9
    wait "$curl_pid" 2>/dev/null || true

    start_server "$DIR/serve-$cycle-b.log"
    read -r restart_status restart_items <<<"$(status_items "$key")"
    case "$restart_status" in processing|interrupted) T_MID=$((T_MID + 1)) ;; esac
    code=""
    resent=$(now_ms)
    for attempt in 1 2 3; do
      code=$(post "$file" "$key" "$DIR/second.json" -m 300)
      [ "$code" = 200 ] && break
      echo "   cycle $cycle: resubmission $attempt answered ${code:-nothing}: $(head -c 300 "$DIR/second.json" 2>/dev/null)" >&2
      sleep 2
    done
    b_status=$(field "$DIR/second.json" status)
    b_items=$(field "$DIR/second.json" items)
    b_accepted=$(field "$DIR/second.json" accepted)
    b_replayed=$(field "$DIR/second.json" replayed)
    resend_ms=$(($(now_ms) - resent))

    # The read model has applied every declaration event.
    caught_up=0
    for _ in $(seq 1 600); do
      if [ "$(sql "SELECT CASE WHEN (SELECT COALESCE(MAX(position), 0) FROM events WHERE category = 'declaration') <= (SELECT COALESCE(MAX(position), 0) FROM projection_generations WHERE name = 'declarations' AND state = 'serving') THEN 1 ELSE 0 END")" = 1 ]; then
        caught_up=1; break
      fi
      sleep 0.1
    done
    stop_server TERM

    case "$BACKEND" in
      sqlite) lrn_filed="json_extract(payload, '\$.data.header.lrn')"; lrn_rejected="json_extract(payload, '\$.filing.header.lrn')" ;;
      postgres) lrn_filed="payload->'data'->'header'->>'lrn'"; lrn_rejected="payload->'filing'->'header'->>'lrn'" ;;
    esac
    IFS='|' read -r filed_lrns filed_events <<<"$(sql "SELECT COUNT(DISTINCT $lrn_filed), COUNT(*) FROM events WHERE position > $start_pos AND event_type = 'DeclarationFiled' AND $lrn_filed LIKE '$prefix%'")"
    rejected=$(sql "SELECT COUNT(*) FROM events WHERE position > $start_pos AND event_type = 'DeclarationRejected' AND $lrn_rejected LIKE '$prefix%'")
    answered=$(sql "SELECT COUNT(*) FROM (SELECT $lrn_filed AS lrn FROM events WHERE position > $start_pos AND event_type = 'DeclarationFiled' UNION SELECT $lrn_rejected FROM events WHERE position > $start_pos AND event_type = 'DeclarationRejected') AS l WHERE lrn LIKE '$prefix%'")
    rows_ok=$(sql "SELECT COUNT(*) FROM declarations d JOIN (SELECT stream_id, MAX(stream_version) AS v FROM events WHERE position > $start_pos AND category = 'declaration' GROUP BY stream_id) e ON e.stream_id = 'declaration-' || d.id WHERE d.lrn LIKE '$prefix%' AND d.version = e.v")
    rows=$(sql "SELECT COUNT(*) FROM declarations WHERE lrn LIKE '$prefix%'")

    lost=$((DECLARATIONS - answered))
    dup=$((filed_events - filed_lrns))
    mismatch=$((answered - rows_ok + rows - rows_ok))
    fail=0
    if [ "$code" != 200 ] || [ "$b_status" != completed ] || [ "$b_items" != "$DECLARATIONS" ] \
      || [ "$b_accepted" != "$DECLARATIONS" ] || [ "$caught_up" != 1 ]; then
      fail=1
    fi
    T_LOST=$((T_LOST + lost)); T_DUP=$((T_DUP + dup)); T_REJ=$((T_REJ + rejected))
    T_MISMATCH=$((T_MISMATCH + mismatch)); T_FAIL=$((T_FAIL + fail)); T_DECL=$((T_DECL + filed_lrns))
    printf '%-8s cycle %2d: killed at %5d ms, %s with %s items recorded; resent in %5d ms: %s, %s/%s accepted, %s replayed; declarations %d, lost %d, duplicated %d, rejected %d, read-model mismatches %d%s (%.1f s)\n' \
      "$BACKEND" "$cycle" "$kill_ms" "${restart_status:-not received}" "${restart_items:-0}" \
      "$resend_ms" "${b_status:-FAILED}" "${b_accepted:-?}" "$DECLARATIONS" "${b_replayed:-?}" \
      "$filed_lrns" "$lost" "$dup" "$rejected" "$mismatch" "$([ "$fail" = 1 ] && echo ', FAILED' || true)" \
      "$(python3 -c "print(($(now_ms) - $started) / 1000)")"
    rm -f "$DIR"/serve-"$cycle"-*.log
  done

  verify_ok=1
  if ! "$BIN" verify "${STORE[@]}" >"$DIR/verify.json" 2>"$DIR/verify.log"; then
    verify_ok=0
    echo "aduana verify failed on $BACKEND: $(head -c 500 "$DIR/verify.json")" >&2
  fi
  line=$(printf '%-8s total: %d cycles (%d killed mid-batch), %d declarations; lost %d, duplicated %d, rejected %d, read-model mismatches %d, failed cycles %d, verify %s' \
    "$BACKEND" "$cycle" "$T_MID" "$T_DECL" "$T_LOST" "$T_DUP" "$T_REJ" "$T_MISMATCH" "$T_FAIL" "$([ "$verify_ok" = 1 ] && echo ok || echo BROKEN)")
  echo "$line"
  SUMMARY+=("$line")
  if [ "$T_MID" -lt "$CYCLES" ]; then
    echo "$BACKEND: only $T_MID of $cycle cycles were killed mid-batch (wanted $CYCLES)" >&2
    FAILED=1
  fi
  if [ "$T_LOST" != 0 ] || [ "$T_DUP" != 0 ] || [ "$T_REJ" != 0 ] || [ "$T_MISMATCH" != 0 ] \
    || [ "$T_FAIL" != 0 ] || [ "$verify_ok" != 1 ]; then
    FAILED=1
  fi
  if [ "$BACKEND" = postgres ] && [ "$KEEP" = 0 ]; then
    psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
    PG_DB=""
  fi
done

echo "== summary"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
