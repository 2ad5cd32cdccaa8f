#!/usr/bin/env bash
# wake.sh - checks the sleep/wake model (model/wake.pml) with spin.
#
#   model/wake.sh [code] [fixed] [settle] [broken]   (no argument: all)
#
#   code    the model of the C code (sched.c, submit.c, wait.c): the
#           sleepers count kept from W1 through the idle list
#           (-DFIX_SLEEPERS) and claim_settle() (-DCLAIM_SETTLE); every
#           run must pass.  WAKE_CODE_DEFS replaces those defines (empty:
#           the code before those two fixes, which spin shows losing
#           wake-ups).  It also has the runs with a worker that leaves
#           (-DLEAVER: a shrink, tp_pool_resize; -DKEEP: a grow may keep
#           it), of this group only.
#   fixed   the model with the proposed fixes (-DFIXED): every run must pass
#   settle  the sleepers fix with claim_settle() as the remedy for the
#           wake-list race (-DFIX_SLEEPERS -DCLAIM_SETTLE): must pass
#   broken  deliberately broken variants (on top of -DFIXED): spin must
#           find each one's counterexample, or the model checks nothing
#
# LTL runs assume weak fairness (pan -f; wake.pml says why).
# Each run is an exhaustive search (no bitstate hashing, -DMEMLIM=2048); a
# run whose search did not complete (depth or memory limit) counts as a
# failure.  One line per run, then one summary line.  Exit status: 0 when
# every run went as expected, 1 otherwise, 2 when spin or the compiler
# could not be run.  The runs work in a temporary directory, kept (and
# named) when a run went wrong, with the command that replays the
# counterexample.  WAKE_KEEP=1 keeps it in any case.
#
# spin is installed with apt-get when it is missing and this runs as root.

set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=model/lib.sh
. "$here/lib.sh"
model=$here/wake.pml
memlim=2048

need_tools wake.sh || exit 2
[ -r "$model" ] || { echo "wake.sh: $model not found" >&2; exit 2; }

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(code fixed settle broken)
for g in "${groups[@]}"; do
    case $g in code|fixed|settle|broken) ;;
    *) echo "usage: $0 [code] [fixed] [settle] [broken]" >&2; exit 2 ;;
    esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wake.XXXXXX") || exit 2
keep=${WAKE_KEEP:-0}
cleanup() { [ "$keep" = 1 ] || rm -rf "$tmp"; }
trap cleanup EXIT

# The runs: name | mode | spin defines | pan compile flags | pan options.
# mode: safety (assertions at quiescence, invalid end states) or ltl.
# Small runs take longer to compile than to search: -O0 and a small hash
# table for them; the large ones get -O2, -DCOLLAPSE and a larger table.
big="-O2 -DCOLLAPSE|-w25"
configs=(
    "w2-t3            |safety|-DNW=2 -DNT=3|"
    "w1-t2            |safety|-DNW=1 -DNT=2|"
    "w2-t2-blocker    |safety|-DNW=2 -DNT=2 -DBLOCKER|"
    "w2-t3-spawn      |safety|-DNW=2 -DNT=3 -DSPAWN|"
    "w2-t1-spawn-blocker|safety|-DNW=2 -DNT=1 -DSPAWN -DBLOCKER|"
    "w2-t3-batch-retry|safety|-DNW=2 -DNT=3 -DBATCH -DSTEAL_RETRY|"
    "w2-t3-waiter     |safety|-DNW=2 -DNT=3 -DWAITER|"
    "w2-t2-waiter-batch|safety|-DNW=2 -DNT=2 -DWAITER -DBATCH|"
    "w3-t2            |safety|-DNW=3 -DNT=2 -DROUNDS=1|$big"
    "w2-t3-ltl        |ltl|-DNW=2 -DNT=3 -DLTL|"
    "w2-t2-blocker-ltl|ltl|-DNW=2 -DNT=2 -DBLOCKER -DLTL|"
    "w2-t2-snapshot   |safety|-DNW=2 -DNT=2 -DSNAPSHOT|"
    "w2-t3-snapshot-batch|safety|-DNW=2 -DNT=3 -DSNAPSHOT -DBATCH|"
)
# A worker asked to leave (threads.c): `code` only.  ROUNDS=1 where the
# space is large (the model's comment: any ROUNDS >= 1 matches the C code).
leaver=(
    "w2-t3-leaver     |safety|-DNW=2 -DNT=3 -DLEAVER|"
    "w2-t3-leaver-keep|safety|-DNW=2 -DNT=3 -DROUNDS=1 -DLEAVER -DKEEP|$big"
    "w2-t2-leaver-spawn|safety|-DNW=2 -DNT=2 -DROUNDS=1 -DLEAVER -DSPAWN|"
    "w2-t2-leaver-waiter|safety|-DNW=2 -DNT=2 -DROUNDS=1 -DLEAVER -DWAITER|"
    "w3-t1-leaver     |safety|-DNW=3 -DNT=1 -DROUNDS=1 -DLEAVER|$big"
    "w2-t2-leaver-ltl |ltl|-DNW=2 -DNT=2 -DLEAVER -DLTL|"
)
broken=(
    "r2-before-push   |safety|-DFIXED -DBROKEN_R2_EARLY -DNW=2 -DNT=2|"
    "no-r1            |safety|-DFIXED -DBROKEN_NO_R1 -DNW=2 -DNT=2|"
    "s-after-r1       |safety|-DFIXED -DBROKEN_S_LATE -DNW=2 -DNT=2|"
    "r2-before-push-w3|safety|-DFIXED -DBROKEN_R2_EARLY -DNW=3 -DNT=2 -DROUNDS=1|$big"
    "leave-no-wake    |safety|-DFIXED -DLEAVER -DBROKEN_LEAVE_NO_WAKE -DNW=2 -DNT=2|"
    "snapshot-no-wake |safety|-DFIXED -DSNAPSHOT -DBROKEN_SNAPSHOT_NO_WAKE -DNW=2 -DNT=2|"
)

runs=0 total_states=0 unexpected=0
t_start=$(date +%s.%N)

now() { date +%s.%N; }

# run_one GROUP NAME EXPECT MODE DEFINES CFLAGS PANOPTS
run_one() {
    local group=$1 name=$2 expect=$3 mode=$4 defs=$5
    local cflags=${6:--O0} panopts=${7:--w22}
    local dir=$tmp/$group-$name t0 t1 secs states
    local verdict ok
    mkdir -p "$dir" && cp "$model" "$dir/wake.pml" || return 2
    t0=$(now)
    if ! (cd "$dir" && spin $defs -a wake.pml >spin.log 2>&1); then
        echo "wake.sh: spin -a failed for $group $name:" >&2
        cat "$dir/spin.log" >&2
        exit 2
    fi
    local safety=-DSAFETY panargs="-m100000 $panopts"
    if [ "$mode" = ltl ]; then safety=; panargs="-a -f $panargs"; fi
    # pan.c triggers harmless array-bound warnings in gcc: -w.
    if ! (cd "$dir" && "$cc" -w $safety -DMEMLIM=$memlim $cflags $defs \
            -o pan pan.c >cc.log 2>&1); then
        echo "wake.sh: compiling pan failed for $group $name:" >&2
        cat "$dir/cc.log" >&2
        exit 2
    fi
    (cd "$dir" && ./pan $panargs >pan.log 2>&1)
    t1=$(now)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    pan_verdict "$dir" "$expect"
    runs=$((runs + 1))
    total_states=$((total_states + states))
    printf '%-4s %-6s %-19s %9s states %5ss  %s\n' \
        "$([ $ok = 1 ] && echo PASS || echo FAIL)" "$group" "$name" \
        "$states" "$secs" "$verdict"
    if [ $ok = 0 ]; then
        unexpected=$((unexpected + 1))
        keep=1
        if [ -f "$dir/wake.pml.trail" ]; then
            printf '     replay: (cd %s && spin -t -p -g %s wake.pml)\n' \
                "$dir" "$defs"
        else
            printf '     log: %s/pan.log\n' "$dir"
        fi
    fi
}

for g in "${groups[@]}"; do
    case $g in
    code|fixed|settle)
        list=("${configs[@]}")
        [ "$g" = code ] && list+=("${leaver[@]}")
        for c in "${list[@]}"; do
            IFS='|' read -r name mode defs cflags panopts <<<"$c"
            name=${name// /}
            case $g in
            code) defs="${WAKE_CODE_DEFS--DFIX_SLEEPERS -DCLAIM_SETTLE} $defs" ;;
            fixed) defs="-DFIXED $defs" ;;
            settle) defs="-DFIX_SLEEPERS -DCLAIM_SETTLE $defs" ;;
            esac
            defs=${defs# }
            run_one "$g" "$name" pass "$mode" "$defs" "$cflags" "$panopts"
        done ;;
    broken)
        for c in "${broken[@]}"; do
            IFS='|' read -r name mode defs cflags panopts <<<"$c"
            name=${name// /}
            run_one "$g" "$name" fail "$mode" "$defs" "$cflags" "$panopts"
        done ;;
    esac
done

t_end=$(now)
elapsed=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.0f", b - a }')
if [ $unexpected -eq 0 ]; then
    echo "wake.sh: $runs runs, $total_states states explored, ${elapsed}s: all as expected"
    exit 0
fi
echo "wake.sh: $runs runs, $total_states states explored, ${elapsed}s: $unexpected not as expected (files in $tmp)"
exit 1
