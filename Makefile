# SPDX-License-Identifier: MIT
#
# gridlet's front door. Wraps CMake; every target that needs packages first
# runs scripts/install-deps.sh (a no-op when all is present).
#
#   make            build (build/)
#   make test       install deps, build, run every test (unit, integration,
#                   system, fuzz replay), then the unit tests again under
#                   ASan+UBSan (build-asan/) and a short libFuzzer run of
#                   every fuzz target (build-fuzz/)
#   make demo       install deps, build, run the neighbourhood demo
#   make test-arm64 cross-build for aarch64 and run the unit tests under qemu
#   make test-armhf the same for 32-bit ARM (armhf)
#   make package    Debian packages for amd64, arm64, armhf (build-pkg/debs/;
#                   PACKAGE_ARCHES=amd64 for one), checked with lintian
#   make bench      build optimised and run every benchmark
#   make fuzz       libFuzzer runs of every target (FUZZ_SECONDS each)
#   make format     clang-format every C file in place
#   make lint       formatting, banned functions, SPDX lines (CI runs it)
#   make clean      remove the build directories

MAKEFLAGS    += --no-print-directory
NPROC        ?= $(shell nproc 2>/dev/null || echo 2)
BUILD        ?= build
CMAKE_FLAGS  ?=
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 5
DEMO_ARGS    ?=
PACKAGE_ARCHES ?= amd64 arm64 armhf
CTEST        = ctest --output-on-failure -j $(NPROC)
# Warnings are errors whenever CI is set (.ci/run sets it).
CMAKE_FLAGS  += -DGRIDLET_WERROR=$(if $(CI),ON,OFF)

.PHONY: lint all build deps configure test test-unit test-asan test-fuzz demo \
        test-arm64 test-armhf bench fuzz format format-check clean package

all: build

deps:
	@scripts/install-deps.sh

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(NPROC)

# Packages first, then the build: as separate steps, so that `make -j`
# cannot start compiling before the libraries are installed.
test:
	@scripts/install-deps.sh
	@$(MAKE) build
	cd $(BUILD) && $(CTEST)
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz

# Unit tests only, in the normal build.
test-unit: build
	cd $(BUILD) && $(CTEST) -L unit

test-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
	  -DGRIDLET_SANITIZE=address,undefined -DGRIDLET_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(NPROC)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST) -L 'unit|replay'

test-fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DGRIDLET_FUZZ=ON -DGRIDLET_FUZZ_SECONDS=$(CI_FUZZ_SECONDS) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(NPROC)
	cd build-fuzz && $(CTEST) -L fuzz

fuzz:
	@scripts/install-deps.sh
	$(MAKE) --no-print-directory test-fuzz CI_FUZZ_SECONDS=$(FUZZ_SECONDS)

demo:
	@scripts/install-deps.sh
	@$(MAKE) build
	@scripts/demo.sh $(BUILD) $(DEMO_ARGS)

test-arm64: deps
	@scripts/test-cross.sh arm64

test-armhf: deps
	@scripts/test-cross.sh armhf

package: deps
	@scripts/package.sh $(PACKAGE_ARCHES)

bench: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-bench -j $(NPROC)
	@scripts/bench.sh build-bench

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-asan build-fuzz build-bench build-arm64 build-armhf build-pkg
