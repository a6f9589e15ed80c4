# The two commands of the README: `make run` and `make test`. Both rest on `make setup`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nongbao-setup

.PHONY: setup run test test-any-date lint format bench clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

run: setup
	$(VENV)/bin/nongbao demo

test: setup
	bash scripts/test.sh

# the suite with the machine's clock moved 400 and 1,100 days ahead (libfaketime)
test-any-date: setup
	bash scripts/test-any-date.sh

# ruff check, ruff format --check and mypy, as CI runs them
lint: setup
	bash scripts/lint.sh

format: setup
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: setup
	$(VENV)/bin/nongbao bench

clean-data:
	rm -rf data
