#!/usr/bin/env bash
# Parallel loops: tp_parallel_for against OpenMP `parallel for` and oneTBB
# `parallel_for` (bench/pfor_bench.c, bench/pfor_tbb.cpp).  Called by
# run.sh after the main suite: pfor.sh MODE BUILD_DIR OUT_DIR.  Appends a
# section to OUT_DIR/benchmarks.md and keeps the raw output beside it.  A
# peer that cannot be built is skipped with a line saying so; this script
# never fails the benchmark run.
set -u
mode=$1 build=$2 out=$3
lib=$build/libtpool.a
if [ ! -f "$lib" ]; then
    echo "pfor: $lib missing: parallel loops skipped" >&2
    exit 0
fi
reps=11
threads="1 2"
[ "$mode" = quick ] && reps=3
cores=$(nproc 2>/dev/null || echo 2)
for t in 4 8 16; do [ "$t" -le "$cores" ] && threads="$threads $t"; done

raw=$out/bench/pfor.txt
[ "$mode" = quick ] && raw=$out/pfor.txt
mkdir -p "$(dirname "$raw")"
: >"$raw"
if gcc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Iinclude bench/pfor_bench.c "$lib" \
    -lpthread -lm -o "$build/pfor_bench" 2>"$build/pfor-build.log"; then
    echo "pfor: OpenMP, threads $threads, $reps repetitions" >&2
    "$build/pfor_bench" -r "$reps" $threads >>"$raw" 2>&1 ||
        echo "pfor: pfor_bench failed (see $raw)" >&2
else
    echo "pfor: OpenMP comparison skipped (see $build/pfor-build.log)" >&2
fi
echo >>"$raw"
if g++ -O2 -std=c++17 -Iinclude bench/pfor_tbb.cpp "$lib" -ltbb -lpthread \
    -o "$build/pfor_tbb" 2>>"$build/pfor-build.log"; then
    echo "pfor: oneTBB, threads $threads, $reps repetitions" >&2
    "$build/pfor_tbb" -r "$reps" $threads >>"$raw" 2>&1 ||
        echo "pfor: pfor_tbb failed (see $raw)" >&2
else
    echo "pfor: oneTBB comparison skipped (libtbb-dev missing?)" >&2
fi

report=$out/benchmarks.md
[ -f "$report" ] || exit 0
{
    echo
    echo "## Parallel loops"
    echo
    echo "\`tp_parallel_for\` against OpenMP \`parallel for\` and oneTBB \`parallel_for\` on the"
    echo "same loops (\`bench/pfor_bench.c\`, \`bench/pfor_tbb.cpp\`; their top comments say what"
    echo "each loop does): ns per element, median of $reps repetitions, each library in a"
    echo "block of its own. The last column is tpool's time divided by the peer's:"
    echo "**below 1, tpool is faster**. Raw output: [bench/pfor.txt](bench/pfor.txt)."
    echo
    echo '```'
    cat "$raw"
    echo '```'
} >>"$report"
exit 0
