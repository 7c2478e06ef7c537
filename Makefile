# JobEngine: thin wrapper over CMake + Ninja.
#   make        build build/jobengine
#   make run    install missing packages, build, serve on 127.0.0.1:8440 with a demo tenant
#   make run-cluster  the same with three nodes (127.0.0.1:8441-8443) over a throwaway PostgreSQL
#   make test   install missing packages, build, run every test, again under ASan+UBSan, run every
#               fuzz target briefly (FUZZ_SECONDS each, two at a time), check format
#   make test-console  install missing packages, build, run only the console's browser tests
#               (tests/console: headless Debian chromium against a real serve; screenshots in
#               $(BUILD)/console-shots)
#   make fuzz   every fuzz target for FUZZ_LONG_SECONDS (default 600) each, or FUZZ_RUNS executions,
#               growing a corpus kept in $(FUZZ_BUILD)/fuzz/corpus (tests/fuzz/README.md)
#   make bench  install the benchmarks' packages, build, run every benchmark (bench/all.sh)
#   make soak   the crash loop with SOAK_KILLS (100) SIGKILLs on SQLite and on a throwaway
#               PostgreSQL (scripts/soak.sh; `make test` runs it with 20)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# Seconds per fuzz target: in make test (10 targets, two at a time: about a minute) and make fuzz.
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600
DATA       ?= jobengine-data
LISTEN     ?= 127.0.0.1:8440
# Four tests at a time on two cores: most of a test's time is waiting (on a lease to end, a
# server to start, PostgreSQL's fsync), so -j4 ends the plain pass in about 3/4 of -j2's time
# and the ASan pass in 4/5 (2026-12-06, 2 vCPUs: 282 s against 375 s, 241 s against 302 s);
# -j6 ended no sooner. The slowest tests start first (their COST in CMakeLists.txt).
CTEST_ARGS ?= --output-on-failure -j4
SOAK_KILLS ?= 100
# Under ASan+UBSan every test runs but the second pass of the black-box suite over PostgreSQL
# (api-pg.*, e2e-pg.*: the same server code as api.*, which does run sanitised); the PostgreSQL
# backend runs sanitised through its conformance suite and the cluster tests; nor the console's
# browser tests (console.*: what they add to the server's coverage, serving /console/, runs
# sanitised in api.test_console_assets; the rest of their time is the browser's), nor the Debian
# package's install test (package.*: it packages the plain build's binary). It keeps
# `make test` well inside CI's time.
ASAN_CTEST_ARGS ?= $(CTEST_ARGS) -E '^((api|e2e)-pg|console|package)[.]'

.PHONY: all build deps run run-cluster test test-plain test-asan test-fuzz test-console fuzz fmt \
	fmt-check clean bench soak config-reference

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/build.ninja
	cmake --build $(BUILD)

run: deps build
	@mkdir -p $(DATA)
	./$(BUILD)/jobengine serve --listen $(LISTEN) --store sqlite:$(DATA)/jobengine.db --demo

run-cluster: deps
	BUILD=$(BUILD) bash scripts/run_cluster.sh

test: deps
	$(MAKE) test-plain
	$(MAKE) test-asan
	$(MAKE) test-fuzz
	$(MAKE) fmt-check
	@echo "make test: all tests passed, under ASan+UBSan too, the fuzz targets ran clean, and formatting is clean"

test-plain: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-console: deps build
	cd $(BUILD) && ctest $(CTEST_ARGS) -R '^console[.]'

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJE_SANITIZE=ON

test-asan: $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD)
	cd $(ASAN_BUILD) && ctest $(ASAN_CTEST_ARGS)

# The libFuzzer targets of tests/fuzz, built with clang in $(FUZZ_BUILD) (scripts/fuzz.sh). The
# short run starts each from a fresh copy of its seeds and keeps nothing; make fuzz keeps and
# grows its corpus under $(FUZZ_BUILD). Neither writes into tests/fuzz.
test-fuzz:
	BUILD_FUZZ=$(FUZZ_BUILD) bash scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

fuzz: deps
	BUILD_FUZZ=$(FUZZ_BUILD) bash scripts/fuzz.sh --keep \
	  $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--seconds $(FUZZ_LONG_SECONDS))

FMT_FILES = $(shell find src tests bench -name '*.[ch]' 2>/dev/null)

fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	@clang-format --dry-run -Werror $(FMT_FILES) && echo "fmt-check: clean"

# Every benchmark of bench/ in under ten minutes, one table at the end (bench/all.sh; FULL=1 for
# the issue's sizes, several times longer).
bench: deps
	bash scripts/deps.sh --bench
	$(MAKE) build
	SKIP_BUILD=1 bash bench/all.sh

# The crash loop (tests/api/test_crash_loop.py) with many kills on both backends; prints, per
# backend, the kills survived and the acknowledged changes checked (docs/operations.md).
soak: deps build
	SOAK_KILLS=$(SOAK_KILLS) BUILD=$(BUILD) bash scripts/soak.sh

# The man pages, jobengine.1 and jobengine-CMD.1, in $(BUILD)/man: made by the binary from the
# tables its --help comes from (jobengine __doc man; docs/operations.md).
.PHONY: man
man: build
	./$(BUILD)/jobengine __doc man $(BUILD)/man

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# The Debian package of $(BUILD)/jobengine: $(BUILD)/jobengine_VERSION-1_ARCH.deb, with its systemd
# unit, config, man pages and completions (scripts/build_deb.sh; docs/operations.md, "Installing
# the Debian package").
.PHONY: deb
deb: build
	bash scripts/build_deb.sh --bin $(BUILD)/jobengine --out $(BUILD)

# docs/operations.md "Configuration reference" from serve's settings table (ops.test_config_reference
# checks it).
config-reference: build
	python3 scripts/config_reference.py --bin $(BUILD)/jobengine --write
