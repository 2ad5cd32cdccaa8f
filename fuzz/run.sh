#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [--smoke] - build the libFuzzer harness, run it.
#
#   make fuzz SECONDS=3600   a long run (default 600 s)
#   make fuzz-smoke          60 s, part of make test
#
# The harness (fuzz/fuzz_api.c) and the library are compiled together with
# clang -fsanitize=fuzzer,address,undefined into build-fuzz/fuzz_api.  The
# seed corpus is fuzz/corpus/ (in the repository, read only); what the
# fuzzer finds goes to build-fuzz/corpus/, which persists between runs on
# one machine, so coverage builds up.  A failing input is saved as
# build-fuzz/crash-* (or leak-*, timeout-*); reproduce it with
#   build-fuzz/fuzz_api build-fuzz/crash-...
# (FUZZ_API_TRACE=1 in the environment prints the pool calls it makes; the
# pool's threads make some failures depend on timing: add -runs=10000 to
# replay it that many times).
# A single input that runs longer than 10 s counts as a failure (timeout):
# the harness never blocks, so a hang is a bug.
#
# clang and libFuzzer are Debian packages (clang, libclang-rt-14-dev),
# installed by lint/need.sh when missing and possible.  Without them
# --smoke skips with a message (exit 0; make test lists it as skipped); a
# plain run fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
secs=${1:-600}
smoke=0
[ "${2:-}" = --smoke ] && smoke=1
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [--smoke]" >&2; exit 2 ;; esac

if ! bash lint/need.sh clang libfuzzer; then
    if [ "$smoke" = 1 ]; then
        echo "fuzz: SKIPPED: clang with libFuzzer is not available (Debian: clang libclang-rt-14-dev)"
        exit 0
    fi
    echo "fuzz: FAILED: clang with libFuzzer is needed (Debian: clang libclang-rt-14-dev)" >&2
    exit 1
fi

out=build-fuzz
mkdir -p "$out/corpus"
# The library's sources as CMake builds them (every src/*.c), with the
# sanitizers; -O1 keeps the stack traces readable.
if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Iinclude -Isrc src/*.c fuzz/fuzz_api.c -pthread \
    -o "$out/fuzz_api"; then
    echo "fuzz: FAILED: the harness does not build" >&2
    exit 1
fi

log=$out/last-run.log
# RSS limit: ASan's quarantine (256 MiB) and libFuzzer's tables grow to
# about 1 GiB in a 10-minute run; 6 GiB leaves room for long runs and still
# stops a runaway input.
echo "fuzz: running ${secs} s (log: $log)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_api" -max_total_time="$secs" -max_len=1024 -timeout=10 \
    -rss_limit_mb=6144 -print_final_stats=1 -artifact_prefix="$out/" \
    "$out/corpus" fuzz/corpus >"$log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
files=$(find "$out/corpus" -type f | wc -l)
bytes=$(find "$out/corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
seeds=$(find fuzz/corpus -type f | wc -l)
if [ "$rc" -ne 0 ]; then
    grep -E 'check failed|ERROR|SUMMARY|Test unit written' "$log" >&2
    echo "fuzz: FAILED after ${execs:-?} executions (full log: $log);" \
        "reproduce with: $out/fuzz_api <the test unit above>" >&2
    exit 1
fi
echo "fuzz: passed: ${execs:-?} executions in ${secs} s (${rate:-?}/s)," \
    "${cov:-cov ?}, corpus ${files} files (${bytes} bytes) + ${seeds} seeds, 0 failures"
