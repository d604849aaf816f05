# Dispute Gateway: `make demo` and `make test` work on a fresh clone; each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= ap-southeast-1
# Keeps SAM CLI from asking to send telemetry or checking for updates.
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_DISABLE_VERSION_CHECK := 1

.PHONY: help venv test lint typecheck validate build unit integration e2e demo bench clean

help:
	@echo "make demo   run the whole service locally (no AWS account) and print the records"
	@echo "make test   lint, type-check, validate the template, build it, run every test"
	@echo "make bench  print the benchmark figures"
	@echo "make build  sam build (python3.13, arm64)"

$(STAMP): pyproject.toml layers/dispute_gateway/requirements.txt scripts/find-python
	@python=$$(scripts/find-python) && echo "creating $(VENV) with $$python" && \
	  { [ -x $(PY) ] || "$$python" -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

validate: $(STAMP)
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml

# sam build runs pip for the Lambda runtime: it needs a python3.13 first on PATH.
build: $(STAMP)
	@python313=$$(scripts/find-python --exact) && \
	  PATH="$$(dirname $$python313):$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --template template.yaml

unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/infrastructure -q

integration: $(STAMP)
	$(PY) -m pytest tests/integration -q

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e -q

test: lint typecheck validate build
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m local.demo

bench: $(STAMP)
	$(PY) bench/iimmpact_batch.py
	$(PY) bench/repay_memory.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
