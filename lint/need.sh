#!/usr/bin/env bash
# lint/need.sh TOOL... - make sure the tools the checks need are installed.
#
# TOOL is one of: clang-tidy cppcheck valgrind clang libfuzzer g++
# pkg-config.  A missing one is installed from Debian's packages when that
# is possible (root, and apt-get present); otherwise the script names the
# packages and exits 1, so that the caller can skip (fuzz, the C++ header
# check, the pkg-config consumer test) or fail (lint) with a clear message.
# Quiet when everything is there already.
set -u

package_of() {
    case "$1" in
        clang-tidy) echo clang-tidy ;;
        cppcheck) echo cppcheck ;;
        valgrind) echo valgrind ;;
        clang) echo clang ;;
        libfuzzer) echo libclang-rt-14-dev ;; # Debian 12's clang is 14
        g++) echo g++ ;;
        pkg-config) echo pkg-config ;;
        *) echo "need.sh: unknown tool $1" >&2; exit 2 ;;
    esac
}

# libFuzzer is not a command: it is there if clang can link a fuzz target.
have_libfuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    local dir
    dir=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$dir/t.c"
    clang -fsanitize=fuzzer "$dir/t.c" -o "$dir/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$dir"
    return $rc
}

have() {
    case "$1" in
        libfuzzer) have_libfuzzer ;;
        # pkgconf provides the same command under either name.
        pkg-config) command -v pkg-config >/dev/null 2>&1 || command -v pkgconf >/dev/null 2>&1 ;;
        *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=()
for tool in "$@"; do
    have "$tool" || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=()
for tool in "${missing[@]}"; do
    pkgs+=("$(package_of "$tool")")
    # libFuzzer needs the compiler too.
    [ "$tool" = libfuzzer ] && ! command -v clang >/dev/null 2>&1 && pkgs+=(clang)
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "need.sh: installing ${pkgs[*]} (apt-get)"
    if apt-get update -qq >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1; then
        still=()
        for tool in "${missing[@]}"; do have "$tool" || still+=("$tool"); done
        [ ${#still[@]} -eq 0 ] && exit 0
        echo "need.sh: still missing after the install: ${still[*]}" >&2
        exit 1
    fi
    echo "need.sh: apt-get install ${pkgs[*]} failed" >&2
    exit 1
fi
echo "need.sh: missing ${missing[*]}; install the Debian packages: ${pkgs[*]}" >&2
exit 1
