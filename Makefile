# Two commands for a fresh clone: `make run` (the whole job) and `make test` (every test;
# `make test-fast` leaves out the end-to-end tier, tests marked e2e). Each creates .venv and
# installs the locked dependencies the first time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR ?= runs/default
CENSUS_ROOT ?= ../shared/datasets/census-income
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install run census test test-fast bench bench-collect clean

install: $(VENV)/.installed

# TFX (requirements-tfx.txt) runs the pipeline as code, pipeline/tfx_pipeline.py, and its test;
# --no-deps because tfx's declared ranges conflict with the lock, which it leaves as it is.
$(VENV)/.installed: requirements.lock requirements-tfx.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -r requirements-tfx.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: install
	$(BIN)/feedrank run --output $(RUN_DIR)

census: install
	$(BIN)/feedrank run --spec census --data-root $(CENSUS_ROOT) --output runs/census

test: install
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest tests -m "not e2e" $(PYTEST_ARGS)

# Every benchmark under bench/ (hours on 2 cores), then bench/results/summary.json, summary.md and
# the table in docs/benchmarks.md; e.g. BENCH_ARGS="--only transform_throughput".
bench: install
	$(BIN)/python bench/suite.py $(BENCH_ARGS)

# No benchmark: the summary and the table rebuilt from the bench/results/*.json already there.
bench-collect: install
	$(BIN)/python bench/suite.py --collect

clean:
	rm -rf $(VENV) runs *.egg-info
