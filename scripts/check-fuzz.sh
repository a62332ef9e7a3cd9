#!/usr/bin/env bash
# Bounded libFuzzer runs: every tests/fuzz/fuzz_<name>.c, built by the `fuzz`
# preset, runs for PYRO_FUZZ_SECONDS (default 60) seeded with
# tests/fuzz/corpus/<name>/. A crash, leak, sanitizer report or timeout fails
# the run; the reproducer is kept and named in the output.
#
# Usage: scripts/check-fuzz.sh [BUILD_DIR]       all targets, PYRO_FUZZ_JOBS (2) at a time
#        scripts/check-fuzz.sh BINARY CORPUS     one target (what ctest's fuzzrun.<name> runs)
#
# New inputs libFuzzer finds go to BUILD_DIR/fuzz-work/<name>/ (the source
# corpus is only read), so a later run starts from everything found so far.
# A reproducer worth keeping is copied into tests/fuzz/corpus/<name>/ by hand,
# once the bug it shows is fixed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${PYRO_FUZZ_SECONDS:-60}

run_one() {
    local bin=$1 corpus=$2 name work log rc
    name=$(basename "$bin")
    name=${name#fuzz_}
    work=$(dirname "$bin")/../../fuzz-work/$name
    rm -rf "$work/crashes"
    mkdir -p "$work/new" "$work/crashes"
    work=$(cd "$work" && pwd)
    log=$work/last-run.log
    [[ -d $corpus ]] || { echo "check-fuzz: $name: no corpus directory $corpus" >&2; return 1; }
    echo "check-fuzz: $name: ${secs}s from $(find "$corpus" -type f | wc -l) seed(s)"
    rc=0
    # -timeout: one input running over 10 s is a hang and fails the run.
    "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/crashes/" "$work/new" "$corpus" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        tail -n 60 "$log" >&2
        echo "check-fuzz: $name: FAILED (exit $rc); reproducer(s): $(ls -d "$work"/crashes/* 2>/dev/null | tr '\n' ' ')" >&2
        echo "check-fuzz: replay one with: $bin <file>; full log: $log" >&2
        return 1
    fi
    echo "check-fuzz: $name: ok ($(sed -n 's/^stat::number_of_executed_units: *//p' "$log") inputs," \
        "coverage $(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$log"))"
}

if (($# == 2)); then
    run_one "$1" "$2"
    exit
fi

build=${1:-$root/build-fuzz}
targets=()
for src in "$root"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    bin=$build/tests/fuzz/$name
    if [[ ! -x $bin ]]; then
        echo "check-fuzz: $bin missing: build the fuzz preset first (make fuzz)" >&2
        exit 2
    fi
    targets+=("$bin" "$root/tests/fuzz/corpus/${name#fuzz_}")
done
printf '%s\0' "${targets[@]}" |
    xargs -0 -n 2 -P "${PYRO_FUZZ_JOBS:-2}" "$0" && rc=0 || rc=$?
if ((rc != 0)); then
    echo "check-fuzz: FAILED" >&2
    exit 1
fi
echo "check-fuzz: ok ($((${#targets[@]} / 2)) target(s), ${secs}s each)"
