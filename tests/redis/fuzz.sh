#!/usr/bin/env bash
# tests/redis/fuzz.sh [SECONDS] - build and run the Redis entry decoder's
# libFuzzer harness (fuzz/fuzz_redis_entry.c) with ASan and UBSan, seeded
# from fuzz/corpus-redis/ (read only; findings go to build-fuzz-redis/).
# Without clang and libFuzzer (lint/need.sh installs them when it can) it
# says "redis-fuzz: SKIPPED: ..." and exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-60}
if ! bash lint/need.sh clang libfuzzer >/dev/null 2>&1; then
    echo "redis-fuzz: SKIPPED: clang with libFuzzer is not available (Debian: clang libclang-rt-14-dev)"
    exit 0
fi
out=build-fuzz-redis
mkdir -p "$out/corpus"
if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Iinclude -Isrc/redis src/redis/codec.c src/redis/conn.c \
    fuzz/fuzz_redis_entry.c -lhiredis -pthread -o "$out/fuzz_redis_entry"; then
    echo "redis-fuzz: FAILED: the harness does not build" >&2
    exit 1
fi
"$out/fuzz_redis_entry" -max_total_time="$secs" -timeout=10 \
    -artifact_prefix="$out/" "$out/corpus" fuzz/corpus-redis 2>&1 | tail -n 3
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && echo "redis-fuzz: ${secs} s, no failure"
exit "$rc"
