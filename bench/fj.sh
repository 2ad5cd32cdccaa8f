#!/usr/bin/env bash
# bench/fj.sh BUILD_DIR - builds the fork-join fib programs written
# directly against a runtime's own API (no adapter in between), which
# bench.py then runs beside the suite's fork-join cells, interleaved:
#
#   BUILD_DIR/bench/tpbench-fj-fib       bench/fj_fib.c, tp_spawn/tp_sync
#   BUILD_DIR/bench/tpbench-fj-fib-lace  bench/fj_fib_lace.c, Lace
#                                        (github.com/trolando/lace)
#
# and lists them in BUILD_DIR/bench/native.tsv ("built" or "skipped",
# program, then the version of a built one or why it was skipped), as
# CMake lists the adapters in peers.tsv.
#
# Lace is not a Debian package and is never part of this repository: it is
# built from LACE_SRC, a checkout of it (default: ../lace beside the
# project, if there), into BUILD_DIR/lace.  Without one, Lace is listed as
# skipped.  This script never fails the benchmark run.
set -u
build=$1
bdir=$build/bench
lib=$build/libtpool.a
log=$build/fj-build.log
manifest=$bdir/native.tsv
mkdir -p "$bdir"
: >"$log"
: >"$manifest"
say() { echo "fj: $*" >&2; }
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$manifest"; }

if [ -f "$lib" ] && gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/fj_fib.c "$lib" \
    -lpthread -o "$bdir/tpbench-fj-fib" 2>>"$log"; then
    row built tpbench-fj-fib ""
else
    say "bench/fj_fib.c did not build (see $log): skipped"
    row skipped tpbench-fj-fib "did not build (see $log)"
fi

lace_src=${LACE_SRC:-}
[ -z "$lace_src" ] && [ -f ../lace/src/lace.h ] && lace_src=../lace
if [ -z "$lace_src" ]; then
    row skipped tpbench-fj-fib-lace "no Lace source (set LACE_SRC to a checkout of github.com/trolando/lace)"
elif [ -f "$lace_src/src/lace.h" ] &&
    cmake -S "$lace_src" -B "$build/lace" -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 &&
    cmake --build "$build/lace" --target lace -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 &&
    gcc -O2 -std=c11 -D_GNU_SOURCE -I"$lace_src/src" -I"$build/lace" \
        bench/fj_fib_lace.c "$build/lace/lib/liblace.a" -lpthread \
        -o "$bdir/tpbench-fj-fib-lace" 2>>"$log"; then
    # project(lace VERSION x.y.z ...), on one line or several
    version=$(tr '\n' ' ' <"$lace_src/CMakeLists.txt" |
        sed -n 's/.*project( *lace *VERSION *\([0-9.]*\).*/\1/p')
    row built tpbench-fj-fib-lace "${version:-}"
else
    say "Lace from $lace_src did not build (see $log): left out"
    row skipped tpbench-fj-fib-lace "Lace from $lace_src did not build (see $log)"
fi
exit 0
