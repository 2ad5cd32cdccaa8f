#!/usr/bin/env bash
# queue.sh - checks the blocking queue's sleep/wake model (model/queue.pml)
# with spin.
#
#   model/queue.sh [code] [broken]   (no argument: both)
#
#   code    the model of the C code (src/queue.c): FIFO queues (one lock
#           per end) and, -DONE_LOCK, LIFO/PRIORITY ones (one lock for
#           both); unbounded and bounded (putters waiting for room); single
#           and batch puts and gets; the store's growth path; timed waits
#           and spurious wake-ups; close at any moment.  Every run must
#           pass: no thread left asleep or stuck, every item got exactly
#           once, woken <= waiting.
#   broken  deliberately broken variants: spin must find each one's
#           counterexample, or the model checks nothing
#
# Each run is an exhaustive search (no bitstate hashing, -DMEMLIM=2048); a
# run whose search did not complete (depth or memory limit) counts as a
# failure.  One line per run, then one summary line.  Exit status: 0 when
# every run went as expected, 1 otherwise, 2 when spin or the compiler
# could not be run.  The runs work in a temporary directory, kept (and
# named) when a run went wrong, with the command that replays the
# counterexample.  QUEUE_KEEP=1 keeps it in any case.  About a minute.
#
# spin is installed with apt-get when it is missing and this runs as root.

set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=model/lib.sh
. "$here/lib.sh"
model=$here/queue.pml
memlim=2048

need_tools queue.sh || exit 2
[ -r "$model" ] || { echo "queue.sh: $model not found" >&2; exit 2; }

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(code broken)
for g in "${groups[@]}"; do
    case $g in code|broken) ;;
    *) echo "usage: $0 [code] [broken]" >&2; exit 2 ;;
    esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/queue.XXXXXX") || exit 2
keep=${QUEUE_KEEP:-0}
cleanup() { [ "$keep" = 1 ] || rm -rf "$tmp"; }
trap cleanup EXIT

# The runs: name | spin defines | pan compile flags | pan options.
# NPUT putters of NPI items each, NGET getters; CAPACITY (0: unbounded);
# the rest as queue.pml says (the names pN/cN/xN say the same).  Small runs take longer to compile than to
# search: -O0 and a small hash table for them; the large ones (a million
# states and more) get -O2, -DCOLLAPSE and a larger table.
big="-O2 -DCOLLAPSE|-w24"
configs=(
    "fifo-p2c2          |-DNPUT=2 -DNGET=2|"
    "fifo-p2x2-c2       |-DNPUT=2 -DNPI=2 -DNGET=2|$big"
    "fifo-p3c3          |-DNPUT=3 -DNGET=3|$big"
    "fifo-batch         |-DNPUT=2 -DNPI=2 -DNGET=2 -DBATCH_PUT -DMAXGET=2|"
    "fifo-grow          |-DNPUT=2 -DNPI=2 -DNGET=2 -DGROW|$big"
    "fifo-timed         |-DNPUT=2 -DNGET=2 -DTMO=1 -DSPUR=1|$big"
    "fifo-timed-c3      |-DNPUT=1 -DNPI=3 -DNGET=3 -DTMO=1|$big"
    "cap1-p2c2          |-DCAPACITY=1 -DNPUT=2 -DNGET=2|"
    "cap1-p2x2-c2       |-DCAPACITY=1 -DNPUT=2 -DNPI=2 -DNGET=2|$big"
    "cap1-p3c1          |-DCAPACITY=1 -DNPUT=3 -DNGET=1|"
    "cap1-grow          |-DCAPACITY=1 -DNPUT=2 -DNGET=2 -DGROW|"
    "cap2-batch         |-DCAPACITY=2 -DNPUT=1 -DNPI=3 -DNGET=2 -DBATCH_PUT -DMAXGET=2|"
    "cap1-timed         |-DCAPACITY=1 -DNPUT=2 -DNGET=2 -DTMO=1 -DSPUR=1|$big"
    "onelock-p2x2-c2    |-DONE_LOCK -DNPUT=2 -DNPI=2 -DNGET=2|"
    "onelock-cap1       |-DONE_LOCK -DCAPACITY=1 -DNPUT=2 -DNGET=2|"
    "close-p2c2         |-DCLOSE -DNPUT=2 -DNGET=2|"
    "close-cap1         |-DCLOSE -DCAPACITY=1 -DNPUT=2 -DNGET=1|"
    "close-cap1-batch   |-DCLOSE -DCAPACITY=1 -DNPUT=1 -DNPI=2 -DNGET=2 -DBATCH_PUT -DMAXGET=2|"
    "close-cap1-timed   |-DCLOSE -DCAPACITY=1 -DNPUT=2 -DNGET=2 -DTMO=1|$big"
    "close-onelock-cap1 |-DCLOSE -DONE_LOCK -DCAPACITY=1 -DNPUT=2 -DNGET=2|"
)
broken=(
    "getters-early      |-DBROKEN_GETTERS_EARLY -DNPUT=2 -DNGET=2|"
    "putters-early      |-DBROKEN_PUTTERS_EARLY -DCAPACITY=1 -DNPUT=2 -DNGET=2|"
    "no-recheck         |-DBROKEN_NO_RECHECK -DNPUT=2 -DNGET=2|"
    "split-wait         |-DBROKEN_SPLIT_WAIT -DNPUT=2 -DNGET=2|"
    "no-absorb          |-DBROKEN_NO_ABSORB -DNPUT=2 -DNGET=2|"
    "absorb-signalled   |-DBROKEN_ABSORB_SIGNALLED -DNPUT=2 -DNGET=2 -DTMO=1|"
    "close-no-broadcast |-DBROKEN_CLOSE_NO_BROADCAST -DCLOSE -DNPUT=2 -DNGET=2|"
)

runs=0 total_states=0 unexpected=0
t_start=$(date +%s.%N)

now() { date +%s.%N; }

# run_one GROUP NAME EXPECT DEFINES CFLAGS PANOPTS
run_one() {
    local group=$1 name=$2 expect=$3 defs=$4
    local cflags=${5:--O0} panopts=${6:--w20}
    local dir=$tmp/$group-$name t0 t1 secs states
    local verdict ok
    mkdir -p "$dir" && cp "$model" "$dir/queue.pml" || return 2
    t0=$(now)
    if ! (cd "$dir" && spin $defs -a queue.pml >spin.log 2>&1); then
        echo "queue.sh: spin -a failed for $group $name:" >&2
        cat "$dir/spin.log" >&2
        exit 2
    fi
    # pan.c triggers harmless array-bound warnings in gcc: -w.
    if ! (cd "$dir" && "$cc" -w -DSAFETY -DMEMLIM=$memlim $cflags \
            -o pan pan.c >cc.log 2>&1); then
        echo "queue.sh: compiling pan failed for $group $name:" >&2
        cat "$dir/cc.log" >&2
        exit 2
    fi
    (cd "$dir" && ./pan -m100000 $panopts >pan.log 2>&1)
    t1=$(now)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    pan_verdict "$dir" "$expect"
    runs=$((runs + 1))
    total_states=$((total_states + states))
    printf '%-4s %-6s %-18s %9s states %5ss  %s\n' \
        "$([ $ok = 1 ] && echo PASS || echo FAIL)" "$group" "$name" \
        "$states" "$secs" "$verdict"
    if [ $ok = 0 ]; then
        unexpected=$((unexpected + 1))
        keep=1
        if [ -f "$dir/queue.pml.trail" ]; then
            printf '     replay: (cd %s && spin -t -p -g %s queue.pml)\n' \
                "$dir" "$defs"
        else
            printf '     log: %s/pan.log\n' "$dir"
        fi
    fi
}

for g in "${groups[@]}"; do
    case $g in
    code) list=("${configs[@]}") expect=pass ;;
    broken) list=("${broken[@]}") expect=fail ;;
    esac
    for c in "${list[@]}"; do
        IFS='|' read -r name defs cflags panopts <<<"$c"
        name=${name// /}
        run_one "$g" "$name" "$expect" "$defs" "$cflags" "$panopts"
    done
done

t_end=$(now)
elapsed=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.0f", b - a }')
if [ $unexpected -eq 0 ]; then
    echo "queue.sh: $runs runs, $total_states states explored, ${elapsed}s: all as expected"
    exit 0
fi
echo "queue.sh: $runs runs, $total_states states explored, ${elapsed}s: $unexpected not as expected (files in $tmp)"
exit 1
