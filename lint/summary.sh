#!/usr/bin/env bash
# lint/summary.sh - run make test's steps and sum up their results.
#
#   summary.sh run TARGET...            (make test) run each make TARGET in
#                                       turn, then print the summary; exit 1
#                                       if anything failed
#   summary.sh ctest NAME DIR CMD...    run CMD (ctest and its flags) in DIR,
#                                       one item per CTest test
#   summary.sh step NAME CMD...         run CMD (lint, fuzz, helgrind), one
#                                       item
#
# The last two are what the make targets run: each shows its command's
# output as it comes, prints one line of counts, exits with the command's
# status, and, under `run`, appends its results to the file named by
# TPOOL_RESULTS.  Counting:
#   ctest  every test is one item: passed, failed (listed by name), or
#          skipped (exit 77, SKIP_RETURN_CODE), with the first line of its
#          output that starts with "SKIP" as the reason (from CTest's log,
#          DIR/Testing/Temporary/LastTest.log).
#   step   passed (exit 0), failed, or skipped: exit 0 with a line
#          "<name>: SKIPPED: <why>" (fuzz without clang, helgrind without
#          valgrind).
# A TARGET that fails without reporting a failure (a build error, say)
# counts as one failed item under its own name.
#
# The summary ends with one line:
#   make test: N passed, M failed (failed: ...); skipped: ITEM (why), ...
#
# Results file, one record a line, fields separated by tabs:
#   step NAME PASSED FAILED SKIPPED SECONDS
#   fail NAME/ITEM     (NAME alone for a step's single item)
#   skip NAME/ITEM WHY
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tab=$'\t'

record() {
    [ -n "${TPOOL_RESULTS:-}" ] || return 0
    local IFS=$tab
    echo "$*" >>"$TPOOL_RESULTS"
}

# Prints the step's line of counts and records it; $failed and $skipped
# are arrays of "ITEM" and "ITEM${tab}WHY".
finish() {
    local name=$1 passed=$2 secs=$3 line f s
    line="$name: $passed passed, ${#failed[@]} failed"
    [ ${#skipped[@]} -eq 0 ] || line+=", ${#skipped[@]} skipped"
    echo "$line ($secs s)"
    record step "$name" "$passed" "${#failed[@]}" "${#skipped[@]}" "$secs"
    for f in "${failed[@]}"; do record fail "$(label "$name" "$f")"; done
    for s in "${skipped[@]}"; do
        echo "$(label "$name" "${s%%"$tab"*}"): skipped: ${s#*"$tab"}"
        record skip "$(label "$name" "${s%%"$tab"*}")" "${s#*"$tab"}"
    done
}

# NAME/ITEM, or NAME alone for a step that is its own single item.
label() {
    if [ "$1" = "$2" ]; then echo "$1"; else echo "$1/$2"; fi
}

# The reason a skipped test gave: its first output line starting with SKIP.
skip_reason() {
    local log=$1 test=$2 why
    why=$(awk -v t="$test" '
        /^[0-9]+\/[0-9]+ Testing: / { cur = substr($0, index($0, ": ") + 2) }
        cur == t && /^SKIP/ { sub(/^SKIP(PED)?:? */, ""); print; exit }' \
        "$log" 2>/dev/null)
    echo "${why:-no reason given}"
}

mode_ctest() {
    local name=$1 dir=$2
    shift 2
    local log start=$SECONDS rc
    log=$(mktemp)
    (cd "$dir" && "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    local secs=$((SECONDS - start)) total
    total=$(sed -n 's/.*tests passed, [0-9]* tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    failed=()
    skipped=()
    local t
    # "The following tests FAILED:" / "did not run:", then "<tab>  N - name (why)".
    while IFS= read -r t; do
        [ -n "$t" ] && failed+=("$t")
    done < <(awk '/^The following tests FAILED:/ { f = 1; next }
                 /^[^ \t]/ { f = 0 }
                 f && /^[ \t]+[0-9]+ - / { sub(/^[ \t]+[0-9]+ - /, ""); print }' "$log")
    while IFS= read -r t; do
        [ -n "$t" ] && skipped+=("$t$tab$(skip_reason "$dir/Testing/Temporary/LastTest.log" "$t")")
    done < <(awk '/^The following tests did not run:/ { f = 1; next }
                 /^[^ \t]/ { f = 0 }
                 f && /^[ \t]+[0-9]+ - .* \(Skipped\)$/ {
                     sub(/^[ \t]+[0-9]+ - /, ""); sub(/ \(Skipped\)$/, ""); print }' "$log")
    rm -f "$log"
    if [ -z "$total" ] || [ "$total" -eq 0 ]; then
        failed+=("ctest (no tests ran, exit $rc)")
        total=${#failed[@]}
    elif [ "$rc" -ne 0 ] && [ ${#failed[@]} -eq 0 ]; then
        failed+=("ctest (exit $rc)")
    fi
    local passed=$((total - ${#failed[@]} - ${#skipped[@]}))
    [ "$passed" -ge 0 ] || passed=0
    finish "$name" "$passed" "$secs"
    [ "$rc" -ne 0 ] || [ ${#failed[@]} -eq 0 ] || rc=1
    return "$rc"
}

mode_step() {
    local name=$1
    shift
    local log start=$SECONDS rc why
    log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    why=$(sed -n 's/^[A-Za-z0-9_ -]*: SKIPPED:\{0,1\} *//p' "$log" | head -n 1)
    rm -f "$log"
    failed=()
    skipped=()
    local passed=0
    if [ "$rc" -ne 0 ]; then
        failed=("$name")
    elif [ -n "$why" ]; then
        skipped=("$name$tab$why")
    else
        passed=1
    fi
    finish "$name" "$passed" "$((SECONDS - start))"
    return "$rc"
}

mode_run() {
    local make=${MAKE:-make} start=$SECONDS target rc t0 before
    results=$(mktemp)
    trap 'rm -f "$results"' EXIT
    export TPOOL_RESULTS=$results
    for target in "$@"; do
        printf '\n==== make %s\n' "$target"
        before=$(grep -c "^step$tab" "$results")
        t0=$SECONDS
        $make --no-print-directory "$target"
        rc=$?
        if [ "$(grep -c "^step$tab" "$results")" -eq "$before" ]; then
            # The target failed (or passed) before its step could report.
            if [ "$rc" -ne 0 ]; then
                echo "$target: FAILED (make exit $rc, see above)"
                record step "$target" 0 1 0 "$((SECONDS - t0))"
                record fail "$target (make exit $rc)"
            else
                record step "$target" 1 0 0 "$((SECONDS - t0))"
            fi
        elif [ "$rc" -ne 0 ] && ! tail -n +"$((before + 1))" "$results" | grep -q "^fail$tab"; then
            record fail "$target (make exit $rc)"
        fi
    done

    echo
    echo "==== summary"
    awk -F '\t' '$1 == "step" {
        line = sprintf("  %-16s %3d passed, %d failed", $2, $3, $4)
        if ($5 > 0) line = line sprintf(", %d skipped", $5)
        printf "%s  (%d s)\n", line, $6 }' "$results"
    local passed failed_n failed_list skipped_list line
    passed=$(awk -F '\t' '$1 == "step" { s += $3 } END { print s + 0 }' "$results")
    failed_n=$(grep -c "^fail$tab" "$results")
    failed_list=$(awk -F '\t' '$1 == "fail" { printf "%s%s", n++ ? ", " : "", $2 }' "$results")
    skipped_list=$(awk -F '\t' '$1 == "skip" { printf "%s%s (%s)", n++ ? ", " : "", $2, $3 }' "$results")
    line="make test: $passed passed, $failed_n failed"
    [ "$failed_n" -eq 0 ] || line+=" (failed: $failed_list)"
    if [ -n "$skipped_list" ]; then
        line+="; skipped: $skipped_list"
    else
        line+=", nothing skipped"
    fi
    echo "$line; $((SECONDS - start)) s"
    [ "$failed_n" -eq 0 ]
}

mode=${1:-}
shift || true
case "$mode" in
    run) mode_run "$@" ;;
    ctest) [ $# -ge 3 ] || { echo "usage: $0 ctest NAME DIR CMD..." >&2; exit 2; }
        mode_ctest "$@" ;;
    step) [ $# -ge 2 ] || { echo "usage: $0 step NAME CMD..." >&2; exit 2; }
        mode_step "$@" ;;
    *) echo "usage: $0 run TARGET... | ctest NAME DIR CMD... | step NAME CMD..." >&2
        exit 2 ;;
esac
