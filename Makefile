# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test lint

demo:  ## a real BLAST search on the bundled sample data (SQLite store, local backend)
	@scripts/setup.sh
	blastflow demo

test:  ## the whole test suite (starts Azurite, Prefect and Chromium itself)
	@scripts/setup.sh --test
	ruff check .
	python -m pytest

lint:
	ruff check .
