# Jembatan: `make run` serves the demo school, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install browser wrk lint clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/jembatan db upgrade
	$(BIN)/jembatan demo --if-empty
	$(BIN)/jembatan serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed and cannot apt-get it: browser tests will be skipped"; fi; }

# Debian's wrk for the benchmarks' closed-loop load (a compiled generator is not the ceiling).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk not installed and cannot apt-get it: the benchmarks fall back to the Python generator"; fi; }

# Both cores by default (pytest-xdist; each worker gets its own PostgreSQL database and takes the
# next test when it is free, the long ones first: see tests/conftest.py and README "Test suite").
# PYTEST_ARGS= runs in one process; PYTEST_ARGS="-k name" picks tests.
PYTEST_ARGS ?= -n 2 --maxschedchunk 2
test: $(VENV)/.installed-test browser
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks, not part of `make test`: each prints its figures and the ratio that matters
# (BENCH_ARGS=--json for JSON). Loopback only; see BENCHMARKS.md.
# Every benchmark also appends its JSON to var/bench-results.jsonl; bench.summary then prints each
# target of issue 18 next to its figure.
bench: export BENCH_RESULTS := var/bench-results.jsonl
bench: $(VENV)/.installed-test $(VENV)/.installed-bench wrk
	@mkdir -p var && rm -f $(BENCH_RESULTS)
	@if [ -f bench/slot_assignment.py ]; then $(BIN)/python -m bench.slot_assignment $(BENCH_ARGS); fi
	$(BIN)/python -m bench.broadcast $(BENCH_ARGS)
	$(BIN)/python -m bench.inbound --profile --scale $(BENCH_ARGS)
	$(BIN)/python -m bench.footprint $(BENCH_ARGS)
	$(BIN)/python -m bench.sender_cost --trickle 2 $(BENCH_ARGS)
	$(BIN)/python -m bench.profile_inbound $(BENCH_ARGS)
	$(BIN)/python -m bench.routing_replay $(BENCH_ARGS)
	$(BIN)/python -m bench.dapodik_import $(BENCH_ARGS)
	$(BIN)/python -m bench.district $(BENCH_ARGS)
	$(BIN)/python -m bench.summary $(BENCH_RESULTS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache
