#!/usr/bin/env bash
# lint/run.sh [BUILD_DIR] - static analysis: clang-tidy and cppcheck.
#
# Run by `make lint` (and so by `make test`) after the plain build has been
# configured: BUILD_DIR (default build/) must hold the compile_commands.json
# CMake writes, so that both tools see exactly the flags the compiler sees.
#
# What is checked: every src/*.c file and, through them, every header of
# include/ and src/; the soak (tests/soak.c) and the fuzz harness
# (fuzz/fuzz_api.c, which the CMake build does not compile: its flags are
# given here).  The configuration lives in .clang-tidy and
# lint/cppcheck.supp, each disabled check or suppression with its reason.
#
# Exit status: 0 when both tools report nothing; 1 otherwise.  A cppcheck
# suppression that no longer matches anything is printed as a note (delete
# it) but does not fail the run: the files it names change under other
# hands, and a stale entry hides nothing.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
db=$build/compile_commands.json
if [ ! -f "$db" ]; then
    echo "lint: $db is missing: configure the plain build first (make build)" >&2
    exit 1
fi
if ! bash lint/need.sh clang-tidy cppcheck; then
    echo "lint: FAILED: clang-tidy and cppcheck are needed" >&2
    exit 1
fi
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_flags=(-std=c11 -D_GNU_SOURCE -Iinclude)
status=0
start=$SECONDS

# ---- clang-tidy ----------------------------------------------------------
tidy_files=(src/*.c tests/soak.c)
out=$(mktemp)
printf '%s\n' "${tidy_files[@]}" |
    xargs -P "$jobs" -n 1 clang-tidy --quiet -p "$build" >"$out" 2>&1
tidy_rc=$?
clang-tidy --quiet fuzz/fuzz_api.c -- "${fuzz_flags[@]}" >>"$out" 2>&1 || tidy_rc=1
# clang-tidy reports "N warnings generated" for findings it filtered out
# (system headers); only diagnostics in our files count.
findings=$(grep -cE '(warning|error):' "$out")
if [ "$tidy_rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$out"
    echo "lint: clang-tidy: $findings finding(s)" >&2
    status=1
else
    echo "lint: clang-tidy $(clang-tidy --version | sed -n 's/.*LLVM version //p'): ${#tidy_files[@]} + 1 files, 0 findings"
fi
rm -f "$out"

# ---- cppcheck ------------------------------------------------------------
cpp_common=(--std=c11 --library=posix --enable=all --inline-suppr
    --suppressions-list=lint/cppcheck.supp --quiet -j "$jobs"
    --template='{file}:{line}: {severity}: {id}: {message}')
out=$(mktemp)
out2=$(mktemp)
cppcheck "${cpp_common[@]}" --project="$db" --file-filter='*/src/*' \
    --file-filter='*/tests/soak.c' >"$out" 2>&1
cppcheck "${cpp_common[@]}" "${fuzz_flags[@]}" fuzz/fuzz_api.c >"$out2" 2>&1
# Findings are the lines in the template's form, less the notes about
# suppressions that matched nothing: each run sees only the suppressions
# for its own files, so an entry is stale only if neither run used it.
real=$(cat "$out" "$out2" | grep -E '^[^ ]+:[0-9-]+: ' |
    grep -v unmatchedSuppression || true)
stale=$(comm -12 <(grep unmatchedSuppression "$out" | sort -u) \
    <(grep unmatchedSuppression "$out2" | sort -u))
[ -n "$stale" ] && printf 'lint: note: stale cppcheck suppression: %s\n' "$stale"
rm -f "$out2"
if [ -n "$real" ]; then
    printf '%s\n' "$real"
    echo "lint: cppcheck: $(printf '%s\n' "$real" | wc -l) finding(s)" >&2
    status=1
else
    echo "lint: cppcheck $(cppcheck --version | sed 's/Cppcheck //'): src/ + include/ + soak + fuzz, 0 findings"
fi
rm -f "$out"

if [ "$status" -eq 0 ]; then
    echo "lint: passed ($((SECONDS - start)) s)"
else
    echo "lint: FAILED" >&2
fi
exit "$status"
