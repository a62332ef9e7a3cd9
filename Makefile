# Thin wrapper over CMake presets. `make demo` and `make check` install what
# is missing (scripts/deps.sh) before they build.
PREFIX ?= /usr/local
CMAKE ?= cmake

.PHONY: all build asan release deps check check-default check-asan demo install clean fuzz bench

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

# The whole suite: every test in the default build, then the unit suites
# and fuzz corpus replays under AddressSanitizer + UBSan.
check: deps
	@scripts/npm-deps.sh
	$(MAKE) build asan release
	ctest --test-dir build --output-on-failure
	ctest --test-dir build-asan --output-on-failure -L 'unit|fuzz'

demo: deps build
	@scripts/demo.sh

install: release
	$(CMAKE) --install build-release --prefix $(PREFIX)

fuzz:
	@test -f build-fuzz/build.ninja || $(CMAKE) --preset fuzz
	$(CMAKE) --build build-fuzz

bench: build
	@for b in bench/*.sh; do echo "== $$b"; bash $$b; done

clean:
	rm -rf build build-asan build-release build-fuzz
