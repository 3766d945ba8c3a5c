# ffi-harness - `make test` and `make fuzz` each set up everything they need on a fresh
# Debian machine: clang-19 (apt, when root), a .venv, the pinned Python dependencies.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FFI := $(VENV)/bin/ffi-harness
STAMP := $(VENV)/.installed
FUZZ_TIME ?= 60
JOBS ?= 2
VARIANT ?= clean
FUZZERS ?= all
PYTEST_ARGS ?=
# pytest-xdist workers for make test (each test is bounded; campaigns inside may use 2 jobs)
TEST_JOBS ?= 2

.PHONY: setup toolchain build test test-slow fuzz replay ci lint clean bench bench-quick

setup: toolchain $(STAMP)

toolchain:
	@./scripts/ensure-toolchain.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

build: setup
	$(FFI) build --variant clean
	$(FFI) build --variant planted

# make test: every behaviour, in bounded runs (what to run before a push; under 8 minutes on 2 cores).
# make test-slow: discovery at scale - every per-bug campaign and from-scratch state-machine search.
# CI (.ci/run) runs both.
test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal -m slow $(PYTEST_ARGS)

fuzz: setup
	$(FFI) fuzz $(FUZZERS) --time $(FUZZ_TIME) --jobs $(JOBS) --variant $(VARIANT) || test $$? -eq 1

replay: setup
	$(FFI) replay corpus/crashes --variant planted

# the CI sanitizer run a pipeline adds: sanitized build, every fuzzer for a fixed budget on the
# shipped (clean) build, replay of the crash store; JUnit + SARIF in reports/; exit 1 only for new findings
CI_RUNS ?= 20000
ci: setup
	$(FFI) ci --runs $(CI_RUNS) --jobs $(JOBS) --reports reports

# benchmarks (bench/README in each script's docstring): tables on stdout, JSON in bench/results/
BENCH_SEEDS ?= 10
BENCH_CAP ?= 60
bench: setup
	$(PY) bench/overhead.py --seconds 30
	$(PY) bench/replay_throughput.py
	$(PY) bench/time_to_find.py --seeds $(BENCH_SEEDS) --cap $(BENCH_CAP)
	$(PY) bench/time_to_find.py --seeds $(BENCH_SEEDS) --cap $(BENCH_CAP) --configs stateful \
	  --out bench/results/time_to_find_stateful.json
	$(PY) bench/time_to_find.py --seeds 3 --cap 30 --configs machine --out bench/results/time_to_find_machine.json
	@# false positives: a 10-minute campaign on the clean build must find nothing (exit 0)
	out=$$(mktemp -d) && $(FFI) fuzz all --variant clean --time 600 --jobs $(JOBS) --no-store --out $$out && \
	  cp $$out/summary.json bench/results/false_positives.json && rm -rf $$out
	@start=$$(date +%s); $(MAKE) --no-print-directory ci >/dev/null; \
	  echo "{\"make_ci_seconds\": $$(( $$(date +%s) - start ))}" | tee bench/results/ci_budget.json

bench-quick: setup
	$(PY) bench/overhead.py --seconds 10 --out bench/results/overhead_quick.json
	$(PY) bench/time_to_find.py --seeds 3 --cap 20 --configs harness bare --out bench/results/time_to_find_quick.json

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis *.egg-info
	rm -rf $${XDG_CACHE_HOME:-$$HOME/.cache}/ffi-harness
