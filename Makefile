# Thin wrapper over CMake presets. `make demo` and `make check` install what
# is missing (scripts/deps.sh) before they build.
PREFIX ?= /usr/local
CMAKE ?= cmake
# Seconds each fuzz target runs in `make check` (two at a time).
PYRO_FUZZ_SECONDS ?= 5
export PYRO_FUZZ_SECONDS

.PHONY: all build asan release deps check check-user lint check-format fuzz fuzz-run demo install deb clean bench

all: build

build:
	@test -f build/build.ninja || $(CMAKE) --preset default
	$(CMAKE) --build build

asan:
	@test -f build-asan/build.ninja || $(CMAKE) --preset asan
	$(CMAKE) --build build-asan

release:
	@test -f build-release/build.ninja || $(CMAKE) --preset release -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	$(CMAKE) --build build-release

deps:
	@scripts/deps.sh

# The whole suite: the default build (-O2 and _FORTIFY_SOURCE=3 like the
# release build, so its warnings and checks are the shipped code's; the
# release preset adds only hardening flags and is built by install and deb),
# every test in it, as root and (the same
# ctest run, three at a time: many suites wait on guests, builds or
# timers; one VM suite at a time, tests/ctest-resources.json and
# tests/README.md) the chosen
# suites again as the unprivileged user
# pyro-test (label user, also alone as check-user); the unit suites in the
# clang build of the fuzz preset (the whole library under AddressSanitizer +
# UBSan, no recovery; clang's warnings are errors too); a bounded libFuzzer
# run of every target, which replays its corpus first; last the source checks (layers, call
# cycles, file size, format), so a lint failure does not hide a test failure.
check: deps
	@scripts/npm-deps.sh mcp
	$(MAKE) build fuzz
	ctest --test-dir build --output-on-failure -j 3 --resource-spec-file $(CURDIR)/tests/ctest-resources.json -LE 'lint|package'
	ctest --test-dir build-fuzz --output-on-failure -j 2 -L unit
	$(MAKE) fuzz-run
	$(MAKE) lint

# The suites again as an ordinary user (label user, tests/README.md): run
# as root, scripts/test-user.sh creates the system user pyro-test with
# subordinate ids and runs each test as it.
check-user: build
	@scripts/npm-deps.sh mcp
	ctest --test-dir build --output-on-failure -j 2 --resource-spec-file $(CURDIR)/tests/ctest-resources.json -L user

# Source checks (docs/design/layout.md); each script also runs on its own.
lint: build
	ctest --test-dir build --output-on-failure -L lint

check-format:
	@scripts/check-format.sh

demo: deps build
	@scripts/demo.sh

install: release
	$(CMAKE) --install build-release --prefix $(PREFIX)

# The Debian package pyro_<version>_<arch>.deb (docs/packaging.md).
deb: release
	@scripts/deb.sh build-release .

fuzz:
	@test -f build-fuzz/build.ninja || $(CMAKE) --preset fuzz
	$(CMAKE) --build build-fuzz

# Each fuzz target for PYRO_FUZZ_SECONDS from its corpus, two at a time.
fuzz-run: fuzz
	ctest --test-dir build-fuzz --output-on-failure -L fuzzrun -j 2

bench: build
	@for b in bench/*.sh; do echo "== $$b"; bash $$b; done

clean:
	rm -rf build build-asan build-release build-fuzz
