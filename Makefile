# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_SPEC := examples/heat-diffusion/workflow.yaml

.PHONY: demo test unit integration e2e check-asl statemachines bench clean sam-tools

# Deployment tooling lives in its own venvs: aws-sam-cli and checkov pin conflicting boto3s,
# and neither may leak into .venv (where the runtime pins live).
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
SAM_STAMP := .venv-sam/.installed-$(SAM_CLI_VERSION)-$(CFN_LINT_VERSION)
CHECKOV_STAMP := .venv-checkov/.installed-$(CHECKOV_VERSION)
METAFLOW_VERSION := 2.19.39
PY_SPY_VERSION := 0.4.3
BENCH_STAMP := .venv-bench/.installed-$(METAFLOW_VERSION)-$(PY_SPY_VERSION)
# The layer's requirements alone, on the functions' runtime (python3.13, from pyenv or PATH) when
# there is one: bench/cold_start.py times handler imports there, as Lambda loads them.
LAYER_PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || echo $(PYTHON))
LAYER_STAMP := .venv-layer/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "dagtrail needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev,examples]'
	touch $@

$(NODE_STAMP): package.json
	npm install --silent --no-audit --no-fund
	touch $@

demo: $(STAMP)
	$(BIN)/dagtrail run $(DEMO_SPEC) --param nx=64
	$(BIN)/dagtrail lineage show latest --format text

test: $(STAMP) $(NODE_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	@# Headless Chromium opens `dagtrail lineage show --format html` in a test; installing it
	@# needs root, and without it that one test skips with the reason.
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium could not be installed: the lineage HTML test will skip"
	$(BIN)/python -m pytest -q

statemachines: $(STAMP)
	$(BIN)/python -m dagtrail.compiler.regenerate

# bench/run_all.py: BENCHMARKS.md and bench/results/all.json, under 20 minutes on 2 cores.
bench: $(STAMP) $(BENCH_STAMP) $(SAM_STAMP) $(LAYER_STAMP)
	$(BIN)/python bench/run_all.py

# The baselines bench/ compares against, and a profiler, in their own venv (not .venv's pins).
$(BENCH_STAMP):
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet metaflow==$(METAFLOW_VERSION) py-spy==$(PY_SPY_VERSION)
	touch $@

$(LAYER_STAMP): layers/dagtrail/requirements.txt
	test -x .venv-layer/bin/python || $(LAYER_PYTHON) -m venv .venv-layer
	.venv-layer/bin/pip install --quiet -r layers/dagtrail/requirements.txt
	touch $@

$(SAM_STAMP):
	test -x .venv-sam/bin/python || $(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION) cfn-lint==$(CFN_LINT_VERSION)
	touch $@

$(CHECKOV_STAMP):
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# sam build needs python3.13 on PATH (the functions' runtime); pyenv provides it here.
sam-tools: $(SAM_STAMP) $(CHECKOV_STAMP)

clean:
	rm -rf $(VENV) .venv-sam .venv-checkov .venv-bench .venv-layer node_modules .dagtrail .aws-sam
