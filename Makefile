# The two commands of the README: `make demo` (the offline end-to-end demo) and `make test`.
# Each creates .venv/ and installs what it needs on first use.
SHELL := /bin/bash
VENV := .venv
RLSYS := $(VENV)/bin/rlsys
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export RAY_USAGE_STATS_ENABLED ?= 0
PYTEST_ARGS ?=

.PHONY: install sandbox-host demo test test-fast bench clean

install:
	@scripts/install.sh

# Docker engine, debootstrap, bubblewrap and the sandbox image (needs root for apt/dockerd;
# without root it reports what is missing and the Docker tests skip with that reason).
sandbox-host: install
	@scripts/setup-sandbox-host.sh

demo: install sandbox-host
	$(RLSYS) demo

test: install sandbox-host
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow and not docker" $(PYTEST_ARGS)

clean:
	rm -rf artifacts runs .pytest_cache
