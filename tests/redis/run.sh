#!/usr/bin/env bash
# tests/redis/run.sh - make test-redis: the Redis module's tests.
#
# Installs redis-server and libhiredis-dev from Debian's packages when they
# are missing and this runs as root with apt-get; without them, says
# "redis: SKIPPED: ..." (lint/summary.sh lists the step as skipped) and
# exits 0.  Then, in build folders of its own, builds only the module and
# its tests, and runs them (CTest label "redis") plain (build-redis/),
# under ASan with UBSan (build-redis-asan/) and under TSan
# (build-redis-tsan/), each configuration one CTest run reported through
# lint/summary.sh.  The tests start their own redis-server on a unix socket
# in a temporary folder; nothing else on the machine is touched.
# Afterwards, when clang with libFuzzer is there, 10 s of the entry
# decoder's fuzzer (fuzz/fuzz_redis_entry.c).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
summary="bash lint/summary.sh"
cmake=${CMAKE:-cmake}
ctest=${CTEST:-ctest}
jobs=$(nproc 2>/dev/null || echo 2)

have_deps() {
    command -v redis-server >/dev/null 2>&1 &&
        [ -f /usr/include/hiredis/hiredis.h ]
}
if ! have_deps; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-redis: installing redis-server libhiredis-dev (apt-get)"
        apt-get update -qq >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            redis-server libhiredis-dev >/dev/null 2>&1
    fi
fi
if ! have_deps; then
    $summary step redis echo "redis: SKIPPED: redis-server and libhiredis-dev are not installed (Debian: apt-get install redis-server libhiredis-dev)"
    exit 0
fi

status=0
run_config() { # NAME DIR CMAKE-ARGS...
    local name=$1 dir=$2
    shift 2
    if ! $cmake -S . -B "$dir" -DTPOOL_REDIS=ON -DTPOOL_REDIS_TESTS=ON \
        -DTPOOL_EXAMPLES=OFF "$@" >/dev/null ||
        ! $cmake --build "$dir" -j"$jobs" --target tpool_redis_tests; then
        $summary step "$name" false
        status=1
        return
    fi
    $summary ctest "$name" "$dir" "$ctest" -L redis --output-on-failure -j1 ||
        status=1
}

run_config redis build-redis -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_config redis-asan build-redis-asan -DCMAKE_BUILD_TYPE=Debug \
    -DTPOOL_SANITIZE=address
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    run_config redis-tsan build-redis-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTPOOL_SANITIZE=thread
$summary step redis-fuzz bash tests/redis/fuzz.sh 10 || status=1
exit $status
