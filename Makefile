# Thin driver around CMake.  Each configuration builds in its own folder.
#   make run          build and run the demo (the main job)
#   make test         build and run every test (the steps: TEST_STEPS below)
#                     and end with one line: N passed, M failed, and what
#                     was skipped; fails if anything failed
#   make bench        full benchmark run, writes docs/benchmarks.md
#   make bench-quick  short benchmark run (smoke test)
#   make install      build, then install (PREFIX=/usr/local, DESTDIR=staging)
#   make docs         API reference from the headers: build/docs/html/index.html
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CTEST ?= ctest
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all run build test test-dev test-tsan test-asan test-ubsan bench bench-quick clean

all: build

build:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build build -j$(JOBS)

run: build
	./build/tpool_demo

# make test runs each step in turn, every one even after a failure, through
# lint/summary.sh, which counts every CTest test of each configuration and
# each other step as one item:
#   test-dev        plain RelWithDebInfo build (build/): every test, the
#                   public headers as C and C++, the installed package
#   lint            clang-tidy and cppcheck
#   test-tsan       ThreadSanitizer (build-tsan/)
#   test-asan       AddressSanitizer with UBSan, Debug (build-asan/)
#   test-ubsan      UBSan alone (build-ubsan/): sees misaligned allocations
#                   that ASan's allocator hides
#   fuzz-smoke      60 s of the fuzzer (skipped without clang)
#   helgrind-quick  helgrind on most test programs (skipped without valgrind)
#   models          the spin models of the lock-free protocols (model/)
#   test-redis      the Redis Streams module (tests/redis/run.sh): installs
#                   redis-server and libhiredis-dev when it can, runs the
#                   module's tests plain, under ASan+UBSan and TSan against
#                   private servers (build-redis*/), 10 s of its fuzzer
# Each target can also be run alone.
TEST_STEPS = test-dev lint test-tsan test-asan test-ubsan fuzz-smoke helgrind-quick models test-redis
SUMMARY = bash lint/summary.sh
test:
	@MAKE='$(MAKE)' $(SUMMARY) run $(TEST_STEPS)

# g++ (the headers' C++ check) and pkg-config (the consumer test's
# pkg-config way) are installed before configuring when possible
# (lint/need.sh); without them those tests are reported as skipped.
test-dev:
	@bash lint/need.sh g++ || echo "test-dev: no g++: the C++ check of the public headers will be skipped" >&2
	@bash lint/need.sh pkg-config || echo "test-dev: no pkg-config: consumer_pkg_config will be skipped" >&2
	@$(MAKE) --no-print-directory build
	@$(SUMMARY) ctest plain build $(CTEST) $(CTEST_FLAGS)

test-tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPOOL_SANITIZE=thread >/dev/null
	$(CMAKE) --build build-tsan -j$(JOBS)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	    $(SUMMARY) ctest tsan build-tsan $(CTEST) $(CTEST_FLAGS)

test-asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTPOOL_SANITIZE=address >/dev/null
	$(CMAKE) --build build-asan -j$(JOBS)
	@ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	    $(SUMMARY) ctest asan build-asan $(CTEST) $(CTEST_FLAGS)

test-ubsan:
	$(CMAKE) -S . -B build-ubsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPOOL_SANITIZE=undefined >/dev/null
	$(CMAKE) --build build-ubsan -j$(JOBS)
	@UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
	    $(SUMMARY) ctest ubsan build-ubsan $(CTEST) $(CTEST_FLAGS)

bench:
	bash bench/run.sh full
	bash bench/redis/run.sh

# The Redis module alone: docs/bench/redis.md (needs redis-server, hiredis).
bench-redis:
	bash bench/redis/run.sh

bench-quick:
	bash bench/run.sh quick

# Installs headers, libtpool.so/.a, the CMake package and tpool.pc.  PREFIX
# overrides the configured CMAKE_INSTALL_PREFIX; DESTDIR stages the files
# under another root (packaging) while they keep naming PREFIX.
PREFIX ?=
.PHONY: install
install: build
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build $(if $(PREFIX),--prefix "$(PREFIX)")

# Doxygen (installed from Debian if missing and we are root) must report no
# warning, undocumented public items included.
DOXYGEN ?= doxygen
.PHONY: docs
docs:
	@if ! command -v $(DOXYGEN) >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "installing doxygen (apt-get)"; \
	        apt-get update -qq && apt-get install -y -qq doxygen >/dev/null || exit 1; \
	    else \
	        echo "make docs needs doxygen (Debian: apt-get install doxygen)" >&2; exit 1; \
	    fi; \
	fi
	@rm -rf build/docs && mkdir -p build/docs
	@version=$$(sed -n 's/^#define TP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/tpool.h | paste -sd. -); \
	{ cat docs/Doxyfile; echo "PROJECT_NUMBER = $$version"; } | $(DOXYGEN) -; rc=$$?; \
	n=$$(grep -c . build/docs/warnings.log 2>/dev/null || true); \
	if [ "$$rc" -ne 0 ] || [ "$${n:-0}" -ne 0 ]; then \
	    cat build/docs/warnings.log >&2 2>/dev/null; \
	    echo "make docs: failed, $${n:-0} Doxygen warning(s)" >&2; exit 1; \
	fi; \
	echo "make docs: tpool $$version, 0 warnings: build/docs/html/index.html"

clean:
	rm -rf build build-tsan build-asan build-ubsan build-bench build-redis \
	    build-redis-asan build-redis-tsan build-fuzz-redis

# Reliability checks (docs/reliability.md says what each one does):
#   make lint         clang-tidy + cppcheck on src/, include/, the soak and
#                     the fuzz harness (part of make test)
#   make soak         randomised soak of the pool and the queue, SECONDS long
#   make fuzz         libFuzzer run of the API harness, SECONDS long
#   make fuzz-smoke   60 s of it (part of make test; skipped without clang)
#   make helgrind     the test programs under valgrind's helgrind (~3.5 min)
#   make helgrind-quick  the same less the two slowest (~1 min; part of
#                     make test)
# SECONDS: duration of make soak and make fuzz (default 10 minutes).
SECONDS ?= 600
.PHONY: lint soak fuzz fuzz-smoke helgrind helgrind-quick
lint: build
	@$(SUMMARY) step lint bash lint/run.sh build

soak: build
	./build/tests/tpool_soak $(SECONDS)

fuzz:
	bash fuzz/run.sh $(SECONDS)

fuzz-smoke:
	@$(SUMMARY) step fuzz-smoke bash fuzz/run.sh 60 --smoke

helgrind: build
	bash lint/helgrind.sh build

helgrind-quick: build
	@$(SUMMARY) step helgrind-quick bash lint/helgrind.sh build --quick

.PHONY: test-redis bench-redis
test-redis:
	@CMAKE='$(CMAKE)' CTEST='$(CTEST)' bash tests/redis/run.sh

.PHONY: models
models:
	@$(SUMMARY) step models bash model/run.sh
