# The two commands: `make up` (install and run the whole stack) and `make test` (every test).
# Everything installs into .venv from the package registries; nothing else is downloaded.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
JS_DIR := tests/jssdk
JS_STAMP := $(JS_DIR)/node_modules/.installed
NPM    := $(shell command -v npm)
SEED   ?= 7
DEMO_N ?= 20000
TEST_WORKERS ?= auto

.PHONY: up test bench train install install-dev clean help

help:
	@echo "make up     install into .venv, make sure a model bundle exists, run the whole stack (Ctrl-C stops)"
	@echo "make test   run every test (installs the test tools too)"
	@echo "make bench  run the benchmarks (tables printed, JSON saved in bench/results/)"
	@echo "make train  retrain the shipped model reproducibly (seed $(SEED))"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

# The Node tests' packages, exactly as package-lock.json pins them (npm registry only). Without npm they skip.
$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	@if [ -n "$(NPM)" ]; then \
	  cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else \
	  echo "npm is not installed: the JS SDK tests will skip (apt-get install nodejs npm)"; \
	fi

install: $(STAMP)
install-dev: $(DEV_STAMP)

model/current.json: | $(STAMP)
	$(MAKE) train

train: $(STAMP)
	$(BIN)/python -m training demo-data --n $(DEMO_N) --seed $(SEED) --out .data/demo-tickets.jsonl
	$(BIN)/python -m training train --data .data/demo-tickets.jsonl --out model --seed $(SEED)

up: $(STAMP) model/current.json
	$(BIN)/python -m stack

# One pytest-xdist worker a core; a test file's tests stay together on one worker (their module fixtures are
# started once). TEST_WORKERS=0 runs them one after another, without workers. The benchmarks' tests come after,
# alone: they check figures (a loop never 250 ms late, writes after a paced snapshot) that assume a quiet machine.
test: $(DEV_STAMP) $(JS_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --ignore=tests/bench; first=$$?; \
	  $(BIN)/python -m pytest tests/bench; second=$$?; \
	  [ $$first -eq 0 ] && [ $$second -eq 0 ]

bench: $(DEV_STAMP) model/current.json
	$(BIN)/python -m bench.emulator
	$(BIN)/python -m bench.realtime
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.framework
	$(BIN)/python -m bench.coldstart
	$(BIN)/python -m bench.models
	$(BIN)/python -m bench.faults
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.snapshot
	$(BIN)/python -m bench.gc_pauses
	@echo "The 30-minute soak is separate: $(BIN)/python -m bench.soak --minutes 30"

clean:
	rm -rf .data bench/results/*.tmp test-artifacts
