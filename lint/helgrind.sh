#!/usr/bin/env bash
# lint/helgrind.sh [BUILD_DIR] [--quick] - the test programs under
# valgrind's helgrind.
#
#   make helgrind        every program below (about 3.5 minutes)
#   make helgrind-quick  --quick, part of make test (under a minute): the
#                        same less the stress-heavy ones, test_pool,
#                        test_contracts (hundreds of pools created and
#                        destroyed: over 5 minutes under helgrind) and
#                        test_queue's contention_* cases (minutes of
#                        stress under helgrind)
# BUILD_DIR: build/, the plain RelWithDebInfo build.
#
# Two groups of programs, run two at a time, each under
# `valgrind --tool=helgrind`, failing on any report that is not suppressed:
#
#  full   every check helgrind has (data races, lock order, pthread API
#         misuse): the examples that use only mutexes and condition
#         variables.  Suppressions: lint/helgrind.supp.
#  locks  lock order and pthread API misuse only: the programs that run a
#         pool or a tp_queue, and the examples that use C11 atomics.
#         Helgrind does not model C11 atomics, so their race reports are
#         suppressed (lint/helgrind-atomics.supp says why; ThreadSanitizer
#         checks their races in make test).  A FIFO tp_queue hands each
#         item from its put lock to its take lock through an atomic
#         counter, so its users are in this group too.  Includes a 20 s
#         soak.
#
# Every tests/test_* program is in one group, except:
#   test_parallel  too slow under helgrind (over 5 minutes): its pool runs
#                  are covered by the other pool programs here and by TSan.
#   test_signals   signal delivery under valgrind is valgrind's own, not
#                  the kernel's; signal handling is tested elsewhere.
# Logs: BUILD_DIR/helgrind/<program>.log.  Prints each program's time and
# the total.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
quick=0
[ "${2:-}" = --quick ] && quick=1
if [ ! -d "$build/tests" ]; then
    echo "helgrind: $build/tests is missing: build first (make build)" >&2
    exit 1
fi
if ! bash lint/need.sh valgrind; then
    # Inside make test (--quick) a machine without valgrind skips the run,
    # as the fuzz smoke run skips without clang; make helgrind fails.
    if [ "$quick" = 1 ]; then
        echo "helgrind: SKIPPED: valgrind is not available (Debian: valgrind)"
        exit 0
    fi
    echo "helgrind: FAILED: valgrind is needed (Debian: valgrind)" >&2
    exit 1
fi
logs=$build/helgrind
rm -rf "$logs"
mkdir -p "$logs"
jobs=$(nproc 2>/dev/null || echo 2)

# The queue's cases by name (check.h runs those named), less
# destroy_right_*: thousands of threads (minutes under helgrind) for a
# use-after-free that only ThreadSanitizer and ASan can see; --quick also
# leaves out the contention stress.
skip='^destroy_right_'
[ "$quick" = 1 ] && skip='^destroy_right_\|^contention_'
cases=$(sed -n 's/.*TEST_ENTRY(\([a-z0-9_]*\)).*/\1/p' tests/test_queue.c |
    grep -v "$skip" | tr '\n' ' ')
locks=("tests/test_queue $cases")
full=()
for ex in seed004_bank seed004_condition seed004_event seed004_rlock \
    seed004_thread_local seed004_threads; do
    full+=("examples/example_$ex")
done
for t in "$build"/tests/test_*; do
    name=${t##*/}
    case "$name" in
        test_queue | test_parallel | test_signals) continue ;;
        test_pool) [ "$quick" = 1 ] && continue ;;
        test_contracts)
            [ "$quick" = 1 ] && continue
            # Less its two stress cases, past the time limit under
            # helgrind (2,000 pools created and destroyed; 200 rounds of
            # submitters racing a shutdown through the lock-free
            # injector, whose races helgrind cannot see): ThreadSanitizer
            # checks them.
            cases=$(sed -n 's/.*TEST_ENTRY(\([a-z0-9_]*\)).*/\1/p' \
                tests/test_contracts.c |
                grep -v '^empty_pool_tight_life_cycle$\|^outside_submitters_race_shutdown$' |
                tr '\n' ' ')
            [ -x "$t" ] && locks+=("tests/$name $cases")
            continue ;;
    esac
    [ -x "$t" ] && locks+=("tests/$name")
done
for ex in seed000_queue seed001_pool seed002_async seed003_results \
    seed004_executor seed004_queues seed004_race seed004_queue_join \
    fork_join; do
    locks+=("examples/example_$ex")
done
locks+=("tests/tpool_soak 20")

# One program: "group|program args".  Prints one line, returns its status.
run_one() {
    local group=${1%%|*} cmd=${1#*|}
    local prog=${cmd%% *} name
    name=${prog##*/}
    local supp=(--suppressions=lint/helgrind.supp)
    [ "$group" = locks ] && supp+=(--suppressions=lint/helgrind-atomics.supp)
    if [ ! -x "$build/$prog" ]; then
        echo "helgrind: $name: not built ($build/$prog)"
        return 1
    fi
    local start=$SECONDS rc
    # shellcheck disable=SC2086 # cmd's arguments are split on purpose
    timeout 900 valgrind --tool=helgrind --error-exitcode=99 -q \
        --num-callers=30 "${supp[@]}" "$build/"$cmd >"$logs/$name.log" 2>&1
    rc=$?
    local t=$((SECONDS - start))
    case "$rc" in
        0) echo "helgrind: $name ($group): clean, ${t} s" ;;
        99) echo "helgrind: $name ($group): REPORTS, ${t} s: $logs/$name.log" ;;
        124) echo "helgrind: $name ($group): TIMED OUT after ${t} s: $logs/$name.log" ;;
        *) echo "helgrind: $name ($group): FAILED (exit $rc), ${t} s: $logs/$name.log" ;;
    esac
    # The status goes to a file: the throttle below reaps jobs in any order.
    # A failure shows its log's end, so that a CI log says what went wrong.
    if [ "$rc" -ne 0 ]; then
        echo "$name" >>"$logs/failed"
        tail -n 40 "$logs/$name.log" | sed "s/^/helgrind: $name: /"
    fi
    return "$rc"
}

start=$SECONDS
# Slowest first (the queue's and the pool's stress tests come first in
# locks), so that the two slots finish together.
order=()
for p in "${locks[@]}"; do order+=("locks|$p"); done
for p in "${full[@]}"; do order+=("full|$p"); done
for job in "${order[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$job" &
done
wait
total=$((SECONDS - start))
if [ -s "$logs/failed" ]; then
    echo "helgrind: FAILED: $(tr '\n' ' ' <"$logs/failed")(${total} s)" >&2
    exit 1
fi
what=all
[ "$quick" = 1 ] && what=quick
echo "helgrind ($what): passed: ${#order[@]} programs, ${#full[@]} with every check, ${#locks[@]} for lock order and API misuse (${total} s)"
