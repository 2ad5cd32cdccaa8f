#!/usr/bin/env bash
# Serial queues: tpool's strands against a mutex-per-queue baseline
# (bench/strand_bench.c).  Called by run.sh after the main suite:
# strand.sh MODE BUILD_DIR OUT_DIR.  Appends a section to
# OUT_DIR/benchmarks.md and keeps the raw output beside it; never fails
# the benchmark run.
set -u
mode=$1 build=$2 out=$3
lib=$build/libtpool.a
if [ ! -f "$lib" ]; then
    echo "strand: $lib missing: serial queues skipped" >&2
    exit 0
fi
reps=7 tasks=1000000
[ "$mode" = quick ] && reps=3 tasks=100000
raw=$out/bench/strand.txt
[ "$mode" = quick ] && raw=$out/strand.txt
mkdir -p "$(dirname "$raw")"
: >"$raw"
if gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/strand_bench.c "$lib" \
    -lpthread -o "$build/strand_bench" 2>"$build/strand-build.log"; then
    echo "strand: $tasks tasks, $reps repetitions" >&2
    for t in 1 2; do
        "$build/strand_bench" -n "$tasks" -r "$reps" -t "$t" 1 16 1000 \
            >>"$raw" 2>&1 || echo "strand: strand_bench failed (see $raw)" >&2
        echo >>"$raw"
    done
else
    echo "strand: skipped (see $build/strand-build.log)" >&2
    exit 0
fi
report=$out/benchmarks.md
[ -f "$report" ] || exit 0
{
    echo
    echo "## Serial queues (strands)"
    echo
    echo "\`tp_strand_submit\` against the usual hand-made serial queue, a pool task per item"
    echo "that holds its queue's mutex while it runs (\`bench/strand_bench.c\` says"
    echo "exactly what each does): ns per task for $tasks tiny tasks spread over 1, 16"
    echo "and 1,000 queues, median of $reps repetitions (range in brackets), on 1 and 2"
    echo "workers. The last column is the baseline's time divided by the strands':"
    echo "**above 1, strands are faster**. Raw output: [bench/strand.txt](bench/strand.txt)."
    echo
    echo '```'
    cat "$raw"
    echo '```'
} >>"$report"
exit 0
