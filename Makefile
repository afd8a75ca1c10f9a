# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test deps venv lint typecheck unit golden integration faults bench schemas clean

demo: deps venv
	scripts/demo.sh

test: deps venv lint typecheck
	HYBRIDCORE_NO_SKIP=1 $(BIN)/pytest -q -n 2

deps:
	scripts/install-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q -m unit

golden: venv
	$(BIN)/pytest -q -m golden

integration: deps venv
	$(BIN)/pytest -q -m integration

faults: deps venv
	$(BIN)/pytest -q -m faults

# Every figure of issue 14, side by side with its baseline, then a summary against the targets.
# On a busy machine: make bench BENCH_NICE=-15 (root; both sides alike, see bench/harness.py).
bench: venv
	$(BIN)/python bench/state_stress.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/state_pg.py
	BENCH_NICE=$(BENCH_NICE) $(BIN)/python bench/all.py

schemas: venv
	$(BIN)/python -m hybridcore.packer.schemas schemas

clean:
	rm -rf .hybridcore artifacts examples/.hybridcore examples/artifacts examples/output
