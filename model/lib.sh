# model/lib.sh - sourced by wake.sh and queue.sh: their tools, and
# reading a pan run.
#
# need_tools NAME: installs spin with apt-get when it is missing and this
# runs as root; sets `cc` (CC, else gcc).  Returns 1, having said why
# (as NAME), when spin or the compiler cannot be run.
need_tools() {
    if ! command -v spin >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "$1: installing spin" >&2
            apt-get install -y spin >/dev/null 2>&1 ||
                { apt-get update >/dev/null 2>&1 &&
                  apt-get install -y spin >/dev/null 2>&1; }
        fi
        command -v spin >/dev/null 2>&1 ||
            { echo "$1: spin not found (apt-get install spin)" >&2; return 1; }
    fi
    cc=${CC:-gcc}
    command -v "$cc" >/dev/null 2>&1 ||
        { echo "$1: no C compiler ($cc)" >&2; return 1; }
}
#
# pan_verdict DIR EXPECT: reads DIR/pan.log; EXPECT is "pass" (no error,
# search complete) or "fail" (pan must find an error).  Sets `states` (an
# integer) and `verdict` (one line), and `ok` (1 when the run went as
# expected, 0 otherwise).  A search that did not complete never passes.
pan_verdict() {
    local dir=$1 expect=$2 errors err incomplete
    states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log")
    states=${states:-0}
    # "1.2e+06 states" when large: print as an integer
    states=$(awk -v s="$states" 'BEGIN { printf "%.0f", s }')
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | head -1)
    err=$(grep -m1 -E '^pan:[0-9]+: ' "$dir/pan.log" | sed 's/^pan:[0-9]*: //')
    incomplete=$(grep -m1 -E 'search depth too small|Search not completed|MEMLIM|out of memory' \
                 "$dir/pan.log")

    if [ -z "$errors" ]; then
        verdict="no result from pan"; ok=0
    elif [ -n "$incomplete" ] && [ "$errors" = 0 ]; then
        verdict="search not exhaustive: $incomplete"; ok=0
    elif [ "$expect" = pass ]; then
        if [ "$errors" = 0 ]; then verdict="ok"; ok=1
        else verdict="COUNTEREXAMPLE: $err"; ok=0; fi
    else
        if [ "$errors" != 0 ]; then verdict="found as it must be: $err"; ok=1
        else verdict="NOT DETECTED: the model missed a broken variant"; ok=0; fi
    fi
}
