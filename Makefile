# Developer entry points. Only python3, pip and make are needed: `make install` fetches uv.
.DEFAULT_GOAL := help
.PHONY: help install dev test lint fmt bench chaos

PYTHON ?= python3
UV_VERSION ?= 0.13.9
# uv from PATH when there is one, else our own copy in .tools/ (installed by `make install`).
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
TOOLS_UV := $(CURDIR)/.tools/bin/uv

help:
	@echo "make install   uv (if missing) and the locked dependencies in .venv"
	@echo "make dev       the whole stack on this machine (PostgreSQL, Temporal, worker, API)"
	@echo "make test      lint, then the tests"
	@echo "make lint      ruff check, ruff format --check, mypy"
	@echo "make fmt       ruff format and the safe ruff fixes"
	@echo "make bench     the speed of a stack over HTTP (BENCH_ARGS=--help for sizes)"
	@echo "make chaos     100 paid booking journeys while the worker, Temporal and PostgreSQL are broken (CHAOS_ARGS=--help)"

install:
	@if [ "$(UV)" = "$(TOOLS_UV)" ] && [ ! -x "$(TOOLS_UV)" ]; then \
		echo "uv not found on PATH: installing uv $(UV_VERSION) into .tools/"; \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade \
			--target "$(CURDIR)/.tools" "uv==$(UV_VERSION)"; \
	fi
	$(UV) sync --frozen

dev: install
	$(UV) run --frozen medivoy dev

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

test: lint
	$(UV) run --frozen pytest -n 2

chaos: install
	$(UV) run --frozen medivoy chaos $(CHAOS_ARGS)

fmt: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# Starts its own stack (own data dir and ports), or drives a running one: BENCH_ARGS="--stack DIR".
bench: install
	$(UV) run --frozen python -m bench $(BENCH_ARGS)
