# Everything runs from the project's own virtualenv in .venv, which the first target
# that needs it creates. A fresh clone needs only python3 (3.11+) and make.
#
#   make demo        web server + worker + examples on this machine, until Ctrl-C
#   make test        the test suite (SQLite + filesystem broker); PYTEST_ARGS="-k foo -x"
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

.DEFAULT_GOAL := help

.PHONY: help venv demo test lint format migrations-check web worker bench clean

help:
	@echo "make demo              run web server, worker and examples until Ctrl-C (DEMO_ARGS=...)"
	@echo "make test              run the test suite (PYTEST_ARGS=...)"
	@echo "make lint              ruff check and ruff format --check"
	@echo "make format            ruff format and ruff check --fix"
	@echo "make migrations-check  fail if a model change has no migration"
	@echo "make web               migrate and run only the web server on WEB_ADDR ($(WEB_ADDR))"
	@echo "make worker            run only a worker (WORKER_CONCURRENCY=$(WORKER_CONCURRENCY))"
	@echo "make bench             run the engine benchmark"
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

test: $(INSTALLED)
	$(BIN)/pytest $(PYTEST_ARGS)

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

clean:
	rm -rf var $(VENV)
