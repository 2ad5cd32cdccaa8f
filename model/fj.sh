#!/usr/bin/env bash
# model/fj.sh - checks the fork-join deque model (model/fj.pml)
# exhaustively with spin, in several sizes, and checks that the model
# catches a known mistake (a stolen frame's slot reused too early).
#
#   bash model/fj.sh          every size (~2 minutes, ~2 GB of memory)
#   bash model/fj.sh quick    the two smaller sizes and the mistake (~30 s)
#
# Installs spin (Debian package `spin`) when it is missing and apt-get can
# (root, or password-less sudo).  Exit status: 0 when every check passed;
# 1 on any error (a violation, an incomplete search, a missing tool).
set -uo pipefail

cd "$(dirname "$0")" || exit 1
mode=${1:-full}
say() { echo "model: $*" >&2; }

if ! command -v spin >/dev/null 2>&1; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo -n)
    if command -v apt-get >/dev/null 2>&1 &&
        { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
        say "installing spin (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get install -y -qq spin >/dev/null 2>&1 ||
            { "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 &&
                "${sudo[@]}" apt-get install -y -qq spin >/dev/null 2>&1; }
    fi
    command -v spin >/dev/null 2>&1 || { say "spin is needed (Debian: apt-get install spin)"; exit 1; }
fi
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || { say "a C compiler is needed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fjmodel.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cp fj.pml "$work/" || exit 1
cd "$work" || exit 1

# check NAME EXPECT SPIN-DEFINES...: EXPECT is "pass" (no error, search
# complete) or "fail" (spin must find an error).
failed=0
check() {
    local name=$1 expect=$2
    shift 2
    if ! spin -a "$@" fj.pml >spin.log 2>&1; then
        cat spin.log >&2
        say "$name: spin -a failed"
        failed=1
        return
    fi
    # Exhaustive: no hash compaction or bit-state; COLLAPSE only
    # compresses the stored states.
    if ! "$CC" -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c 2>cc.log; then
        cat cc.log >&2
        say "$name: pan did not compile"
        failed=1
        return
    fi
    ./pan -m1000000 -w26 >pan.log 2>&1
    local errors states secs
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | head -n 1)
    states=$(sed -n 's/^ *\([0-9e.+]*\) states, stored.*/\1/p' pan.log | head -n 1)
    secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\).*/\1/p' pan.log | head -n 1)
    if [ -z "$errors" ]; then
        cat pan.log >&2
        say "$name: no result from pan"
        failed=1
        return
    fi
    if [ "$expect" = pass ]; then
        if [ "$errors" != 0 ] || grep -q "max search depth too small\|Search not completed" pan.log; then
            cat pan.log >&2
            [ -f fj.pml.trail ] && spin -t -p "$@" fj.pml | tail -n 40 >&2
            say "$name: FAILED"
            failed=1
            return
        fi
        say "$name: ok, $states states, no error (${secs}s)"
    else
        if [ "$errors" = 0 ]; then
            cat pan.log >&2
            say "$name: FAILED: the model did not catch the mistake"
            failed=1
            return
        fi
        say "$name: ok, the mistake is caught ($(head -n 1 pan.log))"
    fi
    rm -f fj.pml.trail
}

# Owner: K spawns on N slots, every nesting; thieves as given.
check "1 thief, 3 slots, 3 spawns" pass -DN=3 -DK=3 -DTHIEVES=1
check "1 thief, 4 slots, 5 spawns" pass -DN=4 -DK=5 -DTHIEVES=1
check "slot reused before the thief read it" fail -DN=3 -DK=3 -DTHIEVES=1 -DPOP_BEFORE_JOIN
if [ "$mode" != quick ]; then
    check "2 thieves, 3 slots, 4 spawns" pass -DN=3 -DK=4 -DTHIEVES=2
fi

[ "$failed" = 0 ] || { say "FAILED"; exit 1; }
say "all checks passed"
