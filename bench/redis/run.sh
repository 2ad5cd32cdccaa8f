#!/usr/bin/env bash
# bench/redis/run.sh - make bench-redis (also run by make bench): the Redis
# module against Celery and RQ, side by side in one run, and
# redis-benchmark's XADD rate: the engine's ceiling.  Prints a table and
# writes it to docs/bench/redis.md.
#
# Each system is measured the same way (redis_bench.c, peer_common.py):
# a fresh private redis-server on a unix socket (no TCP, no persistence),
# WORKERS worker processes started and serving before anything is timed,
# then the throughput of TASKS no-op tasks (submitted one by one, then a
# wait for every result) and ROUNDTRIPS one-at-a-time round trips (p50,
# p99), with 1, 2 and 4 worker processes.  The forms, for each T in
# THREADS (default "2 16": the concurrency of one worker process):
#
#   tpool/T   tpool-redis-worker processes of T threads, the C client
#   celery/T  celery worker processes, prefork pool of T children each,
#             the redis broker and result backend (peer_celery.py)
#   rq        rq worker processes of class SimpleWorker, one job at a time
#             (RQ has no concurrency within a process; peer_rq.py says
#             why not the forking Worker)
#
# tpool/T is compared with celery/T: the same worker processes running
# the same number of tasks at once.
#
# ROUNDS rounds (default 3); each round measures every system at every
# worker count, the systems in an order that rotates from round to round,
# so that a change in the machine's load falls on all of them alike, and
# then the engine's ceiling: redis-benchmark's XADD of the same (empty)
# payload on the same server flags, 50 connections, unpipelined and
# pipelined by 64.  The table gives the median and the min-max range over
# the rounds, the ratios tpool/peer for throughput and peer/tpool for
# latency (> 1: tpool better), and ceiling/tpool (the target: at most 2).
# The Python peers get fewer tasks (PEER_TASKS, PEER_ROUNDTRIPS): they are
# 20 times slower, and the figures are per task.
#
# Celery 5.2 and RQ 1.13 are Debian's python3-celery and python3-rq, for
# /usr/bin/python3; installed with apt-get when missing (as root), else
# left out of the table with a note.  PEERS="" measures tpool alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
tasks=${TASKS:-15000}
rts=${ROUNDTRIPS:-2000}
ptasks=${PEER_TASKS:-1500}
prts=${PEER_ROUNDTRIPS:-400}
rounds=${ROUNDS:-3}
threads=${THREADS:-2 16}
peers=${PEERS-celery rq}
py=/usr/bin/python3
# The peers and their workers import from bench/redis: leave no __pycache__.
export PYTHONDONTWRITEBYTECODE=1

cmake -S . -B build-redis -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPOOL_REDIS=ON \
    -DTPOOL_REDIS_TESTS=ON -DTPOOL_EXAMPLES=OFF >/dev/null
cmake --build build-redis -j"$(nproc)" --target tpr_bench >/dev/null
bin=build-redis/src/redis/tests/tpr_bench

# The peers that can run: each Python package importable by /usr/bin/python3,
# installed from Debian when it is not and we can.
have_peer() { [ -x "$py" ] && "$py" -c "import $1" >/dev/null 2>&1; }
missing=()
for p in $peers; do have_peer "$p" || missing+=("python3-$p"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench-redis: installing ${missing[*]} (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 ||
        echo "bench-redis: apt-get install ${missing[*]} failed" >&2
fi
run_peers=()
notes=()
for p in $peers; do
    if have_peer "$p"; then
        run_peers+=("$p")
    else
        notes+=("$p: not measured (install Debian's python3-$p)")
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
systems=()
for t in $threads; do systems+=("tpool/$t"); done
for p in "${run_peers[@]+"${run_peers[@]}"}"; do
    if [ "$p" = celery ]; then
        for t in $threads; do systems+=("celery/$t"); done
    else
        systems+=("$p")
    fi
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
for ((r = 0; r < rounds; r++)); do
    for w in 1 2 4; do
        n=${#systems[@]}
        for ((k = 0; k < n; k++)); do
            s=${systems[$(((r + k) % n))]}
            echo "bench-redis: round $((r + 1))/$rounds, $w worker(s), $s" >&2
            base=${s%%/*}
            conc=1
            [ "$base" = "$s" ] || conc=${s#*/}
            if [ "$base" = tpool ]; then
                line=$(TPR_BENCH_THREADS=$conc "$bin" "$w" "$tasks" "$rts")
            elif ! line=$(CELERY_CONCURRENCY=$conc "$py" \
                "bench/redis/peer_$base.py" "$w" "$ptasks" "$prts"); then
                # A peer that fails loses its cell, not the run.
                notes+=("$s: round $((r + 1)), $w worker(s) failed (see above)")
                continue
            fi
            printf '%s\t%d\t%s\n' "$s" "$r" "$line" >>"$work/results.tsv"
        done
    done
    # The engine's ceiling, in every round: redis-benchmark's XADD of the
    # same (empty) payload, unpipelined and pipelined by 64.
    echo "bench-redis: round $((r + 1))/$rounds, redis-benchmark XADD" >&2
    TPR_BENCH_XADD=1 "$bin" 1 1000 10 | grep "^XADD" >"$work/xadd.txt" || true
    rates=$(sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' \
        "$work/xadd.txt" | paste -sd' ')
    if [ -n "$rates" ]; then
        printf 'xadd\t%d\t%s\n' "$r" "$rates" >>"$work/xadd.tsv"
    fi
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "date=$(date -u +%Y-%m-%d)"
    echo "cpus=$(nproc)"
    echo "redis=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    for p in "${run_peers[@]}"; do
        echo "$p=$("$py" -c "import $p; print($p.__version__)")"
    done
    echo "load=$load0 / $load1"
    echo "seconds=$(($(date +%s) - t0))"
    echo "tasks=$tasks"
    echo "roundtrips=$rts"
    echo "peer_tasks=$ptasks"
    echo "peer_roundtrips=$prts"
    echo "rounds=$rounds"
    echo "threads=$threads"
    for note in "${notes[@]+"${notes[@]}"}"; do echo "note=$note"; done
} >"$work/meta.txt"
touch "$work/xadd.tsv" "$work/xadd.txt"
python3 bench/redis/table.py "$work/results.tsv" "$work/xadd.tsv" \
    "$work/xadd.txt" "$work/meta.txt" >"$work/redis.md"
cat "$work/redis.md"
mkdir -p docs/bench
cp "$work/redis.md" docs/bench/redis.md
