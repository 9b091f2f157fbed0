# The two commands of the README: `make demo` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint proto clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tracegate demo

test: $(STAMP) browser
	$(BIN)/python -m pytest

# The page tests drive Debian's chromium; install it when missing and we may (root), else they skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

proto: $(STAMP)
	$(BIN)/python -m gateway.wire.codegen

clean:
	rm -rf var .pytest_cache
