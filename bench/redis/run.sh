#!/usr/bin/env bash
# bench/redis/run.sh - make bench-redis (also run by make bench): the Redis
# module's throughput and round-trip latency with 1, 2 and 4 worker
# processes (2 threads each) against a private redis-server on a unix
# socket, and redis-benchmark's XADD rate on the same server: the engine's
# ceiling.  Prints a table and writes it to docs/bench/redis.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
tasks=${TASKS:-20000}
rts=${ROUNDTRIPS:-2000}
cmake -S . -B build-redis -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPOOL_REDIS=ON \
    -DTPOOL_REDIS_TESTS=ON -DTPOOL_EXAMPLES=OFF >/dev/null
cmake --build build-redis -j"$(nproc)" --target tpr_bench >/dev/null
bin=build-redis/src/redis/tests/tpr_bench
out=$(mktemp)
{
    echo "# Redis module benchmark"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, $(redis-server --version | cut -d' ' -f3), $tasks no-op tasks, $rts round trips, unix socket."
    echo
    echo "| worker processes | tasks/s | round trip p50 (us) | p99 (us) |"
    echo "|---|---|---|---|"
    for w in 1 2 4; do
        "$bin" "$w" "$tasks" "$rts" | awk -F '\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
    done
    echo
    echo "redis-benchmark XADD, same server (requests/s; unpipelined, then pipelined by 64):"
    echo
    echo '```'
    TPR_BENCH_XADD=1 "$bin" 1 1000 10 | grep "^XADD"
    echo '```'
} | tee "$out"
mkdir -p docs/bench
cp "$out" docs/bench/redis.md
rm -f "$out"
