# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_SPEC := examples/heat-diffusion/workflow.yaml

.PHONY: demo test unit integration e2e check-asl statemachines bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "dagtrail needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@

$(NODE_STAMP): package.json
	npm install --silent --no-audit --no-fund
	touch $@

demo: $(STAMP)
	$(BIN)/dagtrail run $(DEMO_SPEC) --param nx=64
	$(BIN)/dagtrail lineage show latest --format text

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q

statemachines: $(STAMP)
	$(BIN)/python -m dagtrail.compiler.regenerate

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) node_modules .dagtrail .aws-sam
