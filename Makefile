# Dispute Gateway: `make demo` and `make test` work on a fresh clone; each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
# checkov has its own environment: its pins would otherwise fight the project's (boto3, pydantic...).
# Pinned: a new release can add checks, which should fail a deliberate upgrade, not a fresh clone.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
export AWS_DEFAULT_REGION ?= ap-southeast-1
# Keeps SAM CLI from asking to send telemetry or checking for updates.
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_DISABLE_VERSION_CHECK := 1

.PHONY: help venv test lint typecheck validate security build unit integration e2e demo serve bench clean

help:
	@echo "make demo   run the whole service locally (no AWS account) and print the records"
	@echo "make serve  the HTTP API on :3000, queues and S3 uploads, against the sandboxes (Ctrl-C stops)"
	@echo "make test   lint, type-check, validate and scan the template, build it, run every test"
	@echo "make security  checkov over template.yaml (zero failed checks; skips are justified in the template)"
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

$(CHECKOV_STAMP): scripts/find-python
	@python=$$(scripts/find-python) && echo "creating $(CHECKOV_VENV) with $$python" && \
	  { [ -x $(CHECKOV_VENV)/bin/python ] || "$$python" -m venv $(CHECKOV_VENV); }
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $@

# checkov reads SAM's AWS::Serverless::* resources with --framework cloudformation. A finding is
# accepted only by a skip in the resource's Metadata with its justification. --skip-download:
# no call to Prisma Cloud for guideline links (offline, and nothing to send).
security: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

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

test: lint typecheck validate security build
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m local.demo

serve: $(STAMP)
	$(PY) -m local.serve $(SERVE_ARGS)

bench: $(STAMP)
	$(PY) bench/iimmpact_batch.py
	$(PY) bench/repay_memory.py
	$(PY) bench/cold_start.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
