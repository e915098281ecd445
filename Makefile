# layercake — one command to run, one to test. Every target installs what it needs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint proto proto-check breaking bench clean fmt unit integration e2e replay models demo

$(STAMP): pyproject.toml
	@test -n "$(PY)" || { echo "need python3.11 on PATH"; exit 1; }
	@$(PY) -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version" || { echo "need Python 3.11"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Generated code is committed; `make proto` rebuilds it, `make proto-check` fails when stale.
proto: $(STAMP)
	$(BIN)/python -m services.kernel.protogen layercake

proto-check: $(STAMP)
	$(BIN)/python -m services.kernel.protogen --check layercake

# Contract compatibility against the previous commit (joins `lint` once v1 is published).
breaking: $(STAMP)
	cd protos && ../$(BIN)/buf breaking --against '../.git#subdir=protos,ref=HEAD~1'

lint: $(STAMP) proto-check
	$(BIN)/ruff check services tests
	$(BIN)/mypy
	cd protos && ../$(BIN)/buf lint

test: lint
	$(BIN)/pytest tests/unit tests/integration tests/e2e

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

bench: $(STAMP)
	$(BIN)/python -m tests.bench

run: $(STAMP)
	$(BIN)/layercake up

# The seed's story through the gateway, told step by step, against `make run` (started here,
# and stopped after, when no gateway answers).
demo: $(STAMP)
	$(BIN)/python -m services.demo

# The default propensity model, trained on synthetic data (seeded: the same bytes each time).
models: $(STAMP)
	$(BIN)/python -m services.decision.training

replay: $(STAMP)
	$(BIN)/python -m services.$(SERVICE) replay

fmt: $(STAMP)
	$(BIN)/ruff check --fix services tests
	$(BIN)/ruff format services tests

clean:
	rm -rf .layercake
