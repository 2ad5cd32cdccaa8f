#!/usr/bin/env bash
# Fork-join fib: tp_spawn/tp_sync against the other ways this repository
# can run it and against Lace (github.com/trolando/lace), in one
# interleaved run (bench/fj_compare.py).  Called by run.sh after the main
# suite: fj.sh MODE BUILD_DIR OUT_DIR; appends a section to
# OUT_DIR/benchmarks.md.
#
# Lace is not a Debian package and is never part of this repository: set
# LACE_SRC to a checkout of it fetched beside the project (for example
# git clone https://github.com/trolando/lace ../lace) and it is built
# into BUILD_DIR/lace, with bench/fj_fib_lace.c against it.  Without
# LACE_SRC the Lace column is left out.  This script never fails the
# benchmark run.
set -u
mode=$1 build=$2 out=$3
lib=$build/libtpool.a
if [ ! -f "$lib" ]; then
    echo "fj: $lib missing: fork-join comparison skipped" >&2
    exit 0
fi
reps=7 ns=25,30
[ "$mode" = quick ] && reps=2 ns=20
log=$build/fj-build.log
: >"$log"
if ! gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/fj_fib.c "$lib" \
    -lpthread -o "$build/bench/tpbench-fj-fib" 2>>"$log"; then
    echo "fj: bench/fj_fib.c did not build (see $log): skipped" >&2
    exit 0
fi
lace=()
if [ -n "${LACE_SRC:-}" ]; then
    if [ -f "$LACE_SRC/src/lace.h" ] &&
        cmake -S "$LACE_SRC" -B "$build/lace" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 &&
        cmake --build "$build/lace" --target lace -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 &&
        gcc -O2 -std=c11 -D_GNU_SOURCE -I"$LACE_SRC/src" -I"$build/lace" \
            bench/fj_fib_lace.c "$build/lace/lib/liblace.a" -lpthread \
            -o "$build/bench/tpbench-fj-fib-lace" 2>>"$log"; then
        lace=(--lace "$build/bench/tpbench-fj-fib-lace")
    else
        echo "fj: Lace from $LACE_SRC did not build (see $log): left out" >&2
    fi
else
    echo "fj: LACE_SRC not set: Lace left out" >&2
fi
table=$build/fj.md
[ "$mode" = full ] && table=$out/bench/fj.md
mkdir -p "$(dirname "$table")"
python3 bench/fj_compare.py --build "$build" "${lace[@]}" --reps "$reps" \
    --n "$ns" --out "$table" >/dev/null || echo "fj: some measurements failed" >&2
report=$out/benchmarks.md
[ -f "$report" ] && [ -f "$table" ] || exit 0
{
    echo
    echo "## Fork-join: tp_spawn/tp_sync"
    echo
    cat "$table"
} >>"$report"
exit 0
