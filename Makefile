# Everything runs from the project's own virtualenv in .venv, which the first target
# that needs it creates. A fresh clone needs only python3 (3.11+) and make.
#
#   make demo        web server + worker + examples on this machine, until Ctrl-C
#   make test        the test suite (SQLite + filesystem broker); PYTEST_ARGS="-k foo -x"
#                    (its browser tests need Chromium: Debian's package, installed when
#                    run as root, or PIPELINES_CHROMIUM=/path/to/chromium)
#   make lint        ruff check + ruff format --check
#   make help        every target

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so the install re-runs only when one of the
# files it depends on changes (or after `make clean`).
INSTALLED := $(VENV)/.installed

PYTEST_ARGS ?=
DEMO_ARGS ?=
WEB_ADDR ?= 127.0.0.1:8000
WORKER_CONCURRENCY ?= 4
# The browser the browser tests drive (tests/browser/conftest.py reads the same variable).
PIPELINES_CHROMIUM ?= /usr/bin/chromium
export PIPELINES_CHROMIUM
CHROMIUM_HINT := The browser tests need Chromium at $(PIPELINES_CHROMIUM). Install Debian's package \
	(as root: apt-get install -y --no-install-recommends chromium), or set PIPELINES_CHROMIUM=/path/to/chromium.

.DEFAULT_GOAL := help

.PHONY: help venv demo test chromium lint format migrations-check web worker bench bench-dashboard bench-vs-zenml clean

help:
	@echo "make demo              run web server, worker and examples until Ctrl-C (DEMO_ARGS=...)"
	@echo "make test              run the test suite (PYTEST_ARGS=...)"
	@echo "make lint              ruff check and ruff format --check"
	@echo "make format            ruff format and ruff check --fix"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make web               migrate and run only the web server on WEB_ADDR ($(WEB_ADDR))"
	@echo "make worker            run only a worker (WORKER_CONCURRENCY=$(WORKER_CONCURRENCY))"
	@echo "make bench             run the engine benchmark"
	@echo "make bench-dashboard   time every dashboard page on a large PostgreSQL history (DATABASE_URL=...)"
	@echo "make bench-vs-zenml    the same pipelines on ZenML 0.98 and here, side by side (VS_ZENML_ARGS=...)"
	@echo "make chromium          check for (as root: install) the Chromium the browser tests drive"
	@echo "make venv              create .venv and install the requirements"
	@echo "make clean             remove var/ (all local data) and .venv"

venv: $(INSTALLED)

# The project itself is installed editable, so `import pipelines` works from any
# folder (a user's own scripts), not only from the checkout.
$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

demo: $(INSTALLED)
	$(BIN)/python manage.py demo $(DEMO_ARGS)

test: $(INSTALLED) chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# Debian's chromium, never a browser download. Installed only for the default path, as
# root with apt-get (the package lists are refreshed once if the first try fails).
chromium:
	@if [ -x "$(PIPELINES_CHROMIUM)" ]; then :; \
	elif [ "$(PIPELINES_CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests."; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends chromium >/dev/null \
			|| { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
			|| { echo "$(CHROMIUM_HINT)" >&2; exit 1; }; \
	else \
		echo "$(CHROMIUM_HINT)" >&2; exit 1; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: $(INSTALLED)
	$(BIN)/python manage.py makemigrations --check --dry-run

web: $(INSTALLED)
	$(BIN)/python manage.py migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py runserver $(WEB_ADDR)

worker: $(INSTALLED)
	$(BIN)/python -m celery -A config worker -l info --concurrency $(WORKER_CONCURRENCY)

bench: $(INSTALLED)
	$(BIN)/python bench/engine_bench.py

BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pipelines_dashboard_bench
bench-dashboard: $(INSTALLED)
	DATABASE_URL=$${DATABASE_URL:-$(BENCH_DATABASE_URL)} $(BIN)/python bench/dashboard_bench.py

# ZenML 0.98 is installed once into var/bench/zenml-venv (or under PIPELINES_DATA_DIR).
# PostgreSQL + Redis: DATABASE_URL / CELERY_BROKER_URL, else local defaults (bench/README.md).
VS_ZENML_ARGS ?= --postgres-redis
bench-vs-zenml: $(INSTALLED)
	$(BIN)/python bench/vs_zenml.py $(VS_ZENML_ARGS)

clean:
	rm -rf var $(VENV)
