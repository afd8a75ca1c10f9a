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

bench: venv
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/parallel.py
	$(BIN)/python bench/state_stress.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/state_pg.py

schemas: venv
	$(BIN)/python -m hybridcore.packer.schemas schemas

clean:
	rm -rf .hybridcore artifacts examples/.hybridcore examples/artifacts examples/output
