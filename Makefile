# The two commands of the README: `make demo` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint proto clean browser fuse reliability fuzz attack

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tracegate demo

# The suite on every core (pytest-xdist): tests sharing a costly fixture stay on one worker (tests/conftest.py).
WORKERS ?= auto
test: $(STAMP) browser fuse lint
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

# The page tests drive Debian's chromium; install it when missing and we may (root), else they skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the page tests will be skipped"; fi

# The power-cut scenario mounts a FUSE filesystem that forgets unsynced writes (tests/reliability/lazyfs.py):
# it needs Debian's fuse3 (fusermount3, libfuse3) and /dev/fuse. Without them it fails and says why.
fuse:
	@if ! command -v fusermount3 >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null) \
		|| echo "fuse3 could not be installed: the power-cut scenario will fail"; fi

# Fault scenarios against the real gateway (docs/reliability.md); `make reliability ARGS=--short` is the CI
# form that `make test` also runs. `make fuzz` is the long fuzzing budget of both front doors, HTTP and OFD,
# FUZZ_CASES each (ARGS: --seconds N, --seed N, --workers N, --save DIR); CI runs a few thousand of each.
ARGS ?=
FUZZ_CASES ?= 1000000
reliability: $(STAMP) fuse
	$(BIN)/python -m tests.reliability.run $(ARGS)

fuzz: $(STAMP)
	status=0; \
	$(BIN)/python -m tests.fuzz.run --cases $(FUZZ_CASES) $(ARGS) || status=1; \
	$(BIN)/python -m tests.fuzz.ofd_run --cases $(FUZZ_CASES) $(ARGS) || status=1; \
	exit $$status

# The outside attack run replayed against a real gateway, held/broke per attack (docs/security.md);
# `make attack ARGS=--short` is the CI form the test suite runs, ARGS=--code DIR tries another version.
attack: $(STAMP)
	$(BIN)/python -m tests.attack.run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

proto: $(STAMP)
	$(BIN)/python -m gateway.wire.codegen

clean:
	rm -rf var .pytest_cache
