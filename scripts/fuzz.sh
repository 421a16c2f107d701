#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 60) and exits non-zero if
# any of them crashes (a panic, a failed property, a timeout or more than 512 MB of memory).
# See docs/fuzzing.md.
#
#   scripts/fuzz.sh [seconds]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Builds in
# $CARGO_TARGET_DIR if set, else fuzz/target. FUZZ_SANITIZER=none drops AddressSanitizer (the
# parsers are safe Rust; usually 2-6x the executions, see docs/fuzzing.md); default: address.
# New inputs go to fuzz/corpus-work/<target> (not committed); the seeds in fuzz/corpus/<target>
# are only read. Crashes land in fuzz/artifacts/<target>/, next to the run's log (fuzz.log).
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [seconds]" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/../fuzz"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

sanitizer="${FUZZ_SANITIZER:-address}"
cargo +nightly fuzz build -s "$sanitizer"
failed=()
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus-work/$target" "artifacts/$target"
    dict=()
    if [[ -f "dict/$target.dict" ]]; then
        dict=("-dict=dict/$target.dict")
    fi
    log="artifacts/$target/fuzz.log"
    echo "== $target: ${seconds}s"
    # -max_len 2 MiB: inputs may hold a line past MAX_LINE_BYTES (1 MiB). Inputs that splice
    # in a 1 MiB line cost ~1000 small ones: -entropic_scale_per_exec_time gives them less time.
    if cargo +nightly fuzz run -s "$sanitizer" "$target" "corpus-work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=2097152 -rss_limit_mb=512 -timeout=10 \
        -entropic_scale_per_exec_time=1 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
        grep -E '#[0-9]+.*cov:' "$log" | tail -n 1 || true
    else
        failed+=("$target")
        grep -m 1 -A 1 -E 'panicked|ERROR: libFuzzer' "$log" || true
        grep -E 'Test unit written|^Base64:' "$log" || tail -n 20 "$log"
        echo "== $target FAILED: see fuzz/$log and fuzz/artifacts/$target/" >&2
    fi
done

if ((${#failed[@]})); then
    echo "crashed: ${failed[*]}" >&2
    echo "minimize with: cargo +nightly fuzz tmin <target> fuzz/artifacts/<target>/crash-…" >&2
    exit 1
fi
echo "no crash"
