# Makefile -- a thin wrapper over CMake for the common tasks; CMakeLists.txt is the build.
# `make help` lists the targets. Variables (set on the command line: `make test BUILD=b2`):
#
#   BUILD        build directory                       (default: build)
#   BUILD_TYPE   CMAKE_BUILD_TYPE                      (default: RelWithDebInfo)
#   CMAKE_FLAGS  extra arguments for the cmake configure step, e.g. -DCMAKE_C_COMPILER=clang
#   CTEST_FLAGS  extra arguments for ctest, e.g. -R queue, -L lint, -V
#   JOBS         parallel compile jobs                 (default: nproc)
#   WERROR       -DINQUEST_WERROR value                (default: ON when CI=true, else OFF)
#   SANITIZE     -DINQUEST_SANITIZE value              (default: OFF; test-sanitize sets ON)
#   DEMO_CMD     what `make demo` runs
#   FUZZ_BUILD   build directory of `make fuzz`         (default: build-fuzz)
#   FUZZ_SECONDS how long `make fuzz` runs each harness (default: 60)
#   FUZZ_NAMES   which harnesses `make fuzz` runs        (default: all, tests/fuzz/corpus/*)
#   CI           the environment variable CI; `true` turns on WERROR

BUILD       ?= build
BUILD_TYPE  ?= RelWithDebInfo
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
SANITIZE    ?= OFF
ifeq ($(CI),true)
WERROR      ?= ON
else
WERROR      ?= OFF
endif
ASAN_BUILD  ?= build-asan
DEMO_CMD    ?= $(BUILD)/inquest run --replay examples/incident/recording.json --analyzers analyzers
BENCH       ?= tests/bench/run-benchmarks
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES  ?=

# For test-sanitize: leaks fail the test; any UB report aborts it with a stack trace.
ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

# cmake --build runs make in the build tree; do not hand it this make's command-line
# variables (BUILD=..., CMAKE_FLAGS=...) through MAKEFLAGS.
CMAKE_BUILD_ENV = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL

.DEFAULT_GOAL := build
.PHONY: help deps configure build test test-sanitize fuzz demo bench lint screenshots clean

help: ## list the targets
	@echo "Inquest -- make targets (variables: see the top of Makefile):"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		sed -E -e 's/^([a-z-]+):.*## (.*)/  \1\t\2/' -e 's|\$$\(BUILD\)|$(BUILD)/|g' | expand -t 18

deps: ## install missing Debian packages (scripts/install-deps)
	@bash scripts/install-deps

configure: deps ## run the CMake configure step in $(BUILD)
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
		-DINQUEST_WERROR=$(WERROR) -DINQUEST_SANITIZE=$(SANITIZE) $(CMAKE_FLAGS)

build: configure ## configure and compile into $(BUILD) (default target)
	$(CMAKE_BUILD_ENV) cmake --build $(BUILD) -j$(JOBS)

test: build ## build, then run every test with ctest
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j2 $(CTEST_FLAGS)

test-sanitize: ## build with ASan+UBSan (Debug) in build-asan/, then run every test
	ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' \
		$(MAKE) --no-print-directory test BUILD=$(ASAN_BUILD) BUILD_TYPE=Debug SANITIZE=ON

fuzz: deps ## build the libFuzzer harnesses (clang) in build-fuzz/, run each for FUZZ_SECONDS (60)
	@command -v clang >/dev/null || { echo "make fuzz: clang is missing (apt-get install clang libclang-rt-dev, or make deps)" >&2; exit 2; }
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DINQUEST_FUZZ=ON -DINQUEST_WERROR=$(WERROR) $(CMAKE_FLAGS)
	$(CMAKE_BUILD_ENV) cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_harnesses
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

demo: build ## build, then run the demo analysis (DEMO_CMD)
	$(DEMO_CMD)

bench: build ## build, then run the benchmarks (one `bench NAME VALUE UNIT` line each)
	@bash $(BENCH) $(BUILD)

screenshots: build ## build, then write a PNG of each console page (light, dark) into $(BUILD)/screenshots
	rm -rf -- '$(BUILD)/screenshots'
	SCREENSHOTS='$(abspath $(BUILD))/screenshots' tests/console/browser $(BUILD)/inquest \
		$(BUILD)/tests/loadgen $(BUILD)/tests/mock_http $(BUILD)/tests/browser/screenshots
	@ls '$(BUILD)/screenshots'

lint: build ## build, then clang-format and clang-tidy every source file
	$(CMAKE_BUILD_ENV) cmake --build $(BUILD) --target lint

clean: ## remove the build directories
	rm -rf -- build $(ASAN_BUILD) $(FUZZ_BUILD)
	@# $(BUILD) only if it is a CMake build tree and not the source tree itself.
	@if [ -f '$(BUILD)/CMakeCache.txt' ] && [ "$$(cd '$(BUILD)' && pwd -P)" != "$$(pwd -P)" ]; then \
		echo "rm -rf -- $(BUILD)"; rm -rf -- '$(BUILD)'; \
	fi
