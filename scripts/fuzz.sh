#!/usr/bin/env bash
# fuzz.sh: build the libFuzzer build dir (clang) and run every fuzz target for N seconds
# each (default 60), seeded from tests/fuzz/corpus/<target>/. Fails on any crash, hang
# (one input over 10 s), memory blow-up (libFuzzer's 2 GiB rss limit) or sanitizer report,
# even one that did not stop the fuzzer; the crashing input is left in build-fuzz/artifacts/
# to be kept as a regression seed. CI (.ci/run) runs `scripts/fuzz.sh 60 frame request`.
#   usage: scripts/fuzz.sh [seconds] [target...]      (env BUILD_DIR, default build-fuzz)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh clang libclang-rt-14-dev   # clang and its libFuzzer runtime
secs=${1:-60}
shift || true
build=${BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzzing_engine=libfuzzer -Db_lundef=false \
        -Db_sanitize=address,undefined >/dev/null
fi
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(sed -n "s/^ *'\([a-z_]*\)',\$/\1/p" tests/fuzz/meson.build)
fi
# Only the fuzz executables: the rest of the tree need not build under clang for this.
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}"
mkdir -p "$build/artifacts" "$build/corpus"
status=0
for t in "${targets[@]}"; do
    exe="$build/tests/fuzz/fuzz_$t"
    [ -x "$exe" ] || { echo "fuzz.sh: no target $exe" >&2; status=1; continue; }
    work="$build/corpus/$t"
    mkdir -p "$work"
    echo "== fuzz_$t: ${secs}s"
    if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
        "$exe" -max_total_time="$secs" -timeout=10 -artifact_prefix="$build/artifacts/fuzz_$t-" \
        -print_final_stats=1 "$work" "tests/fuzz/corpus/$t" 2>"$build/fuzz_$t.log"; then
        echo "fuzz.sh: fuzz_$t crashed; see $build/fuzz_$t.log and $build/artifacts/" >&2
        tail -40 "$build/fuzz_$t.log" >&2
        status=1
    elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' \
        "$build/fuzz_$t.log"; then
        echo "fuzz.sh: fuzz_$t: sanitizer report in $build/fuzz_$t.log" >&2
        grep -E -A20 'ERROR: |runtime error:' "$build/fuzz_$t.log" | head -40 >&2
        status=1
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$build/fuzz_$t.log" || true
done
exit $status
