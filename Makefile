# Thin driver around CMake.  Each configuration builds in its own folder.
#   make run          build and run the demo (the main job)
#   make test         build and run every test: plain, ThreadSanitizer, ASan+UBSan
#   make bench        full benchmark run, writes docs/benchmarks.md
#   make bench-quick  short benchmark run (smoke test)
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

test: test-dev test-tsan test-asan
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

clean:
	rm -rf build build-tsan build-asan build-bench
