# Thin driver around CMake.  Each configuration builds in its own folder.
#   make run          build and run the demo (the main job)
#   make test         build and run every test: plain, ThreadSanitizer, ASan+UBSan
#   make bench        full benchmark run, writes docs/benchmarks.md
#   make bench-quick  short benchmark run (smoke test)
#   make install      build, then install (PREFIX=/usr/local, DESTDIR=staging)
#   make docs         API reference from the headers: build/docs/html/index.html
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
CTEST ?= ctest
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all run build test test-dev test-tsan test-asan bench bench-quick clean

all: build

build:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	$(CMAKE) --build build -j$(JOBS)

run: build
	./build/tpool_demo

test: lint test-dev test-tsan test-asan fuzz-smoke helgrind-quick
	@echo "all test configurations passed"

test-dev: build
	cd build && $(CTEST) $(CTEST_FLAGS)

test-tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPOOL_SANITIZE=thread >/dev/null
	$(CMAKE) --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" $(CTEST) $(CTEST_FLAGS)

test-asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTPOOL_SANITIZE=address >/dev/null
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" $(CTEST) $(CTEST_FLAGS)

bench:
	bash bench/run.sh full

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
	rm -rf build build-tsan build-asan build-bench

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
	bash lint/run.sh build

soak: build
	./build/tests/tpool_soak $(SECONDS)

fuzz:
	bash fuzz/run.sh $(SECONDS)

fuzz-smoke:
	bash fuzz/run.sh 60 --smoke

helgrind: build
	bash lint/helgrind.sh build

helgrind-quick: build
	bash lint/helgrind.sh build --quick
