#!/usr/bin/env bash
# Consumer test: what a project outside tpool sees once tpool is installed.
#
#   run.sh SOURCE_DIR BUILD_DIR WORK_DIR [WAY...]
#
# Installs BUILD_DIR (an already built tree of SOURCE_DIR) into a prefix
# under WORK_DIR, checks the installed files, the SONAME and the exported
# symbols, then builds and runs this directory's program against it in the
# ways a project can use tpool (WAY; default: all three):
#   1. find_package      CMake find_package(tpool CONFIG) (installed package)
#   2. pkg-config        pkg-config                       (installed package)
#   3. add_subdirectory  CMake add_subdirectory           (the source tree)
# CTest runs way 2 as a test of its own (consumer_pkg_config), so that a
# machine without pkg-config reports that test as skipped.
# Exit status: 0 passed; 1 failed; 77 passed, but a way was skipped (no
# pkg-config: Debian's pkg-config package, which make test installs when it
# can), with a line "SKIP: <why>".
# Environment: CMAKE (default cmake), CC (default cc).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR WORK_DIR [find_package|pkg-config|add_subdirectory]..." >&2
    exit 2
fi
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$3
shift 3
ways=" ${*:-find_package pkg-config add_subdirectory} "
for way in $ways; do
    case "$way" in
        find_package | pkg-config | add_subdirectory) ;;
        *) echo "$0: unknown way '$way'" >&2; exit 2 ;;
    esac
done
want() { [[ "$ways" == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
CMAKE=${CMAKE:-cmake}
CC=${CC:-cc}

passed=0
skipped=0
step() { printf '\n== %s\n' "$*"; }
ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a command quietly, showing its output only if it fails.
quiet() {
    local log=$work/last.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "$*"
    fi
}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

version=$(sed -n 's/^#define TP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
    "$src/include/tpool.h" | paste -sd. -)
major=${version%%.*}

step "install into $prefix"
quiet "$CMAKE" --install "$build" --prefix "$prefix"
solib=$(find "$prefix" -name "libtpool.so.$version" | head -n 1)
[ -n "$solib" ] || fail "no libtpool.so.$version under $prefix"
libdir=$(dirname "$solib")
for f in "$prefix/include/tpool.h" "$prefix/include/tpool_queue.h" \
         "$libdir/libtpool.a" "$libdir/libtpool.so" "$libdir/libtpool.so.$major" \
         "$libdir/cmake/tpool/tpoolConfig.cmake" \
         "$libdir/cmake/tpool/tpoolConfigVersion.cmake" \
         "$libdir/pkgconfig/tpool.pc"; do
    [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
ok "installed files (libdir ${libdir#"$prefix"/})"

step "DESTDIR staging"
quiet env DESTDIR="$work/stage" "$CMAKE" --install "$build" --prefix /opt/tpool
[ -f "$work/stage/opt/tpool/include/tpool.h" ] || fail "DESTDIR not honoured"
staged_pc=$(find "$work/stage" -name tpool.pc | head -n 1)
grep -qx 'prefix=/opt/tpool' "${staged_pc:-/dev/null}" ||
    fail "tpool.pc under DESTDIR does not name the final prefix /opt/tpool"
ok "DESTDIR: files staged, tpool.pc names the final prefix"

step "SONAME and exported symbols"
soname=$(readelf -d "$solib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "libtpool.so.$major" ] || fail "SONAME is '$soname', not libtpool.so.$major"
ok "SONAME $soname"
# Every function the headers declare (TP_EXTERN), and nothing else, must be
# exported: a missing one is an API function left hidden, an extra one an
# internal name leaking into the ABI.
sed -n 's/^TP_EXTERN .*[ *]\(tp_[a-z0-9_]*\)(.*/\1/p' \
    "$src/include/tpool.h" "$src/include/tpool_queue.h" | sort -u >"$work/declared"
nm -D --defined-only "$solib" | awk '{ print $NF }' | sort -u >"$work/exported"
if ! diff -u "$work/declared" "$work/exported" >"$work/symbols.diff"; then
    echo "declared in the headers (-) versus exported by $soname (+):" >&2
    cat "$work/symbols.diff" >&2
    fail "exported symbols differ from the API"
fi
ok "$(wc -l <"$work/exported") symbols exported, all tp_*, exactly the declared API"

if want find_package; then
    step "1. CMake find_package"
    quiet "$CMAKE" -S "$here" -B "$work/package" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$CC" -DTPOOL_CONSUMER_VERSION="$version"
    quiet "$CMAKE" --build "$work/package"
    readelf -d "$work/package/consumer_tpool" | grep -q "NEEDED.*\[libtpool.so.$major\]" ||
        fail "tpool::tpool did not link the shared library"
    readelf -d "$work/package/consumer_tpool_static" | grep -q "NEEDED.*libtpool" &&
        fail "tpool::tpool_static linked the shared library"
    "$work/package/consumer_tpool" || fail "find_package: tpool::tpool program"
    "$work/package/consumer_tpool_static" || fail "find_package: tpool::tpool_static program"
    ok "find_package(tpool CONFIG): tpool::tpool (shared) and tpool::tpool_static"
fi

if want pkg-config; then
    step "2. pkg-config"
    pkgconfig=$(command -v pkg-config || command -v pkgconf || true)
    if [ -z "$pkgconfig" ]; then
        echo "SKIP: pkg-config is not installed (Debian: pkg-config):" \
             "the pkg-config way was not tested"
        skipped=$((skipped + 1))
    else
        export PKG_CONFIG_PATH="$libdir/pkgconfig"
        [ "$("$pkgconfig" --modversion tpool)" = "$version" ] || fail "pkg-config --modversion"
        "$pkgconfig" --static --libs tpool | grep -q -- '-pthread' ||
            fail "pkg-config --static --libs lacks -pthread"
        # shellcheck disable=SC2046 # the flags must split into words
        quiet "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror \
            $("$pkgconfig" --cflags tpool) "$here/main.c" -o "$work/consumer_pc" \
            $("$pkgconfig" --libs tpool)
        LD_LIBRARY_PATH="$libdir" "$work/consumer_pc" || fail "pkg-config program"
        ok "pkg-config: $("$pkgconfig" --cflags --libs tpool)"
    fi
fi

if want add_subdirectory; then
    step "3. CMake add_subdirectory"
    quiet "$CMAKE" -S "$here" -B "$work/embedded" -DTPOOL_CONSUMER_EMBED="$src" \
        -DCMAKE_C_COMPILER="$CC"
    quiet "$CMAKE" --build "$work/embedded" -j "$(nproc 2>/dev/null || echo 2)"
    "$work/embedded/consumer_tpool" || fail "add_subdirectory: tpool::tpool program"
    "$work/embedded/consumer_tpool_static" || fail "add_subdirectory: tpool::tpool_static program"
    # An embedded tpool must not add its files to the embedding project's install.
    quiet "$CMAKE" --install "$work/embedded" --prefix "$work/embedded-prefix"
    if [ -e "$work/embedded-prefix" ] && [ -n "$(find "$work/embedded-prefix" -name '*tpool*')" ]; then
        fail "the embedding project's install installed tpool"
    fi
    ok "add_subdirectory: tpool::tpool and tpool::tpool_static; no install rules"
fi

echo
echo "consumer: $passed passed, 0 failed, $skipped skipped"
[ "$skipped" -eq 0 ] || exit 77
