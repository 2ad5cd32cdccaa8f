#!/usr/bin/env bash
# bench/run.sh - build and run the benchmarks, write the report.
#
#   bash bench/run.sh full    (make bench)        docs/benchmarks.md,
#                                                 docs/bench/{results.*,*.svg}
#   bash bench/run.sh quick   (make bench-quick)  build-bench/quick/...
#
# 1. Installs the peers' Debian packages that are missing, when it can
#    (root, or password-less sudo, and apt-get): GLib, libuv, oneTBB,
#    clang and LLVM's OpenMP (libomp-dev), Python; otherwise says which
#    peers will be skipped.  TPBENCH_NO_INSTALL=1 skips this step.
# 2. Configures and builds build-bench/ (Release, -O2, no sanitizer,
#    TPOOL_BENCH=ON), then the native fork-join programs (bench/fj.sh;
#    Lace from LACE_SRC, when given).  A peer whose program does not build
#    is skipped with a line saying so; tpool's own failing to build is an
#    error.
# 3. Runs bench/bench.py, which runs the plan in interleaved rounds, shows
#    progress on stderr and writes the results and the report.  Nothing is
#    reniced: the measurements run at the priority make was started with.
#
# Extra arguments go to bench.py (e.g. --only queue --peers tpool,glib).
# Exit status: 0, or non-zero if tpool did not build or a measurement
# failed (a missing peer is not a failure).
set -uo pipefail

mode=${1:-full}
shift || true
case "$mode" in
quick | full) ;;
*)
    echo "usage: bash bench/run.sh quick|full [bench.py options]" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")/.." || exit 1
build="build-bench"
jobs=$(nproc 2>/dev/null || echo 2)
say() { echo "bench: $*" >&2; }

# --- 1. peers' packages ------------------------------------------------------

have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1"; }
have_tbb() {
    [ -e /usr/include/oneapi/tbb/task_group.h ] || [ -e /usr/include/tbb/task_group.h ] ||
        [ -e /usr/local/include/oneapi/tbb/task_group.h ]
}

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
have_pc glib-2.0 || missing+=(libglib2.0-dev)
have_pc libuv || missing+=(libuv1-dev)
have_tbb || missing+=(libtbb-dev)
have_libomp() {
    command -v clang >/dev/null 2>&1 &&
        ls /usr/lib/llvm-*/lib/libomp.so >/dev/null 2>&1
}
have_libomp || missing+=(clang libomp-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "${TPBENCH_NO_INSTALL:-0}" = 1 ]; then
        say "missing ${missing[*]} (TPBENCH_NO_INSTALL=1: not installing)"
    else
        sudo=()
        if [ "$(id -u)" != 0 ]; then
            if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
                sudo=(sudo -n)
            fi
        fi
        if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ ${#sudo[@]} -gt 0 ]; }; then
            say "installing ${missing[*]} (apt-get, quietly)"
            export DEBIAN_FRONTEND=noninteractive
            # Bounded, so that a machine without a network does not hang.
            limit=300
            [ "$mode" = quick ] && limit=60
            apt=(timeout "$limit" "${sudo[@]}" apt-get -y -qq -o Acquire::Retries=0
                -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)
            if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
                "${apt[@]}" update >/dev/null 2>&1
                "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
                    say "could not install ${missing[*]}; the peers that need them will be skipped"
            fi
        else
            say "missing ${missing[*]} and cannot install (needs root and apt-get);" \
                "the peers that need them will be skipped"
        fi
    fi
fi

if ! command -v python3 >/dev/null 2>&1; then
    say "python3 is needed to run the benchmarks and write the report"
    exit 1
fi

# --- 2. build ---------------------------------------------------------------------

say "configuring $build/ (Release, -O2)"
mkdir -p "$build"
if ! cmake -S . -B "$build" -DTPOOL_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DTPOOL_SANITIZE= -DTPOOL_WERROR=OFF -DTPOOL_TESTS=OFF -DTPOOL_EXAMPLES=OFF \
    >"$build/bench-configure.log" 2>&1; then
    cat "$build/bench-configure.log" >&2
    say "configuration failed"
    exit 1
fi
grep '^-- bench: .*skipped' "$build/bench-configure.log" | sed 's/^-- /  /' >&2

say "building"
if ! cmake --build "$build" -j"$jobs" >"$build/bench-build.log" 2>&1; then
    # Build the programs one by one to find the one(s) that fail.
    while IFS=$'\t' read -r status exe _; do
        [ "$status" = built ] || continue
        if ! cmake --build "$build" --target "$exe" -j"$jobs" >>"$build/bench-build.log" 2>&1; then
            rm -f "$build/bench/$exe"
            case "$exe" in
            tpbench-tpool | tpqueue-tpool)
                tail -n 30 "$build/bench-build.log" >&2
                say "$exe (tpool itself) did not build; see $build/bench-build.log"
                exit 1
                ;;
            *) say "peer program $exe did not build: skipped (see $build/bench-build.log)" ;;
            esac
        fi
    done <"$build/bench/peers.tsv"
fi

# --- 3. fork-join programs written against each runtime's API (and Lace) ---------

bash bench/fj.sh "$build"

# --- 4. run -------------------------------------------------------------------------

if [ "$mode" = full ]; then
    out=docs
else
    out=$build/quick
fi
export PYTHONDONTWRITEBYTECODE=1
python3 bench/bench.py --mode "$mode" --build "$build" --out "$out" "$@" || exit $?

# --- serial queues (strands) against a mutex per queue -------------------------------

bash bench/strand.sh "$mode" "$build" "$out"
